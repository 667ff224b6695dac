/* The FFT path of the full-form gmconv in float64 (double-precision FFTW):
 * forward against a direct loop over the group law, and every backward
 * (dx, dW, db) against central finite differences through the tape, on
 * cyclic groups and products of two and three cyclic factors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "gradcheck.h"
#include "ops/ops_gm.h"
#include "test_support.h"

/* gmconv is linear in each input, so a central difference has no truncation
 * error; a larger step shrinks the cancellation error. */
#define FD_H_LINEAR 1e-3
#define FD_TOL 1e-7
#define FD_SAMPLE 150
#define FWD_TOL 1e-12

typedef struct conv_case {
    const char *spec;
    int64_t t, batch, cin, cout;
} conv_case;

static const conv_case cases[] = {
    {"C7", 2, 2, 2, 3},    {"C2xC2", 2, 2, 2, 2},   {"C5xC5", 1, 3, 3, 2},
    {"C4xC6", 2, 2, 3, 4}, {"C8xC8", 3, 2, 10, 9}, {"C3xC4xC2", 1, 2, 2, 3},
};

typedef struct conv_user {
    const gm_gmat_plan *plan;
    bool bias;
} conv_user;

static gm_status fwd_gmconv(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    const conv_user *u = user;
    return gm_op_gmconv(ctx, u->plan, in[0], in[1], u->bias ? in[2] : NULL, GM_CONV_FULL, out);
}

Test(gmconv_fft_f64, forward_and_finite_differences) {
    gm__gmconv_set_fft_mode(GM__FFT_ALWAYS);
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    gm_rng rng;
    gm_rng_seed(&rng, 307, 0);
    double worst_fd = 0, worst_fwd = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *c = &cases[ci];
        gm_group *g = ts_group(c->spec);
        gm_nbhd *s = ts_support(g, c->t);
        gm_gmat_plan *p = NULL;
        OK(gm_gmat_plan_new(g, s, &p));
        const gm__gm_table tab = gm__gm_table_of(p);
        gm__torus tor;
        cr_assert(gm__torus_detect(&tab, &tor), "%s: not detected", c->spec);
        const int64_t n = gm_group_order(g), kk = gm_nbhd_size(s);
        const int32_t *se = gm_nbhd_elements(s);
        for (int withb = 0; withb < 2; withb++) {
            char name[96];
            snprintf(name, sizeof name, "fft gmconv %s t=%lld bias=%d", c->spec, (long long)c->t,
                     withb);
            gm_tensor *in[3] = {
                gc_random_tensor(arena, &rng, 3, (int64_t[]){c->batch, c->cin, n}, true),
                gc_random_tensor(arena, &rng, 3, (int64_t[]){c->cout, c->cin, kk}, true),
                gc_random_tensor(arena, &rng, 1, (int64_t[]){c->cout}, true),
            };
            conv_user u = {.plan = p, .bias = withb};
            gm_ctx_reset(ctx);
            gm_tensor *y = NULL;
            OK(fwd_gmconv(ctx, in, &u, &y));
            double *ref = gm_calloc((size_t)y->numel, sizeof *ref);
            cr_assert_not_null(ref);
            for (int64_t b = 0; b < c->batch; b++)
                for (int64_t o = 0; o < c->cout; o++)
                    for (int32_t a = 0; a < n; a++) {
                        double acc = withb ? in[2]->data[o] : 0.0;
                        for (int64_t k = 0; k < kk; k++) {
                            const int32_t m = gm_group_mul(g, a, gm_group_inv(g, se[k]));
                            for (int64_t i = 0; i < c->cin; i++)
                                acc += in[1]->data[(o * c->cin + i) * kk + k] *
                                       in[0]->data[(b * c->cin + i) * n + m];
                        }
                        ref[(b * c->cout + o) * n + a] = acc;
                    }
            const double fe = ts_rel_diff_ref(y->numel, y->data, ref);
            gm_free(ref);
            cr_expect(fe < FWD_TOL, "%s: forward differs from the direct loop by %g", name, fe);
            if (fe > worst_fwd) worst_fwd = fe;
            const double err =
                gc_check_sampled(name, fwd_gmconv, withb ? 3 : 2, in, &u, FD_H_LINEAR, FD_SAMPLE);
            cr_expect(err < FD_TOL, "%s: FD error %.3g", name, err);
            if (err > worst_fd) worst_fd = err;
        }
        gm_gmat_plan_free(p);
        gm_nbhd_free(s);
        gm_group_free(g);
    }
    printf("gmconv FFT path: max relative FD error %.3g, forward vs direct loop %.3g\n", worst_fd,
           worst_fwd);
    fflush(stdout);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
}
