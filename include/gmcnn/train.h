/* gmcnn train: classification datasets in memory, the training loop,
 * evaluation and metrics, checkpoints.
 *
 * A dataset is a plain struct of float32 samples laid out as (N, C, H*W) —
 * for an image on a two-factor group G1 x G2 with |G1| = H, |G2| = W this is
 * exactly the group-index order the GM models expect — and int32 labels.
 */
#ifndef GMCNN_TRAIN_H
#define GMCNN_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/data.h"
#include "gmcnn/datasets.h"
#include "gmcnn/nn.h"
#include "gmcnn/io.h"
#include "gmcnn/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- datasets ------------------------------------------------------------ */
typedef struct gm_dataset {
    int64_t n;        /* samples */
    int64_t channels; /* C */
    int64_t height;   /* H */
    int64_t width;    /* W */
    int64_t classes;  /* labels are 0..classes-1 */
    float *x;         /* n * C * H * W, owned */
    int32_t *y;       /* n labels, owned */
} gm_dataset;

/* Builds a dataset from arrays as the readers return them: images (N, H, W)
 * or (N, C, H, W) of U8 (scaled by 1/255) or F32/F64 (taken as they are), or
 * (N, D) with D = H*W given by height/width (0 = square); labels (N) of U8 or
 * I32. Every label must lie in 0..classes-1; classes = 0 takes max(label) + 1
 * (labels must not be negative). Every value must be a finite float32 (no
 * NaN or infinity). GM_ERR_INVALID_ARG for a label or value that is not,
 * naming the sample; GM_ERR_SHAPE for sizes that do not fit; GM_ERR_NOMEM.
 * Errors call the arrays "dataset images" and "dataset labels". */
GM_NODISCARD gm_status gm_dataset_from_arrays(const gm_array *images, const gm_array *labels,
                                              int64_t height, int64_t width, int64_t classes,
                                              gm_dataset *out);
/* The same with the arrays' sources named in errors: images_name and
 * labels_name are descriptions such as "images 'train.idx'" (NULL: the
 * defaults above), e.g. "labels 'y.idx': label 250 of sample 7 is outside
 * 0..9 (10 classes)", "images 'x.npy': value 5 of sample 3 is nan, not a
 * finite float32 (inputs must be finite)". */
GM_NODISCARD gm_status gm_dataset_from_arrays_named(const gm_array *images,
                                                    const gm_array *labels, int64_t height,
                                                    int64_t width, int64_t classes,
                                                    const char *images_name,
                                                    const char *labels_name, gm_dataset *out);
/* Reads a labelled set from an images file and a labels file, each IDX
 * (plain or gzip) or, with the suffix .npy, NumPy, and builds it as
 * gm_dataset_from_arrays_named does, the errors naming the files ("images
 * 'PATH'", "labels 'PATH'"). classes > 0: every label must lie in
 * 0..classes-1 and the set has `classes` classes. classes = 0: the set has
 * max(label) + 1 classes, and with max_classes > 0 every label must lie
 * below max_classes. The readers' errors as they are. */
GM_NODISCARD gm_status gm_dataset_read_files(const char *images, const char *labels,
                                             int64_t classes, int64_t max_classes,
                                             gm_dataset *out);
void gm_dataset_free(gm_dataset *d);
/* A copy of the samples idx[0..n) (for splits and subsets). */
GM_NODISCARD gm_status gm_dataset_subset(const gm_dataset *d, int64_t n, const int64_t *idx,
                                         gm_dataset *out);
/* Seeded split: floor(fraction * n) samples chosen by a Fisher-Yates
 * permutation (PCG32 seeded with `seed`, stream 0x73706c6974) go to `second`,
 * the rest to `first`; both keep the original order. (Named _fraction because
 * gm_dataset_split of datasets.h splits raw arrays by counts.) */
GM_NODISCARD gm_status gm_dataset_split_fraction(const gm_dataset *d, double fraction,
                                                 uint64_t seed, gm_dataset *first,
                                                 gm_dataset *second);
/* The same split with an exact count: `count` samples (0 <= count <= n, else
 * GM_ERR_INVALID_ARG naming both) go to `second`. With count =
 * floor(fraction * n) it is gm_dataset_split_fraction's split. */
GM_NODISCARD gm_status gm_dataset_split_count(const gm_dataset *d, int64_t count, uint64_t seed,
                                              gm_dataset *first, gm_dataset *second);
