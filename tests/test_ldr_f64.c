/* The low displacement rank baselines in float64: the reference
 * reconstructions of gmat (displacement equations, displacement rank, closed
 * forms), the ops against them, every op input's gradient against central
 * finite differences, and whole LDR models' parameter gradients. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "test_support.h"

#define FD_STEP 1e-6
/* With h = 1e-6 the truncation and cancellation errors are about 1e-9; a
 * wrong index or a missed term gives errors of order 1e-1. */
#define FD_TOL 1e-6

static double *dbuf(int64_t n) {
    double *p = gm_calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static double max_abs(int64_t n, const double *a) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* c = a b, all n x n. */
static void matmul(int64_t n, const double *a, const double *b, double *c) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
            c[i * n + j] = s;
        }
}

/* G H^T from the (r, n) rows g, h. */
static void outer_sum(int64_t n, int64_t r, const double *g, const double *h, double *out) {
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            double s = 0.0;
            for (int64_t i = 0; i < r; i++) s += g[i * n + a] * h[i * n + b];
            out[a * n + b] = s;
        }
}

static int64_t rank_of(int64_t n, const double *d) {
    int64_t rank = -1;
    double *copy = dbuf(n * n);
    memcpy(copy, d, (size_t)(n * n) * sizeof *copy);
    OK(gm_gmat_rank(n, n, copy, -1.0, &rank, NULL, NULL));
    gm_free(copy);
    return rank;
}

/* --- Toeplitz-like -------------------------------------------------------- */

Test(ldr_f64, toeplitz_like_solves_its_displacement_equation) {
    static const int64_t ns[] = {1, 2, 3, 8, 13};
    static const int64_t rs[] = {1, 2, 4};
    gm_rng rng;
    gm_rng_seed(&rng, 11, 0);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof rs / sizeof rs[0]; b++) {
            const int64_t n = ns[a], r = rs[b];
            double *g = dbuf(r * n), *h = dbuf(r * n), *m = dbuf(n * n), *z1 = dbuf(n * n),
                   *zm1 = dbuf(n * n), *d = dbuf(n * n), *gh = dbuf(n * n);
            ts_fill_uniform(&rng, r * n, g);
            ts_fill_uniform(&rng, r * n, h);
            gm_gmat_ldr_toeplitz(n, r, g, h, m);
            gm_gmat_shift_dense(n, 1.0, z1);
            gm_gmat_shift_dense(n, -1.0, zm1);
            gm_gmat_sylvester_displacement(n, z1, zm1, m, d);
            outer_sum(n, r, g, h, gh);
            cr_expect(ts_max_abs_diff(n * n, d, gh) < 1e-12 * (1.0 + max_abs(n * n, gh)),
                      "n %lld r %lld: Z_1 M - M Z_-1 != G H^T (off by %g)", (long long)n,
                      (long long)r, ts_max_abs_diff(n * n, d, gh));
            const int64_t rank = rank_of(n, d);
            const int64_t want = r < n ? r : n;
            cr_expect_eq(rank, want, "n %lld r %lld: displacement rank %lld", (long long)n,
                         (long long)r, (long long)rank);
            gm_free(g), gm_free(h), gm_free(m), gm_free(z1), gm_free(zm1), gm_free(d),
                gm_free(gh);
        }
}

/* Rank 1 closed forms: g = e_0 gives Z_1(e_0) = I, so M = 1/2 Z_-1(J h), a
 * skew-circulant Toeplitz matrix; h = e_(n-1) gives J h = e_0, so M = 1/2
 * Z_1(g), a circulant. */
