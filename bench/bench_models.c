/* Model benchmarks: training images/s (AdamW steps on random data),
 * inference latency at batch 1 (also on one thread) and throughput at batch
 * 128, and the peak
 * resident memory, for the reference classification configurations. One
 * configuration per invocation, so that the memory high-water
 * mark (VmHWM of /proc/self/status) belongs to that configuration alone;
 * scripts/bench.sh loops over them.
 *
 * Usage: bench_models --model NAME [--json FILE] [--threads N]
 *                     [--train-batch B] [--min-time S] [--quick] [--cpu-time]
 *        bench_models --list
 *        bench_models --dump DIR   models.json and the index tables for the
 *                                  PyTorch peer */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

typedef struct model_cfg {
    const char *name, *spec;
    int64_t t, in_channels, classes;
    double dropout;
    int64_t config_batch, params;
} model_cfg;

/* The reference configurations (configs/<name>.yaml): 2 blocks x 1 layer x 120 channels each. */
static const model_cfg MODELS[] = {
    {"cifar10", "C32xC32", 3, 3, 10, 0.2, 256, 13691},
    {"mnist-noise", "C28xC28", 3, 1, 10, 0.3, 128, 13451},
    {"mnist-bg-rot", "D14xD14", 2, 1, 10, 0.3, 256, 25691},
    {"rot-mnist", "D14xD14", 3, 1, 10, 0.3, 128, 48731},
    {"norb", "C32xC32", 3, 1, 6, 0.3, 256, 12967},
    {"smallnorb", "C24xC24", 3, 1, 4, 0.3, 256, 12725},
    {"rectangles", "C28xC28", 3, 1, 2, 0.3, 512, 12483},
};
#define NMODELS ((int)(sizeof MODELS / sizeof MODELS[0]))

static gm_model_desc desc_of(const model_cfg *c) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN,
                       .group = c->spec,
                       .radius = c->t,
                       .in_channels = c->in_channels,
                       .out_dim = c->classes,
                       .nblocks = 2,
                       .dropout = c->dropout,
                       .form = GM_CONV_SHARED};
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 120};
    d.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = 120};
    return d;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_models --model NAME [--json FILE] [--threads N] "
                    "[--train-batch B] [--min-time S] [--quick] [--cpu-time]\n"
                    "       bench_models --list | --dump DIR\n");
    exit(2);
}

static int dump(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models.json", dir);
    bu_json *j = bu_json_open(path);
    for (int i = 0; i < NMODELS; i++) {
        const model_cfg *c = &MODELS[i];
        gm_group *g = NULL;
        gm_nbhd *s = NULL;
        gm_gmat_plan *p = NULL;
        BU_CHECK(gm_group_from_spec(c->spec, &g));
        BU_CHECK(gm_nbhd_reference_new(g, c->t, &s));
        BU_CHECK(gm_gmat_plan_new(g, s, &p));
        char name[128];
        snprintf(name, sizeof name, "conv_%s_t%lld.npy", c->spec, (long long)c->t);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        gm_array a = {.dtype = GM_DTYPE_I32,
                      .ndim = 2,
                      .shape = {gm_gmat_plan_support_size(p), gm_gmat_plan_order(p)},
                      .data = (void *)gm_gmat_plan_table(p)};
        BU_CHECK(gm_npy_write(path, &a));
        bu_json_begin(j);
        bu_json_str(j, "name", c->name);
        bu_json_str(j, "group", c->spec);
        bu_json_int(j, "t", c->t);
        bu_json_int(j, "in_channels", c->in_channels);
        bu_json_int(j, "classes", c->classes);
        bu_json_num(j, "dropout", c->dropout);
        bu_json_int(j, "config_batch", c->config_batch);
        bu_json_int(j, "params", c->params);
        bu_json_str(j, "table", name);
        bu_json_end(j);
        gm_gmat_plan_free(p);
        gm_nbhd_free(s);
        gm_group_free(g);
    }
    bu_json_close(j);
    return 0;
}

static gm_tensor *random_input(gm_arena *a, int64_t batch, int64_t ch, int64_t n, gm_rng *rng) {
    gm_tensor *x = NULL;
    BU_CHECK(gm_tensor_new3(a, batch, ch, n, &x));
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (gm_real)gm_rng_normal(rng);
    return x;
}

/* Median seconds of one forward pass of xi (no gradients), after the
 * protocol's warm-up; *reps receives the number of timed runs. */