/* Per-channel mean and standard deviation (population) of d, and their
 * application (x - mean) / std in place (std 0 is treated as 1). */
GM_NODISCARD gm_status gm_dataset_channel_stats(const gm_dataset *d, double *mean, double *std);
void gm_dataset_normalize(gm_dataset *d, const double *mean, const double *std);

/* --- metrics ------------------------------------------------------------- */
typedef struct gm_metrics {
    int64_t n;
    int64_t classes;
    double loss;       /* mean cross-entropy */
    double accuracy;   /* in percent */
    int64_t *confusion; /* classes x classes, [true][predicted], owned (may be NULL) */
} gm_metrics;

void gm_metrics_free(gm_metrics *m);
/* Per-class accuracy in percent (NaN for a class without samples). */
double gm_metrics_class_accuracy(const gm_metrics *m, int64_t c);

/* Evaluates a classifier on d in batches (no gradients, evaluation mode). */
GM_NODISCARD gm_status gm_evaluate(gm_model *m, const gm_dataset *d, int64_t batch_size,
                                   gm_metrics *out);

/* --- training ------------------------------------------------------------ */
#define GM_FIT_MAX_META 8


/* Called after every epoch (and may print progress); a non-OK return stops
 * training with that status. */
typedef gm_status (*gm_epoch_fn)(const gm_epoch_record *rec, void *user);
/* Called every `progress_every` steps within an epoch, for progress bars. */
typedef void (*gm_step_fn)(int64_t epoch, int64_t step, int64_t steps, double loss, void *user);

/* Which epoch's parameters the best copy keeps. */
typedef enum gm_fit_select {
    GM_SELECT_VAL_LOSS = 0,    /* lowest validation loss */
    GM_SELECT_VAL_ACCURACY = 1 /* highest validation accuracy, ties to the lower loss */
} gm_fit_select;

typedef struct gm_fit_options {
    int64_t epochs;
    int64_t batch_size;
    uint64_t seed;               /* shuffling and dropout */
    gm_optim_config optim;
    gm_lr_sched_config sched;    /* stepped once per epoch on the validation loss; with
                                  * warm-up, the rate is set before every step */
    int64_t early_stop_patience; /* 0 = off; on the validation loss */
    double clip_norm;            /* 0 = off */
    /* Classification only (gm_trainer_fit; the forecasting task rejects them
     * when set): random transforms of the training batches, never of
     * validation; cross-entropy against smoothed targets in [0, 1) for the
     * training loss (validation loss stays plain); the best-copy criterion. */
    gm_augment augment;
    double label_smoothing;
    gm_fit_select select;
    const char *checkpoint_path; /* last state, written atomically every epoch; NULL = none */
    const char *best_path;       /* best-validation model; NULL = kept in memory only */
    const char *metrics_jsonl;   /* one JSON object per epoch; NULL = none */
    const char *metrics_csv;     /* one row per epoch; NULL = none */
    const char *resume_path;     /* continue from this checkpoint; NULL = fresh */
    /* Input standardisation the data went through, (x - mean[c]) / std[c], saved
     * with every model file so that readers can apply it; 0 / NULL = none. */
    int64_t norm_channels;
    const double *norm_mean, *norm_std;
    /* Further metadata pairs written into every model file the trainer
     * writes (checkpoint and best), e.g. the forecasting protocol
     * (GM_FORECAST_META_KEY of gmcnn/forecast.h); copied by gm_trainer_new.
     * At most GM_FIT_MAX_META, distinct, none of the trainer's own keys
     * ("gmcnn.train.*", GM_MODEL_META_KEY, the normalisation keys):
     * GM_ERR_INVALID_ARG otherwise. */
    int64_t nmeta;
    const char *const *meta_keys;
    const char *const *meta_values;
    int64_t progress_every;      /* steps between step callbacks; 0 = never */
    gm_epoch_fn on_epoch;
    gm_step_fn on_step;
    void *user;
    /* When not NULL: read before every step; once non-zero (e.g. set by a
     * signal handler), training stops with GM_ERR_INTERRUPTED before the
     * next step. Files are left as after the last finished epoch, so
     * resuming from the checkpoint gives what an uninterrupted run gives. */
    const volatile sig_atomic_t *stop;
} gm_fit_options;

