/* Datasets, evaluation, the training loop, checkpoints and resume, model
 * descriptions as JSON, and the train / eval / info commands. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"
#include "train/train_internal.h"

static void path_in(char *buf, size_t size, const char *dir, const char *name) {
    snprintf(buf, size, "%s/%s", dir, name);
}

/* n samples, sample i holding the value i in every pixel, labels i % classes. */
static gm_dataset counting_dataset(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes) {
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {n, c, h, w}};
    gm_array lab = {.dtype = GM_DTYPE_I32, .ndim = 1, .shape = {n}};
    img.data = gm_malloc((size_t)(n * c * h * w) * sizeof(float));
    lab.data = gm_malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < c * h * w; j++) ((float *)img.data)[i * c * h * w + j] = (float)i;
        ((int32_t *)lab.data)[i] = (int32_t)(i % classes);
    }
    gm_dataset d;
    OK(gm_dataset_from_arrays(&img, &lab, 0, 0, 0, &d));
    gm_array_free(&img);
    gm_array_free(&lab);
    return d;
}


static gm_model_desc bars_desc(double dropout) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN, .group = "C6xC6", .radius = 1, .in_channels = 1,
                       .out_dim = 2, .nblocks = 1, .dropout = dropout};
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 6};
    return d;
}

static gm_fit_options bars_options(int64_t epochs) {
    gm_fit_options o = {.epochs = epochs, .batch_size = 8, .seed = 42,
                        .optim = gm_optim_config_default(GM_OPTIM_ADAMW),
                        .sched = gm_lr_sched_config_default(GM_LR_PLATEAU)};
    o.optim.lr = 0.02;
    return o;
}

/* --- datasets ------------------------------------------------------------- */

Test(train_dataset, from_arrays_u8_scales_and_checks_labels) {
    gm_array img = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {2, 2, 3}};
    gm_array lab = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {2}};
    uint8_t px[12] = {0, 255, 51, 0, 0, 0, 255, 255, 255, 255, 255, 255}, lb[2] = {3, 1};
    img.data = px;
    lab.data = lb;
    gm_dataset d;
    OK(gm_dataset_from_arrays(&img, &lab, 0, 0, 0, &d));
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.channels, 1);
    cr_assert_eq(d.height, 2);
    cr_assert_eq(d.width, 3);
    cr_assert_eq(d.classes, 4);
    cr_assert_float_eq(d.x[1], 1.0f, 1e-7);
    cr_assert_float_eq(d.x[2], 0.2f, 1e-7);
    cr_assert_eq(d.y[0], 3);
    gm_dataset_free(&d);
    gm_dataset_free(&d); /* freeing twice is harmless */
    gm_dataset bad;
    cr_assert_eq(gm_dataset_from_arrays(&img, &lab, 0, 0, 2, &bad), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "label 3 of sample 0"), "%s", gm_error_detail());
    lab.shape[0] = 3;
    cr_assert_eq(gm_dataset_from_arrays(&img, &lab, 0, 0, 0, &bad), GM_ERR_SHAPE);
    cr_assert(strstr(gm_error_detail(), "2 images but 3 labels"), "%s", gm_error_detail());
}

Test(train_dataset, split_sizes_disjoint_seeded) {
    gm_dataset d = counting_dataset(50, 2, 2, 2, 3);
    gm_dataset a, b, a2, b2, c1, c2;
    OK(gm_dataset_split_fraction(&d, 0.2, 9, &a, &b));
    cr_assert_eq(a.n, 40);
    cr_assert_eq(b.n, 10);
    const int64_t per = 2 * 2 * 2;
    int seen[50] = {0};
    for (int64_t i = 0; i < a.n; i++) seen[(int)a.x[i * per]]++;
    for (int64_t i = 0; i < b.n; i++) seen[(int)b.x[i * per]]++;
    for (int i = 0; i < 50; i++) cr_assert_eq(seen[i], 1, "sample %d seen %d times", i, seen[i]);
    for (int64_t i = 1; i < b.n; i++) cr_assert_lt(b.x[(i - 1) * per], b.x[i * per]);
    for (int64_t i = 0; i < b.n; i++) cr_assert_eq(b.y[i], (int)b.x[i * per] % 3);
    OK(gm_dataset_split_fraction(&d, 0.2, 9, &a2, &b2));
    cr_assert_eq(memcmp(b.x, b2.x, (size_t)(b.n * per) * sizeof(float)), 0);
    OK(gm_dataset_split_fraction(&d, 0.2, 10, &c1, &c2));
    cr_assert_neq(memcmp(b.x, c2.x, (size_t)(b.n * per) * sizeof(float)), 0);
    const int64_t idx[3] = {4, 0, 4};
    gm_dataset s;
    OK(gm_dataset_subset(&d, 3, idx, &s));
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.x[0], 4.0f);
    cr_assert_eq(s.x[per], 0.0f);
    cr_assert_eq(s.y[2], 1);
    const int64_t badidx[1] = {50};
    gm_dataset s2;
    cr_assert_eq(gm_dataset_subset(&d, 1, badidx, &s2), GM_ERR_INVALID_ARG);
    gm_dataset *all[] = {&d, &a, &b, &a2, &b2, &c1, &c2, &s};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_dataset_free(all[i]);
}

