/* The training recipe: augmentation of training batches, per-step warm-up
 * schedules, label smoothing, weight decay on weights only and model
 * selection by accuracy in the trainer; exact validation counts; results.json
 * of classification runs. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "train/train_internal.h"


static gm_model *bars_model(uint64_t seed) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN, .group = "C6xC6", .radius = 1, .in_channels = 1,
                       .out_dim = 2, .nblocks = 1, .dropout = 0.2};
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 6};
    gm_model *m = NULL;
    OK(gm_model_new(&d, seed, &m));
    return m;
}

static gm_fit_options recipe_options(int64_t epochs) {
    gm_fit_options o = {.epochs = epochs, .batch_size = 8, .seed = 42,
                        .optim = gm_optim_config_default(GM_OPTIM_ADAMW),
                        .sched = gm_lr_sched_config_default(GM_LR_COSINE)};
    o.optim.lr = 0.02;
    o.optim.decay = GM_DECAY_WEIGHTS;
    o.sched.t_max = epochs;
    o.sched.warmup_epochs = 1;
    o.augment = (gm_augment){.rotate = GM_AUGMENT_ROTATE_90, .flip = GM_AUGMENT_FLIP_BOTH,
                             .translate = 1};
    o.label_smoothing = 0.1;
    return o;
}

typedef struct rec_log {
    int n;
    gm_epoch_record r[16];
} rec_log;

static gm_status keep(const gm_epoch_record *r, void *user) {
    rec_log *l = user;
    if (l->n < 16) l->r[l->n++] = *r;
    return GM_OK;
}

static void split(gm_dataset *train, gm_dataset *val) {
    gm_dataset all = ts_bars(64, 6, 5, 0.2);
    OK(gm_dataset_split_count(&all, 16, 42, train, val));
    gm_dataset_free(&all);
}

static gm_model *fit(gm_fit_options o, uint64_t init_seed, rec_log *log, gm_fit_result *res) {
    gm_dataset train, val;
    split(&train, &val);
    gm_model *m = bars_model(init_seed);
    o.on_epoch = keep;
    o.user = log;
    gm_trainer *t = NULL;
    OK(gm_trainer_new(m, &o, &t));
    OK(gm_trainer_fit(t, &train, &val, res));
    gm_trainer_free(t);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    return m;
}

static bool same_record(const gm_epoch_record *a, const gm_epoch_record *b) {
    return a->epoch == b->epoch && a->lr == b->lr && a->train_loss == b->train_loss &&
           a->train_accuracy == b->train_accuracy && a->val_loss == b->val_loss &&
           a->val_accuracy == b->val_accuracy && a->best == b->best;
}

static void assert_same_params(gm_model *a, gm_model *b) {
    for (int64_t i = 0; i < gm_model_param_count(a); i++) {
        gm_tensor *x = gm_model_param(a, i), *y = gm_model_param(b, i);
        cr_assert_eq(memcmp(x->data, y->data, (size_t)x->numel * sizeof(gm_real)), 0,
                     "parameter %s differs", gm_model_param_name(a, i));
    }
}

Test(train_recipe, split_count_matches_the_fraction_split) {
    gm_dataset all = ts_bars(50, 6, 1, 0.2), a1, a2, b1, b2;
    OK(gm_dataset_split_fraction(&all, 0.2, 9, &a1, &a2));
    OK(gm_dataset_split_count(&all, 10, 9, &b1, &b2));
    cr_assert_eq(a2.n, 10);
    cr_assert_eq(b2.n, 10);
    cr_assert_eq(memcmp(a2.x, b2.x, sizeof(float) * (size_t)(10 * 36)), 0);
    cr_assert_eq(memcmp(a1.y, b1.y, sizeof(int32_t) * 40), 0);
    gm_dataset c1, c2;
    cr_assert_eq(gm_dataset_split_count(&all, 51, 9, &c1, &c2), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "51"), "%s", gm_error_detail());
    gm_dataset *ds[] = {&all, &a1, &a2, &b1, &b2};
    for (int i = 0; i < 5; i++) gm_dataset_free(ds[i]);
}

Test(train_recipe, batches_are_augmented_by_seeded_draws) {
    gm_dataset d = ts_bars(4, 6, 3, 0.2);
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    const int64_t order[4] = {2, 0, 3, 1};
    gm_tensor *plain = NULL, *x = NULL;
    int32_t *l0 = NULL, *l1 = NULL;
    OK(gm__batch_make(ctx, &d, order, 0, 4, &plain, &l0));
    const gm_augment off = {0};
    OK(gm__batch_make_augmented(ctx, &d, order, 0, 4, &off, NULL, &x, &l1));
    cr_assert_eq(memcmp(plain->data, x->data, sizeof(gm_real) * 144), 0);
    const gm_augment aug = {.rotate = GM_AUGMENT_ROTATE_90, .translate = 2};
    gm_rng rng, ref;
    gm_rng_seed(&rng, 4, 4);
    gm_rng_seed(&ref, 4, 4);
    OK(gm__batch_make_augmented(ctx, &d, order, 0, 4, &aug, &rng, &x, &l1));
    float want[36], scratch[36];
    for (int i = 0; i < 4; i++) {
        const gm_augment_draw dr = gm_augment_sample(&aug, &ref);
        gm_augment_apply(&dr, 1, 6, 6, d.x + order[i] * 36, want, scratch);
        for (int j = 0; j < 36; j++) cr_assert_eq(x->data[i * 36 + j], (gm_real)want[j]);
        cr_assert_eq(l1[i], d.y[order[i]]);
    }
    gm_ctx_free(ctx);
    gm_dataset_free(&d);
}

Test(train_recipe, resume_with_the_whole_recipe_is_bit_identical) {
    const char *dir = ts_temp_dir();
    char ck[256];
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    rec_log la = {0}, lb = {0}, lc = {0};
    gm_fit_result ra, rb, rc;
    gm_fit_options o = recipe_options(4);
    o.select = GM_SELECT_VAL_ACCURACY;
    gm_model *a = fit(o, 1, &la, &ra);
    o.epochs = 2;
    o.checkpoint_path = ck;
    gm_model *b = fit(o, 1, &lb, &rb);
    o.epochs = 4;
    o.resume_path = ck;
    gm_model *c = fit(o, 77, &lc, &rc);
    cr_assert_eq(lc.n, 2);
    for (int i = 0; i < 2; i++) cr_assert(same_record(&la.r[2 + i], &lc.r[i]), "epoch %d", 3 + i);
    assert_same_params(a, c);
    cr_assert_eq(ra.best_epoch, rc.best_epoch);
    cr_assert_eq(ra.best_val_accuracy, rc.best_val_accuracy);
    /* The warm-up epoch starts near 0; later epochs follow the cosine. */
    cr_assert_lt(la.r[0].lr, 0.01);
    cr_assert_eq(la.r[1].lr, 0.02);
    cr_assert_lt(la.r[3].lr, la.r[2].lr);
    gm_model_free(a);
    gm_model_free(b);
    gm_model_free(c);
}

