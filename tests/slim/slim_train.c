/* Training from code, without configs: the test of the slim build
 * (GM_SLIM, cmake/features.cmake), run by every build.
 *
 * Makes a small labelled image set in memory (8x8 images of three shapes on
 * a noisy background), builds a p4m GM-CNN from a model description, trains
 * it with the trainer (Adam, checkpoint, best model and metric log written),
 * saves it with its description, loads it back twice (into a new model with
 * gm_safetensors_load_model, and with the run layer's gm_model_load) and
 * checks:
 *   - training reduced the training loss (to below 0.8 of the untrained
 *     model's) and ran every epoch;
 *   - both loaded models give logits equal, bit for bit, to the trained
 *     model's, and a fresh model's differ from them;
 *   - each optional part this build leaves out (gm_build_features) answers
 *     GM_ERR_UNSUPPORTED with a detail naming the function and GM_SLIM, and
 *     each part it has works.
 * Exits 0 when all hold; prints what failed otherwise.
 * Usage: slim_train [DIR] (a new directory under /tmp by default). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmcnn/gmcnn.h"

static int failures;

#define CHECK(call)                                                                   \
    do {                                                                              \
        const gm_status st_ = (call);                                                 \
        if (st_ != GM_OK) {                                                           \
            fprintf(stderr, "slim_train: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    gm_error_detail()[0] ? gm_error_detail() : gm_strerror(st_));     \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

#define EXPECT(cond, ...)                                                             \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "slim_train: FAILED: " __VA_ARGS__);                      \
            fputc('\n', stderr);                                                      \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define SIDE 8

/* n images of a bar, a diagonal or a 2x2 blob (class i % 3) on noise. */
static void make_set(int64_t n, uint64_t seed, gm_dataset *out) {
    unsigned char *px = malloc((size_t)n * SIDE * SIDE), *lab = malloc((size_t)n);
    if (!px || !lab) CHECK(GM_ERR_NOMEM);
    gm_rng rng;
    gm_rng_seed(&rng, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        const int c = (int)(i % 3);
        lab[i] = (unsigned char)c;
        for (int p = 0; p < SIDE * SIDE; p++) {
            const int row = p / SIDE, col = p % SIDE;
            const int on = c == 0   ? row == 3 && col >= 1 && col < 7
                           : c == 1 ? row == col && row >= 1 && row < 7
                                    : row >= 3 && row < 5 && col >= 3 && col < 5;
            px[i * SIDE * SIDE + p] = (unsigned char)(on ? 220 : 80 * gm_rng_uniform(&rng));
        }
    }
    const gm_array images = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {n, SIDE, SIDE}, .data = px};
    const gm_array labels = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {n}, .data = lab};
    CHECK(gm_dataset_from_arrays(&images, &labels, SIDE, SIDE, 3, out));
    free(px);
    free(lab);
}

/* The logits of m on d (n * classes doubles, free them). */
static double *logits_of(gm_model *m, const gm_dataset *d) {
    const gm_saved_model sm = {.model = m};
    gm_predictions p;
    CHECK(gm_run_predict(&sm, d, 16, &p));
    double *z = malloc((size_t)(p.n * p.classes) * sizeof *z);
    if (!z) CHECK(GM_ERR_NOMEM);
    memcpy(z, p.logits, (size_t)(p.n * p.classes) * sizeof *z);
    gm_predictions_free(&p);
    return z;
}

static double train_loss(gm_model *m, const gm_dataset *d) {
    gm_metrics mt;
    CHECK(gm_evaluate(m, d, 32, &mt));
    const double loss = mt.loss;
    gm_metrics_free(&mt);
    return loss;
}

static gm_status print_epoch(const gm_epoch_record *r, void *user) {
    (void)user;
    printf("  epoch %lld: training loss %.4f, validation accuracy %.1f%%\n", (long long)r->epoch,
           r->train_loss, r->val_accuracy);
    return GM_OK;
}

/* A part left out must answer GM_ERR_UNSUPPORTED, its detail naming the
 * function and the build option. */
static void expect_unsupported(const char *fn, gm_status st) {
    const char *detail = gm_error_detail();
    EXPECT(st == GM_ERR_UNSUPPORTED, "%s returned %s, not GM_ERR_UNSUPPORTED", fn,
           gm_strerror(st));
    EXPECT(strstr(detail, fn) && strstr(detail, "GM_SLIM"),
           "%s: the detail '%s' names neither the function nor GM_SLIM", fn, detail);
}

