/* The vectorized elementwise kernels in the float build (prelu, layernorm,
 * the fused layernorm_prelu, global max pooling, gmpool max) against direct
 * loops or the ops they replace: exact selects on
 * special values (signed zeros, infinities, NaN, ties, rows around the vector
 * lane count), reductions to float rounding, the same results for any thread
 * count. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/ops_gm.h"
#include "test_support.h"

#define PREFILL 0.25f

static const int thread_counts[] = {1, 3};
#define NTHREAD_COUNTS ((int)(sizeof thread_counts / sizeof thread_counts[0]))

/* The checks read the gradients that reach op results (y->grad). */
static gm_ctx *new_ctx(void) {
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    gm_ctx_set_retain_grads(ctx, true);
    return ctx;
}

static gm_tensor *leaf3(gm_arena *a, int64_t b, int64_t c, int64_t n) {
    gm_tensor *t = NULL;
    OK(gm_tensor_new3(a, b, c, n, &t));
    t->requires_grad = true;
    return t;
}

/* Random values with every special value mixed in. */
static void fill_special(gm_rng *rng, int64_t n, gm_real *x, bool finite_only) {
    static const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f};
    const int nspecial = finite_only ? 2 : (int)(sizeof specials / sizeof specials[0]);
    for (int64_t i = 0; i < n; i++) {
        if (gm_rng_below(rng, 5) == 0)
            x[i] = specials[gm_rng_below(rng, (uint32_t)nspecial)];
        else
            x[i] = (gm_real)(4.0 * gm_rng_uniform(rng) - 2.0);
    }
}

static bool same(gm_real a, gm_real b) {
    if (a != a || b != b) return a != a && b != b;
    return a == b && signbit(a) == signbit(b);
}

/* A one-element loss whose gradient with respect to y is proportional to
 * dy: mean(y * dy). The checks read the gradient that reached y (y->grad). */
static gm_tensor *dot_loss(gm_ctx *ctx, gm_tensor *y, gm_tensor *dy) {
    gm_tensor *p = NULL, *m = NULL, *flat = NULL;
    OK(gm_op_mul(ctx, y, dy, &p));
    const int64_t shp[3] = {1, 1, y->numel};
    OK(gm_op_reshape(ctx, p, 3, shp, &flat));
    OK(gm_op_global_pool(ctx, flat, GM_REDUCE_MEAN, &m));
    return m;
}

Test(elementwise, prelu_selects_exactly_on_special_values) {
    gm_rng rng;
    gm_rng_seed(&rng, 7, 1);
    const int64_t b = 3, c = 4, n = 37;
    const float slopes[] = {0.25f, -0.5f};
    for (int t = 0; t < NTHREAD_COUNTS; t++)
        for (int shared = 0; shared < 2; shared++)
            for (int si = 0; si < 2; si++) {
                omp_set_num_threads(thread_counts[t]);
                gm_ctx *ctx = new_ctx();
                gm_arena *a = NULL;
                OK(gm_arena_new(0, &a));
                gm_tensor *x = leaf3(a, b, c, n), *dy = NULL, *slope = NULL, *y = NULL;
                OK(gm_tensor_new3(a, b, c, n, &dy));
                fill_special(&rng, x->numel, x->data, false);
                fill_special(&rng, dy->numel, dy->data, true);
                OK(gm_tensor_new1(a, shared ? 1 : c, &slope));
                for (int64_t i = 0; i < slope->numel; i++)
                    slope->data[i] = slopes[si] * (gm_real)(1 + i);
                OK(gm_op_prelu(ctx, x, slope, &y));
                for (int64_t i = 0; i < x->numel; i++) {
                    const gm_real av = slope->data[shared ? 0 : (i / n) % c], v = x->data[i];
                    const gm_real want = v >= 0 ? v : av * v;
                    cr_assert(same(y->data[i], want), "prelu y[%lld] = %g, want %g (x %g)",
                              (long long)i, (double)y->data[i], (double)want, (double)v);
                }
                OK(gm_tensor_grad_ensure(x));
                for (int64_t i = 0; i < x->numel; i++) x->grad[i] = PREFILL;
                OK(gm_ctx_backward(ctx, dot_loss(ctx, y, dy)));
                for (int64_t i = 0; i < x->numel; i++) {
                    const gm_real av = slope->data[shared ? 0 : (i / n) % c], d = y->grad[i];
                    const gm_real want = PREFILL + (x->data[i] >= 0 ? d : av * d);
                    cr_assert(same(x->grad[i], want), "prelu dx[%lld] = %g, want %g (x %g)",
                              (long long)i, (double)x->grad[i], (double)want,
                              (double)x->data[i]);
                }
                gm_ctx_free(ctx);
                gm_arena_free(a);
            }
}

