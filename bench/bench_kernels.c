/* Kernel benchmarks: forward and backward time and GFLOP/s of GMConv (full and
 * shared), LDR-GMConv (rank 1 and 4; shared form, and full form at the plume
 * shape) and GMPool at the shapes of the reference configurations, through
 * the public op API, next to the same GEMMs run through cblas_sgemm alone (no
 * gather), and the machine's two ceilings: a large sgemm and a STREAM-like
 * triad.
 *
 * Usage: bench_kernels [--json FILE] [--threads N] [--batches 1,16,64]
 *                      [--only SUBSTR] [--min-time S] [--quick] [--cpu-time]
 *                      [--no-ceilings] [--dump DIR]
 *   --cpu-time  times with the process's CPU clock (with --threads 1, close
 *               to a quiet machine's time on a busy one; for development)
 *   --dump DIR  writes the cases (DIR/cases.json) and the plans' index tables
 *               (DIR/<name>.npy, int32) for the PyTorch peer, then exits.
 *
 * Where the full form runs by FFT (cyclic groups and their products), it is
 * also timed on the gather + GEMM path (emitted as "gmcnn-gather"), the path
 * that the sgemm comparison is about.
 *
 * Backward times are those of the op's backward given dy: each run
 * backpropagates a cheap loss (mean over everything) and the backward of the
 * same loss on a plain tensor of the output's shape (forming dy) is measured
 * separately and subtracted. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>

#include "bench_util.h"
#include "ops/ops_gm.h"

typedef struct shape {
    const char *spec;
    int64_t t;
    int64_t cin, cout;
    bool ldr_full; /* also LDR in the full form (the plume model's) */
    const char *use;
} shape;

/* The shapes of the reference configurations, the plume model and the
 * rotation-equivariant image models. */
