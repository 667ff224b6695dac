/* Numerical rank by singular values (LAPACK dgesdd) and the displacement
 * rank of a matrix with respect to a group. */
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/gmat.h"

#define GM_LAPACK_INT_MAX                                                                   \
    ((int64_t)(sizeof(lapack_int) >= sizeof(int64_t) ? INT64_MAX : (int64_t)INT32_MAX))

/* Checks the shape of a rows x cols double matrix: both >= 1, each fits
 * LAPACK's integer, and the element count fits memory arithmetic. */
static gm_status gm_check_shape(const char *what, int64_t rows, int64_t cols) {
    GM_RETURN_ERROR_IF(rows < 1 || cols < 1, GM_ERR_INVALID_ARG,
                       "%s: a %lld x %lld matrix has no entries", what, (long long)rows,
                       (long long)cols);
    int64_t count;
    GM_RETURN_ERROR_IF(rows > GM_LAPACK_INT_MAX || cols > GM_LAPACK_INT_MAX ||
                           gm_mul_overflow_i64(rows, cols, &count) ||
                           (uint64_t)count > SIZE_MAX / sizeof(double),
                       GM_ERR_TOO_LARGE, "%s: a %lld x %lld matrix is too large", what,
                       (long long)rows, (long long)cols);
    return GM_OK;
}

static gm_status gm_check_finite(const char *what, int64_t rows, int64_t cols, const double *a) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            GM_RETURN_ERROR_IF(!isfinite(a[i * cols + j]), GM_ERR_NUMERIC,
                               "%s: matrix contains a non-finite value at (%lld,%lld)", what,
                               (long long)i, (long long)j);
    return GM_OK;
}

/* Singular values of a row-major rows x cols matrix into s (min(rows, cols)
 * entries, descending). Destroys a. A row-major array is the column-major
 * storage of the transpose, which has the same singular values, so LAPACK
 * is called on it directly and no transposed copy is made. The workspace
 * comes from gm_malloc rather than from LAPACKE's own allocator. */
static gm_status gm_singular_values(const char *what, int64_t rows, int64_t cols, double *a,
                                    double *s) {
    const lapack_int m = (lapack_int)cols, n = (lapack_int)rows;
    const lapack_int mn = m < n ? m : n;
    double unused = 0.0, query = 0.0;
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', m, n, a, m, s, &unused, 1,
                                          &unused, 1, &query, -1, NULL);
    GM_RETURN_ERROR_IF(info != 0, GM_ERR_NUMERIC,
                       "%s: dgesdd workspace query failed with info %lld on a %lld x %lld matrix",
                       what, (long long)info, (long long)rows, (long long)cols);
    GM_RETURN_ERROR_IF(!(query >= 1.0) || query > (double)GM_LAPACK_INT_MAX, GM_ERR_TOO_LARGE,
                       "%s: dgesdd workspace of %g doubles for a %lld x %lld matrix is too large",
                       what, query, (long long)rows, (long long)cols);
    const lapack_int lwork = (lapack_int)query;
    double *work = gm_malloc_array((size_t)lwork, sizeof *work);
    lapack_int *iwork = gm_malloc_array((size_t)mn * 8, sizeof *iwork);
    if (!work || !iwork) {
        gm_free(work);
        gm_free(iwork);
        return gm__nomem("SVD workspace");
    }
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', m, n, a, m, s, &unused, 1, &unused, 1, work,
                               lwork, iwork);
    gm_free(work);
    gm_free(iwork);
    GM_RETURN_ERROR_IF(info > 0, GM_ERR_NUMERIC,
                       "%s: dgesdd did not converge (info %lld) on a %lld x %lld matrix", what,
                       (long long)info, (long long)rows, (long long)cols);
    GM_RETURN_ERROR_IF(info < 0, GM_ERR_NUMERIC,
                       "%s: dgesdd rejected argument %lld on a %lld x %lld matrix", what,
                       (long long)-info, (long long)rows, (long long)cols);
    return GM_OK;
}

