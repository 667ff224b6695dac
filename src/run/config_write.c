/* The canonical YAML form of a config (gm_config_to_string): every value
 * the run uses, in the schema's order, the group as the resolved spec, only
 * the keys that apply to the chosen kinds, reals as the shortest text that
 * reads back, strings double-quoted, data paths absolute; its atomic write
 * (gm_config_write); and the key reference (gm_config_reference), both from
 * the rows of config_schema.h. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/config.h"
#include "run/config_internal.h"

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

/* A data path, absolute: a relative one is the working directory's (the
 * written config may be read from another directory, as a run's own
 * config.yaml is). */
static void gm__cfg_put_path(gm__cfg_buf *b, const char *path) {
    char cwd[4096];
    if (!path[0] || path[0] == '/' || !getcwd(cwd, sizeof cwd)) {
        gm__cfg_put_str(b, path);
        return;
    }
    const size_t n = strlen(cwd) + strlen(path) + 2;
    char *full = gm_malloc(n);
    if (!full) {
        b->nomem = true;
        return;
    }
    snprintf(full, n, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path);
    gm__cfg_put_str(b, full);
    gm_free(full);
}

/* The name of a choice's value in cfg (NULL: none, as model.group's when the
 * group is a spec). */
static const char *gm__cfg_choice_name(const gm_config *cfg, const gm__cfg_key *k) {
    const int64_t v = gm__cfg_member_int(cfg, k);
    for (int i = 0; i < k->nnames; i++)
        if ((k->values ? k->values[i] : i) == v) return k->names[i];
    return NULL;
}

/* One entry of model.blocks, after `lead`. */
static void gm__cfg_put_block(gm__cfg_buf *b, const char *lead, const gm_block_desc *blk) {
    gm__cfg_put(b, "%s{num_layers: %lld, out_channels: %lld, pool: %s}", lead,
                (long long)blk->num_layers, (long long)blk->out_channels,
                blk->pool ? "true" : "false");
}

/* The value of key k in cfg, on one line (lists in flow style). */
static void gm__cfg_put_value(gm__cfg_buf *b, const gm_config *cfg, const gm__cfg_key *k) {
    const gm_data_config *d = &cfg->data;
    const gm_model_desc *m = &cfg->model;
    const char *p = (const char *)cfg + k->off;
    double x[2];
    switch (k->type) {
    case GM__T_I64: gm__cfg_put(b, "%lld", (long long)gm__cfg_member_int(cfg, k)); return;
    case GM__T_U64: {
        uint64_t u;
        memcpy(&u, p, sizeof u);
        gm__cfg_put(b, "%llu", (unsigned long long)u);
        return;
    }
    case GM__T_REAL:
        memcpy(&x[0], p, sizeof x[0]);
        gm__cfg_put_real(b, x[0]);
        return;
    case GM__T_FLAG: gm__cfg_put(b, "%s", gm__cfg_member_int(cfg, k) ? "true" : "false"); return;
    case GM__T_CHOICE: {
        const char *name = gm__cfg_choice_name(cfg, k);
        GM_ASSERT(name);
        gm__cfg_put(b, "%s", name ? name : "?");
        return;
    }
    case GM__T_STR: {
        const char *v = cfg->str[k->slot] ? cfg->str[k->slot] : "";
        if (k->is_path)
            gm__cfg_put_path(b, v);
        else
            gm__cfg_put_str(b, v);
        return;
    }
    case GM__T_PAIR:
        memcpy(&x[0], p, sizeof x[0]);
        memcpy(&x[1], (const char *)cfg + k->off2, sizeof x[1]);
        gm__cfg_put(b, "[");
        gm__cfg_put_real(b, x[0]);
        gm__cfg_put(b, ", ");
        gm__cfg_put_real(b, x[1]);
        gm__cfg_put(b, "]");
        return;
    case GM__T_RANGE: {
        gm_forecast_range r;
        memcpy(&r, p, sizeof r);
        gm__cfg_put(b, "[%lld, %lld]", (long long)r.begin, (long long)r.end);
        return;
    }
    case GM__T_SECTION: return;
    case GM__T_OWN: break;
    }
    switch (k->field) {
    case F_M_BLOCKS:
        gm__cfg_put(b, "[");
        for (int64_t i = 0; i < m->nblocks; i++) gm__cfg_put_block(b, i ? ", " : "", &m->blocks[i]);
        gm__cfg_put(b, "]");
        return;
    case F_D_TRAIN:
        if (d->source != GM_DATA_CIFAR10) {
            gm__cfg_put_path(b, d->train_images ? d->train_images : "");
            return;
        }
        gm__cfg_put(b, "[");
        for (int64_t i = 0; i < d->ntrain_files; i++) {
            gm__cfg_put(b, i ? ", " : "");
            gm__cfg_put_path(b, d->train_files[i]);
        }
        gm__cfg_put(b, "]");
        return;
    case F_D_GEN_KIND: gm__cfg_put(b, "%s", d->gen_kind ? d->gen_kind : "rotated"); return;
    case F_D_GEN_DIGITS: gm__cfg_put(b, "%s", d->gen_digits); return;
    default: break;
    }
    GM_ASSERT(!"a key of its own without a writer");
}

