/* Dense group matrices, the group algebra, the diagonal expansion F(M) and
 * the equivariance measures. Reference implementations: O(n^2) and written
 * to mirror the formulas of gmat.h, not for speed. */
#include <math.h>
#include <stdint.h>

#include "core/core_internal.h"
#include "gmcnn/gmat.h"

void gm_gmat_dense(const gm_group *g, const double *f, double *m) {
    const int64_t n = gm_group_order(g);
    for (int64_t i = 0; i < n; i++) {
        const int32_t iinv = gm_group_inv(g, (int32_t)i);
        double *row = m + i * n;
        for (int64_t j = 0; j < n; j++) row[j] = f[gm_group_mul(g, iinv, (int32_t)j)];
    }
}

void gm_gmat_convolve(const gm_group *g, const double *a, const double *b, double *out) {
    const int64_t n = gm_group_order(g);
    for (int64_t x = 0; x < n; x++) out[x] = 0.0;
    for (int64_t u = 0; u < n; u++) {
        const double au = a[u];
        const int32_t uinv = gm_group_inv(g, (int32_t)u);
        for (int64_t x = 0; x < n; x++) out[x] += au * b[gm_group_mul(g, uinv, (int32_t)x)];
    }
}

void gm_gmat_left_translate(const gm_group *g, int32_t v, const double *x, double *out) {
    const int64_t n = gm_group_order(g);
    const int32_t vinv = gm_group_inv(g, v);
    for (int64_t h = 0; h < n; h++) out[h] = x[gm_group_mul(g, vinv, (int32_t)h)];
}

void gm_gmat_right_translate(const gm_group *g, int32_t s, const double *x, double *out) {
    const int64_t n = gm_group_order(g);
    const int32_t sinv = gm_group_inv(g, s);
    for (int64_t h = 0; h < n; h++) out[h] = x[gm_group_mul(g, (int32_t)h, sinv)];
}

void gm_gmat_diagonals(const gm_group *g, const double *m, double *f_diag) {
    const int64_t n = gm_group_order(g);
    for (int64_t x = 0; x < n; x++) {
        const int32_t xinv = gm_group_inv(g, (int32_t)x);
        double *row = f_diag + x * n;
        for (int64_t h = 0; h < n; h++) row[h] = m[h * n + gm_group_mul(g, (int32_t)h, xinv)];
    }
}

void gm_gmat_from_diagonals(const gm_group *g, const double *f_diag, double *m) {
    const int64_t n = gm_group_order(g);
    for (int64_t x = 0; x < n; x++) {
        const int32_t xinv = gm_group_inv(g, (int32_t)x);
        const double *row = f_diag + x * n;
        for (int64_t h = 0; h < n; h++) m[h * n + gm_group_mul(g, (int32_t)h, xinv)] = row[h];
    }
}

void gm_gmat_displacement(int64_t n, const double *f_diag, double *d) {
    for (int64_t x = 0; x < n; x++) {
        const double *row = f_diag + x * n;
        double *out = d + x * n;
        out[0] = row[0] - row[n - 1];
        for (int64_t h = 1; h < n; h++) out[h] = row[h] - row[h - 1];
    }
}

/* y = m x for a dense n x n m. */
static void gm_dense_matvec(int64_t n, const double *m, const double *x, double *y) {
    for (int64_t i = 0; i < n; i++) {
        const double *row = m + i * n;
        double s = 0.0;
        for (int64_t j = 0; j < n; j++) s += row[j] * x[j];
        y[i] = s;
    }
}

static gm_status gm_check_element(const char *what, const gm_group *g, int32_t v) {
    GM_RETURN_ERROR_IF(v < 0 || v >= gm_group_order(g), GM_ERR_INVALID_ARG,
                       "%s: element %d is not in group %s of order %lld", what, v,
                       gm_group_name(g), (long long)gm_group_order(g));
    return GM_OK;
}

gm_status gm_gmat_equivariance_defect(const gm_group *g, const double *m, int32_t v,
                                      const double *x, double *defect) {
    GM_FORWARD_IF_ERROR(gm_check_element("equivariance defect", g, v));
    const int64_t n = gm_group_order(g);
    double *buf = gm_malloc_array((size_t)n * 3, sizeof *buf);
    if (!buf) return gm__nomem("equivariance defect scratch");
    double *lx = buf, *mlx = buf + n, *mx = buf + 2 * n;

    gm_gmat_left_translate(g, v, x, lx);
    gm_dense_matvec(n, m, lx, mlx);
    gm_dense_matvec(n, m, x, mx);
    double *lmx = lx; /* L_v x is no longer needed */
    gm_gmat_left_translate(g, v, mx, lmx);

    double num = 0.0, den = 0.0;
    for (int64_t h = 0; h < n; h++) {
        const double d = mlx[h] - lmx[h];
        num += d * d;
        den += mx[h] * mx[h];
    }
    gm_free(buf);
    if (den == 0.0)
        *defect = num == 0.0 ? 0.0 : INFINITY;
    else
        *defect = sqrt(num) / sqrt(den);
    return GM_OK;
}

gm_status gm_gmat_commutator_norm(const gm_group *g, const double *m, int32_t v, double *norm) {
    GM_FORWARD_IF_ERROR(gm_check_element("commutator norm", g, v));
    const int64_t n = gm_group_order(g);
    /* (M L_v)[i][j] = M[i][v j] and (L_v M)[i][j] = M[v^-1 i][j]; tabulate both
     * permutations once instead of multiplying inside the n^2 loop. */
    int32_t *perm = gm_malloc_array((size_t)n * 2, sizeof *perm);
    if (!perm) return gm__nomem("commutator norm scratch");
    int32_t *vj = perm, *vinvi = perm + n;
    const int32_t vinv = gm_group_inv(g, v);
    for (int64_t j = 0; j < n; j++) {
        vj[j] = gm_group_mul(g, v, (int32_t)j);
        vinvi[j] = gm_group_mul(g, vinv, (int32_t)j);
    }
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double *row = m + i * n;
        const double *shifted = m + (int64_t)vinvi[i] * n;
        for (int64_t j = 0; j < n; j++) {
            const double d = row[vj[j]] - shifted[j];
            num += d * d;
            den += row[j] * row[j];
        }
    }
    gm_free(perm);
    *norm = den == 0.0 ? 0.0 : sqrt(num) / sqrt(den);
    return GM_OK;
}
