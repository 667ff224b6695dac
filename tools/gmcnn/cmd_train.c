/* gmcnn train / eval / info: training without a config file, evaluation and
 * description of saved models. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char train_usage[] =
    "usage: gmcnn train CONFIG [--set KEY=VALUE]... [--resume CKPT] [--data-dir DIR]\n"
    "                   [--quiet] [--threads N]\n"
    "       gmcnn train --images IDX --labels IDX --out DIR [--model gmcnn|cnn|mlp]\n"
    "                   [--group SPEC] [--radius T] [--channels C] [--blocks N]\n"
    "                   [--dropout P] [--epochs E] [--batch B] [--lr LR] [--seed S]\n"
    "                   [--val-fraction F] [--test-images IDX --test-labels IDX]\n"
    "                   [--resume CKPT] [--quiet] [--threads N]\n"
    "\n"
    "With CONFIG (YAML: configs/ has examples, `gmcnn config keys` every key;\n"
    "data paths in it are relative to its directory): applies the --set\n"
    "overrides (KEY is a dotted path, VALUE is YAML, e.g. --set\n"
    "trainer.max_epochs=3; kinds first, so the order does not matter: a new\n"
    "optimizer or scheduler kind keeps the values given for keys it takes),\n"
    "locks <output.dir> against a second run, writes the resolved config to\n"
    "<output.dir>/config.yaml (CONFIG itself is kept when it is that file),\n"
    "loads the data (generated sets from --data-dir DIR, else $GMCNN_DATA, else\n"
    "build/data: see `make data`), holds out data.val_fraction for validation (seeded),\n"
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
    "training set; the model's input channels and classes are the data's (labels\n"
    "below 10). Both forms write DIR/config.yaml (the flags as a config),\n"
    "DIR/last.safetensors (checkpoint, every epoch), DIR/best.safetensors (best\n"
    "validation loss), DIR/metrics.jsonl, DIR/metrics.csv, the plot\n"
    "DIR/metrics.png and DIR/results.json, and print one line per epoch. With\n"
    "test data, they print the test accuracy of the best and the last model.\n"
    "Ctrl-C (SIGINT) or SIGTERM stops training before the next step, the files\n"
    "as after the last finished epoch: --resume DIR/last.safetensors continues\n"
    "to what an uninterrupted run gives (a second Ctrl-C kills at once).\n"
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

/* --- progress ------------------------------------------------------------------ */

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

