/* The group spec parser: "C28", "D14xD14", "p4:32", "perm:(0 1 2),(0 1)",
 * "table:path", ... Factors are joined by 'x' into left-associated direct
 * products; every error names the spec and the 1-based column. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "group_internal.h"

/* Largest point of a perm: factor, so that its degree stays within what
 * gm_group_perm_new accepts. */
#define GM_SPEC_MAX_POINT (GM_GROUP_MAX_PERM_DEGREE - 1)
/* Cap on the generators' images built while parsing (ngens * degree). */
#define GM_SPEC_MAX_IMAGES ((int64_t)1 << 24)

typedef struct gm_spec {
    const char *text; /* the whole spec */
    const char *p;    /* parse position */
    char shown[96];   /* the spec as printed in messages: printable, truncated */
} gm_spec;

static void gm_spec_init(gm_spec *ps, const char *spec) {
    ps->text = ps->p = spec;
    const size_t max = sizeof ps->shown - 4;
    size_t i = 0;
    for (; spec[i] && i < max; i++) {
        const unsigned char c = (unsigned char)spec[i];
        ps->shown[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    ps->shown[i] = '\0';
    if (spec[i]) strcat(ps->shown, "...");
}

static bool gm_spec_digit(char c) { return c >= '0' && c <= '9'; }

/* How a character reads in a message. */
static const char *gm_spec_got(char c, char *buf, size_t size) {
    const unsigned char u = (unsigned char)c;
    if (!c) return "the end of the spec";
    if (u >= 0x20 && u < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", u);
    return buf;
}

/* Records "group spec 'S' at column K: <message>" and returns st. */
static gm_status gm_spec_fail(const gm_spec *ps, const char *at, gm_status st, const char *fmt,
                              ...) GM_PRINTF(4, 5);
static gm_status gm_spec_fail(const gm_spec *ps, const char *at, gm_status st, const char *fmt,
                              ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gm_error_set(st, "group spec '%s' at column %lld: %s", ps->shown,
                        (long long)(at - ps->text) + 1, msg);
}

/* Prefixes the detail a constructor left with the spec and column. */
static gm_status gm_spec_wrap(const gm_spec *ps, const char *at, gm_status st) {
    char detail[768];
    snprintf(detail, sizeof detail, "%s", gm_error_detail());
    return gm_spec_fail(ps, at, st, "%s", detail);
}

/* A decimal number >= min; `what` names it in messages. */
static gm_status gm_spec_number(gm_spec *ps, const char *what, int64_t min, int64_t *out) {
    const char *at = ps->p;
    char got[16];
    if (!gm_spec_digit(*ps->p))
        return gm_spec_fail(ps, at, GM_ERR_GROUP_SPEC, "expected %s, got %s", what,
                            gm_spec_got(*ps->p, got, sizeof got));
    int64_t v = 0;
    for (; gm_spec_digit(*ps->p); ps->p++) {
        const int d = *ps->p - '0';
        if (v > (INT64_MAX - d) / 10)
            return gm_spec_fail(ps, at, GM_ERR_GROUP_SPEC, "%s is too large", what);
        v = v * 10 + d;
    }
    if (v < min)
        return gm_spec_fail(ps, at, GM_ERR_GROUP_SPEC, "%s must be at least %lld, got %lld", what,
                            (long long)min, (long long)v);
    *out = v;
    return GM_OK;
}

/* --- perm:CYCLES[,CYCLES...] --------------------------------------------- */

enum { GM_SPEC_CYCLE_END = -1, GM_SPEC_GEN_END = -2 };

/* The parsed generators: points, with GM_SPEC_CYCLE_END after each cycle and
 * GM_SPEC_GEN_END after each generator; at[] is where each item starts. */
typedef struct gm_spec_cycles {
    int64_t count, ngens, degree;
    int32_t *items;
    const char **at;
} gm_spec_cycles;

static gm_status gm_spec_cycle(gm_spec *ps, gm_spec_cycles *c) {
    char got[16];
    ps->p++; /* '(' */
    while (*ps->p == ' ') ps->p++;
    while (*ps->p != ')') {
        const char *at = ps->p;
        int64_t v;
        if (!gm_spec_digit(*ps->p))
            return gm_spec_fail(ps, at, GM_ERR_GROUP_SPEC, "expected a point or ')', got %s",
                                gm_spec_got(*ps->p, got, sizeof got));
        GM_FORWARD_IF_ERROR(gm_spec_number(ps, "a point", 0, &v));
        if (v > GM_SPEC_MAX_POINT)
            return gm_spec_fail(ps, at, GM_ERR_TOO_LARGE,
                                "point %lld exceeds the largest supported point %lld",
                                (long long)v, (long long)GM_SPEC_MAX_POINT);
        if (v + 1 > c->degree) c->degree = v + 1;
        c->at[c->count] = at;
        c->items[c->count++] = (int32_t)v;
        while (*ps->p == ' ') ps->p++;
    }
    c->at[c->count] = ps->p;
    c->items[c->count++] = GM_SPEC_CYCLE_END;
    ps->p++; /* ')' */
    return GM_OK;
}

/* Reads generators up to the first character that cannot continue them. */
static gm_status gm_spec_cycles_parse(gm_spec *ps, gm_spec_cycles *c) {
    char got[16];
    for (;;) {
        if (*ps->p != '(')
            return gm_spec_fail(ps, ps->p, GM_ERR_GROUP_SPEC,
                                "expected '(' to start a cycle, got %s",
                                gm_spec_got(*ps->p, got, sizeof got));
        while (*ps->p == '(') GM_FORWARD_IF_ERROR(gm_spec_cycle(ps, c));
        c->at[c->count] = ps->p;
        c->items[c->count++] = GM_SPEC_GEN_END;
        c->ngens++;
        if (*ps->p != ',') return GM_OK;
        ps->p++;
    }
}

/* Turns the cycles into image arrays (ngens x degree), rejecting a point
 * that appears twice in one generator; `stamp` holds degree entries. */
static gm_status gm_spec_cycles_images(const gm_spec *ps, const gm_spec_cycles *c,
                                       int32_t *gens, int32_t *stamp) {
    const int64_t d = c->degree;
    for (int64_t i = 0; i < d; i++) stamp[i] = -1;
    for (int64_t i = 0; i < c->ngens * d; i++) gens[i] = (int32_t)(i % d);
    int64_t k = 0, start = 0;
    for (int32_t gen = 0; gen < c->ngens; gen++, k++) {
        int32_t *img = gens + gen * d;
        for (; c->items[k] != GM_SPEC_GEN_END; k++) {
            const int32_t v = c->items[k];
            if (v == GM_SPEC_CYCLE_END) {
                /* Close the cycle: its last point maps to its first. */
                if (k > start) img[c->items[k - 1]] = c->items[start];
                start = k + 1;
                continue;
            }
            if (stamp[v] == gen)
                return gm_spec_fail(ps, c->at[k], GM_ERR_GROUP_SPEC,
                                    "point %d appears twice in generator %d (write it as "
                                    "disjoint cycles)",
                                    v, gen + 1);
            stamp[v] = gen;
            if (k > start) img[c->items[k - 1]] = v;
        }
        start = k + 1;
    }
    return GM_OK;
}

/* "perm:" followed by the generators, one space between points. */
static gm_status gm_spec_cycles_name(const gm_spec_cycles *c, size_t cap, gm_group *g) {
    char *name = gm_malloc(cap);
    if (!name) return gm__nomem("group name");
    size_t off = (size_t)snprintf(name, cap, "perm:");
    bool open = true; /* at the start of a cycle */
    for (int64_t k = 0; k < c->count; k++) {
        const int32_t v = c->items[k];
        int n;
        if (v >= 0)
            n = snprintf(name + off, cap - off, "%s%d", open ? "(" : " ", v);
        else if (v == GM_SPEC_CYCLE_END)
            n = snprintf(name + off, cap - off, "%s", open ? "()" : ")");
        else
            n = snprintf(name + off, cap - off, "%s", k + 1 < c->count ? "," : "");
        open = v < 0;
        off += (size_t)n;
        GM_ASSERT(off < cap);
    }
    gm_free(g->name);
    g->name = name;
    return GM_OK;
}

static gm_status gm_spec_perm(gm_spec *ps, gm_group **out) {
    const char *start = ps->p;
    /* Every item consumes at least one character, bar the last GEN_END. */
    const size_t cap = strlen(ps->p) + 2;
    gm_spec_cycles c = {.degree = 1};
    c.items = gm_malloc_array(cap, sizeof *c.items);
    c.at = gm_malloc_array(cap, sizeof *c.at);
    int32_t *gens = NULL, *stamp = NULL;
    gm_status st = c.items && c.at ? GM_OK : gm__nomem("perm spec");
    if (st == GM_OK) st = gm_spec_cycles_parse(ps, &c);
    if (st == GM_OK && c.ngens * c.degree > GM_SPEC_MAX_IMAGES)
        st = gm_spec_fail(ps, start, GM_ERR_TOO_LARGE,
                          "%lld generators of degree %lld exceed the limit of %lld images",
                          (long long)c.ngens, (long long)c.degree, (long long)GM_SPEC_MAX_IMAGES);
    if (st == GM_OK) {
        gens = gm_malloc_array((size_t)(c.ngens * c.degree), sizeof *gens);
        stamp = gm_malloc_array((size_t)c.degree, sizeof *stamp);
        if (!gens || !stamp) st = gm__nomem("perm spec");
    }
    if (st == GM_OK) st = gm_spec_cycles_images(ps, &c, gens, stamp);
    if (st == GM_OK) {
        st = gm_group_perm_new(c.degree, c.ngens, gens, out);
        if (st != GM_OK) st = gm_spec_wrap(ps, start, st);
    }
    /* The canonical text is never longer than what was parsed, plus "perm:". */
    if (st == GM_OK) st = gm_spec_cycles_name(&c, (size_t)(ps->p - start) + 8, *out);
    if (st != GM_OK) {
        gm_group_free(*out);
        *out = NULL;
    }
    gm_free(c.items);
    gm_free(c.at);
    gm_free(gens);
    gm_free(stamp);
    return st;
}

/* --- factors and products ------------------------------------------------ */

/* Consumes `word` when the spec continues with it; true if it did. */
static bool gm_spec_word(gm_spec *ps, const char *word) {
    const size_t n = strlen(word);
    if (strncmp(ps->p, word, n) != 0) return false;
    ps->p += n;
    return true;
}

static gm_status gm_spec_colon(gm_spec *ps, const char *family) {
    char got[16];
    if (*ps->p == ':') {
        ps->p++;
        return GM_OK;
    }
    return gm_spec_fail(ps, ps->p, GM_ERR_GROUP_SPEC, "expected ':' after '%s', got %s", family,
                        gm_spec_got(*ps->p, got, sizeof got));
}

/* The families named by a letter and a number: Cn, Dn, Sn. */
static gm_status gm_spec_lettered(gm_spec *ps, gm_group **out) {
    const char fam = *ps->p++;
    int64_t n;
    const char *what = fam == 'C' ? "the order n of Cn" : (fam == 'D' ? "n of Dn" : "n of Sn");
    GM_FORWARD_IF_ERROR(gm_spec_number(ps, what, 1, &n));
    if (fam == 'C') return gm_group_cyclic_new(n, out);
    if (fam == 'D') return gm_group_dihedral_new(n, out);
    return gm_group_symmetric_new(n, out);
}

static gm_status gm_spec_wallpaper(gm_spec *ps, bool mirror, gm_group **out) {
    const char *family = mirror ? "p4m" : "p4";
    int64_t n;
    GM_FORWARD_IF_ERROR(gm_spec_colon(ps, family));
    GM_FORWARD_IF_ERROR(gm_spec_number(ps, "the torus size n", 1, &n));
    return mirror ? gm_group_p4m_new(n, out) : gm_group_p4_new(n, out);
}

static gm_status gm_spec_table(gm_spec *ps, gm_group **out) {
    GM_FORWARD_IF_ERROR(gm_spec_colon(ps, "table"));
    if (!*ps->p)
        return gm_spec_fail(ps, ps->p, GM_ERR_GROUP_SPEC, "expected a path after 'table:'");
    const char *path = ps->p;
    ps->p += strlen(ps->p);
    return gm_group_table_read(path, out);
}

/* One factor; constructor failures get the spec and column prefixed. */
static gm_status gm_spec_factor(gm_spec *ps, gm_group **out) {
    const char *at = ps->p;
    char got[16];
    gm_status st;
    *out = NULL;
    if (*ps->p == 'C' || *ps->p == 'D' || *ps->p == 'S') {
        /* Parse errors carry their own column; only constructor errors lack one. */
        st = gm_spec_lettered(ps, out);
        if (st != GM_OK && st != GM_ERR_GROUP_SPEC) st = gm_spec_wrap(ps, at, st);
        return st;
    }
    if (gm_spec_word(ps, "perm")) {
        GM_FORWARD_IF_ERROR(gm_spec_colon(ps, "perm"));
        return gm_spec_perm(ps, out);
    }
    const bool mirror = gm_spec_word(ps, "p4m");
    if (mirror || gm_spec_word(ps, "p4")) {
        st = gm_spec_wallpaper(ps, mirror, out);
    } else if (gm_spec_word(ps, "table")) {
        st = gm_spec_table(ps, out);
    } else {
        return gm_spec_fail(ps, at, GM_ERR_GROUP_SPEC,
                            "expected a group (Cn, Dn, Sn, p4:n, p4m:n, perm:CYCLES or "
                            "table:PATH), got %s",
                            gm_spec_got(*ps->p, got, sizeof got));
    }
    if (st != GM_OK && st != GM_ERR_GROUP_SPEC) st = gm_spec_wrap(ps, at, st);
    return st;
}

gm_status gm_group_from_spec(const char *spec, gm_group **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "group spec: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(!spec, GM_ERR_INVALID_ARG, "group spec: NULL instead of a string");
    gm_spec ps;
    gm_spec_init(&ps, spec);
    if (!*spec) return gm_spec_fail(&ps, spec, GM_ERR_GROUP_SPEC, "the spec is empty");
    gm_group *acc = NULL;
    gm_status st = gm_spec_factor(&ps, &acc);
    while (st == GM_OK && *ps.p) {
        char got[16];
        if (*ps.p != 'x') {
            st = gm_spec_fail(&ps, ps.p, GM_ERR_GROUP_SPEC,
                              "unexpected %s after a group (factors are joined by 'x')",
                              gm_spec_got(*ps.p, got, sizeof got));
            break;
        }
        const char *at = ++ps.p;
        gm_group *factor = NULL, *prod = NULL;
        st = gm_spec_factor(&ps, &factor);
        if (st == GM_OK) {
            st = gm_group_product_new(acc, factor, &prod);
            if (st != GM_OK) st = gm_spec_wrap(&ps, at, st);
        }
        gm_group_free(factor);
        gm_group_free(acc);
        acc = prod;
    }
    if (st != GM_OK) {
        gm_group_free(acc);
        return st;
    }
    *out = acc;
    return GM_OK;
}
