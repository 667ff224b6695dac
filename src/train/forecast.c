/* Autoregressive forecasting: the rollout loss as a training task of the
 * trainer's loop, rollout evaluation (RMSE of the reference protocol), single-window
 * predictions and the run report. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/dist.h"
#include "gmcnn/forecast.h"
#include "train/train_internal.h"

static const char *gm__fc_kind_name(gm_model_kind k) {
    static const char *const names[] = {"gmcnn", "plume", "deep", "cnn", "mlp"};
    return (int)k >= 0 && (int)k < 5 ? names[k] : "?";
}

gm_status gm_forecast_check_model(const gm_model *m, const gm_forecast_set *s) {
    GM_RETURN_ERROR_IF(!m || !s || !s->data, GM_ERR_INVALID_ARG,
                       "gm_forecast_check_model: model and set are required");
    const gm_model_desc *d = gm_model_description(m);
    const bool regressor =
        d->kind == GM_MODEL_PLUME ||
        ((d->kind == GM_MODEL_CNN || d->kind == GM_MODEL_MLP) && d->regressor);
    GM_RETURN_ERROR_IF(!regressor, GM_ERR_SHAPE,
                       "model: a %s classifier cannot forecast frames; use a regressor (kind "
                       "plume, or cnn/mlp with regressor: true)",
                       gm__fc_kind_name(d->kind));
    const int64_t channels = 2 * s->input_frames;
    GM_RETURN_ERROR_IF(d->in_channels != channels, GM_ERR_SHAPE,
                       "model: in_channels is %lld but the inputs are %lld frames x 2 = %lld "
                       "channels", (long long)d->in_channels, (long long)s->input_frames,
                       (long long)channels);
    GM_RETURN_ERROR_IF(d->out_dim != 2, GM_ERR_SHAPE,
                       "model: out_dim is %lld but a velocity frame has 2 channels",
                       (long long)d->out_dim);
    const gm_group *g = gm_model_group(m);
    const int64_t hw = s->data->height * s->data->width;
    const int64_t n = g ? gm_group_order(g) : d->image_h * d->image_w;
    if (n != hw) {
        if (g)
            return gm_error_set(GM_ERR_SHAPE, "model: group %s has order %lld but the frames are "
                                "%lldx%lld (%lld cells)", gm_group_name(g), (long long)n,
                                (long long)s->data->height, (long long)s->data->width,
                                (long long)hw);
        return gm_error_set(GM_ERR_SHAPE, "model: image %lldx%lld but the frames are %lldx%lld",
                            (long long)d->image_h, (long long)d->image_w,
                            (long long)s->data->height, (long long)s->data->width);
    }
    return GM_OK;
}

/* --- rollouts on the tape (training) -------------------------------------------------- */

/* x (b, 2F, n) and the targets (b, 2, n) of every step of the windows
 * order[start, start+b) (start.. when order is NULL), in the ctx's arena. */
static gm_status gm__fc_batch_make(gm_ctx *ctx, const gm_forecast_set *s, const int64_t *order,
                                   int64_t start, int64_t b, gm_tensor **x, gm_tensor **targets) {
    gm_arena *arena = gm_ctx_arena(ctx);
    const gm_plume_data *d = s->data;
    const int64_t n = d->height * d->width, plane = 2 * n, c = 2 * s->input_frames;
    GM_FORWARD_IF_ERROR(gm_tensor_new3(arena, b, c, n, x));
    for (int64_t t = 0; t < s->steps; t++)
        GM_FORWARD_IF_ERROR(gm_tensor_new3(arena, b, 2, n, &targets[t]));
    for (int64_t i = 0; i < b; i++) {
        const int64_t w = order ? order[start + i] : start + i;
        const int64_t first = s->start[w] + s->input_offset;
        const float *src = gm_plume_data_frame(d, s->sim[w], first);
        gm_real *dst = (*x)->data + i * c * n;
        for (int64_t j = 0; j < c * n; j++) dst[j] = (gm_real)src[j];
        for (int64_t t = 0; t < s->steps; t++) {
            const float *tg = gm_plume_data_frame(d, s->sim[w], first + s->input_frames + t);
            gm_real *td = targets[t]->data + i * plane;
            for (int64_t j = 0; j < plane; j++) td[j] = (gm_real)tg[j];
        }
    }
    return GM_OK;
}

