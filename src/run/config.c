/* The YAML run config (gmcnn/config.h): the schema's rows as a table (the
 * keys themselves are in config_schema.h) and the values of each choice,
 * data paths relative to the config file, defaults, free and clone, the loading of one
 * YAML document (a depth pre-scan, libyaml's errors as details), the public
 * parse, load and override API, and the accessors. Setting fields from YAML
 * nodes is config_apply.c's, the rules across fields config_validate.c's,
 * the canonical writer config_write.c's (config_internal.h).
 *
 * libyaml allocates with the C library's malloc; its document is released
 * before every return, so only the config itself lives on gmcnn's heap. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stddef.h>
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

/* The values of each choice (config_internal.h has the lengths of the shared
 * ones). data.kind takes the generator's kinds, then other names used for
 * them, mapped onto them. */
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
static const char *const gm__cfg_structures[] = {"toeplitz", "tridiag", "unstructured"};
static const char *const gm__cfg_optims[] = {"sgd", "adam", "adamw"};
static const char *const gm__cfg_scheds[] = {"constant", "step", "cosine", "plateau"};
static const char *const gm__cfg_rotates[] = {"none", "any", "90"};
static const char *const gm__cfg_flips[] = {"none", "horizontal", "vertical", "both"};
static const char *const gm__cfg_selects[] = {"val_loss", "val_accuracy"};
static const char *const gm__cfg_decays[] = {"all", "weights"};
static const char *const gm__cfg_splits[] = {"pooled", "official"};
static const char *const gm__cfg_forms[] = {"full", "shared"};
static const char *const gm__cfg_pools[] = {"max", "mean"};
static const char *const gm__cfg_norms[] = {"default", "batch"};
static const char *const gm__cfg_modes[] = {"min", "max"};
static const char *const gm__cfg_threshold_modes[] = {"rel", "abs"};
static const char *const gm__cfg_groups[] = {"cyclic", "dihedral"};
static const int gm__cfg_group_codes[] = {'C', 'D'};
_Static_assert(GM__CFG_LEN(gm__cfg_gen_kinds) == GM__CFG_NGEN_KINDS, "gen kinds");
_Static_assert(GM__CFG_LEN(gm__cfg_digit_sources) == GM__CFG_NDIGIT_SOURCES, "digit sources");
_Static_assert(GM__CFG_LEN(gm__cfg_sources) == GM__CFG_NSOURCES, "data sources");
_Static_assert(GM__CFG_LEN(gm__cfg_sources) == GM_DATA_PLUME + 1, "data sources");
_Static_assert(GM__CFG_LEN(gm__cfg_model_kinds) == GM__CFG_NMODEL_KINDS, "model kinds");
_Static_assert(GM__CFG_LEN(gm__cfg_model_kinds) == GM_MODEL_LDR + 1, "model kinds");
_Static_assert(GM__CFG_LEN(gm__cfg_structures) == GM_LDR_UNSTRUCTURED + 1, "structures");
_Static_assert(GM__CFG_LEN(gm__cfg_optims) == GM_OPTIM_ADAMW + 1, "optimizers");
_Static_assert(GM__CFG_LEN(gm__cfg_scheds) == GM_LR_PLATEAU + 1, "schedules");
_Static_assert(GM__CFG_LEN(gm__cfg_rotates) == GM_AUGMENT_ROTATE_90 + 1, "rotations");
_Static_assert(GM__CFG_LEN(gm__cfg_flips) == GM_AUGMENT_FLIP_BOTH + 1, "flips");
_Static_assert(GM__CFG_LEN(gm__cfg_selects) == GM_SELECT_VAL_ACCURACY + 1, "selections");
_Static_assert(GM__CFG_LEN(gm__cfg_decays) == GM_DECAY_WEIGHTS + 1, "decay scopes");
_Static_assert(GM_CONV_SHARED == 1 && GM_REDUCE_MEAN == 1 && GM_NORM_BATCH == 1 &&
                   GM_SCHED_MAX == 1 && GM_THRESHOLD_ABS == 1,
               "two-valued choices are indices");

/* The rows of config_schema.h as gm__cfg_key initialisers. */
#define GM__MEMBER(m) .off = offsetof(gm_config, m), .size = sizeof(((gm_config *)0)->m)
#define SECTION .type = GM__T_SECTION
#define I64(m, lo, hi) .type = GM__T_I64, GM__MEMBER(m), .ilo = (lo), .ihi = (hi)
#define U64(m) .type = GM__T_U64, GM__MEMBER(m)
#define REAL(m, lo, lo_open_, hi, hi_open_)                                                  \
    .type = GM__T_REAL, GM__MEMBER(m), .rlo = (lo), .rlo_open = (lo_open_), .rhi = (hi),     \
    .rhi_open = (hi_open_)
#define FLAG(m) .type = GM__T_FLAG, GM__MEMBER(m)
#define CHOICE(m, list) .type = GM__T_CHOICE, GM__MEMBER(m), .names = (list),                \
                        .nnames = GM__CFG_LEN(list)
#define CHOICE_OF(m, list, vals) CHOICE(m, list), .values = (vals)
#define STR(s) .type = GM__T_STR, .slot = (s)
#define PATH(s) STR(s), .is_path = true
#define PAIR(m1, m2, lo, lo_open_, hi, hi_open_)                                             \
    .type = GM__T_PAIR, GM__MEMBER(m1), .off2 = offsetof(gm_config, m2), .rlo = (lo),        \
    .rlo_open = (lo_open_), .rhi = (hi), .rhi_open = (hi_open_)
