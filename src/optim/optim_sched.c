/* Learning-rate schedules (StepLR, CosineAnnealingLR, ReduceLROnPlateau) and
 * early stopping. */
#include <math.h>
#include <string.h>

#include "optim_internal.h"

const char *gm_lr_sched_kind_name(gm_lr_sched_kind kind) {
    switch (kind) {
    case GM_LR_CONSTANT: return "constant";
    case GM_LR_STEP: return "step";
    case GM_LR_COSINE: return "cosine";
    case GM_LR_PLATEAU: return "plateau";
    }
    return NULL;
}

gm_lr_sched_config gm_lr_sched_config_default(gm_lr_sched_kind kind) {
    gm_lr_sched_config c = {
        .kind = kind,
        .step_size = 30,
        .gamma = 0.1,
        .t_max = 100,
        .eta_min = 0.0,
        .mode = GM_SCHED_MIN,
        .factor = 0.7,
        .patience = 5,
        .threshold = 1e-4,
        .threshold_mode = GM_THRESHOLD_REL,
        .cooldown = 0,
        .min_lr = 0.0,
        .eps = 1e-8,
    };
    return c;
}

static gm_status sched_config_check(const gm_lr_sched_config *c) {
    const char *kind = gm_lr_sched_kind_name(c->kind);
    GM_RETURN_ERROR_IF(!kind, GM_ERR_INVALID_ARG,
                       "lr schedule config: kind = %d is not constant, step, cosine or plateau",
                       (int)c->kind);
    GM_RETURN_ERROR_IF(c->warmup_epochs < 0, GM_ERR_INVALID_ARG,
                       "lr schedule config: warmup_epochs = %lld must be >= 0",
                       (long long)c->warmup_epochs);
    GM_RETURN_ERROR_IF(c->warmup_epochs > 0 && c->kind != GM_LR_CONSTANT &&
                           c->kind != GM_LR_COSINE,
                       GM_ERR_INVALID_ARG,
                       "lr schedule config (%s): warmup_epochs applies to constant and cosine",
                       kind);
    switch (c->kind) {
    case GM_LR_CONSTANT: break;
    case GM_LR_STEP:
        GM_RETURN_ERROR_IF(c->step_size < 1, GM_ERR_INVALID_ARG,
                           "lr schedule config (step): step_size = %lld must be >= 1",
                           (long long)c->step_size);
        GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->gamma), GM_ERR_INVALID_ARG,
                           "lr schedule config (step): gamma = %g must be finite and >= 0",
                           c->gamma);
        break;
    case GM_LR_COSINE:
        GM_RETURN_ERROR_IF(c->t_max < 1, GM_ERR_INVALID_ARG,
                           "lr schedule config (cosine): t_max = %lld must be >= 1",
                           (long long)c->t_max);
        GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->eta_min), GM_ERR_INVALID_ARG,
                           "lr schedule config (cosine): eta_min = %g must be finite and >= 0",
                           c->eta_min);
        GM_RETURN_ERROR_IF(c->warmup_epochs >= c->t_max, GM_ERR_INVALID_ARG,
                           "lr schedule config (cosine): warmup_epochs = %lld must be below "
                           "t_max = %lld", (long long)c->warmup_epochs, (long long)c->t_max);
        break;
    case GM_LR_PLATEAU:
        GM_RETURN_ERROR_IF(c->mode != GM_SCHED_MIN && c->mode != GM_SCHED_MAX,
                           GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): mode = %d is not min or max",
                           (int)c->mode);
        GM_RETURN_ERROR_IF(!(c->factor >= 0.0 && c->factor < 1.0), GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): factor = %g must be in [0, 1)",
                           c->factor);
        GM_RETURN_ERROR_IF(c->patience < 0, GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): patience = %lld must be >= 0",
                           (long long)c->patience);
        GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->threshold), GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): threshold = %g must be finite and "
                           ">= 0", c->threshold);
        GM_RETURN_ERROR_IF(c->threshold_mode != GM_THRESHOLD_REL &&
                               c->threshold_mode != GM_THRESHOLD_ABS,
                           GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): threshold_mode = %d is not rel or abs",
                           (int)c->threshold_mode);
        GM_RETURN_ERROR_IF(c->cooldown < 0, GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): cooldown = %lld must be >= 0",
                           (long long)c->cooldown);
        GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->min_lr), GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): min_lr = %g must be finite and >= 0",
                           c->min_lr);
        GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->eps), GM_ERR_INVALID_ARG,
                           "lr schedule config (plateau): eps = %g must be finite and >= 0",
                           c->eps);
        break;
    }
    return GM_OK;
}

gm_status gm_lr_sched_init(gm_lr_sched *s, const gm_lr_sched_config *cfg, double base_lr) {
    GM_RETURN_ERROR_IF(!s || !cfg, GM_ERR_INVALID_ARG, "gm_lr_sched_init: NULL argument");
    GM_FORWARD_IF_ERROR(sched_config_check(cfg));
    GM_RETURN_ERROR_IF(!gm__optim_nonneg(base_lr), GM_ERR_INVALID_ARG,
                       "gm_lr_sched_init: base_lr = %g must be finite and >= 0", base_lr);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->state.base_lr = base_lr;
    s->state.lr = base_lr;
    s->state.best = cfg->mode == GM_SCHED_MAX ? -INFINITY : INFINITY;
    return GM_OK;
}

double gm_lr_sched_lr(const gm_lr_sched *s) {
    return s->state.lr;
}

