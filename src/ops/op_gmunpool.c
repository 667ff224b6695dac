/* gmunpool: the learnable transpose of pooling through a pool plan,
 *   y[b,o,T[r][j]] = sum_i p[i,o,r] x[b,i,j]   (y zero where T never points).
 *
 * With p packed as the (O*R) x I matrix P[(o,r)][i] = p[i,o,r], one GEMM per
 * sample and column block gives Z = P x_b, whose row (o,r) is then scattered
 * through T row r. Backward turns that scatter into a gather, dZ[(o,r)][j] =
 * dy[b,o,T[r][j]], after which dx_b += P^T dZ and dP += dZ x_b^T are GEMMs;
 * dP is summed per thread and the partial sums are added in thread order. */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_gm.h"
#include "ops/ops_internal.h"

#define OP "gmunpool"

#define BLOCK_BYTES ((int64_t)1 << 20)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

typedef struct unpool_layout {
    int64_t orr; /* cout * rows: rows of Z */
    int64_t nb;  /* block columns */
    size_t off_p, off_part, off_thr, per_thread, part_bytes, total;
} unpool_layout;

static unpool_layout unpool_layout_of(const gm__gmunpool_dims *d, int nt, bool backward) {
    unpool_layout l = {0};
    const size_t sz = sizeof(gm_real);
    l.orr = d->cout * d->tab.rows;
    int64_t nb = BLOCK_BYTES / (l.orr * (int64_t)sizeof(gm_real));
    nb = nb < 32 ? 32 : nb / 16 * 16;
    l.nb = min64(nb, d->tab.cols);
    size_t at = 0;
    l.off_p = at;
    at += align64((size_t)(l.orr * d->cin) * sz);
    if (backward) {
        l.part_bytes = align64((size_t)(l.orr * d->cin) * sz);
        l.off_part = at;
        at += (size_t)nt * l.part_bytes;
    }
    l.per_thread = align64((size_t)(l.orr * l.nb) * sz);
    l.off_thr = at;
    l.total = at + (size_t)nt * l.per_thread;
    return l;
}

size_t gm__gmunpool_scratch_bytes(const gm__gmunpool_dims *d, int nthreads, bool backward) {
    return unpool_layout_of(d, nthreads, backward).total;
}

/* P[(o,r)][i] = p[i,o,r] */
static void pack_p(const gm__gmunpool_dims *d, const gm_real *p, gm_real *pp) {
    const int64_t ni = d->cin, no = d->cout, rows = d->tab.rows;
    for (int64_t i = 0; i < ni; i++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t r = 0; r < rows; r++)
                pp[(o * rows + r) * ni + i] = p[(i * no + o) * rows + r];
}

void gm__gmunpool_forward(const gm__gmunpool_dims *d, int nthreads, void *scratch, const gm_real *x,
                          const gm_real *p, gm_real *y) {
    const unpool_layout l = unpool_layout_of(d, nthreads, false);
    char *base = scratch;
    gm_real *pp = (gm_real *)(base + l.off_p);
    pack_p(d, p, pp);
    const int64_t rows = d->tab.rows, cols = d->tab.cols, n_in = d->tab.n_in;
    const int64_t ni = d->cin, no = d->cout, nb = l.nb, nblk = cdiv(cols, nb);
    const int nt = (int)min64(nthreads, d->batch);
    /* Samples go to threads whole: a general table may send two columns of
     * one sample to the same output. */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < d->batch; b++) {
        gm_real *z = (gm_real *)(base + l.off_thr + (size_t)omp_get_thread_num() * l.per_thread);
        gm_real *yb = y + b * no * n_in;
        memset(yb, 0, (size_t)(no * n_in) * sizeof *yb);
        for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t j0 = blk * nb, jn = min64(nb, cols - j0);
            gm__gemm(false, false, l.orr, jn, ni, 1, pp, ni, x + b * ni * cols + j0, cols, 0, z,
                     jn);
            for (int64_t q = 0; q < l.orr; q++) {
                gm_real *yo = yb + (q / rows) * n_in;
                const int32_t *tr = d->tab.t + (q % rows) * cols + j0;
                const gm_real *zq = z + q * jn;
                for (int64_t jj = 0; jj < jn; jj++) yo[tr[jj]] += zq[jj];
            }
        }
    }
}