#define RANGE(m) .type = GM__T_RANGE, GM__MEMBER(m)
#define OWN(what) .type = GM__T_OWN, .takes = (what)
#define ANY .sources = 0
#define IN(...) __VA_ARGS__
#define GM__KEY_ROW(f, p, type_, scope, w, d)                                                \
    {.field = (f), .path = (p), type_, scope, .write = (w), .doc = (d)},
#define GM__ALIAS_ROW(f, p) {.field = (f), .path = (p), .alias = true},
const gm__cfg_key gm__cfg_keys[] = {GM__CFG_SCHEMA(GM__KEY_ROW, GM__ALIAS_ROW)};
const int gm__cfg_nkeys = GM__CFG_LEN(gm__cfg_keys);
#undef GM__MEMBER
#undef SECTION
#undef I64
#undef U64
#undef REAL
#undef FLAG
#undef CHOICE
#undef CHOICE_OF
#undef STR
#undef PATH
#undef PAIR
#undef RANGE
#undef OWN
#undef ANY
#undef IN
#undef GM__KEY_ROW
#undef GM__ALIAS_ROW

const gm__cfg_key *gm__cfg_key_of_field(gm__cfg_field f) {
    for (int i = 0; i < gm__cfg_nkeys; i++)
        if (gm__cfg_keys[i].field == f && !gm__cfg_keys[i].alias) return &gm__cfg_keys[i];
    return NULL;
}

const gm__cfg_key *gm__cfg_lookup(const char *path) {
    for (int i = 0; i < gm__cfg_nkeys; i++)
        if (!strcmp(gm__cfg_keys[i].path, path))
            return gm__cfg_keys[i].alias ? gm__cfg_key_of_field(gm__cfg_keys[i].field)
                                         : &gm__cfg_keys[i];
    return NULL;
}

bool gm__cfg_key_applies(const gm__cfg_key *k, const gm_config *cfg) {
    return (!k->sources || (k->sources >> cfg->data.source) & 1u) &&
           (!k->optims || (k->optims >> cfg->fit.optim.kind) & 1u) &&
           (!k->scheds || (k->scheds >> cfg->fit.sched.kind) & 1u) &&
           (!k->models || (k->models >> cfg->model.kind) & 1u);
}

int64_t gm__cfg_member_int(const gm_config *cfg, const gm__cfg_key *k) {
    const char *p = (const char *)cfg + k->off;
    switch (k->size) {
    case 1: { bool v; memcpy(&v, p, 1); return v; }
    case 4: { int32_t v; memcpy(&v, p, 4); return v; }
    default: {
        GM_ASSERT(k->size == 8);
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

void gm__cfg_member_set_int(gm_config *cfg, const gm__cfg_key *k, int64_t v) {
    char *p = (char *)cfg + k->off;
    switch (k->size) {
    case 1: { const bool b = v != 0; memcpy(p, &b, 1); return; }
    case 4: { const int32_t w = (int32_t)v; memcpy(p, &w, 4); return; }
    default: GM_ASSERT(k->size == 8); memcpy(p, &v, 8); return;
    }
}

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

gm_status gm__cfg_set_path(const gm__cfg_ctx *c, char **slot, const char *value) {
    const char *base = c->base_dir;
    if (!value[0] || value[0] == '/' || !base || !base[0]) return gm__cfg_set_str(slot, value);
    const size_t n = strlen(base) + strlen(value) + 2;
    char *full = gm_malloc(n);
    if (!full) return gm__nomem("config path");
    snprintf(full, n, "%s%s%s", base, strcmp(base, "/") ? "/" : "", value);
    const gm_status st = gm__cfg_set_str(slot, full);
    gm_free(full);
    return st;
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

static gm_status gm__cfg_parse_into(gm_config *cfg, const char *text, size_t len,
                                    const char *base_dir) {
    gm__cfg_ctx c = {.cfg = cfg, .from_file = true, .base_dir = base_dir};
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

/* gm_config_parse with the directory relative paths resolve against (NULL:
 * the working directory). */
static gm_status gm__cfg_parse(const char *yaml, const char *name, const char *base_dir,
                               gm_config **out) {
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
    if (st == GM_OK) st = gm__cfg_parse_into(cfg, yaml, len, base_dir);
    if (st != GM_OK) {
        gm_config_free(cfg);
        return st;
    }
    *out = cfg;
    return GM_OK;
}

gm_status gm_config_parse(const char *yaml, const char *name, gm_config **out) {
    GM_RETURN_ERROR_IF(!yaml || !out, GM_ERR_INVALID_ARG,
                       "gm_config_parse: yaml and out are required");
    return gm__cfg_parse(yaml, name, NULL, out);
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
    /* The file's directory, for its relative paths ("" for a file here). */
    const char *slash = strrchr(path, '/');
    char *dir = gm_strdup(path);
    if (!dir) {
        gm_free(buf);
        return gm__nomem("config directory");
    }
    dir[slash ? (size_t)(slash - path) + (slash == path) : 0] = '\0';
    st = gm__cfg_parse(buf, path, dir, out);
    gm_free(dir);
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
    GM__CFG_FAIL_IF(!k || k->type == GM__T_SECTION, &c, 0, GM_ERR_INVALID_ARG,
                    "unknown key '%s'", key);
    if (k->selector != (pass == 0)) return GM_OK;
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
        st = gm__cfg_apply(&c, &doc, k, key, v);
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