static gm_status gm__fc_output_check(const gm_tensor *pred, const gm_tensor *x) {
    if (pred->ndim == 3 && pred->shape[0] == x->shape[0] && pred->shape[1] == 2 &&
        pred->shape[2] == x->shape[2])
        return GM_OK;
    char got[96];
    gm_tensor_shape_str(pred, got, sizeof got);
    return gm_error_set(GM_ERR_SHAPE, "model output has shape %s, expected (%lld, 2, %lld)", got,
                        (long long)x->shape[0], (long long)x->shape[2]);
}

/* The next input: x without its oldest frame (2 channels), the prediction appended. */
static gm_status gm__fc_shift(gm_ctx *ctx, gm_tensor *x, gm_tensor *pred, gm_tensor **next) {
    const int64_t c = x->shape[1];
    if (c == 2) {
        *next = pred;
        return GM_OK;
    }
    gm_tensor *keep = NULL;
    GM_FORWARD_IF_ERROR(gm_op_slice(ctx, x, 2, c - 2, &keep));
    return gm_op_concat(ctx, keep, pred, next);
}

/* loss = sum over the steps of MSE(pred_t, target_t), feeding predictions back. */
static gm_status gm__fc_rollout_loss(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **targets,
                                     int64_t steps, gm_tensor **loss) {
    gm_tensor *total = NULL;
    for (int64_t t = 0; t < steps; t++) {
        gm_tensor *pred = NULL, *l = NULL;
        GM_FORWARD_IF_ERROR(gm_model_forward(m, ctx, x, &pred));
        GM_FORWARD_IF_ERROR(gm__fc_output_check(pred, x));
        GM_FORWARD_IF_ERROR(gm_op_mse(ctx, pred, targets[t], &l));
        if (total) GM_FORWARD_IF_ERROR(gm_op_add(ctx, total, l, &l));
        total = l;
        if (t + 1 < steps) GM_FORWARD_IF_ERROR(gm__fc_shift(ctx, x, pred, &x));
    }
    *loss = total;
    return GM_OK;
}

/* --- rollouts without a tape (evaluation) ------------------------------------------------ */

/* Rolls the windows order[start, start+b) (start.. when order is NULL) out
 * for s->steps steps and adds, for every step t, the sum over the windows of
 * MSE_t to step_sum[t]. xbuf holds b inputs. With pred (b = 1), the
 * predicted frames are copied there. The ctx is reset before every step, so
 * the arena holds one step at a time. */
static gm_status gm__fc_eval_batch(gm_model *m, gm_ctx *ctx, const gm_forecast_set *s,
                                   int64_t start, int64_t b, gm_real *xbuf, double *step_sum,
                                   float *pred_out) {
    const gm_plume_data *d = s->data;
    const int64_t n = d->height * d->width, plane = 2 * n, c = 2 * s->input_frames;
    for (int64_t i = 0; i < b; i++) {
        const int64_t w = start + i;
        const float *src = gm_plume_data_frame(d, s->sim[w], s->start[w] + s->input_offset);
        for (int64_t j = 0; j < c * n; j++) xbuf[i * c * n + j] = (gm_real)src[j];
    }
    gm_status st = GM_OK;
    for (int64_t t = 0; t < s->steps && st == GM_OK; t++) {
        gm_ctx_reset(ctx);
        gm_tensor *x = NULL, *pred = NULL;
        st = gm_tensor_new3(gm_ctx_arena(ctx), b, c, n, &x);
        if (st == GM_OK) {
            memcpy(x->data, xbuf, (size_t)(b * c * n) * sizeof *xbuf);
            st = gm_model_forward(m, ctx, x, &pred);
        }
        if (st == GM_OK) st = gm__fc_output_check(pred, x);
        if (st != GM_OK) break;
        for (int64_t i = 0; i < b; i++) {
            const int64_t w = start + i;
            const float *tg = gm_plume_data_frame(
                d, s->sim[w], s->start[w] + s->input_offset + s->input_frames + t);
            const gm_real *p = pred->data + i * plane;
            double se = 0.0;
            for (int64_t j = 0; j < plane; j++) {
                const double e = (double)p[j] - (double)tg[j];
                se += e * e;
            }
            step_sum[t] += se / (double)plane;
            gm_real *xi = xbuf + i * c * n;
            memmove(xi, xi + plane, (size_t)((c - 2) * n) * sizeof *xi);
            memcpy(xi + (c - 2) * n, p, (size_t)plane * sizeof *xi);
        }
        if (pred_out)
            for (int64_t j = 0; j < plane; j++) pred_out[t * plane + j] = (float)pred->data[j];
    }
    gm_ctx_reset(ctx);
    return st;
}

