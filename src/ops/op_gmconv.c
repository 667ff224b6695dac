/* gmconv: convolution through a plan's gather table T (rows K, cols n_out,
 * input n_in),
 *   full   y[b,o,g] = bias[o] + sum_i sum_k w[o,i,k] x[b,i,T[k][g]]
 *   shared y[b,o,g] = bias[o] + sum_k w[o,k] sum_i x[b,i,T[k][g]].
 *
 * The shared form is the full form with one input channel, the channel sum
 * s[b,m] = sum_i x[b,i,m]; so there is one kernel, on (x, I) or (s, 1).
 *
 * Forward, per sample and block of output columns: gather the (I*K) x nb
 * block col[(i,k)][j] = x[b,i,T[k][j]] and multiply once, y = W col, W seen
 * as O x (I*K). Backward:
 *   dW += dy col^T, with the I*K rows of col split between threads so that
 *        every thread owns its columns of dW: no per-thread copies of dW to
 *        add up, and samples are summed in the same order for any thread
 *        count;
 *   dx   for plans with an inverse table, a gather by the inverse
 *        permutation, dx[b,i,m] = sum_{o,k} W[o,i,k] dy[b,o,Tinv[k][m]]
 *        (no atomics, no scatter; see DX_GATHER_* below); otherwise (lifting
 *        plans, many-to-one) W^T dy per sample scattered back through T, one
 *        sample per thread;
 *   db  += sum of dy. */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_gm.h"
#include "ops/ops_internal.h"

#define OP "gmconv"

/* Target size of one gathered block: big enough for long GEMM panels, small
 * enough to stay in a core's L2/L3 share. Narrower blocks than BLOCK_MIN
 * columns cost up to twice the GEMM time (measured at I*K = 5880). */
#define BLOCK_BYTES ((int64_t)2 << 20)
#define BLOCK_MIN 64
#define BLOCK_MAX 2048
/* Below this many multiply-adds a kernel runs on one thread. */
#define PARALLEL_WORK ((int64_t)1 << 17)

gm__gm_table gm__gm_table_of(const gm_gmat_plan *plan) {
    gm__gm_table tb = {
        .t = gm_gmat_plan_table(plan),
        .tinv = gm_gmat_plan_table_inverse(plan),
        .rows = gm_gmat_plan_support_size(plan),
        .cols = gm_gmat_plan_order(plan),
        .n_in = gm_gmat_plan_input_size(plan),
    };
    gm_gmat_plan_table_runs(plan, false, &tb.t_run_off, &tb.t_run_col);
    gm_gmat_plan_table_runs(plan, true, &tb.tinv_run_off, &tb.tinv_run_col);
    return tb;
}

