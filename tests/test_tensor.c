/* Tensors, arenas and the autodiff tape. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gradcheck.h"
#include "test_support.h"

/* Propagates a failing status from a helper that returns gm_status. */
#define TRY(expr)                      \
    do {                               \
        gm_status st_ = (expr);        \
        if (st_ != GM_OK) return st_;  \
    } while (0)

static gm_ctx *new_ctx(void) {
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    return ctx;
}

/* --- arena --------------------------------------------------------------- */

Test(arena, allocations_are_aligned_and_distinct) {
    gm_arena *a = NULL;
    OK(gm_arena_new(4096, &a));
    unsigned char *prev = NULL;
    for (size_t n = 0; n < 300; n += 7) {
        unsigned char *p = gm_arena_alloc(a, n);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 64, 0, "allocation of %zu bytes is 64-byte aligned", n);
        cr_assert_neq(p, prev);
        memset(p, 0xab, n);
        prev = p;
    }
    /* Larger than a chunk: gets a chunk of its own. */
    unsigned char *big = gm_arena_alloc(a, 100000);
    cr_assert_not_null(big);
    cr_assert_eq((uintptr_t)big % 64, 0);
    memset(big, 1, 100000);
    double *z = gm_arena_calloc(a, 1000, sizeof(double));
    cr_assert_not_null(z);
    for (int i = 0; i < 1000; i++) cr_assert_eq(z[i], 0.0);
    gm_arena_free(a);
    gm_arena_free(NULL);
}

Test(arena, used_and_peak_accounting) {
    gm_arena *a = NULL;
    OK(gm_arena_new(0, &a));
    cr_assert_eq(gm_arena_used(a), 0);
    cr_assert_not_null(gm_arena_alloc(a, 10));
    cr_assert_not_null(gm_arena_alloc(a, 100));
    size_t used = gm_arena_used(a);
    cr_assert_geq(used, 110);
    cr_assert_eq(gm_arena_peak(a), used);
    gm_arena_reset(a);
    cr_assert_eq(gm_arena_used(a), 0);
    cr_assert_eq(gm_arena_peak(a), used, "the peak survives a reset");
    cr_assert_not_null(gm_arena_alloc(a, 10));
    cr_assert_eq(gm_arena_peak(a), used);
    gm_arena_free(a);
}

Test(arena, overflow_is_refused) {
    gm_arena *a = NULL;
    OK(gm_arena_new(0, &a));
    cr_assert_null(gm_arena_alloc(a, SIZE_MAX));
    cr_assert_null(gm_arena_alloc(a, SIZE_MAX - 10));
    cr_assert_null(gm_arena_calloc(a, SIZE_MAX / 2, 4));
    cr_assert_not_null(gm_arena_alloc(a, 16), "the arena still works");
    gm_arena_free(a);
}

/* One "training step": a mix of small and chunk-sized allocations. */
static void arena_step(gm_arena *a) {
    for (int i = 0; i < 50; i++) cr_assert_not_null(gm_arena_alloc(a, (size_t)(i * 37 + 1)));
    cr_assert_not_null(gm_arena_alloc(a, 3 * 4096));
    for (int i = 0; i < 50; i++) cr_assert_not_null(gm_arena_calloc(a, (size_t)i + 1, 24));
    cr_assert_not_null(gm_arena_alloc(a, 5000));
}

Test(arena, reset_reuses_chunks) {
    gm_arena *a = NULL;
    OK(gm_arena_new(4096, &a));
    arena_step(a);
    size_t first_peak = gm_arena_peak(a);
    for (int step = 0; step < 5; step++) {
        gm_arena_reset(a);
        int64_t before = gm_alloc_count();
        arena_step(a);
        cr_assert_eq(gm_alloc_count(), before, "step %d called gm_malloc", step);
    }
    cr_assert_eq(gm_arena_peak(a), first_peak);
    gm_arena_free(a);
}