static double time_inference(gm_model *m, gm_ctx *ctx, gm_tensor *xi, const bu_protocol *infer,
                             int *reps) {
    bu_samples s = {0};
    double spent = 0;
    for (int run = 0; run < infer->warmup || bu_more(infer, s.n, spent); run++) {
        const double t0 = bu_now();
        gm_ctx_reset(ctx);
        gm_tensor *logits = NULL;
        BU_CHECK(gm_model_forward(m, ctx, xi, &logits));
        const double t1 = bu_now();
        if (run < infer->warmup) continue;
        bu_push(&s, t1 - t0);
        spent += t1 - t0;
    }
    *reps = s.n;
    return bu_median(&s);
}

int main(int argc, char **argv) {
    const char *name = NULL, *json = NULL;
    int threads = 2;
    int64_t train_batch = 128, infer_batch = 128;
    bu_protocol train = {.warmup = 2, .min_reps = 3, .max_reps = 50, .min_time = 1.5,
                         .max_time = 4.0};
    bu_protocol infer = {.warmup = 2, .min_reps = 10, .max_reps = 200, .min_time = 0.5,
                         .max_time = 3.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has = i + 1 < argc;
        if (!strcmp(a, "--model") && has)
            name = argv[++i];
        else if (!strcmp(a, "--json") && has)
            json = argv[++i];
        else if (!strcmp(a, "--threads") && has)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--train-batch") && has)
            train_batch = atoll(argv[++i]);
        else if (!strcmp(a, "--min-time") && has)
            train.min_time = infer.min_time = atof(argv[++i]);
        else if (!strcmp(a, "--cpu-time"))
            bu_cpu_clock = true;
        else if (!strcmp(a, "--quick")) {
            train = (bu_protocol){.warmup = 1, .min_reps = 2, .max_reps = 5, .min_time = 0.1,
                                  .max_time = 1.0};
            infer = (bu_protocol){.warmup = 1, .min_reps = 3, .max_reps = 20, .min_time = 0.1,
                                  .max_time = 1.0};
        } else if (!strcmp(a, "--list")) {
            for (int m = 0; m < NMODELS; m++) printf("%s\n", MODELS[m].name);
            return 0;
        } else if (!strcmp(a, "--dump") && has)
            return dump(argv[++i]);
        else
            usage();
    }
    if (!name || threads < 1 || train_batch < 1) usage();
    const model_cfg *c = NULL;
    for (int m = 0; m < NMODELS; m++)
        if (!strcmp(MODELS[m].name, name)) c = &MODELS[m];
    if (!c) {
        fprintf(stderr, "bench_models: unknown model '%s' (see --list)\n", name);
        return 2;
    }
    gm_set_threads(threads);
    const long base_kib = bu_proc_status_kib("VmHWM");

    const gm_model_desc d = desc_of(c);
    gm_model *m = NULL;
    BU_CHECK(gm_model_new(&d, 42, &m));
    if (gm_model_num_params(m) != c->params)
        fprintf(stderr, "bench_models: %s has %lld parameters, the reference table says %lld\n", c->name,
                (long long)gm_model_num_params(m), (long long)c->params);
    const int64_t np = gm_model_param_count(m);
    gm_tensor **params = calloc((size_t)np, sizeof *params);
    if (!params) return 1;
    for (int64_t i = 0; i < np; i++) params[i] = gm_model_param(m, i);
    const gm_optim_config oc = gm_optim_config_default(GM_OPTIM_ADAMW);
    gm_optim *opt = NULL;
    BU_CHECK(gm_optim_new(&oc, np, params, &opt));

    gm_arena *data = NULL;
    BU_CHECK(gm_arena_new(0, &data));
    gm_rng rng;
    gm_rng_seed(&rng, 42, 7);
    const int64_t n = gm_group_order(gm_model_group(m));
    gm_tensor *x = random_input(data, train_batch, c->in_channels, n, &rng);
    int32_t *labels = malloc((size_t)train_batch * sizeof *labels);
    if (!labels) return 1;
    for (int64_t i = 0; i < train_batch; i++)
        labels[i] = (int32_t)gm_rng_below(&rng, (uint32_t)c->classes);

    gm_ctx *ctx = NULL;
    BU_CHECK(gm_ctx_new(0, 42, &ctx));

    /* training: zero grads, forward, loss, backward, AdamW step */
    bu_samples ts = {0};
    double spent = 0;
    for (int run = 0; run < train.warmup || bu_more(&train, ts.n, spent); run++) {
        const double t0 = bu_now();
        gm_ctx_reset(ctx);
        BU_CHECK(gm_model_zero_grad(m));
        gm_tensor *logits = NULL, *loss = NULL;
        BU_CHECK(gm_model_forward(m, ctx, x, &logits));
        BU_CHECK(gm_op_softmax_xent(ctx, logits, labels, &loss));
        BU_CHECK(gm_ctx_backward(ctx, loss));
        BU_CHECK(gm_optim_step(opt));
        const double t1 = bu_now();
        if (run < train.warmup) continue;
        bu_push(&ts, t1 - t0);
        spent += t1 - t0;
    }
    gm_ctx_reset(ctx);
    const long train_kib = bu_proc_status_kib("VmHWM");
    const double step = bu_median(&ts);
    const size_t arena_peak = gm_arena_peak(gm_ctx_arena(ctx));

    /* inference: no gradients, dropout off */
    gm_ctx_set_grad(ctx, false);
    gm_ctx_set_training(ctx, false);
    double lat[2] = {0};
    const int64_t ib[2] = {1, infer_batch};
    int ireps[2] = {0};
    for (int k = 0; k < 2; k++) {
        gm_tensor *xi = random_input(data, ib[k], c->in_channels, n, &rng);
        lat[k] = time_inference(m, ctx, xi, &infer, &ireps[k]);
    }
    /* batch 1 again on one thread: a latency that parallel regions cannot
     * stretch when other processes hold the cores */
    gm_set_threads(1);
    int lat1_reps = 0;
    const double lat1 =
        time_inference(m, ctx, random_input(data, 1, c->in_channels, n, &rng), &infer, &lat1_reps);
    gm_set_threads(threads);
    const long end_kib = bu_proc_status_kib("VmHWM");

    printf("%-13s %-8s t%lld params %6lld | train B=%lld %8.1f img/s (%.1f ms/step) | "
           "infer B=1 %7.3f ms (1 thread %.3f), B=%lld %8.1f img/s | peak train %7.1f MiB "
           "(arena %.1f MiB)\n",
           c->name, c->spec, (long long)c->t, (long long)gm_model_num_params(m),
           (long long)train_batch, (double)train_batch / step, step * 1e3, lat[0] * 1e3,
           lat1 * 1e3, (long long)infer_batch, (double)infer_batch / lat[1], (double)train_kib / 1024.0,
           (double)arena_peak / 1048576.0);

    bu_json *j = bu_json_open(json);
    bu_json_machine(j, threads);
    bu_json_begin(j);
    bu_json_str(j, "suite", "models");
    bu_json_str(j, "impl", "gmcnn");
    bu_json_str(j, "key", c->name);
    bu_json_str(j, "model", c->name);
    bu_json_str(j, "group", c->spec);
    bu_json_int(j, "t", c->t);
    bu_json_int(j, "params", gm_model_num_params(m));
    bu_json_int(j, "train_batch", train_batch);
    bu_json_num(j, "train_step_s", step);
    bu_json_num(j, "train_img_s", (double)train_batch / step);
    bu_json_int(j, "train_reps", ts.n);
    bu_json_num(j, "infer_b1_s", lat[0]);
    bu_json_int(j, "infer_b1_reps", ireps[0]);
    bu_json_num(j, "infer_b1_1thread_s", lat1);
    bu_json_int(j, "infer_b1_1thread_reps", lat1_reps);
    bu_json_int(j, "infer_batch", infer_batch);
    bu_json_num(j, "infer_img_s", (double)infer_batch / lat[1]);
    bu_json_int(j, "infer_reps", ireps[1]);
    bu_json_num(j, "base_mib", (double)base_kib / 1024.0);
    bu_json_num(j, "peak_train_mib", (double)train_kib / 1024.0);
    bu_json_num(j, "peak_end_mib", (double)end_kib / 1024.0);
    bu_json_num(j, "step_arena_mib", (double)arena_peak / 1048576.0);
    bu_json_end(j);
    bu_json_close(j);

    gm_ctx_free(ctx);
    free(labels);
    gm_arena_free(data);
    gm_optim_free(opt);
    free(params);
    gm_model_free(m);
    return 0;
}
