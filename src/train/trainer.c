/* The training loop: shuffled mini-batches, optimizer and schedule,
 * validation, the best-validation copy, checkpoints and resume. What a batch
 * and a validation pass are belongs to a task (train_internal.h):
 * classification with cross-entropy here, autoregressive forecasting in
 * forecast.c.
 *
 * Longer than the house's 800 lines on purpose: the trainer's state (struct
 * gm_trainer) is private to this file, and the checkpoint writer and reader,
 * the loop and its data-parallel reduction all work on it; splitting them
 * would publish that struct in a header for their sake alone. The places to
 * cut, if it grows: checkpoints (the "checkpoints" section) and the
 * classification task (the last section). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/dist.h"
#include "gmcnn/io.h"
#include "train/train_internal.h"

#define BEST_PREFIX GM_ST_OPTIM_PREFIX "best."
#define META_MAX (25 + GM_FIT_MAX_META)
#define HISTORY_KEY "gmcnn.train.history"
/* Far beyond any run (trainer.max_epochs is at most a million). */
#define EPOCH_MAX INT64_C(1000000000)

struct gm_trainer {
    gm_model *model;
    gm_fit_options opt; /* strings point to the copies below */
    char *paths[5];     /* checkpoint, best, jsonl, csv, resume */
    gm_ctx *ctx;
    gm_optim *optim;
    gm_lr_sched sched;
    gm_early_stop es;
    bool es_on;
    int64_t nparams;
    gm_tensor **params;
    gm_real **best; /* the best-validation copy of every parameter */
    bool have_best;
    int64_t epoch; /* epochs completed */
    int64_t best_epoch;
    double best_val_loss;
    double best_val_acc; /* at best_epoch */
    bool stopped_early;
    gm_epoch_record *recs; /* the epochs' records, increasing: the metric logs */
    int64_t nrecs, caprecs;
    bool recs_restored; /* resumed from a checkpoint holding them */
    gm_rng augment_rng; /* reseeded every epoch */
    char *model_json;
    char *norm_json[2]; /* GM_NORM_MEAN_META_KEY, GM_NORM_STD_META_KEY; NULL = none */
    int64_t nmeta;      /* the options' further metadata, copied */
    char *meta_keys[GM_FIT_MAX_META];
    char *meta_values[GM_FIT_MAX_META];
    double *reduce; /* data-parallel runs: the flat buffer of a step's gradients */
    int64_t nreduce;
};

static const char *const norm_keys[2] = {GM_NORM_MEAN_META_KEY, GM_NORM_STD_META_KEY};

/* Streams of the per-epoch generators; fixed so that resumed runs agree. */
static uint64_t shuffle_stream(int64_t epoch) { return 2 * (uint64_t)epoch; }
static uint64_t dropout_stream(int64_t epoch) { return 2 * (uint64_t)epoch + 1; }
/* Far above every shuffle and dropout stream of any real epoch count. */
static uint64_t augment_stream(int64_t epoch) { return (UINT64_C(1) << 40) + (uint64_t)epoch; }
static const uint64_t seed_mix = 0x9e3779b97f4a7c15ULL;

void gm_trainer_free(gm_trainer *t) {
    if (!t) return;
    for (int i = 0; i < 5; i++) gm_free(t->paths[i]);
    if (t->best)
        for (int64_t i = 0; i < t->nparams; i++) gm_free(t->best[i]);
    gm_free(t->best);
    gm_free(t->recs);
    gm_free(t->reduce);
    gm_free(t->params);
    gm_optim_free(t->optim);
    gm_ctx_free(t->ctx);
    gm_free(t->model_json);
    gm_free(t->norm_json[0]);
    gm_free(t->norm_json[1]);
    for (int64_t i = 0; i < t->nmeta; i++) {
        gm_free(t->meta_keys[i]);
        gm_free(t->meta_values[i]);
    }
    gm_free(t);
}

static gm_status copy_path(const char *src, char **dst, const char **field) {
    *field = NULL;
    if (!src) return GM_OK;
    *dst = gm_strdup(src);
    if (!*dst) return gm__nomem("trainer path");
    *field = *dst;
    return GM_OK;
}