Test(arena, released_blocks_are_reused_smallest_first) {
    gm_arena *a = NULL;
    OK(gm_arena_new(1 << 16, &a));
    unsigned char *big = gm_arena_alloc(a, 4096), *mid = gm_arena_alloc(a, 1000);
    unsigned char *small = gm_arena_alloc(a, 64);
    cr_assert(big && mid && small);
    const size_t used = gm_arena_used(a);
    cr_assert_eq(used, 4096 + 1024 + 64);
    gm_arena_release(a, big, 4096);
    gm_arena_release(a, mid, 1000);
    cr_assert_eq(gm_arena_used(a), 64, "released bytes are not in use");
    cr_assert_eq(gm_arena_peak(a), used);
    /* 512 bytes: the smallest block that holds them is mid; its tail. */
    unsigned char *p = gm_arena_alloc(a, 512);
    cr_assert_eq(p, mid + 512);
    /* The rest of mid, exactly. */
    cr_assert_eq(gm_arena_alloc(a, 500), mid);
    /* Only big is left: 4096 bytes come back whole. */
    cr_assert_eq(gm_arena_alloc(a, 4096), big);
    /* Nothing released is left: new chunk space. */
    unsigned char *fresh = gm_arena_alloc(a, 64);
    cr_assert(fresh != big && fresh != mid && fresh != small);
    cr_assert_eq(gm_arena_used(a), used + 64);
    /* A reset forgets released blocks: the chunk is walked from its start. */
    gm_arena_release(a, fresh, 64);
    gm_arena_reset(a);
    cr_assert_eq(gm_arena_alloc(a, 64), big);
    gm_arena_free(a);
}

Test(arena, out_of_memory_gives_null) {
    gm_arena *a = NULL;
    OK(gm_arena_new(4096, &a));
    gm_alloc_fail_after(0);
    void *p = gm_arena_alloc(a, 8);
    gm_alloc_fail_after(-1);
    cr_assert_null(p);
    cr_assert_not_null(gm_arena_alloc(a, 8));
    gm_arena_free(a);
}

/* --- tensors ------------------------------------------------------------- */

Test(tensor, creation_and_shapes) {
    gm_arena *a = gc_arena();
    gm_tensor *t = NULL;
    OK(gm_tensor_new3(a, 2, 3, 784, &t));
    cr_assert_eq(t->ndim, 3);
    cr_assert_eq(t->numel, 2 * 3 * 784);
    cr_assert_eq(t->arena, a);
    cr_assert_null(t->grad);
    cr_assert_not(t->requires_grad);
    cr_assert_eq((uintptr_t)t->data % 64, 0);
    for (int64_t i = 0; i < t->numel; i++) cr_assert_eq(t->data[i], 0);
    char buf[64];
    gm_tensor_shape_str(t, buf, sizeof buf);
    cr_assert_str_eq(buf, "(2, 3, 784)");

    gm_tensor *s = NULL;
    OK(gm_tensor_new(a, 0, NULL, &s));
    cr_assert_eq(s->numel, 1);
    gm_tensor_shape_str(s, buf, sizeof buf);
    cr_assert_str_eq(buf, "()");

    gm_tensor *u = NULL, *v = NULL, *w = NULL;
    OK(gm_tensor_new1(a, 5, &u));
    OK(gm_tensor_new2(a, 2, 3, &v));
    OK(gm_tensor_new4(a, 1, 2, 3, 4, &w));
    cr_assert_eq(w->numel, 24);
    gm_tensor_shape_str(u, buf, sizeof buf);
    cr_assert_str_eq(buf, "(5)");
    /* Truncation behaves like snprintf. */
    int n = gm_tensor_shape_str(t, buf, 5);
    cr_assert_eq(n, (int)strlen("(2, 3, 784)"));
    cr_assert_str_eq(buf, "(2, ");

    gm_tensor *v2 = NULL;
    OK(gm_tensor_new2(a, 2, 3, &v2));
    cr_assert(gm_tensor_same_shape(v, v2));
    cr_assert_not(gm_tensor_same_shape(v, t));
    cr_assert_not(gm_tensor_same_shape(v, u));

    OK(gm_tensor_grad_ensure(v));
    cr_assert_not_null(v->grad);
    gm_real *g = v->grad;
    v->grad[3] = 7;
    OK(gm_tensor_grad_ensure(v));
    cr_assert_eq(v->grad, g, "an existing grad is kept");
    cr_assert_eq(v->grad[3], 7);
    gm_tensor_zero_grad(v);
    cr_assert_eq(v->grad[3], 0);
    gm_tensor_zero_grad(u); /* no grad: no-op */
    cr_assert_null(u->grad);
    gm_arena_free(a);
}

