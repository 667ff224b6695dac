/* gmat: index tables against the reference fixture, the group-matrix algebra,
 * structured == dense, the diagonal expansion, displacement rank and the
 * equivariance measures, each with a negative control. */
#include <jansson.h>
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

/* --- helpers ------------------------------------------------------------ */

static double *dalloc(int64_t n) {
    double *p = gm_calloc((size_t)n, sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static gm_group *group_factor(const char *spec) {
    gm_group *g = NULL;
    gm_status st;
    long n;
    if (sscanf(spec, "p4m:%ld", &n) == 1)
        st = gm_group_p4m_new(n, &g);
    else if (sscanf(spec, "p4:%ld", &n) == 1)
        st = gm_group_p4_new(n, &g);
    else if (sscanf(spec, "C%ld", &n) == 1)
        st = gm_group_cyclic_new(n, &g);
    else if (sscanf(spec, "D%ld", &n) == 1)
        st = gm_group_dihedral_new(n, &g);
    else
        cr_assert_fail("test group factor '%s' not understood", spec);
    cr_assert_eq(st, GM_OK, "group '%s': %s", spec, gm_error_detail());
    return g;
}

/* Builds "C3xD4xp4:2"-style groups from the constructors alone (direct
 * products fold left to right, like the spec parser), so these tests do not
 * depend on gm_group_from_spec. */
static gm_group *make_group(const char *spec) {
    char buf[64];
    cr_assert_lt(strlen(spec), sizeof buf);
    strcpy(buf, spec);
    gm_group *acc = NULL;
    for (char *tok = strtok(buf, "x"); tok; tok = strtok(NULL, "x")) {
        gm_group *f = group_factor(tok);
        if (!acc) {
            acc = f;
            continue;
        }
        gm_group *p = NULL;
        cr_assert_eq(gm_group_product_new(acc, f, &p), GM_OK, "%s", gm_error_detail());
        gm_group_free(acc);
        gm_group_free(f);
        acc = p;
    }
    cr_assert_not_null(acc);
    return acc;
}

static void matmul(int64_t n, const double *a, const double *b, double *c) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
            c[i * n + j] = s;
        }
}

static void matvec(int64_t n, const double *m, const double *x, double *y) {
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < n; j++) s += m[i * n + j] * x[j];
        y[i] = s;
    }
}

static void matvec_t(int64_t n, const double *m, const double *x, double *y) {
    for (int64_t j = 0; j < n; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += m[i * n + j] * x[i];
        y[j] = s;
    }
}

/* Largest spread max_h F_g[h] - min_h F_g[h] over the rows g of F. */
static double max_row_spread(int64_t n, const double *f) {
    double worst = 0.0;
    for (int64_t g = 0; g < n; g++) {
        double lo = f[g * n], hi = f[g * n];
        for (int64_t h = 1; h < n; h++) {
            lo = fmin(lo, f[g * n + h]);
            hi = fmax(hi, f[g * n + h]);
        }
        worst = fmax(worst, hi - lo);
    }
    return worst;
}

static gm_gmat_plan *make_plan(const gm_group *g, const gm_nbhd *s) {
    gm_gmat_plan *p = NULL;
    cr_assert_eq(gm_gmat_plan_new(g, s, &p), GM_OK, "%s", gm_error_detail());
    return p;
}

/* The reference 1-D radius-t support by the rule of the spec (C_n: -t..t mod
 * n; D_n: r^i then f*r^i for i = -t..t). Returns its size. */
static int64_t radius_support(bool dihedral, int64_t n, int64_t t, int32_t *out) {
    int64_t k = 0;
    for (int64_t i = -t; i <= t; i++) {
        const int32_t r = (int32_t)(((i % n) + n) % n);
        out[k++] = r;
        if (dihedral) out[k++] = (int32_t)(n + r);
    }
    return k;
}

/* A random support of k elements with repeats, starting with the identity. */
static gm_nbhd *random_support(const gm_group *g, int64_t k, gm_rng *rng) {
    const int64_t n = gm_group_order(g);
    int32_t elems[64];
    cr_assert_leq(k, 64);
    for (int64_t i = 0; i < k; i++) elems[i] = (int32_t)gm_rng_below(rng, (uint32_t)n);
    elems[0] = 0;
    if (k > 2) elems[k - 1] = elems[1]; /* a repeat */
    gm_nbhd *s = NULL;
    cr_assert_eq(gm_nbhd_new(n, k, elems, &s), GM_OK, "%s", gm_error_detail());
    return s;
}

/* Groups for the algebraic properties: cyclic, dihedral, direct products
 * (abelian and not), the wallpaper groups. */
static const char *const k_groups[] = {"C1", "C12", "D5", "C3xC4", "C3xD4", "D3xD3", "p4:2",
                                       "p4:3", "p4m:2", "C2xC2xC3"};
#define N_GROUPS ((int)(sizeof k_groups / sizeof k_groups[0]))

/* --- the reference fixture --------------------------------------------- */

/* "3 (mod 5)" -> 3; "r^2" -> 2; "f^1 * r^2" -> n + 2 (D_n of order 2n). */
static int32_t parse_element(bool dihedral, int64_t n, const char *name) {
    int a, b;
    char tail[16];
    if (!dihedral) {
        cr_assert_eq(sscanf(name, "%d (mod %d%15s", &a, &b, tail), 3, "element '%s'", name);
        cr_assert_eq(b, n, "element '%s' is not of C%lld", name, (long long)n);
        cr_assert_str_eq(tail, ")");
        return (int32_t)a;
    }
    if (sscanf(name, "f^%d * r^%d", &a, &b) == 2) {
        cr_assert_eq(a, 1, "element '%s'", name);
        return (int32_t)(n + b);
    }
    cr_assert_eq(sscanf(name, "r^%d", &b), 1, "element '%s'", name);
    return (int32_t)b;
}

