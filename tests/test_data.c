/* Data: .npy read/write, conversion to double, matrix files. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

#define NPY_FIXTURE(name) GM_FIXTURE_DIR "/npy/" name

/* ---- helpers ------------------------------------------------------------- */

/* Every file a test makes lives in one scratch directory, removed after the test. */
static char td_scratch[64];
static int td_serial;

static void td_setup(void) {
    snprintf(td_scratch, sizeof td_scratch, "/tmp/gmcnn-data-XXXXXX");
    cr_assert_not_null(mkdtemp(td_scratch), "mkdtemp failed");
}

static void td_teardown(void) { ts_rmtree(td_scratch); }

TestSuite(data, .init = td_setup, .fini = td_teardown);

/* A fresh empty directory (static buffer per call slot). */
static const char *td_mkdtemp(void) {
    static char dirs[4][128];
    static int slot;
    char *d = dirs[slot++ % 4];
    snprintf(d, 128, "%s/d%d", td_scratch, td_serial++);
    cr_assert_eq(mkdir(d, 0700), 0, "mkdir %s failed", d);
    return d;
}

/* Number of entries of `dir` whose name contains `needle`. */
static int td_count_entries(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (strstr(e->d_name, needle)) n++;
    }
    closedir(d);
    return n;
}

/* Writes bytes to a new file in the scratch directory; returns its path
 * (static buffer per call slot). */
static const char *td_write_bytes(const void *bytes, size_t n) {
    static char paths[8][128];
    static int slot;
    char *path = paths[slot++ % 8];
    snprintf(path, 128, "%s/f%d", td_scratch, td_serial++);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static const char *td_write_text(const char *text) { return td_write_bytes(text, strlen(text)); }

/* An .npy image: magic, version major.0, header length (u16 or u32), the dict
 * padded with spaces to a multiple of 64 and ended by '\n', then `data`.
 * Returns the total size; buf must hold it. */
static size_t td_npy_image(unsigned char *buf, size_t cap, int major, const char *dict,
                           const void *data, size_t ndata) {
    size_t pre = major == 1 ? 10 : 12;
    size_t dlen = strlen(dict);
    size_t total = pre + dlen + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = dlen + pad + 1;
    cr_assert(pre + hlen + ndata <= cap);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major != 1) {
        buf[10] = (unsigned char)(hlen >> 16);
        buf[11] = (unsigned char)(hlen >> 24);
    }
    memcpy(buf + pre, dict, dlen);
    memset(buf + pre + dlen, ' ', pad);
    buf[pre + hlen - 1] = '\n';
    if (ndata) memcpy(buf + pre + hlen, data, ndata);
    return pre + hlen + ndata;
}

static const char *td_npy_file(int major, const char *dict, const void *data, size_t ndata) {
    unsigned char buf[1024];
    size_t n = td_npy_image(buf, sizeof buf, major, dict, data, ndata);
    return td_write_bytes(buf, n);
}

static void expect_format_error(const char *path, const char *what, const char *needle) {
    gm_array a;
    gm_error_clear();
    gm_status st = gm_npy_read(path, &a);
    cr_assert_eq(st, GM_ERR_FORMAT, "%s: status %d (%s)", what, st, gm_error_detail());
    cr_assert_null(a.data, "%s: data left allocated", what);
    const char *detail = gm_error_detail();
    cr_assert(strstr(detail, path) != NULL, "%s: detail does not name the file: %s", what,
              detail);
    cr_assert(strstr(detail, "at byte") != NULL, "%s: detail has no offset: %s", what, detail);
    if (needle) {
        cr_assert(strstr(detail, needle) != NULL, "%s: detail lacks '%s': %s", what, needle,
                  detail);
    }
}

static int td_have_numpy(void) {
    if (access("/usr/bin/python3", X_OK) != 0) return 0;
    int rc = -1;
    char *out = ts_run("/usr/bin/python3 -c 'import numpy'", &rc);
    gm_free(out);
    return rc == 0;
}

/* ---- round trips --------------------------------------------------------- */