static const shape SHAPES[] = {
    {"C28xC28", 3, 120, 120, false, "mnist-noise, rectangles"},
    {"C32xC32", 3, 3, 120, false, "cifar10, first layer"},
    {"D14xD14", 2, 120, 120, false, "mnist-bg-rot"},
    {"D14xD14", 3, 120, 120, false, "rot-mnist"},
    {"C64xC64", 1, 120, 120, true, "plume"},
    {"p4m:14", 1, 12, 12, false, "rot-p4m, second block"},
    {"p4:28", 1, 10, 10, false, "a P4CNN-sized layer"},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

typedef enum op_kind {
    OP_FULL,
    OP_SHARED,
    OP_LDR1,
    OP_LDR4,
    OP_LDR1_FULL,
    OP_LDR4_FULL,
    OP_POOL,
    NOPS
} op_kind;
static const char *const OP_NAMES[NOPS] = {"gmconv_full", "gmconv_shared", "ldr1_shared",
                                           "ldr4_shared", "ldr1_full",     "ldr4_full",
                                           "gmpool_max"};

/* The full-form LDR layers run at batches up to this (a rank-4 layer at
 * C64xC64 and batch 64 is a teraflop per run). */
#define LDR_FULL_MAX_BATCH 16

static bool op_applies(op_kind op, const shape *sh, int64_t batch) {
    if (op == OP_LDR1_FULL || op == OP_LDR4_FULL)
        return sh->ldr_full && batch <= LDR_FULL_MAX_BATCH;
    return true;
}

static bool op_full(op_kind op) {
    return op == OP_FULL || op == OP_LDR1_FULL || op == OP_LDR4_FULL;
}

typedef struct options {
    const char *json, *only, *dump;
    int threads;
    int64_t batches[8];
    int nbatches;
    bu_protocol proto;
    bool ceilings;
} options;

/* Everything one shape needs: the group, the convolution plan and the pooling
 * plan onto the stride-2 subgroup. */
typedef struct shape_plans {
    gm_group *g;
    gm_nbhd *s;
    gm_gmat_plan *conv;
    gm_subgroup *h;
    gm_gmat_plan *pool;
} shape_plans;

static void plans_new(const shape *sh, shape_plans *p) {
    *p = (shape_plans){0};
    BU_CHECK(gm_group_from_spec(sh->spec, &p->g));
    BU_CHECK(gm_nbhd_reference_new(p->g, sh->t, &p->s));
    BU_CHECK(gm_gmat_plan_new(p->g, p->s, &p->conv));
    BU_CHECK(gm_subgroup_stride2_new(p->g, &p->h));
    BU_CHECK(gm_gmat_plan_pool_new(p->h, &p->pool));
}

static void plans_free(shape_plans *p) {
    gm_gmat_plan_free(p->pool);
    gm_subgroup_free(p->h);
    gm_gmat_plan_free(p->conv);
    gm_nbhd_free(p->s);
    gm_group_free(p->g);
}

static int op_rank(op_kind op) {
    return (op == OP_LDR1 || op == OP_LDR1_FULL) ? 1 : (op == OP_LDR4 || op == OP_LDR4_FULL) ? 4 : 0;
}

/* Useful floating-point work of the forward pass (a multiply-add counts 2);
 * the backward (dW and dx) does twice the GEMM work. GMPool: 0. */
static double fwd_flops(op_kind op, const shape *sh, int64_t k, int64_t n, int64_t batch) {
    const double b = (double)batch, o = (double)sh->cout, i = (double)sh->cin;
    const double conv_shared = 2 * b * o * (double)k * (double)n + b * i * (double)n;
    const double conv_full = 2 * b * o * i * (double)k * (double)n;
    const double r = op_rank(op);
    switch (op) {
    case OP_FULL: return conv_full;
    case OP_SHARED: return conv_shared;
    case OP_LDR1:
    case OP_LDR4: return (1 + r) * conv_shared + 2 * r * b * o * (double)n;
    case OP_LDR1_FULL:
    case OP_LDR4_FULL: return (1 + r) * conv_full + 2 * r * b * o * (double)n;
    default: return 0;
    }
}

/* --- one op through the public API --------------------------------------- */

typedef struct op_state {
    op_kind op;
    const shape_plans *pl;
    gm_tensor *x, *w, *bias, *u[4], *v[4];
} op_state;

static gm_tensor *param(gm_arena *a, int ndim, const int64_t *shp, gm_rng *rng, double scale) {
    gm_tensor *t = NULL;
    BU_CHECK(gm_tensor_new(a, ndim, shp, &t));
    bu_fill_uniform(rng, t->numel, t->data, scale);
    t->requires_grad = true;
    return t;
}

static void op_state_init(op_state *s, op_kind op, const shape *sh, const shape_plans *pl,
                          int64_t batch, gm_arena *a, gm_rng *rng) {
    *s = (op_state){.op = op, .pl = pl};
    const int64_t n_in = gm_gmat_plan_input_size(pl->conv), k = gm_gmat_plan_support_size(pl->conv);
    const int64_t cin = op == OP_POOL ? sh->cout : sh->cin;
    const int64_t xs[3] = {batch, cin, n_in};
    s->x = param(a, 3, xs, rng, 1.0);
    if (op == OP_POOL) return;
    const bool full = op_full(op);
    const double ws = full ? 1.0 / sqrt((double)(cin * k)) : 1.0 / sqrt((double)k);
    const int64_t wfull[3] = {sh->cout, cin, k}, wshared[2] = {sh->cout, k};
    s->w = param(a, full ? 3 : 2, full ? wfull : wshared, rng, ws);
    s->bias = param(a, 1, &sh->cout, rng, 0.1);
    for (int r = 0; r < op_rank(op); r++) {
        s->u[r] = param(a, full ? 3 : 2, full ? wfull : wshared, rng, ws);
        s->v[r] = param(a, 1, &n_in, rng, 1.0);
    }
}

/* LDR-GMConv as the nn layer composes it: conv_c(x) + sum_r v_r * conv_u_r(x). */
static gm_tensor *op_forward(const op_state *s, gm_ctx *ctx) {
    gm_tensor *y = NULL;
    if (s->op == OP_POOL) {
        BU_CHECK(gm_op_gmpool(ctx, s->pl->pool, s->x, GM_REDUCE_MAX, &y));
        return y;
    }
    const gm_conv_form form = op_full(s->op) ? GM_CONV_FULL : GM_CONV_SHARED;
    BU_CHECK(gm_op_gmconv(ctx, s->pl->conv, s->x, s->w, s->bias, form, &y));
    for (int r = 0; r < op_rank(s->op); r++) {
        gm_tensor *c = NULL, *cv = NULL, *sum = NULL;
        BU_CHECK(gm_op_gmconv(ctx, s->pl->conv, s->x, s->u[r], NULL, form, &c));
        BU_CHECK(gm_op_mul_positions(ctx, c, s->v[r], &cv));
        BU_CHECK(gm_op_add(ctx, y, cv, &sum));
        y = sum;
    }
    return y;
}

/* A one-element loss whose backward only forms dy = 1/numel everywhere. */
static gm_tensor *mean_loss(gm_ctx *ctx, gm_tensor *y) {
    gm_tensor *m = NULL, *flat = NULL, *loss = NULL;
    BU_CHECK(gm_op_global_pool(ctx, y, GM_REDUCE_MEAN, &m));
    const int64_t shp[3] = {1, 1, m->numel};
    BU_CHECK(gm_op_reshape(ctx, m, 3, shp, &flat));
    BU_CHECK(gm_op_global_pool(ctx, flat, GM_REDUCE_MEAN, &loss));
    return loss;
}

typedef struct timing {
    double fwd, bwd, dy; /* medians; bwd already less dy */
    int reps;
} timing;

static timing time_op(const op_state *s, gm_ctx *ctx, const bu_protocol *p) {
    bu_samples fwd = {0}, bwd = {0}, dy = {0};
    int64_t yshape[3] = {0};
    double spent = 0;
    for (int run = 0; run < p->warmup || bu_more(p, fwd.n, spent); run++) {
        gm_ctx_reset(ctx);
        const double t0 = bu_now();
        gm_tensor *y = op_forward(s, ctx);
        const double t1 = bu_now();
        gm_tensor *loss = mean_loss(ctx, y);
        const double t2 = bu_now();
        BU_CHECK(gm_ctx_backward(ctx, loss));
        const double t3 = bu_now();
        memcpy(yshape, y->shape, sizeof yshape);
        if (run < p->warmup) continue;
        bu_push(&fwd, t1 - t0);
        bu_push(&bwd, t3 - t2);
        spent += t3 - t0;
    }
    /* the loss alone, on a tensor shaped like y */
    spent = 0;
    for (int run = 0; run < 1 || bu_more(p, dy.n, spent); run++) {
        gm_ctx_reset(ctx);
        gm_tensor *z = NULL;
        BU_CHECK(gm_tensor_new(gm_ctx_arena(ctx), 3, yshape, &z));
        z->requires_grad = true;
        gm_tensor *loss = mean_loss(ctx, z);
        const double t0 = bu_now();
        BU_CHECK(gm_ctx_backward(ctx, loss));
        const double t1 = bu_now();
        if (run < 1) continue;
        bu_push(&dy, t1 - t0);
        spent += t1 - t0;
    }
    gm_ctx_reset(ctx);
    timing t = {.fwd = bu_median(&fwd), .bwd = bu_median(&bwd), .dy = bu_median(&dy),
                .reps = fwd.n};
    t.bwd = t.bwd > t.dy ? t.bwd - t.dy : 0;
    return t;
}

/* --- the same GEMMs through cblas_sgemm alone ----------------------------
 * Per sample: forward O x n x (I*K) (I = 1 for the shared form, after the
 * channel sum), backward dW += dy col^T (O x I*K x n) and dcol = W^T dy
 * (I*K x n x O), on buffers already laid out (no gather); one buffer is
 * reused for every sample. The samples run one after another with the same
 * shapes, so the rate is that of SGEMM_SAMPLES of them, and the time of a
 * larger batch is scaled from it. */
#define SGEMM_SAMPLES 8
static timing time_sgemm(int64_t batch, int64_t m, int64_t n, int64_t kdim, const bu_protocol *p,
                         gm_rng *rng) {
    float *w = malloc((size_t)(m * kdim) * sizeof *w), *col = malloc((size_t)(kdim * n) * sizeof *col);
    float *y = malloc((size_t)(m * n) * sizeof *y), *dw = calloc((size_t)(m * kdim), sizeof *dw);
    if (!w || !col || !y || !dw) {
        fprintf(stderr, "bench_kernels: out of memory for the sgemm reference\n");
        exit(1);
    }
    for (int64_t i = 0; i < m * kdim; i++) w[i] = (float)gm_rng_uniform(rng) - 0.5f;
    for (int64_t i = 0; i < kdim * n; i++) col[i] = (float)gm_rng_uniform(rng) - 0.5f;
    for (int64_t i = 0; i < m * n; i++) y[i] = (float)gm_rng_uniform(rng) - 0.5f;
    bu_samples fwd = {0}, bwd = {0};
    double spent = 0;
    for (int run = 0; run < p->warmup || bu_more(p, fwd.n, spent); run++) {
        const double t0 = bu_now();
        for (int64_t b = 0; b < batch; b++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)kdim, 1.0f,
                        w, (int)kdim, col, (int)n, 0.0f, y, (int)n);
        const double t1 = bu_now();
        for (int64_t b = 0; b < batch; b++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)kdim, (int)n, 1.0f,
                        y, (int)n, col, (int)n, 1.0f, dw, (int)kdim);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim, (int)n, (int)m, 1.0f,
                        w, (int)kdim, y, (int)n, 0.0f, col, (int)n);
        }
        const double t2 = bu_now();
        if (run < p->warmup) continue;
        bu_push(&fwd, t1 - t0);
        bu_push(&bwd, t2 - t1);
        spent += t2 - t0;
    }
    free(w);
    free(col);
    free(y);
    free(dw);
    return (timing){.fwd = bu_median(&fwd), .bwd = bu_median(&bwd), .reps = fwd.n};
}

