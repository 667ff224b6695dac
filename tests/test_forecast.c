/* Forecasting (gmcnn/forecast.h): plume datasets and their validation, the
 * windows of the reference protocol, the RMSE against a hand computation,
 * rollout training (learning, exact resume), the CNN and MLP regressors, the
 * plume config keys, the field plot, and train / eval / rollout end to end.
 * Every dataset is a tiny synthetic one written to a temporary directory. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

/* --- synthetic datasets ------------------------------------------------------ */

#define SIDE 8

typedef float (*field_fn)(int64_t sim, int64_t frame, int64_t ch, int64_t row, int64_t col,
                          const void *user);

/* Value sim*10000 + frame*100 + position for x, its negative for y: exact in
 * float32, and every value says where it came from. */
static float coded(int64_t sim, int64_t frame, int64_t ch, int64_t row, int64_t col,
                   const void *user) {
    (void)user;
    const float v = (float)(sim * 10000 + frame * 100 + row * SIDE + col);
    return ch ? -v : v;
}

/* A random pattern per sim and channel that moves one cell in +x per frame
 * (circularly): exactly what a group convolution on C8xC8 can learn. */
typedef struct shift_data {
    float base[4][2][SIDE * SIDE];
} shift_data;

static float shifted(int64_t sim, int64_t frame, int64_t ch, int64_t row, int64_t col,
                     const void *user) {
    const shift_data *s = user;
    const int64_t c = ((col - frame) % SIDE + SIDE) % SIDE;
    return s->base[sim][ch][row * SIDE + c];
}

static shift_data *shift_data_new(uint64_t seed) {
    shift_data *s = gm_malloc(sizeof *s);
    gm_rng rng;
    gm_rng_seed(&rng, seed, 3);
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < SIDE * SIDE; p++)
                s->base[k][c][p] = (float)(2.0 * gm_rng_uniform(&rng) - 1.0);
    return s;
}

static void write_sim(const char *path, int64_t sim, int64_t frames, field_fn f,
                      const void *user) {
    const int64_t n = frames * 2 * SIDE * SIDE;
    float *v = gm_malloc((size_t)n * sizeof *v);
    int64_t i = 0;
    for (int64_t t = 0; t < frames; t++)
        for (int64_t c = 0; c < 2; c++)
            for (int64_t r = 0; r < SIDE; r++)
                for (int64_t q = 0; q < SIDE; q++) v[i++] = f(sim, t, c, r, q, user);
    gm_array a = {.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {frames, 2, SIDE, SIDE}, .data = v};
    OK(gm_npy_write(path, &a));
    gm_free(v);
}

/* nsims sims (the last one held out) of `frames` frames into dir/data. */
static const char *write_dataset(const char *dir, int64_t nsims, int64_t frames, field_fn f,
                                 const void *user) {
    static char data[8][256];
    static int slot;
    char *d = data[slot++ % 8];
    snprintf(d, 256, "%s/data", dir);
    mkdir(d, 0777);
    char path[512], manifest[4096];
    int len = snprintf(manifest, sizeof manifest,
                       "{\"format\": \"gmcnn-plume\", \"version\": 1, \"recipe\": \"test\", "
                       "\"steps\": %lld, \"frames\": %lld, \"height\": %d, \"width\": %d, "
                       "\"sims\": [", (long long)frames, (long long)frames, SIDE, SIDE);
    for (int64_t k = 0; k < nsims; k++) {
        snprintf(path, sizeof path, "%s/sim_%03lld.npy", d, (long long)k);
        write_sim(path, k, frames, f, user);
        len += snprintf(manifest + len, sizeof manifest - (size_t)len,
                        "%s{\"file\": \"sim_%03lld.npy\", \"label\": \"k=%lld\", \"held_out\": "
                        "%s}", k ? ", " : "", (long long)k, (long long)k,
                        k == nsims - 1 ? "true" : "false");
    }
    snprintf(manifest + len, sizeof manifest - (size_t)len, "]}\n");
    snprintf(path, sizeof path, "%s/manifest.json", d);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs(manifest, fp);
    fclose(fp);
    return d;
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    cr_assert(fp, "cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
}

/* The protocol of the tiny datasets: 40 frames, F = 2 at offset 1, 3-step
 * rollouts, 5-step tests. */
static gm_forecast_protocol tiny_protocol(void) {
    gm_forecast_protocol p = gm_forecast_protocol_default();
    p.input_frames = 2;
    p.input_offset = 1;
    p.rollout_steps = 3;
    p.eval_steps = 5;
    p.train = (gm_forecast_range){0, 20};
    p.val = (gm_forecast_range){20, 26};
    p.future = (gm_forecast_range){26, 30};
    p.domain = (gm_forecast_range){0, 10};
    return p;
}

static gm_model *tiny_model(uint64_t seed) {
    gm_model_desc d = {.kind = GM_MODEL_PLUME, .group = "C8xC8", .radius = 1, .in_channels = 4,
                       .out_dim = 2, .nblocks = 1, .form = GM_CONV_FULL, .hidden = 4};
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 4};
    gm_model *m = NULL;
    OK(gm_model_new(&d, seed, &m));
    return m;
}

static gm_tensor *param_named(gm_model *m, const char *name) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++)
        if (!strcmp(gm_model_param_name(m, i), name)) return gm_model_param(m, i);
    cr_assert_fail("no parameter %s", name);
    return NULL;
}

/* --- the protocol --------------------------------------------------------------- */

Test(forecast_protocol, defaults_checks_and_json) {
    const gm_forecast_protocol p = gm_forecast_protocol_default();
    cr_assert_eq(p.input_frames, 10);
    cr_assert_eq(p.input_offset, 2);
    cr_assert_eq(p.rollout_steps, 6);
    cr_assert_eq(p.eval_steps, 20);
    cr_assert(p.train.begin == 0 && p.train.end == 160);
    cr_assert(p.val.begin == 160 && p.val.end == 200);
    cr_assert(p.future.begin == 200 && p.future.end == 250);
    cr_assert(p.domain.begin == 0 && p.domain.end == 100);
    cr_assert_eq(p.train_stride, 1);
    OK(gm_forecast_protocol_check(&p));

    gm_forecast_protocol q = tiny_protocol();
    q.train_stride = 3;
    char *json = NULL;
    OK(gm_forecast_protocol_to_json(&q, &json));
    gm_forecast_protocol r;
    OK(gm_forecast_protocol_from_json(json, &r));
    cr_assert_eq(memcmp(&q, &r, sizeof q), 0, "%s", json);
    gm_free(json);
    OK(gm_forecast_protocol_from_json("{}", &r));
    cr_assert_eq(memcmp(&p, &r, sizeof p), 0);

    q = p;
    q.val = (gm_forecast_range){5, 5};
    cr_assert_eq(gm_forecast_protocol_check(&q), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "val range [5, 5)");
    q = p;
    q.train_stride = 0;
    cr_assert_eq(gm_forecast_protocol_check(&q), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "train_stride");
    cr_assert_eq(gm_forecast_protocol_from_json("{\"future\": [3]}", &r), GM_ERR_FORMAT);
    ts_expect_contains(gm_error_detail(), "\"future\"");
    cr_assert_eq(gm_forecast_protocol_from_json("{\"eval_steps\": 0}", &r), GM_ERR_FORMAT);
    cr_assert_eq(gm_forecast_protocol_from_json("[1", &r), GM_ERR_FORMAT);
}

