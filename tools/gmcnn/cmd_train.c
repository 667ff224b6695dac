/* gmcnn train / eval / info: training without a config file, evaluation and
 * description of saved models. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char train_usage[] =
    "usage: gmcnn train CONFIG [--set KEY=VALUE]... [--resume CKPT] [--quiet] [--threads N]\n"
    "       gmcnn train --images IDX --labels IDX --out DIR [--model gmcnn|cnn|mlp]\n"
    "                   [--group SPEC] [--radius T] [--channels C] [--blocks N]\n"
    "                   [--dropout P] [--epochs E] [--batch B] [--lr LR] [--seed S]\n"
    "                   [--val-fraction F] [--test-images IDX --test-labels IDX]\n"
    "                   [--resume CKPT] [--quiet] [--threads N]\n"
    "\n"
    "With CONFIG (YAML, see configs/ and gmcnn/config.h): applies the --set\n"
    "overrides (KEY is a dotted path, VALUE is YAML, e.g. --set\n"
    "trainer.max_epochs=3; kinds first, so the order does not matter: a new\n"
    "optimizer or scheduler kind keeps the values given for keys it takes),\n"
    "locks <output.dir> against a second run, writes the resolved config to\n"
    "<output.dir>/config.yaml (CONFIG itself is kept when it is that file),\n"
    "loads the data (generated sets from build/data,\n"
    "see `make data`), holds out data.val_fraction for validation (seeded),\n"
    "standardises with training-split statistics if data.normalize (saved in\n"
    "every model file for eval, predict and equivariance), trains, and\n"
    "prints the test accuracy of the best and the last model, also written to\n"
    "<output.dir>/results.json (test_accuracy, test_accuracy_last,\n"
    "best_val_accuracy, best_epoch, epochs_run, parameters, train_seconds, ...).\n"
    "\n"
    "With data.source plume (configs/plume-*.yaml): forecasting with the\n"
    "reference protocol on the dataset directory data.path: rollout training on the\n"
    "training windows, validation RMSE after every epoch, then the test RMSE on\n"
    "the future and the domain windows for the best and the last model, also\n"
    "written to <output.dir>/results.json (rmse_future, rmse_domain, their _last\n"
    "twins, params, seconds, ...).\n"
    "\n"
    "Without CONFIG, flags describe the run: a classifier trained with AdamW and\n"
    "ReduceLROnPlateau on the validation loss, holding out a seeded fraction of the\n"
    "training set for validation. Both forms write DIR/last.safetensors (checkpoint,\n"
    "every epoch), DIR/best.safetensors (best validation loss), DIR/metrics.jsonl,\n"
    "DIR/metrics.csv and the plot DIR/metrics.png, and print one line per epoch.\n"
    "With test data, they print the test accuracy of the best and the last model.\n"
    "\n"
    "  --model M         gmcnn (default), cnn or mlp\n"
    "  --group SPEC      group of the image domain (default C28xC28)\n"
    "  --radius T        kernel support radius (default 1)\n"
    "  --channels C      channels of every block (default 8)\n"
    "  --blocks N        blocks of one layer each (default 2)\n"
    "  --dropout P       dropout before the last layer (default 0)\n"
    "  --epochs E        total epochs (default 2)\n"
    "  --batch B         batch size (default 32)\n"
    "  --lr LR           learning rate (default 0.004)\n"
    "  --seed S          seed of parameters, split, shuffling, dropout (default 42)\n"
    "  --val-fraction F  share held out for validation (default 0.2)\n"
    "  --resume CKPT     continue from a checkpoint (--epochs is the total)\n"
    "  --quiet           no per-epoch lines\n"
    "  --threads N       threads for training (default: OpenMP's, OMP_NUM_THREADS)\n";

static const char eval_usage[] =
    "usage: gmcnn eval MODEL.safetensors --images FILE --labels FILE [--batch N]\n"
    "       gmcnn eval MODEL.safetensors --data DIR [--future B,E] [--domain B,E]\n"
    "                  [--steps N] [--batch N]\n"
    "\n"
    "With --images: evaluates a saved classifier: loss, accuracy, per-class\n"
    "accuracy and the confusion matrix (rows: true class, columns: predicted).\n"
    "FILE is IDX (raw or gzip), or NumPy .npy by its suffix; labels must be\n"
    "classes of the model and images finite. Inputs are standardised with the\n"
    "statistics the model file carries, if any.\n"
    "\n"
    "With --data: evaluates a saved forecasting model on a plume dataset\n"
    "directory (manifest.json + sim_NNN.npy): the RMSE of the reference protocol over the future\n"
    "windows (training simulations) and the domain windows (held-out\n"
    "simulations), rolled out autoregressively. The window protocol is the one\n"
    "the model was trained with (stored in its file; the reference protocol's otherwise):\n"
    "  --future B,E   future windows s with B <= s < E (default 200,250)\n"
    "  --domain B,E   domain windows s with B <= s < E (default 0,100)\n"
    "  --steps N      rollout steps per window (default 20)\n"
    "  --batch N      windows per batch (default 256 / 32 for --data)\n";

static const char info_usage[] =
    "usage: gmcnn info MODEL.safetensors\n"
    "\n"
    "Prints a saved model's architecture, group, and parameters per tensor.\n";

/* --- shared pieces ------------------------------------------------------------ */

static gm_status load_dataset(const char *images, const char *labels, int64_t classes,
                              gm_dataset *out) {
    /* classes 0 (train's flag form): the labels give the count, at most the
     * default model.num_classes. */
    return gm_dataset_read_files(images, labels, classes, GM_CONFIG_DEFAULT_CLASSES, out);
}

static void print_metrics(const char *what, const gm_metrics *m, bool full) {
    printf("%s loss %.4f accuracy %.2f%% (%lld samples)\n", what, m->loss, m->accuracy,
           (long long)m->n);
    if (!full) return;
    printf("per-class accuracy:\n");
    for (int64_t c = 0; c < m->classes; c++) {
        const double a = gm_metrics_class_accuracy(m, c);
        if (isnan(a))
            printf("  class %lld: -\n", (long long)c);
        else
            printf("  class %lld: %.2f%%\n", (long long)c, a);
    }
    printf("confusion matrix (rows true, columns predicted):\n");
    for (int64_t i = 0; i < m->classes; i++) {
        for (int64_t j = 0; j < m->classes; j++)
            printf("%s%6lld", j ? " " : "  ", (long long)m->confusion[i * m->classes + j]);
        printf("\n");
    }
}