void gm__gmunpool_backward(const gm__gmunpool_dims *d, int nthreads, void *scratch,
                           const gm_real *x, const gm_real *p, const gm_real *dy, gm_real *dx,
                           gm_real *dp) {
    if (!dx && !dp) return;
    const unpool_layout l = unpool_layout_of(d, nthreads, true);
    char *base = scratch;
    gm_real *pp = (gm_real *)(base + l.off_p);
    pack_p(d, p, pp);
    const int64_t rows = d->tab.rows, cols = d->tab.cols, n_in = d->tab.n_in;
    const int64_t ni = d->cin, no = d->cout, nb = l.nb, nblk = cdiv(cols, nb);
    const int64_t tasks = d->batch * nblk, psz = l.orr * ni;
    const int nt = (int)min64(nthreads, tasks);
    if (dp)
        for (int t = 0; t < nt; t++)
            memset(base + l.off_part + (size_t)t * l.part_bytes, 0, (size_t)psz * sizeof(gm_real));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t task = 0; task < tasks; task++) {
        const int tid = omp_get_thread_num();
        const int64_t b = task / nblk, j0 = (task % nblk) * nb, jn = min64(nb, cols - j0);
        gm_real *dz = (gm_real *)(base + l.off_thr + (size_t)tid * l.per_thread);
        const gm_real *dyb = dy + b * no * n_in;
        for (int64_t q = 0; q < l.orr; q++) {
            const gm_real *src = dyb + (q / rows) * n_in;
            const int32_t *tr = d->tab.t + (q % rows) * cols + j0;
            gm_real *dq = dz + q * jn;
            for (int64_t jj = 0; jj < jn; jj++) dq[jj] = src[tr[jj]];
        }
        if (dx)
            gm__gemm(true, false, ni, jn, l.orr, 1, pp, ni, dz, jn, 1, dx + b * ni * cols + j0,
                     cols);
        if (dp) {
            gm_real *part = (gm_real *)(base + l.off_part + (size_t)tid * l.part_bytes);
            gm__gemm(false, true, l.orr, ni, jn, 1, dz, jn, x + b * ni * cols + j0, cols, 1, part,
                     ni);
        }
    }
    if (dp)
        for (int t = 0; t < nt; t++) {
            const gm_real *part = (const gm_real *)(base + l.off_part + (size_t)t * l.part_bytes);
            for (int64_t i = 0; i < ni; i++)
                for (int64_t o = 0; o < no; o++)
                    for (int64_t r = 0; r < rows; r++)
                        dp[(i * no + o) * rows + r] += part[(o * rows + r) * ni + i];
        }
}

void gm__gmunpool_forward_ref(const gm__gmunpool_dims *d, const gm_real *x, const gm_real *p,
                              gm_real *y) {
    const int64_t rows = d->tab.rows, cols = d->tab.cols, n_in = d->tab.n_in;
    const int64_t ni = d->cin, no = d->cout;
    memset(y, 0, (size_t)(d->batch * no * n_in) * sizeof *y);
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < cols; j++) {
                    gm_real s = 0;
                    for (int64_t i = 0; i < ni; i++)
                        s += p[(i * no + o) * rows + r] * x[(b * ni + i) * cols + j];
                    y[(b * no + o) * n_in + d->tab.t[r * cols + j]] += s;
                }
}