static int64_t gm_count_above(int64_t count, const double *s, double tol) {
    int64_t r = 0;
    while (r < count && s[r] > tol) r++;
    return r;
}

gm_status gm_gmat_rank(int64_t rows, int64_t cols, const double *a, double tol, int64_t *rank,
                       double *sigma, double *tol_used) {
    const char *what = "rank";
    GM_FORWARD_IF_ERROR(gm_check_shape(what, rows, cols));
    GM_RETURN_ERROR_IF(isnan(tol), GM_ERR_INVALID_ARG, "%s: tolerance is NaN", what);
    GM_FORWARD_IF_ERROR(gm_check_finite(what, rows, cols, a));

    const int64_t count = rows * cols;
    const int64_t mn = rows < cols ? rows : cols;
    double *copy = gm_malloc_array((size_t)count, sizeof *copy);
    double *s = gm_malloc_array((size_t)mn, sizeof *s);
    if (!copy || !s) {
        gm_free(copy);
        gm_free(s);
        return gm__nomem("rank workspace");
    }
    memcpy(copy, a, (size_t)count * sizeof *copy);
    gm_status st = gm_singular_values(what, rows, cols, copy, s);
    gm_free(copy);
    if (st != GM_OK) {
        gm_free(s);
        return st;
    }
    const double big = (double)(rows > cols ? rows : cols);
    const double t = tol < 0.0 ? s[0] * big * DBL_EPSILON : tol;
    *rank = gm_count_above(mn, s, t);
    if (sigma) memcpy(sigma, s, (size_t)mn * sizeof *s);
    if (tol_used) *tol_used = t;
    gm_free(s);
    return GM_OK;
}

gm_status gm_gmat_displacement_rank(const gm_group *g, const double *m, double tol, int64_t *rank,
                                    double *tol_used) {
    return gm_gmat_displacement_rank_eps(g, m, tol, DBL_EPSILON, rank, tol_used);
}

gm_status gm_gmat_displacement_rank_eps(const gm_group *g, const double *m, double tol,
                                        double eps, int64_t *rank, double *tol_used) {
    const char *what = "displacement rank";
    const int64_t n = gm_group_order(g);
    GM_FORWARD_IF_ERROR(gm_check_shape(what, n, n));
    GM_RETURN_ERROR_IF(isnan(tol), GM_ERR_INVALID_ARG, "%s: tolerance is NaN", what);
    GM_RETURN_ERROR_IF(!(eps > 0.0 && eps < 1.0), GM_ERR_INVALID_ARG,
                       "%s: machine epsilon %g is not in (0, 1)", what, eps);
    GM_FORWARD_IF_ERROR(gm_check_finite(what, n, n, m));

    double *f = gm_malloc_array((size_t)(n * n), sizeof *f);
    if (!f) return gm__nomem("displacement rank workspace");
    gm_gmat_diagonals(g, m, f);
    /* ||M||_F = ||F(M)||_F: F is a reshuffle of M. */
    double frob2 = 0.0;
    for (int64_t i = 0; i < n * n; i++) frob2 += f[i] * f[i];

    double *d = gm_malloc_array((size_t)(n * n), sizeof *d);
    double *s = gm_malloc_array((size_t)n, sizeof *s);
    if (!d || !s) {
        gm_free(f);
        gm_free(d);
        gm_free(s);
        return gm__nomem("displacement rank workspace");
    }
    gm_gmat_displacement(n, f, d);
    gm_free(f);
    gm_status st = gm_singular_values(what, n, n, d, s);
    gm_free(d);
    if (st != GM_OK) {
        gm_free(s);
        return st;
    }
    /* Relative to the scale of M, not only of D: for a group matrix D is pure
     * rounding, and a tolerance relative to sigma_max(D) alone would count
     * that noise as rank. */
    const double scale = fmax(s[0], sqrt(frob2));
    const double t = tol < 0.0 ? (double)n * eps * scale : tol;
    *rank = gm_count_above(n, s, t);
    if (tol_used) *tol_used = t;
    gm_free(s);
    return GM_OK;
}
