/* Saved models at work: evaluation on labelled files or forecasting
 * windows, and class scores for prediction. */
#include <math.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/run.h"

gm_status gm_run_eval(const gm_saved_model *s, const char *images, const char *labels,
                      int64_t batch, gm_metrics *out) {
    GM_RETURN_ERROR_IF(!s || !s->model || !images || !labels || !out || batch < 0,
                       GM_ERR_INVALID_ARG, "gm_run_eval: NULL argument or negative batch");
    memset(out, 0, sizeof *out);
    gm_dataset d = {0};
    const int64_t classes = gm_model_description(s->model)->out_dim;
    gm_status st = gm_dataset_read_files(images, labels, classes, classes, &d);
    if (st == GM_OK) st = gm_saved_model_normalize(s, &d);
    if (st == GM_OK) st = gm_evaluate(s->model, &d, batch ? batch : 256, out);
    gm_dataset_free(&d);
    return st;
}

gm_status gm_run_eval_forecast(const gm_saved_model *s, const char *data_dir,
                               const gm_forecast_protocol *p, int64_t batch,
                               gm_forecast_metrics out[2]) {
    GM_RETURN_ERROR_IF(!s || !s->model || !data_dir || !out || batch < 0, GM_ERR_INVALID_ARG,
                       "gm_run_eval_forecast: NULL argument or negative batch");
    memset(out, 0, 2 * sizeof *out);
    if (!p) p = &s->forecast;
    gm_plume_data data = {0};
    gm_forecast_set sets[2] = {{0}};
    gm_status st = gm_plume_data_load(data_dir, &data);
    for (int k = 0; k < 2 && st == GM_OK; k++)
        st = gm_forecast_set_new(&data, p, k ? GM_FORECAST_DOMAIN : GM_FORECAST_FUTURE,
                                 &sets[k]);
    for (int k = 0; k < 2 && st == GM_OK; k++)
        st = gm_forecast_evaluate(s->model, &sets[k], batch ? batch : 32, &out[k]);
    for (int k = 0; k < 2; k++) {
        gm_forecast_set_free(&sets[k]);
        if (st != GM_OK) gm_forecast_metrics_free(&out[k]);
    }
    gm_plume_data_free(&data);
    return st;
}

gm_status gm_run_equivariance(const gm_saved_model *s, const gm_dataset *d, int64_t samples,
                              gm_equiv_report *out) {
    GM_RETURN_ERROR_IF(!s || !s->model || !d || !out || samples < 1, GM_ERR_INVALID_ARG,
                       "gm_run_equivariance: NULL argument or no samples");
    GM_RETURN_ERROR_IF(!gm_model_group(s->model), GM_ERR_UNSUPPORTED,
                       "the model has no group (a baseline): there is no equivariance to "
                       "measure");
    GM_RETURN_ERROR_IF(d->n == 0, GM_ERR_SHAPE, "gm_run_equivariance: no samples in the data");
    const int64_t n = d->n < samples ? d->n : samples;
    gm_ctx *ctx = NULL;
    gm_tensor *x = NULL;
    GM_FORWARD_IF_ERROR(gm_ctx_new(0, 0, &ctx));
    gm_status st = gm_tensor_new3(gm_ctx_arena(ctx), n, d->channels, d->height * d->width, &x);
    if (st == GM_OK) {
        for (int64_t j = 0; j < x->numel; j++) x->data[j] = (gm_real)d->x[j];
        st = gm_model_equivariance(s->model, ctx, x, out);
    }
    gm_ctx_free(ctx);
    return st;
}

void gm_predictions_free(gm_predictions *p) {
    if (!p) return;
    gm_free(p->logits);
    gm_free(p->prob);
    memset(p, 0, sizeof *p);
}

/* Softmax of one row of k logits, in double so that large logits do not
 * overflow. */
static void softmax(const double *z, int64_t k, double *p) {
    double mx = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < k; j++) mx = fmax(mx, z[j]);
    for (int64_t j = 0; j < k; j++) sum += p[j] = exp(z[j] - mx);
    for (int64_t j = 0; j < k; j++) p[j] /= sum;
}

/* Runs the model on samples [start, start + b) of d; their logits go to
 * out->logits. */
static gm_status predict_batch(gm_model *m, gm_ctx *ctx, const gm_dataset *d, int64_t start,
                               int64_t b, gm_predictions *out) {
    const int64_t per = d->channels * d->height * d->width, k = out->classes;
    gm_tensor *x = NULL, *logits = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new3(gm_ctx_arena(ctx), b, d->channels,
                                       d->height * d->width, &x));
    for (int64_t j = 0; j < b * per; j++) x->data[j] = (gm_real)d->x[start * per + j];
    GM_FORWARD_IF_ERROR(gm_model_forward(m, ctx, x, &logits));
    GM_RETURN_ERROR_IF(logits->ndim != 2 || logits->shape[1] != k, GM_ERR_UNSUPPORTED,
                       "predict: the model is not a classifier (its output is not (batch, "
                       "%lld))", (long long)k);
    for (int64_t j = 0; j < b * k; j++) out->logits[start * k + j] = (double)logits->data[j];
    return GM_OK;
}

