/* Bad inputs end in one clear error naming the file and the place: labels
 * outside the model's classes, model descriptions whose sizes the file's
 * tensors do not bear out (and other sizes read from files), non-finite
 * image values. The commands run with their address space limited, so that
 * an allocation sized by a forged header fails the test instead of the
 * machine (not under AddressSanitizer, which reserves terabytes itself). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

#if defined(__SANITIZE_ADDRESS__)
#define HARDENING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARDENING_ASAN 1
#endif
#endif
#ifndef HARDENING_ASAN
#define HARDENING_ASAN 0
#endif

static char dir[64];

/* Runs the tool in the scratch directory under `timeout 20`, with at most
 * 2 GB of address space unless sanitized; asserts the exit status. */
static char *cli(const char *args, int expect_rc) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s timeout 20 '%s' %s", dir,
             HARDENING_ASAN ? "" : "ulimit -v 2000000 &&", GM_CLI_PATH, args);
    int rc;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, expect_rc, "gmcnn %s: exit %d, expected %d; output:\n%s", args, rc, expect_rc,
                 out);
    return out;
}

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void write_idx(const char *name, const gm_array *a) {
    char path[256];
    path_in(path, sizeof path, name);
    OK(gm_idx_write(path, a, false));
}

static void write_npy(const char *name, const gm_array *a) {
    char path[256];
    path_in(path, sizeof path, name);
    OK(gm_npy_write(path, a));
}

#define N 40

/* The description of the small model the files below are saved from: a
 * GM-CNN on C6xC6 with two blocks of 4 channels and 3 classes. */
static gm_model_desc small_desc(void) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN,
                       .group = "C6xC6",
                       .radius = 1,
                       .in_channels = 1,
                       .out_dim = 3,
                       .nblocks = 2,
                       .form = GM_CONV_SHARED};
    d.blocks[0] = d.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = 4};
    return d;
}

/* Saves the small model's tensors under `name` with the description `d`
 * as its metadata, which need not match them. */
static void save_model_as(const char *name, const gm_model_desc *d) {
    const gm_model_desc real = small_desc();
    gm_model *m = NULL;
    OK(gm_model_new(&real, 7, &m));
    char *json = NULL;
    OK(gm_model_desc_to_json(d, &json));
    const char *keys[1] = {GM_MODEL_META_KEY};
    const char *values[1] = {json};
    char path[256];
    path_in(path, sizeof path, name);
    OK(gm_safetensors_save_model(path, m, 1, keys, values));
    gm_free(json);
    gm_model_free(m);
}

/* img.idx: N random 6x6 U8 images; lab.idx: labels i % 3; lab250.idx: the
 * same with label 250 at sample 7; labneg.idx: int32 labels with -1 at
 * sample 5; nan.npy / nanf.idx: float32 images with a NaN at value 5 of
 * sample 3 / value 7 of sample 2; inf.npy: float64 images with an infinity
 * at value 0 of sample 9; lab.npy: the labels as int32; model.safetensors:
 * the small model. */
static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/gmcnn-hard-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    gm_rng rng;
    gm_rng_seed(&rng, 5, 1);
    uint8_t px[N * 36];
    float fx[N * 36];
    double dx[N * 36];
    for (int i = 0; i < N * 36; i++) {
        px[i] = (uint8_t)(256 * gm_rng_uniform(&rng));
        dx[i] = fx[i] = (float)gm_rng_uniform(&rng);
    }
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {N, 6, 6}, .data = px};
    write_idx("img.idx", &a);
    uint8_t y[N];
    int32_t yi[N];
    for (int i = 0; i < N; i++) yi[i] = y[i] = (uint8_t)(i % 3);
    gm_array l = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {N}, .data = y};
    write_idx("lab.idx", &l);
    y[7] = 250;
    write_idx("lab250.idx", &l);
    gm_array li = {.dtype = GM_DTYPE_I32, .ndim = 1, .shape = {N}, .data = yi};
    write_npy("lab.npy", &li);
    yi[5] = -1;
    write_idx("labneg.idx", &li);

    fx[3 * 36 + 5] = NAN;
    gm_array f = {.dtype = GM_DTYPE_F32, .ndim = 3, .shape = {N, 6, 6}, .data = fx};
    write_npy("nan.npy", &f);
    fx[3 * 36 + 5] = 0.5f;
    fx[2 * 36 + 7] = NAN;
    write_idx("nanf.idx", &f);
    dx[9 * 36] = INFINITY;
    gm_array d = {.dtype = GM_DTYPE_F64, .ndim = 3, .shape = {N, 6, 6}, .data = dx};
    write_npy("inf.npy", &d);

    const gm_model_desc md = small_desc();
    save_model_as("model.safetensors", &md);
}