Test(ldr_f64, toeplitz_like_rank_one_closed_forms) {
    const int64_t n = 9;
    gm_rng rng;
    gm_rng_seed(&rng, 12, 0);
    double *v = dbuf(n), *e = dbuf(n), *m = dbuf(n * n), *want = dbuf(n * n);
    ts_fill_uniform(&rng, n, v);

    e[0] = 1.0;
    gm_gmat_ldr_toeplitz(n, 1, e, v, m);
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            /* Z_-1(J v)[a][b] = (J v)[a-b], or -(J v)[n+a-b] above the diagonal */
            const double jv = a >= b ? v[n - 1 - (a - b)] : -v[n - 1 - (n + a - b)];
            want[a * n + b] = 0.5 * jv;
        }
    cr_expect(ts_max_abs_diff(n * n, m, want) < 1e-14, "g = e_0: not 1/2 Z_-1(J h)");
    /* ... and it is Toeplitz: constant along every diagonal */
    for (int64_t a = 1; a < n; a++)
        for (int64_t b = 1; b < n; b++)
            cr_expect(fabs(m[a * n + b] - m[(a - 1) * n + b - 1]) < 1e-15);

    e[0] = 0.0;
    e[n - 1] = 1.0;
    gm_gmat_ldr_toeplitz(n, 1, v, e, m);
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) want[a * n + b] = 0.5 * v[(a - b + n) % n];
    cr_expect(ts_max_abs_diff(n * n, m, want) < 1e-14, "h = e_(n-1): not 1/2 Z_1(g)");
    gm_free(v), gm_free(e), gm_free(m), gm_free(want);
}

/* Any Toeplitz T[a][b] = t[a-b] has Z_1 T - T Z_-1 = e_0 u^T + v e_(n-1)^T
 * (nonzero only in row 0 and column n-1), so the rank-2 Toeplitz-like matrix
 * with G = (e_0, v) and H = (u, e_(n-1)) is T itself. */
Test(ldr_f64, toeplitz_like_rank_two_reproduces_a_toeplitz_matrix) {
    const int64_t n = 7;
    gm_rng rng;
    gm_rng_seed(&rng, 13, 0);
    double *t = dbuf(2 * n - 1), *tm = dbuf(n * n), *g = dbuf(2 * n), *h = dbuf(2 * n),
           *m = dbuf(n * n);
    ts_fill_uniform(&rng, 2 * n - 1, t);
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) tm[a * n + b] = t[a - b + n - 1];
    g[0] = 1.0;                     /* g_0 = e_0 */
    for (int64_t j = 0; j + 1 < n; j++) /* u: row 0 of the displacement */
        h[j] = tm[(n - 1) * n + j] - tm[j + 1];
    h[n - 1] = tm[(n - 1) * n + n - 1] + tm[0];
    for (int64_t a = 1; a < n; a++) /* v: the rest of column n-1 */
        g[n + a] = tm[(a - 1) * n + n - 1] + tm[a * n];
    h[n + n - 1] = 1.0;             /* h_1 = e_(n-1) */
    gm_gmat_ldr_toeplitz(n, 2, g, h, m);
    cr_expect(ts_max_abs_diff(n * n, m, tm) < 1e-14, "rank-2 Toeplitz-like != T (off by %g)",
              ts_max_abs_diff(n * n, m, tm));
    gm_free(t), gm_free(tm), gm_free(g), gm_free(h), gm_free(m);
}

/* --- LDR-TD ----------------------------------------------------------------- */

/* A random operator (3 x n) with entries U(-s, s) plus `sub` on the
 * subdiagonal (corner included when corner is true). */
static void random_operator(gm_rng *rng, int64_t n, double s, double sub, bool corner,
                            double *op) {
    for (int64_t j = 0; j < 3 * n; j++) op[j] = s * (2.0 * gm_rng_uniform(rng) - 1.0);
    for (int64_t i = corner ? 0 : 1; i < n; i++) op[i] += sub;
}

