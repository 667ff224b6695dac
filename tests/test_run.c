/* The run layer from code: a training run from a config, the saved model
 * loaded with its standardisation, evaluation and prediction agreeing with
 * the run's own numbers, and the run's refusals. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

static char dir[256];

/* n 6x6 U8 images in 3 classes: a class-dependent bright square on noise,
 * labels i % 3 (or `bad` as the label of sample 4 when not 0). */
static void write_set(const char *prefix, int64_t n, uint64_t seed, int bad) {
    gm_rng rng;
    gm_rng_seed(&rng, seed, 3);
    unsigned char *px = gm_malloc((size_t)(n * 36)), *lab = gm_malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const int c = (int)(i % 3);
        lab[i] = (unsigned char)c;
        for (int64_t j = 0; j < 36; j++) {
            const int64_t r = j / 6, q = j % 6;
            const bool on = r >= 2 * c && r < 2 * c + 2 && q < 3;
            px[i * 36 + j] = (unsigned char)(on ? 200 : 60 * gm_rng_uniform(&rng));
        }
    }
    if (bad) lab[4] = (unsigned char)bad;
    gm_array img = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {n, 6, 6}, .data = px};
    gm_array l = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {n}, .data = lab};
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images.idx", dir, prefix);
    OK(gm_idx_write(path, &img, false));
    snprintf(path, sizeof path, "%s/%s-labels.idx", dir, prefix);
    OK(gm_idx_write(path, &l, false));
    gm_free(px);
    gm_free(lab);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "%s/gmcnn-run-XXXXXX", ts_temp_dir());
    cr_assert(mkdtemp(dir) != NULL);
    write_set("train", 90, 1, 0);
    write_set("test", 30, 2, 0);
    write_set("bad", 30, 3, 7);
}

static void teardown(void) {
    ts_rmtree(dir);
}

TestSuite(run, .init = setup, .fini = teardown, .timeout = 120);

static const char *in_dir(const char *name) {
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* A small GM-CNN on C6xC6 over the files above, standardised inputs. */
static gm_config *tiny_config(const char *train_prefix, const char *out, const char *extra) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "seed: 3\nmodel:\n  kind: gmcnn\n  spec: C6xC6\n  nbr: 1\n  num_classes: 3\n"
             "  blocks: [{num_layers: 1, out_channels: 4}]\n"
             "data:\n  source: idx\n  images: %s/%s-images.idx\n  labels: %s/%s-labels.idx\n"
             "  test_images: %s/test-images.idx\n  test_labels: %s/test-labels.idx\n"
             "  batch_size: 16\n  normalize: true\n"
             "trainer:\n  max_epochs: 3\noptimizer:\n  lr: 0.01\noutput:\n  dir: %s/%s\n%s",
             dir, train_prefix, dir, train_prefix, dir, dir, dir, out, extra);
    gm_config *cfg = NULL;
    OK(gm_config_parse(yaml, "tiny", &cfg));
    return cfg;
}

typedef struct counts {
    int info, epochs;
    char first[256];
} counts;

static void on_info(const char *line, void *user) {
    counts *c = user;
    if (c->info++ == 0) snprintf(c->first, sizeof c->first, "%s", line);
}

static gm_status on_epoch(const gm_epoch_record *r, void *user) {
    counts *c = user;
    cr_assert_eq(r->epoch, ++c->epochs);
    return GM_OK;
}

