/* Dense ops in the float build (linear, conv1x1, global_pool, conv2d,
 * maxpool2d): forward and backward against direct loops to float rounding,
 * with the batch run in turn and spread over threads; invariances and
 * identities between ops; shape errors, no-gradient mode, NaN propagation
 * and out-of-memory injection. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "ref_ops.h"
#include "test_support.h"

/* Gradients start from this value, so that backward is seen to add to them. */
#define PREFILL 0.25

static const int thread_counts[] = {1, 3};
#define NTHREAD_COUNTS ((int)(sizeof thread_counts / sizeof thread_counts[0]))

static gm_ctx *new_ctx(void) {
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    return ctx;
}

static void expect_values(const char *what, const char *which, int64_t n, const gm_real *got,
                          double base, const double *ref, const double *sc, int64_t k) {
    cr_assert_not_null(got, "%s: %s missing", what, which);
    /* (k + 3) eps (|base| + sum|terms|), k the number of terms */
    double u = ref_round_units(n, got, base, ref, sc, k + 3);
    cr_expect(u <= 1.0, "%s: %s off by %.3g rounding bounds", what, which, u);
}

/* Reference gradients of an op with input x, weight w (O, ..) and bias (O),
 * with their scales, as the ref_*_bwd loops fill them. */
typedef struct ref_grads {
    double *dx, *dxs, *dw, *dws, *db, *dbs;
} ref_grads;

static ref_grads ref_grads_new(const gm_tensor *x, const gm_tensor *w) {
    return (ref_grads){.dx = ref_dbuf(x->numel), .dxs = ref_dbuf(x->numel),
                       .dw = ref_dbuf(w->numel), .dws = ref_dbuf(w->numel),
                       .db = ref_dbuf(w->shape[0]), .dbs = ref_dbuf(w->shape[0])};
}

/* Checks the prefilled gradients of x, w and bias (when not NULL) against g,
 * with kx, kw and kb terms per element, and frees g. */
static void expect_grads(const char *what, const gm_tensor *x, const gm_tensor *w,
                         const gm_tensor *bias, ref_grads *g, int64_t kx, int64_t kw,
                         int64_t kb) {
    expect_values(what, "dx", x->numel, x->grad, PREFILL, g->dx, g->dxs, kx);
    expect_values(what, "dw", w->numel, w->grad, PREFILL, g->dw, g->dws, kw);
    if (bias) expect_values(what, "dbias", w->shape[0], bias->grad, PREFILL, g->db, g->dbs, kb);
    gm_free(g->dx);
    gm_free(g->dxs);
    gm_free(g->dw);
    gm_free(g->dws);
    gm_free(g->db);
    gm_free(g->dbs);
}

static gm_real *random_reals(gm_ctx *ctx, gm_rng *rng, int64_t n) {
    gm_real *p = gm_arena_alloc(gm_ctx_arena(ctx), (size_t)n * sizeof *p);
    cr_assert_not_null(p);
    for (int64_t i = 0; i < n; i++) p[i] = (gm_real)(2.0 * gm_rng_uniform(rng) - 1.0);
    return p;
}

static void prefill_grads(int nin, gm_tensor **in) {
    for (int i = 0; i < nin; i++) {
        if (!in[i]) continue;
        OK(gm_tensor_grad_ensure(in[i]));
        for (int64_t j = 0; j < in[i]->numel; j++) in[i]->grad[j] = (gm_real)PREFILL;
    }
}

