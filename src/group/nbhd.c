/* Neighbourhoods: ordered kernel supports (repeats allowed). */
#include <stdbool.h>
#include <string.h>

#include "group_internal.h"

struct gm_nbhd {
    int64_t group_order;
    int64_t size;
    int32_t *elems;
};

gm_status gm_nbhd_new(int64_t group_order, int64_t size, const int32_t *elems, gm_nbhd **out) {
    *out = NULL;
    GM_RETURN_ERROR_IF(group_order < 1, GM_ERR_INVALID_ARG,
                       "neighbourhood: group order %lld must be at least 1",
                       (long long)group_order);
    GM_RETURN_ERROR_IF(size < 1, GM_ERR_INVALID_ARG,
                       "neighbourhood: size %lld must be at least 1", (long long)size);
    for (int64_t k = 0; k < size; k++)
        GM_RETURN_ERROR_IF(elems[k] < 0 || elems[k] >= group_order, GM_ERR_INVALID_ARG,
                           "neighbourhood: entry %lld is %d, not an element of a group of "
                           "order %lld",
                           (long long)k, elems[k], (long long)group_order);
    gm_nbhd *s = gm_calloc(1, sizeof *s);
    if (!s) return gm__nomem("neighbourhood");
    s->elems = gm_malloc_array((size_t)size, sizeof *s->elems);
    if (!s->elems) {
        gm_free(s);
        return gm__nomem("neighbourhood");
    }
    memcpy(s->elems, elems, (size_t)size * sizeof *elems);
    s->group_order = group_order;
    s->size = size;
    *out = s;
    return GM_OK;
}

gm_status gm_nbhd_product_new(const gm_nbhd *a, const gm_nbhd *b, gm_nbhd **out) {
    *out = NULL;
    int64_t size, order;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(a->size, b->size, &size) ||
                           gm_mul_overflow_i64(a->group_order, b->group_order, &order) ||
                           order > GM_GROUP_MAX_ORDER,
                       GM_ERR_TOO_LARGE, "product neighbourhood: size %lld x %lld is too large",
                       (long long)a->size, (long long)b->size);
    int32_t *elems = gm_malloc_array((size_t)size, sizeof *elems);
    if (!elems) return gm__nomem("product neighbourhood");
    for (int64_t i = 0; i < a->size; i++)
        for (int64_t j = 0; j < b->size; j++)
            elems[i * b->size + j] = (int32_t)(a->elems[i] * b->group_order + b->elems[j]);
    gm_status st = gm_nbhd_new(order, size, elems, out);
    gm_free(elems);
    return st;
}

void gm_nbhd_free(gm_nbhd *s) {
    if (!s) return;
    gm_free(s->elems);
    gm_free(s);
}

int64_t gm_nbhd_size(const gm_nbhd *s) { return s->size; }
const int32_t *gm_nbhd_elements(const gm_nbhd *s) { return s->elems; }
int64_t gm_nbhd_group_order(const gm_nbhd *s) { return s->group_order; }

/* The reference's 1-D supports: i runs over -t..t and is reduced mod n, so
 * entries repeat when 2t+1 > n. */
static gm_status gm_nbhd_reference_axis(const gm_group *g, int64_t t, gm_nbhd **out) {
    const int64_t n = gm_group_param(g);
    const bool dihedral = gm_group_kind_of(g) == GM_GROUP_DIHEDRAL;
    const int64_t size = (2 * t + 1) * (dihedral ? 2 : 1);
    int32_t *elems = gm_malloc_array((size_t)size, sizeof *elems);
    if (!elems) return gm__nomem("reference neighbourhood");
    int64_t k = 0;
    for (int64_t i = -t; i <= t; i++) {
        const int32_t m = (int32_t)(((i % n) + n) % n);
        elems[k++] = m;
        if (dihedral) elems[k++] = (int32_t)(n + m);
    }
    gm_status st = gm_nbhd_new(gm_group_order(g), size, elems, out);
    gm_free(elems);
    return st;
}

/* Checks that every factor of g is C_n or D_n, naming the first one that is
 * not (top is the group the caller asked about), and gives the size of the
 * support for radius t. */
static gm_status gm_nbhd_reference_check(const gm_group *top, const gm_group *g, int64_t t,
                                         int64_t *size) {
    switch (gm_group_kind_of(g)) {
    case GM_GROUP_CYCLIC:
        *size = 2 * t + 1;
        return GM_OK;
    case GM_GROUP_DIHEDRAL:
        *size = 2 * (2 * t + 1);
        return GM_OK;
    case GM_GROUP_PRODUCT: {
        int64_t sa, sb;
        GM_FORWARD_IF_ERROR(gm_nbhd_reference_check(top, gm_group_factor(g, 0), t, &sa));
        GM_FORWARD_IF_ERROR(gm_nbhd_reference_check(top, gm_group_factor(g, 1), t, &sb));
        GM_RETURN_ERROR_IF(gm_mul_overflow_i64(sa, sb, size) || *size > GM_GROUP_MAX_ORDER,
                           GM_ERR_TOO_LARGE,
                           "reference neighbourhood of %s: radius %lld gives more than %lld "
                           "entries",
                           gm_group_name(top), (long long)t, (long long)GM_GROUP_MAX_ORDER);
        return GM_OK;
    }
    default:
        break;
    }
    if (g == top)
        return gm_error_set(GM_ERR_UNSUPPORTED,
                            "reference neighbourhood of %s: defined only for C_n, D_n and direct "
                            "products of them (use a word-metric ball)",
                            gm_group_name(top));
    return gm_error_set(GM_ERR_UNSUPPORTED,
                        "reference neighbourhood of %s: factor %s is not C_n or D_n (defined "
                        "only for C_n, D_n and direct products of them; use a word-metric ball)",
                        gm_group_name(top), gm_group_name(g));
}

