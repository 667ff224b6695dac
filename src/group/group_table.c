/* Groups given by a Cayley table: validation (identity, Latin square,
 * associativity by Light's test) and the table file reader. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "group_internal.h"

/* --- validation ---------------------------------------------------------- */

static gm_status gm_table_check_range(int64_t n, const int32_t *mul) {
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            const int32_t v = mul[a * n + b];
            GM_RETURN_ERROR_IF(v < 0 || v >= n, GM_ERR_GROUP_AXIOM,
                               "Cayley table: %lld*%lld = %d is not an element 0..%lld",
                               (long long)a, (long long)b, v, (long long)n - 1);
        }
    return GM_OK;
}

static gm_status gm_table_check_identity(int64_t n, const int32_t *mul) {
    for (int64_t a = 0; a < n; a++) {
        GM_RETURN_ERROR_IF(mul[a] != a, GM_ERR_GROUP_AXIOM,
                           "Cayley table: 0 is not the identity: 0*%lld = %d", (long long)a,
                           mul[a]);
        GM_RETURN_ERROR_IF(mul[a * n] != a, GM_ERR_GROUP_AXIOM,
                           "Cayley table: 0 is not the identity: %lld*0 = %d", (long long)a,
                           mul[a * n]);
    }
    return GM_OK;
}

/* Every row and every column a permutation: `where` holds n entries. */
static gm_status gm_table_check_latin(int64_t n, const int32_t *mul, int32_t *where) {
    for (int pass = 0; pass < 2; pass++) {
        const char *line = pass ? "column" : "row";
        for (int64_t a = 0; a < n; a++) {
            for (int64_t v = 0; v < n; v++) where[v] = -1;
            for (int64_t b = 0; b < n; b++) {
                const int64_t x = pass ? b : a, y = pass ? a : b;
                const int32_t v = mul[x * n + y];
                if (where[v] < 0) {
                    where[v] = (int32_t)b;
                    continue;
                }
                const int64_t x0 = pass ? where[v] : a, y0 = pass ? a : where[v];
                return gm_error_set(GM_ERR_GROUP_AXIOM,
                                    "Cayley table: %s %lld repeats %d (%lld*%lld = %lld*%lld = "
                                    "%d), so some element has no inverse",
                                    line, (long long)a, v, (long long)x0, (long long)y0,
                                    (long long)x, (long long)y, v);
            }
        }
    }
    return GM_OK;
}

/* Light's test for one s: (x*s)*y == x*(s*y) for all x, y. */
static gm_status gm_table_check_assoc(int64_t n, const int32_t *mul, int32_t s) {
    for (int64_t x = 0; x < n; x++) {
        const int32_t xs = mul[x * n + s];
        for (int64_t y = 0; y < n; y++) {
            const int32_t l = mul[xs * n + y], r = mul[x * n + mul[s * n + y]];
            GM_RETURN_ERROR_IF(l != r, GM_ERR_GROUP_AXIOM,
                               "Cayley table: not associative: (%lld*%d)*%lld != %lld*(%d*%lld) "
                               "(%d != %d)",
                               (long long)x, s, (long long)y, (long long)x, s, (long long)y, l, r);
        }
    }
    return GM_OK;
}

/* Greedy generating set S, checking associativity for each s as it joins.
 * Those s for which (x*s)*y = x*(s*y) for all x, y are closed under products
 * (the middle nucleus, a subgroup), so once S passes and generates
 * everything the table is associative. While every s passes, the closure H
 * is a subgroup, each new s at least doubles it, and |S| <= log2(n): the
 * test costs O(n^2 log n). `in` and `queue` hold n entries; S goes to gens. */
static gm_status gm_table_light(int64_t n, const int32_t *mul, uint8_t *in, int32_t *queue,
                                int32_t *gens, int64_t *ngens) {
    memset(in, 0, (size_t)n);
    in[0] = 1;
    queue[0] = 0;
    int64_t count = 1, k = 0;
    for (int32_t s = 1; s < n; s++) {
        if (in[s]) continue;
        GM_FORWARD_IF_ERROR(gm_table_check_assoc(n, mul, s));
        gens[k++] = s;
        /* Re-close H under right multiplication by all of S. */
        for (int64_t i = 0; i < count; i++)
            for (int64_t j = 0; j < k; j++) {
                const int32_t y = mul[(int64_t)queue[i] * n + gens[j]];
                if (!in[y]) {
                    in[y] = 1;
                    queue[count++] = y;
                }
            }
    }
    *ngens = k;
    return GM_OK;
}

