/* gmcnn run: whole runs as the command-line tool performs them, for
 * programs that embed the library — train from a config, load a saved model
 * with everything it needs to read inputs, evaluate, predict.
 *
 * A training run (gm_run_train) takes a validated config (gmcnn/config.h),
 * creates and locks its output directory, loads the data the config names,
 * standardises them if asked, builds the model, trains it with checkpoints
 * every epoch, evaluates the best-validation and the last model on the test
 * set and writes into output.dir:
 *   config.yaml        the resolved config (unless the run was started from
 *                      that very file, which is then kept as it is)
 *   last.safetensors   checkpoint, every epoch (resumable)
 *   best.safetensors   the best-validation model
 *   metrics.jsonl, metrics.csv, metrics.png   one record per epoch
 *   results.json       the run's numbers (gm_classify_report_write or
 *                      gm_forecast_report_write)
 * Classification configs give a classifier; data.source plume gives a
 * forecasting run with the reference protocol (gmcnn/forecast.h). The
 * library never prints: progress reaches the caller through the hooks.
 *
 * A saved model (gm_model_load) is any model file a run writes, or one
 * written by gm_safetensors_save_model with its description: the model,
 * the input standardisation it was trained with and, for forecasting
 * models, the window protocol. */
#ifndef GMCNN_RUN_H
#define GMCNN_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/config.h"
#include "gmcnn/core.h"
#include "gmcnn/forecast.h"
#include "gmcnn/nn.h"
#include "gmcnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- saved models ---------------------------------------------------------- */

typedef struct gm_saved_model {
    gm_model *model;
    /* Per-channel standardisation of the inputs, (x - mean[c]) / std[c]
     * (std 0 taken as 1); norm_channels 0 and NULL arrays when the model
     * reads raw inputs. */
    int64_t norm_channels;
    double *norm_mean, *norm_std;
    /* The forecasting protocol stored with the model (has_forecast), else
     * the reference protocol's with input_frames = in_channels / 2. */
    bool has_forecast;
    gm_forecast_protocol forecast;
} gm_saved_model;

/* Loads a model file: the description (checked against the file's tensors
 * before anything is allocated), the parameters and state, the
 * standardisation statistics and the forecasting protocol. Returns GM_OK;
 * the readers' GM_ERR_IO / GM_ERR_FORMAT / GM_ERR_SHAPE naming the file and
 * what is wrong (e.g. a metadata key that is not an array of in_channels
 * finite numbers); GM_ERR_NOMEM. *out is all zero on failure. */
GM_NODISCARD gm_status gm_model_load(const char *path, gm_saved_model *out);
void gm_saved_model_free(gm_saved_model *s);

/* gm_model_load into a new heap object, for bindings that hold handles
 * (*out NULL on failure); gm_saved_model_close frees it (NULL is a no-op). */
GM_NODISCARD gm_status gm_saved_model_open(const char *path, gm_saved_model **out);
void gm_saved_model_close(gm_saved_model *s);

/* Standardises d in place with the model's statistics (nothing without
 * them). GM_ERR_SHAPE when d's channel count differs from theirs. */
GM_NODISCARD gm_status gm_saved_model_normalize(const gm_saved_model *s, gm_dataset *d);

/* Reads images (N, H, W) or (N, C, H, W) from an IDX file (plain or gzip)
 * or a .npy file (by its suffix) as the model reads them: U8 pixels scaled
 * by 1/255, then standardised; labels are zero. Checks channels and size
 * against the model and that every value is finite; errors name the file
 * (and the sample). */
GM_NODISCARD gm_status gm_saved_model_read_images(const gm_saved_model *s, const char *path,
                                                  gm_dataset *out);

/* --- training -------------------------------------------------------------- */

/* Progress of a run; every member may be NULL / 0. */
typedef struct gm_run_hooks {
    /* One line of text as the run gets ready (the data it loaded, the model
     * it built), without a newline. */
    void (*on_info)(const char *line, void *user);
    gm_epoch_fn on_epoch;     /* after every epoch (a non-OK return stops the run) */
    gm_step_fn on_step;       /* every progress_every steps within an epoch */
    int64_t progress_every;   /* 0 = no on_step calls */
    void *user;
} gm_run_hooks;

typedef struct gm_run_options {
    /* The file the config was read from (NULL for a config made in code): it
     * must not be one of the files the run writes, it is named in
     * results.json, and when it is output.dir/config.yaml itself it is kept
     * as it is — unless config_changed (overrides were applied since it was
     * read), which is then refused, since the run would rewrite it. */
    const char *config_path;
    bool config_changed;
    const char *resume;       /* continue from this checkpoint (NULL: from scratch) */
    /* Classification: model.in_channels and model.num_classes are set from
     * the data (its channels, and max(label) + 1 over training and test;
     * labels must still lie below the config's model.num_classes) before
     * the model is built, and the written config.yaml says so. */
    bool model_from_data;
    /* Where the generated data sets live (`gmcnn data make`, make data); NULL:
     * gm_run_data_dir(). */
    const char *data_dir;
    gm_run_hooks hooks;
    /* A stop request (gm_fit_options.stop): once non-zero, the run stops
     * before the next training step with GM_ERR_INTERRUPTED, its checkpoint
     * that of the last finished epoch (resume continues from there). */
    const volatile sig_atomic_t *stop;
} gm_run_options;

/* What a run measured. Accuracies in %, NaN where not measured (no test set;
 * the other task's members). */
