/* Group-matrix ops in float: the pooling, lifting and projection plans;
 * gmconv against circular 2-D cross-correlation and gmpool against 2x2
 * stride-2 pooling on the torus; exact equivariance of every exact layer
 * under every generator, with a negative control; optimized kernels against
 * their scalar references (forward and backward, through the raw kernels and
 * through the tape); shape errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops_gm.h"
#include "test_support.h"

/* Float32 rounding of sums of a few hundred terms stays far below this; an
 * equivariance bug moves values by O(1). */
#define EQUIV_TOL 1e-5
#define NEG_CONTROL_MIN 1e-2

/* --- helpers ------------------------------------------------------------ */

/* ||a - b||_2 / ||b||_2 */
static double defect(int64_t n, const gm_real *a, const gm_real *b) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static gm_gmat_plan *conv_plan(const gm_group *g, int64_t t) {
    gm_nbhd *s = ts_support(g, t);
    gm_gmat_plan *p = NULL;
    cr_assert_eq(gm_gmat_plan_new(g, s, &p), GM_OK, "%s", gm_error_detail());
    gm_nbhd_free(s);
    return p;
}

static gm_gmat_plan *lift_plan(const gm_subgroup *k, int64_t t) {
    gm_nbhd *s = ts_support(gm_subgroup_parent(k), t);
    gm_gmat_plan *p = NULL;
    cr_assert_eq(gm_gmat_plan_lift_new(k, s, &p), GM_OK, "%s", gm_error_detail());
    gm_nbhd_free(s);
    return p;
}

static gm_gmat_plan *pool_plan(const gm_subgroup *h) {
    gm_gmat_plan *p = NULL;
    cr_assert_eq(gm_gmat_plan_pool_new(h, &p), GM_OK, "%s", gm_error_detail());
    return p;
}

static gm_gmat_plan *project_plan(const gm_subgroup *k) {
    gm_gmat_plan *p = NULL;
    cr_assert_eq(gm_gmat_plan_project_new(k, &p), GM_OK, "%s", gm_error_detail());
    return p;
}

/* out[p][g] = x[p][v^-1 g]: L_v on `planes` functions on g. */
static void translate(const gm_group *g, int32_t v, int64_t planes, const gm_real *x,
                      gm_real *out) {
    const int64_t n = gm_group_order(g);
    const int32_t vi = gm_group_inv(g, v);
    for (int64_t p = 0; p < planes; p++)
        for (int32_t a = 0; a < n; a++) out[p * n + a] = x[p * n + gm_group_mul(g, vi, a)];
}

/* The same on G/K: out[p][c] = x[p][v^-1 . c]. */
static void translate_cosets(const gm_cosets *cs, const gm_group *g, int32_t v, int64_t planes,
                             const gm_real *x, gm_real *out) {
    const int64_t m = gm_cosets_count(cs);
    const int32_t vi = gm_group_inv(g, v);
    for (int64_t p = 0; p < planes; p++)
        for (int32_t c = 0; c < m; c++) out[p * m + c] = x[p * m + gm_cosets_act(cs, vi, c)];
}

/* Every entry of the table in [0, input) and each input hit exactly once. */
static void assert_exact_cover(const gm_gmat_plan *p, const char *what) {
    const int64_t rows = gm_gmat_plan_support_size(p), cols = gm_gmat_plan_order(p);
    const int64_t n = gm_gmat_plan_input_size(p);
    cr_assert_eq(rows * cols, n, "%s: %lld x %lld table for %lld inputs", what, (long long)rows,
                 (long long)cols, (long long)n);
    int *seen = gm_calloc((size_t)n, sizeof *seen);
    cr_assert_not_null(seen);
    const int32_t *t = gm_gmat_plan_table(p);
    for (int64_t i = 0; i < rows * cols; i++) {
        cr_assert(t[i] >= 0 && t[i] < n, "%s: entry %lld = %d out of range", what, (long long)i,
                  t[i]);
        seen[t[i]]++;
    }
    for (int64_t a = 0; a < n; a++)
        cr_assert_eq(seen[a], 1, "%s: element %lld appears %d times", what, (long long)a, seen[a]);
    gm_free(seen);
}

/* ops through a ctx without gradients: one arena for inputs, the ctx for results */
typedef struct env {
    gm_ctx *ctx;
    gm_arena *arena;
} env;

static env env_new(void) {
    env e = {0};
    cr_assert_eq(gm_ctx_new(0, 1, &e.ctx), GM_OK);
    cr_assert_eq(gm_arena_new(0, &e.arena), GM_OK);
    return e;
}

static void env_free(env *e) {
    gm_ctx_free(e->ctx);
    gm_arena_free(e->arena);
}

static gm_tensor *tensor(env *e, int ndim, const int64_t *shape, const gm_real *data) {
    gm_tensor *t = NULL;
    cr_assert_eq(gm_tensor_new(e->arena, ndim, shape, &t), GM_OK, "%s", gm_error_detail());
    if (data) memcpy(t->data, data, (size_t)t->numel * sizeof *t->data);
    return t;
}

static gm_tensor *rand_tensor(env *e, gm_rng *rng, int ndim, const int64_t *shape) {
    gm_tensor *t = tensor(e, ndim, shape, NULL);
    ts_fill_real(rng, t->numel, t->data);
    return t;
}

/* --- plans ---------------------------------------------------------------- */

typedef struct subgroup_case {
    const char *spec;
    int ngens;
    int32_t gens[3];
} subgroup_case;

static gm_group *group_p4(int64_t n, bool mirror) {
    gm_group *g = NULL;
    cr_assert_eq(mirror ? gm_group_p4m_new(n, &g) : gm_group_p4_new(n, &g), GM_OK);
    return g;
}

/* The runs a plan lists are exactly the maximal runs of consecutive entries
 * of each row: a column starts a run if and only if its entry is not the
 * entry before it plus one. */
static int64_t assert_runs_describe(const gm_gmat_plan *p, bool inverse, const char *what) {
    const int64_t rows = gm_gmat_plan_support_size(p), cols = gm_gmat_plan_order(p);
    const int32_t *t = inverse ? gm_gmat_plan_table_inverse(p) : gm_gmat_plan_table(p);
    const int64_t *off;
    const int32_t *start;
    gm_gmat_plan_table_runs(p, inverse, &off, &start);
    if (!t) {
        cr_assert(off == NULL && start == NULL, "%s: runs of a missing table", what);
        return 0;
    }
    cr_assert(off && start, "%s: no runs", what);
    cr_assert_eq(off[0], 0, "%s", what);
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *row = t + r * cols;
        int64_t q = off[r];
        for (int64_t c = 0; c < cols; c++) {
            const bool begins = c == 0 || row[c] != row[c - 1] + 1;
            cr_assert_eq(q < off[r + 1] && start[q] == c, begins,
                         "%s: row %lld column %lld %s a run", what, (long long)r, (long long)c,
                         begins ? "begins" : "does not begin");
            q += begins;
        }
        cr_assert_eq(q, off[r + 1], "%s: row %lld lists %lld runs too many", what, (long long)r,
                     (long long)(off[r + 1] - q));
    }
    return off[rows];
}

