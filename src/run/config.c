/* The YAML run config: parsing with libyaml's document loader, a schema of
 * known keys, validation, overrides and canonical serialisation.
 *
 * libyaml allocates with the C library's malloc; its document is released
 * before every return, so only the config itself lives on gmcnn's heap. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/config.h"
#include "gmcnn/group.h"

/* Larger than any sensible config; keeps a stray binary file out. */
#define GM__CFG_MAX_BYTES ((size_t)1 << 20)
#define GM__CFG_MAX_DEPTH 32 /* nesting of lists and mappings */
#define GM__CFG_PATH_MAX 96

/* Owned strings of a config, by slot. */
enum {
    GM__S_NAME,     /* the file name or label, for details */
    GM__S_SPEC,     /* model.spec as given */
    GM__S_RESOLVED, /* the spec the model uses */
    GM__S_OUTDIR,
    GM__S_IMAGES,
    GM__S_LABELS,
    GM__S_TEST_IMAGES,
    GM__S_TEST_LABELS,
    GM__S_GEN_KIND,
    GM__S_GEN_PATH,
    GM__S_COUNT
};

/* Fields with their own identity: two keys naming one field (aliases) are
 * a duplicate, and validation reports the line a field came from. */
typedef enum gm__cfg_field {
    F_NONE = 0,
    F_SEED,
    F_MODEL, F_M_KIND, F_M_SPEC, F_M_GROUP, F_M_ORDER, F_M_RADIUS, F_M_IN, F_M_CLASSES,
    F_M_BLOCKS, F_M_DROPOUT, F_M_FORM, F_M_LDR, F_M_MOD, F_M_POOL, F_M_HIDDEN, F_M_IMH, F_M_IMW,
    F_M_REGRESSOR, F_M_NORM, F_M_MOD_INPLACE, F_M_CENTER, F_M_STRUCTURE,
    F_DATA, F_D_SOURCE, F_D_BATCH, F_D_VAL, F_D_NORM, F_D_IMAGES, F_D_LABELS, F_D_TEST_IMAGES,
    F_D_TEST_LABELS, F_D_TRAIN, F_D_TEST, F_D_TRAIN_DAT, F_D_TRAIN_CAT, F_D_TEST_DAT,
    F_D_TEST_CAT, F_D_GEN_KIND, F_D_GEN_SEED, F_D_GEN_NTRAIN, F_D_GEN_NTEST,
    F_D_GEN_PATH, F_D_GEN_DIGITS, F_D_SPLIT, F_D_MAXANGLE, F_D_VALSIZE,
    F_D_IN_FRAMES, F_D_IN_OFFSET, F_D_ROLLOUT, F_D_EVAL_STEPS, F_D_TRAIN_RANGE, F_D_VAL_RANGE,
    F_D_FUTURE_RANGE, F_D_DOMAIN_RANGE, F_D_TRAIN_STRIDE, F_D_EVAL_STRIDE,
    F_TRAINER, F_T_EPOCHS, F_T_SMOOTH, F_T_SELECT,
    F_OPTIM, F_O_KIND, F_O_LR, F_O_WD, F_O_MOM, F_O_DAMP, F_O_NEST, F_O_BETAS, F_O_EPS,
    F_O_CLIP, F_O_DECAY,
    F_SCHED, F_S_KIND, F_S_STEP, F_S_GAMMA, F_S_TMAX, F_S_ETAMIN, F_S_MODE, F_S_FACTOR,
    F_S_PATIENCE, F_S_THRESH, F_S_THMODE, F_S_COOLDOWN, F_S_MINLR, F_S_EPS, F_S_WARMUP,
    F_EARLY, F_E_PATIENCE,
    F_OUTPUT, F_OUT_DIR,
    F_AUGMENT, F_A_ROTATE, F_A_MAXANGLE, F_A_FLIP, F_A_TRANSLATE,
    F_COUNT
} gm__cfg_field;

typedef struct gm__cfg_key {
    const char *path;
    gm__cfg_field field;
} gm__cfg_key;

/* Every accepted key path. Sections are fields too, for duplicate checks. */
static const gm__cfg_key gm__cfg_keys[] = {
    {"seed", F_SEED},
    {"model", F_MODEL},
    {"model.kind", F_M_KIND},
    {"model.spec", F_M_SPEC},
    {"model.group", F_M_GROUP},
    {"model.order", F_M_ORDER},
    {"model.nbr", F_M_RADIUS},
    {"model.radius", F_M_RADIUS},
    {"model.in_channels", F_M_IN},
    {"model.num_classes", F_M_CLASSES},
    {"model.out_dim", F_M_CLASSES},
    {"model.blocks", F_M_BLOCKS},
    {"model.dropout", F_M_DROPOUT},
    {"model.form", F_M_FORM},
    {"model.ldr_rank", F_M_LDR},
    {"model.modulated", F_M_MOD},
    {"model.pool", F_M_POOL},
    {"model.hidden", F_M_HIDDEN},
    {"model.image_h", F_M_IMH},
    {"model.image_w", F_M_IMW},
    {"model.regressor", F_M_REGRESSOR},
    {"model.norm", F_M_NORM},
    {"model.modulated_in_place", F_M_MOD_INPLACE},
    {"model.center", F_M_CENTER},
    {"model.structure", F_M_STRUCTURE},
    {"data", F_DATA},
    {"data.source", F_D_SOURCE},
    {"data.batch_size", F_D_BATCH},
    {"data.val_fraction", F_D_VAL},
    {"data.normalize", F_D_NORM},
    {"data.images", F_D_IMAGES},
    {"data.labels", F_D_LABELS},
    {"data.test_images", F_D_TEST_IMAGES},
    {"data.test_labels", F_D_TEST_LABELS},
    {"data.train", F_D_TRAIN},
    {"data.test", F_D_TEST},
    {"data.train_dat", F_D_TRAIN_DAT},
    {"data.train_cat", F_D_TRAIN_CAT},
    {"data.test_dat", F_D_TEST_DAT},
    {"data.test_cat", F_D_TEST_CAT},
    {"data.kind", F_D_GEN_KIND},
    {"data.seed", F_D_GEN_SEED},
    {"data.num_train", F_D_GEN_NTRAIN},
    {"data.num_test", F_D_GEN_NTEST},
    {"data.path", F_D_GEN_PATH},
    {"data.digits", F_D_GEN_DIGITS},
    {"data.split", F_D_SPLIT},
    {"data.max_angle", F_D_MAXANGLE},
    {"data.val_size", F_D_VALSIZE},
    {"data.input_frames", F_D_IN_FRAMES},
    {"data.input_offset", F_D_IN_OFFSET},
    {"data.rollout_steps", F_D_ROLLOUT},
    {"data.eval_steps", F_D_EVAL_STEPS},
    {"data.train_range", F_D_TRAIN_RANGE},
    {"data.val_range", F_D_VAL_RANGE},
    {"data.future_range", F_D_FUTURE_RANGE},
    {"data.domain_range", F_D_DOMAIN_RANGE},
    {"data.train_stride", F_D_TRAIN_STRIDE},
    {"data.eval_stride", F_D_EVAL_STRIDE},
    {"trainer", F_TRAINER},
    {"trainer.max_epochs", F_T_EPOCHS},
    {"trainer.epochs", F_T_EPOCHS},
    {"trainer.label_smoothing", F_T_SMOOTH},
    {"trainer.select", F_T_SELECT},
    {"optimizer", F_OPTIM},
    {"optimizer.kind", F_O_KIND},
    {"optimizer.lr", F_O_LR},
    {"optimizer.weight_decay", F_O_WD},
    {"optimizer.momentum", F_O_MOM},
    {"optimizer.dampening", F_O_DAMP},
    {"optimizer.nesterov", F_O_NEST},
    {"optimizer.betas", F_O_BETAS},
    {"optimizer.eps", F_O_EPS},
    {"optimizer.clip_norm", F_O_CLIP},
    {"optimizer.decay", F_O_DECAY},
    {"scheduler", F_SCHED},
    {"scheduler.kind", F_S_KIND},
    {"scheduler.step_size", F_S_STEP},
    {"scheduler.gamma", F_S_GAMMA},
    {"scheduler.t_max", F_S_TMAX},
    {"scheduler.eta_min", F_S_ETAMIN},
    {"scheduler.mode", F_S_MODE},
    {"scheduler.factor", F_S_FACTOR},
    {"scheduler.patience", F_S_PATIENCE},
    {"scheduler.threshold", F_S_THRESH},
    {"scheduler.threshold_mode", F_S_THMODE},
    {"scheduler.cooldown", F_S_COOLDOWN},
    {"scheduler.min_lr", F_S_MINLR},
    {"scheduler.eps", F_S_EPS},
    {"scheduler.warmup_epochs", F_S_WARMUP},
    {"early_stopping", F_EARLY},
    {"early_stopping.patience", F_E_PATIENCE},
    {"output", F_OUTPUT},
    {"output.dir", F_OUT_DIR},
    {"augment", F_AUGMENT},
    {"augment.rotate", F_A_ROTATE},
    {"augment.max_angle", F_A_MAXANGLE},
    {"augment.flip", F_A_FLIP},
    {"augment.translate", F_A_TRANSLATE},
};
#define GM__CFG_NKEYS (sizeof gm__cfg_keys / sizeof gm__cfg_keys[0])

static bool gm__cfg_is_section(gm__cfg_field f) {
    return f == F_MODEL || f == F_DATA || f == F_TRAINER || f == F_OPTIM || f == F_SCHED ||
           f == F_EARLY || f == F_OUTPUT || f == F_AUGMENT;
}

/* The generator's kinds (gmcnn/datasets.h names), then the names used in
 * SPEC and the reference's data sets, mapped onto them (kind, digit source). */
typedef struct gm__cfg_gen {
    const char *name;
    const char *kind;
    const char *digits;
} gm__cfg_gen;
static const gm__cfg_gen gm__cfg_gen_kinds[] = {
    {"digits", "digits", NULL},
    {"rotated", "rotated", NULL},
    {"back-random", "back-random", NULL},
    {"back-image", "back-image", NULL},
    {"rot-back-image", "rot-back-image", NULL},
    {"rectangles", "rectangles", NULL},
    {"noise", "back-random", NULL},
    {"background-random", "back-random", NULL},
    {"background-image", "back-image", NULL},
    {"rotated-background", "rot-back-image", NULL},
    {"fashion", "digits", "fashion"},
    {"fashion-rotated", "rotated", "fashion"},
};
static const char *const gm__cfg_digit_sources[] = {"mnist", "fashion"};
static const char *const gm__cfg_sources[] = {"generated", "idx", "amat", "cifar10", "norb", "npy",
                                              "plume"};
static const char *const gm__cfg_model_kinds[] = {"gmcnn", "plume", "deep", "cnn", "mlp", "ldr"};
static const char *const gm__cfg_structures[] = {"toeplitz", "tridiag", "unstructured"};
static const char *const gm__cfg_optims[] = {"sgd", "adam", "adamw"};
static const char *const gm__cfg_scheds[] = {"constant", "step", "cosine", "plateau"};
static const char *const gm__cfg_rotates[] = {"none", "any", "90"};
static const char *const gm__cfg_flips[] = {"none", "horizontal", "vertical", "both"};
static const char *const gm__cfg_selects[] = {"val_loss", "val_accuracy"};
static const char *const gm__cfg_decays[] = {"all", "weights"};
static const char *const gm__cfg_splits[] = {"pooled", "official"};
#define GM__CFG_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct gm_config {
    gm_model_desc model;
    gm_fit_options fit;
    gm_data_config data;
    char *str[GM__S_COUNT];
    int64_t nfiles;
    char *files[GM_CONFIG_MAX_FILES];
    int ref_group;     /* 0 none, 'C' cyclic, 'D' dihedral */
    int64_t ref_order; /* 0 = not given */
    int line[F_COUNT]; /* 1-based line a field was set on; 0 = default or override */
    bool given[F_COUNT]; /* set by the file or an override, not a default (a cosine
                          * schedule without a given t_max spans trainer.max_epochs) */
};

/* Where values come from, for details. */
typedef struct gm__cfg_ctx {
    gm_config *cfg;
    const char *override; /* the assignment, or NULL while parsing a file */
    bool from_file;       /* duplicates are checked (an override may repeat a key) */
    bool seen[F_COUNT];
} gm__cfg_ctx;

/* ---- details --------------------------------------------------------------- */