static void roundtrip_one(const char *dir, gm_dtype dtype, int ndim, const int64_t *shape,
                          gm_rng *rng) {
    gm_array a = {.dtype = dtype, .ndim = ndim};
    for (int d = 0; d < ndim; d++) a.shape[d] = shape[d];
    int64_t n = gm_array_numel(&a);
    cr_assert(n >= 0);
    size_t nbytes = (size_t)n * gm_dtype_size(dtype);
    unsigned char *bytes = gm_malloc(nbytes);
    cr_assert_not_null(bytes);
    for (size_t i = 0; i < nbytes; i++) bytes[i] = (unsigned char)gm_rng_u32(rng);
    a.data = bytes;

    char path[256];
    snprintf(path, sizeof path, "%s/a_%d_%d.npy", dir, (int)dtype, ndim);
    cr_assert_eq(gm_npy_write(path, &a), GM_OK, "%s", gm_error_detail());

    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq((size_t)sb.st_size % 64, nbytes % 64, "data must start 64-byte aligned");

    gm_array b;
    cr_assert_eq(gm_npy_read(path, &b), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(b.dtype, dtype);
    cr_assert_eq(b.ndim, ndim);
    for (int d = 0; d < ndim; d++) cr_assert_eq(b.shape[d], shape[d]);
    cr_assert_not_null(b.data);
    if (nbytes) cr_assert_eq(memcmp(a.data, b.data, nbytes), 0, "data differs");
    gm_array_free(&b);
    cr_assert_null(b.data);
    gm_free(bytes);
}

Test(data, npy_round_trip_every_dtype_and_rank) {
    const char *dir = td_mkdtemp();
    gm_rng rng;
    gm_rng_seed(&rng, 7, 1);
    const gm_dtype dtypes[] = {GM_DTYPE_F32, GM_DTYPE_F64, GM_DTYPE_U8, GM_DTYPE_I32,
                               GM_DTYPE_I64};
    const int64_t s0[1] = {0}, s1[1] = {5}, s2[2] = {3, 4}, s3[3] = {2, 3, 4},
                  se[2] = {0, 3}, s8[8] = {1, 2, 1, 2, 1, 2, 1, 3};
    for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++) {
        roundtrip_one(dir, dtypes[t], 0, s0, &rng);
        roundtrip_one(dir, dtypes[t], 1, s1, &rng);
        roundtrip_one(dir, dtypes[t], 2, s2, &rng);
        roundtrip_one(dir, dtypes[t], 3, s3, &rng);
        roundtrip_one(dir, dtypes[t], 2, se, &rng);
        roundtrip_one(dir, dtypes[t], 8, s8, &rng);
    }
    cr_assert_eq(td_count_entries(dir, ".tmp."), 0, "temporary files left behind");
    ts_rmtree(dir);
}

Test(data, npy_written_header_is_what_numpy_writes) {
    const char *dir = td_mkdtemp();
    char path[256];
    snprintf(path, sizeof path, "%s/h.npy", dir);
    float v[12] = {0};
    gm_array a = {.dtype = GM_DTYPE_F32, .ndim = 2, .shape = {3, 4}, .data = v};
    cr_assert_eq(gm_npy_write(path, &a), GM_OK, "%s", gm_error_detail());
    char *ours = ts_read_file(path);
    char *theirs = ts_read_file(NPY_FIXTURE("f32_3x4.npy"));
    cr_assert_not_null(ours);
    cr_assert_not_null(theirs);
    /* Same prelude and header bytes as numpy.save for the same dtype and shape. */
    cr_assert_eq(memcmp(ours, theirs, 128), 0);
    gm_free(ours);
    gm_free(theirs);
    ts_rmtree(dir);
}

/* ---- files written by NumPy --------------------------------------------- */

