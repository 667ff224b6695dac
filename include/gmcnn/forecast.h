/* gmcnn forecast: autoregressive forecasting of velocity fields, the plume
 * reference protocol — datasets of simulations, windows, rollout training,
 * RMSE evaluation.
 *
 * Data. A plume dataset is a directory written by gm_plume_generate
 * (gmcnn/plume.h): manifest.json and one NumPy file per simulation, each
 * (frames, 2, H, W) float32 (channel 0 = x-velocity, 1 = y-velocity; row =
 * y, column = x). A frame flattened row-major is one (2, H*W) feature map in
 * the group-index order of C_H x C_W (element (a, b) <-> index a*W + b).
 *
 * Windows. Sample (sim, s) has the inputs frames [s + offset, s + offset + F)
 * stacked frame-major as 2F channels (frame 0 x, frame 0 y, frame 1 x, ...)
 * and the targets frames s + offset + F + t, t = 0, 1, ... (F = 10 input
 * frames and offset 2 in the reference). The four sets of the protocol:
 *   train   sims not held out, s in [0, 160), every train_stride-th s
 *   val     sims not held out, s in [160, 200)
 *   future  sims not held out, s in [200, 250)
 *   domain  held-out sims,     s in [0, 100)
 * train and val windows carry rollout_steps targets (6), future and domain
 * eval_steps (20). train_stride and eval_stride (val, future and domain)
 * keep every k-th window, for a smaller budget (1: the protocol as it is).
 *
 * Training (gm_trainer_fit_forecast): for a batch, x = inputs; for t in
 * 0..R-1: pred = model(x); loss += MSE(pred, target_t); x = concat(x without
 * its first 2 channels, pred); one backward pass through the whole rollout.
 * Data are used raw (no normalisation), as in the reference.
 *
 * Metric. With MSE_t(i) the mean squared error of step t of sample i over
 * its 2*H*W values,
 *   RMSE = sqrt( (1/N) sum_i (1/T) sum_t MSE_t(i) )
 * over the N samples of a set and its T steps (the reference protocol; the square root is
 * part of it). Training and validation losses in the epoch records are this
 * RMSE over R-step rollouts (the reference's train_rmse and valid_rmse; the
 * validation RMSE is what the schedule, early stopping and the best copy
 * monitor); the accuracies are NaN.
 *
 * Errors on bad input name the file and the field in a one-line detail
 * (gm_error_detail()), e.g. "plume data 'd/sim_003.npy': shape (40, 3, 8,
 * 8), expected (40, 2, 8, 8)".
 */
#ifndef GMCNN_FORECAST_H
#define GMCNN_FORECAST_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/nn.h"
#include "gmcnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- the protocol ---------------------------------------------------------- */

/* Window ranges are half-open [begin, end) of s. */
typedef struct gm_forecast_range {
    int64_t begin, end;
} gm_forecast_range;

typedef struct gm_forecast_protocol {
    int64_t input_frames;  /* F: frames per input, 2F channels (10) */
    int64_t input_offset;  /* inputs start at frame s + offset (2) */
    int64_t rollout_steps; /* R: targets of train and val windows (6) */
    int64_t eval_steps;    /* targets of future and domain windows (20) */
    gm_forecast_range train, val, future, domain; /* [0,160) [160,200) [200,250) [0,100) */
    int64_t train_stride;  /* every train_stride-th training window (1) */
    int64_t eval_stride;   /* every eval_stride-th val, future, domain window (1) */
} gm_forecast_protocol;

/* The reference protocol (the values in brackets above). */
gm_forecast_protocol gm_forecast_protocol_default(void);
/* GM_ERR_INVALID_ARG naming the field unless input_frames >= 1, input_offset
 * >= 0, both step counts >= 1, every range 0 <= begin < end, both strides
 * >= 1, and all of them <= 2^31. */
GM_NODISCARD gm_status gm_forecast_protocol_check(const gm_forecast_protocol *p);

