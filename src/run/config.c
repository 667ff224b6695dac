/* The YAML run config (gmcnn/config.h): the schema (every accepted key and
 * the values of each choice), defaults, free and clone, the loading of one
 * YAML document (a depth pre-scan, libyaml's errors as details), the public
 * parse, load and override API, and the accessors. Setting fields from YAML
 * nodes is config_apply.c's, the rules across fields config_validate.c's,
 * the canonical writer config_write.c's (config_internal.h).
 *
 * libyaml allocates with the C library's malloc; its document is released
 * before every return, so only the config itself lives on gmcnn's heap. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/core_internal.h"
#include "gmcnn/config.h"
#include "run/config_internal.h"

/* Larger than any sensible config; keeps a stray binary file out. */
#define GM__CFG_MAX_BYTES ((size_t)1 << 20)
#define GM__CFG_MAX_DEPTH 32 /* nesting of lists and mappings */

/* ---- the schema ------------------------------------------------------------------ */

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

const gm__cfg_key *gm__cfg_lookup(const char *path) {
    for (size_t i = 0; i < GM__CFG_NKEYS; i++)
        if (!strcmp(gm__cfg_keys[i].path, path)) return &gm__cfg_keys[i];
    return NULL;
}

/* The path of a field's key; of aliases, the one listed last. */
const char *gm__cfg_field_path(gm__cfg_field f) {
    const char *path = "?";
    for (size_t k = 0; k < GM__CFG_NKEYS; k++)
        if (gm__cfg_keys[k].field == f) path = gm__cfg_keys[k].path;
    return path;
}

bool gm__cfg_is_section(gm__cfg_field f) {
    return f == F_MODEL || f == F_DATA || f == F_TRAINER || f == F_OPTIM || f == F_SCHED ||
           f == F_EARLY || f == F_OUTPUT || f == F_AUGMENT;
}

/* Keys that select a kind: its defaults and which other keys apply. */
bool gm__cfg_is_selector(gm__cfg_field f) {
    return f == F_M_KIND || f == F_D_SOURCE || f == F_O_KIND || f == F_S_KIND;
}

/* The values of each choice (config_internal.h has their lengths). data.kind
 * takes the generator's kinds, then the names used in SPEC and the reference's
 * data sets, mapped onto them. */
const gm__cfg_gen gm__cfg_gen_kinds[] = {
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
const char *const gm__cfg_digit_sources[] = {"mnist", "fashion"};
const char *const gm__cfg_sources[] = {"generated", "idx", "amat", "cifar10", "norb", "npy",
                                       "plume"};
const char *const gm__cfg_model_kinds[] = {"gmcnn", "plume", "deep", "cnn", "mlp", "ldr"};
const char *const gm__cfg_structures[] = {"toeplitz", "tridiag", "unstructured"};
const char *const gm__cfg_optims[] = {"sgd", "adam", "adamw"};
const char *const gm__cfg_scheds[] = {"constant", "step", "cosine", "plateau"};
const char *const gm__cfg_rotates[] = {"none", "any", "90"};
const char *const gm__cfg_flips[] = {"none", "horizontal", "vertical", "both"};
const char *const gm__cfg_selects[] = {"val_loss", "val_accuracy"};
const char *const gm__cfg_decays[] = {"all", "weights"};
const char *const gm__cfg_splits[] = {"pooled", "official"};
_Static_assert(GM__CFG_LEN(gm__cfg_gen_kinds) == GM__CFG_NGEN_KINDS, "gen kinds");
_Static_assert(GM__CFG_LEN(gm__cfg_digit_sources) == GM__CFG_NDIGIT_SOURCES, "digit sources");
_Static_assert(GM__CFG_LEN(gm__cfg_sources) == GM__CFG_NSOURCES, "data sources");
_Static_assert(GM__CFG_LEN(gm__cfg_model_kinds) == GM__CFG_NMODEL_KINDS, "model kinds");
_Static_assert(GM__CFG_LEN(gm__cfg_structures) == GM__CFG_NSTRUCTURES, "structures");
_Static_assert(GM__CFG_LEN(gm__cfg_optims) == GM__CFG_NOPTIMS, "optimizers");
_Static_assert(GM__CFG_LEN(gm__cfg_scheds) == GM__CFG_NSCHEDS, "schedules");
_Static_assert(GM__CFG_LEN(gm__cfg_rotates) == GM__CFG_NROTATES, "rotations");
_Static_assert(GM__CFG_LEN(gm__cfg_flips) == GM__CFG_NFLIPS, "flips");
_Static_assert(GM__CFG_LEN(gm__cfg_selects) == GM__CFG_NSELECTS, "selections");
_Static_assert(GM__CFG_LEN(gm__cfg_decays) == GM__CFG_NDECAYS, "decay scopes");
_Static_assert(GM__CFG_LEN(gm__cfg_splits) == GM__CFG_NSPLITS, "splits");

/* ---- details --------------------------------------------------------------- */

void gm__cfg_shown(char *dst, size_t cap, const char *s, size_t n) {
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

gm_status gm__cfg_fail(const gm__cfg_ctx *c, int line, gm_status st, const char *fmt, ...) {
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

/* ---- strings ----------------------------------------------------------------- */

gm_status gm__cfg_set_str(char **slot, const char *s) {
    char *d = NULL;
    if (s) {
        d = gm_strdup(s);
        if (!d) return gm__nomem("config string");
    }
    gm_free(*slot);
    *slot = d;
    return GM_OK;
}

void gm__cfg_sync(gm_config *cfg) {
    cfg->model.group = cfg->str[GM__S_RESOLVED];
    cfg->model.group_parsed = cfg->group;
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
    gm_group_free(cfg->group);
    for (int i = 0; i < GM__S_COUNT; i++) gm_free(cfg->str[i]);
    for (int64_t i = 0; i < cfg->nfiles; i++) gm_free(cfg->files[i]);
    gm_free(cfg);
}

static gm_status gm__cfg_clone(const gm_config *src, gm_config **out) {
    *out = NULL;
    gm_config *c = gm_malloc(sizeof *c);
    if (!c) return gm__nomem("config");
    *c = *src;
    c->group = src->group ? gm_group_retain(src->group) : NULL;
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