Test(gmat, plan_equals_reference_index_matrix) {
    char *text = ts_read_file(GM_FIXTURE_DIR "/reference-index.json");
    cr_assert_not_null(text, "cannot read the fixture");
    json_t *root = json_loads(text, 0, NULL);
    cr_assert_not_null(root, "fixture is not JSON");
    const char *names[] = {"cyclic-6-t1",   "cyclic-5-t2",   "cyclic-2-t1",
                           "dihedral-3-t1", "dihedral-4-t1", "dihedral-14-t1"};
    int seen = 0;
    for (size_t e = 0; e < sizeof names / sizeof names[0]; e++) {
        const json_t *ent = json_object_get(root, names[e]);
        cr_assert_not_null(ent, "fixture entry %s missing", names[e]);
        const char *kind = json_string_value(json_object_get(ent, "group"));
        const bool dihedral = strcmp(kind, "dihedral") == 0;
        cr_assert(dihedral || strcmp(kind, "cyclic") == 0);
        const int64_t order = (int64_t)json_number_value(json_object_get(ent, "order"));
        const int64_t t = (int64_t)json_number_value(json_object_get(ent, "t"));
        const int64_t n1 = dihedral ? 2 * order : order;

        /* The axis order of the reference is our element order. */
        const json_t *axis = json_object_get(ent, "axis_elements");
        cr_assert_eq(json_array_size(axis), (size_t)n1);
        for (int64_t i = 0; i < n1; i++) {
            const char *name = json_string_value(json_array_get(axis, (size_t)i));
            cr_assert_eq(parse_element(dihedral, order, name), i, "%s: axis element %lld is '%s'",
                         names[e], (long long)i, name);
        }

        /* Its 1-D neighbourhood is the spec's radius-t rule. */
        const json_t *nb = json_object_get(ent, "neighbourhood_1d");
        const int64_t k1 = (int64_t)json_array_size(nb);
        int32_t s1[64], rule[64];
        cr_assert_leq(k1, 64);
        for (int64_t k = 0; k < k1; k++)
            s1[k] = parse_element(dihedral, order,
                                  json_string_value(json_array_get(nb, (size_t)k)));
        cr_assert_eq(radius_support(dihedral, order, t, rule), k1);
        for (int64_t k = 0; k < k1; k++)
            cr_assert_eq(s1[k], rule[k], "%s: neighbourhood entry %lld", names[e], (long long)k);

        gm_group *g1 = NULL, *g2 = NULL;
        cr_assert_eq(dihedral ? gm_group_dihedral_new(order, &g1) : gm_group_cyclic_new(order, &g1),
                     GM_OK);
        cr_assert_eq(gm_group_product_new(g1, g1, &g2), GM_OK);
        gm_nbhd *nb1 = NULL, *nb2 = NULL;
        cr_assert_eq(gm_nbhd_new(n1, k1, s1, &nb1), GM_OK, "%s", gm_error_detail());
        cr_assert_eq(gm_nbhd_product_new(nb1, nb1, &nb2), GM_OK, "%s", gm_error_detail());
        gm_gmat_plan *p = make_plan(g2, nb2);

        const int64_t kk = gm_gmat_plan_support_size(p), nn = gm_gmat_plan_order(p);
        cr_assert_eq(kk, (int64_t)json_number_value(json_object_get(ent, "K")));
        cr_assert_eq(nn, (int64_t)json_number_value(json_object_get(ent, "N")));
        cr_assert_eq(kk, k1 * k1);
        cr_assert_eq(nn, n1 * n1);
        const json_t *im = json_object_get(ent, "index_matrix");
        cr_assert_eq(json_array_size(im), (size_t)kk);
        const int32_t *tab = gm_gmat_plan_table(p), *tinv = gm_gmat_plan_table_inverse(p);
        int64_t mismatches = 0;
        for (int64_t k = 0; k < kk; k++) {
            const json_t *row = json_array_get(im, (size_t)k);
            cr_assert_eq(json_array_size(row), (size_t)nn);
            for (int64_t l = 0; l < nn; l++) {
                if (tab[k * nn + l] != (int32_t)json_number_value(json_array_get(row, (size_t)l)))
                    mismatches++;
                /* Tinv is the inverse permutation of T, row by row. */
                cr_assert_eq(tab[k * nn + tinv[k * nn + l]], l);
            }
        }
        cr_assert_eq(mismatches, 0, "%s: %lld index entries differ from the reference", names[e],
                     (long long)mismatches);

        /* Once gm_nbhd_reference_new exists, it must give the same support. */
        gm_nbhd *ref = NULL;
        gm_status st = gm_nbhd_reference_new(g2, t, &ref);
        if (st == GM_ERR_UNSUPPORTED) {
            cr_log_info("%s: gm_nbhd_reference_new unsupported, checked the list only", names[e]);
        } else {
            cr_assert_eq(st, GM_OK, "%s: %s", names[e], gm_error_detail());
            cr_assert_eq(gm_nbhd_size(ref), kk);
            const int32_t *re = gm_nbhd_elements(ref), *pe = gm_nbhd_elements(nb2);
            for (int64_t k = 0; k < kk; k++)
                cr_assert_eq(re[k], pe[k],
                             "%s: gm_nbhd_reference_new entry %lld is %d, the reference has %d",
                             names[e], (long long)k, re[k], pe[k]);
            gm_gmat_plan *pr = make_plan(g2, ref);
            cr_assert_eq(memcmp(gm_gmat_plan_table(pr), tab, (size_t)(kk * nn) * sizeof *tab), 0,
                         "%s: reference support gives another plan", names[e]);
            gm_gmat_plan_free(pr);
            gm_nbhd_free(ref);
        }
        gm_gmat_plan_free(p);
        gm_nbhd_free(nb1);
        gm_nbhd_free(nb2);
        gm_group_free(g1);
        gm_group_free(g2);
        seen++;
    }
    cr_assert_eq(seen, 6);
    json_decref(root);
    gm_free(text);
}

/* --- plans --------------------------------------------------------------- */

