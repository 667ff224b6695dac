/* Elementwise, shape and loss ops in float64: every backward against central
 * finite differences, forwards against direct computations, shape errors. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "test_support.h"

#define GC_H 1e-6
#define GC_TOL 1e-6

/* --- the table ------------------------------------------------------------- */

typedef struct {
    double alpha;      /* scale */
    double p;          /* dropout */
    bool eval;         /* dropout in evaluation mode */
    double eps;        /* layernorm */
    int64_t start;     /* slice */
    int64_t count;     /* slice */
    int ndim;          /* reshape target */
    int64_t shape[4];  /* reshape target */
    int32_t labels[8]; /* softmax_xent */
} op_args;

static gm_status fwd_add(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_add(ctx, in[0], in[1], out);
}
static gm_status fwd_add_self(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_add(ctx, in[0], in[0], out);
}
static gm_status fwd_scale(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    return gm_op_scale(ctx, in[0], ((const op_args *)u)->alpha, out);
}
static gm_status fwd_mul(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_mul(ctx, in[0], in[1], out);
}
static gm_status fwd_mul_self(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_mul(ctx, in[0], in[0], out);
}
static gm_status fwd_mul_positions(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_mul_positions(ctx, in[0], in[1], out);
}
static gm_status fwd_relu(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_relu(ctx, in[0], out);
}
static gm_status fwd_prelu(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_prelu(ctx, in[0], in[1], out);
}
static gm_status fwd_layernorm(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    return gm_op_layernorm(ctx, in[0], NULL, NULL, ((const op_args *)u)->eps, out);
}
static gm_status fwd_layernorm_prelu(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    return gm_op_layernorm_prelu(ctx, in[0], in[1], NULL, ((const op_args *)u)->eps, out);
}
static gm_status fwd_layernorm_prelu_res(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    return gm_op_layernorm_prelu(ctx, in[0], in[1], in[2], ((const op_args *)u)->eps, out);
}
static gm_status fwd_layernorm_affine(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    return gm_op_layernorm(ctx, in[0], in[1], in[2], ((const op_args *)u)->eps, out);
}
/* in: x, gamma, beta[, running mean, running variance (made positive here,
 * idempotently, so f stays a function of its inputs)]. */
static gm_status fwd_batchnorm(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    const op_args *a = u;
    gm_ctx_set_training(ctx, !a->eval);
    gm_tensor *rm = a->eval ? in[3] : NULL, *rv = a->eval ? in[4] : NULL;
    if (rv)
        for (int64_t i = 0; i < rv->numel; i++)
            if (rv->data[i] < 0.5) rv->data[i] = fabs(rv->data[i]) + 0.5;
    return gm_op_batchnorm(ctx, in[0], in[1], in[2], rm, rv, 0.1, a->eps, out);
}
static gm_status fwd_dropout(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    const op_args *a = u;
    gm_ctx_set_training(ctx, !a->eval);
    return gm_op_dropout(ctx, in[0], a->p, out);
}
static gm_status fwd_concat(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_concat(ctx, in[0], in[1], out);
}
static gm_status fwd_concat_self(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_concat(ctx, in[0], in[0], out);
}
static gm_status fwd_slice(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    const op_args *a = u;
    return gm_op_slice(ctx, in[0], a->start, a->count, out);
}
static gm_status fwd_reshape(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    const op_args *a = u;
    return gm_op_reshape(ctx, in[0], a->ndim, a->shape, out);
}
static gm_status fwd_row_normalize(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_row_normalize(ctx, in[0], out);
}
static gm_status fwd_softmax_xent(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    return gm_op_softmax_xent(ctx, in[0], ((const op_args *)u)->labels, out);
}
static gm_status fwd_mse(gm_ctx *ctx, gm_tensor **in, void *u, gm_tensor **out) {
    (void)u;
    return gm_op_mse(ctx, in[0], in[1], out);
}

#define MAX_IN 5

typedef struct {
    const char *op; /* the op's name, as gm_op_name gives it */
    const char *variant;
    gc_forward_fn f;
    int nin;
    int ndim[MAX_IN];
    int64_t shape[MAX_IN][4];
    bool grad[MAX_IN];
    /* Inputs whose |values| are pushed to >= 0.1, away from a kink at 0. */
    bool off_kink[MAX_IN];
    op_args args;
} op_case;

/* Designated, so that rows without arguments stay short and warning-free. */
#define NOARGS {.alpha = 0}

