/* gmcnn train / eval / info: training without a config file, evaluation and
 * description of saved models. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char train_usage[] =
    "usage: gmcnn train --images IDX --labels IDX --out DIR [--model gmcnn|cnn|mlp]\n"
    "                   [--group SPEC] [--radius T] [--channels C] [--blocks N]\n"
    "                   [--dropout P] [--epochs E] [--batch B] [--lr LR] [--seed S]\n"
    "                   [--val-fraction F] [--test-images IDX --test-labels IDX]\n"
    "                   [--resume CKPT] [--quiet]\n"
    "\n"
    "Trains a classifier with AdamW and ReduceLROnPlateau on the validation loss,\n"
    "holding out a seeded fraction of the training set for validation. Writes\n"
    "DIR/last.safetensors (checkpoint, every epoch), DIR/best.safetensors (best\n"
    "validation loss), DIR/metrics.jsonl and DIR/metrics.csv, and prints one line\n"
    "per epoch. With test data, prints the test accuracy of the best and last model.\n"
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
    "  --quiet           no per-epoch lines\n";

static const char eval_usage[] =
    "usage: gmcnn eval MODEL.safetensors --images IDX --labels IDX [--batch N]\n"
    "\n"
    "Evaluates a saved model: loss, accuracy, per-class accuracy and the\n"
    "confusion matrix (rows: true class, columns: predicted).\n";

static const char info_usage[] =
    "usage: gmcnn info MODEL.safetensors\n"
    "\n"
    "Prints a saved model's architecture, group, and parameters per tensor.\n";

/* --- shared pieces ------------------------------------------------------------ */

static gm_status load_dataset(const char *images, const char *labels, int64_t classes,
                              gm_dataset *out) {
    gm_array img = {0}, lab = {0};
    gm_status st = gm_idx_read(images, &img);
    if (st == GM_OK) st = gm_idx_read(labels, &lab);
    if (st == GM_OK) st = gm_dataset_from_arrays(&img, &lab, 0, 0, classes, out);
    gm_array_free(&img);
    gm_array_free(&lab);
    return st;
}

/* Builds the model a saved file describes and loads its parameters. */
static gm_status load_model(const char *path, gm_model **out) {
    *out = NULL;
    gm_safetensors *sf = NULL;
    gm_status st = gm_safetensors_read(path, &sf);
    if (st != GM_OK) return st;
    const char *json = gm_safetensors_meta_get(sf, GM_MODEL_META_KEY);
    if (!json) {
        gm_safetensors_free(sf);
        return gm_error_set(GM_ERR_FORMAT, "model file '%s': no \"%s\" metadata", path,
                            GM_MODEL_META_KEY);
    }
    gm_model_desc d;
    char *group = NULL;
    st = gm_model_desc_from_json(json, &d, &group);
    gm_safetensors_free(sf);
    if (st == GM_OK) st = gm_model_new(&d, 0, out);
    gm_free(group);
    if (st == GM_OK) st = gm_safetensors_load_model(path, *out);
    if (st != GM_OK) {
        gm_model_free(*out);
        *out = NULL;
    }
    return st;
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
    int64_t radius, channels, blocks, epochs, batch, seed;
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
        return cli_usage_error("train", "unexpected argument '%s' (config files are not "
                               "supported here yet; use flags)", argv[i]);
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

static gm_status print_epoch(const gm_epoch_record *r, void *user) {
    const train_opts *o = user;
    if (!o->quiet) {
        printf("epoch %lld lr %.3g train loss %.4f acc %.2f%% val loss %.4f acc %.2f%% "
               "%.1fs %.0f samples/s%s\n",
               (long long)r->epoch, r->lr, r->train_loss, r->train_accuracy, r->val_loss,
               r->val_accuracy, r->seconds, r->samples_per_second, r->best ? " *" : "");
        fflush(stdout);
    }
    return GM_OK;
}

static void print_step(int64_t epoch, int64_t step, int64_t steps, double loss, void *user) {
    (void)user;
    fprintf(stderr, "\repoch %lld step %lld/%lld loss %.4f ", (long long)epoch, (long long)step,
            (long long)steps, loss);
    if (step == steps) fprintf(stderr, "\r%60s\r", "");
    fflush(stderr);
}

static int train_run(train_opts *o) {
    char p_last[4096], p_best[4096], p_jsonl[4096], p_csv[4096];
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "gmcnn: train: cannot create '%s': %s\n", o->out, strerror(errno));
        return CLI_FAIL;
    }
    snprintf(p_last, sizeof p_last, "%s/last.safetensors", o->out);
    snprintf(p_best, sizeof p_best, "%s/best.safetensors", o->out);
    snprintf(p_jsonl, sizeof p_jsonl, "%s/metrics.jsonl", o->out);
    snprintf(p_csv, sizeof p_csv, "%s/metrics.csv", o->out);

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
        .checkpoint_path = p_last,
        .best_path = p_best,
        .metrics_jsonl = p_jsonl,
        .metrics_csv = p_csv,
        .resume_path = o->resume,
        .progress_every = isatty(fileno(stderr)) && !o->quiet ? 1 : 0,
        .on_epoch = print_epoch,
        .on_step = print_step,
        .user = o,
    };
    fo.optim.lr = o->lr;
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
    if (o->test_images) {
        gm_metrics last = {0}, best = {0};
        st = gm_evaluate(m, &test, o->batch, &last);
        if (st == GM_OK) st = gm_trainer_restore_best(t);
        if (st == GM_OK) st = gm_evaluate(m, &test, o->batch, &best);
        if (st == GM_OK) {
            print_metrics("test (best)", &best, false);
            print_metrics("test (last)", &last, false);
        } else {
            rc = cli_status_error("train", st);
        }
        gm_metrics_free(&last);
        gm_metrics_free(&best);
    }
