/* Data per config source (gm_data_load) and `gmcnn train CONFIG` end to end. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

/* n side x side U8 images, image i filled with 10 * (i % classes) plus a
 * bright pixel whose position depends on the class, labels i % classes. */
static void write_idx_set(const char *dir, const char *prefix, int64_t n, int64_t side,
                          int64_t classes, bool gzip) {
    gm_array img = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {n, side, side}};
    gm_array lab = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {n}};
    uint8_t *x = gm_malloc((size_t)(n * side * side));
    uint8_t *y = gm_malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = i % classes;
        for (int64_t j = 0; j < side * side; j++) x[i * side * side + j] = (uint8_t)(10 * c);
        x[i * side * side + (c * 7) % (side * side)] = 255;
        y[i] = (uint8_t)c;
    }
    img.data = x;
    lab.data = y;
    char path[1200];
    snprintf(path, sizeof path, "%s/%simages-idx3-ubyte%s", dir, prefix, gzip ? ".gz" : "");
    OK(gm_idx_write(path, &img, gzip));
    snprintf(path, sizeof path, "%s/%slabels-idx1-ubyte%s", dir, prefix, gzip ? ".gz" : "");
    OK(gm_idx_write(path, &lab, gzip));
    gm_array_free(&img);
    gm_array_free(&lab);
}

/* The data section under test, with a model the config accepts. */
static gm_config *parse(const char *data_yaml) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "model:\n  spec: C4xC4\n%s", data_yaml);
    gm_config *cfg = NULL;
    OK(gm_config_parse(yaml, "test", &cfg));
    return cfg;
}

Test(data_load, idx_train_and_test) {
    const char *dir = ts_temp_dir();
    write_idx_set(dir, "train-", 12, 4, 3, false);
    write_idx_set(dir, "t10k-", 5, 4, 2, true);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "data:\n  source: idx\n  images: %s/train-images-idx3-ubyte\n"
             "  labels: %s/train-labels-idx1-ubyte\n"
             "  test_images: %s/t10k-images-idx3-ubyte.gz\n"
             "  test_labels: %s/t10k-labels-idx1-ubyte.gz\n",
             dir, dir, dir, dir);
    gm_config *cfg = parse(yaml);
    gm_dataset tr, te;
    OK(gm_data_load(gm_config_data(cfg), NULL, &tr, &te));
    cr_assert_eq(tr.n, 12);
    cr_assert_eq(te.n, 5);
    cr_assert_eq(tr.channels, 1);
    cr_assert_eq(tr.height, 4);
    cr_assert_eq(tr.width, 4);
    /* One class count for both sets, though the test labels stop at 1. */
    cr_assert_eq(tr.classes, 3);
    cr_assert_eq(te.classes, 3);
    cr_assert_eq(tr.y[4], 1);
    cr_assert_float_eq(tr.x[2 * 16 + 1], 20.0f / 255.0f, 1e-6);
    cr_assert_float_eq(tr.x[0], 1.0f, 1e-6);
    gm_dataset_free(&tr);
    gm_dataset_free(&te);

    gm_config_free(cfg);

    /* Without test files the test set is empty. */
    snprintf(yaml, sizeof yaml,
             "data:\n  source: idx\n  images: %s/train-images-idx3-ubyte\n"
             "  labels: %s/train-labels-idx1-ubyte\n",
             dir, dir);
    cfg = parse(yaml);
    OK(gm_data_load(gm_config_data(cfg), NULL, &tr, &te));
    cr_assert_eq(tr.n, 12);
    cr_assert_eq(te.n, 0);
    cr_assert_null(te.x);
    gm_dataset_free(&tr);
    gm_config_free(cfg);
}

Test(data_load, idx_missing_file_is_io_error) {
    const char *dir = ts_temp_dir();
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "data:\n  source: idx\n  images: %s/nope\n  labels: %s/nope2\n",
             dir, dir);
    gm_config *cfg = parse(yaml);
    gm_dataset tr, te;
    cr_assert_eq(gm_data_load(gm_config_data(cfg), NULL, &tr, &te), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "nope"), "%s", gm_error_detail());
    cr_assert_null(tr.x);
    cr_assert_null(te.x);
    gm_config_free(cfg);
}

