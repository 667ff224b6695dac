/* Private helpers of the train module. */
#ifndef GMCNN_TRAIN_INTERNAL_H
#define GMCNN_TRAIN_INTERNAL_H

#include <stdio.h>

#include "gmcnn/train.h"

/* Values per sample (C * H * W). */
int64_t gm__dataset_sample_size(const gm_dataset *d);

/* Fisher-Yates permutation of 0..n-1 from rng into perm. */
void gm__shuffle_indices(gm_rng *rng, int64_t n, int64_t *perm);

/* The batch of samples order[start, start+b) (start.. when order is NULL)
 * as a (b, C, H*W) tensor in the ctx's step arena, labels next to it. */
gm_status gm__batch_make(gm_ctx *ctx, const gm_dataset *d, const int64_t *order, int64_t start,
                         int64_t b, gm_tensor **x, int32_t **labels);
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
void gm__metric_log_close(gm__metric_log *log);

/* Wall-clock seconds from a monotone-enough clock (for throughput only). */
double gm__now_seconds(void);

#endif
