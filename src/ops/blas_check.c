/* gm_blas_check: the BLAS kernels in use against a float64 reference on
 * shapes that exercise edge cases of blocked kernels (odd sizes, sizes just
 * past a multiple of the vector width, a single row or column, all four
 * transpose cases, beta 0 and 1), large enough for a threaded split. */
#include <math.h>
#include <stdlib.h>

#include "gmcnn/kernels.h"
#include "ops/ops_internal.h"

static float value(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(*s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

/* C = alpha op(A) op(B) + beta C (row-major) against float64; the error is
 * relative to sum |a||b|, which float32 rounding bounds by about k * 2^-24. */
static gm_status check_gemm(int m, int n, int k, bool ta, bool tb, float beta, float *buf) {
    float *a = buf, *b = a + (size_t)m * k, *c = b + (size_t)k * n;
    uint64_t s = (uint64_t)(m * 131 + n * 17 + k) * 2 + ta * 5 + tb * 7;
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = value(&s);
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = value(&s);
    for (size_t i = 0; i < (size_t)m * n; i++) c[i] = value(&s);
    const float alpha = 0.75f;
    double worst = 0.0;
    int wi = 0, wj = 0;
    float *c0 = c + (size_t)m * n;
    for (size_t i = 0; i < (size_t)m * n; i++) c0[i] = c[i];
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double ref = 0.0, mag = 0.0;
            for (int p = 0; p < k; p++) {
                const double x = ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                const double y = tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                ref += x * y;
                mag += fabs(x * y);
            }
            ref = alpha * ref + beta * (double)c0[(size_t)i * n + j];
            mag = alpha * mag + fabs(beta * (double)c0[(size_t)i * n + j]) + 1e-30;
            const double err = fabs((double)c[(size_t)i * n + j] - ref) / mag;
            if (!(err <= worst)) {
                worst = err;
                wi = i;
                wj = j;
            }
        }
    GM_RETURN_ERROR_IF(!(worst <= 64.0 * (k + 2) * 0x1p-24), GM_ERR_NUMERIC,
                       "BLAS check: sgemm %s%s m=%d n=%d k=%d beta=%g: element (%d, %d) off by "
                       "%.3g of its magnitude",
                       ta ? "T" : "N", tb ? "T" : "N", m, n, k, (double)beta, wi, wj, worst);
    return GM_OK;
}

static gm_status check_gemv(int m, int n, bool ta, float *buf) {
    float *a = buf, *x = a + (size_t)m * n, *y = x + (ta ? m : n);
    const int ny = ta ? n : m, nx = ta ? m : n;
    uint64_t s = (uint64_t)(m * 31 + n) + ta;
    for (size_t i = 0; i < (size_t)m * n; i++) a[i] = value(&s);
    for (int i = 0; i < nx; i++) x[i] = value(&s);
    for (int i = 0; i < ny; i++) y[i] = 0.0f;
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, m, n, 1.0f, a, n, x, 1, 0.0f, y,
                1);
    for (int i = 0; i < ny; i++) {
        double ref = 0.0, mag = 1e-30;
        for (int p = 0; p < nx; p++) {
            const double v = (double)(ta ? a[(size_t)p * n + i] : a[(size_t)i * n + p]) * x[p];
            ref += v;
            mag += fabs(v);
        }
        const double err = fabs((double)y[i] - ref) / mag;
        GM_RETURN_ERROR_IF(!(err <= 64.0 * (nx + 2) * 0x1p-24), GM_ERR_NUMERIC,
                           "BLAS check: sgemv %s m=%d n=%d: element %d off by %.3g of its "
                           "magnitude", ta ? "T" : "N", m, n, i, err);
    }
    return GM_OK;
}

gm_status gm_blas_check(void) {
    static const int shapes[][3] = {{1, 1, 1},    {1, 67, 33},   {17, 1, 65},
                                    {31, 33, 17}, {65, 47, 129}, {96, 200, 130}};
    size_t most = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const size_t m = (size_t)shapes[i][0], n = (size_t)shapes[i][1], k = (size_t)shapes[i][2];
        const size_t need = m * k + k * n + 2 * m * n + m + n;
        if (need > most) most = need;
    }
    float *buf = gm_malloc_array(most, sizeof *buf);
    if (!buf) return gm__nomem("BLAS check");
    gm_status st = GM_OK;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && st == GM_OK; i++)
        for (int t = 0; t < 8 && st == GM_OK; t++)
            st = check_gemm(shapes[i][0], shapes[i][1], shapes[i][2], t & 1, t & 2,
                            t & 4 ? 1.0f : 0.0f, buf);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && st == GM_OK; i++)
        for (int t = 0; t < 2 && st == GM_OK; t++)
            st = check_gemv(shapes[i][0], shapes[i][2], t, buf);
    gm_free(buf);
    return st;
}