Test(data_load, npy_source) {
    const char *dir = ts_temp_dir();
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {6, 2, 3, 3}};
    gm_array lab = {.dtype = GM_DTYPE_I32, .ndim = 1, .shape = {6}};
    float *x = gm_malloc(6 * 18 * sizeof(float));
    int32_t *y = gm_malloc(6 * sizeof(int32_t));
    for (int i = 0; i < 6 * 18; i++) x[i] = (float)i;
    for (int i = 0; i < 6; i++) y[i] = i % 2;
    img.data = x;
    lab.data = y;
    char pi[256], pl[256], yaml[1024];
    snprintf(pi, sizeof pi, "%s/x.npy", dir);
    snprintf(pl, sizeof pl, "%s/y.npy", dir);
    OK(gm_npy_write(pi, &img));
    OK(gm_npy_write(pl, &lab));
    snprintf(yaml, sizeof yaml, "data:\n  source: npy\n  images: %s\n  labels: %s\n", pi, pl);
    gm_config *cfg = parse(yaml);
    gm_dataset tr, te;
    OK(gm_data_load(gm_config_data(cfg), NULL, &tr, &te));
    cr_assert_eq(tr.n, 6);
    cr_assert_eq(tr.channels, 2);
    cr_assert_eq(tr.classes, 2);
    cr_assert_float_eq(tr.x[20], 20.0f, 0);
    gm_dataset_free(&tr);
    gm_dataset_free(&te);
    gm_config_free(cfg);
    gm_array_free(&img);
    gm_array_free(&lab);
}

Test(data_load, generated_matches_dataset_make) {
    const char *data_dir = ts_temp_dir();
    char src[512];
    snprintf(src, sizeof src, "%s/mnist10k", data_dir);
    cr_assert_eq(mkdir(src, 0777), 0);
    write_idx_set(src, "", 30, 28, 10, true);
    gm_config *cfg = parse("data:\n  source: generated\n  kind: rotated\n  seed: 7\n"
                           "  num_train: 20\n  num_test: 6\n");
    gm_dataset tr, te;
    OK(gm_data_load(gm_config_data(cfg), data_dir, &tr, &te));
    cr_assert_eq(tr.n, 20);
    cr_assert_eq(te.n, 6);
    cr_assert_eq(tr.height, 28);
    cr_assert_eq(tr.classes, 10);

    /* The same bytes as `gmcnn data make rotated --seed 7 --train 20 --test 6`. */
    char pi[600], pl[600];
    snprintf(pi, sizeof pi, "%s/images-idx3-ubyte.gz", src);
    snprintf(pl, sizeof pl, "%s/labels-idx1-ubyte.gz", src);
    const gm_dataset_make_spec spec = {.kind = GM_DATASET_ROTATED, .seed = 7,
                                       .source_images = pi, .source_labels = pl,
                                       .ntrain = 20, .ntest = 6};
    gm_array a, al, b, bl;
    OK(gm_dataset_make(&spec, &a, &al, &b, &bl));
    const uint8_t *bytes = b.data, *labels = bl.data;
    for (int64_t i = 0; i < 6 * 784; i++)
        cr_assert_float_eq(te.x[i], (float)bytes[i] / 255.0f, 1e-6, "pixel %lld", (long long)i);
    for (int64_t i = 0; i < 6; i++) cr_assert_eq(te.y[i], labels[i]);
    gm_array_free(&a);
    gm_array_free(&al);
    gm_array_free(&b);
    gm_array_free(&bl);
    gm_dataset_free(&tr);
    gm_dataset_free(&te);

    /* More digits than the source holds. */
    OK(gm_config_set(cfg, "data.num_train=40"));
    cr_assert_eq(gm_data_load(gm_config_data(cfg), data_dir, &tr, &te), GM_ERR_SHAPE);
    gm_config_free(cfg);
}