/* --- train -------------------------------------------------------------------- */

typedef struct train_opts {
    const char *images, *labels, *test_images, *test_labels, *out, *resume, *model, *group;
    int64_t radius, channels, blocks, epochs, batch, seed, threads;
    double dropout, lr, val_fraction;
    bool quiet;
} train_opts;

static int train_parse(int argc, char **argv, train_opts *o, bool *help) {
    static const struct {
        const char *flag;
        size_t offset;
    } strs[] = {
        {"--images", offsetof(train_opts, images)},
        {"--labels", offsetof(train_opts, labels)},
        {"--test-images", offsetof(train_opts, test_images)},
        {"--test-labels", offsetof(train_opts, test_labels)},
        {"--out", offsetof(train_opts, out)},
        {"--resume", offsetof(train_opts, resume)},
        {"--model", offsetof(train_opts, model)},
        {"--group", offsetof(train_opts, group)},
    };
    static const struct {
        const char *flag;
        int64_t lo, hi;
        size_t offset;
    } ints[] = {
        {"--radius", 0, 64, offsetof(train_opts, radius)},
        {"--channels", 1, 4096, offsetof(train_opts, channels)},
        {"--blocks", 1, GM_MODEL_MAX_BLOCKS, offsetof(train_opts, blocks)},
        {"--epochs", 1, 100000, offsetof(train_opts, epochs)},
        {"--batch", 1, 1 << 20, offsetof(train_opts, batch)},
        {"--seed", 0, INT64_MAX, offsetof(train_opts, seed)},
        {"--threads", 1, 1024, offsetof(train_opts, threads)},
    };
    static const struct {
        const char *flag;
        double lo, hi;
        size_t offset;
    } dbls[] = {
        {"--dropout", 0.0, 0.99, offsetof(train_opts, dropout)},
        {"--lr", 0.0, 1e6, offsetof(train_opts, lr)},
        {"--val-fraction", 0.0, 0.9, offsetof(train_opts, val_fraction)},
    };
    const char *value;
    for (int i = 0; i < argc; i++) {
        int m;
        if (cli_is_help(argv[i])) {
            *help = true;
            return CLI_OK;
        }
        if (!strcmp(argv[i], "--quiet")) {
            o->quiet = true;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !matched; k++) {
            if ((m = cli_flag_value(argc, argv, &i, strs[k].flag, &value)) == 0) continue;
            matched = true;
            if (m < 0 || !*value)
                return cli_usage_error("train", "%s needs a value", strs[k].flag);
            *(const char **)((char *)o + strs[k].offset) = value;
        }
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !matched; k++) {
            if ((m = cli_flag_value(argc, argv, &i, ints[k].flag, &value)) == 0) continue;
            matched = true;
            int64_t *dst = (int64_t *)((char *)o + ints[k].offset);
            if (m < 0 || !cli_parse_i64(value, ints[k].lo, ints[k].hi, dst))
                return cli_usage_error("train", "%s needs an integer in %lld..%lld",
                                       ints[k].flag, (long long)ints[k].lo, (long long)ints[k].hi);
        }
        for (size_t k = 0; k < sizeof dbls / sizeof dbls[0] && !matched; k++) {
            if ((m = cli_flag_value(argc, argv, &i, dbls[k].flag, &value)) == 0) continue;
            matched = true;
            double *dst = (double *)((char *)o + dbls[k].offset);
            if (m < 0 || !cli_parse_double(value, dst) || *dst < dbls[k].lo || *dst > dbls[k].hi)
                return cli_usage_error("train", "%s needs a number in [%g, %g]", dbls[k].flag,
                                       dbls[k].lo, dbls[k].hi);
        }
        if (matched) continue;
        if (argv[i][0] == '-')
            return cli_usage_error("train", "unknown option '%s' (try --help)", argv[i]);
        return cli_usage_error("train", "unexpected argument '%s' (a config file goes first: "
                               "gmcnn train CONFIG ...)", argv[i]);
    }
    if (!o->images || !o->labels)
        return cli_usage_error("train", "--images and --labels are required");
    if (!o->out) return cli_usage_error("train", "--out DIR is required");
    if (!!o->test_images != !!o->test_labels)
        return cli_usage_error("train", "--test-images and --test-labels go together");
    if (strcmp(o->model, "gmcnn") && strcmp(o->model, "cnn") && strcmp(o->model, "mlp"))
        return cli_usage_error("train", "--model needs gmcnn, cnn or mlp");
    return CLI_OK;
}

/* What the per-epoch and per-step callbacks need. */
typedef struct progress {
    bool quiet;
    bool forecast;    /* losses are RMSEs, no accuracy */
    int64_t batch;
    int64_t epochs;   /* of the whole run, for its ETA */
    int64_t epoch;    /* the epoch whose steps are being timed */
    int64_t step0;    /* its first step seen, at epoch_t0 seconds */
    double epoch_t0;
    double step_s;    /* seconds per step, last measured (0: not yet) */
} progress;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static gm_status print_epoch(const gm_epoch_record *r, void *user) {
    const progress *o = user;
    if (!o->quiet && o->forecast) {
        printf("epoch %lld lr %.3g train RMSE %.5f val RMSE %.5f %.1fs %.0f samples/s%s\n",
               (long long)r->epoch, r->lr, r->train_loss, r->val_loss, r->seconds,
               r->samples_per_second, r->best ? " *" : "");
        fflush(stdout);
    } else if (!o->quiet) {
        printf("epoch %lld lr %.3g train loss %.4f acc %.2f%% val loss %.4f acc %.2f%% "
               "%.1fs %.0f samples/s%s\n",
               (long long)r->epoch, r->lr, r->train_loss, r->train_accuracy, r->val_loss,
               r->val_accuracy, r->seconds, r->samples_per_second, r->best ? " *" : "");
        fflush(stdout);
    }
    return GM_OK;
}

/* A progress bar on a terminal's stderr: steps, loss, throughput and the ETA
 * of the run's remaining steps (validation not counted). The rate is timed
 * from the first step an epoch reports; until a second one, the last
 * epoch's rate stands ("-" before any). */