/* Whether the canonical form holds key k. */
static bool gm__cfg_written(const gm_config *cfg, const gm__cfg_key *k) {
    if (k->alias || !gm__cfg_key_applies(k, cfg)) return false;
    switch (k->write) {
    case W_ALWAYS: return k->type != GM__T_STR || cfg->str[k->slot]; /* strings when given */
    case W_NEVER: return false;
    case W_NONZERO:
        if (k->type == GM__T_REAL) return *(const double *)(const void *)((const char *)cfg +
                                                                         k->off) != 0.0;
        return gm__cfg_member_int(cfg, k) != 0;
    case W_OWN: break;
    }
    switch (k->field) {
    case F_M_SPEC: return cfg->str[GM__S_RESOLVED] != NULL; /* the spec the model uses */
    case F_D_VAL: return cfg->data.val_size < 0;
    case F_D_VALSIZE: return cfg->data.val_size >= 0;
    case F_D_TRAIN: return cfg->data.train_images || cfg->data.ntrain_files > 0;
    default: return true;
    }
}

gm_status gm_config_to_string(const gm_config *cfg, char **out) {
    GM_RETURN_ERROR_IF(!cfg || !out, GM_ERR_INVALID_ARG,
                       "gm_config_to_string: cfg and out are required");
    *out = NULL;
    gm__cfg_buf b = {.p = gm_malloc(1024), .cap = 1024};
    if (!b.p) return gm__nomem("config text");
    gm__cfg_put(&b, "# gmcnn config (resolved)\n");
    for (int i = 0; i < gm__cfg_nkeys; i++) {
        const gm__cfg_key *k = &gm__cfg_keys[i];
        if (!gm__cfg_written(cfg, k)) continue;
        const char *dot = strchr(k->path, '.');
        if (k->type == GM__T_SECTION) {
            gm__cfg_put(&b, "%s:\n", k->path);
            continue;
        }
        gm__cfg_put(&b, "%s%s:", dot ? "  " : "", dot ? dot + 1 : k->path);
        const gm_model_desc *m = &cfg->model;
        const gm_data_config *d = &cfg->data;
        if (k->field == F_M_SPEC) {
            gm__cfg_put(&b, " ");
            gm__cfg_put_str(&b, cfg->str[GM__S_RESOLVED]);
        } else if (k->field == F_M_BLOCKS) { /* the lists a line each */
            for (int64_t j = 0; j < m->nblocks; j++)
                gm__cfg_put_block(&b, "\n    - ", &m->blocks[j]);
        } else if (k->field == F_D_TRAIN && d->source == GM_DATA_CIFAR10) {
            for (int64_t j = 0; j < d->ntrain_files; j++) {
                gm__cfg_put(&b, "\n    - ");
                gm__cfg_put_path(&b, d->train_files[j]);
            }
        } else {
            gm__cfg_put(&b, " ");
            gm__cfg_put_value(&b, cfg, k);
        }
        gm__cfg_put(&b, "\n");
    }
    if (b.nomem) {
        gm_free(b.p);
        return gm__nomem("config text");
    }
    *out = b.p;
    return GM_OK;
}

