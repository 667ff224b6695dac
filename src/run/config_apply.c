/* Setting a config's fields from YAML nodes: the value parsers (integers,
 * reals, booleans, strings, choices, the block list, batch file lists, window
 * ranges), the generic setting of a plain value by its schema row, the keys
 * with rules of their own, and the walk over a mapping of keys. Used by
 * the parser and the overrides of config.c (config_internal.h). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/core_internal.h"
#include "gmcnn/config.h"
#include "run/config_internal.h"

/* Forgets the data paths (a change of data.source: the paths of one source
 * mean nothing to another). */
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

/* ---- scalars --------------------------------------------------------------------- */

static bool gm__cfg_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

const char *gm__cfg_node_kind(const yaml_node_t *n) {
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
        const gm_status st = gm__cfg_set_path(c, &copies[i], vals[i]);
        if (st != GM_OK) {
            for (int64_t j = 0; j < i; j++) gm_free(copies[j]);
            return st;
        }
    }
    for (int64_t i = 0; i < cfg->nfiles; i++) gm_free(cfg->files[i]);
    for (int64_t i = 0; i < GM_CONFIG_MAX_FILES; i++) cfg->files[i] = copies[i];
    cfg->nfiles = count;
    return GM_OK;
}

/* The two items of a list [a, b] (what: "two integers [begin, end]"), with
 * their paths ("key[0]", "key[1]") for details. */
static gm_status gm__cfg_two(const gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *v,
                             const char *path, const char *what, const yaml_node_t *item[2],
                             char item_path[2][GM__CFG_PATH_MAX]) {
    const bool pair = v->type == YAML_SEQUENCE_NODE &&
                      v->data.sequence.items.top - v->data.sequence.items.start == 2;
    GM__CFG_FAIL_IF(!pair, c, gm__cfg_line(v), GM_ERR_INVALID_ARG,
                    "%s: expected a list of %s, got %s", path, what, gm__cfg_node_kind(v));
    for (int i = 0; i < 2; i++) {
        item[i] = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
        GM_ASSERT(item[i]);
        snprintf(item_path[i], GM__CFG_PATH_MAX, "%s[%d]", path, i);
    }
    return GM_OK;
}

/* A window range [begin, end) as a list of two integers, 0 <= begin < end. */
static gm_status gm__cfg_range(const gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *v,
                               const char *path, gm_forecast_range *out) {
    const int line = gm__cfg_line(v);
    const yaml_node_t *item[2];
    char item_path[2][GM__CFG_PATH_MAX];
    GM_FORWARD_IF_ERROR(gm__cfg_two(c, doc, v, path, "two integers [begin, end]", item,
                                    item_path));
    int64_t b[2];
    for (int i = 0; i < 2; i++)
        GM_FORWARD_IF_ERROR(gm__cfg_int(c, item[i], item_path[i], 0, INT64_C(1) << 31, &b[i]));
    GM__CFG_FAIL_IF(b[0] >= b[1], c, line, GM_ERR_INVALID_ARG,
                    "%s = [%lld, %lld] is empty (windows s with begin <= s < end)", path,
                    (long long)b[0], (long long)b[1]);
    *out = (gm_forecast_range){b[0], b[1]};
    return GM_OK;
}

/* A choice of key k: the member's value of the name given. */
static gm_status gm__cfg_choice_of(const gm__cfg_ctx *c, const gm__cfg_key *k,
                                   const yaml_node_t *v, const char *path, int64_t *out) {
    int i = 0;
    GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, k->names, k->nnames, &i));
    *out = k->values ? k->values[i] : i;
    return GM_OK;
}

