#include "gradcheck.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define GC_SEED 0x67726164u
#define GC_MAX_INPUTS 16

gm_arena *gc_arena(void) {
    gm_arena *a = NULL;
    gm_status st = gm_arena_new(0, &a);
    cr_assert_eq(st, GM_OK, "gc_arena: %s", gm_error_detail());
    return a;
}

void gc_fill_uniform(gm_rng *rng, gm_tensor *t, double lo, double hi) {
    for (int64_t i = 0; i < t->numel; i++) {
        t->data[i] = (gm_real)(lo + (hi - lo) * gm_rng_uniform(rng));
    }
}

gm_tensor *gc_random_tensor(gm_arena *arena, gm_rng *rng, int ndim, const int64_t *shape,
                            bool requires_grad) {
    gm_tensor *t = NULL;
    gm_status st = gm_tensor_new(arena, ndim, shape, &t);
    cr_assert_eq(st, GM_OK, "gc_random_tensor: %s", gm_error_detail());
    gc_fill_uniform(rng, t, -1.0, 1.0);
    t->requires_grad = requires_grad;
    return t;
}

/* The weighted sum L = sum out * R as a recorded node, so that the check goes
 * through gm_ctx_backward exactly as a training step does. */
typedef struct {
    const gm_real *r;
} gc_wsum_saved;

static gm_status gc_wsum_backward(gm_tape_node *node) {
    const gc_wsum_saved *s = node->saved;
    gm_tensor *x = node->in[0];
    gm_status st = gm_tensor_grad_ensure(x);
    if (st != GM_OK) return st;
    gm_real g = node->out->grad[0];
    for (int64_t i = 0; i < x->numel; i++) x->grad[i] += g * s->r[i];
    return GM_OK;
}

static double gc_wsum(const gm_tensor *out, const gm_real *r) {
    double acc = 0.0;
    for (int64_t i = 0; i < out->numel; i++) acc += (double)out->data[i] * (double)r[i];
    return acc;
}

gm_status gc_backward_weighted(gm_ctx *ctx, gm_tensor *y, const gm_real *r) {
    gc_wsum_saved *saved = gm_arena_alloc(gm_ctx_arena(ctx), sizeof *saved);
    if (!saved) return GM_ERR_NOMEM;
    saved->r = r;
    gm_tensor *loss = NULL;
    gm_status st = gm_tensor_new(gm_ctx_arena(ctx), 0, NULL, &loss);
    if (st != GM_OK) return st;
    loss->data[0] = (gm_real)gc_wsum(y, r);
    gm_tensor *in[1] = {y};
    st = gm_ctx_record(ctx, -1, gc_wsum_backward, loss, 1, in, saved);
    if (st != GM_OK) return st;
    return gm_ctx_backward(ctx, loss);
}

/* Resets ctx, reseeds its RNG and runs f; returns L or NAN on failure. */
static double gc_eval(const char *name, gm_ctx *ctx, gc_forward_fn f, gm_tensor **in, void *user,
                      const gm_tensor *r) {
    gm_ctx_reset(ctx);
    gm_rng_seed(gm_ctx_rng(ctx), GC_SEED, 1);
    gm_tensor *out = NULL;
    gm_status st = f(ctx, in, user, &out);
    if (st != GM_OK || !out) {
        cr_log_error("gradcheck %s: forward failed: %s (%s)", name, gm_strerror(st),
                     gm_error_detail());
        return NAN;
    }
    if (out->numel != r->numel) {
        cr_log_error("gradcheck %s: output size changed between evaluations", name);
        return NAN;
    }
    return gc_wsum(out, r->data);
}

