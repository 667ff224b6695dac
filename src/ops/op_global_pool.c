/* global_pool: out[b,c] = max or mean over g of x[b,c,g]. Both are invariant
 * under any permutation of the last axis, hence G-invariant. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "ops/ops_internal.h"

#define OP "global_pool"

typedef struct global_pool_saved {
    gm_reduce mode;
    int64_t *argmax; /* (B*C), max mode only: first maximal position of each row */
} global_pool_saved;

#define LANES 16

/* The position of the maximum of row[0..n): a NaN wins so that it reaches
 * the loss instead of being hidden (the first NaN); otherwise the first
 * maximal element, i.e. the smallest position holding a value == the
 * maximum. Each of LANES lanes keeps its maximum and the position where it
 * first occurred (vectorizable); the lanes are then combined by value and
 * position. NaNs only raise a flag; the first one is then searched for. */
static int64_t row_argmax(int64_t n, const gm_real *restrict row) {
    gm_real m[LANES];
    int32_t at[LANES], nan[LANES];
    for (int l = 0; l < LANES; l++) {
        m[l] = -INFINITY;
        at[l] = INT32_MAX;
        nan[l] = 0;
    }
    int64_t g = 0;
    for (; g + LANES <= n; g += LANES)
        for (int l = 0; l < LANES; l++) {
            const gm_real v = row[g + l];
            /* bitwise, not short-circuit: no branch in the lane loop */
            const bool up = (v > m[l]) | ((v == m[l]) & (at[l] == INT32_MAX));
            m[l] = up ? v : m[l];
            at[l] = up ? (int32_t)(g + l) : at[l];
            nan[l] |= v != v;
        }
    gm_real best = m[0];
    int64_t arg = at[0];
    int any_nan = nan[0];
    for (int l = 1; l < LANES; l++) {
        any_nan |= nan[l];
        if (m[l] > best || (m[l] == best && at[l] < arg)) {
            best = m[l];
            arg = at[l];
        }
    }
    for (; g < n; g++) {
        const gm_real v = row[g];
        any_nan |= v != v;
        if (v > best || (v == best && g < arg)) {
            best = v;
            arg = g;
        }
    }
    if (any_nan) {
        for (g = 0; g < n; g++)
            if (row[g] != row[g]) return g;
    }
    return arg;
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
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 2, (int64_t[]){nb, nc}, &y));
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
            const int64_t best = row_argmax(n, row);
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
