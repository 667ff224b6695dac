/* Dense ops in float64 (linear, conv1x1, global_pool, conv2d, maxpool2d):
 * forward against direct loops, backward against central finite differences,
 * with the batch run in turn and spread over threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>

#include "gradcheck.h"
#include "ref_ops.h"
#include "test_support.h"

#define FD_H 1e-6
/* With h = 1e-6 the truncation and cancellation errors are about 1e-9; a
 * wrong index or a missed term gives errors of order 1e-1. */
#define FD_TOL 1e-7

/* One sequential run and one with the batch spread over threads (more
 * threads than samples in some cases, to cover the clamping). */
static const int thread_counts[] = {1, 3};
#define NTHREAD_COUNTS ((int)(sizeof thread_counts / sizeof thread_counts[0]))

/* Runs a forward once (gradients off) and checks it against ref (k terms per
 * output, scale sc). */
static void expect_forward(const char *what, const gm_tensor *got, int64_t numel, const double *ref,
                           const double *sc, int64_t k) {
    cr_assert_not_null(got, "%s: no output", what);
    cr_assert_eq(got->numel, numel, "%s: output has %lld elements, expected %lld", what,
                 (long long)got->numel, (long long)numel);
    /* rounding bound (k + 2) eps sum|terms|, k the number of terms per output */
    double u = ref_round_units(numel, got->data, 0.0, ref, sc, k + 2);
    cr_expect(u <= 1.0, "%s: forward off by %.3g rounding bounds", what, u);
}

static gm_ctx *new_ctx(void) {
    gm_ctx *ctx = NULL;
    cr_assert_eq(gm_ctx_new(0, 1, &ctx), GM_OK, "%s", gm_error_detail());
    return ctx;
}

/* --- linear ------------------------------------------------------------- */

typedef struct lin_case {
    int64_t b, i, o;
    bool bias;
} lin_case;

static gm_status fwd_linear(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    const lin_case *c = user;
    return gm_op_linear(ctx, in[0], in[1], c->bias ? in[2] : NULL, out);
}

Test(ops_dense_f64, linear) {
    static const lin_case cases[] = {
        {1, 1, 1, true}, {1, 5, 3, false}, {4, 7, 2, true}, {3, 1, 6, true}, {5, 4, 4, false},
    };
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 101, 0);
    double worst = 0.0;
    int checks = 0;
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const lin_case *c = &cases[ci];
            char name[96];
            snprintf(name, sizeof name, "linear B=%lld I=%lld O=%lld bias=%d threads=%d",
                     (long long)c->b, (long long)c->i, (long long)c->o, c->bias,
                     thread_counts[t]);
            gm_tensor *in[3] = {
                gc_random_tensor(arena, &rng, 2, (int64_t[]){c->b, c->i}, true),
                gc_random_tensor(arena, &rng, 2, (int64_t[]){c->o, c->i}, true),
                gc_random_tensor(arena, &rng, 1, (int64_t[]){c->o}, true),
            };
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            cr_assert_eq(fwd_linear(ctx, in, (void *)c, &y), GM_OK, "%s: %s", name,
                         gm_error_detail());
            double *ref = ref_dbuf(c->b * c->o), *sc = ref_dbuf(c->b * c->o);
            ref_linear(in[0], in[1], c->bias ? in[2] : NULL, ref, sc);
            expect_forward(name, y, c->b * c->o, ref, sc, c->i + 1);
            gm_free(ref);
            gm_free(sc);

            double err = gc_check(name, fwd_linear, c->bias ? 3 : 2, in, (void *)c, FD_H);
            cr_expect(err < FD_TOL, "%s: FD error %.3g", name, err);
            if (err > worst) worst = err;
            checks++;
        }
    }
    printf("linear: max relative FD error %.3g over %d checks\n", worst, checks);
    fflush(stdout);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- conv1x1 ------------------------------------------------------------ */

typedef struct c1_case {
    int64_t b, i, o, n;
    bool bias;
} c1_case;

static gm_status fwd_conv1x1(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    const c1_case *c = user;
    return gm_op_conv1x1(ctx, in[0], in[1], c->bias ? in[2] : NULL, out);
}

