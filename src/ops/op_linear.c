/* linear: out (B, O) = x (B, I) w (O, I)^T + bias (O). */

#include "ops/ops_internal.h"

#define OP "linear"

static gm_status linear_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0], *w = node->in[1], *bias = node->in[2];
    if (!y->grad) return GM_OK;
    const int64_t nb = x->shape[0], ni = x->shape[1], no = w->shape[0];
    const gm_real *dy = y->grad;

    if (x->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
        /* dx += dy w */
        gm__gemm(false, false, nb, ni, no, 1, dy, no, w->data, ni, 1, x->grad, ni);
    }
    if (w->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(w));
        /* dw += dy^T x */
        gm__gemm(true, false, no, ni, nb, 1, dy, no, x->data, ni, 1, w->grad, ni);
    }
    if (bias && bias->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(bias));
        for (int64_t b = 0; b < nb; b++)
            for (int64_t o = 0; o < no; o++) bias->grad[o] += dy[b * no + o];
    }
    return GM_OK;
}

gm_status gm_op_linear(gm_ctx *ctx, gm_tensor *x, gm_tensor *w, gm_tensor *bias,
                       gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !x || !w, GM_ERR_INVALID_ARG, OP ": ctx, x and w must be non-NULL");
    if (x->ndim != 2) return gm__shape_error(OP, "x", x, "(B, I)");
    const int64_t nb = x->shape[0], ni = x->shape[1];
    GM_FORWARD_IF_ERROR(gm__check_weight_2d(OP, w, ni));
    const int64_t no = w->shape[0];
    GM_FORWARD_IF_ERROR(gm__check_bias(OP, bias, no));
    /* cblas takes int dimensions */
    GM_RETURN_ERROR_IF(nb > INT32_MAX || ni > INT32_MAX || no > INT32_MAX, GM_ERR_TOO_LARGE,
                       OP ": a dimension exceeds the BLAS limit of %d", INT32_MAX);

    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), 2, (int64_t[]){nb, no}, &y));
    if (bias)
        for (int64_t b = 0; b < nb; b++)
            for (int64_t o = 0; o < no; o++) y->data[b * no + o] = bias->data[o];
    gm__gemm(false, true, nb, no, ni, 1, x->data, ni, w->data, ni, bias ? 1 : 0, y->data, no);

    gm_tensor *in[3] = {x, w, bias};
    if (gm_ctx_needs_grad(ctx, 3, in))
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_LINEAR, linear_backward, y, 3, in, NULL));
    *out = y;
    return GM_OK;
}