/* Saved model files of forecasting runs carry their protocol under this
 * metadata key, as one JSON object:
 *   {"input_frames":10,"input_offset":2,"rollout_steps":6,"eval_steps":20,
 *    "train":[0,160],"val":[160,200],"future":[200,250],"domain":[0,100],
 *    "train_stride":1,"eval_stride":1}
 * to_json: *json is gm_malloc'd. from_json: members missing take the
 * defaults; GM_ERR_FORMAT naming the member for malformed JSON or a bad
 * value (then also gm_forecast_protocol_check's rules). */
#define GM_FORECAST_META_KEY "gmcnn.forecast"
GM_NODISCARD gm_status gm_forecast_protocol_to_json(const gm_forecast_protocol *p, char **json);
GM_NODISCARD gm_status gm_forecast_protocol_from_json(const char *json, gm_forecast_protocol *out);

/* --- datasets ----------------------------------------------------------------- */

typedef struct gm_plume_data {
    int64_t nsims;
    int64_t frames;        /* per simulation */
    int64_t height, width; /* H (rows, y) and W (columns, x) */
    float *x;              /* nsims * frames * 2 * H * W, owned */
    bool *held_out;        /* nsims, owned: the domain-test simulations */
    char **labels;         /* nsims strings ("" when the manifest has none), owned */
    char *name;            /* the directory or file read, for messages, owned */
} gm_plume_data;

/* Loads a dataset directory: dir/manifest.json, a JSON object with
 *   "frames"  (integer >= 1), "height", "width" (integers >= 1),
 *   "sims"    (a non-empty array of objects with "file", a file name in dir
 *             without '/', and "held_out", a boolean; "label", a string, is
 *             optional)
 * (other members are ignored), and each sim file, which must be a .npy of
 * dtype float32 ('<f4') and shape (frames, 2, height, width) with finite
 * values. Returns GM_OK; GM_ERR_IO when the manifest or a sim file cannot be
 * read; GM_ERR_FORMAT for malformed JSON, a missing or mistyped field, a
 * malformed .npy, a wrong dtype or a non-finite value (naming frame,
 * channel, row and column); GM_ERR_SHAPE for a shape that does not match
 * the manifest (frames mismatch included); GM_ERR_NOMEM. *out is zeroed on
 * failure. */
GM_NODISCARD gm_status gm_plume_data_load(const char *dir, gm_plume_data *out);
/* One simulation file (frames, 2, H, W) float32 as a dataset of one sim that
 * is not held out, with the checks above. */
GM_NODISCARD gm_status gm_plume_data_load_sim(const char *path, gm_plume_data *out);
void gm_plume_data_free(gm_plume_data *d);
/* Frame f of sim s: 2 * H * W floats (x-velocity plane, then y). */
const float *gm_plume_data_frame(const gm_plume_data *d, int64_t sim, int64_t frame);

/* --- windows ----------------------------------------------------------------------- */

typedef enum gm_forecast_split {
    GM_FORECAST_TRAIN = 0,
    GM_FORECAST_VAL = 1,
    GM_FORECAST_FUTURE = 2,
    GM_FORECAST_DOMAIN = 3
} gm_forecast_split;

/* "train", "val", "future", "domain". */
const char *gm_forecast_split_name(gm_forecast_split split);

/* A set of windows of one dataset (borrowed: it must outlive the set).
 * Window i is (sim[i], start[i]), ordered by sim, then start. */
typedef struct gm_forecast_set {
    const gm_plume_data *data;
    int64_t n;
    int64_t *sim, *start;  /* n each, owned */
    int64_t input_frames;  /* F */
    int64_t input_offset;
    int64_t steps;         /* targets per window */
} gm_forecast_set;

/* The windows of one split of the protocol. Returns GM_OK; GM_ERR_NOMEM;
 * GM_ERR_INVALID_ARG for a protocol that fails gm_forecast_protocol_check, a
 * split without simulations ("plume data 'd': no held-out simulations for
 * the domain windows"), or windows that do not fit in the frames, naming the
 * split, the range and the frame the last window needs ("plume data 'd':
 * future windows [200, 250) with 20 steps need frame 281, the simulations
 * have 250 frames (0..249)"). *out is zeroed on failure. */