static bool has_part(const char *part) {
    const char *f = gm_build_features();
    const size_t n = strlen(part);
    for (const char *p = strstr(f, part); p; p = strstr(p + 1, part))
        if ((p == f || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
    return false;
}

static void check_parts(const char *dir, const char *metrics) {
    char path[512];
    /* plot */
    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    CHECK(gm_metrics_jsonl_read(metrics, &n, &recs));
    snprintf(path, sizeof path, "%s/metrics.png", dir);
    gm_status st = gm_plot_metrics_png(path, n, recs, "slim");
    if (has_part("plot"))
        EXPECT(st == GM_OK && access(path, F_OK) == 0, "plotting: %s", gm_error_detail());
    else
        expect_unsupported("gm_plot_metrics_png", st);
    gm_free(recs);
    /* config */
    gm_config *cfg = NULL;
    st = gm_config_parse("seed: 5\nmodel: {spec: C4}\n"
                         "data: {source: idx, images: x.idx, labels: y.idx}\n",
                         "slim", &cfg);
    if (has_part("config"))
        EXPECT(st == GM_OK && gm_config_seed(cfg) == 5, "config: %s", gm_error_detail());
    else
        expect_unsupported("gm_config_parse", st);
    gm_config_free(cfg);
    gm_run_result rr;
    if (!has_part("config")) expect_unsupported("gm_run_train", gm_run_train(NULL, NULL, &rr));
    /* rank: a 3 x 3 matrix of rank 2 */
    const double a[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1};
    int64_t rank = -1;
    st = gm_gmat_rank(3, 3, a, -1.0, &rank, NULL, NULL);
    if (has_part("rank"))
        EXPECT(st == GM_OK && rank == 2, "rank: %s, rank %lld", gm_error_detail(), (long long)rank);
    else
        expect_unsupported("gm_gmat_rank", st);
}

int main(int argc, char **argv) {
    char tmp[] = "/tmp/gmcnn-slim-XXXXXX";
    if (argc < 2 && !mkdtemp(tmp)) CHECK(gm_error_set(GM_ERR_IO, "cannot make a directory"));
    const char *dir = argc > 1 ? argv[1] : tmp;
    printf("gmcnn %s, parts: '%s'\n", GM_VERSION_STRING, gm_build_features());

    gm_dataset train, val;
    make_set(192, 1, &train);
    make_set(48, 2, &val);

    gm_model_desc desc = {
        .kind = GM_MODEL_GMCNN_DEEP,
        .group = "p4m:8",
        .radius = 1,
        .in_channels = 1,
        .out_dim = 3,
        .nblocks = 1,
        .blocks = {{.num_layers = 1, .out_channels = 6, .pool = true}},
        .form = GM_CONV_FULL,
        .norm = GM_NORM_BATCH,
    };
    gm_model *m = NULL;
    CHECK(gm_model_new(&desc, 7, &m));
    const double loss0 = train_loss(m, &train);

    char last[512], best[512], metrics[512], saved[512];
    snprintf(last, sizeof last, "%s/last.safetensors", dir);
    snprintf(best, sizeof best, "%s/best.safetensors", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    snprintf(saved, sizeof saved, "%s/model.safetensors", dir);
    gm_fit_options fo = {
        .epochs = 4,
        .batch_size = 16,
        .seed = 3,
        .optim = gm_optim_config_default(GM_OPTIM_ADAM),
        .sched = gm_lr_sched_config_default(GM_LR_CONSTANT),
        .checkpoint_path = last,
        .best_path = best,
        .metrics_jsonl = metrics,
        .on_epoch = print_epoch,
    };
    fo.optim.lr = 0.01;
    gm_trainer *t = NULL;
    gm_fit_result fr;
    CHECK(gm_trainer_new(m, &fo, &t));
    CHECK(gm_trainer_fit(t, &train, &val, &fr));
    const double loss1 = train_loss(m, &train);
    printf("training loss %.4f -> %.4f over %lld epochs\n", loss0, loss1,
           (long long)fr.epochs_run);
    EXPECT(fr.epochs_run == fo.epochs, "%lld epochs ran, not %lld", (long long)fr.epochs_run,
           (long long)fo.epochs);
    EXPECT(isfinite(loss1) && loss1 < 0.8 * loss0,
           "training did not reduce the loss: %.6f before, %.6f after", loss0, loss1);

    /* Save with the description, load twice, compare logits bit for bit. */
    char *json = NULL;
    CHECK(gm_model_desc_to_json(&desc, &json));
    const char *keys[] = {GM_MODEL_META_KEY}, *values[] = {json};
    CHECK(gm_safetensors_save_model(saved, m, 1, keys, values));
    gm_free(json);
    double *z = logits_of(m, &val);
    const size_t bytes = (size_t)(val.n * desc.out_dim) * sizeof *z;

    gm_model *m2 = NULL;
    CHECK(gm_model_new(&desc, 99, &m2));
    double *z_fresh = logits_of(m2, &val);
    EXPECT(memcmp(z, z_fresh, bytes) != 0, "a fresh model gives the trained model's logits");
    CHECK(gm_safetensors_load_model(saved, m2));
    double *z2 = logits_of(m2, &val);
    EXPECT(memcmp(z, z2, bytes) == 0,
           "the model loaded by gm_safetensors_load_model gives other logits (first: %.9g "
           "against %.9g)", z2[0], z[0]);

    gm_saved_model sm;
    CHECK(gm_model_load(saved, &sm));
    gm_predictions p;
    CHECK(gm_run_predict(&sm, &val, 0, &p));
    EXPECT(p.n == val.n && memcmp(z, p.logits, bytes) == 0,
           "the model loaded by gm_model_load gives other logits");
    int64_t right = 0;
    for (int64_t i = 0; i < p.n; i++) {
        int64_t top;
        gm_predictions_top(&p, i, 1, &top);
        right += top == val.y[i];
    }
    printf("loaded model: %lld of %lld validation images right\n", (long long)right,
           (long long)p.n);
    gm_predictions_free(&p);
    gm_saved_model_free(&sm);

    /* The trainer's best model is a saved model too. */
    CHECK(gm_model_load(best, &sm));
    gm_saved_model_free(&sm);

    check_parts(dir, metrics);

    free(z), free(z_fresh), free(z2);
    gm_model_free(m2);
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    if (failures) {
        fprintf(stderr, "slim_train: %d check(s) failed (files in %s)\n", failures, dir);
        return 1;
    }
    if (argc < 2) {
        const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl",
                               "metrics.png", "model.safetensors"};
        char path[512];
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    printf("slim_train: trained, saved and loaded; parts checked\n");
    return 0;
}