/* --- ceilings ----------------------------------------------------------- */

static double ceiling_sgemm(const bu_protocol *p, gm_rng *rng, int64_t nn) {
    const bu_protocol q = {.warmup = 1, .min_reps = 3, .max_reps = 10, .min_time = p->min_time,
                           .max_time = 3.0};
    timing t = time_sgemm(1, nn, nn, nn, &q, rng);
    return 2.0 * (double)nn * (double)nn * (double)nn / t.fwd;
}

/* STREAM triad a = b + s c over arrays far larger than the caches; bytes
 * counted as STREAM does (two reads and one write per element). */
static double ceiling_triad(int threads, const bu_protocol *p) {
    const int64_t n = (int64_t)1 << 24;
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b),
          *c = malloc((size_t)n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_kernels: out of memory for the triad\n");
        exit(1);
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = 1;
        c[i] = 2;
    }
    bu_samples s = {0};
    const bu_protocol q = {.warmup = 1, .min_reps = 5, .max_reps = 20, .min_time = p->min_time,
                           .max_time = 3.0};
    double spent = 0;
    for (int run = 0; run < q.warmup || bu_more(&q, s.n, spent); run++) {
        const float scalar = 3.0f;
        const double t0 = bu_now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < n; i++) a[i] = b[i] + scalar * c[i];
        const double t1 = bu_now();
        if (run < q.warmup) continue;
        bu_push(&s, t1 - t0);
        spent += t1 - t0;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return 3.0 * 4.0 * (double)n / bu_median(&s);
}