typedef struct gm_run_result {
    bool forecast;           /* data.source plume */
    int64_t parameters;
    int64_t n_train, n_val, n_test;  /* samples, or windows when forecasting */
    int64_t epochs;          /* completed in all (a resumed run counts earlier ones) */
    int64_t epochs_run;      /* in this call */
    int64_t best_epoch;
    bool stopped_early;
    double train_seconds;    /* this call's training */
    double best_val_loss;    /* RMSE when forecasting */
    double best_val_accuracy;
    /* classification: the best-validation and the last model on the test set */
    double test_loss, test_accuracy, test_loss_last, test_accuracy_last;
    /* forecasting: RMSE on the future and the domain test windows, best and
     * last model, and the windows and rollout steps behind them */
    double rmse_future, rmse_domain, rmse_future_last, rmse_domain_last;
    int64_t n_future, n_domain, eval_steps;
} gm_run_result;

/* Performs the run the config describes, as described at the top. Returns
 * GM_OK; GM_ERR_BUSY when another process is running into output.dir;
 * GM_ERR_INTERRUPTED after a stop request;
 * GM_ERR_INVALID_ARG for an input that is one of the run's outputs (the
 * detail names both) or a config that does not fit its data; the loaders',
 * the trainer's and the writers' errors. A run that fails before training
 * starts leaves no config.yaml behind. out may be NULL. The config is
 * changed only with model_from_data. */
GM_NODISCARD gm_status gm_run_train(gm_config *cfg, const gm_run_options *opt,
                                    gm_run_result *out);

/* The directory of the generated data sets: $GMCNN_DATA when set and not
 * empty, else "build/data" (relative to the working directory, where the
 * project's `make data` puts them). */
const char *gm_run_data_dir(void);

/* The files a run writes into its output directory, NULL-terminated. */
extern const char *const gm_run_output_files[];

/* --- evaluation and prediction -------------------------------------------- */

/* Evaluates a saved classifier on labelled files (IDX or .npy, as
 * gm_saved_model_read_images reads images; labels must be classes of the
 * model): loss, accuracy, per-class accuracy and confusion (gm_metrics_free
 * it). batch 0 = 256. */
GM_NODISCARD gm_status gm_run_eval(const gm_saved_model *s, const char *images,
                                   const char *labels, int64_t batch, gm_metrics *out);

/* Evaluates a saved forecasting model on a plume dataset directory with
 * protocol p (NULL: the model's): out[0] over the future windows, out[1]
 * over the domain windows (gm_forecast_metrics_free them). batch 0 = 32. */
GM_NODISCARD gm_status gm_run_eval_forecast(const gm_saved_model *s, const char *data_dir,
                                            const gm_forecast_protocol *p, int64_t batch,
                                            gm_forecast_metrics out[2]);

/* Measures the equivariance of a saved GM model (gm_model_equivariance of
 * gmcnn/nn.h) on the first `samples` samples of d (already read and
 * standardised). GM_ERR_UNSUPPORTED for a model without a group. */
GM_NODISCARD gm_status gm_run_equivariance(const gm_saved_model *s, const gm_dataset *d,
                                           int64_t samples, gm_equiv_report *out);

/* Class scores of a saved classifier for every sample of d (already read
 * and standardised, e.g. by gm_saved_model_read_images): logits (n, classes)
 * and their softmax in double precision. */
typedef struct gm_predictions {
    int64_t n, classes;
    double *logits; /* n * classes, row per sample */
    double *prob;   /* n * classes */
} gm_predictions;

/* GM_ERR_UNSUPPORTED for a model that is not a classifier; batch 0 = 64.
 * Each call sets up and gives back its own working memory; for many calls
 * (one image at a time, say) a gm_predictor is cheaper. */
GM_NODISCARD gm_status gm_run_predict(const gm_saved_model *s, const gm_dataset *d,
                                      int64_t batch, gm_predictions *out);
void gm_predictions_free(gm_predictions *p);

/* A saved classifier kept ready for prediction after prediction: the
 * predictor holds the working memory of the forward pass between calls, so
 * that once it has seen a batch size, a call allocates only its
 * gm_predictions. gm_predictor_run gives what gm_run_predict gives, bit for
 * bit. The saved model must outlive the predictor and must not change while
 * it is used; a predictor serves one thread at a time. */
typedef struct gm_predictor gm_predictor;
GM_NODISCARD gm_status gm_predictor_new(const gm_saved_model *s, gm_predictor **out);
GM_NODISCARD gm_status gm_predictor_run(gm_predictor *p, const gm_dataset *d, int64_t batch,
                                        gm_predictions *out);
void gm_predictor_free(gm_predictor *p);
/* The k most likely classes of sample i into order[0..k-1], most likely
 * first; the first of equal probabilities wins, as in evaluation. k is at
 * most p->classes. */
void gm_predictions_top(const gm_predictions *p, int64_t i, int64_t k, int64_t *order);

/* --- for bindings ----------------------------------------------------------- */

/* sizeof of the structs a binding mirrors, by name: "gm_run_options",
 * "gm_run_hooks", "gm_run_result", "gm_epoch_record", "gm_dataset",
 * "gm_metrics", "gm_predictions", "gm_saved_model", "gm_forecast_protocol",
 * "gm_equiv_report", "gm_tensor"; 0 for any other name. A binding compares them with its
 * own layout when it loads the library. */
size_t gm_run_sizeof(const char *type_name);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_RUN_H */
