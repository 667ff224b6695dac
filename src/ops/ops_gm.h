/* Raw kernels of the group-matrix ops (gmconv, gmpool, gmunpool) on plain
 * arrays, so that each optimized kernel can be tested against its scalar
 * reference without tensors or a tape. Shapes are those of ops.h; nothing is
 * checked here (the ops check shapes before calling).
 *
 * Optimized kernels take a thread count and a caller-provided scratch buffer
 * of at least the size their *_scratch_bytes function returns for the same
 * arguments (64-byte alignment is enough); they never allocate. Backward
 * kernels accumulate (+=) into every non-NULL gradient and skip NULL ones.
 * Reference kernels are plain loops over the formulas, single-threaded. */
#ifndef GMCNN_OPS_GM_H
#define GMCNN_OPS_GM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmcnn/ops.h"

/* A plan's tables, unpacked. tinv (rows x cols, or NULL) is the inverse of t
 * row by row, which needs n_in == cols. */
typedef struct gm__gm_table {
    const int32_t *t;
    const int32_t *tinv;
    int64_t rows, cols, n_in;
    /* the rows' runs of consecutive entries (gm_gmat_plan_table_runs), or
     * NULL: the gathers then go entry by entry */
    const int64_t *t_run_off, *tinv_run_off;
    const int32_t *t_run_col, *tinv_run_col;
} gm__gm_table;

gm__gm_table gm__gm_table_of(const gm_gmat_plan *plan);

/* gmconv: x (batch, cin, n_in), w (cout, cin, rows) or (cout, rows),
 * bias (cout) or NULL, y (batch, cout, cols). */
typedef struct gm__gmconv_dims {
    gm__gm_table tab;
    int64_t batch, cin, cout;
    gm_conv_form form;
    int64_t block_cols; /* columns per gathered block; 0 chooses */
} gm__gmconv_dims;

size_t gm__gmconv_scratch_bytes(const gm__gmconv_dims *d, int nthreads, bool backward);
void gm__gmconv_forward(const gm__gmconv_dims *d, int nthreads, void *scratch, const gm_real *x,
                        const gm_real *w, const gm_real *bias, gm_real *y);
void gm__gmconv_backward(const gm__gmconv_dims *d, int nthreads, void *scratch, const gm_real *x,
                         const gm_real *w, const gm_real *dy, gm_real *dx, gm_real *dw,
                         gm_real *db);
void gm__gmconv_forward_ref(const gm__gmconv_dims *d, const gm_real *x, const gm_real *w,
                            const gm_real *bias, gm_real *y);
void gm__gmconv_backward_ref(const gm__gmconv_dims *d, const gm_real *x, const gm_real *w,
                             const gm_real *dy, gm_real *dx, gm_real *dw, gm_real *db);

/* --- gmconv by FFT (src/ops/op_gmconv_fft.c) ------------------------------
 * For the full form on a group-convolution plan whose table is a translation
 * on a torus Z_n1 x ... x Z_nd (d <= 3, elements row-major): T[k][g] =
 * g + T[k][0] for every k and g. gm__torus_detect finds such a shape and
 * verifies the whole table against it (false: not a translation table, or
 * n_in != cols). The mode is process-wide: AUTO picks the path by an
 * estimate of its cost, NEVER keeps the gather path, ALWAYS takes the FFT
 * path wherever the plan qualifies (for tests). */
typedef enum gm__fft_mode { GM__FFT_AUTO, GM__FFT_NEVER, GM__FFT_ALWAYS } gm__fft_mode;
void gm__gmconv_set_fft_mode(gm__fft_mode mode);
gm__fft_mode gm__gmconv_fft_mode(void);

#define GM__TORUS_MAX_RANK 3
typedef struct gm__torus {
    int rank;
    int64_t n[GM__TORUS_MAX_RANK];
} gm__torus;

bool gm__torus_detect(const gm__gm_table *tab, gm__torus *out);
/* Estimated flops of the FFT forward (transforms, complex GEMMs and the
 * kernel spectrum's GEMM). */
double gm__gmconv_fft_flops(const gm__gmconv_dims *d, const gm__torus *s);
/* True when the FFT path should run for d under the current mode (full
 * form, detected torus in *s, and cheaper by the estimate under AUTO). */