/* --- dump for the peer ------------------------------------------------------ */

static void write_table(const char *path, const gm_gmat_plan *plan) {
    const int64_t rows = gm_gmat_plan_support_size(plan), cols = gm_gmat_plan_order(plan);
    gm_array a = {.dtype = GM_DTYPE_I32, .ndim = 2, .shape = {rows, cols},
                  .data = (void *)gm_gmat_plan_table(plan)};
    BU_CHECK(gm_npy_write(path, &a));
}

static void table_name(char *buf, size_t size, const char *kind, const shape *sh) {
    if (strcmp(kind, "pool") == 0)
        snprintf(buf, size, "pool_%s.npy", sh->spec);
    else
        snprintf(buf, size, "conv_%s_t%lld.npy", sh->spec, (long long)sh->t);
}

static bool selected(const options *o, const char *key) {
    return !o->only || strstr(key, o->only) != NULL;
}

static void case_key(char *buf, size_t size, op_kind op, const shape *sh, int64_t batch) {
    snprintf(buf, size, "%s|%s|t%lld|I%lld|O%lld|B%lld", OP_NAMES[op], sh->spec, (long long)sh->t,
             (long long)(op == OP_POOL ? sh->cout : sh->cin), (long long)sh->cout,
             (long long)batch);
}

