/* SGD, Adam and AdamW with their state listing. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optim_internal.h"

struct gm_optim {
    gm_optim_config cfg;
    int64_t n;
    gm_tensor **params;
    int64_t *steps;        /* per parameter: PyTorch keeps a step per param */
    double *lr;            /* lives in the arena so the listing can point at it */
    gm_tensor **buf0;      /* SGD momentum buffer, or Adam's m; NULL when unused */
    gm_tensor **buf1;      /* Adam's v; NULL when unused */
    int64_t nstate;
    gm_optim_state *state; /* the fixed listing */
    gm_arena *arena;       /* everything above except the struct itself */
};

gm_optim_config gm_optim_config_default(gm_optim_kind kind) {
    gm_optim_config c = {
        .kind = kind,
        .lr = 1e-3,
        .weight_decay = 0.0,
        .momentum = 0.0,
        .dampening = 0.0,
        .nesterov = false,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
    };
    if (kind == GM_OPTIM_ADAMW) {
        c.lr = 0.004;
        c.weight_decay = 0.0153;
    }
    return c;
}

const char *gm_optim_kind_name(gm_optim_kind kind) {
    switch (kind) {
    case GM_OPTIM_SGD: return "sgd";
    case GM_OPTIM_ADAM: return "adam";
    case GM_OPTIM_ADAMW: return "adamw";
    }
    return NULL;
}

gm_status gm_optim_config_check(const gm_optim_config *c) {
    GM_RETURN_ERROR_IF(!c, GM_ERR_INVALID_ARG, "optimizer config: cfg is NULL");
    GM_RETURN_ERROR_IF(!gm_optim_kind_name(c->kind), GM_ERR_INVALID_ARG,
                       "optimizer config: kind = %d is not sgd, adam or adamw", (int)c->kind);
    GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->lr), GM_ERR_INVALID_ARG,
                       "optimizer config: lr = %g must be finite and >= 0", c->lr);
    GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->weight_decay), GM_ERR_INVALID_ARG,
                       "optimizer config: weight_decay = %g must be finite and >= 0",
                       c->weight_decay);
    GM_RETURN_ERROR_IF(c->decay != GM_DECAY_ALL && c->decay != GM_DECAY_WEIGHTS,
                       GM_ERR_INVALID_ARG, "optimizer config: decay = %d is not all or weights",
                       (int)c->decay);
    if (c->kind == GM_OPTIM_SGD) {
        GM_RETURN_ERROR_IF(!gm__optim_nonneg(c->momentum), GM_ERR_INVALID_ARG,
                           "optimizer config: momentum = %g must be finite and >= 0",
                           c->momentum);
        GM_RETURN_ERROR_IF(!isfinite(c->dampening), GM_ERR_INVALID_ARG,
                           "optimizer config: dampening = %g must be finite", c->dampening);
        GM_RETURN_ERROR_IF(c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0),
                           GM_ERR_INVALID_ARG,
                           "optimizer config: nesterov needs momentum > 0 and dampening = 0 "
                           "(momentum = %g, dampening = %g)",
                           c->momentum, c->dampening);
        return GM_OK;
    }
    GM_RETURN_ERROR_IF(!(c->beta1 >= 0.0 && c->beta1 < 1.0), GM_ERR_INVALID_ARG,
                       "optimizer config: beta1 = %g must be in [0, 1)", c->beta1);
    GM_RETURN_ERROR_IF(!(c->beta2 >= 0.0 && c->beta2 < 1.0), GM_ERR_INVALID_ARG,
                       "optimizer config: beta2 = %g must be in [0, 1)", c->beta2);
    GM_RETURN_ERROR_IF(!(isfinite(c->eps) && c->eps > 0.0), GM_ERR_INVALID_ARG,
                       "optimizer config: eps = %g must be finite and > 0", c->eps);
    return GM_OK;
}