/* Printable, bounded copy of untrusted text for messages. */
static void gm__cfg_shown(char *dst, size_t cap, const char *s, size_t n) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++) {
        const unsigned char c = (unsigned char)s[i];
        dst[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (j + 4 >= cap && n > j) {
        memcpy(dst + j, "...", 3);
        j += 3;
    }
    dst[j] = '\0';
}

static gm_status gm__cfg_fail(const gm__cfg_ctx *c, int line, gm_status st, const char *fmt, ...)
    GM_PRINTF(4, 5);

static gm_status gm__cfg_fail(const gm__cfg_ctx *c, int line, gm_status st, const char *fmt, ...) {
    char msg[384], where[256], name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *nm = c->cfg->str[GM__S_NAME] ? c->cfg->str[GM__S_NAME] : "<string>";
    gm__cfg_shown(name, sizeof name, nm, strlen(nm));
    if (c->override) {
        char ov[128];
        gm__cfg_shown(ov, sizeof ov, c->override, strlen(c->override));
        snprintf(where, sizeof where, "config '%s': override '%s'", name, ov);
    } else if (line > 0) {
        snprintf(where, sizeof where, "config '%s' line %d", name, line);
    } else {
        snprintf(where, sizeof where, "config '%s'", name);
    }
    return gm_error_set(st, "%s: %s", where, msg);
}

#define GM__CFG_FAIL_IF(cond, c, line, st, ...)                                      \
    do {                                                                             \
        if (cond) {                                                                  \
            gm_status gm__cst = gm__cfg_fail((c), (line), (st), __VA_ARGS__);        \
            gm__error_note_location(__FILE__, __LINE__);                             \
            return gm__cst;                                                          \
        }                                                                            \
    } while (0)

static int gm__cfg_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* ---- strings ----------------------------------------------------------------- */

static gm_status gm__cfg_set_str(char **slot, const char *s) {
    char *d = NULL;
    if (s) {
        d = gm_strdup(s);
        if (!d) return gm__nomem("config string");
    }
    gm_free(*slot);
    *slot = d;
    return GM_OK;
}

/* Points the public views at the owned strings. */
static void gm__cfg_sync(gm_config *cfg) {
    cfg->model.group = cfg->str[GM__S_RESOLVED];
    gm_data_config *d = &cfg->data;
    d->train_images = cfg->str[GM__S_IMAGES];
    d->train_labels = cfg->str[GM__S_LABELS];
    d->test_images = cfg->str[GM__S_TEST_IMAGES];
    d->test_labels = cfg->str[GM__S_TEST_LABELS];
    d->gen_kind = cfg->str[GM__S_GEN_KIND];
    d->gen_path = cfg->str[GM__S_GEN_PATH];
    d->plume_dir = d->source == GM_DATA_PLUME ? cfg->str[GM__S_GEN_PATH] : NULL;
    d->ntrain_files = cfg->nfiles;
    for (int64_t i = 0; i < GM_CONFIG_MAX_FILES; i++)
        d->train_files[i] = i < cfg->nfiles ? cfg->files[i] : NULL;
}

void gm_config_free(gm_config *cfg) {
    if (!cfg) return;
    for (int i = 0; i < GM__S_COUNT; i++) gm_free(cfg->str[i]);
    for (int64_t i = 0; i < cfg->nfiles; i++) gm_free(cfg->files[i]);
    gm_free(cfg);
}

static gm_status gm__cfg_clone(const gm_config *src, gm_config **out) {
    *out = NULL;
    gm_config *c = gm_malloc(sizeof *c);
    if (!c) return gm__nomem("config");
    *c = *src;
    for (int i = 0; i < GM__S_COUNT; i++) c->str[i] = NULL;
    for (int64_t i = 0; i < GM_CONFIG_MAX_FILES; i++) c->files[i] = NULL;
    c->nfiles = 0;
    gm_status st = GM_OK;
    for (int i = 0; i < GM__S_COUNT && st == GM_OK; i++)
        st = gm__cfg_set_str(&c->str[i], src->str[i]);
    for (int64_t i = 0; i < src->nfiles && st == GM_OK; i++) {
        st = gm__cfg_set_str(&c->files[i], src->files[i]);
        if (st == GM_OK) c->nfiles = i + 1;
    }
    if (st != GM_OK) {
        gm_config_free(c);
        return st;
    }
    gm__cfg_sync(c);
    *out = c;
    return GM_OK;
}

/* ---- defaults ------------------------------------------------------------------ */

static void gm__cfg_clear_data_files(gm_config *cfg) {
    for (int s = GM__S_IMAGES; s <= GM__S_GEN_PATH; s++) {
        gm_free(cfg->str[s]);
        cfg->str[s] = NULL;
    }
    for (int64_t i = 0; i < cfg->nfiles; i++) {
        gm_free(cfg->files[i]);
        cfg->files[i] = NULL;
    }
    cfg->nfiles = 0;
}

gm_status gm_config_new_default(gm_config **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_config_new_default: out is required");
    *out = NULL;
    gm_config *c = gm_calloc(1, sizeof *c);
    if (!c) return gm__nomem("config");
    /* The reference architecture: 2 blocks x 1 layer x 120 channels, t = 3. */
    c->model.kind = GM_MODEL_GMCNN;
    c->model.radius = 3;
    c->model.in_channels = 1;
    c->model.out_dim = 10;
    c->model.nblocks = 2;
    for (int i = 0; i < 2; i++) c->model.blocks[i] = (gm_block_desc){.num_layers = 1,
                                                                      .out_channels = 120};
    c->model.form = GM_CONV_FULL;
    c->model.pool_mode = GM_REDUCE_MAX;
    c->fit.epochs = 20;
    c->fit.batch_size = 128;
    c->fit.seed = 42;
    c->fit.optim = gm_optim_config_default(GM_OPTIM_ADAMW);
    c->fit.sched = gm_lr_sched_config_default(GM_LR_PLATEAU);
    c->data.source = GM_DATA_GENERATED;
    c->data.batch_size = 128;
    c->data.val_fraction = 0.2;
    c->data.gen_seed = 42;
    c->data.gen_num_train = 8000;
    c->data.gen_num_test = 2000;
    c->data.gen_digits = gm__cfg_digit_sources[0];
    c->data.forecast = gm_forecast_protocol_default();
    c->data.val_size = -1;
    gm_status st = gm__cfg_set_str(&c->str[GM__S_OUTDIR], "runs");
    if (st == GM_OK) st = gm__cfg_set_str(&c->str[GM__S_GEN_PATH], "");
    if (st != GM_OK) {
        gm_config_free(c);
        return st;
    }
    gm__cfg_sync(c);
    *out = c;
    return GM_OK;
}

/* ---- scalars --------------------------------------------------------------------- */

static bool gm__cfg_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static const char *gm__cfg_node_kind(const yaml_node_t *n) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (gm__cfg_is_null(n)) return "null";
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return "a quoted string";
    return "a plain scalar";
}

/* A plain scalar's text, or NULL (not a plain scalar / embedded NUL). */
static const char *gm__cfg_plain(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return NULL;
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

static void gm__cfg_value_shown(char *dst, size_t cap, const yaml_node_t *n) {
    if (n->type == YAML_SCALAR_NODE)
        gm__cfg_shown(dst, cap, (const char *)n->data.scalar.value, n->data.scalar.length);
    else
        snprintf(dst, cap, "%s", gm__cfg_node_kind(n));
}

static gm_status gm__cfg_int(const gm__cfg_ctx *c, const yaml_node_t *n, const char *path,
                             int64_t lo, int64_t hi, int64_t *out) {
    const int line = gm__cfg_line(n);
    const char *s = gm__cfg_plain(n);
    bool ok = s && s[0];
    long long v = 0;
    if (ok) {
        const char *p = s + (s[0] == '-' || s[0] == '+');
        ok = *p >= '0' && *p <= '9';
        if (ok) {
            char *end = NULL;
            errno = 0;
            v = strtoll(s, &end, 10);
            ok = *end == '\0';
            GM__CFG_FAIL_IF(ok && errno == ERANGE, c, line, GM_ERR_INVALID_ARG,
                            "%s = %s is out of range [%lld, %lld]", path, s, (long long)lo,
                            (long long)hi);
        }
    }
    char shown[64];
    gm__cfg_value_shown(shown, sizeof shown, n);
    GM__CFG_FAIL_IF(!ok, c, line, GM_ERR_INVALID_ARG, "%s: expected an integer, got %s%s%s%s",
                    path, gm__cfg_node_kind(n), n->type == YAML_SCALAR_NODE ? " '" : "",
                    n->type == YAML_SCALAR_NODE ? shown : "",
                    n->type == YAML_SCALAR_NODE ? "'" : "");
    GM__CFG_FAIL_IF(v < lo || v > hi, c, line, GM_ERR_INVALID_ARG,
                    "%s = %lld is out of range [%lld, %lld]", path, v, (long long)lo,
                    (long long)hi);
    *out = (int64_t)v;
    return GM_OK;
}

static gm_status gm__cfg_u64(const gm__cfg_ctx *c, const yaml_node_t *n, const char *path,
                             uint64_t *out) {
    const int line = gm__cfg_line(n);
    const char *s = gm__cfg_plain(n);
    bool ok = s && s[0] >= '0' && s[0] <= '9';
    unsigned long long v = 0;
    if (ok) {
        char *end = NULL;
        errno = 0;
        v = strtoull(s, &end, 10);
        ok = *end == '\0';
        GM__CFG_FAIL_IF(ok && errno == ERANGE, c, line, GM_ERR_INVALID_ARG,
                        "%s = %s is out of range [0, %llu]", path, s,
                        (unsigned long long)UINT64_MAX);
    }
    char shown[64];
    gm__cfg_value_shown(shown, sizeof shown, n);
    GM__CFG_FAIL_IF(!ok, c, line, GM_ERR_INVALID_ARG,
                    "%s: expected a non-negative integer, got %s ('%s')", path,
                    gm__cfg_node_kind(n), shown);
    *out = (uint64_t)v;
    return GM_OK;
}

/* lo_open / hi_open make the bound exclusive; hi = INFINITY for none. */
static gm_status gm__cfg_real(const gm__cfg_ctx *c, const yaml_node_t *n, const char *path,
                              double lo, bool lo_open, double hi, bool hi_open, double *out) {
    const int line = gm__cfg_line(n);
    const char *s = gm__cfg_plain(n);
    bool ok = s && s[0] && (s[0] == '-' || s[0] == '+' || s[0] == '.' ||
                            (s[0] >= '0' && s[0] <= '9'));
    double v = 0.0;
    if (ok) {
        char *end = NULL;
        v = strtod(s, &end);
        ok = *end == '\0' && isfinite(v);
    }
    char shown[64];
    gm__cfg_value_shown(shown, sizeof shown, n);
    GM__CFG_FAIL_IF(!ok, c, line, GM_ERR_INVALID_ARG, "%s: expected a finite number, got %s ('%s')",
                    path, gm__cfg_node_kind(n), shown);
    const bool below = lo_open ? !(v > lo) : !(v >= lo);
    const bool above = hi_open ? !(v < hi) : !(v <= hi);
    GM__CFG_FAIL_IF(below || above, c, line, GM_ERR_INVALID_ARG, "%s = %s must be in %c%g, %g%c",
                    path, shown, lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
    *out = v;
    return GM_OK;
}

static gm_status gm__cfg_bool(const gm__cfg_ctx *c, const yaml_node_t *n, const char *path,
                              bool *out) {
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On",
                                      "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off",
                                     "OFF"};
    const char *s = gm__cfg_plain(n);
    for (int i = 0; s && i < GM__CFG_LEN(yes); i++) {
        if (!strcmp(s, yes[i])) {
            *out = true;
            return GM_OK;
        }
        if (!strcmp(s, no[i])) {
            *out = false;
            return GM_OK;
        }
    }
    char shown[64];
    gm__cfg_value_shown(shown, sizeof shown, n);
    GM__CFG_FAIL_IF(true, c, gm__cfg_line(n), GM_ERR_INVALID_ARG,
                    "%s: expected a boolean (true/false, yes/no), got %s ('%s')", path,
                    gm__cfg_node_kind(n), shown);
    return GM_OK;
}

/* Any non-null scalar without NUL bytes; empty only when allowed. */
static gm_status gm__cfg_string(const gm__cfg_ctx *c, const yaml_node_t *n, const char *path,
                                bool allow_empty, const char **out) {
    const int line = gm__cfg_line(n);
    const bool scalar = n->type == YAML_SCALAR_NODE && !gm__cfg_is_null(n);
    GM__CFG_FAIL_IF(!scalar, c, line, GM_ERR_INVALID_ARG, "%s: expected a string, got %s", path,
                    gm__cfg_node_kind(n));
    const char *s = (const char *)n->data.scalar.value;
    GM__CFG_FAIL_IF(strlen(s) != n->data.scalar.length, c, line, GM_ERR_INVALID_ARG,
                    "%s: the string contains a NUL character", path);
    GM__CFG_FAIL_IF(!allow_empty && !s[0], c, line, GM_ERR_INVALID_ARG, "%s must not be empty",
                    path);
    *out = s;
    return GM_OK;
}

static gm_status gm__cfg_choice(const gm__cfg_ctx *c, const yaml_node_t *n, const char *path,
                                const char *const *names, int count, int *out) {
    const char *s = NULL;
    GM_FORWARD_IF_ERROR(gm__cfg_string(c, n, path, true, &s));
    for (int i = 0; i < count; i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            return GM_OK;
        }
    }
    char shown[64], list[256] = "";
    gm__cfg_value_shown(shown, sizeof shown, n);
    for (int i = 0; i < count; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < count) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    GM__CFG_FAIL_IF(true, c, gm__cfg_line(n), GM_ERR_INVALID_ARG,
                    "%s: unknown value '%s' (expected one of: %s)", path, shown, list);
    return GM_OK;
}

