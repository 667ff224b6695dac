/* gmcnn optim: optimizers (SGD, Adam, AdamW), gradient-norm clipping,
 * learning-rate schedules (step, cosine, reduce-on-plateau) and early
 * stopping.
 *
 * Update rules follow PyTorch 2.x exactly (single-tensor path, maximize off,
 * amsgrad off); each step is computed in double per element and stored back
 * in gm_real. Per parameter p with gradient g, learning rate lr and per-
 * parameter step count t (incremented before the update):
 *
 *   SGD   (torch.optim.SGD)
 *         d = g + wd*p
 *         momentum > 0:  b = d                              at t = 1
 *                        b = momentum*b + (1 - dampening)*d  at t > 1
 *                        d = nesterov ? d + momentum*b : b
 *         p = p - lr*d
 *   Adam  (torch.optim.Adam: weight decay is L2, added to the gradient)
 *         d = g + wd*p
 *         m = beta1*m + (1 - beta1)*d
 *         v = beta2*v + (1 - beta2)*d^2
 *         p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *   AdamW (torch.optim.AdamW: decoupled weight decay, applied first)
 *         p = p * (1 - lr*wd)
 *         then the Adam update with d = g (no L2 term)
 *
 * A parameter whose grad is NULL is skipped entirely: its data, its moments
 * and its step count stay as they are (PyTorch skips p.grad is None). Model
 * buffers that take no gradient (running statistics, requires_grad false)
 * never get one from gm_model_zero_grad, so they stay untouched.
 *
 * decay = GM_DECAY_WEIGHTS sets wd = 0 for parameters with fewer than two
 * dimensions (biases, PReLU slopes, normalisation scales and shifts,
 * position vectors), the usual "no decay on biases and norms" recipe; the
 * rest of their update is unchanged.
 *
 * The optimizer owns its state (moments, step counts, learning rate); the
 * parameter tensors stay owned by their creator and must outlive it.
 */
#ifndef GMCNN_OPTIM_H
#define GMCNN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- optimizers ----------------------------------------------------------- */
typedef enum gm_optim_kind {
    GM_OPTIM_SGD = 0,
    GM_OPTIM_ADAM = 1,
    GM_OPTIM_ADAMW = 2
} gm_optim_kind;

/* Fields a kind does not use are ignored (SGD: beta1, beta2, eps; Adam and
 * AdamW: momentum, dampening, nesterov). Start from gm_optim_config_default
 * and override: a zero-initialised struct is not a valid Adam config
 * (eps 0). Valid values (else GM_ERR_INVALID_ARG naming the field):
 *   lr >= 0, weight_decay >= 0, decay a gm_decay_scope, momentum >= 0, dampening finite,
 *   nesterov only with momentum > 0 and dampening == 0,
 *   0 <= beta1 < 1, 0 <= beta2 < 1, eps > 0; every value finite. */
/* Which parameters weight decay applies to. */
typedef enum gm_decay_scope {
    GM_DECAY_ALL = 0,    /* every parameter (PyTorch's default) */
    GM_DECAY_WEIGHTS = 1 /* parameters with ndim >= 2 only */
} gm_decay_scope;

typedef struct gm_optim_config {
    gm_optim_kind kind;
    double lr;
    double weight_decay;
    double momentum;   /* SGD */
    double dampening;  /* SGD */
    bool nesterov;     /* SGD */
    double beta1;      /* Adam, AdamW */
    double beta2;      /* Adam, AdamW */
    double eps;        /* Adam, AdamW */
    gm_decay_scope decay; /* [GM_DECAY_ALL] */
} gm_optim_config;

/* Defaults per kind:
 *   SGD:   lr 1e-3, momentum 0, dampening 0, nesterov off, weight decay 0
 *          (torch.optim.SGD);
 *   Adam:  lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0
 *          (torch.optim.Adam);
 *   AdamW: lr 0.004, betas (0.9, 0.999), eps 1e-8, weight decay 0.0153
 *          (the reference training setup, not PyTorch's
 *          lr 1e-3 / weight decay 1e-2).
 * An unknown kind gives the SGD defaults with that kind (rejected by
 * gm_optim_new). */
gm_optim_config gm_optim_config_default(gm_optim_kind kind);
/* Checks a config without building anything: GM_OK or GM_ERR_INVALID_ARG
 * with a detail naming the field, e.g. "optimizer config: beta2 = 1 must be
 * in [0, 1)". */