static void print_info(const char *line, void *user) {
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

static gm_status print_epoch(const gm_epoch_record *r, void *user) {
    const progress *o = user;
    if (o->quiet) return GM_OK;
    if (o->forecast)
        printf("epoch %lld lr %.3g train RMSE %.5f val RMSE %.5f %.1fs %.0f samples/s%s\n",
               (long long)r->epoch, r->lr, r->train_loss, r->val_loss, r->seconds,
               r->samples_per_second, r->best ? " *" : "");
    else
        printf("epoch %lld lr %.3g train loss %.4f acc %.2f%% val loss %.4f acc %.2f%% "
               "%.1fs %.0f samples/s%s\n",
               (long long)r->epoch, r->lr, r->train_loss, r->train_accuracy, r->val_loss,
               r->val_accuracy, r->seconds, r->samples_per_second, r->best ? " *" : "");
    fflush(stdout);
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

/* --- train: one run, from a config or from flags -------------------------------- */


typedef struct train_opts {
    /* the config form */
    const char *config;
    const char *sets[CLI_MAX_SETS];
    int64_t nsets;
    /* the flag form: overrides of the default config */
    const char *images, *labels, *test_images, *test_labels, *out, *model, *group;
    int64_t radius, channels, blocks, epochs, batch, seed;
    double dropout, lr, val_fraction;
    /* both */
    const char *resume, *data_dir;
    int64_t threads;
    bool quiet;
} train_opts;

static void print_results(const gm_run_result *r, const char *dir) {
    if (r->forecast) {
        printf("trained to epoch %lld (%lld this run) in %.1fs; best epoch %lld (validation RMSE "
               "%.5f)%s\n", (long long)r->epochs, (long long)r->epochs_run, r->train_seconds,
               (long long)r->best_epoch, r->best_val_loss,
               r->stopped_early ? ", stopped early" : "");
        static const char *const what[2] = {"best", "last"};
        for (int k = 0; k < 2; k++)
            printf("test RMSE (%s): future %.5f (%lld windows x %lld steps), domain %.5f (%lld "
                   "windows x %lld steps)\n", what[k], k ? r->rmse_future_last : r->rmse_future,
                   (long long)r->n_future, (long long)r->eval_steps,
                   k ? r->rmse_domain_last : r->rmse_domain, (long long)r->n_domain,
                   (long long)r->eval_steps);
    } else {
        printf("trained to epoch %lld (%lld this run) in %.1fs; best epoch %lld (validation loss "
               "%.4f, accuracy %.2f%%)%s\n", (long long)r->epochs, (long long)r->epochs_run,
               r->train_seconds, (long long)r->best_epoch, r->best_val_loss,
               r->best_val_accuracy, r->stopped_early ? ", stopped early" : "");
        if (r->n_test == 0) {
            printf("no test set in the config\n");
        } else {
            printf("test (best) loss %.4f accuracy %.2f%% (%lld samples)\n", r->test_loss,
                   r->test_accuracy, (long long)r->n_test);
            printf("test (last) loss %.4f accuracy %.2f%% (%lld samples)\n", r->test_loss_last,
                   r->test_accuracy_last, (long long)r->n_test);
        }
    }
    printf("parameters %lld\noutputs in %s\n", (long long)r->parameters, dir);
}

/* Set by SIGINT or SIGTERM during a run: training stops before its next
 * step. The handler then restores the default action, so a second signal
 * ends the process at once. */
static volatile sig_atomic_t stop_requested;

static void request_stop(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL);
}

/* A failed data-parallel run: an error every rank agreed on is printed by
 * rank 0 alone; one rank's own error, naming the rank, ends every rank (the
 * others may be waiting for it in a collective call). */
static int dist_fail(gm_status st) {
    if (gm_dist_error_agreed()) {
        if (gm_dist_rank() == 0) cli_status_error("train", st);
        return CLI_FAIL;
    }
    const char *detail = gm_error_detail();
    fprintf(stderr, "gmcnn: train: rank %d of %d: %s\n", gm_dist_rank(), gm_dist_size(),
            detail[0] ? detail : gm_strerror(st));
    fflush(stderr);
    gm_dist_abort(CLI_FAIL);
    return CLI_FAIL;
}

/* GMCNN_DIST_STATS=1 in a data-parallel run: each rank's time in the gradient
 * (and validation) allreduces, on stderr (scripts/bench.sh reads it). */
static void print_dist_stats(void) {
    const char *v = getenv("GMCNN_DIST_STATS");
    if (gm_dist_size() == 1 || !v || !*v || !strcmp(v, "0")) return;
    const gm_dist_stats s = gm_dist_stats_get();
    fprintf(stderr,
            "gmcnn: train: rank %d of %d: allreduce %lld calls, %lld doubles, %.3f s "
            "(%.3f ms per call)\n",
            gm_dist_rank(), gm_dist_size(), (long long)s.calls, (long long)s.values, s.seconds,
            s.calls ? 1e3 * s.seconds / (double)s.calls : 0.0);
}

static int run_config(const train_opts *o, gm_config *cfg) {
    const gm_fit_options *fit = gm_config_fit(cfg);
    /* in a data-parallel run, rank 0 alone reports */
    const bool lead = gm_dist_rank() == 0;
    progress ui = {.quiet = o->quiet,
                   .forecast = gm_config_data(cfg)->source == GM_DATA_PLUME,
                   .batch = fit->batch_size,
                   .epochs = fit->epochs,
                   .epoch = -1};
    const gm_run_options ro = {
        .config_path = o->config,
        .config_changed = o->nsets > 0,
        .resume = o->resume,
        .model_from_data = !o->config,
        .data_dir = o->data_dir,
        .hooks = {.on_info = lead ? print_info : NULL,
                  .on_epoch = lead ? print_epoch : NULL,
                  .on_step = lead ? print_step : NULL,
                  .progress_every = lead && isatty(fileno(stderr)) && !o->quiet ? 1 : 0,
                  .user = &ui},
        .stop = &stop_requested,
    };
    gm_run_result r;
    stop_requested = 0;
    /* A signal the tool was started with ignored (a background job's
     * SIGINT) stays ignored. */
    void (*old_int)(int) = signal(SIGINT, request_stop);
    void (*old_term)(int) = signal(SIGTERM, request_stop);
    if (old_int == SIG_IGN) signal(SIGINT, SIG_IGN);
    if (old_term == SIG_IGN) signal(SIGTERM, SIG_IGN);
    const gm_status st = gm_run_train(cfg, &ro, &r);
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    print_dist_stats();
    if (st != GM_OK && gm_dist_size() > 1) return dist_fail(st);
    if (st == GM_ERR_INTERRUPTED) {
        char last[4200];
        snprintf(last, sizeof last, "%s/last.safetensors", gm_config_output_dir(cfg));
        if (access(last, F_OK) == 0)
            fprintf(stderr, "\ngmcnn: train: %s; continue with --resume %s\n", gm_error_detail(),
                    last);
        else
            fprintf(stderr, "\ngmcnn: train: %s\n", gm_error_detail());
        return CLI_FAIL;
    }
    if (st != GM_OK) return cli_status_error("train", st);
    if (lead) print_results(&r, gm_config_output_dir(cfg));
    return CLI_OK;
}

/* "key=value" with the value a YAML double-quoted string (paths may hold
 * any character). */
static bool set_string(char *buf, size_t size, const char *key, const char *value) {
    size_t n = (size_t)snprintf(buf, size, "%s=\"", key);
    for (const char *c = value; *c && n + 4 < size; c++) {
        if (*c == '"' || *c == '\\') buf[n++] = '\\';
        buf[n++] = *c;
    }
    if (n + 2 >= size) return false;
    buf[n++] = '"';
    buf[n] = '\0';
    return true;
}

/* The flag form as overrides of the default config: a classifier on the
 * given files, AdamW and ReduceLROnPlateau on the validation loss. */
static int run_flags(const train_opts *o) {
    enum { NSETS = 24, LEN = 4200 };
    static char buf[NSETS][LEN];
    const char *sets[NSETS];
    int n = 0;
    const bool npy = strlen(o->images) > 4 && !strcmp(o->images + strlen(o->images) - 4, ".npy");
    bool ok = true;
    snprintf(buf[n++], LEN, "data.source=%s", npy ? "npy" : "idx");
    ok = ok && set_string(buf[n++], LEN, "data.images", o->images);
    ok = ok && set_string(buf[n++], LEN, "data.labels", o->labels);
    if (o->test_images) {
        ok = ok && set_string(buf[n++], LEN, "data.test_images", o->test_images);
        ok = ok && set_string(buf[n++], LEN, "data.test_labels", o->test_labels);
    }
    ok = ok && set_string(buf[n++], LEN, "output.dir", o->out);
    ok = ok && set_string(buf[n++], LEN, "model.spec", o->group);
    snprintf(buf[n++], LEN, "model.kind=%s", o->model);
    snprintf(buf[n++], LEN, "model.form=shared");
    snprintf(buf[n++], LEN, "model.nbr=%lld", (long long)o->radius);
    snprintf(buf[n++], LEN, "model.dropout=%.17g", o->dropout);
    int len = snprintf(buf[n], LEN, "model.blocks=[");
    for (int64_t b = 0; b < o->blocks; b++)
        len += snprintf(buf[n] + len, (size_t)(LEN - len), "%s{num_layers: 1, out_channels: %lld}",
                        b ? ", " : "", (long long)o->channels);
    snprintf(buf[n++] + len, (size_t)(LEN - len), "]");
    snprintf(buf[n++], LEN, "trainer.max_epochs=%lld", (long long)o->epochs);
    snprintf(buf[n++], LEN, "data.batch_size=%lld", (long long)o->batch);
    snprintf(buf[n++], LEN, "data.val_fraction=%.17g", o->val_fraction);
    snprintf(buf[n++], LEN, "optimizer.lr=%.17g", o->lr);
    snprintf(buf[n++], LEN, "seed=%lld", (long long)o->seed);
    if (!ok) return cli_usage_error("train", "a file name is too long");
    for (int i = 0; i < n; i++) sets[i] = buf[i];
    gm_config *cfg = NULL;
    gm_status st = gm_config_new_default(&cfg);
    if (st == GM_OK) st = gm_config_set_all(cfg, n, sets);
    int rc = st == GM_OK ? run_config(o, cfg) : cli_status_error("train", st);
    gm_config_free(cfg);
    return rc;
}

/* The two forms of train: a config file first, or flags only. */
enum { TRAIN_CONFIG = 1, TRAIN_FLAGS = 2 };

static int train_parse(int argc, char **argv, train_opts *o) {
    cli_opt opts[] = {
        {CLI_SET(o->sets, &o->nsets), .forms = TRAIN_CONFIG},
        {CLI_STRING("--images", &o->images, NULL), .forms = TRAIN_FLAGS},
        {CLI_STRING("--labels", &o->labels, NULL), .forms = TRAIN_FLAGS},
        {CLI_STRING("--test-images", &o->test_images, NULL), .forms = TRAIN_FLAGS},
        {CLI_STRING("--test-labels", &o->test_labels, NULL), .forms = TRAIN_FLAGS},
        {CLI_STRING("--out", &o->out, NULL), .forms = TRAIN_FLAGS},
        {CLI_CHOICE("--model", &o->model, "gmcnn|cnn|mlp"), .forms = TRAIN_FLAGS},
        {CLI_STRING("--group", &o->group, NULL), .forms = TRAIN_FLAGS},
        {CLI_INT("--radius", &o->radius, 0, 64), .forms = TRAIN_FLAGS},
        {CLI_INT("--channels", &o->channels, 1, 4096), .forms = TRAIN_FLAGS},
        {CLI_INT("--blocks", &o->blocks, 1, GM_MODEL_MAX_BLOCKS), .forms = TRAIN_FLAGS},
        {CLI_REAL("--dropout", &o->dropout, 0.0, 0.99), .forms = TRAIN_FLAGS},
        {CLI_INT("--epochs", &o->epochs, 1, 100000), .forms = TRAIN_FLAGS},
        {CLI_INT("--batch", &o->batch, 1, 1 << 20), .forms = TRAIN_FLAGS},
        {CLI_REAL("--lr", &o->lr, 0.0, 1e6), .forms = TRAIN_FLAGS},
        {CLI_INT("--seed", &o->seed, 0, INT64_MAX), .forms = TRAIN_FLAGS},
        {CLI_REAL("--val-fraction", &o->val_fraction, 0.0, 0.9), .forms = TRAIN_FLAGS},
        {CLI_STRING("--resume", &o->resume, NULL)},
        {CLI_STRING("--data-dir", &o->data_dir, NULL)},
        {CLI_FLAG("--quiet", &o->quiet)},
        {CLI_INT("--threads", &o->threads, 1, 1024)},
    };
    /* The form is the first argument's: a file name, or an option. */
    const bool with_config = argc > 0 && argv[0][0] != '-';
    const cli_pos pos[] = {{.name = "CONFIG", .dst = &o->config}};
    static const char unknown_with_config[] = "unknown option '%s' with a config (try --help)";
    cli_args args = {
        .context = "train",
        .opts = opts,
        .nopts = CLI_COUNT(opts),
        .pos = pos,
        .npos = with_config ? 1 : 0,
        .form = with_config ? TRAIN_CONFIG : TRAIN_FLAGS,
        .wrong_form = with_config ? unknown_with_config : "%s goes with a config (try --help)",
        .unknown = with_config ? unknown_with_config : NULL,
        .unexpected = with_config ? NULL
                                  : "unexpected argument '%s' (a config file goes first: gmcnn "
                                    "train CONFIG ...)",
    };
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK || with_config) return rc;
    if (!o->images || !o->labels)
        return cli_usage_error("train", "--images and --labels are required");
    if (!o->out) return cli_usage_error("train", "--out DIR is required");
    if (!!o->test_images != !!o->test_labels)
        return cli_usage_error("train", "--test-images and --test-labels go together");
    return CLI_OK;
}