int gm__gm_threads(int64_t work) {
    if (omp_in_parallel() || work < PARALLEL_WORK) return 1;
    return omp_get_max_threads();
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Columns per block for blocks of `rows` gathered rows, so that `batch`
 * samples give every one of nt threads a block where possible. */
static int64_t block_cols(int64_t rows, int64_t cols, int64_t batch, int nt, int64_t req) {
    if (req > 0) return min64(req, cols);
    int64_t nb = BLOCK_BYTES / (rows * (int64_t)sizeof(gm_real));
    nb = min64(max64(nb, BLOCK_MIN), BLOCK_MAX) / 16 * 16;
    const int64_t per_sample = cdiv(nt, batch);
    if (per_sample > 1) nb = min64(nb, max64(BLOCK_MIN, cdiv(cdiv(cols, per_sample), 16) * 16));
    return min64(nb, cols);
}

/* One of a plan's tables with its runs (off NULL: none known). */
typedef struct gather_table {
    const int32_t *t;
    const int64_t *off;
    const int32_t *col;
} gather_table;

static gather_table table_t(const gm__gm_table *tb) {
    return (gather_table){tb->t, tb->t_run_off, tb->t_run_col};
}
static gather_table table_tinv(const gm__gm_table *tb) {
    return (gather_table){tb->tinv, tb->tinv_run_off, tb->tinv_run_col};
}

/* Rows whose runs average fewer entries than this are gathered entry by
 * entry: a copy per run only pays for itself on longer runs. */
#define RUN_MIN_MEAN 4

/* Row k of a table in runs: the runs' start columns c[0..nq), or nq = 0 for
 * a row gathered entry by entry. */
typedef struct row_runs {
    const int32_t *c;
    int64_t nq;
} row_runs;

static row_runs runs_of(gather_table tab, int64_t k, int64_t cols) {
    if (!tab.off) return (row_runs){NULL, 0};
    const int64_t nq = tab.off[k + 1] - tab.off[k];
    if (nq * RUN_MIN_MEAN > cols) return (row_runs){NULL, 0};
    return (row_runs){tab.col + tab.off[k], nq};
}

/* The last run that begins at or before column j0. */
static int64_t run_at(row_runs rr, int64_t j0) {
    int64_t lo = 0, hi = rr.nq - 1;
    while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (rr.c[mid] <= j0) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* The columns [*a, *e) of run q inside [j0, j1). */
static void run_span(row_runs rr, int64_t q, int64_t cols, int64_t j0, int64_t j1, int64_t *a,
                     int64_t *e) {
    *a = max64(rr.c[q], j0);
    *e = min64(q + 1 < rr.nq ? rr.c[q + 1] : cols, j1);
}

/* dst[r - r0][jj] = src[c][T[k][j0 + jj]] for r = c * rows + k in [r0, r1):
 * rows of a gathered block, channel-major. Rows made of long runs of
 * consecutive entries (the translations of an image group along a row of
 * pixels) are copied a run at a time. */
static void gather_rows(const gm_real *src, int64_t src_len, gather_table tab, int64_t rows,
                        int64_t cols, int64_t r0, int64_t r1, int64_t j0, int64_t jn,
                        gm_real *dst) {
    const int64_t j1 = j0 + jn;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t k = r % rows;
        const gm_real *s = src + (r / rows) * src_len;
        const int32_t *tk = tab.t + k * cols;
        gm_real *d = dst + (r - r0) * jn;
        const row_runs rr = runs_of(tab, k, cols);
        if (!rr.nq) {
            for (int64_t jj = 0; jj < jn; jj++) d[jj] = s[tk[j0 + jj]];
            continue;
        }
        for (int64_t q = run_at(rr, j0); q < rr.nq && rr.c[q] < j1; q++) {
            int64_t a, e;
            run_span(rr, q, cols, j0, j1, &a, &e);
            gm_real *restrict dd = d + (a - j0);
            const gm_real *restrict ss = s + tk[a];
            for (int64_t u = 0; u < e - a; u++) dd[u] = ss[u];
        }
    }
}

/* t[i][m] += sum_k P[(i,k)][Tinv[k][m]] for m in [m0, m1): the gather-sum of
 * DX_GATHER_PRODUCT, k in order for every position (a run at a time where
 * the rows have long runs). */
static void product_gather(const gm__gm_table *tb, int64_t ti, const gm_real *prod, int64_t m0,
                           int64_t m1, gm_real *target) {
    const int64_t kk = tb->rows, cols = tb->cols, n_in = tb->n_in;
    const gather_table tab = table_tinv(tb);
    for (int64_t i = 0; i < ti; i++) {
        gm_real *t = target + i * n_in;
        for (int64_t k = 0; k < kk; k++) {
            const gm_real *pk = prod + (i * kk + k) * cols;
            const int32_t *tk = tab.t + k * cols;
            const row_runs rr = runs_of(tab, k, cols);
            if (!rr.nq) {
                for (int64_t m = m0; m < m1; m++) t[m] += pk[tk[m]];
                continue;
            }
            for (int64_t q = run_at(rr, m0); q < rr.nq && rr.c[q] < m1; q++) {
                int64_t a, e;
                run_span(rr, q, cols, m0, m1, &a, &e);
                gm_real *restrict tt = t + a;
                const gm_real *restrict pp = pk + tk[a];
                for (int64_t u = 0; u < e - a; u++) tt[u] += pp[u];
            }
        }
    }
}

/* How dx is formed:
 *   DX_GATHER_DY      gather dy through Tinv into (O*K) x nb blocks, one GEMM
 *                     with the packed I x (O*K) weights per block;
 *   DX_GATHER_PRODUCT P = W^T dy_b for a whole sample (I*K x n), then
 *                     dx[i][m] = sum_k P[(i,k)][Tinv[k][m]]: cheaper when I
 *                     is smaller than O (the shared form, I = 1; a first
 *                     layer on 3 colour channels), because it gathers I*K
 *                     rows instead of O*K; used while P stays below
 *                     PRODUCT_MAX_BYTES. With fewer samples than threads,
 *                     each sample's GEMM is split by columns and its
 *                     gather-sum by positions, so that no thread idles and
 *                     no small GEMM is left to BLAS's own threads;
 *   DX_SCATTER        no inverse table (lifting plans): P block by block,
 *                     scattered through T, one sample per thread. */
enum { DX_GATHER_DY, DX_GATHER_PRODUCT, DX_SCATTER };
#define PRODUCT_MAX_BYTES ((size_t)16 << 20)

/* Scratch layout, computed the same way for sizing and for running. */
typedef struct conv_layout {
    int dx_path;
    int64_t ie;                     /* input channels of the kernel: cin, or 1 for shared */
    int64_t ik, ok;                 /* ie * K and cout * K: gathered rows of x and of dy */
    int64_t nb_f;                   /* block columns, forward */
    int64_t w_chunks, w_rows, nb_w; /* dW: row chunks, rows per chunk, block columns */
    int64_t nb_x;                   /* block columns, dx */
    size_t off_s, off_ds, off_wt, off_thr, per_thread, total;
} conv_layout;

static conv_layout conv_layout_of(const gm__gmconv_dims *d, int nt, bool backward) {
    const gm__gm_table *tb = &d->tab;
    conv_layout l = {0};
    const bool shared = d->form == GM_CONV_SHARED;
    l.ie = shared ? 1 : d->cin;
    l.ik = l.ie * tb->rows;
    l.ok = d->cout * tb->rows;
    const size_t sz = sizeof(gm_real);
    size_t at = 0, thr = 0;
    if (shared) {
        l.off_s = at;
        at += align64((size_t)(d->batch * tb->n_in) * sz);
    }
    if (!backward) {
        l.nb_f = block_cols(l.ik, tb->cols, d->batch, nt, d->block_cols);
        thr = (size_t)(l.ik * l.nb_f) * sz;
    } else {
        l.w_chunks = min64(nt, l.ik);
        l.w_rows = cdiv(l.ik, l.w_chunks);
        l.nb_w = block_cols(l.w_rows, tb->cols, 1, 1, d->block_cols);
        thr = (size_t)(l.w_rows * l.nb_w) * sz;
        if (shared) {
            l.off_ds = at;
            at += align64((size_t)(d->batch * tb->n_in) * sz);
        }
        const bool product = l.ie < d->cout && (size_t)(l.ik * tb->cols) * sz <= PRODUCT_MAX_BYTES;
        l.dx_path = !tb->tinv ? DX_SCATTER : product ? DX_GATHER_PRODUCT : DX_GATHER_DY;
        size_t need = 0;
        if (l.dx_path == DX_GATHER_DY) {
            l.off_wt = at;
            at += align64((size_t)(l.ie * l.ok) * sz);
            l.nb_x = block_cols(l.ok, tb->cols, d->batch, nt, d->block_cols);
            need = (size_t)(l.ok * l.nb_x) * sz;
        } else if (l.dx_path == DX_GATHER_PRODUCT) {
            l.nb_x = tb->cols;
            need = (size_t)(l.ik * tb->cols) * sz;
        } else {
            l.nb_x = block_cols(l.ik, tb->cols, 1, 1, d->block_cols);
            need = (size_t)(l.ik * l.nb_x) * sz;
        }
        if (need > thr) thr = need;
    }
    l.per_thread = align64(thr);
    l.off_thr = at;
    l.total = at + (size_t)nt * l.per_thread;
    return l;
}

size_t gm__gmconv_scratch_bytes(const gm__gmconv_dims *d, int nthreads, bool backward) {
    return conv_layout_of(d, nthreads, backward).total;
}

/* s[b][m] = sum_i x[b,i,m] */
static void channel_sums(const gm__gmconv_dims *d, int nt, const gm_real *x, gm_real *s) {
    const int64_t n = d->tab.n_in, ni = d->cin;
    nt = (int)min64(nt, d->batch); /* one sample per thread */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < d->batch; b++) {
        gm_real *sb = s + b * n;
        const gm_real *xb = x + b * ni * n;
        memcpy(sb, xb, (size_t)n * sizeof *sb);
        for (int64_t i = 1; i < ni; i++)
            for (int64_t m = 0; m < n; m++) sb[m] += xb[i * n + m];
    }
}

