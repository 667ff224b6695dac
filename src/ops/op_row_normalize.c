/* Each row (first axis) divided by its Euclidean norm plus 1e-12:
 *   y = x / d,  d = s + 1e-12,  s = ||x||;
 *   dx = g / d - x (g . x) / (s d^2)  (the second term is 0 when s = 0). */
#include <math.h>

#include "ops_internal.h"

#define GM__ROW_NORM_EPS 1e-12

static gm_status gm__row_normalize_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad) return GM_OK;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    const double *norms = node->saved;
    const gm_real *g = node->out->grad, *px = x->data;
    gm_real *gx = x->grad;
    const int64_t rows = x->shape[0], len = x->numel / rows;
#pragma omp parallel for if (x->numel >= (1 << 15))
    for (int64_t r = 0; r < rows; r++) {
        const gm_real *xr = px + r * len, *gr = g + r * len;
        const double s = norms[r], d = s + GM__ROW_NORM_EPS;
        double dot = 0.0;
        for (int64_t j = 0; j < len; j++) dot += (double)gr[j] * (double)xr[j];
        const double k = s > 0 ? dot / (s * d * d) : 0.0;
        gm_real *gxr = gx + r * len;
        for (int64_t j = 0; j < len; j++) {
            gxr[j] += (gm_real)((double)gr[j] / d - (double)xr[j] * k);
        }
    }
    return GM_OK;
}

gm_status gm_op_row_normalize(gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "row_normalize: ctx, x and out must be non-NULL");
    *out = NULL;
    if (x->ndim < 1) return gm__shape_error("row_normalize", "x", x, "(R, ...) with ndim >= 1");
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, x->ndim, x->shape, &y));
    const int64_t rows = x->shape[0], len = x->numel / rows;
    double *norms = gm_arena_alloc(arena, (size_t)rows * sizeof(double));
    if (!norms) return gm__nomem("row_normalize: norms");
    const gm_real *px = x->data;
    gm_real *py = y->data;
#pragma omp parallel for if (x->numel >= (1 << 15))
    for (int64_t r = 0; r < rows; r++) {
        const gm_real *xr = px + r * len;
        double sq = 0.0;
        for (int64_t j = 0; j < len; j++) sq += (double)xr[j] * (double)xr[j];
        const double s = sqrt(sq), inv = 1.0 / (s + GM__ROW_NORM_EPS);
        norms[r] = s;
        gm_real *yr = py + r * len;
        for (int64_t j = 0; j < len; j++) yr[j] = (gm_real)((double)xr[j] * inv);
    }
    gm_tensor *in[1] = {x};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_ROW_NORMALIZE, gm__row_normalize_backward, y,
                                          1, in, norms));
    }
    *out = y;
    return GM_OK;
}