Test(plans, table_runs_are_the_runs_of_consecutive_entries) {
    /* on p4m:6 the translations along a row of pixels give runs of 6 */
    gm_group *g = ts_group("p4m:6"), *d = ts_group("D6"), *c = ts_group("C8xC8");
    gm_gmat_plan *conv[] = {conv_plan(g, 1), conv_plan(d, 2), conv_plan(c, 1)};
    for (int i = 0; i < 3; i++) {
        const int64_t runs = assert_runs_describe(conv[i], false, "conv plan");
        assert_runs_describe(conv[i], true, "conv plan, inverse");
        cr_assert_lt(runs, gm_gmat_plan_support_size(conv[i]) * gm_gmat_plan_order(conv[i]),
                     "conv plan %d: no runs longer than one entry", i);
        gm_gmat_plan_free(conv[i]);
    }
    gm_subgroup *h = ts_subgroup(c, 2, (int32_t[]){16, 2}), *k = ts_subgroup(d, 1, (int32_t[]){6});
    gm_gmat_plan *homog[] = {pool_plan(h), lift_plan(k, 1), project_plan(k)};
    for (int i = 0; i < 3; i++) {
        assert_runs_describe(homog[i], false, "pool / lift / projection plan");
        assert_runs_describe(homog[i], true, "pool / lift / projection plan, no inverse");
        gm_gmat_plan_free(homog[i]);
    }
    gm_subgroup_free(h);
    gm_subgroup_free(k);
    gm_group_free(g);
    gm_group_free(d);
    gm_group_free(c);
}