Test(data_load, generated_without_sources_says_make_data) {
    const char *data_dir = ts_temp_dir();
    gm_config *cfg = parse("data:\n  source: generated\n  kind: rotated\n");
    gm_dataset tr, te;
    cr_assert_eq(gm_data_load(gm_config_data(cfg), data_dir, &tr, &te), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "make data"), "%s", gm_error_detail());
    cr_assert(strstr(gm_error_detail(), data_dir), "%s", gm_error_detail());
    gm_config_free(cfg);
    /* Rectangles need no source files. */
    cfg = parse("data:\n  source: generated\n  kind: rectangles\n  num_train: 8\n"
                "  num_test: 4\n");
    OK(gm_data_load(gm_config_data(cfg), data_dir, &tr, &te));
    cr_assert_eq(tr.n, 8);
    cr_assert_eq(te.n, 4);
    cr_assert_eq(tr.classes, 2);
    gm_dataset_free(&tr);
    gm_dataset_free(&te);
    gm_config_free(cfg);
}

/* NORB binary matrix: int32 magic, ndim, max(ndim, 3) dims, little-endian data. */
static void write_norb(const char *path, int32_t magic, int ndim, const int32_t *dims,
                       const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    int32_t head[2 + 4] = {magic, ndim, 1, 1, 1, 1};
    for (int d = 0; d < ndim; d++) head[2 + d] = dims[d];
    const int nd = ndim > 3 ? ndim : 3;
    cr_assert_eq(fwrite(head, sizeof(int32_t), (size_t)(2 + nd), f), (size_t)(2 + nd));
    cr_assert_eq(fwrite(data, 1, bytes, f), bytes);
    fclose(f);
}

/* n stereo pairs of 96x96: camera 0 of sample i is 4 * i in each pixel but
 * for one 4x4 block of 200 at block (i, i); camera 1 is 255 everywhere. */
static void write_norb_set(const char *dir, const char *prefix, int32_t n) {
    const size_t side = 96, hw = side * side;
    uint8_t *x = gm_malloc((size_t)n * 2 * hw);
    int32_t *y = gm_malloc((size_t)n * sizeof *y);
    for (int32_t i = 0; i < n; i++) {
        uint8_t *cam0 = x + (size_t)i * 2 * hw;
        memset(cam0, 4 * i, hw);
        for (size_t r = 0; r < 4; r++) memset(cam0 + (4 * (size_t)i + r) * side + 4 * i, 200, 4);
        memset(cam0 + hw, 255, hw);
        y[i] = i % 5;
    }
    char path[1200];
    const int32_t dx[4] = {n, 2, 96, 96}, dy[1] = {n};
    snprintf(path, sizeof path, "%s/%s-dat.mat", dir, prefix);
    write_norb(path, 0x1E3D4C55, 4, dx, x, (size_t)n * 2 * hw);
    snprintf(path, sizeof path, "%s/%s-cat.mat", dir, prefix);
    write_norb(path, 0x1E3D4C54, 1, dy, y, (size_t)n * sizeof *y);
    gm_free(x);
    gm_free(y);
}