Test(data, npy_reads_numpy_fixtures) {
    gm_array a;
    cr_assert_eq(gm_npy_read(NPY_FIXTURE("f32_3x4.npy"), &a), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(a.dtype, GM_DTYPE_F32);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(a.shape[0], 3);
    cr_assert_eq(a.shape[1], 4);
    for (int i = 0; i < 12; i++) cr_assert_eq(((float *)a.data)[i], ((float)i - 5.5f) / 4.0f);
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("f64_2x2.npy"), &a), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(a.dtype, GM_DTYPE_F64);
    const double f64[4] = {1.5, -2.25, 3.0e100, 1e-300};
    cr_assert_eq(memcmp(a.data, f64, sizeof f64), 0);
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("u8_vec.npy"), &a), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(a.dtype, GM_DTYPE_U8);
    cr_assert_eq(a.ndim, 1);
    cr_assert_eq(a.shape[0], 5);
    const uint8_t u8[5] = {0, 1, 127, 128, 255};
    cr_assert_eq(memcmp(a.data, u8, sizeof u8), 0);
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("i32_2x3.npy"), &a), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(a.dtype, GM_DTYPE_I32);
    const int32_t i32[6] = {INT32_MIN, -1, 0, 1, 7, INT32_MAX};
    cr_assert_eq(memcmp(a.data, i32, sizeof i32), 0);
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("i64_scalar.npy"), &a), GM_OK, "%s",
                 gm_error_detail());
    cr_assert_eq(a.dtype, GM_DTYPE_I64);
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(gm_array_numel(&a), 1);
    cr_assert_eq(*(int64_t *)a.data, INT64_C(-9007199254740993));
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("f64_v2_2x3.npy"), &a), GM_OK, "%s",
                 gm_error_detail());
    cr_assert_eq(a.ndim, 2);
    const double v2[6] = {1, 2, 3, 4, 5, 6.5};
    cr_assert_eq(memcmp(a.data, v2, sizeof v2), 0);
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("f32_empty_0x3.npy"), &a), GM_OK, "%s",
                 gm_error_detail());
    cr_assert_eq(a.shape[0], 0);
    cr_assert_eq(a.shape[1], 3);
    cr_assert_eq(gm_array_numel(&a), 0);
    cr_assert_not_null(a.data);
    gm_array_free(&a);

    cr_assert_eq(gm_npy_read(NPY_FIXTURE("f32_2x3x2.npy"), &a), GM_OK, "%s",
                 gm_error_detail());
    cr_assert_eq(a.ndim, 3);
    for (int i = 0; i < 12; i++) cr_assert_eq(((float *)a.data)[i], 0.5f * (float)i);
    gm_array_free(&a);
}

Test(data, npy_rejects_numpy_files_it_does_not_support) {
    expect_format_error(NPY_FIXTURE("be_f4_3.npy"), "big-endian", "big-endian");
    expect_format_error(NPY_FIXTURE("fortran_2x3.npy"), "fortran order", "fortran_order");
}

Test(data, numpy_reads_our_files) {
    if (!td_have_numpy()) cr_skip_test("/usr/bin/python3 with numpy is not available");
    const char *dir = td_mkdtemp();
    char p1[256], p2[256], p3[256], p4[256], p5[256];
    snprintf(p1, sizeof p1, "%s/f32.npy", dir);
    snprintf(p2, sizeof p2, "%s/f64.npy", dir);
    snprintf(p3, sizeof p3, "%s/u8.npy", dir);
    snprintf(p4, sizeof p4, "%s/i32.npy", dir);
    snprintf(p5, sizeof p5, "%s/i64.npy", dir);
    float f32[6] = {0.5f, -1.25f, 3, 4, 5, 6};
    double f64 = -2.75;
    uint8_t u8[3] = {0, 128, 255};
    int32_t i32[2 * 1 * 2] = {INT32_MIN, -1, 0, INT32_MAX};
    int64_t i64[1] = {INT64_MIN};
    gm_array a1 = {.dtype = GM_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = f32};
    gm_array a2 = {.dtype = GM_DTYPE_F64, .ndim = 0, .data = &f64};
    gm_array a3 = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {3}, .data = u8};
    gm_array a4 = {.dtype = GM_DTYPE_I32, .ndim = 3, .shape = {2, 1, 2}, .data = i32};
    gm_array a5 = {.dtype = GM_DTYPE_I64, .ndim = 1, .shape = {1}, .data = i64};
    cr_assert_eq(gm_npy_write(p1, &a1), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_npy_write(p2, &a2), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_npy_write(p3, &a3), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_npy_write(p4, &a4), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_npy_write(p5, &a5), GM_OK, "%s", gm_error_detail());
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import numpy as np\n"
             "def check(p, want):\n"
             "    got = np.load(p, allow_pickle=False)\n"
             "    assert got.dtype == want.dtype, (p, got.dtype)\n"
             "    assert got.shape == want.shape, (p, got.shape)\n"
             "    assert np.array_equal(got, want), (p, got)\n"
             "check(\"%s\", np.array([[0.5, -1.25, 3], [4, 5, 6]], dtype=np.float32))\n"
             "check(\"%s\", np.array(-2.75, dtype=np.float64))\n"
             "check(\"%s\", np.array([0, 128, 255], dtype=np.uint8))\n"
             "check(\"%s\", np.array([[[-2**31, -1]], [[0, 2**31 - 1]]], dtype=np.int32))\n"
             "check(\"%s\", np.array([-2**63], dtype=np.int64))\n"
             "print(\"numpy ok\")\n'",
             p1, p2, p3, p4, p5);
    int rc = -1;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, 0, "numpy could not read our files:\n%s", out);
    cr_assert(strstr(out, "numpy ok") != NULL, "%s", out);
    gm_free(out);
    ts_rmtree(dir);
}