static void expect_shape(const char *what, const gm_tensor *t, int ndim, const int64_t *shape) {
    cr_assert_not_null(t, "%s: no output", what);
    cr_assert_eq(t->ndim, ndim, "%s: output has %d dims, expected %d", what, t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(t->shape[i], shape[i], "%s: output dim %d is %lld, expected %lld", what, i,
                     (long long)t->shape[i], (long long)shape[i]);
}

/* --- linear ------------------------------------------------------------- */

Test(ops_dense, linear_matches_reference_loops) {
    static const struct {
        int64_t b, i, o;
        bool bias;
    } cases[] = {{1, 1, 1, true}, {1, 5, 3, false}, {4, 7, 2, true},
                 {3, 1, 6, true}, {5, 4, 4, false}, {17, 33, 9, true}};
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 201, 0);
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int64_t nb = cases[ci].b, ni = cases[ci].i, no = cases[ci].o;
            char name[96];
            snprintf(name, sizeof name, "linear B=%lld I=%lld O=%lld bias=%d threads=%d",
                     (long long)nb, (long long)ni, (long long)no, cases[ci].bias,
                     thread_counts[t]);
            gm_tensor *x = gc_random_tensor(arena, &rng, 2, (int64_t[]){nb, ni}, true);
            gm_tensor *w = gc_random_tensor(arena, &rng, 2, (int64_t[]){no, ni}, true);
            gm_tensor *bias =
                cases[ci].bias ? gc_random_tensor(arena, &rng, 1, (int64_t[]){no}, true) : NULL;
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            OK(gm_op_linear(ctx, x, w, bias, &y));
            expect_shape(name, y, 2, (int64_t[]){nb, no});
            double *ref = ref_dbuf(y->numel), *sc = ref_dbuf(y->numel);
            ref_linear(x, w, bias, ref, sc);
            expect_values(name, "forward", y->numel, y->data, 0.0, ref, sc, ni + 1);
            gm_free(ref);
            gm_free(sc);

            prefill_grads(3, (gm_tensor *[]){x, w, bias});
            const gm_real *dy = random_reals(ctx, &rng, y->numel);
            OK(gc_backward_weighted(ctx, y, dy));
            ref_grads g = ref_grads_new(x, w);
            ref_linear_bwd(x, w, dy, g.dx, g.dxs, g.dw, g.dws, g.db, g.dbs);
            expect_grads(name, x, w, bias, &g, no, nb, nb);
        }
    }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- conv1x1 ------------------------------------------------------------ */

Test(ops_dense, conv1x1_matches_reference_loops) {
    static const struct {
        int64_t b, i, o, n;
        bool bias;
    } cases[] = {
        {1, 1, 1, 1, true},  {1, 3, 2, 5, false}, {4, 3, 5, 7, true},   {3, 2, 2, 1, true},
        {6, 5, 3, 9, false}, {2, 4, 1, 8, true},  {7, 10, 12, 24, true},
        /* large enough per sample that BLAS threads each sample instead */
        {2, 64, 64, 1100, true},
    };
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 202, 0);
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int64_t nb = cases[ci].b, ni = cases[ci].i, no = cases[ci].o, n = cases[ci].n;
            char name[112];
            snprintf(name, sizeof name, "conv1x1 B=%lld I=%lld O=%lld n=%lld bias=%d threads=%d",
                     (long long)nb, (long long)ni, (long long)no, (long long)n, cases[ci].bias,
                     thread_counts[t]);
            gm_tensor *x = gc_random_tensor(arena, &rng, 3, (int64_t[]){nb, ni, n}, true);
            gm_tensor *w = gc_random_tensor(arena, &rng, 2, (int64_t[]){no, ni}, true);
            gm_tensor *bias =
                cases[ci].bias ? gc_random_tensor(arena, &rng, 1, (int64_t[]){no}, true) : NULL;
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            OK(gm_op_conv1x1(ctx, x, w, bias, &y));
            expect_shape(name, y, 3, (int64_t[]){nb, no, n});
            double *ref = ref_dbuf(y->numel), *sc = ref_dbuf(y->numel);
            ref_conv1x1(x, w, bias, ref, sc);
            expect_values(name, "forward", y->numel, y->data, 0.0, ref, sc, ni + 1);
            gm_free(ref);
            gm_free(sc);

            prefill_grads(3, (gm_tensor *[]){x, w, bias});
            const gm_real *dy = random_reals(ctx, &rng, y->numel);
            OK(gc_backward_weighted(ctx, y, dy));
            ref_grads g = ref_grads_new(x, w);
            ref_conv1x1_bwd(x, w, dy, g.dx, g.dxs, g.dw, g.dws, g.db, g.dbs);
            expect_grads(name, x, w, bias, &g, no, nb * n + 3, nb * n);
        }
    }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- global_pool -------------------------------------------------------- */

