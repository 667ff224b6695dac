/* nn in float64: whole-model parameter gradients against central finite
 * differences (GM-CNN classifier, deep GM-CNN with pooling, plume regressor
 * with LDR rank 2, the modulated layer), a 6-step autoregressive rollout
 * (gradient w.r.t. the parameters and the initial input), and the LDR
 * displacement rank at the default tolerance. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/nn_internal.h"
#include "test_support.h"

#define FD_STEP 1e-6
#define FD_TOL 1e-6

/* gc_check takes at most this many inputs per call. */
#define CHUNK 16

typedef struct fixture {
    gm_model *model;
    gm_tensor *x;
    const int32_t *labels;    /* classifier */
    gm_tensor *targets[6];    /* regressor: one per rollout step */
    int steps;
    const gm__nn_gmconv *layer; /* layer checks */
} fixture;

static gm_model *model_new(const gm_model_desc *d, uint64_t seed) {
    gm_model *m = NULL;
    cr_assert_eq(gm_model_new(d, seed, &m), GM_OK, "%s", gm_error_detail());
    return m;
}

/* Sets every LDR position vector to U(-s, s) (they start at zero). */
static void set_position_vectors(gm_model *m, gm_rng *rng, double s) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        if (!strstr(gm_model_param_name(m, i), ".conv.v.")) continue;
        gc_fill_uniform(rng, gm_model_param(m, i), -s, s);
    }
}

/* Biases and PReLU slopes start at 0 and 0.25; random values exercise
 * every path of their gradients and move ReLU kinks off exact ties. */
static void perturb_all(gm_model *m, gm_rng *rng) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        gm_tensor *t = gm_model_param(m, i);
        for (int64_t j = 0; j < t->numel; j++)
            t->data[j] += (gm_real)(0.1 * (2.0 * gm_rng_uniform(rng) - 1.0));
    }
}

/* Checks every parameter (and `extra`, if given) in chunks of gc_check's
 * capacity, on at most `sample` elements per tensor (0 = all); returns the
 * worst error. */
static double check_model(const char *name, gc_forward_fn f, fixture *fx, gm_tensor *extra,
                          int64_t sample) {
    gm_model *m = fx->model;
    const int64_t np = gm_model_param_count(m);
    gm_tensor *all[256];
    int64_t n = 0;
    for (int64_t i = 0; i < np && n < 255; i++) all[n++] = gm_model_param(m, i);
    cr_assert_eq(n, np, "too many parameters for the test's list");
    if (extra) all[n++] = extra;
    double worst = 0.0;
    for (int64_t begin = 0; begin < n; begin += CHUNK) {
        const int count = (int)(n - begin < CHUNK ? n - begin : CHUNK);
        const double e = gc_check_sampled(name, f, count, all + begin, fx, FD_STEP, sample);
        if (!(e <= worst)) worst = e;
    }
    cr_log_info("%s: %lld parameter tensors (%lld values)%s%s, max FD error %.3g", name,
                (long long)np, (long long)gm_model_num_params(m), extra ? " + input" : "",
                sample ? " (sampled)" : "", worst);
    return worst;
}

static gm_status fwd_xent(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)in;
    fixture *fx = user;
    gm_tensor *logits = NULL;
    gm_status st = gm_model_forward(fx->model, ctx, fx->x, &logits);
    if (st != GM_OK) return st;
    return gm_op_softmax_xent(ctx, logits, fx->labels, out);
}

static gm_status fwd_output(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)in;
    fixture *fx = user;
    return gm_model_forward(fx->model, ctx, fx->x, out);
}

/* The training objective of the plume model: sum over the steps of the MSE
 * of each prediction, feeding predictions back (drop the oldest frame's two
 * channels, append the prediction). */
static gm_status fwd_rollout(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)in;
    fixture *fx = user;
    gm_tensor *x = fx->x, *loss = NULL;
    const int64_t c = x->shape[1];
    for (int s = 0; s < fx->steps; s++) {
        gm_tensor *pred = NULL, *l = NULL, *keep = NULL, *next = NULL;
        gm_status st = gm_model_forward(fx->model, ctx, x, &pred);
        if (st == GM_OK) st = gm_op_mse(ctx, pred, fx->targets[s], &l);
        if (st == GM_OK && loss) st = gm_op_add(ctx, loss, l, &l);
        if (st == GM_OK) st = gm_op_slice(ctx, x, pred->shape[1], c - pred->shape[1], &keep);
        if (st == GM_OK) st = gm_op_concat(ctx, keep, pred, &next);
        if (st != GM_OK) return st;
        loss = l;
        x = next;
    }
    *out = loss;
    return GM_OK;
}