Test(run, train_load_eval_and_predict_agree) {
    gm_config *cfg = tiny_config("train", "out", "");
    counts c = {0};
    const gm_run_options o = {.hooks = {.on_info = on_info, .on_epoch = on_epoch, .user = &c}};
    gm_run_result r;
    OK(gm_run_train(cfg, &o, &r));
    cr_assert_eq(c.epochs, 3);
    cr_assert_eq(c.info, 2, "the data and the model lines");
    cr_assert(strstr(c.first, "72 training, 18 validation, 30 test samples of 1x6x6, "
                              "normalised"), "%s", c.first);
    cr_assert(!r.forecast);
    cr_assert_eq(r.epochs, 3);
    cr_assert_eq(r.epochs_run, 3);
    cr_assert_eq(r.n_test, 30);
    cr_assert(r.best_epoch >= 1 && r.best_epoch <= 3);
    cr_assert(isfinite(r.test_accuracy) && isfinite(r.test_accuracy_last));
    cr_assert(isnan(r.rmse_future));
    char *results = ts_read_file(in_dir("out/results.json"));
    char want[64];
    snprintf(want, sizeof want, "\"parameters\": %lld", (long long)r.parameters);
    ts_expect_contains(results, want);
    gm_free(results);
    for (int k = 0; gm_run_output_files[k]; k++) {
        char name[128];
        snprintf(name, sizeof name, "out/%s", gm_run_output_files[k]);
        cr_assert(access(in_dir(name), F_OK) == 0, "%s", name);
    }

    /* The best model with its standardisation: evaluation on the test files
     * gives the run's own test numbers. */
    gm_saved_model sm;
    OK(gm_model_load(in_dir("out/best.safetensors"), &sm));
    cr_assert_eq(gm_model_num_params(sm.model), r.parameters);
    cr_assert_eq(sm.norm_channels, 1);
    cr_assert(sm.norm_std[0] > 0 && sm.norm_mean[0] > 0);
    cr_assert(!sm.has_forecast);
    gm_metrics m;
    OK(gm_run_eval(&sm, in_dir("test-images.idx"), in_dir("test-labels.idx"), 0, &m));
    cr_assert_eq(m.n, 30);
    cr_assert_eq(m.accuracy, r.test_accuracy);
    cr_assert(fabs(m.loss - r.test_loss) < 1e-6, "%g %g", m.loss, r.test_loss);
    gm_metrics_free(&m);

    /* Prediction: the softmax of the logits, and the top class of each image
     * right as often as evaluation says. */
    gm_dataset d;
    OK(gm_saved_model_read_images(&sm, in_dir("test-images.idx"), &d));
    gm_predictions p;
    OK(gm_run_predict(&sm, &d, 7, &p));
    cr_assert_eq(p.n, 30);
    cr_assert_eq(p.classes, 3);
    int right = 0;
    for (int64_t i = 0; i < p.n; i++) {
        const double *z = p.logits + 3 * i, *q = p.prob + 3 * i;
        const double mx = fmax(z[0], fmax(z[1], z[2]));
        const double sum = exp(z[0] - mx) + exp(z[1] - mx) + exp(z[2] - mx);
        for (int j = 0; j < 3; j++) cr_assert(fabs(q[j] - exp(z[j] - mx) / sum) < 1e-12);
        int64_t order[3];
        gm_predictions_top(&p, i, 3, order);
        cr_assert(q[order[0]] >= q[order[1]] && q[order[1]] >= q[order[2]]);
        cr_assert(order[0] != order[1] && order[1] != order[2] && order[0] != order[2]);
        right += order[0] == i % 3;
    }
    cr_assert(fabs(100.0 * right / 30 - r.test_accuracy) < 1e-9, "%d right, %g%%", right,
              r.test_accuracy);

    /* A predictor gives gm_run_predict's numbers bit for bit, call after
     * call, and once warm allocates only the two arrays of its result. */
    gm_predictions p1, q;
    OK(gm_run_predict(&sm, &d, 1, &p1));
    gm_predictor *pr = NULL;
    OK(gm_predictor_new(&sm, &pr));
    for (int call = 0; call < 3; call++) {
        const int64_t before = gm_alloc_count();
        OK(gm_predictor_run(pr, &d, 1, &q));
        if (call > 0) cr_assert_eq(gm_alloc_count() - before, 2, "call %d", call);
        cr_assert_eq(q.n, 30);
        cr_assert_eq(q.classes, 3);
        cr_assert(memcmp(q.logits, p1.logits, 90 * sizeof *q.logits) == 0, "call %d", call);
        cr_assert(memcmp(q.prob, p1.prob, 90 * sizeof *q.prob) == 0, "call %d", call);
        for (int j = 0; j < 90; j++)
            cr_assert(fabs(q.logits[j] - p.logits[j]) < 1e-5, "batch 1 against batch 7");
        gm_predictions_free(&q);
    }
    gm_predictor_free(pr);
    gm_predictions_free(&p1);
    gm_predictions_free(&p);
    gm_dataset_free(&d);
    gm_saved_model_free(&sm);
    gm_config_free(cfg);
}

Test(run, a_resumed_run_continues_and_counts_all_epochs) {
    gm_config *cfg = tiny_config("train", "res", "");
    OK(gm_config_set(cfg, "trainer.max_epochs=2"));
    OK(gm_run_train(cfg, NULL, NULL));
    OK(gm_config_set(cfg, "trainer.max_epochs=4"));
    const gm_run_options o = {.resume = in_dir("res/last.safetensors")};
    gm_run_result r;
    OK(gm_run_train(cfg, &o, &r));
    cr_assert_eq(r.epochs, 4);
    cr_assert_eq(r.epochs_run, 2);
    gm_config_free(cfg);
}

Test(run, model_from_data_takes_channels_and_classes_from_the_labels) {
    gm_config *cfg = tiny_config("train", "fit", "");
    OK(gm_config_set_all(cfg, 2, (const char *const[]){"model.num_classes=10",
                                                        "model.in_channels=2"}));
    const gm_run_options o = {.model_from_data = true};
    gm_run_result r;
    OK(gm_run_train(cfg, &o, &r));
    char *yaml = ts_read_file(in_dir("fit/config.yaml"));
    ts_expect_contains(yaml, "in_channels: 1\n");
    ts_expect_contains(yaml, "num_classes: 3\n");
    gm_free(yaml);
    /* labels must still lie below model.num_classes */
    gm_config *bad = tiny_config("bad", "fitbad", "");
    cr_assert_eq(gm_run_train(bad, &o, NULL), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "label 7 of sample 4 is outside 0..2"), "%s",
              gm_error_detail());
    cr_assert(access(in_dir("fitbad/config.yaml"), F_OK) != 0,
              "a run that fails before training leaves no config.yaml");
    gm_config_free(bad);
    gm_config_free(cfg);
}

