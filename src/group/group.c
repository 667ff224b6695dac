/* gm_group: representation, dispatch of products, and the arithmetic
 * families (cyclic, dihedral, direct and semidirect products, p4, p4m). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "group_internal.h"

gm_group *gm__group_alloc(gm_group_kind kind, int64_t order) {
    gm_group *g = gm_calloc(1, sizeof *g);
    if (!g) return NULL;
    atomic_init(&g->refs, 1);
    g->kind = kind;
    g->order = order;
    g->inv = gm_malloc_array((size_t)order, sizeof *g->inv);
    if (!g->inv) {
        gm_free(g);
        return NULL;
    }
    return g;
}

gm_status gm__group_set_name(gm_group *g, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    gm_free(g->name);
    g->name = gm_strdup(buf);
    return g->name ? GM_OK : gm__nomem("group name");
}

gm_status gm__group_set_gens(gm_group *g, int64_t ngens, const int32_t *gens) {
    gm_free(g->gens);
    g->gens = gm_malloc_array((size_t)(ngens ? ngens : 1), sizeof *g->gens);
    if (!g->gens) return gm__nomem("group generators");
    if (ngens) memcpy(g->gens, gens, (size_t)ngens * sizeof *gens);
    g->ngens = ngens;
    return GM_OK;
}

void gm__group_fill_inverses_by_search(gm_group *g) {
    for (int32_t a = 0; a < g->order; a++) g->inv[a] = -1;
    for (int32_t a = 0; a < g->order; a++) {
        if (g->inv[a] >= 0) continue;
        for (int32_t b = 0; b < g->order; b++) {
            if (gm_group_mul(g, a, b) == 0) {
                g->inv[a] = b;
                g->inv[b] = a;
                break;
            }
        }
    }
}

gm_group *gm_group_retain(const gm_group *g) {
    gm_group *m = (gm_group *)g;
    atomic_fetch_add(&m->refs, 1);
    return m;
}

void gm_group_free(gm_group *g) {
    if (!g) return;
    if (atomic_fetch_sub(&g->refs, 1) != 1) return;
    gm_group_free(g->a);
    gm_group_free(g->b);
    gm_free(g->name);
    gm_free(g->inv);
    gm_free(g->gens);
    gm_free(g->action);
    gm_free(g->table);
    gm_free(g->perms);
    gm__perm_index_free(&g->perm_index);
    gm_free(g->sub_elems);
    gm_free(g->sub_pos);
    gm_free(g);
}

int64_t gm_group_order(const gm_group *g) { return g->order; }
gm_group_kind gm_group_kind_of(const gm_group *g) { return g->kind; }
const char *gm_group_name(const gm_group *g) { return g->name ? g->name : "?"; }
int64_t gm_group_param(const gm_group *g) { return g->param; }
int64_t gm_group_ngens(const gm_group *g) { return g->ngens; }
const int32_t *gm_group_gens(const gm_group *g) { return g->gens; }

int64_t gm_group_wallpaper_points(const gm_group *g) {
    /* Only the wallpaper constructor gives a semidirect product a param. */
    return g->kind == GM_GROUP_SEMIDIRECT && g->param > 0 ? g->b->order : 0;
}

const gm_group *gm_group_factor(const gm_group *g, int i) {
    if (g->kind != GM_GROUP_PRODUCT && g->kind != GM_GROUP_SEMIDIRECT) return NULL;
    return i == 0 ? g->a : (i == 1 ? g->b : NULL);
}

/* D_n: index p < n is r^p, p >= n is f*r^(p-n). */
static int32_t gm_dihedral_mul(int64_t n, int32_t a, int32_t b) {
    int64_t fa = a >= n, ra = a % n, fb = b >= n, rb = b % n;
    int64_t r = fb ? (rb - ra + n) % n : (ra + rb) % n;
    return (int32_t)((fa ^ fb) * n + r);
}

void gm_group_cayley_table(const gm_group *g, int32_t *out) {
    const int64_t n = g->order;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) out[a * n + b] = gm_group_mul(g, (int32_t)a, (int32_t)b);
}