/* "[v0,v1,...]" with "%.17g" so that every value reads back exactly. */
static gm_status norm_to_json(const double *v, int64_t n, char **out) {
    const size_t cap = (size_t)n * 26 + 3;
    char *s = gm_malloc(cap);
    if (!s) return gm__nomem("normalisation metadata");
    size_t len = 0;
    s[len++] = '[';
    for (int64_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%.17g", i ? "," : "", v[i]);
    s[len++] = ']';
    s[len] = '\0';
    *out = s;
    return GM_OK;
}

static gm_status norm_init(gm_trainer *t, const gm_fit_options *opt) {
    t->opt.norm_mean = t->opt.norm_std = NULL;
    GM_RETURN_ERROR_IF(opt->norm_channels < 0, GM_ERR_INVALID_ARG,
                       "fit options: norm_channels %lld < 0", (long long)opt->norm_channels);
    if (opt->norm_channels == 0) return GM_OK;
    GM_RETURN_ERROR_IF(opt->norm_channels > (1 << 20), GM_ERR_INVALID_ARG,
                       "fit options: norm_channels %lld is too large",
                       (long long)opt->norm_channels);
    GM_RETURN_ERROR_IF(!opt->norm_mean || !opt->norm_std, GM_ERR_INVALID_ARG,
                       "fit options: norm_channels %lld without norm_mean and norm_std",
                       (long long)opt->norm_channels);
    for (int64_t c = 0; c < opt->norm_channels; c++)
        GM_RETURN_ERROR_IF(!isfinite(opt->norm_mean[c]) || !isfinite(opt->norm_std[c]),
                           GM_ERR_INVALID_ARG,
                           "fit options: normalisation statistics of channel %lld are not finite",
                           (long long)c);
    GM_FORWARD_IF_ERROR(norm_to_json(opt->norm_mean, opt->norm_channels, &t->norm_json[0]));
    GM_FORWARD_IF_ERROR(norm_to_json(opt->norm_std, opt->norm_channels, &t->norm_json[1]));
    return GM_OK;
}

/* The caller's metadata pairs, copied; the trainer's own keys stay its own. */
static gm_status meta_init(gm_trainer *t, const gm_fit_options *opt) {
    t->opt.meta_keys = t->opt.meta_values = NULL;
    t->opt.nmeta = 0;
    GM_RETURN_ERROR_IF(opt->nmeta < 0 || opt->nmeta > GM_FIT_MAX_META, GM_ERR_INVALID_ARG,
                       "fit options: nmeta %lld is outside 0..%d", (long long)opt->nmeta,
                       GM_FIT_MAX_META);
    GM_RETURN_ERROR_IF(opt->nmeta > 0 && (!opt->meta_keys || !opt->meta_values),
                       GM_ERR_INVALID_ARG, "fit options: nmeta %lld without keys and values",
                       (long long)opt->nmeta);
    for (int64_t i = 0; i < opt->nmeta; i++) {
        const char *k = opt->meta_keys[i], *v = opt->meta_values[i];
        GM_RETURN_ERROR_IF(!k || !v, GM_ERR_INVALID_ARG,
                           "fit options: metadata pair %lld is NULL", (long long)i);
        GM_RETURN_ERROR_IF(!strncmp(k, "gmcnn.train.", 12) || !strcmp(k, GM_MODEL_META_KEY) ||
                               !strcmp(k, norm_keys[0]) || !strcmp(k, norm_keys[1]),
                           GM_ERR_INVALID_ARG,
                           "fit options: metadata key \"%s\" belongs to the trainer", k);
        for (int64_t j = 0; j < i; j++)
            GM_RETURN_ERROR_IF(!strcmp(k, opt->meta_keys[j]), GM_ERR_INVALID_ARG,
                               "fit options: metadata key \"%s\" is given twice", k);
        t->meta_keys[i] = gm_strdup(k);
        t->meta_values[i] = gm_strdup(v);
        t->nmeta = i + 1;
        if (!t->meta_keys[i] || !t->meta_values[i]) return gm__nomem("trainer metadata");
    }
    return GM_OK;
}

static gm_status trainer_init(gm_trainer *t, gm_model *m, const gm_fit_options *opt) {
    GM_RETURN_ERROR_IF(opt->epochs < 0, GM_ERR_INVALID_ARG, "fit options: epochs %lld < 0",
                       (long long)opt->epochs);
    GM_RETURN_ERROR_IF(opt->batch_size < 1, GM_ERR_INVALID_ARG,
                       "fit options: batch_size %lld < 1", (long long)opt->batch_size);
    GM_RETURN_ERROR_IF(opt->early_stop_patience < 0, GM_ERR_INVALID_ARG,
                       "fit options: early_stop_patience %lld < 0",
                       (long long)opt->early_stop_patience);
    GM_RETURN_ERROR_IF(!(opt->clip_norm >= 0.0) || !isfinite(opt->clip_norm), GM_ERR_INVALID_ARG,
                       "fit options: clip_norm %g must be finite and >= 0", opt->clip_norm);
    GM_RETURN_ERROR_IF(opt->progress_every < 0, GM_ERR_INVALID_ARG,
                       "fit options: progress_every %lld < 0", (long long)opt->progress_every);
    GM_RETURN_ERROR_IF(!(opt->label_smoothing >= 0.0 && opt->label_smoothing < 1.0),
                       GM_ERR_INVALID_ARG, "fit options: label_smoothing %g is outside [0, 1)",
                       opt->label_smoothing);
    GM_RETURN_ERROR_IF(opt->select != GM_SELECT_VAL_LOSS && opt->select != GM_SELECT_VAL_ACCURACY,
                       GM_ERR_INVALID_ARG,
                       "fit options: select %d is not val_loss or val_accuracy", (int)opt->select);
    GM_FORWARD_IF_ERROR(gm_augment_check(&opt->augment, 0, 0));
    t->model = m;
    t->opt = *opt;
    GM_FORWARD_IF_ERROR(copy_path(opt->checkpoint_path, &t->paths[0], &t->opt.checkpoint_path));
    GM_FORWARD_IF_ERROR(copy_path(opt->best_path, &t->paths[1], &t->opt.best_path));
    GM_FORWARD_IF_ERROR(copy_path(opt->metrics_jsonl, &t->paths[2], &t->opt.metrics_jsonl));
    GM_FORWARD_IF_ERROR(copy_path(opt->metrics_csv, &t->paths[3], &t->opt.metrics_csv));
    GM_FORWARD_IF_ERROR(copy_path(opt->resume_path, &t->paths[4], &t->opt.resume_path));
    GM_FORWARD_IF_ERROR(gm_model_desc_to_json(gm_model_description(m), &t->model_json));
    GM_FORWARD_IF_ERROR(norm_init(t, opt));
    GM_FORWARD_IF_ERROR(meta_init(t, opt));

    t->nparams = gm_model_param_count(m);
    GM_RETURN_ERROR_IF(t->nparams < 1, GM_ERR_INVALID_ARG, "trainer: the model has no parameters");
    t->params = gm_calloc((size_t)t->nparams, sizeof *t->params);
    t->best = gm_calloc((size_t)t->nparams, sizeof *t->best);
    if (!t->params || !t->best) return gm__nomem("trainer parameter lists");
    for (int64_t i = 0; i < t->nparams; i++) {
        t->params[i] = gm_model_param(m, i);
        t->best[i] = gm_malloc_array((size_t)t->params[i]->numel, sizeof(gm_real));
        if (!t->best[i]) return gm__nomem("best parameter copy");
    }
    /* Gradients exist before the optimizer is built so that no parameter is
     * skipped at the first step for lack of one. */
    GM_FORWARD_IF_ERROR(gm_model_zero_grad(m));
    GM_FORWARD_IF_ERROR(gm_optim_new(&opt->optim, t->nparams, t->params, &t->optim));
    GM_FORWARD_IF_ERROR(gm_lr_sched_init(&t->sched, &opt->sched, opt->optim.lr));
    t->es_on = opt->early_stop_patience > 0;
    if (t->es_on)
        GM_FORWARD_IF_ERROR(
            gm_early_stop_init(&t->es, GM_SCHED_MIN, opt->early_stop_patience, 0.0));
    GM_FORWARD_IF_ERROR(gm_ctx_new(0, opt->seed, &t->ctx));
    t->best_val_loss = INFINITY;
    t->best_val_acc = NAN;
    return GM_OK;
}

/* --- checkpoints ------------------------------------------------------------ */

typedef struct meta_list {
    int64_t n;
    const char *keys[META_MAX];
    char vals[META_MAX][40];
    const char *vptr[META_MAX];
} meta_list;

static void meta_num(meta_list *ml, const char *key, double v) {
    GM_ASSERT(ml->n < META_MAX);
    ml->keys[ml->n] = key;
    snprintf(ml->vals[ml->n], sizeof ml->vals[0], "%.17g", v);
    ml->vptr[ml->n] = ml->vals[ml->n];
    ml->n++;
}

/* What every file the trainer writes carries: the normalisation statistics
 * and the caller's metadata. */
static void meta_carried(meta_list *ml, const gm_trainer *t) {
    for (int k = 0; k < 2 && t->norm_json[k]; k++) {
        GM_ASSERT(ml->n < META_MAX);
        ml->keys[ml->n] = norm_keys[k];
        ml->vptr[ml->n] = t->norm_json[k];
        ml->n++;
    }
    for (int64_t i = 0; i < t->nmeta; i++) {
        GM_ASSERT(ml->n < META_MAX);
        ml->keys[ml->n] = t->meta_keys[i];
        ml->vptr[ml->n] = t->meta_values[i];
        ml->n++;
    }
}

static void meta_int(meta_list *ml, const char *key, int64_t v) {
    GM_ASSERT(ml->n < META_MAX);
    ml->keys[ml->n] = key;
    snprintf(ml->vals[ml->n], sizeof ml->vals[0], "%" PRId64, v);
    ml->vptr[ml->n] = ml->vals[ml->n];
    ml->n++;
}

static gm_dtype optim_dtype(gm_optim_dtype d) {
    if (d == GM_OPTIM_DTYPE_F64) return GM_DTYPE_F64;
    if (d == GM_OPTIM_DTYPE_I64) return GM_DTYPE_I64;
    return sizeof(gm_real) == sizeof(double) ? GM_DTYPE_F64 : GM_DTYPE_F32;
}

static gm_dtype real_dtype(void) {
    return sizeof(gm_real) == sizeof(double) ? GM_DTYPE_F64 : GM_DTYPE_F32;
}

/* The records of epochs 1..epoch as the text of metrics.jsonl. */
static gm_status history_text(const gm_trainer *t, char **out) {
    const size_t cap = (size_t)(t->nrecs + 1) * GM__METRIC_LINE_MAX;
    char *text = gm_malloc(cap);
    if (!text) return gm__nomem("checkpoint history");
    size_t len = 0;
    for (int64_t i = 0; i < t->nrecs; i++)
        len += gm__metric_jsonl_line(&t->recs[i], text + len, cap - len);
    text[len] = '\0';
    *out = text;
    return GM_OK;
}

/* Checkpoints carry every epoch's record, so that a resumed run can put the
 * metric logs and best.safetensors back in step with the checkpoint, whatever
 * point of an epoch's writes a crash interrupted. */
static gm_status checkpoint_write(gm_trainer *t, const char *path) {
    char *history = NULL;
    const int64_t nstate = gm_optim_state_count(t->optim);
    const int64_t cap = t->nparams * 2 + nstate;
    gm_st_entry *e = gm_calloc((size_t)cap, sizeof *e);
    char **names = gm_calloc((size_t)cap, sizeof *names);
    gm_status st = (!e || !names) ? gm__nomem("checkpoint entries") : GM_OK;
    int64_t n = 0;
    for (int64_t i = 0; i < t->nparams && st == GM_OK; i++)
        e[n++] = gm_st_entry_tensor(gm_model_param_name(t->model, i), t->params[i]);
    for (int64_t i = 0; i < nstate && st == GM_OK; i++) {
        gm_optim_state s;
        st = gm_optim_state_get(t->optim, i, &s);
        if (st != GM_OK) break;
        const size_t len = strlen(GM_ST_OPTIM_PREFIX) + strlen(s.name) + 1;
        names[n] = gm_malloc(len);
        if (!names[n]) {
            st = gm__nomem("checkpoint names");
            break;
        }
        snprintf(names[n], len, "%s%s", GM_ST_OPTIM_PREFIX, s.name);
        e[n] = (gm_st_entry){.name = names[n], .dtype = optim_dtype(s.dtype), .ndim = s.ndim,
                             .data = s.data};
        for (int k = 0; k < s.ndim; k++) e[n].shape[k] = s.shape[k];
        n++;
    }
    for (int64_t i = 0; i < t->nparams && st == GM_OK && t->have_best; i++) {
        const char *pn = gm_model_param_name(t->model, i);
        const size_t len = strlen(BEST_PREFIX) + strlen(pn) + 1;
        names[n] = gm_malloc(len);
        if (!names[n]) {
            st = gm__nomem("checkpoint names");
            break;
        }
        snprintf(names[n], len, "%s%s", BEST_PREFIX, pn);
        e[n] = gm_st_entry_tensor(names[n], t->params[i]);
        e[n].name = names[n];
        e[n].data = t->best[i];
        n++;
    }
    if (st == GM_OK) {
        meta_list ml = {0};
        ml.keys[0] = GM_MODEL_META_KEY;
        ml.vptr[0] = t->model_json;
        ml.n = 1;
        meta_int(&ml, "gmcnn.train.epoch", t->epoch);
        meta_num(&ml, "gmcnn.train.seed", (double)t->opt.seed);
        meta_int(&ml, "gmcnn.train.have_best", t->have_best);
        meta_int(&ml, "gmcnn.train.best_epoch", t->best_epoch);
        meta_num(&ml, "gmcnn.train.best_val_loss", t->best_val_loss);
        meta_num(&ml, "gmcnn.train.best_val_acc", t->best_val_acc);
        meta_int(&ml, "gmcnn.train.stopped_early", t->stopped_early);
        meta_int(&ml, "gmcnn.train.sched.epoch", t->sched.state.epoch);
        meta_num(&ml, "gmcnn.train.sched.base_lr", t->sched.state.base_lr);
        meta_num(&ml, "gmcnn.train.sched.lr", t->sched.state.lr);
        meta_num(&ml, "gmcnn.train.sched.best", t->sched.state.best);
        meta_int(&ml, "gmcnn.train.sched.num_bad_epochs", t->sched.state.num_bad_epochs);
        meta_int(&ml, "gmcnn.train.sched.cooldown_counter", t->sched.state.cooldown_counter);
        meta_int(&ml, "gmcnn.train.es.epoch", t->es.epoch);
        meta_num(&ml, "gmcnn.train.es.best", t->es.best);
        meta_int(&ml, "gmcnn.train.es.best_epoch", t->es.best_epoch);
        meta_int(&ml, "gmcnn.train.es.num_bad_epochs", t->es.num_bad_epochs);
        meta_int(&ml, "gmcnn.train.es.improved", t->es.improved);
        meta_int(&ml, "gmcnn.train.es.stop", t->es.stop);
        meta_carried(&ml, t);
        st = history_text(t, &history);
        if (st == GM_OK) {
            GM_ASSERT(ml.n < META_MAX);
            ml.keys[ml.n] = HISTORY_KEY;
            ml.vptr[ml.n++] = history;
            st = gm_safetensors_write(path, n, e, ml.n, ml.keys, ml.vptr);
        }
    }
    gm_free(history);
    for (int64_t i = 0; names && i < cap; i++) gm_free(names[i]);
    gm_free(names);
    gm_free(e);
    return st;
}

/* A number of the checkpoint's metadata; `finite_nonneg` for learning rates. */
static gm_status meta_get_num(const gm_safetensors *st, const char *path, const char *key,
                              bool finite_nonneg, double *out) {
    const char *v = gm_safetensors_meta_get(st, key);
    GM_RETURN_ERROR_IF(!v, GM_ERR_FORMAT, "checkpoint '%s': metadata \"%s\" is missing", path,
                       key);
    char *end;
    *out = strtod(v, &end);
    GM_RETURN_ERROR_IF(end == v || *end, GM_ERR_FORMAT,
                       "checkpoint '%s': metadata \"%s\" = \"%.40s\" is not a number", path, key,
                       v);
    GM_RETURN_ERROR_IF(finite_nonneg && !(isfinite(*out) && *out >= 0.0), GM_ERR_FORMAT,
                       "checkpoint '%s': metadata \"%s\" = \"%.40s\" is not a finite number "
                       ">= 0", path, key, v);
    return GM_OK;
}

/* An integer of the checkpoint's metadata in lo..hi. */
static gm_status meta_get_int(const gm_safetensors *st, const char *path, const char *key,
                              int64_t lo, int64_t hi, int64_t *out) {
    const char *v = gm_safetensors_meta_get(st, key);
    GM_RETURN_ERROR_IF(!v, GM_ERR_FORMAT, "checkpoint '%s': metadata \"%s\" is missing", path,
                       key);
    char *end;
    errno = 0;
    const long long x = strtoll(v, &end, 10);
    GM_RETURN_ERROR_IF(end == v || *end || errno == ERANGE || x < lo || x > hi, GM_ERR_FORMAT,
                       "checkpoint '%s': metadata \"%s\" = \"%.40s\" is not an integer in "
                       "%lld..%lld", path, key, v, (long long)lo, (long long)hi);
    *out = x;
    return GM_OK;
}

static gm_status meta_get_flag(const gm_safetensors *st, const char *path, const char *key,
                               bool *out) {
    int64_t v = 0;
    GM_FORWARD_IF_ERROR(meta_get_int(st, path, key, 0, 1, &v));
    *out = v != 0;
    return GM_OK;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* A tensor of the checkpoint with exactly this dtype and shape, copied into dst. */
static gm_status restore_tensor(const gm_safetensors *sf, const char *path, const char *name,
                                gm_dtype dtype, int ndim, const int64_t *shape, void *dst) {
    const int64_t idx = gm_safetensors_find(sf, name);
    GM_RETURN_ERROR_IF(idx < 0, GM_ERR_NOT_FOUND, "checkpoint '%s': tensor '%s' is missing", path,
                       name);
    const gm_st_entry *e = gm_safetensors_entry(sf, idx);
    bool same = e->dtype == dtype && e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = e->shape[d] == shape[d];
    if (!same) {
        char want[128], got[128];
        shape_text(ndim, shape, want, sizeof want);
        shape_text(e->ndim, e->shape, got, sizeof got);
        return gm_error_set(GM_ERR_SHAPE,
                            "checkpoint '%s': tensor '%s' is %s %s, expected %s %s", path,
                            name, gm_dtype_descr(e->dtype), got, gm_dtype_descr(dtype), want);
    }
    memcpy(dst, e->data, (size_t)gm_st_entry_numel(e) * gm_dtype_size(dtype));
    return GM_OK;
}

/* The epochs' records from the checkpoint's history: epochs increasing,
 * none after the checkpoint's (all of 1..epoch, unless the history began
 * from the log of a checkpoint written before checkpoints held it). */
static gm_status restore_history(gm_trainer *t, const gm_safetensors *sf, const char *path) {
    const char *h = gm_safetensors_meta_get(sf, HISTORY_KEY);
    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    if (!h) {
        /* Written before checkpoints held it: whatever of the run's metric log
         * fits the checkpoint starts the history, and the logs are appended to. */
        if (t->opt.metrics_jsonl && gm_metrics_jsonl_read(t->opt.metrics_jsonl, &n, &recs) != GM_OK)
            n = 0;
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (recs[i].epoch <= t->epoch && (k == 0 || recs[i].epoch > recs[k - 1].epoch))
                recs[k++] = recs[i];
        n = k;
    } else {
        char name[4200];
        snprintf(name, sizeof name, "checkpoint '%s': metadata \"%s\"", path, HISTORY_KEY);
        GM_FORWARD_IF_ERROR(gm_metrics_jsonl_parse(h, strlen(h), name, &n, &recs));
        bool ok = n <= t->epoch;
        for (int64_t i = 0; ok && i < n; i++)
            ok = recs[i].epoch <= t->epoch && (i == 0 || recs[i].epoch > recs[i - 1].epoch);
        if (!ok) {
            gm_free(recs);
            return gm_error_set(GM_ERR_FORMAT, "checkpoint '%s': metadata \"%s\" does not hold "
                                "increasing records of epochs 1..%lld", path, HISTORY_KEY,
                                (long long)t->epoch);
        }
        t->recs_restored = true;
    }
    gm_free(t->recs);
    t->recs = recs;
    t->nrecs = t->caprecs = n;
    return GM_OK;
}

static gm_status resume_from(gm_trainer *t, const gm_safetensors *sf, const char *path) {
    const char *mj = gm_safetensors_meta_get(sf, GM_MODEL_META_KEY);
    GM_RETURN_ERROR_IF(!mj, GM_ERR_FORMAT, "checkpoint '%s': metadata \"%s\" is missing", path,
                       GM_MODEL_META_KEY);
    GM_RETURN_ERROR_IF(strcmp(mj, t->model_json) != 0, GM_ERR_INVALID_ARG,
                       "checkpoint '%s': its model description differs from the model's", path);
    /* Parameters fitted to standardised inputs continue only on the same
     * standardisation; a checkpoint from before the keys existed is taken on
     * trust. */
    for (int k = 0; k < 2; k++) {
        const char *v = gm_safetensors_meta_get(sf, norm_keys[k]);
        GM_RETURN_ERROR_IF(v && (!t->norm_json[k] || strcmp(v, t->norm_json[k]) != 0),
                           GM_ERR_INVALID_ARG,
                           "checkpoint '%s': metadata \"%s\" differs from this run's input "
                           "normalisation", path, norm_keys[k]);
    }
    bool improved = false, stop = false;
    int64_t ep = 0;
    GM_FORWARD_IF_ERROR(meta_get_int(sf, path, "gmcnn.train.epoch", 0, EPOCH_MAX, &ep));
    t->epoch = ep;
    GM_FORWARD_IF_ERROR(meta_get_flag(sf, path, "gmcnn.train.have_best", &t->have_best));
    GM_FORWARD_IF_ERROR(meta_get_int(sf, path, "gmcnn.train.best_epoch", t->have_best && ep > 0,
                                     ep, &t->best_epoch));
    GM_FORWARD_IF_ERROR(
        meta_get_num(sf, path, "gmcnn.train.best_val_loss", false, &t->best_val_loss));
    /* Checkpoints from before accuracy selection lack it; NaN never wins a comparison. */
    t->best_val_acc = NAN;
    if (gm_safetensors_meta_get(sf, "gmcnn.train.best_val_acc"))
        GM_FORWARD_IF_ERROR(
            meta_get_num(sf, path, "gmcnn.train.best_val_acc", false, &t->best_val_acc));
    GM_FORWARD_IF_ERROR(meta_get_flag(sf, path, "gmcnn.train.stopped_early", &t->stopped_early));
    gm_lr_sched_state *ss = &t->sched.state;
    GM_FORWARD_IF_ERROR(meta_get_int(sf, path, "gmcnn.train.sched.epoch", 0, ep, &ss->epoch));
    GM_FORWARD_IF_ERROR(
        meta_get_num(sf, path, "gmcnn.train.sched.base_lr", true, &ss->base_lr));
    GM_FORWARD_IF_ERROR(meta_get_num(sf, path, "gmcnn.train.sched.lr", true, &ss->lr));
    GM_FORWARD_IF_ERROR(meta_get_num(sf, path, "gmcnn.train.sched.best", false, &ss->best));
    GM_FORWARD_IF_ERROR(meta_get_int(sf, path, "gmcnn.train.sched.num_bad_epochs", 0, ep,
                                     &ss->num_bad_epochs));
    GM_FORWARD_IF_ERROR(meta_get_int(sf, path, "gmcnn.train.sched.cooldown_counter", 0,
                                     EPOCH_MAX, &ss->cooldown_counter));
    gm_early_stop es = t->es;
    GM_FORWARD_IF_ERROR(meta_get_int(sf, path, "gmcnn.train.es.epoch", 0, ep, &es.epoch));
    GM_FORWARD_IF_ERROR(meta_get_num(sf, path, "gmcnn.train.es.best", false, &es.best));
    GM_FORWARD_IF_ERROR(
        meta_get_int(sf, path, "gmcnn.train.es.best_epoch", 0, es.epoch, &es.best_epoch));
    GM_FORWARD_IF_ERROR(
        meta_get_int(sf, path, "gmcnn.train.es.num_bad_epochs", 0, ep, &es.num_bad_epochs));
    GM_FORWARD_IF_ERROR(meta_get_flag(sf, path, "gmcnn.train.es.improved", &improved));
    GM_FORWARD_IF_ERROR(meta_get_flag(sf, path, "gmcnn.train.es.stop", &stop));
    if (t->es_on) {
        es.improved = improved;
        es.stop = stop;
        t->es = es;
    }
    GM_FORWARD_IF_ERROR(restore_history(t, sf, path));

    char name[512];
    const int64_t nstate = gm_optim_state_count(t->optim);
    for (int64_t i = 0; i < nstate; i++) {
        gm_optim_state s;
        GM_FORWARD_IF_ERROR(gm_optim_state_get(t->optim, i, &s));
        snprintf(name, sizeof name, "%s%s", GM_ST_OPTIM_PREFIX, s.name);
        GM_FORWARD_IF_ERROR(
            restore_tensor(sf, path, name, optim_dtype(s.dtype), s.ndim, s.shape, s.data));
    }
    if (gm_optim_state_validate(t->optim) != GM_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        return gm_error_set(GM_ERR_FORMAT, "checkpoint '%s': %s", path, detail);
    }
    for (int64_t i = 0; i < t->nparams && t->have_best; i++) {
        snprintf(name, sizeof name, "%s%s", BEST_PREFIX, gm_model_param_name(t->model, i));
        const gm_tensor *p = t->params[i];
        GM_FORWARD_IF_ERROR(
            restore_tensor(sf, path, name, real_dtype(), p->ndim, p->shape, t->best[i]));
    }
    return GM_OK;
}

static gm_status trainer_resume(gm_trainer *t, const char *path) {
    /* Parameters first: load_model checks every one before copying any. */
    GM_FORWARD_IF_ERROR(gm_safetensors_load_model(path, t->model));
    gm_safetensors *sf = NULL;
    GM_FORWARD_IF_ERROR(gm_safetensors_read(path, &sf));
    gm_status st = resume_from(t, sf, path);
    gm_safetensors_free(sf);
    return st;
}

gm_status gm_trainer_new(gm_model *m, const gm_fit_options *opt, gm_trainer **out) {
    GM_RETURN_ERROR_IF(!m || !opt || !out, GM_ERR_INVALID_ARG,
                       "gm_trainer_new: model, options and out are required");
    *out = NULL;
    gm_trainer *t = gm_calloc(1, sizeof *t);
    if (!t) return gm__nomem("trainer");
    gm_status st = trainer_init(t, m, opt);
    if (st == GM_OK && t->opt.resume_path) st = trainer_resume(t, t->opt.resume_path);
    if (st != GM_OK) {
        gm_trainer_free(t);
        return st;
    }
    *out = t;
    return GM_OK;
}

int64_t gm_trainer_epoch(const gm_trainer *t) { return t ? t->epoch : 0; }

gm_model *gm__trainer_model(gm_trainer *t) { return t->model; }

const gm_fit_options *gm__trainer_options(const gm_trainer *t) { return &t->opt; }

gm_status gm_trainer_restore_best(gm_trainer *t) {
    GM_RETURN_ERROR_IF(!t, GM_ERR_INVALID_ARG, "gm_trainer_restore_best: trainer is required");
    GM_RETURN_ERROR_IF(!t->have_best, GM_ERR_NOT_FOUND,
                       "trainer: no best parameters before the first epoch");
    for (int64_t i = 0; i < t->nparams; i++)
        memcpy(t->params[i]->data, t->best[i], (size_t)t->params[i]->numel * sizeof(gm_real));
    return GM_OK;
}

/* --- the loop ---------------------------------------------------------------- */

static gm_status save_best(gm_trainer *t, const gm_epoch_record *rec) {
    meta_list ml = {0};
    ml.keys[0] = GM_MODEL_META_KEY;
    ml.vptr[0] = t->model_json;
    ml.n = 1;
    meta_int(&ml, "gmcnn.train.epoch", rec->epoch);
    meta_num(&ml, "gmcnn.train.val_loss", rec->val_loss);
    meta_num(&ml, "gmcnn.train.val_acc", rec->val_accuracy);
    meta_carried(&ml, t);
    return gm_safetensors_save_model(t->opt.best_path, t->model, ml.n, ml.keys, ml.vptr);
}

static gm_status push_record(gm_trainer *t, const gm_epoch_record *rec) {
    if (t->nrecs == t->caprecs) {
        const int64_t cap = t->caprecs ? 2 * t->caprecs : 64;
        gm_epoch_record *r = gm_realloc(t->recs, (size_t)cap * sizeof *r);
        if (!r) return gm__nomem("epoch records");
        t->recs = r;
        t->caprecs = cap;
    }
    t->recs[t->nrecs++] = *rec;
    return GM_OK;
}

/* After a resume from a checkpoint with its records: the metric logs are
 * rewritten from them (dropping lines of epochs after the checkpoint or a
 * line cut short, adding those a crash kept from being written) and
 * best.safetensors from the checkpoint's best copy, so that the run's files
 * agree with the checkpoint before training goes on. */
static gm_status reconcile_outputs(gm_trainer *t) {
    if (!t->recs_restored) return GM_OK;
    t->recs_restored = false;
    GM_FORWARD_IF_ERROR(
        gm__metric_log_rewrite(t->opt.metrics_jsonl, t->opt.metrics_csv, t->nrecs, t->recs));
    if (!t->opt.best_path || !t->have_best || t->best_epoch < 1) return GM_OK;
    gm_epoch_record rec = {.epoch = t->best_epoch, .val_loss = t->best_val_loss,
                           .val_accuracy = t->best_val_acc};
    for (int64_t i = 0; i < t->nrecs; i++)
        if (t->recs[i].epoch == t->best_epoch) rec = t->recs[i];
    for (int64_t i = 0; i < t->nparams; i++) {
        gm_real *p = t->params[i]->data;
        t->params[i]->data = t->best[i];
        t->best[i] = p;
    }
    const gm_status st = save_best(t, &rec);
    for (int64_t i = 0; i < t->nparams; i++) {
        gm_real *p = t->params[i]->data;
        t->params[i]->data = t->best[i];
        t->best[i] = p;
    }
    return st;
}

/* The selection criterion: a lower loss, or with accuracy selection a higher
 * accuracy, ties going to the lower loss. NaN never improves. */
static bool better(const gm_trainer *t, double loss, double acc) {
    if (t->opt.select != GM_SELECT_VAL_ACCURACY) return loss < t->best_val_loss;
    if (isnan(acc)) return false;
    if (isnan(t->best_val_acc) || acc > t->best_val_acc) return true;
    return acc == t->best_val_acc && loss < t->best_val_loss;
}

static bool finite_score(const gm_trainer *t, double loss, double acc) {
    return t->opt.select == GM_SELECT_VAL_ACCURACY ? isfinite(acc) : isfinite(loss);
}

/* --- data parallelism (gmcnn/dist.h) ------------------------------------------------------
 * Every rank shuffles alike and takes a contiguous shard of each global batch
 * (samples start + b*r/P .. start + b*(r+1)/P of the permutation). A shard's
 * loss is the mean over its samples, so its gradient times the shard size is
 * the gradient of the SUM of its losses; the sums of all ranks, divided by
 * the global batch size, are the single-process gradient up to the order of
 * the summation. With one rank none of this runs: the loop is the
 * single-process one. */

static bool trainable(const gm_tensor *p) { return p->requires_grad && p->grad; }

/* Sums the shards' gradients (each weighted by its size `cnt`), losses and
 * correct counts over the ranks; every rank then holds the gradient of the
 * mean loss over the global batch of b samples, *loss the batch's mean loss
 * and *correct its correct predictions. */
static gm_status reduce_step(gm_trainer *t, int64_t cnt, int64_t b, double shard_loss,
                             double *loss, int64_t *correct) {
    if (!t->reduce) {
        int64_t n = 2;
        for (int64_t i = 0; i < t->nparams; i++)
            if (trainable(t->params[i])) n += t->params[i]->numel;
        t->reduce = gm_malloc_array((size_t)n, sizeof *t->reduce);
        if (!t->reduce) return gm__nomem("gradient reduction buffer");
        t->nreduce = n;
    }
    double *buf = t->reduce;
    int64_t k = 0;
    for (int64_t i = 0; i < t->nparams; i++) {
        const gm_tensor *p = t->params[i];
        if (!trainable(p)) continue;
        for (int64_t j = 0; j < p->numel; j++) buf[k++] = (double)p->grad[j] * (double)cnt;
    }
    buf[k] = cnt > 0 ? shard_loss * (double)cnt : 0.0;
    buf[k + 1] = (double)*correct;
    GM_ASSERT(k + 2 == t->nreduce);
    GM_FORWARD_IF_ERROR(gm_dist_allreduce_sum_f64(buf, t->nreduce));
    k = 0;
    for (int64_t i = 0; i < t->nparams; i++) {
        gm_tensor *p = t->params[i];
        if (!trainable(p)) continue;
        for (int64_t j = 0; j < p->numel; j++) p->grad[j] = (gm_real)(buf[k++] / (double)b);
    }
    *loss = buf[k] / (double)b;
    *correct = (int64_t)buf[k + 1];
    return GM_OK;
}

/* The tensors without gradients (batch normalisation's running statistics)
 * drift apart, each rank seeing its own shards: their mean over the ranks,
 * after every epoch, keeps the replicas equal. */
static gm_status sync_buffers(gm_trainer *t) {
    const int p = gm_dist_size();
    for (int64_t i = 0; i < t->nparams; i++) {
        gm_tensor *x = t->params[i];
        if (x->requires_grad) continue;
        double *v = gm_malloc_array((size_t)x->numel, sizeof *v);
        if (!v) return gm__nomem("buffer reduction");
        for (int64_t j = 0; j < x->numel; j++) v[j] = (double)x->data[j];
        const gm_status st = gm_dist_allreduce_sum_f64(v, x->numel);
        for (int64_t j = 0; st == GM_OK && j < x->numel; j++)
            x->data[j] = (gm_real)(v[j] / (double)p);
        gm_free(v);
        GM_FORWARD_IF_ERROR(st);
    }
    return GM_OK;
}

static gm_status train_epoch(gm_trainer *t, const gm__fit_task *task, int64_t epoch,
                             int64_t *perm, double *loss_out, double *acc_out) {
    const gm_fit_options *o = &t->opt;
    const int64_t n = task->n, bs = o->batch_size, steps = (n + bs - 1) / bs;
    gm_rng rng;
    gm_rng_seed(&rng, o->seed ^ seed_mix, shuffle_stream(epoch));
    gm__shuffle_indices(&rng, n, perm);
    gm_rng_seed(gm_ctx_rng(t->ctx), o->seed ^ seed_mix, dropout_stream(epoch));
    if (task->augment_rng)
        gm_rng_seed(task->augment_rng, o->seed ^ seed_mix, augment_stream(epoch));
    const bool per_step = gm_lr_sched_per_step(&t->sched);
    gm_ctx_set_grad(t->ctx, true);
    gm_ctx_set_training(t->ctx, true);
    double loss_sum = 0.0;
    int64_t correct = 0;
    gm_status st = GM_OK;
    const int nranks = gm_dist_size(), rank = gm_dist_rank();
    for (int64_t s = 0; s < steps && st == GM_OK; s++) {
        if (nranks > 1) {
            /* one rank interrupted stops all of them */
            if (o->stop && *o->stop)
                st = gm_error_set(GM_ERR_INTERRUPTED, "training stopped before step %lld of "
                                  "%lld of epoch %lld", (long long)(s + 1), (long long)steps,
                                  (long long)epoch);
            st = gm_dist_agree(st);
            if (st != GM_OK) break;
        }
        if (o->stop && *o->stop) {
            st = epoch > 1 ? gm_error_set(GM_ERR_INTERRUPTED, "training stopped before step %lld "
                                          "of %lld of epoch %lld; the checkpoint holds epoch %lld",
                                          (long long)(s + 1), (long long)steps,
                                          (long long)epoch, (long long)(epoch - 1))
                           : gm_error_set(GM_ERR_INTERRUPTED, "training stopped before step %lld "
                                          "of %lld of epoch 1, before any checkpoint",
                                          (long long)(s + 1), (long long)steps);
            break;
        }
        const int64_t start = s * bs, b = n - start < bs ? n - start : bs;
        /* this rank's shard of the batch (all of it with one rank) */
        const int64_t lo = start + b * rank / nranks, cnt = start + b * (rank + 1) / nranks - lo;
        gm_tensor *loss = NULL;
        int64_t right = 0;
        double l = 0.0;
        gm_optim_zero_grad(t->optim);
        if (cnt > 0) {
            st = task->batch_loss(task, t->model, t->ctx, perm, lo, cnt, &loss, &right);
            if (st == GM_OK && !isfinite((double)loss->data[0]))
                st = gm_error_set(GM_ERR_NUMERIC, "non-finite loss at epoch %lld step %lld",
                                  (long long)epoch, (long long)(s + 1));
            if (st == GM_OK) st = gm_ctx_backward(t->ctx, loss);
            if (st == GM_OK) l = (double)loss->data[0];
        }
        if (nranks > 1) {
            st = gm_dist_agree(st);
            if (st == GM_OK) st = reduce_step(t, cnt, b, l, &l, &right);
        }
        if (st == GM_OK && o->clip_norm > 0.0) {
            double norm = 0.0;
            st = gm_clip_grad_norm(t->nparams, t->params, o->clip_norm, &norm);
            if (st == GM_ERR_NUMERIC)
                st = gm_error_set(GM_ERR_NUMERIC,
                                  "non-finite gradient norm at epoch %lld step %lld",
                                  (long long)epoch, (long long)(s + 1));
        }
        if (st == GM_OK && per_step)
            st = gm_optim_set_lr(t->optim,
                                 gm_lr_sched_lr_at_step(&t->sched, (epoch - 1) * steps + s, steps));
        if (st == GM_OK) st = gm_optim_step(t->optim);
        gm__failpoint("train.step");
        if (st == GM_OK) {
            loss_sum += l * (double)b;
            correct += right;
            if (o->on_step && o->progress_every > 0 &&
                ((s + 1) % o->progress_every == 0 || s + 1 == steps))
                o->on_step(epoch, s + 1, steps, l, o->user);
        }
        gm_ctx_reset(t->ctx);
    }
    if (st == GM_OK && nranks > 1) st = gm_dist_agree(sync_buffers(t));
    task->summary(task, loss_sum, correct, loss_out, acc_out);
    return st;
}

gm_status gm__trainer_fit_task(gm_trainer *t, const gm__fit_task *task, gm_fit_result *out) {
    GM_RETURN_ERROR_IF(task->n < 1, GM_ERR_INVALID_ARG, "fit: the training set is empty");
    if (gm_dist_size() > 1) {
        gm_status ok = GM_OK;
        if (t->opt.batch_size < gm_dist_size())
            ok = gm_error_set(GM_ERR_INVALID_ARG, "the batch size %lld is smaller than the %d "
                              "ranks of this data-parallel run: every rank needs a sample of "
                              "every batch (raise data.batch_size or run fewer ranks)",
                              (long long)t->opt.batch_size, gm_dist_size());
        GM_FORWARD_IF_ERROR(gm_dist_agree(ok));
    }
    int64_t *perm = gm_malloc_array((size_t)task->n, sizeof *perm);
    if (!perm) return gm__nomem("epoch permutation");
    const int64_t steps = (task->n + t->opt.batch_size - 1) / t->opt.batch_size;
    gm__metric_log log;
    gm_status st = reconcile_outputs(t);
    if (st == GM_OK)
        st = gm__metric_log_open(&log, t->opt.metrics_jsonl, t->opt.metrics_csv,
                                 t->opt.resume_path != NULL || t->epoch > 0);
    if (gm_dist_size() > 1) {
        /* rank 0 alone has files to open */
        const gm_status mine = st;
        st = gm_dist_agree(st);
        if (mine == GM_OK && st != GM_OK) gm__metric_log_close(&log);
    }
    if (st != GM_OK) {
        gm_free(perm);
        return st;
    }
    while (st == GM_OK && t->epoch < t->opt.epochs && !t->stopped_early) {
        const int64_t epoch = t->epoch + 1;
        gm_epoch_record rec = {.epoch = epoch, .lr = gm_optim_lr(t->optim)};
        if (gm_lr_sched_per_step(&t->sched))
            rec.lr = gm_lr_sched_lr_at_step(&t->sched, (epoch - 1) * steps, steps);
        const double t0 = gm__now_seconds();
        st = train_epoch(t, task, epoch, perm, &rec.train_loss, &rec.train_accuracy);
        if (st != GM_OK) break;
        double monitored = rec.train_loss, monitored_acc = rec.train_accuracy;
        rec.val_loss = rec.val_accuracy = NAN;
        if (task->have_val) {
            st = task->validate(task, t->model, t->opt.batch_size, &rec.val_loss,
                                &rec.val_accuracy);
            if (st != GM_OK) break;
            monitored = rec.val_loss;
            monitored_acc = rec.val_accuracy;
        }
        rec.seconds = gm__now_seconds() - t0;
        rec.samples_per_second = rec.seconds > 0.0 ? (double)task->n / rec.seconds : 0.0;
        st = gm_lr_sched_step(&t->sched, monitored, t->optim);
        if (st != GM_OK) break;
        if (better(t, monitored, monitored_acc) || !t->have_best) {
            if (finite_score(t, monitored, monitored_acc) || !t->have_best) {
                rec.best = finite_score(t, monitored, monitored_acc);
                for (int64_t i = 0; i < t->nparams; i++)
                    memcpy(t->best[i], t->params[i]->data,
                           (size_t)t->params[i]->numel * sizeof(gm_real));
                t->have_best = true;
                t->best_epoch = epoch;
                t->best_val_loss = monitored;
                t->best_val_acc = monitored_acc;
            }
        }
        if (t->es_on && gm_early_stop_update(&t->es, monitored)) t->stopped_early = true;
        st = push_record(t, &rec);
        if (st != GM_OK) break;
        t->epoch = epoch;
        /* The checkpoint first: what follows can be rebuilt from it (see
         * reconcile_outputs), so a crash anywhere leaves a resumable run
         * whose logs never run ahead of its checkpoint. */
        if (t->opt.checkpoint_path) st = checkpoint_write(t, t->opt.checkpoint_path);
        gm__failpoint("train.checkpoint");
        if (st == GM_OK && rec.best && t->opt.best_path) st = save_best(t, &rec);
        gm__failpoint("train.best");
        if (st == GM_OK) st = gm__metric_log_write(&log, &rec);
        if (st == GM_OK && t->opt.on_epoch) st = t->opt.on_epoch(&rec, t->opt.user);
        /* the writes are rank 0's: the others wait for their outcome */
        if (gm_dist_size() > 1) st = gm_dist_agree(st);
        out->epochs_run++;
    }
    gm__metric_log_close(&log);
    gm_free(perm);
    out->best_epoch = t->best_epoch;
    out->best_val_loss = t->best_val_loss;
    out->best_val_accuracy = t->best_val_acc;
    out->stopped_early = t->stopped_early;
    return st;
}

/* --- classification ---------------------------------------------------------- */

static gm_status xent_batch(const gm__fit_task *task, gm_model *m, gm_ctx *ctx,
                            const int64_t *order, int64_t start, int64_t b, gm_tensor **loss,
                            int64_t *correct) {
    const gm_dataset *d = task->train;
    const int64_t k = gm_model_description(m)->out_dim;
    gm_tensor *x = NULL, *logits = NULL;
    int32_t *labels = NULL;
    GM_FORWARD_IF_ERROR(gm__batch_make_augmented(ctx, d, order, start, b, task->augment,
                                                 task->augment_rng, &x, &labels));
    GM_FORWARD_IF_ERROR(gm_model_forward(m, ctx, x, &logits));
    GM_FORWARD_IF_ERROR(gm_op_softmax_xent_smooth(ctx, logits, labels, task->label_smoothing,
                                                  loss));
    for (int64_t i = 0; i < b; i++) *correct += gm__argmax_row(logits->data + i * k, k) == labels[i];
    return GM_OK;
}

static void xent_summary(const gm__fit_task *task, double loss_sum, int64_t correct,
                         double *loss, double *accuracy) {
    const int64_t n = task->n;
    *loss = n ? loss_sum / (double)n : NAN;
    *accuracy = n ? 100.0 * (double)correct / (double)n : NAN;
}

/* Data-parallel validation: each rank evaluates a contiguous shard of the
 * set, and the summed losses and correct counts make the metrics. */
static gm_status xent_validate_shards(const gm_dataset *d, gm_model *m, int64_t batch_size,
                                      double *loss, double *accuracy) {
    const int nranks = gm_dist_size(), rank = gm_dist_rank();
    const int64_t lo = d->n * rank / nranks, hi = d->n * (rank + 1) / nranks;
    double sums[2] = {0.0, 0.0};
    gm_status st = GM_OK;
    if (hi > lo) {
        gm_dataset view = *d;
        const int64_t per = gm__dataset_sample_size(d);
        view.n = hi - lo;
        view.x = d->x + lo * per;
        view.y = d->y + lo;
        gm_metrics vm;
        st = gm_evaluate(m, &view, batch_size, &vm);
        if (st == GM_OK) {
            sums[0] = vm.loss * (double)view.n;
            for (int64_t c = 0; c < vm.classes; c++)
                sums[1] += (double)vm.confusion[c * vm.classes + c];
            gm_metrics_free(&vm);
        }
    }
    GM_FORWARD_IF_ERROR(gm_dist_agree(st));
    GM_FORWARD_IF_ERROR(gm_dist_allreduce_sum_f64(sums, 2));
    *loss = sums[0] / (double)d->n;
    *accuracy = 100.0 * sums[1] / (double)d->n;
    return GM_OK;
}

static gm_status xent_validate(const gm__fit_task *task, gm_model *m, int64_t batch_size,
                               double *loss, double *accuracy) {
    if (gm_dist_size() > 1) return xent_validate_shards(task->val, m, batch_size, loss, accuracy);
    gm_metrics vm;
    GM_FORWARD_IF_ERROR(gm_evaluate(m, task->val, batch_size, &vm));
    *loss = vm.loss;
    *accuracy = vm.accuracy;
    gm_metrics_free(&vm);
    return GM_OK;
}

gm_status gm_trainer_fit(gm_trainer *t, const gm_dataset *train, const gm_dataset *val,
                         gm_fit_result *out) {
    GM_RETURN_ERROR_IF(!t || !train || !out, GM_ERR_INVALID_ARG,
                       "gm_trainer_fit: trainer, train and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF(train->n < 1, GM_ERR_INVALID_ARG, "fit: the training set is empty");
    const gm_model_desc *desc = gm_model_description(t->model);
    GM_RETURN_ERROR_IF(train->classes > desc->out_dim ||
                           (val && val->classes > desc->out_dim),
                       GM_ERR_SHAPE, "fit: the data have %lld classes but the model %lld outputs",
                       (long long)train->classes, (long long)desc->out_dim);
    GM_FORWARD_IF_ERROR(gm_augment_check(&t->opt.augment, train->height, train->width));
    const bool augment = gm_augment_enabled(&t->opt.augment);
    const gm__fit_task task = {
        .n = train->n,
        .have_val = val && val->n > 0,
        .batch_loss = xent_batch,
        .summary = xent_summary,
        .validate = xent_validate,
        .train = train,
        .val = val,
        .augment = augment ? &t->opt.augment : NULL,
        .augment_rng = augment ? &t->augment_rng : NULL,
        .label_smoothing = t->opt.label_smoothing,
    };
    return gm__trainer_fit_task(t, &task, out);
}