static const op_case CASES[] = {
    {"add", "(2,3,5)", fwd_add, 2, {3, 3}, {{2, 3, 5}, {2, 3, 5}}, {true, true}, {0}, NOARGS},
    {"add", "(7) b const", fwd_add, 2, {1, 1}, {{7}, {7}}, {true, false}, {0}, NOARGS},
    {"add", "x+x (2,2,3,2)", fwd_add_self, 1, {4}, {{2, 2, 3, 2}}, {true}, {0}, NOARGS},
    {"scale", "(3,4)", fwd_scale, 1, {2}, {{3, 4}}, {true}, {0}, {.alpha = -1.7}},
    {"scale", "(2,3,4,5)", fwd_scale, 1, {4}, {{2, 3, 4, 5}}, {true}, {0}, {.alpha = 0.25}},
    {"mul", "(2,3,5)", fwd_mul, 2, {3, 3}, {{2, 3, 5}, {2, 3, 5}}, {true, true}, {0}, NOARGS},
    {"mul", "(4,6) a const", fwd_mul, 2, {2, 2}, {{4, 6}, {4, 6}}, {false, true}, {0}, NOARGS},
    {"mul", "x*x (9)", fwd_mul_self, 1, {1}, {{9}}, {true}, {0}, NOARGS},
    {"mul_positions", "(2,3,7)", fwd_mul_positions, 2, {3, 1}, {{2, 3, 7}, {7}}, {true, true},
     {0}, NOARGS},
    {"mul_positions", "(1,4,6) v only", fwd_mul_positions, 2, {3, 1}, {{1, 4, 6}, {6}},
     {false, true}, {0}, NOARGS},
    {"mul_positions", "(3,1,8) x only", fwd_mul_positions, 2, {3, 1}, {{3, 1, 8}, {8}},
     {true, false}, {0}, NOARGS},
    {"relu", "(2,3,5)", fwd_relu, 1, {3}, {{2, 3, 5}}, {true}, {true}, NOARGS},
    {"relu", "(50)", fwd_relu, 1, {1}, {{50}}, {true}, {true}, NOARGS},
    {"prelu", "shared (2,3,5)", fwd_prelu, 2, {3, 1}, {{2, 3, 5}, {1}}, {true, true},
     {true, false}, NOARGS},
    {"prelu", "per-channel (3,4,6)", fwd_prelu, 2, {3, 1}, {{3, 4, 6}, {4}}, {true, true},
     {true, false}, NOARGS},
    {"prelu", "per-channel (5,3)", fwd_prelu, 2, {2, 1}, {{5, 3}, {3}}, {true, true},
     {true, false}, NOARGS},
    {"prelu", "shared scalar (2,3,2,2)", fwd_prelu, 2, {4, 0}, {{2, 3, 2, 2}, {0}},
     {true, true}, {true, false}, NOARGS},
    {"layernorm", "(2,3,5)", fwd_layernorm, 1, {3}, {{2, 3, 5}}, {true}, {0}, {.eps = 1e-5}},
    {"layernorm", "(4,12)", fwd_layernorm, 1, {2}, {{4, 12}}, {true}, {0}, {.eps = 1e-5}},
    {"layernorm", "affine (2,3,5)", fwd_layernorm_affine, 3, {3, 2, 2},
     {{2, 3, 5}, {3, 5}, {3, 5}}, {true, true, true}, {0}, {.eps = 1e-5}},
    {"layernorm", "affine (3,2,2,2)", fwd_layernorm_affine, 3, {4, 3, 3},
     {{3, 2, 2, 2}, {2, 2, 2}, {2, 2, 2}}, {true, true, true}, {0}, {.eps = 0.1}},
    {"layernorm_prelu", "shared (2,3,5)", fwd_layernorm_prelu, 2, {3, 1}, {{2, 3, 5}, {1}},
     {true, true}, {0}, {.eps = 1e-5}},
    {"layernorm_prelu", "per-channel (3,4,6)", fwd_layernorm_prelu, 2, {3, 1},
     {{3, 4, 6}, {4}}, {true, true}, {0}, {.eps = 1e-5}},
    {"layernorm_prelu", "shared scalar (2,3,2,2)", fwd_layernorm_prelu, 2, {4, 0},
     {{2, 3, 2, 2}, {0}}, {true, true}, {0}, {.eps = 0.1}},
    {"layernorm_prelu", "residual (2,3,5)", fwd_layernorm_prelu_res, 3, {3, 1, 3},
     {{2, 3, 5}, {1}, {2, 3, 5}}, {true, true, true}, {0}, {.eps = 1e-5}},
    {"layernorm_prelu", "per-channel, residual only (3,4,6)", fwd_layernorm_prelu_res, 3,
     {3, 1, 3}, {{3, 4, 6}, {4}, {3, 4, 6}}, {false, false, true}, {0}, {.eps = 1e-5}},
    {"batchnorm", "training (4,3,5)", fwd_batchnorm, 3, {3, 1, 1}, {{4, 3, 5}, {3}, {3}},
     {true, true, true}, {0}, {.eps = 1e-5}},
    {"batchnorm", "training (2,2,3,3)", fwd_batchnorm, 3, {4, 1, 1}, {{2, 2, 3, 3}, {2}, {2}},
     {true, true, true}, {0}, {.eps = 0.1}},
    {"batchnorm", "evaluation (3,4,6)", fwd_batchnorm, 5, {3, 1, 1, 1, 1},
     {{3, 4, 6}, {4}, {4}, {4}, {4}}, {true, true, true, false, false}, {0},
     {.eps = 1e-5, .eval = true}},
    {"dropout", "training p=0.3 (2,3,5)", fwd_dropout, 1, {3}, {{2, 3, 5}}, {true}, {0},
     {.p = 0.3}},
    {"dropout", "training p=0.7 (40)", fwd_dropout, 1, {1}, {{40}}, {true}, {0}, {.p = 0.7}},
    {"dropout", "eval (3,4)", fwd_dropout, 1, {2}, {{3, 4}}, {true}, {0}, {.p = 0.5, .eval = true}},
    {"dropout", "p=0 (3,4)", fwd_dropout, 1, {2}, {{3, 4}}, {true}, {0}, {.p = 0.0}},
    {"concat", "(2,3,4)+(2,2,4)", fwd_concat, 2, {3, 3}, {{2, 3, 4}, {2, 2, 4}}, {true, true},
     {0}, NOARGS},
    {"concat", "(3,1,5)+(3,4,5) a const", fwd_concat, 2, {3, 3}, {{3, 1, 5}, {3, 4, 5}},
     {false, true}, {0}, NOARGS},
    {"concat", "x with x (2,2,3)", fwd_concat_self, 1, {3}, {{2, 2, 3}}, {true}, {0}, NOARGS},
    {"slice", "(2,5,3)[1:4]", fwd_slice, 1, {3}, {{2, 5, 3}}, {true}, {0},
     {.start = 1, .count = 3}},
    {"slice", "(3,4,2,2)[0:4]", fwd_slice, 1, {4}, {{3, 4, 2, 2}}, {true}, {0},
     {.start = 0, .count = 4}},
    {"slice", "(2,6)[5:6]", fwd_slice, 1, {2}, {{2, 6}}, {true}, {0}, {.start = 5, .count = 1}},
    {"reshape", "(2,3,4)->(6,4)", fwd_reshape, 1, {3}, {{2, 3, 4}}, {true}, {0},
     {.ndim = 2, .shape = {6, 4}}},
    {"reshape", "(24)->(2,2,3,2)", fwd_reshape, 1, {1}, {{24}}, {true}, {0},
     {.ndim = 4, .shape = {2, 2, 3, 2}}},
    {"row_normalize", "(4,6)", fwd_row_normalize, 1, {2}, {{4, 6}}, {true}, {0}, NOARGS},
    {"row_normalize", "(3,2,5)", fwd_row_normalize, 1, {3}, {{3, 2, 5}}, {true}, {0}, NOARGS},
    {"row_normalize", "(5,1)", fwd_row_normalize, 1, {2}, {{5, 1}}, {true}, {true}, NOARGS},
    {"softmax_xent", "(4,5)", fwd_softmax_xent, 1, {2}, {{4, 5}}, {true}, {0},
     {.labels = {0, 4, 2, 2}}},
    {"softmax_xent", "(1,3)", fwd_softmax_xent, 1, {2}, {{1, 3}}, {true}, {0}, {.labels = {1}}},
    {"softmax_xent", "(6,10)", fwd_softmax_xent, 1, {2}, {{6, 10}}, {true}, {0},
     {.labels = {9, 0, 3, 3, 7, 1}}},
    {"mse", "(3,4)", fwd_mse, 2, {2, 2}, {{3, 4}, {3, 4}}, {true, false}, {0}, NOARGS},
    {"mse", "(2,3,2,2)", fwd_mse, 2, {4, 4}, {{2, 3, 2, 2}, {2, 3, 2, 2}}, {true, false}, {0},
     NOARGS},
};

