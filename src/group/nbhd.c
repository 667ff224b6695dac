/* Neighbourhoods: ordered kernel supports (repeats allowed). */
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
                       "neighbourhood: group order %lld must be at least 1", (long long)group_order);
    GM_RETURN_ERROR_IF(size < 1, GM_ERR_INVALID_ARG,
                       "neighbourhood: size %lld must be at least 1", (long long)size);
    for (int64_t k = 0; k < size; k++)
        GM_RETURN_ERROR_IF(elems[k] < 0 || elems[k] >= group_order, GM_ERR_INVALID_ARG,
                           "neighbourhood: entry %lld is %d, not an element of a group of order %lld",
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
