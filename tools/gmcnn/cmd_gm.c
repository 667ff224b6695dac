/* gmcnn gm: displacement rank of a user's matrix, and a demonstration of
 * group matrices, displacement rank and equivariance. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char gm_usage[] =
    "usage: gmcnn gm rank FILE --group SPEC [--tol X] [--sigma N]\n"
    "       gmcnn gm demo [--group SPEC] [--radius T] [--rank R] [--seed S]\n"
    "\n"
    "rank: reads an n x n matrix M (NumPy .npy, or text: one row per line,\n"
    "      numbers separated by spaces or commas, '#' comments) and prints its\n"
    "      displacement rank DR(M) = rank(F(M) - F(M) P) w.r.t. the group of order n,\n"
    "      whether M is a group matrix (G-equivariant), and its commutator with the\n"
    "      left translations by the generators.\n"
    "  --group SPEC   the group (required), e.g. C8, D4xD4, p4:4\n"
    "  --tol X        singular values of the displacement above X count (default:\n"
    "                 n * eps * max(sigma_max(D), ||M||_F), eps the machine epsilon\n"
    "                 of the file's values: 2^-23 for a float32 .npy, else 2^-52)\n"
    "  --sigma N      also print the N largest singular values of the displacement\n"
    "\n"
    "demo: builds a random group convolution on the radius-T support (default\n"
    "      group D14xD14, T = 1), checks the structured product against the dense\n"
    "      matrix, M(a)M(b) = M(a*b), then adds a rank-R displacement (default R = 2)\n"
    "      and shows the displacement rank and the equivariance defect it brings.\n"
    "  --seed S       random seed (default 42)\n";

#define GM_DEMO_MAX_ORDER 2048

typedef struct dense_buffers {
    double *m, *f, *d;
} dense_buffers;

static void dense_free(dense_buffers *b) {
    free(b->m);
    free(b->f);
    free(b->d);
}

/* Largest commutator norm ||M L_s - L_s M||_F / ||M||_F over the generators s. */
static gm_status max_commutator(const gm_group *g, const double *m, double *out) {
    *out = 0.0;
    for (int64_t i = 0; i < gm_group_ngens(g); i++) {
        double c;
        gm_status st = gm_gmat_commutator_norm(g, m, gm_group_gens(g)[i], &c);
        if (st != GM_OK) return st;
        if (c > *out) *out = c;
    }
    return GM_OK;
}

static int gm_rank(int argc, char **argv) {
    const char *path = NULL, *spec = NULL;
    double tol = -1.0;
    int64_t nsigma = 0;
    cli_opt opts[] = {
        {CLI_STRING("--group", &spec, "a group spec")},
        {CLI_REAL("--tol", &tol, 0.0, INFINITY)},
        {CLI_INT("--sigma", &nsigma, 0, INT32_MAX)},
    };
    const cli_pos pos[] = {{.name = "matrix FILE", .dst = &path, .required = true}};
    cli_args args = {.context = "gm rank", .opts = opts, .nopts = CLI_COUNT(opts),
                     .pos = pos, .npos = CLI_COUNT(pos)};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, gm_usage);
    if (!spec) return cli_usage_error("gm rank", "missing --group SPEC");
    if ((rc = cli_compute_prepare("gm rank", 0)) != CLI_OK) return rc;

    gm_group *g = NULL;
    gm_status st = gm_group_from_spec(spec, &g);
    if (st != GM_OK) return cli_status_error("gm rank --group", st);
    int64_t rows = 0, cols = 0, n = gm_group_order(g);
    dense_buffers b = {0};
    gm_dtype dtype = GM_DTYPE_F64;
    st = gm_matrix_read_dtype(path, &rows, &cols, &b.m, &dtype);
    if (st != GM_OK) {
        rc = cli_status_error("gm rank", st);
    } else if (rows != n || cols != n) {
        fprintf(stderr, "gmcnn: gm rank: matrix '%s' is %lld x %lld, but %s has order %lld\n", path,
                (long long)rows, (long long)cols, gm_group_name(g), (long long)n);
        rc = CLI_FAIL;
    }
    int64_t dr = 0;
    double tol_used = 0.0, comm = 0.0;
    if (rc == CLI_OK) {
        /* float32 values carry float32 rounding, which is no displacement. */
        const double eps = dtype == GM_DTYPE_F32 ? FLT_EPSILON : DBL_EPSILON;
        st = gm_gmat_displacement_rank_eps(g, b.m, tol, eps, &dr, &tol_used);
        if (st == GM_OK) st = max_commutator(g, b.m, &comm);
        if (st != GM_OK) rc = cli_status_error("gm rank", st);
    }
    if (rc == CLI_OK) {
        printf("matrix              %s (%lld x %lld)\n", path, (long long)n, (long long)n);
        printf("group               %s (order %lld)\n", gm_group_name(g), (long long)n);
        const char *which = dtype == GM_DTYPE_F32 ? ", default for float32" : ", default";
        printf("displacement rank   %lld (tolerance %.3g%s)\n", (long long)dr, tol_used,
               tol < 0 ? which : "");
        printf("group matrix        %s\n", dr == 0 ? "yes (G-equivariant)" : "no");
        printf("commutator          %.3e (max over generators s of ||M L_s - L_s M||_F / ||M||_F)\n",
               comm);
    }
    if (rc == CLI_OK && nsigma > 0) {
        const size_t nn = (size_t)n * (size_t)n;
        b.f = malloc(nn * sizeof *b.f);
        b.d = malloc(nn * sizeof *b.d);
        double *sigma = malloc((size_t)n * sizeof *sigma);
        int64_t r;
        if (!b.f || !b.d || !sigma) {
            fprintf(stderr, "gmcnn: gm rank: out of memory\n");
            rc = CLI_FAIL;
        } else {
            gm_gmat_diagonals(g, b.m, b.f);
            gm_gmat_displacement(n, b.f, b.d);
            st = gm_gmat_rank(n, n, b.d, tol_used, &r, sigma, NULL);
            if (st != GM_OK) {
                rc = cli_status_error("gm rank --sigma", st);
            } else {
                printf("sigma(D)           ");
                for (int64_t i = 0; i < nsigma && i < n; i++) printf(" %.6g", sigma[i]);
                printf("\n");
            }
        }
        free(sigma);
    }
    dense_free(&b);
    gm_group_free(g);
    return rc;
}