Test(ops_dense, global_pool_matches_reference_loops) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 3, 5}, {4, 2, 7}, {2, 5, 16}, {8, 64, 300}};
    static const gm_reduce modes[] = {GM_REDUCE_MAX, GM_REDUCE_MEAN};
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 203, 0);
    for (size_t m = 0; m < 2; m++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t *s = shapes[si];
            char name[96];
            snprintf(name, sizeof name, "global_pool %s (%lld, %lld, %lld)",
                     modes[m] == GM_REDUCE_MAX ? "max" : "mean", (long long)s[0], (long long)s[1],
                     (long long)s[2]);
            gm_tensor *x = gc_random_tensor(arena, &rng, 3, s, true);
            /* a tie for the maximum of the last row: the first one wins */
            x->data[x->numel - 1] = x->data[x->numel - s[2]] = (gm_real)1.5;
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            OK(gm_op_global_pool(ctx, x, modes[m], &y));
            expect_shape(name, y, 2, s);
            double *ref = ref_dbuf(y->numel), *sc = ref_dbuf(y->numel);
            ref_global_pool(x, modes[m], ref, sc);
            expect_values(name, "forward", y->numel, y->data, 0.0, ref, sc, 1);
            gm_free(ref);
            gm_free(sc);

            prefill_grads(1, &x);
            const gm_real *dy = random_reals(ctx, &rng, y->numel);
            OK(gc_backward_weighted(ctx, y, dy));
            double *dx = ref_dbuf(x->numel), *dxs = ref_dbuf(x->numel);
            ref_global_pool_bwd(x, modes[m], dy, dx, dxs);
            expect_values(name, "dx", x->numel, x->grad, PREFILL, dx, dxs, 2);
            gm_free(dx);
            gm_free(dxs);
        }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

Test(ops_dense, global_pool_is_invariant_under_permutations_of_the_last_axis) {
    const int64_t nb = 3, nc = 4, n = 24;
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 204, 0);
    gm_tensor *x = gc_random_tensor(arena, &rng, 3, (int64_t[]){nb, nc, n}, false);
    gm_tensor *xp = gc_random_tensor(arena, &rng, 3, (int64_t[]){nb, nc, n}, false);
    /* ties in the max: the value is the same whichever copy wins */
    x->data[5] = x->data[17] = (gm_real)2;
    int64_t perm[24];
    for (int trial = 0; trial < 20; trial++) {
        for (int64_t g = 0; g < n; g++) perm[g] = g;
        for (int64_t g = n - 1; g > 0; g--) {
            int64_t j = (int64_t)gm_rng_below(&rng, (uint32_t)(g + 1));
            int64_t tmp = perm[g];
            perm[g] = perm[j];
            perm[j] = tmp;
        }
        for (int64_t r = 0; r < nb * nc; r++)
            for (int64_t g = 0; g < n; g++) xp->data[r * n + g] = x->data[r * n + perm[g]];
        for (int m = 0; m < 2; m++) {
            gm_reduce mode = m ? GM_REDUCE_MEAN : GM_REDUCE_MAX;
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL, *yp = NULL;
            OK(gm_op_global_pool(ctx, x, mode, &y));
            OK(gm_op_global_pool(ctx, xp, mode, &yp));
            for (int64_t r = 0; r < nb * nc; r++) {
                if (mode == GM_REDUCE_MAX) {
                    cr_assert_eq(y->data[r], yp->data[r], "max, trial %d, row %lld", trial,
                                 (long long)r);
                } else {
                    /* summation order may change the last bit only */
                    cr_assert_leq(fabs((double)y->data[r] - (double)yp->data[r]),
                                  2.0 * ref_real_eps(), "mean, trial %d, row %lld", trial,
                                  (long long)r);
                }
            }
        }
    }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- conv2d ------------------------------------------------------------- */