static void teardown(void) { ts_rmtree(dir); }

TestSuite(hardening, .init = setup, .fini = teardown, .timeout = 120);

static bool exists(const char *name) {
    char path[256];
    path_in(path, sizeof path, name);
    return access(path, F_OK) == 0;
}

/* A config training the small model on the given data section. */
static void write_config(const char *name, const char *model_extra, const char *data) {
    char path[256], yaml[2048];
    path_in(path, sizeof path, name);
    snprintf(yaml, sizeof yaml,
             "model:\n  kind: gmcnn\n  spec: C6xC6\n  nbr: 1\n%s"
             "  blocks:\n    - {num_layers: 1, out_channels: 4}\n"
             "data:\n%s  batch_size: 8\n"
             "trainer:\n  max_epochs: 1\noutput:\n  dir: %s/runs/cfg\n",
             model_extra, data, dir);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs(yaml, fp);
    fclose(fp);
}

/* --- labels ---------------------------------------------------------------- */

Test(hardening, train_rejects_a_label_beyond_the_default_classes) {
    /* Without a config the labels give the class count, within the default
     * model.num_classes: a stray byte 250 is an error, not 251 classes. */
    char *out = cli("train --images img.idx --labels lab250.idx --group C6xC6 --channels 4 "
                    "--epochs 1 --batch 8 --out run250 --quiet", 1);
    ts_expect_one_line_error(out, "gmcnn: train: labels 'lab250.idx': label 250 of sample 7 is "
                                  "outside 0..9 (10 classes)");
    gm_free(out);
    cr_assert(!exists("run250/last.safetensors"));
    cr_assert(!exists("run250/best.safetensors"));
}

Test(hardening, train_names_a_negative_label) {
    char *out = cli("train --images img.idx --labels labneg.idx --group C6xC6 --out runneg "
                    "--quiet", 1);
    ts_expect_one_line_error(out, "labels 'labneg.idx': label -1 of sample 5 is outside 0..9");
    gm_free(out);
    cr_assert(!exists("runneg/last.safetensors"));
}

Test(hardening, eval_names_the_labels_file) {
    char *out = cli("eval model.safetensors --images img.idx --labels lab250.idx", 1);
    ts_expect_one_line_error(out, "gmcnn: eval: labels 'lab250.idx': label 250 of sample 7 is "
                                  "outside 0..2 (3 classes)");
    gm_free(out);
}

Test(hardening, config_training_checks_labels_against_num_classes) {
    char data[1024];
    snprintf(data, sizeof data, "  source: idx\n  images: %s/img.idx\n  labels: %s/lab250.idx\n",
             dir, dir);
    /* model.num_classes left out: the config's default. */
    write_config("c250.yaml", "", data);
    char *out = cli("train c250.yaml --quiet", 1);
    char want[512];
    snprintf(want, sizeof want, "gmcnn: train: labels '%s/lab250.idx': label 250 of sample 7 "
             "is outside 0..9 (10 classes)", dir);
    ts_expect_one_line_error(out, want);
    gm_free(out);
    cr_assert(!exists("runs/cfg/last.safetensors"));

    /* Labels 0..2 against a two-class model: sample 2 is the first beyond. */
    snprintf(data, sizeof data, "  source: idx\n  images: %s/img.idx\n  labels: %s/lab.idx\n",
             dir, dir);
    write_config("c2.yaml", "  num_classes: 2\n", data);
    out = cli("train c2.yaml --quiet", 1);
    snprintf(want, sizeof want, "labels '%s/lab.idx': label 2 of sample 2 is outside 0..1 (2 "
             "classes)", dir);
    ts_expect_one_line_error(out, want);
    gm_free(out);
}

Test(hardening, default_classes_are_the_configs) {
    gm_config *cfg = NULL;
    OK(gm_config_new_default(&cfg));
    cr_assert_eq(gm_config_model(cfg)->out_dim, GM_CONFIG_DEFAULT_CLASSES);
    gm_config_free(cfg);
}