double gc_check_sampled(const char *name, gc_forward_fn f, int nin, gm_tensor **in, void *user,
                        double h, int64_t max_per_input) {
    gm_ctx *ctx = NULL;
    gm_arena *keep = NULL;
    double worst_all = 0.0;
    if (nin < 0 || nin > GC_MAX_INPUTS) {
        cr_log_error("gradcheck %s: %d inputs, at most %d", name, nin, GC_MAX_INPUTS);
        return INFINITY;
    }
    if (gm_ctx_new(0, GC_SEED, &ctx) != GM_OK || gm_arena_new(0, &keep) != GM_OK) {
        cr_log_error("gradcheck %s: setup failed: %s", name, gm_error_detail());
        worst_all = INFINITY;
        goto done;
    }

    /* Analytic pass. */
    gm_rng_seed(gm_ctx_rng(ctx), GC_SEED, 1);
    gm_tensor *out = NULL;
    gm_status st = f(ctx, in, user, &out);
    if (st != GM_OK || !out) {
        cr_log_error("gradcheck %s: forward failed: %s (%s)", name, gm_strerror(st),
                     gm_error_detail());
        worst_all = INFINITY;
        goto done;
    }
    gm_tensor *r = NULL;
    if (gm_tensor_new(keep, out->ndim, out->shape, &r) != GM_OK) {
        worst_all = INFINITY;
        goto done;
    }
    gm_rng rrng;
    gm_rng_seed(&rrng, GC_SEED, 2);
    if (out->numel == 1) {
        r->data[0] = 1;
    } else {
        gc_fill_uniform(&rrng, r, -1.0, 1.0);
    }
    for (int i = 0; i < nin; i++) gm_tensor_zero_grad(in[i]);
    if (!out->requires_grad) {
        cr_log_error("gradcheck %s: the output does not require a gradient", name);
        worst_all = INFINITY;
        goto done;
    }
    st = gc_backward_weighted(ctx, out, r->data);
    if (st != GM_OK) {
        cr_log_error("gradcheck %s: backward failed: %s (%s)", name, gm_strerror(st),
                     gm_error_detail());
        worst_all = INFINITY;
        goto done;
    }

    /* Keep the analytic gradients: the inputs' grads are not touched by the
     * finite-difference passes (gradients off), but copying makes that moot. */
    gm_real *analytic[GC_MAX_INPUTS] = {0};
    for (int i = 0; i < nin; i++) {
        if (!in[i] || !in[i]->requires_grad) continue;
        analytic[i] = gm_arena_alloc(keep, (size_t)in[i]->numel * sizeof(gm_real));
        if (!analytic[i]) {
            worst_all = INFINITY;
            goto done;
        }
        if (in[i]->grad) {
            memcpy(analytic[i], in[i]->grad, (size_t)in[i]->numel * sizeof(gm_real));
        } else {
            memset(analytic[i], 0, (size_t)in[i]->numel * sizeof(gm_real));
        }
    }

    gm_ctx_set_grad(ctx, false);
    gm_rng pick;
    gm_rng_seed(&pick, GC_SEED, 3);
    for (int i = 0; i < nin; i++) {
        if (!analytic[i]) continue;
        gm_tensor *x = in[i];
        int64_t n = x->numel;
        int64_t count = (max_per_input > 0 && n > max_per_input) ? max_per_input : n;
        double worst = 0.0, worst_g = 0.0, worst_fd = 0.0;
        int64_t worst_j = -1;
        for (int64_t c = 0; c < count; c++) {
            int64_t j = count == n ? c : (int64_t)gm_rng_below(&pick, (uint32_t)n);
            gm_real saved_x = x->data[j];
            x->data[j] = (gm_real)((double)saved_x + h);
            double lp = gc_eval(name, ctx, f, in, user, r);
            x->data[j] = (gm_real)((double)saved_x - h);
            double lm = gc_eval(name, ctx, f, in, user, r);
            x->data[j] = saved_x;
            double fd = (lp - lm) / (2.0 * h);
            double g = (double)analytic[i][j];
            double scale = fmax(1.0, fmax(fabs(g), fabs(fd)));
            double err = fabs(g - fd) / scale;
            if (!(err <= worst)) { /* also catches NaN */
                worst = isnan(err) ? INFINITY : err;
                worst_g = g;
                worst_fd = fd;
                worst_j = j;
            }
        }
        cr_log_info("gradcheck %s: input %d (%lld elements, %lld checked): max error %.3g at "
                    "element %lld (analytic %.12g, numeric %.12g)",
                    name, i, (long long)n, (long long)count, worst, (long long)worst_j, worst_g,
                    worst_fd);
        if (worst > worst_all) worst_all = worst;
    }

done:
    gm_ctx_free(ctx);
    gm_arena_free(keep);
    return worst_all;
}

double gc_check(const char *name, gc_forward_fn f, int nin, gm_tensor **in, void *user,
                double h) {
    return gc_check_sampled(name, f, nin, in, user, h, 0);
}