static void print_step(int64_t epoch, int64_t step, int64_t steps, double loss, void *user) {
    progress *o = user;
    const double t = now_seconds();
    if (epoch != o->epoch) {
        o->epoch = epoch;
        o->epoch_t0 = t;
        o->step0 = step;
    }
    if (step > o->step0) o->step_s = (t - o->epoch_t0) / (double)(step - o->step0);
    const int64_t left = steps - step + (o->epochs > epoch ? (o->epochs - epoch) * steps : 0);
    char rate[32] = "-", eta[32] = "-";
    if (o->step_s > 0) {
        snprintf(rate, sizeof rate, "%.0f", (double)o->batch / o->step_s);
        snprintf(eta, sizeof eta, "%.0fs", o->step_s * (double)left);
    }
    char bar[21];
    const int fill = steps > 0 ? (int)(20 * step / steps) : 0;
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    fprintf(stderr, "\repoch %lld [%s] %lld/%lld loss %.4f %s samples/s ETA %s ",
            (long long)epoch, bar, (long long)step, (long long)steps, loss, rate, eta);
    if (step == steps) fprintf(stderr, "\r%90s\r", "");
    fflush(stderr);
}

/* After training: the loss/accuracy plot DIR/metrics.png from the metrics
 * file, then the test set (if any) on the last and on the best model; acc and
 * loss (may be NULL) receive {best, last}, NaN without a test set. */
static gm_status finish_run(gm_model *m, gm_trainer *t, const gm_dataset *test, int64_t batch,
                            const char *jsonl, const char *dir, double acc[2], double loss[2]) {
    if (acc) acc[0] = acc[1] = NAN;
    if (loss) loss[0] = loss[1] = NAN;
    char png[4096];
    snprintf(png, sizeof png, "%s/metrics.png", dir);
    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    gm_status st = gm_metrics_jsonl_read(jsonl, &n, &recs);
    if (st == GM_OK && n > 0) st = gm_plot_metrics_png(png, n, recs, jsonl);
    gm_free(recs);
    if (st != GM_OK || !test) return st;
    gm_metrics last = {0}, best = {0};
    st = gm_evaluate(m, test, batch, &last);
    if (st == GM_OK) st = gm_trainer_restore_best(t);
    if (st == GM_OK) st = gm_evaluate(m, test, batch, &best);
    if (st == GM_OK) {
        print_metrics("test (best)", &best, false);
        print_metrics("test (last)", &last, false);
        if (acc) acc[0] = best.accuracy, acc[1] = last.accuracy;
        if (loss) loss[0] = best.loss, loss[1] = last.loss;
    }
    gm_metrics_free(&last);
    gm_metrics_free(&best);
    return st;
}

/* The files a training run writes into its output directory. */
typedef struct run_paths {
    char last[4096], best[4096], jsonl[4096], csv[4096];
} run_paths;

static void run_paths_init(run_paths *p, const char *dir) {
    snprintf(p->last, sizeof p->last, "%s/last.safetensors", dir);
    snprintf(p->best, sizeof p->best, "%s/best.safetensors", dir);
    snprintf(p->jsonl, sizeof p->jsonl, "%s/metrics.jsonl", dir);
    snprintf(p->csv, sizeof p->csv, "%s/metrics.csv", dir);
}

/* Every file a run writes into its output directory. */
static const char *const run_outputs[] = {"config.yaml",   "last.safetensors", "best.safetensors",
                                          "metrics.jsonl", "metrics.csv",      "metrics.png",
                                          "results.json",  GM_OUTPUT_DIR_LOCK};

/* Takes the output directory for this run (*lock, released by
 * gm_output_dir_unlock) after checking that none of the inputs (n paths,
 * NULL ones skipped, named by `keys` in messages) is a file the run writes
 * there. CLI_OK, or CLI_FAIL after printing why. */