/* ---- setting one field ---------------------------------------------------------- */

static gm_status gm__cfg_blocks(gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *n) {
    gm_config *cfg = c->cfg;
    const int line = gm__cfg_line(n);
    GM__CFG_FAIL_IF(n->type != YAML_SEQUENCE_NODE, c, line, GM_ERR_INVALID_ARG,
                    "model.blocks: expected a list of {num_layers, out_channels}, got %s",
                    gm__cfg_node_kind(n));
    const yaml_node_item_t *items = n->data.sequence.items.start;
    const int64_t count = n->data.sequence.items.top - items;
    GM__CFG_FAIL_IF(count < 1 || count > GM_MODEL_MAX_BLOCKS, c, line, GM_ERR_INVALID_ARG,
                    "model.blocks: %lld blocks, expected 1..%d", (long long)count,
                    GM_MODEL_MAX_BLOCKS);
    gm_block_desc blocks[GM_MODEL_MAX_BLOCKS];
    for (int64_t i = 0; i < count; i++) {
        const yaml_node_t *b = yaml_document_get_node(doc, items[i]);
        GM_ASSERT(b);
        char path[GM__CFG_PATH_MAX];
        snprintf(path, sizeof path, "model.blocks[%lld]", (long long)i);
        GM__CFG_FAIL_IF(b->type != YAML_MAPPING_NODE, c, gm__cfg_line(b), GM_ERR_INVALID_ARG,
                        "%s: expected a mapping {num_layers, out_channels}, got %s", path,
                        gm__cfg_node_kind(b));
        blocks[i] = (gm_block_desc){.num_layers = 1};
        bool seen[3] = {false, false, false};
        for (const yaml_node_pair_t *p = b->data.mapping.pairs.start;
             p < b->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = yaml_document_get_node(doc, p->key);
            const yaml_node_t *v = yaml_document_get_node(doc, p->value);
            GM_ASSERT(k && v);
            const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value
                                                            : "";
            int which = !strcmp(name, "num_layers") ? 0 : !strcmp(name, "out_channels") ? 1
                        : !strcmp(name, "pool") ? 2 : -1;
            char shown[64], full[GM__CFG_PATH_MAX + 64];
            gm__cfg_value_shown(shown, sizeof shown, k);
            snprintf(full, sizeof full, "%s.%s", path, shown);
            GM__CFG_FAIL_IF(which < 0, c, gm__cfg_line(k), GM_ERR_INVALID_ARG,
                            "unknown key '%s'", full);
            GM__CFG_FAIL_IF(seen[which], c, gm__cfg_line(k), GM_ERR_INVALID_ARG,
                            "duplicate key '%s'", full);
            seen[which] = true;
            if (which == 0)
                GM_FORWARD_IF_ERROR(gm__cfg_int(c, v, full, 1, 1000, &blocks[i].num_layers));
            else if (which == 1)
                GM_FORWARD_IF_ERROR(gm__cfg_int(c, v, full, 1, 65536, &blocks[i].out_channels));
            else
                GM_FORWARD_IF_ERROR(gm__cfg_bool(c, v, full, &blocks[i].pool));
        }
        GM__CFG_FAIL_IF(!seen[1], c, gm__cfg_line(b), GM_ERR_INVALID_ARG,
                        "%s: out_channels is required", path);
    }
    cfg->model.nblocks = count;
    memset(cfg->model.blocks, 0, sizeof cfg->model.blocks);
    memcpy(cfg->model.blocks, blocks, (size_t)count * sizeof blocks[0]);
    return GM_OK;
}

static gm_status gm__cfg_files(gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *n,
                               const char *path) {
    gm_config *cfg = c->cfg;
    const int line = gm__cfg_line(n);
    GM__CFG_FAIL_IF(n->type != YAML_SEQUENCE_NODE, c, line, GM_ERR_INVALID_ARG,
                    "%s: expected a list of batch files, got %s", path, gm__cfg_node_kind(n));
    const yaml_node_item_t *items = n->data.sequence.items.start;
    const int64_t count = n->data.sequence.items.top - items;
    GM__CFG_FAIL_IF(count < 1 || count > GM_CONFIG_MAX_FILES, c, line, GM_ERR_INVALID_ARG,
                    "%s: %lld files, expected 1..%d", path, (long long)count, GM_CONFIG_MAX_FILES);
    const char *vals[GM_CONFIG_MAX_FILES];
    for (int64_t i = 0; i < count; i++) {
        const yaml_node_t *f = yaml_document_get_node(doc, items[i]);
        GM_ASSERT(f);
        char p[GM__CFG_PATH_MAX];
        snprintf(p, sizeof p, "%s[%lld]", path, (long long)i);
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, f, p, false, &vals[i]));
    }
    char *copies[GM_CONFIG_MAX_FILES] = {NULL};
    for (int64_t i = 0; i < count; i++) {
        copies[i] = gm_strdup(vals[i]);
        if (!copies[i]) {
            for (int64_t j = 0; j < i; j++) gm_free(copies[j]);
            return gm__nomem("config file list");
        }
    }
    for (int64_t i = 0; i < cfg->nfiles; i++) gm_free(cfg->files[i]);
    for (int64_t i = 0; i < GM_CONFIG_MAX_FILES; i++) cfg->files[i] = copies[i];
    cfg->nfiles = count;
    return GM_OK;
}

/* Which data keys each source takes. */
static bool gm__cfg_data_key_applies(gm__cfg_field f, gm_data_source src) {
    switch (f) {
    case F_D_IMAGES: case F_D_LABELS: case F_D_TEST_IMAGES: case F_D_TEST_LABELS:
        return src == GM_DATA_IDX || src == GM_DATA_NPY;
    case F_D_TRAIN: return src == GM_DATA_AMAT || src == GM_DATA_CIFAR10;
    case F_D_TEST: return src == GM_DATA_AMAT || src == GM_DATA_CIFAR10;
    case F_D_TRAIN_DAT: case F_D_TRAIN_CAT: case F_D_TEST_DAT: case F_D_TEST_CAT:
        return src == GM_DATA_NORB;
    case F_D_GEN_KIND: case F_D_GEN_SEED: case F_D_GEN_NTRAIN: case F_D_GEN_NTEST:
    case F_D_GEN_DIGITS: case F_D_SPLIT: case F_D_MAXANGLE:
        return src == GM_DATA_GENERATED;
    case F_D_GEN_PATH: return src == GM_DATA_GENERATED || src == GM_DATA_PLUME;
    case F_D_IN_FRAMES: case F_D_IN_OFFSET: case F_D_ROLLOUT: case F_D_EVAL_STEPS:
    case F_D_TRAIN_RANGE: case F_D_VAL_RANGE: case F_D_FUTURE_RANGE: case F_D_DOMAIN_RANGE:
    case F_D_TRAIN_STRIDE: case F_D_EVAL_STRIDE:
        return src == GM_DATA_PLUME;
    /* Plume windows are split by time, and the reference uses raw velocities. */
    case F_D_VAL: case F_D_NORM: case F_D_VALSIZE: return src != GM_DATA_PLUME;
    default: return true;
    }
}

static bool gm__cfg_optim_key_applies(gm__cfg_field f, gm_optim_kind k) {
    if (f == F_O_MOM || f == F_O_DAMP || f == F_O_NEST) return k == GM_OPTIM_SGD;
    if (f == F_O_BETAS || f == F_O_EPS) return k != GM_OPTIM_SGD;
    return true;
}

static bool gm__cfg_sched_key_applies(gm__cfg_field f, gm_lr_sched_kind k) {
    if (f == F_S_STEP || f == F_S_GAMMA) return k == GM_LR_STEP;
    if (f == F_S_TMAX || f == F_S_ETAMIN) return k == GM_LR_COSINE;
    if (f == F_S_WARMUP) return k == GM_LR_COSINE || k == GM_LR_CONSTANT;
    if (f >= F_S_MODE && f <= F_S_EPS) return k == GM_LR_PLATEAU;
    return true;
}

/* The members behind the keys of the optimizer and scheduler sections: what
 * a change of kind keeps. */
typedef struct gm__cfg_member {
    gm__cfg_field field;
    size_t offset, size;
} gm__cfg_member;

#define GM__CFG_MEMBER(f, type, m) {f, offsetof(type, m), sizeof(((type *)0)->m)}
static const gm__cfg_member gm__cfg_optim_members[] = {
    GM__CFG_MEMBER(F_O_LR, gm_optim_config, lr),
    GM__CFG_MEMBER(F_O_WD, gm_optim_config, weight_decay),
    GM__CFG_MEMBER(F_O_MOM, gm_optim_config, momentum),
    GM__CFG_MEMBER(F_O_DAMP, gm_optim_config, dampening),
    GM__CFG_MEMBER(F_O_NEST, gm_optim_config, nesterov),
    GM__CFG_MEMBER(F_O_BETAS, gm_optim_config, beta1),
    GM__CFG_MEMBER(F_O_BETAS, gm_optim_config, beta2),
    GM__CFG_MEMBER(F_O_EPS, gm_optim_config, eps),
    GM__CFG_MEMBER(F_O_DECAY, gm_optim_config, decay),
};
static const gm__cfg_member gm__cfg_sched_members[] = {
    GM__CFG_MEMBER(F_S_STEP, gm_lr_sched_config, step_size),
    GM__CFG_MEMBER(F_S_GAMMA, gm_lr_sched_config, gamma),
    GM__CFG_MEMBER(F_S_TMAX, gm_lr_sched_config, t_max),
    GM__CFG_MEMBER(F_S_ETAMIN, gm_lr_sched_config, eta_min),
    GM__CFG_MEMBER(F_S_WARMUP, gm_lr_sched_config, warmup_epochs),
    GM__CFG_MEMBER(F_S_MODE, gm_lr_sched_config, mode),
    GM__CFG_MEMBER(F_S_FACTOR, gm_lr_sched_config, factor),
    GM__CFG_MEMBER(F_S_PATIENCE, gm_lr_sched_config, patience),
    GM__CFG_MEMBER(F_S_THRESH, gm_lr_sched_config, threshold),
    GM__CFG_MEMBER(F_S_THMODE, gm_lr_sched_config, threshold_mode),
    GM__CFG_MEMBER(F_S_COOLDOWN, gm_lr_sched_config, cooldown),
    GM__CFG_MEMBER(F_S_MINLR, gm_lr_sched_config, min_lr),
    GM__CFG_MEMBER(F_S_EPS, gm_lr_sched_config, eps),
};
#undef GM__CFG_MEMBER

/* A new kind starts from its defaults, but every value given so far (in the
 * file or by an override) that applies to the new kind is kept, so the
 * outcome does not depend on the order of the keys; a given value that no
 * longer applies is dropped with a warning. */
static void gm__cfg_keep_given(gm__cfg_ctx *c, const gm__cfg_member *members, size_t n,
                               const void *old, void *fresh, const char *kind_key,
                               const char *kind, bool (*applies)(gm__cfg_field, const void *)) {
    gm_config *cfg = c->cfg;
    for (size_t i = 0; i < n; i++) {
        const gm__cfg_field f = members[i].field;
        if (!cfg->given[f]) continue;
        if (applies(f, fresh)) {
            memcpy((char *)fresh + members[i].offset, (const char *)old + members[i].offset,
                   members[i].size);
            continue;
        }
        if (i > 0 && members[i - 1].field == f) continue; /* a pair, reported once */
        const char *path = "?";
        for (size_t k = 0; k < GM__CFG_NKEYS; k++)
            if (gm__cfg_keys[k].field == f) path = gm__cfg_keys[k].path;
        const char *nm = cfg->str[GM__S_NAME] ? cfg->str[GM__S_NAME] : "<string>";
        if (cfg->line[f] > 0)
            gm_log(GM_LOG_WARN, "config '%s': %s (line %d) does not apply to %s %s; dropped", nm,
                   path, cfg->line[f], kind_key, kind);
        else
            gm_log(GM_LOG_WARN, "config '%s': %s does not apply to %s %s; dropped", nm, path,
                   kind_key, kind);
    }
    for (size_t i = 0; i < n; i++)
        if (!applies(members[i].field, fresh)) cfg->given[members[i].field] = false;
}