Test(ops_dense, conv2d_matches_reference_loops) {
    static const struct {
        int64_t b, i, o, h, w, kh, kw, stride, pad;
        bool bias;
    } cases[] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 0, true},   {1, 2, 3, 5, 5, 3, 3, 1, 1, true},
        {2, 3, 2, 6, 7, 3, 3, 2, 0, false},  {3, 2, 2, 5, 4, 2, 3, 2, 2, true},
        {1, 1, 2, 7, 5, 5, 5, 1, 2, false},  {2, 2, 1, 4, 4, 1, 1, 1, 0, true},
        {4, 1, 2, 3, 3, 3, 3, 2, 1, true},   {1, 2, 2, 3, 3, 5, 5, 1, 1, false},
        {2, 1, 1, 6, 5, 2, 2, 3, 1, true},   {5, 3, 4, 9, 11, 3, 3, 1, 1, true},
        /* tiles of 256 output positions: a full tile and a partial one */
        {2, 128, 2, 20, 20, 3, 3, 1, 1, true},
        /* ... with stride 2, the second tile starting inside an output row */
        {1, 128, 2, 41, 41, 3, 3, 2, 1, false},
        /* one sample is enough work for BLAS to thread */
        {2, 16, 32, 34, 34, 3, 3, 1, 1, false},
    };
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 205, 0);
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int64_t nb = cases[ci].b, ni = cases[ci].i, no = cases[ci].o;
            const int64_t kh = cases[ci].kh, kw = cases[ci].kw;
            const int64_t stride = cases[ci].stride, pad = cases[ci].pad;
            const int64_t ho = (cases[ci].h + 2 * pad - kh) / stride + 1;
            const int64_t wo = (cases[ci].w + 2 * pad - kw) / stride + 1;
            char name[160];
            snprintf(name, sizeof name,
                     "conv2d B=%lld I=%lld O=%lld H=%lld W=%lld k=%lldx%lld stride=%lld pad=%lld "
                     "bias=%d threads=%d",
                     (long long)nb, (long long)ni, (long long)no, (long long)cases[ci].h,
                     (long long)cases[ci].w, (long long)kh, (long long)kw, (long long)stride,
                     (long long)pad, cases[ci].bias, thread_counts[t]);
            gm_tensor *x = gc_random_tensor(
                arena, &rng, 4, (int64_t[]){nb, ni, cases[ci].h, cases[ci].w}, true);
            gm_tensor *w = gc_random_tensor(arena, &rng, 4, (int64_t[]){no, ni, kh, kw}, true);
            gm_tensor *bias =
                cases[ci].bias ? gc_random_tensor(arena, &rng, 1, (int64_t[]){no}, true) : NULL;
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            OK(gm_op_conv2d(ctx, x, w, bias, stride, pad, &y));
            expect_shape(name, y, 4, (int64_t[]){nb, no, ho, wo});
            double *ref = ref_dbuf(y->numel), *sc = ref_dbuf(y->numel);
            ref_conv2d(x, w, bias, stride, pad, ho, wo, ref, sc);
            expect_values(name, "forward", y->numel, y->data, 0.0, ref, sc, ni * kh * kw + 1);
            gm_free(ref);
            gm_free(sc);

            prefill_grads(3, (gm_tensor *[]){x, w, bias});
            const gm_real *dy = random_reals(ctx, &rng, y->numel);
            OK(gc_backward_weighted(ctx, y, dy));
            ref_grads g = ref_grads_new(x, w);
            ref_conv2d_bwd(x, w, stride, pad, ho, wo, dy, g.dx, g.dxs, g.dw, g.dws, g.db, g.dbs);
            expect_grads(name, x, w, bias, &g, no * kh * kw, nb * ho * wo + 3, nb * ho * wo);
        }
    }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