static int claim_output_dir(const char *dir, int n, const char *const *inputs,
                            const char *const *keys, int *lock) {
    *lock = -1;
    char path[4096];
    for (size_t k = 0; k < sizeof run_outputs / sizeof run_outputs[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, run_outputs[k]);
        for (int i = 0; i < n; i++)
            if (cli_same_file(inputs[i], path)) {
                fprintf(stderr, "gmcnn: train: %s '%s' is the %s this run writes in its output "
                        "directory '%s'; move it or choose another output directory\n", keys[i],
                        inputs[i], run_outputs[k], dir);
                return CLI_FAIL;
            }
    }
    const gm_status st = gm_output_dir_lock(dir, lock);
    if (st != GM_OK) return cli_status_error("train", st);
    /* Temporaries of atomic writes that a crash kept from their rename: with
     * the lock held, no writer is left to finish them. */
    for (size_t k = 0; k < sizeof run_outputs / sizeof run_outputs[0]; k++) {
        snprintf(path, sizeof path, "%s/%s.tmp.??????", dir, run_outputs[k]);
        glob_t g;
        if (glob(path, GLOB_NOSORT, NULL, &g) != 0) continue;
        for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    return CLI_OK;
}

/* Points fo at the run's files and the progress printers. */
static void fit_options_wire(gm_fit_options *fo, const run_paths *p, const char *resume,
                             bool quiet, progress *ui) {
    fo->checkpoint_path = p->last;
    fo->best_path = p->best;
    fo->metrics_jsonl = p->jsonl;
    fo->metrics_csv = p->csv;
    fo->resume_path = resume;
    fo->progress_every = isatty(fileno(stderr)) && !quiet ? 1 : 0;
    fo->on_epoch = print_epoch;
    fo->on_step = print_step;
    fo->user = ui;
}

static int train_run(train_opts *o) {
    run_paths rp;
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "gmcnn: train: cannot create '%s': %s\n", o->out, strerror(errno));
        return CLI_FAIL;
    }
    run_paths_init(&rp, o->out);
    const char *inputs[] = {o->images, o->labels, o->test_images, o->test_labels};
    static const char *const keys[] = {"--images", "--labels", "--test-images", "--test-labels"};
    int lock = -1;
    if (claim_output_dir(o->out, 4, inputs, keys, &lock) != CLI_OK) return CLI_FAIL;

    gm_dataset all = {0}, train = {0}, val = {0}, test = {0};
    gm_model *m = NULL;
    gm_trainer *t = NULL;
    int rc = CLI_OK;
    gm_status st = load_dataset(o->images, o->labels, 0, &all);
    if (st == GM_OK) st = gm_dataset_split_fraction(&all, o->val_fraction, (uint64_t)o->seed,
                                                    &train, &val);
    if (st == GM_OK && o->test_images)
        st = load_dataset(o->test_images, o->test_labels, 0, &test);
    if (st != GM_OK) {
        rc = cli_status_error("train", st);
        goto done;
    }
    const bool gm = !strcmp(o->model, "gmcnn");
    progress ui = {.quiet = o->quiet, .batch = o->batch, .epochs = o->epochs, .epoch = -1};
    gm_model_desc d = {
        .kind = gm ? GM_MODEL_GMCNN : !strcmp(o->model, "cnn") ? GM_MODEL_CNN : GM_MODEL_MLP,
        .group = gm ? o->group : NULL,
        .radius = o->radius,
        .in_channels = all.channels,
        .out_dim = all.classes > test.classes ? all.classes : test.classes,
        .nblocks = o->blocks,
        .dropout = o->dropout,
        .form = GM_CONV_SHARED,
        .image_h = gm ? 0 : all.height,
        .image_w = gm ? 0 : all.width,
    };
    for (int64_t b = 0; b < o->blocks; b++)
        d.blocks[b] = (gm_block_desc){.num_layers = 1, .out_channels = o->channels};
    st = gm_model_new(&d, (uint64_t)o->seed, &m);
    if (st != GM_OK) {
        rc = cli_status_error("train", st);
        goto done;
    }
    gm_fit_options fo = {
        .epochs = o->epochs,
        .batch_size = o->batch,
        .seed = (uint64_t)o->seed,
        .optim = gm_optim_config_default(GM_OPTIM_ADAMW),
        .sched = gm_lr_sched_config_default(GM_LR_PLATEAU),
    };
    fo.optim.lr = o->lr;
    fit_options_wire(&fo, &rp, o->resume, o->quiet, &ui);
    st = gm_trainer_new(m, &fo, &t);
    if (st != GM_OK) {
        rc = cli_status_error("train", st);
        goto done;
    }
    if (!o->quiet)
        printf("model %s, %lld parameters; %lld training, %lld validation samples\n", o->model,
               (long long)gm_model_num_params(m), (long long)train.n, (long long)val.n);
    gm_fit_result res;
    st = gm_trainer_fit(t, &train, &val, &res);
    if (st != GM_OK) {
        rc = cli_status_error("train", st);
        goto done;
    }
    printf("best epoch %lld (validation loss %.4f)%s\n", (long long)res.best_epoch,
           res.best_val_loss, res.stopped_early ? ", stopped early" : "");
    st = finish_run(m, t, o->test_images ? &test : NULL, o->batch, rp.jsonl, o->out, NULL, NULL);
    if (st != GM_OK) rc = cli_status_error("train", st);
done:
    gm_output_dir_unlock(lock);
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&all);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    gm_dataset_free(&test);
    return rc;
}

/* --- train CONFIG ------------------------------------------------------------ */

#define MAX_SETS 64

typedef struct config_opts {
    const char *config, *resume;
    const char *sets[MAX_SETS];
    int64_t nsets, threads;
    bool quiet;
} config_opts;

static int config_parse(int argc, char **argv, config_opts *o, bool *help) {
    const char *value;
    for (int i = 0; i < argc; i++) {
        int m;
        if (cli_is_help(argv[i])) {
            *help = true;
            return CLI_OK;
        }
        if (!strcmp(argv[i], "--quiet")) {
            o->quiet = true;
        } else if ((m = cli_flag_value(argc, argv, &i, "--set", &value)) != 0) {
            if (m < 0 || !strchr(value, '=') || value[0] == '=')
                return cli_usage_error("train", "--set needs KEY=VALUE");
            if (o->nsets == MAX_SETS)
                return cli_usage_error("train", "more than %d --set overrides", MAX_SETS);
            o->sets[o->nsets++] = value;
        } else if ((m = cli_flag_value(argc, argv, &i, "--resume", &value)) != 0) {
            if (m < 0 || !*value) return cli_usage_error("train", "--resume needs a checkpoint");
            o->resume = value;
        } else if ((m = cli_flag_value(argc, argv, &i, "--threads", &value)) != 0) {
            if (m < 0 || !cli_parse_i64(value, 1, 1024, &o->threads))
                return cli_usage_error("train", "--threads needs an integer in 1..1024");
        } else if (argv[i][0] == '-') {
            return cli_usage_error("train", "unknown option '%s' with a config (try --help)",
                                   argv[i]);
        } else if (!o->config) {
            o->config = argv[i];
        } else {
            return cli_usage_error("train", "unexpected argument '%s'", argv[i]);
        }
    }
    return CLI_OK;
}

/* mkdir -p: output.dir may be nested ("runs/default"). */
static int make_dirs(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        fprintf(stderr, "gmcnn: train: output directory name too long\n");
        return CLI_FAIL;
    }
    for (char *p = buf + 1;; p++) {
        const char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "gmcnn: train: cannot create '%s': %s\n", buf, strerror(errno));
            return CLI_FAIL;
        }
        if (c == '\0') return CLI_OK;
        *p = c;
    }
}

/* The model must read the data as it is: channels, group order or image
 * size, and enough outputs for every label. */
static gm_status check_fit(const gm_model *m, const gm_dataset *d) {
    const gm_model_desc *md = gm_model_description(m);
    const gm_group *g = gm_model_group(m);
    const int64_t hw = d->height * d->width;
    if (md->in_channels != d->channels)
        return gm_error_set(GM_ERR_SHAPE, "model.in_channels is %lld but the data has %lld "
                            "channels", (long long)md->in_channels, (long long)d->channels);
    if (g && gm_model_input_size(m) != hw)
        return gm_error_set(GM_ERR_SHAPE, "the model on %s reads %lld values but the images are "
                            "%lldx%lld (%lld pixels); resize the data or change model.spec",
                            gm_group_name(g), (long long)gm_model_input_size(m),
                            (long long)d->height, (long long)d->width, (long long)hw);
    if (md->out_dim < d->classes)
        return gm_error_set(GM_ERR_SHAPE, "model.num_classes is %lld but the labels need %lld",
                            (long long)md->out_dim, (long long)d->classes);
    return GM_OK;
}