static bool gm__cfg_optim_applies(gm__cfg_field f, const void *o) {
    return gm__cfg_optim_key_applies(f, ((const gm_optim_config *)o)->kind);
}

static bool gm__cfg_sched_applies(gm__cfg_field f, const void *s) {
    return gm__cfg_sched_key_applies(f, ((const gm_lr_sched_config *)s)->kind);
}

static gm_status gm__cfg_apply_map(gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *map,
                                   const char *prefix);

/* A window range [begin, end) as a list of two integers, 0 <= begin < end. */
static gm_status gm__cfg_range(const gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *v,
                               const char *path, gm_forecast_range *out) {
    const int line = gm__cfg_line(v);
    const bool pair = v->type == YAML_SEQUENCE_NODE &&
                      v->data.sequence.items.top - v->data.sequence.items.start == 2;
    GM__CFG_FAIL_IF(!pair, c, line, GM_ERR_INVALID_ARG,
                    "%s: expected a list of two integers [begin, end], got %s", path,
                    gm__cfg_node_kind(v));
    int64_t b[2];
    for (int i = 0; i < 2; i++) {
        const yaml_node_t *e = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
        GM_ASSERT(e);
        char p[GM__CFG_PATH_MAX];
        snprintf(p, sizeof p, "%s[%d]", path, i);
        GM_FORWARD_IF_ERROR(gm__cfg_int(c, e, p, 0, INT64_C(1) << 31, &b[i]));
    }
    GM__CFG_FAIL_IF(b[0] >= b[1], c, line, GM_ERR_INVALID_ARG,
                    "%s = [%lld, %lld] is empty (windows s with begin <= s < end)", path,
                    (long long)b[0], (long long)b[1]);
    *out = (gm_forecast_range){b[0], b[1]};
    return GM_OK;
}

static gm_status gm__cfg_apply(gm__cfg_ctx *c, yaml_document_t *doc, gm__cfg_field f,
                               const char *path, const yaml_node_t *v) {
    gm_config *cfg = c->cfg;
    gm_model_desc *m = &cfg->model;
    gm_optim_config *o = &cfg->fit.optim;
    gm_lr_sched_config *s = &cfg->fit.sched;
    gm_data_config *d = &cfg->data;
    const int line = gm__cfg_line(v);
    const char *str = NULL;
    int choice = 0;
    const double inf = INFINITY;

    GM__CFG_FAIL_IF(f > F_D_SOURCE && f <= F_D_EVAL_STRIDE &&
                        !gm__cfg_data_key_applies(f, d->source),
                    c, line, GM_ERR_INVALID_ARG, "%s does not apply to data.source %s", path,
                    gm_data_source_name(d->source));
    GM__CFG_FAIL_IF(!gm__cfg_optim_key_applies(f, o->kind), c, line, GM_ERR_INVALID_ARG,
                    "%s does not apply to optimizer.kind %s", path, gm_optim_kind_name(o->kind));
    GM__CFG_FAIL_IF(!gm__cfg_sched_key_applies(f, s->kind), c, line, GM_ERR_INVALID_ARG,
                    "%s does not apply to scheduler.kind %s", path,
                    gm_lr_sched_kind_name(s->kind));

    cfg->given[f] = true;
    switch (f) {
    case F_MODEL: case F_DATA: case F_TRAINER: case F_OPTIM: case F_SCHED: case F_EARLY:
    case F_OUTPUT: case F_AUGMENT:
        GM__CFG_FAIL_IF(v->type != YAML_MAPPING_NODE, c, line, GM_ERR_INVALID_ARG,
                        "%s: expected a mapping, got %s", path, gm__cfg_node_kind(v));
        return gm__cfg_apply_map(c, doc, v, path);
    case F_SEED: return gm__cfg_u64(c, v, path, &cfg->fit.seed);
    case F_M_KIND:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_model_kinds,
                                           GM__CFG_LEN(gm__cfg_model_kinds), &choice));
        m->kind = (gm_model_kind)choice;
        return GM_OK;
    case F_M_SPEC:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_SPEC], str);
    case F_M_GROUP: {
        static const char *const groups[] = {"cyclic", "dihedral"};
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, groups, 2, &choice));
        cfg->ref_group = choice == 0 ? 'C' : 'D';
        return GM_OK;
    }
    case F_M_ORDER: return gm__cfg_int(c, v, path, 1, 4096, &cfg->ref_order);
    case F_M_RADIUS: return gm__cfg_int(c, v, path, 0, 64, &m->radius);
    case F_M_IN: return gm__cfg_int(c, v, path, 1, 4096, &m->in_channels);
    case F_M_CLASSES: return gm__cfg_int(c, v, path, 1, 1 << 20, &m->out_dim);
    case F_M_BLOCKS: return gm__cfg_blocks(c, doc, v);
    case F_M_DROPOUT: return gm__cfg_real(c, v, path, 0.0, false, 1.0, true, &m->dropout);
    case F_M_FORM: {
        static const char *const forms[] = {"full", "shared"};
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, forms, 2, &choice));
        m->form = choice == 0 ? GM_CONV_FULL : GM_CONV_SHARED;
        return GM_OK;
    }
    case F_M_LDR: return gm__cfg_int(c, v, path, 0, 1024, &m->ldr_rank);
    case F_M_MOD: return gm__cfg_bool(c, v, path, &m->modulated);
    case F_M_POOL: {
        static const char *const modes[] = {"max", "mean"};
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, modes, 2, &choice));
        m->pool_mode = choice == 0 ? GM_REDUCE_MAX : GM_REDUCE_MEAN;
        return GM_OK;
    }
    case F_M_HIDDEN: return gm__cfg_int(c, v, path, 0, 65536, &m->hidden);
    case F_M_IMH: return gm__cfg_int(c, v, path, 0, 65536, &m->image_h);
    case F_M_IMW: return gm__cfg_int(c, v, path, 0, 65536, &m->image_w);
    case F_M_REGRESSOR: return gm__cfg_bool(c, v, path, &m->regressor);
    case F_M_MOD_INPLACE: return gm__cfg_bool(c, v, path, &m->modulated_in_place);
    case F_M_CENTER: return gm__cfg_bool(c, v, path, &m->center);
    case F_M_NORM: {
        static const char *const norms[] = {"default", "batch"};
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, norms, 2, &choice));
        m->norm = choice == 0 ? GM_NORM_DEFAULT : GM_NORM_BATCH;
        return GM_OK;
    }
    case F_M_STRUCTURE:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_structures,
                                           GM__CFG_LEN(gm__cfg_structures), &choice));
        m->structure = (gm_ldr_structure)choice;
        return GM_OK;
    case F_D_SOURCE:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_sources,
                                           GM__CFG_LEN(gm__cfg_sources), &choice));
        if ((gm_data_source)choice != d->source) {
            /* The paths of one source mean nothing to another. */
            gm__cfg_clear_data_files(cfg);
            d->source = (gm_data_source)choice;
            d->gen_official = false;
            d->gen_max_angle = 0.0;
            if (d->source == GM_DATA_GENERATED)
                GM_FORWARD_IF_ERROR(gm__cfg_set_str(&cfg->str[GM__S_GEN_PATH], ""));
        }
        return GM_OK;
    case F_D_BATCH: return gm__cfg_int(c, v, path, 1, 1 << 24, &d->batch_size);
    case F_D_VAL:
        /* Two ways to size one split: a file gives one, an override replaces either. */
        GM__CFG_FAIL_IF(c->from_file && c->seen[F_D_VALSIZE], c, line, GM_ERR_INVALID_ARG,
                        "%s and data.val_size exclude each other", path);
        d->val_size = -1;
        return gm__cfg_real(c, v, path, 0.0, false, 1.0, true, &d->val_fraction);
    case F_D_VALSIZE:
        GM__CFG_FAIL_IF(c->from_file && c->seen[F_D_VAL], c, line, GM_ERR_INVALID_ARG,
                        "%s and data.val_fraction exclude each other", path);
        return gm__cfg_int(c, v, path, 0, INT64_C(1) << 32, &d->val_size);
    case F_D_SPLIT:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_splits, 2, &choice));
        d->gen_official = choice == 1;
        return GM_OK;
    case F_D_MAXANGLE:
        return gm__cfg_real(c, v, path, 0.0, true, 180.0, false, &d->gen_max_angle);
    case F_D_NORM: return gm__cfg_bool(c, v, path, &d->normalize);
    case F_D_IMAGES: case F_D_TRAIN_DAT:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_IMAGES], str);
    case F_D_LABELS: case F_D_TRAIN_CAT:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_LABELS], str);
    case F_D_TEST_IMAGES: case F_D_TEST_DAT: case F_D_TEST:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_TEST_IMAGES], str);
    case F_D_TEST_LABELS: case F_D_TEST_CAT:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_TEST_LABELS], str);
    case F_D_TRAIN:
        if (d->source == GM_DATA_CIFAR10) return gm__cfg_files(c, doc, v, path);
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_IMAGES], str);
    case F_D_GEN_KIND: {
        const char *names[GM__CFG_LEN(gm__cfg_gen_kinds)];
        for (int i = 0; i < GM__CFG_LEN(gm__cfg_gen_kinds); i++)
            names[i] = gm__cfg_gen_kinds[i].name;
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, names, GM__CFG_LEN(gm__cfg_gen_kinds),
                                           &choice));
        const gm__cfg_gen *g = &gm__cfg_gen_kinds[choice];
        if (g->digits) {
            GM__CFG_FAIL_IF(c->seen[F_D_GEN_DIGITS], c, line, GM_ERR_INVALID_ARG,
                            "%s %s selects the digits itself; drop data.digits", path, g->name);
            d->gen_digits = g->digits;
        }
        return gm__cfg_set_str(&cfg->str[GM__S_GEN_KIND], g->kind);
    }
    case F_D_GEN_DIGITS:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_digit_sources, 2, &choice));
        d->gen_digits = gm__cfg_digit_sources[choice];
        return GM_OK;
    case F_D_GEN_SEED: return gm__cfg_u64(c, v, path, &d->gen_seed);
    case F_D_GEN_NTRAIN: return gm__cfg_int(c, v, path, 1, INT64_C(1) << 32, &d->gen_num_train);
    case F_D_GEN_NTEST: return gm__cfg_int(c, v, path, 0, INT64_C(1) << 32, &d->gen_num_test);
    case F_D_GEN_PATH:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, d->source != GM_DATA_PLUME, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_GEN_PATH], str);
    case F_D_IN_FRAMES: return gm__cfg_int(c, v, path, 1, 4096, &d->forecast.input_frames);
    case F_D_IN_OFFSET:
        return gm__cfg_int(c, v, path, 0, INT64_C(1) << 31, &d->forecast.input_offset);
    case F_D_ROLLOUT: return gm__cfg_int(c, v, path, 1, 100000, &d->forecast.rollout_steps);
    case F_D_EVAL_STEPS: return gm__cfg_int(c, v, path, 1, 100000, &d->forecast.eval_steps);
    case F_D_TRAIN_RANGE: return gm__cfg_range(c, doc, v, path, &d->forecast.train);
    case F_D_VAL_RANGE: return gm__cfg_range(c, doc, v, path, &d->forecast.val);
    case F_D_FUTURE_RANGE: return gm__cfg_range(c, doc, v, path, &d->forecast.future);
    case F_D_DOMAIN_RANGE: return gm__cfg_range(c, doc, v, path, &d->forecast.domain);
    case F_D_TRAIN_STRIDE:
        return gm__cfg_int(c, v, path, 1, 1000000, &d->forecast.train_stride);
    case F_D_EVAL_STRIDE:
        return gm__cfg_int(c, v, path, 1, 1000000, &d->forecast.eval_stride);
    case F_T_EPOCHS: return gm__cfg_int(c, v, path, 1, 1000000, &cfg->fit.epochs);
    case F_T_SMOOTH:
        return gm__cfg_real(c, v, path, 0.0, false, 1.0, true, &cfg->fit.label_smoothing);
    case F_T_SELECT:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_selects, 2, &choice));
        cfg->fit.select = (gm_fit_select)choice;
        return GM_OK;
    case F_O_DECAY:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_decays, 2, &choice));
        o->decay = (gm_decay_scope)choice;
        return GM_OK;
    case F_S_WARMUP: return gm__cfg_int(c, v, path, 0, 1000000, &s->warmup_epochs);
    case F_A_ROTATE:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_rotates, 3, &choice));
        cfg->fit.augment.rotate = (gm_augment_rotate)choice;
        /* An override away from "any" takes the angle limit with it; a file
         * giving both is told. */
        if (c->override && cfg->fit.augment.rotate != GM_AUGMENT_ROTATE_ANY)
            cfg->fit.augment.max_angle = 0.0;
        return GM_OK;
    case F_A_MAXANGLE:
        return gm__cfg_real(c, v, path, 0.0, true, 180.0, false, &cfg->fit.augment.max_angle);
    case F_A_FLIP:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_flips, 4, &choice));
        cfg->fit.augment.flip = (gm_augment_flip)choice;
        return GM_OK;
    case F_A_TRANSLATE:
        return gm__cfg_int(c, v, path, 0, 65536, &cfg->fit.augment.translate);
    case F_O_KIND:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_optims,
                                           GM__CFG_LEN(gm__cfg_optims), &choice));
        if ((gm_optim_kind)choice != o->kind) {
            const gm_optim_config old = *o;
            *o = gm_optim_config_default((gm_optim_kind)choice);
            gm__cfg_keep_given(c, gm__cfg_optim_members, (size_t)GM__CFG_LEN(gm__cfg_optim_members), &old,
                               o, "optimizer.kind", gm_optim_kind_name(o->kind),
                               gm__cfg_optim_applies);
        }
        return GM_OK;
    case F_O_LR: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &o->lr);
    case F_O_WD: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &o->weight_decay);
    case F_O_MOM: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &o->momentum);
    case F_O_DAMP: return gm__cfg_real(c, v, path, -inf, false, inf, false, &o->dampening);
    case F_O_NEST: return gm__cfg_bool(c, v, path, &o->nesterov);
    case F_O_BETAS: {
        const bool pair = v->type == YAML_SEQUENCE_NODE &&
                          v->data.sequence.items.top - v->data.sequence.items.start == 2;
        GM__CFG_FAIL_IF(!pair, c, line, GM_ERR_INVALID_ARG,
                        "%s: expected a list of two numbers [beta1, beta2], got %s", path,
                        gm__cfg_node_kind(v));
        double b[2];
        for (int i = 0; i < 2; i++) {
            const yaml_node_t *e = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
            GM_ASSERT(e);
            char p[GM__CFG_PATH_MAX];
            snprintf(p, sizeof p, "%s[%d]", path, i);
            GM_FORWARD_IF_ERROR(gm__cfg_real(c, e, p, 0.0, false, 1.0, true, &b[i]));
        }
        o->beta1 = b[0];
        o->beta2 = b[1];
        return GM_OK;
    }
    case F_O_EPS: return gm__cfg_real(c, v, path, 0.0, true, inf, false, &o->eps);
    case F_O_CLIP: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &cfg->fit.clip_norm);
    case F_S_KIND:
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_scheds,
                                           GM__CFG_LEN(gm__cfg_scheds), &choice));
        if ((gm_lr_sched_kind)choice != s->kind) {
            const gm_lr_sched_config old = *s;
            *s = gm_lr_sched_config_default((gm_lr_sched_kind)choice);
            gm__cfg_keep_given(c, gm__cfg_sched_members, (size_t)GM__CFG_LEN(gm__cfg_sched_members), &old,
                               s, "scheduler.kind", gm_lr_sched_kind_name(s->kind),
                               gm__cfg_sched_applies);
        }
        return GM_OK;
    case F_S_STEP: return gm__cfg_int(c, v, path, 1, 1000000, &s->step_size);
    case F_S_GAMMA: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &s->gamma);
    case F_S_TMAX:
        return gm__cfg_int(c, v, path, 1, 1000000, &s->t_max);
    case F_S_ETAMIN: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &s->eta_min);
    case F_S_MODE: {
        static const char *const modes[] = {"min", "max"};
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, modes, 2, &choice));
        s->mode = choice == 0 ? GM_SCHED_MIN : GM_SCHED_MAX;
        return GM_OK;
    }
    case F_S_FACTOR: return gm__cfg_real(c, v, path, 0.0, false, 1.0, true, &s->factor);
    case F_S_PATIENCE: return gm__cfg_int(c, v, path, 0, 1000000, &s->patience);
    case F_S_THRESH: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &s->threshold);
    case F_S_THMODE: {
        static const char *const modes[] = {"rel", "abs"};
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, modes, 2, &choice));
        s->threshold_mode = choice == 0 ? GM_THRESHOLD_REL : GM_THRESHOLD_ABS;
        return GM_OK;
    }
    case F_S_COOLDOWN: return gm__cfg_int(c, v, path, 0, 1000000, &s->cooldown);
    case F_S_MINLR: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &s->min_lr);
    case F_S_EPS: return gm__cfg_real(c, v, path, 0.0, false, inf, false, &s->eps);
    case F_E_PATIENCE:
        return gm__cfg_int(c, v, path, 0, 1000000, &cfg->fit.early_stop_patience);
    case F_OUT_DIR:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_str(&cfg->str[GM__S_OUTDIR], str);
    case F_NONE: case F_COUNT: break;
    }
    GM_ASSERT(!"unhandled config field");
    return GM_ERR_INVALID_ARG;
}

