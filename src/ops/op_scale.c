/* out = alpha * x. */
#include "ops_internal.h"

static gm_status gm__scale_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad) return GM_OK;
    bool fresh = false;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
    const gm_real alpha = *(const gm_real *)node->saved;
    const gm_real *g = node->out->grad;
    GM__GRAD_STORE(fresh, x->numel, x->grad, j, alpha * g[j]);
    return GM_OK;
}

gm_status gm_op_scale(gm_ctx *ctx, gm_tensor *x, double alpha, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "scale: ctx, x and out must be non-NULL");
    *out = NULL;
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), x->ndim, x->shape, &y));
    const gm_real a = (gm_real)alpha;
    const gm_real *px = x->data;
    gm_real *py = y->data;
    int64_t n = y->numel;
#pragma omp parallel for if (n >= (1 << 16))
    for (int64_t j = 0; j < n; j++) py[j] = a * px[j];
    gm_tensor *in[1] = {x};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        gm_real *saved = gm_arena_alloc(gm_ctx_arena(ctx), sizeof *saved);
        if (!saved) return gm__nomem("scale: saved factor");
        *saved = a;
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_SCALE, gm__scale_backward, y, 1, in, saved));
    }
    *out = y;
    return GM_OK;
}
