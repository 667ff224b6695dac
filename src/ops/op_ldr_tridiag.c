/* ldr_tridiag: the Krylov-factored LDR matrix with tridiagonal-plus-corner
 * operators, M (n, n) = sum_i K(A, g_i) K(B^T, h_i)^T.
 *
 * With P the (r n, n) array whose row i n + k is A^k g_i and Q likewise with
 * (B^T)^k h_i, M = P^T Q: the Krylov vectors cost O(r n^2) (each step is a
 * tridiagonal product) and M one GEMM of O(r n^3), as the slow path of the
 * authors' implementation does; P and Q are kept for the backward pass.
 * Backward: dP = Q dM^T and dQ = P dM (two GEMMs), then each Krylov
 * recurrence v_k = A v_(k-1) is run backwards,
 *   lam_(n-1) = dv_(n-1),  lam_(k-1) = dv_(k-1) + A^T lam_k,  dg_i = lam_0,
 *   dA += lam_k v_(k-1)^T on A's pattern,
 * and likewise w_k = B^T w_(k-1) with dB += w_(k-1) mu_k^T. The ranks are
 * independent and run in parallel; each writes its own operator gradient,
 * summed in rank order afterwards, so results do not depend on the thread
 * count. */

#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

#define OP "ldr_tridiag"

/* Ranks run in parallel when each has at least this many multiply-adds of
 * Krylov recurrence (3 n^2 per side). */
#define GM__LDR_PAR_MIN (1 << 14)

typedef struct gm__ldr_tridiag_saved {
    gm_real *p, *q; /* (r n, n) each */
} gm__ldr_tridiag_saved;

static inline int64_t prv(int64_t i, int64_t n) { return i == 0 ? n - 1 : i - 1; }
static inline int64_t nxt(int64_t i, int64_t n) { return i == n - 1 ? 0 : i + 1; }

/* y = A x for op = (sub, diag, sup). */
static void tri_mul(int64_t n, const gm_real *op, const gm_real *restrict x, gm_real *restrict y) {
    const gm_real *sub = op, *dg = op + n, *sup = op + 2 * n;
    for (int64_t i = 0; i < n; i++)
        y[i] = sub[i] * x[prv(i, n)] + dg[i] * x[i] + sup[i] * x[nxt(i, n)];
}

/* y (+)= A^T x: y[j] = sub[j+1] x[j+1] + diag[j] x[j] + sup[j-1] x[j-1]. */
static void tri_mul_t(int64_t n, const gm_real *op, const gm_real *restrict x, gm_real *restrict y,
                      bool add) {
    const gm_real *sub = op, *dg = op + n, *sup = op + 2 * n;
    for (int64_t j = 0; j < n; j++) {
        const int64_t jp = nxt(j, n), jm = prv(j, n);
        const gm_real v = sub[jp] * x[jp] + dg[j] * x[j] + sup[jm] * x[jm];
        y[j] = add ? y[j] + v : v;
    }
}

/* rows[k] = Op^k v for k < n, with Op = A (transpose false) or A^T. */
static void krylov_rows(int64_t n, const gm_real *op, bool transpose, const gm_real *v,
                        gm_real *rows) {
    memcpy(rows, v, (size_t)n * sizeof *rows);
    for (int64_t k = 1; k < n; k++) {
        if (transpose)
            tri_mul_t(n, op, rows + (k - 1) * n, rows + k * n, false);
        else
            tri_mul(n, op, rows + (k - 1) * n, rows + k * n);
    }
}

/* The reverse sweep of one Krylov recurrence. d holds dv_k in its rows and
 * ends with lam_k (row 0: the gradient of the start vector); v holds the
 * forward rows; dop (3 n doubles) receives the operator's gradient. For
 * transpose false the recurrence is v_k = A v_(k-1) (dA = lam v^T on the
 * pattern), for transpose true v_k = A^T v_(k-1) (dA = v lam^T). */
static void krylov_reverse(int64_t n, const gm_real *op, bool transpose, const gm_real *v,
                           gm_real *d, double *dop) {
    double *dsub = dop, *ddg = dop + n, *dsup = dop + 2 * n;
    for (int64_t k = n - 1; k >= 1; k--) {
        const gm_real *lam = d + k * n, *prev = v + (k - 1) * n;
        gm_real *dprev = d + (k - 1) * n;
        if (!transpose) {
            for (int64_t i = 0; i < n; i++) {
                dsub[i] += (double)lam[i] * prev[prv(i, n)];
                ddg[i] += (double)lam[i] * prev[i];
                dsup[i] += (double)lam[i] * prev[nxt(i, n)];
            }
            tri_mul_t(n, op, lam, dprev, true);
        } else {
            /* lam^T A^T prev = prev^T A lam */
            for (int64_t i = 0; i < n; i++) {
                dsub[i] += (double)prev[i] * lam[prv(i, n)];
                ddg[i] += (double)prev[i] * lam[i];
                dsup[i] += (double)prev[i] * lam[nxt(i, n)];
            }
            const gm_real *sub = op, *dg = op + n, *sup = op + 2 * n;
            for (int64_t i = 0; i < n; i++)
                dprev[i] += sub[i] * lam[prv(i, n)] + dg[i] * lam[i] + sup[i] * lam[nxt(i, n)];
        }
    }
}

/* grad (+)= the sum over ranks of the per-rank operator gradients. */
static void add_op_grad(gm_real *grad, bool fresh, const double *per_rank, int64_t r, int64_t n) {
    for (int64_t j = 0; j < 3 * n; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < r; i++) s += per_rank[i * 3 * n + j];
        grad[j] = fresh ? (gm_real)s : grad[j] + (gm_real)s;
    }
}