static void push_off_kink(gm_tensor *t) {
    for (int64_t i = 0; i < t->numel; i++) {
        if (fabs(t->data[i]) < 0.1) t->data[i] += t->data[i] >= 0 ? 0.1 : -0.1;
    }
}

/* Runs every row of the table for `op`, reports and checks the max error. */
static void check_op(const char *op) {
    gm_arena *arena = gc_arena();
    gm_rng rng;
    gm_rng_seed(&rng, 2024, 0);
    double worst = 0.0;
    int rows = 0;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        const op_case *k = &CASES[c];
        if (strcmp(k->op, op) != 0) continue;
        gm_tensor *in[MAX_IN] = {NULL};
        for (int i = 0; i < k->nin; i++) {
            in[i] = gc_random_tensor(arena, &rng, k->ndim[i], k->shape[i], k->grad[i]);
            if (k->off_kink[i]) push_off_kink(in[i]);
        }
        op_args args = k->args;
        char name[96];
        snprintf(name, sizeof name, "%s %s", k->op, k->variant);
        double err = gc_check(name, k->f, k->nin, in, &args, GC_H);
        cr_log_info("%s: max error %.3g", name, err);
        cr_expect_lt(err, GC_TOL, "%s: max finite-difference error %g", name, err);
        if (!(err <= worst)) worst = err;
        rows++;
    }
    cr_assert_gt(rows, 0, "no table rows for %s", op);
    cr_log_info("gradcheck %-14s max error %.3g over %d shapes", op, worst, rows);
    printf("gradcheck f64 %-14s max rel error %.3g over %d shapes (h = %g)\n", op, worst, rows,
           GC_H);
    fflush(stdout);
    gm_arena_free(arena);
}