int32_t gm_group_mul(const gm_group *g, int32_t a, int32_t b) {
    GM_DEBUG_ASSERT(a >= 0 && a < g->order && b >= 0 && b < g->order);
    switch (g->kind) {
    case GM_GROUP_CYCLIC: {
        int64_t s = (int64_t)a + b;
        return (int32_t)(s >= g->order ? s - g->order : s);
    }
    case GM_GROUP_DIHEDRAL:
        return gm_dihedral_mul(g->param, a, b);
    case GM_GROUP_PRODUCT: {
        const int32_t nb = (int32_t)g->b->order;
        return gm_group_mul(g->a, a / nb, b / nb) * nb + gm_group_mul(g->b, a % nb, b % nb);
    }
    case GM_GROUP_SEMIDIRECT: {
        const int32_t nn = (int32_t)g->a->order;
        const int32_t ha = a / nn, na = a % nn, hb = b / nn, nb = b % nn;
        const int32_t n = gm_group_mul(g->a, na, g->action[(int64_t)ha * nn + nb]);
        return gm_group_mul(g->b, ha, hb) * nn + n;
    }
    case GM_GROUP_PERM:
        return gm__perm_mul(g, a, b);
    case GM_GROUP_TABLE:
        return g->table[(int64_t)a * g->order + b];
    case GM_GROUP_SUBGROUP:
        return g->sub_pos[gm_group_mul(g->a, g->sub_elems[a], g->sub_elems[b])];
    }
    GM_ASSERT(0 && "unknown group kind");
    return -1;
}

int32_t gm_group_inv(const gm_group *g, int32_t a) {
    GM_DEBUG_ASSERT(a >= 0 && a < g->order);
    return g->inv[a];
}

int64_t gm_group_element_order(const gm_group *g, int32_t a) {
    int64_t k = 1;
    for (int32_t x = a; x != 0; x = gm_group_mul(g, x, a)) k++;
    return k;
}

bool gm_group_is_abelian(const gm_group *g) {
    for (int64_t i = 0; i < g->ngens; i++)
        for (int64_t j = i + 1; j < g->ngens; j++)
            if (gm_group_mul(g, g->gens[i], g->gens[j]) != gm_group_mul(g, g->gens[j], g->gens[i]))
                return false;
    return true;
}

/* Clamps an snprintf result for use as an offset into a buffer of `size`. */
static size_t gm_clamp(int n, size_t size) {
    if (n < 0) return 0;
    return (size_t)n < size ? (size_t)n : (size ? size - 1 : 0);
}

static int gm_dihedral_name(int64_t n, int32_t a, char *buf, size_t size) {
    const int64_t r = a % n;
    const char *f = a >= n ? "f" : "";
    if (r == 0) return snprintf(buf, size, "%s", a >= n ? "f" : "e");
    const char *sep = a >= n ? "*" : "";
    if (r == 1) return snprintf(buf, size, "%s%sr", f, sep);
    return snprintf(buf, size, "%s%sr^%lld", f, sep, (long long)r);
}

/* "(x,y)" from the names of two components. */
static int gm_pair_name(const gm_group *ga, int32_t a, const gm_group *gb, int32_t b, char *buf,
                        size_t size) {
    size_t off = 0;
    int total = 0, n;
    n = snprintf(buf, size, "(");
    total += n;
    off += gm_clamp(n, size);
    n = gm_group_element_name(ga, a, buf + off, size - off);
    total += n;
    off += gm_clamp(n, size - off);
    n = snprintf(buf + off, size - off, ",");
    total += n;
    off += gm_clamp(n, size - off);
    n = gm_group_element_name(gb, b, buf + off, size - off);
    total += n;
    off += gm_clamp(n, size - off);
    n = snprintf(buf + off, size - off, ")");
    return total + n;
}

int gm_group_element_name(const gm_group *g, int32_t a, char *buf, size_t size) {
    if (size == 0) buf = NULL;
    switch (g->kind) {
    case GM_GROUP_CYCLIC:
        return snprintf(buf, size, "%d", a);
    case GM_GROUP_DIHEDRAL:
        return gm_dihedral_name(g->param, a, buf, size);
    case GM_GROUP_PRODUCT: {
        const int32_t nb = (int32_t)g->b->order;
        return gm_pair_name(g->a, a / nb, g->b, a % nb, buf, size);
    }
    case GM_GROUP_SEMIDIRECT: {
        const int32_t nn = (int32_t)g->a->order;
        if (g->param == 0) return gm_pair_name(g->a, a % nn, g->b, a / nn, buf, size);
        /* p4 and p4m: name the point-group part as a rotation/reflection of
         * D4 (C4's index k is r^k there too): "((a,b),r^2)", "((a,b),f*r)". */
        char point[16];
        gm_dihedral_name(4, a / nn, point, sizeof point);
        size_t off = gm_clamp(snprintf(buf, size, "("), size);
        int total = 1 + gm_group_element_name(g->a, a % nn, buf + off, size - off);
        off = gm_clamp(total, size);
        return total + snprintf(buf + off, size - off, ",%s)", point);
    }
    case GM_GROUP_PERM:
        return gm__perm_name(g, a, buf, size);
    case GM_GROUP_TABLE:
        return a == 0 ? snprintf(buf, size, "e") : snprintf(buf, size, "g%d", a);
    case GM_GROUP_SUBGROUP:
        return gm_group_element_name(g->a, g->sub_elems[a], buf, size);
    }
    return snprintf(buf, size, "?");
}