Test(run, inputs_that_are_outputs_and_own_configs) {
    gm_config *cfg = tiny_config("train", "own", "");
    OK(gm_run_train(cfg, NULL, NULL));
    /* the run's own config.yaml is kept as it is ... */
    const char *own = in_dir("own/config.yaml");
    FILE *f = fopen(own, "a");
    cr_assert_not_null(f);
    fputs("# kept\n", f);
    fclose(f);
    gm_run_options o = {.config_path = own};
    OK(gm_run_train(cfg, &o, NULL));
    char *text = ts_read_file(own);
    ts_expect_contains(text, "# kept\n");
    gm_free(text);
    /* ... unless overrides changed the config, which the run would write */
    o.config_changed = true;
    cr_assert_eq(gm_run_train(cfg, &o, NULL), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "is the config.yaml of its output directory"));
    /* a config that is another output of the run */
    o = (gm_run_options){.config_path = in_dir("own/metrics.csv")};
    cr_assert_eq(gm_run_train(cfg, &o, NULL), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "config '") &&
              strstr(gm_error_detail(), "is the metrics.csv this run writes"),
              "%s", gm_error_detail());
    gm_config_free(cfg);
}

Test(run, load_errors_name_the_file) {
    gm_saved_model sm;
    memset(&sm, 0xff, sizeof sm);
    cr_assert_eq(gm_model_load(in_dir("none.safetensors"), &sm), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "none.safetensors"), "%s", gm_error_detail());
    cr_assert_null(sm.model);
    cr_assert_null(sm.norm_mean);
    cr_assert_eq(sm.norm_channels, 0);
    gm_saved_model_free(&sm);
}

Test(run, the_data_directory_follows_GMCNN_DATA) {
    unsetenv("GMCNN_DATA");
    cr_assert_str_eq(gm_run_data_dir(), "build/data");
    setenv("GMCNN_DATA", "", 1);
    cr_assert_str_eq(gm_run_data_dir(), "build/data");
    setenv("GMCNN_DATA", "/srv/sets", 1);
    cr_assert_str_eq(gm_run_data_dir(), "/srv/sets");
    unsetenv("GMCNN_DATA");
}

/* A stop request in the middle of epoch 2 leaves the files of epoch 1;
 * resuming gives the parameters of a run that was never stopped. */
static volatile sig_atomic_t stop_flag;

static void stop_in_epoch_2(int64_t epoch, int64_t step, int64_t steps, double loss,
                            void *user) {
    (void)steps, (void)loss, (void)user;
    if (epoch == 2 && step == 2) stop_flag = 1;
}

Test(run, a_stop_request_interrupts_cleanly_and_resumes_exactly) {
    gm_config *cfg = tiny_config("train", "stop", "");
    gm_config *ref = tiny_config("train", "nostop", "");
    stop_flag = 0;
    gm_run_options o = {.stop = &stop_flag,
                        .hooks = {.on_step = stop_in_epoch_2, .progress_every = 1}};
    cr_assert_eq(gm_run_train(cfg, &o, NULL), GM_ERR_INTERRUPTED);
    cr_assert(strstr(gm_error_detail(), "before step 3 of 5 of epoch 2; the checkpoint holds "
                                        "epoch 1"), "%s", gm_error_detail());
    char *log = ts_read_file(in_dir("stop/metrics.jsonl"));
    cr_assert(strstr(log, "\"epoch\":1") || strstr(log, "\"epoch\": 1"), "%s", log);
    cr_assert(!strstr(log, "\"epoch\":2") && !strstr(log, "\"epoch\": 2"), "%s", log);
    gm_free(log);
    stop_flag = 0;
    o = (gm_run_options){.resume = in_dir("stop/last.safetensors")};
    gm_run_result a, b;
    OK(gm_run_train(cfg, &o, &a));
    OK(gm_run_train(ref, NULL, &b));
    cr_assert_eq(a.epochs, 3);
    cr_assert_eq(a.test_accuracy, b.test_accuracy);
    gm_saved_model ma, mb;
    OK(gm_model_load(in_dir("stop/last.safetensors"), &ma));
    OK(gm_model_load(in_dir("nostop/last.safetensors"), &mb));
    for (int64_t i = 0; i < gm_model_param_count(ma.model); i++) {
        const gm_tensor *x = gm_model_param(ma.model, i), *y = gm_model_param(mb.model, i);
        cr_assert_eq(x->numel, y->numel);
        cr_assert(memcmp(x->data, y->data, (size_t)x->numel * sizeof *x->data) == 0, "%s",
                  gm_model_param_name(ma.model, i));
    }
    gm_saved_model_free(&ma);
    gm_saved_model_free(&mb);
    gm_config_free(cfg);
    gm_config_free(ref);
}
