/* Channel concatenation: a (B, Ca, ...), b (B, Cb, ...) -> (B, Ca + Cb, ...),
 * a's channels first. */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static gm_status gm__concat_backward(gm_tape_node *node) {
    const gm_tensor *y = node->out;
    const int64_t nb = y->shape[0];
    const int64_t row = y->numel / nb; /* (Ca + Cb) * inner */
    int64_t offset = 0;
    /* a and b may be the same tensor; each pass adds its own half. */
    for (int i = 0; i < 2; i++) {
        gm_tensor *x = node->in[i];
        const int64_t part = x->numel / nb;
        if (x->requires_grad) {
            GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
            for (int64_t b = 0; b < nb; b++) {
                const gm_real *g = y->grad + b * row + offset;
                gm_real *gx = x->grad + b * part;
                for (int64_t j = 0; j < part; j++) gx[j] += g[j];
            }
        }
        offset += part;
    }
    return GM_OK;
}

gm_status gm_op_concat(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !a || !b || !out, GM_ERR_INVALID_ARG,
                       "concat: ctx, a, b and out must be non-NULL");
    *out = NULL;
    if (a->ndim < 2) return gm__shape_error("concat", "a", a, "(B, C, ...)");
    bool match = b->ndim == a->ndim && b->shape[0] == a->shape[0];
    for (int i = 2; match && i < a->ndim; i++) match = b->shape[i] == a->shape[i];
    if (!match) {
        char as[96], want[160];
        gm_tensor_shape_str(a, as, sizeof as);
        snprintf(want, sizeof want, "a's shape %s except in axis 1", as);
        return gm__shape_error("concat", "b", b, want);
    }
    int64_t shape[GM_TENSOR_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[1] = a->shape[1] + b->shape[1];
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), a->ndim, shape, &y));
    const int64_t nb = a->shape[0], pa = a->numel / nb, pb = b->numel / nb;
    for (int64_t i = 0; i < nb; i++) {
        memcpy(y->data + i * (pa + pb), a->data + i * pa, (size_t)pa * sizeof(gm_real));
        memcpy(y->data + i * (pa + pb) + pa, b->data + i * pb, (size_t)pb * sizeof(gm_real));
    }
    gm_tensor *in[2] = {a, b};
    if (gm_ctx_needs_grad(ctx, 2, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_CONCAT, gm__concat_backward, y, 2, in, NULL));
    }
    *out = y;
    return GM_OK;
}