Test(data_load, norb_first_camera_at_the_group_size) {
    const char *dir = ts_temp_dir();
    write_norb_set(dir, "train", 6);
    write_norb_set(dir, "test", 3);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model:\n  kind: gmcnn\n  group: cyclic\n  order: 24\n  num_classes: 5\n"
             "data:\n  source: norb\n  train_dat: %s/train-dat.mat\n"
             "  train_cat: %s/train-cat.mat\n  test_dat: %s/test-dat.mat\n"
             "  test_cat: %s/test-cat.mat\n",
             dir, dir, dir, dir);
    gm_config *cfg = NULL;
    OK(gm_config_parse(yaml, "test", &cfg));
    cr_assert_eq(gm_config_data(cfg)->image_h, 24);
    cr_assert_eq(gm_config_data(cfg)->image_w, 24);
    gm_dataset tr, te;
    OK(gm_data_load(gm_config_data(cfg), NULL, &tr, &te));
    cr_assert_eq(tr.n, 6);
    cr_assert_eq(te.n, 3);
    cr_assert_eq(tr.channels, 1);
    cr_assert_eq(tr.height, 24);
    cr_assert_eq(tr.width, 24);
    cr_assert_eq(te.height, 24);
    cr_assert_eq(tr.classes, 5);
    for (int64_t i = 0; i < 6; i++) {
        for (int64_t k = 0; k < 24 * 24; k++) {
            const double want = (k == i * 24 + i ? 200.0 : 4.0 * (double)i) / 255.0;
            cr_assert_float_eq(tr.x[i * 576 + k], want, 1e-6, "sample %lld pixel %lld",
                               (long long)i, (long long)k);
        }
        cr_assert_eq(tr.y[i], i % 5);
    }
    gm_dataset_free(&tr);
    gm_dataset_free(&te);

    gm_config_free(cfg);

    /* A CNN with an explicit size gets that size; 12 x 8 is not square. */
    snprintf(yaml, sizeof yaml,
             "model:\n  kind: cnn\n  image_h: 12\n  image_w: 8\n  num_classes: 5\n"
             "data:\n  source: norb\n  train_dat: %s/train-dat.mat\n"
             "  train_cat: %s/train-cat.mat\n",
             dir, dir);
    OK(gm_config_parse(yaml, "test", &cfg));
    OK(gm_data_load(gm_config_data(cfg), NULL, &tr, &te));
    cr_assert_eq(tr.height, 12);
    cr_assert_eq(tr.width, 8);
    cr_assert_eq(te.n, 0);
    /* Sample 1: the bright 4x4 block (rows 4..7, columns 4..7) lies inside
     * output cell (0, 0), 8 rows x 12 columns of the source; (0, 1) misses it. */
    const double b = 200.0 / 255.0, f = 4.0 / 255.0;
    cr_assert_float_eq(tr.x[96 + 0], (16 * b + 80 * f) / 96.0, 1e-6);
    cr_assert_float_eq(tr.x[96 + 1], f, 1e-6);
    gm_dataset_free(&tr);
    gm_dataset_free(&te);
    gm_config_free(cfg);
}

/* --- the command ------------------------------------------------------------ */

static char *cli(const char *args, int *rc) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", GM_CLI_PATH, args);
    return ts_run(cmd, rc);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void expect_one_line_error(const char *out, const char *needle) {
    cr_assert(strncmp(out, "gmcnn: ", 7) == 0, "error starts with 'gmcnn: ': %s", out);
    cr_assert_eq(count_lines(out), 1, "one line: %s", out);
    cr_assert(strstr(out, needle), "expected '%s' in %s", needle, out);
}

/* A config on tiny 6x6 idx data, a C6xC6 model of 4 channels. */
static const char *write_tiny_config(const char *dir) {
    write_idx_set(dir, "train-", 40, 6, 2, false);
    write_idx_set(dir, "t10k-", 10, 6, 2, false);
    static char path[512];
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "seed: 3\nmodel:\n  kind: gmcnn\n  spec: C6xC6\n  nbr: 1\n  num_classes: 2\n"
             "  blocks:\n    - {num_layers: 1, out_channels: 4}\n"
             "data:\n  source: idx\n  images: %s/train-images-idx3-ubyte\n"
             "  labels: %s/train-labels-idx1-ubyte\n"
             "  test_images: %s/t10k-images-idx3-ubyte\n"
             "  test_labels: %s/t10k-labels-idx1-ubyte\n"
             "  batch_size: 8\n  normalize: true\n"
             "trainer:\n  max_epochs: 3\noutput:\n  dir: %s/runs/tiny\n",
             dir, dir, dir, dir, dir);
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(yaml, f);
    fclose(f);
    return path;
}