Test(gmat, plan_on_torus_is_flipped_circular_cross_correlation) {
    const struct { int64_t n, t; } cases[] = {{1, 1}, {2, 1}, {3, 2}, {4, 3}, {5, 1},
                                              {5, 2}, {6, 2}, {7, 3}, {8, 1}};
    gm_rng rng;
    gm_rng_seed(&rng, 11, 1);
    double worst = 0.0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t n = cases[c].n, t = cases[c].t, w1 = 2 * t + 1, nn = n * n, kk = w1 * w1;
        gm_group *cn = NULL, *g = NULL;
        cr_assert_eq(gm_group_cyclic_new(n, &cn), GM_OK);
        cr_assert_eq(gm_group_product_new(cn, cn, &g), GM_OK);
        int32_t s1[16];
        cr_assert_eq(radius_support(false, n, t, s1), w1);
        gm_nbhd *a = NULL, *s = NULL;
        cr_assert_eq(gm_nbhd_new(n, w1, s1, &a), GM_OK);
        cr_assert_eq(gm_nbhd_product_new(a, a, &s), GM_OK);
        gm_gmat_plan *p = make_plan(g, s);

        double *w = dalloc(kk), *x = dalloc(nn), *y = dalloc(nn), *yref = dalloc(nn);
        ts_fill_uniform(&rng, kk, w);
        ts_fill_uniform(&rng, nn, x);
        gm_gmat_plan_matvec(p, w, x, y);
        for (int64_t ra = 0; ra < n; ra++)
            for (int64_t rb = 0; rb < n; rb++) {
                double acc = 0.0;
                for (int64_t da = -t; da <= t; da++)
                    for (int64_t db = -t; db <= t; db++) {
                        const int64_t xa = ((ra - da) % n + n) % n, xb = ((rb - db) % n + n) % n;
                        acc += w[(da + t) * w1 + (db + t)] * x[xa * n + xb];
                    }
                yref[ra * n + rb] = acc;
            }
        const double d = ts_max_abs_diff(nn, y, yref);
        cr_assert_leq(d, 1e-13, "C%lld x C%lld, t = %lld: max diff %g", (long long)n, (long long)n,
                      (long long)t, d);
        worst = fmax(worst, d);
        gm_free(w);
        gm_free(x);
        gm_free(y);
        gm_free(yref);
        gm_gmat_plan_free(p);
        gm_nbhd_free(a);
        gm_nbhd_free(s);
        gm_group_free(cn);
        gm_group_free(g);
    }
    cr_log_info("torus cross-correlation: max abs diff %.3g", worst);
}

Test(gmat, structured_matvec_equals_dense_matvec) {
    gm_rng rng;
    gm_rng_seed(&rng, 12, 1);
    double worst = 0.0;
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        for (int64_t kk = 1; kk <= 9; kk += 4) {
            gm_nbhd *s = random_support(g, kk, &rng);
            gm_gmat_plan *p = make_plan(g, s);
            double *w = dalloc(kk), *f = dalloc(n), *m = dalloc(n * n), *x = dalloc(n),
                   *y1 = dalloc(n), *y2 = dalloc(n);
            ts_fill_uniform(&rng, kk, w);
            ts_fill_uniform(&rng, n, x);
            gm_gmat_plan_kernel_function(p, g, w, f);
            gm_gmat_dense(g, f, m);

            matvec(n, m, x, y1);
            gm_gmat_plan_matvec(p, w, x, y2);
            double d = ts_max_abs_diff(n, y1, y2);
            cr_assert_leq(d, 1e-13, "%s K=%lld: matvec diff %g", k_groups[gi], (long long)kk, d);
            worst = fmax(worst, d);

            matvec_t(n, m, x, y1);
            gm_gmat_plan_matvec_transpose(p, w, x, y2);
            d = ts_max_abs_diff(n, y1, y2);
            cr_assert_leq(d, 1e-13, "%s K=%lld: transpose diff %g", k_groups[gi], (long long)kk, d);
            worst = fmax(worst, d);

            gm_free(w);
            gm_free(f);
            gm_free(m);
            gm_free(x);
            gm_free(y1);
            gm_free(y2);
            gm_gmat_plan_free(p);
            gm_nbhd_free(s);
        }
        gm_group_free(g);
    }
    cr_log_info("structured vs dense matvec: max abs diff %.3g", worst);
}

Test(gmat, plan_matvec_is_left_equivariant) {
    gm_rng rng;
    gm_rng_seed(&rng, 13, 1);
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        gm_nbhd *s = random_support(g, 7, &rng);
        gm_gmat_plan *p = make_plan(g, s);
        double w[7], *x = dalloc(n), *lx = dalloc(n), *y = dalloc(n), *a = dalloc(n),
                     *b = dalloc(n);
        ts_fill_uniform(&rng, 7, w);
        ts_fill_uniform(&rng, n, x);
        gm_gmat_plan_matvec(p, w, x, y);
        for (int32_t v = 0; v < n; v++) {
            gm_gmat_left_translate(g, v, x, lx);
            gm_gmat_plan_matvec(p, w, lx, a);
            gm_gmat_left_translate(g, v, y, b);
            cr_assert_leq(ts_max_abs_diff(n, a, b), 1e-14, "%s v=%d", k_groups[gi], v);
        }
        gm_free(x);
        gm_free(lx);
        gm_free(y);
        gm_free(a);
        gm_free(b);
        gm_gmat_plan_free(p);
        gm_nbhd_free(s);
        gm_group_free(g);
    }
}

Test(gmat, plan_kernel_function_adds_repeats) {
    gm_group *g = make_group("C5");
    const int32_t elems[] = {1, 1, 2, 0};
    gm_nbhd *s = NULL;
    cr_assert_eq(gm_nbhd_new(5, 4, elems, &s), GM_OK);
    gm_gmat_plan *p = make_plan(g, s);
    cr_assert_eq(gm_gmat_plan_support_size(p), 4);
    cr_assert_eq(gm_gmat_plan_order(p), 5);
    const double w[] = {1.0, 2.0, 4.0, 8.0};
    double f[5];
    gm_gmat_plan_kernel_function(p, g, w, f);
    /* f(s^-1) += w: s = 1 -> 4, s = 2 -> 3, s = 0 -> 0. */
    const double want[] = {8.0, 0.0, 0.0, 4.0, 3.0};
    for (int i = 0; i < 5; i++) cr_assert_eq(f[i], want[i], "f[%d] = %g", i, f[i]);
    gm_gmat_plan_free(p);
    gm_nbhd_free(s);
    gm_group_free(g);
}