/* --- datasets and windows ---------------------------------------------------------- */

Test(forecast_data, windows_hold_the_exact_frames) {
    const char *dir = ts_temp_dir();
    const char *data = write_dataset(dir, 3, 40, coded, NULL);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    cr_assert_eq(d.nsims, 3);
    cr_assert_eq(d.frames, 40);
    cr_assert(d.height == SIDE && d.width == SIDE);
    cr_assert(!d.held_out[0] && !d.held_out[1] && d.held_out[2]);
    cr_assert_str_eq(d.labels[1], "k=1");
    cr_assert_eq(gm_plume_data_frame(&d, 2, 7)[5], 20705.0f);

    gm_forecast_protocol p = tiny_protocol();
    p.train_stride = 3;
    gm_forecast_set s[4];
    for (int k = 0; k < 4; k++) OK(gm_forecast_set_new(&d, &p, (gm_forecast_split)k, &s[k]));
    /* train: 2 sims x s in {0, 3, ..., 18}; val 2 x 6; future 2 x 4; domain 1 x 10. */
    cr_assert_eq(s[0].n, 14);
    cr_assert_eq(s[1].n, 12);
    cr_assert_eq(s[2].n, 8);
    cr_assert_eq(s[3].n, 10);
    cr_assert_eq(s[0].steps, 3);
    cr_assert_eq(s[1].steps, 3);
    cr_assert_eq(s[2].steps, 5);
    cr_assert_eq(s[3].steps, 5);
    for (int64_t i = 0; i < s[0].n; i++) {
        cr_assert_eq(s[0].sim[i], i / 7);
        cr_assert_eq(s[0].start[i], 3 * (i % 7));
    }
    for (int64_t i = 0; i < s[3].n; i++) cr_assert_eq(s[3].sim[i], 2);
    cr_assert_eq(s[2].start[0], 26);

    /* Window (sim 1, s = 26) of the future set: inputs frames 27, 28 stacked
     * frame-major, targets frames 29..33. */
    const int64_t hw = SIDE * SIDE;
    float in[4 * SIDE * SIDE], tg[5 * 2 * SIDE * SIDE];
    const int64_t w = 4; /* sim 1, first window */
    cr_assert(s[2].sim[w] == 1 && s[2].start[w] == 26);
    gm_forecast_window_copy(&s[2], w, in, tg);
    for (int64_t j = 0; j < 2; j++)
        for (int64_t c = 0; c < 2; c++)
            for (int64_t q = 0; q < hw; q++) {
                const float want = (float)(10000 + (27 + j) * 100 + q);
                cr_assert_eq(in[(2 * j + c) * hw + q], c ? -want : want);
            }
    for (int64_t t = 0; t < 5; t++)
        for (int64_t c = 0; c < 2; c++)
            for (int64_t q = 0; q < hw; q++) {
                const float want = (float)(10000 + (29 + t) * 100 + q);
                cr_assert_eq(tg[(2 * t + c) * hw + q], c ? -want : want);
            }
    for (int k = 0; k < 4; k++) gm_forecast_set_free(&s[k]);

    /* The last future window s = 29 with 5 steps needs frame 29+1+2+5-1 = 36. */
    gm_forecast_set bad;
    p.future = (gm_forecast_range){26, 34};
    cr_assert_eq(gm_forecast_set_new(&d, &p, GM_FORECAST_FUTURE, &bad), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "future windows [26, 34)");
    ts_expect_contains(gm_error_detail(), "need frame 40");
    ts_expect_contains(gm_error_detail(), "40 frames");
    cr_assert_null(bad.sim);
    p = tiny_protocol();
    p.train = (gm_forecast_range){0, 40};
    cr_assert_eq(gm_forecast_set_new(&d, &p, GM_FORECAST_TRAIN, &bad), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "train windows [0, 40)");
    /* A single window. */
    OK(gm_forecast_set_window(&d, 2, 34, 2, 1, 3, &bad));
    cr_assert(bad.n == 1 && bad.sim[0] == 2 && bad.start[0] == 34);
    gm_forecast_set_free(&bad);
    cr_assert_eq(gm_forecast_set_window(&d, 2, 35, 2, 1, 3, &bad), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "need frame 40");
    cr_assert_eq(gm_forecast_set_window(&d, 3, 0, 2, 1, 3, &bad), GM_ERR_INVALID_ARG);
    gm_plume_data_free(&d);

    /* Without held-out sims there are no domain windows. */
    const char *dir2 = ts_temp_dir();
    const char *one = write_dataset(dir2, 1, 40, coded, NULL);
    OK(gm_plume_data_load(one, &d));
    d.held_out[0] = false;
    cr_assert_eq(gm_forecast_set_new(&d, &p, GM_FORECAST_DOMAIN, &bad), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "no held-out simulations");
    gm_plume_data_free(&d);

    cr_assert_neq(gm_plume_data_load_sim(one, &d), GM_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/sim_000.npy", one);
    OK(gm_plume_data_load_sim(path, &d));
    cr_assert(d.nsims == 1 && d.frames == 40 && d.height == SIDE && !d.held_out[0]);
    cr_assert_eq(gm_plume_data_frame(&d, 0, 3)[2], 302.0f);
    gm_plume_data_free(&d);
    ts_rmtree(dir);
    ts_rmtree(dir2);
}

/* Every malformed dataset is rejected with a one-line detail naming the
 * file and the field. */
Test(forecast_data, malformed_datasets) {
    const char *dir = ts_temp_dir();
    const char *data = write_dataset(dir, 2, 12, coded, NULL);
    char mpath[512], spath[512];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", data);
    snprintf(spath, sizeof spath, "%s/sim_001.npy", data);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    gm_plume_data_free(&d);

    const char *sims = "\"sims\": [{\"file\": \"sim_000.npy\", \"held_out\": false}, "
                       "{\"file\": \"sim_001.npy\", \"held_out\": true}]";
    char text[1024];
    const struct {
        const char *manifest;
        gm_status st;
        const char *needle;
    } cases[] = {
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, %s", GM_ERR_FORMAT, "malformed JSON"},
        {"{\"height\": 8, \"width\": 8, %s}", GM_ERR_FORMAT, "\"frames\" is missing"},
        {"{\"frames\": 0, \"height\": 8, \"width\": 8, %s}", GM_ERR_FORMAT, "\"frames\" must be"},
        {"{\"frames\": 12, \"height\": \"8\", \"width\": 8, %s}", GM_ERR_FORMAT,
         "\"height\" must be"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8}", GM_ERR_FORMAT, "\"sims\" is missing"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, \"sims\": []}", GM_ERR_FORMAT,
         "non-empty array"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, \"sims\": [{\"held_out\": false}]}",
         GM_ERR_FORMAT, "sims[0].file is missing"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, \"sims\": [{\"file\": \"../x.npy\", "
         "\"held_out\": false}]}", GM_ERR_FORMAT, "sims[0].file must be a file name"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, \"sims\": [{\"file\": \"sim_000.npy\"}]}",
         GM_ERR_FORMAT, "sims[0].held_out is missing"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, \"sims\": [{\"file\": \"sim_000.npy\", "
         "\"held_out\": 1}]}", GM_ERR_FORMAT, "sims[0].held_out must be true or false"},
        {"{\"frames\": 12, \"height\": 8, \"width\": 8, \"sims\": [{\"file\": \"nope.npy\", "
         "\"held_out\": false}]}", GM_ERR_IO, "nope.npy"},
        {"{\"frames\": 13, \"height\": 8, \"width\": 8, %s}", GM_ERR_SHAPE,
         "12 frames, the manifest says 13"},
        {"{\"frames\": 12, \"height\": 4, \"width\": 16, %s}", GM_ERR_SHAPE,
         "expected (12, 2, 4, 16)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, cases[i].manifest, sims);
        write_text(mpath, text);
        const gm_status st = gm_plume_data_load(data, &d);
        cr_assert_eq(st, cases[i].st, "case %zu: %s (%s)", i, gm_strerror(st),
                     gm_error_detail());
        ts_expect_contains(gm_error_detail(), cases[i].needle);
        cr_assert_null(strchr(gm_error_detail(), '\n'));
        cr_assert_null(d.x);
    }
    snprintf(text, sizeof text, "{\"frames\": 12, \"height\": 8, \"width\": 8, %s}", sims);
    write_text(mpath, text);

    /* sim_001.npy: wrong dtype, wrong shape, a NaN. */
    gm_array a = {.dtype = GM_DTYPE_F64, .ndim = 4, .shape = {12, 2, 8, 8}};
    a.data = gm_calloc(12 * 2 * 64, sizeof(double));
    OK(gm_npy_write(spath, &a));
    cr_assert_eq(gm_plume_data_load(data, &d), GM_ERR_FORMAT);
    ts_expect_contains(gm_error_detail(), "sim_001.npy': dtype <f8, expected float32");
    gm_array_free(&a);
    a = (gm_array){.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {12, 3, 8, 8}};
    a.data = gm_calloc(12 * 3 * 64, sizeof(float));
    OK(gm_npy_write(spath, &a));
    cr_assert_eq(gm_plume_data_load(data, &d), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "sim_001.npy': shape (12, 3, 8, 8), expected "
                                          "(12, 2, 8, 8)");
    gm_array_free(&a);
    a = (gm_array){.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {12, 2, 8, 8}};
    a.data = gm_calloc(12 * 2 * 64, sizeof(float));
    ((float *)a.data)[5 * 128 + 64 + 8 * 3 + 2] = NAN;
    OK(gm_npy_write(spath, &a));
    cr_assert_eq(gm_plume_data_load(data, &d), GM_ERR_FORMAT);
    ts_expect_contains(gm_error_detail(), "non-finite value nan at frame 5 channel 1 row 3 "
                                          "column 2");
    gm_array_free(&a);
    unlink(mpath);
    cr_assert_eq(gm_plume_data_load(data, &d), GM_ERR_IO);
    ts_expect_contains(gm_error_detail(), "manifest.json': cannot open");
    ts_rmtree(dir);
}

/* --- evaluation ------------------------------------------------------------------------ */

/* A model whose prediction is the constant (bx, by) everywhere: the RMSE
 * by hand is sqrt(mean over windows of the mean over steps of the mean
 * squared difference between the target frame and the constants). */
Test(forecast_eval, rmse_matches_a_hand_computation) {
    const char *dir = ts_temp_dir();
    shift_data *sd = shift_data_new(5);
    const char *data = write_dataset(dir, 3, 40, shifted, sd);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    const gm_forecast_protocol p = tiny_protocol();
    gm_forecast_set fut;
    OK(gm_forecast_set_new(&d, &p, GM_FORECAST_FUTURE, &fut));
    gm_model *m = tiny_model(1);
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        gm_tensor *t = gm_model_param(m, i);
        memset(t->data, 0, (size_t)t->numel * sizeof *t->data);
    }
    gm_tensor *b = param_named(m, "output.bias");
    b->data[0] = 0.5f;
    b->data[1] = -0.25f;

    const int64_t hw = SIDE * SIDE;
    double total = 0.0, step_sum[5] = {0};
    for (int64_t i = 0; i < fut.n; i++) {
        double per = 0.0;
        for (int64_t t = 0; t < 5; t++) {
            const float *f = gm_plume_data_frame(&d, fut.sim[i], fut.start[i] + 1 + 2 + t);
            double se = 0.0;
            for (int64_t c = 0; c < 2; c++)
                for (int64_t q = 0; q < hw; q++) {
                    const double e = (double)f[c * hw + q] - (c ? -0.25 : 0.5);
                    se += e * e;
                }
            per += se / (2.0 * hw);
            step_sum[t] += se / (2.0 * hw);
        }
        total += per / 5.0;
    }
    const double want = sqrt(total / (double)fut.n);
    const int64_t batches[] = {1, 3, 100};
    for (int k = 0; k < 3; k++) {
        gm_forecast_metrics mt;
        OK(gm_forecast_evaluate(m, &fut, batches[k], &mt));
        cr_assert_eq(mt.n, 8);
        cr_assert_eq(mt.steps, 5);
        cr_assert(fabs(mt.rmse - want) <= 1e-12 * want, "batch %lld: %.17g vs %.17g",
                  (long long)batches[k], mt.rmse, want);
        /* The square root is part of the metric. */
        cr_assert(fabs(mt.rmse * mt.rmse - total / (double)fut.n) < 1e-9);
        cr_assert(fabs(mt.rmse - total / (double)fut.n) > 0.01);
        for (int64_t t = 0; t < 5; t++)
            cr_assert(fabs(mt.step_rmse[t] - sqrt(step_sum[t] / (double)fut.n)) < 1e-12);
        gm_forecast_metrics_free(&mt);
    }
    gm_model_free(m);
    gm_forecast_set_free(&fut);
    gm_plume_data_free(&d);
    gm_free(sd);
    ts_rmtree(dir);
}