/* --- train CONFIG with data.source plume: forecasting ------------------------- */

static void print_rmse(const char *what, const gm_forecast_metrics *fu,
                       const gm_forecast_metrics *dm) {
    printf("test RMSE (%s): future %.5f (%lld windows x %lld steps), domain %.5f (%lld windows "
           "x %lld steps)\n", what, fu->rmse, (long long)fu->n, (long long)fu->steps, dm->rmse,
           (long long)dm->n, (long long)dm->steps);
}

/* write_cfg: where the resolved config goes once data and model are ready
 * (NULL: CONFIG is that file already). */
static int forecast_run(const config_opts *o, gm_config *cfg, const char *dir,
                        const char *write_cfg) {
    char p_png[4096], p_res[4096];
    run_paths rp;
    run_paths_init(&rp, dir);
    snprintf(p_png, sizeof p_png, "%s/metrics.png", dir);
    snprintf(p_res, sizeof p_res, "%s/results.json", dir);
    const gm_data_config *dc = gm_config_data(cfg);
    const gm_forecast_protocol *p = &dc->forecast;
    const uint64_t seed = gm_config_seed(cfg);
    gm_plume_data data = {0};
    gm_forecast_set sets[4] = {{0}};
    gm_forecast_metrics last[2] = {{0}}, best[2] = {{0}};
    gm_model *m = NULL;
    gm_trainer *t = NULL;
    char *proto = NULL;
    gm_epoch_record *recs = NULL;
    int rc = CLI_OK;
    gm_status st = gm_plume_data_load(dc->plume_dir, &data);
    for (int i = 0; i < 4 && st == GM_OK; i++)
        st = gm_forecast_set_new(&data, p, (gm_forecast_split)i, &sets[i]);
    if (st != GM_OK) goto fail;
    int64_t held = 0;
    for (int64_t i = 0; i < data.nsims; i++) held += data.held_out[i];
    printf("data plume '%s': %lld simulations (%lld held out) of %lld frames %lldx%lld; windows: "
           "%lld train (stride %lld), %lld val, %lld future, %lld domain (stride %lld)\n",
           dc->plume_dir,
           (long long)data.nsims, (long long)held, (long long)data.frames,
           (long long)data.height, (long long)data.width, (long long)sets[0].n,
           (long long)p->train_stride, (long long)sets[1].n, (long long)sets[2].n,
           (long long)sets[3].n, (long long)p->eval_stride);

    const gm_model_desc *md = gm_config_model(cfg);
    if ((st = gm_model_new(md, seed, &m)) != GM_OK) goto fail;
    if ((st = gm_forecast_check_model(m, &sets[0])) != GM_OK) goto fail;
    const gm_group *g = gm_model_group(m);
    const int64_t nparams = gm_model_num_params(m);
    printf("model %s, group %s, %lld parameters; %lld-step rollouts, %lld-step tests\n",
           gm_config_model_kind_name(md->kind), g ? gm_group_name(g) : "none",
           (long long)nparams, (long long)p->rollout_steps, (long long)p->eval_steps);
    fflush(stdout);

    if ((st = gm_forecast_protocol_to_json(p, &proto)) != GM_OK) goto fail;
    const char *meta_keys[1] = {GM_FORECAST_META_KEY};
    const char *meta_values[1] = {proto};
    gm_fit_options fo = *gm_config_fit(cfg);
    progress ui = {.quiet = o->quiet, .forecast = true, .batch = fo.batch_size,
                   .epochs = fo.epochs, .epoch = -1};
    fit_options_wire(&fo, &rp, o->resume, o->quiet, &ui);
    fo.nmeta = 1;
    fo.meta_keys = meta_keys;
    fo.meta_values = meta_values;
    if (write_cfg && (st = gm_config_write(cfg, write_cfg)) != GM_OK) goto fail;
    if ((st = gm_trainer_new(m, &fo, &t)) != GM_OK) goto fail;
    gm_fit_result res;
    const double t0 = now_seconds();
    if ((st = gm_trainer_fit_forecast(t, &sets[0], &sets[1], &res)) != GM_OK) goto fail;
    const double seconds = now_seconds() - t0;
    printf("trained to epoch %lld (%lld this run) in %.1fs; best epoch %lld (validation RMSE "
           "%.5f)%s\n", (long long)gm_trainer_epoch(t), (long long)res.epochs_run, seconds,
           (long long)res.best_epoch, res.best_val_loss,
           res.stopped_early ? ", stopped early" : "");
    fflush(stdout);

    int64_t nrec = 0;
    if ((st = gm_metrics_jsonl_read(rp.jsonl, &nrec, &recs)) != GM_OK) goto fail;
    if (nrec > 0 && (st = gm_plot_metrics_png(p_png, nrec, recs, rp.jsonl)) != GM_OK) goto fail;
    /* The last parameters are the best ones when the last epoch was the best:
     * then one evaluation serves both. */
    const int64_t batch = fo.batch_size;
    const bool same = res.best_epoch == gm_trainer_epoch(t);
    for (int k = 0; k < 2 && st == GM_OK && !same; k++)
        st = gm_forecast_evaluate(m, &sets[2 + k], batch, &last[k]);
    if (st == GM_OK) st = gm_trainer_restore_best(t);
    for (int k = 0; k < 2 && st == GM_OK; k++)
        st = gm_forecast_evaluate(m, &sets[2 + k], batch, &best[k]);
    if (st != GM_OK) goto fail;
    const gm_forecast_metrics *lastp = same ? best : last;
    print_rmse("best", &best[0], &best[1]);
    print_rmse("last", &lastp[0], &lastp[1]);
    const gm_forecast_report rep = {
        .rmse_future = best[0].rmse,
        .rmse_domain = best[1].rmse,
        .rmse_future_last = lastp[0].rmse,
        .rmse_domain_last = lastp[1].rmse,
        .n_future = best[0].n,
        .n_domain = best[1].n,
        .params = nparams,
        .epochs = gm_trainer_epoch(t),
        .best_epoch = res.best_epoch,
        .seconds = seconds,
        .model = gm_config_model_kind_name(md->kind),
        .data = dc->plume_dir,
    };
    if ((st = gm_forecast_report_write(p_res, &rep)) != GM_OK) goto fail;
    printf("parameters %lld\noutputs in %s\n", (long long)nparams, dir);
    goto done;
fail:
    rc = cli_status_error("train", st);
done:
    gm_free(recs);
    gm_free(proto);
    for (int k = 0; k < 2; k++) {
        gm_forecast_metrics_free(&last[k]);
        gm_forecast_metrics_free(&best[k]);
    }
    gm_trainer_free(t);
    gm_model_free(m);
    for (int i = 0; i < 4; i++) gm_forecast_set_free(&sets[i]);
    gm_plume_data_free(&data);
    return rc;
}