void gm__gmunpool_backward_ref(const gm__gmunpool_dims *d, const gm_real *x, const gm_real *p,
                               const gm_real *dy, gm_real *dx, gm_real *dp) {
    const int64_t rows = d->tab.rows, cols = d->tab.cols, n_in = d->tab.n_in;
    const int64_t ni = d->cin, no = d->cout;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < cols; j++) {
                    const gm_real g = dy[(b * no + o) * n_in + d->tab.t[r * cols + j]];
                    for (int64_t i = 0; i < ni; i++) {
                        if (dx) dx[(b * ni + i) * cols + j] += p[(i * no + o) * rows + r] * g;
                        if (dp) dp[(i * no + o) * rows + r] += x[(b * ni + i) * cols + j] * g;
                    }
                }
}

/* --- the op --------------------------------------------------------------- */

typedef struct gmunpool_saved {
    const gm_gmat_plan *plan;
} gmunpool_saved;

static gm__gmunpool_dims dims_of(const gm_gmat_plan *plan, const gm_tensor *x, const gm_tensor *p) {
    return (gm__gmunpool_dims){
        .tab = gm__gm_table_of(plan),
        .batch = x->shape[0],
        .cin = x->shape[1],
        .cout = p->shape[1],
    };
}

static gm_status gmunpool_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0], *p = node->in[1];
    if (!y->grad) return GM_OK;
    const bool gx = x->requires_grad, gp = p->requires_grad;
    if (!gx && !gp) return GM_OK;
    if (gx) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    if (gp) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(p));
    const gmunpool_saved *sv = node->saved;
    const gm__gmunpool_dims d = dims_of(sv->plan, x, p);
    const int nt = gm__gm_threads(d.batch * d.cin * d.cout * d.tab.rows * d.tab.cols);
    const size_t bytes = gm__gmunpool_scratch_bytes(&d, nt, true);
    void *scratch = gm_arena_alloc(y->arena, bytes);
    if (!scratch) return gm__nomem(OP ": backward scratch");
    gm__gmunpool_backward(&d, nt, scratch, x->data, p->data, y->grad, gx ? x->grad : NULL,
                          gp ? p->grad : NULL);
    gm_arena_release(y->arena, scratch, bytes);
    return GM_OK;
}

gm_status gm_op_gmunpool(gm_ctx *ctx, const gm_gmat_plan *plan, gm_tensor *x, gm_tensor *p,
                         gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !plan || !x || !p, GM_ERR_INVALID_ARG,
                       OP ": ctx, plan, x and p must be non-NULL");
    const gm__gm_table tab = gm__gm_table_of(plan);
    char expect[96];
    if (x->ndim != 3 || x->shape[2] != tab.cols) {
        snprintf(expect, sizeof expect, "(B, I, %lld) for a plan of output size %lld",
                 (long long)tab.cols, (long long)tab.cols);
        return gm__shape_error(OP, "x", x, expect);
    }
    if (p->ndim != 3 || p->shape[0] != x->shape[1] || p->shape[2] != tab.rows) {
        snprintf(expect, sizeof expect, "(%lld, O, %lld) (I, O, R)", (long long)x->shape[1],
                 (long long)tab.rows);
        return gm__shape_error(OP, "p", p, expect);
    }

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(
        arena, 3, (int64_t[]){x->shape[0], p->shape[1], tab.n_in}, &y));
    const gm__gmunpool_dims d = dims_of(plan, x, p);
    const int nt = gm__gm_threads(d.batch * d.cin * d.cout * tab.rows * tab.cols);
    const size_t bytes = gm__gmunpool_scratch_bytes(&d, nt, false);
    void *scratch = gm_arena_alloc(arena, bytes);
    if (!scratch) return gm__nomem(OP ": scratch");
    gm__gmunpool_forward(&d, nt, scratch, x->data, p->data, y->data);
    gm_arena_release(arena, scratch, bytes);

    gm_tensor *in[2] = {x, p};
    if (gm_ctx_needs_grad(ctx, 2, in)) {
        gmunpool_saved *sv = gm_arena_alloc(arena, sizeof *sv);
        if (!sv) return gm__nomem(OP ": saved state");
        sv->plan = plan;
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_GMUNPOOL, gmunpool_backward, y, 2, in, sv));
    }
    *out = y;
    return GM_OK;
}