Test(ldr_f64, tridiagonal_operator_layout) {
    const int64_t n = 5;
    double op[15], a[25];
    for (int j = 0; j < 15; j++) op[j] = j + 1;
    gm_gmat_tridiag_dense(n, op, a);
    cr_expect_eq(a[0 * n + 4], 1.0, "corner A[0][n-1] = sub[0]");
    cr_expect_eq(a[2 * n + 1], 3.0, "A[2][1] = sub[2]");
    cr_expect_eq(a[2 * n + 2], 8.0, "A[2][2] = diag[2]");
    cr_expect_eq(a[2 * n + 3], 13.0, "A[2][3] = sup[2]");
    cr_expect_eq(a[4 * n + 0], 15.0, "corner A[n-1][0] = sup[n-1]");
    cr_expect_eq(a[0 * n + 2], 0.0);
    double z[25];
    gm_gmat_shift_dense(n, -2.0, z);
    cr_expect_eq(z[0 * n + 4], -2.0);
    cr_expect_eq(z[3 * n + 2], 1.0);
}

Test(ldr_f64, krylov_factored_displacement) {
    static const int64_t ns[] = {1, 2, 3, 6, 10};
    static const int64_t rs[] = {1, 2, 3};
    gm_rng rng;
    gm_rng_seed(&rng, 21, 0);
    for (size_t ia = 0; ia < sizeof ns / sizeof ns[0]; ia++)
        for (size_t ib = 0; ib < sizeof rs / sizeof rs[0]; ib++) {
            const int64_t n = ns[ia], r = rs[ib];
            double *ao = dbuf(3 * n), *bo = dbuf(3 * n), *a = dbuf(n * n), *b = dbuf(n * n),
                   *g = dbuf(r * n), *h = dbuf(r * n), *m = dbuf(n * n), *d = dbuf(n * n),
                   *gh = dbuf(n * n), *an = dbuf(n * n), *bn = dbuf(n * n), *t = dbuf(n * n),
                   *want = dbuf(n * n);
            ts_fill_uniform(&rng, r * n, g);
            ts_fill_uniform(&rng, r * n, h);
            outer_sum(n, r, g, h, gh);

            /* General operators: M - A M B = G H^T - A^n G H^T B^n, rank <= 2r. */
            random_operator(&rng, n, 0.5, 0.8, true, ao);
            random_operator(&rng, n, 0.5, 0.0, true, bo);
            gm_gmat_tridiag_dense(n, ao, a);
            gm_gmat_tridiag_dense(n, bo, b);
            OK(gm_gmat_ldr_krylov(n, r, a, b, g, h, m));
            OK(gm_gmat_stein_displacement(n, a, b, m, d));
            memcpy(an, a, (size_t)(n * n) * sizeof *an);
            memcpy(bn, b, (size_t)(n * n) * sizeof *bn);
            for (int64_t k = 1; k < n; k++) {
                matmul(n, an, a, t);
                memcpy(an, t, (size_t)(n * n) * sizeof *t);
                matmul(n, bn, b, t);
                memcpy(bn, t, (size_t)(n * n) * sizeof *t);
            }
            matmul(n, an, gh, t);
            matmul(n, t, bn, want);
            for (int64_t j = 0; j < n * n; j++) want[j] = gh[j] - want[j];
            cr_expect(ts_max_abs_diff(n * n, d, want) < 1e-10 * (1.0 + max_abs(n * n, m)),
                      "n %lld r %lld: Stein displacement off by %g", (long long)n, (long long)r,
                      ts_max_abs_diff(n * n, d, want));
            const int64_t lim2 = 2 * r < n ? 2 * r : n;
            cr_expect_leq(rank_of(n, d), lim2, "n %lld r %lld", (long long)n, (long long)r);

            /* Nilpotent A (strictly lower bidiagonal, no corner): M - A M B = G H^T. */
            for (int64_t j = 0; j < 3 * n; j++) ao[j] = 0.0;
            for (int64_t i = 1; i < n; i++) ao[i] = 0.5 + gm_rng_uniform(&rng);
            gm_gmat_tridiag_dense(n, ao, a);
            OK(gm_gmat_ldr_krylov(n, r, a, b, g, h, m));
            OK(gm_gmat_stein_displacement(n, a, b, m, d));
            cr_expect(ts_max_abs_diff(n * n, d, gh) < 1e-12 * (1.0 + max_abs(n * n, m)),
                      "n %lld r %lld: nilpotent A: M - A M B != G H^T", (long long)n,
                      (long long)r);
            cr_expect_eq(rank_of(n, d), r < n ? r : n);

            /* A = Z_1 (orthogonal, A^-1 = A^T): the Sylvester displacement
             * A^-1 M - M B has rank <= 2r. */
            for (int64_t j = 0; j < 3 * n; j++) ao[j] = 0.0;
            for (int64_t i = 0; i < n; i++) ao[i] = 1.0;
            gm_gmat_tridiag_dense(n, ao, a);
            OK(gm_gmat_ldr_krylov(n, r, a, b, g, h, m));
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) t[i * n + j] = a[j * n + i];
            gm_gmat_sylvester_displacement(n, t, b, m, d);
            cr_expect_leq(rank_of(n, d), lim2, "n %lld r %lld: A = Z_1", (long long)n,
                          (long long)r);
            gm_free(ao), gm_free(bo), gm_free(a), gm_free(b), gm_free(g), gm_free(h),
                gm_free(m), gm_free(d), gm_free(gh), gm_free(an), gm_free(bn), gm_free(t),
                gm_free(want);
        }
}