static const gm__cfg_key *gm__cfg_lookup(const char *path) {
    for (size_t i = 0; i < GM__CFG_NKEYS; i++)
        if (!strcmp(gm__cfg_keys[i].path, path)) return &gm__cfg_keys[i];
    return NULL;
}

/* Resolves "prefix.key" for a key node; unknown keys are errors. */
static gm_status gm__cfg_key_of(const gm__cfg_ctx *c, const yaml_node_t *k, const char *prefix,
                                char *path, size_t cap, const gm__cfg_key **out) {
    const int line = gm__cfg_line(k);
    const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
    GM__CFG_FAIL_IF(!name, c, line, GM_ERR_INVALID_ARG, "%s%skeys must be scalars, got %s",
                    prefix, prefix[0] ? ": " : "", gm__cfg_node_kind(k));
    /* A dotted key would reach into another section. */
    const bool clean = strlen(name) == k->data.scalar.length &&
                       strlen(name) < GM__CFG_PATH_MAX && !strchr(name, '.');
    snprintf(path, cap, "%s%s%s", prefix, prefix[0] ? "." : "", clean ? name : "");
    *out = clean ? gm__cfg_lookup(path) : NULL;
    /* Sections and their fields live at fixed depths: "model.model" is no key. */
    if (*out && gm__cfg_is_section((*out)->field) && prefix[0]) *out = NULL;
    if (!*out) {
        char shown[GM__CFG_PATH_MAX], full[2 * GM__CFG_PATH_MAX];
        gm__cfg_shown(shown, sizeof shown, name, k->data.scalar.length);
        snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", shown);
        GM__CFG_FAIL_IF(true, c, line, GM_ERR_INVALID_ARG, "unknown key '%s'", full);
    }
    return GM_OK;
}

/* Keys that select a kind: its defaults and which other keys apply. */
static bool gm__cfg_is_selector(gm__cfg_field f) {
    return f == F_M_KIND || f == F_D_SOURCE || f == F_O_KIND || f == F_S_KIND;
}

static gm_status gm__cfg_apply_map(gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *map,
                                   const char *prefix) {
    const yaml_node_pair_t *start = map->data.mapping.pairs.start;
    const yaml_node_pair_t *top = map->data.mapping.pairs.top;
    /* Pass 0 reads the key that selects a kind (its defaults and which other
     * keys apply); pass 1 the rest. Keys are checked in pass 0. */
    for (int pass = 0; pass < 2; pass++) {
        for (const yaml_node_pair_t *p = start; p < top; p++) {
            const yaml_node_t *k = yaml_document_get_node(doc, p->key);
            const yaml_node_t *v = yaml_document_get_node(doc, p->value);
            GM_ASSERT(k && v);
            char path[2 * GM__CFG_PATH_MAX];
            const gm__cfg_key *key = NULL;
            GM_FORWARD_IF_ERROR(gm__cfg_key_of(c, k, prefix, path, sizeof path, &key));
            const bool selector = gm__cfg_is_selector(key->field);
            if (pass == 0) {
                const int line = gm__cfg_line(k);
                if (c->from_file) {
                    const int first = c->cfg->line[key->field];
                    GM__CFG_FAIL_IF(c->seen[key->field], c, line, GM_ERR_INVALID_ARG,
                                    "duplicate key '%s' (first given at line %d)", path, first);
                }
                c->seen[key->field] = true;
                c->cfg->line[key->field] = c->from_file ? line : 0;
            }
            if (selector == (pass == 0)) GM_FORWARD_IF_ERROR(gm__cfg_apply(c, doc, key->field,
                                                                           path, v));
        }
    }
    return GM_OK;
}

/* ---- validation across fields ----------------------------------------------------- */

static bool gm__cfg_gm_kind(gm_model_kind k) {
    return k == GM_MODEL_GMCNN || k == GM_MODEL_PLUME || k == GM_MODEL_GMCNN_DEEP;
}

/* data.source plume: a dataset directory, a consistent protocol, and a model
 * that maps 2F input channels to one frame. */
static gm_status gm__cfg_validate_plume(gm__cfg_ctx *c, int dl) {
    gm_config *cfg = c->cfg;
    const gm_model_desc *m = &cfg->model;
    const gm_forecast_protocol *p = &cfg->data.forecast;
    const int *ln = cfg->line;
    GM__CFG_FAIL_IF(!cfg->str[GM__S_GEN_PATH] || !cfg->str[GM__S_GEN_PATH][0], c, dl,
                    GM_ERR_INVALID_ARG,
                    "data.source plume needs data.path (a dataset directory with manifest.json)");
    if (gm_forecast_protocol_check(p) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        GM__CFG_FAIL_IF(true, c, dl, GM_ERR_INVALID_ARG, "data: %s", detail);
    }
    GM__CFG_FAIL_IF(m->kind != GM_MODEL_PLUME && !m->regressor, c,
                    ln[F_M_KIND] ? ln[F_M_KIND] : dl, GM_ERR_INVALID_ARG,
                    "data.source plume needs a regressor: model.kind plume, or cnn/mlp with "
                    "model.regressor: true (model.kind is %s)",
                    gm_config_model_kind_name(m->kind));
    GM__CFG_FAIL_IF(m->in_channels != 2 * p->input_frames, c,
                    ln[F_M_IN] ? ln[F_M_IN] : ln[F_D_IN_FRAMES] ? ln[F_D_IN_FRAMES] : dl,
                    GM_ERR_INVALID_ARG,
                    "model.in_channels is %lld but data.input_frames %lld x 2 velocity channels "
                    "= %lld", (long long)m->in_channels, (long long)p->input_frames,
                    (long long)(2 * p->input_frames));
    GM__CFG_FAIL_IF(m->out_dim != 2, c, ln[F_M_CLASSES] ? ln[F_M_CLASSES] : dl,
                    GM_ERR_INVALID_ARG,
                    "model.out_dim is %lld but the model predicts one velocity frame (2 "
                    "channels)", (long long)m->out_dim);
    return GM_OK;
}

