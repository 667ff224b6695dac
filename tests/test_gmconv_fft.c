/* The FFT path of the full-form gmconv (src/ops/op_gmconv_fft.c), in float:
 * detection of translation tables on tori (C_n, C_n x C_m, C_a x C_b x C_c,
 * n = 1 and 2 included) and its rejection of everything else (dihedral
 * groups, p4, lifting plans, a table that is not a translation); forward,
 * dx, dW and db against the scalar reference and the gather path, through
 * the raw kernels and through the tape; bit-identical results for 1 and 2
 * threads; the AUTO choice at the reference shape. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops_gm.h"
#include "test_support.h"

/* float FFT round-off relative to the largest value */
#define AGREE_TOL 2e-5

static gm_real *rbuf(int64_t n) {
    gm_real *p = gm_calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static void fill(gm_rng *rng, int64_t n, gm_real *x) {
    for (int64_t i = 0; i < n; i++) x[i] = (gm_real)(2.0 * gm_rng_uniform(rng) - 1.0);
}

/* max |a - b| / max |b| */
static double rel_diff(int64_t n, const gm_real *a, const gm_real *b) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= num)) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

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
    b.x = rbuf(b.nx);
    b.w = rbuf(b.nw);
    b.bias = rbuf(b.no);
    b.dy = rbuf(b.ny);
    fill(&rng, b.nx, b.x);
    fill(&rng, b.nw, b.w);
    fill(&rng, b.no, b.bias);
    fill(&rng, b.ny, b.dy);
    return b;
}

/* outputs: y and gradients starting from nonzero values (backward accumulates) */
static void outs_new(bufs *b) {
    b->y = rbuf(b->ny);
    b->dx = rbuf(b->nx);
    b->dw = rbuf(b->nw);
    b->db = rbuf(b->no);
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
    case 0: return rel_diff(a->ny, a->y, ref->y);
    case 1: return rel_diff(a->nx, a->dx, ref->dx);
    case 2: return rel_diff(a->nw, a->dw, ref->dw);
    default: return rel_diff(a->no, a->db, ref->db);
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
    for (int q = 0; q < 3; q++) {
        r[q] = bufs_new(&d, 5);
        outs_new(&r[q]);
        run_fft(&d, &s, nts[q], &r[q], true, true, true, true);
    }
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
    fill(&rng, x->numel, x->data);
    fill(&rng, w->numel, w->data);
    fill(&rng, bias->numel, bias->data);
    fill(&rng, r->numel, r->data);
    x->requires_grad = w->requires_grad = bias->requires_grad = true;
    gm_tensor *y = NULL;
    OK(gm_op_gmconv(ctx, p, x, w, bias, GM_CONV_FULL, &y));
    OK(gc_backward_weighted(ctx, y, r->data));
    op_result o = {.ny = y->numel, .nx = x->numel, .nw = w->numel, .no = cout};
    o.y = rbuf(o.ny);
    o.dx = rbuf(o.nx);
    o.dw = rbuf(o.nw);
    o.db = rbuf(o.no);
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
    case 0: return rel_diff(a->ny, a->y, b->y);
    case 1: return rel_diff(a->nx, a->dx, b->dx);
    case 2: return rel_diff(a->nw, a->dw, b->dw);
    default: return rel_diff(a->no, a->db, b->db);
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
    for (int64_t b = 16; b <= 64; b *= 2) {
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
    /* at batch 1 the O*I kernel transforms cost about the whole gather:
     * gather path; so does a tiny layer */
    d.batch = 1;
    cr_assert(!gm__gmconv_fft_choose(&d, &s));
    /* a tiny layer stays on the gather path */
    d.batch = 1;
    d.cin = d.cout = 1;
    cr_assert(!gm__gmconv_fft_choose(&d, &s));
    gm_gmat_plan_free(p);
    gm_group_free(g);
}