/* With the initial operators of the model (A = Z_0, B = Z_0^T) M is
 * sum_i L(g_i) L(h_i)^T, L(v) the lower-triangular Toeplitz matrix of v. */
Test(ldr_f64, krylov_factored_with_shift_operators) {
    const int64_t n = 6, r = 2;
    gm_rng rng;
    gm_rng_seed(&rng, 22, 0);
    double ao[18] = {0}, bo[18] = {0}, a[36], b[36], g[12], h[12], m[36], want[36] = {0};
    for (int64_t i = 1; i < n; i++) ao[i] = 1.0;
    for (int64_t i = 0; i + 1 < n; i++) bo[2 * n + i] = 1.0;
    gm_gmat_tridiag_dense(n, ao, a);
    gm_gmat_tridiag_dense(n, bo, b);
    ts_fill_uniform(&rng, r * n, g);
    ts_fill_uniform(&rng, r * n, h);
    OK(gm_gmat_ldr_krylov(n, r, a, b, g, h, m));
    for (int64_t i = 0; i < r; i++)
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = 0; q < n; q++)
                for (int64_t k = 0; k <= p && k <= q; k++)
                    want[p * n + q] += g[i * n + p - k] * h[i * n + q - k];
    cr_expect(ts_max_abs_diff(n * n, m, want) < 1e-14);
}

/* --- ops against the references, and their gradients -------------------- */

static gm_ctx *new_ctx(void) {
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    return ctx;
}

static void to_double(const gm_tensor *t, double *out) {
    for (int64_t i = 0; i < t->numel; i++) out[i] = t->data[i];
}