Test(plans, pool_windows_are_right_cosets_covering_once) {
    /* C4xC4: (2,0) = 8, (0,2) = 2; D6: r^2 = 2, f = 6; C8xD3: (2, e) and
     * (0, f) = 3; S4: a subgroup from two elements. */
    const subgroup_case cases[] = {
        {"C4xC4", 2, {8, 2}}, {"D6", 2, {2, 6}}, {"C8xD3", 2, {12, 3}}, {"S4", 1, {2}},
        {"S4", 2, {1, 2}},    {"C6", 1, {3}},    {"C5", 0, {0}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        gm_group *g = ts_group(cases[ci].spec);
        gm_subgroup *h = ts_subgroup(g, cases[ci].ngens, cases[ci].gens);
        gm_gmat_plan *p = pool_plan(h);
        const int64_t n = gm_group_order(g), m = gm_subgroup_order(h);
        cr_assert_eq(gm_gmat_plan_order(p), m);
        cr_assert_eq(gm_gmat_plan_support_size(p), n / m);
        cr_assert_eq(gm_gmat_plan_input_size(p), n);
        cr_assert_null(gm_gmat_plan_table_inverse(p));
        assert_exact_cover(p, cases[ci].spec);
        gm_cosets *cs = NULL;
        cr_assert_eq(gm_cosets_new(h, GM_COSET_RIGHT, &cs), GM_OK);
        const int32_t *t = gm_gmat_plan_table(p), *he = gm_subgroup_elements(h);
        const int32_t *reps = gm_cosets_reps(cs);
        for (int64_t c = 0; c < n / m; c++) {
            if (c > 0) cr_assert_gt(reps[c], reps[c - 1]);
            for (int64_t j = 0; j < m; j++)
                cr_assert_eq(t[c * m + j], gm_group_mul(g, he[j], reps[c]), "%s c=%lld j=%lld",
                             cases[ci].spec, (long long)c, (long long)j);
        }
        gm_cosets_free(cs);
        gm_gmat_plan_free(p);
        gm_subgroup_free(h);
        gm_group_free(g);
    }
}

Test(plans, pool_on_torus_is_the_2x2_window) {
    gm_group *g = ts_group("C6xC6");
    gm_subgroup *h = ts_subgroup(g, 2, (int32_t[]){12, 2});
    gm_gmat_plan *p = pool_plan(h);
    const int32_t *t = gm_gmat_plan_table(p);
    cr_assert_eq(gm_gmat_plan_support_size(p), 4);
    cr_assert_eq(gm_gmat_plan_order(p), 9);
    /* window rows r = (0,0), (0,1), (1,0), (1,1); output (a, b) of the 3x3 image */
    const int da[4] = {0, 0, 1, 1}, db[4] = {0, 1, 0, 1};
    for (int r = 0; r < 4; r++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                cr_assert_eq(t[r * 9 + a * 3 + b], (2 * a + da[r]) * 6 + 2 * b + db[r]);
    gm_gmat_plan_free(p);
    gm_subgroup_free(h);
    gm_group_free(g);
}

Test(plans, projection_columns_are_left_cosets) {
    gm_group *gp4 = group_p4(4, false), *gp4m = group_p4(3, true), *gd = ts_group("D6");
    gm_group *gc = ts_group("C4xS3");
    struct {
        gm_group *g;
        int ngens;
        int32_t gens[2];
    } cases[] = {{gp4, 1, {16}}, {gp4m, 2, {9, 36}}, {gd, 1, {6}}, {gc, 1, {1}}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const gm_group *g = cases[ci].g;
        gm_subgroup *k = ts_subgroup(g, cases[ci].ngens, cases[ci].gens);
        gm_gmat_plan *p = project_plan(k);
        const int64_t n = gm_group_order(g), m = gm_subgroup_order(k), cols = n / m;
        cr_assert_eq(gm_gmat_plan_support_size(p), m);
        cr_assert_eq(gm_gmat_plan_order(p), cols);
        cr_assert_eq(gm_gmat_plan_input_size(p), n);
        cr_assert_null(gm_gmat_plan_table_inverse(p));
        assert_exact_cover(p, gm_group_name(g));
        gm_cosets *cs = NULL;
        cr_assert_eq(gm_cosets_new(k, GM_COSET_LEFT, &cs), GM_OK);
        const int32_t *t = gm_gmat_plan_table(p), *idx = gm_cosets_index(cs);
        const int32_t *reps = gm_cosets_reps(cs), *ke = gm_subgroup_elements(k);
        for (int64_t j = 0; j < m; j++)
            for (int64_t c = 0; c < cols; c++) {
                cr_assert_eq(t[j * cols + c], gm_group_mul(g, reps[c], ke[j]));
                cr_assert_eq(idx[t[j * cols + c]], c);
            }
        gm_cosets_free(cs);
        gm_gmat_plan_free(p);
        gm_subgroup_free(k);
    }
    /* On p4 over the torus the left cosets of the rotations are the pixels. */
    gm_subgroup *rot = ts_subgroup(gp4, 1, (int32_t[]){16});
    gm_gmat_plan *p = project_plan(rot);
    const int32_t *t = gm_gmat_plan_table(p);
    for (int64_t j = 0; j < 4; j++)
        for (int64_t c = 0; c < 16; c++) cr_assert_eq(t[j * 16 + c], j * 16 + c);
    gm_gmat_plan_free(p);
    gm_subgroup_free(rot);
    gm_group_free(gp4);
    gm_group_free(gp4m);
    gm_group_free(gd);
    gm_group_free(gc);
}

Test(plans, lift_table_is_coset_of_g_times_s_inverse) {
    gm_group *g = group_p4(5, false);
    gm_subgroup *k = ts_subgroup(g, 1, (int32_t[]){25});
    gm_nbhd *s = ts_support(g, 2);
    gm_gmat_plan *p = NULL;
    cr_assert_eq(gm_gmat_plan_lift_new(k, s, &p), GM_OK, "%s", gm_error_detail());
    const int64_t n = 100, kk = gm_nbhd_size(s);
    cr_assert_eq(gm_gmat_plan_support_size(p), kk);
    cr_assert_eq(gm_gmat_plan_order(p), n);
    cr_assert_eq(gm_gmat_plan_input_size(p), 25);
    cr_assert_null(gm_gmat_plan_table_inverse(p));
    gm_cosets *cs = NULL;
    cr_assert_eq(gm_cosets_new(k, GM_COSET_LEFT, &cs), GM_OK);
    const int32_t *t = gm_gmat_plan_table(p), *idx = gm_cosets_index(cs);
    const int32_t *se = gm_nbhd_elements(s);
    for (int64_t r = 0; r < kk; r++)
        for (int32_t x = 0; x < n; x++)
            cr_assert_eq(t[r * n + x], idx[gm_group_mul(g, x, gm_group_inv(g, se[r]))]);
    gm_cosets_free(cs);
    gm_gmat_plan_free(p);

    /* Lifting from G/{e} = G is the ordinary convolution plan. */
    gm_subgroup *triv = ts_subgroup(g, 0, NULL);
    gm_gmat_plan *pl = NULL, *pc = NULL;
    cr_assert_eq(gm_gmat_plan_lift_new(triv, s, &pl), GM_OK);
    cr_assert_eq(gm_gmat_plan_new(g, s, &pc), GM_OK);
    cr_assert_eq(gm_gmat_plan_input_size(pc), n);
    cr_assert_not_null(gm_gmat_plan_table_inverse(pc));
    cr_assert_eq(
        memcmp(gm_gmat_plan_table(pl), gm_gmat_plan_table(pc), (size_t)(kk * n) * sizeof(int32_t)),
        0);
    gm_gmat_plan_free(pl);
    gm_gmat_plan_free(pc);
    gm_subgroup_free(triv);
    gm_nbhd_free(s);
    gm_subgroup_free(k);
    gm_group_free(g);
}

Test(plans, bad_arguments_are_reported) {
    gm_group *g = ts_group("C4xC4"), *other = ts_group("C5");
    gm_subgroup *h = ts_subgroup(g, 1, (int32_t[]){2});
    gm_nbhd *s = ts_support(other, 1);
    gm_gmat_plan *p = (gm_gmat_plan *)&p;
    cr_assert_eq(gm_gmat_plan_lift_new(h, s, &p), GM_ERR_INVALID_ARG);
    cr_assert_null(p);
    cr_assert(strstr(gm_error_detail(), "lift") != NULL, "%s", gm_error_detail());
    cr_assert_eq(gm_gmat_plan_lift_new(NULL, s, &p), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_plan_lift_new(h, NULL, &p), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_plan_pool_new(NULL, &p), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_plan_project_new(NULL, &p), GM_ERR_INVALID_ARG);
    cr_assert_null(p);
    /* out-of-memory at every allocation is a clean error */
    for (int64_t budget = 0;; budget++) {
        gm_alloc_fail_after(budget);
        gm_status st = gm_gmat_plan_pool_new(h, &p);
        gm_alloc_fail_after(-1);
        if (st == GM_OK) {
            gm_gmat_plan_free(p);
            break;
        }
        cr_assert_eq(st, GM_ERR_NOMEM);
        cr_assert_null(p);
    }
    gm_nbhd_free(s);
    gm_subgroup_free(h);
    gm_group_free(g);
    gm_group_free(other);
}

/* --- gmconv and gmpool on the torus --------------------------------------- */

Test(gmconv, torus_is_flipped_circular_cross_correlation) {
    const int64_t ns[2] = {7, 6}, ts[2] = {1, 2};
    for (int ci = 0; ci < 2; ci++) {
        const int64_t n = ns[ci], t = ts[ci], kw = 2 * t + 1, nb = 2, ni = 2, no = 3;
        char spec[32];
        snprintf(spec, sizeof spec, "C%lldxC%lld", (long long)n, (long long)n);
        gm_group *g = ts_group(spec);
        gm_gmat_plan *p = conv_plan(g, t);
        cr_assert_eq(gm_gmat_plan_support_size(p), kw * kw);
        env e = env_new();
        gm_rng rng;
        gm_rng_seed(&rng, 11, (uint64_t)ci);
        gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){nb, ni, n * n});
        gm_tensor *w = rand_tensor(&e, &rng, 3, (int64_t[]){no, ni, kw * kw});
        gm_tensor *bias = rand_tensor(&e, &rng, 1, (int64_t[]){no});
        gm_tensor *y = NULL;
        cr_assert_eq(gm_op_gmconv(e.ctx, p, x, w, bias, GM_CONV_FULL, &y), GM_OK, "%s",
                     gm_error_detail());
        gm_real *ref = ts_real_buf(nb * no * n * n);
        for (int64_t b = 0; b < nb; b++)
            for (int64_t o = 0; o < no; o++)
                for (int64_t a = 0; a < n; a++)
                    for (int64_t c = 0; c < n; c++) {
                        double s = bias->data[o];
                        for (int64_t i = 0; i < ni; i++)
                            for (int64_t da = -t; da <= t; da++)
                                for (int64_t dc = -t; dc <= t; dc++) {
                                    const int64_t ya = ((a - da) % n + n) % n;
                                    const int64_t yc = ((c - dc) % n + n) % n;
                                    s += (double)w->data[(o * ni + i) * kw * kw + (da + t) * kw +
                                                         dc + t] *
                                         (double)x->data[(b * ni + i) * n * n + ya * n + yc];
                                }
                        ref[((b * no + o) * n + a) * n + c] = (gm_real)s;
                    }
        const double err = ts_rel_diff(y->numel, y->data, ref);
        cr_assert_lt(err, 1e-5, "%s: conv vs cross-correlation %g", spec, err);
        gm_free(ref);
        env_free(&e);
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

Test(gmpool, torus_is_2x2_stride_2_pooling) {
    const int64_t n = 8, m = n / 2, nb = 2, nc = 3;
    gm_group *g = ts_group("C8xC8");
    gm_subgroup *h = ts_subgroup(g, 2, (int32_t[]){2 * 8, 2});
    gm_gmat_plan *p = pool_plan(h);
    assert_exact_cover(p, "C8xC8 / 2Z x 2Z");
    env e = env_new();
    gm_rng rng;
    gm_rng_seed(&rng, 5, 0);
    gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){nb, nc, n * n});
    for (int mode = 0; mode < 2; mode++) {
        gm_tensor *y = NULL;
        cr_assert_eq(gm_op_gmpool(e.ctx, p, x, (gm_reduce)mode, &y), GM_OK, "%s",
                     gm_error_detail());
        cr_assert_eq(y->shape[2], m * m);
        for (int64_t q = 0; q < nb * nc; q++)
            for (int64_t a = 0; a < m; a++)
                for (int64_t c = 0; c < m; c++) {
                    const gm_real *xp = x->data + q * n * n;
                    const gm_real v[4] = {xp[2 * a * n + 2 * c], xp[2 * a * n + 2 * c + 1],
                                          xp[(2 * a + 1) * n + 2 * c],
                                          xp[(2 * a + 1) * n + 2 * c + 1]};
                    gm_real want = v[0];
                    if (mode == GM_REDUCE_MAX) {
                        for (int r = 1; r < 4; r++)
                            if (v[r] > want) want = v[r];
                    } else {
                        want = (v[0] + v[1] + v[2] + v[3]) / 4;
                    }
                    cr_assert_float_eq(y->data[q * m * m + a * m + c], want, 1e-6,
                                       "mode %d plane %lld (%lld,%lld)", mode, (long long)q,
                                       (long long)a, (long long)c);
                }
    }
    env_free(&e);
    gm_gmat_plan_free(p);
    gm_subgroup_free(h);
    gm_group_free(g);
}

/* --- equivariance ----------------------------------------------------------- */

static const char *const conv_groups[] = {"C6xC6", "D4xD4", "p4:4", "S4"};