static int dump(const options *o) {
    char path[1024], name[128];
    snprintf(path, sizeof path, "%s/cases.json", o->dump);
    bu_json *j = bu_json_open(path);
    for (int si = 0; si < NSHAPES; si++) {
        const shape *sh = &SHAPES[si];
        shape_plans pl;
        plans_new(sh, &pl);
        table_name(name, sizeof name, "conv", sh);
        snprintf(path, sizeof path, "%s/%s", o->dump, name);
        write_table(path, pl.conv);
        char pool_name[128];
        table_name(pool_name, sizeof pool_name, "pool", sh);
        snprintf(path, sizeof path, "%s/%s", o->dump, pool_name);
        write_table(path, pl.pool);
        for (int op = 0; op < NOPS; op++)
            for (int bi = 0; bi < o->nbatches; bi++) {
                char key[160];
                case_key(key, sizeof key, (op_kind)op, sh, o->batches[bi]);
                if (!selected(o, key) || !op_applies((op_kind)op, sh, o->batches[bi])) continue;
                bu_json_begin(j);
                bu_json_str(j, "key", key);
                bu_json_str(j, "op", OP_NAMES[op]);
                bu_json_str(j, "group", sh->spec);
                bu_json_int(j, "t", sh->t);
                bu_json_int(j, "cin", op == OP_POOL ? sh->cout : sh->cin);
                bu_json_int(j, "cout", sh->cout);
                bu_json_int(j, "batch", o->batches[bi]);
                bu_json_int(j, "rank", op_rank((op_kind)op));
                bu_json_str(j, "table", op == OP_POOL ? pool_name : name);
                bu_json_num(j, "flops_fwd",
                            fwd_flops((op_kind)op, sh, gm_gmat_plan_support_size(pl.conv),
                                      gm_gmat_plan_order(pl.conv), o->batches[bi]));
                bu_json_end(j);
            }
        plans_free(&pl);
    }
    bu_json_close(j);
    return 0;
}

