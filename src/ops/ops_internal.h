/* Shared by the files of src/ops/: BLAS in gm_real precision, and helpers
 * for shape errors. */
#ifndef GMCNN_OPS_INTERNAL_H
#define GMCNN_OPS_INTERNAL_H

#include <cblas.h>
#include <stdbool.h>

#include "core/core_internal.h"
#include "gmcnn/ops.h"

/* gx[j] = v (fresh gradient, see gm_tensor_grad_acquire) or gx[j] += v for j
 * in [0, n), with v = `expr` in terms of j; threaded from 2^16 elements. */
#define GM__GRAD_STORE(fresh, n, gx, j, expr)                                    \
    do {                                                                         \
        const int64_t gm__n_ = (n);                                              \
        gm_real *const gm__gx_ = (gx);                                           \
        if (fresh) {                                                             \
            _Pragma("omp parallel for if (gm__n_ >= (1 << 16))")                 \
            for (int64_t j = 0; j < gm__n_; j++) gm__gx_[j] = (expr);            \
        } else {                                                                 \
            _Pragma("omp parallel for if (gm__n_ >= (1 << 16))")                 \
            for (int64_t j = 0; j < gm__n_; j++) gm__gx_[j] += (expr);           \
        }                                                                        \
    } while (0)

/* Lanes of the double accumulators in the reductions of elementwise ops:
 * independent partial sums that the compiler can keep in vector registers. */
#define GM__SUM_LANES 8

/* C = alpha op(A) op(B) + beta C, row-major, in gm_real precision. */
static inline void gm__gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                            gm_real alpha, const gm_real *a, int64_t lda, const gm_real *b,
                            int64_t ldb, gm_real beta, gm_real *c, int64_t ldc) {
#ifdef GM_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
#endif
}

/* Threads for a loop over `nb` samples of `flops_per_sample` multiply-adds
 * each, whose per-sample work is a GEMM: 1 inside a parallel region or when
 * the whole loop is too small to repay starting threads; 1 as well when a
 * sample is large enough for BLAS's own threads to share one GEMM well and
 * there are fewer samples than threads; otherwise min(nb, threads). */
int gm__batch_threads(int64_t nb, int64_t flops_per_sample);

/* Returns GM_ERR_SHAPE with "<op>: <what> has shape (..), expected <expected>". */
gm_status gm__shape_error(const char *op, const char *what, const gm_tensor *t,
                          const char *expected);

/* GM_OK when t has the shape of ref, else the shape error for <what> with
 * ref's shape as the expected one. */
gm_status gm__check_same_shape(const char *op, const char *what, const gm_tensor *t,
                               const gm_tensor *ref);

/* GM_OK when w is (O, ni), else the shape error "(O, ni) to match x's I". */
gm_status gm__check_weight_2d(const char *op, const gm_tensor *w, int64_t ni);

/* GM_OK when bias is NULL or (no), else the shape error "(no) to match w's O". */
gm_status gm__check_bias(const char *op, const gm_tensor *bias, int64_t no);

/* sum of x[0..n) in double, in GM__SUM_LANES lanes (each in order), then
 * the lanes in order: the same result for any thread count. */
double gm__sum(int64_t n, const gm_real *x);

/* db[o] += sum over b and q of dy[(b * no + o) * n + q]: each row summed by
 * gm__sum, the rows in the order b; the output channels are spread over nt
 * threads (1 = serial). */
void gm__bias_grad_add(gm_real *db, const gm_real *dy, int64_t nb, int64_t no, int64_t n, int nt);

/* Shared by layernorm and the fused layernorm_prelu (op_layernorm.c): the
 * forward's normalised value in gm_real (mean and rstd rounded to gm_real);
 * mean and 1/sqrt(var + eps) of x[0..n), two passes (the shifted sum of
 * squares does not cancel); and the backward's sums sum_d = sum of d,
 * sum_dx = sum of d * xhat, with d = g [* gamma] and xhat = (x - mean) * rstd
 * in double. */
#define GM__LN_XHAT(x, mean, rstd) (((x) - (mean)) * (rstd))
void gm__ln_moments(int64_t n, const gm_real *restrict x, double eps, double *mean,
                    double *rstd);
void gm__ln_grad_sums(int64_t n, const gm_real *restrict x, const gm_real *restrict g,
                      const gm_real *restrict gamma, double mean, double rstd, double *sum_d,
                      double *sum_dx);

/* Shared by prelu and layernorm_prelu (op_prelu.c): the sum over j of
 * g[j] * x[j] where x[j] < 0, in double (GM__SUM_LANES lanes, then the tail). */
double gm__prelu_row_slope(int64_t n, const gm_real *restrict x, const gm_real *restrict g);
/* GM_OK when x is (B, C, ...) and slope has one element or C, else the shape
 * error naming <op>. */
gm_status gm__check_prelu_shapes(const char *op, const gm_tensor *x, const gm_tensor *slope);

#endif