static gm_status keep_record(const gm_epoch_record *rec, void *user) {
    *(gm_epoch_record *)user = *rec;
    return GM_OK;
}

/* Predictions are fed back: step 2 is the model applied to the inputs
 * without their oldest frame and with step 1's prediction appended; the
 * training loss is the sum over the steps of the batch MSE. */
Test(forecast_eval, rollout_feeds_predictions_back) {
    const char *dir = ts_temp_dir();
    shift_data *sd = shift_data_new(6);
    const char *data = write_dataset(dir, 3, 40, shifted, sd);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    gm_forecast_set one;
    OK(gm_forecast_set_window(&d, 1, 4, 2, 1, 3, &one));
    gm_model *m = tiny_model(2);
    param_named(m, "blocks.0.layers.0.prelu.weight")->data[0] = 0.6f;
    const int64_t hw = SIDE * SIDE, plane = 2 * hw;
    float pred[3 * 2 * SIDE * SIDE], in[4 * SIDE * SIDE];
    double step_mse[3];
    OK(gm_forecast_predict(m, &one, 0, pred, step_mse));

    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 0, &ctx));
    gm_ctx_set_grad(ctx, false);
    gm_forecast_window_copy(&one, 0, in, NULL);
    gm_tensor *x = NULL, *y = NULL;
    OK(gm_tensor_new3(gm_ctx_arena(ctx), 1, 4, hw, &x));
    for (int64_t j = 0; j < 4 * hw; j++) x->data[j] = in[j];
    for (int t = 0; t < 3; t++) {
        OK(gm_model_forward(m, ctx, x, &y));
        for (int64_t j = 0; j < plane; j++)
            cr_assert(fabs(y->data[j] - pred[t * plane + j]) <= 1e-6 * (1 + fabs(y->data[j])),
                      "step %d value %lld", t, (long long)j);
        gm_tensor *nx = NULL;
        OK(gm_tensor_new3(gm_ctx_arena(ctx), 1, 4, hw, &nx));
        memcpy(nx->data, x->data + plane, (size_t)plane * sizeof *nx->data);
        memcpy(nx->data + plane, y->data, (size_t)plane * sizeof *nx->data);
        x = nx;
    }
    gm_forecast_metrics mt;
    OK(gm_forecast_evaluate(m, &one, 1, &mt));
    for (int t = 0; t < 3; t++) cr_assert(fabs(mt.step_rmse[t] - sqrt(step_mse[t])) < 1e-12);
    gm_forecast_metrics_free(&mt);

    /* The training loss is the sum over the steps of the batch MSE, so the
     * training RMSE of an epoch that changes nothing (lr 0) is the
     * evaluation RMSE of the same windows. */
    gm_forecast_protocol p = tiny_protocol();
    gm_forecast_set val;
    OK(gm_forecast_set_new(&d, &p, GM_FORECAST_VAL, &val));
    OK(gm_forecast_evaluate(m, &val, 5, &mt));
    gm_fit_options fo = {.epochs = 1, .batch_size = 4, .seed = 1,
                         .optim = gm_optim_config_default(GM_OPTIM_SGD),
                         .sched = gm_lr_sched_config_default(GM_LR_CONSTANT),
                         .on_epoch = keep_record};
    fo.optim.lr = 0.0;
    gm_epoch_record rec = {0};
    fo.user = &rec;
    gm_trainer *t = NULL;
    OK(gm_trainer_new(m, &fo, &t));
    gm_fit_result res;
    OK(gm_trainer_fit_forecast(t, &val, &val, &res));
    cr_assert_eq(rec.epoch, 1);
    cr_assert(fabs(rec.train_loss - mt.rmse) < 1e-5 * mt.rmse, "%.17g vs %.17g",
              rec.train_loss, mt.rmse);
    cr_assert(fabs(rec.val_loss - mt.rmse) < 1e-12);
    cr_assert(isnan(rec.train_accuracy) && isnan(rec.val_accuracy));
    gm_trainer_free(t);
    gm_forecast_metrics_free(&mt);
    gm_forecast_set_free(&val);
    gm_ctx_free(ctx);
    gm_model_free(m);
    gm_forecast_set_free(&one);
    gm_plume_data_free(&d);
    gm_free(sd);
    ts_rmtree(dir);
}