void gm_forecast_metrics_free(gm_forecast_metrics *m) {
    if (!m) return;
    gm_free(m->step_rmse);
    memset(m, 0, sizeof *m);
}

static gm_status gm__fc_eval_ctx(gm_ctx **ctx) {
    GM_FORWARD_IF_ERROR(gm_ctx_new(0, 0, ctx));
    gm_ctx_set_grad(*ctx, false);
    gm_ctx_set_training(*ctx, false);
    return GM_OK;
}

gm_status gm_forecast_evaluate(gm_model *m, const gm_forecast_set *s, int64_t batch_size,
                               gm_forecast_metrics *out) {
    GM_RETURN_ERROR_IF(!m || !s || !out, GM_ERR_INVALID_ARG,
                       "gm_forecast_evaluate: model, set and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF(batch_size < 1, GM_ERR_INVALID_ARG,
                       "gm_forecast_evaluate: batch size %lld must be >= 1",
                       (long long)batch_size);
    GM_RETURN_ERROR_IF(s->n < 1, GM_ERR_INVALID_ARG, "forecast evaluation: the set is empty");
    GM_FORWARD_IF_ERROR(gm_forecast_check_model(m, s));
    const int64_t bs = batch_size < s->n ? batch_size : s->n;
    const int64_t per = 2 * s->input_frames * s->data->height * s->data->width;
    double *sum = gm_calloc((size_t)s->steps, sizeof *sum);
    gm_real *xbuf = gm_malloc_array((size_t)(bs * per), sizeof *xbuf);
    out->step_rmse = gm_malloc_array((size_t)s->steps, sizeof *out->step_rmse);
    gm_ctx *ctx = NULL;
    gm_status st = !sum || !xbuf || !out->step_rmse ? gm__nomem("forecast evaluation") : GM_OK;
    if (st == GM_OK) st = gm__fc_eval_ctx(&ctx);
    for (int64_t start = 0; start < s->n && st == GM_OK; start += bs) {
        const int64_t b = s->n - start < bs ? s->n - start : bs;
        st = gm__fc_eval_batch(m, ctx, s, start, b, xbuf, sum, NULL);
    }
    if (st == GM_OK) {
        double total = 0.0;
        for (int64_t t = 0; t < s->steps; t++) {
            out->step_rmse[t] = sqrt(sum[t] / (double)s->n);
            total += sum[t];
        }
        out->n = s->n;
        out->steps = s->steps;
        out->rmse = sqrt(total / (double)s->steps / (double)s->n);
    }
    gm_ctx_free(ctx);
    gm_free(xbuf);
    gm_free(sum);
    if (st != GM_OK) gm_forecast_metrics_free(out);
    return st;
}