int cmd_train(int argc, char **argv) {
    train_opts o = {.model = "gmcnn", .group = "C28xC28", .radius = 1, .channels = 8,
                    .blocks = 2, .epochs = 2, .batch = 32, .seed = 42, .lr = 0.004,
                    .val_fraction = 0.2};
    int rc = train_parse(argc, argv, &o);
    if (rc == CLI_OK) rc = cli_compute_prepare("train", o.threads);
    if (rc != CLI_OK) return cli_args_exit(rc, train_usage);
    /* Under mpirun: data-parallel training over the launcher's ranks
     * (gmcnn/dist.h); after the BLAS kernels' re-execution, which must come
     * before MPI_Init. */
    const gm_status dst = gm_dist_init(NULL, NULL);
    if (dst != GM_OK) return cli_status_error("train", dst);
    atexit(gm_dist_finalize);
    if (o.threads > 0) gm_set_threads((int)o.threads);
    if (!o.config) return run_flags(&o);
    gm_config *cfg = NULL;
    gm_status st = gm_config_load(o.config, &cfg);
    if (st != GM_OK) return cli_status_error("train", st);
    if (o.nsets > 0 && gm_config_set_all(cfg, o.nsets, o.sets) != GM_OK) {
        gm_config_free(cfg);
        return cli_usage_error("train", "%s", gm_error_detail());
    }
    rc = run_config(&o, cfg);
    gm_config_free(cfg);
    return rc;
}

