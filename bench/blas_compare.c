/* BLAS backends on gmcnn's GEMM shapes: GFLOP/s of cblas_sgemm (row-major,
 * with the transposes the GMConv passes use) and cblas_sgemv, and the error
 * of each result against a float64 reference.
 *
 * One source, one program per BLAS library (never two libraries in one
 * program: their BLAS symbols clash). The CMake build makes the OpenBLAS one
 * with the other bench programs (build/blas_compare); by hand, from the
 * repository root:
 *   d=/usr/lib/x86_64-linux-gnu/openblas-openmp
 *   cc -O3 -std=c17 -Iinclude bench/blas_compare.c \
 *      -isystem /usr/include/x86_64-linux-gnu/openblas-openmp $d/libopenblas.so -Wl,-rpath,$d \
 *      -lm -o blas_compare_openblas
 *   d=/usr/lib/x86_64-linux-gnu/blis-openmp
 *   cc -O3 -std=c17 -Iinclude -DBC_BLIS bench/blas_compare.c \
 *      -isystem /usr/include/x86_64-linux-gnu/blis-openmp $d/libblis.so -Wl,-rpath,$d \
 *      -lm -o blas_compare_blis
 * (BLIS: Debian's libblis-openmp-dev). The program uses no part of gmcnn, so
 * it builds against either library alone (it takes only bench_util.h's
 * helpers, hence -Iinclude).
 *
 * Usage: blas_compare [--threads N] [--only SUBSTR] [--min-time S] [--no-check]
 *                     [--tsv FILE] [--label TEXT]
 *   --threads N  threads of the BLAS library (its own setter). Without it the
 *                environment decides: OpenBLAS's OpenMP build follows OpenMP's
 *                count (OMP_NUM_THREADS, default every core;
 *                OPENBLAS_NUM_THREADS does not change it); BLIS reads
 *                BLIS_NUM_THREADS, then OMP_NUM_THREADS (default 1).
 *   --only SUBSTR  only the cases whose name contains SUBSTR
 *   --no-check   skips the float64 reference
 *   --tsv FILE   also writes one tab-separated line per case
 *   --label TEXT the configuration's name in the TSV (default: the library
 *                and its kernel set, e.g. "openblas:Haswell", "blis:skx")
 * OpenBLAS's kernel set is chosen at start-up (OPENBLAS_CORETYPE overrides
 * it); BLIS's sub-configuration likewise (BLIS_ARCH_TYPE, a number: the
 * position in BLIS's arch_t list, 0 = skx, 3 = haswell, 6 = zen3). Both
 * are printed.
 *
 * Cases: a 2048^3 sgemm and a 120 x 12544 x 1080 one, then the GEMMs of
 * bench_kernels' GMConv shapes without the gather (as its sgemm column): per
 * shape and form, forward y = W col (NN: O x n x I*K), dW += dy col^T (NT:
 * O x I*K x n, beta 1) and dcol = W^T dy (TN: I*K x n x O), where n is the
 * group order and K the neighbourhood size of the plan (I = 1 for the shared
 * form); then sgemv y = A x and y = A^T x on a few of those matrices.
 *
 * Timing: two untimed calls (the second sets the calls per sample), then
 * timed samples until at least 5 samples and --min-time seconds (0.3), or
 * 200 samples, or 3 s; a sample is one call, or as many calls back to back
 * as make 1 ms where one call takes less (the same operands each time, as in
 * a loop over the samples of a batch). The best sample and the median are
 * reported, as GFLOP/s per call (a multiply-add counts 2).
 *
 * Check: one more call from a fresh random C, against the same product in
 * float64; the error of an element is |C - C64| / (sum_l |a_il| |b_lj| +
 * |beta c0_ij|) (relative to the size of the terms summed, so defined where
 * the result is near zero), and the case's error is the largest. A correct
 * float32 kernel stays under (k + 2) 2^-24 (the bound of recursive
 * summation); a case above twice that is marked FAIL, and the exit status
 * is then 1. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BC_BLIS
#include <blis.h>
#endif
#include <cblas.h>

#include "bench_util.h"

/* --- the cases ----------------------------------------------------------- */

typedef enum kind { SGEMM, SGEMV } kind;

typedef struct gcase {
    char name[64];
    kind kind;
    bool ta, tb; /* sgemm: op(A), op(B); sgemv: ta = A^T x */
    int m, n, k; /* sgemm: C is m x n; sgemv: A is m x n */
    float beta;
} gcase;

