/* A whole training run from a config: the output directory, the data, the
 * model, training with checkpoints, the test of the best and the last model
 * and the run's files (gmcnn/run.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "gmcnn/dist.h"
#include "gmcnn/io.h"
#include "gmcnn/run.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void info(const gm_run_options *o, const char *fmt, ...) GM_PRINTF(2, 3);
static void info(const gm_run_options *o, const char *fmt, ...) {
    if (!o->hooks.on_info) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->hooks.on_info(line, o->hooks.user);
}

/* The paths of one run's files. */
typedef struct run_paths {
    const char *dir;
    char config[4096], last[4096], best[4096], jsonl[4096], csv[4096], png[4096], results[4096];
} run_paths;

static gm_status run_paths_init(run_paths *p, const char *dir) {
    p->dir = dir;
    GM_RETURN_ERROR_IF(strlen(dir) > 4000, GM_ERR_INVALID_ARG,
                       "output.dir '%.100s...': path too long", dir);
    snprintf(p->config, sizeof p->config, "%s/config.yaml", dir);
    snprintf(p->last, sizeof p->last, "%s/last.safetensors", dir);
    snprintf(p->best, sizeof p->best, "%s/best.safetensors", dir);
    snprintf(p->jsonl, sizeof p->jsonl, "%s/metrics.jsonl", dir);
    snprintf(p->csv, sizeof p->csv, "%s/metrics.csv", dir);
    snprintf(p->png, sizeof p->png, "%s/metrics.png", dir);
    snprintf(p->results, sizeof p->results, "%s/results.json", dir);
    return GM_OK;
}

/* mkdir -p: output.dir may be nested ("runs/default"). */
static gm_status make_dirs(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        const char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        GM_RETURN_ERROR_IF(mkdir(buf, 0777) != 0 && errno != EEXIST, GM_ERR_IO,
                           "output.dir: cannot create '%s': %s", buf, strerror(errno));
        if (c == '\0') return GM_OK;
        *p = c;
    }
}

/* Every input of the run (data files, the config unless it is the run's
 * own config.yaml), each with the key that names it in messages. */
typedef struct run_inputs {
    int n;
    const char *path[5 + GM_CONFIG_MAX_FILES];
    const char *key[5 + GM_CONFIG_MAX_FILES];
} run_inputs;

static void inputs_add(run_inputs *in, const char *path, const char *key) {
    if (!path) return;
    in->path[in->n] = path;
    in->key[in->n++] = key;
}

/* Takes the output directory for this run (*lock, released by
 * gm_output_dir_unlock) after checking that no input is a file the run
 * writes there; then removes the temporaries of atomic writes that a crash
 * kept from their rename (with the lock held, no writer is left to finish
 * them). */
static gm_status claim_output_dir(const char *dir, const run_inputs *in, int *lock) {
    *lock = -1;
    char path[4200];
    for (int k = 0; gm_run_output_files[k]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, gm_run_output_files[k]);
        for (int i = 0; i < in->n; i++)
            GM_RETURN_ERROR_IF(gm_same_file(in->path[i], path), GM_ERR_INVALID_ARG,
                               "%s '%s' is the %s this run writes in its output directory '%s'; "
                               "move it or choose another output directory", in->key[i],
                               in->path[i], gm_run_output_files[k], dir);
    }
    GM_FORWARD_IF_ERROR(gm_output_dir_lock(dir, lock));
    for (int k = 0; gm_run_output_files[k]; k++) {
        snprintf(path, sizeof path, "%s/%s.tmp.??????", dir, gm_run_output_files[k]);
        glob_t g;
        if (glob(path, GLOB_NOSORT, NULL, &g) != 0) continue;
        for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    return GM_OK;
}

/* The model must read the data as they are: channels, group order or image
 * size, and enough outputs for every label. */
