/* Index tables of a kernel support: the whole of the group structure a
 * group convolution needs, so that the kernels below the plan never see a
 * group. */
#include <stdint.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmat/plan_internal.h"
#include "gmcnn/gmat.h"

gm_status gm__gmat_plan_alloc(const char *what, int64_t rows, int64_t cols, int64_t in,
                              bool with_inverse, gm_gmat_plan **out) {
    *out = NULL;
    int64_t cells;
    GM_RETURN_ERROR_IF(rows < 1 || cols < 1 || in < 1, GM_ERR_INVALID_ARG,
                       "%s: table of %lld x %lld entries into %lld inputs is empty", what,
                       (long long)rows, (long long)cols, (long long)in);
    GM_RETURN_ERROR_IF(cols > INT32_MAX || in > INT32_MAX ||
                           gm_mul_overflow_i64(rows, cols, &cells) ||
                           (uint64_t)cells > SIZE_MAX / (2 * sizeof(int32_t)),
                       GM_ERR_TOO_LARGE, "%s: table of %lld x %lld entries is too large", what,
                       (long long)rows, (long long)cols);
    gm_gmat_plan *p = gm_calloc(1, sizeof *p);
    if (!p) return gm__nomem(what);
    p->t = gm_malloc_array((size_t)cells, sizeof *p->t);
    if (with_inverse) p->tinv = gm_malloc_array((size_t)cells, sizeof *p->tinv);
    if (!p->t || (with_inverse && !p->tinv)) {
        gm_gmat_plan_free(p);
        return gm__nomem(what);
    }
    p->n = cols;
    p->k = rows;
    p->in = in;
    *out = p;
    return GM_OK;
}

/* Whether column j of a table row begins a run of consecutive entries. */
static bool begins_run(const int32_t *row, int64_t j) { return j == 0 || row[j] != row[j - 1] + 1; }

/* The runs of the rows of a rows x cols table: *off (rows + 1) and *col. */
static bool index_runs(const int32_t *t, int64_t rows, int64_t cols, int64_t **off,
                       int32_t **col) {
    int64_t total = 0;
    for (int64_t k = 0; k < rows; k++)
        for (int64_t j = 0; j < cols; j++) total += begins_run(t + k * cols, j);
    *off = gm_malloc_array((size_t)rows + 1, sizeof **off);
    *col = gm_malloc_array((size_t)total, sizeof **col);
    if (!*off || !*col) return false;
    int64_t r = 0;
    for (int64_t k = 0; k < rows; k++) {
        (*off)[k] = r;
        for (int64_t j = 0; j < cols; j++)
            if (begins_run(t + k * cols, j)) (*col)[r++] = (int32_t)j;
    }
    (*off)[rows] = r;
    return true;
}

gm_status gm__gmat_plan_finish(const char *what, gm_gmat_plan *p) {
    if (index_runs(p->t, p->k, p->n, &p->run_off, &p->run_col) &&
        (!p->tinv || index_runs(p->tinv, p->k, p->n, &p->runinv_off, &p->runinv_col)))
        return GM_OK;
    gm_gmat_plan_free(p);
    return gm__nomem(what);
}

gm_status gm__gmat_check_order(const char *what, const gm_group *g) {
    const int64_t n = gm_group_order(g);
    GM_RETURN_ERROR_IF(n > INT32_MAX, GM_ERR_TOO_LARGE, "%s: group %s (order %lld) is too large",
                       what, gm_group_name(g), (long long)n);
    return GM_OK;
}

gm_status gm_gmat_plan_new(const gm_group *g, const gm_nbhd *s, gm_gmat_plan **out) {
    *out = NULL;
    const int64_t n = gm_group_order(g);
    const int64_t ns = gm_nbhd_group_order(s);
    const int64_t kk = gm_nbhd_size(s);
    GM_RETURN_ERROR_IF(ns != n, GM_ERR_INVALID_ARG,
                       "gmat plan: the support belongs to a group of order %lld, but group %s "
                       "has order %lld",
                       (long long)ns, gm_group_name(g), (long long)n);
    GM_FORWARD_IF_ERROR(gm__gmat_check_order("gmat plan", g));

    gm_gmat_plan *p;
    GM_FORWARD_IF_ERROR(gm__gmat_plan_alloc("gmat plan", kk, n, n, true, &p));

    const int32_t *elems = gm_nbhd_elements(s);
    for (int64_t k = 0; k < kk; k++) {
        const int32_t sk = elems[k];
        const int32_t skinv = gm_group_inv(g, sk);
        int32_t *row = p->t + k * n;
        int32_t *rowinv = p->tinv + k * n;
        for (int64_t x = 0; x < n; x++) {
            row[x] = gm_group_mul(g, (int32_t)x, skinv);
            rowinv[x] = gm_group_mul(g, (int32_t)x, sk);
        }
    }
    GM_FORWARD_IF_ERROR(gm__gmat_plan_finish("gmat plan", p));
    *out = p;
    return GM_OK;
}

void gm_gmat_plan_free(gm_gmat_plan *p) {
    if (!p) return;
    gm_free(p->t);
    gm_free(p->tinv);
    gm_free(p->run_off);
    gm_free(p->run_col);
    gm_free(p->runinv_off);
    gm_free(p->runinv_col);
    gm_free(p);
}

int64_t gm_gmat_plan_support_size(const gm_gmat_plan *p) { return p->k; }
int64_t gm_gmat_plan_order(const gm_gmat_plan *p) { return p->n; }
int64_t gm_gmat_plan_input_size(const gm_gmat_plan *p) { return p->in; }
const int32_t *gm_gmat_plan_table(const gm_gmat_plan *p) { return p->t; }
const int32_t *gm_gmat_plan_table_inverse(const gm_gmat_plan *p) { return p->tinv; }

void gm_gmat_plan_table_runs(const gm_gmat_plan *p, bool inverse, const int64_t **offsets,
                             const int32_t **starts) {
    *offsets = inverse ? p->runinv_off : p->run_off;
    *starts = inverse ? p->runinv_col : p->run_col;
}

/* Offset-major order: each pass streams one table row and y, which is the
 * access pattern the optimized ops kernels use too. */
static void gm_gather_accumulate(int64_t n, int64_t kk, const int32_t *table, const double *w,
                                 const double *x, double *y) {
    for (int64_t g = 0; g < n; g++) y[g] = 0.0;
    for (int64_t k = 0; k < kk; k++) {
        const double wk = w[k];
        const int32_t *row = table + k * n;
        for (int64_t g = 0; g < n; g++) y[g] += wk * x[row[g]];
    }
}

void gm_gmat_plan_matvec(const gm_gmat_plan *p, const double *w, const double *x, double *y) {
    gm_gather_accumulate(p->n, p->k, p->t, w, x, y);
}

void gm_gmat_plan_matvec_transpose(const gm_gmat_plan *p, const double *w, const double *x,
                                   double *z) {
    GM_ASSERT(p->tinv && p->in == p->n);
    gm_gather_accumulate(p->n, p->k, p->tinv, w, x, z);
}

void gm_gmat_plan_kernel_function(const gm_gmat_plan *p, const gm_group *g, const double *w,
                                  double *f) {
    GM_ASSERT(p->tinv && gm_group_order(g) == p->n);
    for (int64_t x = 0; x < p->n; x++) f[x] = 0.0;
    /* T[k][e] = e s_k^-1 = s_k^-1, so the table already holds the inverses. */
    for (int64_t k = 0; k < p->k; k++) f[p->t[k * p->n]] += w[k];
}
