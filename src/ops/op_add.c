/* out = a + b. */
#include "ops_internal.h"

static gm_status gm__add_backward(gm_tape_node *node) {
    const gm_real *g = node->out->grad;
    int64_t n = node->out->numel;
    /* a and b may be the same tensor (x + x): each pass adds its share. */
    for (int i = 0; i < 2; i++) {
        gm_tensor *x = node->in[i];
        if (!x->requires_grad || gm_tape_node_move_grad(node, x)) continue;
        bool fresh = false;
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
        GM__GRAD_STORE(fresh, n, x->grad, j, g[j]);
    }
    return GM_OK;
}

gm_status gm_op_add(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !a || !b || !out, GM_ERR_INVALID_ARG,
                       "add: ctx, a, b and out must be non-NULL");
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm__check_same_shape("add", "b", b, a));
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), a->ndim, a->shape, &y));
    const gm_real *pa = a->data, *pb = b->data;
    gm_real *py = y->data;
    int64_t n = y->numel;
#pragma omp parallel for if (n >= (1 << 16))
    for (int64_t j = 0; j < n; j++) py[j] = pa[j] + pb[j];
    gm_tensor *in[2] = {a, b};
    if (gm_ctx_needs_grad(ctx, 2, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_ADD, gm__add_backward, y, 2, in, NULL));
    }
    *out = y;
    return GM_OK;
}