static gm_status check_fit(const gm_model *m, const gm_dataset *d) {
    const gm_model_desc *md = gm_model_description(m);
    const gm_group *g = gm_model_group(m);
    const int64_t hw = d->height * d->width;
    GM_RETURN_ERROR_IF(md->in_channels != d->channels, GM_ERR_SHAPE,
                       "model.in_channels is %lld but the data has %lld channels",
                       (long long)md->in_channels, (long long)d->channels);
    GM_RETURN_ERROR_IF(g && gm_model_input_size(m) != hw, GM_ERR_SHAPE,
                       "the model on %s reads %lld values but the images are %lldx%lld (%lld "
                       "pixels); resize the data or change model.spec",
                       g ? gm_group_name(g) : "", (long long)gm_model_input_size(m),
                       (long long)d->height, (long long)d->width, (long long)hw);
    GM_RETURN_ERROR_IF(md->out_dim < d->classes, GM_ERR_SHAPE,
                       "model.num_classes is %lld but the labels need %lld",
                       (long long)md->out_dim, (long long)d->classes);
    return GM_OK;
}

static void describe_model(const gm_run_options *o, const gm_model *m, const char *extra) {
    const gm_group *g = gm_model_group(m);
    info(o, "model %s, group %s, %lld parameters%s",
         gm_config_model_kind_name(gm_model_description(m)->kind),
         g ? gm_group_name(g) : "none", (long long)gm_model_num_params(m), extra);
}

/* In a data-parallel run (gmcnn/dist.h) rank 0 alone writes files: the
 * other ranks train without any (and read the checkpoint to resume). */
static bool writer(void) { return gm_dist_rank() == 0; }

/* The fit options of the config with the run's files and hooks. */
static gm_fit_options fit_options(const gm_config *cfg, const run_paths *p,
                                  const gm_run_options *o) {
    gm_fit_options fo = *gm_config_fit(cfg);
    const bool w = writer();
    fo.checkpoint_path = w ? p->last : NULL;
    fo.best_path = w ? p->best : NULL;
    fo.metrics_jsonl = w ? p->jsonl : NULL;
    fo.metrics_csv = w ? p->csv : NULL;
    fo.resume_path = o->resume;
    fo.on_epoch = o->hooks.on_epoch;
    fo.on_step = o->hooks.on_step;
    fo.progress_every = o->hooks.on_step ? o->hooks.progress_every : 0;
    fo.user = o->hooks.user;
    fo.stop = o->stop;
    return fo;
}

/* The loss and accuracy plot from the metric log. */
static gm_status plot_metrics(const run_paths *p) {
    if (!writer()) return GM_OK;
    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    gm_status st = gm_metrics_jsonl_read(p->jsonl, &n, &recs);
    if (st == GM_OK && n > 0) st = gm_plot_metrics_png(p->png, n, recs, p->jsonl);
    gm_free(recs);
    return st;
}

static void result_from_fit(gm_run_result *r, const gm_trainer *t, const gm_fit_result *fr,
                            double seconds) {
    r->epochs = gm_trainer_epoch(t);
    r->epochs_run = fr->epochs_run;
    r->best_epoch = fr->best_epoch;
    r->stopped_early = fr->stopped_early;
    r->train_seconds = seconds;
    r->best_val_loss = fr->best_val_loss;
    r->best_val_accuracy = fr->best_val_accuracy;
}

/* --- classification ---------------------------------------------------------- */

/* The training, validation and test sets of a classification config,
 * standardised with the training split's statistics if data.normalize
 * (*mean, *sd: per channel, gm_free them). */
static gm_status load_classes(gm_config *cfg, const gm_run_options *o, gm_dataset *train,
                              gm_dataset *val, gm_dataset *test, double **mean, double **sd) {
    const gm_data_config *dc = gm_config_data(cfg);
    const uint64_t seed = gm_config_seed(cfg);
    gm_dataset all = {0};
    gm_status st = gm_data_load_classes(dc, o->data_dir ? o->data_dir : gm_run_data_dir(),
                                        gm_config_model(cfg)->out_dim, &all, test);
    if (st == GM_OK && o->model_from_data) {
        /* labels lie below model.num_classes: a stray byte is an error, not
         * hundreds of classes */
        int64_t classes = 1;
        for (int64_t i = 0; i < all.n; i++) classes = all.y[i] >= classes ? all.y[i] + 1 : classes;
        for (int64_t i = 0; i < test->n; i++)
            classes = test->y[i] >= classes ? test->y[i] + 1 : classes;
        all.classes = test->classes = classes;
        char sets[2][64];
        snprintf(sets[0], sizeof sets[0], "model.in_channels=%lld", (long long)all.channels);
        snprintf(sets[1], sizeof sets[1], "model.num_classes=%lld", (long long)classes);
        const char *const assign[2] = {sets[0], sets[1]};
        st = gm_config_set_all(cfg, 2, assign);
        dc = gm_config_data(cfg);
    }
    if (st == GM_OK)
        st = dc->val_size >= 0 ? gm_dataset_split_count(&all, dc->val_size, seed, train, val)
                               : gm_dataset_split_fraction(&all, dc->val_fraction, seed, train,
                                                           val);
    gm_dataset_free(&all);
    if (st != GM_OK || !dc->normalize) return st;
    *mean = gm_malloc_array((size_t)train->channels, sizeof **mean);
    *sd = gm_malloc_array((size_t)train->channels, sizeof **sd);
    GM_RETURN_ERROR_IF(!*mean || !*sd, GM_ERR_NOMEM, "normalisation statistics: out of memory");
    GM_FORWARD_IF_ERROR(gm_dataset_channel_stats(train, *mean, *sd));
    gm_dataset_normalize(train, *mean, *sd);
    gm_dataset_normalize(val, *mean, *sd);
    gm_dataset_normalize(test, *mean, *sd);
    return GM_OK;
}