Test(gradcheck_f64, add) { check_op("add"); }
Test(gradcheck_f64, scale) { check_op("scale"); }
Test(gradcheck_f64, mul) { check_op("mul"); }
Test(gradcheck_f64, mul_positions) { check_op("mul_positions"); }
Test(gradcheck_f64, relu) { check_op("relu"); }
Test(gradcheck_f64, prelu) { check_op("prelu"); }
Test(gradcheck_f64, layernorm) { check_op("layernorm"); }
Test(gradcheck_f64, layernorm_prelu) { check_op("layernorm_prelu"); }
Test(gradcheck_f64, batchnorm) { check_op("batchnorm"); }
Test(gradcheck_f64, dropout) { check_op("dropout"); }
Test(gradcheck_f64, concat) { check_op("concat"); }
Test(gradcheck_f64, slice) { check_op("slice"); }
Test(gradcheck_f64, reshape) { check_op("reshape"); }
Test(gradcheck_f64, row_normalize) { check_op("row_normalize"); }
Test(gradcheck_f64, softmax_xent) { check_op("softmax_xent"); }
Test(gradcheck_f64, mse) { check_op("mse"); }

/* --- forwards against direct computations ----------------------------------- */

typedef struct {
    gm_arena *arena;
    gm_ctx *ctx;
    gm_rng rng;
} fixture;

static fixture fx_new(uint64_t seed) {
    fixture f;
    f.arena = gc_arena();
    OK(gm_ctx_new(0, seed, &f.ctx));
    gm_rng_seed(&f.rng, seed, 0);
    return f;
}

static void fx_free(fixture *f) {
    gm_ctx_free(f->ctx);
    gm_arena_free(f->arena);
}

static gm_tensor *rnd(fixture *f, int ndim, const int64_t *shape) {
    return gc_random_tensor(f->arena, &f->rng, ndim, shape, true);
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

Test(ops_forward, elementwise_match_direct_formulas) {
    fixture f = fx_new(1);
    gm_tensor *a = rnd(&f, 3, SHAPE(2, 3, 4)), *b = rnd(&f, 3, SHAPE(2, 3, 4));
    gm_tensor *v = rnd(&f, 1, SHAPE(4)), *s1 = rnd(&f, 1, SHAPE(1)), *sc = rnd(&f, 1, SHAPE(3));
    gm_tensor *add, *scale, *mul, *mp, *relu, *pr1, *prc, *mse;
    OK(gm_op_add(f.ctx, a, b, &add));
    OK(gm_op_scale(f.ctx, a, -2.5, &scale));
    OK(gm_op_mul(f.ctx, a, b, &mul));
    OK(gm_op_mul_positions(f.ctx, a, v, &mp));
    OK(gm_op_relu(f.ctx, a, &relu));
    OK(gm_op_prelu(f.ctx, a, s1, &pr1));
    OK(gm_op_prelu(f.ctx, a, sc, &prc));
    OK(gm_op_mse(f.ctx, a, b, &mse));
    double sq = 0.0;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = a->data[i], y = b->data[i];
        int64_t c = (i / 4) % 3, g = i % 4;
        cr_assert_eq(add->data[i], x + y);
        cr_assert_eq(scale->data[i], -2.5 * x);
        cr_assert_eq(mul->data[i], x * y);
        cr_assert_eq(mp->data[i], v->data[g] * x);
        cr_assert_eq(relu->data[i], x > 0 ? x : 0.0);
        cr_assert_eq(pr1->data[i], x >= 0 ? x : s1->data[0] * x);
        cr_assert_eq(prc->data[i], x >= 0 ? x : sc->data[c] * x);
        sq += (x - y) * (x - y);
    }
    cr_assert_float_eq(mse->data[0], sq / (double)a->numel, 1e-14);
    cr_assert_eq(mse->ndim, 0);
    cr_assert_neq(add->data, a->data, "results never alias inputs");
    fx_free(&f);
}