GM_NODISCARD gm_status gm_forecast_set_new(const gm_plume_data *d, const gm_forecast_protocol *p,
                                           gm_forecast_split split, gm_forecast_set *out);
/* The single window (sim, start) with `steps` targets; the same checks. */
GM_NODISCARD gm_status gm_forecast_set_window(const gm_plume_data *d, int64_t sim, int64_t start,
                                              int64_t input_frames, int64_t input_offset,
                                              int64_t steps, gm_forecast_set *out);
void gm_forecast_set_free(gm_forecast_set *s);
/* Copies window i's inputs (2F * H * W floats, frame-major) and, when
 * targets is not NULL, its targets (steps * 2 * H * W floats). */
void gm_forecast_window_copy(const gm_forecast_set *s, int64_t i, float *inputs, float *targets);

/* --- models, evaluation, training ---------------------------------------------------- */

/* GM_OK when m reads the set's inputs and predicts one frame: a regressor
 * (PLUME, or CNN/MLP with desc.regressor) with in_channels = 2F, out_dim = 2
 * and H*W positions; GM_ERR_SHAPE naming the mismatch otherwise. */
GM_NODISCARD gm_status gm_forecast_check_model(const gm_model *m, const gm_forecast_set *s);

typedef struct gm_forecast_metrics {
    int64_t n;         /* samples */
    int64_t steps;     /* T */
    double rmse;       /* sqrt(mean_i (1/T) sum_t MSE_t(i)) */
    double *step_rmse; /* T values sqrt(mean_i MSE_t(i)), owned */
} gm_forecast_metrics;
void gm_forecast_metrics_free(gm_forecast_metrics *m);

/* Rolls the model out over every window of s for s->steps steps, in batches
 * (no gradients, evaluation mode), and measures the metric above. The
 * numbers do not depend on the batch size beyond rounding. GM_ERR_SHAPE from
 * gm_forecast_check_model; GM_ERR_INVALID_ARG for an empty set or
 * batch_size < 1; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_forecast_evaluate(gm_model *m, const gm_forecast_set *s,
                                            int64_t batch_size, gm_forecast_metrics *out);

/* Rolls window i out for s->steps steps: pred receives steps * 2 * H * W
 * floats (the predicted frames), step_mse (may be NULL) the steps values
 * MSE_t of this window. */
GM_NODISCARD gm_status gm_forecast_predict(gm_model *m, const gm_forecast_set *s, int64_t i,
                                           float *pred, double *step_mse);

/* Trains with the rollout loss on `train` (rollout length train->steps),
 * validating on `val` (may be NULL or empty: the training RMSE is monitored)
 * with its own step count, by the loop of gm_trainer_fit: the same options,
 * checkpoints, exact resume, best copy, metric files and early stopping.
 * GM_ERR_SHAPE from gm_forecast_check_model; the errors of gm_trainer_fit. */
GM_NODISCARD gm_status gm_trainer_fit_forecast(gm_trainer *t, const gm_forecast_set *train,
                                               const gm_forecast_set *val, gm_fit_result *out);

/* --- results ---------------------------------------------------------------------- */

/* What a forecasting run reports: RMSE of the best-validation and of the
 * last parameters on the future and domain test sets (NaN when not
 * measured), the parameter count and wall-clock seconds of training. */
typedef struct gm_forecast_report {
    double rmse_future, rmse_domain;           /* best-validation parameters */
    double rmse_future_last, rmse_domain_last; /* last parameters */
    int64_t n_future, n_domain;                /* test windows */
    int64_t params;
    int64_t epochs, best_epoch;
    double seconds;
    const char *model; /* model kind name, may be NULL */
    const char *data;  /* dataset, may be NULL */
} gm_forecast_report;

/* Writes the report as one JSON object (members as named above; NaN as
 * null; reals with 17 significant digits), atomically. GM_ERR_IO when the
 * file cannot be written; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_forecast_report_write(const char *path, const gm_forecast_report *r);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_FORECAST_H */