Test(ldr_f64, ops_match_the_references) {
    static const int64_t ns[] = {1, 2, 3, 8, 17};
    static const int64_t rs[] = {1, 3};
    gm_arena *arena = gc_arena();
    gm_ctx *ctx = new_ctx();
    gm_rng rng;
    gm_rng_seed(&rng, 31, 0);
    for (size_t ia = 0; ia < sizeof ns / sizeof ns[0]; ia++)
        for (size_t ib = 0; ib < sizeof rs / sizeof rs[0]; ib++) {
            const int64_t n = ns[ia], r = rs[ib];
            gm_tensor *g = gc_random_tensor(arena, &rng, 2, (int64_t[]){r, n}, false);
            gm_tensor *h = gc_random_tensor(arena, &rng, 2, (int64_t[]){r, n}, false);
            gm_tensor *ao = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, n}, false);
            gm_tensor *bo = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, n}, false);
            for (int64_t j = 0; j < 3 * n; j++) {
                ao->data[j] *= 0.4;
                bo->data[j] *= 0.4;
            }
            double *gd = dbuf(r * n), *hd = dbuf(r * n), *ad = dbuf(3 * n), *bd = dbuf(3 * n),
                   *a = dbuf(n * n), *b = dbuf(n * n), *want = dbuf(n * n), *got = dbuf(n * n);
            to_double(g, gd), to_double(h, hd), to_double(ao, ad), to_double(bo, bd);
            gm_tensor *y = NULL;
            OK(gm_op_ldr_toeplitz(ctx, g, h, &y));
            gm_gmat_ldr_toeplitz(n, r, gd, hd, want);
            to_double(y, got);
            cr_expect(ts_max_abs_diff(n * n, got, want) < 1e-12, "toeplitz n %lld r %lld: %g",
                      (long long)n, (long long)r, ts_max_abs_diff(n * n, got, want));
            OK(gm_op_ldr_tridiag(ctx, ao, bo, g, h, &y));
            gm_gmat_tridiag_dense(n, ad, a);
            gm_gmat_tridiag_dense(n, bd, b);
            OK(gm_gmat_ldr_krylov(n, r, a, b, gd, hd, want));
            to_double(y, got);
            cr_expect(ts_max_abs_diff(n * n, got, want) < 1e-12 * (1.0 + max_abs(n * n, want)),
                      "tridiag n %lld r %lld: %g", (long long)n, (long long)r,
                      ts_max_abs_diff(n * n, got, want));
            gm_ctx_reset(ctx);
            gm_free(gd), gm_free(hd), gm_free(ad), gm_free(bd), gm_free(a), gm_free(b),
                gm_free(want), gm_free(got);
        }
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

static gm_status fwd_toeplitz(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)user;
    return gm_op_ldr_toeplitz(ctx, in[0], in[1], out);
}

static gm_status fwd_tridiag(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)user;
    return gm_op_ldr_tridiag(ctx, in[0], in[1], in[2], in[3], out);
}

/* The layer as the model runs it: linear(x, M(...), bias). */
static gm_status fwd_layer(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    const bool tridiag = *(const bool *)user;
    gm_tensor *m = NULL;
    gm_status st = tridiag ? gm_op_ldr_tridiag(ctx, in[2], in[3], in[4], in[5], &m)
                           : gm_op_ldr_toeplitz(ctx, in[4], in[5], &m);
    if (st != GM_OK) return st;
    return gm_op_linear(ctx, in[0], m, in[1], out);
}

Test(ldr_f64, op_gradients) {
    static const int64_t ns[] = {1, 2, 3, 7};
    static const int64_t rs[] = {1, 2};
    gm_rng rng;
    gm_rng_seed(&rng, 41, 0);
    for (size_t ia = 0; ia < sizeof ns / sizeof ns[0]; ia++)
        for (size_t ib = 0; ib < sizeof rs / sizeof rs[0]; ib++) {
            const int64_t n = ns[ia], r = rs[ib];
            gm_arena *arena = gc_arena();
            gm_tensor *in[4];
            in[0] = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, n}, true);
            in[1] = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, n}, true);
            in[2] = gc_random_tensor(arena, &rng, 2, (int64_t[]){r, n}, true);
            in[3] = gc_random_tensor(arena, &rng, 2, (int64_t[]){r, n}, true);
            /* operators near the shifts, as in training */
            for (int64_t i = 0; i < n; i++) {
                in[0]->data[i] += 1.0;
                in[1]->data[2 * n + i] += 1.0;
            }
            double e = gc_check("ldr_toeplitz", fwd_toeplitz, 2, in + 2, NULL, FD_STEP);
            cr_expect(e < FD_TOL, "toeplitz n %lld r %lld: FD error %g", (long long)n,
                      (long long)r, e);
            e = gc_check("ldr_tridiag", fwd_tridiag, 4, in, NULL, FD_STEP);
            cr_expect(e < FD_TOL, "tridiag n %lld r %lld: FD error %g", (long long)n,
                      (long long)r, e);
            gm_arena_free(arena);
        }
}