static int config_run(const config_opts *o) {
    gm_config *cfg = NULL;
    gm_dataset all = {0}, train = {0}, val = {0}, test = {0};
    gm_model *m = NULL;
    gm_trainer *t = NULL;
    double *mean = NULL, *sd = NULL;
    int rc = CLI_OK, lock = -1;
    gm_status st = gm_config_load(o->config, &cfg);
    if (st != GM_OK) return cli_status_error("train", st);
    if (o->nsets > 0 && (st = gm_config_set_all(cfg, o->nsets, o->sets)) != GM_OK) {
        gm_config_free(cfg);
        return cli_usage_error("train", "%s", gm_error_detail());
    }
    const char *dir = gm_config_output_dir(cfg);
    char p_cfg[4096];
    snprintf(p_cfg, sizeof p_cfg, "%s/config.yaml", dir);
    run_paths rp;
    run_paths_init(&rp, dir);
    const gm_data_config *dc = gm_config_data(cfg);
    if ((rc = make_dirs(dir)) != CLI_OK) goto done;
    /* A run started from its own output directory's config.yaml keeps it as
     * it is (comments and all): it already describes the run, unless
     * overrides change it. */
    const bool own_config = cli_same_file(o->config, p_cfg);
    if (own_config && o->nsets > 0) {
        rc = cli_usage_error("train", "config '%s' is the config.yaml of its output directory, "
                             "which the run would rewrite with the --set overrides; copy it "
                             "elsewhere or choose another output.dir", o->config);
        goto done;
    }
    const char *inputs[4 + GM_CONFIG_MAX_FILES] = {dc->train_images, dc->train_labels,
                                                   dc->test_images, dc->test_labels};
    const char *keys[4 + GM_CONFIG_MAX_FILES];
    for (int i = 0; i < 4 + GM_CONFIG_MAX_FILES; i++) keys[i] = "data file";
    int ninputs = 4;
    for (int64_t i = 0; i < dc->ntrain_files; i++) inputs[ninputs++] = dc->train_files[i];
    if (!own_config) {
        inputs[ninputs] = o->config;
        keys[ninputs++] = "config";
    }
    if ((rc = claim_output_dir(dir, ninputs, inputs, keys, &lock)) != CLI_OK) goto done;
    /* The resolved config is written once the data and the model are ready:
     * a run that fails before training leaves none behind. */
    const char *write_cfg = own_config ? NULL : p_cfg;

    if (dc->source == GM_DATA_PLUME) {
        rc = forecast_run(o, cfg, dir, write_cfg);
        goto done;
    }
    const uint64_t seed = gm_config_seed(cfg);
    st = gm_data_load_classes(dc, "build/data", gm_config_model(cfg)->out_dim, &all, &test);
    if (st != GM_OK) goto fail;
    st = dc->val_size >= 0 ? gm_dataset_split_count(&all, dc->val_size, seed, &train, &val)
                           : gm_dataset_split_fraction(&all, dc->val_fraction, seed, &train, &val);
    if (st != GM_OK) goto fail;
    gm_dataset_free(&all);
    if (dc->normalize) {
        mean = gm_malloc_array((size_t)train.channels, sizeof *mean);
        sd = gm_malloc_array((size_t)train.channels, sizeof *sd);
        if (!mean || !sd) {
            st = gm_error_set(GM_ERR_NOMEM, "normalisation statistics: out of memory");
            goto fail;
        }
        if ((st = gm_dataset_channel_stats(&train, mean, sd)) != GM_OK) goto fail;
        gm_dataset_normalize(&train, mean, sd);
        gm_dataset_normalize(&val, mean, sd);
        gm_dataset_normalize(&test, mean, sd);
    }
    printf("data %s: %lld training, %lld validation, %lld test samples of %lldx%lldx%lld%s\n",
           dc->source == GM_DATA_GENERATED && dc->gen_kind ? dc->gen_kind
                                                           : gm_data_source_name(dc->source),
           (long long)train.n, (long long)val.n, (long long)test.n, (long long)train.channels,
           (long long)train.height, (long long)train.width, dc->normalize ? ", normalised" : "");

    const gm_model_desc *md = gm_config_model(cfg);
    if ((st = gm_model_new(md, seed, &m)) != GM_OK) goto fail;
    if ((st = check_fit(m, &train)) != GM_OK) goto fail;
    const gm_group *g = gm_model_group(m);
    const int64_t nparams = gm_model_num_params(m);
    printf("model %s, group %s, %lld parameters\n", gm_config_model_kind_name(md->kind),
           g ? gm_group_name(g) : "none", (long long)nparams);
    fflush(stdout);

    gm_fit_options fo = *gm_config_fit(cfg);
    progress ui = {.quiet = o->quiet, .batch = fo.batch_size, .epochs = fo.epochs, .epoch = -1};
    fit_options_wire(&fo, &rp, o->resume, o->quiet, &ui);
    if (dc->normalize) {
        fo.norm_channels = train.channels;
        fo.norm_mean = mean;
        fo.norm_std = sd;
    }
    if (write_cfg && (st = gm_config_write(cfg, write_cfg)) != GM_OK) goto fail;
    if ((st = gm_trainer_new(m, &fo, &t)) != GM_OK) goto fail;
    gm_fit_result res;
    const double t0 = now_seconds();
    if ((st = gm_trainer_fit(t, &train, &val, &res)) != GM_OK) goto fail;
    const double train_seconds = now_seconds() - t0;
    printf("trained to epoch %lld (%lld this run) in %.1fs; best epoch %lld (validation loss "
           "%.4f, accuracy %.2f%%)%s\n", (long long)gm_trainer_epoch(t),
           (long long)res.epochs_run, train_seconds, (long long)res.best_epoch,
           res.best_val_loss, res.best_val_accuracy, res.stopped_early ? ", stopped early" : "");
    if (test.n == 0) printf("no test set in the config\n");
    double test_acc[2], test_loss[2];
    if ((st = finish_run(m, t, test.n > 0 ? &test : NULL, fo.batch_size, rp.jsonl, dir, test_acc,
                         test_loss)) != GM_OK)
        goto fail;
    char p_res[4096];
    snprintf(p_res, sizeof p_res, "%s/results.json", dir);
    const gm_classify_report rep = {
        .test_accuracy = test_acc[0],
        .test_accuracy_last = test_acc[1],
        .test_loss = test_loss[0],
        .test_loss_last = test_loss[1],
        .best_val_accuracy = res.best_val_accuracy,
        .best_val_loss = res.best_val_loss,
        .n_test = test.n,
        .best_epoch = res.best_epoch,
        .epochs_run = gm_trainer_epoch(t),
        .parameters = nparams,
        .train_seconds = train_seconds,
        .select = fo.select == GM_SELECT_VAL_ACCURACY ? "val_accuracy" : "val_loss",
        .model = gm_config_model_kind_name(md->kind),
        .source = gm_data_source_name(dc->source),
        .kind = dc->source == GM_DATA_GENERATED ? dc->gen_kind : NULL,
        .digits = dc->source == GM_DATA_GENERATED ? dc->gen_digits : NULL,
        .split = dc->source == GM_DATA_GENERATED ? (dc->gen_official ? "official" : "pooled")
                                                 : NULL,
        .config = o->config,
    };
    if ((st = gm_classify_report_write(p_res, &rep)) != GM_OK) goto fail;
    printf("parameters %lld\noutputs in %s\n", (long long)nparams, dir);
    goto done;
fail:
    rc = cli_status_error("train", st);
done:
    gm_output_dir_unlock(lock);
    gm_free(mean);
    gm_free(sd);
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&all);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    gm_dataset_free(&test);
    gm_config_free(cfg);
    return rc;
}