/* --- training ------------------------------------------------------------------------ */

#define TRANSLATION_EPOCHS 12

static gm_fit_options tiny_fit(int64_t epochs) {
    gm_fit_options o = {.epochs = epochs, .batch_size = 8, .seed = 42,
                        .optim = gm_optim_config_default(GM_OPTIM_ADAMW),
                        .sched = gm_lr_sched_config_default(GM_LR_PLATEAU)};
    o.optim.lr = 0.02;
    return o;
}

typedef struct history {
    int64_t n;
    gm_epoch_record recs[64];
} history;

static gm_status keep_history(const gm_epoch_record *rec, void *user) {
    history *h = user;
    if (h->n < 64) h->recs[h->n++] = *rec;
    return GM_OK;
}

/* Frames that move one cell per step: an exact group convolution on C8xC8
 * can predict them, and rollout training finds it. */
Test(forecast_train, learns_a_translation) {
    const char *dir = ts_temp_dir();
    shift_data *sd = shift_data_new(9);
    const char *data = write_dataset(dir, 4, 40, shifted, sd);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    const gm_forecast_protocol p = tiny_protocol();
    gm_forecast_set s[4];
    for (int k = 0; k < 4; k++) OK(gm_forecast_set_new(&d, &p, (gm_forecast_split)k, &s[k]));
    gm_model *m = tiny_model(3);
    gm_forecast_metrics before[2], after[2];
    for (int k = 0; k < 2; k++) OK(gm_forecast_evaluate(m, &s[2 + k], 16, &before[k]));
    history h = {0};
    gm_fit_options fo = tiny_fit(TRANSLATION_EPOCHS);
    fo.on_epoch = keep_history;
    fo.user = &h;
    gm_trainer *t = NULL;
    OK(gm_trainer_new(m, &fo, &t));
    gm_fit_result res;
    OK(gm_trainer_fit_forecast(t, &s[0], &s[1], &res));
    cr_assert_eq(h.n, TRANSLATION_EPOCHS);
    OK(gm_trainer_restore_best(t));
    for (int k = 0; k < 2; k++) OK(gm_forecast_evaluate(m, &s[2 + k], 16, &after[k]));
    cr_log_info("translation: val RMSE %.4f -> %.4f; future %.4f -> %.4f; domain %.4f -> %.4f",
                h.recs[0].val_loss, res.best_val_loss, before[0].rmse, after[0].rmse,
                before[1].rmse, after[1].rmse);
    cr_assert(res.best_val_loss < 0.25 * h.recs[0].val_loss, "val %g -> %g",
              h.recs[0].val_loss, res.best_val_loss);
    cr_assert(h.recs[h.n - 1].train_loss < 0.25 * h.recs[0].train_loss);
    /* Translation is the same for unseen patterns: the domain test improves too. */
    for (int k = 0; k < 2; k++) {
        cr_assert(after[k].rmse < 0.25 * before[k].rmse, "%g -> %g", before[k].rmse,
                  after[k].rmse);
        gm_forecast_metrics_free(&before[k]);
        gm_forecast_metrics_free(&after[k]);
    }
    gm_trainer_free(t);
    gm_model_free(m);
    for (int k = 0; k < 4; k++) gm_forecast_set_free(&s[k]);
    gm_plume_data_free(&d);
    gm_free(sd);
    ts_rmtree(dir);
}

/* Training 4 epochs, or 2 and then 2 more from the checkpoint, gives the
 * same parameters bit for bit, the same best copy and the same metrics. */
