/* maxpool2d: out[b,c,y,x] = max over the 2x2 window in[b,c,2y..2y+1, 2x..2x+1]. */
#include <inttypes.h>
#include <stdio.h>

#include "ops/ops_internal.h"

#define OP "maxpool2d"

/* Winner of each window as 2*dy + dx, so the backward pass touches only the
 * inputs that won, without re-reading x. */
typedef struct maxpool2d_saved {
    uint8_t *arg;
} maxpool2d_saved;

static gm_status maxpool2d_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0];
    if (!y->grad || !x->requires_grad) return GM_OK;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    const uint8_t *arg = ((const maxpool2d_saved *)node->saved)->arg;
    const int64_t planes = x->shape[0] * x->shape[1], w = x->shape[3];
    const int64_t ho = y->shape[2], wo = y->shape[3];
    const gm_real *dy = y->grad;
    gm_real *dx = x->grad;
#pragma omp parallel for schedule(static) if (planes * ho * wo >= ((int64_t)1 << 16))
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < ho; oy++)
            for (int64_t ox = 0; ox < wo; ox++) {
                const int64_t o = (pl * ho + oy) * wo + ox;
                const int64_t iy = 2 * oy + (arg[o] >> 1), ix = 2 * ox + (arg[o] & 1);
                dx[(pl * 2 * ho + iy) * w + ix] += dy[o];
            }
    return GM_OK;
}

gm_status gm_op_maxpool2d(gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !x, GM_ERR_INVALID_ARG, OP ": ctx and x must be non-NULL");
    if (x->ndim != 4 || x->shape[2] % 2 != 0 || x->shape[3] % 2 != 0)
        return gm__shape_error(OP, "x", x, "(B, C, H, W) with H and W even");
    const int64_t nb = x->shape[0], nc = x->shape[1], h = x->shape[2], w = x->shape[3];
    const int64_t planes = nb * nc, ho = h / 2, wo = w / 2;

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 4, (int64_t[]){nb, nc, ho, wo}, &y));
    gm_tensor *in[1] = {x};
    const bool record = gm_ctx_needs_grad(ctx, 1, in);
    maxpool2d_saved *sv = NULL;
    if (record) {
        sv = gm_arena_alloc(arena, sizeof *sv);
        if (!sv) return gm__nomem(OP ": saved state");
        sv->arg = gm_arena_alloc(arena, (size_t)y->numel);
        if (!sv->arg) return gm__nomem(OP ": argmax table");
    }

    const gm_real *xd = x->data;
    gm_real *yd = y->data;
    uint8_t *arg = sv ? sv->arg : NULL;
#pragma omp parallel for schedule(static) if (planes * ho * wo >= ((int64_t)1 << 16))
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < ho; oy++) {
            const gm_real *r0 = xd + (pl * h + 2 * oy) * w, *r1 = r0 + w;
            for (int64_t ox = 0; ox < wo; ox++) {
                const gm_real v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                /* first maximum in row-major window order; a NaN wins so it
                 * propagates to the loss */
                int best = 0;
                for (int q = 1; q < 4; q++)
                    if (v[q] > v[best] || (v[q] != v[q] && v[best] == v[best])) best = q;
                const int64_t o = (pl * ho + oy) * wo + ox;
                yd[o] = v[best];
                if (arg) arg[o] = (uint8_t)best;
            }
        }

    if (record)
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_MAXPOOL2D, maxpool2d_backward, y, 1, in, sv));
    *out = y;
    return GM_OK;
}