/* ---- the key reference ------------------------------------------------------------ */

/* A number for the reference: "inf" spelt out. */
static void gm__cfg_put_bound(gm__cfg_buf *b, double v) {
    if (isinf(v))
        gm__cfg_put(b, "%sinf", v < 0 ? "-" : "");
    else
        gm__cfg_put_real(b, v);
}

/* What key k takes. */
static void gm__cfg_put_takes(gm__cfg_buf *b, const gm__cfg_key *k, gm_config *cfg) {
    (void)cfg;
    switch (k->type) {
    case GM__T_SECTION: gm__cfg_put(b, "a mapping"); return;
    case GM__T_I64:
        gm__cfg_put(b, "an integer in [%lld, %lld]", (long long)k->ilo, (long long)k->ihi);
        return;
    case GM__T_U64: gm__cfg_put(b, "an integer >= 0"); return;
    case GM__T_REAL:
    case GM__T_PAIR:
        gm__cfg_put(b, k->type == GM__T_PAIR ? "[a, b], each a number in " : "a number in ");
        gm__cfg_put(b, "%c", k->rlo_open || isinf(k->rlo) ? '(' : '[');
        gm__cfg_put_bound(b, k->rlo);
        gm__cfg_put(b, ", ");
        gm__cfg_put_bound(b, k->rhi);
        gm__cfg_put(b, "%c", k->rhi_open || isinf(k->rhi) ? ')' : ']');
        return;
    case GM__T_FLAG: gm__cfg_put(b, "true | false"); return;
    case GM__T_CHOICE:
        for (int i = 0; i < k->nnames; i++) gm__cfg_put(b, "%s%s", i ? " | " : "", k->names[i]);
        return;
    case GM__T_STR: gm__cfg_put(b, "a string"); return;
    case GM__T_RANGE: gm__cfg_put(b, "[begin, end], integers, 0 <= begin < end"); return;
    case GM__T_OWN: gm__cfg_put(b, "%s", k->takes); return;
    }
}

/* The default of key k: its value in a default config whose kinds are the
 * first the key applies to. */
static void gm__cfg_put_default(gm__cfg_buf *b, const gm__cfg_key *k, gm_config *cfg) {
    unsigned first = 0;
    if (k->optims) {
        while (!((k->optims >> first) & 1u)) first++;
        cfg->fit.optim = gm_optim_config_default((gm_optim_kind)first);
    }
    if (k->scheds) {
        for (first = 0; !((k->scheds >> first) & 1u);) first++;
        cfg->fit.sched = gm_lr_sched_config_default((gm_lr_sched_kind)first);
    }
    switch (k->field) {
    case F_S_TMAX: gm__cfg_put(b, "trainer.max_epochs"); return;
    case F_D_VALSIZE: gm__cfg_put(b, "none (val_fraction)"); return;
    case F_D_TRAIN: case F_M_SPEC: gm__cfg_put(b, "none"); return;
    default: break;
    }
    const bool none = (k->type == GM__T_STR && !cfg->str[k->slot]) ||
                      (k->field == F_D_GEN_KIND && !cfg->str[GM__S_GEN_KIND]) ||
                      (k->type == GM__T_CHOICE && !gm__cfg_choice_name(cfg, k)) ||
                      (k->type == GM__T_I64 && gm__cfg_member_int(cfg, k) < k->ilo);
    if (k->type == GM__T_SECTION)
        return;
    if (none)
        gm__cfg_put(b, "none");
    else
        gm__cfg_put_value(b, cfg, k);
}

/* The kinds of one mask, e.g. "optimizer.kind adam, adamw", or
 * "data.source other than plume" when only a few are left out. */