Test(forecast_train, resume_is_bit_identical) {
    const char *dir = ts_temp_dir();
    shift_data *sd = shift_data_new(10);
    const char *data = write_dataset(dir, 3, 40, shifted, sd);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    gm_forecast_protocol p = tiny_protocol();
    p.train_stride = 2;
    gm_forecast_set tr, va;
    OK(gm_forecast_set_new(&d, &p, GM_FORECAST_TRAIN, &tr));
    OK(gm_forecast_set_new(&d, &p, GM_FORECAST_VAL, &va));
    char ck_a[512], ck_b[512], best_a[512], best_b[512], js_a[512], js_b[512];
    snprintf(ck_a, sizeof ck_a, "%s/a.safetensors", dir);
    snprintf(ck_b, sizeof ck_b, "%s/b.safetensors", dir);
    snprintf(best_a, sizeof best_a, "%s/best_a.safetensors", dir);
    snprintf(best_b, sizeof best_b, "%s/best_b.safetensors", dir);
    snprintf(js_a, sizeof js_a, "%s/a.jsonl", dir);
    snprintf(js_b, sizeof js_b, "%s/b.jsonl", dir);
    char *proto = NULL;
    OK(gm_forecast_protocol_to_json(&p, &proto));
    const char *mk[1] = {GM_FORECAST_META_KEY}, *mv[1] = {proto};

    gm_model *a = tiny_model(4);
    gm_fit_options fo = tiny_fit(4);
    fo.optim.lr = 0.01;
    fo.checkpoint_path = ck_a;
    fo.best_path = best_a;
    fo.metrics_jsonl = js_a;
    fo.nmeta = 1;
    fo.meta_keys = mk;
    fo.meta_values = mv;
    gm_trainer *t = NULL;
    gm_fit_result res;
    OK(gm_trainer_new(a, &fo, &t));
    OK(gm_trainer_fit_forecast(t, &tr, &va, &res));
    gm_trainer_free(t);

    gm_model *b = tiny_model(4);
    fo.epochs = 2;
    fo.checkpoint_path = ck_b;
    fo.best_path = best_b;
    fo.metrics_jsonl = js_b;
    OK(gm_trainer_new(b, &fo, &t));
    OK(gm_trainer_fit_forecast(t, &tr, &va, &res));
    gm_trainer_free(t);
    gm_model_free(b);
    b = tiny_model(99); /* different initial values: all of them come from the checkpoint */
    fo.epochs = 4;
    fo.resume_path = ck_b;
    OK(gm_trainer_new(b, &fo, &t));
    cr_assert_eq(gm_trainer_epoch(t), 2);
    OK(gm_trainer_fit_forecast(t, &tr, &va, &res));
    cr_assert_eq(res.epochs_run, 2);
    gm_trainer_free(t);

    for (int64_t i = 0; i < gm_model_param_count(a); i++) {
        const gm_tensor *x = gm_model_param(a, i), *y = gm_model_param(b, i);
        cr_assert_eq(memcmp(x->data, y->data, (size_t)x->numel * sizeof *x->data), 0, "%s",
                     gm_model_param_name(a, i));
    }
    char *ja = ts_read_file(js_a), *jb = ts_read_file(js_b);
    /* The same numbers apart from the timings. */
    json_t *la = NULL, *lb = NULL;
    const char *pa = ja, *pb = jb;
    for (int e = 0; e < 4; e++) {
        json_error_t ea, eb;
        la = json_loads(pa, JSON_DISABLE_EOF_CHECK, &ea);
        lb = json_loads(pb, JSON_DISABLE_EOF_CHECK, &eb);
        cr_assert(la && lb, "epoch %d", e + 1);
        pa += ea.position;
        pb += eb.position;
        const char *keys[] = {"epoch", "lr", "train_loss", "val_loss", "best"};
        for (int k = 0; k < 5; k++) {
            char *va_s = json_dumps(json_object_get(la, keys[k]), JSON_ENCODE_ANY | JSON_COMPACT);
            char *vb_s = json_dumps(json_object_get(lb, keys[k]), JSON_ENCODE_ANY | JSON_COMPACT);
            cr_assert(va_s && vb_s, "epoch %d %s", e + 1, keys[k]);
            cr_assert_str_eq(va_s, vb_s, "epoch %d %s", e + 1, keys[k]);
            free(va_s);
            free(vb_s);
        }
        cr_assert(json_is_null(json_object_get(la, "train_acc")));
        json_decref(la);
        json_decref(lb);
    }
    gm_free(ja);
    gm_free(jb);
    /* The best files are the same model, and carry the protocol. */
    gm_safetensors *fa = NULL, *fb = NULL;
    OK(gm_safetensors_read(best_a, &fa));
    OK(gm_safetensors_read(best_b, &fb));
    cr_assert_str_eq(gm_safetensors_meta_get(fa, GM_FORECAST_META_KEY), proto);
    cr_assert_str_eq(gm_safetensors_meta_get(fb, GM_FORECAST_META_KEY), proto);
    cr_assert_str_eq(gm_safetensors_meta_get(fa, "gmcnn.train.epoch"),
                     gm_safetensors_meta_get(fb, "gmcnn.train.epoch"));
    for (int64_t i = 0; i < gm_safetensors_count(fa); i++) {
        const gm_st_entry *ea = gm_safetensors_entry(fa, i);
        const int64_t j = gm_safetensors_find(fb, ea->name);
        cr_assert(j >= 0);
        cr_assert_eq(memcmp(ea->data, gm_safetensors_entry(fb, j)->data,
                            (size_t)gm_st_entry_numel(ea) * gm_dtype_size(ea->dtype)), 0);
    }
    gm_safetensors_free(fa);
    gm_safetensors_free(fb);

    /* Metadata keys of the trainer's own are refused. */
    const char *own[1] = {"gmcnn.train.epoch"};
    fo.meta_keys = own;
    fo.resume_path = NULL;
    cr_assert_eq(gm_trainer_new(b, &fo, &t), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "belongs to the trainer");

    gm_free(proto);
    gm_model_free(a);
    gm_model_free(b);
    gm_forecast_set_free(&tr);
    gm_forecast_set_free(&va);
    gm_plume_data_free(&d);
    gm_free(sd);
    ts_rmtree(dir);
}