gm_status gm_forecast_predict(gm_model *m, const gm_forecast_set *s, int64_t i, float *pred,
                              double *step_mse) {
    GM_RETURN_ERROR_IF(!m || !s || !pred, GM_ERR_INVALID_ARG,
                       "gm_forecast_predict: model, set and pred are required");
    GM_RETURN_ERROR_IF(i < 0 || i >= s->n, GM_ERR_INVALID_ARG,
                       "gm_forecast_predict: window %lld is outside 0..%lld", (long long)i,
                       (long long)(s->n - 1));
    GM_FORWARD_IF_ERROR(gm_forecast_check_model(m, s));
    const int64_t per = 2 * s->input_frames * s->data->height * s->data->width;
    double *sum = gm_calloc((size_t)s->steps, sizeof *sum);
    gm_real *xbuf = gm_malloc_array((size_t)per, sizeof *xbuf);
    gm_ctx *ctx = NULL;
    gm_status st = !sum || !xbuf ? gm__nomem("forecast rollout") : GM_OK;
    if (st == GM_OK) st = gm__fc_eval_ctx(&ctx);
    if (st == GM_OK) st = gm__fc_eval_batch(m, ctx, s, i, 1, xbuf, sum, pred);
    if (st == GM_OK && step_mse) memcpy(step_mse, sum, (size_t)s->steps * sizeof *sum);
    gm_ctx_free(ctx);
    gm_free(xbuf);
    gm_free(sum);
    return st;
}

/* --- training ------------------------------------------------------------------------------- */

gm_status gm__forecast_batch_loss(gm_model *m, gm_ctx *ctx, const gm_forecast_set *s,
                                  const int64_t *order, int64_t start, int64_t b,
                                  gm_tensor **loss) {
    gm_tensor *x = NULL, **targets = gm_arena_alloc(gm_ctx_arena(ctx),
                                                    (size_t)s->steps * sizeof *targets);
    if (!targets) return gm__nomem("forecast batch");
    GM_FORWARD_IF_ERROR(gm__fc_batch_make(ctx, s, order, start, b, &x, targets));
    return gm__fc_rollout_loss(m, ctx, x, targets, s->steps, loss);
}

static gm_status gm__fc_task_batch(const gm__fit_task *task, gm_model *m, gm_ctx *ctx,
                                   const int64_t *order, int64_t start, int64_t b,
                                   gm_tensor **loss, int64_t *correct) {
    (void)correct;
    return gm__forecast_batch_loss(m, ctx, task->train, order, start, b, loss);
}

/* The training RMSE: the summed step MSEs are averaged over samples and steps. */
static void gm__fc_task_summary(const gm__fit_task *task, double loss_sum, int64_t correct,
                                double *loss, double *accuracy) {
    (void)correct;
    const gm_forecast_set *s = task->train;
    *loss = task->n ? sqrt(loss_sum / (double)task->n / (double)s->steps) : NAN;
    *accuracy = NAN;
}

/* Data-parallel validation: each rank rolls out a contiguous shard of the
 * windows, and the per-step squared errors summed over every rank make the
 * RMSE of the whole set. */
static gm_status gm__fc_validate_shards(gm_model *m, const gm_forecast_set *val,
                                        int64_t batch_size, double *rmse) {
    const int nranks = gm_dist_size(), rank = gm_dist_rank();
    const int64_t lo = val->n * rank / nranks, hi = val->n * (rank + 1) / nranks;
    double *sum = gm_calloc((size_t)val->steps, sizeof *sum);
    gm_status st = sum ? GM_OK : gm__nomem("forecast validation");
    if (st == GM_OK && hi > lo) {
        gm_forecast_set shard = *val;
        shard.n = hi - lo;
        shard.sim += lo;
        shard.start += lo;
        gm_forecast_metrics fm;
        st = gm_forecast_evaluate(m, &shard, batch_size, &fm);
        if (st == GM_OK) {
            for (int64_t t = 0; t < val->steps; t++)
                sum[t] = fm.step_rmse[t] * fm.step_rmse[t] * (double)shard.n;
            gm_forecast_metrics_free(&fm);
        }
    }
    st = gm_dist_agree(st);
    if (st == GM_OK) st = gm_dist_allreduce_sum_f64(sum, val->steps);
    if (st == GM_OK) {
        double total = 0.0;
        for (int64_t t = 0; t < val->steps; t++) total += sum[t];
        *rmse = sqrt(total / (double)val->steps / (double)val->n);
    }
    gm_free(sum);
    return st;
}

