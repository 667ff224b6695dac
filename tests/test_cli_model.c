/* Commands on saved models and training logs, end to end: predict,
 * equivariance of a saved model, plot. A tiny model is trained first. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "test_support.h"

static char dir[64];

static char *cli(const char *args, int expect_rc) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s", dir, GM_CLI_PATH, args);
    int rc;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, expect_rc, "gmcnn %s: exit %d, expected %d; output:\n%s", args, rc, expect_rc,
                 out);
    return out;
}

static void write_images(const char *name, int64_t n, int64_t h, int64_t w, uint64_t seed) {
    unsigned char *px = gm_malloc((size_t)(n * h * w));
    gm_rng rng;
    gm_rng_seed(&rng, seed, 1);
    for (int64_t i = 0; i < n * h * w; i++) px[i] = (unsigned char)(256 * gm_rng_uniform(&rng));
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {n, h, w}, .data = px};
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    OK(gm_idx_write(path, &a, false));
    gm_free(px);
}

/* 40 random 6x6 images in 3 classes; one epoch of a C6xC6 GM-CNN. */
static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/gmcnn-clim-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    write_images("img.idx", 40, 6, 6, 7);
    write_images("img8.idx", 2, 8, 8, 8);
    unsigned char lab[40];
    for (int i = 0; i < 40; i++) lab[i] = (unsigned char)(i % 3);
    gm_array l = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {40}, .data = lab};
    char path[128];
    snprintf(path, sizeof path, "%s/lab.idx", dir);
    OK(gm_idx_write(path, &l, false));
    gm_free(cli("train --images img.idx --labels lab.idx --model gmcnn --group C6xC6 "
                "--radius 1 --channels 4 --epochs 2 --batch 8 --out run --quiet", 0));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cli_model, .init = setup, .fini = teardown, .timeout = 120);

Test(cli_model, info_still_loads_the_saved_model) {
    char *out = cli("info run/best.safetensors", 0);
    ts_expect_contains(out, "group       C6xC6 (order 36)");
    gm_free(out);
}

/* --json: one object per image whose probabilities are the softmax of its
 * --logits, most likely first; --logits in the text form too. */
Test(cli_model, predict_json_and_logits) {
    char *out = cli("predict run/best.safetensors img.idx --top 2 --json --logits", 0);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "%s", line);
        cr_assert_str_eq(json_string_value(json_object_get(o, "file")), "img.idx");
        cr_assert_eq(json_integer_value(json_object_get(o, "index")), lines);
        const json_t *top = json_object_get(o, "top"), *z = json_object_get(o, "logits");
        cr_assert_eq(json_array_size(top), 2, "%s", line);
        cr_assert_eq(json_array_size(z), 3, "%s", line);
        double zs[3], mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < 3; j++) mx = fmax(mx, zs[j] = json_number_value(json_array_get(z, j)));
        for (int j = 0; j < 3; j++) sum += exp(zs[j] - mx);
        for (int t = 0; t < 2; t++) {
            const json_t *e = json_array_get(top, t);
            const int c = (int)json_integer_value(json_object_get(e, "class"));
            const double prob = json_number_value(json_object_get(e, "prob"));
            cr_assert(c >= 0 && c < 3, "%s", line);
            cr_assert(fabs(prob - exp(zs[c] - mx) / sum) < 1e-5, "%s", line);
            if (t == 0) cr_assert(zs[c] == mx, "the first is the largest logit: %s", line);
        }
        json_decref(o);
    }
    cr_assert_eq(lines, 40);
    gm_free(out);
    out = cli("predict run/best.safetensors img.idx --top 1 --logits", 0);
    double a, b, c;
    int cls;
    double prob;
    cr_assert_eq(sscanf(out, "img.idx[0] %d:%lf logits %lf %lf %lf", &cls, &prob, &a, &b, &c), 5,
                 "%s", out);
    gm_free(out);
}

Test(cli_model, predict_prints_top_k_per_image) {
    char *out = cli("predict run/best.safetensors img.idx --top 2", 0);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char want[32];
        snprintf(want, sizeof want, "img.idx[%d]", lines);
        cr_assert(strncmp(line, want, strlen(want)) == 0, "line %d: %s", lines, line);
        int c1, c2;
        double p1, p2;
        cr_assert_eq(sscanf(line + strlen(want), " %d:%lf %d:%lf", &c1, &p1, &c2, &p2), 4,
                     "%s", line);
        cr_assert(c1 >= 0 && c1 < 3 && c2 >= 0 && c2 < 3 && c1 != c2, "%s", line);
        cr_assert(p1 >= p2 && p2 >= 0 && p1 + p2 <= 1.0 + 1e-4, "%s", line);
        lines++;
    }
    cr_assert_eq(lines, 40);
    gm_free(out);
}

