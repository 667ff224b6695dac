/* Evaluation of a classifier: loss, accuracy and the confusion matrix. */
#include <math.h>
#include <string.h>

#include "core/core_internal.h"
#include "train/train_internal.h"

void gm_metrics_free(gm_metrics *m) {
    if (!m) return;
    gm_free(m->confusion);
    memset(m, 0, sizeof *m);
}

double gm_metrics_class_accuracy(const gm_metrics *m, int64_t c) {
    if (!m || !m->confusion || c < 0 || c >= m->classes) return NAN;
    int64_t total = 0;
    for (int64_t j = 0; j < m->classes; j++) total += m->confusion[c * m->classes + j];
    if (total == 0) return NAN;
    return 100.0 * (double)m->confusion[c * m->classes + c] / (double)total;
}

gm_status gm__batch_make(gm_ctx *ctx, const gm_dataset *d, const int64_t *order, int64_t start,
                         int64_t b, gm_tensor **x, int32_t **labels) {
    return gm__batch_make_augmented(ctx, d, order, start, b, NULL, NULL, x, labels);
}

gm_status gm__batch_make_augmented(gm_ctx *ctx, const gm_dataset *d, const int64_t *order,
                                   int64_t start, int64_t b, const gm_augment *aug, gm_rng *rng,
                                   gm_tensor **x, int32_t **labels) {
    gm_arena *arena = gm_ctx_arena(ctx);
    const int64_t per = gm__dataset_sample_size(d), hw = d->height * d->width;
    const bool augment = gm_augment_enabled(aug);
    GM_FORWARD_IF_ERROR(gm_tensor_new3(arena, b, d->channels, hw, x));
    *labels = gm_arena_alloc(arena, (size_t)b * sizeof **labels);
    if (!*labels) return gm__nomem("batch labels");
    /* The transformed sample and one plane of scratch, from the step arena:
     * reused step after step without the allocator. */
    float *img = NULL, *scratch = NULL;
    if (augment) {
        img = gm_arena_alloc(arena, (size_t)per * sizeof *img);
        scratch = gm_arena_alloc(arena, (size_t)hw * sizeof *scratch);
        if (!img || !scratch) return gm__nomem("augmentation buffers");
    }
    for (int64_t i = 0; i < b; i++) {
        const int64_t s = order ? order[start + i] : start + i;
        const float *src = d->x + s * per;
        if (augment) {
            const gm_augment_draw draw = gm_augment_sample(aug, rng);
            gm_augment_apply(&draw, d->channels, d->height, d->width, src, img, scratch);
            src = img;
        }
        gm_real *dst = (*x)->data + i * per;
        for (int64_t j = 0; j < per; j++) dst[j] = (gm_real)src[j];
        (*labels)[i] = d->y[s];
    }
    if (augment) {
        gm_arena_release(arena, scratch, (size_t)hw * sizeof *scratch);
        gm_arena_release(arena, img, (size_t)per * sizeof *img);
    }
    return GM_OK;
}

int64_t gm__argmax_row(const gm_real *row, int64_t k) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

gm_status gm_evaluate(gm_model *m, const gm_dataset *d, int64_t batch_size, gm_metrics *out) {
    GM_RETURN_ERROR_IF(!m || !d || !out, GM_ERR_INVALID_ARG,
                       "gm_evaluate: model, dataset and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF(batch_size < 1, GM_ERR_INVALID_ARG,
                       "gm_evaluate: batch size %lld must be >= 1", (long long)batch_size);
    const gm_model_desc *desc = gm_model_description(m);
    const int64_t k = desc->out_dim;
    GM_RETURN_ERROR_IF(d->classes > k, GM_ERR_SHAPE,
                       "evaluate: dataset has %lld classes but the model %lld outputs",
                       (long long)d->classes, (long long)k);
    out->classes = k;
    out->confusion = gm_calloc((size_t)(k * k), sizeof *out->confusion);
    if (!out->confusion) return gm__nomem("confusion matrix");
    gm_ctx *ctx = NULL;
    gm_status st = gm_ctx_new(0, 0, &ctx);
    if (st != GM_OK) {
        gm_metrics_free(out);
        return st;
    }
    gm_ctx_set_grad(ctx, false);
    gm_ctx_set_training(ctx, false);
    double loss_sum = 0.0;
    int64_t correct = 0;
    for (int64_t start = 0; start < d->n && st == GM_OK; start += batch_size) {
        const int64_t b = d->n - start < batch_size ? d->n - start : batch_size;
        gm_tensor *x = NULL, *logits = NULL, *loss = NULL;
        int32_t *labels = NULL;
        st = gm__batch_make(ctx, d, NULL, start, b, &x, &labels);
        if (st == GM_OK) st = gm_model_forward(m, ctx, x, &logits);
        if (st == GM_OK) st = gm_op_softmax_xent(ctx, logits, labels, &loss);
        if (st == GM_OK) {
            loss_sum += (double)loss->data[0] * (double)b;
            for (int64_t i = 0; i < b; i++) {
                const int64_t p = gm__argmax_row(logits->data + i * k, k);
                correct += p == labels[i];
                out->confusion[labels[i] * k + p]++;
            }
        }
        gm_ctx_reset(ctx);
    }
    gm_ctx_free(ctx);
    if (st != GM_OK) {
        gm_metrics_free(out);
        return st;
    }
    out->n = d->n;
    out->loss = d->n ? loss_sum / (double)d->n : NAN;
    out->accuracy = d->n ? 100.0 * (double)correct / (double)d->n : NAN;
    return GM_OK;
}