void gm__gmconv_forward(const gm__gmconv_dims *d, int nthreads, void *scratch, const gm_real *x,
                        const gm_real *w, const gm_real *bias, gm_real *y) {
    const gm__gm_table *tb = &d->tab;
    const conv_layout l = conv_layout_of(d, nthreads, false);
    char *base = scratch;
    const gm_real *xin = x;
    if (d->form == GM_CONV_SHARED) {
        gm_real *s = (gm_real *)(base + l.off_s);
        channel_sums(d, nthreads, x, s);
        xin = s;
    }
    const int64_t cols = tb->cols, n_in = tb->n_in, no = d->cout, nb = l.nb_f;
    const int64_t nblk = cdiv(cols, nb), tasks = d->batch * nblk;
    const int nt = (int)min64(nthreads, tasks);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t task = 0; task < tasks; task++) {
        const int64_t b = task / nblk, j0 = (task % nblk) * nb, jn = min64(nb, cols - j0);
        gm_real *col = (gm_real *)(base + l.off_thr + (size_t)omp_get_thread_num() * l.per_thread);
        gather_rows(xin + b * l.ie * n_in, n_in, table_t(tb), tb->rows, cols, 0, l.ik, j0, jn,
                    col);
        gm_real *yb = y + b * no * cols + j0;
        gm__gemm(false, false, no, jn, l.ik, 1, w, l.ik, col, jn, 0, yb, cols);
        if (bias)
            for (int64_t o = 0; o < no; o++) {
                gm_real *row = yb + o * cols;
                for (int64_t jj = 0; jj < jn; jj++) row[jj] += bias[o];
            }
    }
}