int cmd_train(int argc, char **argv) {
    if (argc > 0 && argv[0][0] != '-') {
        config_opts co = {0};
        bool help = false;
        int rc = config_parse(argc, argv, &co, &help);
        if (rc != CLI_OK) return rc;
        if (help) {
            fputs(train_usage, stdout);
            return CLI_OK;
        }
        if (co.threads > 0) gm_set_threads((int)co.threads);
        return config_run(&co);
    }
    train_opts o = {.model = "gmcnn", .group = "C28xC28", .radius = 1, .channels = 8,
                    .blocks = 2, .epochs = 2, .batch = 32, .seed = 42, .lr = 0.004,
                    .val_fraction = 0.2};
    bool help = false;
    int rc = train_parse(argc, argv, &o, &help);
    if (rc != CLI_OK) return rc;
    if (help) {
        fputs(train_usage, stdout);
        return CLI_OK;
    }
    if (o.threads > 0) gm_set_threads((int)o.threads);
    return train_run(&o);
}

/* --- eval --------------------------------------------------------------------- */

/* "B,E" with 0 <= B < E. */
static bool parse_range(const char *s, gm_forecast_range *r) {
    const char *comma = s ? strchr(s, ',') : NULL;
    if (!comma) return false;
    char first[32];
    const size_t len = (size_t)(comma - s);
    if (len == 0 || len >= sizeof first) return false;
    memcpy(first, s, len);
    first[len] = '\0';
    int64_t b, e;
    if (!cli_parse_i64(first, 0, INT64_C(1) << 31, &b) ||
        !cli_parse_i64(comma + 1, 0, INT64_C(1) << 31, &e) || b >= e)
        return false;
    *r = (gm_forecast_range){b, e};
    return true;
}

typedef struct eval_forecast_opts {
    const char *model, *data;
    int64_t batch, steps;
    bool future_set, domain_set;
    gm_forecast_range future, domain;
} eval_forecast_opts;