/* x, bias, A, B, G, H through the layer, for both structures. */
Test(ldr_f64, layer_gradients) {
    const int64_t n = 6, r = 2, batch = 3;
    gm_rng rng;
    gm_rng_seed(&rng, 42, 0);
    gm_arena *arena = gc_arena();
    gm_tensor *in[6];
    in[0] = gc_random_tensor(arena, &rng, 2, (int64_t[]){batch, n}, true);
    in[1] = gc_random_tensor(arena, &rng, 1, (int64_t[]){n}, true);
    in[2] = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, n}, true);
    in[3] = gc_random_tensor(arena, &rng, 2, (int64_t[]){3, n}, true);
    in[4] = gc_random_tensor(arena, &rng, 2, (int64_t[]){r, n}, true);
    in[5] = gc_random_tensor(arena, &rng, 2, (int64_t[]){r, n}, true);
    bool tridiag = true;
    double e = gc_check("tridiag layer", fwd_layer, 6, in, &tridiag, FD_STEP);
    cr_expect(e < FD_TOL, "tridiag layer: FD error %g", e);
    tridiag = false;
    in[2]->requires_grad = in[3]->requires_grad = false;
    e = gc_check("toeplitz layer", fwd_layer, 6, in, &tridiag, FD_STEP);
    cr_expect(e < FD_TOL, "toeplitz layer: FD error %g", e);
    gm_arena_free(arena);
}

/* --- whole models ----------------------------------------------------------- */

typedef struct model_fx {
    gm_model *model;
    gm_tensor *x;
    const int32_t *labels;
} model_fx;

static gm_status fwd_model(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
    (void)in;
    const model_fx *fx = user;
    gm_tensor *logits = NULL;
    gm_status st = gm_model_forward(fx->model, ctx, fx->x, &logits);
    if (st != GM_OK) return st;
    return gm_op_softmax_xent(ctx, logits, fx->labels, out);
}

Test(ldr_f64, model_gradients) {
    static const gm_ldr_structure structures[] = {GM_LDR_TOEPLITZ, GM_LDR_TRIDIAG,
                                                  GM_LDR_UNSTRUCTURED};
    for (int s = 0; s < 3; s++) {
        gm_model_desc d = {.kind = GM_MODEL_LDR, .structure = structures[s], .in_channels = 2,
                           .out_dim = 3, .image_h = 2, .image_w = 3, .dropout = 0.25,
                           .ldr_rank = structures[s] == GM_LDR_UNSTRUCTURED ? 0 : 2};
        gm_model *m = NULL;
        OK(gm_model_new(&d, 3, &m));
        gm_rng rng;
        gm_rng_seed(&rng, 50 + (uint64_t)s, 0);
        gm_arena *arena = gc_arena();
        /* Random biases and factors of unit scale: ReLU kinks away from the
         * sampled points, and gradients that are not tiny. */
        for (int64_t i = 0; i < gm_model_param_count(m); i++) {
            gm_tensor *t = gm_model_param(m, i);
            for (int64_t j = 0; j < t->numel; j++)
                t->data[j] += (gm_real)(0.3 * (2.0 * gm_rng_uniform(&rng) - 1.0));
        }
        model_fx fx = {.model = m};
        fx.x = gc_random_tensor(arena, &rng, 3, (int64_t[]){4, 2, 6}, false);
        const int32_t labels[4] = {0, 2, 1, 2};
        fx.labels = labels;
        gm_tensor *params[8];
        const int64_t np = gm_model_param_count(m);
        cr_assert_leq(np, 8);
        for (int64_t i = 0; i < np; i++) params[i] = gm_model_param(m, i);
        const double e = gc_check("ldr model", fwd_model, (int)np, params, &fx, FD_STEP);
        cr_log_info("structure %d: %lld tensors, FD error %.3g", s, (long long)np, e);
        cr_expect(e < FD_TOL, "structure %d: FD error %g", s, e);
        gm_model_free(m);
        gm_arena_free(arena);
    }
}