Test(ops_forward, shape_ops_move_the_right_values) {
    fixture f = fx_new(2);
    gm_tensor *a = rnd(&f, 3, SHAPE(2, 3, 4)), *b = rnd(&f, 3, SHAPE(2, 2, 4));
    gm_tensor *cat, *sl, *rs;
    OK(gm_op_concat(f.ctx, a, b, &cat));
    cr_assert_eq(cat->shape[1], 5);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 5; c++)
            for (int64_t g = 0; g < 4; g++) {
                double want = c < 3 ? a->data[(n * 3 + c) * 4 + g]
                                    : b->data[(n * 2 + c - 3) * 4 + g];
                cr_assert_eq(cat->data[(n * 5 + c) * 4 + g], want);
            }
    OK(gm_op_slice(f.ctx, cat, 2, 2, &sl));
    cr_assert_eq(sl->ndim, 3);
    cr_assert_eq(sl->shape[1], 2);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 2; c++)
            for (int64_t g = 0; g < 4; g++)
                cr_assert_eq(sl->data[(n * 2 + c) * 4 + g], cat->data[(n * 5 + c + 2) * 4 + g]);
    OK(gm_op_reshape(f.ctx, a, 2, SHAPE(6, 4), &rs));
    cr_assert_eq(rs->ndim, 2);
    cr_assert_eq(rs->shape[0], 6);
    cr_assert_eq(memcmp(rs->data, a->data, (size_t)a->numel * sizeof(gm_real)), 0);
    gm_tensor *one = rnd(&f, 3, SHAPE(1, 1, 1)), *scalar;
    OK(gm_op_reshape(f.ctx, one, 0, NULL, &scalar));
    cr_assert_eq(scalar->ndim, 0);
    cr_assert_eq(scalar->data[0], one->data[0]);
    fx_free(&f);
}

Test(ops_forward, row_normalize_gives_unit_rows) {
    fixture f = fx_new(3);
    gm_tensor *x = rnd(&f, 3, SHAPE(4, 2, 3)), *y;
    for (int64_t j = 0; j < 6; j++) x->data[6 + j] = 0; /* a zero row stays zero */
    OK(gm_op_row_normalize(f.ctx, x, &y));
    for (int64_t r = 0; r < 4; r++) {
        double n2 = 0.0;
        for (int64_t j = 0; j < 6; j++) n2 += y->data[r * 6 + j] * y->data[r * 6 + j];
        cr_assert_float_eq(n2, r == 1 ? 0.0 : 1.0, 1e-10, "row %lld", (long long)r);
    }
    fx_free(&f);
}

Test(ops_forward, layernorm_standardises_each_sample) {
    fixture f = fx_new(4);
    gm_tensor *x = rnd(&f, 3, SHAPE(3, 4, 5)), *y, *y_eps;
    for (int64_t i = 0; i < 20; i++) x->data[20 + i] = 3.0 * x->data[20 + i] + 7.0;
    OK(gm_op_layernorm(f.ctx, x, NULL, NULL, 0.0, &y));
    OK(gm_op_layernorm(f.ctx, x, NULL, NULL, 1e-5, &y_eps));
    for (int64_t b = 0; b < 3; b++) {
        double mean = 0.0, var = 0.0, xm = 0.0, xv = 0.0;
        for (int64_t j = 0; j < 20; j++) {
            mean += y->data[b * 20 + j];
            xm += x->data[b * 20 + j];
        }
        mean /= 20;
        xm /= 20;
        for (int64_t j = 0; j < 20; j++) {
            var += (y->data[b * 20 + j] - mean) * (y->data[b * 20 + j] - mean);
            xv += (x->data[b * 20 + j] - xm) * (x->data[b * 20 + j] - xm);
        }
        var /= 20; /* biased */
        xv /= 20;
        cr_assert_float_eq(mean, 0.0, 1e-12, "sample %lld", (long long)b);
        cr_assert_float_eq(var, 1.0, 1e-12, "sample %lld", (long long)b);
        for (int64_t j = 0; j < 20; j++) {
            double want = (x->data[b * 20 + j] - xm) / sqrt(xv + 1e-5);
            cr_assert_float_eq(y_eps->data[b * 20 + j], want, 1e-12);
        }
    }
    /* Affine: out = xhat * gamma + beta, gamma and beta shaped like a sample. */
    gm_tensor *gamma = rnd(&f, 2, SHAPE(4, 5)), *beta = rnd(&f, 2, SHAPE(4, 5)), *ya;
    OK(gm_op_layernorm(f.ctx, x, gamma, beta, 1e-5, &ya));
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t j = i % 20;
        cr_assert_float_eq(ya->data[i], y_eps->data[i] * gamma->data[j] + beta->data[j], 1e-12);
    }
    fx_free(&f);
}