Test(hardening, library_label_messages) {
    float x[6] = {0};
    int32_t y[6] = {0, 1, 2, 0, 1, -1};
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 3, .shape = {6, 1, 1}, .data = x};
    gm_array lab = {.dtype = GM_DTYPE_I32, .ndim = 1, .shape = {6}, .data = y};
    gm_dataset d;
    /* Count unknown: a negative label is negative, whatever the count. */
    cr_assert_eq(gm_dataset_from_arrays(&img, &lab, 0, 0, 0, &d), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "dataset labels: label -1 of sample 5 is negative"), "%s",
              gm_error_detail());
    cr_assert_null(d.x);
    y[5] = 7;
    cr_assert_eq(gm_dataset_from_arrays_named(&img, &lab, 0, 0, 3, "x", "labels 'y.npy'", &d),
                 GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(),
                     "labels 'y.npy': label 7 of sample 5 is outside 0..2 (3 classes)"),
              "%s", gm_error_detail());
    char pi[256], pl[256];
    path_in(pi, sizeof pi, "img.idx");
    path_in(pl, sizeof pl, "lab250.idx");
    cr_assert_eq(gm_dataset_read_files(pi, pl, 0, 0, &d), GM_OK);
    cr_assert_eq(d.classes, 251);
    gm_dataset_free(&d);
    cr_assert_eq(gm_dataset_read_files(pi, pl, 0, 10, &d), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "label 250 of sample 7 is outside 0..9 (at most 10"), "%s",
              gm_error_detail());
    path_in(pl, sizeof pl, "lab.idx");
    OK(gm_dataset_read_files(pi, pl, 0, 10, &d));
    cr_assert_eq(d.classes, 3);
    gm_dataset_free(&d);
}

/* --- sizes read from files ------------------------------------------------- */

Test(hardening, model_channels_beyond_any_config_are_rejected) {
    gm_model_desc d = small_desc();
    const int64_t channels[2] = {3000000, 1000000000};
    for (int k = 0; k < 2; k++) {
        d.blocks[0].out_channels = d.blocks[1].out_channels = channels[k];
        save_model_as("big.safetensors", &d);
        const char *cmds[3] = {"info big.safetensors", "predict big.safetensors img.idx",
                               "eval big.safetensors --images img.idx --labels lab.idx"};
        for (int c = 0; c < 3; c++) {
            char *out = cli(cmds[c], 1);
            ts_expect_one_line_error(out, "model file 'big.safetensors': model description: "
                                          "\"channels\" must be an integer in 0..65536");
            gm_free(out);
        }
    }
}

/* A model file naming its group by a Cayley-table path would make the
 * loader open, and quote in its error, any file. */
Test(hardening, a_model_file_cannot_name_a_table_file_as_its_group) {
    gm_model_desc d = small_desc();
    d.group = "table:/etc/passwd";
    save_model_as("table.safetensors", &d);
    char *out = cli("info table.safetensors", 1);
    ts_expect_one_line_error(out, "\"group\" names a Cayley-table file");
    cr_assert_null(strstr(out, "root"), "%s", out);
    gm_free(out);
}

Test(hardening, model_sizes_are_checked_against_the_tensors_first) {
    /* Within the ranges, but its last layer alone would be 10^6 x 65536
     * floats (262 GB): the first parameter already differs from the file. */
    gm_model_desc d = small_desc();
    d.blocks[0].out_channels = d.blocks[1].out_channels = 65536;
    d.out_dim = 1000000;
    save_model_as("wide.safetensors", &d);
    char *out = cli("info wide.safetensors", 1);
    ts_expect_one_line_error(out, "model file 'wide.safetensors' tensor "
                                  "'blocks.0.layers.0.conv.weight': shape (4, 9), but the file's "
                                  "model description implies (65536, 9)");
    gm_free(out);

    /* Only the classes differ: the check reaches the last layer. */
    d = small_desc();
    d.out_dim = 1 << 20;
    save_model_as("classes.safetensors", &d);
    out = cli("predict classes.safetensors img.idx", 1);
    ts_expect_one_line_error(out, "model file 'classes.safetensors' tensor 'fc.weight': shape "
                                  "(3, 4), but the file's model description implies (1048576, "
                                  "4)");
    gm_free(out);

    /* A tensor the description has no parameter for. */
    d = small_desc();
    d.nblocks = 1;
    save_model_as("fewer.safetensors", &d);
    out = cli("info fewer.safetensors", 1);
    ts_expect_one_line_error(out, "model file 'fewer.safetensors' tensor 'blocks.1.");
    ts_expect_contains(out, "': not a parameter of the model its description gives");
    gm_free(out);

    /* The file the tensors came from still loads. */
    out = cli("info model.safetensors", 0);
    ts_expect_contains(out, "total 104 trained");
    gm_free(out);
}