Test(equivariance, gmconv_full_and_shared_under_every_generator) {
    for (size_t gi = 0; gi < sizeof conv_groups / sizeof conv_groups[0]; gi++) {
        gm_group *g = ts_group(conv_groups[gi]);
        gm_gmat_plan *p = conv_plan(g, gi == 3 ? 2 : 1);
        const int64_t n = gm_group_order(g), kk = gm_gmat_plan_support_size(p);
        const int64_t nb = 2, ni = 3, no = 4;
        for (int form = 0; form < 2; form++) {
            env e = env_new();
            gm_ctx_set_grad(e.ctx, false);
            gm_rng rng;
            gm_rng_seed(&rng, 21, gi);
            gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){nb, ni, n});
            gm_tensor *w = form == GM_CONV_FULL ? rand_tensor(&e, &rng, 3, (int64_t[]){no, ni, kk})
                                                : rand_tensor(&e, &rng, 2, (int64_t[]){no, kk});
            gm_tensor *bias = rand_tensor(&e, &rng, 1, (int64_t[]){no});
            gm_tensor *xv = tensor(&e, 3, x->shape, NULL);
            gm_real *ly = ts_real_buf(nb * no * n);
            double worst = 0.0;
            for (int64_t gv = 0; gv < gm_group_ngens(g); gv++) {
                const int32_t v = gm_group_gens(g)[gv];
                gm_tensor *y = NULL, *yv = NULL;
                cr_assert_eq(gm_op_gmconv(e.ctx, p, x, w, bias, (gm_conv_form)form, &y), GM_OK);
                translate(g, v, nb * ni, x->data, xv->data);
                cr_assert_eq(gm_op_gmconv(e.ctx, p, xv, w, bias, (gm_conv_form)form, &yv), GM_OK);
                translate(g, v, nb * no, y->data, ly);
                const double d = defect(y->numel, yv->data, ly);
                if (d > worst) worst = d;
            }
            printf("equivariance gmconv %-6s on %-6s: max defect %.2e over %lld generators\n",
                   form == GM_CONV_FULL ? "full" : "shared", conv_groups[gi], worst,
                   (long long)gm_group_ngens(g));
            cr_assert_leq(worst, EQUIV_TOL, "%s form %d: defect %g", conv_groups[gi], form, worst);
            gm_free(ly);
            env_free(&e);
        }
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

typedef struct pool_case {
    const char *spec;
    int ngens;
    int32_t gens[2];
} pool_case;

/* H-equivariance of gmpool (G -> H) and gmunpool (H -> G): an element u of H
 * acts on G as u and on the output, a function on H as a group, as its
 * position. */
Test(equivariance, gmpool_and_gmunpool_under_the_subgroup) {
    /* C8xC8 / 2Z x 2Z; D6 / <r^2, f>; p4:4 / translations (1,0), (0,1);
     * S4 / <(0 1 2 3)> and C6xD4 / <(2, r^2), (0, f)>. */
    const pool_case cases[] = {{"C8xC8", 2, {16, 2}},
                               {"D6", 2, {2, 6}},
                               {"p4:4", 2, {4, 1}},
                               {"S4", 1, {2}},
                               {"C6xD4", 2, {18, 4}}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        gm_group *g = cases[ci].spec[0] == 'p' ? group_p4(4, false) : ts_group(cases[ci].spec);
        gm_subgroup *h = ts_subgroup(g, cases[ci].ngens, cases[ci].gens);
        gm_group *hg = NULL;
        cr_assert_eq(gm_subgroup_as_group(h, &hg), GM_OK);
        gm_gmat_plan *p = pool_plan(h);
        const int64_t n = gm_group_order(g), m = gm_subgroup_order(h);
        const int64_t rows = gm_gmat_plan_support_size(p), nb = 2, ni = 3, no = 2;
        env e = env_new();
        gm_ctx_set_grad(e.ctx, false);
        gm_rng rng;
        gm_rng_seed(&rng, 31, ci);
        gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){nb, ni, n});
        gm_tensor *xv = tensor(&e, 3, x->shape, NULL);
        gm_tensor *z = rand_tensor(&e, &rng, 3, (int64_t[]){nb, ni, m});
        gm_tensor *zv = tensor(&e, 3, z->shape, NULL);
        gm_tensor *pw = rand_tensor(&e, &rng, 3, (int64_t[]){ni, no, rows});
        gm_real *ly = ts_real_buf(nb * ni * n);
        double worst[3] = {0, 0, 0};
        for (int gi = 0; gi < cases[ci].ngens; gi++) {
            const int32_t u = cases[ci].gens[gi], up = gm_subgroup_position(h, u);
            cr_assert_geq(up, 0);
            translate(g, u, nb * ni, x->data, xv->data);
            for (int mode = 0; mode < 2; mode++) {
                gm_tensor *y = NULL, *yv = NULL;
                cr_assert_eq(gm_op_gmpool(e.ctx, p, x, (gm_reduce)mode, &y), GM_OK);
                cr_assert_eq(gm_op_gmpool(e.ctx, p, xv, (gm_reduce)mode, &yv), GM_OK);
                translate(hg, up, nb * ni, y->data, ly);
                const double d = defect(y->numel, yv->data, ly);
                if (d > worst[mode]) worst[mode] = d;
            }
            translate(hg, up, nb * ni, z->data, zv->data);
            gm_tensor *y = NULL, *yv = NULL;
            cr_assert_eq(gm_op_gmunpool(e.ctx, p, z, pw, &y), GM_OK, "%s", gm_error_detail());
            cr_assert_eq(gm_op_gmunpool(e.ctx, p, zv, pw, &yv), GM_OK);
            translate(g, u, nb * no, y->data, ly);
            const double d = defect(y->numel, yv->data, ly);
            if (d > worst[2]) worst[2] = d;
        }
        printf("equivariance gmpool max/mean, gmunpool on %-6s under H (order %lld): "
               "%.2e %.2e %.2e\n",
               cases[ci].spec, (long long)m, worst[0], worst[1], worst[2]);
        for (int k = 0; k < 3; k++) cr_assert_leq(worst[k], EQUIV_TOL, "%s", cases[ci].spec);
        gm_free(ly);
        env_free(&e);
        gm_gmat_plan_free(p);
        gm_group_free(hg);
        gm_subgroup_free(h);
        gm_group_free(g);
    }
}

/* Lifting images (functions on p4/C4, the torus) to p4, and projecting back
 * with a max over rotations, commute with the p4 action. */