Test(train_recipe, augmentation_touches_training_batches_only) {
    gm_dataset train, val;
    split(&train, &val);
    gm_fit_options o = recipe_options(2);
    rec_log log = {0};
    o.on_epoch = keep;
    o.user = &log;
    gm_model *m = bars_model(1);
    gm_trainer *t = NULL;
    gm_fit_result res;
    OK(gm_trainer_new(m, &o, &t));
    OK(gm_trainer_fit(t, &train, &val, &res));
    /* Validation saw the plain images: evaluating the final model agrees. */
    gm_metrics vm;
    OK(gm_evaluate(m, &val, o.batch_size, &vm));
    cr_assert_eq(vm.loss, log.r[1].val_loss);
    cr_assert_eq(vm.accuracy, log.r[1].val_accuracy);
    gm_metrics_free(&vm);
    gm_trainer_free(t);
    /* And the training batches did change: without augmentation the losses differ. */
    rec_log plain = {0};
    gm_fit_result pr;
    o.augment = (gm_augment){0};
    gm_model *p = fit(o, 1, &plain, &pr);
    cr_assert_neq(plain.r[0].train_loss, log.r[0].train_loss);
    /* Rotating non-square images by quarter turns is refused. */
    gm_dataset wide = {0};
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 3, .shape = {2, 2, 3}};
    gm_array lab = {.dtype = GM_DTYPE_I32, .ndim = 1, .shape = {2}};
    float px[12] = {0};
    int32_t y[2] = {0, 1};
    img.data = px;
    lab.data = y;
    OK(gm_dataset_from_arrays(&img, &lab, 0, 0, 2, &wide));
    o = recipe_options(2);
    OK(gm_trainer_new(m, &o, &t));
    cr_assert_eq(gm_trainer_fit(t, &wide, NULL, &res), GM_ERR_SHAPE);
    gm_trainer_free(t);
    gm_dataset_free(&wide);
    gm_model_free(m);
    gm_model_free(p);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
}

Test(train_recipe, select_val_accuracy_keeps_the_most_accurate_epoch) {
    gm_fit_options o = recipe_options(6);
    o.augment = (gm_augment){0};
    o.label_smoothing = 0.0;
    o.select = GM_SELECT_VAL_ACCURACY;
    rec_log log = {0};
    gm_fit_result res;
    gm_model *m = fit(o, 3, &log, &res);
    int best = 0;
    for (int i = 1; i < log.n; i++) {
        const gm_epoch_record *r = &log.r[i], *b = &log.r[best];
        if (r->val_accuracy > b->val_accuracy ||
            (r->val_accuracy == b->val_accuracy && r->val_loss < b->val_loss))
            best = i;
    }
    cr_assert_eq(res.best_epoch, best + 1);
    cr_assert_eq(res.best_val_accuracy, log.r[best].val_accuracy);
    cr_assert_eq(res.best_val_loss, log.r[best].val_loss);
    cr_assert(log.r[best].best);
    for (int i = best + 1; i < log.n; i++) cr_assert(!log.r[i].best);
    gm_model_free(m);
}