Test(tensor, uninitialised_tensors) {
    gm_arena *a = gc_arena();
    gm_tensor *t = NULL;
    OK(gm_tensor_new_uninit(a, 2, (const int64_t[]){3, 5}, &t));
    cr_assert_eq(t->numel, 15);
    cr_assert_eq(t->shape[1], 5);
    cr_assert_null(t->grad);
    cr_assert_eq(t->arena, a);
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds poison the data so that unwritten results show. */
    for (int64_t i = 0; i < t->numel; i++) cr_assert(isnan(t->data[i]), "i=%lld", (long long)i);
#endif
    cr_assert_eq(gm_tensor_new_uninit(a, 1, (const int64_t[]){0}, &t), GM_ERR_INVALID_ARG);
    gm_arena_free(a);
}

Test(tensor, grad_acquire_tells_assign_from_accumulate) {
    gm_arena *a = gc_arena();
    gm_tensor *t = NULL;
    OK(gm_tensor_new1(a, 7, &t));
    bool fresh = false;
    OK(gm_tensor_grad_acquire(t, &fresh));
    cr_assert(fresh, "a new gradient is to be assigned");
    cr_assert_not_null(t->grad);
#if defined(__SANITIZE_ADDRESS__)
    for (int64_t i = 0; i < t->numel; i++) cr_assert(isnan(t->grad[i]), "i=%lld", (long long)i);
#endif
    gm_real *g = t->grad;
    OK(gm_tensor_grad_acquire(t, &fresh));
    cr_assert_not(fresh, "an existing gradient is accumulated into");
    cr_assert_eq(t->grad, g);
    cr_assert_eq(gm_tensor_grad_acquire(t, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_tensor_grad_acquire(NULL, &fresh), GM_ERR_INVALID_ARG);
    gm_arena_free(a);
}

Test(tensor, creation_errors) {
    gm_arena *a = gc_arena();
    gm_tensor *t = (gm_tensor *)&t;
    int64_t shape5[5] = {1, 1, 1, 1, 1};
    cr_assert_eq(gm_tensor_new(a, 5, shape5, &t), GM_ERR_INVALID_ARG);
    cr_assert_null(t);
    cr_assert_neq(strstr(gm_error_detail(), "ndim"), NULL, "%s", gm_error_detail());
    cr_assert_eq(gm_tensor_new(a, -1, shape5, &t), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_tensor_new2(a, 3, 0, &t), GM_ERR_INVALID_ARG);
    cr_assert_neq(strstr(gm_error_detail(), "dim 1"), NULL, "%s", gm_error_detail());
    cr_assert_eq(gm_tensor_new1(a, -4, &t), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_tensor_new2(a, INT64_MAX / 2, 3, &t), GM_ERR_TOO_LARGE);
    cr_assert_eq(gm_tensor_new4(a, 1 << 20, 1 << 20, 1 << 20, 1 << 20, &t), GM_ERR_TOO_LARGE);
    cr_assert_eq(gm_tensor_new1(a, INT64_MAX, &t), GM_ERR_TOO_LARGE);
    cr_assert_eq(gm_tensor_new1(NULL, 3, &t), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_tensor_grad_ensure(NULL), GM_ERR_INVALID_ARG);
    gm_arena_free(a);
}

Test(tensor, out_of_memory_injection) {
    /* Every allocation point of tensor creation, a ctx and an op reports
     * GM_ERR_NOMEM and leaves nothing behind (ASan checks the leaks). */
    for (int64_t k = 0; k < 40; k++) {
        gm_arena *a = NULL;
        gm_ctx *ctx = NULL;
        gm_status st = GM_OK;
        gm_alloc_fail_after(k);
        st = gm_arena_new(1024, &a);
        if (st == GM_OK) st = gm_ctx_new(1024, 3, &ctx);
        gm_tensor *x = NULL, *y = NULL, *z = NULL;
        if (st == GM_OK) st = gm_tensor_new2(a, 16, 64, &x);
        if (st == GM_OK) {
            x->requires_grad = true;
            st = gm_op_relu(ctx, x, &y);
        }
        if (st == GM_OK) st = gm_op_add(ctx, y, x, &z);
        if (st == GM_OK) st = gm_op_scale(ctx, z, 0.5, &y);
        gm_alloc_fail_after(-1);
        cr_assert(st == GM_OK || st == GM_ERR_NOMEM, "k=%lld: %s", (long long)k,
                  gm_strerror(st));
        if (st == GM_ERR_NOMEM) {
            cr_assert_neq(strstr(gm_error_detail(), "out of memory"), NULL, "%s",
                          gm_error_detail());
        }
        gm_ctx_free(ctx);
        gm_arena_free(a);
    }
}

/* --- tape ------------------------------------------------------------------ */

/* A tensor with the given values in arena `a`. */
static gm_tensor *vec(gm_arena *a, int64_t n, const double *v, bool requires_grad) {
    gm_tensor *t = NULL;
    OK(gm_tensor_new1(a, n, &t));
    for (int64_t i = 0; i < n; i++) t->data[i] = (gm_real)v[i];
    t->requires_grad = requires_grad;
    return t;
}

Test(tape, shared_weights_give_twice_x) {
    /* y = w*x + w*x through two separate products of the same weight; the
     * target t = y - 1.5 makes dL/dy = 2 * 1.5 / 3 = 1, so dL/dw = 2x. */
    gm_arena *a = gc_arena();
    gm_ctx *ctx = new_ctx();
    const double xv[3] = {1.0, -2.0, 0.5}, wv[3] = {0.3, 0.7, -1.1};
    gm_tensor *x = vec(a, 3, xv, false), *w = vec(a, 3, wv, true);
    double tv[3];
    for (int i = 0; i < 3; i++) tv[i] = 2 * wv[i] * xv[i] - 1.5;
    gm_tensor *t = vec(a, 3, tv, false);
    gm_tensor *p = NULL, *q = NULL, *y = NULL, *loss = NULL;
    OK(gm_op_mul(ctx, w, x, &p));
    OK(gm_op_mul(ctx, w, x, &q));
    OK(gm_op_add(ctx, p, q, &y));
    OK(gm_op_mse(ctx, y, t, &loss));
    cr_assert_eq(gm_ctx_tape_size(ctx), 4);
    OK(gm_ctx_backward(ctx, loss));
    for (int i = 0; i < 3; i++) cr_assert_float_eq(w->grad[i], 2 * xv[i], 1e-5, "i=%d", i);
    cr_assert_null(x->grad, "x does not require a gradient");
    gm_ctx_free(ctx);
    gm_arena_free(a);
}

Test(tape, value_used_twice_gives_twice_x) {
    /* y = p + p with p = w*x; the target t = y - 1.5 makes dL/dy = 2 * 1.5 / 3 = 1,
     * so dL/dw = 2x. */
    gm_arena *a = gc_arena();
    gm_ctx *ctx = new_ctx();
    const double xv[3] = {1.0, -2.0, 0.5}, wv[3] = {0.3, 0.7, -1.1};
    gm_tensor *x = vec(a, 3, xv, false), *w = vec(a, 3, wv, true);
    double tv[3];
    for (int i = 0; i < 3; i++) tv[i] = 2 * wv[i] * xv[i] - 1.5;
    gm_tensor *t = vec(a, 3, tv, false);
    gm_tensor *p = NULL, *y = NULL, *loss = NULL;
    OK(gm_op_mul(ctx, w, x, &p));
    OK(gm_op_add(ctx, p, p, &y)); /* the same result used twice */
    OK(gm_op_mse(ctx, y, t, &loss));
    OK(gm_ctx_backward(ctx, loss));
    for (int i = 0; i < 3; i++) cr_assert_float_eq(w->grad[i], 2 * xv[i], 1e-5, "i=%d", i);
    gm_ctx_free(ctx);
    gm_arena_free(a);
}

Test(tape, residual_and_accumulation) {
    /* y = x + relu(x); L = mean((y - t)^2) with y - t = 1.5 per element. */
    gm_arena *a = gc_arena();
    gm_ctx *ctx = new_ctx();
    const double xv[4] = {1.0, -2.0, 0.5, -0.25};
    gm_tensor *x = vec(a, 4, xv, true);
    double tv[4];
    for (int i = 0; i < 4; i++) tv[i] = xv[i] + (xv[i] > 0 ? xv[i] : 0) - 1.5;
    gm_tensor *t = vec(a, 4, tv, false);
    gm_tensor *r = NULL, *y = NULL, *loss = NULL;
    OK(gm_op_relu(ctx, x, &r));
    OK(gm_op_add(ctx, x, r, &y));
    OK(gm_op_mse(ctx, y, t, &loss));
    cr_assert_float_eq(loss->data[0], 2.25, 1e-6);
    OK(gm_ctx_backward(ctx, loss));
    /* dL/dy = 2 * 1.5 / 4 = 0.75; dy/dx = 2 where x > 0, 1 elsewhere. */
    for (int i = 0; i < 4; i++) {
        cr_assert_float_eq(x->grad[i], 0.75 * (xv[i] > 0 ? 2 : 1), 1e-6, "i=%d", i);
    }
    /* A second backward over the same tape adds the same gradient again. */
    OK(gm_ctx_backward(ctx, loss));
    for (int i = 0; i < 4; i++) {
        cr_assert_float_eq(x->grad[i], 1.5 * (xv[i] > 0 ? 2 : 1), 1e-6, "i=%d", i);
    }
    /* So does a second step with a fresh tape. */
    gm_ctx_reset(ctx);
    cr_assert_eq(gm_ctx_tape_size(ctx), 0);
    OK(gm_op_relu(ctx, x, &r));
    OK(gm_op_add(ctx, x, r, &y));
    OK(gm_op_mse(ctx, y, t, &loss));
    OK(gm_ctx_backward(ctx, loss));
    for (int i = 0; i < 4; i++) {
        cr_assert_float_eq(x->grad[i], 2.25 * (xv[i] > 0 ? 2 : 1), 1e-6, "i=%d", i);
    }
    gm_ctx_free(ctx);
    gm_arena_free(a);
}

Test(tape, unreached_nodes_and_no_grad_mode) {
    gm_arena *a = gc_arena();
    gm_ctx *ctx = new_ctx();
    const double xv[2] = {1.0, -3.0};
    gm_tensor *x = vec(a, 2, xv, true);
    gm_tensor *zero = vec(a, 2, (const double[]){0, 0}, false);
    gm_tensor *side = NULL, *side2 = NULL, *loss = NULL, *y = NULL;
    /* A branch the loss never uses: its nodes must be skipped. */
    OK(gm_op_relu(ctx, x, &side));
    OK(gm_op_scale(ctx, side, 3.0, &side2));
    OK(gm_op_mse(ctx, x, zero, &loss));
    OK(gm_op_scale(ctx, x, 2.0, &y)); /* recorded after the loss */
    OK(gm_ctx_backward(ctx, loss));
    cr_assert_null(side->grad);
    cr_assert_null(side2->grad);
    cr_assert_null(y->grad);
    cr_assert_float_eq(x->grad[0], 1.0, 1e-6);
    cr_assert_float_eq(x->grad[1], -3.0, 1e-6);

    /* Gradients off: nothing is recorded and results do not require grads. */
    gm_ctx_reset(ctx);
    cr_assert(gm_ctx_grad_enabled(ctx));
    cr_assert(gm_ctx_set_grad(ctx, false));
    cr_assert_not(gm_ctx_grad_enabled(ctx));
    OK(gm_op_relu(ctx, x, &y));
    OK(gm_op_mse(ctx, y, zero, &loss));
    cr_assert_eq(gm_ctx_tape_size(ctx), 0);
    cr_assert_not(y->requires_grad);
    cr_assert_not(loss->requires_grad);
    cr_assert_eq(gm_ctx_backward(ctx, loss), GM_ERR_INVALID_ARG);
    cr_assert_not(gm_ctx_set_grad(ctx, true));

    /* Inputs that need no gradient record nothing either. */
    gm_tensor *c = vec(a, 2, xv, false);
    OK(gm_op_relu(ctx, c, &y));
    cr_assert_eq(gm_ctx_tape_size(ctx), 0);
    cr_assert_not(y->requires_grad);

    cr_assert(gm_ctx_training(ctx));
    cr_assert(gm_ctx_set_training(ctx, false));
    cr_assert_not(gm_ctx_training(ctx));
    cr_assert_not_null(gm_ctx_rng(ctx));
    gm_ctx_free(ctx);
    gm_ctx_free(NULL);
    gm_arena_free(a);
}

/* A chain of `len` ops on n elements from x; the loss is mse(chain, 0). */
static gm_tensor *chain_loss(gm_ctx *ctx, gm_arena *a, gm_tensor *x, int len,
                             gm_tensor **mid) {
    gm_tensor *y = x, *zero = NULL, *loss = NULL;
    OK(gm_tensor_new1(a, x->numel, &zero));
    for (int i = 0; i < len; i++) {
        gm_tensor *z = NULL;
        if (i % 2) {
            OK(gm_op_relu(ctx, y, &z));
        } else {
            OK(gm_op_scale(ctx, y, 1.0 + 0.125 * i, &z));
        }
        y = z;
        if (i == len / 2) *mid = y;
    }
    OK(gm_op_mse(ctx, y, zero, &loss));
    return loss;
}

Test(tape, op_result_gradients_are_given_back_unless_retained) {
    const int64_t n = 4096;
    const int len = 12;
    gm_arena *a = gc_arena();
    gm_tensor *x[2];
    size_t peak[2];
    gm_tensor *mid[2];
    for (int retain = 0; retain < 2; retain++) {
        gm_ctx *ctx = new_ctx();
        cr_assert_not(gm_ctx_set_retain_grads(ctx, retain), "off by default");
        OK(gm_tensor_new1(a, n, &x[retain]));
        for (int64_t i = 0; i < n; i++) x[retain]->data[i] = (gm_real)((i % 17) - 8) / 8;
        x[retain]->requires_grad = true;
        gm_tensor *loss = chain_loss(ctx, gm_ctx_arena(ctx), x[retain], len, &mid[retain]);
        OK(gm_ctx_backward(ctx, loss));
        peak[retain] = gm_arena_peak(gm_ctx_arena(ctx));
        if (retain) {
            cr_assert_not_null(mid[retain]->grad);
            cr_assert_not_null(loss->grad);
        } else {
            cr_assert_null(mid[retain]->grad, "an op result's gradient is given back");
            cr_assert_null(loss->grad);
        }
        cr_assert_not_null(x[retain]->grad, "a leaf keeps its gradient");
        gm_ctx_free(ctx);
    }
    for (int64_t i = 0; i < n; i++) {
        cr_assert_eq(x[0]->grad[i], x[1]->grad[i], "the same gradient either way, i=%lld",
                     (long long)i);
    }
    /* Retained: the zero target, len activations and len gradients. Given
     * back: the target, the activations and at most two gradients at a time
     * (plus headers, well under one more buffer). */
    const size_t buf = (size_t)n * sizeof(gm_real);
    cr_assert_geq(peak[1], (size_t)(2 * len + 1) * buf);
    cr_assert_leq(peak[0], (size_t)(len + 4) * buf, "peak %zu bytes, buffers of %zu", peak[0],
                  buf);
    gm_arena_free(a);
}

Test(tape, backward_needs_a_scalar) {
    gm_arena *a = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_tensor *x = vec(a, 3, (const double[]){1, 2, 3}, true);
    gm_tensor *y = NULL;
    OK(gm_op_relu(ctx, x, &y));
    cr_assert_eq(gm_ctx_backward(ctx, y), GM_ERR_SHAPE);
    cr_assert_neq(strstr(gm_error_detail(), "(3)"), NULL, "%s", gm_error_detail());
    cr_assert_eq(gm_ctx_backward(ctx, NULL), GM_ERR_INVALID_ARG);
    gm_ctx_free(ctx);
    gm_arena_free(a);
}

Test(tape, reset_drops_the_tape_and_steady_steps_do_not_allocate) {
    gm_arena *params = gc_arena();
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(1 << 16, 5, &ctx));
    gm_rng rng;
    gm_rng_seed(&rng, 9, 0);
    gm_tensor *w = gc_random_tensor(params, &rng, 2, (const int64_t[]){8, 300}, true);
    gm_tensor *x = gc_random_tensor(params, &rng, 2, (const int64_t[]){8, 300}, false);
    gm_tensor *t = gc_random_tensor(params, &rng, 2, (const int64_t[]){8, 300}, false);
    int64_t count_after_first = 0;
    for (int step = 0; step < 4; step++) {
        gm_tensor *h = NULL, *r = NULL, *d = NULL, *y = NULL, *loss = NULL;
        OK(gm_op_mul(ctx, w, x, &h));
        OK(gm_op_relu(ctx, h, &r));
        OK(gm_op_dropout(ctx, r, 0.25, &d));
        OK(gm_op_add(ctx, d, h, &y));
        OK(gm_op_mse(ctx, y, t, &loss));
        cr_assert_eq(gm_ctx_tape_size(ctx), 5);
        OK(gm_ctx_backward(ctx, loss));
        gm_ctx_reset(ctx);
        cr_assert_eq(gm_ctx_tape_size(ctx), 0);
        cr_assert_eq(gm_arena_used(gm_ctx_arena(ctx)), 0);
        if (step == 0) {
            count_after_first = gm_alloc_count();
        } else {
            cr_assert_eq(gm_alloc_count(), count_after_first, "step %d allocated", step);
        }
    }
    gm_ctx_free(ctx);
    gm_arena_free(params);
}

