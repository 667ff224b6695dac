/* Channel slice: x (B, C, ...) -> (B, count, ...) = channels [start, start + count). */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static gm_status gm__slice_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad) return GM_OK;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    const gm_tensor *y = node->out;
    const int64_t start = *(const int64_t *)node->saved;
    const int64_t nb = x->shape[0], inner = x->numel / (nb * x->shape[1]);
    const int64_t xrow = x->numel / nb, yrow = y->numel / nb;
    for (int64_t b = 0; b < nb; b++) {
        const gm_real *g = y->grad + b * yrow;
        gm_real *gx = x->grad + b * xrow + start * inner;
        for (int64_t j = 0; j < yrow; j++) gx[j] += g[j];
    }
    return GM_OK;
}

gm_status gm_op_slice(gm_ctx *ctx, gm_tensor *x, int64_t start, int64_t count, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "slice: ctx, x and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(start < 0 || count < 1, GM_ERR_INVALID_ARG,
                       "slice: channels [%lld, %lld + %lld) is not a non-empty range",
                       (long long)start, (long long)start, (long long)count);
    if (x->ndim < 2) return gm__shape_error("slice", "x", x, "(B, C, ...)");
    if (start > x->shape[1] - count) {
        char want[96];
        snprintf(want, sizeof want, "at least %lld channels for [%lld, %lld)",
                 (long long)(start + count), (long long)start, (long long)(start + count));
        return gm__shape_error("slice", "x", x, want);
    }
    int64_t shape[GM_TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[1] = count;
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, x->ndim, shape, &y));
    const int64_t nb = x->shape[0], inner = x->numel / (nb * x->shape[1]);
    const int64_t xrow = x->numel / nb, yrow = y->numel / nb;
    for (int64_t b = 0; b < nb; b++) {
        memcpy(y->data + b * yrow, x->data + b * xrow + start * inner,
               (size_t)yrow * sizeof(gm_real));
    }
    gm_tensor *in[1] = {x};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        int64_t *saved = gm_arena_alloc(arena, sizeof *saved);
        if (!saved) return gm__nomem("slice: saved start");
        *saved = start;
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_SLICE, gm__slice_backward, y, 1, in, saved));
    }
    *out = y;
    return GM_OK;
}
