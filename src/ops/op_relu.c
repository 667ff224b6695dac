/* out = max(x, 0). */
#include "ops_internal.h"

static gm_status gm__relu_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad) return GM_OK;
    bool fresh = false;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
    const gm_real *g = node->out->grad, *px = x->data;
    /* The kink at 0 takes the subgradient 0. */
    GM__GRAD_STORE(fresh, x->numel, x->grad, j, px[j] > 0 ? g[j] : (gm_real)0);
    return GM_OK;
}

gm_status gm_op_relu(gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "relu: ctx, x and out must be non-NULL");
    *out = NULL;
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), x->ndim, x->shape, &y));
    const gm_real *px = x->data;
    gm_real *py = y->data;
    int64_t n = y->numel;
    /* Written so that a NaN input stays NaN instead of becoming 0. */
#pragma omp parallel for if (n >= (1 << 16))
    for (int64_t j = 0; j < n; j++) py[j] = px[j] < 0 ? (gm_real)0 : px[j];
    gm_tensor *in[1] = {x};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_RELU, gm__relu_backward, y, 1, in, NULL));
    }
    *out = y;
    return GM_OK;
}