/* ---- malformed files ----------------------------------------------------- */

Test(data, npy_rejects_malformed_files) {
    const float three[3] = {1, 2, 3};
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    unsigned char img[1024];
    size_t n = td_npy_image(img, sizeof img, 1, good, three, sizeof three);

    /* The well-formed image is accepted, so each failure below is its own defect. */
    gm_array a;
    cr_assert_eq(gm_npy_read(td_write_bytes(img, n), &a), GM_OK, "%s", gm_error_detail());
    gm_array_free(&a);

    expect_format_error(td_write_bytes("", 0), "empty file", NULL);
    expect_format_error(td_write_bytes(img, 4), "truncated magic", NULL);
    expect_format_error(td_write_bytes(img, 9), "truncated header length", NULL);
    expect_format_error(td_write_bytes("\x93NUMPX\x01\x00", 8), "wrong magic", "magic");
    expect_format_error(td_write_bytes("PK\x03\x04 zip file", 13), "zip", "magic");

    unsigned char bad[1024];
    memcpy(bad, img, n);
    bad[6] = 9;
    expect_format_error(td_write_bytes(bad, n), "version 9", "version 9.0");
    memcpy(bad, img, n);
    bad[7] = 1;
    expect_format_error(td_write_bytes(bad, n), "version 1.1", "version 1.1");

    memcpy(bad, img, n);
    bad[8] = 0xff;
    bad[9] = 0x7f;
    expect_format_error(td_write_bytes(bad, n), "header length beyond file", "header length");

    unsigned char v2[1024];
    size_t n2 = td_npy_image(v2, sizeof v2, 2, good, three, sizeof three);
    v2[11] = 0xff;
    expect_format_error(td_write_bytes(v2, n2), "u32 header length beyond file",
                        "header length");

    expect_format_error(td_write_bytes(img, n - 1), "truncated data", "truncated data");
    expect_format_error(td_write_bytes(img, 70), "truncated header", NULL);
    memcpy(bad, img, n);
    bad[n] = 0;
    expect_format_error(td_write_bytes(bad, n + 1), "trailing byte", "trailing");

    /* A NUL inside a key must not let "descr\0x" pass for "descr". */
    const char nul_key[] = "{'descr\0x': '<f4', 'fortran_order': False, 'shape': (3,), }";
    memcpy(bad, img, n);
    memcpy(bad + 10, nul_key, sizeof nul_key - 1);
    expect_format_error(td_write_bytes(bad, n), "NUL in key", "unsupported character");

    static const struct {
        const char *dict;
        const char *why;
        const char *needle;
    } cases[] = {
        {"{'fortran_order': False, 'shape': (3,), }", "no descr", "'descr'"},
        {"{'descr': '<f4', 'shape': (3,), }", "no fortran_order", "'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, }", "no shape", "'shape'"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", "fortran", "fortran"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", "big-endian",
         "big-endian"},
        {"{'descr': '>i8', 'fortran_order': False, 'shape': (3,), }", "big-endian i8",
         "big-endian"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", "object", "object"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", "structured",
         "structured"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", "float16", "'<f2'"},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", "bool", "'|b1'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,-1), }", "negative dim",
         "negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,99999999999), }",
         "overflow", "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
         "int64 overflow", "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", "not a tuple",
         "trailing comma"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", "list", "tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }", "double comma", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,3), }",
         "nine dims", "more than 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", "extra key",
         "'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
         "duplicate key", "duplicate"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", "fortran not bool", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,) ", "unclosed dict", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", "junk after", NULL},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (3,), }", "bad quote", NULL},
        {"['descr', '<f4']", "not a dict", "dict"},
        {"", "empty header", NULL},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (3,), }", "bare key", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = td_npy_file(1, cases[i].dict, three, sizeof three);
        expect_format_error(p, cases[i].why, cases[i].needle);
        remove(p);
    }
}