GM_NODISCARD gm_status gm_optim_config_check(const gm_optim_config *cfg);
/* "sgd", "adam", "adamw" (NULL for an unknown kind). */
const char *gm_optim_kind_name(gm_optim_kind kind);

typedef struct gm_optim gm_optim;

/* An optimizer over params[0..n): the array is copied, the tensors are
 * borrowed. All state is allocated here, zero-filled, so gm_optim_step never
 * allocates. Errors: GM_ERR_INVALID_ARG for a bad config, n < 1, a NULL
 * parameter or one listed twice (detail names the index); GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_optim_new(const gm_optim_config *cfg, int64_t n,
                                    gm_tensor *const *params, gm_optim **out);
void gm_optim_free(gm_optim *o);

/* One update of every parameter whose grad is non-NULL (rules above).
 * Gradients are read, not cleared. Never fails on valid state; non-finite
 * gradients propagate into the parameters (clip or check before). */
GM_NODISCARD gm_status gm_optim_step(gm_optim *o);
/* Zeroes the grad of every parameter that has one (NULL grads stay NULL). */
void gm_optim_zero_grad(gm_optim *o);

/* The learning rate used by the next step. set_lr: lr finite and >= 0, else
 * GM_ERR_INVALID_ARG (the rate is unchanged). */
double gm_optim_lr(const gm_optim *o);
GM_NODISCARD gm_status gm_optim_set_lr(gm_optim *o, double lr);
/* The config as given at creation (its lr is the initial rate; the current
 * one is gm_optim_lr). */
const gm_optim_config *gm_optim_get_config(const gm_optim *o);
int64_t gm_optim_param_count(const gm_optim *o);
gm_tensor *gm_optim_param(gm_optim *o, int64_t i);
/* Steps taken on parameter i (0 until its first update with a gradient). */
int64_t gm_optim_param_steps(const gm_optim *o, int64_t i);

/* --- optimizer state, for checkpoints --------------------------------------
 * Everything the next step depends on besides the parameters and their
 * gradients, as named buffers. Restoring every buffer of a saved listing
 * into a fresh optimizer built with the same config over parameters holding
 * the saved values makes the next steps bit-identical to an uninterrupted
 * run. The listing is fixed at creation, in this order:
 *   "step"               I64,  (n,)       per-parameter step counts
 *   "lr"                 F64,  ()         current learning rate
 *   SGD, momentum > 0:   "sgd.momentum.<i>"           REAL, shape of param i
 *   Adam, AdamW:         "adam.m.<i>", "adam.v.<i>"   REAL, shape of param i
 * (<i> is the parameter's index; for each i its buffers come together.)
 * SGD without momentum has only "step" and "lr". */
typedef enum gm_optim_dtype {
    GM_OPTIM_DTYPE_REAL = 0, /* gm_real (float, or double in the f64 build) */
    GM_OPTIM_DTYPE_F64 = 1,
    GM_OPTIM_DTYPE_I64 = 2
} gm_optim_dtype;

typedef struct gm_optim_state {
    const char *name;      /* owned by the optimizer */
    gm_optim_dtype dtype;
    int ndim;              /* 0 for a scalar */
    int64_t shape[GM_TENSOR_MAX_DIMS];
    int64_t numel;
    void *data;            /* numel elements of dtype; writable, for restoring */
    gm_tensor *tensor;     /* REAL buffers: the tensor owning data; else NULL */
} gm_optim_state;

int64_t gm_optim_state_count(const gm_optim *o);
/* Entry i of the listing; GM_ERR_INVALID_ARG when i is out of range. */
GM_NODISCARD gm_status gm_optim_state_get(gm_optim *o, int64_t i, gm_optim_state *out);
/* The entry with this name; GM_ERR_NOT_FOUND (detail names it) otherwise. */
GM_NODISCARD gm_status gm_optim_state_find(gm_optim *o, const char *name, gm_optim_state *out);
/* Checks restored state: step counts >= 0 and lr finite and >= 0
 * (GM_ERR_INVALID_ARG naming the buffer otherwise). Call after writing the
 * buffers of a loaded checkpoint. */
GM_NODISCARD gm_status gm_optim_state_validate(const gm_optim *o);

/* --- gradient clipping ------------------------------------------------------
 * As torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=2): the total
 * norm is the 2-norm over every element of every non-NULL grad (0 when there
 * are none); with coef = max_norm / (total + 1e-6), every grad is multiplied
 * by coef when coef < 1 and left alone otherwise. *total_norm_out (may be
 * NULL) receives the norm before clipping. Errors: GM_ERR_INVALID_ARG for
 * n < 0, a NULL parameter or max_norm not finite and > 0; GM_ERR_NUMERIC when
 * the total norm is not finite (the gradients are then left untouched and
 * *total_norm_out holds the inf or NaN). */