static void gm__cfg_put_kinds(gm__cfg_buf *b, unsigned mask, const char *key,
                              const char *(*name)(int), int count, bool *first) {
    if (!mask) return;
    int n = 0;
    for (int i = 0; i < count; i++) n += (mask >> i) & 1u;
    const bool other = 3 * (count - n) < count; /* a few left out: name those */
    gm__cfg_put(b, "%s%s%s", *first ? "" : "; ", key, other ? " other than" : "");
    bool any = false;
    for (int i = 0; i < count; i++) {
        if (((mask >> i) & 1u) == other) continue;
        gm__cfg_put(b, "%s %s", any ? "," : "", name(i));
        any = true;
    }
    *first = false;
}

static const char *gm__cfg_source_name(int i) { return gm__cfg_sources[i]; }
static const char *gm__cfg_model_kind_name(int i) { return gm__cfg_model_kinds[i]; }
static const char *gm__cfg_optim_name(int i) { return gm_optim_kind_name((gm_optim_kind)i); }
static const char *gm__cfg_sched_name(int i) {
    return gm_lr_sched_kind_name((gm_lr_sched_kind)i);
}

static void gm__cfg_put_applies(gm__cfg_buf *b, const gm__cfg_key *k, gm_config *cfg) {
    (void)cfg;
    bool first = true;
    gm__cfg_put_kinds(b, k->sources, "data.source", gm__cfg_source_name, GM__CFG_NSOURCES, &first);
    gm__cfg_put_kinds(b, k->models, "model.kind", gm__cfg_model_kind_name, GM__CFG_NMODEL_KINDS,
                      &first);
    gm__cfg_put_kinds(b, k->optims, "optimizer.kind", gm__cfg_optim_name, GM_OPTIM_ADAMW + 1,
                      &first);
    gm__cfg_put_kinds(b, k->scheds, "scheduler.kind", gm__cfg_sched_name, GM_LR_PLATEAU + 1,
                      &first);
    if (first) gm__cfg_put(b, "all");
}

/* The other names of key k's field, ", also NAME" each. */
static void gm__cfg_put_aliases(gm__cfg_buf *b, const gm__cfg_key *k, const char *fmt) {
    for (int i = 0; i < gm__cfg_nkeys; i++)
        if (gm__cfg_keys[i].alias && gm__cfg_keys[i].field == k->field)
            gm__cfg_put(b, fmt, gm__cfg_keys[i].path);
}

/* Text wrapped at 79 columns: the first line after `lead`, the others
 * indented as far as lead is long. */
static void gm__cfg_put_wrapped(gm__cfg_buf *b, const char *lead, const char *text) {
    const int indent = (int)strlen(lead), width = 79 - indent;
    gm__cfg_put(b, "%s", lead);
    for (bool first = true; *text; first = false) {
        int n = (int)strlen(text);
        if (n > width) {
            n = width;
            while (n > 0 && text[n] != ' ') n--;
            if (n == 0) n = (int)strcspn(text, " ");
        }
        gm__cfg_put(b, "%*s%.*s\n", first ? 0 : indent, "", n, text);
        text += n;
        while (*text == ' ') text++;
    }
}

/* One cell of the text form: what put writes for key k, wrapped after lead. */
static void gm__cfg_put_cell(gm__cfg_buf *b, const char *lead,
                             void (*put)(gm__cfg_buf *, const gm__cfg_key *, gm_config *),
                             const gm__cfg_key *k, gm_config *cfg) {
    gm__cfg_buf cell = {.p = gm_malloc(256), .cap = 256};
    cell.nomem = !cell.p;
    if (!cell.nomem) {
        cell.p[0] = '\0';
        put(&cell, k, cfg);
    }
    if (cell.nomem)
        b->nomem = true;
    else
        gm__cfg_put_wrapped(b, lead, cell.p);
    gm_free(cell.p);
}