static gm_status fwd_layer(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)in;
    fixture *fx = user;
    return gm__nn_gmconv_forward(fx->layer, ctx, fx->x, out);
}

Test(nn_f64, gmcnn_classifier_gradient) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN, .group = "D3xC4", .radius = 1, .in_channels = 2,
                       .out_dim = 3, .nblocks = 2, .dropout = 0.2};
    d.blocks[0] = (gm_block_desc){.num_layers = 2, .out_channels = 3};
    d.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = 3};
    gm_arena *a = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 1, 0);
    fixture fx = {.model = model_new(&d, 5)};
    perturb_all(fx.model, &rng);
    fx.x = gc_random_tensor(a, &rng, 3, (int64_t[]){2, 2, 24}, false);
    const int32_t labels[2] = {2, 0};
    fx.labels = labels;
    const double err = check_model("GM-CNN D3xC4 (dropout on)", fwd_xent, &fx, NULL, 0);
    cr_expect(err < FD_TOL, "max FD error %g", err);
    gm_model_free(fx.model);
    gm_arena_free(a);
}

Test(nn_f64, deep_gmcnn_gradient) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN_DEEP, .group = "D2xC4", .radius = 1,
                       .in_channels = 1, .out_dim = 2, .nblocks = 2, .form = GM_CONV_FULL};
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 2, .pool = true};
    d.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = 3};
    gm_arena *a = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 2, 0);
    fixture fx = {.model = model_new(&d, 6)};
    perturb_all(fx.model, &rng);
    fx.x = gc_random_tensor(a, &rng, 3, (int64_t[]){2, 1, 16}, true);
    const int32_t labels[2] = {1, 0};
    fx.labels = labels;
    const double err = check_model("deep GM-CNN D2xC4 with GMPool", fwd_xent, &fx, fx.x, 0);
    cr_expect(err < FD_TOL, "max FD error %g", err);
    gm_model_free(fx.model);
    gm_arena_free(a);
}

static gm_model_desc plume_desc(int64_t rank, bool modulated) {
    gm_model_desc d = {.kind = GM_MODEL_PLUME, .group = "C4xC4", .radius = 1, .in_channels = 20,
                       .out_dim = 2, .nblocks = 2, .hidden = 3, .form = GM_CONV_SHARED,
                       .ldr_rank = rank, .modulated = modulated};
    d.blocks[0] = d.blocks[1] = (gm_block_desc){.num_layers = 1};
    return d;
}

Test(nn_f64, plume_ldr_gradient) {
    gm_model_desc d = plume_desc(2, false);
    gm_arena *a = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 3, 0);
    fixture fx = {.model = model_new(&d, 7)};
    perturb_all(fx.model, &rng);
    set_position_vectors(fx.model, &rng, 0.5);
    fx.x = gc_random_tensor(a, &rng, 3, (int64_t[]){2, 20, 16}, false);
    const double err = check_model("plume C4xC4, LDR r = 2", fwd_output, &fx, NULL, 0);
    cr_expect(err < FD_TOL, "max FD error %g", err);
    gm_model_free(fx.model);

    /* The same with full-form LDR kernels. */
    d.form = GM_CONV_FULL;
    fx.model = model_new(&d, 8);
    perturb_all(fx.model, &rng);
    set_position_vectors(fx.model, &rng, 0.5);
    const double err_full = check_model("plume C4xC4, LDR r = 2, full form", fwd_output, &fx,
                                        NULL, 48);
    cr_expect(err_full < FD_TOL, "max FD error %g", err_full);
    gm_model_free(fx.model);
    gm_arena_free(a);
}

