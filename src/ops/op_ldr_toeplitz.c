/* ldr_toeplitz: the Toeplitz-like matrix M (n, n) of displacement rank r,
 * Z_1 M - M Z_-1 = G H^T with G = g^T, H = h^T (g, h (r, n)).
 *
 * Pan's product formula M = 1/2 sum_i Z_1(g_i) Z_-1(J h_i) costs O(r n^3);
 * instead R = G H^T is one GEMM and the Sylvester equation is solved row by
 * row in O(n^2). With T the skew shift of a row, T(x)[0] = -x[n-1],
 * T(x)[j] = x[j-1] (T^n = -I), row i of the equation reads
 *   M_(i-1 mod n) - T^-1(M_i) = R_i,   i.e.   M_i = T(M_(i-1) - R_i),
 * and going once around the rows gives M_0 = -M_0 + sum_i ..., so
 *   M_0 = 1/2 sum_i T^(1-i) R_i - T R_0,
 * after which each row follows from the one above. The backward pass solves
 * the adjoint equation Z_1^T Y - Y Z_-1^T = dM the same way,
 *   Y_0 = 1/2 sum_i T^(n-1-i) dM_i,   Y_(i+1) = T(Y_i) + dM_i,
 * and then dG = dR H, dH = dR^T G with dR = Y. */

#include <string.h>

#include "ops/ops_internal.h"

#define OP "ldr_toeplitz"

/* acc[j] += alpha (T^m x)[j] for m in (-n, 2n): (T^m x)[j] = x[j - m] with a
 * sign flip for every wrap past either end. */
static void skew_shift_add(int64_t n, int64_t m, double alpha, const gm_real *x, double *acc) {
    for (int64_t j = 0; j < n; j++) {
        int64_t t = j - m;
        double s = alpha;
        if (t < 0) {
            t += n;
            s = -s;
        } else if (t >= n) {
            t -= n;
            s = -s;
        }
        acc[j] += s * (double)x[t];
    }
}

static gm_status ldr_toeplitz_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *g = node->in[0], *h = node->in[1];
    if (!y->grad) return GM_OK;
    const int64_t r = g->shape[0], n = g->shape[1];
    gm_arena *arena = y->arena;
    const size_t ybytes = (size_t)(n * n) * sizeof(gm_real);
    gm_real *dr = gm_arena_alloc(arena, ybytes);
    double *acc = gm_arena_alloc(arena, (size_t)n * sizeof *acc);
    if (!dr || !acc) return gm__nomem(OP " backward");
    const gm_real *dm = y->grad;

    memset(acc, 0, (size_t)n * sizeof *acc);
    for (int64_t i = 0; i < n; i++) skew_shift_add(n, n - 1 - i, 0.5, dm + i * n, acc);
    for (int64_t j = 0; j < n; j++) dr[j] = (gm_real)acc[j];
    for (int64_t i = 0; i + 1 < n; i++) {
        const gm_real *prev = dr + i * n, *d = dm + i * n;
        gm_real *row = dr + (i + 1) * n;
        row[0] = -prev[n - 1] + d[0];
        for (int64_t j = 1; j < n; j++) row[j] = prev[j - 1] + d[j];
    }

    bool fresh;
    if (g->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(g, &fresh));
        /* dg = h dR^T */
        gm__gemm(false, true, r, n, n, 1, h->data, n, dr, n, fresh ? 0 : 1, g->grad, n);
    }
    if (h->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(h, &fresh));
        /* dh = g dR */
        gm__gemm(false, false, r, n, n, 1, g->data, n, dr, n, fresh ? 0 : 1, h->grad, n);
    }
    gm_arena_release(arena, acc, (size_t)n * sizeof *acc);
    gm_arena_release(arena, dr, ybytes);
    return GM_OK;
}

gm_status gm_op_ldr_toeplitz(gm_ctx *ctx, gm_tensor *g, gm_tensor *h, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !g || !h, GM_ERR_INVALID_ARG, OP ": ctx, g and h must be non-NULL");
    if (g->ndim != 2) return gm__shape_error(OP, "g", g, "(r, n)");
    GM_FORWARD_IF_ERROR(gm__check_same_shape(OP, "h", h, g));
    const int64_t r = g->shape[0], n = g->shape[1];
    /* cblas takes int dimensions */
    GM_RETURN_ERROR_IF(n > INT32_MAX || r > INT32_MAX, GM_ERR_TOO_LARGE,
                       OP ": a dimension exceeds the BLAS limit of %d", INT32_MAX);

    gm_tensor *y = NULL;
    gm_arena *arena = gm_ctx_arena(ctx);
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 2, (int64_t[]){n, n}, &y));
    double *acc = gm_arena_alloc(arena, (size_t)n * sizeof *acc);
    gm_real *tmp = gm_arena_alloc(arena, (size_t)n * sizeof *tmp);
    if (!acc || !tmp) return gm__nomem(OP);
    gm_real *m = y->data;

    /* R = G H^T = g^T h, held in M's rows until each row is solved */
    gm__gemm(true, false, n, n, r, 1, g->data, n, h->data, n, 0, m, n);
    memset(acc, 0, (size_t)n * sizeof *acc);
    for (int64_t i = 0; i < n; i++) skew_shift_add(n, 1 - i, 0.5, m + i * n, acc);
    skew_shift_add(n, 1, -1.0, m, acc);
    /* Row 0 stays R_0 until the end: row 1 reads the solved row 0 from acc. */
    for (int64_t j = 0; j < n; j++) tmp[j] = (gm_real)acc[j];
    for (int64_t i = 1; i < n; i++) {
        const gm_real *prev = i == 1 ? tmp : m + (i - 1) * n;
        gm_real *row = m + i * n;
        /* row = T(prev - R_i), in place from the end */
        const gm_real last = prev[n - 1] - row[n - 1];
        for (int64_t j = n - 1; j >= 1; j--) row[j] = prev[j - 1] - row[j - 1];
        row[0] = -last;
    }
    for (int64_t j = 0; j < n; j++) m[j] = (gm_real)acc[j];
    gm_arena_release(arena, tmp, (size_t)n * sizeof *tmp);
    gm_arena_release(arena, acc, (size_t)n * sizeof *acc);

    gm_tensor *in[2] = {g, h};
    if (gm_ctx_needs_grad(ctx, 2, in))
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_LDR_TOEPLITZ, ldr_toeplitz_backward, y, 2, in, NULL));
    *out = y;
    return GM_OK;
}