Test(data, npy_accepts_header_variants_numpy_accepts) {
    const uint8_t four[4] = {1, 2, 3, 4};
    const char *variants[] = {
        "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (4,)}",
        "{'shape': (4,), 'fortran_order': False, 'descr': '<u1'}",
        "{'descr':'|u1','fortran_order':False,'shape':(2,2)}",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (4L,), }",
        "{'descr': '|u1', 'fortran_order': False, 'shape': ( 2 , 2 , ), }",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        gm_array a;
        const char *p = td_npy_file(1, variants[i], four, sizeof four);
        cr_assert_eq(gm_npy_read(p, &a), GM_OK, "%s: %s", variants[i], gm_error_detail());
        cr_assert_eq(a.dtype, GM_DTYPE_U8);
        cr_assert_eq(gm_array_numel(&a), 4);
        cr_assert_eq(memcmp(a.data, four, 4), 0);
        gm_array_free(&a);
        remove(p);
    }
    /* Version 3.0 differs from 2.0 only in the header's text encoding. */
    unsigned char img[256];
    size_t n = td_npy_image(img, sizeof img, 3, variants[0], four, sizeof four);
    gm_array a;
    cr_assert_eq(gm_npy_read(td_write_bytes(img, n), &a), GM_OK, "%s", gm_error_detail());
    gm_array_free(&a);
}

Test(data, npy_io_errors) {
    gm_array a;
    cr_assert_eq(gm_npy_read("/nonexistent/dir/x.npy", &a), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "/nonexistent/dir/x.npy") != NULL);
    cr_assert_null(a.data);
    const char *dir = td_mkdtemp();
    cr_assert_eq(gm_npy_read(dir, &a), GM_ERR_IO, "%s", gm_error_detail());
    ts_rmtree(dir);
    cr_assert_eq(gm_npy_read(NULL, &a), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_npy_read(NPY_FIXTURE("u8_vec.npy"), NULL), GM_ERR_INVALID_ARG);
}

/* ---- atomic write -------------------------------------------------------- */

Test(data, npy_write_into_missing_directory_fails_cleanly) {
    uint8_t v[2] = {1, 2};
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {2}, .data = v};
    cr_assert_eq(gm_npy_write("/nonexistent-gmcnn-dir/x.npy", &a), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "/nonexistent-gmcnn-dir/x.npy") != NULL, "%s",
              gm_error_detail());
}

Test(data, npy_write_failure_leaves_target_and_no_temporary) {
    const char *dir = td_mkdtemp();
    uint8_t v[2] = {1, 2};
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {2}, .data = v};

    /* rename() onto a directory fails after the temporary has been written. */
    char target[256];
    snprintf(target, sizeof target, "%s/out.npy", dir);
    cr_assert_eq(mkdir(target, 0755), 0);
    cr_assert_eq(gm_npy_write(target, &a), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), target) != NULL, "%s", gm_error_detail());
    cr_assert_eq(td_count_entries(dir, ".tmp."), 0, "temporary file left behind");
    struct stat sb;
    cr_assert_eq(stat(target, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));

    /* A rejected array leaves an existing file as it was. */
    char keep[256];
    snprintf(keep, sizeof keep, "%s/keep.npy", dir);
    FILE *f = fopen(keep, "wb");
    cr_assert_not_null(f);
    fputs("old contents", f);
    fclose(f);
    gm_array bad = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {-2}, .data = v};
    cr_assert_eq(gm_npy_write(keep, &bad), GM_ERR_INVALID_ARG);
    gm_array nodata = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {2}, .data = NULL};
    cr_assert_eq(gm_npy_write(keep, &nodata), GM_ERR_INVALID_ARG);
    gm_array badtype = {.dtype = (gm_dtype)42, .ndim = 1, .shape = {2}, .data = v};
    cr_assert_eq(gm_npy_write(keep, &badtype), GM_ERR_INVALID_ARG);
    gm_array badndim = {.dtype = GM_DTYPE_U8, .ndim = 9, .data = v};
    cr_assert_eq(gm_npy_write(keep, &badndim), GM_ERR_INVALID_ARG);
    char *text = ts_read_file(keep);
    cr_assert_str_eq(text, "old contents");
    gm_free(text);

    /* Success replaces it, again without leftovers. */
    cr_assert_eq(gm_npy_write(keep, &a), GM_OK, "%s", gm_error_detail());
    gm_array b;
    cr_assert_eq(gm_npy_read(keep, &b), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(memcmp(b.data, v, 2), 0);
    gm_array_free(&b);
    cr_assert_eq(td_count_entries(dir, ".tmp."), 0, "temporary file left behind");
    rmdir(target);
    ts_rmtree(dir);
}