static int eval_forecast(const eval_forecast_opts *o) {
    gm_model *m = NULL;
    gm_plume_data data = {0};
    gm_forecast_set sets[2] = {{0}};
    gm_forecast_metrics mt[2] = {{0}};
    gm_forecast_protocol p;
    gm_status st = cli_load_model(o->model, &m, NULL);
    if (st == GM_OK) st = cli_forecast_protocol(o->model, m, &p);
    if (st == GM_OK) {
        if (o->future_set) p.future = o->future;
        if (o->domain_set) p.domain = o->domain;
        if (o->steps > 0) p.eval_steps = o->steps;
        st = gm_plume_data_load(o->data, &data);
    }
    for (int k = 0; k < 2 && st == GM_OK; k++)
        st = gm_forecast_set_new(&data, &p, k ? GM_FORECAST_DOMAIN : GM_FORECAST_FUTURE,
                                 &sets[k]);
    for (int k = 0; k < 2 && st == GM_OK; k++)
        st = gm_forecast_evaluate(m, &sets[k], o->batch, &mt[k]);
    int rc = CLI_OK;
    if (st != GM_OK) {
        rc = cli_status_error("eval", st);
    } else {
        for (int k = 0; k < 2; k++)
            printf("%s RMSE %.5f (%lld windows [%lld, %lld) x %lld steps)\n",
                   k ? "domain" : "future", mt[k].rmse, (long long)mt[k].n,
                   (long long)(k ? p.domain.begin : p.future.begin),
                   (long long)(k ? p.domain.end : p.future.end), (long long)mt[k].steps);
    }
    for (int k = 0; k < 2; k++) {
        gm_forecast_metrics_free(&mt[k]);
        gm_forecast_set_free(&sets[k]);
    }
    gm_plume_data_free(&data);
    gm_model_free(m);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *images = NULL, *labels = NULL, *value;
    int64_t batch = 0;
    eval_forecast_opts fo = {0};
    for (int i = 0; i < argc; i++) {
        int m;
        if (cli_is_help(argv[i])) {
            fputs(eval_usage, stdout);
            return CLI_OK;
        }
        if ((m = cli_flag_value(argc, argv, &i, "--data", &value)) != 0) {
            if (m < 0 || !*value) return cli_usage_error("eval", "--data needs a directory");
            fo.data = value;
        } else if ((m = cli_flag_value(argc, argv, &i, "--future", &value)) != 0) {
            if (m < 0 || !parse_range(value, &fo.future))
                return cli_usage_error("eval", "--future needs B,E with 0 <= B < E");
            fo.future_set = true;
        } else if ((m = cli_flag_value(argc, argv, &i, "--domain", &value)) != 0) {
            if (m < 0 || !parse_range(value, &fo.domain))
                return cli_usage_error("eval", "--domain needs B,E with 0 <= B < E");
            fo.domain_set = true;
        } else if ((m = cli_flag_value(argc, argv, &i, "--steps", &value)) != 0) {
            if (m < 0 || !cli_parse_i64(value, 1, 100000, &fo.steps))
                return cli_usage_error("eval", "--steps needs an integer in 1..100000");
        } else if ((m = cli_flag_value(argc, argv, &i, "--images", &value)) != 0) {
            if (m < 0) return cli_usage_error("eval", "--images needs a file");
            images = value;
        } else if ((m = cli_flag_value(argc, argv, &i, "--labels", &value)) != 0) {
            if (m < 0) return cli_usage_error("eval", "--labels needs a file");
            labels = value;
        } else if ((m = cli_flag_value(argc, argv, &i, "--batch", &value)) != 0) {
            if (m < 0 || !cli_parse_i64(value, 1, 1 << 20, &batch))
                return cli_usage_error("eval", "--batch needs an integer in 1..%d", 1 << 20);
        } else if (argv[i][0] == '-') {
            return cli_usage_error("eval", "unknown option '%s' (try --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return cli_usage_error("eval", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model) return cli_usage_error("eval", "MODEL.safetensors is required");
    if (fo.data) {
        if (images || labels)
            return cli_usage_error("eval", "--data and --images/--labels exclude each other");
        fo.model = model;
        fo.batch = batch ? batch : 32;
        return eval_forecast(&fo);
    }
    if (fo.future_set || fo.domain_set || fo.steps)
        return cli_usage_error("eval", "--future, --domain and --steps go with --data");
    if (!batch) batch = 256;
    if (!images || !labels)
        return cli_usage_error("eval", "--images and --labels (or --data DIR) are required");
    gm_model *m = NULL;
    gm_dataset d = {0};
    gm_metrics mt = {0};
    cli_norm norm = {0};
    gm_status st = cli_load_model(model, &m, &norm);
    if (st == GM_OK) st = load_dataset(images, labels, gm_model_description(m)->out_dim, &d);
    if (st == GM_OK) st = cli_norm_apply(&norm, &d);
    if (st == GM_OK) st = gm_evaluate(m, &d, batch, &mt);
    int rc = CLI_OK;
    if (st != GM_OK)
        rc = cli_status_error("eval", st);
    else
        print_metrics("test", &mt, true);
    gm_metrics_free(&mt);
    gm_dataset_free(&d);
    gm_model_free(m);
    cli_norm_free(&norm);
    return rc;
}

/* --- info --------------------------------------------------------------------- */

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(info_usage, stdout);
            return CLI_OK;
        }
        if (argv[i][0] == '-')
            return cli_usage_error("info", "unknown option '%s' (try --help)", argv[i]);
        if (model) return cli_usage_error("info", "unexpected argument '%s'", argv[i]);
        model = argv[i];
    }
    if (!model) return cli_usage_error("info", "MODEL.safetensors is required");
    gm_model *m = NULL;
    gm_status st = cli_load_model(model, &m, NULL);
    if (st != GM_OK) return cli_status_error("info", st);
    const gm_model_desc *d = gm_model_description(m);
    static const char *const kinds[] = {"gmcnn", "plume", "gmcnn_deep", "cnn", "mlp", "ldr"};
    static const char *const structures[] = {"toeplitz", "tridiag", "unstructured"};
    printf("model       %s\n", kinds[d->kind]);
    if (d->kind == GM_MODEL_LDR) {
        printf("structure   %s", structures[d->structure]);
        if (d->structure != GM_LDR_UNSTRUCTURED)
            printf(", displacement rank %lld", (long long)d->ldr_rank);
        printf(", %lld x %lld\n", (long long)(d->in_channels * d->image_h * d->image_w),
               (long long)(d->in_channels * d->image_h * d->image_w));
    }
    if (gm_model_group(m))
        printf("group       %s (order %lld), radius %lld\n", gm_group_name(gm_model_group(m)),
               (long long)gm_group_order(gm_model_group(m)), (long long)d->radius);
    printf("input       %lld channels", (long long)d->in_channels);
    if (gm_model_group(m) && gm_group_wallpaper_points(gm_model_group(m)) > 0 &&
        d->kind == GM_MODEL_GMCNN_DEEP) {
        const int64_t side = gm_group_param(gm_model_group(m));
        printf(", %lld x %lld images lifted to the group", (long long)side, (long long)side);
    }
    printf("\n");
    if (d->norm == GM_NORM_BATCH) printf("norm        batch (per channel, running statistics)\n");
    if (d->kind == GM_MODEL_PLUME || d->regressor)
        printf("output      %lld channels per position (regressor)\n", (long long)d->out_dim);
    else
        printf("output      %lld\n", (long long)d->out_dim);
    for (int64_t b = 0; b < d->nblocks; b++)
        printf("block %-5lld %lld layers x %lld channels%s\n", (long long)b,
               (long long)d->blocks[b].num_layers, (long long)d->blocks[b].out_channels,
               d->blocks[b].pool ? ", pool" : "");
    printf("dropout     %g\n\nparameters:\n", d->dropout);
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        const gm_tensor *t = gm_model_param(m, i);
        char shape[64];
        gm_tensor_shape_str(t, shape, sizeof shape);
        printf("  %-40s %-16s %lld%s\n", gm_model_param_name(m, i), shape, (long long)t->numel,
               t->requires_grad ? "" : " (state, not trained)");
    }
    printf("total %lld trained\n", (long long)gm_model_num_params(m));
    gm_model_free(m);
    return CLI_OK;
}