Test(ops_dense, conv2d_with_a_1x1_kernel_is_conv1x1_on_the_flattened_image) {
    const int64_t nb = 3, ni = 4, no = 5, h = 6, wd = 7;
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 206, 0);
    gm_tensor *x4 = gc_random_tensor(arena, &rng, 4, (int64_t[]){nb, ni, h, wd}, true);
    gm_tensor *w4 = gc_random_tensor(arena, &rng, 4, (int64_t[]){no, ni, 1, 1}, true);
    gm_tensor *b4 = gc_random_tensor(arena, &rng, 1, (int64_t[]){no}, true);
    gm_tensor *x3 = gc_random_tensor(arena, &rng, 3, (int64_t[]){nb, ni, h * wd}, true);
    gm_tensor *w2 = gc_random_tensor(arena, &rng, 2, (int64_t[]){no, ni}, true);
    gm_tensor *b1 = gc_random_tensor(arena, &rng, 1, (int64_t[]){no}, true);
    memcpy(x3->data, x4->data, (size_t)x4->numel * sizeof(gm_real));
    memcpy(w2->data, w4->data, (size_t)w4->numel * sizeof(gm_real));
    memcpy(b1->data, b4->data, (size_t)b4->numel * sizeof(gm_real));

    gm_tensor *y4 = NULL, *y3 = NULL;
    OK(gm_op_conv2d(ctx, x4, w4, b4, 1, 0, &y4));
    OK(gm_op_conv1x1(ctx, x3, w2, b1, &y3));
    cr_assert_eq(y4->numel, y3->numel);
    /* the same sums in possibly different order */
    const double tol = 4.0 * (double)(ni + 2) * ref_real_eps() * (double)(ni + 1);
    for (int64_t j = 0; j < y4->numel; j++)
        cr_assert_leq(fabs((double)y4->data[j] - (double)y3->data[j]), tol, "output %lld",
                      (long long)j);

    /* and so are the gradients, for the same upstream gradient */
    const gm_real *dy = random_reals(ctx, &rng, y4->numel);
    OK(gc_backward_weighted(ctx, y4, dy));
    OK(gc_backward_weighted(ctx, y3, dy));
    const double gtol = 4.0 * (double)(nb * h * wd + 2) * ref_real_eps() * (double)(nb * h * wd);
    for (int64_t j = 0; j < x4->numel; j++)
        cr_assert_leq(fabs((double)x4->grad[j] - (double)x3->grad[j]), tol, "dx %lld",
                      (long long)j);
    for (int64_t j = 0; j < w4->numel; j++)
        cr_assert_leq(fabs((double)w4->grad[j] - (double)w2->grad[j]), gtol, "dw %lld",
                      (long long)j);
    for (int64_t j = 0; j < no; j++)
        cr_assert_leq(fabs((double)b4->grad[j] - (double)b1->grad[j]), gtol, "dbias %lld",
                      (long long)j);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- maxpool2d ---------------------------------------------------------- */

Test(ops_dense, maxpool2d_matches_reference_loops) {
    static const int64_t shapes[][4] = {
        {1, 1, 2, 2}, {2, 3, 4, 6}, {3, 2, 8, 2}, {1, 1, 6, 10}, {4, 16, 32, 32}};
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 207, 0);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t *s = shapes[si];
        char name[96];
        snprintf(name, sizeof name, "maxpool2d (%lld, %lld, %lld, %lld)", (long long)s[0],
                 (long long)s[1], (long long)s[2], (long long)s[3]);
        gm_tensor *x = gc_random_tensor(arena, &rng, 4, s, true);
        /* a tie for the maximum of a window: the first in row-major order wins */
        x->data[0] = x->data[1] = (gm_real)1.5;
        gm_ctx_reset(ctx);
        gm_tensor *y = NULL;
        OK(gm_op_maxpool2d(ctx, x, &y));
        expect_shape(name, y, 4, (int64_t[]){s[0], s[1], s[2] / 2, s[3] / 2});
        double *ref = ref_dbuf(y->numel), *sc = ref_dbuf(y->numel);
        ref_maxpool2d(x, ref);
        expect_values(name, "forward", y->numel, y->data, 0.0, ref, sc, 0);
        gm_free(ref);
        gm_free(sc);

        prefill_grads(1, &x);
        const gm_real *dy = random_reals(ctx, &rng, y->numel);
        OK(gc_backward_weighted(ctx, y, dy));
        double *dx = ref_dbuf(x->numel), *dxs = ref_dbuf(x->numel);
        ref_maxpool2d_bwd(x, dy, dx, dxs);
        expect_values(name, "dx", x->numel, x->grad, PREFILL, dx, dxs, 1);
        gm_free(dx);
        gm_free(dxs);
    }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- behaviour shared by the dense ops ----------------------------------- */

Test(ops_dense, max_pools_propagate_nan) {
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 208, 0);
    gm_tensor *x3 = gc_random_tensor(arena, &rng, 3, (int64_t[]){1, 2, 5}, false);
    gm_tensor *x4 = gc_random_tensor(arena, &rng, 4, (int64_t[]){1, 1, 2, 4}, false);
    x3->data[3] = NAN;      /* row 0, not first */
    x4->data[4 + 3] = NAN;  /* second window, bottom right */
    gm_tensor *y = NULL;
    OK(gm_op_global_pool(ctx, x3, GM_REDUCE_MAX, &y));
    cr_expect(isnan(y->data[0]), "global max of a row with a NaN is NaN");
    cr_expect(!isnan(y->data[1]));
    OK(gm_op_maxpool2d(ctx, x4, &y));
    cr_expect(!isnan(y->data[0]));
    cr_expect(isnan(y->data[1]), "a window with a NaN pools to NaN");
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