void gm__gmconv_backward(const gm__gmconv_dims *d, int nthreads, void *scratch, const gm_real *x,
                         const gm_real *w, const gm_real *dy, gm_real *dx, gm_real *dw,
                         gm_real *db) {
    const gm__gm_table *tb = &d->tab;
    const conv_layout l = conv_layout_of(d, nthreads, true);
    char *base = scratch;
    const bool shared = d->form == GM_CONV_SHARED;
    const int64_t cols = tb->cols, n_in = tb->n_in, no = d->cout, nbatch = d->batch;
    const int64_t kk = tb->rows;
#define THREAD_BUF ((gm_real *)(base + l.off_thr + (size_t)omp_get_thread_num() * l.per_thread))

    if (dw) {
        const gm_real *xin = x;
        if (shared) {
            gm_real *s = (gm_real *)(base + l.off_s);
            channel_sums(d, nthreads, x, s);
            xin = s;
        }
        const int64_t nb = l.nb_w, nblk = cdiv(cols, nb);
        const int nt = (int)min64(nthreads, l.w_chunks);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t c = 0; c < l.w_chunks; c++) {
            const int64_t r0 = c * l.w_rows, r1 = min64(l.ik, r0 + l.w_rows);
            if (r0 >= r1) continue;
            gm_real *part = THREAD_BUF;
            for (int64_t b = 0; b < nbatch; b++)
                for (int64_t blk = 0; blk < nblk; blk++) {
                    const int64_t j0 = blk * nb, jn = min64(nb, cols - j0);
                    gather_rows(xin + b * l.ie * n_in, n_in, table_t(tb), kk, cols, r0, r1, j0, jn,
                                part);
                    gm__gemm(false, true, no, r1 - r0, jn, 1, dy + b * no * cols + j0, cols, part,
                             jn, 1, dw + r0, l.ik);
                }
        }
    }

    if (dx) {
        /* the shared form's input gradient is the same for every channel */
        gm_real *target = dx;
        if (shared) {
            target = (gm_real *)(base + l.off_ds);
            memset(target, 0, (size_t)(nbatch * n_in) * sizeof *target);
        }
        const int64_t ti = l.ie; /* rows of target per sample */
        if (l.dx_path == DX_GATHER_DY) {
            gm_real *wt = (gm_real *)(base + l.off_wt);
            for (int64_t o = 0; o < no; o++)
                for (int64_t i = 0; i < ti; i++)
                    for (int64_t k = 0; k < kk; k++)
                        wt[i * l.ok + o * kk + k] = w[(o * ti + i) * kk + k];
            const int64_t nb = l.nb_x, nblk = cdiv(cols, nb), tasks = nbatch * nblk;
            const int nt = (int)min64(nthreads, tasks);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
            for (int64_t task = 0; task < tasks; task++) {
                const int64_t b = task / nblk, j0 = (task % nblk) * nb;
                const int64_t jn = min64(nb, cols - j0);
                gm_real *dcol = THREAD_BUF;
                gather_rows(dy + b * no * cols, cols, table_tinv(tb), kk, cols, 0, l.ok, j0, jn,
                            dcol);
                gm__gemm(false, false, ti, jn, l.ok, 1, wt, l.ok, dcol, jn, 1,
                         target + b * ti * n_in + j0, n_in);
            }
        } else if (l.dx_path == DX_GATHER_PRODUCT && nbatch >= nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
            for (int64_t b = 0; b < nbatch; b++) {
                gm_real *prod = THREAD_BUF;
                gm__gemm(true, false, l.ik, cols, no, 1, w, l.ik, dy + b * no * cols, cols, 0, prod,
                         cols);
                product_gather(tb, ti, prod, 0, n_in, target + b * ti * n_in);
            }
        } else if (l.dx_path == DX_GATHER_PRODUCT) {
            /* one product buffer: thread 0's share of the scratch holds I*K x n */
            gm_real *prod = (gm_real *)(base + l.off_thr);
            const int nt = nthreads;
            const int64_t cb = min64(cols, cdiv(cdiv(cols, nt), 16) * 16);
            const int64_t mb = cdiv(n_in, nt);
            for (int64_t b = 0; b < nbatch; b++) {
                const gm_real *dyb = dy + b * no * cols;
                gm_real *tgt = target + b * ti * n_in;
#pragma omp parallel num_threads(nt)
                {
#pragma omp for schedule(static)
                    for (int c = 0; c < nt; c++) {
                        const int64_t j0 = c * cb, jn = min64(cb, cols - j0);
                        if (jn > 0)
                            gm__gemm(true, false, l.ik, jn, no, 1, w, l.ik, dyb + j0, cols, 0,
                                     prod + j0, cols);
                    }
#pragma omp for schedule(static)
                    for (int c = 0; c < nt; c++) {
                        const int64_t m0 = c * mb, m1 = min64(n_in, m0 + mb);
                        if (m0 < m1) product_gather(tb, ti, prod, m0, m1, tgt);
                    }
                }
            }
        } else {
            const int64_t nb = l.nb_x, nblk = cdiv(cols, nb);
            const int nt = (int)min64(nthreads, nbatch);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
            for (int64_t b = 0; b < nbatch; b++) {
                gm_real *dcol = THREAD_BUF;
                gm_real *tgt = target + b * ti * n_in;
                for (int64_t blk = 0; blk < nblk; blk++) {
                    const int64_t j0 = blk * nb, jn = min64(nb, cols - j0);
                    gm__gemm(true, false, l.ik, jn, no, 1, w, l.ik, dy + b * no * cols + j0, cols,
                             0, dcol, jn);
                    for (int64_t r = 0; r < l.ik; r++) {
                        gm_real *t = tgt + (r / kk) * n_in;
                        const int32_t *tk = tb->t + (r % kk) * cols + j0;
                        const gm_real *src = dcol + r * jn;
                        for (int64_t jj = 0; jj < jn; jj++) t[tk[jj]] += src[jj];
                    }
                }
            }
        }
        if (shared) {
            const int64_t ni = d->cin;
            const int nt = (int)min64(nthreads, nbatch);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
            for (int64_t b = 0; b < nbatch; b++) {
                const gm_real *ds = target + b * n_in;
                for (int64_t i = 0; i < ni; i++) {
                    gm_real *dxi = dx + (b * ni + i) * n_in;
                    for (int64_t m = 0; m < n_in; m++) dxi[m] += ds[m];
                }
            }
        }
    }
