/* Softmax cross-entropy with label smoothing in float64: the backward against
 * central finite differences, the forward against a direct computation, eps = 0
 * against the plain op, and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "test_support.h"

typedef struct {
    const int32_t *labels;
    double eps;
} xent_args;

static gm_status fwd_smooth(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    const xent_args *a = u;
    return gm_op_softmax_xent_smooth(ctx, in[0], a->labels, a->eps, out);
}

Test(xent_smooth_f64, gradient_matches_finite_differences) {
    gm_arena *arena = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 21, 0);
    const int32_t labels[6] = {0, 3, 9, 2, 2, 7};
    const double eps_list[3] = {0.0, 0.1, 0.6};
    for (int e = 0; e < 3; e++) {
        gm_tensor *x = gc_random_tensor(arena, &rng, 2, (int64_t[]){6, 10}, true);
        xent_args a = {labels, eps_list[e]};
        const double err = gc_check("softmax_xent_smooth", fwd_smooth, 1, &x, &a, 1e-6);
        cr_assert_lt(err, 1e-6, "eps %g: error %g", eps_list[e], err);
    }
    gm_arena_free(arena);
}

Test(xent_smooth_f64, forward_and_eps_zero) {
    gm_arena *arena = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 5, 0);
    gm_tensor *x = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, 4}, true);
    const int32_t labels[3] = {1, 0, 3};
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    gm_tensor *plain = NULL, *zero = NULL, *smooth = NULL;
    OK(gm_op_softmax_xent(ctx, x, labels, &plain));
    OK(gm_op_softmax_xent_smooth(ctx, x, labels, 0.0, &zero));
    cr_assert_eq(memcmp(plain->data, zero->data, sizeof(gm_real)), 0);
    const double eps = 0.2;
    OK(gm_op_softmax_xent_smooth(ctx, x, labels, eps, &smooth));
    double want = 0.0;
    for (int b = 0; b < 3; b++) {
        const gm_real *r = x->data + b * 4;
        double lse = 0.0;
        for (int k = 0; k < 4; k++) lse += exp((double)r[k]);
        lse = log(lse);
        for (int k = 0; k < 4; k++) {
            const double t = (1.0 - eps) * (k == labels[b]) + eps / 4.0;
            want -= t * ((double)r[k] - lse);
        }
    }
    cr_assert_float_eq((double)smooth->data[0], want / 3.0, 1e-12);
    /* The gradients of eps = 0 and the plain op agree bit for bit. */
    gm_ctx_reset(ctx);
    gm_ctx_set_grad(ctx, true);
    OK(gm_tensor_grad_ensure(x));
    gm_tensor_zero_grad(x);
    OK(gm_op_softmax_xent(ctx, x, labels, &plain));
    OK(gm_ctx_backward(ctx, plain));
    gm_real g0[12];
    memcpy(g0, x->grad, sizeof g0);
    gm_ctx_reset(ctx);
    gm_tensor_zero_grad(x);
    OK(gm_op_softmax_xent_smooth(ctx, x, labels, 0.0, &zero));
    OK(gm_ctx_backward(ctx, zero));
    cr_assert_eq(memcmp(g0, x->grad, sizeof g0), 0);
    gm_ctx_reset(ctx);
    gm_tensor *bad = NULL;
    cr_assert_eq(gm_op_softmax_xent_smooth(ctx, x, labels, 1.0, &bad), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "smoothing"), "%s", gm_error_detail());
    cr_assert_eq(gm_op_softmax_xent_smooth(ctx, x, labels, -0.1, &bad), GM_ERR_INVALID_ARG);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}