/* --- constructors -------------------------------------------------------- */

static gm_status gm_check_order(const char *what, int64_t order) {
    GM_RETURN_ERROR_IF(order > GM_GROUP_MAX_ORDER, GM_ERR_TOO_LARGE,
                       "%s: order %lld exceeds the limit %lld", what, (long long)order,
                       (long long)GM_GROUP_MAX_ORDER);
    return GM_OK;
}

gm_status gm_group_cyclic_new(int64_t n, gm_group **out) {
    *out = NULL;
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG, "cyclic group C%lld: order must be at least 1",
                       (long long)n);
    GM_FORWARD_IF_ERROR(gm_check_order("cyclic group", n));
    gm_group *g = gm__group_alloc(GM_GROUP_CYCLIC, n);
    if (!g) return gm__nomem("cyclic group");
    g->param = n;
    for (int64_t k = 0; k < n; k++) g->inv[k] = (int32_t)((n - k) % n);
    const int32_t one = 1;
    if (gm__group_set_gens(g, n > 1 ? 1 : 0, &one) || gm__group_set_name(g, "C%lld", (long long)n)) {
        gm_group_free(g);
        return gm__nomem("cyclic group");
    }
    *out = g;
    return GM_OK;
}

gm_status gm_group_dihedral_new(int64_t n, gm_group **out) {
    *out = NULL;
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG,
                       "dihedral group D%lld: n must be at least 1 (order 2n)", (long long)n);
    GM_RETURN_ERROR_IF(n > GM_GROUP_MAX_ORDER / 2, GM_ERR_TOO_LARGE,
                       "dihedral group D%lld: order 2*%lld exceeds the limit %lld", (long long)n,
                       (long long)n, (long long)GM_GROUP_MAX_ORDER);
    gm_group *g = gm__group_alloc(GM_GROUP_DIHEDRAL, 2 * n);
    if (!g) return gm__nomem("dihedral group");
    g->param = n;
    for (int64_t p = 0; p < n; p++) {
        g->inv[p] = (int32_t)((n - p) % n);
        g->inv[n + p] = (int32_t)(n + p);
    }
    /* r (if nontrivial) and f. */
    const int32_t gens2[2] = {1, (int32_t)n};
    const int32_t *gens = n > 1 ? gens2 : gens2 + 1;
    if (gm__group_set_gens(g, n > 1 ? 2 : 1, gens) ||
        gm__group_set_name(g, "D%lld", (long long)n)) {
        gm_group_free(g);
        return gm__nomem("dihedral group");
    }
    *out = g;
    return GM_OK;
}

/* Generators of a two-factor group: (s,e) for s in gens(a), then (e,t) for
 * t in gens(b), with the pair (x,y) encoded by `encode`. */
static gm_status gm_pair_gens(gm_group *g, int32_t (*encode)(const gm_group *, int32_t, int32_t)) {
    const int64_t n = g->a->ngens + g->b->ngens;
    int32_t *gens = gm_malloc_array((size_t)(n ? n : 1), sizeof *gens);
    if (!gens) return gm__nomem("group generators");
    for (int64_t i = 0; i < g->a->ngens; i++) gens[i] = encode(g, g->a->gens[i], 0);
    for (int64_t i = 0; i < g->b->ngens; i++) gens[g->a->ngens + i] = encode(g, 0, g->b->gens[i]);
    gm_status st = gm__group_set_gens(g, n, gens);
    gm_free(gens);
    return st;
}

static int32_t gm_product_encode(const gm_group *g, int32_t x, int32_t y) {
    return (int32_t)(x * g->b->order + y);
}

/* Semidirect elements are (n, h) <-> h*|N| + n. */
static int32_t gm_semidirect_encode(const gm_group *g, int32_t n, int32_t h) {
    return (int32_t)(h * g->a->order + n);
}