#undef THREAD_BUF

    if (db) gm__bias_grad_add(db, dy, nbatch, no, cols, nthreads);
}

/* --- scalar reference: the formulas, term by term ------------------------ */

void gm__gmconv_forward_ref(const gm__gmconv_dims *d, const gm_real *x, const gm_real *w,
                            const gm_real *bias, gm_real *y) {
    const gm__gm_table *tb = &d->tab;
    const int64_t kk = tb->rows, cols = tb->cols, n_in = tb->n_in, ni = d->cin, no = d->cout;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t g = 0; g < cols; g++) {
                gm_real acc = bias ? bias[o] : 0;
                for (int64_t k = 0; k < kk; k++) {
                    const int32_t m = tb->t[k * cols + g];
                    if (d->form == GM_CONV_FULL) {
                        for (int64_t i = 0; i < ni; i++)
                            acc += w[(o * ni + i) * kk + k] * x[(b * ni + i) * n_in + m];
                    } else {
                        gm_real s = 0;
                        for (int64_t i = 0; i < ni; i++) s += x[(b * ni + i) * n_in + m];
                        acc += w[o * kk + k] * s;
                    }
                }
                y[(b * no + o) * cols + g] = acc;
            }
}

void gm__gmconv_backward_ref(const gm__gmconv_dims *d, const gm_real *x, const gm_real *w,
                             const gm_real *dy, gm_real *dx, gm_real *dw, gm_real *db) {
    const gm__gm_table *tb = &d->tab;
    const int64_t kk = tb->rows, cols = tb->cols, n_in = tb->n_in, ni = d->cin, no = d->cout;
    const bool full = d->form == GM_CONV_FULL;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t g = 0; g < cols; g++) {
                const gm_real dv = dy[(b * no + o) * cols + g];
                if (db) db[o] += dv;
                for (int64_t k = 0; k < kk; k++) {
                    const int32_t m = tb->t[k * cols + g];
                    for (int64_t i = 0; i < ni; i++) {
                        const int64_t xi = (b * ni + i) * n_in + m;
                        const int64_t wi = full ? (o * ni + i) * kk + k : o * kk + k;
                        if (dw) dw[wi] += dv * x[xi];
                        if (dx) dx[xi] += dv * w[wi];
                    }
                }
            }
}