/* Validates the table and fills g->inv and g->gens. */
static gm_status gm_table_validate(gm_group *g) {
    const int64_t n = g->order;
    const int32_t *mul = g->table;
    GM_FORWARD_IF_ERROR(gm_table_check_range(n, mul));
    GM_FORWARD_IF_ERROR(gm_table_check_identity(n, mul));
    int32_t *work = gm_malloc_array((size_t)(2 * n), sizeof *work);
    uint8_t *in = gm_malloc((size_t)n);
    gm_status st = work && in ? GM_OK : gm__nomem("Cayley table check");
    if (st == GM_OK) st = gm_table_check_latin(n, mul, work);
    int64_t ngens = 0;
    if (st == GM_OK) st = gm_table_light(n, mul, in, work, work + n, &ngens);
    if (st == GM_OK) st = gm__group_set_gens(g, ngens, work + n);
    gm_free(work);
    gm_free(in);
    GM_FORWARD_IF_ERROR(st);
    /* Rows are permutations, so each a has exactly one b with a*b = 0. */
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++)
            if (mul[a * n + b] == 0) g->inv[a] = (int32_t)b;
    return GM_OK;
}

gm_status gm_group_table_new(int64_t n, const int32_t *mul, gm_group **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "Cayley table: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG, "Cayley table: order %lld must be at least 1",
                       (long long)n);
    GM_RETURN_ERROR_IF(n > GM_GROUP_MAX_TABLE_ORDER, GM_ERR_TOO_LARGE,
                       "Cayley table: order %lld exceeds the limit %lld", (long long)n,
                       (long long)GM_GROUP_MAX_TABLE_ORDER);
    GM_RETURN_ERROR_IF(!mul, GM_ERR_INVALID_ARG, "Cayley table: no table given");
    gm_group *g = gm__group_alloc(GM_GROUP_TABLE, n);
    if (!g) return gm__nomem("table group");
    gm_status st = GM_OK;
    g->table = gm_malloc_array((size_t)(n * n), sizeof *g->table);
    if (!g->table) st = gm__nomem("Cayley table");
    if (st == GM_OK) {
        memcpy(g->table, mul, (size_t)(n * n) * sizeof *mul);
        st = gm_table_validate(g);
    }
    if (st == GM_OK) st = gm__group_set_name(g, "table(%lld)", (long long)n);
    if (st != GM_OK) {
        gm_group_free(g);
        return st;
    }
    *out = g;
    return GM_OK;
}

/* --- file reader --------------------------------------------------------- */

typedef struct gm_table_reader {
    FILE *f;
    const char *path;
    int64_t line;     /* line of the next character */
    int64_t tok_line; /* line of the last token read (1 before any) */
    char tok[32];     /* the token, printable, truncated (tok_long) */
    bool tok_long;
} gm_table_reader;

/* Reads the next whitespace-separated token, skipping '#' comments.
 * Returns false at end of file. */
static bool gm_table_next_token(gm_table_reader *r) {
    int c = getc(r->f);
    for (;;) {
        if (c == '#')
            while (c != EOF && c != '\n') c = getc(r->f);
        if (c == '\n') r->line++;
        if (c == EOF) return false;
        if (!isspace(c)) break;
        c = getc(r->f);
    }
    r->tok_line = r->line;
    size_t len = 0;
    r->tok_long = false;
    /* Stop at the buffer's end: no valid token is that long, and reading on
     * could take forever (think of /dev/zero). */
    while (c != EOF && c != '#' && !isspace(c)) {
        if (len + 1 == sizeof r->tok) {
            r->tok_long = true;
            break;
        }
        r->tok[len++] = isprint(c) ? (char)c : '?';
        c = getc(r->f);
    }
    r->tok[len] = '\0';
    /* Give back the delimiter so that newline counting and comments stay exact. */
    if (c != EOF) ungetc(c, r->f);
    return true;
}

/* The current token as an integer in 0..limit-1; -1 if it is not an
 * integer, -2 if it is one outside that range. */
static int64_t gm_table_token_value(const gm_table_reader *r, int64_t limit) {
    const char *s = r->tok;
    const bool negative = *s == '-';
    if (*s == '+' || *s == '-') s++;
    if (!*s) return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) return -1;
        if (v < limit) v = v * 10 + (*s - '0');
    }
    if (r->tok_long || v >= limit) return -2;
    if (negative) return v == 0 ? 0 : -2;
    return v;
}