gm_status gm_group_product_new(const gm_group *a, const gm_group *b, gm_group **out) {
    *out = NULL;
    GM_RETURN_ERROR_IF(a->order > GM_GROUP_MAX_ORDER / b->order, GM_ERR_TOO_LARGE,
                       "product %sx%s: order %lld*%lld exceeds the limit %lld", gm_group_name(a),
                       gm_group_name(b), (long long)a->order, (long long)b->order,
                       (long long)GM_GROUP_MAX_ORDER);
    gm_group *g = gm__group_alloc(GM_GROUP_PRODUCT, a->order * b->order);
    if (!g) return gm__nomem("product group");
    g->a = gm_group_retain(a);
    g->b = gm_group_retain(b);
    for (int32_t x = 0; x < a->order; x++)
        for (int32_t y = 0; y < b->order; y++)
            g->inv[gm_product_encode(g, x, y)] = gm_product_encode(g, a->inv[x], b->inv[y]);
    if (gm_pair_gens(g, gm_product_encode) ||
        gm__group_set_name(g, "%sx%s", gm_group_name(a), gm_group_name(b))) {
        gm_group_free(g);
        return gm__nomem("product group");
    }
    *out = g;
    return GM_OK;
}

/* Checks that `action` is a homomorphism H -> Aut(N). Automorphism: phi_h is
 * a bijection with phi_h(x s) = phi_h(x) phi_h(s) for every x and every
 * generator s of N (which extends to all of N by induction on word length). */
static gm_status gm_check_action(const gm_group *n, const gm_group *h, const int32_t *action) {
    const int64_t nn = n->order, nh = h->order;
    uint8_t *seen = gm_calloc((size_t)nn, 1);
    if (!seen) return gm__nomem("action check");
    gm_status st = GM_OK;
    for (int64_t k = 0; k < nh && st == GM_OK; k++) {
        const int32_t *phi = action + k * nn;
        memset(seen, 0, (size_t)nn);
        for (int64_t x = 0; x < nn && st == GM_OK; x++) {
            if (phi[x] < 0 || phi[x] >= nn)
                st = gm_error_set(GM_ERR_GROUP_AXIOM,
                                  "semidirect action: phi_%lld(%lld) = %d is not an element of N",
                                  (long long)k, (long long)x, phi[x]);
            else if (seen[phi[x]]++)
                st = gm_error_set(GM_ERR_GROUP_AXIOM, "semidirect action: phi_%lld is not a bijection",
                                  (long long)k);
        }
        for (int64_t x = 0; x < nn && st == GM_OK; x++)
            for (int64_t i = 0; i < n->ngens && st == GM_OK; i++) {
                const int32_t s = n->gens[i];
                if (phi[gm_group_mul(n, (int32_t)x, s)] != gm_group_mul(n, phi[x], phi[s]))
                    st = gm_error_set(GM_ERR_GROUP_AXIOM,
                                      "semidirect action: phi_%lld is not an automorphism of N "
                                      "(fails at element %lld, generator %d)",
                                      (long long)k, (long long)x, s);
            }
    }
    for (int64_t x = 0; x < nn && st == GM_OK; x++)
        if (action[x] != x)
            st = gm_error_set(GM_ERR_GROUP_AXIOM, "semidirect action: phi_e is not the identity");
    for (int32_t h1 = 0; h1 < nh && st == GM_OK; h1++)
        for (int32_t h2 = 0; h2 < nh && st == GM_OK; h2++) {
            const int32_t *p12 = action + (int64_t)gm_group_mul(h, h1, h2) * nn;
            const int32_t *p1 = action + (int64_t)h1 * nn, *p2 = action + (int64_t)h2 * nn;
            for (int64_t x = 0; x < nn; x++)
                if (p12[x] != p1[p2[x]]) {
                    st = gm_error_set(GM_ERR_GROUP_AXIOM,
                                      "semidirect action: phi_%d*phi_%d != phi_(%d*%d), not a "
                                      "homomorphism",
                                      h1, h2, h1, h2);
                    break;
                }
        }
    gm_free(seen);
    return st;
}