Test(hardening, model_radius_on_a_large_group_is_bounded) {
    /* The group and its radius shape no tensor: a radius-64 support on a
     * group of order 2^24 would be an index table of a terabyte. */
    gm_model_desc d = small_desc();
    d.group = "C4096xC4096";
    d.radius = 64;
    save_model_as("radius.safetensors", &d);
    char *out = cli("info radius.safetensors", 1);
    ts_expect_one_line_error(out, "model file 'radius.safetensors': model: the radius-64 "
                                  "support on C4096xC4096 has 16641 elements");
    gm_free(out);
}

/* name: a float32 .npy whose header claims `rows` images of 6x6 but that
 * holds 3 (432 bytes of data after a 128-byte header). */
static void write_forged_npy(const char *name, long long rows) {
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, 6, 6), }",
             rows);
    char path[256];
    path_in(path, sizeof path, name);
    FILE *fp = fopen(path, "wb");
    cr_assert(fp);
    const size_t len = 118; /* 10 + len = 128 */
    cr_assert(strlen(hdr) < len);
    fwrite("\x93NUMPY\x01\x00", 1, 8, fp);
    fputc((int)len, fp);
    fputc(0, fp);
    fputs(hdr, fp);
    for (size_t k = strlen(hdr); k < len - 1; k++) fputc(' ', fp);
    fputc('\n', fp);
    const float v = 0.5f;
    for (int i = 0; i < 3 * 36; i++) fwrite(&v, sizeof v, 1, fp);
    fclose(fp);
}

/* Pipes name into the tool as the file stdin.npy (a link to /dev/stdin),
 * whose size cannot be known beforehand. */
static char *predict_through_pipe(const char *name) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && ln -sf /dev/stdin stdin.npy && %s cat %s | "
             "timeout 20 '%s' predict model.safetensors stdin.npy", dir,
             HARDENING_ASAN ? "" : "ulimit -v 2000000 &&", name, GM_CLI_PATH);
    int rc;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, 1, "%s", out);
    return out;
}

Test(hardening, streamed_npy_with_a_forged_shape) {
    /* 2.9 GB claimed: through a pipe the buffer must follow the bytes that
     * arrive, not the header. */
    write_forged_npy("forged.npy", 20000000);
    /* A regular file: its size is checked before anything is allocated. */
    char *out = cli("predict model.safetensors forged.npy", 1);
    ts_expect_one_line_error(out, "npy file 'forged.npy' at byte 128: truncated data");
    gm_free(out);
    out = predict_through_pipe("forged.npy");
    ts_expect_one_line_error(out, "npy file 'stdin.npy' at byte 560: file ends inside the data");
    gm_free(out);
    /* 14 GB claimed: beyond what a stream may hold. */
    write_forged_npy("huge.npy", 100000000);
    out = predict_through_pipe("huge.npy");
    ts_expect_one_line_error(out, "npy file 'stdin.npy' at byte 128: data of 14400000000 bytes "
                                  "exceeds the limit");
    gm_free(out);
}

Test(hardening, plume_manifest_sizes_wait_for_the_files) {
    /* The manifest claims 10^5 frames of 1000 x 1000: 800 GB before a file
     * is read. The one simulation file says otherwise. */
    char path[256];
    path_in(path, sizeof path, "plume");
    char sub[300];
    snprintf(sub, sizeof sub, "mkdir -p '%s'", path);
    cr_assert_eq(system(sub), 0);
    path_in(path, sizeof path, "plume/manifest.json");
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs("{\"frames\": 100000, \"height\": 1000, \"width\": 1000, \"sims\": [{\"file\": "
          "\"s.npy\", \"held_out\": false}]}",
          fp);
    fclose(fp);
    float v[3 * 2 * 4 * 4] = {0};
    gm_array a = {.dtype = GM_DTYPE_F32, .ndim = 4, .shape = {3, 2, 4, 4}, .data = v};
    write_npy("plume/s.npy", &a);
    path_in(path, sizeof path, "plume");
    gm_plume_data pd;
    cr_assert_eq(gm_plume_data_load(path, &pd), GM_ERR_SHAPE, "%s", gm_error_detail());
    cr_assert(strstr(gm_error_detail(), "shape (3, 2, 4, 4), expected (100000, 2, 1000, 1000)"),
              "%s", gm_error_detail());
    cr_assert_null(pd.x);
}