Test(elementwise, prelu_slope_gradient_matches_a_direct_sum) {
    gm_rng rng;
    gm_rng_seed(&rng, 8, 1);
    const int64_t b = 5, c = 3, n = 101;
    double first[2][3] = {{0}};
    for (int t = 0; t < NTHREAD_COUNTS; t++)
        for (int shared = 0; shared < 2; shared++) {
            omp_set_num_threads(thread_counts[t]);
            gm_rng_seed(&rng, 8, 1);
            gm_ctx *ctx = new_ctx();
            gm_arena *a = NULL;
            OK(gm_arena_new(0, &a));
            gm_tensor *x = NULL, *dy = NULL, *slope = NULL, *y = NULL;
            OK(gm_tensor_new3(a, b, c, n, &x));
            OK(gm_tensor_new3(a, b, c, n, &dy));
            fill_special(&rng, x->numel, x->data, true);
            fill_special(&rng, dy->numel, dy->data, true);
            OK(gm_tensor_new1(a, shared ? 1 : c, &slope));
            slope->requires_grad = true;
            for (int64_t i = 0; i < slope->numel; i++) slope->data[i] = 0.25f;
            OK(gm_op_prelu(ctx, x, slope, &y));
            OK(gm_ctx_backward(ctx, dot_loss(ctx, y, dy)));
            for (int64_t k = 0; k < slope->numel; k++) {
                double want = 0.0, scale = 0.0;
                for (int64_t i = 0; i < x->numel; i++) {
                    if (!shared && (i / n) % c != k) continue;
                    if (x->data[i] < 0) {
                        want += (double)x->data[i] * (double)y->grad[i];
                        scale += fabs((double)x->data[i] * (double)y->grad[i]);
                    }
                }
                const double got = (double)slope->grad[k];
                cr_expect(fabs(got - want) <= 1e-6 * (scale + 1e-30),
                          "prelu dslope[%lld] = %.9g, want %.9g", (long long)k, got, want);
                if (t == 0)
                    first[shared][k] = got;
                else
                    cr_expect(got == first[shared][k],
                              "prelu dslope[%lld] differs between thread counts",
                              (long long)k);
            }
            gm_ctx_free(ctx);
            gm_arena_free(a);
        }
}

/* Every value bit for bit equal: NaN to NaN, zeros with their sign. */
static void expect_same_values(const char *what, int64_t n, const gm_real *got,
                               const gm_real *want) {
    for (int64_t i = 0; i < n; i++) {
        cr_assert(same(got[i], want[i]), "%s[%lld] = %.9g, want %.9g", what, (long long)i,
                  (double)got[i], (double)want[i]);
    }
}