Test(nn_f64, modulated_layer_gradient) {
    gm_group *g = ts_group("D2xC3");
    gm_nbhd *s = NULL;
    gm_gmat_plan *plan = NULL;
    cr_assert_eq(gm_nbhd_reference_new(g, 1, &s), GM_OK);
    cr_assert_eq(gm_gmat_plan_new(g, s, &plan), GM_OK);
    gm__nn_params p;
    cr_assert_eq(gm__nn_params_init(&p), GM_OK);
    gm_rng rng;
    gm_rng_seed(&rng, 4, 0);
    const gm_conv_form forms[2] = {GM_CONV_SHARED, GM_CONV_FULL};
    gm_arena *a = gc_arena();
    for (int fi = 0; fi < 2; fi++) {
        gm__nn_gmconv layer;
        cr_assert_eq(gm__nn_gmconv_init(&layer, &p, &rng, fi ? "full" : "shared", plan,
                                        forms[fi], 2, 3, 0, true),
                     GM_OK, "%s", gm_error_detail());
        gc_fill_uniform(&rng, layer.bias, -0.5, 0.5);
        fixture fx = {.layer = &layer};
        fx.x = gc_random_tensor(a, &rng, 3, (int64_t[]){2, 2, 12}, true);
        gm_tensor *in[4] = {layer.weight, layer.bias, layer.e, fx.x};
        const double err = gc_check(fi ? "modulated layer, full" : "modulated layer, shared",
                                    fwd_layer, 4, in, &fx, FD_STEP);
        cr_log_info("modulated layer (%s form): max FD error %.3g", fi ? "full" : "shared", err);
        cr_expect(err < FD_TOL, "max FD error %g", err);
    }
    /* A whole plume model in the modulated mode. */
    gm_model_desc d = plume_desc(0, true);
    fixture fx = {.model = model_new(&d, 9)};
    perturb_all(fx.model, &rng);
    fx.x = gc_random_tensor(a, &rng, 3, (int64_t[]){1, 20, 16}, false);
    const double err = check_model("plume C4xC4, modulated", fwd_output, &fx, NULL, 0);
    cr_expect(err < FD_TOL, "max FD error %g", err);
    gm_model_free(fx.model);
    gm_arena_free(a);
    gm__nn_params_release(&p);
    gm_gmat_plan_free(plan);
    gm_nbhd_free(s);
    gm_group_free(g);
}

Test(nn_f64, plume_rollout_gradient) {
    gm_model_desc d = plume_desc(2, false);
    gm_arena *a = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 5, 0);
    fixture fx = {.model = model_new(&d, 10), .steps = 6};
    perturb_all(fx.model, &rng);
    set_position_vectors(fx.model, &rng, 0.5);
    fx.x = gc_random_tensor(a, &rng, 3, (int64_t[]){2, 20, 16}, true);
    for (int s = 0; s < fx.steps; s++)
        fx.targets[s] = gc_random_tensor(a, &rng, 3, (int64_t[]){2, 2, 16}, false);
    const double err = check_model("plume 6-step rollout", fwd_rollout, &fx, fx.x, 40);
    cr_expect(err < FD_TOL, "max FD error %g", err);
    gm_model_free(fx.model);
    gm_arena_free(a);
}

/* In float64 the displacement of an LDR layer has exactly r singular values
 * above the library's default tolerance. */
Test(nn_f64, ldr_displacement_rank_at_default_tolerance) {
    gm_group *g = ts_group("D3xC4");
    const int64_t n = gm_group_order(g);
    gm_nbhd *s = NULL;
    gm_gmat_plan *plan = NULL;
    cr_assert_eq(gm_nbhd_reference_new(g, 1, &s), GM_OK);
    cr_assert_eq(gm_gmat_plan_new(g, s, &plan), GM_OK);
    gm_ctx *ctx = NULL;
    cr_assert_eq(gm_ctx_new(0, 1, &ctx), GM_OK);
    gm_ctx_set_grad(ctx, false);
    double *m = gm_malloc_array((size_t)(n * n), sizeof *m);
    for (int64_t r = 0; r <= 3; r++) {
        gm__nn_params p;
        cr_assert_eq(gm__nn_params_init(&p), GM_OK);
        gm_rng rng;
        gm_rng_seed(&rng, 40 + (uint64_t)r, 0);
        gm__nn_gmconv layer;
        cr_assert_eq(
            gm__nn_gmconv_init(&layer, &p, &rng, "conv", plan, GM_CONV_SHARED, 1, 1, r, false),
            GM_OK);
        for (int64_t k = 0; k < r; k++) gc_fill_uniform(&rng, layer.v[k], -1, 1);
        for (int64_t h = 0; h < n; h++) {
            gm_tensor *x = NULL, *y = NULL;
            cr_assert_eq(gm_tensor_new3(gm_ctx_arena(ctx), 1, 1, n, &x), GM_OK);
            x->data[h] = 1;
            cr_assert_eq(gm__nn_gmconv_forward(&layer, ctx, x, &y), GM_OK);
            for (int64_t e = 0; e < n; e++) m[e * n + h] = y->data[e];
            gm_ctx_reset(ctx);
        }
        int64_t dr = -1;
        double tol = 0;
        cr_assert_eq(gm_gmat_displacement_rank(g, m, -1.0, &dr, &tol), GM_OK);
        cr_log_info("float64 LDR layer on D3xC4, r = %lld: DR = %lld (tolerance %.3g)",
                    (long long)r, (long long)dr, tol);
        cr_expect_eq(dr, r);
        gm__nn_params_release(&p);
    }
    gm_free(m);
    gm_ctx_free(ctx);
    gm_gmat_plan_free(plan);
    gm_nbhd_free(s);
    gm_group_free(g);
}