Test(train_dataset, normalize_gives_mean_0_std_1) {
    gm_dataset d = ts_bars(20, 5, 3, 0.1);
    /* A second channel with another scale: stack the bars twice, scaled. */
    gm_dataset two = counting_dataset(20, 2, 5, 5, 2);
    for (int64_t i = 0; i < 20; i++)
        for (int64_t j = 0; j < 25; j++) {
            two.x[i * 50 + j] = d.x[i * 25 + j];
            two.x[i * 50 + 25 + j] = 100.0f + 7.0f * d.x[i * 25 + j];
        }
    double mean[2], sd[2];
    OK(gm_dataset_channel_stats(&two, mean, sd));
    cr_assert_gt(mean[1], 100.0);
    gm_dataset_normalize(&two, mean, sd);
    OK(gm_dataset_channel_stats(&two, mean, sd));
    for (int c = 0; c < 2; c++) {
        cr_assert_float_eq(mean[c], 0.0, 1e-6, "channel %d mean %g", c, mean[c]);
        cr_assert_float_eq(sd[c], 1.0, 1e-6, "channel %d std %g", c, sd[c]);
    }
    gm_dataset_free(&d);
    gm_dataset_free(&two);
}

/* --- evaluation ------------------------------------------------------------- */

Test(train_evaluate, hand_built_model_confusion) {
    /* logits = relu(x) through identity layers: the prediction is argmax(x). */
    gm_model_desc desc = {.kind = GM_MODEL_MLP, .in_channels = 1, .out_dim = 3, .hidden = 3,
                          .image_h = 1, .image_w = 3};
    gm_model *m = NULL;
    OK(gm_model_new(&desc, 1, &m));
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        gm_tensor *t = gm_model_param(m, i);
        memset(t->data, 0, (size_t)t->numel * sizeof(gm_real));
        if (t->ndim == 2)
            for (int64_t k = 0; k < 3; k++) t->data[k * 3 + k] = 1;
    }
    const float xs[5][3] = {{1, 0, 0}, {0, 2, 0}, {0, 0, 3}, {5, 0, 0}, {0, 0, 1}};
    const int32_t ys[5] = {0, 1, 2, 1, 0};
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {5, 1, 1, 3}, .data = (void *)xs};
    gm_array lab = {.dtype = GM_DTYPE_I32, .ndim = 1, .shape = {5}, .data = (void *)ys};
    gm_dataset d;
    OK(gm_dataset_from_arrays(&img, &lab, 0, 0, 3, &d));
    gm_metrics mt;
    OK(gm_evaluate(m, &d, 2, &mt)); /* batches 2, 2, 1 */
    const int64_t want[9] = {1, 0, 1, 1, 1, 0, 0, 0, 1};
    for (int i = 0; i < 9; i++)
        cr_assert_eq(mt.confusion[i], want[i], "confusion[%d][%d]", i / 3, i % 3);
    cr_assert_eq(mt.n, 5);
    cr_assert_float_eq(mt.accuracy, 60.0, 1e-12);
    double loss = 0;
    for (int i = 0; i < 5; i++) {
        double z = 0;
        for (int k = 0; k < 3; k++) z += exp(xs[i][k]);
        loss += log(z) - xs[i][ys[i]];
    }
    cr_assert_float_eq(mt.loss, loss / 5, 1e-6, "loss %.9g vs %.9g", mt.loss, loss / 5);
    cr_assert_float_eq(gm_metrics_class_accuracy(&mt, 0), 50.0, 1e-12);
    cr_assert_float_eq(gm_metrics_class_accuracy(&mt, 1), 50.0, 1e-12);
    cr_assert_float_eq(gm_metrics_class_accuracy(&mt, 2), 100.0, 1e-12);
    cr_assert(isnan(gm_metrics_class_accuracy(&mt, 3)));
    gm_metrics_free(&mt);
    gm_dataset_free(&d);
    gm_model_free(m);
}