static gm_status gm_nbhd_reference_build(const gm_group *g, int64_t t, gm_nbhd **out) {
    *out = NULL;
    if (gm_group_kind_of(g) != GM_GROUP_PRODUCT) return gm_nbhd_reference_axis(g, t, out);
    gm_nbhd *a = NULL, *b = NULL;
    gm_status st = gm_nbhd_reference_build(gm_group_factor(g, 0), t, &a);
    if (st == GM_OK) st = gm_nbhd_reference_build(gm_group_factor(g, 1), t, &b);
    if (st == GM_OK) st = gm_nbhd_product_new(a, b, out);
    gm_nbhd_free(a);
    gm_nbhd_free(b);
    return st;
}

/* p4:n, p4m:n: the (2t+1)^2 translations, each with every point-group
 * element; (da, db)*h has index h*n^2 + (da mod n)*n + (db mod n). */
static gm_status gm_nbhd_wallpaper(const gm_group *g, int64_t t, gm_nbhd **out) {
    const int64_t n = gm_group_param(g), points = gm_group_wallpaper_points(g);
    /* As on C_n, a window wider than the torus keeps its repeats. */
    const int64_t side = 2 * t + 1;
    const int64_t size = side * side * points;
    int32_t *elems = gm_malloc_array((size_t)size, sizeof *elems);
    if (!elems) return gm__nomem("reference neighbourhood");
    int64_t k = 0;
    for (int64_t da = -t; da <= t; da++)
        for (int64_t db = -t; db <= t; db++)
            for (int64_t h = 0; h < points; h++)
                elems[k++] = (int32_t)(h * n * n + (((da % n) + n) % n) * n + ((db % n) + n) % n);
    gm_status st = gm_nbhd_new(gm_group_order(g), size, elems, out);
    gm_free(elems);
    return st;
}

gm_status gm_nbhd_reference_new(const gm_group *g, int64_t t, gm_nbhd **out) {
    *out = NULL;
    GM_RETURN_ERROR_IF(t < 0, GM_ERR_INVALID_ARG,
                       "reference neighbourhood of %s: radius t = %lld must be >= 0",
                       gm_group_name(g), (long long)t);
    GM_RETURN_ERROR_IF(t > GM_GROUP_MAX_ORDER, GM_ERR_TOO_LARGE,
                       "reference neighbourhood of %s: radius t = %lld exceeds the limit %lld",
                       gm_group_name(g), (long long)t, (long long)GM_GROUP_MAX_ORDER);
    if (gm_group_wallpaper_points(g) > 0) return gm_nbhd_wallpaper(g, t, out);
    int64_t size;
    GM_FORWARD_IF_ERROR(gm_nbhd_reference_check(g, g, t, &size));
    GM_RETURN_ERROR_IF(size > GM_GROUP_MAX_ORDER, GM_ERR_TOO_LARGE,
                       "reference neighbourhood of %s: radius %lld gives more than %lld entries",
                       gm_group_name(g), (long long)t, (long long)GM_GROUP_MAX_ORDER);
    return gm_nbhd_reference_build(g, t, out);
}

gm_status gm_nbhd_ball_new(const gm_group *g, int64_t ngens, const int32_t *gens, int64_t t,
                           gm_nbhd **out) {
    *out = NULL;
    const int64_t n = gm_group_order(g);
    GM_RETURN_ERROR_IF(t < 0, GM_ERR_INVALID_ARG, "ball in %s: radius t = %lld must be >= 0",
                       gm_group_name(g), (long long)t);
    GM_FORWARD_IF_ERROR(gm__group_check_gens("ball in", g, ngens, gens));

    uint8_t *seen = gm_calloc((size_t)n, 1);
    int32_t *order = gm_malloc_array((size_t)n, sizeof *order);
    if (!seen || !order) {
        gm_free(seen);
        gm_free(order);
        return gm__nomem("ball neighbourhood");
    }
    int64_t len = 0;
    order[len++] = 0;
    seen[0] = 1;
    /* [begin, end) is the current level; its elements are expanded in the
     * order they were found, which makes the result deterministic. */
    for (int64_t level = 0, begin = 0; level < t && begin < len; level++) {
        const int64_t end = len;
        for (int64_t q = begin; q < end; q++)
            for (int64_t i = 0; i < 2 * ngens; i++) {
                const int32_t s = i % 2 ? gm_group_inv(g, gens[i / 2]) : gens[i / 2];
                const int32_t y = gm_group_mul(g, order[q], s);
                if (seen[y]) continue;
                seen[y] = 1;
                order[len++] = y;
            }
        begin = end;
    }
    gm_status st = gm_nbhd_new(n, len, order, out);
    gm_free(seen);
    gm_free(order);
    return st;
}