Test(cli_model, predict_all_classes_sum_to_one) {
    /* --top beyond the model's classes gives all of them. */
    char *out = cli("predict run/last.safetensors img.idx img.idx --top 9", 0);
    const char *line = out;
    int lines = 0;
    while (*line) {
        const char *sp = strchr(line, ' ');
        int c[3];
        double p[3];
        cr_assert_eq(sscanf(sp, " %d:%lf %d:%lf %d:%lf", &c[0], &p[0], &c[1], &p[1], &c[2], &p[2]),
                     6, "%s", line);
        cr_assert(fabs(p[0] + p[1] + p[2] - 1.0) < 1e-3, "%s", line);
        cr_assert_eq(c[0] + c[1] + c[2], 3);
        line = strchr(line, '\n') + 1;
        lines++;
    }
    cr_assert_eq(lines, 80);
    gm_free(out);
}

Test(cli_model, predict_errors) {
    char *out = cli("predict run/best.safetensors img8.idx", 1);
    ts_expect_one_line_error(out, "images 'img8.idx' are 8x8 (64 pixels) but the model on "
                               "C6xC6 reads 36");
    gm_free(out);
    out = cli("predict run/best.safetensors lab.idx", 1);
    ts_expect_one_line_error(out, "images 'lab.idx': 1 dimensions");
    gm_free(out);
    out = cli("predict run/absent.safetensors img.idx", 1);
    ts_expect_one_line_error(out, "absent.safetensors");
    gm_free(out);
    out = cli("predict img.idx img.idx", 1);
    ts_expect_one_line_error(out, "img.idx");
    gm_free(out);
    out = cli("predict run/best.safetensors", 2);
    ts_expect_one_line_error(out, "INPUT");
    gm_free(out);
    out = cli("predict run/best.safetensors img.idx --top 0", 2);
    ts_expect_one_line_error(out, "--top");
    gm_free(out);
    out = cli("predict run/best.safetensors img.idx --bogus", 2);
    ts_expect_one_line_error(out, "--bogus");
    gm_free(out);
    out = cli("predict --help", 0);
    ts_expect_contains(out, "usage: gmcnn predict");
    gm_free(out);
}

static double defect_after(const char *out, const char *key) {
    const char *p = strstr(out, key);
    cr_assert(p, "'%s' in:\n%s", key, out);
    return strtod(p + strlen(key), NULL);
}

Test(cli_model, equivariance_of_a_saved_model) {
    char *out = cli("equivariance run/best.safetensors img.idx --samples 4", 0);
    ts_expect_contains(out, "on C6xC6 (order 36)");
    ts_expect_contains(out, "input      4 images of img.idx, 1 channels, 6x6");
    ts_expect_contains(out, "blocks.0");
    ts_expect_contains(out, "logits");
    cr_assert_lt(defect_after(out, "end-to-end defect "), 1e-5, "%s", out);
    gm_free(out);
    out = cli("equivariance --samples 3 run/best.safetensors img.idx", 0);
    ts_expect_contains(out, "input      3 images");
    gm_free(out);
}

Test(cli_model, equivariance_saved_errors_and_flag_form) {
    char *out = cli("equivariance run/best.safetensors img8.idx", 1);
    ts_expect_one_line_error(out, "img8.idx");
    gm_free(out);
    out = cli("equivariance run/best.safetensors", 2);
    ts_expect_one_line_error(out, "DATA");
    gm_free(out);
    out = cli("equivariance run/best.safetensors img.idx --samples 0", 2);
    ts_expect_one_line_error(out, "--samples");
    gm_free(out);
    out = cli("equivariance run/absent.safetensors img.idx", 1);
    ts_expect_one_line_error(out, "absent.safetensors");
    gm_free(out);
    out = cli("equivariance --group C4xC4 --channels 2", 0);
    ts_expect_contains(out, "end-to-end defect");
    gm_free(out);
}

Test(cli_model, plot_of_the_training_metrics) {
    char *out = cli("plot run/metrics.jsonl --out run/curves.png --title 'tiny run'", 0);
    ts_expect_contains(out, "wrote run/curves.png (2 epochs, ");
    gm_free(out);
    char path[128];
    snprintf(path, sizeof path, "%s/run/curves.png", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    unsigned char b[8];
    cr_assert_eq(fread(b, 1, 8, f), 8);
    fclose(f);
    cr_assert(memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0);
}

Test(cli_model, plot_errors) {
    char *out = cli("plot run/metrics.jsonl", 2);
    ts_expect_one_line_error(out, "--out");
    gm_free(out);
    out = cli("plot --out x.png", 2);
    ts_expect_one_line_error(out, "METRICS.jsonl");
    gm_free(out);
    out = cli("plot run/metrics.jsonl --out x.png --colour red", 2);
    ts_expect_one_line_error(out, "--colour");
    gm_free(out);
    out = cli("plot img.idx --out x.png", 1);
    ts_expect_one_line_error(out, "metrics file 'img.idx' line 1");
    gm_free(out);
    out = cli("plot run/nothing.jsonl --out x.png", 1);
    ts_expect_one_line_error(out, "nothing.jsonl");
    gm_free(out);
    cr_assert_neq(access("x.png", F_OK), 0);
}