/* A classifier, or a model of the wrong size, cannot be trained on frames. */
Test(forecast_train, model_must_fit_the_windows) {
    const char *dir = ts_temp_dir();
    const char *data = write_dataset(dir, 2, 40, coded, NULL);
    gm_plume_data d;
    OK(gm_plume_data_load(data, &d));
    const gm_forecast_protocol p = tiny_protocol();
    gm_forecast_set tr;
    OK(gm_forecast_set_new(&d, &p, GM_FORECAST_TRAIN, &tr));
    gm_model_desc cls = {.kind = GM_MODEL_GMCNN, .group = "C8xC8", .radius = 1,
                         .in_channels = 4, .out_dim = 2, .nblocks = 1};
    cls.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 4};
    gm_model *m = NULL;
    OK(gm_model_new(&cls, 1, &m));
    cr_assert_eq(gm_forecast_check_model(m, &tr), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "classifier");
    gm_model_free(m);
    gm_model_desc reg = {.kind = GM_MODEL_PLUME, .group = "C8xC8", .radius = 1,
                         .in_channels = 6, .out_dim = 2, .nblocks = 1, .hidden = 4};
    reg.blocks[0] = (gm_block_desc){.num_layers = 1};
    OK(gm_model_new(&reg, 1, &m));
    cr_assert_eq(gm_forecast_check_model(m, &tr), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "in_channels is 6 but the inputs are 2 frames");
    gm_model_free(m);
    reg.in_channels = 4;
    reg.group = "C4xC4";
    OK(gm_model_new(&reg, 1, &m));
    cr_assert_eq(gm_forecast_check_model(m, &tr), GM_ERR_SHAPE);
    ts_expect_contains(gm_error_detail(), "order 16 but the frames are 8x8");
    gm_model_free(m);
    gm_forecast_set_free(&tr);
    gm_plume_data_free(&d);
    ts_rmtree(dir);
}

/* --- the regressor baselines ------------------------------------------------------------ */

Test(forecast_models, cnn_and_mlp_regressors) {
    /* CNN: 4 -> 6 (no skip), 6 -> 6 (skip), 1x1 to 2. */
    gm_model_desc cnn = {.kind = GM_MODEL_CNN, .in_channels = 4, .out_dim = 2, .nblocks = 2,
                         .image_h = 6, .image_w = 5, .regressor = true};
    cnn.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 6};
    cnn.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = 6};
    gm_model *m = NULL;
    OK(gm_model_new(&cnn, 3, &m));
    cr_assert_eq(gm_model_num_params(m), (9 * 4 * 6 + 6) + (9 * 6 * 6 + 6) + (6 * 2 + 2));
    cr_assert_str_eq(gm_model_param_name(m, gm_model_param_count(m) - 2), "output.weight");
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 0, &ctx));
    gm_tensor *x = NULL, *y = NULL;
    OK(gm_tensor_new3(gm_ctx_arena(ctx), 3, 4, 30, &x));
    gm_rng rng;
    gm_rng_seed(&rng, 1, 1);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (gm_real)gm_rng_uniform(&rng);
    OK(gm_model_forward(m, ctx, x, &y));
    cr_assert(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 2 && y->shape[2] == 30);
    /* Zero-padded convolutions see the border: the map is position dependent,
     * so it is not a constant plane. */
    cr_assert_neq(y->data[0], y->data[14]);
    char *json = NULL, *group = NULL;
    OK(gm_model_desc_to_json(gm_model_description(m), &json));
    ts_expect_contains(json, "\"regressor\":true}");
    gm_model_desc back;
    OK(gm_model_desc_from_json(json, &back, &group));
    cr_assert(back.regressor && back.kind == GM_MODEL_CNN);
    gm_free(json);
    gm_free(group);
    gm_model_free(m);

    /* MLP: flatten 4*30 -> 5 -> 2*30. */
    gm_model_desc mlp = {.kind = GM_MODEL_MLP, .in_channels = 4, .out_dim = 2, .hidden = 5,
                         .image_h = 6, .image_w = 5, .regressor = true};
    OK(gm_model_new(&mlp, 3, &m));
    cr_assert_eq(gm_model_num_params(m), (120 * 5 + 5) + (5 * 60 + 60));
    gm_ctx_reset(ctx);
    OK(gm_tensor_new3(gm_ctx_arena(ctx), 3, 4, 30, &x));
    OK(gm_model_forward(m, ctx, x, &y));
    cr_assert(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 2 && y->shape[2] == 30);
    gm_model_free(m);

    /* Classifiers keep their descriptions as they were. */
    mlp.regressor = false;
    OK(gm_model_new(&mlp, 3, &m));
    OK(gm_model_desc_to_json(gm_model_description(m), &json));
    cr_assert_null(strstr(json, "regressor"), "%s", json);
    gm_free(json);
    gm_model_free(m);

    /* Regressors keep the resolution; only baselines take the flag. */
    cnn.blocks[0].pool = true;
    cr_assert_eq(gm_model_new(&cnn, 3, &m), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "blocks[0].pool");
    gm_model_desc gmd = {.kind = GM_MODEL_GMCNN, .group = "C4xC4", .radius = 1,
                         .in_channels = 1, .out_dim = 2, .nblocks = 1, .regressor = true};
    gmd.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 2};
    cr_assert_eq(gm_model_new(&gmd, 3, &m), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "regressor applies to the CNN and MLP");
    gm_ctx_free(ctx);
}

/* --- configs ------------------------------------------------------------------------------ */

static const char plume_yaml[] =
    "seed: 7\n"
    "model:\n"
    "  kind: plume\n"
    "  spec: C8xC8\n"
    "  nbr: 1\n"
    "  in_channels: 4\n"
    "  out_dim: 2\n"
    "  hidden: 4\n"
    "  form: full\n"
    "  blocks: [{num_layers: 1, out_channels: 4}]\n"
    "data:\n"
    "  source: plume\n"
    "  path: %s\n"
    "  batch_size: 8\n"
    "  input_frames: 2\n"
    "  input_offset: 1\n"
    "  rollout_steps: 3\n"
    "  eval_steps: 5\n"
    "  train_range: [0, 20]\n"
    "  val_range: [20, 26]\n"
    "  future_range: [26, 30]\n"
    "  domain_range: [0, 10]\n"
    "  train_stride: 2\n"
    "trainer:\n"
    "  max_epochs: 2\n"
    "optimizer:\n"
    "  lr: 0.01\n"
    "output:\n"
    "  dir: %s\n";

static gm_config *plume_config(const char *path, const char *outdir) {
    char text[4096];
    snprintf(text, sizeof text, plume_yaml, path, outdir);
    gm_config *cfg = NULL;
    OK(gm_config_parse(text, "plume.yaml", &cfg));
    return cfg;
}

static void expect_config_error(const char *yaml, const char *needle) {
    gm_config *cfg = NULL;
    const gm_status st = gm_config_parse(yaml, "x.yaml", &cfg);
    cr_assert_eq(st, GM_ERR_INVALID_ARG, "%s: %s", yaml, gm_error_detail());
    cr_assert_null(cfg);
    ts_expect_contains(gm_error_detail(), needle);
    cr_assert_null(strchr(gm_error_detail(), '\n'));
}