/* The support of the demo: the reference radius-t neighbourhood where the
 * group has one, otherwise the word-metric ball of radius t. */
static gm_status demo_support(const gm_group *g, int64_t t, gm_nbhd **s) {
    gm_status st = gm_nbhd_reference_new(g, t, s);
    if (st == GM_ERR_UNSUPPORTED)
        st = gm_nbhd_ball_new(g, gm_group_ngens(g), gm_group_gens(g), t, s);
    return st;
}

static double rel_diff(int64_t n, const double *a, const double *b) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void fill_uniform(gm_rng *rng, int64_t n, double *x) {
    for (int64_t i = 0; i < n; i++) x[i] = 2.0 * gm_rng_uniform(rng) - 1.0;
}

/* Dense y = M x. */
static void dense_matvec(int64_t n, const double *m, const double *x, double *y) {
    for (int64_t i = 0; i < n; i++) {
        double acc = 0.0;
        for (int64_t j = 0; j < n; j++) acc += m[i * n + j] * x[j];
        y[i] = acc;
    }
}

/* Largest equivariance defect E_s(M, x) over the generators s. */
static gm_status max_defect(const gm_group *g, const double *m, const double *x, double *out) {
    *out = 0.0;
    for (int64_t i = 0; i < gm_group_ngens(g); i++) {
        double e;
        gm_status st = gm_gmat_equivariance_defect(g, m, gm_group_gens(g)[i], x, &e);
        if (st != GM_OK) return st;
        if (e > *out) *out = e;
    }
    return GM_OK;
}

