/* Initialisation and the named-parameter registry. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

void gm_nn_init_kaiming_uniform(gm_tensor *t, int64_t fan_in, gm_rng *rng) {
    /* kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + a^2)) = sqrt(1/3),
     * bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in). */
    const double bound = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = (gm_real)((2.0 * gm_rng_uniform(rng) - 1.0) * bound);
}

gm_status gm__nn_error_wrap(gm_status st, const char *context) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s", gm_error_detail());
    return gm_error_set(st, "%s: %s", context, detail[0] ? detail : gm_strerror(st));
}

void gm__nn_fill(gm_tensor *t, double value) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (gm_real)value;
}

gm_status gm__nn_params_init(gm__nn_params *p) {
    memset(p, 0, sizeof *p);
    return gm_arena_new(0, &p->arena);
}

void gm__nn_params_release(gm__nn_params *p) {
    gm_free(p->names);
    gm_free(p->tensors);
    gm_arena_free(p->arena);
    memset(p, 0, sizeof *p);
}

gm_status gm__nn_param_new(gm__nn_params *p, int ndim, const int64_t *shape, gm_tensor **out,
                           const char *fmt, ...) {
    *out = NULL;
    char name[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (p->check) GM_FORWARD_IF_ERROR(p->check(p->check_user, name, ndim, shape));
    if (p->count == p->cap) {
        const int64_t cap = p->cap ? 2 * p->cap : 32;
        char **names = gm_realloc(p->names, (size_t)cap * sizeof *names);
        if (!names) return gm__nomem("parameter names");
        p->names = names;
        gm_tensor **tensors = gm_realloc(p->tensors, (size_t)cap * sizeof *tensors);
        if (!tensors) return gm__nomem("parameter list");
        p->tensors = tensors;
        p->cap = cap;
    }
    gm_tensor *t = NULL;
    gm_status st = gm_tensor_new(p->arena, ndim, shape, &t);
    if (st != GM_OK) {
        char context[224];
        snprintf(context, sizeof context, "parameter %s", name);
        return gm__nn_error_wrap(st, context);
    }
    const size_t len = strlen(name) + 1;
    char *copy = gm_arena_alloc(p->arena, len);
    if (!copy) return gm__nomem("parameter name");
    memcpy(copy, name, len);
    t->requires_grad = true;
    p->names[p->count] = copy;
    p->tensors[p->count] = t;
    p->count++;
    *out = t;
    return GM_OK;
}

gm_status gm__nn_bnorm_init(gm__nn_bnorm *bn, gm__nn_params *p, const char *prefix, int64_t c) {
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 1, &c, &bn->weight, "%s.weight", prefix));
    gm__nn_fill(bn->weight, 1.0);
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 1, &c, &bn->bias, "%s.bias", prefix));
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 1, &c, &bn->running_mean, "%s.running_mean", prefix));
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 1, &c, &bn->running_var, "%s.running_var", prefix));
    gm__nn_fill(bn->running_var, 1.0);
    /* Saved with the model, never trained. */
    bn->running_mean->requires_grad = false;
    bn->running_var->requires_grad = false;
    return GM_OK;
}

gm_status gm__nn_bnorm_forward(const gm__nn_bnorm *bn, gm_ctx *ctx, gm_tensor *x,
                               gm_tensor **out) {
    return gm_op_batchnorm(ctx, x, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                           GM__NN_BN_MOMENTUM, GM__NN_BN_EPS, out);
}