Test(ops_dense_f64, conv1x1) {
    static const c1_case cases[] = {
        {1, 1, 1, 1, true},  {1, 3, 2, 5, false}, {4, 3, 5, 7, true},
        {3, 2, 2, 1, true},  {6, 5, 3, 9, false}, {2, 4, 1, 8, true},
    };
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 102, 0);
    double worst = 0.0;
    int checks = 0;
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const c1_case *c = &cases[ci];
            char name[112];
            snprintf(name, sizeof name,
                     "conv1x1 B=%lld I=%lld O=%lld n=%lld bias=%d threads=%d", (long long)c->b,
                     (long long)c->i, (long long)c->o, (long long)c->n, c->bias,
                     thread_counts[t]);
            gm_tensor *in[3] = {
                gc_random_tensor(arena, &rng, 3, (int64_t[]){c->b, c->i, c->n}, true),
                gc_random_tensor(arena, &rng, 2, (int64_t[]){c->o, c->i}, true),
                gc_random_tensor(arena, &rng, 1, (int64_t[]){c->o}, true),
            };
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            cr_assert_eq(fwd_conv1x1(ctx, in, (void *)c, &y), GM_OK, "%s: %s", name,
                         gm_error_detail());
            int64_t ny = c->b * c->o * c->n;
            double *ref = ref_dbuf(ny), *sc = ref_dbuf(ny);
            ref_conv1x1(in[0], in[1], c->bias ? in[2] : NULL, ref, sc);
            expect_forward(name, y, ny, ref, sc, c->i + 1);
            gm_free(ref);
            gm_free(sc);

            double err = gc_check(name, fwd_conv1x1, c->bias ? 3 : 2, in, (void *)c, FD_H);
            cr_expect(err < FD_TOL, "%s: FD error %.3g", name, err);
            if (err > worst) worst = err;
            checks++;
        }
    }
    printf("conv1x1: max relative FD error %.3g over %d checks\n", worst, checks);
    fflush(stdout);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- global_pool -------------------------------------------------------- */

static gm_status fwd_global_pool(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    return gm_op_global_pool(ctx, in[0], *(const gm_reduce *)user, out);
}

Test(ops_dense_f64, global_pool) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 3, 5}, {4, 2, 7}, {2, 5, 16}, {3, 1, 2}};
    static const gm_reduce modes[] = {GM_REDUCE_MAX, GM_REDUCE_MEAN};
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 103, 0);
    double worst[2] = {0.0, 0.0};
    int checks = 0;
    for (size_t m = 0; m < 2; m++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t *s = shapes[si];
            char name[96];
            snprintf(name, sizeof name, "global_pool %s (%lld, %lld, %lld)",
                     modes[m] == GM_REDUCE_MAX ? "max" : "mean", (long long)s[0], (long long)s[1],
                     (long long)s[2]);
            gm_tensor *x = gc_random_tensor(arena, &rng, 3, s, true);
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            cr_assert_eq(fwd_global_pool(ctx, &x, (void *)&modes[m], &y), GM_OK, "%s: %s", name,
                         gm_error_detail());
            double *ref = ref_dbuf(s[0] * s[1]), *sc = ref_dbuf(s[0] * s[1]);
            ref_global_pool(x, modes[m], ref, sc);
            expect_forward(name, y, s[0] * s[1], ref, sc, s[2]);
            gm_free(ref);
            gm_free(sc);

            double err = gc_check(name, fwd_global_pool, 1, &x, (void *)&modes[m], FD_H);
            cr_expect(err < FD_TOL, "%s: FD error %.3g", name, err);
            if (err > worst[m]) worst[m] = err;
            checks++;
        }
    printf("global_pool: max relative FD error %.3g (max), %.3g (mean) over %d checks\n", worst[0],
           worst[1], checks);
    fflush(stdout);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- conv2d ------------------------------------------------------------- */

typedef struct c2_case {
    int64_t b, i, o, h, w, kh, kw, stride, pad;
    bool bias;
    int64_t sample; /* elements checked per input, 0 = all */
    double step;    /* FD step, 0 = FD_H */
} c2_case;

static gm_status fwd_conv2d(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    const c2_case *c = user;
    return gm_op_conv2d(ctx, in[0], in[1], c->bias ? in[2] : NULL, c->stride, c->pad, out);
}