Test(gmat, plan_rejects_support_of_another_group) {
    gm_group *g = make_group("D4");
    const int32_t elems[] = {0, 1};
    gm_nbhd *s = NULL;
    cr_assert_eq(gm_nbhd_new(7, 2, elems, &s), GM_OK);
    static int sentinel;
    gm_gmat_plan *p = (gm_gmat_plan *)&sentinel; /* must be reset to NULL */
    gm_error_clear();
    cr_assert_eq(gm_gmat_plan_new(g, s, &p), GM_ERR_INVALID_ARG);
    cr_assert_null(p);
    cr_assert(strstr(gm_error_detail(), "order 7") && strstr(gm_error_detail(), "D4"),
              "detail: %s", gm_error_detail());
    gm_gmat_plan_free(NULL);
    gm_nbhd_free(s);
    gm_group_free(g);
}

/* --- the algebra ---------------------------------------------------------- */

Test(gmat, group_matrices_multiply_like_convolution) {
    gm_rng rng;
    gm_rng_seed(&rng, 21, 1);
    double worst = 0.0;
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *a = dalloc(n), *b = dalloc(n), *ab = dalloc(n), *ma = dalloc(n * n),
               *mb = dalloc(n * n), *prod = dalloc(n * n), *mab = dalloc(n * n);
        ts_fill_uniform(&rng, n, a);
        ts_fill_uniform(&rng, n, b);
        gm_gmat_dense(g, a, ma);
        gm_gmat_dense(g, b, mb);
        /* Row e of M(a) is a itself: M[e][j] = a(e^-1 g_j). */
        cr_assert_eq(memcmp(ma, a, (size_t)n * sizeof *a), 0);
        gm_gmat_convolve(g, a, b, ab);
        gm_gmat_dense(g, ab, mab);
        matmul(n, ma, mb, prod);
        const double d = ts_max_abs_diff(n * n, prod, mab);
        cr_assert_leq(d, 1e-12, "%s: M(a)M(b) vs M(a*b) diff %g", k_groups[gi], d);
        worst = fmax(worst, d);
        gm_free(a);
        gm_free(b);
        gm_free(ab);
        gm_free(ma);
        gm_free(mb);
        gm_free(prod);
        gm_free(mab);
        gm_group_free(g);
    }
    cr_log_info("M(a)M(b) vs M(a*b): max abs diff %.3g", worst);
}

Test(gmat, translations_compose) {
    gm_rng rng;
    gm_rng_seed(&rng, 22, 1);
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *x = dalloc(n), *a = dalloc(n), *b = dalloc(n), *c = dalloc(n);
        ts_fill_uniform(&rng, n, x);
        for (int rep = 0; rep < 6; rep++) {
            const int32_t v = (int32_t)gm_rng_below(&rng, (uint32_t)n);
            const int32_t u = (int32_t)gm_rng_below(&rng, (uint32_t)n);
            /* L_v L_u = L_{vu} */
            gm_gmat_left_translate(g, u, x, a);
            gm_gmat_left_translate(g, v, a, b);
            gm_gmat_left_translate(g, gm_group_mul(g, v, u), x, c);
            cr_assert_eq(ts_max_abs_diff(n, b, c), 0.0);
            /* B_v B_u = B_{uv}, since (B_v B_u x)(h) = x(h v^-1 u^-1). */
            gm_gmat_right_translate(g, u, x, a);
            gm_gmat_right_translate(g, v, a, b);
            gm_gmat_right_translate(g, gm_group_mul(g, u, v), x, c);
            cr_assert_eq(ts_max_abs_diff(n, b, c), 0.0);
            /* Left and right translations commute. */
            gm_gmat_left_translate(g, v, x, a);
            gm_gmat_right_translate(g, u, a, b);
            gm_gmat_right_translate(g, u, x, a);
            gm_gmat_left_translate(g, v, a, c);
            cr_assert_eq(ts_max_abs_diff(n, b, c), 0.0);
        }
        gm_free(x);
        gm_free(a);
        gm_free(b);
        gm_free(c);
        gm_group_free(g);
    }
}

/* --- diagonal expansion --------------------------------------------------- */

Test(gmat, diagonals_round_trip_and_expand_the_matrix) {
    gm_rng rng;
    gm_rng_seed(&rng, 31, 1);
    double worst = 0.0;
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *m = dalloc(n * n), *f = dalloc(n * n), *back = dalloc(n * n), *x = dalloc(n),
               *y = dalloc(n), *z = dalloc(n), *bx = dalloc(n);
        ts_fill_uniform(&rng, n * n, m);
        gm_gmat_diagonals(g, m, f);
        gm_gmat_from_diagonals(g, f, back);
        cr_assert_eq(ts_max_abs_diff(n * n, m, back), 0.0, "%s: M -> F -> M", k_groups[gi]);
        ts_fill_uniform(&rng, n * n, f);
        gm_gmat_from_diagonals(g, f, m);
        gm_gmat_diagonals(g, m, back);
        cr_assert_eq(ts_max_abs_diff(n * n, f, back), 0.0, "%s: F -> M -> F", k_groups[gi]);

        /* M x = sum_g F_g . (B_g x) */
        ts_fill_uniform(&rng, n, x);
        matvec(n, m, x, y);
        for (int64_t h = 0; h < n; h++) z[h] = 0.0;
        for (int32_t s = 0; s < n; s++) {
            gm_gmat_right_translate(g, s, x, bx);
            for (int64_t h = 0; h < n; h++) z[h] += f[s * n + h] * bx[h];
        }
        const double d = ts_max_abs_diff(n, y, z);
        cr_assert_leq(d, 1e-13, "%s: expansion diff %g", k_groups[gi], d);
        worst = fmax(worst, d);
        gm_free(m);
        gm_free(f);
        gm_free(back);
        gm_free(x);
        gm_free(y);
        gm_free(z);
        gm_free(bx);
        gm_group_free(g);
    }
    cr_log_info("sum_g diag(F_g) B_g x vs M x: max abs diff %.3g", worst);
}