/* Markdown: the '|', '*' and '<' written since `from` escaped, so a cell
 * stays one cell of plain text. */
static bool gm__cfg_md_special(char ch) { return ch == '|' || ch == '*' || ch == '<'; }

static void gm__cfg_escape_md(gm__cfg_buf *b, size_t from) {
    if (b->nomem) return;
    size_t n = 0;
    for (size_t i = from; i < b->len; i++) n += gm__cfg_md_special(b->p[i]);
    if (!n) return;
    gm__cfg_put(b, "%*s", (int)n, ""); /* room for the backslashes */
    if (b->nomem) return;
    size_t dst = b->len;
    for (size_t src = b->len - n; src-- > from;) {
        b->p[--dst] = b->p[src];
        if (gm__cfg_md_special(b->p[src])) b->p[--dst] = '\\';
    }
}

gm_status gm_config_reference(bool markdown, char **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_config_reference: out is required");
    *out = NULL;
    gm__cfg_buf b = {.p = gm_malloc(4096), .cap = 4096};
    if (!b.p) return gm__nomem("config reference");
    static const char head[] = "| key | takes | default | applies to | meaning |\n"
                               "|---|---|---|---|---|\n";
    if (markdown) gm__cfg_put(&b, "%s", head);
    for (int i = 0; i < gm__cfg_nkeys && !b.nomem; i++) {
        const gm__cfg_key *k = &gm__cfg_keys[i];
        if (k->alias) continue;
        gm_config *cfg = NULL;
        const gm_status st = gm_config_new_default(&cfg);
        if (st != GM_OK) {
            gm_free(b.p);
            return st;
        }
        if (markdown && k->type == GM__T_SECTION) {
            gm__cfg_put(&b, "\n### `%s`: %s\n\n%s", k->path, k->doc, head);
        } else if (markdown) {
            gm__cfg_put(&b, "| `%s`", k->path);
            gm__cfg_put_aliases(&b, k, " (also `%s`)");
            gm__cfg_put(&b, " | ");
            size_t cell = b.len;
            gm__cfg_put_takes(&b, k, cfg);
            gm__cfg_escape_md(&b, cell);
            gm__cfg_put(&b, " | ");
            cell = b.len;
            gm__cfg_put_default(&b, k, cfg);
            gm__cfg_escape_md(&b, cell);
            gm__cfg_put(&b, " | ");
            gm__cfg_put_applies(&b, k, cfg);
            gm__cfg_put(&b, " | ");
            cell = b.len;
            gm__cfg_put(&b, "%s", k->doc);
            gm__cfg_escape_md(&b, cell);
            gm__cfg_put(&b, " |\n");
        } else if (k->type == GM__T_SECTION) {
            gm__cfg_put(&b, "\n%s: %s\n", k->path, k->doc);
        } else {
            gm__cfg_put(&b, "\n  %s", k->path);
            gm__cfg_put_aliases(&b, k, " (also %s)");
            gm__cfg_put(&b, "\n");
            gm__cfg_put_cell(&b, "      takes:      ", gm__cfg_put_takes, k, cfg);
            gm__cfg_put_cell(&b, "      default:    ", gm__cfg_put_default, k, cfg);
            gm__cfg_put_cell(&b, "      applies to: ", gm__cfg_put_applies, k, cfg);
            gm__cfg_put_wrapped(&b, "      ", k->doc);
        }
        gm_config_free(cfg);
    }
    if (b.nomem) {
        gm_free(b.p);
        return gm__nomem("config reference");
    }
    *out = b.p;
    return GM_OK;
}

gm_status gm_config_write(const gm_config *cfg, const char *path) {
    GM_RETURN_ERROR_IF(!cfg || !path, GM_ERR_INVALID_ARG,
                       "gm_config_write: cfg and path are required");
    char *text = NULL;
    GM_FORWARD_IF_ERROR(gm_config_to_string(cfg, &text));
    const gm_status st = gm__data_write_text_atomic("config", "config", path, text, strlen(text));
    gm_free(text);
    return st;
}