static gm_status gm__fc_task_validate(const gm__fit_task *task, gm_model *m, int64_t batch_size,
                                      double *loss, double *accuracy) {
    *accuracy = NAN;
    if (gm_dist_size() > 1) return gm__fc_validate_shards(m, task->val, batch_size, loss);
    gm_forecast_metrics fm;
    GM_FORWARD_IF_ERROR(gm_forecast_evaluate(m, task->val, batch_size, &fm));
    *loss = fm.rmse;
    gm_forecast_metrics_free(&fm);
    return GM_OK;
}

gm_status gm_trainer_fit_forecast(gm_trainer *t, const gm_forecast_set *train,
                                  const gm_forecast_set *val, gm_fit_result *out) {
    GM_RETURN_ERROR_IF(!t || !train || !out, GM_ERR_INVALID_ARG,
                       "gm_trainer_fit_forecast: trainer, train and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF(train->n < 1, GM_ERR_INVALID_ARG, "fit: the training set is empty");
    const gm_fit_options *o = gm__trainer_options(t);
    GM_RETURN_ERROR_IF(gm_augment_enabled(&o->augment) || o->label_smoothing != 0.0 ||
                           o->select != GM_SELECT_VAL_LOSS,
                       GM_ERR_INVALID_ARG,
                       "fit: augmentation, label smoothing and accuracy selection apply to "
                       "classification, not to forecasting");
    gm_model *m = gm__trainer_model(t);
    GM_FORWARD_IF_ERROR(gm_forecast_check_model(m, train));
    const bool have_val = val && val->n > 0;
    if (have_val) {
        GM_FORWARD_IF_ERROR(gm_forecast_check_model(m, val));
        GM_RETURN_ERROR_IF(val->input_frames != train->input_frames, GM_ERR_INVALID_ARG,
                           "fit: validation windows have %lld input frames, training windows "
                           "%lld", (long long)val->input_frames, (long long)train->input_frames);
    }
    const gm__fit_task task = {
        .n = train->n,
        .have_val = have_val,
        .batch_loss = gm__fc_task_batch,
        .summary = gm__fc_task_summary,
        .validate = gm__fc_task_validate,
        .train = train,
        .val = val,
    };
    return gm__trainer_fit_task(t, &task, out);
}

/* --- the report ------------------------------------------------------------------------------ */

gm_status gm_forecast_report_write(const char *path, const gm_forecast_report *r) {
    GM_RETURN_ERROR_IF(!path || !r, GM_ERR_INVALID_ARG,
                       "gm_forecast_report_write: path and report are required");
    const size_t cap = 4096 + 2 * (r->model ? strlen(r->model) : 0) +
                       2 * (r->data ? strlen(r->data) : 0);
    char *buf = gm_malloc(cap);
    if (!buf) return gm__nomem("report");
    size_t len = (size_t)snprintf(buf, cap, "{\n");
    len += gm__report_put_str(buf + len, cap - len, "model", r->model);
    len += gm__report_put_str(buf + len, cap - len, "data", r->data);
    len += gm__report_put_num(buf + len, cap - len, "rmse_future", r->rmse_future);
    len += gm__report_put_num(buf + len, cap - len, "rmse_domain", r->rmse_domain);
    len += gm__report_put_num(buf + len, cap - len, "rmse_future_last", r->rmse_future_last);
    len += gm__report_put_num(buf + len, cap - len, "rmse_domain_last", r->rmse_domain_last);
    len += (size_t)snprintf(buf + len, cap - len,
                            "  \"n_future\": %lld,\n  \"n_domain\": %lld,\n  \"params\": %lld,\n"
                            "  \"epochs\": %lld,\n  \"best_epoch\": %lld,\n",
                            (long long)r->n_future, (long long)r->n_domain, (long long)r->params,
                            (long long)r->epochs, (long long)r->best_epoch);
    char num[GM__FMT_REAL_MAX];
    len += (size_t)snprintf(buf + len, cap - len, "  \"seconds\": %s\n}\n",
                            isfinite(r->seconds) ? gm__fmt_real(r->seconds, num) : "null");
    GM_ASSERT(len < cap);
    const gm_status st = gm__report_write(path, buf, len);
    gm_free(buf);
    return st;
}