/* --- training ---------------------------------------------------------------- */

typedef struct rec_log {
    int n;
    gm_epoch_record r[16];
} rec_log;

static gm_status keep_record(const gm_epoch_record *r, void *user) {
    rec_log *l = user;
    if (l->n < 16) l->r[l->n++] = *r;
    return GM_OK;
}

static void split_bars(gm_dataset *train, gm_dataset *val) {
    gm_dataset all = ts_bars(64, 6, 5, 0.1);
    OK(gm_dataset_split_fraction(&all, 0.2, 42, train, val));
    gm_dataset_free(&all);
}

/* Runs `epochs` epochs on the bars and returns the model (parameters after
 * the last epoch) and the per-epoch records. */
static gm_model *fit_bars(gm_fit_options o, uint64_t init_seed, rec_log *log, gm_fit_result *res) {
    gm_dataset train, val;
    split_bars(&train, &val);
    gm_model_desc desc = bars_desc(0.2);
    gm_model *m = NULL;
    OK(gm_model_new(&desc, init_seed, &m));
    o.on_epoch = keep_record;
    o.user = log;
    gm_trainer *t = NULL;
    OK(gm_trainer_new(m, &o, &t));
    OK(gm_trainer_fit(t, &train, &val, res));
    gm_trainer_free(t);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    return m;
}

Test(train_fit, learns_bars_above_90_percent) {
    gm_dataset train, val;
    split_bars(&train, &val);
    cr_assert_eq(train.n, 52);
    cr_assert_eq(val.n, 12);
    gm_model_desc desc = bars_desc(0.0);
    gm_model *m = NULL;
    OK(gm_model_new(&desc, 1, &m));
    gm_metrics before;
    OK(gm_evaluate(m, &val, 16, &before));
    rec_log log = {0};
    gm_fit_options o = bars_options(8);
    o.on_epoch = keep_record;
    o.user = &log;
    gm_trainer *t = NULL;
    gm_fit_result res;
    OK(gm_trainer_new(m, &o, &t));
    cr_assert_eq(gm_trainer_restore_best(t), GM_ERR_NOT_FOUND);
    OK(gm_trainer_fit(t, &train, &val, &res));
    cr_assert_eq(res.epochs_run, 8);
    cr_assert_eq(log.n, 8);
    const gm_epoch_record *last = &log.r[7];
    /* 12 validation samples: above 90% means at most one mistake. */
    cr_assert_gt(last->val_accuracy, 90.0, "val acc %.2f (before %.2f), loss %.4f",
                 last->val_accuracy, before.accuracy, last->val_loss);
    cr_assert_lt(last->train_loss, log.r[0].train_loss);
    cr_assert_geq(res.best_epoch, 1);
    cr_assert(log.r[res.best_epoch - 1].best);
    cr_assert_eq(res.best_val_loss, log.r[res.best_epoch - 1].val_loss);
    /* The best copy is real: restoring it reproduces the best epoch's loss. */
    OK(gm_trainer_restore_best(t));
    gm_metrics after;
    OK(gm_evaluate(m, &val, 5, &after));
    cr_assert_float_eq(after.loss, res.best_val_loss, 1e-6);
    gm_metrics_free(&before);
    gm_metrics_free(&after);
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
}

static bool same_record(const gm_epoch_record *a, const gm_epoch_record *b) {
    return a->epoch == b->epoch && a->lr == b->lr && a->train_loss == b->train_loss &&
           a->train_accuracy == b->train_accuracy && a->val_loss == b->val_loss &&
           a->val_accuracy == b->val_accuracy && a->best == b->best;
}

static void assert_same_params(gm_model *a, gm_model *b) {
    cr_assert_eq(gm_model_param_count(a), gm_model_param_count(b));
    for (int64_t i = 0; i < gm_model_param_count(a); i++) {
        gm_tensor *x = gm_model_param(a, i), *y = gm_model_param(b, i);
        cr_assert_eq(memcmp(x->data, y->data, (size_t)x->numel * sizeof(gm_real)), 0,
                     "parameter %s differs", gm_model_param_name(a, i));
    }
}