GM_NODISCARD gm_status gm_clip_grad_norm(int64_t n, gm_tensor *const *params, double max_norm,
                                         double *total_norm_out);

/* --- learning-rate schedules ------------------------------------------------
 * A schedule is a plain struct: config (set once) plus state (a few numbers
 * a checkpoint saves and restores by assignment). Call gm_lr_sched_step once
 * per epoch, after the epoch (PyTorch's scheduler.step()); it updates the
 * schedule's learning rate and writes it to the optimizer when one is given.
 * The schedule owns the learning rate: a rate set on the optimizer directly
 * is overwritten at the next step.
 *
 *   CONSTANT  lr = base_lr
 *   STEP      (StepLR)  lr(e) = base_lr * gamma^floor(e / step_size)
 *   COSINE    (CosineAnnealingLR, closed form)
 *             lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / t_max)) / 2
 *             (periodic past t_max, as PyTorch's closed form)
 *   PLATEAU   (ReduceLROnPlateau, exactly its step(metric)):
 *             better(a) = min/rel: a < best*(1 - threshold)  min/abs: a < best - threshold
 *                         max/rel: a > best*(1 + threshold)  max/abs: a > best + threshold
 *             if better(metric): best = metric, num_bad = 0 else num_bad += 1
 *             if cooldown_counter > 0: cooldown_counter -= 1, num_bad = 0
 *             if num_bad > patience: new = max(lr*factor, min_lr),
 *                 lr = new if lr - new > eps; cooldown_counter = cooldown; num_bad = 0
 *             best starts at +inf (min) / -inf (max); a NaN metric is never
 *             better, so it counts as a bad epoch.
 * e is the number of steps taken (PyTorch's last_epoch). STEP and COSINE
 * use the closed form, which equals PyTorch's chained form up to rounding.
 *
 * Linear warm-up (warmup_epochs W > 0; CONSTANT and COSINE only): the rate
 * then changes at every optimizer step, as a function of the global step
 * index i = 0, 1, ... (the step about to be taken) and the steps per epoch S
 * (gm_lr_sched_lr_at_step); the trainer sets it before every step, and
 * gm_lr_sched_step only counts the epoch (state.lr stays base_lr and the
 * optimizer is left alone). With N = W * S warm-up steps and T = t_max * S
 * steps in all:
 *   i < N          lr = base_lr * (i + 1) / N           (rises to base_lr)
 *   CONSTANT, i >= N: lr = base_lr
 *   COSINE,   i >= N: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * q)) / 2,
 *                     q = min(1, (i - N) / (T - N))     (eta_min from step T on)
 * Since it depends on i alone, a resumed run gets the same rates. */
typedef enum gm_lr_sched_kind {
    GM_LR_CONSTANT = 0,
    GM_LR_STEP = 1,
    GM_LR_COSINE = 2,
    GM_LR_PLATEAU = 3
} gm_lr_sched_kind;

typedef enum gm_sched_mode { GM_SCHED_MIN = 0, GM_SCHED_MAX = 1 } gm_sched_mode;
typedef enum gm_threshold_mode { GM_THRESHOLD_REL = 0, GM_THRESHOLD_ABS = 1 } gm_threshold_mode;

/* Valid values (else GM_ERR_INVALID_ARG naming the field): STEP: step_size
 * >= 1, gamma finite and >= 0; COSINE: t_max >= 1, eta_min finite and >= 0,
 * 0 <= warmup_epochs < t_max; CONSTANT: warmup_epochs >= 0; STEP and
 * PLATEAU: warmup_epochs = 0;
 * PLATEAU: 0 <= factor < 1, patience >= 0, threshold finite and >= 0,
 * cooldown >= 0, min_lr finite and >= 0, eps finite and >= 0. */
typedef struct gm_lr_sched_config {
    gm_lr_sched_kind kind;
    int64_t step_size;  /* STEP */
    double gamma;       /* STEP */
    int64_t t_max;      /* COSINE, in epochs */
    double eta_min;     /* COSINE */
    int64_t warmup_epochs; /* CONSTANT, COSINE: linear warm-up, per step; 0 = off
                            * (COSINE: < t_max) */
    gm_sched_mode mode;               /* PLATEAU */
    double factor;                    /* PLATEAU */
    int64_t patience;                 /* PLATEAU */
    double threshold;                 /* PLATEAU */
    gm_threshold_mode threshold_mode; /* PLATEAU */
    int64_t cooldown;                 /* PLATEAU */
    double min_lr;                    /* PLATEAU */
    double eps;                       /* PLATEAU: smallest change applied */
} gm_lr_sched_config;