static gm_status gm__cfg_validate(gm__cfg_ctx *c) {
    gm_config *cfg = c->cfg;
    gm_model_desc *m = &cfg->model;
    const int *ln = cfg->line;

    /* The group: model.spec, else the reference's group + order. */
    GM__CFG_FAIL_IF(!cfg->str[GM__S_SPEC] && (cfg->ref_group != 0) != (cfg->ref_order != 0), c,
                    ln[F_M_GROUP] ? ln[F_M_GROUP] : ln[F_M_ORDER], GM_ERR_INVALID_ARG,
                    "model.group and model.order go together (%s is missing)",
                    cfg->ref_group ? "model.order" : "model.group");
    char ref[64];
    const char *spec = cfg->str[GM__S_SPEC];
    int spec_line = ln[F_M_SPEC];
    if (!spec && cfg->ref_group) {
        snprintf(ref, sizeof ref, "%c%lldx%c%lld", cfg->ref_group, (long long)cfg->ref_order,
                 cfg->ref_group, (long long)cfg->ref_order);
        spec = ref;
        spec_line = ln[F_M_GROUP];
    }
    GM__CFG_FAIL_IF(!spec && gm__cfg_gm_kind(m->kind), c, ln[F_MODEL], GM_ERR_INVALID_ARG,
                    "model.kind %s needs a group: model.spec, or model.group and model.order",
                    gm_config_model_kind_name(m->kind));
    GM__CFG_FAIL_IF(!spec && m->image_h == 0, c, ln[F_MODEL], GM_ERR_INVALID_ARG,
                    "model.kind %s needs model.image_h and model.image_w, or a group",
                    gm_config_model_kind_name(m->kind));
    /* A table spec names a file, read when the model is built. */
    /* The model's image size for the data loader: CNN/MLP take model.image_h
     * x model.image_w when given, GM models (and the rest) |G1| x |G2|. */
    const bool sized = !gm__cfg_gm_kind(m->kind) && m->image_h > 0;
    cfg->data.image_h = sized ? m->image_h : 0;
    cfg->data.image_w = sized ? m->image_w : 0;
    if (spec && strncmp(spec, "table:", 6) != 0) {
        gm_group *g = NULL;
        const gm_status st = gm_group_from_spec(spec, &g);
        if (st == GM_OK && !sized && gm_group_kind_of(g) == GM_GROUP_PRODUCT) {
            cfg->data.image_h = gm_group_order(gm_group_factor(g, 0));
            cfg->data.image_w = gm_group_order(gm_group_factor(g, 1));
        }
        /* A wallpaper group's deep model reads an n x n image (the torus). */
        if (st == GM_OK && !sized && m->kind == GM_MODEL_GMCNN_DEEP &&
            gm_group_wallpaper_points(g) > 0)
            cfg->data.image_h = cfg->data.image_w = gm_group_param(g);
        gm_group_free(g);
        if (st == GM_ERR_NOMEM) return st;
        if (st != GM_OK) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s", gm_error_detail());
            GM__CFG_FAIL_IF(true, c, spec_line, st, "model.spec: %s", detail);
        }
    }
    GM_FORWARD_IF_ERROR(gm__cfg_set_str(&cfg->str[GM__S_RESOLVED], spec));

    GM__CFG_FAIL_IF((m->image_h == 0) != (m->image_w == 0), c,
                    ln[F_M_IMH] ? ln[F_M_IMH] : ln[F_M_IMW], GM_ERR_INVALID_ARG,
                    "model.image_h and model.image_w go together");
    GM__CFG_FAIL_IF(m->modulated && m->ldr_rank > 0, c, ln[F_M_MOD], GM_ERR_INVALID_ARG,
                    "model.modulated excludes model.ldr_rank");
    GM__CFG_FAIL_IF(!gm__cfg_gm_kind(m->kind) && m->modulated, c, ln[F_M_MOD],
                    GM_ERR_INVALID_ARG, "model.modulated applies to GM models only");
    GM__CFG_FAIL_IF(!gm__cfg_gm_kind(m->kind) && m->kind != GM_MODEL_LDR && m->ldr_rank > 0, c,
                    ln[F_M_LDR], GM_ERR_INVALID_ARG,
                    "model.ldr_rank applies to GM models and model.kind ldr only");
    /* The LDR model is one n x n layer: its own keys only, and no blocks. */
    const bool ldr = m->kind == GM_MODEL_LDR;
    GM__CFG_FAIL_IF(!ldr && (m->structure != GM_LDR_TOEPLITZ || ln[F_M_STRUCTURE]), c,
                    ln[F_M_STRUCTURE], GM_ERR_INVALID_ARG,
                    "model.structure applies to model.kind ldr only");
    GM__CFG_FAIL_IF(ldr && (ln[F_M_BLOCKS] || c->seen[F_M_BLOCKS]), c, ln[F_M_BLOCKS],
                    GM_ERR_INVALID_ARG,
                    "model.blocks does not apply to model.kind ldr (one n x n layer)");
    GM__CFG_FAIL_IF(ldr && m->hidden > 0, c, ln[F_M_HIDDEN], GM_ERR_INVALID_ARG,
                    "model.hidden does not apply to model.kind ldr (the layer is n x n, n = "
                    "in_channels x image size)");
    GM__CFG_FAIL_IF(ldr && m->structure == GM_LDR_UNSTRUCTURED && m->ldr_rank > 0, c,
                    ln[F_M_LDR], GM_ERR_INVALID_ARG,
                    "model.ldr_rank does not apply to model.structure unstructured");
    if (ldr) m->nblocks = 0;
    for (int64_t i = 0; i < m->nblocks; i++)
        GM__CFG_FAIL_IF(m->blocks[i].pool && m->kind != GM_MODEL_GMCNN_DEEP &&
                            m->kind != GM_MODEL_CNN,
                        c, ln[F_M_BLOCKS], GM_ERR_INVALID_ARG,
                        "model.blocks[%lld].pool: only deep and cnn models pool", (long long)i);
    GM__CFG_FAIL_IF(m->center && m->kind != GM_MODEL_GMCNN_DEEP, c, ln[F_M_CENTER],
                    GM_ERR_INVALID_ARG, "model.center applies to deep models on p4:n or p4m:n");
    GM__CFG_FAIL_IF(m->modulated_in_place && !m->modulated, c, ln[F_M_MOD_INPLACE],
                    GM_ERR_INVALID_ARG, "model.modulated_in_place needs model.modulated: true");
    GM__CFG_FAIL_IF(m->norm == GM_NORM_BATCH && m->kind != GM_MODEL_GMCNN_DEEP &&
                        m->kind != GM_MODEL_CNN,
                    c, ln[F_M_NORM], GM_ERR_INVALID_ARG,
                    "model.norm batch applies to deep and cnn models");
    GM__CFG_FAIL_IF(m->regressor && m->kind != GM_MODEL_CNN && m->kind != GM_MODEL_MLP, c,
                    ln[F_M_REGRESSOR], GM_ERR_INVALID_ARG,
                    "model.regressor applies to cnn and mlp models (plume is a regressor by "
                    "construction)");
    for (int64_t i = 0; i < m->nblocks && m->regressor; i++)
        GM__CFG_FAIL_IF(m->blocks[i].pool, c, ln[F_M_BLOCKS], GM_ERR_INVALID_ARG,
                        "model.blocks[%lld].pool: a regressor keeps the input's resolution",
                        (long long)i);

    /* The reference reads batch_size under data; the trainer uses it. */
    cfg->fit.batch_size = cfg->data.batch_size;

    const gm_data_config *d = &cfg->data;
    const int dl = ln[F_D_SOURCE] ? ln[F_D_SOURCE] : ln[F_DATA];
    switch (d->source) {
    case GM_DATA_IDX: case GM_DATA_NPY:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_IMAGES] || !cfg->str[GM__S_LABELS], c, dl,
                        GM_ERR_INVALID_ARG, "data.source %s needs data.images and data.labels",
                        gm_data_source_name(d->source));
        GM__CFG_FAIL_IF(!cfg->str[GM__S_TEST_IMAGES] != !cfg->str[GM__S_TEST_LABELS], c, dl,
                        GM_ERR_INVALID_ARG, "data.test_images and data.test_labels go together");
        break;
    case GM_DATA_AMAT:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_IMAGES], c, dl, GM_ERR_INVALID_ARG,
                        "data.source amat needs data.train");
        break;
    case GM_DATA_CIFAR10:
        GM__CFG_FAIL_IF(cfg->nfiles < 1, c, dl, GM_ERR_INVALID_ARG,
                        "data.source cifar10 needs data.train (a list of batch files)");
        break;
    case GM_DATA_NORB:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_IMAGES] || !cfg->str[GM__S_LABELS], c, dl,
                        GM_ERR_INVALID_ARG,
                        "data.source norb needs data.train_dat and data.train_cat");
        GM__CFG_FAIL_IF(!cfg->str[GM__S_TEST_IMAGES] != !cfg->str[GM__S_TEST_LABELS], c, dl,
                        GM_ERR_INVALID_ARG, "data.test_dat and data.test_cat go together");
        break;
    case GM_DATA_GENERATED:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_GEN_KIND], c, dl, GM_ERR_INVALID_ARG,
                        "data.source generated needs data.kind");
        break;
    case GM_DATA_PLUME:
        GM_FORWARD_IF_ERROR(gm__cfg_validate_plume(c, dl));
        break;
    }
    const bool regressor = m->kind == GM_MODEL_PLUME || m->regressor;
    GM__CFG_FAIL_IF(regressor && d->source != GM_DATA_PLUME, c,
                    ln[F_M_REGRESSOR] ? ln[F_M_REGRESSOR] : ln[F_M_KIND] ? ln[F_M_KIND] : dl,
                    GM_ERR_INVALID_ARG,
                    "model.kind %s%s is a regressor: it needs data.source plume",
                    gm_config_model_kind_name(m->kind),
                    m->regressor ? " with model.regressor" : "");

    /* The training recipe: classification only, and keys that qualify others. */
    gm_fit_options *fo = &cfg->fit;
    const bool plume = d->source == GM_DATA_PLUME;
    GM__CFG_FAIL_IF(plume && gm_augment_enabled(&fo->augment), c,
                    ln[F_A_ROTATE] ? ln[F_A_ROTATE] : ln[F_A_FLIP] ? ln[F_A_FLIP]
                                                                     : ln[F_AUGMENT],
                    GM_ERR_INVALID_ARG, "augment applies to classification, not to data.source "
                    "plume");
    GM__CFG_FAIL_IF(plume && fo->label_smoothing != 0.0, c, ln[F_T_SMOOTH], GM_ERR_INVALID_ARG,
                    "trainer.label_smoothing applies to classification, not to data.source "
                    "plume");
    GM__CFG_FAIL_IF(plume && fo->select != GM_SELECT_VAL_LOSS, c, ln[F_T_SELECT],
                    GM_ERR_INVALID_ARG,
                    "trainer.select val_accuracy needs a classifier (data.source plume has no "
                    "accuracy)");
    GM__CFG_FAIL_IF(fo->augment.max_angle > 0.0 && fo->augment.rotate != GM_AUGMENT_ROTATE_ANY,
                    c, ln[F_A_MAXANGLE], GM_ERR_INVALID_ARG,
                    "augment.max_angle needs augment.rotate: any");
    const char *gk = cfg->str[GM__S_GEN_KIND];
    GM__CFG_FAIL_IF(d->source == GM_DATA_GENERATED && d->gen_max_angle > 0.0 && gk &&
                        strcmp(gk, "rotated") != 0 && strcmp(gk, "rot-back-image") != 0,
                    c, ln[F_D_MAXANGLE], GM_ERR_INVALID_ARG,
                    "data.max_angle applies to the rotated kinds (rotated, fashion-rotated, "
                    "rotated-background), not to %s", gk);
    GM__CFG_FAIL_IF(d->source == GM_DATA_GENERATED && d->gen_official &&
                        (!d->gen_digits || strcmp(d->gen_digits, "fashion") != 0 ||
                         (gk && !strcmp(gk, "rectangles"))),
                    c, ln[F_D_SPLIT], GM_ERR_INVALID_ARG,
                    "data.split official needs Fashion-MNIST digits (data.kind fashion or "
                    "fashion-rotated, or data.digits: fashion)");
    if (fo->sched.kind == GM_LR_COSINE && !cfg->given[F_S_TMAX]) fo->sched.t_max = fo->epochs;

    /* The optimizer and schedule modules own their rules; these catch the
     * combinations a single key cannot (nesterov without momentum). */
    if (gm_optim_config_check(&cfg->fit.optim) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        GM__CFG_FAIL_IF(true, c, ln[F_OPTIM], GM_ERR_INVALID_ARG, "optimizer: %s", detail);
    }
    gm_lr_sched sched;
    if (gm_lr_sched_init(&sched, &cfg->fit.sched, cfg->fit.optim.lr) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        GM__CFG_FAIL_IF(true, c, ln[F_SCHED], GM_ERR_INVALID_ARG, "scheduler: %s", detail);
    }
    gm__cfg_sync(cfg);
    return GM_OK;
}

/* ---- parsing ------------------------------------------------------------------------- */

static gm_status gm__cfg_yaml_error(const gm__cfg_ctx *c, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) return gm__nomem("YAML parser");
    const yaml_mark_t mk = p->problem ? p->problem_mark : p->context_mark;
    char prob[160];
    const char *pr = p->problem ? p->problem : "malformed YAML";
    gm__cfg_shown(prob, sizeof prob, pr, strlen(pr));
    if (p->context) {
        char ctx[96];
        gm__cfg_shown(ctx, sizeof ctx, p->context, strlen(p->context));
        return gm__cfg_fail(c, (int)mk.line + 1, GM_ERR_FORMAT,
                            "YAML syntax error at column %d: %s (%s)", (int)mk.column + 1, prob,
                            ctx);
    }
    return gm__cfg_fail(c, (int)mk.line + 1, GM_ERR_FORMAT, "YAML syntax error at column %d: %s",
                        (int)mk.column + 1, prob);
}