Test(equivariance, lifting_and_projection_on_p4_and_p4m) {
    for (int mirror = 0; mirror < 2; mirror++) {
        const int64_t tn = 5;
        gm_group *g = group_p4(tn, mirror);
        gm_subgroup *k = ts_subgroup(g, 1, (int32_t[]){(int32_t)(tn * tn)}); /* rotation r */
        gm_cosets *cs = NULL;
        cr_assert_eq(gm_cosets_new(k, GM_COSET_LEFT, &cs), GM_OK);
        gm_gmat_plan *lp = lift_plan(k, 2), *pp = project_plan(k);
        const int64_t n = gm_group_order(g), nc = gm_cosets_count(cs);
        const int64_t kk = gm_gmat_plan_support_size(lp), nb = 2, ni = 2, no = 3;
        env e = env_new();
        gm_ctx_set_grad(e.ctx, false);
        gm_rng rng;
        gm_rng_seed(&rng, 41, (uint64_t)mirror);
        gm_tensor *img = rand_tensor(&e, &rng, 3, (int64_t[]){nb, ni, nc});
        gm_tensor *imgv = tensor(&e, 3, img->shape, NULL);
        gm_tensor *f = rand_tensor(&e, &rng, 3, (int64_t[]){nb, ni, n});
        gm_tensor *fv = tensor(&e, 3, f->shape, NULL);
        gm_tensor *wf = rand_tensor(&e, &rng, 3, (int64_t[]){no, ni, kk});
        gm_tensor *ws = rand_tensor(&e, &rng, 2, (int64_t[]){no, kk});
        gm_tensor *bias = rand_tensor(&e, &rng, 1, (int64_t[]){no});
        gm_real *ly = ts_real_buf(nb * (no > ni ? no : ni) * n);
        double worst[4] = {0, 0, 0, 0};
        for (int64_t gi = 0; gi < gm_group_ngens(g); gi++) {
            const int32_t v = gm_group_gens(g)[gi];
            translate_cosets(cs, g, v, nb * ni, img->data, imgv->data);
            for (int form = 0; form < 2; form++) {
                gm_tensor *w = form == GM_CONV_FULL ? wf : ws, *y = NULL, *yv = NULL;
                cr_assert_eq(gm_op_gmconv(e.ctx, lp, img, w, bias, (gm_conv_form)form, &y), GM_OK,
                             "%s", gm_error_detail());
                cr_assert_eq(gm_op_gmconv(e.ctx, lp, imgv, w, bias, (gm_conv_form)form, &yv),
                             GM_OK);
                cr_assert_eq(y->shape[2], n);
                translate(g, v, nb * no, y->data, ly);
                const double d = defect(y->numel, yv->data, ly);
                if (d > worst[form]) worst[form] = d;
            }
            translate(g, v, nb * ni, f->data, fv->data);
            for (int mode = 0; mode < 2; mode++) {
                gm_tensor *y = NULL, *yv = NULL;
                cr_assert_eq(gm_op_gmpool(e.ctx, pp, f, (gm_reduce)mode, &y), GM_OK);
                cr_assert_eq(gm_op_gmpool(e.ctx, pp, fv, (gm_reduce)mode, &yv), GM_OK);
                cr_assert_eq(y->shape[2], nc);
                translate_cosets(cs, g, v, nb * ni, y->data, ly);
                const double d = defect(y->numel, yv->data, ly);
                if (d > worst[2 + mode]) worst[2 + mode] = d;
            }
        }
        printf("equivariance %s:%lld lift full/shared %.2e %.2e, projection max/mean "
               "%.2e %.2e\n",
               mirror ? "p4m" : "p4", (long long)tn, worst[0], worst[1], worst[2], worst[3]);
        for (int q = 0; q < 4; q++) cr_assert_leq(worst[q], EQUIV_TOL, "case %d", q);
        gm_free(ly);
        env_free(&e);
        gm_gmat_plan_free(lp);
        gm_gmat_plan_free(pp);
        gm_cosets_free(cs);
        gm_subgroup_free(k);
        gm_group_free(g);
    }
}

/* The checker must see a broken map: a convolution whose table rows are
 * shuffled at random (no longer g s_k^-1), and one whose output is scaled by
 * the position. */
Test(equivariance, negative_controls_show_large_defects) {
    gm_group *g = ts_group("C6xC6");
    gm_gmat_plan *p = conv_plan(g, 1);
    gm__gm_table tab = gm__gm_table_of(p);
    const int64_t n = tab.cols, kk = tab.rows, nb = 2, ni = 2, no = 2;
    int32_t *shuffled = gm_malloc_array((size_t)(kk * n), sizeof *shuffled);
    cr_assert_not_null(shuffled);
    memcpy(shuffled, tab.t, (size_t)(kk * n) * sizeof *shuffled);
    gm_rng rng;
    gm_rng_seed(&rng, 51, 0);
    for (int64_t k = 0; k < kk; k++)
        for (int64_t a = n - 1; a > 0; a--) {
            const int64_t b = gm_rng_below(&rng, (uint32_t)(a + 1));
            const int32_t tmp = shuffled[k * n + a];
            shuffled[k * n + a] = shuffled[k * n + b];
            shuffled[k * n + b] = tmp;
        }
    gm__gmconv_dims d = {.tab = tab, .batch = nb, .cin = ni, .cout = no, .form = GM_CONV_FULL};
    d.tab.t = shuffled;
    d.tab.tinv = NULL;
    gm_real *x = ts_real_buf(nb * ni * n), *xv = ts_real_buf(nb * ni * n),
            *w = ts_real_buf(no * ni * kk);
    gm_real *y = ts_real_buf(nb * no * n), *yv = ts_real_buf(nb * no * n),
            *ly = ts_real_buf(nb * no * n);
    ts_fill_real(&rng, nb * ni * n, x);
    ts_fill_real(&rng, no * ni * kk, w);
    double least[2] = {INFINITY, INFINITY};
    for (int64_t gi = 0; gi < gm_group_ngens(g); gi++) {
        const int32_t v = gm_group_gens(g)[gi];
        translate(g, v, nb * ni, x, xv);
        gm__gmconv_forward_ref(&d, x, w, NULL, y);
        gm__gmconv_forward_ref(&d, xv, w, NULL, yv);
        translate(g, v, nb * no, y, ly);
        double dd = defect(nb * no * n, yv, ly);
        if (dd < least[0]) least[0] = dd;
        /* the exact layer, then a position-dependent scaling of its output */
        d.tab.t = tab.t;
        gm__gmconv_forward_ref(&d, x, w, NULL, y);
        gm__gmconv_forward_ref(&d, xv, w, NULL, yv);
        for (int64_t q = 0; q < nb * no * n; q++) {
            y[q] *= (gm_real)(1 + q % n);
            yv[q] *= (gm_real)(1 + q % n);
        }
        translate(g, v, nb * no, y, ly);
        dd = defect(nb * no * n, yv, ly);
        if (dd < least[1]) least[1] = dd;
        d.tab.t = shuffled;
    }
    printf("negative controls on C6xC6: shuffled table %.2e, position scaling %.2e (min over "
           "generators)\n",
           least[0], least[1]);
    cr_assert_gt(least[0], NEG_CONTROL_MIN);
    cr_assert_gt(least[1], NEG_CONTROL_MIN);
    gm_free(x);
    gm_free(xv);
    gm_free(w);
    gm_free(y);
    gm_free(yv);
    gm_free(ly);
    gm_free(shuffled);
    gm_gmat_plan_free(p);
    gm_group_free(g);
}

/* --- optimized kernels against the scalar references ---------------------- */

/* Relative agreement of float kernels that sum in different orders. */
#define AGREE_TOL 2e-5

typedef struct conv_case {
    const char *spec;
    int64_t t;
    bool lift; /* lifting plan from G/K, K generated by k_gen */
    int32_t k_gen;
    int64_t batch, cin, cout;
} conv_case;

static const conv_case conv_cases[] = {
    {"C5xC7", 1, false, 0, 1, 1, 1}, {"C6xC6", 2, false, 0, 3, 5, 7},
    {"D3xD5", 1, false, 0, 2, 3, 2}, {"S4", 2, false, 0, 5, 2, 3},
    {"D7", 3, false, 0, 1, 9, 4},    {"C9xD2", 1, true, 3, 3, 2, 5},
    {"S4", 1, true, 1, 2, 3, 3},     {"C12xC10", 2, false, 0, 4, 6, 5},
    /* rows of long runs, copied a run at a time, split by the blocks */
    {"C16xC16", 1, false, 0, 2, 3, 2},
};