/* --- the op --------------------------------------------------------------- */

typedef struct gmconv_saved {
    const gm_gmat_plan *plan;
    gm_conv_form form;
} gmconv_saved;

static gm__gmconv_dims dims_of(const gm_gmat_plan *plan, const gm_tensor *x, const gm_tensor *w,
                               gm_conv_form form) {
    return (gm__gmconv_dims){
        .tab = gm__gm_table_of(plan),
        .batch = x->shape[0],
        .cin = x->shape[1],
        .cout = w->shape[0],
        .form = form,
    };
}

static int64_t work_of(const gm__gmconv_dims *d) {
    const int64_t ie = d->form == GM_CONV_FULL ? d->cin : 1;
    return d->batch * d->cout * ie * d->tab.rows * d->tab.cols;
}

/* The full form on a translation table may run by FFT (op_gmconv_fft.c),
 * with threads by its own work estimate; a plan FFTW cannot make falls back
 * to the gather path. */
static int fft_threads(const gm__gmconv_dims *d, const gm__torus *s) {
    return gm__gm_threads((int64_t)(gm__gmconv_fft_flops(d, s) / 2));
}

static gm_status gmconv_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0], *w = node->in[1], *bias = node->in[2];
    if (!y->grad) return GM_OK;
    const gmconv_saved *sv = node->saved;
    const gm__gmconv_dims d = dims_of(sv->plan, x, w, sv->form);
    const bool gx = x->requires_grad, gw = w->requires_grad, gb = bias && bias->requires_grad;
    if (!gx && !gw && !gb) return GM_OK;
    if (gx) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    if (gw) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(w));
    if (gb) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(bias));
    gm_real *dx = gx ? x->grad : NULL, *dw = gw ? w->grad : NULL, *db = gb ? bias->grad : NULL;
    gm__torus tor;
    if (gm__gmconv_fft_choose(&d, &tor)) {
        const int ntf = fft_threads(&d, &tor);
        const size_t bytes = gm__gmconv_fft_scratch_bytes(&d, &tor, ntf, true);
        void *fs = gm_arena_alloc(y->arena, bytes);
        if (!fs) return gm__nomem(OP ": backward FFT scratch");
        const gm_status st =
            gm__gmconv_fft_backward(&d, &tor, ntf, fs, x->data, w->data, y->grad, dx, dw, db);
        gm_arena_release(y->arena, fs, bytes);
        if (st == GM_OK) return GM_OK;
    }
    const int nt = gm__gm_threads(work_of(&d));
    const size_t bytes = gm__gmconv_scratch_bytes(&d, nt, true);
    void *scratch = gm_arena_alloc(y->arena, bytes);
    if (!scratch) return gm__nomem(OP ": backward scratch");
    gm__gmconv_backward(&d, nt, scratch, x->data, w->data, y->grad, dx, dw, db);
    gm_arena_release(y->arena, scratch, bytes);
    return GM_OK;
}

