/* The FFT path of the full-form gmconv (src/ops/op_gmconv_fft.c), in float:
 * detection of translation tables on tori (C_n, C_n x C_m, C_a x C_b x C_c,
 * n = 1 and 2 included) and its rejection of everything else (dihedral
 * groups, p4, lifting plans, a table that is not a translation); forward,
 * dx, dW and db against the scalar reference and the gather path, through
 * the raw kernels and through the tape; bit-identical results for 1 and 2
 * threads; the AUTO choice at the reference shape. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops_gm.h"
#include "test_support.h"

#define TWO_PI 6.283185307179586476925286766559

/* float FFT round-off relative to the largest value */
#define AGREE_TOL 2e-5

static gm_gmat_plan *conv_plan(const gm_group *g, int64_t t) {
    gm_nbhd *s = ts_support(g, t);
    gm_gmat_plan *p = NULL;
    OK(gm_gmat_plan_new(g, s, &p));
    gm_nbhd_free(s);
    return p;
}

typedef struct fft_case {
    const char *spec;
    int64_t t;
    int64_t batch, cin, cout;
    int rank; /* of the torus found */
    int64_t n[3];
} fft_case;

static const fft_case cases[] = {
    {"C1", 1, 2, 2, 3, 1, {1}},
    {"C2", 2, 1, 3, 2, 1, {2}},
    {"C7", 3, 3, 2, 5, 1, {7}},
    {"C16", 2, 1, 4, 4, 1, {16}},
    {"C1xC1", 1, 1, 1, 1, 1, {1}},
    {"C2xC2", 1, 3, 3, 2, 2, {2, 2}},
    {"C2xC2", 3, 2, 2, 3, 2, {2, 2}},
    {"C5xC5", 2, 2, 3, 4, 2, {5, 5}},
    {"C6xC6", 1, 1, 5, 7, 2, {6, 6}},
    {"C8xC8", 3, 4, 9, 6, 2, {8, 8}},
    {"C9xC9", 3, 2, 7, 3, 2, {9, 9}},
    {"C4xC7", 2, 3, 2, 4, 2, {4, 7}},
    {"C7xC4", 1, 1, 3, 3, 2, {7, 4}},
    {"C3xC10", 3, 2, 10, 9, 2, {3, 10}},
    {"C3xC4xC5", 1, 2, 3, 2, 3, {3, 4, 5}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *const names[4] = {"y", "dx", "dw", "db"};

typedef struct bufs {
    int64_t nx, nw, ny, no;
    gm_real *x, *w, *bias, *dy;
    gm_real *y, *dx, *dw, *db;
} bufs;

static bufs bufs_new(const gm__gmconv_dims *d, uint64_t seed) {
    bufs b = {.nx = d->batch * d->cin * d->tab.n_in,
              .nw = d->cout * d->cin * d->tab.rows,
              .ny = d->batch * d->cout * d->tab.cols,
              .no = d->cout};
    gm_rng rng;
    gm_rng_seed(&rng, 17, seed);
    b.x = ts_real_buf(b.nx);
    b.w = ts_real_buf(b.nw);
    b.bias = ts_real_buf(b.no);
    b.dy = ts_real_buf(b.ny);
    ts_fill_real(&rng, b.nx, b.x);
    ts_fill_real(&rng, b.nw, b.w);
    ts_fill_real(&rng, b.no, b.bias);
    ts_fill_real(&rng, b.ny, b.dy);
    return b;
}

/* outputs: y and gradients starting from nonzero values (backward accumulates) */
static void outs_new(bufs *b) {
    b->y = ts_real_buf(b->ny);
    b->dx = ts_real_buf(b->nx);
    b->dw = ts_real_buf(b->nw);
    b->db = ts_real_buf(b->no);
    for (int64_t q = 0; q < b->nx; q++) b->dx[q] = (gm_real)0.25;
    for (int64_t q = 0; q < b->nw; q++) b->dw[q] = (gm_real)-0.5;
    for (int64_t q = 0; q < b->no; q++) b->db[q] = (gm_real)0.125;
}

static void outs_free(bufs *b) {
    gm_free(b->y);
    gm_free(b->dx);
    gm_free(b->dw);
    gm_free(b->db);
}

static void bufs_free(bufs *b) {
    outs_free(b);
    gm_free(b->x);
    gm_free(b->w);
    gm_free(b->bias);
    gm_free(b->dy);
}

static void run_fft(const gm__gmconv_dims *d, const gm__torus *s, int nt, bufs *b, bool bias,
                    bool gx, bool gw, bool gb) {
    void *sc = gm_malloc(gm__gmconv_fft_scratch_bytes(d, s, nt, false));
    cr_assert_not_null(sc);
    OK(gm__gmconv_fft_forward(d, s, nt, sc, b->x, b->w, bias ? b->bias : NULL, b->y));
    gm_free(sc);
    sc = gm_malloc(gm__gmconv_fft_scratch_bytes(d, s, nt, true));
    cr_assert_not_null(sc);
    OK(gm__gmconv_fft_backward(d, s, nt, sc, b->x, b->w, b->dy, gx ? b->dx : NULL,
                               gw ? b->dw : NULL, gb ? b->db : NULL));
    gm_free(sc);
}

static void run_gather(const gm__gmconv_dims *d, int nt, bufs *b, bool bias) {
    void *sc = gm_malloc(gm__gmconv_scratch_bytes(d, nt, false));
    cr_assert_not_null(sc);
    gm__gmconv_forward(d, nt, sc, b->x, b->w, bias ? b->bias : NULL, b->y);
    gm_free(sc);
    sc = gm_malloc(gm__gmconv_scratch_bytes(d, nt, true));
    cr_assert_not_null(sc);
    gm__gmconv_backward(d, nt, sc, b->x, b->w, b->dy, b->dx, b->dw, b->db);
    gm_free(sc);
}

static double worst_of(const bufs *a, const bufs *ref, int q) {
    switch (q) {
    case 0: return ts_rel_diff(a->ny, a->y, ref->y);
    case 1: return ts_rel_diff(a->nx, a->dx, ref->dx);
    case 2: return ts_rel_diff(a->nw, a->dw, ref->dw);
    default: return ts_rel_diff(a->no, a->db, ref->db);
    }
}

Test(detect, tori_are_found_with_their_shape) {
    for (size_t ci = 0; ci < NCASES; ci++) {
        const fft_case *c = &cases[ci];
        gm_group *g = ts_group(c->spec);
        gm_gmat_plan *p = conv_plan(g, c->t);
        const gm__gm_table tab = gm__gm_table_of(p);
        gm__torus s;
        cr_assert(gm__torus_detect(&tab, &s), "%s t=%lld not detected", c->spec,
                  (long long)c->t);
        /* n = 1 or 2 per axis: smaller shapes may verify too, and any
         * verified shape is exact; otherwise the product's own shape */
        bool small = false;
        for (int a = 0; a < c->rank; a++) small |= c->n[a] <= 2;
        if (!small) {
            cr_assert_eq(s.rank, c->rank, "%s: rank %d", c->spec, s.rank);
            for (int a = 0; a < c->rank; a++)
                cr_assert_eq(s.n[a], c->n[a], "%s: axis %d of length %lld", c->spec, a,
                             (long long)s.n[a]);
        }
        /* a second call (from the cache) agrees */
        gm__torus s2;
        cr_assert(gm__torus_detect(&tab, &s2));
        cr_assert_eq(s2.rank, s.rank);
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

Test(detect, rejects_dihedral_p4_lifting_and_non_translations) {
    const char *specs[] = {"D6", "D4xD4", "C5xD3", "S4"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        gm_group *g = ts_group(specs[i]);
        gm_gmat_plan *p = conv_plan(g, 1);
        const gm__gm_table tab = gm__gm_table_of(p);
        gm__torus s;
        cr_assert(!gm__torus_detect(&tab, &s), "%s detected as a torus", specs[i]);
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
    {
        gm_group *g = NULL;
        OK(gm_group_p4_new(4, &g));
        gm_gmat_plan *p = conv_plan(g, 1);
        const gm__gm_table tab = gm__gm_table_of(p);
        gm__torus s;
        cr_assert(!gm__torus_detect(&tab, &s), "p4:4 detected as a torus");
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
    /* lifting C8xC8 / (C2 x 1) -> C8xC8: n_in != cols */
    {
        gm_group *g = ts_group("C8xC8");
        gm_subgroup *k = ts_subgroup(g, 1, (int32_t[]){32});
        gm_nbhd *sup = ts_support(g, 1);
        gm_gmat_plan *p = NULL;
        OK(gm_gmat_plan_lift_new(k, sup, &p));
        const gm__gm_table tab = gm__gm_table_of(p);
        gm__torus s;
        cr_assert(!gm__torus_detect(&tab, &s), "a lifting plan detected as a torus");
        gm_gmat_plan_free(p);
        gm_nbhd_free(sup);
        gm_subgroup_free(k);
        gm_group_free(g);
    }
    /* tables of C6xC6 changed: two entries swapped in one row (still a
     * permutation), and a row scrambled */
    {
        gm_group *g = ts_group("C6xC6");
        gm_gmat_plan *p = conv_plan(g, 1);
        gm__gm_table tab = gm__gm_table_of(p);
        gm__torus s;
        cr_assert(gm__torus_detect(&tab, &s));
        int32_t *t = gm_malloc((size_t)(tab.rows * tab.cols) * sizeof *t);
        cr_assert_not_null(t);
        for (int64_t k = 1; k < tab.rows; k++) {
            memcpy(t, tab.t, (size_t)(tab.rows * tab.cols) * sizeof *t);
            int32_t *row = t + k * tab.cols;
            const int64_t a = (k * 7) % tab.cols, b = (k * 13 + 5) % tab.cols;
            if (a == b) continue;
            const int32_t tmp = row[a];
            row[a] = row[b];
            row[b] = tmp;
            gm__gm_table bad = tab;
            bad.t = t;
            cr_assert(!gm__torus_detect(&bad, &s), "row %lld with a swap detected", (long long)k);
        }
        memcpy(t, tab.t, (size_t)(tab.rows * tab.cols) * sizeof *t);
        for (int64_t g2 = 0; g2 < tab.cols; g2++) t[g2] = (int32_t)((g2 * 5) % tab.cols);
        gm__gm_table bad = tab;
        bad.t = t;
        cr_assert(!gm__torus_detect(&bad, &s), "a scaled row detected");
        /* and the same storage holding a valid table again is found again */
        memcpy(t, tab.t, (size_t)(tab.rows * tab.cols) * sizeof *t);
        cr_assert(gm__torus_detect(&bad, &s));
        gm_free(t);
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

Test(kernels, fft_matches_reference_and_gather) {
    const int threads[] = {1, 2};
    for (size_t ci = 0; ci < NCASES; ci++) {
        const fft_case *c = &cases[ci];
        gm_group *g = ts_group(c->spec);
        gm_gmat_plan *p = conv_plan(g, c->t);
        const gm__gmconv_dims d = {.tab = gm__gm_table_of(p),
                                   .batch = c->batch,
                                   .cin = c->cin,
                                   .cout = c->cout,
                                   .form = GM_CONV_FULL};
        gm__torus s;
        cr_assert(gm__torus_detect(&d.tab, &s));
        for (int withb = 0; withb < 2; withb++)
            for (int ti = 0; ti < 2; ti++) {
                const int nt = threads[ti];
                bufs ref = bufs_new(&d, ci), fft = bufs_new(&d, ci), gat = bufs_new(&d, ci);
                outs_new(&ref);
                outs_new(&fft);
                outs_new(&gat);
                gm__gmconv_forward_ref(&d, ref.x, ref.w, withb ? ref.bias : NULL, ref.y);
                gm__gmconv_backward_ref(&d, ref.x, ref.w, ref.dy, ref.dx, ref.dw, ref.db);
                run_fft(&d, &s, nt, &fft, withb, true, true, true);
                run_gather(&d, nt, &gat, withb);
                for (int q = 0; q < 4; q++) {
                    const double e = worst_of(&fft, &ref, q), eg = worst_of(&fft, &gat, q);
                    cr_assert_lt(e, AGREE_TOL, "%s t=%lld bias %d threads %d: %s differs from "
                                 "the reference by %g", c->spec, (long long)c->t, withb, nt,
                                 names[q], e);
                    cr_assert_lt(eg, AGREE_TOL, "%s t=%lld bias %d threads %d: %s differs from "
                                 "the gather path by %g", c->spec, (long long)c->t, withb, nt,
                                 names[q], eg);
                }
                /* one gradient at a time */
                for (int only = 0; only < 3; only++) {
                    outs_free(&fft);
                    outs_new(&fft);
                    run_fft(&d, &s, nt, &fft, withb, only == 0, only == 1, only == 2);
                    const double e = worst_of(&fft, &ref, only + 1);
                    cr_assert_lt(e, AGREE_TOL, "%s: %s alone differs by %g", c->spec,
                                 names[only + 1], e);
                    bufs untouched = bufs_new(&d, ci);
                    outs_new(&untouched);
                    for (int q = 1; q < 4; q++)
                        if (q != only + 1)
                            cr_assert_eq(worst_of(&fft, &untouched, q), 0.0,
                                         "%s: %s changed when not requested", c->spec, names[q]);
                    bufs_free(&untouched);
                }
                bufs_free(&ref);
                bufs_free(&fft);
                bufs_free(&gat);
            }
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

Test(kernels, fft_results_do_not_depend_on_threads) {
    /* large enough for several chunks and kernel blocks of every kind */
    const fft_case c = {"C12xC10", 2, 5, 19, 13, 2, {12, 10}};
    gm_group *g = ts_group(c.spec);
    gm_gmat_plan *p = conv_plan(g, c.t);
    const gm__gmconv_dims d = {
        .tab = gm__gm_table_of(p), .batch = c.batch, .cin = c.cin, .cout = c.cout,
        .form = GM_CONV_FULL};
    gm__torus s;
    cr_assert(gm__torus_detect(&d.tab, &s));
    bufs r[3];
    const int nts[3] = {1, 2, 3};
    /* as the op runs them: BLAS on the same thread count (a kernel given
     * one thread with BLAS free to use more lets BLAS split its GEMMs,
     * which rounds differently; the op gives a kernel one thread only when
     * gm_set_threads(1) holds, inside a parallel region, or for work far
     * below BLAS's own threading threshold) */
    const int prev = omp_get_max_threads();
    for (int q = 0; q < 3; q++) {
        gm_set_threads(nts[q]);
        r[q] = bufs_new(&d, 5);
        outs_new(&r[q]);
        run_fft(&d, &s, nts[q], &r[q], true, true, true, true);
    }
    gm_set_threads(prev);
    for (int q = 1; q < 3; q++) {
        cr_assert(!memcmp(r[0].y, r[q].y, (size_t)r[0].ny * sizeof(gm_real)), "y, %d threads",
                  nts[q]);
        cr_assert(!memcmp(r[0].dx, r[q].dx, (size_t)r[0].nx * sizeof(gm_real)), "dx");
        cr_assert(!memcmp(r[0].dw, r[q].dw, (size_t)r[0].nw * sizeof(gm_real)), "dw");
        cr_assert(!memcmp(r[0].db, r[q].db, (size_t)r[0].no * sizeof(gm_real)), "db");
    }
    for (int q = 0; q < 3; q++) bufs_free(&r[q]);
    gm_gmat_plan_free(p);
    gm_group_free(g);
}

/* --- characters of the shifts ---------------------------------------------- */

Test(characters, match_a_direct_evaluation_with_the_c2r_weights) {
    const gm__torus tori[] = {{1, {7}},       {1, {8}},       {1, {1}},       {1, {2}},
                              {2, {5, 6}},    {2, {6, 5}},    {2, {28, 28}},  {2, {64, 64}},
                              {3, {3, 4, 5}}, {3, {2, 3, 7}}, {2, {4, 1}},    {2, {9, 2}}};
    for (size_t ti = 0; ti < sizeof tori / sizeof tori[0]; ti++) {
        const gm__torus *s = &tori[ti];
        int64_t n = 1;
        for (int a = 0; a < s->rank; a++) n *= s->n[a];
        const int64_t last = s->n[s->rank - 1], hl = last / 2 + 1, nc = n / last * hl;
        /* every element once, then some again (a support may repeat a shift) */
        const int64_t kk = n + 3;
        int32_t *h = gm_malloc((size_t)kk * sizeof *h);
        cr_assert_not_null(h);
        for (int64_t k = 0; k < kk; k++) h[k] = (int32_t)((k * 5 + 1) % n);
        double *trig = gm_malloc((size_t)(2 * n) * sizeof *trig);
        gm_real *e = ts_real_buf(2 * nc * kk), *ew = ts_real_buf(2 * nc * kk),
                *e2 = ts_real_buf(2 * nc * kk);
        cr_assert_not_null(trig);
        gm__fft_characters(s, h, kk, trig, e, ew);
        gm__fft_characters(s, h, kk, trig, e2, NULL);
        cr_assert(!memcmp(e, e2, (size_t)(2 * nc * kk) * sizeof *e));
        double worst = 0.0;
        int self_conj = 0;
        for (int64_t f = 0; f < nc; f++) {
            int64_t xi[3] = {0, 0, 0}, rest = f;
            xi[s->rank - 1] = rest % hl;
            rest /= hl;
            for (int a = s->rank - 2; a >= 0; a--) {
                xi[a] = rest % s->n[a];
                rest /= s->n[a];
            }
            const int64_t xl = xi[s->rank - 1];
            const bool sc = xl == 0 || (last % 2 == 0 && 2 * xl == last);
            self_conj += sc;
            const double wt = sc ? 1.0 : 2.0;
            for (int64_t k = 0; k < kk; k++) {
                int64_t hc[3] = {0, 0, 0}, hr = h[k];
                for (int a = s->rank - 1; a >= 0; a--) {
                    hc[a] = hr % s->n[a];
                    hr /= s->n[a];
                }
                double ph = 0.0;
                for (int a = 0; a < s->rank; a++)
                    ph += (double)hc[a] * (double)xi[a] / (double)s->n[a];
                const double re = cos(-TWO_PI * ph), im = sin(-TWO_PI * ph);
                const double d1 = fabs(e[2 * f * kk + k] - re);
                const double d2 = fabs(e[(2 * f + 1) * kk + k] - im);
                const double d3 = fabs(ew[2 * f * kk + k] - wt * re);
                const double d4 = fabs(ew[(2 * f + 1) * kk + k] - wt * im);
                const double m = fmax(fmax(d1, d2), fmax(d3, d4));
                if (m > worst) worst = m;
            }
        }
        /* the self-conjugate frequencies: last index 0, and n/2 for even n */
        cr_assert_eq(self_conj, (int)(n / last * (last % 2 == 0 && last > 1 ? 2 : 1)),
                     "torus %zu: %d self-conjugate frequencies", ti, self_conj);
        /* rounded once from double */
        cr_assert_lt(worst, 2e-7, "torus %zu: characters off by %g", ti, worst);
        gm_free(h);
        gm_free(trig);
        gm_free(e);
        gm_free(ew);
        gm_free(e2);
    }
}

/* dW through the character readout against the reference: odd and even
 * sides, few and many shifts (K above |G| with repeats), several blocks of
 * rows and frequencies, 1 and 2 threads. */
Test(kernels, dw_readout_matches_reference_on_odd_and_even_sides) {
    const struct {
        const char *spec;
        int64_t t, batch, cin, cout;
    } dc[] = {{"C9xC7", 1, 2, 11, 9},  {"C9xC7", 3, 1, 5, 4},  {"C10xC8", 1, 3, 9, 8},
              {"C10xC8", 3, 2, 4, 5},  {"C8xC9", 2, 2, 7, 6},  {"C15", 4, 3, 6, 7},
              {"C3xC3", 3, 2, 3, 3},   {"C31", 1, 4, 40, 3},   {"C2xC3xC4", 2, 2, 3, 4}};
    for (size_t ci = 0; ci < sizeof dc / sizeof dc[0]; ci++) {
        gm_group *g = ts_group(dc[ci].spec);
        gm_gmat_plan *p = conv_plan(g, dc[ci].t);
        const gm__gmconv_dims d = {.tab = gm__gm_table_of(p),
                                   .batch = dc[ci].batch,
                                   .cin = dc[ci].cin,
                                   .cout = dc[ci].cout,
                                   .form = GM_CONV_FULL};
        gm__torus s;
        cr_assert(gm__torus_detect(&d.tab, &s), "%s", dc[ci].spec);
        for (int nt = 1; nt <= 2; nt++) {
            bufs ref = bufs_new(&d, 40 + ci), fft = bufs_new(&d, 40 + ci);
            outs_new(&ref);
            outs_new(&fft);
            gm__gmconv_backward_ref(&d, ref.x, ref.w, ref.dy, NULL, ref.dw, NULL);
            void *sc = gm_malloc(gm__gmconv_fft_scratch_bytes(&d, &s, nt, true));
            cr_assert_not_null(sc);
            OK(gm__gmconv_fft_backward(&d, &s, nt, sc, fft.x, fft.w, fft.dy, NULL, fft.dw, NULL));
            gm_free(sc);
            const double e = ts_rel_diff(ref.nw, fft.dw, ref.dw);
            cr_assert_lt(e, AGREE_TOL, "%s t=%lld (K = %lld) threads %d: dw off by %g",
                         dc[ci].spec, (long long)dc[ci].t, (long long)d.tab.rows, nt, e);
            bufs_free(&ref);
            bufs_free(&fft);
        }
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}

/* --- through the op and the tape ------------------------------------------ */

typedef struct op_result {
    gm_real *y, *dx, *dw, *db;
    int64_t ny, nx, nw, no;
} op_result;

static op_result op_run(const gm_gmat_plan *p, int64_t batch, int64_t cin, int64_t cout,
                        uint64_t seed) {
    gm_arena *arena = NULL;
    gm_ctx *ctx = NULL;
    OK(gm_arena_new(0, &arena));
    OK(gm_ctx_new(0, 1, &ctx));
    const int64_t n = gm_gmat_plan_order(p), kk = gm_gmat_plan_support_size(p);
    gm_tensor *x = NULL, *w = NULL, *bias = NULL, *r = NULL;
    OK(gm_tensor_new3(arena, batch, cin, n, &x));
    OK(gm_tensor_new3(arena, cout, cin, kk, &w));
    OK(gm_tensor_new(arena, 1, (int64_t[]){cout}, &bias));
    OK(gm_tensor_new3(arena, batch, cout, n, &r));
    gm_rng rng;
    gm_rng_seed(&rng, 23, seed);
    ts_fill_real(&rng, x->numel, x->data);
    ts_fill_real(&rng, w->numel, w->data);
    ts_fill_real(&rng, bias->numel, bias->data);
    ts_fill_real(&rng, r->numel, r->data);
    x->requires_grad = w->requires_grad = bias->requires_grad = true;
    gm_tensor *y = NULL;
    OK(gm_op_gmconv(ctx, p, x, w, bias, GM_CONV_FULL, &y));
    OK(gc_backward_weighted(ctx, y, r->data));
    op_result o = {.ny = y->numel, .nx = x->numel, .nw = w->numel, .no = cout};
    o.y = ts_real_buf(o.ny);
    o.dx = ts_real_buf(o.nx);
    o.dw = ts_real_buf(o.nw);
    o.db = ts_real_buf(o.no);
    memcpy(o.y, y->data, (size_t)o.ny * sizeof *o.y);
    memcpy(o.dx, x->grad, (size_t)o.nx * sizeof *o.dx);
    memcpy(o.dw, w->grad, (size_t)o.nw * sizeof *o.dw);
    memcpy(o.db, bias->grad, (size_t)o.no * sizeof *o.db);
    gm_ctx_free(ctx);
    gm_arena_free(arena);
    return o;
}

static void op_result_free(op_result *o) {
    gm_free(o->y);
    gm_free(o->dx);
    gm_free(o->dw);
    gm_free(o->db);
}

static double op_diff(const op_result *a, const op_result *b, int q) {
    switch (q) {
    case 0: return ts_rel_diff(a->ny, a->y, b->y);
    case 1: return ts_rel_diff(a->nx, a->dx, b->dx);
    case 2: return ts_rel_diff(a->nw, a->dw, b->dw);
    default: return ts_rel_diff(a->no, a->db, b->db);
    }
}

Test(ops, fft_through_the_tape_matches_gather_and_is_thread_independent) {
    const struct {
        const char *spec;
        int64_t t, batch, cin, cout;
    } oc[] = {{"C16xC16", 2, 4, 12, 10}, {"C20", 3, 3, 6, 5}, {"C9xC12", 1, 2, 8, 3}};
    for (size_t i = 0; i < sizeof oc / sizeof oc[0]; i++) {
        gm_group *g = ts_group(oc[i].spec);
        gm_gmat_plan *p = conv_plan(g, oc[i].t);
        gm__gmconv_set_fft_mode(GM__FFT_NEVER);
        gm_set_threads(2);
        op_result gat = op_run(p, oc[i].batch, oc[i].cin, oc[i].cout, i);
        gm__gmconv_set_fft_mode(GM__FFT_ALWAYS);
        op_result f2 = op_run(p, oc[i].batch, oc[i].cin, oc[i].cout, i);
        gm_set_threads(1);
        op_result f1 = op_run(p, oc[i].batch, oc[i].cin, oc[i].cout, i);
        gm_set_threads(2);
        for (int q = 0; q < 4; q++) {
            const double e = op_diff(&f2, &gat, q);
            cr_assert_lt(e, AGREE_TOL, "%s: %s differs from the gather path by %g", oc[i].spec,
                         names[q], e);
            cr_assert_eq(op_diff(&f1, &f2, q), 0.0, "%s: %s differs between 1 and 2 threads",
                         oc[i].spec, names[q]);
        }
        /* the paths differ in rounding only: some value is not bit-identical
         * (so the FFT path did run) */
        cr_assert_gt(op_diff(&f2, &gat, 0), 0.0, "%s: the FFT path did not run", oc[i].spec);
        op_result_free(&gat);
        op_result_free(&f1);
        op_result_free(&f2);
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
}

Test(ops, always_falls_back_where_the_plan_does_not_qualify) {
    gm_group *g = ts_group("D5xD3");
    gm_gmat_plan *p = conv_plan(g, 1);
    gm__gmconv_set_fft_mode(GM__FFT_NEVER);
    op_result a = op_run(p, 2, 3, 4, 9);
    gm__gmconv_set_fft_mode(GM__FFT_ALWAYS);
    op_result b = op_run(p, 2, 3, 4, 9);
    for (int q = 0; q < 4; q++) cr_assert_eq(op_diff(&a, &b, q), 0.0, "%s", names[q]);
    op_result_free(&a);
    op_result_free(&b);
    gm_gmat_plan_free(p);
    gm_group_free(g);
    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
}

Test(choice, auto_picks_fft_at_the_reference_shape) {
    gm_group *g = ts_group("C28xC28");
    gm_gmat_plan *p = conv_plan(g, 3);
    gm__gmconv_dims d = {
        .tab = gm__gm_table_of(p), .batch = 1, .cin = 120, .cout = 120, .form = GM_CONV_FULL};
    gm__torus s;
    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
    /* from batch 4 on the FFT path is faster */
    for (int64_t b = 4; b <= 64; b *= 2) {
        d.batch = b;
        cr_assert(gm__gmconv_fft_choose(&d, &s), "batch %lld", (long long)b);
        cr_assert_eq(s.rank, 2);
        cr_assert_eq(s.n[0], 28);
        cr_assert_eq(s.n[1], 28);
    }
    /* the shared form stays on the gather path; NEVER keeps it everywhere */
    d.form = GM_CONV_SHARED;
    cr_assert(!gm__gmconv_fft_choose(&d, &s));
    d.form = GM_CONV_FULL;
    gm__gmconv_set_fft_mode(GM__FFT_NEVER);
    cr_assert(!gm__gmconv_fft_choose(&d, &s));
    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
    /* at batch 1 the kernel spectrum (as many flops as the gather path, and
     * Nc O I values stored and loaded) costs more: gather path */
    d.batch = 1;
    cr_assert(!gm__gmconv_fft_choose(&d, &s));
    /* a tiny layer stays on the gather path */
    d.batch = 1;
    d.cin = d.cout = 1;
    cr_assert(!gm__gmconv_fft_choose(&d, &s));
    gm_gmat_plan_free(p);
    gm_group_free(g);
}

Test(choice, auto_crossovers_on_64x64_and_few_input_channels) {
    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
    gm__torus s;
    {
        /* C64xC64, K = 9: gather path at batch 1, FFT from 16 on; the same
         * for 16 -> 16 channels */
        gm_group *g = ts_group("C64xC64");
        gm_gmat_plan *p = conv_plan(g, 1);
        gm__gmconv_dims d = {
            .tab = gm__gm_table_of(p), .batch = 1, .cin = 120, .cout = 120, .form = GM_CONV_FULL};
        cr_assert_eq(d.tab.rows, 9);
        for (int c = 0; c < 2; c++) {
            d.cin = d.cout = c ? 16 : 120;
            d.batch = 1;
            cr_assert(!gm__gmconv_fft_choose(&d, &s), "%lld channels, batch 1",
                      (long long)d.cin);
            for (int64_t b = 16; b <= 64; b *= 4) {
                d.batch = b;
                cr_assert(gm__gmconv_fft_choose(&d, &s), "%lld channels, batch %lld",
                          (long long)d.cin, (long long)b);
            }
        }
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
    {
        /* C32xC32 t3, 3 -> 120 at batch 16: FFT (the few kernel planes and
         * input transforms are cheap) */
        gm_group *g = ts_group("C32xC32");
        gm_gmat_plan *p = conv_plan(g, 3);
        const gm__gmconv_dims d = {
            .tab = gm__gm_table_of(p), .batch = 16, .cin = 3, .cout = 120, .form = GM_CONV_FULL};
        cr_assert(gm__gmconv_fft_choose(&d, &s));
        gm_gmat_plan_free(p);
        gm_group_free(g);
    }
}