static gm_gmat_plan *case_plan(const conv_case *c, gm_group **gout) {
    gm_group *g = ts_group(c->spec);
    gm_gmat_plan *p;
    if (c->lift) {
        gm_subgroup *k = ts_subgroup(g, 1, &c->k_gen);
        p = lift_plan(k, c->t);
        gm_subgroup_free(k);
    } else {
        p = conv_plan(g, c->t);
    }
    *gout = g;
    return p;
}

static const char *const grad_names[4] = {"y", "dx", "dw", "db"};

Test(kernels, gmconv_optimized_matches_reference) {
    const int thread_counts[] = {1, 3};
    const int64_t blocks[] = {0, 5, 16};
    for (size_t ci = 0; ci < sizeof conv_cases / sizeof conv_cases[0]; ci++) {
        const conv_case *c = &conv_cases[ci];
        gm_group *g;
        gm_gmat_plan *p = case_plan(c, &g);
        const gm__gm_table tab = gm__gm_table_of(p);
        for (int form = 0; form < 2; form++)
            for (int withb = 0; withb < 2; withb++)
                for (size_t ti = 0; ti < 2; ti++)
                    for (size_t bi = 0; bi < 3; bi++) {
                        gm__gmconv_dims d = {.tab = tab,
                                             .batch = c->batch,
                                             .cin = c->cin,
                                             .cout = c->cout,
                                             .form = (gm_conv_form)form,
                                             .block_cols = blocks[bi]};
                        const int nt = thread_counts[ti];
                        const int64_t nx = d.batch * d.cin * tab.n_in;
                        const int64_t ny = d.batch * d.cout * tab.cols;
                        const int64_t nw = d.cout * (form == GM_CONV_FULL ? d.cin : 1) * tab.rows;
                        gm_rng rng;
                        gm_rng_seed(&rng, 61, ci);
                        gm_real *x = ts_real_buf(nx), *w = ts_real_buf(nw),
                                *bias = ts_real_buf(d.cout), *dy = ts_real_buf(ny);
                        ts_fill_real(&rng, nx, x);
                        ts_fill_real(&rng, nw, w);
                        ts_fill_real(&rng, d.cout, bias);
                        ts_fill_real(&rng, ny, dy);
                        gm_real *y0 = ts_real_buf(ny), *y1 = ts_real_buf(ny);
                        gm_real *dx0 = ts_real_buf(nx), *dx1 = ts_real_buf(nx),
                                *dw0 = ts_real_buf(nw), *dw1 = ts_real_buf(nw),
                                *db0 = ts_real_buf(d.cout), *db1 = ts_real_buf(d.cout);
                        /* nonzero starting gradients: backward must accumulate */
                        for (int64_t q = 0; q < nx; q++) dx0[q] = dx1[q] = (gm_real)0.25;
                        for (int64_t q = 0; q < nw; q++) dw0[q] = dw1[q] = (gm_real)-0.5;
                        const gm_real *bp = withb ? bias : NULL;
                        gm__gmconv_forward_ref(&d, x, w, bp, y0);
                        gm__gmconv_backward_ref(&d, x, w, dy, dx0, dw0, db0);
                        void *s = gm_malloc(gm__gmconv_scratch_bytes(&d, nt, false));
                        cr_assert_not_null(s);
                        gm__gmconv_forward(&d, nt, s, x, w, bp, y1);
                        gm_free(s);
                        s = gm_malloc(gm__gmconv_scratch_bytes(&d, nt, true));
                        cr_assert_not_null(s);
                        gm__gmconv_backward(&d, nt, s, x, w, dy, dx1, dw1, db1);
                        gm_free(s);
                        const double e[4] = {ts_rel_diff(ny, y1, y0), ts_rel_diff(nx, dx1, dx0),
                                             ts_rel_diff(nw, dw1, dw0),
                                             ts_rel_diff(d.cout, db1, db0)};
                        for (int q = 0; q < 4; q++)
                            cr_assert_lt(e[q], AGREE_TOL,
                                         "%s%s form %d bias %d threads %d block %lld: %s "
                                         "differs by %g",
                                         c->spec, c->lift ? " (lift)" : "", form, withb, nt,
                                         (long long)blocks[bi], grad_names[q], e[q]);
                        /* only some gradients requested */
                        memcpy(dx0, dx1, (size_t)nx * sizeof *dx0);
                        s = gm_malloc(gm__gmconv_scratch_bytes(&d, nt, true));
                        gm__gmconv_backward(&d, nt, s, x, w, dy, dx1, NULL, NULL);
                        gm_free(s);
                        gm__gmconv_backward_ref(&d, x, w, dy, dx0, NULL, NULL);
                        cr_assert_lt(ts_rel_diff(nx, dx1, dx0), AGREE_TOL);
                        gm_free(x);
                        gm_free(w);
                        gm_free(bias);
                        gm_free(dy);
                        gm_free(y0);
                        gm_free(y1);
                        gm_free(dx0);
                        gm_free(dx1);
                        gm_free(dw0);
                        gm_free(dw1);
                        gm_free(db0);
                        gm_free(db1);
                    }
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

typedef struct window_case {
    const char *spec;
    bool project;
    int ngens;
    int32_t gens[2];
    int64_t batch, cin, cout;
} window_case;

static const window_case window_cases[] = {
    {"C8xC8", false, 2, {16, 2}, 1, 1, 1}, {"D6", false, 2, {2, 6}, 3, 5, 2},
    {"S4", false, 1, {2}, 2, 3, 4},        {"C6xD4", false, 2, {18, 4}, 4, 2, 3},
    {"C6xD4", true, 1, {4}, 3, 3, 1},      {"D5", true, 1, {5}, 1, 2, 2},
};

static gm_gmat_plan *window_plan(const window_case *c, gm_group **gout) {
    gm_group *g = ts_group(c->spec);
    gm_subgroup *h = ts_subgroup(g, c->ngens, c->gens);
    gm_gmat_plan *p = c->project ? project_plan(h) : pool_plan(h);
    gm_subgroup_free(h);
    *gout = g;
    return p;
}

Test(kernels, gmpool_and_gmunpool_optimized_match_reference) {
    for (size_t ci = 0; ci < sizeof window_cases / sizeof window_cases[0]; ci++) {
        const window_case *c = &window_cases[ci];
        gm_group *g;
        gm_gmat_plan *p = window_plan(c, &g);
        const gm__gm_table tab = gm__gm_table_of(p);
        const int64_t planes = c->batch * c->cin;
        gm_rng rng;
        gm_rng_seed(&rng, 71, ci);
        for (int nt = 1; nt <= 3; nt += 2) {
            gm_real *x = ts_real_buf(planes * tab.n_in), *dy = ts_real_buf(planes * tab.cols);
            ts_fill_real(&rng, planes * tab.n_in, x);
            ts_fill_real(&rng, planes * tab.cols, dy);
            for (int mode = 0; mode < 2; mode++) {
                gm_real *y0 = ts_real_buf(planes * tab.cols), *y1 = ts_real_buf(planes * tab.cols);
                gm_real *dx0 = ts_real_buf(planes * tab.n_in),
                        *dx1 = ts_real_buf(planes * tab.n_in);
                int32_t *a0 = gm_calloc((size_t)(planes * tab.cols), sizeof *a0);
                int32_t *a1 = gm_calloc((size_t)(planes * tab.cols), sizeof *a1);
                gm__gmpool_forward_ref(&tab, planes, (gm_reduce)mode, x, y0, a0);
                gm__gmpool_forward(&tab, planes, (gm_reduce)mode, nt, x, y1, a1);
                gm__gmpool_backward_ref(&tab, planes, (gm_reduce)mode, a0, dy, dx0);
                gm__gmpool_backward(&tab, planes, (gm_reduce)mode, nt, a1, dy, dx1);
                cr_assert_lt(ts_rel_diff(planes * tab.cols, y1, y0), AGREE_TOL);
                cr_assert_lt(ts_rel_diff(planes * tab.n_in, dx1, dx0), AGREE_TOL);
                if (mode == GM_REDUCE_MAX)
                    cr_assert_eq(memcmp(a0, a1, (size_t)(planes * tab.cols) * sizeof *a0), 0);
                gm_free(y0);
                gm_free(y1);
                gm_free(dx0);
                gm_free(dx1);
                gm_free(a0);
                gm_free(a1);
            }
            gm_free(x);
            gm_free(dy);
            if (c->project) continue;

            gm__gmunpool_dims d = {.tab = tab, .batch = c->batch, .cin = c->cin, .cout = c->cout};
            const int64_t nx = d.batch * d.cin * tab.cols, ny = d.batch * d.cout * tab.n_in;
            const int64_t np = d.cin * d.cout * tab.rows;
            gm_real *ux = ts_real_buf(nx), *up = ts_real_buf(np), *udy = ts_real_buf(ny),
                    *uy0 = ts_real_buf(ny), *uy1 = ts_real_buf(ny), *udx0 = ts_real_buf(nx),
                    *udx1 = ts_real_buf(nx), *udp0 = ts_real_buf(np), *udp1 = ts_real_buf(np);
            ts_fill_real(&rng, nx, ux);
            ts_fill_real(&rng, np, up);
            ts_fill_real(&rng, ny, udy);
            ts_fill_real(&rng, ny, uy1); /* the forward overwrites */
            for (int64_t q = 0; q < np; q++) udp0[q] = udp1[q] = (gm_real)0.5;
            gm__gmunpool_forward_ref(&d, ux, up, uy0);
            void *s = gm_malloc(gm__gmunpool_scratch_bytes(&d, nt, false));
            gm__gmunpool_forward(&d, nt, s, ux, up, uy1);
            gm_free(s);
            gm__gmunpool_backward_ref(&d, ux, up, udy, udx0, udp0);
            s = gm_malloc(gm__gmunpool_scratch_bytes(&d, nt, true));
            gm__gmunpool_backward(&d, nt, s, ux, up, udy, udx1, udp1);
            gm_free(s);
            cr_assert_lt(ts_rel_diff(ny, uy1, uy0), AGREE_TOL, "%s unpool y", c->spec);
            cr_assert_lt(ts_rel_diff(nx, udx1, udx0), AGREE_TOL, "%s unpool dx", c->spec);
            cr_assert_lt(ts_rel_diff(np, udp1, udp0), AGREE_TOL, "%s unpool dp", c->spec);
            gm_free(ux);
            gm_free(up);
            gm_free(udy);
            gm_free(uy0);
            gm_free(uy1);
            gm_free(udx0);
            gm_free(udx1);
            gm_free(udp0);
            gm_free(udp1);
        }
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

/* --- the ops through the tape --------------------------------------------- */

/* Backpropagates dy = r from y (the loss sum_j r_j y_j). */
static void backward_with(gm_ctx *ctx, gm_tensor *y, const gm_real *r) {
    gm_status st = gc_backward_weighted(ctx, y, r);
    cr_assert_eq(st, GM_OK, "backward: %s (%s)", gm_strerror(st), gm_error_detail());
}

Test(ops, gmconv_gmpool_gmunpool_through_the_tape_match_reference) {
    /* sizes large enough that the ops choose several threads */
    const conv_case c = {"C16xC16", 2, false, 0, 5, 7, 6};
    gm_group *g;
    gm_gmat_plan *p = case_plan(&c, &g);
    const gm__gm_table tab = gm__gm_table_of(p);
    for (int form = 0; form < 2; form++) {
        env e = env_new();
        gm_rng rng;
        gm_rng_seed(&rng, 81, (uint64_t)form);
        const int64_t kk = tab.rows, n = tab.cols;
        gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){c.batch, c.cin, n});
        gm_tensor *w = form == GM_CONV_FULL
                           ? rand_tensor(&e, &rng, 3, (int64_t[]){c.cout, c.cin, kk})
                           : rand_tensor(&e, &rng, 2, (int64_t[]){c.cout, kk});
        gm_tensor *bias = rand_tensor(&e, &rng, 1, (int64_t[]){c.cout});
        x->requires_grad = w->requires_grad = bias->requires_grad = true;
        gm_tensor *y = NULL;
        cr_assert_eq(gm_op_gmconv(e.ctx, p, x, w, bias, (gm_conv_form)form, &y), GM_OK);
        cr_assert(y->requires_grad);
        gm_real *r = ts_real_buf(y->numel);
        ts_fill_real(&rng, y->numel, r);
        backward_with(e.ctx, y, r);
        gm__gmconv_dims d = {
            .tab = tab, .batch = c.batch, .cin = c.cin, .cout = c.cout, .form = form};
        gm_real *y0 = ts_real_buf(y->numel), *dx0 = ts_real_buf(x->numel),
                *dw0 = ts_real_buf(w->numel), *db0 = ts_real_buf(c.cout);
        gm__gmconv_forward_ref(&d, x->data, w->data, bias->data, y0);
        gm__gmconv_backward_ref(&d, x->data, w->data, r, dx0, dw0, db0);
        cr_assert_lt(ts_rel_diff(y->numel, y->data, y0), AGREE_TOL);
        cr_assert_lt(ts_rel_diff(x->numel, x->grad, dx0), AGREE_TOL);
        cr_assert_lt(ts_rel_diff(w->numel, w->grad, dw0), AGREE_TOL);
        cr_assert_lt(ts_rel_diff(c.cout, bias->grad, db0), AGREE_TOL);
        gm_free(r);
        gm_free(y0);
        gm_free(dx0);
        gm_free(dw0);
        gm_free(db0);
        env_free(&e);
    }
    gm_gmat_plan_free(p);

    /* pooling onto 2Z x 2Z and unpooling back */
    gm_subgroup *h = ts_subgroup(g, 2, (int32_t[]){32, 2});
    gm_gmat_plan *pp = pool_plan(h);
    const gm__gm_table pt = gm__gm_table_of(pp);
    for (int mode = 0; mode < 2; mode++) {
        env e = env_new();
        gm_rng rng;
        gm_rng_seed(&rng, 91, (uint64_t)mode);
        gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){8, 80, pt.n_in});
        x->requires_grad = true;
        gm_tensor *y = NULL;
        cr_assert_eq(gm_op_gmpool(e.ctx, pp, x, (gm_reduce)mode, &y), GM_OK);
        gm_real *r = ts_real_buf(y->numel);
        ts_fill_real(&rng, y->numel, r);
        backward_with(e.ctx, y, r);
        gm_real *y0 = ts_real_buf(y->numel), *dx0 = ts_real_buf(x->numel);
        int32_t *arg = gm_calloc((size_t)y->numel, sizeof *arg);
        gm__gmpool_forward_ref(&pt, 8 * 80, (gm_reduce)mode, x->data, y0, arg);
        gm__gmpool_backward_ref(&pt, 8 * 80, (gm_reduce)mode, arg, r, dx0);
        cr_assert_lt(ts_rel_diff(y->numel, y->data, y0), AGREE_TOL);
        cr_assert_lt(ts_rel_diff(x->numel, x->grad, dx0), AGREE_TOL);
        gm_free(arg);
        gm_free(r);
        gm_free(y0);
        gm_free(dx0);
        env_free(&e);
    }
    {
        env e = env_new();
        gm_rng rng;
        gm_rng_seed(&rng, 101, 0);
        gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){4, 12, pt.cols});
        gm_tensor *pw = rand_tensor(&e, &rng, 3, (int64_t[]){12, 11, pt.rows});
        x->requires_grad = pw->requires_grad = true;
        gm_tensor *y = NULL;
        cr_assert_eq(gm_op_gmunpool(e.ctx, pp, x, pw, &y), GM_OK);
        gm_real *r = ts_real_buf(y->numel);
        ts_fill_real(&rng, y->numel, r);
        backward_with(e.ctx, y, r);
        gm__gmunpool_dims d = {.tab = pt, .batch = 4, .cin = 12, .cout = 11};
        gm_real *y0 = ts_real_buf(y->numel), *dx0 = ts_real_buf(x->numel),
                *dp0 = ts_real_buf(pw->numel);
        gm__gmunpool_forward_ref(&d, x->data, pw->data, y0);
        gm__gmunpool_backward_ref(&d, x->data, pw->data, r, dx0, dp0);
        cr_assert_lt(ts_rel_diff(y->numel, y->data, y0), AGREE_TOL);
        cr_assert_lt(ts_rel_diff(x->numel, x->grad, dx0), AGREE_TOL);
        cr_assert_lt(ts_rel_diff(pw->numel, pw->grad, dp0), AGREE_TOL);
        gm_free(r);
        gm_free(y0);
        gm_free(dx0);
        gm_free(dp0);
        env_free(&e);
    }
    gm_gmat_plan_free(pp);
    gm_subgroup_free(h);
    gm_group_free(g);
}

