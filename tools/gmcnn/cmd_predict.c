/* gmcnn predict: the most likely classes of images under a saved model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const char predict_usage[] =
    "usage: gmcnn predict MODEL.safetensors INPUT... [--top K] [--logits] [--json]\n"
    "\n"
    "Runs a saved classifier on every image of the INPUT files (IDX, plain or\n"
    "gzip, or .npy; images (N, H, W) or (N, C, H, W) matching the model's\n"
    "input, U8 pixels scaled by 1/255 as in training, then standardised with\n"
    "the statistics the model file carries, if any) and prints one line per\n"
    "image: FILE[INDEX] followed by the K most likely classes as CLASS:PROB,\n"
    "with softmax probabilities, most likely first.\n"
    "\n"
    "  --top K    classes per image (default 3; at most the model's classes)\n"
    "  --logits   also every class's logit (the model's raw output), in class order\n"
    "  --json     one JSON object per image instead: {\"file\", \"index\", \"top\":\n"
    "             [{\"class\", \"prob\"}, ...], and with --logits \"logits\": [...]}\n";

typedef struct predict_opts {
    int64_t top;
    bool logits, json;
} predict_opts;

#define PREDICT_BATCH 64

/* Softmax of one row of logits into p, in double so that large logits do
 * not overflow. */
static void softmax(const gm_real *z, int64_t k, double *p) {
    double mx = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < k; j++) mx = fmax(mx, (double)z[j]);
    for (int64_t j = 0; j < k; j++) sum += p[j] = exp((double)z[j] - mx);
    for (int64_t j = 0; j < k; j++) p[j] /= sum;
}

/* The `top` most likely classes into order[], most likely first; the first
 * maximum wins among equals, as in evaluation. */
static void rank_top(const double *p, int64_t k, int64_t top, bool *taken, int64_t *order) {
    memset(taken, 0, (size_t)k * sizeof *taken);
    for (int64_t t = 0; t < top; t++) {
        int64_t best = -1;
        for (int64_t j = 0; j < k; j++)
            if (!taken[j] && (best < 0 || p[j] > p[best])) best = j;
        taken[best] = true;
        order[t] = best;
    }
}

/* One image's line: text, or a JSON object (cJSON escapes the file name). */
static gm_status print_image(const predict_opts *o, const char *file, int64_t index,
                             const double *p, const gm_real *z, int64_t k, const int64_t *order) {
    if (!o->json) {
        printf("%s[%lld]", file, (long long)index);
        for (int64_t t = 0; t < o->top; t++)
            printf("  %lld:%.4f", (long long)order[t], p[order[t]]);
        if (o->logits) {
            printf("  logits");
            for (int64_t j = 0; j < k; j++) printf(" %.6g", (double)z[j]);
        }
        printf("\n");
        return GM_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    cJSON *top = obj ? cJSON_AddArrayToObject(obj, "top") : NULL;
    bool ok = top && cJSON_AddStringToObject(obj, "file", file) &&
              cJSON_AddNumberToObject(obj, "index", (double)index);
    for (int64_t t = 0; ok && t < o->top; t++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(top, e) &&
             cJSON_AddNumberToObject(e, "class", (double)order[t]) &&
             cJSON_AddNumberToObject(e, "prob", p[order[t]]);
    }
    if (ok && o->logits) {
        cJSON *l = cJSON_AddArrayToObject(obj, "logits");
        for (int64_t j = 0; ok && j < k; j++)
            ok = l && cJSON_AddItemToArray(l, cJSON_CreateNumber((double)z[j]));
    }
    char *text = ok ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) return gm_error_set(GM_ERR_NOMEM, "predict: out of memory");
    printf("%s\n", text);
    cJSON_free(text);
    return GM_OK;
}

