/* gmcnn equivariance: the per-stage equivariance defect of a model. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char equiv_usage[] =
    "usage: gmcnn equivariance [--model gmcnn|plume|deep] [--group SPEC] [--radius T]\n"
    "                          [--in C] [--classes K] [--channels C] [--blocks N]\n"
    "                          [--ldr-rank R] [--modulated] [--seed S] [--batch B]\n"
    "       gmcnn equivariance MODEL.safetensors DATA [--samples N]\n"
    "\n"
    "With a saved model (the first argument an existing file, or one ending in\n"
    ".safetensors): measures it on the first N images of DATA (IDX or .npy,\n"
    "scaled as in training; default N 8).\n"
    "\n"
    "Otherwise builds a model with random parameters, runs it on a random input x and on\n"
    "L_v x for every generator v of the group, and prints for every stage the\n"
    "defect max_v ||f(L_v x) - L_v f(x)|| / ||f(x)|| (for invariant stages such as\n"
    "the logits, ||f(L_v x) - f(x)|| / ||f(x)||). After a pooling layer the features\n"
    "live on the pooling subgroup H and only the generators of H are used there.\n"
    "Exact GM layers give rounding-level defects; an LDR rank R > 0 (plume) with\n"
    "nonzero position vectors, or --modulated, gives approximate equivariance.\n"
    "\n"
    "  --model M      gmcnn (reference classifier, default), plume (regressor),\n"
    "                 deep (full-form GM-CNN pooling onto the stride-2 subgroup\n"
    "                 after every block but the last; on p4:n and p4m:n it\n"
    "                 reads n x n images and lifts them to the group)\n"
    "  --group SPEC   group of the input's domain (default D4xD4)\n"
    "  --radius T     kernel support radius (default 1)\n"
    "  --in C         input channels (default 1; plume 20)\n"
    "  --classes K    classes, or output channels of plume (default 10; plume 2)\n"
    "  --channels C   channels of every block (default 8)\n"
    "  --blocks N     blocks of one layer each (default 2)\n"
    "  --ldr-rank R   LDR-GMConv rank (default 0: exact); the position vectors v\n"
    "                 are drawn at random so that the rank shows\n"
    "  --modulated    the reference's modulated regression layer\n"
    "  --seed S       seed of the parameters and the input (default 42)\n"
    "  --batch B      input samples (default 2)\n";

typedef struct equiv_opts {
    const char *model, *group;
    int64_t radius, in, classes, channels, blocks, rank, seed, batch; /* in, classes 0: by model */
    bool modulated;
} equiv_opts;

static int equiv_parse(int argc, char **argv, equiv_opts *o) {
    cli_opt opts[] = {
        {CLI_CHOICE("--model", &o->model, "gmcnn|plume|deep")},
        {CLI_STRING("--group", &o->group, "a group spec")},
        {CLI_INT("--radius", &o->radius, 0, 64)},
        {CLI_INT("--in", &o->in, 1, 4096)},
        {CLI_INT("--classes", &o->classes, 1, 100000)},
        {CLI_INT("--channels", &o->channels, 1, 4096)},
        {CLI_INT("--blocks", &o->blocks, 1, GM_MODEL_MAX_BLOCKS)},
        {CLI_INT("--ldr-rank", &o->rank, 0, 64)},
        {CLI_FLAG("--modulated", &o->modulated)},
        {CLI_INT("--seed", &o->seed, 0, INT64_MAX)},
        {CLI_INT("--batch", &o->batch, 1, 4096)},
    };
    cli_args args = {.context = "equivariance", .opts = opts, .nopts = CLI_COUNT(opts)};
    return cli_args_parse(&args, argc, argv);
}

/* Position vectors start at zero (an exact layer); random ones make the
 * rank visible. */
static void equiv_randomize_v(gm_model *m, gm_rng *rng) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        const char *name = gm_model_param_name(m, i);
        const char *dot = strrchr(name, '.');
        if (!dot || dot - name < 2 || strncmp(dot - 2, ".v", 2) != 0) continue;
        gm_tensor *t = gm_model_param(m, i);
        for (int64_t j = 0; j < t->numel; j++)
            t->data[j] = (gm_real)(0.5 * (2.0 * gm_rng_uniform(rng) - 1.0));
    }
}

static void print_report(const gm_equiv_report *rep) {
    printf("\n%-36s %-11s %s\n", "stage", "kind", "defect");
    for (int64_t s = 0; s < rep->nstages; s++)
        printf("%-36s %-11s %.3e\n", rep->stages[s].name,
               rep->stages[s].invariant ? "invariant" : "equivariant", rep->stages[s].defect);
    printf("\nend-to-end defect %.3e\n", rep->end_to_end);
}

static bool saved_form(int argc, char **argv) {
    struct stat sb;
    if (argc > 0 && argv[0][0] != '-' && stat(argv[0], &sb) == 0 && S_ISREG(sb.st_mode))
        return true;
    for (int i = 0; i < argc; i++) {
        const size_t n = strlen(argv[i]);
        if (argv[i][0] != '-' && n > 12 && !strcmp(argv[i] + n - 12, ".safetensors")) return true;
    }
    return false;
}

