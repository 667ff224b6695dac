/* global_pool: out[b,c] = max or mean over g of x[b,c,g]. Both are invariant
 * under any permutation of the last axis, hence G-invariant. */
#include <stdio.h>

#include "ops/ops_internal.h"

#define OP "global_pool"

typedef struct global_pool_saved {
    gm_reduce mode;
    int64_t *argmax; /* (B*C), max mode only: first maximal position of each row */
} global_pool_saved;

/* A NaN wins so that it reaches the loss instead of being hidden; otherwise
 * only a strictly larger value moves the winner, keeping the first maximum. */
static inline bool beats(gm_real v, gm_real best) {
    return v > best || (v != v && best == best);
}

static gm_status global_pool_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0];
    if (!y->grad || !x->requires_grad) return GM_OK;
    const global_pool_saved *sv = node->saved;
    const int64_t rows = x->shape[0] * x->shape[1], n = x->shape[2];
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    const gm_real *dy = y->grad;
    gm_real *dx = x->grad;
    if (sv->mode == GM_REDUCE_MAX) {
        for (int64_t r = 0; r < rows; r++) dx[r * n + sv->argmax[r]] += dy[r];
    } else {
        const gm_real inv = (gm_real)(1.0 / (double)n);
        for (int64_t r = 0; r < rows; r++) {
            const gm_real d = dy[r] * inv;
            gm_real *row = dx + r * n;
            for (int64_t g = 0; g < n; g++) row[g] += d;
        }
    }
    return GM_OK;
}

gm_status gm_op_global_pool(gm_ctx *ctx, gm_tensor *x, gm_reduce mode, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !x, GM_ERR_INVALID_ARG, OP ": ctx and x must be non-NULL");
    GM_RETURN_ERROR_IF(mode != GM_REDUCE_MAX && mode != GM_REDUCE_MEAN, GM_ERR_INVALID_ARG,
                       OP ": mode %d is neither GM_REDUCE_MAX nor GM_REDUCE_MEAN", (int)mode);
    if (x->ndim != 3) return gm__shape_error(OP, "x", x, "(B, C, n)");
    const int64_t nb = x->shape[0], nc = x->shape[1], n = x->shape[2], rows = nb * nc;

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new2(arena, nb, nc, &y));
    gm_tensor *in[1] = {x};
    const bool record = gm_ctx_needs_grad(ctx, 1, in);
    global_pool_saved *sv = NULL;
    if (record) {
        sv = gm_arena_alloc(arena, sizeof *sv);
        if (!sv) return gm__nomem(OP ": saved state");
        sv->mode = mode;
        sv->argmax = NULL;
        if (mode == GM_REDUCE_MAX) {
            sv->argmax = gm_arena_alloc(arena, (size_t)rows * sizeof *sv->argmax);
            if (!sv->argmax) return gm__nomem(OP ": argmax table");
        }
    }

    const gm_real *xd = x->data;
    gm_real *yd = y->data;
    int64_t *argmax = sv ? sv->argmax : NULL;
    if (mode == GM_REDUCE_MAX) {
#pragma omp parallel for schedule(static) if (rows * n >= ((int64_t)1 << 18))
        for (int64_t r = 0; r < rows; r++) {
            const gm_real *row = xd + r * n;
            int64_t best = 0;
            for (int64_t g = 1; g < n; g++)
                if (beats(row[g], row[best])) best = g;
            yd[r] = row[best];
            if (argmax) argmax[r] = best;
        }
    } else {
        /* accumulate in double so that long rows lose no precision in float */
#pragma omp parallel for schedule(static) if (rows * n >= ((int64_t)1 << 18))
        for (int64_t r = 0; r < rows; r++) {
            const gm_real *row = xd + r * n;
            double s = 0.0;
            for (int64_t g = 0; g < n; g++) s += (double)row[g];
            yd[r] = (gm_real)(s / (double)n);
        }
    }

    if (record)
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_GLOBAL_POOL, global_pool_backward, y, 1, in, sv));
    *out = y;
    return GM_OK;
}