/* Runs the model on one loaded input file and prints its lines. */
static gm_status predict_file(gm_model *m, gm_ctx *ctx, const char *file, const gm_dataset *dp,
                              const predict_opts *o, double *p, bool *taken, int64_t *order) {
    const gm_dataset d = *dp;
    gm_status st = GM_OK;
    const int64_t per = d.channels * d.height * d.width;
    const int64_t k = gm_model_description(m)->out_dim;
    for (int64_t start = 0; start < d.n && st == GM_OK; start += PREDICT_BATCH) {
        const int64_t b = d.n - start < PREDICT_BATCH ? d.n - start : PREDICT_BATCH;
        gm_tensor *x = NULL, *logits = NULL;
        st = gm_tensor_new3(gm_ctx_arena(ctx), b, d.channels, d.height * d.width, &x);
        if (st == GM_OK) {
            for (int64_t j = 0; j < b * per; j++) x->data[j] = (gm_real)d.x[start * per + j];
            st = gm_model_forward(m, ctx, x, &logits);
        }
        if (st == GM_OK && (logits->ndim != 2 || logits->shape[1] != k))
            st = gm_error_set(GM_ERR_UNSUPPORTED, "predict: the model is not a classifier "
                              "(its output is not (batch, %lld))", (long long)k);
        for (int64_t i = 0; st == GM_OK && i < b; i++) {
            softmax(logits->data + i * k, k, p);
            rank_top(p, k, o->top, taken, order);
            st = print_image(o, file, start + i, p, logits->data + i * k, k, order);
        }
        gm_ctx_reset(ctx);
    }
    return st;
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *value;
    predict_opts po = {.top = 3};
    int ninputs = 0;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        fprintf(stderr, "gmcnn: predict: out of memory\n");
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    for (int i = 0; i < argc && rc == CLI_OK; i++) {
        int f;
        if (cli_is_help(argv[i])) {
            fputs(predict_usage, stdout);
            free(inputs);
            return CLI_OK;
        }
        if ((f = cli_flag_value(argc, argv, &i, "--top", &value)) != 0) {
            if (f < 0 || !cli_parse_i64(value, 1, 1000000, &po.top))
                rc = cli_usage_error("predict", "--top needs an integer in 1..1000000");
        } else if (!strcmp(argv[i], "--logits")) {
            po.logits = true;
        } else if (!strcmp(argv[i], "--json")) {
            po.json = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            rc = cli_usage_error("predict", "unknown option '%s' (try --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            inputs[ninputs++] = argv[i];
        }
    }
    if (rc == CLI_OK && !model)
        rc = cli_usage_error("predict", "MODEL.safetensors is required (try --help)");
    else if (rc == CLI_OK && ninputs == 0)
        rc = cli_usage_error("predict", "at least one INPUT image file is required");
    if (rc != CLI_OK) {
        free(inputs);
        return rc;
    }

    gm_model *m = NULL;
    gm_ctx *ctx = NULL;
    double *p = NULL;
    bool *taken = NULL;
    int64_t *order = NULL;
    cli_norm norm = {0};
    gm_dataset *sets = calloc((size_t)ninputs, sizeof *sets);
    gm_status st = sets ? GM_OK : gm_error_set(GM_ERR_NOMEM, "predict: out of memory");
    if (st == GM_OK) st = cli_load_model(model, &m, &norm);
    if (st == GM_OK) st = gm_ctx_new(0, 0, &ctx);
    if (st == GM_OK) {
        const int64_t k = gm_model_description(m)->out_dim;
        if (po.top > k) po.top = k;
        p = calloc((size_t)k, sizeof *p);
        taken = calloc((size_t)k, sizeof *taken);
        order = calloc((size_t)k, sizeof *order);
        if (!p || !taken || !order) st = gm_error_set(GM_ERR_NOMEM, "predict: out of memory");
    }
    if (st == GM_OK) {
        gm_ctx_set_grad(ctx, false);
        gm_ctx_set_training(ctx, false);
    }
    /* Every input is read and checked before the first line is printed, so
     * that a bad file leaves no partial output. */
    for (int i = 0; i < ninputs && st == GM_OK; i++)
        st = cli_load_images(inputs[i], m, &norm, &sets[i]);
    for (int i = 0; i < ninputs && st == GM_OK; i++)
        st = predict_file(m, ctx, inputs[i], &sets[i], &po, p, taken, order);
    if (st != GM_OK) rc = cli_status_error("predict", st);
    for (int i = 0; sets && i < ninputs; i++) gm_dataset_free(&sets[i]);
    free(sets);
    free(p);
    free(taken);
    free(order);
    gm_ctx_free(ctx);
    gm_model_free(m);
    cli_norm_free(&norm);
    free(inputs);
    return rc;
}