Test(ops_dense_f64, conv2d) {
    static const c2_case cases[] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 0, true, 0, 0},
        {1, 2, 3, 5, 5, 3, 3, 1, 1, true, 0, 0},
        {2, 3, 2, 6, 7, 3, 3, 2, 0, false, 0, 0},
        {3, 2, 2, 5, 4, 2, 3, 2, 2, true, 0, 0},
        {1, 1, 2, 7, 5, 5, 5, 1, 2, false, 0, 0},
        {2, 2, 1, 4, 4, 1, 1, 1, 0, true, 0, 0},
        {4, 1, 2, 3, 3, 3, 3, 2, 1, true, 0, 0},
        {1, 2, 2, 3, 3, 5, 5, 1, 1, false, 0, 0},
        {2, 1, 1, 6, 5, 2, 2, 3, 1, true, 0, 0},
        /* I*kh*kw = 1152 gives tiles of 256 output positions: 400 positions
         * make a full tile and a partial one. L sums 1600 outputs of 1152
         * terms each, so its rounding noise over 2h is about 3e-7 at
         * h = 1e-6; conv2d is linear in each input, so a central difference
         * has no truncation error and a larger step only removes that noise. */
        {2, 128, 2, 20, 20, 3, 3, 1, 1, true, 60, 1e-3},
    };
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 104, 0);
    double worst = 0.0;
    int checks = 0;
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const c2_case *c = &cases[ci];
            char name[160];
            snprintf(name, sizeof name,
                     "conv2d B=%lld I=%lld O=%lld H=%lld W=%lld k=%lldx%lld stride=%lld pad=%lld "
                     "bias=%d threads=%d",
                     (long long)c->b, (long long)c->i, (long long)c->o, (long long)c->h,
                     (long long)c->w, (long long)c->kh, (long long)c->kw, (long long)c->stride,
                     (long long)c->pad, c->bias, thread_counts[t]);
            gm_tensor *in[3] = {
                gc_random_tensor(arena, &rng, 4, (int64_t[]){c->b, c->i, c->h, c->w}, true),
                gc_random_tensor(arena, &rng, 4, (int64_t[]){c->o, c->i, c->kh, c->kw}, true),
                gc_random_tensor(arena, &rng, 1, (int64_t[]){c->o}, true),
            };
            const int64_t ho = (c->h + 2 * c->pad - c->kh) / c->stride + 1;
            const int64_t wo = (c->w + 2 * c->pad - c->kw) / c->stride + 1;
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            cr_assert_eq(fwd_conv2d(ctx, in, (void *)c, &y), GM_OK, "%s: %s", name,
                         gm_error_detail());
            cr_expect(y->ndim == 4 && y->shape[0] == c->b && y->shape[1] == c->o &&
                          y->shape[2] == ho && y->shape[3] == wo,
                      "%s: wrong output shape", name);
            int64_t ny = c->b * c->o * ho * wo;
            double *ref = ref_dbuf(ny), *sc = ref_dbuf(ny);
            ref_conv2d(in[0], in[1], c->bias ? in[2] : NULL, c->stride, c->pad, ho, wo, ref, sc);
            expect_forward(name, y, ny, ref, sc, c->i * c->kh * c->kw + 1);
            gm_free(ref);
            gm_free(sc);

            double err = gc_check_sampled(name, fwd_conv2d, c->bias ? 3 : 2, in, (void *)c,
                                          c->step > 0 ? c->step : FD_H, c->sample);
            cr_expect(err < FD_TOL, "%s: FD error %.3g", name, err);
            if (err > worst) worst = err;
            checks++;
        }
    }
    printf("conv2d: max relative FD error %.3g over %d checks\n", worst, checks);
    fflush(stdout);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- maxpool2d ---------------------------------------------------------- */

static gm_status fwd_maxpool2d(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)user;
    return gm_op_maxpool2d(ctx, in[0], out);
}

Test(ops_dense_f64, maxpool2d) {
    static const int64_t shapes[][4] = {{1, 1, 2, 2}, {2, 3, 4, 6}, {3, 2, 8, 2}, {1, 1, 6, 10}};
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 105, 0);
    double worst = 0.0;
    int checks = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t *s = shapes[si];
        char name[96];
        snprintf(name, sizeof name, "maxpool2d (%lld, %lld, %lld, %lld)", (long long)s[0],
                 (long long)s[1], (long long)s[2], (long long)s[3]);
        gm_tensor *x = gc_random_tensor(arena, &rng, 4, s, true);
        gm_ctx_reset(ctx);
        gm_tensor *y = NULL;
        cr_assert_eq(fwd_maxpool2d(ctx, &x, NULL, &y), GM_OK, "%s: %s", name, gm_error_detail());
        int64_t ny = s[0] * s[1] * (s[2] / 2) * (s[3] / 2);
        double *ref = ref_dbuf(ny), *sc = ref_dbuf(ny);
        ref_maxpool2d(x, ref);
        expect_forward(name, y, ny, ref, sc, 0);
        gm_free(ref);
        gm_free(sc);

        double err = gc_check(name, fwd_maxpool2d, 1, &x, NULL, FD_H);
        cr_expect(err < FD_TOL, "%s: FD error %.3g", name, err);
        if (err > worst) worst = err;
        checks++;
    }
    printf("maxpool2d: max relative FD error %.3g over %d checks\n", worst, checks);
    fflush(stdout);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}