static char *arena_printf(gm_arena *a, const char *fmt, int64_t i) {
    char tmp[64];
    const int len = snprintf(tmp, sizeof tmp, fmt, (long long)i);
    GM_ASSERT(len > 0 && (size_t)len < sizeof tmp);
    char *s = gm_arena_alloc(a, (size_t)len + 1);
    if (s) memcpy(s, tmp, (size_t)len + 1);
    return s;
}

static void state_entry(gm_optim_state *e, const char *name, gm_optim_dtype dtype, int ndim,
                        const int64_t *shape, void *data, gm_tensor *tensor) {
    memset(e, 0, sizeof *e);
    e->name = name;
    e->dtype = dtype;
    e->ndim = ndim;
    e->numel = 1;
    for (int d = 0; d < ndim; d++) {
        e->shape[d] = shape[d];
        e->numel *= shape[d];
    }
    e->data = data;
    e->tensor = tensor;
}

/* Builds the state buffers and the listing in o->arena. */
static gm_status optim_alloc_state(gm_optim *o, gm_tensor *const *params) {
    gm_arena *a = o->arena;
    const int64_t n = o->n;
    const bool sgd_mom = o->cfg.kind == GM_OPTIM_SGD && o->cfg.momentum != 0.0;
    const bool adam = o->cfg.kind != GM_OPTIM_SGD;
    const int64_t per_param = adam ? 2 : (sgd_mom ? 1 : 0);

    o->params = gm_arena_calloc(a, (size_t)n, sizeof *o->params);
    o->steps = gm_arena_calloc(a, (size_t)n, sizeof *o->steps);
    o->lr = gm_arena_calloc(a, 1, sizeof *o->lr);
    if (!o->params || !o->steps || !o->lr) return gm__nomem("optimizer state");
    memcpy(o->params, params, (size_t)n * sizeof *o->params);
    o->nstate = 2 + per_param * n;
    o->state = gm_arena_calloc(a, (size_t)o->nstate, sizeof *o->state);
    if (!o->state) return gm__nomem("optimizer state listing");
    if (per_param >= 1) {
        o->buf0 = gm_arena_calloc(a, (size_t)n, sizeof *o->buf0);
        if (!o->buf0) return gm__nomem("optimizer state");
    }
    if (per_param >= 2) {
        o->buf1 = gm_arena_calloc(a, (size_t)n, sizeof *o->buf1);
        if (!o->buf1) return gm__nomem("optimizer state");
    }

    const int64_t nshape[1] = {n};
    state_entry(&o->state[0], "step", GM_OPTIM_DTYPE_I64, 1, nshape, o->steps, NULL);
    state_entry(&o->state[1], "lr", GM_OPTIM_DTYPE_F64, 0, NULL, o->lr, NULL);
    int64_t k = 2;
    for (int64_t i = 0; i < per_param * n; i++) {
        const int64_t pi = i / per_param;
        const bool second = per_param == 2 && i % 2 == 1;
        const gm_tensor *p = o->params[pi];
        gm_tensor *t = NULL;
        gm_status st = gm_tensor_new(a, p->ndim, p->shape, &t);
        if (st != GM_OK) return st;
        const char *fmt = !adam ? "sgd.momentum.%lld" : (second ? "adam.v.%lld" : "adam.m.%lld");
        char *name = arena_printf(a, fmt, pi);
        if (!name) return gm__nomem("optimizer state names");
        if (second)
            o->buf1[pi] = t;
        else
            o->buf0[pi] = t;
        state_entry(&o->state[k++], name, GM_OPTIM_DTYPE_REAL, t->ndim, t->shape, t->data, t);
    }
    GM_ASSERT(k == o->nstate);
    return GM_OK;
}