/* Walks the YAML events once and stops at the first collection nested
 * deeper than GM__CFG_MAX_DEPTH: libyaml's document loader takes time
 * growing faster than linearly with the nesting depth, and no config needs
 * more than a few levels. Syntax errors are left to the loader. */
static gm_status gm__cfg_check_depth(const gm__cfg_ctx *c, const char *text, size_t len) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return gm__nomem("YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    gm_status st = GM_OK;
    int depth = 0;
    for (bool done = false; !done && st == GM_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > GM__CFG_MAX_DEPTH)
                st = gm__cfg_fail(c, (int)ev.start_mark.line + 1, GM_ERR_FORMAT,
                                  "lists and mappings nested deeper than %d levels (column %d)",
                                  GM__CFG_MAX_DEPTH, (int)ev.start_mark.column + 1);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return st;
}

/* Loads exactly one YAML document from text (which may be empty only when
 * allow_empty; its root is then NULL). */
static gm_status gm__cfg_load_doc(const gm__cfg_ctx *c, const char *text, size_t len,
                                  yaml_document_t *doc, bool *loaded) {
    *loaded = false;
    GM_FORWARD_IF_ERROR(gm__cfg_check_depth(c, text, len));
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return gm__nomem("YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        const gm_status st = gm__cfg_yaml_error(c, &parser);
        yaml_parser_delete(&parser);
        return st;
    }
    *loaded = true;
    if (yaml_document_get_root_node(doc)) {
        yaml_document_t extra;
        gm_status st = GM_OK;
        if (!yaml_parser_load(&parser, &extra)) {
            st = gm__cfg_yaml_error(c, &parser);
        } else {
            const yaml_node_t *r = yaml_document_get_root_node(&extra);
            if (r)
                st = gm__cfg_fail(c, gm__cfg_line(r), GM_ERR_FORMAT,
                                  "a second YAML document (a config is one document)");
            yaml_document_delete(&extra);
        }
        if (st != GM_OK) {
            yaml_parser_delete(&parser);
            yaml_document_delete(doc);
            *loaded = false;
            return st;
        }
    }
    yaml_parser_delete(&parser);
    return GM_OK;
}

static gm_status gm__cfg_parse_into(gm_config *cfg, const char *text, size_t len) {
    gm__cfg_ctx c = {.cfg = cfg, .from_file = true};
    yaml_document_t doc;
    bool loaded = false;
    GM_FORWARD_IF_ERROR(gm__cfg_load_doc(&c, text, len, &doc, &loaded));
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    gm_status st = GM_OK;
    if (!root)
        st = gm__cfg_fail(&c, 1, GM_ERR_INVALID_ARG, "the config is empty");
    else if (root->type != YAML_MAPPING_NODE)
        st = gm__cfg_fail(&c, gm__cfg_line(root), GM_ERR_INVALID_ARG,
                          "the top level must be a mapping of sections, got %s",
                          gm__cfg_node_kind(root));
    else
        st = gm__cfg_apply_map(&c, &doc, root, "");
    yaml_document_delete(&doc);
    if (st == GM_OK) st = gm__cfg_validate(&c);
    return st;
}

gm_status gm_config_parse(const char *yaml, const char *name, gm_config **out) {
    GM_RETURN_ERROR_IF(!yaml || !out, GM_ERR_INVALID_ARG,
                       "gm_config_parse: yaml and out are required");
    *out = NULL;
    const size_t len = strlen(yaml);
    gm_config *cfg = NULL;
    GM_FORWARD_IF_ERROR(gm_config_new_default(&cfg));
    gm_status st = gm__cfg_set_str(&cfg->str[GM__S_NAME], name ? name : "<string>");
    if (st == GM_OK) {
        gm__cfg_ctx c = {.cfg = cfg};
        if (len > GM__CFG_MAX_BYTES)
            st = gm__cfg_fail(&c, 0, GM_ERR_TOO_LARGE, "%zu bytes exceed the limit of %zu", len,
                              GM__CFG_MAX_BYTES);
    }
    if (st == GM_OK) st = gm__cfg_parse_into(cfg, yaml, len);
    if (st != GM_OK) {
        gm_config_free(cfg);
        return st;
    }
    *out = cfg;
    return GM_OK;
}

gm_status gm_config_load(const char *path, gm_config **out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG,
                       "gm_config_load: path and out are required");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    GM_RETURN_ERROR_IF(!f, GM_ERR_IO, "config '%s': cannot open: %s", path, strerror(errno));
    char *buf = gm_malloc(GM__CFG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return gm__nomem("config file buffer");
    }
    const size_t n = fread(buf, 1, GM__CFG_MAX_BYTES + 1, f);
    const bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > GM__CFG_MAX_BYTES) {
        gm_free(buf);
        GM_RETURN_ERROR_IF(failed, GM_ERR_IO, "config '%s': read error", path);
        GM_RETURN_ERROR_IF(true, GM_ERR_TOO_LARGE, "config '%s': larger than %zu bytes", path,
                           GM__CFG_MAX_BYTES);
    }
    buf[n] = '\0';
    gm_status st = GM_OK;
    if (memchr(buf, '\0', n)) {
        gm_free(buf);
        GM_RETURN_ERROR_IF(true, GM_ERR_FORMAT, "config '%s': contains a NUL byte", path);
    }
    st = gm_config_parse(buf, path, out);
    gm_free(buf);
    return st;
}

/* ---- overrides -------------------------------------------------------------------- */

/* One override; pass 0 applies only those of keys that select a kind, pass 1
 * the others, so that the order of the overrides does not matter. */
static gm_status gm__cfg_override(gm_config *cfg, const char *assignment, int pass) {
    gm__cfg_ctx c = {.cfg = cfg, .override = assignment};
    const char *eq = strchr(assignment, '=');
    GM__CFG_FAIL_IF(!eq, &c, 0, GM_ERR_INVALID_ARG, "expected key.path=value");
    char key[2 * GM__CFG_PATH_MAX];
    size_t klen = (size_t)(eq - assignment);
    while (klen > 0 && (assignment[klen - 1] == ' ' || assignment[klen - 1] == '\t')) klen--;
    GM__CFG_FAIL_IF(klen == 0 || klen >= GM__CFG_PATH_MAX, &c, 0, GM_ERR_INVALID_ARG,
                    "the key is empty or too long");
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    const gm__cfg_key *k = gm__cfg_lookup(key);
    GM__CFG_FAIL_IF(!k || gm__cfg_is_section(k->field), &c, 0, GM_ERR_INVALID_ARG,
                    "unknown key '%s'", key);
    if (gm__cfg_is_selector(k->field) != (pass == 0)) return GM_OK;
    const char *value = eq + 1;
    yaml_document_t doc;
    bool loaded = false;
    GM_FORWARD_IF_ERROR(gm__cfg_load_doc(&c, value, strlen(value), &doc, &loaded));
    const yaml_node_t *v = yaml_document_get_root_node(&doc);
    gm_status st = GM_OK;
    if (!v) {
        st = gm__cfg_fail(&c, 0, GM_ERR_INVALID_ARG, "%s: the value is empty", key);
    } else {
        if (k->field == F_M_GROUP || k->field == F_M_ORDER) {
            /* The reference keys name the group only when no spec does. */
            gm_free(cfg->str[GM__S_SPEC]);
            cfg->str[GM__S_SPEC] = NULL;
        }
        st = gm__cfg_apply(&c, &doc, k->field, key, v);
        cfg->line[k->field] = 0;
    }
    yaml_document_delete(&doc);
    return st;
}

gm_status gm_config_set_all(gm_config *cfg, int64_t n, const char *const *assignments) {
    GM_RETURN_ERROR_IF(!cfg || n < 0 || (n > 0 && !assignments), GM_ERR_INVALID_ARG,
                       "gm_config_set_all: cfg and assignments are required");
    gm_config *work = NULL;
    GM_FORWARD_IF_ERROR(gm__cfg_clone(cfg, &work));
    gm_status st = GM_OK;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < n && st == GM_OK; i++) {
            if (!assignments[i]) {
                st = gm_error_set(GM_ERR_INVALID_ARG,
                                  "gm_config_set_all: assignment %lld is NULL", (long long)i);
            } else {
                st = gm__cfg_override(work, assignments[i], pass);
            }
        }
    }
    if (st == GM_OK) {
        gm__cfg_ctx c = {.cfg = work, .override = n == 1 ? assignments[0] : NULL};
        st = gm__cfg_validate(&c);
    }
    if (st != GM_OK) {
        gm_config_free(work);
        return st;
    }
    /* Swap contents so the caller's handle stays valid. */
    gm_config tmp = *cfg;
    *cfg = *work;
    *work = tmp;
    gm__cfg_sync(cfg);
    gm_config_free(work);
    return GM_OK;
}

gm_status gm_config_set(gm_config *cfg, const char *assignment) {
    GM_RETURN_ERROR_IF(!cfg || !assignment, GM_ERR_INVALID_ARG,
                       "gm_config_set: cfg and assignment are required");
    return gm_config_set_all(cfg, 1, &assignment);
}

/* ---- writing -------------------------------------------------------------------------- */

typedef struct gm__cfg_buf {
    char *p;
    size_t len, cap;
    bool nomem;
} gm__cfg_buf;

static void gm__cfg_put(gm__cfg_buf *b, const char *fmt, ...) GM_PRINTF(2, 3);

