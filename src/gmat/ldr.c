/* Low displacement rank matrices of the structured-matrix baselines: the
 * shift and tridiagonal operators, the Toeplitz-like and Krylov-factored
 * reconstructions, and the Sylvester and Stein displacements. Reference
 * implementations that mirror the formulas of gmat.h; the training kernels
 * (src/ops/op_ldr_*.c) are tested against them. */
#include <stdint.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/gmat.h"

void gm_gmat_shift_dense(int64_t n, double f, double *z) {
    memset(z, 0, (size_t)(n * n) * sizeof *z);
    for (int64_t i = 1; i < n; i++) z[i * n + i - 1] = 1.0;
    /* n = 1: Z_f = [f], the wrap of x[i-1] onto the one entry. */
    z[n - 1] += f;
}

void gm_gmat_tridiag_dense(int64_t n, const double *op, double *a) {
    const double *sub = op, *diag = op + n, *sup = op + 2 * n;
    memset(a, 0, (size_t)(n * n) * sizeof *a);
    for (int64_t i = 0; i < n; i++) {
        a[i * n + (i + n - 1) % n] += sub[i];
        a[i * n + i] += diag[i];
        a[i * n + (i + 1) % n] += sup[i];
    }
}

/* Z_f(v)[a][b]: v[a-b] below and on the diagonal, f v[n+a-b] above. */
static double gm_fcirc(int64_t n, double f, const double *v, int64_t a, int64_t b) {
    return a >= b ? v[a - b] : f * v[n + a - b];
}

void gm_gmat_ldr_toeplitz(int64_t n, int64_t r, const double *g, const double *h, double *m) {
    memset(m, 0, (size_t)(n * n) * sizeof *m);
    for (int64_t i = 0; i < r; i++) {
        const double *gi = g + i * n, *hi = h + i * n;
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b < n; b++) {
                double s = 0.0;
                for (int64_t k = 0; k < n; k++) {
                    /* (J h)[t] = h[n-1-t] */
                    const int64_t t = k >= b ? k - b : n + k - b;
                    const double jh = (k >= b ? 1.0 : -1.0) * hi[n - 1 - t];
                    s += gm_fcirc(n, 1.0, gi, a, k) * jh;
                }
                m[a * n + b] += 0.5 * s;
            }
    }
}

gm_status gm_gmat_ldr_krylov(int64_t n, int64_t r, const double *a, const double *b,
                             const double *g, const double *h, double *m) {
    double *buf = gm_malloc_array((size_t)(4 * n), sizeof *buf);
    if (!buf) return gm__nomem("Krylov vectors");
    double *u = buf, *w = buf + n, *tmp = buf + 2 * n, *tmp2 = buf + 3 * n;
    memset(m, 0, (size_t)(n * n) * sizeof *m);
    for (int64_t i = 0; i < r; i++) {
        memcpy(u, g + i * n, (size_t)n * sizeof *u);
        memcpy(w, h + i * n, (size_t)n * sizeof *w);
        for (int64_t k = 0; k < n; k++) {
            /* column k of K(A, g_i) times column k of K(B^T, h_i), transposed */
            for (int64_t p = 0; p < n; p++)
                for (int64_t q = 0; q < n; q++) m[p * n + q] += u[p] * w[q];
            for (int64_t p = 0; p < n; p++) {
                double su = 0.0, sw = 0.0;
                for (int64_t q = 0; q < n; q++) {
                    su += a[p * n + q] * u[q];
                    sw += b[q * n + p] * w[q];
                }
                tmp[p] = su;
                tmp2[p] = sw;
            }
            memcpy(u, tmp, (size_t)n * sizeof *u);
            memcpy(w, tmp2, (size_t)n * sizeof *w);
        }
    }
    gm_free(buf);
    return GM_OK;
}

void gm_gmat_sylvester_displacement(int64_t n, const double *a, const double *b, const double *m,
                                    double *d) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < n; k++)
                s += a[i * n + k] * m[k * n + j] - m[i * n + k] * b[k * n + j];
            d[i * n + j] = s;
        }
}

gm_status gm_gmat_stein_displacement(int64_t n, const double *a, const double *b, const double *m,
                                     double *d) {
    double *am = gm_malloc_array((size_t)(n * n), sizeof *am);
    if (!am) return gm__nomem("Stein displacement");
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) s += a[i * n + k] * m[k * n + j];
            am[i * n + j] = s;
        }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) s += am[i * n + k] * b[k * n + j];
            d[i * n + j] = m[i * n + j] - s;
        }
    gm_free(am);
    return GM_OK;
}