gm_status gm_optim_new(const gm_optim_config *cfg, int64_t n, gm_tensor *const *params,
                       gm_optim **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_optim_new: out is NULL");
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm_optim_config_check(cfg));
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG,
                       "gm_optim_new: parameter count %lld must be >= 1", (long long)n);
    GM_RETURN_ERROR_IF(!params, GM_ERR_INVALID_ARG, "gm_optim_new: params is NULL");
    GM_RETURN_ERROR_IF((uint64_t)n > SIZE_MAX / (4 * sizeof(gm_optim_state)), GM_ERR_TOO_LARGE,
                       "gm_optim_new: parameter count %lld is too large", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        GM_RETURN_ERROR_IF(!params[i] || !params[i]->data, GM_ERR_INVALID_ARG,
                           "gm_optim_new: parameter %lld is NULL or has no data", (long long)i);
        /* A parameter listed twice would be updated twice per step. */
        for (int64_t j = 0; j < i; j++)
            GM_RETURN_ERROR_IF(params[j] == params[i], GM_ERR_INVALID_ARG,
                               "gm_optim_new: parameter %lld is also parameter %lld",
                               (long long)i, (long long)j);
    }

    gm_optim *o = gm_calloc(1, sizeof *o);
    if (!o) return gm__nomem("an optimizer");
    o->cfg = *cfg;
    o->n = n;
    gm_status st = gm_arena_new(0, &o->arena);
    if (st == GM_OK) st = optim_alloc_state(o, params);
    if (st != GM_OK) {
        gm_optim_free(o);
        return st;
    }
    *o->lr = cfg->lr;
    *out = o;
    return GM_OK;
}

void gm_optim_free(gm_optim *o) {
    if (!o) return;
    gm_arena_free(o->arena);
    gm_free(o);
}

/* --- updates --------------------------------------------------------------- */

static void sgd_update(const gm_optim_config *c, double lr, double wd, int64_t t, gm_tensor *p,
                       gm_tensor *buf) {
    const double mom = c->momentum;
    const double damp = c->dampening;
    gm_real *restrict x = p->data;
    const gm_real *restrict g = p->grad;
    gm_real *restrict b = buf ? buf->data : NULL;
    for (int64_t i = 0; i < p->numel; i++) {
        const double xi = (double)x[i];
        double d = (double)g[i];
        /* PyTorch adds the decay term only when it is non-zero, which matters
         * for non-finite parameters (0 * inf). */
        if (wd != 0.0) d += wd * xi;
        if (b) {
            const double bi = t == 1 ? d : mom * (double)b[i] + (1.0 - damp) * d;
            b[i] = (gm_real)bi;
            d = c->nesterov ? d + mom * bi : bi;
        }
        x[i] = (gm_real)(xi - lr * d);
    }
}

static void adam_update(const gm_optim_config *c, double lr, double wd, int64_t t, gm_tensor *p,
                        gm_tensor *mt, gm_tensor *vt) {
    const bool decoupled = c->kind == GM_OPTIM_ADAMW;
    const double b1 = c->beta1;
    const double b2 = c->beta2;
    const double eps = c->eps;
    const double step_size = lr / (1.0 - pow(b1, (double)t));
    const double bc2_sqrt = sqrt(1.0 - pow(b2, (double)t));
    const double shrink = 1.0 - lr * wd;
    gm_real *restrict x = p->data;
    const gm_real *restrict g = p->grad;
    gm_real *restrict m = mt->data;
    gm_real *restrict v = vt->data;
    for (int64_t i = 0; i < p->numel; i++) {
        double xi = (double)x[i];
        double gi = (double)g[i];
        if (decoupled)
            xi *= shrink;
        else if (wd != 0.0)
            gi += wd * xi;
        const double mi = b1 * (double)m[i] + (1.0 - b1) * gi;
        const double vi = b2 * (double)v[i] + (1.0 - b2) * gi * gi;
        m[i] = (gm_real)mi;
        v[i] = (gm_real)vi;
        const double denom = sqrt(vi) / bc2_sqrt + eps;
        x[i] = (gm_real)(xi - step_size * mi / denom);
    }
}