/* --- non-finite inputs ----------------------------------------------------- */

Test(hardening, predict_rejects_a_nan_image) {
    char *out = cli("predict model.safetensors nan.npy", 1);
    ts_expect_one_line_error(out, "gmcnn: predict: images 'nan.npy': value 5 of sample 3 is "
                                  "nan, not a finite float32");
    gm_free(out);
    /* Every input is checked before the first line is printed. */
    out = cli("predict model.safetensors img.idx nan.npy", 1);
    ts_expect_one_line_error(out, "images 'nan.npy': value 5 of sample 3 is nan");
    gm_free(out);
}

Test(hardening, eval_rejects_a_nan_image) {
    char *out = cli("eval model.safetensors --images nanf.idx --labels lab.idx", 1);
    ts_expect_one_line_error(out, "gmcnn: eval: images 'nanf.idx': value 7 of sample 2 is nan");
    gm_free(out);
}

Test(hardening, config_training_rejects_an_infinite_value) {
    char data[1024];
    snprintf(data, sizeof data, "  source: npy\n  images: %s/inf.npy\n  labels: %s/lab.npy\n",
             dir, dir);
    write_config("cinf.yaml", "  num_classes: 3\n", data);
    char *out = cli("train cinf.yaml --quiet", 1);
    char want[512];
    snprintf(want, sizeof want, "gmcnn: train: images '%s/inf.npy': value 0 of sample 9 is inf",
             dir);
    ts_expect_one_line_error(out, want);
    gm_free(out);
    cr_assert(!exists("runs/cfg/last.safetensors"));
}

Test(hardening, a_nan_parameter_is_refused_on_load) {
    const gm_model_desc d = small_desc();
    gm_model *m = NULL;
    OK(gm_model_new(&d, 7, &m));
    for (int64_t i = 0; i < gm_model_param_count(m); i++)
        if (!strcmp(gm_model_param_name(m, i), "fc.bias")) gm_model_param(m, i)->data[1] = NAN;
    char *json = NULL;
    OK(gm_model_desc_to_json(&d, &json));
    const char *keys[1] = {GM_MODEL_META_KEY};
    const char *values[1] = {json};
    char path[256];
    path_in(path, sizeof path, "nanp.safetensors");
    OK(gm_safetensors_save_model(path, m, 1, keys, values));
    gm_free(json);
    gm_model_free(m);
    char *out = cli("predict nanp.safetensors img.idx", 1);
    ts_expect_one_line_error(out, "model file 'nanp.safetensors' tensor 'fc.bias': value 1 is "
                                  "nan, not a finite parameter");
    gm_free(out);
}

Test(hardening, library_rejects_values_beyond_float32) {
    double x[4] = {0.0, 1.0, 1e300, 2.0};
    uint8_t y[4] = {0, 1, 0, 1};
    gm_array img = {.dtype = GM_DTYPE_F64, .ndim = 3, .shape = {4, 1, 1}, .data = x};
    gm_array lab = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {4}, .data = y};
    gm_dataset d;
    cr_assert_eq(gm_dataset_from_arrays(&img, &lab, 0, 0, 2, &d), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "dataset images: value 0 of sample 2 is 1e+300, not a "
                                        "finite float32"),
              "%s", gm_error_detail());
    cr_assert_null(d.x);
    x[2] = -NAN;
    cr_assert_eq(gm_dataset_from_arrays(&img, &lab, 0, 0, 2, &d), GM_ERR_INVALID_ARG);
    x[2] = 3.0;
    OK(gm_dataset_from_arrays(&img, &lab, 0, 0, 2, &d));
    cr_assert_float_eq(d.x[2], 3.0f, 0);
    gm_dataset_free(&d);
}