/* res: 0 none, 1 a leaf of its own, 2 x itself */
static void check_layernorm_prelu(int threads, bool shared, int res, bool retain) {
    gm_rng rng;
    const int64_t b = 4, c = 3, n = 37;
    omp_set_num_threads(threads);
    gm_rng_seed(&rng, 21, (uint64_t)shared);
    gm_arena *a = NULL;
    OK(gm_arena_new(0, &a));
    gm_tensor *x[2], *slope[2], *r[2] = {NULL, NULL}, *y[2], *dy = NULL;
    OK(gm_tensor_new3(a, b, c, n, &dy));
    fill_special(&rng, dy->numel, dy->data, true);
    for (int k = 0; k < 2; k++) {
        x[k] = leaf3(a, b, c, n);
        OK(gm_tensor_new1(a, shared ? 1 : c, &slope[k]));
        slope[k]->requires_grad = true;
        if (res == 1) r[k] = leaf3(a, b, c, n);
        if (res == 2) r[k] = x[k];
    }
    fill_special(&rng, x[0]->numel, x[0]->data, true);
    for (int64_t i = 0; i < x[0]->numel; i++) x[0]->data[i] += 0.5f; /* off-centre */
    memcpy(x[1]->data, x[0]->data, (size_t)x[0]->numel * sizeof(gm_real));
    if (res == 1) {
        fill_special(&rng, r[0]->numel, r[0]->data, true);
        memcpy(r[1]->data, r[0]->data, (size_t)r[0]->numel * sizeof(gm_real));
    }
    for (int64_t i = 0; i < slope[0]->numel; i++)
        slope[0]->data[i] = slope[1]->data[i] = (gm_real)(0.3 - 0.2 * (double)i);
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    gm_ctx_set_retain_grads(ctx, retain);
    gm_tensor *z = NULL, *p = NULL;
    OK(gm_op_layernorm_prelu(ctx, x[0], slope[0], r[0], 1e-5, &y[0]));
    OK(gm_op_layernorm(ctx, x[1], NULL, NULL, 1e-5, &z));
    OK(gm_op_prelu(ctx, z, slope[1], &p));
    y[1] = p;
    if (r[1]) OK(gm_op_add(ctx, p, r[1], &y[1]));
    gm_tensor *l0 = dot_loss(ctx, y[0], dy), *l1 = dot_loss(ctx, y[1], dy), *sum = NULL;
    OK(gm_op_add(ctx, l0, l1, &sum));
    OK(gm_ctx_backward(ctx, sum));
    expect_same_values("y", y[0]->numel, y[0]->data, y[1]->data);
    expect_same_values("dx", x[0]->numel, x[0]->grad, x[1]->grad);
    expect_same_values("dslope", slope[0]->numel, slope[0]->grad, slope[1]->grad);
    if (res == 1) expect_same_values("dres", r[0]->numel, r[0]->grad, r[1]->grad);
    gm_ctx_free(ctx);
    gm_arena_free(a);
}

Test(elementwise, layernorm_prelu_is_prelu_of_layernorm_bit_for_bit) {
    for (int t = 0; t < NTHREAD_COUNTS; t++)
        for (int shared = 0; shared < 2; shared++)
            for (int res = 0; res < 3; res++)
                for (int retain = 0; retain < 2; retain++)
                    check_layernorm_prelu(thread_counts[t], shared, res, retain);
}

Test(elementwise, layernorm_prelu_checks_its_arguments) {
    gm_ctx *ctx = new_ctx();
    gm_arena *a = NULL;
    OK(gm_arena_new(0, &a));
    gm_tensor *x = leaf3(a, 2, 3, 4), *slope = NULL, *x1 = NULL, *y = NULL;
    OK(gm_tensor_new1(a, 2, &slope));
    OK(gm_tensor_new1(a, 5, &x1));
    cr_assert_eq(gm_op_layernorm_prelu(ctx, x, slope, NULL, 1e-5, &y), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "layernorm_prelu: slope has shape (2)");
    cr_assert_null(y);
    cr_assert_eq(gm_op_layernorm_prelu(ctx, x1, slope, NULL, 1e-5, &y), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "layernorm_prelu: x has shape (5)");
    OK(gm_tensor_new1(a, 3, &slope));
    cr_assert_eq(gm_op_layernorm_prelu(ctx, x, slope, NULL, -1.0, &y), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "eps");
    cr_assert_eq(gm_op_layernorm_prelu(ctx, x, slope, NULL, NAN, &y), GM_ERR_INVALID_ARG);
    gm_tensor *r = leaf3(a, 2, 3, 5);
    cr_assert_eq(gm_op_layernorm_prelu(ctx, x, slope, r, 1e-5, &y), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "layernorm_prelu: res has shape (2, 3, 5)");
    cr_assert_eq(gm_op_layernorm_prelu(ctx, NULL, slope, NULL, 1e-5, &y), GM_ERR_INVALID_ARG);
    gm_ctx_free(ctx);
    gm_arena_free(a);
}