Test(forecast_config, plume_source_keys_and_errors) {
    gm_config *cfg = plume_config("some/dir", "runs/p");
    const gm_data_config *dc = gm_config_data(cfg);
    cr_assert_eq(dc->source, GM_DATA_PLUME);
    cr_assert_str_eq(dc->plume_dir, "some/dir");
    gm_forecast_protocol want = tiny_protocol();
    want.train_stride = 2;
    cr_assert_eq(memcmp(&dc->forecast, &want, sizeof want), 0);
    cr_assert_eq(gm_config_fit(cfg)->batch_size, 8);
    cr_assert_str_eq(gm_data_source_name(GM_DATA_PLUME), "plume");
    /* Round trip of the resolved config. */
    char *a = NULL, *b = NULL;
    OK(gm_config_to_string(cfg, &a));
    ts_expect_contains(a, "  train_range: [0, 20]\n");
    /* written absolute: the written config may be read from elsewhere */
    char cwd[4096], want_path[4200];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(want_path, sizeof want_path, "  path: \"%s/some/dir\"\n", cwd);
    ts_expect_contains(a, want_path);
    cr_assert_null(strstr(a, "val_fraction"), "%s", a);
    gm_config *again = NULL;
    OK(gm_config_parse(a, "again", &again));
    OK(gm_config_to_string(again, &b));
    cr_assert_str_eq(a, b);
    gm_free(a);
    gm_free(b);
    gm_config_free(again);
    /* Overrides: the dataset, the budget. */
    const char *sets[] = {"data.path=build/plume/rotation", "data.train_stride=4",
                          "data.future_range=[26, 28]"};
    OK(gm_config_set_all(cfg, 3, sets));
    cr_assert_str_eq(gm_config_data(cfg)->plume_dir, "build/plume/rotation");
    cr_assert_eq(gm_config_data(cfg)->forecast.train_stride, 4);
    cr_assert_eq(gm_config_data(cfg)->forecast.future.end, 28);
    cr_assert_eq(gm_config_set(cfg, "data.rollout_stepz=3"), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "unknown key 'data.rollout_stepz'");
    cr_assert_eq(gm_config_set(cfg, "data.val_range=[30, 30]"), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "data.val_range = [30, 30] is empty");
    cr_assert_eq(gm_config_set(cfg, "data.val_fraction=0.1"), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "does not apply to data.source plume");
    cr_assert_eq(gm_config_set(cfg, "data.path="), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_config_set(cfg, "model.in_channels=20"), GM_ERR_INVALID_ARG);
    ts_expect_contains(gm_error_detail(), "data.input_frames 2 x 2 velocity channels = 4");
    gm_config_free(cfg);

    char text[4096];
    snprintf(text, sizeof text, plume_yaml, "d", "o");
    char *bad = strstr(text, "  kind: plume");
    memcpy(bad, "  kind: cnn  ", 13);
    expect_config_error(text, "needs a regressor");
    expect_config_error("data:\n  source: generated\n  kind: rotated\n  train_range: [0, 5]\n",
                        "data.train_range does not apply to data.source generated");
    expect_config_error("model: {spec: C8xC8, kind: plume, in_channels: 20, out_dim: 2}\n"
                        "data: {source: plume}\n", "needs data.path");
    expect_config_error("model: {spec: C8xC8, kind: plume, in_channels: 20, out_dim: 2}\n"
                        "data: {source: plume, path: d, future_range: [3]}\n",
                        "data.future_range: expected a list of two integers");
    expect_config_error("model: {spec: C8xC8, kind: plume, in_channels: 20}\n"
                        "data: {source: plume, path: d}\n", "model.out_dim is 10");
    expect_config_error("model: {spec: C8xC8, kind: plume, in_channels: 20, out_dim: 2}\n"
                        "data: {source: plume, path: d, normalize: true}\n",
                        "data.normalize does not apply");
    expect_config_error("model: {spec: C8xC8, kind: plume, in_channels: 1, out_dim: 2}\n"
                        "data: {source: generated, kind: rotated}\n",
                        "is a regressor: it needs data.source plume");
    expect_config_error("model: {spec: C8xC8, kind: gmcnn, regressor: true}\n",
                        "model.regressor applies to cnn and mlp");
    /* A CNN regressor on plume data. */
    OK(gm_config_parse("model: {spec: C8xC8, kind: cnn, regressor: true, in_channels: 20, "
                       "out_dim: 2, blocks: [{out_channels: 4}]}\n"
                       "data: {source: plume, path: d}\n", "cnn.yaml", &cfg));
    cr_assert(gm_config_model(cfg)->regressor);
    OK(gm_config_to_string(cfg, &a));
    ts_expect_contains(a, "  regressor: true\n");
    gm_free(a);
    gm_config_free(cfg);
}

/* The shipped plume configs parse, fit the default protocol, and build. */
Test(forecast_config, shipped_configs) {
    const char *names[] = {"exact", "ldr1", "ldr2", "ldr4", "modulated", "cnn", "mlp"};
    for (int i = 0; i < 7; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/../../configs/plume-%s.yaml", GM_FIXTURE_DIR, names[i]);
        gm_config *cfg = NULL;
        OK(gm_config_load(path, &cfg));
        const gm_data_config *dc = gm_config_data(cfg);
        cr_assert_eq(dc->source, GM_DATA_PLUME, "%s", path);
        /* relative to the config's directory */
        snprintf(path, sizeof path, "%s/../../configs/../build/plume/translation",
                 GM_FIXTURE_DIR);
        cr_assert_str_eq(dc->plume_dir, path);
        const gm_forecast_protocol def = gm_forecast_protocol_default();
        cr_assert_eq(dc->forecast.input_frames, def.input_frames);
        cr_assert_eq(dc->forecast.rollout_steps, 6);
        cr_assert_eq(dc->forecast.eval_steps, 20);
        cr_assert_eq(memcmp(&dc->forecast.future, &def.future, sizeof def.future), 0);
        cr_assert_eq(memcmp(&dc->forecast.domain, &def.domain, sizeof def.domain), 0);
        gm_model *m = NULL;
        OK(gm_model_new(gm_config_model(cfg), 1, &m));
        cr_log_info("plume-%s: %lld parameters", names[i], (long long)gm_model_num_params(m));
        gm_model_free(m);
        gm_config_free(cfg);
    }
}

/* --- the field plot ------------------------------------------------------------------ */

Test(forecast_plot, fields_png) {
    const char *dir = ts_temp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/f.png", dir);
    float truth[2 * 2 * 12 * 10], pred[2 * 2 * 12 * 10];
    for (int i = 0; i < 480; i++) {
        truth[i] = (float)sin(0.1 * i);
        pred[i] = (float)cos(0.1 * i);
    }
    const int64_t steps[2] = {1, 20};
    OK(gm_plot_fields_png(path, 2, steps, 12, 10, truth, pred, "a title"));
    char *png = ts_read_file(path);
    cr_assert(png && !memcmp(png, "\x89PNG", 4));
    gm_free(png);
    cr_assert_eq(gm_plot_fields_png(path, 0, steps, 12, 10, truth, pred, NULL),
                 GM_ERR_INVALID_ARG);
    truth[7] = INFINITY;
    cr_assert_eq(gm_plot_fields_png(path, 2, steps, 12, 10, truth, pred, NULL),
                 GM_ERR_INVALID_ARG);
    truth[7] = 0;
    snprintf(path, sizeof path, "%s/missing/f.png", dir);
    cr_assert_eq(gm_plot_fields_png(path, 2, steps, 12, 10, truth, pred, NULL), GM_ERR_IO);
    ts_rmtree(dir);
}

/* --- the command line ------------------------------------------------------------------- */

static char *cli(const char *args, int *rc) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", GM_CLI_PATH, args);
    return ts_run(cmd, rc);
}

