/* out = mean((pred - target)^2); the target is data, not a parameter. */
#include "ops_internal.h"

static gm_status gm__mse_backward(gm_tape_node *node) {
    gm_tensor *pred = node->in[0];
    const gm_tensor *target = node->in[1];
    if (!pred->requires_grad) return GM_OK;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(pred));
    int64_t n = pred->numel;
    const gm_real k = (gm_real)(2.0 / (double)n) * node->out->grad[0];
    const gm_real *p = pred->data, *t = target->data;
    gm_real *gp = pred->grad;
#pragma omp parallel for if (n >= (1 << 16))
    for (int64_t j = 0; j < n; j++) gp[j] += k * (p[j] - t[j]);
    return GM_OK;
}

gm_status gm_op_mse(gm_ctx *ctx, gm_tensor *pred, gm_tensor *target, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !pred || !target || !out, GM_ERR_INVALID_ARG,
                       "mse: ctx, pred, target and out must be non-NULL");
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm__check_same_shape("mse", "target", target, pred));
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), 0, NULL, &y));
    const gm_real *p = pred->data, *t = target->data;
    int64_t n = pred->numel;
    /* Accumulate in double: the loss is a long sum and is what gets logged. */
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (n >= (1 << 16))
    for (int64_t j = 0; j < n; j++) {
        double d = (double)p[j] - (double)t[j];
        acc += d * d;
    }
    y->data[0] = (gm_real)(acc / (double)n);
    /* Only pred decides whether to record: the target never gets a gradient. */
    gm_tensor *in[2] = {pred, target};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_MSE, gm__mse_backward, y, 2, in, NULL));
    }
    *out = y;
    return GM_OK;
}