static void gm__cfg_put(gm__cfg_buf *b, const char *fmt, ...) {
    if (b->nomem) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        GM_ASSERT(n >= 0);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        const size_t cap = 2 * b->cap + (size_t)n + 64;
        char *p = gm_realloc(b->p, cap);
        if (!p) {
            b->nomem = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Shortest decimal that reads back to the same double. */
static void gm__cfg_put_real(gm__cfg_buf *b, double v) {
    char s[GM__FMT_REAL_MAX];
    gm__fmt_real(v, s);
    /* A plain "5" reads as a number too, but 5.0 says it is real. */
    gm__cfg_put(b, "%s%s", s, strpbrk(s, ".eEn") ? "" : ".0");
}

/* Double-quoted YAML string; non-ASCII as \u escapes so any character the
 * parser produced reads back the same. */
static void gm__cfg_put_str(gm__cfg_buf *b, const char *s) {
    gm__cfg_put(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char ch = *p;
        if (ch == '"' || ch == '\\') {
            gm__cfg_put(b, "\\%c", ch);
            p++;
        } else if (ch >= 0x20 && ch < 0x7f) {
            gm__cfg_put(b, "%c", ch);
            p++;
        } else if (ch < 0x80) {
            gm__cfg_put(b, "\\x%02x", ch);
            p++;
        } else {
            /* libyaml hands out valid UTF-8; decode one character. */
            int n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
            uint32_t cp = ch & (n == 4 ? 0x07u : n == 3 ? 0x0fu : 0x1fu);
            int i = 1;
            for (; i < n && (p[i] & 0xc0) == 0x80; i++) cp = (cp << 6) | (p[i] & 0x3fu);
            if (i < n || ch < 0xc2 || ch > 0xf4) cp = 0xfffd, n = i;
            if (cp > 0xffff)
                gm__cfg_put(b, "\\U%08x", (unsigned)cp);
            else
                gm__cfg_put(b, "\\u%04x", (unsigned)cp);
            p += n;
        }
    }
    gm__cfg_put(b, "\"");
}

static const char *gm__cfg_bool_name(bool v) { return v ? "true" : "false"; }

gm_status gm_config_to_string(const gm_config *cfg, char **out) {
    GM_RETURN_ERROR_IF(!cfg || !out, GM_ERR_INVALID_ARG,
                       "gm_config_to_string: cfg and out are required");
    *out = NULL;
    gm__cfg_buf b = {.p = gm_malloc(1024), .cap = 1024};
    if (!b.p) return gm__nomem("config text");
    const gm_model_desc *m = &cfg->model;
    const gm_fit_options *f = &cfg->fit;
    const gm_data_config *d = &cfg->data;
    gm__cfg_put(&b, "# gmcnn config (resolved)\nseed: %llu\n", (unsigned long long)f->seed);
    gm__cfg_put(&b, "model:\n  kind: %s\n", gm_config_model_kind_name(m->kind));
    if (cfg->str[GM__S_RESOLVED]) {
        gm__cfg_put(&b, "  spec: ");
        gm__cfg_put_str(&b, cfg->str[GM__S_RESOLVED]);
        gm__cfg_put(&b, "\n");
    }
    gm__cfg_put(&b, "  nbr: %lld\n  in_channels: %lld\n  num_classes: %lld\n%s",
                (long long)m->radius, (long long)m->in_channels, (long long)m->out_dim,
                m->kind == GM_MODEL_LDR ? "" : "  blocks:\n");
    for (int64_t i = 0; i < m->nblocks; i++)
        gm__cfg_put(&b, "    - {num_layers: %lld, out_channels: %lld, pool: %s}\n",
                    (long long)m->blocks[i].num_layers, (long long)m->blocks[i].out_channels,
                    gm__cfg_bool_name(m->blocks[i].pool));
    gm__cfg_put(&b, "  dropout: ");
    gm__cfg_put_real(&b, m->dropout);
    gm__cfg_put(&b, "\n  form: %s\n  ldr_rank: %lld\n  modulated: %s\n  pool: %s\n",
                m->form == GM_CONV_SHARED ? "shared" : "full", (long long)m->ldr_rank,
                gm__cfg_bool_name(m->modulated), m->pool_mode == GM_REDUCE_MEAN ? "mean" : "max");
    gm__cfg_put(&b, "  hidden: %lld\n  image_h: %lld\n  image_w: %lld\n", (long long)m->hidden,
                (long long)m->image_h, (long long)m->image_w);
    if (m->regressor) gm__cfg_put(&b, "  regressor: true\n");
    if (m->norm == GM_NORM_BATCH) gm__cfg_put(&b, "  norm: batch\n");
    if (m->modulated_in_place) gm__cfg_put(&b, "  modulated_in_place: true\n");
    if (m->center) gm__cfg_put(&b, "  center: true\n");
    if (m->kind == GM_MODEL_LDR)
        gm__cfg_put(&b, "  structure: %s\n", gm__cfg_structures[m->structure]);

    gm__cfg_put(&b, "data:\n  source: %s\n  batch_size: %lld\n", gm_data_source_name(d->source),
                (long long)d->batch_size);
    if (d->source != GM_DATA_PLUME) {
        if (d->val_size >= 0) {
            gm__cfg_put(&b, "  val_size: %lld", (long long)d->val_size);
        } else {
            gm__cfg_put(&b, "  val_fraction: ");
            gm__cfg_put_real(&b, d->val_fraction);
        }
        gm__cfg_put(&b, "\n  normalize: %s\n", gm__cfg_bool_name(d->normalize));
    }
    static const char *const names[][4] = {
        [GM_DATA_IDX] = {"images", "labels", "test_images", "test_labels"},
        [GM_DATA_NPY] = {"images", "labels", "test_images", "test_labels"},
        [GM_DATA_AMAT] = {"train", NULL, "test", NULL},
        [GM_DATA_CIFAR10] = {NULL, NULL, "test", NULL},
        [GM_DATA_NORB] = {"train_dat", "train_cat", "test_dat", "test_cat"},
        [GM_DATA_GENERATED] = {NULL, NULL, NULL, NULL},
        [GM_DATA_PLUME] = {NULL, NULL, NULL, NULL},
    };
    const char *vals[4] = {d->train_images, d->train_labels, d->test_images, d->test_labels};
    if (d->source == GM_DATA_CIFAR10) {
        gm__cfg_put(&b, "  train:\n");
        for (int64_t i = 0; i < d->ntrain_files; i++) {
            gm__cfg_put(&b, "    - ");
            gm__cfg_put_str(&b, d->train_files[i]);
            gm__cfg_put(&b, "\n");
        }
    }
    for (int i = 0; i < 4; i++) {
        if (!names[d->source][i] || !vals[i]) continue;
        gm__cfg_put(&b, "  %s: ", names[d->source][i]);
        gm__cfg_put_str(&b, vals[i]);
        gm__cfg_put(&b, "\n");
    }
    if (d->source == GM_DATA_GENERATED) {
        gm__cfg_put(&b, "  kind: %s\n  digits: %s\n  seed: %llu\n  num_train: %lld\n"
                    "  num_test: %lld\n  path: ",
                    d->gen_kind ? d->gen_kind : "rotated", d->gen_digits,
                    (unsigned long long)d->gen_seed,
                    (long long)d->gen_num_train, (long long)d->gen_num_test);
        gm__cfg_put_str(&b, d->gen_path ? d->gen_path : "");
        gm__cfg_put(&b, "\n  split: %s\n", gm__cfg_splits[d->gen_official ? 1 : 0]);
        if (d->gen_max_angle > 0.0) {
            gm__cfg_put(&b, "  max_angle: ");
            gm__cfg_put_real(&b, d->gen_max_angle);
            gm__cfg_put(&b, "\n");
        }
    }
    if (d->source == GM_DATA_PLUME) {
        const gm_forecast_protocol *p = &d->forecast;
        gm__cfg_put(&b, "  path: ");
        gm__cfg_put_str(&b, d->plume_dir ? d->plume_dir : "");
        gm__cfg_put(&b, "\n  input_frames: %lld\n  input_offset: %lld\n  rollout_steps: %lld\n"
                    "  eval_steps: %lld\n", (long long)p->input_frames,
                    (long long)p->input_offset, (long long)p->rollout_steps,
                    (long long)p->eval_steps);
        const char *const rn[4] = {"train", "val", "future", "domain"};
        const gm_forecast_range *rv[4] = {&p->train, &p->val, &p->future, &p->domain};
        for (int i = 0; i < 4; i++)
            gm__cfg_put(&b, "  %s_range: [%lld, %lld]\n", rn[i], (long long)rv[i]->begin,
                        (long long)rv[i]->end);
        gm__cfg_put(&b, "  train_stride: %lld\n  eval_stride: %lld\n", (long long)p->train_stride,
                    (long long)p->eval_stride);
    }

    gm__cfg_put(&b, "trainer:\n  max_epochs: %lld\n", (long long)f->epochs);
    if (d->source != GM_DATA_PLUME) {
        gm__cfg_put(&b, "  label_smoothing: ");
        gm__cfg_put_real(&b, f->label_smoothing);
        gm__cfg_put(&b, "\n  select: %s\n", gm__cfg_selects[f->select == GM_SELECT_VAL_ACCURACY]);
    }
    const gm_optim_config *o = &f->optim;
    gm__cfg_put(&b, "optimizer:\n  kind: %s\n  lr: ", gm_optim_kind_name(o->kind));
    gm__cfg_put_real(&b, o->lr);
    gm__cfg_put(&b, "\n  weight_decay: ");
    gm__cfg_put_real(&b, o->weight_decay);
    if (o->kind == GM_OPTIM_SGD) {
        gm__cfg_put(&b, "\n  momentum: ");
        gm__cfg_put_real(&b, o->momentum);
        gm__cfg_put(&b, "\n  dampening: ");
        gm__cfg_put_real(&b, o->dampening);
        gm__cfg_put(&b, "\n  nesterov: %s", gm__cfg_bool_name(o->nesterov));
    } else {
        gm__cfg_put(&b, "\n  betas: [");
        gm__cfg_put_real(&b, o->beta1);
        gm__cfg_put(&b, ", ");
        gm__cfg_put_real(&b, o->beta2);
        gm__cfg_put(&b, "]\n  eps: ");
        gm__cfg_put_real(&b, o->eps);
    }
    gm__cfg_put(&b, "\n  clip_norm: ");
    gm__cfg_put_real(&b, f->clip_norm);
    gm__cfg_put(&b, "\n  decay: %s", gm__cfg_decays[o->decay == GM_DECAY_WEIGHTS]);

    const gm_lr_sched_config *s = &f->sched;
    gm__cfg_put(&b, "\nscheduler:\n  kind: %s\n", gm_lr_sched_kind_name(s->kind));
    if (s->kind == GM_LR_CONSTANT || s->kind == GM_LR_COSINE)
        gm__cfg_put(&b, "  warmup_epochs: %lld\n", (long long)s->warmup_epochs);
    if (s->kind == GM_LR_STEP) {
        gm__cfg_put(&b, "  step_size: %lld\n  gamma: ", (long long)s->step_size);
        gm__cfg_put_real(&b, s->gamma);
        gm__cfg_put(&b, "\n");
    } else if (s->kind == GM_LR_COSINE) {
        gm__cfg_put(&b, "  t_max: %lld\n  eta_min: ", (long long)s->t_max);
        gm__cfg_put_real(&b, s->eta_min);
        gm__cfg_put(&b, "\n");
    } else if (s->kind == GM_LR_PLATEAU) {
        gm__cfg_put(&b, "  mode: %s\n  factor: ", s->mode == GM_SCHED_MAX ? "max" : "min");
        gm__cfg_put_real(&b, s->factor);
        gm__cfg_put(&b, "\n  patience: %lld\n  threshold: ", (long long)s->patience);
        gm__cfg_put_real(&b, s->threshold);
        gm__cfg_put(&b, "\n  threshold_mode: %s\n  cooldown: %lld\n  min_lr: ",
                    s->threshold_mode == GM_THRESHOLD_ABS ? "abs" : "rel",
                    (long long)s->cooldown);
        gm__cfg_put_real(&b, s->min_lr);
        gm__cfg_put(&b, "\n  eps: ");
        gm__cfg_put_real(&b, s->eps);
        gm__cfg_put(&b, "\n");
    }
    gm__cfg_put(&b, "early_stopping:\n  patience: %lld\noutput:\n  dir: ",
                (long long)f->early_stop_patience);
    gm__cfg_put_str(&b, cfg->str[GM__S_OUTDIR] ? cfg->str[GM__S_OUTDIR] : "runs");
    gm__cfg_put(&b, "\n");
    if (d->source != GM_DATA_PLUME) {
        const gm_augment *a = &f->augment;
        gm__cfg_put(&b, "augment:\n  rotate: %s\n", gm__cfg_rotates[a->rotate]);
        if (a->max_angle > 0.0) {
            gm__cfg_put(&b, "  max_angle: ");
            gm__cfg_put_real(&b, a->max_angle);
            gm__cfg_put(&b, "\n");
        }
        gm__cfg_put(&b, "  flip: %s\n  translate: %lld\n", gm__cfg_flips[a->flip],
                    (long long)a->translate);
    }
    if (b.nomem) {
        gm_free(b.p);
        return gm__nomem("config text");
    }
    *out = b.p;
    return GM_OK;
}

typedef struct gm__cfg_text {
    const char *text;
    size_t len;
} gm__cfg_text;

static gm_status gm__cfg_write_text(int fd, const char *tmp, void *ctx) {
    const gm__cfg_text *t = ctx;
    const int err = gm__data_write_all(fd, t->text, t->len);
    GM_RETURN_ERROR_IF(err != 0, GM_ERR_IO, "config '%s': write failed: %s", tmp, strerror(err));
    return GM_OK;
}

gm_status gm_config_write(const gm_config *cfg, const char *path) {
    GM_RETURN_ERROR_IF(!cfg || !path, GM_ERR_INVALID_ARG,
                       "gm_config_write: cfg and path are required");
    char *text = NULL;
    GM_FORWARD_IF_ERROR(gm_config_to_string(cfg, &text));
    gm__cfg_text t = {text, strlen(text)};
    const gm_status st = gm__data_write_atomic("config", path, gm__cfg_write_text, &t);
    gm_free(text);
    return st;
}

/* ---- views and names ---------------------------------------------------------------- */

const gm_model_desc *gm_config_model(const gm_config *cfg) { return cfg ? &cfg->model : NULL; }
const gm_fit_options *gm_config_fit(const gm_config *cfg) { return cfg ? &cfg->fit : NULL; }
const gm_data_config *gm_config_data(const gm_config *cfg) { return cfg ? &cfg->data : NULL; }
const char *gm_config_output_dir(const gm_config *cfg) {
    return cfg ? cfg->str[GM__S_OUTDIR] : NULL;
}
uint64_t gm_config_seed(const gm_config *cfg) { return cfg ? cfg->fit.seed : 0; }

const char *gm_data_source_name(gm_data_source source) {
    const int i = (int)source;
    return i >= 0 && i < GM__CFG_LEN(gm__cfg_sources) ? gm__cfg_sources[i] : NULL;
}

const char *gm_config_model_kind_name(gm_model_kind kind) {
    const int i = (int)kind;
    return i >= 0 && i < GM__CFG_LEN(gm__cfg_model_kinds) ? gm__cfg_model_kinds[i] : NULL;
}