struct gm_predictor {
    const gm_saved_model *saved;
    gm_ctx *ctx; /* kept between calls: its arena is reused, not given back */
};

gm_status gm_predictor_new(const gm_saved_model *s, gm_predictor **out) {
    GM_RETURN_ERROR_IF(!s || !s->model || !out, GM_ERR_INVALID_ARG,
                       "gm_predictor_new: NULL argument");
    *out = NULL;
    gm_predictor *p = gm_calloc(1, sizeof *p);
    if (!p) return gm__nomem("predictor");
    gm_status st = gm_ctx_new(0, 0, &p->ctx);
    if (st != GM_OK) {
        gm_free(p);
        return st;
    }
    gm_ctx_set_grad(p->ctx, false);
    gm_ctx_set_training(p->ctx, false);
    p->saved = s;
    *out = p;
    return GM_OK;
}

void gm_predictor_free(gm_predictor *p) {
    if (!p) return;
    gm_ctx_free(p->ctx);
    gm_free(p);
}

gm_status gm_predictor_run(gm_predictor *p, const gm_dataset *d, int64_t batch,
                           gm_predictions *out) {
    GM_RETURN_ERROR_IF(!p || !d || !out || batch < 0, GM_ERR_INVALID_ARG,
                       "gm_predictor_run: NULL argument or negative batch");
    memset(out, 0, sizeof *out);
    if (batch == 0) batch = 64;
    gm_model *m = p->saved->model;
    const int64_t k = gm_model_description(m)->out_dim;
    const size_t total = (size_t)(d->n > 0 ? d->n : 1) * (size_t)k;
    out->n = d->n;
    out->classes = k;
    out->logits = gm_malloc_array(total, sizeof *out->logits);
    out->prob = gm_malloc_array(total, sizeof *out->prob);
    gm_status st =
        out->logits && out->prob ? GM_OK : gm_error_set(GM_ERR_NOMEM, "predict: out of memory");
    for (int64_t start = 0; start < d->n && st == GM_OK; start += batch) {
        st = predict_batch(m, p->ctx, d, start, d->n - start < batch ? d->n - start : batch, out);
        gm_ctx_reset(p->ctx);
    }
    for (int64_t i = 0; i < d->n && st == GM_OK; i++)
        softmax(out->logits + i * k, k, out->prob + i * k);
    if (st != GM_OK) gm_predictions_free(out);
    return st;
}

gm_status gm_run_predict(const gm_saved_model *s, const gm_dataset *d, int64_t batch,
                         gm_predictions *out) {
    GM_RETURN_ERROR_IF(!s || !s->model || !d || !out || batch < 0, GM_ERR_INVALID_ARG,
                       "gm_run_predict: NULL argument or negative batch");
    memset(out, 0, sizeof *out);
    gm_predictor *p = NULL;
    GM_FORWARD_IF_ERROR(gm_predictor_new(s, &p));
    const gm_status st = gm_predictor_run(p, d, batch, out);
    gm_predictor_free(p);
    return st;
}

void gm_predictions_top(const gm_predictions *p, int64_t i, int64_t k, int64_t *order) {
    const double *row = p->prob + i * p->classes;
    if (k > p->classes) k = p->classes;
    for (int64_t t = 0; t < k; t++) {
        int64_t best = -1;
        for (int64_t j = 0; j < p->classes; j++) {
            bool taken = false;
            for (int64_t u = 0; u < t && !taken; u++) taken = order[u] == j;
            if (!taken && (best < 0 || row[j] > row[best])) best = j;
        }
        order[t] = best;
    }
}

size_t gm_run_sizeof(const char *type_name) {
#define GM__SIZEOF(t) {#t, sizeof(t)}
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        GM__SIZEOF(gm_run_options), GM__SIZEOF(gm_run_hooks),    GM__SIZEOF(gm_run_result),
        GM__SIZEOF(gm_epoch_record), GM__SIZEOF(gm_dataset),     GM__SIZEOF(gm_metrics),
        GM__SIZEOF(gm_predictions), GM__SIZEOF(gm_saved_model), GM__SIZEOF(gm_forecast_protocol),
        GM__SIZEOF(gm_equiv_report), GM__SIZEOF(gm_tensor),
    };
#undef GM__SIZEOF
    for (size_t i = 0; type_name && i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(sizes[i].name, type_name)) return sizes[i].size;
    return 0;
}