Test(train_fit, same_seed_same_numbers) {
    rec_log l1 = {0}, l2 = {0};
    gm_fit_result r1, r2;
    gm_model *a = fit_bars(bars_options(3), 1, &l1, &r1);
    gm_model *b = fit_bars(bars_options(3), 1, &l2, &r2);
    cr_assert_eq(l1.n, 3);
    for (int i = 0; i < 3; i++) cr_assert(same_record(&l1.r[i], &l2.r[i]), "epoch %d", i + 1);
    assert_same_params(a, b);
    gm_model_free(a);
    gm_model_free(b);
}

/* A metrics line without its timing fields. */
static char *strip_timing(const char *line) {
    json_t *o = json_loads(line, 0, NULL);
    cr_assert(o != NULL, "bad JSON line: %s", line);
    json_object_del(o, "seconds");
    json_object_del(o, "samples_per_s");
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int read_lines(const char *path, char lines[][512], int max) {
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot open %s", path);
    int n = 0;
    while (n < max && fgets(lines[n], 512, f)) n++;
    fclose(f);
    return n;
}

Test(train_fit, resume_is_bit_identical) {
    const char *dir = ts_temp_dir();
    char ck_a[256], ck_b[256], js_a[256], js_b[256], csv_b[256];
    path_in(ck_a, sizeof ck_a, dir, "a.safetensors");
    path_in(ck_b, sizeof ck_b, dir, "b.safetensors");
    path_in(js_a, sizeof js_a, dir, "a.jsonl");
    path_in(js_b, sizeof js_b, dir, "b.jsonl");
    path_in(csv_b, sizeof csv_b, dir, "b.csv");
    /* Patience 0 and a 50% threshold make the plateau schedule act within 4
     * epochs, so its restored state matters. */
    gm_fit_options o = bars_options(4);
    o.sched.patience = 0;
    o.sched.threshold = 0.5;
    o.checkpoint_path = ck_a;
    o.metrics_jsonl = js_a;
    rec_log la = {0}, lb = {0}, lc = {0};
    gm_fit_result ra, rb, rc;
    gm_model *a = fit_bars(o, 1, &la, &ra);

    o.epochs = 2;
    o.checkpoint_path = ck_b;
    o.metrics_jsonl = js_b;
    o.metrics_csv = csv_b;
    gm_model *b = fit_bars(o, 1, &lb, &rb);
    gm_model_free(b);
    o.epochs = 4;
    o.resume_path = ck_b;
    /* Another init seed: everything must come from the checkpoint. */
    gm_model *c = fit_bars(o, 99, &lc, &rc);
    cr_assert_eq(lc.n, 2);
    cr_assert_eq(lc.r[0].epoch, 3);
    for (int i = 0; i < 2; i++) cr_assert(same_record(&la.r[2 + i], &lc.r[i]), "epoch %d", 3 + i);
    cr_assert_neq(la.r[3].lr, la.r[0].lr, "the schedule should have acted");
    assert_same_params(a, c);
    cr_assert_eq(ra.best_epoch, rc.best_epoch);
    cr_assert_eq(ra.best_val_loss, rc.best_val_loss);

    char la_lines[8][512], lb_lines[8][512];
    cr_assert_eq(read_lines(js_a, la_lines, 8), 4);
    cr_assert_eq(read_lines(js_b, lb_lines, 8), 4);
    for (int i = 0; i < 4; i++) {
        char *x = strip_timing(la_lines[i]), *y = strip_timing(lb_lines[i]);
        cr_assert_str_eq(x, y);
        free(x);
        free(y);
    }
    char csv[8][512];
    cr_assert_eq(read_lines(csv_b, csv, 8), 5);
    cr_assert(!strncmp(csv[0], "epoch,lr,train_loss", 19), "%s", csv[0]);
    cr_assert(!strncmp(csv[4], "4,", 2), "%s", csv[4]);
    gm_model_free(a);
    gm_model_free(c);
}

/* Metric logs hold the shortest text that reads back to the same double:
 * lr 0.004 as 0.004, not 0.0040000000000000001. */
Test(train_fit, metric_logs_write_short_reals_that_read_back) {
    const gm_epoch_record recs[2] = {
        {.epoch = 1, .lr = 0.004, .train_loss = 0.1 + 0.2, .train_accuracy = 87.5,
         .val_loss = 1.0 / 3.0, .val_accuracy = NAN, .seconds = 0.25, .samples_per_second = 1e6,
         .best = true},
        {.epoch = 2, .lr = 0.0004, .train_loss = 2.0, .train_accuracy = 90.1, .val_loss = 0.7,
         .val_accuracy = 60.0, .seconds = 1e-7, .samples_per_second = 12345.678, .best = false},
    };
    const char *dir = ts_temp_dir();
    char js[256], csv[256];
    path_in(js, sizeof js, dir, "m.jsonl");
    path_in(csv, sizeof csv, dir, "m.csv");
    OK(gm__metric_log_rewrite(js, csv, 2, recs));
    char lines[4][512];
    cr_assert_eq(read_lines(js, lines, 4), 2);
    cr_assert_str_eq(lines[0], "{\"epoch\":1,\"lr\":0.004,\"train_loss\":0.30000000000000004,"
                               "\"train_acc\":87.5,\"val_loss\":0.3333333333333333,"
                               "\"val_acc\":null,\"seconds\":0.25,\"samples_per_s\":1000000,"
                               "\"best\":true}\n");
    for (int i = 0; i < 2; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        cr_assert(o != NULL, "bad JSON line: %s", lines[i]);
        const double want[] = {recs[i].lr, recs[i].train_loss, recs[i].train_accuracy,
                               recs[i].val_loss, recs[i].seconds, recs[i].samples_per_second};
        const char *keys[] = {"lr", "train_loss", "train_acc", "val_loss", "seconds",
                              "samples_per_s"};
        for (int k = 0; k < 6; k++)
            cr_assert_eq(json_number_value(json_object_get(o, keys[k])), want[k], "%s: %s",
                         keys[k], lines[i]);
        json_decref(o);
    }
    cr_assert_eq(read_lines(csv, lines, 4), 3);
    cr_assert_str_eq(lines[1], "1,0.004,0.30000000000000004,87.5,0.3333333333333333,nan,0.25,"
                               "1000000,1\n");
    cr_assert_str_eq(lines[2], "2,0.0004,2,90.1,0.7,60,1e-07,12345.678,0\n");
}

Test(train_fit, nan_input_and_huge_lr_stop_with_numeric) {
    gm_dataset train, val;
    split_bars(&train, &val);
    gm_model_desc desc = bars_desc(0.0);
    gm_model *m = NULL;
    OK(gm_model_new(&desc, 1, &m));
    gm_fit_options o = bars_options(3);
    gm_trainer *t = NULL;
    gm_fit_result res;
    const float keep = train.x[0];
    for (int64_t i = 0; i < train.n; i++) train.x[i * 36] = NAN;
    OK(gm_trainer_new(m, &o, &t));
    cr_assert_eq(gm_trainer_fit(t, &train, &val, &res), GM_ERR_NUMERIC);
    cr_assert(strstr(gm_error_detail(), "non-finite loss at epoch 1 step 1"), "%s",
              gm_error_detail());
    gm_trainer_free(t);
    for (int64_t i = 0; i < train.n; i++) train.x[i * 36] = keep;

    o.optim.lr = 1e38;
    OK(gm_trainer_new(m, &o, &t));
    cr_assert_eq(gm_trainer_fit(t, &train, &val, &res), GM_ERR_NUMERIC);
    cr_assert(strstr(gm_error_detail(), "non-finite loss at epoch 1 step "), "%s",
              gm_error_detail());
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
}

static bool same_desc(const gm_model_desc *a, const gm_model_desc *b) {
    if (a->kind != b->kind || a->radius != b->radius || a->in_channels != b->in_channels ||
        a->out_dim != b->out_dim || a->nblocks != b->nblocks || a->dropout != b->dropout ||
        a->form != b->form || a->ldr_rank != b->ldr_rank || a->modulated != b->modulated ||
        a->pool_mode != b->pool_mode || a->hidden != b->hidden || a->image_h != b->image_h ||
        a->image_w != b->image_w)
        return false;
    if ((a->group == NULL) != (b->group == NULL) || (a->group && strcmp(a->group, b->group)))
        return false;
    for (int64_t i = 0; i < a->nblocks; i++)
        if (a->blocks[i].num_layers != b->blocks[i].num_layers ||
            a->blocks[i].out_channels != b->blocks[i].out_channels ||
            a->blocks[i].pool != b->blocks[i].pool)
            return false;
    return true;
}

Test(train_fit, checkpoints_are_valid_safetensors) {
    const char *dir = ts_temp_dir();
    char ck[256], best[256];
    path_in(ck, sizeof ck, dir, "last.safetensors");
    path_in(best, sizeof best, dir, "best.safetensors");
    gm_fit_options o = bars_options(2);
    o.checkpoint_path = ck;
    o.best_path = best;
    rec_log l = {0};
    gm_fit_result r;
    gm_model *m = fit_bars(o, 1, &l, &r);
    gm_safetensors *sf = NULL;
    OK(gm_safetensors_read(ck, &sf));
    cr_assert_geq(gm_safetensors_find(sf, "optim.step"), 0);
    cr_assert_geq(gm_safetensors_find(sf, "optim.adam.m.0"), 0);
    /* parameters, Adam's m and v, the best copy, "step" and "lr" */
    cr_assert_eq(gm_safetensors_count(sf), 4 * gm_model_param_count(m) + 2);
    cr_assert_str_eq(gm_safetensors_meta_get(sf, "gmcnn.train.epoch"), "2");
    const char *json = gm_safetensors_meta_get(sf, GM_MODEL_META_KEY);
    cr_assert(json != NULL);
    gm_model_desc back;
    char *group = NULL;
    OK(gm_model_desc_from_json(json, &back, &group));
    gm_model_desc want = bars_desc(0.2);
    cr_assert(same_desc(&back, &want), "%s", json);
    gm_free(group);
    gm_safetensors_free(sf);
    /* The best file loads as a model and holds the best epoch's parameters. */
    gm_model *b = NULL;
    OK(gm_model_new(&want, 7, &b));
    OK(gm_safetensors_load_model(best, b));
    OK(gm_safetensors_read(best, &sf));
    char ep[32];
    snprintf(ep, sizeof ep, "%lld", (long long)r.best_epoch);
    cr_assert_str_eq(gm_safetensors_meta_get(sf, "gmcnn.train.epoch"), ep);
    gm_safetensors_free(sf);
    gm_model_free(b);
    gm_model_free(m);
}

Test(train_json, model_desc_round_trip) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN_DEEP, .group = "D14xD14", .radius = 2,
                       .in_channels = 3, .out_dim = 10, .nblocks = 3, .dropout = 0.3,
                       .form = GM_CONV_FULL, .pool_mode = GM_REDUCE_MEAN, .hidden = 17,
                       .image_h = 14, .image_w = 14, .modulated = true, .ldr_rank = 2};
    for (int i = 0; i < 3; i++)
        d.blocks[i] = (gm_block_desc){.num_layers = i + 1, .out_channels = 8 << i, .pool = i < 2};
    char *json = NULL;
    OK(gm_model_desc_to_json(&d, &json));
    gm_model_desc back;
    char *group = NULL;
    OK(gm_model_desc_from_json(json, &back, &group));
    cr_assert(same_desc(&d, &back), "%s", json);
    cr_assert_eq(back.group, group);
    gm_free(group);
    gm_free(json);
    gm_model_desc none = {.kind = GM_MODEL_MLP, .image_h = 2, .image_w = 3};
    OK(gm_model_desc_to_json(&none, &json));
    OK(gm_model_desc_from_json(json, &back, &group));
    cr_assert_null(group);
    cr_assert(same_desc(&none, &back));
    gm_free(json);
    cr_assert_eq(gm_model_desc_from_json("{\"kind\":\"resnet\"}", &back, &group), GM_ERR_FORMAT);
    cr_assert(strstr(gm_error_detail(), "\"kind\""), "%s", gm_error_detail());
    cr_assert_eq(gm_model_desc_from_json("{\"radius\":", &back, &group), GM_ERR_FORMAT);
    cr_assert_eq(gm_model_desc_from_json("{\"radius\":-1}", &back, &group), GM_ERR_FORMAT);
}