typedef struct gm_fit_result {
    int64_t epochs_run;
    int64_t best_epoch;
    double best_val_loss;
    double best_val_accuracy; /* at best_epoch (NaN when the task has none) */
    bool stopped_early;
} gm_fit_result;

/* Trains a classifier with cross-entropy on `train`, validating on `val`
 * after every epoch, keeping a copy of the parameters at the best validation
 * loss (select = GM_SELECT_VAL_ACCURACY: at the highest validation accuracy,
 * ties going to the lower loss; the schedule and early stopping watch the
 * loss either way). (gm_trainer_fit_forecast of gmcnn/forecast.h runs the same loop, with
 * everything said here, on autoregressive forecasting.) On return the model holds the LAST parameters; gm_trainer_restore_best
 * copies in the best one. The same seed gives the same numbers run after run
 * on one machine. A non-finite loss stops with GM_ERR_NUMERIC and a detail
 * naming the epoch and step ("non-finite loss at epoch 3 step 7", both
 * 1-based); with clipping on, a non-finite gradient norm likewise.
 *
 * opt->epochs is the total: a run resumed from a checkpoint taken after epoch
 * k runs epochs k+1..epochs. The shuffling order, the dropout stream and the
 * augmentation draws of epoch e are derived from (seed, e) alone (three
 * separate PCG32 streams), and a per-step learning rate from the global step
 * index, so a resumed run reproduces an uninterrupted one bit for bit.
 * Augmentation draws one transform per sample in batch order
 * (gm_augment_sample of gmcnn/datasets.h) and applies it to a copy in the
 * batch; rotate 90 on non-square images is GM_ERR_SHAPE. val may be NULL or
 * empty: the training loss (and accuracy) is then monitored instead
 * (scheduler, early stopping, best copy).
 *
 * The option strings are copied by gm_trainer_new; the model is borrowed and
 * must outlive the trainer. A checkpoint holds the parameters under their
 * names, the optimizer buffers as "optim.<state name>", the best copy as
 * "optim.best.<parameter name>", and the model description, counters and
 * schedule state as metadata ("gmcnn.model", "gmcnn.train.*"; numbers as
 * "%.17g"). The best_path file holds the best parameters and "gmcnn.model",
 * so gm_safetensors_load_model and the CLI can read it. With norm_channels >
 * 0 both files also carry GM_NORM_MEAN_META_KEY and GM_NORM_STD_META_KEY, each
 * a JSON array of norm_channels numbers printed with "%.17g" (exact round
 * trip); a resumed checkpoint that carries them must match the options
 * (GM_ERR_INVALID_ARG otherwise; one without them is accepted). norm_mean and
 * norm_std are copied by gm_trainer_new, and must be finite (GM_ERR_INVALID_ARG).
 * Metrics files are truncated by a fresh run and appended to by a resumed one
 * (a CSV header is written when the file is empty).
 *
 * Data-parallel (gm_dist_size() > 1, gmcnn/dist.h; docs/cluster.md): every
 * rank calls the trainer with the same data and options, and takes a
 * contiguous shard of every batch; the summed gradients make the
 * single-process update up to rounding (batch normalisation, dropout and
 * augmentation aside), the reported losses and accuracies are sums over all
 * ranks, and batch_size must be at least the number of ranks
 * (GM_ERR_INVALID_ARG). Only the ranks whose options name files write them
 * (gm_run_train gives them to rank 0 alone). An error on any rank is
 * returned by all, its detail prefixed by "rank R of P: ". */
typedef struct gm_trainer gm_trainer;
GM_NODISCARD gm_status gm_trainer_new(gm_model *m, const gm_fit_options *opt, gm_trainer **out);
void gm_trainer_free(gm_trainer *t);
GM_NODISCARD gm_status gm_trainer_fit(gm_trainer *t, const gm_dataset *train,
                                      const gm_dataset *val, gm_fit_result *out);
/* Copies the best-validation parameters into the model (GM_ERR_NOT_FOUND
 * before any epoch ran). */
GM_NODISCARD gm_status gm_trainer_restore_best(gm_trainer *t);

/* Epochs completed so far (restored by resume). */
int64_t gm_trainer_epoch(const gm_trainer *t);

/* --- results of a classification run ---------------------------------------- */

/* What `gmcnn train CONFIG` reports for a classifier. Accuracies in percent,
 * NaN when not measured (no test set). */