Test(data, npy_write_gives_ordinary_permissions) {
    const char *dir = td_mkdtemp();
    uint8_t v[1] = {9};
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {1}, .data = v};
    char p[256];
    snprintf(p, sizeof p, "%s/new.npy", dir);
    umask(022);
    cr_assert_eq(gm_npy_write(p, &a), GM_OK, "%s", gm_error_detail());
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0644, "mode %o", (unsigned)(sb.st_mode & 0777));
    /* umask was restored after being read. */
    cr_assert_eq(umask(022), 022);
    /* Replacing a file keeps its mode, as truncating it in place would. */
    cr_assert_eq(chmod(p, 0600), 0);
    cr_assert_eq(gm_npy_write(p, &a), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", (unsigned)(sb.st_mode & 0777));
    ts_rmtree(dir);
}

/* ---- conversion ---------------------------------------------------------- */

Test(data, array_to_f64_every_dtype) {
    float f32[3] = {0.5f, -1.0f, NAN};
    double f64[3] = {0.25, -INFINITY, 3};
    uint8_t u8[3] = {0, 200, 255};
    int32_t i32[3] = {INT32_MIN, 0, INT32_MAX};
    int64_t i64[3] = {-5, INT64_C(1) << 53, 7};
    const struct {
        gm_dtype t;
        void *d;
        double want[3];
    } cases[] = {
        {GM_DTYPE_F32, f32, {0.5, -1.0, NAN}},
        {GM_DTYPE_F64, f64, {0.25, -INFINITY, 3}},
        {GM_DTYPE_U8, u8, {0, 200, 255}},
        {GM_DTYPE_I32, i32, {-2147483648.0, 0, 2147483647.0}},
        {GM_DTYPE_I64, i64, {-5, 9007199254740992.0, 7}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gm_array a = {.dtype = cases[c].t, .ndim = 1, .shape = {3}, .data = cases[c].d};
        double *d = NULL;
        cr_assert_eq(gm_array_to_f64(&a, &d), GM_OK, "%s", gm_error_detail());
        for (int i = 0; i < 3; i++) {
            if (isnan(cases[c].want[i])) {
                cr_assert(isnan(d[i]), "NaN is kept");
            } else {
                cr_assert_eq(d[i], cases[c].want[i], "dtype %d index %d", (int)cases[c].t, i);
            }
        }
        gm_free(d);
    }
    gm_array empty = {.dtype = GM_DTYPE_F32, .ndim = 2, .shape = {0, 4}};
    double *d = NULL;
    cr_assert_eq(gm_array_to_f64(&empty, &d), GM_OK);
    cr_assert_not_null(d);
    gm_free(d);
    gm_array bad = {.dtype = GM_DTYPE_F32, .ndim = -1};
    cr_assert_eq(gm_array_to_f64(&bad, &d), GM_ERR_INVALID_ARG);
    cr_assert_null(d);
    cr_assert_eq(gm_array_to_f64(NULL, &d), GM_ERR_INVALID_ARG);
}

Test(data, array_helpers) {
    cr_assert_eq(gm_dtype_size(GM_DTYPE_U8), 1);
    cr_assert_eq(gm_dtype_size(GM_DTYPE_I32), 4);
    cr_assert_eq(gm_dtype_size(GM_DTYPE_I64), 8);
    cr_assert_eq(gm_dtype_size((gm_dtype)99), 0);
    cr_assert_str_eq(gm_dtype_descr(GM_DTYPE_F64), "<f8");
    cr_assert_str_eq(gm_dtype_descr((gm_dtype)99), "?");
    gm_array a = {.ndim = 2, .shape = {INT64_MAX, 2}};
    cr_assert_eq(gm_array_numel(&a), -1);
    a.shape[0] = -1;
    cr_assert_eq(gm_array_numel(&a), -1);
    a.ndim = 0;
    cr_assert_eq(gm_array_numel(&a), 1);
    gm_array_free(NULL);
    gm_array z = {0};
    gm_array_free(&z);
    gm_array_free(&z);
}

/* ---- matrix files -------------------------------------------------------- */

static void expect_matrix_error(const char *path, gm_status want, const char *needle) {
    int64_t r = -1, c = -1;
    double *m = (double *)1;
    gm_status st = gm_matrix_read(path, &r, &c, &m);
    cr_assert_eq(st, want, "%s: status %d (%s)", path, st, gm_error_detail());
    cr_assert_null(m);
    cr_assert_eq(r, 0);
    cr_assert_eq(c, 0);
    cr_assert(strstr(gm_error_detail(), path) != NULL, "detail lacks the file: %s",
              gm_error_detail());
    if (needle) {
        cr_assert(strstr(gm_error_detail(), needle) != NULL, "detail lacks '%s': %s", needle,
                  gm_error_detail());
    }
}

Test(data, matrix_text_good) {
    const char *p = td_write_text("# a 3x3 matrix\n"
                                  "\n"
                                  "1 2 3   # first row\n"
                                  "  4,5 , 6\r\n"
                                  "\t-7.5e0\t0x10  +1e-3\n"
                                  "# trailing comment\n");
    int64_t r = 0, c = 0;
    double *m = NULL;
    cr_assert_eq(gm_matrix_read(p, &r, &c, &m), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(r, 3);
    cr_assert_eq(c, 3);
    const double want[9] = {1, 2, 3, 4, 5, 6, -7.5, 16, 1e-3};
    for (int i = 0; i < 9; i++) cr_assert_eq(m[i], want[i], "index %d", i);
    gm_free(m);

    p = td_write_text("42");
    cr_assert_eq(gm_matrix_read(p, &r, &c, &m), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(r, 1);
    cr_assert_eq(c, 1);
    cr_assert_eq(m[0], 42.0);
    gm_free(m);
}

Test(data, matrix_text_errors_name_line_and_token) {
    const char *p = td_write_text("1 2 3 4 5 6\n1 2 3 4 5 6\n\n1 2 3 4 5\n");
    char want[512];
    int64_t r, c;
    double *m;
    cr_assert_eq(gm_matrix_read(p, &r, &c, &m), GM_ERR_FORMAT);
    snprintf(want, sizeof want, "matrix file '%s' line 4: 5 values, expected 6", p);
    cr_assert_str_eq(gm_error_detail(), want);

    expect_matrix_error(td_write_text("1 2\n3 4\n5 six\n"), GM_ERR_FORMAT, "line 3");
    cr_assert(strstr(gm_error_detail(), "'six'") != NULL, "%s", gm_error_detail());
    expect_matrix_error(td_write_text("1 2\n3 nan\n"), GM_ERR_FORMAT, "non-finite value");
    cr_assert(strstr(gm_error_detail(), "line 2") != NULL, "%s", gm_error_detail());
    expect_matrix_error(td_write_text("1 NaN\n"), GM_ERR_FORMAT, "non-finite value");
    expect_matrix_error(td_write_text("inf 1\n"), GM_ERR_FORMAT, "non-finite value");
    expect_matrix_error(td_write_text("-Infinity 1\n"), GM_ERR_FORMAT, "non-finite value");
    expect_matrix_error(td_write_text("1e999 1\n"), GM_ERR_FORMAT, "non-finite value");
    expect_matrix_error(td_write_text("1,,2\n"), GM_ERR_FORMAT, "line 1 column 3");
    expect_matrix_error(td_write_text("1,2,\n"), GM_ERR_FORMAT, "after ','");
    expect_matrix_error(td_write_text(",1,2\n"), GM_ERR_FORMAT, "line 1");
    expect_matrix_error(td_write_text("1 2\n1.5.5 2\n"), GM_ERR_FORMAT, "'1.5.5'");
    expect_matrix_error(td_write_text("1 2e\n"), GM_ERR_FORMAT, "'2e'");
    expect_matrix_error(td_write_text(""), GM_ERR_FORMAT, "no rows");
    expect_matrix_error(td_write_text("# nothing\n\n   \n"), GM_ERR_FORMAT, "no rows");
    expect_matrix_error("/nonexistent/m.txt", GM_ERR_IO, NULL);

    /* A NUL byte inside a token is not a number, and the message stays printable. */
    const char *q = td_write_bytes("1 2\n3 4\0x\n", 10);
    expect_matrix_error(q, GM_ERR_FORMAT, "'4?x'");
}

Test(data, matrix_reads_npy_by_magic) {
    int64_t r, c;
    double *m;
    cr_assert_eq(gm_matrix_read(NPY_FIXTURE("f32_3x4.npy"), &r, &c, &m), GM_OK, "%s",
                 gm_error_detail());
    cr_assert_eq(r, 3);
    cr_assert_eq(c, 4);
    for (int i = 0; i < 12; i++) cr_assert_eq(m[i], ((double)i - 5.5) / 4.0);
    gm_free(m);

    /* The extension does not matter: an .npy image under a .txt-like name. */
    char *bytes = ts_read_file(NPY_FIXTURE("i32_2x3.npy"));
    cr_assert_not_null(bytes);
    const char *p = td_write_bytes(bytes, 152);
    gm_free(bytes);
    cr_assert_eq(gm_matrix_read(p, &r, &c, &m), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(r, 2);
    cr_assert_eq(c, 3);
    cr_assert_eq(m[0], -2147483648.0);
    cr_assert_eq(m[5], 2147483647.0);
    gm_free(m);

    /* The type the values were stored in: the .npy dtype, float64 for text. */
    gm_dtype dtype = GM_DTYPE_U8;
    OK(gm_matrix_read_dtype(NPY_FIXTURE("f32_3x4.npy"), &r, &c, &m, &dtype));
    cr_assert_eq(dtype, GM_DTYPE_F32);
    gm_free(m);
    OK(gm_matrix_read_dtype(p, &r, &c, &m, &dtype));
    cr_assert_eq(dtype, GM_DTYPE_I32);
    gm_free(m);
    OK(gm_matrix_read_dtype(ts_write_temp("1 2\n3 4\n"), &r, &c, &m, &dtype));
    cr_assert_eq(dtype, GM_DTYPE_F64);
    gm_free(m);

    expect_matrix_error(NPY_FIXTURE("u8_vec.npy"), GM_ERR_FORMAT, "1 dimensions, expected 2");
    expect_matrix_error(NPY_FIXTURE("f32_2x3x2.npy"), GM_ERR_FORMAT, "expected 2");
    expect_matrix_error(NPY_FIXTURE("be_f4_3.npy"), GM_ERR_FORMAT, "big-endian");

    const double nan_data[4] = {1, 2, NAN, 4};
    p = td_npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", nan_data,
                    sizeof nan_data);
    expect_matrix_error(p, GM_ERR_FORMAT, "non-finite value at row 2, column 1");
}

/* ---- out of memory ------------------------------------------------------- */

Test(data, readers_survive_allocation_failures) {
    const char *txt = td_write_text("1 2 3\n4 5 6\n");
    for (int64_t k = 0; k < 16; k++) {
        gm_array a;
        gm_alloc_fail_after(k);
        gm_status st = gm_npy_read(NPY_FIXTURE("f32_3x4.npy"), &a);
        gm_alloc_fail_after(-1);
        cr_assert(st == GM_OK || st == GM_ERR_NOMEM, "k=%lld: %d", (long long)k, st);
        if (st == GM_OK) gm_array_free(&a);
        else cr_assert_null(a.data);

        int64_t r, c;
        double *m;
        gm_alloc_fail_after(k);
        st = gm_matrix_read(NPY_FIXTURE("f64_2x2.npy"), &r, &c, &m);
        gm_alloc_fail_after(-1);
        cr_assert(st == GM_OK || st == GM_ERR_NOMEM, "k=%lld: %d", (long long)k, st);
        gm_free(m);

        gm_alloc_fail_after(k);
        st = gm_matrix_read(txt, &r, &c, &m);
        gm_alloc_fail_after(-1);
        cr_assert(st == GM_OK || st == GM_ERR_NOMEM, "k=%lld: %d", (long long)k, st);
        gm_free(m);

        const char *dir = td_mkdtemp();
        char p[256];
        snprintf(p, sizeof p, "%s/o.npy", dir);
        uint8_t v[1] = {1};
        gm_array w = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {1}, .data = v};
        gm_alloc_fail_after(k);
        st = gm_npy_write(p, &w);
        gm_alloc_fail_after(-1);
        cr_assert(st == GM_OK || st == GM_ERR_NOMEM, "k=%lld: %d", (long long)k, st);
        cr_assert_eq(td_count_entries(dir, ".tmp."), 0);
        ts_rmtree(dir);
    }
}