/* --- command line ------------------------------------------------------------ */

static void write_idx_bars(const char *dir, const char *prefix, int64_t n, uint64_t seed) {
    gm_dataset d = ts_bars(n, 6, seed, 0.1);
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 3, .shape = {n, 6, 6}, .data = d.x};
    gm_array lab = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {n}};
    uint8_t *y = gm_malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)d.y[i];
    lab.data = y;
    char path[256];
    snprintf(path, sizeof path, "%s/%s-images.idx", dir, prefix);
    OK(gm_idx_write(path, &img, false));
    snprintf(path, sizeof path, "%s/%s-labels.idx", dir, prefix);
    OK(gm_idx_write(path, &lab, true));
    gm_free(y);
    gm_dataset_free(&d);
}

static char *cli(const char *args, int *rc) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s", GM_CLI_PATH, args);
    return ts_run(cmd, rc);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

Test(train_cli, train_info_eval_end_to_end) {
    const char *dir = ts_temp_dir();
    write_idx_bars(dir, "train", 40, 1);
    write_idx_bars(dir, "test", 10, 2);
    char args[1024], path[256];
    int rc;
    snprintf(args, sizeof args,
             "train --images %s/train-images.idx --labels %s/train-labels.idx --model gmcnn "
             "--group C6xC6 --radius 1 --channels 4 --epochs 1 --batch 8 --out %s/run "
             "--test-images %s/test-images.idx --test-labels %s/test-labels.idx",
             dir, dir, dir, dir, dir);
    char *out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "epoch 1 "), "%s", out);
    cr_assert(strstr(out, "test (best) loss"), "%s", out);
    gm_free(out);
    const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl",
                           "metrics.csv"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/run/%s", dir, files[i]);
        cr_assert_eq(access(path, R_OK), 0, "missing %s", path);
    }
    snprintf(path, sizeof path, "%s/run/metrics.csv", dir);
    char *csv = ts_read_file(path);
    cr_assert_eq(count_lines(csv), 2, "%s", csv);
    gm_free(csv);

    snprintf(args, sizeof args, "info %s/run/best.safetensors", dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "C6xC6"), "%s", out);
    cr_assert(strstr(out, "total "), "%s", out);
    gm_free(out);

    snprintf(args, sizeof args,
             "eval %s/run/best.safetensors --images %s/test-images.idx --labels "
             "%s/test-labels.idx --batch 3",
             dir, dir, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "accuracy "), "%s", out);
    cr_assert(strstr(out, "confusion matrix"), "%s", out);
    cr_assert(strstr(out, "class 1: "), "%s", out);
    gm_free(out);

    /* Resuming the 1-epoch checkpoint for a second epoch. */
    snprintf(args, sizeof args,
             "train --images %s/train-images.idx --labels %s/train-labels.idx --group C6xC6 "
             "--channels 4 --epochs 2 --batch 8 --out %s/run --resume %s/run/last.safetensors "
             "--quiet",
             dir, dir, dir, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    gm_free(out);
    csv = ts_read_file(path);
    cr_assert_eq(count_lines(csv), 3, "%s", csv);
    gm_free(csv);
}