Test(ops_dense, nothing_is_recorded_without_gradients) {
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 209, 0);
    gm_tensor *x2 = gc_random_tensor(arena, &rng, 2, (int64_t[]){2, 3}, true);
    gm_tensor *w2 = gc_random_tensor(arena, &rng, 2, (int64_t[]){4, 3}, true);
    gm_tensor *x3 = gc_random_tensor(arena, &rng, 3, (int64_t[]){2, 3, 5}, true);
    gm_tensor *x4 = gc_random_tensor(arena, &rng, 4, (int64_t[]){2, 3, 4, 4}, true);
    gm_tensor *w4 = gc_random_tensor(arena, &rng, 4, (int64_t[]){2, 3, 3, 3}, true);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: gradients off; pass 1: on, but no input requires one */
        gm_ctx_reset(ctx);
        (void)gm_ctx_set_grad(ctx, pass == 1);
        bool rg = pass == 0;
        x2->requires_grad = w2->requires_grad = x3->requires_grad = rg;
        x4->requires_grad = w4->requires_grad = rg;
        gm_tensor *y[6] = {0};
        OK(gm_op_linear(ctx, x2, w2, NULL, &y[0]));
        OK(gm_op_conv1x1(ctx, x3, w2, NULL, &y[1]));
        OK(gm_op_global_pool(ctx, x3, GM_REDUCE_MAX, &y[2]));
        OK(gm_op_global_pool(ctx, x3, GM_REDUCE_MEAN, &y[3]));
        OK(gm_op_conv2d(ctx, x4, w4, NULL, 1, 1, &y[4]));
        OK(gm_op_maxpool2d(ctx, x4, &y[5]));
        cr_expect_eq(gm_ctx_tape_size(ctx), 0, "pass %d: tape has %lld nodes", pass,
                     (long long)gm_ctx_tape_size(ctx));
        for (int i = 0; i < 6; i++) cr_expect(!y[i]->requires_grad, "pass %d, op %d", pass, i);
    }
    (void)gm_ctx_set_grad(ctx, true);
    x2->requires_grad = true;
    gm_tensor *y = NULL;
    OK(gm_op_linear(ctx, x2, w2, NULL, &y));
    cr_expect_eq(gm_ctx_tape_size(ctx), 1);
    cr_expect(y->requires_grad);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* A failing call returns the status, names the op in the detail and leaves
 * *out NULL (read after the call: argument evaluation order is unspecified). */
static void expect_fail(gm_status got, gm_status want, const char *op, gm_tensor *const *out,
                        const char *what) {
    cr_expect_eq(got, want, "%s: got %s, expected %s", what, gm_strerror(got), gm_strerror(want));
    cr_expect_null(*out, "%s: *out is not NULL after a failure", what);
    cr_expect(strstr(gm_error_detail(), op) != NULL, "%s: detail '%s' does not name %s", what,
              gm_error_detail(), op);
}

