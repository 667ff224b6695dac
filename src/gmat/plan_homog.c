/* Index tables between a group, a subgroup and a homogeneous space: pooling
 * onto a subgroup, lifting from G/K to G, projection from G to G/K. The ops
 * run them as plain gather tables, exactly like convolution plans. */
#include <stdint.h>

#include "core/core_internal.h"
#include "gmat/plan_internal.h"
#include "gmcnn/gmat.h"

/* The steps every plan here starts with: the order check, the cosets of h on
 * `side`, and an empty plan of rows x cols over inputs of length in. On
 * success the caller fills (*p)->t and frees *cos; on failure nothing is left
 * to free. */
static gm_status homog_plan_begin(const char *what, const gm_subgroup *h, gm_coset_side side,
                                  int64_t rows, int64_t cols, int64_t in, gm_cosets **cos,
                                  gm_gmat_plan **p) {
    const gm_group *g = gm_subgroup_parent(h);
    GM_FORWARD_IF_ERROR(gm__gmat_check_order(what, g));
    GM_FORWARD_IF_ERROR(gm_cosets_new(h, side, cos));
    /* Lagrange: the callers size their tables with |G| / |H| cosets */
    GM_ASSERT(gm_cosets_count(*cos) * gm_subgroup_order(h) == gm_group_order(g));
    gm_status st = gm__gmat_plan_alloc(what, rows, cols, in, false, p);
    if (st != GM_OK) {
        gm_cosets_free(*cos);
        *cos = NULL;
    }
    return st;
}

gm_status gm_gmat_plan_pool_new(const gm_subgroup *h, gm_gmat_plan **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gmat pool plan: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(!h, GM_ERR_INVALID_ARG, "gmat pool plan: no subgroup");
    const gm_group *g = gm_subgroup_parent(h);
    const int64_t n = gm_group_order(g), m = gm_subgroup_order(h), rows = n / m;
    gm_cosets *cos = NULL;
    gm_gmat_plan *p = NULL;
    GM_FORWARD_IF_ERROR(
        homog_plan_begin("gmat pool plan", h, GM_COSET_RIGHT, rows, m, n, &cos, &p));
    /* H r_c runs over the right coset of r_c; the cosets partition G, so the
     * windows of the rows cover every element exactly once. */
    const int32_t *reps = gm_cosets_reps(cos);
    const int32_t *hel = gm_subgroup_elements(h);
    for (int64_t c = 0; c < rows; c++)
        for (int64_t j = 0; j < m; j++) p->t[c * m + j] = gm_group_mul(g, hel[j], reps[c]);
    gm_cosets_free(cos);
    GM_FORWARD_IF_ERROR(gm__gmat_plan_finish("gmat pool plan", p));
    *out = p;
    return GM_OK;
}

gm_status gm_gmat_plan_lift_new(const gm_subgroup *k, const gm_nbhd *s, gm_gmat_plan **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gmat lift plan: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(!k || !s, GM_ERR_INVALID_ARG, "gmat lift plan: no %s",
                       !k ? "subgroup" : "support");
    const gm_group *g = gm_subgroup_parent(k);
    const int64_t n = gm_group_order(g), ns = gm_nbhd_group_order(s);
    const int64_t kk = gm_nbhd_size(s);
    GM_RETURN_ERROR_IF(ns != n, GM_ERR_INVALID_ARG,
                       "gmat lift plan: the support belongs to a group of order %lld, but the "
                       "subgroup's group %s has order %lld",
                       (long long)ns, gm_group_name(g), (long long)n);
    gm_cosets *cos = NULL;
    gm_gmat_plan *p = NULL;
    GM_FORWARD_IF_ERROR(homog_plan_begin("gmat lift plan", k, GM_COSET_LEFT, kk, n,
                                         n / gm_subgroup_order(k), &cos, &p));
    const int32_t *coset = gm_cosets_index(cos);
    const int32_t *elems = gm_nbhd_elements(s);
    for (int64_t r = 0; r < kk; r++) {
        const int32_t skinv = gm_group_inv(g, elems[r]);
        int32_t *row = p->t + r * n;
        for (int64_t x = 0; x < n; x++) row[x] = coset[gm_group_mul(g, (int32_t)x, skinv)];
    }
    gm_cosets_free(cos);
    GM_FORWARD_IF_ERROR(gm__gmat_plan_finish("gmat lift plan", p));
    *out = p;
    return GM_OK;
}

gm_status gm_gmat_plan_project_new(const gm_subgroup *k, gm_gmat_plan **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gmat projection plan: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(!k, GM_ERR_INVALID_ARG, "gmat projection plan: no subgroup");
    const gm_group *g = gm_subgroup_parent(k);
    const int64_t n = gm_group_order(g), m = gm_subgroup_order(k), cols = n / m;
    gm_cosets *cos = NULL;
    gm_gmat_plan *p = NULL;
    GM_FORWARD_IF_ERROR(
        homog_plan_begin("gmat projection plan", k, GM_COSET_LEFT, m, cols, n, &cos, &p));
    /* Column c lists the coset x_c K; a g-translate of it is another whole
     * coset, so pooling over a column commutes with the action on G/K. */
    const int32_t *reps = gm_cosets_reps(cos);
    const int32_t *kel = gm_subgroup_elements(k);
    for (int64_t j = 0; j < m; j++)
        for (int64_t c = 0; c < cols; c++) p->t[j * cols + c] = gm_group_mul(g, reps[c], kel[j]);
    gm_cosets_free(cos);
    GM_FORWARD_IF_ERROR(gm__gmat_plan_finish("gmat projection plan", p));
    *out = p;
    return GM_OK;
}