/* A value of a plain type, parsed by its row of the schema and stored. */
static gm_status gm__cfg_apply_value(gm__cfg_ctx *c, yaml_document_t *doc, const gm__cfg_key *k,
                                     const char *path, const yaml_node_t *v) {
    gm_config *cfg = c->cfg;
    int64_t i = 0;
    bool b = false;
    const char *str = NULL;
    switch (k->type) {
    case GM__T_SECTION:
        GM__CFG_FAIL_IF(v->type != YAML_MAPPING_NODE, c, gm__cfg_line(v), GM_ERR_INVALID_ARG,
                        "%s: expected a mapping, got %s", path, gm__cfg_node_kind(v));
        return gm__cfg_apply_map(c, doc, v, path);
    case GM__T_I64:
        GM_FORWARD_IF_ERROR(gm__cfg_int(c, v, path, k->ilo, k->ihi, &i));
        gm__cfg_member_set_int(cfg, k, i);
        return GM_OK;
    case GM__T_U64: {
        uint64_t u = 0;
        GM_FORWARD_IF_ERROR(gm__cfg_u64(c, v, path, &u));
        memcpy((char *)cfg + k->off, &u, sizeof u);
        return GM_OK;
    }
    case GM__T_REAL:
        return gm__cfg_real(c, v, path, k->rlo, k->rlo_open, k->rhi, k->rhi_open,
                            gm__cfg_member_real(cfg, k->off));
    case GM__T_FLAG:
        GM_FORWARD_IF_ERROR(gm__cfg_bool(c, v, path, &b));
        gm__cfg_member_set_int(cfg, k, b);
        return GM_OK;
    case GM__T_CHOICE:
        GM_FORWARD_IF_ERROR(gm__cfg_choice_of(c, k, v, path, &i));
        gm__cfg_member_set_int(cfg, k, i);
        return GM_OK;
    case GM__T_STR:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return k->is_path ? gm__cfg_set_path(c, &cfg->str[k->slot], str)
                       : gm__cfg_set_str(&cfg->str[k->slot], str);
    case GM__T_PAIR: {
        const yaml_node_t *item[2];
        char item_path[2][GM__CFG_PATH_MAX];
        GM_FORWARD_IF_ERROR(gm__cfg_two(c, doc, v, path, "two numbers", item, item_path));
        double x[2];
        for (int e = 0; e < 2; e++)
            GM_FORWARD_IF_ERROR(gm__cfg_real(c, item[e], item_path[e], k->rlo, k->rlo_open,
                                             k->rhi, k->rhi_open, &x[e]));
        *gm__cfg_member_real(cfg, k->off) = x[0];
        *gm__cfg_member_real(cfg, k->off2) = x[1];
        return GM_OK;
    }
    case GM__T_RANGE: {
        gm_forecast_range r;
        GM_FORWARD_IF_ERROR(gm__cfg_range(c, doc, v, path, &r));
        memcpy((char *)cfg + k->off, &r, sizeof r);
        return GM_OK;
    }
    case GM__T_OWN: break;
    }
    GM_ASSERT(!"a key of its own reached the generic parser");
    return GM_ERR_INVALID_ARG;
}