/* Builds N x|_phi H without validating the action (callers validate). */
static gm_status gm_semidirect_build(const gm_group *n, const gm_group *h, const int32_t *action,
                                     gm_group **out) {
    *out = NULL;
    GM_RETURN_ERROR_IF(n->order > GM_GROUP_MAX_ORDER / h->order, GM_ERR_TOO_LARGE,
                       "semidirect product: order %lld*%lld exceeds the limit %lld",
                       (long long)n->order, (long long)h->order, (long long)GM_GROUP_MAX_ORDER);
    gm_group *g = gm__group_alloc(GM_GROUP_SEMIDIRECT, n->order * h->order);
    if (!g) return gm__nomem("semidirect product");
    g->a = gm_group_retain(n);
    g->b = gm_group_retain(h);
    const int64_t nn = n->order;
    g->action = gm_malloc_array((size_t)(nn * h->order), sizeof *g->action);
    if (!g->action || gm_pair_gens(g, gm_semidirect_encode) ||
        gm__group_set_name(g, "%sx|%s", gm_group_name(n), gm_group_name(h))) {
        gm_group_free(g);
        return gm__nomem("semidirect product");
    }
    memcpy(g->action, action, (size_t)(nn * h->order) * sizeof *action);
    /* (x, k)^-1 = (phi_{k^-1}(x^-1), k^-1). */
    for (int32_t k = 0; k < h->order; k++) {
        const int32_t kinv = h->inv[k];
        for (int32_t x = 0; x < nn; x++)
            g->inv[gm_semidirect_encode(g, x, k)] =
                gm_semidirect_encode(g, action[(int64_t)kinv * nn + n->inv[x]], kinv);
    }
    *out = g;
    return GM_OK;
}

gm_status gm_group_semidirect_new(const gm_group *n, const gm_group *h, const int32_t *action,
                                  gm_group **out) {
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm_check_action(n, h, action));
    return gm_semidirect_build(n, h, action, out);
}

/* Z_n^2 x| H for H = C4 (mirror = false) or D4 (mirror = true), acting on
 * the torus point (a,b) by r.(a,b) = (-b, a) and f.(a,b) = (a, -b). */
static gm_status gm_wallpaper_new(int64_t n, bool mirror, gm_group **out) {
    *out = NULL;
    const char *fam = mirror ? "p4m" : "p4";
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG, "%s:%lld: the torus size must be at least 1", fam,
                       (long long)n);
    /* n is bounded before n * n is formed, in the message too. */
    GM_RETURN_ERROR_IF(n > 4096, GM_ERR_TOO_LARGE,
                       "%s:%lld: the torus size exceeds 4096, so the order exceeds the limit %lld", fam,
                       (long long)n, (long long)GM_GROUP_MAX_ORDER);
    GM_RETURN_ERROR_IF(n * n * (mirror ? 8 : 4) > GM_GROUP_MAX_ORDER, GM_ERR_TOO_LARGE,
                       "%s:%lld: order %lld exceeds the limit %lld", fam, (long long)n,
                       (long long)(n * n * (mirror ? 8 : 4)), (long long)GM_GROUP_MAX_ORDER);
    gm_group *cn = NULL, *torus = NULL, *h = NULL, *g = NULL;
    int32_t *action = NULL;
    gm_status st = gm_group_cyclic_new(n, &cn);
    if (st == GM_OK) st = gm_group_product_new(cn, cn, &torus);
    if (st == GM_OK) st = mirror ? gm_group_dihedral_new(4, &h) : gm_group_cyclic_new(4, &h);
    if (st == GM_OK) {
        action = gm_malloc_array((size_t)(h->order * n * n), sizeof *action);
        if (!action) st = gm__nomem("wallpaper group action");
    }
    if (st == GM_OK) {
        for (int64_t k = 0; k < h->order; k++) {
            /* D4 index k: r^(k mod 4), preceded by f when k >= 4 (C4: k < 4 only). */
            const int64_t rot = k % 4, flip = k >= 4;
            for (int64_t a = 0; a < n; a++)
                for (int64_t b = 0; b < n; b++) {
                    int64_t x = a, y = b, t;
                    for (int64_t i = 0; i < rot; i++) {
                        t = x;
                        x = (n - y) % n;
                        y = t;
                    }
                    if (flip) y = (n - y) % n;
                    action[k * n * n + a * n + b] = (int32_t)(x * n + y);
                }
        }
        st = gm_semidirect_build(torus, h, action, &g);
    }
    if (st == GM_OK) {
        g->param = n;
        st = gm__group_set_name(g, "%s:%lld", fam, (long long)n);
    }
    gm_free(action);
    gm_group_free(cn);
    gm_group_free(torus);
    gm_group_free(h);
    if (st != GM_OK) {
        gm_group_free(g);
        return st;
    }
    *out = g;
    return GM_OK;
}

gm_status gm_group_p4_new(int64_t n, gm_group **out) { return gm_wallpaper_new(n, false, out); }

gm_status gm_group_p4m_new(int64_t n, gm_group **out) { return gm_wallpaper_new(n, true, out); }