gm_status gm_optim_step(gm_optim *o) {
    GM_RETURN_ERROR_IF(!o, GM_ERR_INVALID_ARG, "gm_optim_step: optimizer is NULL");
    const double lr = *o->lr;
    for (int64_t i = 0; i < o->n; i++) {
        gm_tensor *p = o->params[i];
        if (!p->grad) continue;
        const int64_t t = ++o->steps[i];
        const double wd =
            o->cfg.decay == GM_DECAY_WEIGHTS && p->ndim < 2 ? 0.0 : o->cfg.weight_decay;
        if (o->cfg.kind == GM_OPTIM_SGD)
            sgd_update(&o->cfg, lr, wd, t, p, o->buf0 ? o->buf0[i] : NULL);
        else
            adam_update(&o->cfg, lr, wd, t, p, o->buf0[i], o->buf1[i]);
    }
    return GM_OK;
}

void gm_optim_zero_grad(gm_optim *o) {
    if (!o) return;
    for (int64_t i = 0; i < o->n; i++) gm_tensor_zero_grad(o->params[i]);
}

/* --- accessors -------------------------------------------------------------- */

double gm_optim_lr(const gm_optim *o) {
    return *o->lr;
}

gm_status gm_optim_set_lr(gm_optim *o, double lr) {
    GM_RETURN_ERROR_IF(!o, GM_ERR_INVALID_ARG, "gm_optim_set_lr: optimizer is NULL");
    GM_RETURN_ERROR_IF(!gm__optim_nonneg(lr), GM_ERR_INVALID_ARG,
                       "gm_optim_set_lr: lr = %g must be finite and >= 0", lr);
    *o->lr = lr;
    return GM_OK;
}

const gm_optim_config *gm_optim_get_config(const gm_optim *o) {
    return &o->cfg;
}

int64_t gm_optim_param_count(const gm_optim *o) {
    return o->n;
}

gm_tensor *gm_optim_param(gm_optim *o, int64_t i) {
    return i >= 0 && i < o->n ? o->params[i] : NULL;
}

int64_t gm_optim_param_steps(const gm_optim *o, int64_t i) {
    return i >= 0 && i < o->n ? o->steps[i] : 0;
}

int64_t gm_optim_state_count(const gm_optim *o) {
    return o->nstate;
}

gm_status gm_optim_state_get(gm_optim *o, int64_t i, gm_optim_state *out) {
    GM_RETURN_ERROR_IF(!o || !out, GM_ERR_INVALID_ARG, "gm_optim_state_get: NULL argument");
    GM_RETURN_ERROR_IF(i < 0 || i >= o->nstate, GM_ERR_INVALID_ARG,
                       "gm_optim_state_get: index %lld is outside [0, %lld)", (long long)i,
                       (long long)o->nstate);
    *out = o->state[i];
    return GM_OK;
}

gm_status gm_optim_state_find(gm_optim *o, const char *name, gm_optim_state *out) {
    GM_RETURN_ERROR_IF(!o || !name || !out, GM_ERR_INVALID_ARG,
                       "gm_optim_state_find: NULL argument");
    for (int64_t i = 0; i < o->nstate; i++) {
        if (strcmp(o->state[i].name, name) == 0) {
            *out = o->state[i];
            return GM_OK;
        }
    }
    return gm_error_set(GM_ERR_NOT_FOUND, "optimizer state: no buffer named '%s' (%s, %lld "
                        "buffers)", name, gm_optim_kind_name(o->cfg.kind), (long long)o->nstate);
}

gm_status gm_optim_state_validate(const gm_optim *o) {
    GM_RETURN_ERROR_IF(!o, GM_ERR_INVALID_ARG, "gm_optim_state_validate: optimizer is NULL");
    for (int64_t i = 0; i < o->n; i++)
        GM_RETURN_ERROR_IF(o->steps[i] < 0, GM_ERR_INVALID_ARG,
                           "optimizer state 'step': entry %lld = %lld must be >= 0",
                           (long long)i, (long long)o->steps[i]);
    GM_RETURN_ERROR_IF(!gm__optim_nonneg(*o->lr), GM_ERR_INVALID_ARG,
                       "optimizer state 'lr': %g must be finite and >= 0", *o->lr);
    return GM_OK;
}