Test(elementwise, layernorm_matches_direct_loops) {
    gm_rng rng;
    gm_rng_seed(&rng, 9, 1);
    const int64_t b = 3, c = 5, n = 53, per = c * n;
    for (int affine = 0; affine < 2; affine++) {
        gm_ctx *ctx = new_ctx();
        gm_arena *a = NULL;
        OK(gm_arena_new(0, &a));
        gm_tensor *x = leaf3(a, b, c, n), *dy = NULL, *y = NULL, *gamma = NULL, *beta = NULL;
        OK(gm_tensor_new3(a, b, c, n, &dy));
        fill_special(&rng, x->numel, x->data, true);
        for (int64_t i = 0; i < x->numel; i++) x->data[i] += 3.0f; /* off-centre */
        fill_special(&rng, dy->numel, dy->data, true);
        if (affine) {
            OK(gm_tensor_new2(a, c, n, &gamma));
            OK(gm_tensor_new2(a, c, n, &beta));
            fill_special(&rng, per, gamma->data, true);
            fill_special(&rng, per, beta->data, true);
        }
        OK(gm_op_layernorm(ctx, x, gamma, beta, 1e-5, &y));
        OK(gm_tensor_grad_ensure(x));
        OK(gm_ctx_backward(ctx, dot_loss(ctx, y, dy)));
        for (int64_t s = 0; s < b; s++) {
            const gm_real *xs = x->data + s * per, *gs = y->grad + s * per;
            double mean = 0, var = 0;
            for (int64_t j = 0; j < per; j++) mean += xs[j];
            mean /= (double)per;
            for (int64_t j = 0; j < per; j++) var += (xs[j] - mean) * (xs[j] - mean);
            const double rstd = 1.0 / sqrt(var / (double)per + 1e-5);
            double md = 0, mdx = 0;
            for (int64_t j = 0; j < per; j++) {
                const double d = gs[j] * (affine ? (double)gamma->data[j] : 1.0);
                md += d;
                mdx += d * (xs[j] - mean) * rstd;
            }
            md /= (double)per;
            mdx /= (double)per;
            for (int64_t j = 0; j < per; j++) {
                const double xhat = (xs[j] - mean) * rstd;
                const double want =
                    affine ? xhat * gamma->data[j] + beta->data[j] : xhat;
                cr_expect(fabs(y->data[s * per + j] - want) <= 1e-5 * (1 + fabs(want)),
                          "layernorm y[%lld] = %g, want %g", (long long)(s * per + j),
                          (double)y->data[s * per + j], want);
                const double d = gs[j] * (affine ? (double)gamma->data[j] : 1.0);
                const double dx = rstd * (d - md - xhat * mdx);
                cr_expect(fabs(x->grad[s * per + j] - dx) <= 1e-5 * (1 + fabs(dx)),
                          "layernorm dx[%lld] = %g, want %g", (long long)(s * per + j),
                          (double)x->grad[s * per + j], dx);
            }
        }
        gm_ctx_free(ctx);
        gm_arena_free(a);
    }
}

/* The first NaN of a row if any, else its first maximum. */
static int64_t want_argmax(int64_t n, const gm_real *row) {
    for (int64_t g = 0; g < n; g++)
        if (row[g] != row[g]) return g;
    int64_t best = 0;
    for (int64_t g = 1; g < n; g++)
        if (row[g] > row[best]) best = g;
    return best;
}

Test(elementwise, global_max_takes_the_first_nan_else_the_first_maximum) {
    gm_rng rng;
    gm_rng_seed(&rng, 10, 1);
    /* row lengths around the lane count and its multiples */
    static const int64_t lengths[] = {1, 2, 15, 16, 17, 31, 32, 33, 100};
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int64_t n = lengths[li], rows = 40;
        gm_ctx *ctx = new_ctx();
        gm_arena *a = NULL;
        OK(gm_arena_new(0, &a));
        gm_tensor *x = leaf3(a, 2, rows / 2, n), *y = NULL;
        for (int64_t r = 0; r < rows; r++) {
            gm_real *row = x->data + r * n;
            switch (r % 5) {
            case 0: fill_special(&rng, n, row, false); break;
            case 1: /* ties, signed zeros */
                for (int64_t g = 0; g < n; g++) row[g] = (g % 3) ? -0.0f : 0.0f;
                break;
            case 2: /* a NaN at a random place after a maximum */
                fill_special(&rng, n, row, true);
                row[gm_rng_below(&rng, (uint32_t)n)] = NAN;
                break;
            case 3:
                for (int64_t g = 0; g < n; g++) row[g] = -INFINITY;
                break;
            default: /* the maximum repeated, in the last lane position */
                fill_special(&rng, n, row, true);
                row[n - 1] = 9.0f;
                row[(n - 1) / 2] = 9.0f;
            }
        }
        OK(gm_op_global_pool(ctx, x, GM_REDUCE_MAX, &y));
        gm_tensor *loss = NULL, *flat = NULL;
        const int64_t shp[3] = {1, 1, rows};
        OK(gm_op_reshape(ctx, y, 3, shp, &flat));
        OK(gm_op_global_pool(ctx, flat, GM_REDUCE_MEAN, &loss));
        OK(gm_ctx_backward(ctx, loss));
        for (int64_t r = 0; r < rows; r++) {
            const gm_real *row = x->data + r * n;
            const int64_t k = want_argmax(n, row);
            cr_assert(same(y->data[r], row[k]), "n %lld row %lld: max %g, want %g at %lld",
                      (long long)n, (long long)r, (double)y->data[r], (double)row[k],
                      (long long)k);
            for (int64_t g = 0; g < n; g++)
                cr_assert_eq(x->grad[r * n + g] != 0, g == k,
                             "n %lld row %lld: gradient at %lld, want only at %lld",
                             (long long)n, (long long)r, (long long)g, (long long)k);
        }
        gm_ctx_free(ctx);
        gm_arena_free(a);
    }
}