static gm_status gm_table_fail(const gm_table_reader *r, gm_status st, const char *what) {
    return gm_error_set(st, "table file '%s' line %lld: %s", r->path, (long long)r->tok_line,
                        what);
}

static gm_status gm_table_read_order(gm_table_reader *r, int64_t *n) {
    char msg[128];
    if (!gm_table_next_token(r))
        return gm_table_fail(r, GM_ERR_FORMAT, "expected the order, found the end of the file");
    const int64_t v = gm_table_token_value(r, GM_GROUP_MAX_TABLE_ORDER + 1);
    if (v == -2 && r->tok[0] != '-') {
        snprintf(msg, sizeof msg, "order %s%s exceeds the limit %lld", r->tok,
                 r->tok_long ? "..." : "", (long long)GM_GROUP_MAX_TABLE_ORDER);
        return gm_table_fail(r, GM_ERR_TOO_LARGE, msg);
    }
    if (v < 1) {
        snprintf(msg, sizeof msg, "expected the order (an integer >= 1), got '%s%s'", r->tok,
                 r->tok_long ? "..." : "");
        return gm_table_fail(r, GM_ERR_FORMAT, msg);
    }
    *n = v;
    return GM_OK;
}

static gm_status gm_table_read_entries(gm_table_reader *r, int64_t n, int32_t *mul) {
    char msg[192];
    for (int64_t k = 0; k < n * n; k++) {
        if (!gm_table_next_token(r)) {
            snprintf(msg, sizeof msg, "expected %lld entries after the order, found %lld",
                     (long long)(n * n), (long long)k);
            return gm_table_fail(r, GM_ERR_FORMAT, msg);
        }
        const int64_t v = gm_table_token_value(r, n);
        const char *more = r->tok_long ? "..." : "";
        if (v == -1)
            snprintf(msg, sizeof msg, "expected an integer, got '%s%s' (row %lld, column %lld)",
                     r->tok, more, (long long)(k / n), (long long)(k % n));
        else if (v == -2)
            snprintf(msg, sizeof msg,
                     "entry %s%s (row %lld, column %lld) is not an element 0..%lld", r->tok,
                     more, (long long)(k / n), (long long)(k % n), (long long)n - 1);
        if (v < 0) return gm_table_fail(r, GM_ERR_FORMAT, msg);
        mul[k] = (int32_t)v;
    }
    if (gm_table_next_token(r)) {
        snprintf(msg, sizeof msg, "unexpected '%s%s' after the %lld entries", r->tok,
                 r->tok_long ? "..." : "", (long long)(n * n));
        return gm_table_fail(r, GM_ERR_FORMAT, msg);
    }
    return GM_OK;
}

gm_status gm_group_table_read(const char *path, gm_group **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "table file: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(!path, GM_ERR_INVALID_ARG, "table file: no path given");
    gm_table_reader r = {.path = path, .line = 1, .tok_line = 1};
    r.f = fopen(path, "r");
    GM_RETURN_ERROR_IF(!r.f, GM_ERR_IO, "table file '%s': cannot open: %s", path,
                       strerror(errno));
    int64_t n = 0;
    int32_t *mul = NULL;
    gm_status st = gm_table_read_order(&r, &n);
    if (st == GM_OK) {
        mul = gm_malloc_array((size_t)(n * n), sizeof *mul);
        if (!mul) st = gm__nomem("Cayley table");
    }
    if (st == GM_OK) st = gm_table_read_entries(&r, n, mul);
    /* A read error (e.g. a directory) looks like an early end of file. */
    if (st != GM_ERR_NOMEM && ferror(r.f))
        st = gm_error_set(GM_ERR_IO, "table file '%s' line %lld: read error", path,
                          (long long)r.line);
    fclose(r.f);
    gm_group *g = NULL;
    if (st == GM_OK) {
        st = gm_group_table_new(n, mul, &g);
        if (st != GM_OK && st != GM_ERR_NOMEM) {
            char detail[1024];
            snprintf(detail, sizeof detail, "%s", gm_error_detail());
            st = gm_error_set(st, "table file '%s': %s", path, detail);
        }
    }
    gm_free(mul);
    if (st == GM_OK) st = gm__group_set_name(g, "table:%s", path);
    if (st != GM_OK) {
        gm_group_free(g);
        return st;
    }
    *out = g;
    return GM_OK;
}