/* The test set on the last and on the best model (restored into m). */
static gm_status test_classes(gm_model *m, gm_trainer *t, const gm_dataset *test, int64_t batch,
                              gm_run_result *r) {
    gm_metrics last = {0}, best = {0};
    gm_status st = gm_evaluate(m, test, batch, &last);
    if (st == GM_OK) st = gm_trainer_restore_best(t);
    if (st == GM_OK) st = gm_evaluate(m, test, batch, &best);
    if (st == GM_OK) {
        r->test_accuracy = best.accuracy;
        r->test_loss = best.loss;
        r->test_accuracy_last = last.accuracy;
        r->test_loss_last = last.loss;
    }
    gm_metrics_free(&last);
    gm_metrics_free(&best);
    return st;
}

static gm_status classify_run(gm_config *cfg, const gm_run_options *o, const run_paths *p,
                              bool write_cfg, gm_run_result *r) {
    const gm_data_config *dc = gm_config_data(cfg);
    const gm_model_desc *md = gm_config_model(cfg);
    gm_dataset train = {0}, val = {0}, test = {0};
    double *mean = NULL, *sd = NULL;
    gm_model *m = NULL;
    gm_trainer *t = NULL;
    gm_status st = load_classes(cfg, o, &train, &val, &test, &mean, &sd);
    if (st != GM_OK) goto done;
    r->n_train = train.n;
    r->n_val = val.n;
    r->n_test = test.n;
    info(o, "data %s: %lld training, %lld validation, %lld test samples of %lldx%lldx%lld%s",
         dc->source == GM_DATA_GENERATED && dc->gen_kind ? dc->gen_kind
                                                         : gm_data_source_name(dc->source),
         (long long)train.n, (long long)val.n, (long long)test.n, (long long)train.channels,
         (long long)train.height, (long long)train.width, dc->normalize ? ", normalised" : "");
    if ((st = gm_model_new(md, gm_config_seed(cfg), &m)) != GM_OK) goto done;
    if ((st = check_fit(m, &train)) != GM_OK) goto done;
    r->parameters = gm_model_num_params(m);
    describe_model(o, m, "");

    gm_fit_options fo = fit_options(cfg, p, o);
    if (dc->normalize) {
        fo.norm_channels = train.channels;
        fo.norm_mean = mean;
        fo.norm_std = sd;
    }
    if (write_cfg && writer() && (st = gm_config_write(cfg, p->config)) != GM_OK) goto done;
    if ((st = gm_trainer_new(m, &fo, &t)) != GM_OK) goto done;
    gm_fit_result fr;
    const double t0 = now_seconds();
    if ((st = gm_trainer_fit(t, &train, &val, &fr)) != GM_OK) goto done;
    result_from_fit(r, t, &fr, now_seconds() - t0);
    if ((st = plot_metrics(p)) != GM_OK) goto done;
    /* the other ranks are done: their parameters are rank 0's */
    if (!writer()) goto done;
    if (test.n > 0 && (st = test_classes(m, t, &test, fo.batch_size, r)) != GM_OK) goto done;
    const gm_classify_report rep = {
        .test_accuracy = r->test_accuracy,
        .test_accuracy_last = r->test_accuracy_last,
        .test_loss = r->test_loss,
        .test_loss_last = r->test_loss_last,
        .best_val_accuracy = r->best_val_accuracy,
        .best_val_loss = r->best_val_loss,
        .n_test = test.n,
        .best_epoch = r->best_epoch,
        .epochs_run = r->epochs,
        .parameters = r->parameters,
        .train_seconds = r->train_seconds,
        .select = fo.select == GM_SELECT_VAL_ACCURACY ? "val_accuracy" : "val_loss",
        .model = gm_config_model_kind_name(md->kind),
        .source = gm_data_source_name(dc->source),
        .kind = dc->source == GM_DATA_GENERATED ? dc->gen_kind : NULL,
        .digits = dc->source == GM_DATA_GENERATED ? dc->gen_digits : NULL,
        .split = dc->source == GM_DATA_GENERATED ? (dc->gen_official ? "official" : "pooled")
                                                 : NULL,
        .config = o->config_path,
    };
    st = gm_classify_report_write(p->results, &rep);
done:
    gm_free(mean);
    gm_free(sd);
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    gm_dataset_free(&test);
    return st;
}