/* bench_kernels' GMConv shapes: K (neighbourhood size) and n (group order)
 * are those of gm_gmat_plan_support_size / gm_gmat_plan_order for
 * gm_nbhd_reference_new(group, t) (the shapes of bench_kernels --dump's
 * conv_*.npy tables). */
typedef struct gshape {
    const char *spec;
    int t, cin, cout, kk, order;
} gshape;

static const gshape SHAPES[] = {
    {"C28xC28", 3, 120, 120, 49, 784},  {"C32xC32", 3, 3, 120, 49, 1024},
    {"D14xD14", 2, 120, 120, 100, 784}, {"D14xD14", 3, 120, 120, 196, 784},
    {"C64xC64", 1, 120, 120, 9, 4096},  {"p4m:14", 1, 12, 12, 72, 1568},
    {"p4:28", 1, 10, 10, 36, 3136},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

#define MAX_CASES 96
static gcase CASES[MAX_CASES];
static int ncases;

static void add(kind kd, bool ta, bool tb, int m, int n, int k, float beta, const char *name) {
    if (ncases == MAX_CASES) {
        fprintf(stderr, "blas_compare: too many cases\n");
        exit(2);
    }
    gcase *c = &CASES[ncases++];
    *c = (gcase){.kind = kd, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .beta = beta};
    snprintf(c->name, sizeof c->name, "%s", name);
}

static void build_cases(void) {
    add(SGEMM, false, false, 2048, 2048, 2048, 0, "sgemm 2048^3");
    add(SGEMM, false, false, 120, 12544, 1080, 0, "sgemm 120x12544x1080");
    char name[64];
    for (int form = 0; form < 2; form++)
        for (int s = 0; s < NSHAPES; s++) {
            const gshape *g = &SHAPES[s];
            const int o = g->cout, n = g->order, kd = form == 0 ? g->cin * g->kk : g->kk;
            static const char *const PASS[3] = {"fwd", "dW", "dx"};
            for (int p = 0; p < 3; p++) {
                snprintf(name, sizeof name, "%s %s t%d %s", form == 0 ? "full" : "shared",
                         g->spec, g->t, PASS[p]);
                if (p == 0) add(SGEMM, false, false, o, n, kd, 0, name);
                if (p == 1) add(SGEMM, false, true, o, kd, n, 1, name);
                if (p == 2) add(SGEMM, true, false, kd, n, o, 0, name);
            }
        }
    /* sgemv on the matrices above: the square one, col of C64xC64 and of
     * p4m:14 (I*K x n), the full weights of D14xD14 t3 (O x I*K), and col of
     * D14xD14 t3 (74 MB, beyond the caches) */
    static const struct {
        const char *what;
        int m, n;
    } MV[] = {{"2048x2048", 2048, 2048},
              {"col C64xC64 t1", 1080, 4096},
              {"col p4m:14 t1", 864, 1568},
              {"W full D14xD14 t3", 120, 23520},
              {"col D14xD14 t3", 23520, 784}};
    for (int i = 0; i < (int)(sizeof MV / sizeof MV[0]); i++)
        for (int tr = 0; tr < 2; tr++) {
            snprintf(name, sizeof name, "sgemv%s %s", tr ? "T" : "N", MV[i].what);
            add(SGEMV, tr, false, MV[i].m, MV[i].n, 0, 0, name);
        }
}

/* --- helpers ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64, uniform in [-0.5, 0.5) */
static float rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (float)((double)(z >> 40) * 0x1p-24 - 0.5);
}

static float *alloc_rand(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "blas_compare: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = rnd();
    return p;
}

/* --- the library ------------------------------------------------------------- */

static void lib_init(int threads, char *label, size_t size) {
#ifdef BC_BLIS
    bli_init(); /* before the arch query: BLIS_ARCH_TYPE is checked against the registered ones */
    if (threads > 0) bli_thread_set_num_threads(threads);
    const arch_t id = bli_arch_query_id();
    const long nt = (long)bli_thread_get_num_threads();
    printf("blas: BLIS %s, sub-configuration %s, %ld threads%s\n", bli_info_get_version_str(),
           bli_arch_string(id), nt < 1 ? 1 : nt, nt < 1 ? " (none set)" : "");
    snprintf(label, size, "blis:%s", bli_arch_string(id));
#else
    if (threads > 0) openblas_set_num_threads(threads);
    printf("blas: OpenBLAS %s, core %s, %d threads\n", openblas_get_config(),
           openblas_get_corename(), openblas_get_num_threads());
    snprintf(label, size, "openblas:%s", openblas_get_corename());
#endif


}