Test(ops_forward, softmax_xent_matches_hand_computation) {
    fixture f = fx_new(5);
    gm_tensor *x;
    OK(gm_tensor_new2(f.arena, 3, 3, &x));
    const double v[9] = {1, 2, 3, 0, 0, 0, 1000, 0, -1000};
    for (int i = 0; i < 9; i++) x->data[i] = v[i];
    const int32_t labels[3] = {2, 1, 1};
    gm_tensor *loss;
    OK(gm_op_softmax_xent(f.ctx, x, labels, &loss));
    double l0 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
    double l1 = log(3.0);
    double l2 = 1000.0; /* log-sum-exp of (1000, 0, -1000) is 1000 up to e^-1000 */
    cr_assert_eq(loss->ndim, 0);
    cr_assert(isfinite(loss->data[0]), "large logits stay finite");
    cr_assert_float_eq(loss->data[0], (l0 + l1 + l2) / 3.0, 1e-12);
    fx_free(&f);
}

Test(ops_forward, mse_gives_no_gradient_to_the_target) {
    fixture f = fx_new(6);
    gm_tensor *p = rnd(&f, 2, SHAPE(3, 4)), *t = rnd(&f, 2, SHAPE(3, 4)), *loss;
    OK(gm_op_mse(f.ctx, p, t, &loss));
    OK(gm_ctx_backward(f.ctx, loss));
    cr_assert_null(t->grad);
    for (int64_t i = 0; i < p->numel; i++) {
        cr_assert_float_eq(p->grad[i], 2.0 * (p->data[i] - t->data[i]) / 12.0, 1e-14);
    }
    /* Only the target requiring a gradient: nothing to record. */
    gm_ctx_reset(f.ctx);
    p->requires_grad = false;
    OK(gm_op_mse(f.ctx, p, t, &loss));
    cr_assert_eq(gm_ctx_tape_size(f.ctx), 0);
    cr_assert_not(loss->requires_grad);
    fx_free(&f);
}

Test(ops_forward, dropout_eval_identity_training_rate_and_seed) {
    fixture f = fx_new(7);
    const int64_t n = 100000;
    gm_tensor *x;
    OK(gm_tensor_new1(f.arena, n, &x));
    for (int64_t i = 0; i < n; i++) x->data[i] = 1.0 + (double)(i % 7);
    x->requires_grad = true;

    gm_tensor *y;
    gm_ctx_set_training(f.ctx, false);
    OK(gm_op_dropout(f.ctx, x, 0.5, &y));
    cr_assert_neq(y->data, x->data);
    cr_assert_eq(memcmp(y->data, x->data, (size_t)n * sizeof(gm_real)), 0, "eval is identity");
    gm_ctx_set_training(f.ctx, true);
    OK(gm_op_dropout(f.ctx, x, 0.0, &y));
    cr_assert_eq(memcmp(y->data, x->data, (size_t)n * sizeof(gm_real)), 0, "p = 0 is identity");

    const double p = 0.3;
    OK(gm_op_dropout(f.ctx, x, p, &y));
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y->data[i] == 0) {
            zeros++;
        } else {
            cr_assert_float_eq(y->data[i], x->data[i] / (1 - p), 1e-12);
        }
    }
    double rate = (double)zeros / (double)n;
    /* Binomial sd is sqrt(p(1-p)/n) ~ 0.0015; 0.01 is over 6 sd. */
    cr_assert(fabs(rate - p) < 0.01, "dropped fraction %g for p = %g", rate, p);
    cr_log_info("dropout: dropped %.4f for p = %.2f", rate, p);

    /* The same seed gives the same mask; another seed another mask. */
    gm_ctx *same = NULL, *other = NULL;
    OK(gm_ctx_new(0, 7, &same));
    OK(gm_ctx_new(0, 8, &other));
    gm_tensor *a, *b, *c;
    gm_ctx *first = NULL;
    OK(gm_ctx_new(0, 7, &first));
    OK(gm_op_dropout(first, x, p, &a));
    OK(gm_op_dropout(same, x, p, &b));
    OK(gm_op_dropout(other, x, p, &c));
    cr_assert_eq(memcmp(a->data, b->data, (size_t)n * sizeof(gm_real)), 0);
    cr_assert_neq(memcmp(a->data, c->data, (size_t)n * sizeof(gm_real)), 0);
    gm_ctx_free(first);
    gm_ctx_free(same);
    gm_ctx_free(other);

    cr_assert_eq(gm_op_dropout(f.ctx, x, 1.0, &y), GM_ERR_INVALID_ARG);
    cr_assert_neq(strstr(gm_error_detail(), "dropout"), NULL);
    cr_assert_eq(gm_op_dropout(f.ctx, x, -0.1, &y), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_op_dropout(f.ctx, x, NAN, &y), GM_ERR_INVALID_ARG);
    fx_free(&f);
}