Test(train_config_cli, end_to_end_with_overrides) {
    const char *dir = ts_temp_dir();
    const char *cfg_path = write_tiny_config(dir);
    char args[2048], path[512];
    int rc;
    snprintf(args, sizeof args,
             "train %s --set trainer.max_epochs=1 --set 'model.blocks=[{num_layers: 1, "
             "out_channels: 3}]' --threads 1",
             cfg_path);
    char *out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "model gmcnn, group C6xC6, "), "%s", out);
    cr_assert(strstr(out, "epoch 1 "), "%s", out);
    cr_assert_null(strstr(out, "\nepoch 2 "), "%s", out);
    /* "test (best) loss L accuracy A.AA% (10 samples)", two decimals. */
    const char *best = strstr(out, "test (best) loss ");
    cr_assert(best, "%s", out);
    const char *acc = strstr(best, "accuracy ");
    cr_assert(acc, "%s", out);
    double a = -1;
    char pct = 0;
    cr_assert_eq(sscanf(acc, "accuracy %lf%c", &a, &pct), 2, "%s", out);
    cr_assert_eq(pct, '%');
    cr_assert(a >= 0 && a <= 100);
    const char *dot = strchr(acc, '.');
    cr_assert(dot && dot[3] == '%', "two decimals: %s", acc);
    cr_assert(strstr(out, "test (last) loss "), "%s", out);
    cr_assert(strstr(out, "(10 samples)"), "%s", out);
    cr_assert(strstr(out, "\nparameters "), "%s", out);
    gm_free(out);

    const char *files[] = {"config.yaml", "last.safetensors", "best.safetensors",
                           "metrics.jsonl", "metrics.csv"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/runs/tiny/%s", dir, files[i]);
        cr_assert_eq(access(path, R_OK), 0, "missing %s", path);
    }
    /* The written config holds the overrides and round-trips. */
    snprintf(path, sizeof path, "%s/runs/tiny/config.yaml", dir);
    gm_config *written = NULL, *again = NULL;
    OK(gm_config_load(path, &written));
    cr_assert_eq(gm_config_fit(written)->epochs, 1);
    cr_assert_eq(gm_config_model(written)->blocks[0].out_channels, 3);
    char *s1 = NULL, *s2 = NULL;
    OK(gm_config_to_string(written, &s1));
    OK(gm_config_parse(s1, "again", &again));
    OK(gm_config_to_string(again, &s2));
    cr_assert_str_eq(s1, s2);
    gm_free(s1);
    gm_free(s2);
    gm_config_free(written);
    gm_config_free(again);

    /* --quiet drops the epoch lines, --resume continues to the config's total. */
    snprintf(args, sizeof args, "train %s --set trainer.max_epochs=2 --set "
             "'model.blocks=[{num_layers: 1, out_channels: 3}]' --quiet --resume "
             "%s/runs/tiny/last.safetensors", cfg_path, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_null(strstr(out, "\nepoch 2 "), "%s", out);
    cr_assert(strstr(out, "trained to epoch 2 (1 this run)"), "%s", out);
    cr_assert(strstr(out, "test (best) loss "), "%s", out);
    gm_free(out);
    snprintf(path, sizeof path, "%s/runs/tiny/metrics.csv", dir);
    char *csv = ts_read_file(path);
    cr_assert_eq(count_lines(csv), 3, "%s", csv);
    gm_free(csv);
}

Test(train_config_cli, errors_and_exit_codes) {
    const char *dir = ts_temp_dir();
    const char *cfg_path = write_tiny_config(dir);
    char args[2048];
    int rc;
    snprintf(args, sizeof args, "train %s/missing.yaml", dir);
    char *out = cli(args, &rc);
    cr_assert_eq(rc, 1, "%s", out);
    expect_one_line_error(out, "missing.yaml");
    gm_free(out);

    snprintf(args, sizeof args, "train %s --set model.blok=3", cfg_path);
    out = cli(args, &rc);
    cr_assert_eq(rc, 2, "%s", out);
    expect_one_line_error(out, "model.blok");
    gm_free(out);

    const char *usage[] = {"--set novalue", "--set", "--threads 0", "--bogus", "extra"};
    for (int i = 0; i < 5; i++) {
        snprintf(args, sizeof args, "train %s %s", cfg_path, usage[i]);
        out = cli(args, &rc);
        cr_assert_eq(rc, 2, "%s: %s", usage[i], out);
        expect_one_line_error(out, "train");
        gm_free(out);
    }

    /* A model that cannot read the data: exit 1, one line naming both. */
    snprintf(args, sizeof args, "train %s --set model.spec=C5xC5", cfg_path);
    out = cli(args, &rc);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "C5xC5"), "%s", out);
    cr_assert(strstr(out, "6x6"), "%s", out);
    cr_assert(strstr(out, "gmcnn: train: "), "%s", out);
    gm_free(out);

    out = cli("train --help", &rc);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "gmcnn train CONFIG"), "%s", out);
    gm_free(out);
}