Test(gmat, displacement_is_difference_of_cyclic_neighbours) {
    const double f[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    double d[9];
    gm_gmat_displacement(3, f, d);
    const double want[] = {1 - 4, 2 - 1, 4 - 2, 8 - 32, 16 - 8, 32 - 16, 64 - 256, 128 - 64,
                           256 - 128};
    for (int i = 0; i < 9; i++) cr_assert_eq(d[i], want[i], "d[%d]", i);
}

/* --- commutation with left translations iff constant diagonals ------------ */

Test(gmat, group_matrices_commute_and_have_constant_diagonals) {
    gm_rng rng;
    gm_rng_seed(&rng, 41, 1);
    double worst = 0.0;
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *a = dalloc(n), *b = dalloc(n), *m = dalloc(n * n), *mb = dalloc(n * n),
               *prod = dalloc(n * n), *f = dalloc(n * n);
        ts_fill_uniform(&rng, n, a);
        ts_fill_uniform(&rng, n, b);
        gm_gmat_dense(g, a, m);
        gm_gmat_diagonals(g, m, f);
        cr_assert_eq(max_row_spread(n, f), 0.0, "%s: F(M(a)) rows not constant", k_groups[gi]);
        /* F_g = a(g^-1) everywhere. */
        for (int32_t s = 0; s < n; s++) cr_assert_eq(f[s * n], a[gm_group_inv(g, s)]);
        /* A product carries rounding but is still a group matrix. */
        gm_gmat_dense(g, b, mb);
        matmul(n, m, mb, prod);
        for (int32_t v = 0; v < n; v++) {
            double c1, c2;
            cr_assert_eq(gm_gmat_commutator_norm(g, m, v, &c1), GM_OK);
            cr_assert_eq(gm_gmat_commutator_norm(g, prod, v, &c2), GM_OK);
            cr_assert_eq(c1, 0.0, "%s v=%d: commutator %g", k_groups[gi], v, c1);
            cr_assert_leq(c2, 1e-14, "%s v=%d: commutator of a product %g", k_groups[gi], v, c2);
            worst = fmax(worst, c2);
        }
        gm_free(a);
        gm_free(b);
        gm_free(m);
        gm_free(mb);
        gm_free(prod);
        gm_free(f);
        gm_group_free(g);
    }
    cr_log_info("commutator of products of group matrices: max %.3g", worst);
}

Test(gmat, non_group_matrices_do_not_commute_and_have_varying_diagonals) {
    gm_rng rng;
    gm_rng_seed(&rng, 42, 1);
    double least = INFINITY;
    for (int gi = 1; gi < N_GROUPS; gi++) { /* C1: every matrix is a group matrix */
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *m = dalloc(n * n), *f = dalloc(n * n);
        ts_fill_uniform(&rng, n * n, m);
        gm_gmat_diagonals(g, m, f);
        cr_assert_gt(max_row_spread(n, f), 0.1, "%s: random M has constant diagonals",
                     k_groups[gi]);
        const int32_t *gens = gm_group_gens(g);
        cr_assert_gt(gm_group_ngens(g), 0);
        for (int64_t i = 0; i < gm_group_ngens(g); i++) {
            double c;
            cr_assert_eq(gm_gmat_commutator_norm(g, m, gens[i], &c), GM_OK);
            cr_assert_gt(c, 0.1, "%s generator %d: commutator %g", k_groups[gi], gens[i], c);
            least = fmin(least, c);
        }
        double c0;
        cr_assert_eq(gm_gmat_commutator_norm(g, m, 0, &c0), GM_OK);
        cr_assert_eq(c0, 0.0, "the identity commutes with everything");
        gm_free(m);
        gm_free(f);
        gm_group_free(g);
    }
    cr_log_info("commutator of random dense matrices under generators: min %.3g", least);
}

Test(gmat, constant_diagonals_make_a_group_matrix_and_one_change_breaks_it) {
    gm_rng rng;
    gm_rng_seed(&rng, 43, 1);
    for (int gi = 1; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *c = dalloc(n), *f = dalloc(n * n), *m = dalloc(n * n), *fn = dalloc(n),
               *mg = dalloc(n * n);
        ts_fill_uniform(&rng, n, c);
        for (int64_t s = 0; s < n; s++)
            for (int64_t h = 0; h < n; h++) f[s * n + h] = c[s];
        gm_gmat_from_diagonals(g, f, m);
        for (int32_t v = 0; v < n; v++) {
            double cn;
            cr_assert_eq(gm_gmat_commutator_norm(g, m, v, &cn), GM_OK);
            cr_assert_eq(cn, 0.0, "%s v=%d", k_groups[gi], v);
        }
        /* It is M(fn) with fn(g^-1) = c_g. */
        for (int32_t s = 0; s < n; s++) fn[gm_group_inv(g, s)] = c[s];
        gm_gmat_dense(g, fn, mg);
        cr_assert_eq(ts_max_abs_diff(n * n, m, mg), 0.0);

        /* One entry off a constant diagonal: some generator no longer commutes. */
        const int64_t s0 = 1 + gm_rng_below(&rng, (uint32_t)(n - 1));
        const int64_t h0 = gm_rng_below(&rng, (uint32_t)n);
        f[s0 * n + h0] += 0.5;
        gm_gmat_from_diagonals(g, f, m);
        double most = 0.0;
        for (int64_t i = 0; i < gm_group_ngens(g); i++) {
            double cn;
            cr_assert_eq(gm_gmat_commutator_norm(g, m, gm_group_gens(g)[i], &cn), GM_OK);
            most = fmax(most, cn);
        }
        cr_assert_gt(most, 1e-3, "%s: a broken diagonal still commutes", k_groups[gi]);
        gm_free(c);
        gm_free(f);
        gm_free(m);
        gm_free(fn);
        gm_free(mg);
        gm_group_free(g);
    }
}

/* --- rank and displacement rank ----------------------------------------- */

