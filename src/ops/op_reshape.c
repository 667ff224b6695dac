/* The same values under another shape. A copy rather than a view, so that
 * results never alias inputs and every tensor owns its grad. */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static gm_status gm__reshape_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad || gm_tape_node_move_grad(node, x)) return GM_OK;
    bool fresh = false;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
    const gm_real *g = node->out->grad;
    GM__GRAD_STORE(fresh, x->numel, x->grad, j, g[j]);
    return GM_OK;
}

gm_status gm_op_reshape(gm_ctx *ctx, gm_tensor *x, int ndim, const int64_t *shape,
                        gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "reshape: ctx, x and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(ndim < 0 || ndim > GM_TENSOR_MAX_DIMS || (ndim > 0 && !shape),
                       GM_ERR_INVALID_ARG, "reshape: ndim %d is outside 0..%d", ndim,
                       GM_TENSOR_MAX_DIMS);
    char want[160];
    int len = snprintf(want, sizeof want, "%lld elements to fit (", (long long)x->numel);
    int64_t numel = 1;
    bool valid = true;
    for (int i = 0; i < ndim; i++) {
        if (len > 0 && (size_t)len < sizeof want) {
            len += snprintf(want + len, sizeof want - (size_t)len, i ? ", %lld" : "%lld",
                            (long long)shape[i]);
        }
        if (shape[i] < 1 || gm_mul_overflow_i64(numel, shape[i], &numel) != 0) valid = false;
    }
    if (len > 0 && (size_t)len < sizeof want) snprintf(want + len, sizeof want - (size_t)len, ")");
    if (!valid || numel != x->numel) return gm__shape_error("reshape", "x", x, want);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), ndim, shape, &y));
    memcpy(y->data, x->data, (size_t)x->numel * sizeof(gm_real));
    gm_tensor *in[1] = {x};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_RESHAPE, gm__reshape_backward, y, 1, in, NULL));
    }
    *out = y;
    return GM_OK;
}