/* Reads a JSON array of numbers written with "%.17g" into v (at most cap). */
static int64_t parse_array(const char *s, double *v, int64_t cap) {
    cr_assert_eq(*s, '[', "%s", s);
    int64_t n = 0;
    s++;
    while (*s != ']') {
        char *end;
        cr_assert(n < cap, "%s", s);
        v[n++] = strtod(s, &end);
        cr_assert(end != s, "%s", s);
        s = end + (*end == ',');
    }
    cr_assert_str_eq(s, "]");
    return n;
}

/* Copies the model file at src to dst with the metadata value of `key`
 * replaced (value NULL drops the key; key NULL drops both statistics). */
static void rewrite_meta(const char *src, const char *dst, const char *key, const char *value) {
    gm_safetensors *sf = NULL;
    OK(gm_safetensors_read(src, &sf));
    const int64_t n = gm_safetensors_count(sf), nm = gm_safetensors_meta_count(sf);
    gm_st_entry *e = gm_calloc((size_t)n, sizeof *e);
    const char **k = gm_calloc((size_t)nm, sizeof *k), **v = gm_calloc((size_t)nm, sizeof *v);
    for (int64_t i = 0; i < n; i++) e[i] = *gm_safetensors_entry(sf, i);
    int64_t m = 0;
    for (int64_t i = 0; i < nm; i++) {
        cr_assert(gm_safetensors_meta_at(sf, i, &k[m], &v[m]));
        const bool stat = !strncmp(k[m], "gmcnn.normalize.", 16);
        if (key ? !strcmp(k[m], key) : stat) {
            if (!key || !value) continue;
            v[m] = value;
        }
        m++;
    }
    OK(gm_safetensors_write(dst, n, e, m, k, v));
    gm_free(e);
    gm_free(k);
    gm_free(v);
    gm_safetensors_free(sf);
}

static void parse_test_line(const char *out, const char *what, double *loss, double *acc) {
    const char *p = strstr(out, what);
    cr_assert(p, "no '%s' in %s", what, out);
    cr_assert_eq(sscanf(p + strlen(what), " loss %lf accuracy %lf", loss, acc), 2, "%s", p);
}