/* --- one case ----------------------------------------------------------------- */

typedef struct operands {
    float *a, *b, *c;
    int lda, ldb, ldc;
} operands;

static void operands_new(const gcase *c, operands *o) {
    if (c->kind == SGEMV) {
        o->a = alloc_rand((size_t)c->m * (size_t)c->n);
        o->b = alloc_rand((size_t)(c->ta ? c->m : c->n));
        o->c = alloc_rand((size_t)(c->ta ? c->n : c->m));
        o->lda = c->n;
        return;
    }
    /* row-major: op(A) is m x k, op(B) k x n */
    o->a = alloc_rand((size_t)c->m * (size_t)c->k);
    o->b = alloc_rand((size_t)c->k * (size_t)c->n);
    o->c = alloc_rand((size_t)c->m * (size_t)c->n);
    o->lda = c->ta ? c->m : c->k;
    o->ldb = c->tb ? c->k : c->n;
    o->ldc = c->n;
}

static void operands_free(operands *o) {
    free(o->a);
    free(o->b);
    free(o->c);
}

static void call(const gcase *c, const operands *o) {
    if (c->kind == SGEMV)
        cblas_sgemv(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->m, c->n, 1.0f, o->a,
                    o->lda, o->b, 1, c->beta, o->c, 1);
    else
        cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans,
                    c->tb ? CblasTrans : CblasNoTrans, c->m, c->n, c->k, 1.0f, o->a, o->lda, o->b,
                    o->ldb, c->beta, o->c, o->ldc);
}

static double flops(const gcase *c) {
    return c->kind == SGEMV ? 2.0 * c->m * (double)c->n : 2.0 * c->m * (double)c->n * c->k;
}

/* The largest elementwise error of o's product from C0 (see the top). */
static double check(const gcase *c, const operands *o) {
    const int m = c->kind == SGEMV ? (c->ta ? c->n : c->m) : c->m;
    const int n = c->kind == SGEMV ? 1 : c->n;
    const int k = c->kind == SGEMV ? (c->ta ? c->m : c->n) : c->k;
    const size_t cn = (size_t)m * (size_t)n;
    float *c0 = alloc_rand(cn);
    memcpy(o->c, c0, cn * sizeof *c0);
    call(c, o);
    /* op(A)[i][l] and op(B)[l][j], op(B) laid out k x n */
    float *bt = malloc((size_t)k * (size_t)n * sizeof *bt);
    double *acc = malloc((size_t)n * sizeof *acc), *mag = malloc((size_t)n * sizeof *mag);
    if (!bt || !acc || !mag) {
        fprintf(stderr, "blas_compare: out of memory for the check\n");
        exit(1);
    }
    if (c->kind == SGEMV)
        memcpy(bt, o->b, (size_t)k * sizeof *bt);
    else
        for (int l = 0; l < k; l++)
            for (int j = 0; j < n; j++)
                bt[(size_t)l * n + j] =
                    c->tb ? o->b[(size_t)j * o->ldb + l] : o->b[(size_t)l * o->ldb + j];
    /* sgemv: A is m x n; y = A x has m = rows, A^T x has m = cols */
    const bool at = c->ta;
    const size_t lda = (size_t)o->lda;
    double worst = 0;
    bool nan_seen = false;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            acc[j] = (double)c->beta * c0[(size_t)i * n + j];
            mag[j] = fabs(acc[j]);
        }
        for (int l = 0; l < k; l++) {
            const double a = at ? o->a[(size_t)l * lda + i] : o->a[(size_t)i * lda + l];
            const double aa = fabs(a);
            const float *brow = bt + (size_t)l * n;
            for (int j = 0; j < n; j++) {
                acc[j] += a * brow[j];
                mag[j] += aa * fabs((double)brow[j]);
            }
        }
        for (int j = 0; j < n; j++) {
            const double got = o->c[(size_t)i * n + j];
            const double e = mag[j] > 0 ? fabs(got - acc[j]) / mag[j] : fabs(got - acc[j]);
            if (isnan(e))
                nan_seen = true;
            else if (e > worst)
                worst = e;
        }
    }
    free(c0);
    free(bt);
    free(acc);
    free(mag);
    return nan_seen ? NAN : worst;
}

typedef struct result {
    double best, median; /* seconds */
    int samples;
    double err;
} result;

#define MAX_REPS 200

