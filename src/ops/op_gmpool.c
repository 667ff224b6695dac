/* gmpool: y[b,c,j] = max or mean over r of x[b,c,T[r][j]], through a pool
 * plan (windows H r_c, output on H) or a projection plan (windows x_c K,
 * output on G/K). The optimized kernel walks the table row by row, so each
 * pass streams one index row and the output plane; the backward scatters
 * within the plane of one (b, c), which one thread owns. */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_gm.h"
#include "ops/ops_internal.h"

#define OP "gmpool"

/* A NaN wins so that it reaches the loss instead of being hidden; otherwise
 * only a strictly larger value moves the winner, keeping the first maximum. */
static inline bool beats(gm_real v, gm_real best) { return v > best || (v != v && best == best); }

/* One window row r > 0 of the max: y = the winner, arg = its row, without
 * branches (on random data a branch mispredicts about every other time). */
static void pool_max_row(int64_t cols, int32_t r, const int32_t *restrict tr,
                         const gm_real *restrict xp, gm_real *restrict yp,
                         int32_t *restrict ap) {
    if (ap) {
        for (int64_t j = 0; j < cols; j++) {
            const gm_real v = xp[tr[j]], best = yp[j];
            const bool win = v > best || (v != v && best == best);
            yp[j] = win ? v : best;
            ap[j] = win ? r : ap[j];
        }
    } else {
        for (int64_t j = 0; j < cols; j++) {
            const gm_real v = xp[tr[j]], best = yp[j];
            const bool win = v > best || (v != v && best == best);
            yp[j] = win ? v : best;
        }
    }
}

void gm__gmpool_forward(const gm__gm_table *tab, int64_t planes, gm_reduce mode, int nthreads,
                        const gm_real *x, gm_real *y, int32_t *arg) {
    const int64_t rows = tab->rows, cols = tab->cols, n_in = tab->n_in;
    const gm_real inv = (gm_real)(1.0 / (double)rows);
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int64_t p = 0; p < planes; p++) {
        const gm_real *xp = x + p * n_in;
        gm_real *yp = y + p * cols;
        int32_t *ap = arg ? arg + p * cols : NULL;
        const int32_t *t0 = tab->t;
        for (int64_t j = 0; j < cols; j++) yp[j] = xp[t0[j]];
        if (mode == GM_REDUCE_MAX) {
            if (ap) memset(ap, 0, (size_t)cols * sizeof *ap);
            for (int64_t r = 1; r < rows; r++)
                pool_max_row(cols, (int32_t)r, tab->t + r * cols, xp, yp, ap);
        } else {
            for (int64_t r = 1; r < rows; r++) {
                const int32_t *tr = tab->t + r * cols;
                for (int64_t j = 0; j < cols; j++) yp[j] += xp[tr[j]];
            }
            for (int64_t j = 0; j < cols; j++) yp[j] *= inv;
        }
    }
}

void gm__gmpool_backward(const gm__gm_table *tab, int64_t planes, gm_reduce mode, int nthreads,
                         const int32_t *arg, const gm_real *dy, gm_real *dx) {
    const int64_t rows = tab->rows, cols = tab->cols, n_in = tab->n_in;
    const gm_real inv = (gm_real)(1.0 / (double)rows);
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int64_t p = 0; p < planes; p++) {
        const gm_real *dyp = dy + p * cols;
        gm_real *dxp = dx + p * n_in;
        if (mode == GM_REDUCE_MAX) {
            const int32_t *ap = arg + p * cols;
            for (int64_t j = 0; j < cols; j++) dxp[tab->t[ap[j] * cols + j]] += dyp[j];
        } else {
            for (int64_t r = 0; r < rows; r++) {
                const int32_t *tr = tab->t + r * cols;
                for (int64_t j = 0; j < cols; j++) dxp[tr[j]] += dyp[j] * inv;
            }
        }
    }
}

