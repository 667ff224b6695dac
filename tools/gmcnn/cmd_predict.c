/* gmcnn predict: the most likely classes of images under a saved model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* s as a JSON string: quotes, backslashes and control characters escaped
 * (file names may hold any byte but NUL). */
static void print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

/* One image's line: text, or a JSON object. Reals are printed with 17
 * significant digits, which read back exactly. */
static void print_image(const predict_opts *o, const char *file, int64_t index, const double *p,
                        const double *z, int64_t k, const int64_t *order) {
    if (!o->json) {
        printf("%s[%lld]", file, (long long)index);
        for (int64_t t = 0; t < o->top; t++)
            printf("  %lld:%.4f", (long long)order[t], p[order[t]]);
        if (o->logits) {
            printf("  logits");
            for (int64_t j = 0; j < k; j++) printf(" %.6g", z[j]);
        }
        printf("\n");
        return;
    }
    printf("{\"file\":");
    print_json_string(file);
    printf(",\"index\":%lld,\"top\":[", (long long)index);
    for (int64_t t = 0; t < o->top; t++)
        printf("%s{\"class\":%lld,\"prob\":%.17g}", t ? "," : "", (long long)order[t],
               p[order[t]]);
    printf("]");
    if (o->logits) {
        printf(",\"logits\":[");
        for (int64_t j = 0; j < k; j++) printf("%s%.17g", j ? "," : "", z[j]);
        printf("]");
    }
    printf("}\n");
}

/* The lines of one input file's images. */
static void print_file(const predict_opts *o, const char *file, const gm_predictions *pr,
                       int64_t *order) {
    for (int64_t i = 0; i < pr->n; i++) {
        gm_predictions_top(pr, i, o->top, order);
        print_image(o, file, i, pr->prob + i * pr->classes, pr->logits + i * pr->classes,
                    pr->classes, order);
    }
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL;
    predict_opts po = {.top = 3};
    int ninputs = 0;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        fprintf(stderr, "gmcnn: predict: out of memory\n");
        return CLI_FAIL;
    }
    cli_opt opts[] = {
        {CLI_INT("--top", &po.top, 1, 1000000)},
        {CLI_FLAG("--logits", &po.logits)},
        {CLI_FLAG("--json", &po.json)},
    };
    const cli_pos pos[] = {
        {.name = "MODEL.safetensors", .dst = &model, .required = true},
        {.name = "INPUT", .dst = inputs, .required = true, .count = &ninputs},
    };
    cli_args args = {.context = "predict", .opts = opts, .nopts = CLI_COUNT(opts),
                     .pos = pos, .npos = CLI_COUNT(pos)};
    int rc = cli_args_parse(&args, argc, argv);
    if (rc == CLI_OK) rc = cli_compute_prepare("predict", 0);
    if (rc != CLI_OK) {
        free(inputs);
        return cli_args_exit(rc, predict_usage);
    }

    gm_saved_model sm = {0};
    int64_t *order = NULL;
    gm_dataset *sets = calloc((size_t)ninputs, sizeof *sets);
    gm_predictions *preds = calloc((size_t)ninputs, sizeof *preds);
    gm_status st = sets && preds ? GM_OK : gm_error_set(GM_ERR_NOMEM, "predict: out of memory");
    if (st == GM_OK) st = gm_model_load(model, &sm);
    if (st == GM_OK) {
        const int64_t k = gm_model_description(sm.model)->out_dim;
        if (po.top > k) po.top = k;
        order = calloc((size_t)k, sizeof *order);
        if (!order) st = gm_error_set(GM_ERR_NOMEM, "predict: out of memory");
    }
    /* Every input is read and run before the first line is printed, so that
     * a bad file leaves no partial output. */
    for (int i = 0; i < ninputs && st == GM_OK; i++) {
        st = gm_saved_model_read_images(&sm, inputs[i], &sets[i]);
        if (st == GM_OK) st = gm_run_predict(&sm, &sets[i], 0, &preds[i]);
        gm_dataset_free(&sets[i]);
    }
    for (int i = 0; i < ninputs && st == GM_OK; i++) print_file(&po, inputs[i], &preds[i], order);
    if (st != GM_OK) rc = cli_status_error("predict", st);
    for (int i = 0; preds && i < ninputs; i++) gm_predictions_free(&preds[i]);
    free(sets);
    free(preds);
    free(order);
    gm_saved_model_free(&sm);
    free(inputs);
    return rc;
}
