/* Forecasting in float64: the gradient of the rollout training loss (every
 * parameter, through every step of the autoregressive rollout) against
 * central finite differences, for the plume regressor (LDR rank 1 and the
 * modulated layer) and the CNN and MLP regressors. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "test_support.h"
#include "train/train_internal.h"

#define FD_STEP 1e-6
#define FD_TOL 1e-6
#define CHUNK 16
#define SIDE 4

typedef struct fixture {
    gm_model *model;
    const gm_forecast_set *set;
    int64_t batch;
} fixture;

/* 3 sims of 12 random frames of SIDE x SIDE, the last one held out. */
static void data_new(gm_plume_data *d) {
    memset(d, 0, sizeof *d);
    d->nsims = 3;
    d->frames = 12;
    d->height = d->width = SIDE;
    const int64_t n = d->nsims * d->frames * 2 * SIDE * SIDE;
    d->x = gm_malloc((size_t)n * sizeof *d->x);
    d->held_out = gm_calloc(3, sizeof *d->held_out);
    d->labels = gm_calloc(3, sizeof *d->labels);
    d->name = gm_strdup("random");
    cr_assert(d->x && d->held_out && d->labels && d->name);
    for (int i = 0; i < 3; i++) d->labels[i] = gm_strdup("");
    d->held_out[2] = true;
    gm_rng rng;
    gm_rng_seed(&rng, 17, 2);
    for (int64_t i = 0; i < n; i++) d->x[i] = (float)(2.0 * gm_rng_uniform(&rng) - 1.0);
}

static gm_status fwd_rollout(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)in;
    const fixture *fx = user;
    return gm__forecast_batch_loss(fx->model, ctx, fx->set, NULL, 0, fx->batch, out);
}

/* Biases, slopes and LDR position vectors start at constants; random values
 * exercise every path of their gradients and move kinks off exact ties. */
static void perturb_all(gm_model *m, uint64_t seed) {
    gm_rng rng;
    gm_rng_seed(&rng, seed, 5);
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        gm_tensor *t = gm_model_param(m, i);
        for (int64_t j = 0; j < t->numel; j++)
            t->data[j] += (gm_real)(0.2 * (2.0 * gm_rng_uniform(&rng) - 1.0));
    }
}

static double check(const char *name, const gm_model_desc *desc) {
    gm_plume_data d;
    data_new(&d);
    gm_forecast_protocol p = gm_forecast_protocol_default();
    p.input_frames = 2;
    p.input_offset = 1;
    p.rollout_steps = 3;
    p.train = (gm_forecast_range){0, 4};
    gm_forecast_set s;
    OK(gm_forecast_set_new(&d, &p, GM_FORECAST_TRAIN, &s));
    gm_model *m = NULL;
    OK(gm_model_new(desc, 3, &m));
    OK(gm_forecast_check_model(m, &s));
    perturb_all(m, 8);
    fixture fx = {.model = m, .set = &s, .batch = 3};
    gm_tensor *all[256];
    const int64_t np = gm_model_param_count(m);
    cr_assert(np <= 256);
    for (int64_t i = 0; i < np; i++) all[i] = gm_model_param(m, i);
    double worst = 0.0;
    for (int64_t b = 0; b < np; b += CHUNK) {
        const int count = (int)(np - b < CHUNK ? np - b : CHUNK);
        const double e = gc_check_sampled(name, fwd_rollout, count, all + b, &fx, FD_STEP, 60);
        if (!(e <= worst)) worst = e;
    }
    cr_log_info("%s: %lld parameter tensors (%lld values), 3-step rollout of 3 windows, max FD "
                "error %.3g", name, (long long)np, (long long)gm_model_num_params(m), worst);
    gm_model_free(m);
    gm_forecast_set_free(&s);
    gm_plume_data_free(&d);
    return worst;
}

Test(forecast_f64, plume_ldr_rollout_gradient) {
    gm_model_desc d = {.kind = GM_MODEL_PLUME, .group = "C4xC4", .radius = 1, .in_channels = 4,
                       .out_dim = 2, .nblocks = 2, .form = GM_CONV_FULL, .hidden = 3,
                       .ldr_rank = 1};
    d.blocks[0] = d.blocks[1] = (gm_block_desc){.num_layers = 1};
    cr_assert(check("plume LDR-1 rollout", &d) < FD_TOL);
}

Test(forecast_f64, plume_modulated_shared_rollout_gradient) {
    gm_model_desc d = {.kind = GM_MODEL_PLUME, .group = "C4xC4", .radius = 1, .in_channels = 4,
                       .out_dim = 2, .nblocks = 2, .form = GM_CONV_SHARED, .hidden = 3,
                       .modulated = true};
    d.blocks[0] = d.blocks[1] = (gm_block_desc){.num_layers = 1};
    cr_assert(check("plume modulated rollout", &d) < FD_TOL);
}

Test(forecast_f64, cnn_regressor_rollout_gradient) {
    gm_model_desc d = {.kind = GM_MODEL_CNN, .in_channels = 4, .out_dim = 2, .nblocks = 2,
                       .image_h = SIDE, .image_w = SIDE, .regressor = true};
    d.blocks[0] = d.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = 3};
    cr_assert(check("cnn regressor rollout", &d) < FD_TOL);
}

Test(forecast_f64, mlp_regressor_rollout_gradient) {
    gm_model_desc d = {.kind = GM_MODEL_MLP, .in_channels = 4, .out_dim = 2, .hidden = 5,
                       .image_h = SIDE, .image_w = SIDE, .regressor = true, .dropout = 0.0};
    cr_assert(check("mlp regressor rollout", &d) < FD_TOL);
}