void gm__gmpool_forward_ref(const gm__gm_table *tab, int64_t planes, gm_reduce mode,
                            const gm_real *x, gm_real *y, int32_t *arg) {
    const int64_t rows = tab->rows, cols = tab->cols, n_in = tab->n_in;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t j = 0; j < cols; j++) {
            const gm_real *xp = x + p * n_in;
            if (mode == GM_REDUCE_MAX) {
                int32_t best = 0;
                for (int32_t r = 1; r < rows; r++)
                    if (beats(xp[tab->t[r * cols + j]], xp[tab->t[best * cols + j]])) best = r;
                y[p * cols + j] = xp[tab->t[best * cols + j]];
                if (arg) arg[p * cols + j] = best;
            } else {
                double s = 0;
                for (int64_t r = 0; r < rows; r++) s += (double)xp[tab->t[r * cols + j]];
                y[p * cols + j] = (gm_real)(s / (double)rows);
            }
        }
}

void gm__gmpool_backward_ref(const gm__gm_table *tab, int64_t planes, gm_reduce mode,
                             const int32_t *arg, const gm_real *dy, gm_real *dx) {
    const int64_t rows = tab->rows, cols = tab->cols, n_in = tab->n_in;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t j = 0; j < cols; j++) {
            const gm_real d = dy[p * cols + j];
            for (int64_t r = 0; r < rows; r++) {
                const int32_t m = tab->t[r * cols + j];
                if (mode == GM_REDUCE_MEAN)
                    dx[p * n_in + m] += d / (gm_real)rows;
                else if (r == arg[p * cols + j])
                    dx[p * n_in + m] += d;
            }
        }
}

/* --- the op --------------------------------------------------------------- */

typedef struct gmpool_saved {
    const gm_gmat_plan *plan;
    gm_reduce mode;
    int32_t *arg; /* (B*C*cols), max mode: window row of each maximum */
} gmpool_saved;

static gm_status gmpool_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0];
    if (!y->grad || !x->requires_grad) return GM_OK;
    const gmpool_saved *sv = node->saved;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    const gm__gm_table tab = gm__gm_table_of(sv->plan);
    const int64_t planes = x->shape[0] * x->shape[1];
    const int nt = gm__gm_threads(planes * tab.rows * tab.cols);
    gm__gmpool_backward(&tab, planes, sv->mode, nt, sv->arg, y->grad, x->grad);
    return GM_OK;
}

gm_status gm_op_gmpool(gm_ctx *ctx, const gm_gmat_plan *plan, gm_tensor *x, gm_reduce mode,
                       gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !plan || !x, GM_ERR_INVALID_ARG,
                       OP ": ctx, plan and x must be non-NULL");
    GM_RETURN_ERROR_IF(mode != GM_REDUCE_MAX && mode != GM_REDUCE_MEAN, GM_ERR_INVALID_ARG,
                       OP ": mode %d is neither GM_REDUCE_MAX nor GM_REDUCE_MEAN", (int)mode);
    const gm__gm_table tab = gm__gm_table_of(plan);
    if (x->ndim != 3 || x->shape[2] != tab.n_in) {
        char expect[96];
        snprintf(expect, sizeof expect, "(B, C, %lld) for a plan of input size %lld",
                 (long long)tab.n_in, (long long)tab.n_in);
        return gm__shape_error(OP, "x", x, expect);
    }
    const int64_t planes = x->shape[0] * x->shape[1];

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(
        arena, 3, (int64_t[]){x->shape[0], x->shape[1], tab.cols}, &y));
    gm_tensor *in[1] = {x};
    const bool record = gm_ctx_needs_grad(ctx, 1, in);
    gmpool_saved *sv = NULL;
    if (record) {
        sv = gm_arena_alloc(arena, sizeof *sv);
        if (!sv) return gm__nomem(OP ": saved state");
        sv->plan = plan;
        sv->mode = mode;
        sv->arg = NULL;
        if (mode == GM_REDUCE_MAX) {
            sv->arg = gm_arena_alloc(arena, (size_t)(planes * tab.cols) * sizeof *sv->arg);
            if (!sv->arg) return gm__nomem(OP ": argmax table");
        }
    }
    const int nt = gm__gm_threads(planes * tab.rows * tab.cols);
    gm__gmpool_forward(&tab, planes, mode, nt, x->data, y->data, sv ? sv->arg : NULL);
    if (record)
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_GMPOOL, gmpool_backward, y, 1, in, sv));
    *out = y;
    return GM_OK;
}