Test(gmat, rank_of_known_matrices) {
    int64_t r;
    double sigma[8], tol;
    double eye[25] = {0};
    for (int i = 0; i < 5; i++) eye[i * 5 + i] = 1.0;
    cr_assert_eq(gm_gmat_rank(5, 5, eye, -1.0, &r, sigma, &tol), GM_OK);
    cr_assert_eq(r, 5);
    for (int i = 0; i < 5; i++) cr_assert_float_eq(sigma[i], 1.0, 1e-15);
    cr_assert_float_eq(tol, 5 * 2.220446049250313e-16, 1e-30);

    /* A permuted diagonal: singular values 3, 2, 1, descending. */
    const double pd[9] = {0, 2, 0, 3, 0, 0, 0, 0, -1};
    cr_assert_eq(gm_gmat_rank(3, 3, pd, -1.0, &r, sigma, NULL), GM_OK);
    cr_assert_eq(r, 3);
    cr_assert_float_eq(sigma[0], 3.0, 1e-14);
    cr_assert_float_eq(sigma[1], 2.0, 1e-14);
    cr_assert_float_eq(sigma[2], 1.0, 1e-14);
    cr_assert_eq(gm_gmat_rank(3, 3, pd, 1.5, &r, NULL, &tol), GM_OK);
    cr_assert_eq(r, 2);
    cr_assert_eq(tol, 1.5);

    /* Rank-deficient products B C, tall and wide. */
    gm_rng rng;
    gm_rng_seed(&rng, 51, 1);
    const struct { int64_t rows, inner, cols; } pr[] = {{7, 3, 5}, {5, 2, 9}, {12, 1, 12},
                                                        {6, 6, 6}, {4, 5, 3}};
    for (size_t c = 0; c < sizeof pr / sizeof pr[0]; c++) {
        const int64_t rows = pr[c].rows, k = pr[c].inner, cols = pr[c].cols;
        double *b = dalloc(rows * k), *cm = dalloc(k * cols), *a = dalloc(rows * cols);
        ts_fill_uniform(&rng, rows * k, b);
        ts_fill_uniform(&rng, k * cols, cm);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                double s = 0.0;
                for (int64_t l = 0; l < k; l++) s += b[i * k + l] * cm[l * cols + j];
                a[i * cols + j] = s;
            }
        const int64_t want = k < rows ? (k < cols ? k : cols) : (rows < cols ? rows : cols);
        cr_assert_eq(gm_gmat_rank(rows, cols, a, -1.0, &r, NULL, NULL), GM_OK);
        cr_assert_eq(r, want, "%lldx%lld of inner %lld: rank %lld", (long long)rows,
                     (long long)cols, (long long)k, (long long)r);
        gm_free(b);
        gm_free(cm);
        gm_free(a);
    }

    const double zero[6] = {0};
    cr_assert_eq(gm_gmat_rank(2, 3, zero, -1.0, &r, NULL, &tol), GM_OK);
    cr_assert_eq(r, 0);
    cr_assert_eq(tol, 0.0);
    const double one = -5.0;
    cr_assert_eq(gm_gmat_rank(1, 1, &one, -1.0, &r, sigma, NULL), GM_OK);
    cr_assert_eq(r, 1);
    cr_assert_eq(sigma[0], 5.0);
}