/* --- forecasting ------------------------------------------------------------- */

static gm_status forecast_run(const gm_config *cfg, const gm_run_options *o, const run_paths *p,
                              bool write_cfg, gm_run_result *r) {
    const gm_data_config *dc = gm_config_data(cfg);
    const gm_forecast_protocol *proto = &dc->forecast;
    const gm_model_desc *md = gm_config_model(cfg);
    gm_plume_data data = {0};
    gm_forecast_set sets[4] = {{0}};
    gm_forecast_metrics last[2] = {{0}}, best[2] = {{0}};
    gm_model *m = NULL;
    gm_trainer *t = NULL;
    char *proto_json = NULL;
    gm_status st = gm_plume_data_load(dc->plume_dir, &data);
    for (int i = 0; i < 4 && st == GM_OK; i++)
        st = gm_forecast_set_new(&data, proto, (gm_forecast_split)i, &sets[i]);
    if (st != GM_OK) goto done;
    int64_t held = 0;
    for (int64_t i = 0; i < data.nsims; i++) held += data.held_out[i];
    r->n_train = sets[0].n;
    r->n_val = sets[1].n;
    info(o, "data plume '%s': %lld simulations (%lld held out) of %lld frames %lldx%lld; "
         "windows: %lld train (stride %lld), %lld val, %lld future, %lld domain (stride %lld)",
         dc->plume_dir, (long long)data.nsims, (long long)held, (long long)data.frames,
         (long long)data.height, (long long)data.width, (long long)sets[0].n,
         (long long)proto->train_stride, (long long)sets[1].n, (long long)sets[2].n,
         (long long)sets[3].n, (long long)proto->eval_stride);
    if ((st = gm_model_new(md, gm_config_seed(cfg), &m)) != GM_OK) goto done;
    if ((st = gm_forecast_check_model(m, &sets[0])) != GM_OK) goto done;
    r->parameters = gm_model_num_params(m);
    char steps[96];
    snprintf(steps, sizeof steps, "; %lld-step rollouts, %lld-step tests",
             (long long)proto->rollout_steps, (long long)proto->eval_steps);
    describe_model(o, m, steps);

    if ((st = gm_forecast_protocol_to_json(proto, &proto_json)) != GM_OK) goto done;
    const char *meta_keys[1] = {GM_FORECAST_META_KEY};
    const char *meta_values[1] = {proto_json};
    gm_fit_options fo = fit_options(cfg, p, o);
    fo.nmeta = 1;
    fo.meta_keys = meta_keys;
    fo.meta_values = meta_values;
    if (write_cfg && writer() && (st = gm_config_write(cfg, p->config)) != GM_OK) goto done;
    if ((st = gm_trainer_new(m, &fo, &t)) != GM_OK) goto done;
    gm_fit_result fr;
    const double t0 = now_seconds();
    if ((st = gm_trainer_fit_forecast(t, &sets[0], &sets[1], &fr)) != GM_OK) goto done;
    result_from_fit(r, t, &fr, now_seconds() - t0);
    if ((st = plot_metrics(p)) != GM_OK) goto done;
    if (!writer()) goto done;
    /* The last parameters are the best ones when the last epoch was the best:
     * then one evaluation serves both. */
    const bool same = fr.best_epoch == gm_trainer_epoch(t);
    for (int k = 0; k < 2 && st == GM_OK && !same; k++)
        st = gm_forecast_evaluate(m, &sets[2 + k], fo.batch_size, &last[k]);
    if (st == GM_OK) st = gm_trainer_restore_best(t);
    for (int k = 0; k < 2 && st == GM_OK; k++)
        st = gm_forecast_evaluate(m, &sets[2 + k], fo.batch_size, &best[k]);
    if (st != GM_OK) goto done;
    const gm_forecast_metrics *lastp = same ? best : last;
    r->rmse_future = best[0].rmse;
    r->rmse_domain = best[1].rmse;
    r->rmse_future_last = lastp[0].rmse;
    r->rmse_domain_last = lastp[1].rmse;
    r->n_future = best[0].n;
    r->n_domain = best[1].n;
    r->eval_steps = best[0].steps;
    const gm_forecast_report rep = {
        .rmse_future = r->rmse_future,
        .rmse_domain = r->rmse_domain,
        .rmse_future_last = r->rmse_future_last,
        .rmse_domain_last = r->rmse_domain_last,
        .n_future = r->n_future,
        .n_domain = r->n_domain,
        .params = r->parameters,
        .epochs = r->epochs,
        .best_epoch = r->best_epoch,
        .seconds = r->train_seconds,
        .model = gm_config_model_kind_name(md->kind),
        .data = dc->plume_dir,
    };
    st = gm_forecast_report_write(p->results, &rep);
done:
    gm_free(proto_json);
    for (int k = 0; k < 2; k++) {
        gm_forecast_metrics_free(&last[k]);
        gm_forecast_metrics_free(&best[k]);
    }
    gm_trainer_free(t);
    gm_model_free(m);
    for (int i = 0; i < 4; i++) gm_forecast_set_free(&sets[i]);
    gm_plume_data_free(&data);
    return st;
}