/* The harness itself: a correct composition passes, a wrong backward is
 * caught (negative control). */
static gm_status fwd_relu_scale(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)user;
    gm_tensor *r = NULL, *m = NULL;
    gm_status st = gm_op_relu(ctx, in[0], &r);
    if (st == GM_OK) st = gm_op_mul(ctx, r, in[1], &m);
    if (st == GM_OK) st = gm_op_scale(ctx, m, 1.5, out);
    return st;
}

/* out = 2x, with a backward that claims 3. */
static gm_status wrong_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    TRY(gm_tensor_grad_ensure(x));
    for (int64_t i = 0; i < x->numel; i++) x->grad[i] += 3 * node->out->grad[i];
    return GM_OK;
}

static gm_status fwd_wrong(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)user;
    gm_tensor *x = in[0], *y = NULL;
    TRY(gm_tensor_new(gm_ctx_arena(ctx), x->ndim, x->shape, &y));
    for (int64_t i = 0; i < x->numel; i++) y->data[i] = 2 * x->data[i];
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        TRY(gm_ctx_record(ctx, GM_OP_SCALE, wrong_backward, y, 1, in, NULL));
    }
    *out = y;
    return GM_OK;
}

Test(gradcheck, passes_correct_and_catches_wrong_gradients) {
    gm_arena *a = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 11, 0);
    gm_tensor *in[2] = {
        gc_random_tensor(a, &rng, 2, (const int64_t[]){3, 4}, true),
        gc_random_tensor(a, &rng, 2, (const int64_t[]){3, 4}, true),
    };
    /* Keep relu's inputs away from its kink so that float differences hold. */
    for (int64_t i = 0; i < in[0]->numel; i++) {
        if (fabs((double)in[0]->data[i]) < 0.1) in[0]->data[i] += (gm_real)0.3;
    }
    double err = gc_check("relu*w*1.5", fwd_relu_scale, 2, in, NULL, 1e-2);
    cr_assert_lt(err, 1e-3, "max error %g", err);
    double sampled = gc_check_sampled("relu*w*1.5 sampled", fwd_relu_scale, 2, in, NULL, 1e-2, 5);
    cr_assert_lt(sampled, 1e-3, "max error %g", sampled);
    double bad = gc_check("wrong", fwd_wrong, 1, in, NULL, 1e-2);
    cr_assert_gt(bad, 0.2, "the harness must notice a wrong backward (error %g)", bad);
    gm_arena_free(a);
}