done:
    gm_trainer_free(t);
    gm_model_free(m);
    gm_dataset_free(&all);
    gm_dataset_free(&train);
    gm_dataset_free(&val);
    gm_dataset_free(&test);
    return rc;
}

int cmd_train(int argc, char **argv) {
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
    return train_run(&o);
}

/* --- eval --------------------------------------------------------------------- */

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *images = NULL, *labels = NULL, *value;
    int64_t batch = 256;
    for (int i = 0; i < argc; i++) {
        int m;
        if (cli_is_help(argv[i])) {
            fputs(eval_usage, stdout);
            return CLI_OK;
        }
        if ((m = cli_flag_value(argc, argv, &i, "--images", &value)) != 0) {
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
    if (!images || !labels) return cli_usage_error("eval", "--images and --labels are required");
    gm_model *m = NULL;
    gm_dataset d = {0};
    gm_metrics mt = {0};
    gm_status st = load_model(model, &m);
    if (st == GM_OK) st = load_dataset(images, labels, gm_model_description(m)->out_dim, &d);
    if (st == GM_OK) st = gm_evaluate(m, &d, batch, &mt);
    int rc = CLI_OK;
    if (st != GM_OK)
        rc = cli_status_error("eval", st);
    else
        print_metrics("test", &mt, true);
    gm_metrics_free(&mt);
    gm_dataset_free(&d);
    gm_model_free(m);
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
    gm_status st = load_model(model, &m);
    if (st != GM_OK) return cli_status_error("info", st);
    const gm_model_desc *d = gm_model_description(m);
    static const char *const kinds[] = {"gmcnn", "plume", "gmcnn_deep", "cnn", "mlp"};
    printf("model       %s\n", kinds[d->kind]);
    if (gm_model_group(m))
        printf("group       %s (order %lld), radius %lld\n", gm_group_name(gm_model_group(m)),
               (long long)gm_group_order(gm_model_group(m)), (long long)d->radius);
    printf("input       %lld channels\n", (long long)d->in_channels);
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
        printf("  %-40s %-16s %lld\n", gm_model_param_name(m, i), shape, (long long)t->numel);
    }
    printf("total %lld\n", (long long)gm_model_num_params(m));
    gm_model_free(m);
    return CLI_OK;
}