gm_status gm_run_train(gm_config *cfg, const gm_run_options *opt, gm_run_result *out) {
    GM_RETURN_ERROR_IF(!cfg, GM_ERR_INVALID_ARG, "gm_run_train: NULL config");
    const gm_run_options none = {0};
    const gm_run_options *o = opt ? opt : &none;
    gm_run_result local;
    gm_run_result *r = out ? out : &local;
    *r = (gm_run_result){.forecast = gm_config_data(cfg)->source == GM_DATA_PLUME};
    r->best_val_loss = r->best_val_accuracy = NAN;
    r->test_loss = r->test_accuracy = r->test_loss_last = r->test_accuracy_last = NAN;
    r->rmse_future = r->rmse_domain = r->rmse_future_last = r->rmse_domain_last = NAN;

    const char *dir = gm_config_output_dir(cfg);
    run_paths p;
    GM_FORWARD_IF_ERROR(run_paths_init(&p, dir));
    if (writer()) GM_FORWARD_IF_ERROR(make_dirs(dir));
    /* A run started from its own output directory's config.yaml keeps it as
     * it is (comments and all): it already describes the run, unless
     * overrides changed it. */
    const bool own_config = gm_same_file(o->config_path, p.config);
    GM_RETURN_ERROR_IF(own_config && o->config_changed, GM_ERR_INVALID_ARG,
                       "config '%s' is the config.yaml of its output directory, which the run "
                       "would rewrite with the overrides; copy it elsewhere or choose another "
                       "output.dir", o->config_path);
    const gm_data_config *dc = gm_config_data(cfg);
    run_inputs in = {0};
    inputs_add(&in, dc->train_images, "data file");
    inputs_add(&in, dc->train_labels, "data file");
    inputs_add(&in, dc->test_images, "data file");
    inputs_add(&in, dc->test_labels, "data file");
    for (int64_t i = 0; i < dc->ntrain_files; i++) inputs_add(&in, dc->train_files[i], "data file");
    if (!own_config) inputs_add(&in, o->config_path, "config");
    int lock = -1;
    if (writer()) GM_FORWARD_IF_ERROR(claim_output_dir(dir, &in, &lock));
    /* The resolved config is written once the data and the model are ready:
     * a run that fails before training leaves none behind. */
    const gm_status st = r->forecast ? forecast_run(cfg, o, &p, !own_config, r)
                                     : classify_run(cfg, o, &p, !own_config, r);
    if (lock >= 0) gm_output_dir_unlock(lock);
    return st;
}