bool gm__gmconv_fft_choose(const gm__gmconv_dims *d, gm__torus *s);
size_t gm__gmconv_fft_scratch_bytes(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                    bool backward);
/* The characters of kk shifts (group elements, row-major on s) at the nc =
 * |G|/n_d*(n_d/2+1) frequencies xi of the half spectrum (row-major, last
 * axis halved), e(xi, k) = exp(-2 pi i sum_a h_k,a xi_a / n_a), as real
 * (2nc x kk) matrices with rows (xi, re/im): e[2xi][k] = Re e(xi, k),
 * e[2xi+1][k] = Im e(xi, k); and, if ew is not NULL, ew the same times
 * c_xi, so that sum_xi Re(C[xi] conj(e(xi, k))) c_xi = sum over rows of C
 * split likewise times ew; c_xi = 1 if the last coordinate of xi is 0 or
 * n_d/2, else 2 (the weights that turn a sum over the full spectrum of a
 * Hermitian spectrum into one over the half, as c2r does). trig: 2|G|
 * doubles of workspace. */
void gm__fft_characters(const gm__torus *s, const int32_t *shifts, int64_t kk, double *trig,
                        void *e, void *ew);
/* Same contracts as gm__gmconv_forward / _backward (full form only), with
 * the torus from gm__torus_detect. GM_ERR_UNSUPPORTED (no detail recorded)
 * when FFTW cannot make a plan or the scratch is not 16-byte aligned; then
 * nothing has been written. The scratch is that of
 * gm__gmconv_fft_scratch_bytes for the same arguments. */
GM_NODISCARD gm_status gm__gmconv_fft_forward(const gm__gmconv_dims *d, const gm__torus *s,
                                              int nthreads, void *scratch, const gm_real *x,
                                              const gm_real *w, const gm_real *bias, gm_real *y);
GM_NODISCARD gm_status gm__gmconv_fft_backward(const gm__gmconv_dims *d, const gm__torus *s,
                                               int nthreads, void *scratch, const gm_real *x,
                                               const gm_real *w, const gm_real *dy, gm_real *dx,
                                               gm_real *dw, gm_real *db);

/* gmpool over `planes` = batch * channels rows: x (planes, n_in), y (planes,
 * cols). arg (planes, cols) receives the window row r of each maximum (max
 * mode; may be NULL) and is read back by the max backward. */
void gm__gmpool_forward(const gm__gm_table *tab, int64_t planes, gm_reduce mode, int nthreads,
                        const gm_real *x, gm_real *y, int32_t *arg);
void gm__gmpool_backward(const gm__gm_table *tab, int64_t planes, gm_reduce mode, int nthreads,
                         const int32_t *arg, const gm_real *dy, gm_real *dx);
void gm__gmpool_forward_ref(const gm__gm_table *tab, int64_t planes, gm_reduce mode,
                            const gm_real *x, gm_real *y, int32_t *arg);
void gm__gmpool_backward_ref(const gm__gm_table *tab, int64_t planes, gm_reduce mode,
                             const int32_t *arg, const gm_real *dy, gm_real *dx);

/* gmunpool: x (batch, cin, cols), p (cin, cout, rows), y (batch, cout, n_in)
 * (overwritten by the forward). */
typedef struct gm__gmunpool_dims {
    gm__gm_table tab;
    int64_t batch, cin, cout;
} gm__gmunpool_dims;

size_t gm__gmunpool_scratch_bytes(const gm__gmunpool_dims *d, int nthreads, bool backward);
void gm__gmunpool_forward(const gm__gmunpool_dims *d, int nthreads, void *scratch, const gm_real *x,
                          const gm_real *p, gm_real *y);
void gm__gmunpool_backward(const gm__gmunpool_dims *d, int nthreads, void *scratch,
                           const gm_real *x, const gm_real *p, const gm_real *dy, gm_real *dx,
                           gm_real *dp);
void gm__gmunpool_forward_ref(const gm__gmunpool_dims *d, const gm_real *x, const gm_real *p,
                              gm_real *y);
void gm__gmunpool_backward_ref(const gm__gmunpool_dims *d, const gm_real *x, const gm_real *p,
                               const gm_real *dy, gm_real *dx, gm_real *dp);

/* Threads for a kernel of about `work` multiply-adds: 1 inside a parallel
 * region or for small work, else the OpenMP maximum. */
int gm__gm_threads(int64_t work);

#endif
