/* Private helpers of the train module. */
#ifndef GMCNN_TRAIN_INTERNAL_H
#define GMCNN_TRAIN_INTERNAL_H

#include <stdio.h>

#include "gmcnn/forecast.h"
#include "gmcnn/train.h"

/* Values per sample (C * H * W). */
int64_t gm__dataset_sample_size(const gm_dataset *d);

/* Fisher-Yates permutation of 0..n-1 from rng into perm. */
void gm__shuffle_indices(gm_rng *rng, int64_t n, int64_t *perm);

/* The batch of samples order[start, start+b) (start.. when order is NULL)
 * as a (b, C, H*W) tensor in the ctx's step arena, labels next to it. */
gm_status gm__batch_make(gm_ctx *ctx, const gm_dataset *d, const int64_t *order, int64_t start,
                         int64_t b, gm_tensor **x, int32_t **labels);
/* As gm__batch_make, each sample first transformed by one draw of aug from
 * rng (gm_augment_sample, in batch order); aug NULL or disabled: no draws. */
gm_status gm__batch_make_augmented(gm_ctx *ctx, const gm_dataset *d, const int64_t *order,
                                   int64_t start, int64_t b, const gm_augment *aug, gm_rng *rng,
                                   gm_tensor **x, int32_t **labels);
/* Index of the largest of row[0..k); the first maximum wins, as torch.argmax. */
int64_t gm__argmax_row(const gm_real *row, int64_t k);

/* Metric logs: one JSON object per line and a CSV table, both flushed after
 * every record. `append` keeps what the file holds (a resumed run). */
typedef struct gm__metric_log {
    FILE *jsonl;
    FILE *csv;
} gm__metric_log;

gm_status gm__metric_log_open(gm__metric_log *log, const char *jsonl_path, const char *csv_path,
                              bool append);
gm_status gm__metric_log_write(gm__metric_log *log, const gm_epoch_record *rec);
/* One record as its metrics.jsonl line (newline included) into buf, which
 * holds GM__METRIC_LINE_MAX bytes; returns its length. */
#define GM__METRIC_LINE_MAX 512
size_t gm__metric_jsonl_line(const gm_epoch_record *rec, char *buf, size_t cap);
/* Replaces both logs (either path may be NULL) atomically by the records. */
gm_status gm__metric_log_rewrite(const char *jsonl_path, const char *csv_path, int64_t n,
                                 const gm_epoch_record *recs);
void gm__metric_log_close(gm__metric_log *log);

/* results.json pieces: one `  "key": value,` line into buf (cap bytes left;
 * NaN and NULL as null, reals by gm__fmt_real, strings printable ASCII), returning
 * its length; and the atomic write of a finished text. */
size_t gm__report_put_num(char *buf, size_t cap, const char *key, double v);
size_t gm__report_put_str(char *buf, size_t cap, const char *key, const char *v);
gm_status gm__report_write(const char *path, const char *text, size_t len);

/* Wall-clock seconds from a monotone-enough clock (for throughput only). */
double gm__now_seconds(void);

/* A training task: what the trainer's loop (gm__trainer_fit_task) needs to
 * know of the data and the loss. The loop owns shuffling (a permutation of
 * 0..n-1 per epoch), the optimizer, the schedule, validation bookkeeping,
 * checkpoints and logs. */
typedef struct gm__fit_task gm__fit_task;
struct gm__fit_task {
    int64_t n;     /* training samples */
    bool have_val; /* validate after every epoch */
    /* The loss of the samples order[start, start+b) as a one-element tensor
     * on ctx's tape (gradients and training mode are on); *correct is
     * incremented by the batch's correct predictions (classifiers). */
    gm_status (*batch_loss)(const gm__fit_task *task, gm_model *m, gm_ctx *ctx,
                            const int64_t *order, int64_t start, int64_t b, gm_tensor **loss,
                            int64_t *correct);
    /* The epoch's training loss and accuracy (NaN when meaningless) from the
     * sum over batches of loss * b and the count of correct predictions. */
    void (*summary)(const gm__fit_task *task, double loss_sum, int64_t correct, double *loss,
                    double *accuracy);
    /* Validation loss (monitored: schedule, early stopping, best copy) and
     * accuracy (NaN when meaningless). */
    gm_status (*validate)(const gm__fit_task *task, gm_model *m, int64_t batch_size,
                          double *loss, double *accuracy);
    const void *train, *val; /* the task's data */
    /* Classification: training-batch augmentation with its generator (seeded
     * per epoch by the loop; NULL = none) and label smoothing. */
    const gm_augment *augment;
    gm_rng *augment_rng;
    double label_smoothing;
};

/* The training loop of gm_trainer_fit, on any task (task->n >= 1). */
gm_status gm__trainer_fit_task(gm_trainer *t, const gm__fit_task *task, gm_fit_result *out);
/* The model a trainer trains, and its options. */
gm_model *gm__trainer_model(gm_trainer *t);
const gm_fit_options *gm__trainer_options(const gm_trainer *t);

/* The rollout loss of the windows order[start, start+b) of s (start.. when
 * order is NULL) on ctx's tape: x = inputs; for t < s->steps: pred =
 * model(x), loss += MSE(pred, target_t), x = concat(x without its first 2
 * channels, pred). */
gm_status gm__forecast_batch_loss(gm_model *m, gm_ctx *ctx, const gm_forecast_set *s,
                                  const int64_t *order, int64_t start, int64_t b,
                                  gm_tensor **loss);

#endif