/* --- main --------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr, "usage: bench_kernels [--json FILE] [--threads N] [--batches 1,16,64] "
                    "[--only SUBSTR] [--min-time S] [--quick] [--cpu-time] [--no-ceilings] "
                    "[--dump DIR]\n");
    exit(2);
}

static void parse_batches(options *o, const char *s) {
    o->nbatches = 0;
    char *end = NULL;
    while (*s && o->nbatches < 8) {
        const long long v = strtoll(s, &end, 10);
        if (end == s || v < 1) usage();
        o->batches[o->nbatches++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') usage();
    }
    if (o->nbatches == 0) usage();
}

static void emit(bu_json *j, const char *impl, const char *key, op_kind op, const shape *sh,
                 int64_t k, int64_t n, int64_t batch, const char *pass, double t, double flops,
                 double bytes, int reps) {
    bu_json_begin(j);
    bu_json_str(j, "suite", "kernels");
    bu_json_str(j, "impl", impl);
    bu_json_str(j, "key", key);
    bu_json_str(j, "op", OP_NAMES[op]);
    bu_json_str(j, "group", sh->spec);
    bu_json_int(j, "t", sh->t);
    bu_json_int(j, "K", k);
    bu_json_int(j, "N", n);
    bu_json_int(j, "cin", op == OP_POOL ? sh->cout : sh->cin);
    bu_json_int(j, "cout", sh->cout);
    bu_json_int(j, "batch", batch);
    bu_json_str(j, "pass", pass);
    bu_json_num(j, "time_s", t);
    bu_json_num(j, "flops", flops);
    if (flops > 0) bu_json_num(j, "gflops", flops / t * 1e-9);
    if (bytes > 0) bu_json_num(j, "gbps", bytes / t * 1e-9);
    bu_json_int(j, "reps", reps);
    bu_json_end(j);
}

int main(int argc, char **argv) {
    options o = {.threads = 2,
                 .batches = {1, 16, 64},
                 .nbatches = 3,
                 .proto = {.warmup = 1, .min_reps = 3, .max_reps = 50, .min_time = 0.3,
                           .max_time = 3.0},
                 .ceilings = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has = i + 1 < argc;
        if (!strcmp(a, "--json") && has)
            o.json = argv[++i];
        else if (!strcmp(a, "--threads") && has)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--batches") && has)
            parse_batches(&o, argv[++i]);
        else if (!strcmp(a, "--only") && has)
            o.only = argv[++i];
        else if (!strcmp(a, "--min-time") && has)
            o.proto.min_time = atof(argv[++i]);
        else if (!strcmp(a, "--dump") && has)
            o.dump = argv[++i];
        else if (!strcmp(a, "--cpu-time"))
            bu_cpu_clock = true;
        else if (!strcmp(a, "--quick")) {
            o.proto.min_time = 0.05;
            o.proto.min_reps = 2;
            o.proto.max_time = 1.0;
        } else if (!strcmp(a, "--no-ceilings"))
            o.ceilings = false;
        else
            usage();
    }
    if (o.threads < 1) usage();
    if (o.dump) return dump(&o);
    gm_set_threads(o.threads);

    char cpu[256];
    bu_cpu_model(cpu, sizeof cpu);
    printf("%s\ncpu: %s, %d threads, load average %.2f\n\n", gm_build_info(), cpu, o.threads,
           bu_loadavg1());
    bu_json *j = bu_json_open(o.json);
    bu_json_machine(j, o.threads);
    gm_rng rng;
    gm_rng_seed(&rng, 42, 1);

    if (o.ceilings) {
        const double peak = ceiling_sgemm(&o.proto, &rng, 2048);
        const double bw1 = ceiling_triad(1, &o.proto), bwn = ceiling_triad(o.threads, &o.proto);
        printf("ceilings: sgemm 2048^3 %.1f GFLOP/s; triad %.1f GB/s (1 thread), %.1f GB/s "
               "(%d threads)\n\n",
               peak * 1e-9, bw1 * 1e-9, bwn * 1e-9, o.threads);
        bu_json_begin(j);
        bu_json_str(j, "suite", "ceilings");
        bu_json_str(j, "impl", "gmcnn");
        bu_json_num(j, "sgemm_gflops", peak * 1e-9);
        bu_json_int(j, "sgemm_n", 2048);
        bu_json_num(j, "triad_gbps_1", bw1 * 1e-9);
        bu_json_num(j, "triad_gbps", bwn * 1e-9);
        bu_json_end(j);
    }

    printf("%-14s %-8s %2s %8s %4s %4s | %10s %8s | %10s %8s | %10s %8s | %7s\n", "op", "group",
           "t", "I->O", "B", "", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s", "sgemm f+b", "GFLOP/s",
           "ratio");
    gm_arena *arena = NULL;
    gm_ctx *ctx = NULL;
    BU_CHECK(gm_ctx_new(0, 1, &ctx));
    for (int si = 0; si < NSHAPES; si++) {
        const shape *sh = &SHAPES[si];
        shape_plans pl;
        plans_new(sh, &pl);
        const int64_t k = gm_gmat_plan_support_size(pl.conv), n = gm_gmat_plan_order(pl.conv);
        for (int op = 0; op < NOPS; op++)
            for (int bi = 0; bi < o.nbatches; bi++) {
                const int64_t batch = o.batches[bi];
                char key[160];
                case_key(key, sizeof key, (op_kind)op, sh, batch);
                if (!selected(&o, key) || !op_applies((op_kind)op, sh, batch)) continue;
                BU_CHECK(gm_arena_new(0, &arena));
                op_state st;
                op_state_init(&st, (op_kind)op, sh, &pl, batch, arena, &rng);
                const timing t = time_op(&st, ctx, &o.proto);
                const double ff = fwd_flops((op_kind)op, sh, k, n, batch);
                double bytes = 0;
                const int64_t kk = op == OP_POOL ? gm_gmat_plan_support_size(pl.pool) : k;
                const int64_t nn = op == OP_POOL ? gm_gmat_plan_order(pl.pool) : n;
                if (op == OP_POOL) bytes = 4.0 * (double)(batch * sh->cout) * (double)(n + nn);
                emit(j, "gmcnn", key, (op_kind)op, sh, kk, nn, batch, "fwd", t.fwd, ff, bytes,
                     t.reps);
                emit(j, "gmcnn", key, (op_kind)op, sh, kk, nn, batch, "bwd", t.bwd, 2 * ff, bytes,
                     t.reps);
                printf("%-14s %-8s %2lld %4lld->%-3lld %4lld %4s | %10.3f ", OP_NAMES[op],
                       sh->spec, (long long)sh->t, (long long)st.x->shape[1],
                       (long long)sh->cout, (long long)batch, "", t.fwd * 1e3);
                if (op == OP_POOL)
                    printf("%6.1fGB/s | %10.3f %6.1fGB/s |", bytes / t.fwd * 1e-9, t.bwd * 1e3,
                           bytes / t.bwd * 1e-9);
                else
                    printf("%8.1f | %10.3f %8.1f |", ff / t.fwd * 1e-9, t.bwd * 1e3,
                           2 * ff / t.bwd * 1e-9);
                /* the gather path as well, where the full form runs by FFT (the LDR
                 * layers' full-form convolutions included) */
                timing tg = t;
                const gm__gmconv_dims dims = {.tab = gm__gm_table_of(pl.conv), .batch = batch,
                                              .cin = sh->cin, .cout = sh->cout,
                                              .form = GM_CONV_FULL};
                gm__torus tor;
                if (op_full((op_kind)op) && gm__gmconv_fft_choose(&dims, &tor)) {
                    gm__gmconv_set_fft_mode(GM__FFT_NEVER);
                    tg = time_op(&st, ctx, &o.proto);
                    gm__gmconv_set_fft_mode(GM__FFT_AUTO);
                    emit(j, "gmcnn-gather", key, (op_kind)op, sh, kk, nn, batch, "fwd", tg.fwd, ff,
                         0, tg.reps);
                    emit(j, "gmcnn-gather", key, (op_kind)op, sh, kk, nn, batch, "bwd", tg.bwd,
                         2 * ff, 0, tg.reps);
                }
                if (op == OP_FULL || op == OP_SHARED) {
                    const int64_t kdim = op == OP_FULL ? sh->cin * k : k;
                    const int64_t nb = batch < SGEMM_SAMPLES ? batch : SGEMM_SAMPLES;
                    timing g = time_sgemm(nb, sh->cout, n, kdim, &o.proto, &rng);
                    g.fwd *= (double)batch / (double)nb;
                    g.bwd *= (double)batch / (double)nb;
                    const double gf = 2.0 * (double)(batch * sh->cout * kdim * n);
                    emit(j, "sgemm", key, (op_kind)op, sh, k, n, batch, "fwd", g.fwd, gf, 0,
                         g.reps);
                    emit(j, "sgemm", key, (op_kind)op, sh, k, n, batch, "bwd", g.bwd, 2 * gf, 0,
                         g.reps);
                    printf(" %10.3f %8.1f | %6.2f", (g.fwd + g.bwd) * 1e3,
                           3 * gf / (g.fwd + g.bwd) * 1e-9, (g.fwd + g.bwd) / (tg.fwd + tg.bwd));
                    if (tg.fwd != t.fwd)
                        printf("  (FFT; gather path %.3f + %.3f ms)", tg.fwd * 1e3,
                               tg.bwd * 1e3);
                    printf("\n");
                } else {
                    printf(" %10s %8s | %7s\n", "", "", "");
                }
                fflush(stdout);
                gm_arena_free(arena);
            }
        plans_free(&pl);
    }
    gm_ctx_free(ctx);
    bu_json_close(j);
    printf("\nratio = sgemm time / gmcnn's gather-path time for the same GEMMs, forward + "
           "backward (1 = no gather overhead)\n");
    return 0;
}