/* One side (A with g, or B with h) of the backward pass: the rows of d are
 * the Krylov vectors' gradients on entry. */
static gm_status side_backward(gm_tensor *op, gm_tensor *start, bool transpose, const gm_real *v,
                               gm_real *d, int64_t r, int64_t n, gm_arena *arena) {
    const size_t dbytes = (size_t)(3 * n * r) * sizeof(double);
    double *dop = gm_arena_alloc(arena, dbytes);
    if (!dop) return gm__nomem(OP " backward");
    memset(dop, 0, dbytes);
    const int64_t nn = n * n;
#pragma omp parallel for if (r > 1 && 3 * nn >= GM__LDR_PAR_MIN)
    for (int64_t i = 0; i < r; i++)
        krylov_reverse(n, op->data, transpose, v + i * nn, d + i * nn, dop + i * 3 * n);
    bool fresh;
    if (op->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(op, &fresh));
        add_op_grad(op->grad, fresh, dop, r, n);
    }
    if (start->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(start, &fresh));
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < n; j++) {
                const gm_real gv = d[i * nn + j];
                start->grad[i * n + j] = fresh ? gv : start->grad[i * n + j] + gv;
            }
    }
    gm_arena_release(arena, dop, dbytes);
    return GM_OK;
}

static gm_status ldr_tridiag_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *a = node->in[0], *b = node->in[1], *g = node->in[2],
              *h = node->in[3];
    if (!y->grad) return GM_OK;
    const gm__ldr_tridiag_saved *s = node->saved;
    const int64_t r = g->shape[0], n = g->shape[1];
    gm_arena *arena = y->arena;
    const size_t kbytes = (size_t)(r * n * n) * sizeof(gm_real);
    const gm_real *dm = y->grad;
    if (a->requires_grad || g->requires_grad) {
        gm_real *dp = gm_arena_alloc(arena, kbytes);
        if (!dp) return gm__nomem(OP " backward");
        /* dP = Q dM^T */
        gm__gemm(false, true, r * n, n, n, 1, s->q, n, dm, n, 0, dp, n);
        gm_status st = side_backward(a, g, false, s->p, dp, r, n, arena);
        gm_arena_release(arena, dp, kbytes);
        GM_FORWARD_IF_ERROR(st);
    }
    if (b->requires_grad || h->requires_grad) {
        gm_real *dq = gm_arena_alloc(arena, kbytes);
        if (!dq) return gm__nomem(OP " backward");
        /* dQ = P dM */
        gm__gemm(false, false, r * n, n, n, 1, s->p, n, dm, n, 0, dq, n);
        gm_status st = side_backward(b, h, true, s->q, dq, r, n, arena);
        gm_arena_release(arena, dq, kbytes);
        GM_FORWARD_IF_ERROR(st);
    }
    return GM_OK;
}

static gm_status check_operator(const char *what, const gm_tensor *op, int64_t n) {
    if (op->ndim == 2 && op->shape[0] == 3 && op->shape[1] == n) return GM_OK;
    char expected[64];
    snprintf(expected, sizeof expected, "(3, %lld) to match g's n", (long long)n);
    return gm__shape_error(OP, what, op, expected);
}

gm_status gm_op_ldr_tridiag(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor *g, gm_tensor *h,
                            gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !a || !b || !g || !h, GM_ERR_INVALID_ARG,
                       OP ": ctx, a, b, g and h must be non-NULL");
    if (g->ndim != 2) return gm__shape_error(OP, "g", g, "(r, n)");
    GM_FORWARD_IF_ERROR(gm__check_same_shape(OP, "h", h, g));
    const int64_t r = g->shape[0], n = g->shape[1];
    GM_FORWARD_IF_ERROR(check_operator("a", a, n));
    GM_FORWARD_IF_ERROR(check_operator("b", b, n));
    int64_t rn, rnn;
    /* cblas takes int dimensions; r n^2 is the Krylov arrays' element count */
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(r, n, &rn) || gm_mul_overflow_i64(rn, n, &rnn) ||
                           rn > INT32_MAX || (uint64_t)rnn > SIZE_MAX / sizeof(gm_real),
                       GM_ERR_TOO_LARGE,
                       OP ": r = %lld Krylov matrices of order %lld are too large", (long long)r,
                       (long long)n);

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 2, (int64_t[]){n, n}, &y));
    const size_t kbytes = (size_t)rnn * sizeof(gm_real);
    gm_real *p = gm_arena_alloc(arena, kbytes), *q = gm_arena_alloc(arena, kbytes);
    if (!p || !q) return gm__nomem(OP ": Krylov matrices");
    const int64_t nn = n * n;
#pragma omp parallel for if (r > 1 && 3 * nn >= GM__LDR_PAR_MIN)
    for (int64_t i = 0; i < r; i++) {
        krylov_rows(n, a->data, false, g->data + i * n, p + i * nn);
        krylov_rows(n, b->data, true, h->data + i * n, q + i * nn);
    }
    /* M = P^T Q */
    gm__gemm(true, false, n, n, rn, 1, p, n, q, n, 0, y->data, n);

    gm_tensor *in[4] = {a, b, g, h};
    if (!gm_ctx_needs_grad(ctx, 4, in)) {
        gm_arena_release(arena, q, kbytes);
        gm_arena_release(arena, p, kbytes);
        *out = y;
        return GM_OK;
    }
    gm__ldr_tridiag_saved *saved = gm_arena_alloc(arena, sizeof *saved);
    if (!saved) return gm__nomem(OP ": saved state");
    saved->p = p;
    saved->q = q;
    GM_FORWARD_IF_ERROR(
        gm_ctx_record(ctx, GM_OP_LDR_TRIDIAG, ldr_tridiag_backward, y, 4, in, saved));
    *out = y;
    return GM_OK;
}