Test(train_config_cli, normalisation_travels_with_the_model) {
    const char *dir = ts_temp_dir();
    const char *cfg_path = write_tiny_config(dir);
    char args[2048], best[512];
    int rc;
    snprintf(args, sizeof args, "train %s --quiet --threads 1", cfg_path);
    char *out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    double train_loss, train_acc;
    parse_test_line(out, "test (best)", &train_loss, &train_acc);
    gm_free(out);

    /* The statistics of the training split, as the command computes them. */
    char path[512];
    snprintf(path, sizeof path, "%s/runs/tiny/config.yaml", dir);
    gm_config *cfg = NULL;
    OK(gm_config_load(path, &cfg));
    const gm_data_config *dc = gm_config_data(cfg);
    gm_dataset all = {0}, test = {0}, tr = {0}, va = {0};
    OK(gm_data_load(dc, "build/data", &all, &test));
    OK(gm_dataset_split_fraction(&all, dc->val_fraction, gm_config_seed(cfg), &tr, &va));
    cr_assert_eq(tr.channels, 1);
    double mean = 0, sd = 0;
    OK(gm_dataset_channel_stats(&tr, &mean, &sd));
    cr_assert(sd > 0);

    const char *names[] = {"best.safetensors", "last.safetensors"};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/runs/tiny/%s", dir, names[f]);
        gm_safetensors *sf = NULL;
        OK(gm_safetensors_read(path, &sf));
        const char *m = gm_safetensors_meta_get(sf, GM_NORM_MEAN_META_KEY);
        const char *s = gm_safetensors_meta_get(sf, GM_NORM_STD_META_KEY);
        cr_assert(m && s, "%s lacks the statistics", path);
        double v[4];
        cr_assert_eq(parse_array(m, v, 4), 1);
        cr_assert_eq(v[0], mean, "%s: mean %.17g, expected %.17g", path, v[0], mean);
        cr_assert_eq(parse_array(s, v, 4), 1);
        cr_assert_eq(v[0], sd, "%s: std %.17g, expected %.17g", path, v[0], sd);
        gm_safetensors_free(sf);
    }

    /* eval on the test files gives what the run reported for its best model. */
    snprintf(best, sizeof best, "%s/runs/tiny/best.safetensors", dir);
    snprintf(args, sizeof args, "eval %s --images %s/t10k-images-idx3-ubyte --labels "
             "%s/t10k-labels-idx1-ubyte --batch 8", best, dir, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    double loss, acc;
    parse_test_line(out, "test", &loss, &acc);
    cr_assert_eq(acc, train_acc, "eval %.2f%%, training run %.2f%%", acc, train_acc);
    cr_assert(fabs(loss - train_loss) <= 1e-4, "eval loss %g, training run %g", loss,
              train_loss);
    gm_free(out);

    /* A file without the keys reads raw inputs (older files keep working). */
    char other[600];
    snprintf(other, sizeof other, "%s/plain.safetensors", dir);
    rewrite_meta(best, other, NULL, NULL);
    snprintf(args, sizeof args, "eval %s --images %s/t10k-images-idx3-ubyte --labels "
             "%s/t10k-labels-idx1-ubyte --batch 8", other, dir, dir);
    out = cli(args, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    parse_test_line(out, "test", &loss, &acc);
    cr_assert(fabs(loss - train_loss) > 1e-4, "raw inputs gave the same loss: %s", out);
    gm_free(out);

    /* Malformed statistics: exit 1, one line naming the file and the key. */
    const char *bad[][2] = {{GM_NORM_MEAN_META_KEY, "[0.5,oops]"},
                            {GM_NORM_MEAN_META_KEY, "[0.5,0.25]"},
                            {GM_NORM_STD_META_KEY, "0.5"},
                            {GM_NORM_STD_META_KEY, "[-1]"},
                            {GM_NORM_STD_META_KEY, NULL}};
    for (int i = 0; i < 5; i++) {
        rewrite_meta(best, other, bad[i][0], bad[i][1]);
        snprintf(args, sizeof args, "eval %s --images %s/t10k-images-idx3-ubyte --labels "
                 "%s/t10k-labels-idx1-ubyte", other, dir, dir);
        out = cli(args, &rc);
        cr_assert_eq(rc, 1, "%s", out);
        expect_one_line_error(out, bad[i][0]);
        cr_assert(strstr(out, other), "%s", out);
        gm_free(out);
        snprintf(args, sizeof args, "predict %s %s/t10k-images-idx3-ubyte", other, dir);
        out = cli(args, &rc);
        cr_assert_eq(rc, 1, "%s", out);
        expect_one_line_error(out, bad[i][0]);
        gm_free(out);
    }

    /* A resumed run must keep the standardisation its checkpoint records. */
    snprintf(path, sizeof path, "%s/runs/tiny/last.safetensors", dir);
    rewrite_meta(path, other, GM_NORM_MEAN_META_KEY, "[0.125]");
    snprintf(args, sizeof args, "train %s --quiet --set trainer.max_epochs=4 --resume %s",
             cfg_path, other);
    out = cli(args, &rc);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "gmcnn: train: "), "%s", out);
    cr_assert(strstr(out, GM_NORM_MEAN_META_KEY), "%s", out);
    gm_free(out);

    gm_dataset_free(&all);
    gm_dataset_free(&test);
    gm_dataset_free(&tr);
    gm_dataset_free(&va);
    gm_config_free(cfg);
}