Test(gmat, rank_rejects_bad_input) {
    int64_t r = -7;
    double a[6] = {1, 2, 3, 4, 5, 6};
    a[5] = NAN;
    gm_error_clear();
    cr_assert_eq(gm_gmat_rank(2, 3, a, -1.0, &r, NULL, NULL), GM_ERR_NUMERIC);
    cr_assert(strstr(gm_error_detail(), "non-finite value at (1,2)"), "detail: %s",
              gm_error_detail());
    a[5] = 6.0;
    a[1] = -INFINITY;
    cr_assert_eq(gm_gmat_rank(2, 3, a, -1.0, &r, NULL, NULL), GM_ERR_NUMERIC);
    cr_assert(strstr(gm_error_detail(), "(0,1)"), "detail: %s", gm_error_detail());
    a[1] = 2.0;
    cr_assert_eq(gm_gmat_rank(2, 3, a, NAN, &r, NULL, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_rank(0, 3, a, -1.0, &r, NULL, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_rank(2, -1, a, -1.0, &r, NULL, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_rank(INT64_MAX / 2, 4, a, -1.0, &r, NULL, NULL), GM_ERR_TOO_LARGE);
    cr_assert_eq(gm_gmat_rank((int64_t)1 << 40, 1, a, -1.0, &r, NULL, NULL), GM_ERR_TOO_LARGE);
    cr_assert_eq(r, -7, "rank untouched on error");
    cr_assert_eq(gm_gmat_rank(2, 3, a, -1.0, &r, NULL, NULL), GM_OK);
    cr_assert_eq(r, 2);
}

static const char *const k_dr_groups[] = {"C12", "D5", "C3xC4", "p4:2", "D3xD3", "C2xC2xC3"};
#define N_DR_GROUPS ((int)(sizeof k_dr_groups / sizeof k_dr_groups[0]))

Test(gmat, displacement_rank_of_group_matrices_is_zero) {
    gm_rng rng;
    gm_rng_seed(&rng, 61, 1);
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *a = dalloc(n), *b = dalloc(n), *ma = dalloc(n * n), *mb = dalloc(n * n),
               *prod = dalloc(n * n);
        ts_fill_uniform(&rng, n, a);
        ts_fill_uniform(&rng, n, b);
        for (int64_t i = 0; i < n; i++) b[i] *= 1e6; /* scale does not matter */
        gm_gmat_dense(g, a, ma);
        gm_gmat_dense(g, b, mb);
        matmul(n, ma, mb, prod);
        int64_t r = -1;
        double tol;
        cr_assert_eq(gm_gmat_displacement_rank(g, ma, -1.0, &r, &tol), GM_OK, "%s",
                     gm_error_detail());
        cr_assert_eq(r, 0, "%s: DR(M(a)) = %lld", k_groups[gi], (long long)r);
        cr_assert_gt(tol, 0.0);
        cr_assert_eq(gm_gmat_displacement_rank(g, prod, -1.0, &r, NULL), GM_OK);
        cr_assert_eq(r, 0, "%s: DR(M(a)M(b)) = %lld (rounding counted)", k_groups[gi],
                     (long long)r);
        gm_free(a);
        gm_free(b);
        gm_free(ma);
        gm_free(mb);
        gm_free(prod);
        gm_group_free(g);
    }
}

/* M = from_diagonals(F_gm + scale * U V^T); with const_col, V's first column
 * is constant in h, which the displacement annihilates. */
static void low_rank_perturbed(const gm_group *g, int64_t r, double scale, bool const_col,
                               gm_rng *rng, double *m) {
    const int64_t n = gm_group_order(g);
    double *c = dalloc(n), *u = dalloc(n * (r ? r : 1)), *v = dalloc(n * (r ? r : 1)),
           *f = dalloc(n * n);
    ts_fill_uniform(rng, n, c);
    ts_fill_uniform(rng, n * r, u);
    ts_fill_uniform(rng, n * r, v);
    if (const_col && r > 0)
        for (int64_t h = 0; h < n; h++) v[h * r] = 0.7;
    for (int64_t s = 0; s < n; s++)
        for (int64_t h = 0; h < n; h++) {
            double p = 0.0;
            for (int64_t q = 0; q < r; q++) p += u[s * r + q] * v[h * r + q];
            f[s * n + h] = c[s] + scale * p;
        }
    gm_gmat_from_diagonals(g, f, m);
    gm_free(c);
    gm_free(u);
    gm_free(v);
    gm_free(f);
}

Test(gmat, displacement_rank_counts_low_rank_perturbations) {
    gm_rng rng;
    gm_rng_seed(&rng, 62, 1);
    for (int gi = 0; gi < N_DR_GROUPS; gi++) {
        gm_group *g = make_group(k_dr_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *m = dalloc(n * n);
        for (int64_t r = 0; r <= 4; r++) {
            int64_t dr = -1;
            low_rank_perturbed(g, r, 1.0, false, &rng, m);
            cr_assert_eq(gm_gmat_displacement_rank(g, m, -1.0, &dr, NULL), GM_OK);
            cr_assert_eq(dr, r, "%s: DR = %lld for a rank-%lld perturbation", k_dr_groups[gi],
                         (long long)dr, (long long)r);
            /* Small but well above rounding: still counted. */
            low_rank_perturbed(g, r, 1e-9, false, &rng, m);
            cr_assert_eq(gm_gmat_displacement_rank(g, m, -1.0, &dr, NULL), GM_OK);
            cr_assert_eq(dr, r, "%s: DR = %lld for a 1e-9 rank-%lld perturbation",
                         k_dr_groups[gi], (long long)dr, (long long)r);
            /* A direction constant in h is no displacement: DR <= r, here r - 1. */
            if (r > 0) {
                low_rank_perturbed(g, r, 1.0, true, &rng, m);
                cr_assert_eq(gm_gmat_displacement_rank(g, m, -1.0, &dr, NULL), GM_OK);
                cr_assert_eq(dr, r - 1, "%s: DR = %lld with one constant direction of %lld",
                             k_dr_groups[gi], (long long)dr, (long long)r);
            }
        }
        /* An explicit tolerance above every singular value gives 0. */
        low_rank_perturbed(g, 3, 1.0, false, &rng, m);
        int64_t dr = -1;
        double tol = 0.0;
        cr_assert_eq(gm_gmat_displacement_rank(g, m, 1e6, &dr, &tol), GM_OK);
        cr_assert_eq(dr, 0);
        cr_assert_eq(tol, 1e6);
        gm_free(m);
        gm_group_free(g);
    }
}

Test(gmat, displacement_rank_rejects_non_finite) {
    gm_group *g = make_group("D3");
    double m[36] = {0};
    m[2 * 6 + 4] = INFINITY;
    int64_t r = -3;
    gm_error_clear();
    cr_assert_eq(gm_gmat_displacement_rank(g, m, -1.0, &r, NULL), GM_ERR_NUMERIC);
    cr_assert(strstr(gm_error_detail(), "non-finite value at (2,4)"), "detail: %s",
              gm_error_detail());
    cr_assert_eq(r, -3);
    m[2 * 6 + 4] = 0.0;
    cr_assert_eq(gm_gmat_displacement_rank(g, m, NAN, &r, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_gmat_displacement_rank(g, m, -1.0, &r, NULL), GM_OK);
    cr_assert_eq(r, 0, "the zero matrix is a group matrix");
    const double bad_eps[] = {0.0, -1e-7, 1.0, NAN, INFINITY};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(gm_gmat_displacement_rank_eps(g, m, -1.0, bad_eps[i], &r, NULL),
                     GM_ERR_INVALID_ARG, "eps %g", bad_eps[i]);
    gm_group_free(g);
}

/* The default tolerance scales with the epsilon given: float32 rounding of a
 * group matrix plus a rank-one displacement counts under DBL_EPSILON only. */
Test(gmat, displacement_rank_eps_sets_the_default_tolerance) {
    gm_group *g = make_group("D4");
    const int64_t n = 8;
    double f[64], m[64];
    for (int64_t a = 0; a < n; a++) /* F = c 1^T + u v^T */
        for (int64_t h = 0; h < n; h++)
            f[a * n + h] = 0.3 * (double)a - 1.0 + 0.1 * (double)(a % 3) * (double)(h * h % 5);
    gm_gmat_from_diagonals(g, f, m);
    for (int64_t i = 0; i < n * n; i++) m[i] = (double)(float)(m[i] * 1.1);
    int64_t r64, r32, r;
    double t64, t32;
    OK(gm_gmat_displacement_rank(g, m, -1.0, &r64, &t64));
    OK(gm_gmat_displacement_rank_eps(g, m, -1.0, DBL_EPSILON, &r, NULL));
    cr_assert_eq(r, r64);
    OK(gm_gmat_displacement_rank_eps(g, m, -1.0, FLT_EPSILON, &r32, &t32));
    cr_assert_eq(r32, 1);
    cr_assert_gt(r64, 1, "float32 rounding counts at double precision");
    cr_assert_float_eq(t32 / t64, FLT_EPSILON / DBL_EPSILON, 1e-6 * FLT_EPSILON / DBL_EPSILON);
    OK(gm_gmat_displacement_rank_eps(g, m, 0.5 * t64, FLT_EPSILON, &r, &t32));
    cr_assert_eq(t32, 0.5 * t64, "a given tolerance is used as given");
    gm_group_free(g);
}

/* --- equivariance defect ------------------------------------------------ */

Test(gmat, equivariance_defect_vanishes_on_group_matrices) {
    gm_rng rng;
    gm_rng_seed(&rng, 71, 1);
    double worst = 0.0;
    for (int gi = 0; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *a = dalloc(n), *b = dalloc(n), *ma = dalloc(n * n), *mb = dalloc(n * n),
               *prod = dalloc(n * n), *x = dalloc(n);
        ts_fill_uniform(&rng, n, a);
        ts_fill_uniform(&rng, n, b);
        gm_gmat_dense(g, a, ma);
        gm_gmat_dense(g, b, mb);
        matmul(n, ma, mb, prod);
        for (int32_t v = 0; v < n; v++) {
            ts_fill_uniform(&rng, n, x);
            double e1, e2;
            cr_assert_eq(gm_gmat_equivariance_defect(g, ma, v, x, &e1), GM_OK);
            cr_assert_eq(gm_gmat_equivariance_defect(g, prod, v, x, &e2), GM_OK);
            cr_assert_leq(e1, 1e-12, "%s v=%d: defect %g", k_groups[gi], v, e1);
            cr_assert_leq(e2, 1e-12, "%s v=%d: defect of a product %g", k_groups[gi], v, e2);
            worst = fmax(worst, fmax(e1, e2));
        }
        gm_free(a);
        gm_free(b);
        gm_free(ma);
        gm_free(mb);
        gm_free(prod);
        gm_free(x);
        gm_group_free(g);
    }
    cr_log_info("equivariance defect of group matrices: max %.3g", worst);
}

Test(gmat, equivariance_defect_detects_non_group_matrices) {
    gm_rng rng;
    gm_rng_seed(&rng, 72, 1);
    double least = INFINITY;
    for (int gi = 1; gi < N_GROUPS; gi++) {
        gm_group *g = make_group(k_groups[gi]);
        const int64_t n = gm_group_order(g);
        double *m = dalloc(n * n), *x = dalloc(n);
        ts_fill_uniform(&rng, n * n, m);
        ts_fill_uniform(&rng, n, x);
        for (int64_t i = 0; i < gm_group_ngens(g); i++) {
            double e;
            cr_assert_eq(gm_gmat_equivariance_defect(g, m, gm_group_gens(g)[i], x, &e), GM_OK);
            cr_assert_gt(e, 1e-2, "%s generator %d: defect %g of a random matrix", k_groups[gi],
                         gm_group_gens(g)[i], e);
            least = fmin(least, e);
        }
        double e0;
        cr_assert_eq(gm_gmat_equivariance_defect(g, m, 0, x, &e0), GM_OK);
        cr_assert_eq(e0, 0.0);
        gm_free(m);
        gm_free(x);
        gm_group_free(g);
    }
    cr_log_info("equivariance defect of random matrices under generators: min %.3g", least);
}

Test(gmat, equivariance_defect_edge_cases) {
    gm_group *g = make_group("C3");
    double m[9] = {0}, x[3] = {0, 1, 0}, e = -1.0;
    /* M = 0: both sides vanish. */
    cr_assert_eq(gm_gmat_equivariance_defect(g, m, 1, x, &e), GM_OK);
    cr_assert_eq(e, 0.0);
    /* M = e_0 e_0^T, x = delta_1: M x = 0 but M L_2 x = M delta_0 != 0. */
    m[0] = 1.0;
    cr_assert_eq(gm_gmat_equivariance_defect(g, m, 2, x, &e), GM_OK);
    cr_assert(isinf(e) && e > 0, "defect %g", e);
    gm_error_clear();
    cr_assert_eq(gm_gmat_equivariance_defect(g, m, 3, x, &e), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "element 3"), "detail: %s", gm_error_detail());
    cr_assert_eq(gm_gmat_commutator_norm(g, m, -1, &e), GM_ERR_INVALID_ARG);
    double zero[9] = {0};
    cr_assert_eq(gm_gmat_commutator_norm(g, zero, 1, &e), GM_OK);
    cr_assert_eq(e, 0.0);
    gm_group_free(g);
}

/* --- out of memory ---------------------------------------------------------- */

Test(gmat, allocation_failures_are_reported) {
    gm_group *g = make_group("D4");
    const int64_t n = gm_group_order(g);
    const int32_t elems[] = {0, 1, 5};
    gm_nbhd *s = NULL;
    cr_assert_eq(gm_nbhd_new(n, 3, elems, &s), GM_OK);
    double *m = dalloc(n * n), x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out;
    for (int64_t i = 0; i < n * n; i++) m[i] = (double)(i % 7);
    int64_t r;

    for (int64_t budget = 0; budget < 3; budget++) {
        gm_gmat_plan *p = NULL;
        gm_alloc_fail_after(budget);
        const gm_status st = gm_gmat_plan_new(g, s, &p);
        gm_alloc_fail_after(-1);
        cr_assert_eq(st, GM_ERR_NOMEM, "plan with %lld allocations", (long long)budget);
        cr_assert_null(p);
    }
    gm_alloc_fail_after(0);
    cr_assert_eq(gm_gmat_equivariance_defect(g, m, 1, x, &out), GM_ERR_NOMEM);
    cr_assert_eq(gm_gmat_commutator_norm(g, m, 1, &out), GM_ERR_NOMEM);
    gm_alloc_fail_after(-1);
    for (int64_t budget = 0; budget < 4; budget++) {
        gm_alloc_fail_after(budget);
        const gm_status s1 = gm_gmat_rank(n, n, m, -1.0, &r, NULL, NULL);
        gm_alloc_fail_after(budget);
        const gm_status s2 = gm_gmat_displacement_rank(g, m, -1.0, &r, NULL);
        gm_alloc_fail_after(-1);
        cr_assert_eq(s1, GM_ERR_NOMEM, "rank with %lld allocations", (long long)budget);
        cr_assert_eq(s2, GM_ERR_NOMEM, "DR with %lld allocations", (long long)budget);
    }
    cr_assert(strstr(gm_error_detail(), "out of memory"), "detail: %s", gm_error_detail());
    gm_free(m);
    gm_nbhd_free(s);
    gm_group_free(g);
}