static void expect_exit(const char *args, int want, const char *needle) {
    int rc;
    char *out = cli(args, &rc);
    cr_assert_eq(rc, want, "gmcnn %s: exit %d, expected %d:\n%s", args, rc, want, out);
    ts_expect_one_line_error(out, needle);
    gm_free(out);
}

/* Extracts the number after `key` in out. */
static double number_after(const char *out, const char *key) {
    const char *p = strstr(out, key);
    cr_assert(p, "'%s' in:\n%s", key, out);
    return strtod(p + strlen(key), NULL);
}

Test(forecast_cli, train_eval_rollout_end_to_end, .timeout = 120) {
    const char *dir = ts_temp_dir();
    shift_data *sd = shift_data_new(11);
    const char *data = write_dataset(dir, 3, 40, shifted, sd);
    char run[512], cfg_path[512], text[4096], args[4096], path[600];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/plume.yaml", dir);
    snprintf(text, sizeof text, plume_yaml, data, run);
    write_text(cfg_path, text);

    int rc;
    snprintf(args, sizeof args, "train %s --threads 1", cfg_path);
    char *out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    ts_expect_contains(out, "simulations (1 held out) of 40 frames 8x8; windows: 20 train "
                            "(stride 2), 12 val, 8 future, 10 domain (stride 1)");
    ts_expect_contains(out, "model plume, group C8xC8, ");
    ts_expect_contains(out, "epoch 1 lr ");
    ts_expect_contains(out, " train RMSE ");
    ts_expect_contains(out, "test RMSE (best): future ");
    ts_expect_contains(out, "test RMSE (last): future ");
    const double printed_future = number_after(out, "test RMSE (best): future ");
    const double printed_domain = number_after(out, "), domain ");
    gm_free(out);
    const char *files[] = {"config.yaml", "last.safetensors", "best.safetensors",
                           "metrics.jsonl", "metrics.csv", "metrics.png", "results.json"};
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "%s/%s", run, files[i]);
        cr_assert_eq(access(path, R_OK), 0, "missing %s", path);
    }
    snprintf(path, sizeof path, "%s/results.json", run);
    char *res = ts_read_file(path);
    json_t *j = json_loads(res, 0, NULL);
    cr_assert(j, "%s", res);
    const char *keys[] = {"rmse_future", "rmse_domain", "rmse_future_last", "rmse_domain_last",
                          "params", "seconds", "epochs", "best_epoch", "n_future", "n_domain"};
    for (int i = 0; i < 10; i++)
        cr_assert(json_is_number(json_object_get(j, keys[i])), "%s in %s", keys[i], res);
    const double rf = json_number_value(json_object_get(j, "rmse_future"));
    const double rd = json_number_value(json_object_get(j, "rmse_domain"));
    cr_assert(fabs(rf - printed_future) < 1e-5 && fabs(rd - printed_domain) < 1e-5, "%s", res);
    cr_assert_eq(json_number_value(json_object_get(j, "n_future")), 8);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "plume");
    json_decref(j);
    gm_free(res);

    /* eval reads the protocol from the model file: the same numbers. */
    snprintf(args, sizeof args, "eval %s/best.safetensors --data %s", run, data);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(fabs(number_after(out, "future RMSE ") - rf) < 1e-5, "%s", out);
    cr_assert(fabs(number_after(out, "domain RMSE ") - rd) < 1e-5, "%s", out);
    ts_expect_contains(out, "(8 windows [26, 30) x 5 steps)");
    gm_free(out);
    snprintf(args, sizeof args, "eval %s/best.safetensors --data %s --future 10,12 --steps 2 "
             "--batch 3", run, data);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    ts_expect_contains(out, "(4 windows [10, 12) x 2 steps)");
    gm_free(out);

    /* rollout: per-step RMSE and the picture. */
    snprintf(args, sizeof args, "rollout %s/best.safetensors %s/sim_001.npy --start 3 "
             "--steps 4 --png %s/r.png --rows 3", run, data, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    ts_expect_contains(out, "step 1 (frame 6) RMSE ");
    ts_expect_contains(out, "step 4 (frame 9) RMSE ");
    ts_expect_contains(out, "rollout RMSE ");
    gm_free(out);
    snprintf(path, sizeof path, "%s/r.png", dir);
    char *png = ts_read_file(path);
    cr_assert(png && !memcmp(png, "\x89PNG", 4));
    gm_free(png);

    /* Bad usage: exit 2; bad input: exit 1; one line each, nothing written. */
    snprintf(args, sizeof args, "rollout %s/best.safetensors", run);
    expect_exit(args, 2, "SIM.npy are required");
    expect_exit("rollout", 2, "required");
    snprintf(args, sizeof args, "rollout %s/best.safetensors %s/sim_000.npy --steps 0", run,
             data);
    expect_exit(args, 2, "--steps");
    snprintf(args, sizeof args, "rollout %s/best.safetensors %s/sim_000.npy --bogus", run, data);
    expect_exit(args, 2, "unknown option '--bogus'");
    snprintf(args, sizeof args, "rollout %s/best.safetensors %s/sim_000.npy --start 35 "
             "--steps 3 --png %s/never.png", run, data, dir);
    expect_exit(args, 1, "need frame 40");
    snprintf(path, sizeof path, "%s/never.png", dir);
    cr_assert_neq(access(path, F_OK), 0);
    snprintf(args, sizeof args, "rollout %s/best.safetensors %s/nope.npy", run, data);
    expect_exit(args, 1, "nope.npy");
    snprintf(args, sizeof args, "rollout %s/best.safetensors %s/sim_000.npy --png "
             "%s/no/such/dir.png", run, data, dir);
    expect_exit(args, 1, "dir.png");
    snprintf(args, sizeof args, "eval %s/best.safetensors --data %s --future 5", run, data);
    expect_exit(args, 2, "--future needs B,E");
    snprintf(args, sizeof args, "eval %s/best.safetensors --data %s --images x", run, data);
    expect_exit(args, 2, "exclude each other");
    snprintf(args, sizeof args, "eval %s/best.safetensors --data %s --future 26,40", run, data);
    expect_exit(args, 1, "future windows [26, 40)");
    snprintf(args, sizeof args, "eval %s/best.safetensors --data %s/nowhere", run, data);
    expect_exit(args, 1, "manifest.json");
    snprintf(args, sizeof args, "train %s --set 'data.train_range=[0, 40]'", cfg_path);
    expect_exit(args, 1, "train windows [0, 40)");
    snprintf(args, sizeof args, "train %s --set data.rollout_stepz=3", cfg_path);
    expect_exit(args, 2, "data.rollout_stepz");

    /* The resolved config round-trips. */
    snprintf(path, sizeof path, "%s/config.yaml", run);
    gm_config *written = NULL;
    OK(gm_config_load(path, &written));
    cr_assert_eq(gm_config_data(written)->source, GM_DATA_PLUME);
    cr_assert_eq(gm_config_data(written)->forecast.train_stride, 2);
    gm_config_free(written);
    gm_free(sd);
    ts_rmtree(dir);
}