/* --- eval --------------------------------------------------------------------- */

/* "B,E" with 0 <= B < E, into a gm_forecast_range. */
static bool parse_range(const char *s, void *dst) {
    const char *comma = strchr(s, ',');
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
    *(gm_forecast_range *)dst = (gm_forecast_range){b, e};
    return true;
}

typedef struct eval_forecast_opts {
    const char *model, *data;
    int64_t batch, steps;
    gm_forecast_range future, domain; /* end 0: the model's */
} eval_forecast_opts;

static int eval_forecast(const eval_forecast_opts *o) {
    gm_saved_model sm = {0};
    gm_forecast_metrics mt[2] = {{0}};
    gm_status st = gm_model_load(o->model, &sm);
    gm_forecast_protocol p = sm.forecast;
    if (o->future.end > 0) p.future = o->future;
    if (o->domain.end > 0) p.domain = o->domain;
    if (o->steps > 0) p.eval_steps = o->steps;
    if (st == GM_OK) st = gm_run_eval_forecast(&sm, o->data, &p, o->batch, mt);
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
    for (int k = 0; k < 2; k++) gm_forecast_metrics_free(&mt[k]);
    gm_saved_model_free(&sm);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *images = NULL, *labels = NULL;
    int64_t batch = 0;
    eval_forecast_opts fo = {0};
    static const char range[] = "B,E with 0 <= B < E";
    cli_opt opts[] = {
        {CLI_STRING("--data", &fo.data, "a directory")},
        {CLI_CUSTOM("--future", &fo.future, parse_range, range)},
        {CLI_CUSTOM("--domain", &fo.domain, parse_range, range)},
        {CLI_INT("--steps", &fo.steps, 1, 100000)},
        {CLI_STRING("--images", &images, "a file")},
        {CLI_STRING("--labels", &labels, "a file")},
        {CLI_INT("--batch", &batch, 1, 1 << 20)},
    };
    const cli_pos pos[] = {{.name = "MODEL.safetensors", .dst = &model, .required = true}};
    cli_args args = {.context = "eval", .opts = opts, .nopts = CLI_COUNT(opts), .pos = pos,
                     .npos = CLI_COUNT(pos)};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, eval_usage);
    if (fo.data) {
        if (images || labels)
            return cli_usage_error("eval", "--data and --images/--labels exclude each other");
        if ((rc = cli_compute_prepare("eval", 0)) != CLI_OK) return rc;
        fo.model = model;
        fo.batch = batch ? batch : 32;
        return eval_forecast(&fo);
    }
    if (fo.future.end > 0 || fo.domain.end > 0 || fo.steps)
        return cli_usage_error("eval", "--future, --domain and --steps go with --data");
    if (!batch) batch = 256;
    if (!images || !labels)
        return cli_usage_error("eval", "--images and --labels (or --data DIR) are required");
    if ((rc = cli_compute_prepare("eval", 0)) != CLI_OK) return rc;
    gm_saved_model sm = {0};
    gm_metrics mt = {0};
    gm_status st = gm_model_load(model, &sm);
    if (st == GM_OK) st = gm_run_eval(&sm, images, labels, batch, &mt);
    if (st != GM_OK)
        rc = cli_status_error("eval", st);
    else
        print_metrics("test", &mt, true);
    gm_metrics_free(&mt);
    gm_saved_model_free(&sm);
    return rc;
}

/* --- info --------------------------------------------------------------------- */

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    const cli_pos pos[] = {{.name = "MODEL.safetensors", .dst = &model, .required = true}};
    cli_args args = {.context = "info", .pos = pos, .npos = CLI_COUNT(pos)};
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, info_usage);
    gm_saved_model sm = {0};
    gm_status st = gm_model_load(model, &sm);
    if (st != GM_OK) return cli_status_error("info", st);
    gm_model *m = sm.model;
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
    if (sm.norm_channels > 0) {
        printf("inputs      standardised per channel:");
        for (int64_t c = 0; c < sm.norm_channels; c++)
            printf(" (x - %.6g) / %.6g", sm.norm_mean[c], sm.norm_std[c]);
        printf("\n");
    }
    gm_saved_model_free(&sm);
    return CLI_OK;
}