static gm_status demo_run(const gm_group *g, int64_t t, int64_t r, uint64_t seed) {
    const int64_t n = gm_group_order(g);
    gm_nbhd *s = NULL;
    gm_gmat_plan *plan = NULL;
    gm_status st = demo_support(g, t, &s);
    if (st == GM_OK) st = gm_gmat_plan_new(g, s, &plan);
    if (st != GM_OK) {
        gm_nbhd_free(s);
        return st;
    }
    const int64_t k = gm_nbhd_size(s);
    const size_t nn = (size_t)n * (size_t)n;
    double *w = malloc((size_t)k * sizeof *w), *f = malloc((size_t)n * sizeof *f);
    double *f2 = malloc((size_t)n * sizeof *f2), *fc = malloc((size_t)n * sizeof *fc);
    double *x = malloc((size_t)n * sizeof *x), *y1 = malloc((size_t)n * sizeof *y1);
    double *y2 = malloc((size_t)n * sizeof *y2);
    double *m = malloc(nn * sizeof *m), *m2 = malloc(nn * sizeof *m2);
    double *mp = malloc(nn * sizeof *mp), *diag = malloc(nn * sizeof *diag);
    if (!w || !f || !f2 || !fc || !x || !y1 || !y2 || !m || !m2 || !mp || !diag) {
        st = gm_error_set(GM_ERR_NOMEM, "out of memory for the dense %lld x %lld matrices",
                          (long long)n, (long long)n);
        goto done;
    }
    gm_rng rng;
    gm_rng_seed(&rng, seed, 0);
    fill_uniform(&rng, k, w);
    fill_uniform(&rng, n, x);
    gm_gmat_plan_kernel_function(plan, g, w, f);
    gm_gmat_dense(g, f, m);

    printf("group              %s, order %lld, %lld generators\n", gm_group_name(g), (long long)n,
           (long long)gm_group_ngens(g));
    printf("support            radius %lld, %lld elements; dense matrix %lld x %lld\n",
           (long long)t, (long long)k, (long long)n, (long long)n);

    gm_gmat_plan_matvec(plan, w, x, y1);
    dense_matvec(n, m, x, y2);
    printf("structured product   gather vs dense: relative difference %.2e\n", rel_diff(n, y1, y2));

    /* M(a) M(b) = M(a*b), checked through their action on x. */
    fill_uniform(&rng, n, f2);
    gm_gmat_convolve(g, f, f2, fc);
    gm_gmat_dense(g, f2, m2);
    dense_matvec(n, m2, x, y1);
    dense_matvec(n, m, y1, y2);
    gm_gmat_dense(g, fc, mp);
    dense_matvec(n, mp, x, y1);
    printf("algebra              M(a)M(b)x vs M(a*b)x: relative difference %.2e\n",
           rel_diff(n, y2, y1));

    int64_t dr;
    double tol, defect, comm;
    if ((st = gm_gmat_displacement_rank(g, m, -1.0, &dr, &tol)) != GM_OK) goto done;
    if ((st = max_defect(g, m, x, &defect)) != GM_OK) goto done;
    if ((st = max_commutator(g, m, &comm)) != GM_OK) goto done;
    printf("group convolution    DR = %lld, equivariance defect %.2e, commutator %.2e\n",
           (long long)dr, defect, comm);

    /* A rank-r displacement: F(M) + U V^T, scaled to 10% of M's diagonals. */
    gm_gmat_diagonals(g, m, diag);
    for (int64_t rho = 0; rho < r; rho++) {
        fill_uniform(&rng, n, y1);
        fill_uniform(&rng, n, y2);
        for (int64_t a = 0; a < n; a++)
            for (int64_t h = 0; h < n; h++) diag[a * n + h] += 0.1 * y1[a] * y2[h];
    }
    gm_gmat_from_diagonals(g, diag, mp);
    if ((st = gm_gmat_displacement_rank(g, mp, -1.0, &dr, &tol)) != GM_OK) goto done;
    if ((st = max_defect(g, mp, x, &defect)) != GM_OK) goto done;
    if ((st = max_commutator(g, mp, &comm)) != GM_OK) goto done;
    printf("+ rank-%lld displacement  DR = %lld, equivariance defect %.2e, commutator %.2e\n",
           (long long)r, (long long)dr, defect, comm);
done:
    free(w);
    free(f);
    free(f2);
    free(fc);
    free(x);
    free(y1);
    free(y2);
    free(m);
    free(m2);
    free(mp);
    free(diag);
    gm_gmat_plan_free(plan);
    gm_nbhd_free(s);
    return st;
}

static int gm_demo(int argc, char **argv) {
    const char *spec = "D14xD14";
    int64_t t = 1, r = 2, seed = 42;
    cli_opt opts[] = {
        {CLI_STRING("--group", &spec, "a group spec")},
        {CLI_INT("--radius", &t, 0, 64)},
        {CLI_INT("--rank", &r, 0, 64)},
        {CLI_INT("--seed", &seed, 0, INT64_MAX)},
    };
    cli_args args = {.context = "gm demo", .opts = opts, .nopts = CLI_COUNT(opts)};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc == CLI_OK) rc = cli_compute_prepare("gm demo", 0);
    if (rc != CLI_OK) return cli_args_exit(rc, gm_usage);
    gm_group *g = NULL;
    gm_status st = gm_group_from_spec(spec, &g);
    if (st != GM_OK) return cli_status_error("gm demo --group", st);
    if (gm_group_order(g) > GM_DEMO_MAX_ORDER) {
        fprintf(stderr, "gmcnn: gm demo: %s has order %lld; the dense demo allows up to %d\n",
                gm_group_name(g), (long long)gm_group_order(g), GM_DEMO_MAX_ORDER);
        rc = CLI_FAIL;
    } else if ((st = demo_run(g, t, r, (uint64_t)seed)) != GM_OK) {
        rc = cli_status_error("gm demo", st);
    }
    gm_group_free(g);
    return rc;
}

int cmd_gm(int argc, char **argv) {
    static const cli_sub subs[] = {{"rank", gm_rank}, {"demo", gm_demo}};
    return cli_dispatch("gm", gm_usage, subs, CLI_COUNT(subs), argc, argv);
}