Test(ops_dense, shape_errors_name_the_op) {
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 210, 0);
#define T(...)                                                                             \
    gc_random_tensor(arena, &rng, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                     (int64_t[]){__VA_ARGS__}, true)
    /* a failing op must overwrite this with NULL */
    static gm_tensor sentinel;
    gm_tensor *y;

    /* linear: x (B, I), w (O, I), bias (O) */
    y = &sentinel;
    expect_fail(gm_op_linear(ctx, T(2, 3, 1), T(4, 3), NULL, &y), GM_ERR_SHAPE, "linear", &y,
                "linear x 3-D");
    y = &sentinel;
    expect_fail(gm_op_linear(ctx, T(2, 3), T(4, 5), NULL, &y), GM_ERR_SHAPE, "linear", &y,
                "linear w with the wrong I");
    y = &sentinel;
    expect_fail(gm_op_linear(ctx, T(2, 3), T(3), NULL, &y), GM_ERR_SHAPE, "linear", &y,
                "linear w 1-D");
    y = &sentinel;
    expect_fail(gm_op_linear(ctx, T(2, 3), T(4, 3), T(3), &y), GM_ERR_SHAPE, "linear", &y,
                "linear bias with the wrong O");
    y = &sentinel;
    expect_fail(gm_op_linear(ctx, T(2, 3), T(4, 3), T(1, 4), &y), GM_ERR_SHAPE, "linear", &y,
                "linear bias 2-D");

    /* conv1x1: x (B, I, n), w (O, I), bias (O) */
    y = &sentinel;
    expect_fail(gm_op_conv1x1(ctx, T(2, 3), T(4, 3), NULL, &y), GM_ERR_SHAPE, "conv1x1", &y,
                "conv1x1 x 2-D");
    y = &sentinel;
    expect_fail(gm_op_conv1x1(ctx, T(2, 3, 5), T(4, 2), NULL, &y), GM_ERR_SHAPE, "conv1x1", &y,
                "conv1x1 w with the wrong I");
    y = &sentinel;
    expect_fail(gm_op_conv1x1(ctx, T(2, 3, 5), T(4, 3), T(5), &y), GM_ERR_SHAPE, "conv1x1", &y,
                "conv1x1 bias with the wrong O");

    /* global_pool: x (B, C, n) */
    y = &sentinel;
    expect_fail(gm_op_global_pool(ctx, T(2, 3), GM_REDUCE_MAX, &y), GM_ERR_SHAPE, "global_pool",
                &y, "global_pool x 2-D");
    y = &sentinel;
    expect_fail(gm_op_global_pool(ctx, T(2, 3, 4, 5), GM_REDUCE_MEAN, &y), GM_ERR_SHAPE,
                "global_pool", &y, "global_pool x 4-D");
    y = &sentinel;
    expect_fail(gm_op_global_pool(ctx, T(2, 3, 4), (gm_reduce)7, &y), GM_ERR_INVALID_ARG,
                "global_pool", &y, "global_pool unknown mode");

    /* conv2d: x (B, I, H, W), w (O, I, kh, kw), bias (O), stride >= 1, pad >= 0 */
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5), T(4, 3, 3, 3), NULL, 1, 0, &y), GM_ERR_SHAPE,
                "conv2d", &y, "conv2d x 3-D");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5, 5), T(4, 2, 3, 3), NULL, 1, 0, &y), GM_ERR_SHAPE,
                "conv2d", &y, "conv2d w with the wrong I");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5, 5), T(4, 3, 3), NULL, 1, 0, &y), GM_ERR_SHAPE,
                "conv2d", &y, "conv2d w 3-D");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5, 5), T(4, 3, 3, 3), T(3), 1, 0, &y), GM_ERR_SHAPE,
                "conv2d", &y, "conv2d bias with the wrong O");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 2, 5), T(4, 3, 3, 3), NULL, 1, 0, &y), GM_ERR_SHAPE,
                "conv2d", &y, "conv2d kernel taller than the input");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5, 1), T(4, 3, 1, 4), NULL, 2, 1, &y), GM_ERR_SHAPE,
                "conv2d", &y, "conv2d kernel wider than the padded input");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5, 5), T(4, 3, 3, 3), NULL, 0, 0, &y),
                GM_ERR_INVALID_ARG, "conv2d", &y, "conv2d stride 0");
    y = &sentinel;
    expect_fail(gm_op_conv2d(ctx, T(2, 3, 5, 5), T(4, 3, 3, 3), NULL, 1, -1, &y),
                GM_ERR_INVALID_ARG, "conv2d", &y, "conv2d pad -1");
    /* the smallest valid output is 1x1: H + 2 pad == kh */
    y = NULL;
    OK(gm_op_conv2d(ctx, T(1, 1, 1, 2), T(1, 1, 3, 4), NULL, 5, 1, &y));
    expect_shape("conv2d 1x1 output", y, 4, (int64_t[]){1, 1, 1, 1});

    /* maxpool2d: x (B, C, H, W), H and W even */
    y = &sentinel;
    expect_fail(gm_op_maxpool2d(ctx, T(2, 3, 4), &y), GM_ERR_SHAPE, "maxpool2d", &y,
                "maxpool2d x 3-D");
    y = &sentinel;
    expect_fail(gm_op_maxpool2d(ctx, T(2, 3, 5, 4), &y), GM_ERR_SHAPE, "maxpool2d", &y,
                "maxpool2d odd H");
    y = &sentinel;
    expect_fail(gm_op_maxpool2d(ctx, T(2, 3, 4, 3), &y), GM_ERR_SHAPE, "maxpool2d", &y,
                "maxpool2d odd W");

    /* NULL arguments */
    y = &sentinel;
    expect_fail(gm_op_linear(ctx, NULL, T(4, 3), NULL, &y), GM_ERR_INVALID_ARG, "linear", &y,
                "linear x NULL");
    y = &sentinel;
    expect_fail(gm_op_conv2d(NULL, T(2, 3, 5, 5), T(4, 3, 3, 3), NULL, 1, 0, &y),
                GM_ERR_INVALID_ARG, "conv2d", &y, "conv2d ctx NULL");
    cr_expect_eq(gm_op_maxpool2d(ctx, T(2, 3, 4, 4), NULL), GM_ERR_INVALID_ARG);