double gm_lr_sched_lr_at(const gm_lr_sched *s, int64_t epoch) {
    const gm_lr_sched_config *c = &s->cfg;
    const double base = s->state.base_lr;
    switch (c->kind) {
    case GM_LR_STEP: return base * pow(c->gamma, (double)(epoch / c->step_size));
    case GM_LR_COSINE: {
        const double pi = 3.14159265358979323846;
        return c->eta_min + (base - c->eta_min) *
                                (1.0 + cos(pi * (double)epoch / (double)c->t_max)) / 2.0;
    }
    case GM_LR_CONSTANT: return base;
    case GM_LR_PLATEAU: return s->state.lr;
    }
    return s->state.lr;
}

bool gm_lr_sched_per_step(const gm_lr_sched *s) {
    return s && s->cfg.warmup_epochs > 0;
}

double gm_lr_sched_lr_at_step(const gm_lr_sched *s, int64_t step, int64_t steps_per_epoch) {
    const gm_lr_sched_config *c = &s->cfg;
    if (steps_per_epoch < 1) steps_per_epoch = 1;
    if (step < 0) step = 0;
    if (c->warmup_epochs <= 0) return gm_lr_sched_lr_at(s, step / steps_per_epoch);
    const double base = s->state.base_lr;
    const double warm = (double)c->warmup_epochs * (double)steps_per_epoch;
    if ((double)step < warm) return base * ((double)step + 1.0) / warm;
    if (c->kind != GM_LR_COSINE) return base;
    const double pi = 3.14159265358979323846;
    const double total = (double)c->t_max * (double)steps_per_epoch;
    const double q = fmin(1.0, ((double)step - warm) / (total - warm));
    return c->eta_min + (base - c->eta_min) * (1.0 + cos(pi * q)) / 2.0;
}

static bool plateau_better(const gm_lr_sched_config *c, double a, double best) {
    const bool rel = c->threshold_mode == GM_THRESHOLD_REL;
    if (c->mode == GM_SCHED_MIN)
        return rel ? a < best * (1.0 - c->threshold) : a < best - c->threshold;
    return rel ? a > best * (1.0 + c->threshold) : a > best + c->threshold;
}

static void plateau_step(gm_lr_sched *s, double metric) {
    const gm_lr_sched_config *c = &s->cfg;
    gm_lr_sched_state *st = &s->state;
    if (plateau_better(c, metric, st->best)) {
        st->best = metric;
        st->num_bad_epochs = 0;
    } else {
        st->num_bad_epochs++;
    }
    if (st->cooldown_counter > 0) {
        st->cooldown_counter--;
        st->num_bad_epochs = 0; /* bad epochs during cooldown do not count */
    }
    if (st->num_bad_epochs > c->patience) {
        const double old_lr = st->lr;
        const double new_lr = fmax(old_lr * c->factor, c->min_lr);
        /* PyTorch ignores changes below eps so that min_lr is approached, not
         * crept towards forever. */
        if (old_lr - new_lr > c->eps) st->lr = new_lr;
        st->cooldown_counter = c->cooldown;
        st->num_bad_epochs = 0;
    }
}

gm_status gm_lr_sched_step(gm_lr_sched *s, double metric, gm_optim *o) {
    GM_RETURN_ERROR_IF(!s, GM_ERR_INVALID_ARG, "gm_lr_sched_step: schedule is NULL");
    GM_FORWARD_IF_ERROR(sched_config_check(&s->cfg));
    s->state.epoch++;
    /* Per-step rates come from the step index; the epoch count is all there is to keep. */
    if (gm_lr_sched_per_step(s)) return GM_OK;
    if (s->cfg.kind == GM_LR_PLATEAU)
        plateau_step(s, metric);
    else
        s->state.lr = gm_lr_sched_lr_at(s, s->state.epoch);
    if (o) GM_FORWARD_IF_ERROR(gm_optim_set_lr(o, s->state.lr));
    return GM_OK;
}

/* --- early stopping ----------------------------------------------------------- */

gm_status gm_early_stop_init(gm_early_stop *e, gm_sched_mode mode, int64_t patience,
                             double min_delta) {
    GM_RETURN_ERROR_IF(!e, GM_ERR_INVALID_ARG, "gm_early_stop_init: stopper is NULL");
    GM_RETURN_ERROR_IF(mode != GM_SCHED_MIN && mode != GM_SCHED_MAX, GM_ERR_INVALID_ARG,
                       "early stopping: mode = %d is not min or max", (int)mode);
    GM_RETURN_ERROR_IF(patience < 1, GM_ERR_INVALID_ARG,
                       "early stopping: patience = %lld must be >= 1", (long long)patience);
    GM_RETURN_ERROR_IF(!gm__optim_nonneg(min_delta), GM_ERR_INVALID_ARG,
                       "early stopping: min_delta = %g must be finite and >= 0", min_delta);
    memset(e, 0, sizeof *e);
    e->mode = mode;
    e->patience = patience;
    e->min_delta = min_delta;
    e->best = mode == GM_SCHED_MAX ? -INFINITY : INFINITY;
    return GM_OK;
}

bool gm_early_stop_update(gm_early_stop *e, double value) {
    e->epoch++;
    e->improved = e->mode == GM_SCHED_MIN ? value < e->best - e->min_delta
                                          : value > e->best + e->min_delta;
    if (e->improved) {
        e->best = value;
        e->best_epoch = e->epoch;
        e->num_bad_epochs = 0;
    } else {
        e->num_bad_epochs++;
    }
    if (e->num_bad_epochs >= e->patience) e->stop = true;
    return e->stop;
}
