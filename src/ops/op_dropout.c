/* Inverted dropout: in training, out = x * m / (1 - p) with m ~ Bernoulli(1 - p);
 * otherwise the identity (still a copy, so results never alias inputs). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops_internal.h"

typedef struct {
    const uint8_t *keep; /* NULL: identity */
    gm_real scale;
} gm__dropout_saved;

static gm_status gm__dropout_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad) return GM_OK;
    bool fresh = false;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
    const gm__dropout_saved *s = node->saved;
    const gm_real *g = node->out->grad;
    if (!s->keep) {
        GM__GRAD_STORE(fresh, x->numel, x->grad, j, g[j]);
        return GM_OK;
    }
    const uint8_t *keep = s->keep;
    const gm_real scale = s->scale;
    GM__GRAD_STORE(fresh, x->numel, x->grad, j, keep[j] ? scale * g[j] : (gm_real)0);
    return GM_OK;
}

gm_status gm_op_dropout(gm_ctx *ctx, gm_tensor *x, double p, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "dropout: ctx, x and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!(p >= 0.0 && p < 1.0), GM_ERR_INVALID_ARG,
                       "dropout: probability %g is outside [0, 1)", p);
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, x->ndim, x->shape, &y));
    int64_t n = x->numel;
    gm__dropout_saved s = {NULL, (gm_real)1};
    if (gm_ctx_training(ctx) && p > 0.0) {
        uint8_t *keep = gm_arena_alloc(arena, (size_t)n);
        if (!keep) return gm__nomem("dropout: mask");
        /* One sequential pass over the ctx's RNG, so that a seed fixes the
         * mask whatever the thread count. */
        gm_rng *rng = gm_ctx_rng(ctx);
        for (int64_t j = 0; j < n; j++) keep[j] = gm_rng_uniform(rng) >= p;
        s.keep = keep;
        s.scale = (gm_real)(1.0 / (1.0 - p));
        const gm_real *px = x->data;
        gm_real *py = y->data;
        const gm_real scale = s.scale;
#pragma omp parallel for if (n >= (1 << 16))
        for (int64_t j = 0; j < n; j++) py[j] = keep[j] ? scale * px[j] : (gm_real)0;
    } else {
        memcpy(y->data, x->data, (size_t)n * sizeof(gm_real));
    }
    gm_tensor *in[1] = {x};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        gm__dropout_saved *saved = gm_arena_alloc(arena, sizeof *saved);
        if (!saved) return gm__nomem("dropout: saved state");
        *saved = s;
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_DROPOUT, gm__dropout_backward, y, 1, in, saved));
    }
    *out = y;
    return GM_OK;
}