static int equiv_saved(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    int64_t samples = 8;
    cli_opt opts[] = {{CLI_INT("--samples", &samples, 1, 4096)}};
    const cli_pos pos[] = {
        {.name = "MODEL.safetensors", .dst = &model, .required = true},
        {.name = "DATA", .dst = &data, .required = true},
    };
    cli_args args = {.context = "equivariance", .opts = opts, .nopts = CLI_COUNT(opts),
                     .pos = pos, .npos = CLI_COUNT(pos),
                     .unknown = "unknown option '%s' with a saved model (try --help)"};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc == CLI_OK) rc = cli_compute_prepare("equivariance", 0);
    if (rc != CLI_OK) return cli_args_exit(rc, equiv_usage);
    gm_saved_model sm = {0};
    gm_dataset d = {0};
    gm_equiv_report rep;
    gm_status st = gm_model_load(model, &sm);
    const gm_model *m = sm.model;
    if (st == GM_OK && !gm_model_group(m))
        st = gm_error_set(GM_ERR_UNSUPPORTED, "model '%s' has no group (a baseline): there is "
                          "no equivariance to measure", model);
    if (st == GM_OK) st = gm_saved_model_read_images(&sm, data, &d);
    if (st == GM_OK && d.n == 0) st = gm_error_set(GM_ERR_SHAPE, "images '%s': no images", data);
    if (st == GM_OK) st = gm_run_equivariance(&sm, &d, samples, &rep);
    const int64_t n = d.n < samples ? d.n : samples;
    if (st != GM_OK) {
        rc = cli_status_error("equivariance", st);
    } else {
        const gm_group *g = gm_model_group(m);
        printf("model      %s on %s (order %lld)\n", model, gm_group_name(g),
               (long long)gm_group_order(g));
        printf("parameters %lld\n", (long long)gm_model_num_params(m));
        printf("input      %lld images of %s, %lld channels, %lldx%lld\n", (long long)n, data,
               (long long)d.channels, (long long)d.height, (long long)d.width);
        print_report(&rep);
    }
    gm_dataset_free(&d);
    gm_saved_model_free(&sm);
    return rc;
}

int cmd_equivariance(int argc, char **argv) {
    if (saved_form(argc, argv)) return equiv_saved(argc, argv);
    equiv_opts o = {.model = "gmcnn", .group = "D4xD4", .radius = 1, .channels = 8, .blocks = 2,
                    .seed = 42, .batch = 2};
    int rc = equiv_parse(argc, argv, &o);
    if (rc != CLI_OK) return cli_args_exit(rc, equiv_usage);
    const bool plume = !strcmp(o.model, "plume"), deep = !strcmp(o.model, "deep");
    if (!o.in) o.in = plume ? 20 : 1;
    if (!o.classes) o.classes = plume ? 2 : 10;
    if (o.rank > 0 && o.modulated)
        return cli_usage_error("equivariance", "--ldr-rank and --modulated exclude each other");
    if ((rc = cli_compute_prepare("equivariance", 0)) != CLI_OK) return rc;

    gm_model_desc d = {
        .kind = plume ? GM_MODEL_PLUME : deep ? GM_MODEL_GMCNN_DEEP : GM_MODEL_GMCNN,
        .group = o.group,
        .radius = o.radius,
        .in_channels = o.in,
        .out_dim = o.classes,
        .nblocks = o.blocks,
        .form = deep ? GM_CONV_FULL : GM_CONV_SHARED,
        .ldr_rank = o.rank,
        .modulated = o.modulated,
        .hidden = plume ? o.channels : 0,
    };
    for (int64_t b = 0; b < o.blocks; b++)
        d.blocks[b] = (gm_block_desc){.num_layers = 1,
                                      .out_channels = o.channels,
                                      .pool = deep && b + 1 < o.blocks};

    gm_model *m = NULL;
    gm_ctx *ctx = NULL;
    gm_status st = gm_model_new(&d, (uint64_t)o.seed, &m);
    if (st != GM_OK) return cli_status_error("equivariance", st);
    st = gm_ctx_new(0, (uint64_t)o.seed, &ctx);
    if (st != GM_OK) {
        gm_model_free(m);
        return cli_status_error("equivariance", st);
    }
    gm_rng rng;
    gm_rng_seed(&rng, (uint64_t)o.seed, 1);
    equiv_randomize_v(m, &rng);
    const int64_t n = gm_model_input_size(m);
    gm_tensor *x = NULL;
    gm_equiv_report rep;
    st = gm_tensor_new3(gm_ctx_arena(ctx), o.batch, o.in, n, &x);
    if (st == GM_OK) {
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] = (gm_real)(2.0 * gm_rng_uniform(&rng) - 1.0);
        st = gm_model_equivariance(m, ctx, x, &rep);
    }
    if (st != GM_OK) {
        rc = cli_status_error("equivariance", st);
    } else {
        printf("model      %s on %s (order %lld), radius %lld, %lld blocks x %lld channels%s\n",
               o.model, gm_group_name(gm_model_group(m)),
               (long long)gm_group_order(gm_model_group(m)), (long long)o.radius,
               (long long)o.blocks, (long long)o.channels,
               o.modulated ? ", modulated" : o.rank > 0 ? ", LDR" : ", exact");
        if (o.rank > 0) printf("ldr rank   %lld (random position vectors)\n", (long long)o.rank);
        printf("parameters %lld\n", (long long)gm_model_num_params(m));
        printf("input      %lld x %lld channels, uniform in [-1, 1), seed %lld\n",
               (long long)o.batch, (long long)o.in, (long long)o.seed);
        print_report(&rep);
    }
    gm_ctx_free(ctx);
    gm_model_free(m);
    return rc;
}