Test(ops, no_tape_without_gradients) {
    gm_group *g = ts_group("D4");
    gm_gmat_plan *p = conv_plan(g, 1);
    env e = env_new();
    gm_rng rng;
    gm_rng_seed(&rng, 3, 0);
    gm_tensor *x = rand_tensor(&e, &rng, 3, (int64_t[]){2, 3, 8});
    gm_tensor *w = rand_tensor(&e, &rng, 2, (int64_t[]){2, 6});
    gm_tensor *y = NULL;
    cr_assert_eq(gm_op_gmconv(e.ctx, p, x, w, NULL, GM_CONV_SHARED, &y), GM_OK);
    cr_assert_not(y->requires_grad);
    cr_assert_eq(gm_ctx_tape_size(e.ctx), 0);
    w->requires_grad = true;
    cr_assert_eq(gm_op_gmconv(e.ctx, p, x, w, NULL, GM_CONV_SHARED, &y), GM_OK);
    cr_assert(y->requires_grad);
    cr_assert_eq(gm_ctx_tape_size(e.ctx), 1);
    env_free(&e);
    gm_gmat_plan_free(p);
    gm_group_free(g);
}

/* --- shape errors ----------------------------------------------------------- */

static void expect_shape_error(gm_status st, gm_tensor *out, const char *op) {
    cr_assert_eq(st, GM_ERR_SHAPE, "%s: status %d", op, (int)st);
    cr_assert_null(out);
    cr_assert(strstr(gm_error_detail(), op) != NULL, "detail '%s' does not name %s",
              gm_error_detail(), op);
}