/* --- shape errors ---------------------------------------------------------- */

static void expect_status(gm_status got, gm_status want, const char *op, const char *what) {
    cr_expect_eq(got, want, "%s (%s): got %s, want %s", op, what, gm_strerror(got),
                 gm_strerror(want));
    cr_expect_neq(strstr(gm_error_detail(), op), NULL, "%s (%s): detail '%s' does not name it",
                  op, what, gm_error_detail());
}

Test(ops_errors, shape_mismatches_name_the_op) {
    fixture f = fx_new(8);
    gm_tensor *a23 = rnd(&f, 2, SHAPE(2, 3)), *a32 = rnd(&f, 2, SHAPE(3, 2));
    gm_tensor *x = rnd(&f, 3, SHAPE(2, 3, 4)), *x5 = rnd(&f, 3, SHAPE(2, 3, 5));
    gm_tensor *x_b3 = rnd(&f, 3, SHAPE(3, 3, 4)), *v5 = rnd(&f, 1, SHAPE(5));
    gm_tensor *v4 = rnd(&f, 1, SHAPE(4)), *s2 = rnd(&f, 1, SHAPE(2)), *vec = rnd(&f, 1, SHAPE(6));
    gm_tensor *scalar = rnd(&f, 0, NULL), *g45 = rnd(&f, 2, SHAPE(4, 5));
    gm_tensor *g34 = rnd(&f, 2, SHAPE(3, 4)), *out = NULL;
    const int32_t labels[2] = {0, 1};
    const gm_status SH = GM_ERR_SHAPE;

    expect_status(gm_op_add(f.ctx, a23, a32, &out), SH, "add", "transposed");
    cr_assert_null(out);
    expect_status(gm_op_add(f.ctx, x, a23, &out), SH, "add", "ndim");
    expect_status(gm_op_mul(f.ctx, x, x5, &out), SH, "mul", "last axis");
    expect_status(gm_op_mul_positions(f.ctx, a23, v4, &out), SH, "mul_positions", "x 2-D");
    expect_status(gm_op_mul_positions(f.ctx, x, v5, &out), SH, "mul_positions", "v length");
    expect_status(gm_op_mul_positions(f.ctx, x, g34, &out), SH, "mul_positions", "v 2-D");
    expect_status(gm_op_prelu(f.ctx, vec, scalar, &out), SH, "prelu", "x 1-D");
    expect_status(gm_op_prelu(f.ctx, x, s2, &out), SH, "prelu", "slope length");
    expect_status(gm_op_layernorm(f.ctx, vec, NULL, NULL, 1e-5, &out), SH, "layernorm", "x 1-D");
    expect_status(gm_op_layernorm(f.ctx, x, g45, g34, 1e-5, &out), SH, "layernorm", "gamma");
    expect_status(gm_op_layernorm(f.ctx, x, g34, g45, 1e-5, &out), SH, "layernorm", "beta");
    expect_status(gm_op_layernorm(f.ctx, x, g34, NULL, 1e-5, &out), GM_ERR_INVALID_ARG,
                  "layernorm", "gamma without beta");
    expect_status(gm_op_layernorm(f.ctx, x, NULL, NULL, -1.0, &out), GM_ERR_INVALID_ARG,
                  "layernorm", "negative eps");
    expect_status(gm_op_concat(f.ctx, x, x_b3, &out), SH, "concat", "batch");
    expect_status(gm_op_concat(f.ctx, x, x5, &out), SH, "concat", "positions");
    expect_status(gm_op_concat(f.ctx, vec, vec, &out), SH, "concat", "1-D");
    expect_status(gm_op_slice(f.ctx, x, 2, 2, &out), SH, "slice", "past the end");
    expect_status(gm_op_slice(f.ctx, vec, 0, 1, &out), SH, "slice", "1-D");
    expect_status(gm_op_slice(f.ctx, x, -1, 2, &out), GM_ERR_INVALID_ARG, "slice", "start < 0");
    expect_status(gm_op_slice(f.ctx, x, 0, 0, &out), GM_ERR_INVALID_ARG, "slice", "count 0");
    expect_status(gm_op_reshape(f.ctx, x, 2, SHAPE(5, 5), &out), SH, "reshape", "numel");
    expect_status(gm_op_reshape(f.ctx, x, 2, SHAPE(-4, -6), &out), SH, "reshape", "negative");
    expect_status(gm_op_reshape(f.ctx, x, 5, SHAPE(1, 2, 3, 4, 1), &out), GM_ERR_INVALID_ARG,
                  "reshape", "ndim");
    expect_status(gm_op_row_normalize(f.ctx, scalar, &out), SH, "row_normalize", "scalar");
    expect_status(gm_op_softmax_xent(f.ctx, x, labels, &out), SH, "softmax_xent", "3-D");
    expect_status(gm_op_mse(f.ctx, x, x5, &out), SH, "mse", "mismatch");
    cr_assert_null(out);
    cr_assert_eq(gm_ctx_tape_size(f.ctx), 0, "failed ops record nothing");
    fx_free(&f);
}