gm_status gm__cfg_apply(gm__cfg_ctx *c, yaml_document_t *doc, const gm__cfg_key *k,
                        const char *path, const yaml_node_t *v) {
    gm_config *cfg = c->cfg;
    gm_optim_config *o = &cfg->fit.optim;
    gm_lr_sched_config *s = &cfg->fit.sched;
    gm_data_config *d = &cfg->data;
    const gm__cfg_field f = k->field;
    const int line = gm__cfg_line(v);
    const char *str = NULL;
    int64_t choice = 0;

    /* A data key must suit the source, which its mapping names first; the
     * trainer's and augmentation's keys are checked against the source by
     * validation, once every section is read. */
    GM__CFG_FAIL_IF(k->sources && !strncmp(k->path, "data.", 5) &&
                        !((k->sources >> d->source) & 1u),
                    c, line, GM_ERR_INVALID_ARG, "%s does not apply to data.source %s", path,
                    gm_data_source_name(d->source));
    GM__CFG_FAIL_IF(k->optims && !((k->optims >> o->kind) & 1u), c, line, GM_ERR_INVALID_ARG,
                    "%s does not apply to optimizer.kind %s", path, gm_optim_kind_name(o->kind));
    GM__CFG_FAIL_IF(k->scheds && !((k->scheds >> s->kind) & 1u), c, line, GM_ERR_INVALID_ARG,
                    "%s does not apply to scheduler.kind %s", path,
                    gm_lr_sched_kind_name(s->kind));

    cfg->given[f] = true;
    /* The keys with rules of their own; the rest are plain values. */
    switch (f) {
    case F_M_BLOCKS: return gm__cfg_blocks(c, doc, v);
    case F_D_SOURCE:
        GM_FORWARD_IF_ERROR(gm__cfg_choice_of(c, k, v, path, &choice));
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
    case F_D_VAL:
        /* Two ways to size one split: a file gives one, an override replaces either. */
        GM__CFG_FAIL_IF(c->from_file && c->seen[F_D_VALSIZE], c, line, GM_ERR_INVALID_ARG,
                        "%s and data.val_size exclude each other", path);
        d->val_size = -1;
        break;
    case F_D_VALSIZE:
        GM__CFG_FAIL_IF(c->from_file && c->seen[F_D_VAL], c, line, GM_ERR_INVALID_ARG,
                        "%s and data.val_fraction exclude each other", path);
        break;
    case F_D_TRAIN:
        if (d->source == GM_DATA_CIFAR10) return gm__cfg_files(c, doc, v, path);
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, false, &str));
        return gm__cfg_set_path(c, &cfg->str[GM__S_IMAGES], str);
    case F_D_GEN_KIND: {
        const char *names[GM__CFG_NGEN_KINDS];
        for (int i = 0; i < GM__CFG_NGEN_KINDS; i++) names[i] = gm__cfg_gen_kinds[i].name;
        int i = 0;
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, names, GM__CFG_NGEN_KINDS, &i));
        const gm__cfg_gen *g = &gm__cfg_gen_kinds[i];
        if (g->digits) {
            GM__CFG_FAIL_IF(c->seen[F_D_GEN_DIGITS], c, line, GM_ERR_INVALID_ARG,
                            "%s %s selects the digits itself; drop data.digits", path, g->name);
            d->gen_digits = g->digits;
        }
        return gm__cfg_set_str(&cfg->str[GM__S_GEN_KIND], g->kind);
    }
    case F_D_GEN_DIGITS: {
        int i = 0;
        GM_FORWARD_IF_ERROR(gm__cfg_choice(c, v, path, gm__cfg_digit_sources,
                                           GM__CFG_NDIGIT_SOURCES, &i));
        d->gen_digits = gm__cfg_digit_sources[i];
        return GM_OK;
    }
    case F_D_GEN_PATH:
        GM_FORWARD_IF_ERROR(gm__cfg_string(c, v, path, d->source != GM_DATA_PLUME, &str));
        return gm__cfg_set_path(c, &cfg->str[GM__S_GEN_PATH], str);
    case F_A_ROTATE:
        GM_FORWARD_IF_ERROR(gm__cfg_apply_value(c, doc, k, path, v));
        /* An override away from "any" takes the angle limit with it; a file
         * giving both is told. */
        if (c->override && cfg->fit.augment.rotate != GM_AUGMENT_ROTATE_ANY)
            cfg->fit.augment.max_angle = 0.0;
        return GM_OK;
    case F_O_KIND:
        GM_FORWARD_IF_ERROR(gm__cfg_choice_of(c, k, v, path, &choice));
        if ((gm_optim_kind)choice != o->kind) {
            const gm_optim_config old = *o;
            *o = gm_optim_config_default((gm_optim_kind)choice);
            gm__cfg_keep_given_optim(c, &old, o);
        }
        return GM_OK;
    case F_S_KIND:
        GM_FORWARD_IF_ERROR(gm__cfg_choice_of(c, k, v, path, &choice));
        if ((gm_lr_sched_kind)choice != s->kind) {
            const gm_lr_sched_config old = *s;
            *s = gm_lr_sched_config_default((gm_lr_sched_kind)choice);
            gm__cfg_keep_given_sched(c, &old, s);
        }
        return GM_OK;
    default: break;
    }
    return gm__cfg_apply_value(c, doc, k, path, v);
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
    if (*out && (*out)->type == GM__T_SECTION && prefix[0]) *out = NULL;
    if (!*out) {
        char shown[GM__CFG_PATH_MAX], full[2 * GM__CFG_PATH_MAX];
        gm__cfg_shown(shown, sizeof shown, name, k->data.scalar.length);
        snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", shown);
        GM__CFG_FAIL_IF(true, c, line, GM_ERR_INVALID_ARG, "unknown key '%s'", full);
    }
    return GM_OK;
}

gm_status gm__cfg_apply_map(gm__cfg_ctx *c, yaml_document_t *doc, const yaml_node_t *map,
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
            const bool selector = key->selector;
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
            if (selector == (pass == 0)) GM_FORWARD_IF_ERROR(gm__cfg_apply(c, doc, key, path, v));
        }
    }
    return GM_OK;
}