/* Defaults: STEP step_size 30, gamma 0.1 (gamma as PyTorch; step_size has
 * no PyTorch default); COSINE t_max 100, eta_min 0; PLATEAU the reference's
 * ReduceLROnPlateau: mode min, factor 0.7, patience 5, threshold 1e-4 rel,
 * cooldown 0, min_lr 0, eps 1e-8 (PyTorch's defaults except factor 0.7 and
 * patience 5, which the reference protocol fixes). */
gm_lr_sched_config gm_lr_sched_config_default(gm_lr_sched_kind kind);

typedef struct gm_lr_sched_state {
    int64_t epoch;            /* steps taken (PyTorch's last_epoch) */
    double base_lr;           /* the rate at init */
    double lr;                /* the rate for the next epoch */
    double best;              /* PLATEAU: best metric so far */
    int64_t num_bad_epochs;   /* PLATEAU */
    int64_t cooldown_counter; /* PLATEAU */
} gm_lr_sched_state;

typedef struct gm_lr_sched {
    gm_lr_sched_config cfg;
    gm_lr_sched_state state;
} gm_lr_sched;

/* Checks cfg and starts the schedule at epoch 0 with lr = base_lr (finite,
 * >= 0). GM_ERR_INVALID_ARG naming the field otherwise. */
GM_NODISCARD gm_status gm_lr_sched_init(gm_lr_sched *s, const gm_lr_sched_config *cfg,
                                        double base_lr);
/* Ends an epoch: advances the schedule (metric is used by PLATEAU only) and,
 * when o is non-NULL, sets its learning rate to the new one. */
GM_NODISCARD gm_status gm_lr_sched_step(gm_lr_sched *s, double metric, gm_optim *o);
/* The current rate (state.lr). */
double gm_lr_sched_lr(const gm_lr_sched *s);
/* STEP / COSINE / CONSTANT: the closed-form rate after `epoch` steps;
 * PLATEAU: the current rate (it has no closed form). */
double gm_lr_sched_lr_at(const gm_lr_sched *s, int64_t epoch);
/* Whether the rate changes per optimizer step (warmup_epochs > 0). */
bool gm_lr_sched_per_step(const gm_lr_sched *s);
/* The per-step rate (formulas above) for global step `step` >= 0 with
 * steps_per_epoch >= 1; without warm-up, gm_lr_sched_lr_at(s, step /
 * steps_per_epoch). */
double gm_lr_sched_lr_at_step(const gm_lr_sched *s, int64_t step, int64_t steps_per_epoch);
/* "constant", "step", "cosine", "plateau" (NULL for an unknown kind). */
const char *gm_lr_sched_kind_name(gm_lr_sched_kind kind);

/* --- early stopping ---------------------------------------------------------
 * Watches a monitored value once per epoch. An epoch improves when
 *   min: value < best - min_delta      max: value > best + min_delta
 * (best starts at +inf / -inf, so the first finite value improves; NaN never
 * does). Improvement sets best and clears the bad-epoch count; otherwise the
 * count grows, and once it reaches `patience` the stopper reports stop (and
 * keeps reporting it). With patience p and the best value at epoch k, stop
 * is reported at epoch k + p. */
typedef struct gm_early_stop {
    /* config */
    gm_sched_mode mode;
    int64_t patience;  /* >= 1 */
    double min_delta;  /* finite, >= 0 */
    /* state */
    int64_t epoch;          /* values seen */
    double best;
    int64_t best_epoch;     /* 1-based epoch of best (0 before any) */
    int64_t num_bad_epochs;
    bool improved;          /* the last value improved */
    bool stop;
} gm_early_stop;

/* GM_ERR_INVALID_ARG naming the field for patience < 1, min_delta negative
 * or not finite, or an unknown mode. */
GM_NODISCARD gm_status gm_early_stop_init(gm_early_stop *e, gm_sched_mode mode, int64_t patience,
                                          double min_delta);
/* Records one epoch's value; returns true when training should stop. */
bool gm_early_stop_update(gm_early_stop *e, double value);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_OPTIM_H */