#undef T
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* Runs the dense ops forward and backward in a fresh ctx with small chunks,
 * so that every op needs new ones. */
static gm_status dense_chain(gm_tensor **in) {
    gm_ctx *ctx = NULL;
    gm_status st = gm_ctx_new(256, 1, &ctx);
    if (st != GM_OK) return st;
    gm_tensor *y = NULL, *p = NULL, *g = NULL, *z = NULL, *l = NULL;
    st = gm_op_conv2d(ctx, in[0], in[1], in[2], 1, 1, &y);
    if (st == GM_OK) st = gm_op_maxpool2d(ctx, y, &p);
    gm_real *dy = NULL;
    if (st == GM_OK) {
        dy = gm_arena_calloc(gm_ctx_arena(ctx), (size_t)p->numel, sizeof *dy);
        if (!dy) st = GM_ERR_NOMEM;
    }
    if (st == GM_OK) st = gc_backward_weighted(ctx, p, dy);
    if (st == GM_OK) st = gm_op_conv1x1(ctx, in[3], in[4], in[5], &g);
    if (st == GM_OK) st = gm_op_global_pool(ctx, g, GM_REDUCE_MAX, &z);
    if (st == GM_OK) st = gm_op_linear(ctx, z, in[6], NULL, &l);
    if (st == GM_OK) {
        dy = gm_arena_calloc(gm_ctx_arena(ctx), (size_t)l->numel, sizeof *dy);
        if (!dy) st = GM_ERR_NOMEM;
    }
    if (st == GM_OK) st = gc_backward_weighted(ctx, l, dy);
    gm_ctx_free(ctx);
    return st;
}

/* Every allocation an op or its backward makes can fail: the call reports
 * GM_ERR_NOMEM (never crashes or leaks), and with enough memory it succeeds. */
Test(ops_dense, out_of_memory_is_reported) {
    gm_arena *arena = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 211, 0);
    gm_tensor *in[7] = {
        gc_random_tensor(arena, &rng, 4, (int64_t[]){3, 2, 6, 6}, true),
        gc_random_tensor(arena, &rng, 4, (int64_t[]){3, 2, 3, 3}, true),
        gc_random_tensor(arena, &rng, 1, (int64_t[]){3}, true),
        gc_random_tensor(arena, &rng, 3, (int64_t[]){4, 5, 9}, true),
        gc_random_tensor(arena, &rng, 2, (int64_t[]){6, 5}, true),
        gc_random_tensor(arena, &rng, 1, (int64_t[]){6}, true),
        gc_random_tensor(arena, &rng, 2, (int64_t[]){2, 6}, true),
    };
    /* the parameters' gradients come from their own arena: allocate them now */
    prefill_grads(7, in);
    int64_t before = gm_alloc_count();
    OK(dense_chain(in));
    const int64_t needed = gm_alloc_count() - before;
    cr_assert_gt(needed, 3, "the chain allocates");
    for (int64_t n = 0; n < needed; n++) {
        gm_alloc_fail_after(n);
        gm_status st = dense_chain(in);
        gm_alloc_fail_after(-1);
        cr_expect_eq(st, GM_ERR_NOMEM, "allocation %lld of %lld failing: %s (%s)", (long long)n,
                     (long long)needed, gm_strerror(st), gm_error_detail());
    }
    gm_arena_free(arena);
}