Test(ops_errors, softmax_xent_label_out_of_range_names_the_sample) {
    fixture f = fx_new(9);
    gm_tensor *x = rnd(&f, 2, SHAPE(3, 4)), *out = NULL;
    const int32_t bad_hi[3] = {0, 3, 4}, bad_lo[3] = {-1, 0, 0};
    cr_assert_eq(gm_op_softmax_xent(f.ctx, x, bad_hi, &out), GM_ERR_INVALID_ARG);
    cr_assert_neq(strstr(gm_error_detail(), "softmax_xent"), NULL, "%s", gm_error_detail());
    cr_assert_neq(strstr(gm_error_detail(), "sample 2"), NULL, "%s", gm_error_detail());
    cr_assert_eq(gm_op_softmax_xent(f.ctx, x, bad_lo, &out), GM_ERR_INVALID_ARG);
    cr_assert_neq(strstr(gm_error_detail(), "sample 0"), NULL, "%s", gm_error_detail());
    cr_assert_eq(gm_op_softmax_xent(f.ctx, x, NULL, &out), GM_ERR_INVALID_ARG);
    fx_free(&f);
}

Test(ops_errors, op_names_come_from_the_list) {
    for (int op = 0; op < GM_OP_COUNT; op++) {
        cr_assert_str_neq(gm_op_name(op), "?");
        for (int other = 0; other < op; other++) {
            cr_assert_str_neq(gm_op_name(op), gm_op_name(other));
        }
    }
    cr_assert_str_eq(gm_op_name(GM_OP_LAYERNORM), "layernorm");
    cr_assert_str_eq(gm_op_name(-1), "?");
    cr_assert_str_eq(gm_op_name(GM_OP_COUNT), "?");
}

/* Inputs big enough for the OpenMP branches, checked against serial sums. */
Test(ops_forward, large_inputs_match_serial_sums) {
    fixture f = fx_new(10);
    gm_tensor *x = rnd(&f, 3, SHAPE(4, 64, 300)), *t = rnd(&f, 3, SHAPE(4, 64, 300));
    gm_tensor *slope = rnd(&f, 1, SHAPE(1)), *mse, *pr, *ln;
    OK(gm_op_mse(f.ctx, x, t, &mse));
    double sq = 0.0;
    for (int64_t i = 0; i < x->numel; i++) {
        sq += (x->data[i] - t->data[i]) * (x->data[i] - t->data[i]);
    }
    cr_assert_float_eq(mse->data[0], sq / (double)x->numel, 1e-13);

    /* L = mean(prelu(x)^2) = mse(prelu(x), 0): dL/da = 2 mean(a x^2 [x < 0]). */
    gm_tensor *zero, *l2;
    OK(gm_tensor_new3(f.arena, 4, 64, 300, &zero));
    OK(gm_op_prelu(f.ctx, x, slope, &pr));
    OK(gm_op_mse(f.ctx, pr, zero, &l2));
    OK(gm_ctx_backward(f.ctx, l2));
    double want = 0.0;
    for (int64_t i = 0; i < x->numel; i++) {
        if (x->data[i] < 0) want += 2.0 * slope->data[0] * x->data[i] * x->data[i];
    }
    cr_assert_float_eq(slope->grad[0], want / (double)x->numel, 1e-13);

    OK(gm_op_layernorm(f.ctx, x, NULL, NULL, 0.0, &ln));
    for (int64_t b = 0; b < 4; b++) {
        double m = 0.0, v = 0.0;
        const int64_t n = 64 * 300;
        for (int64_t j = 0; j < n; j++) m += ln->data[b * n + j];
        for (int64_t j = 0; j < n; j++) v += ln->data[b * n + j] * ln->data[b * n + j];
        cr_assert_float_eq(m / (double)n, 0.0, 1e-12);
        cr_assert_float_eq(v / (double)n, 1.0, 1e-12);
    }

    gm_tensor *logits = rnd(&f, 2, SHAPE(1000, 40)), *loss;
    int32_t labels[1000];
    for (int i = 0; i < 1000; i++) labels[i] = (int32_t)((i * 7) % 40);
    OK(gm_op_softmax_xent(f.ctx, logits, labels, &loss));
    double total = 0.0;
    for (int b = 0; b < 1000; b++) {
        double s = 0.0;
        for (int k = 0; k < 40; k++) s += exp(logits->data[b * 40 + k]);
        total += log(s) - logits->data[b * 40 + labels[b]];
    }
    cr_assert_float_eq(loss->data[0], total / 1000.0, 1e-12);
    fx_free(&f);
}