Test(ops, shape_errors_name_the_op) {
    gm_group *g = ts_group("C4xC4");
    gm_gmat_plan *p = conv_plan(g, 1); /* K = 9, n = 16 */
    gm_subgroup *h = ts_subgroup(g, 2, (int32_t[]){8, 2});
    gm_gmat_plan *pp = pool_plan(h); /* rows 4, cols 4, input 16 */
    env e = env_new();
    gm_tensor *x = tensor(&e, 3, (int64_t[]){2, 3, 16}, NULL);
    gm_tensor *x15 = tensor(&e, 3, (int64_t[]){2, 3, 15}, NULL);
    gm_tensor *x2d = tensor(&e, 2, (int64_t[]){2, 16}, NULL);
    gm_tensor *wf = tensor(&e, 3, (int64_t[]){5, 3, 9}, NULL);
    gm_tensor *wbad = tensor(&e, 3, (int64_t[]){5, 2, 9}, NULL);
    gm_tensor *ws = tensor(&e, 2, (int64_t[]){5, 9}, NULL);
    gm_tensor *ws8 = tensor(&e, 2, (int64_t[]){5, 8}, NULL);
    gm_tensor *b4 = tensor(&e, 1, (int64_t[]){4}, NULL);
    gm_tensor *out = NULL;
    expect_shape_error(gm_op_gmconv(e.ctx, p, x15, wf, NULL, GM_CONV_FULL, &out), out, "gmconv");
    expect_shape_error(gm_op_gmconv(e.ctx, p, x2d, wf, NULL, GM_CONV_FULL, &out), out, "gmconv");
    expect_shape_error(gm_op_gmconv(e.ctx, p, x, wbad, NULL, GM_CONV_FULL, &out), out, "gmconv");
    expect_shape_error(gm_op_gmconv(e.ctx, p, x, ws, NULL, GM_CONV_FULL, &out), out, "gmconv");
    expect_shape_error(gm_op_gmconv(e.ctx, p, x, wf, NULL, GM_CONV_SHARED, &out), out, "gmconv");
    expect_shape_error(gm_op_gmconv(e.ctx, p, x, ws8, NULL, GM_CONV_SHARED, &out), out, "gmconv");
    expect_shape_error(gm_op_gmconv(e.ctx, p, x, ws, b4, GM_CONV_SHARED, &out), out, "gmconv");
    cr_assert_eq(gm_op_gmconv(e.ctx, p, x, ws, NULL, (gm_conv_form)7, &out), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_op_gmconv(e.ctx, NULL, x, ws, NULL, GM_CONV_SHARED, &out), GM_ERR_INVALID_ARG);
    expect_shape_error(gm_op_gmpool(e.ctx, pp, x15, GM_REDUCE_MAX, &out), out, "gmpool");
    cr_assert_eq(gm_op_gmpool(e.ctx, pp, x, (gm_reduce)3, &out), GM_ERR_INVALID_ARG);
    gm_tensor *z = tensor(&e, 3, (int64_t[]){2, 3, 4}, NULL);
    gm_tensor *pw = tensor(&e, 3, (int64_t[]){3, 5, 4}, NULL);
    gm_tensor *pbad = tensor(&e, 3, (int64_t[]){3, 5, 3}, NULL);
    gm_tensor *pbad2 = tensor(&e, 3, (int64_t[]){2, 5, 4}, NULL);
    expect_shape_error(gm_op_gmunpool(e.ctx, pp, x, pw, &out), out, "gmunpool");
    expect_shape_error(gm_op_gmunpool(e.ctx, pp, z, pbad, &out), out, "gmunpool");
    expect_shape_error(gm_op_gmunpool(e.ctx, pp, z, pbad2, &out), out, "gmunpool");
    cr_assert_eq(gm_op_gmunpool(e.ctx, pp, z, pw, &out), GM_OK);
    cr_assert_eq(out->shape[1], 5);
    cr_assert_eq(out->shape[2], 16);
    env_free(&e);
    gm_gmat_plan_free(pp);
    gm_gmat_plan_free(p);
    gm_subgroup_free(h);
    gm_group_free(g);
}