Test(elementwise, gmpool_max_matches_reference_on_special_values) {
    gm_group *g = ts_group("C6xC8");
    gm_subgroup *h = NULL;
    gm_gmat_plan *plan = NULL;
    OK(gm_subgroup_stride2_new(g, &h));
    OK(gm_gmat_plan_pool_new(h, &plan));
    const gm__gm_table tab = gm__gm_table_of(plan);
    const int64_t planes = 7;
    gm_rng rng;
    gm_rng_seed(&rng, 11, 1);
    gm_real *x = gm_calloc((size_t)(planes * tab.n_in), sizeof *x);
    gm_real *y = gm_calloc((size_t)(planes * tab.cols), sizeof *y);
    gm_real *yr = gm_calloc((size_t)(planes * tab.cols), sizeof *yr);
    int32_t *arg = gm_calloc((size_t)(planes * tab.cols), sizeof *arg);
    int32_t *argr = gm_calloc((size_t)(planes * tab.cols), sizeof *argr);
    cr_assert(x && y && yr && arg && argr);
    fill_special(&rng, planes * tab.n_in, x, false);
    for (int64_t i = 0; i < tab.n_in; i++) x[i] = (i % 2) ? -0.0f : 0.0f; /* ties */
    for (int t = 0; t < NTHREAD_COUNTS; t++) {
        gm__gmpool_forward(&tab, planes, GM_REDUCE_MAX, thread_counts[t], x, y, arg);
        gm__gmpool_forward_ref(&tab, planes, GM_REDUCE_MAX, x, yr, argr);
        for (int64_t i = 0; i < planes * tab.cols; i++) {
            cr_assert(same(y[i], yr[i]), "gmpool y[%lld] = %g, want %g", (long long)i,
                      (double)y[i], (double)yr[i]);
            cr_assert_eq(arg[i], argr[i], "gmpool arg[%lld] = %d, want %d", (long long)i,
                         arg[i], argr[i]);
        }
    }
    gm_free(x);
    gm_free(y);
    gm_free(yr);
    gm_free(arg);
    gm_free(argr);
    gm_gmat_plan_free(plan);
    gm_subgroup_free(h);
    gm_group_free(g);
}

/* Batch normalisation: in training mode every channel of the output has mean
 * beta and variance gamma^2 over (batch, positions), the running statistics
 * move by the momentum toward the batch mean and unbiased variance, and in
 * evaluation mode the op is (x - running mean) / sqrt(running var + eps);
 * permuting the positions permutes the output (equivariance). */