typedef struct gm_classify_report {
    double test_accuracy;      /* the best-validation parameters */
    double test_accuracy_last; /* the last parameters */
    double test_loss, test_loss_last;
    double best_val_accuracy;  /* validation accuracy at best_epoch */
    double best_val_loss;
    int64_t n_test;
    int64_t best_epoch, epochs_run; /* epochs_run: epochs completed in all */
    int64_t parameters;
    double train_seconds;
    const char *select;  /* "val_loss" | "val_accuracy"; may be NULL */
    const char *model;   /* model kind name; may be NULL */
    const char *source;  /* data source name; may be NULL */
    const char *kind;    /* generated kind or NULL */
    const char *digits;  /* generated: the source images ("mnist", "fashion") or NULL */
    const char *split;   /* generated: "pooled" or "official"; NULL otherwise */
    const char *config;  /* the config path; may be NULL */
} gm_classify_report;

/* Writes r as one JSON object (members as named above; strings null when
 * NULL; NaN as null; reals with 17 significant digits), atomically.
 * GM_ERR_IO when the file cannot be written; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_classify_report_write(const char *path, const gm_classify_report *r);

/* --- model descriptions as JSON ------------------------------------------
 * Saved model files carry their description under this metadata key. The
 * encoding is one JSON object:
 *   {"kind":"gmcnn","group":"C28xC28","radius":3,"in_channels":1,
 *    "out_dim":10,"blocks":[{"layers":1,"channels":120,"pool":false},...],
 *    "dropout":0.3,"form":"shared","ldr_rank":0,"modulated":false,
 *    "pool_mode":"max","hidden":0,"image_h":0,"image_w":0}
 * kind is one of "gmcnn", "plume", "gmcnn_deep", "cnn", "mlp"; form "full"
 * or "shared"; pool_mode "max" or "mean"; group is null for none; dropout is
 * written with 17 significant digits so it round-trips exactly. A CNN or MLP
 * regressor (gm_model_desc.regressor) adds "regressor":true, and batch
 * normalisation (gm_model_desc.norm) "norm":"batch", the in-place
 * modulated layer "modulated_in_place":true and the centred wallpaper model
 * "center":true, as the last members;
 * they are left out when not set, so other descriptions are as they were
 * before the members existed. */
#define GM_MODEL_META_KEY "gmcnn.model"
/* Per-channel input statistics of a model trained on standardised data (see
 * gm_fit_options.norm_channels); a file without them reads raw inputs. */
#define GM_NORM_MEAN_META_KEY "gmcnn.normalize.mean"
#define GM_NORM_STD_META_KEY "gmcnn.normalize.std"

/* *json (gm_free it) receives the encoding of d. GM_ERR_INVALID_ARG for an
 * unknown kind, form or pool mode, or nblocks outside 0..GM_MODEL_MAX_BLOCKS. */
GM_NODISCARD gm_status gm_model_desc_to_json(const gm_model_desc *d, char **json);
/* Parses the encoding into *out. The group spec string is copied to a new
 * heap string handed back in *group (gm_free it after the last use of
 * out->group, which points to it; both are NULL when the description has no
 * group). Missing members take their zero value; unknown members are
 * ignored. GM_ERR_FORMAT naming the member for malformed JSON or a value of
 * the wrong type or range; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_model_desc_from_json(const char *json, gm_model_desc *out,
                                               char **group);

/* A safetensors file as gm_safetensors_read returns it (gmcnn/io.h). */
typedef struct gm_safetensors gm_safetensors;
/* Rebuilds the model saved in sf (read from `path`, which names it in
 * details): the description under GM_MODEL_META_KEY, then the model with
 * every parameter checked against the file's tensor of that name (present,
 * F32 or F64, the same shape) before it is allocated, so that a description
 * that does not match the file fails before allocating more than the file
 * holds; then the values, which must be finite. Tensors that are not
 * parameters (other than under GM_ST_OPTIM_PREFIX) are errors too.
 * GM_ERR_FORMAT (no or a malformed description, a missing or surplus tensor,
 * a wrong dtype, a NaN or infinite value), GM_ERR_SHAPE (a shape that
 * differs), gm_model_new's errors, each naming the file; *out is NULL on
 * failure. */
GM_NODISCARD gm_status gm_model_from_safetensors(const gm_safetensors *sf, const char *path,
                                                 gm_model **out);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_TRAIN_H */