gm_status gm_op_gmconv(gm_ctx *ctx, const gm_gmat_plan *plan, gm_tensor *x, gm_tensor *w,
                       gm_tensor *bias, gm_conv_form form, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !plan || !x || !w, GM_ERR_INVALID_ARG,
                       OP ": ctx, plan, x and w must be non-NULL");
    GM_RETURN_ERROR_IF(form != GM_CONV_FULL && form != GM_CONV_SHARED, GM_ERR_INVALID_ARG,
                       OP ": form %d is neither GM_CONV_FULL nor GM_CONV_SHARED", (int)form);
    const int64_t kk = gm_gmat_plan_support_size(plan), cols = gm_gmat_plan_order(plan);
    const int64_t n_in = gm_gmat_plan_input_size(plan);
    char expect[96];
    if (x->ndim != 3 || x->shape[2] != n_in) {
        snprintf(expect, sizeof expect, "(B, I, %lld) for a plan of input size %lld",
                 (long long)n_in, (long long)n_in);
        return gm__shape_error(OP, "x", x, expect);
    }
    const int64_t ni = x->shape[1];
    if (form == GM_CONV_FULL && (w->ndim != 3 || w->shape[1] != ni || w->shape[2] != kk)) {
        snprintf(expect, sizeof expect, "(O, %lld, %lld) (full form: O, I, K)", (long long)ni,
                 (long long)kk);
        return gm__shape_error(OP, "w", w, expect);
    }
    if (form == GM_CONV_SHARED && (w->ndim != 2 || w->shape[1] != kk)) {
        snprintf(expect, sizeof expect, "(O, %lld) (shared form: O, K)", (long long)kk);
        return gm__shape_error(OP, "w", w, expect);
    }
    const int64_t no = w->shape[0];
    if (bias && (bias->ndim != 1 || bias->shape[0] != no)) {
        snprintf(expect, sizeof expect, "(%lld) (one per output channel)", (long long)no);
        return gm__shape_error(OP, "bias", bias, expect);
    }

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 3, (int64_t[]){x->shape[0], no, cols}, &y));
    const gm__gmconv_dims d = dims_of(plan, x, w, form);
    const gm_real *bd = bias ? bias->data : NULL;
    gm__torus tor;
    bool done = false;
    /* Scratch goes back to the arena as soon as the result is written. */
    if (gm__gmconv_fft_choose(&d, &tor)) {
        const int ntf = fft_threads(&d, &tor);
        const size_t bytes = gm__gmconv_fft_scratch_bytes(&d, &tor, ntf, false);
        void *fs = gm_arena_alloc(arena, bytes);
        if (!fs) return gm__nomem(OP ": FFT scratch");
        done = gm__gmconv_fft_forward(&d, &tor, ntf, fs, x->data, w->data, bd, y->data) == GM_OK;
        gm_arena_release(arena, fs, bytes);
    }
    if (!done) {
        const int nt = gm__gm_threads(work_of(&d));
        const size_t bytes = gm__gmconv_scratch_bytes(&d, nt, false);
        void *scratch = gm_arena_alloc(arena, bytes);
        if (!scratch) return gm__nomem(OP ": scratch");
        gm__gmconv_forward(&d, nt, scratch, x->data, w->data, bd, y->data);
        gm_arena_release(arena, scratch, bytes);
    }

    gm_tensor *in[3] = {x, w, bias};
    if (gm_ctx_needs_grad(ctx, 3, in)) {
        gmconv_saved *sv = gm_arena_alloc(arena, sizeof *sv);
        if (!sv) return gm__nomem(OP ": saved state");
        sv->plan = plan;
        sv->form = form;
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_GMCONV, gmconv_backward, y, 3, in, sv));
    }
    *out = y;
    return GM_OK;
}