Test(train_cli, usage_and_file_errors) {
    const char *dir = ts_temp_dir();
    char args[1024];
    int rc;
    const char *help[] = {"train --help", "eval --help", "info -h"};
    for (int i = 0; i < 3; i++) {
        char *out = cli(help[i], &rc);
        cr_assert_eq(rc, 0, "%s: %s", help[i], out);
        cr_assert(strstr(out, "usage: gmcnn"), "%s", out);
        gm_free(out);
    }
    const char *bad[] = {"train --bogus", "train --images a --labels b --out c --epochs 0",
                         "eval", "eval m.safetensors --images x", "info a b", "info --x"};
    for (int i = 0; i < 6; i++) {
        char *out = cli(bad[i], &rc);
        cr_assert_eq(rc, 2, "%s: rc %d: %s", bad[i], rc, out);
        cr_assert_eq(count_lines(out), 1, "%s: %s", bad[i], out);
        gm_free(out);
    }
    snprintf(args, sizeof args, "info %s/missing.safetensors", dir);
    char *out = cli(args, &rc);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    cr_assert(strstr(out, "missing.safetensors"), "%s", out);
    gm_free(out);
    snprintf(args, sizeof args,
             "train --images %s/none.idx --labels %s/none.idx --out %s/run", dir, dir, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    cr_assert(strstr(out, "none.idx"), "%s", out);
    gm_free(out);
}
