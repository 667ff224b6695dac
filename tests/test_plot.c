/* Metric logs and their plots: the JSON-lines reader and the PNG writer. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/gmcnn-plot-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(plot, .init = make_dir, .fini = remove_dir);

static void synthetic(int64_t n, gm_epoch_record *r) {
    for (int64_t i = 0; i < n; i++) {
        const double e = (double)(i + 1);
        r[i] = (gm_epoch_record){.epoch = i + 1, .lr = 0.004,
                                 .train_loss = 2.3 * exp(-0.3 * e) + 0.1,
                                 .train_accuracy = 100 - 80 * exp(-0.4 * e),
                                 .val_loss = 2.3 * exp(-0.25 * e) + 0.2,
                                 .val_accuracy = 95 - 80 * exp(-0.35 * e),
                                 .seconds = 1.5, .samples_per_second = 1000, .best = i < 7};
    }
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Signature, then the IHDR chunk first, as the PNG specification requires. */
static void expect_png(const char *path, uint32_t w, uint32_t h) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "no PNG at %s", path);
    unsigned char b[24];
    cr_assert_eq(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    cr_assert(memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
    cr_assert(memcmp(b + 12, "IHDR", 4) == 0, "IHDR first");
    cr_assert_eq(be32(b + 16), w);
    cr_assert_eq(be32(b + 20), h);
}

Test(plot, ten_epochs_png_has_signature_and_size) {
    gm_epoch_record r[10];
    synthetic(10, r);
    char path[128];
    snprintf(path, sizeof path, "%s/curves.png", dir);
    OK(gm_plot_metrics_png(path, 10, r, "synthetic run"));
    expect_png(path, GM_PLOT_WIDTH, GM_PLOT_HEIGHT);
    /* The temporary is gone after the rename. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp", dir);
    int rc;
    char *out = ts_run(cmd, &rc);
    cr_assert_str_eq(out, "0\n");
    gm_free(out);
}

Test(plot, single_epoch_and_missing_validation) {
    gm_epoch_record r[3];
    synthetic(3, r);
    for (int i = 0; i < 3; i++) r[i].val_loss = r[i].val_accuracy = NAN;
    char path[128];
    snprintf(path, sizeof path, "%s/noval.png", dir);
    OK(gm_plot_metrics_png(path, 3, r, NULL));
    expect_png(path, GM_PLOT_WIDTH, GM_PLOT_HEIGHT);
    OK(gm_plot_metrics_png(path, 1, r, ""));
    expect_png(path, GM_PLOT_WIDTH, GM_PLOT_HEIGHT);
}

Test(plot, bad_arguments_and_unwritable_path) {
    gm_epoch_record r[2];
    synthetic(2, r);
    cr_assert_eq(gm_plot_metrics_png(NULL, 2, r, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_plot_metrics_png("/tmp/x.png", 0, r, NULL), GM_ERR_INVALID_ARG);
    char path[128];
    snprintf(path, sizeof path, "%s/no/such/dir/p.png", dir);
    cr_assert_eq(gm_plot_metrics_png(path, 2, r, NULL), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "p.png") != NULL, "%s", gm_error_detail());
}

static const char *write_in_dir(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(plot, jsonl_reads_what_the_trainer_writes) {
    const char *p = write_in_dir(
        "m.jsonl",
        "{\"epoch\":1,\"lr\":0.004,\"train_loss\":1.5,\"train_acc\":40,\"val_loss\":1.25,"
        "\"val_acc\":50,\"seconds\":2,\"samples_per_s\":100,\"best\":true}\n"
        "\n"
        "{\"epoch\":2,\"lr\":0.002,\"train_loss\":1,\"train_acc\":60,\"val_loss\":null,"
        "\"val_acc\":null,\"seconds\":2,\"samples_per_s\":100,\"best\":false}\n");
    int64_t n = -1;
    gm_epoch_record *r = NULL;
    OK(gm_metrics_jsonl_read(p, &n, &r));
    cr_assert_eq(n, 2);
    cr_assert_eq(r[0].epoch, 1);
    cr_assert_float_eq(r[0].val_loss, 1.25, 0);
    cr_assert(r[0].best && !r[1].best);
    cr_assert_float_eq(r[1].lr, 0.002, 0);
    cr_assert(isnan(r[1].val_loss) && isnan(r[1].val_accuracy));
    gm_free(r);
}

Test(plot, jsonl_empty_file_has_no_records) {
    int64_t n = -1;
    gm_epoch_record *r = NULL;
    OK(gm_metrics_jsonl_read(write_in_dir("e.jsonl", ""), &n, &r));
    cr_assert_eq(n, 0);
    gm_free(r);
}

static void expect_format_error(const char *text, const char *needle) {
    int64_t n = -1;
    gm_epoch_record *r = (gm_epoch_record *)1;
    gm_status st = gm_metrics_jsonl_read(write_in_dir("bad.jsonl", text), &n, &r);
    cr_assert_eq(st, GM_ERR_FORMAT, "%s", gm_strerror(st));
    cr_assert(strstr(gm_error_detail(), needle) != NULL, "'%s' in '%s'", needle,
              gm_error_detail());
    cr_assert(strstr(gm_error_detail(), "bad.jsonl") != NULL);
    cr_assert_eq(n, 0);
    cr_assert_null(r);
}

Test(plot, jsonl_malformed_lines_are_named) {
    const char *good =
        "{\"epoch\":1,\"train_loss\":1,\"train_acc\":2,\"val_loss\":3,\"val_acc\":4}\n";
    char text[512];
    snprintf(text, sizeof text, "%s%s{\"epoch\":3,\"train_loss\":1\n", good, good);
    expect_format_error(text, "line 3: not a JSON object");
    snprintf(text, sizeof text, "%s[1,2]\n", good);
    expect_format_error(text, "line 2: not a JSON object");
    expect_format_error("{\"epoch\":0,\"train_loss\":1,\"train_acc\":2,\"val_loss\":3,"
                        "\"val_acc\":4}\n", "line 1: \"epoch\" must be an integer");
    expect_format_error("{\"epoch\":1,\"train_loss\":\"x\",\"train_acc\":2,\"val_loss\":3,"
                        "\"val_acc\":4}\n", "line 1: \"train_loss\" must be a number");
    expect_format_error("{\"epoch\":1,\"train_loss\":1,\"train_acc\":2,\"val_loss\":3}\n",
                        "line 1: missing \"val_acc\"");
    expect_format_error("{\"epoch\":1,\"train_loss\":1,\"train_acc\":2,\"val_loss\":3,"
                        "\"val_acc\":4,\"best\":1}\n", "\"best\" must be true or false");
}

Test(plot, jsonl_missing_file_is_io_error) {
    int64_t n;
    gm_epoch_record *r;
    char path[128];
    snprintf(path, sizeof path, "%s/absent.jsonl", dir);
    cr_assert_eq(gm_metrics_jsonl_read(path, &n, &r), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "absent.jsonl") != NULL);
    cr_assert_eq(gm_metrics_jsonl_read(dir, &n, &r), GM_ERR_IO);
}