Test(train_recipe, bad_options_are_named) {
    gm_model *m = bars_model(1);
    gm_trainer *t = NULL;
    gm_fit_options o = recipe_options(2);
    o.label_smoothing = 1.0;
    cr_assert_eq(gm_trainer_new(m, &o, &t), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "label_smoothing"), "%s", gm_error_detail());
    o = recipe_options(2);
    o.select = (gm_fit_select)3;
    cr_assert_eq(gm_trainer_new(m, &o, &t), GM_ERR_INVALID_ARG);
    o = recipe_options(2);
    o.augment.max_angle = 10.0;
    cr_assert_eq(gm_trainer_new(m, &o, &t), GM_ERR_INVALID_ARG);
    cr_assert_null(t);
    gm_model_free(m);
}

/* --- results.json ----------------------------------------------------------------- */

static void write_idx(const char *dir, const char *prefix, int64_t n, uint64_t seed) {
    gm_dataset d = ts_bars(n, 6, seed, 0.2);
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 3, .shape = {n, 6, 6}, .data = d.x};
    gm_array lab = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {n}};
    uint8_t *y = gm_malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)d.y[i];
    lab.data = y;
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images.idx", dir, prefix);
    OK(gm_idx_write(path, &img, false));
    snprintf(path, sizeof path, "%s/%s-labels.idx", dir, prefix);
    OK(gm_idx_write(path, &lab, true));
    gm_free(y);
    gm_dataset_free(&d);
}

Test(train_recipe, cli_writes_results_json, .timeout = 120) {
    const char *dir = ts_temp_dir();
    write_idx(dir, "train", 40, 1);
    write_idx(dir, "test", 12, 2);
    char yaml[2048], cfg[512], args[1024], path[512];
    snprintf(yaml, sizeof yaml,
             "seed: 5\n"
             "model: {spec: C6xC6, nbr: 1, num_classes: 2, blocks: [{out_channels: 4}]}\n"
             "data: {source: idx, images: %s/train-images.idx, labels: %s/train-labels.idx,\n"
             "       test_images: %s/test-images.idx, test_labels: %s/test-labels.idx,\n"
             "       batch_size: 8, val_size: 10}\n"
             "trainer: {max_epochs: 3, label_smoothing: 0.05, select: val_accuracy}\n"
             "optimizer: {decay: weights}\n"
             "scheduler: {kind: cosine, warmup_epochs: 1}\n"
             "augment: {flip: horizontal, translate: 1}\n"
             "output: {dir: %s/out}\n",
             dir, dir, dir, dir, dir);
    snprintf(cfg, sizeof cfg, "%s/run.yaml", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert(f);
    fputs(yaml, f);
    fclose(f);
    snprintf(args, sizeof args, "train '%s' --quiet", cfg);
    char *out = ts_cli(args, 0);
    ts_expect_contains(out, "10 validation");
    gm_free(out);
    snprintf(path, sizeof path, "%s/out/results.json", dir);
    char *text = ts_read_file(path);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert(j, "results.json: %s", text);
    const char *nums[] = {"test_accuracy", "test_accuracy_last", "best_val_accuracy",
                          "train_seconds", "test_loss", "best_val_loss"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const json_t *v = json_object_get(j, nums[i]);
        cr_assert(json_is_number(v), "%s missing in %s", nums[i], text);
    }
    const double acc = json_number_value(json_object_get(j, "test_accuracy"));
    cr_assert(acc >= 0.0 && acc <= 100.0);
    cr_assert_eq(json_number_value(json_object_get(j, "epochs_run")), 3);
    cr_assert_eq(json_number_value(json_object_get(j, "n_test")), 12);
    const int best = (int)json_number_value(json_object_get(j, "best_epoch"));
    cr_assert(best >= 1 && best <= 3);
    const int params = (int)json_number_value(json_object_get(j, "parameters"));
    cr_assert_gt(params, 0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "gmcnn");
    cr_assert_str_eq(json_string_value(json_object_get(j, "source")), "idx");
    cr_assert_str_eq(json_string_value(json_object_get(j, "select")), "val_accuracy");
    cr_assert_str_eq(json_string_value(json_object_get(j, "config")), cfg);
    cr_assert(json_is_null(json_object_get(j, "kind")));
    /* The parameter count is the model's. */
    char *info = NULL;
    snprintf(args, sizeof args, "info '%s/out/best.safetensors'", dir);
    info = ts_cli(args, 0);
    char want[64];
    snprintf(want, sizeof want, "%d", params);
    ts_expect_contains(info, want);
    gm_free(info);
    json_decref(j);
    gm_free(text);
}