Test(elementwise, batchnorm_statistics_running_update_and_eval) {
    gm_arena *a = NULL;
    OK(gm_arena_new(0, &a));
    gm_rng rng;
    gm_rng_seed(&rng, 5, 0);
    const int64_t nb = 3, nc = 4, n = 37;
    gm_tensor *x = leaf3(a, nb, nc, n), *gamma = NULL, *beta = NULL, *rm = NULL, *rv = NULL;
    OK(gm_tensor_new(a, 1, &nc, &gamma));
    OK(gm_tensor_new(a, 1, &nc, &beta));
    OK(gm_tensor_new(a, 1, &nc, &rm));
    OK(gm_tensor_new(a, 1, &nc, &rv));
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (gm_real)(3.0 * gm_rng_uniform(&rng) + 1.0);
    for (int64_t c = 0; c < nc; c++) {
        gamma->data[c] = (gm_real)(0.5 + c);
        beta->data[c] = (gm_real)(c - 1.5);
        rm->data[c] = 0.0f;
        rv->data[c] = 1.0f;
    }
    gm_ctx *ctx = new_ctx();
    gm_tensor *y = NULL;
    OK(gm_op_batchnorm(ctx, x, gamma, beta, rm, rv, 0.25, 1e-5, &y));
    for (int64_t c = 0; c < nc; c++) {
        double s = 0.0, s2 = 0.0, xs = 0.0, xs2 = 0.0;
        for (int64_t b = 0; b < nb; b++)
            for (int64_t j = 0; j < n; j++) {
                const double v = y->data[(b * nc + c) * n + j], u = x->data[(b * nc + c) * n + j];
                s += v;
                s2 += v * v;
                xs += u;
                xs2 += u * u;
            }
        const double cnt = (double)(nb * n), mean = s / cnt, var = s2 / cnt - mean * mean;
        cr_expect(fabs(mean - beta->data[c]) < 1e-5, "channel %lld mean %g", (long long)c, mean);
        cr_expect(fabs(var - gamma->data[c] * gamma->data[c]) < 1e-3 * (1.0 + var),
                  "channel %lld var %g", (long long)c, var);
        const double xm = xs / cnt, xv = (xs2 / cnt - xm * xm) * cnt / (cnt - 1.0);
        cr_expect(fabs(rm->data[c] - 0.25 * xm) < 1e-5, "running mean %g", rm->data[c]);
        cr_expect(fabs(rv->data[c] - (0.75 + 0.25 * xv)) < 1e-4, "running var %g", rv->data[c]);
    }
    gm_ctx_reset(ctx);
    gm_ctx_set_training(ctx, false);
    const gm_real rm0 = rm->data[1], rv0 = rv->data[1];
    OK(gm_op_batchnorm(ctx, x, gamma, beta, rm, rv, 0.25, 1e-5, &y));
    cr_expect_eq(rm->data[1], rm0, "evaluation leaves the running statistics alone");
    cr_expect_eq(rv->data[1], rv0);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < nc; c++)
            for (int64_t j = 0; j < n; j++) {
                const int64_t i = (b * nc + c) * n + j;
                const double want = (x->data[i] - rm->data[c]) / sqrt(rv->data[c] + 1e-5) *
                                        gamma->data[c] + beta->data[c];
                cr_expect(fabs(y->data[i] - want) < 1e-5 * (1.0 + fabs(want)), "at %lld",
                          (long long)i);
            }
    /* A cyclic shift of the positions commutes with the op in training mode. */
    gm_ctx_reset(ctx);
    gm_ctx_set_training(ctx, true);
    gm_tensor *xs = leaf3(a, nb, nc, n), *y0 = NULL, *y1 = NULL;
    for (int64_t r = 0; r < nb * nc; r++)
        for (int64_t j = 0; j < n; j++) xs->data[r * n + (j + 5) % n] = x->data[r * n + j];
    OK(gm_op_batchnorm(ctx, x, gamma, beta, NULL, NULL, 0.0, 1e-5, &y0));
    OK(gm_op_batchnorm(ctx, xs, gamma, beta, NULL, NULL, 0.0, 1e-5, &y1));
    for (int64_t r = 0; r < nb * nc; r++)
        for (int64_t j = 0; j < n; j++)
            cr_expect(fabs(y1->data[r * n + (j + 5) % n] - y0->data[r * n + j]) < 1e-5);
    gm_tensor *bad = NULL;
    const int64_t three = 3;
    OK(gm_tensor_new(a, 1, &three, &bad));
    cr_expect_eq(gm_op_batchnorm(ctx, x, bad, beta, NULL, NULL, 0.1, 1e-5, &y), GM_ERR_SHAPE);
    cr_expect(strstr(gm_error_detail(), "batchnorm") && strstr(gm_error_detail(), "gamma"), "%s",
              gm_error_detail());
    cr_expect_eq(gm_op_batchnorm(ctx, x, gamma, beta, rm, NULL, 0.1, 1e-5, &y), GM_ERR_INVALID_ARG);
    gm_ctx_free(ctx);
    gm_arena_free(a);
}