static result run_case(const gcase *c, double min_time, bool do_check) {
    operands o = {0};
    operands_new(c, &o);
    double t[MAX_REPS], spent = 0;
    int reps = 0;
    /* warm-up, and the calls per sample: a sample lasts at least 1 ms */
    call(c, &o);
    double t0 = bu_now();
    call(c, &o);
    const double t1 = bu_now() - t0;
    const int inner = t1 >= 1e-3 ? 1 : t1 <= 1e-7 ? 10000 : (int)ceil(1e-3 / t1);
    while (reps < MAX_REPS && (reps < 5 || spent < min_time) && !(reps >= 1 && spent >= 3.0)) {
        t0 = bu_now();
        for (int i = 0; i < inner; i++) call(c, &o);
        const double dt = bu_now() - t0;
        t[reps++] = dt / inner;
        spent += dt;
    }
    qsort(t, (size_t)reps, sizeof t[0], bu_cmp_double);
    result r = {.best = t[0],
                .median = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]),
                .samples = reps,
                .err = do_check ? check(c, &o) : NAN};
    operands_free(&o);
    return r;
}

/* --- main ----------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr, "usage: blas_compare [--threads N] [--only SUBSTR] [--min-time S] "
                    "[--no-check] [--tsv FILE] [--label TEXT]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int threads = 0;
    const char *only = NULL, *tsv = NULL, *label_arg = NULL;
    double min_time = 0.3;
    bool do_check = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has = i + 1 < argc;
        if (!strcmp(a, "--threads") && has)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--only") && has)
            only = argv[++i];
        else if (!strcmp(a, "--min-time") && has)
            min_time = atof(argv[++i]);
        else if (!strcmp(a, "--tsv") && has)
            tsv = argv[++i];
        else if (!strcmp(a, "--label") && has)
            label_arg = argv[++i];
        else if (!strcmp(a, "--no-check"))
            do_check = false;
        else
            usage();
    }
    if (threads < 0 || !(min_time >= 0)) usage();

    char cpu[256], label[128];
    bu_cpu_model(cpu, sizeof cpu);
    printf("cpu: %s, load average %.2f\n", cpu, bu_loadavg1());
    lib_init(threads, label, sizeof label);
    if (label_arg) snprintf(label, sizeof label, "%s", label_arg);
    FILE *out = NULL;
    if (tsv && !(out = fopen(tsv, "w"))) {
        fprintf(stderr, "blas_compare: cannot write %s\n", tsv);
        return 2;
    }
    if (out)
        fprintf(out, "config\tthreads\tcase\tm\tn\tk\tbest_gflops\tmedian_gflops\tsamples"
                     "\tmax_rel_err\tok\n");
    build_cases();
    printf("\n%-34s %2s %6s %6s %6s | %8s %8s %7s | %9s\n", "case", "op", "m", "n", "k",
           "best", "median", "samples", "max err");
    int failures = 0;
    for (int i = 0; i < ncases; i++) {
        const gcase *c = &CASES[i];
        if (only && !strstr(c->name, only)) continue;
        const result r = run_case(c, min_time, do_check);
        const double f = flops(c);
        const double tol = 2.0 * ((c->kind == SGEMV ? (c->ta ? c->m : c->n) : c->k) + 2) * 0x1p-24;
        const bool ok = !do_check || r.err <= tol;
        failures += !ok;
        char op[3] = {c->ta ? 'T' : 'N', c->kind == SGEMV ? ' ' : c->tb ? 'T' : 'N', 0};
        printf("%-34s %2s %6d %6d %6d | %8.1f %8.1f %7d | %9.2e%s\n", c->name, op, c->m, c->n,
               c->kind == SGEMV ? 0 : c->k, f / r.best * 1e-9, f / r.median * 1e-9, r.samples,
               r.err, ok ? "" : " FAIL");
        fflush(stdout);
        if (out)
            fprintf(out, "%s\t%d\t%s\t%d\t%d\t%d\t%.2f\t%.2f\t%d\t%.3e\t%s\n", label, threads,
                    c->name, c->m, c->n, c->kind == SGEMV ? 0 : c->k, f / r.best * 1e-9,
                    f / r.median * 1e-9, r.samples, r.err, ok ? "ok" : "FAIL");
    }
    printf("\nGFLOP/s of the best and the median sample; max err: see the top of "
           "bench/blas_compare.c%s\n",
           failures ? "; FAIL: above twice the float32 bound" : "");
    if (out && fclose(out) != 0) {
        fprintf(stderr, "blas_compare: error writing %s\n", tsv);
        return 2;
    }
    return failures ? 1 : 0;
}
