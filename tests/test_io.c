/* io: safetensors write -> read round trips, exact bytes of the writer, model
 * save/load, interop with an independent Python reader/writer (and with the
 * safetensors package when installed), malformed files, atomic writes, and
 * out-of-memory injection. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

#define CHECK_SCRIPT GM_FIXTURE_DIR "/../interop/safetensors_check.py"

/* ---- helpers ------------------------------------------------------------- */

/* Every file a test makes lives in one scratch directory, removed after it. */
static char io_scratch[64];
static int io_serial;

static void io_setup(void) {
    snprintf(io_scratch, sizeof io_scratch, "/tmp/gmcnn-io-XXXXXX");
    cr_assert_not_null(mkdtemp(io_scratch), "mkdtemp failed");
}

static void io_teardown(void) {
    DIR *d = opendir(io_scratch);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", io_scratch, e->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(io_scratch);
}

TestSuite(io, .init = io_setup, .fini = io_teardown);

/* A path in the scratch directory (static buffer per call slot). */
static const char *io_path(const char *name) {
    static char paths[8][256];
    static int slot;
    char *p = paths[slot++ % 8];
    if (name) {
        snprintf(p, 256, "%s/%s", io_scratch, name);
    } else {
        snprintf(p, 256, "%s/f%d.safetensors", io_scratch, io_serial++);
    }
    return p;
}

static int io_count_entries(const char *needle) {
    DIR *d = opendir(io_scratch);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (!needle || strstr(e->d_name, needle)) n++;
    }
    closedir(d);
    return n;
}

static const char *io_write_bytes(const void *bytes, size_t n) {
    const char *path = io_path(NULL);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    if (n) cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* Whole file into a heap buffer (gm_free it). */
static unsigned char *io_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    cr_assert(len >= 0);
    rewind(f);
    unsigned char *buf = gm_malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* A file: the u64 size `hlen`, the header text, then `data`. */
static const char *io_file_sized(uint64_t hlen, const char *json, const void *data,
                                 size_t ndata) {
    size_t jlen = strlen(json);
    unsigned char *buf = gm_malloc(8 + jlen + ndata);
    cr_assert_not_null(buf);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(hlen >> (8 * k));
    memcpy(buf + 8, json, jlen);
    if (ndata) memcpy(buf + 8 + jlen, data, ndata);
    const char *path = io_write_bytes(buf, 8 + jlen + ndata);
    gm_free(buf);
    return path;
}

static const char *io_file(const char *json, const void *data, size_t ndata) {
    return io_file_sized(strlen(json), json, data, ndata);
}

static gm_safetensors *io_read_ok(const char *path) {
    gm_safetensors *st = NULL;
    gm_status s = gm_safetensors_read(path, &st);
    cr_assert_eq(s, GM_OK, "read %s: %s (%s)", path, gm_strerror(s), gm_error_detail());
    cr_assert_not_null(st);
    return st;
}

static void io_expect_fail(const char *path, gm_status want, const char *what,
                           const char *needle) {
    gm_safetensors *st = (gm_safetensors *)&st; /* must be reset to NULL */
    gm_error_clear();
    gm_status s = gm_safetensors_read(path, &st);
    cr_assert_eq(s, want, "%s: status %s, expected %s (%s)", what, gm_strerror(s),
                 gm_strerror(want), gm_error_detail());
    cr_assert_null(st, "%s: out not NULL on failure", what);
    const char *detail = gm_error_detail();
    cr_assert(strstr(detail, path) != NULL, "%s: detail does not name the file: %s", what,
              detail);
    if (needle) {
        cr_assert(strstr(detail, needle) != NULL, "%s: detail lacks '%s': %s", what, needle,
                  detail);
    }
}

static size_t io_nbytes(const gm_st_entry *e) {
    int64_t n = gm_st_entry_numel(e);
    cr_assert(n >= 0);
    return (size_t)n * gm_dtype_size(e->dtype);
}

static void io_expect_same_entry(const gm_st_entry *got, const gm_st_entry *want) {
    cr_assert_not_null(got, "missing tensor '%s'", want->name);
    cr_assert_str_eq(got->name, want->name);
    cr_assert_eq(got->dtype, want->dtype, "'%s' dtype", want->name);
    cr_assert_eq(got->ndim, want->ndim, "'%s' ndim", want->name);
    for (int d = 0; d < want->ndim; d++)
        cr_assert_eq(got->shape[d], want->shape[d], "'%s' dim %d", want->name, d);
    cr_assert_eq((uintptr_t)got->data % 8, 0, "'%s' data not 8-aligned", want->name);
    size_t n = io_nbytes(want);
    if (n) cr_assert_eq(memcmp(got->data, want->data, n), 0, "'%s' bytes differ", want->name);
}

/* ---- sample tensors ------------------------------------------------------ */

static float s_w4d[2 * 3 * 2 * 2];
static double s_f64 = -0.0025;
static int32_t s_i32[5] = {INT32_MIN, -1, 0, 7, INT32_MAX};
static int64_t s_i64[4] = {INT64_MIN, -1, 1, INT64_MAX};
static uint8_t s_u8[3] = {0, 128, 255};
static float s_f32_8d[2 * 1 * 2 * 1 * 1 * 2 * 1 * 1] = {1, -2, 3, -4, 5, -6, 7, -8};
static float s_one = 1.5f;

#define NSAMPLE 8
static gm_st_entry s_entries[NSAMPLE];

static void io_samples(void) {
    for (int i = 0; i < 24; i++) s_w4d[i] = ((float)i - 7.5f) * 0.25f;
    gm_st_entry e[NSAMPLE] = {
        {.name = "w4d", .dtype = GM_DTYPE_F32, .ndim = 4, .shape = {2, 3, 2, 2}, .data = s_w4d},
        {.name = "scalar", .dtype = GM_DTYPE_F64, .ndim = 0, .data = &s_f64},
        {.name = "ints", .dtype = GM_DTYPE_I32, .ndim = 1, .shape = {5}, .data = s_i32},
        {.name = "big", .dtype = GM_DTYPE_I64, .ndim = 2, .shape = {2, 2}, .data = s_i64},
        {.name = "bytes", .dtype = GM_DTYPE_U8, .ndim = 1, .shape = {3}, .data = s_u8},
        {.name = "empty", .dtype = GM_DTYPE_F32, .ndim = 2, .shape = {0, 3}, .data = NULL},
        {.name = "eight.dims",
         .dtype = GM_DTYPE_F32,
         .ndim = 8,
         .shape = {2, 1, 2, 1, 1, 2, 1, 1},
         .data = s_f32_8d},
        {.name = "name \"q\" \\ \xc3\xa9/\xe2\x98\x83\n",
         .dtype = GM_DTYPE_F32,
         .ndim = 1,
         .shape = {1},
         .data = &s_one},
    };
    memcpy(s_entries, e, sizeof e);
}

static const char *s_keys[] = {"format", "note", "empty"};
static const char *s_values[] = {"gmcnn", "\xc3\xbcn\xc3\xaf" "code \"quoted\"\n\\ done", ""};

/* ---- round trips --------------------------------------------------------- */

Test(io, round_trip_every_dtype_and_rank) {
    io_samples();
    const char *path = io_path("all.safetensors");
    cr_assert_eq(gm_safetensors_write(path, NSAMPLE, s_entries, 3, s_keys, s_values), GM_OK,
                 "%s", gm_error_detail());
    gm_safetensors *st = io_read_ok(path);
    cr_assert_eq(gm_safetensors_count(st), NSAMPLE);
    /* Data order is the order written: the empty tensor shares its offset
     * with the next one and sorts before it. */
    for (int i = 0; i < NSAMPLE; i++) {
        int64_t k = gm_safetensors_find(st, s_entries[i].name);
        cr_assert(k >= 0, "'%s' not found", s_entries[i].name);
        io_expect_same_entry(gm_safetensors_entry(st, k), &s_entries[i]);
        cr_assert_str_eq(gm_safetensors_name(st, k), s_entries[i].name);
    }
    for (int i = 0; i < NSAMPLE; i++)
        cr_assert_str_eq(gm_safetensors_name(st, i), s_entries[i].name, "entry %d", i);
    cr_assert_eq(gm_safetensors_find(st, "nope"), -1);
    cr_assert_null(gm_safetensors_entry(st, NSAMPLE));
    cr_assert_null(gm_safetensors_entry(st, -1));
    cr_assert_null(gm_safetensors_name(st, NSAMPLE));
    cr_assert_eq(gm_st_entry_numel(gm_safetensors_entry(st, gm_safetensors_find(st, "scalar"))),
                 1);

    cr_assert_eq(gm_safetensors_meta_count(st), 3);
    for (int i = 0; i < 3; i++) {
        const char *k = NULL, *v = NULL;
        cr_assert(gm_safetensors_meta_at(st, i, &k, &v));
        cr_assert_str_eq(k, s_keys[i]);
        cr_assert_str_eq(v, s_values[i]);
        cr_assert_str_eq(gm_safetensors_meta_get(st, s_keys[i]), s_values[i]);
    }
    cr_assert_not(gm_safetensors_meta_at(st, 3, NULL, NULL));
    cr_assert_null(gm_safetensors_meta_get(st, "missing"));

    /* Reading and writing back gives the same bytes. */
    int64_t n = gm_safetensors_count(st);
    gm_st_entry *again = gm_malloc_array((size_t)n, sizeof *again);
    int64_t order[NSAMPLE];
    for (int i = 0; i < NSAMPLE; i++) order[i] = gm_safetensors_find(st, s_entries[i].name);
    for (int i = 0; i < NSAMPLE; i++) again[i] = *gm_safetensors_entry(st, order[i]);
    const char *path2 = io_path("again.safetensors");
    cr_assert_eq(gm_safetensors_write(path2, n, again, 3, s_keys, s_values), GM_OK, "%s",
                 gm_error_detail());
    size_t n1, n2;
    unsigned char *b1 = io_slurp(path, &n1), *b2 = io_slurp(path2, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(b1, b2, n1), 0, "rewritten file differs");
    gm_free(b1);
    gm_free(b2);
    gm_free(again);
    gm_safetensors_free(st);
    gm_safetensors_free(NULL);
}

Test(io, writer_bytes_are_exact_and_deterministic) {
    float v[2] = {1.0f, -2.0f};
    gm_st_entry e[2] = {
        {.name = "a", .dtype = GM_DTYPE_F32, .ndim = 1, .shape = {2}, .data = v},
        {.name = "s", .dtype = GM_DTYPE_F32, .ndim = 0, .data = v},
    };
    const char *k[] = {"k"}, *val[] = {"v\t"};
    const char *path = io_path("exact.safetensors");
    cr_assert_eq(gm_safetensors_write(path, 2, e, 1, k, val), GM_OK, "%s", gm_error_detail());
    size_t n;
    unsigned char *b = io_slurp(path, &n);
    const char *json = "{\"__metadata__\":{\"k\":\"v\\u0009\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]}}";
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8;
    cr_assert_eq(n, 8 + hlen + 12);
    uint64_t got_hlen = 0;
    for (int i = 7; i >= 0; i--) got_hlen = got_hlen << 8 | b[i];
    cr_assert_eq(got_hlen, hlen);
    cr_assert_eq(memcmp(b + 8, json, jlen), 0, "header: %.*s", (int)hlen, (const char *)b + 8);
    for (size_t i = jlen; i < hlen; i++) cr_assert_eq(b[8 + i], ' ');
    cr_assert_eq(memcmp(b + 8 + hlen, v, 8), 0);
    cr_assert_eq(memcmp(b + 8 + hlen + 8, v, 4), 0);

    const char *path2 = io_path("exact2.safetensors");
    cr_assert_eq(gm_safetensors_write(path2, 2, e, 1, k, val), GM_OK, "%s", gm_error_detail());
    size_t n2;
    unsigned char *b2 = io_slurp(path2, &n2);
    cr_assert_eq(n, n2);
    cr_assert_eq(memcmp(b, b2, n), 0);
    gm_free(b);
    gm_free(b2);

    /* Nothing at all: "{}" padded to 8 bytes and no data. */
    const char *path3 = io_path("nothing.safetensors");
    cr_assert_eq(gm_safetensors_write(path3, 0, NULL, 0, NULL, NULL), GM_OK, "%s",
                 gm_error_detail());
    b = io_slurp(path3, &n);
    cr_assert_eq(n, 16);
    cr_assert_eq(memcmp(b, "\x08\0\0\0\0\0\0\0{}      ", 16), 0);
    gm_free(b);
    gm_safetensors *st = io_read_ok(path3);
    cr_assert_eq(gm_safetensors_count(st), 0);
    cr_assert_eq(gm_safetensors_meta_count(st), 0);
    gm_safetensors_free(st);
}

Test(io, tensor_entries_view_gm_tensors) {
    gm_arena *a = NULL;
    cr_assert_eq(gm_arena_new(0, &a), GM_OK);
    gm_tensor *t4 = NULL, *t0 = NULL;
    cr_assert_eq(gm_tensor_new4(a, 2, 1, 3, 2, &t4), GM_OK);
    cr_assert_eq(gm_tensor_new(a, 0, NULL, &t0), GM_OK);
    for (int64_t i = 0; i < t4->numel; i++) t4->data[i] = (gm_real)(0.125 * (double)i - 1.0);
    t0->data[0] = (gm_real)3.25;
    gm_st_entry e[2] = {gm_st_entry_tensor("t4", t4), gm_st_entry_tensor("t0", t0)};
    cr_assert_eq(e[0].dtype, sizeof(gm_real) == 4 ? GM_DTYPE_F32 : GM_DTYPE_F64);
    const char *path = io_path("tensors.safetensors");
    cr_assert_eq(gm_safetensors_write(path, 2, e, 0, NULL, NULL), GM_OK, "%s",
                 gm_error_detail());
    gm_safetensors *st = io_read_ok(path);
    io_expect_same_entry(gm_safetensors_entry(st, 0), &e[0]);
    io_expect_same_entry(gm_safetensors_entry(st, 1), &e[1]);
    gm_safetensors_free(st);
    gm_arena_free(a);
}

/* ---- writer arguments and atomicity -------------------------------------- */

Test(io, writer_rejects_bad_arguments_and_writes_nothing) {
    io_samples();
    const char *path = io_path("bad.safetensors");
    float x = 0;
    gm_st_entry ok = {.name = "x", .dtype = GM_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &x};
    struct {
        const char *what;
        gm_st_entry e[2];
        int n;
    } cases[] = {
        {"empty name", {{.name = "", .dtype = GM_DTYPE_F32, .data = &x}}, 1},
        {"NULL name", {{.name = NULL, .dtype = GM_DTYPE_F32, .data = &x}}, 1},
        {"duplicate", {ok, ok}, 2},
        {"__metadata__", {{.name = "__metadata__", .dtype = GM_DTYPE_F32, .data = &x}}, 1},
        {"bad dtype", {{.name = "x", .dtype = (gm_dtype)99, .data = &x}}, 1},
        {"ndim 9", {{.name = "x", .dtype = GM_DTYPE_F32, .ndim = 9, .data = &x}}, 1},
        {"ndim -1", {{.name = "x", .dtype = GM_DTYPE_F32, .ndim = -1, .data = &x}}, 1},
        {"negative dim", {{.name = "x", .dtype = GM_DTYPE_F32, .ndim = 1, .shape = {-1}}}, 1},
        {"overflow",
         {{.name = "x",
           .dtype = GM_DTYPE_F64,
           .ndim = 2,
           .shape = {INT64_MAX / 2, 4},
           .data = &x}},
         1},
        {"NULL data", {{.name = "x", .dtype = GM_DTYPE_F32, .ndim = 1, .shape = {1}}}, 1},
        {"bad UTF-8", {{.name = "x\xff", .dtype = GM_DTYPE_F32, .data = &x}}, 1},
        {"overlong UTF-8", {{.name = "\xc0\xaf", .dtype = GM_DTYPE_F32, .data = &x}}, 1},
        {"surrogate UTF-8", {{.name = "\xed\xa0\x80", .dtype = GM_DTYPE_F32, .data = &x}}, 1},
        {"dim of 2^53",
         {{.name = "x", .dtype = GM_DTYPE_F32, .ndim = 2, .shape = {0, INT64_C(1) << 53}}},
         1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_status s = gm_safetensors_write(path, cases[i].n, cases[i].e, 0, NULL, NULL);
        cr_assert_eq(s, GM_ERR_INVALID_ARG, "%s: %s (%s)", cases[i].what, gm_strerror(s),
                     gm_error_detail());
        cr_assert(strstr(gm_error_detail(), path), "%s: %s", cases[i].what, gm_error_detail());
    }
    const char *dk[] = {"a", "a"}, *dv[] = {"1", "2"}, *nk[] = {NULL}, *nv[] = {NULL};
    const char *bk[] = {"a\x80"}, *bv[] = {"1"};
    cr_assert_eq(gm_safetensors_write(path, 1, &ok, 2, dk, dv), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "metadata key 'a'"), "%s", gm_error_detail());
    cr_assert_eq(gm_safetensors_write(path, 1, &ok, 1, nk, dv), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_write(path, 1, &ok, 1, dk, nv), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_write(path, 1, &ok, 1, bk, bv), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_write(path, 1, &ok, 1, NULL, dv), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_write(path, 1, NULL, 0, NULL, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_write(path, -1, &ok, 0, NULL, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_write(NULL, 1, &ok, 0, NULL, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(io_count_entries(NULL), 0, "a failed write left files behind");
}

Test(io, failed_writes_leave_the_old_file_and_no_temporary) {
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)i;
    gm_st_entry e = {.name = "x", .dtype = GM_DTYPE_F32, .ndim = 1, .shape = {4}, .data = x};
    const char *path = io_path("keep.safetensors");
    cr_assert_eq(gm_safetensors_write(path, 1, &e, 0, NULL, NULL), GM_OK, "%s",
                 gm_error_detail());
    size_t n0;
    unsigned char *before = io_slurp(path, &n0);

    /* Invalid arguments never touch the target. */
    gm_st_entry bad = e;
    bad.data = NULL;
    cr_assert_eq(gm_safetensors_write(path, 1, &bad, 0, NULL, NULL), GM_ERR_INVALID_ARG);

    /* A missing directory: no temporary can be made. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", io_scratch);
    cr_assert_eq(gm_safetensors_write(missing, 1, &e, 0, NULL, NULL), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), missing), "%s", gm_error_detail());

    /* The disk fills up halfway: a file-size limit makes the data write fail
     * after the header went out. */
    struct rlimit lim = {.rlim_cur = 200, .rlim_max = RLIM_INFINITY};
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    e.shape[0] = 256;
    gm_status s = gm_safetensors_write(path, 1, &e, 0, NULL, NULL);
    lim.rlim_cur = RLIM_INFINITY;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_assert_eq(s, GM_ERR_IO, "%s", gm_error_detail());
    cr_assert(strstr(gm_error_detail(), path), "%s", gm_error_detail());

    size_t n1;
    unsigned char *after = io_slurp(path, &n1);
    cr_assert_eq(n0, n1);
    cr_assert_eq(memcmp(before, after, n0), 0, "the old file was changed");
    cr_assert_eq(io_count_entries(".tmp."), 0, "a temporary file was left behind");
    cr_assert_eq(io_count_entries(NULL), 1);
    gm_free(before);
    gm_free(after);

    /* Replacing keeps the file's permission bits. */
    cr_assert_eq(chmod(path, 0640), 0);
    e.shape[0] = 2;
    cr_assert_eq(gm_safetensors_write(path, 1, &e, 0, NULL, NULL), GM_OK, "%s",
                 gm_error_detail());
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0640);
}

/* ---- hand-made files ------------------------------------------------------ */

Test(io, reads_files_other_writers_make) {
    /* Whitespace everywhere, keys in another order than the data, escapes,
     * no padding (header length 135 is odd), and a U8 tensor that leaves the
     * next one unaligned. */
    const char *json =
        " {\n \"b\\u00e9\\ud83d\\ude00\" : { \"shape\" : [ 2 ] , \"data_offsets\" : [ 3 , 11 ] ,"
        " \"dtype\" : \"F32\" } ,\r\n\t\"u\": {\"dtype\":\"U8\",\"shape\":[3],"
        "\"data_offsets\":[0,3]}, \"__metadata__\": {} } ";
    unsigned char data[11] = {1, 2, 3};
    float f[2] = {0.5f, -8.0f};
    memcpy(data + 3, f, 8);
    const char *path = io_file(json, data, sizeof data);
    gm_safetensors *st = io_read_ok(path);
    cr_assert_eq(gm_safetensors_count(st), 2);
    cr_assert_str_eq(gm_safetensors_name(st, 0), "u");
    cr_assert_str_eq(gm_safetensors_name(st, 1), "b\xc3\xa9\xf0\x9f\x98\x80");
    const gm_st_entry *e = gm_safetensors_entry(st, 1);
    cr_assert_eq((uintptr_t)e->data % 8, 0);
    cr_assert_eq(((const float *)e->data)[0], 0.5f);
    cr_assert_eq(((const float *)e->data)[1], -8.0f);
    cr_assert_eq(memcmp(gm_safetensors_entry(st, 0)->data, data, 3), 0);
    cr_assert_eq(gm_safetensors_meta_count(st), 0);
    gm_safetensors_free(st);

    /* Empty tensors anywhere, including past all others. */
    const char *json2 = "{\"z\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[4,4]},"
                        "\"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]},"
                        "\"e\":{\"dtype\":\"F64\",\"shape\":[3,0,2],\"data_offsets\":[0,0]}}";
    int32_t v = -7;
    st = io_read_ok(io_file(json2, &v, 4));
    cr_assert_str_eq(gm_safetensors_name(st, 0), "e");
    cr_assert_str_eq(gm_safetensors_name(st, 1), "a");
    cr_assert_str_eq(gm_safetensors_name(st, 2), "z");
    cr_assert_eq(*(const int32_t *)gm_safetensors_entry(st, 1)->data, -7);
    cr_assert_eq(gm_safetensors_entry(st, 0)->ndim, 3);
    gm_safetensors_free(st);
}

/* One F32 tensor "t" with the given shape and offsets. */
#define T1(shape, offs) \
    "{\"t\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" offs "}}"
/* Two F32 tensors "a" and "b". */
#define T2(offa, offb)                                                  \
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" offa "}," \
    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" offb "}}"

Test(io, malformed_headers_are_rejected_with_the_file_and_place) {
    static const unsigned char zeros[64];
    struct {
        const char *what;
        const char *json;
        size_t ndata;
        gm_status want;
        const char *needle;
    } cases[] = {
        {"JSON syntax error", "{\"t\":{\"dtype\":\"F32\" \"shape\":[1]}}", 4, GM_ERR_FORMAT,
         "at byte 28: the header is not valid JSON"},
        {"unterminated string", "{\"t", 0, GM_ERR_FORMAT, "not valid JSON"},
        {"missing colon", "{\"t\" {}}", 0, GM_ERR_FORMAT,
         "at byte 13: the header is not valid JSON"},
        {"header ends early", "{\"t\":", 0, GM_ERR_FORMAT, "not valid JSON"},
        {"trailing comma", "{\"__metadata__\":{},}", 0, GM_ERR_FORMAT,
         "at byte 27: the header is not valid JSON"},
        {"empty header", "", 0, GM_ERR_FORMAT, "not a JSON object"},
        {"array header", "[1, 2]", 0, GM_ERR_FORMAT, "not a JSON object"},
        {"string header", "\"x\"", 0, GM_ERR_FORMAT, "not a JSON object"},
        {"text after", "{} x", 0, GM_ERR_FORMAT, "after the header object"},
        {"two objects", "{}{}", 0, GM_ERR_FORMAT, "after the header object"},
        {"metadata number", "{\"__metadata__\":{\"a\":1}}", 0, GM_ERR_FORMAT,
         "value of 'a' is not a string"},
        {"metadata null", "{\"__metadata__\":{\"a\":null}}", 0, GM_ERR_FORMAT, "not a string"},
        {"metadata nested", "{\"__metadata__\":{\"a\":{}}}", 0, GM_ERR_FORMAT, "not a string"},
        {"metadata array", "{\"__metadata__\":[]}", 0, GM_ERR_FORMAT, "__metadata__"},
        {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, GM_ERR_FORMAT,
         "twice"},
        {"metadata key twice", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0,
         GM_ERR_FORMAT, "'a' appears twice"},
        {"no dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, GM_ERR_FORMAT,
         "tensor 't': entry has no 'dtype'"},
        {"no shape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, GM_ERR_FORMAT,
         "no 'shape'"},
        {"no data_offsets", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, GM_ERR_FORMAT,
         "no 'data_offsets'"},
        {"entry not an object", "{\"t\":[1]}", 0, GM_ERR_FORMAT, "tensor entry"},
        {"unknown key",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
         GM_ERR_FORMAT, "unknown key 'x'"},
        {"duplicate key", "{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", 0, GM_ERR_FORMAT,
         "duplicate key 'dtype'"},
        {"dtype not a string", "{\"t\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         GM_ERR_FORMAT, "tensor 't': dtype is not a string"},
        {"unknown dtype", "{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         GM_ERR_FORMAT, "unknown dtype 'F33'"},
        {"lower-case dtype", "{\"t\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, GM_ERR_FORMAT, "unknown dtype"},
        {"unsupported BF16", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
         2, GM_ERR_UNSUPPORTED, "tensor 't': dtype BF16 is not supported"},
        {"unsupported F16", "{\"t\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
         GM_ERR_UNSUPPORTED, "F16"},
        {"nine dims", T1("[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, GM_ERR_UNSUPPORTED,
         "more than 8 dimensions"},
        {"negative dim", T1("[-1]", "[0,4]"), 4, GM_ERR_FORMAT, "non-negative"},
        {"fractional dim", T1("[1.0]", "[0,4]"), 4, GM_ERR_FORMAT, "must be an integer"},
        {"exponent offset", T1("[1]", "[0,4e0]"), 4, GM_ERR_FORMAT, "must be an integer"},
        {"leading zero", T1("[01]", "[0,4]"), 4, GM_ERR_FORMAT, "leading zero"},
        {"huge dim", T1("[99999999999999999999]", "[0,4]"), 4, GM_ERR_FORMAT, "too large"},
        {"shape not an array", T1("1", "[0,4]"), 4, GM_ERR_FORMAT,
         "tensor 't': shape is not an array"},
        {"offsets not an array", T1("[1]", "{}"), 4, GM_ERR_FORMAT,
         "tensor 't': data_offsets is not an array"},
        {"shape of strings", T1("[\"1\"]", "[0,4]"), 4, GM_ERR_FORMAT, "expected an integer"},
        {"one offset", T1("[1]", "[4]"), 4, GM_ERR_FORMAT, "two integers, not one"},
        {"three offsets", T1("[1]", "[0,4,4]"), 4, GM_ERR_FORMAT, "two integers, not more"},
        {"no offsets", T1("[1]", "[]"), 4, GM_ERR_FORMAT, "two integers, not none"},
        {"shape overflow", T1("[4294967296,4294967296]", "[0,4]"), 4, GM_ERR_FORMAT,
         "overflows"},
        {"wrong byte count", "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                             "\"data_offsets\":[0,12]}}",
         12, GM_ERR_FORMAT,
         "tensor 'fc.weight': data_offsets [0, 12) do not match F32 (3, 2) = 24 bytes"},
        {"reversed offsets", T1("[0]", "[4,0]"), 4, GM_ERR_FORMAT, "end before they begin"},
        {"out of bounds", T1("[1]", "[4,8]"), 4, GM_ERR_FORMAT, "run past the end"},
        {"far out of bounds", T1("[1]", "[9007199254740988,9007199254740992]"), 4,
         GM_ERR_FORMAT, "too large (2^53 or more)"},
        {"far out of bounds below 2^53", T1("[1]", "[9007199254740986,9007199254740990]"), 4,
         GM_ERR_FORMAT, "run past the end"},
        {"2^53 dim", T1("[9007199254740992,0]", "[0,0]"), 0, GM_ERR_FORMAT, "too large"},
        {"control character between tokens", "{\x01}", 0, GM_ERR_FORMAT,
         "control character 0x01 outside a string"},
        {"negative zero", T1("[-0]", "[0,4]"), 4, GM_ERR_FORMAT, "non-negative"},
        {"overlap", T2("[0,8]", "[4,12]"), 12, GM_ERR_FORMAT, "tensor 'b': data_offsets [4, 12) "
                                                              "overlap tensor 'a'"},
        {"same range", T2("[0,8]", "[0,8]"), 8, GM_ERR_FORMAT, "overlap"},
        {"gap", T2("[0,8]", "[12,20]"), 20, GM_ERR_FORMAT, "gap of 4 unused bytes"},
        {"gap at start", T1("[1]", "[4,8]"), 8, GM_ERR_FORMAT, "gap of 4"},
        {"trailing bytes", T1("[1]", "[0,4]"), 12, GM_ERR_FORMAT,
         "8 bytes after the data of the last tensor"},
        {"data without tensors", "{}", 4, GM_ERR_FORMAT, "4 bytes after"},
        {"two valid tensors", T2("[0,8]", "[8,16]"), 16, GM_OK, NULL},
        {"duplicate tensor",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, GM_ERR_FORMAT, "tensor 'a': name appears twice"},
        {"empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         GM_ERR_FORMAT, "empty tensor name"},
        {"U+0000 in a name", "{\"a\\u0000b\":{}}", 0, GM_ERR_FORMAT, "U+0000"},
        {"lone high surrogate", "{\"a\\ud800\":{}}", 0, GM_ERR_FORMAT,
         "at byte 11: the header is not valid JSON"},
        {"lone low surrogate", "{\"a\\udc00x\":{}}", 0, GM_ERR_FORMAT, "not valid JSON"},
        {"bad escape", "{\"a\\q\":{}}", 0, GM_ERR_FORMAT,
         "at byte 11: the header is not valid JSON"},
        {"bad hex escape", "{\"a\\u12g4\":{}}", 0, GM_ERR_FORMAT, "invalid \\u escape"},
        {"raw control character", "{\"a\tb\":{}}", 0, GM_ERR_FORMAT, "control character"},
        {"invalid UTF-8", "{\"a\xff\":{}}", 0, GM_ERR_FORMAT, "not UTF-8"},
        {"overlong UTF-8", "{\"\xc0\xaf\":{}}", 0, GM_ERR_FORMAT, "not UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert(cases[i].ndata <= sizeof zeros);
        const char *path = io_file(cases[i].json, zeros, cases[i].ndata);
        if (cases[i].want == GM_OK) {
            gm_safetensors_free(io_read_ok(path));
            continue;
        }
        io_expect_fail(path, cases[i].want, cases[i].what, cases[i].needle);
    }
}

Test(io, broken_sizes_and_truncation_are_format_errors) {
    const char *json = T1("[2]", "[0,8]");
    float v[2] = {1, 2};
    /* The header size claims more than the file holds. */
    io_expect_fail(io_file_sized(strlen(json) + 9, json, v, 8), GM_ERR_FORMAT, "size > file",
                   "runs past the end of the file");
    /* An absurd header size, with and without the bytes behind it. */
    io_expect_fail(io_file_sized(UINT64_C(200000000), json, v, 8), GM_ERR_FORMAT, "absurd",
                   "exceeds the limit of 100000000");
    io_expect_fail(io_file_sized(UINT64_MAX, json, v, 8), GM_ERR_FORMAT, "u64 max",
                   "exceeds the limit");
    /* Fewer than 8 bytes, and nothing at all. */
    io_expect_fail(io_write_bytes("\x02\0\0", 3), GM_ERR_FORMAT, "3 bytes", "fewer than");
    io_expect_fail(io_write_bytes("", 0), GM_ERR_FORMAT, "empty file", "fewer than");
    /* A header size that stops short of the end of the JSON. */
    io_expect_fail(io_file_sized(10, json, v, 8), GM_ERR_FORMAT, "short size", NULL);
    /* A NUL byte inside the header. */
    char nul_json[] = "{\"t\":{}}  ";
    nul_json[8] = '\0';
    unsigned char buf[8 + 10] = {10};
    memcpy(buf + 8, nul_json, 10);
    io_expect_fail(io_write_bytes(buf, sizeof buf), GM_ERR_FORMAT, "NUL", "NUL byte");

    /* A file cut anywhere: inside the size, the header or the data. */
    io_samples();
    const char *full = io_path("full.safetensors");
    cr_assert_eq(gm_safetensors_write(full, NSAMPLE, s_entries, 3, s_keys, s_values), GM_OK,
                 "%s", gm_error_detail());
    size_t n;
    unsigned char *bytes = io_slurp(full, &n);
    for (size_t cut = 0; cut < n; cut += cut < 16 ? 1 : 7) {
        char what[64];
        snprintf(what, sizeof what, "cut at %zu of %zu", cut, n);
        io_expect_fail(io_write_bytes(bytes, cut), GM_ERR_FORMAT, what, NULL);
    }
    io_expect_fail(io_write_bytes(bytes, n - 1), GM_ERR_FORMAT, "last byte cut",
                   "truncated file?");
    gm_free(bytes);
}

Test(io, missing_files_and_directories_are_io_errors) {
    const char *path = io_path("does-not-exist.safetensors");
    io_expect_fail(path, GM_ERR_IO, "nonexistent", "cannot open");
    io_expect_fail(io_scratch, GM_ERR_IO, "directory", "directory");
    gm_safetensors *st = NULL;
    cr_assert_eq(gm_safetensors_read(NULL, &st), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_read(path, NULL), GM_ERR_INVALID_ARG);
}

Test(io, out_of_memory_is_reported_and_leaks_nothing) {
    io_samples();
    const char *path = io_path("oom.safetensors");
    int64_t k = 0;
    for (;; k++) {
        gm_alloc_fail_after(k);
        gm_status s = gm_safetensors_write(path, NSAMPLE, s_entries, 3, s_keys, s_values);
        gm_alloc_fail_after(-1);
        if (s == GM_OK) break;
        cr_assert_eq(s, GM_ERR_NOMEM, "write, %lld allocations: %s", (long long)k,
                     gm_error_detail());
        cr_assert_eq(io_count_entries(NULL), 0, "write, %lld allocations: files left",
                     (long long)k);
    }
    cr_assert(k > 0);
    for (k = 0;; k++) {
        gm_safetensors *st = NULL;
        gm_alloc_fail_after(k);
        gm_status s = gm_safetensors_read(path, &st);
        gm_alloc_fail_after(-1);
        if (s == GM_OK) {
            cr_assert_eq(gm_safetensors_count(st), NSAMPLE);
            gm_safetensors_free(st);
            break;
        }
        cr_assert_eq(s, GM_ERR_NOMEM, "read, %lld allocations: %s", (long long)k,
                     gm_error_detail());
        cr_assert_null(st);
    }
    cr_assert(k > 3);
}

/* ---- models -------------------------------------------------------------- */

static gm_model *io_model(uint64_t seed, int64_t channels) {
    gm_model_desc d = {.kind = GM_MODEL_GMCNN,
                       .group = "C4xC4",
                       .radius = 1,
                       .in_channels = 1,
                       .out_dim = 3,
                       .nblocks = 2};
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = channels};
    d.blocks[1] = (gm_block_desc){.num_layers = 1, .out_channels = channels + 1};
    gm_model *m = NULL;
    gm_status s = gm_model_new(&d, seed, &m);
    cr_assert_eq(s, GM_OK, "gm_model_new: %s", gm_error_detail());
    return m;
}

static bool io_params_equal(gm_model *a, gm_model *b) {
    cr_assert_eq(gm_model_param_count(a), gm_model_param_count(b));
    for (int64_t i = 0; i < gm_model_param_count(a); i++) {
        const gm_tensor *x = gm_model_param(a, i), *y = gm_model_param(b, i);
        cr_assert_eq(x->numel, y->numel);
        if (memcmp(x->data, y->data, (size_t)x->numel * sizeof(gm_real)) != 0) return false;
    }
    return true;
}

/* Forward pass in evaluation mode on a fixed input; *out is gm_free'd by the caller. */
static gm_real *io_forward(gm_model *m, int64_t *n) {
    gm_ctx *ctx = NULL;
    cr_assert_eq(gm_ctx_new(0, 1, &ctx), GM_OK);
    gm_ctx_set_training(ctx, false);
    gm_ctx_set_grad(ctx, false);
    gm_tensor *x = NULL, *y = NULL;
    cr_assert_eq(gm_tensor_new3(gm_ctx_arena(ctx), 2, 1, 16, &x), GM_OK);
    gm_rng rng;
    gm_rng_seed(&rng, 7, 0);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (gm_real)(2 * gm_rng_uniform(&rng) - 1);
    cr_assert_eq(gm_model_forward(m, ctx, x, &y), GM_OK, "%s", gm_error_detail());
    gm_real *out = gm_malloc_array((size_t)y->numel, sizeof *out);
    memcpy(out, y->data, (size_t)y->numel * sizeof *out);
    *n = y->numel;
    gm_ctx_free(ctx);
    return out;
}

Test(io, model_save_then_load_into_another_seed_is_identical) {
    gm_model *a = io_model(1, 4), *b = io_model(2, 4);
    cr_assert_not(io_params_equal(a, b), "different seeds gave the same parameters");
    const char *path = io_path("model.safetensors");
    const char *k[] = {"group"}, *v[] = {"C4xC4"};
    cr_assert_eq(gm_safetensors_save_model(path, a, 1, k, v), GM_OK, "%s", gm_error_detail());

    gm_safetensors *st = io_read_ok(path);
    cr_assert_eq(gm_safetensors_count(st), gm_model_param_count(a));
    cr_assert_str_eq(gm_safetensors_meta_get(st, "group"), "C4xC4");
    gm_safetensors_free(st);

    cr_assert_eq(gm_safetensors_load_model(path, b), GM_OK, "%s", gm_error_detail());
    cr_assert(io_params_equal(a, b), "parameters differ after loading");
    int64_t na, nb;
    gm_real *ya = io_forward(a, &na), *yb = io_forward(b, &nb);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(ya, yb, (size_t)na * sizeof *ya), 0, "forward outputs differ");
    gm_free(ya);
    gm_free(yb);
    gm_model_free(a);
    gm_model_free(b);
}

Test(io, model_load_checks_names_shapes_and_extras) {
    gm_model *a = io_model(1, 4), *b = io_model(2, 4), *wide = io_model(3, 5);
    int64_t np = gm_model_param_count(a);
    gm_st_entry *e = gm_malloc_array((size_t)np + 2, sizeof *e);
    for (int64_t i = 0; i < np; i++)
        e[i] = gm_st_entry_tensor(gm_model_param_name(a, i), gm_model_param(a, i));

    /* Optimizer state under "optim." is skipped; F64 values convert. */
    double moment[3] = {1, 2, 3};
    e[np] = (gm_st_entry){.name = GM_ST_OPTIM_PREFIX "adam.m.0",
                          .dtype = GM_DTYPE_F64, .ndim = 1, .shape = {3}, .data = moment};
    const char *path = io_path("ckpt.safetensors");
    cr_assert_eq(gm_safetensors_write(path, np + 1, e, 0, NULL, NULL), GM_OK, "%s",
                 gm_error_detail());
    cr_assert_eq(gm_safetensors_load_model(path, b), GM_OK, "%s", gm_error_detail());
    cr_assert(io_params_equal(a, b));

    gm_model *c = io_model(4, 4);
    gm_model *c_ref = io_model(4, 4);
    /* An extra tensor outside the prefix. */
    e[np] = (gm_st_entry){.name = "stray", .dtype = GM_DTYPE_F64, .ndim = 1, .shape = {3},
                          .data = moment};
    const char *p2 = io_path("extra.safetensors");
    cr_assert_eq(gm_safetensors_write(p2, np + 1, e, 0, NULL, NULL), GM_OK);
    cr_assert_eq(gm_safetensors_load_model(p2, c), GM_ERR_FORMAT);
    cr_assert(strstr(gm_error_detail(), "'stray': not a parameter"), "%s", gm_error_detail());
    cr_assert(strstr(gm_error_detail(), p2), "%s", gm_error_detail());
    /* A missing parameter (the last one dropped). */
    const char *p3 = io_path("missing.safetensors");
    cr_assert_eq(gm_safetensors_write(p3, np - 1, e, 0, NULL, NULL), GM_OK);
    cr_assert_eq(gm_safetensors_load_model(p3, c), GM_ERR_NOT_FOUND);
    cr_assert(strstr(gm_error_detail(), gm_model_param_name(a, np - 1)), "%s",
              gm_error_detail());
    /* Another shape: a model with other channel counts. */
    const char *p4 = io_path("wide.safetensors");
    cr_assert_eq(gm_safetensors_save_model(p4, wide, 0, NULL, NULL), GM_OK);
    cr_assert_eq(gm_safetensors_load_model(p4, c), GM_ERR_SHAPE);
    cr_assert(strstr(gm_error_detail(), "the parameter has"), "%s", gm_error_detail());
    /* A parameter stored as integers. */
    int32_t ints[4096] = {0};
    gm_st_entry saved = e[0];
    e[0].dtype = GM_DTYPE_I32;
    cr_assert(gm_st_entry_numel(&e[0]) <= 4096);
    e[0].data = ints;
    const char *p5 = io_path("ints.safetensors");
    cr_assert_eq(gm_safetensors_write(p5, np, e, 0, NULL, NULL), GM_OK);
    cr_assert_eq(gm_safetensors_load_model(p5, c), GM_ERR_FORMAT);
    cr_assert(strstr(gm_error_detail(), "I32"), "%s", gm_error_detail());
    e[0] = saved;
    /* Nothing was copied by any failed load. */
    cr_assert(io_params_equal(c, c_ref), "a failed load changed the model");
    cr_assert_eq(gm_safetensors_load_model(io_path("none"), c), GM_ERR_IO);
    cr_assert_eq(gm_safetensors_load_model(path, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_safetensors_save_model(path, NULL, 0, NULL, NULL), GM_ERR_INVALID_ARG);

    gm_free(e);
    gm_model_free(a);
    gm_model_free(b);
    gm_model_free(c);
    gm_model_free(c_ref);
    gm_model_free(wide);
}

/* ---- interop with Python ------------------------------------------------- */

static bool io_have_numpy(void) {
    if (access("/usr/bin/python3", X_OK) != 0) return false;
    int rc = -1;
    char *out = ts_run("/usr/bin/python3 -c 'import numpy'", &rc);
    gm_free(out);
    return rc == 0;
}

static bool io_have_safetensors(void) {
    int rc = -1;
    char *out = ts_run("/usr/bin/python3 -c 'import safetensors.numpy'", &rc);
    gm_free(out);
    return rc == 0;
}

static void io_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}

/* The sidecar for "safetensors_check.py read": what the file must hold. */
static const char *io_write_expect(int64_t n, const gm_st_entry *e, int64_t nmeta,
                                   const char *const *k, const char *const *v) {
    const char *path = io_path("expect.json");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"metadata\": ", f);
    if (nmeta == 0) {
        fputs("null", f);
    } else {
        fputc('{', f);
        for (int64_t i = 0; i < nmeta; i++) {
            if (i) fputs(", ", f);
            io_json_str(f, k[i]);
            fputs(": ", f);
            io_json_str(f, v[i]);
        }
        fputc('}', f);
    }
    fputs(", \"tensors\": [", f);
    for (int64_t i = 0; i < n; i++) {
        fputs(i ? ", {\"name\": " : "{\"name\": ", f);
        io_json_str(f, e[i].name);
        static const char *names[] = {"F32", "F64", "U8", "I32", "I64"};
        fprintf(f, ", \"dtype\": \"%s\", \"shape\": [", names[e[i].dtype]);
        for (int d = 0; d < e[i].ndim; d++)
            fprintf(f, d ? ", %lld" : "%lld", (long long)e[i].shape[d]);
        fputs("], \"values\": [", f);
        int64_t numel = gm_st_entry_numel(&e[i]);
        for (int64_t j = 0; j < numel; j++) {
            if (j) fputs(", ", f);
            switch (e[i].dtype) {
            case GM_DTYPE_F32: fprintf(f, "%.9g", (double)((const float *)e[i].data)[j]); break;
            case GM_DTYPE_F64: fprintf(f, "%.17g", ((const double *)e[i].data)[j]); break;
            case GM_DTYPE_U8: fprintf(f, "%u", ((const uint8_t *)e[i].data)[j]); break;
            case GM_DTYPE_I32: fprintf(f, "%d", ((const int32_t *)e[i].data)[j]); break;
            case GM_DTYPE_I64:
                fprintf(f, "%lld", (long long)((const int64_t *)e[i].data)[j]);
                break;
            }
        }
        fputs("]}", f);
    }
    fputs("]}\n", f);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static void io_run_check(const char *mode, const char *file, const char *expect) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %s '%s' %s%s%s", CHECK_SCRIPT, mode, file,
             expect ? "'" : "", expect ? expect : "", expect ? "'" : "");
    int rc = -1;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, 0, "%s failed (%d):\n%s", cmd, rc, out);
    gm_free(out);
}

Test(io, python_reads_our_files) {
    if (!io_have_numpy()) cr_skip_test("/usr/bin/python3 with numpy is not available");
    io_samples();
    const char *path = io_path("ours.safetensors");
    cr_assert_eq(gm_safetensors_write(path, NSAMPLE, s_entries, 3, s_keys, s_values), GM_OK,
                 "%s", gm_error_detail());
    io_run_check("read", path, io_write_expect(NSAMPLE, s_entries, 3, s_keys, s_values));

    /* A model checkpoint, no metadata. */
    gm_model *m = io_model(5, 3);
    const char *mpath = io_path("model.safetensors");
    cr_assert_eq(gm_safetensors_save_model(mpath, m, 0, NULL, NULL), GM_OK);
    int64_t np = gm_model_param_count(m);
    gm_st_entry *e = gm_malloc_array((size_t)np, sizeof *e);
    for (int64_t i = 0; i < np; i++)
        e[i] = gm_st_entry_tensor(gm_model_param_name(m, i), gm_model_param(m, i));
    io_run_check("read", mpath, io_write_expect(np, e, 0, NULL, NULL));
    gm_free(e);
    gm_model_free(m);
}

/* Checks a file holding safetensors_check.py's expected_tensors(). */
static void io_check_python_file(const char *path) {
    gm_safetensors *st = io_read_ok(path);
    cr_assert_eq(gm_safetensors_count(st), 7);
    cr_assert_str_eq(gm_safetensors_meta_get(st, "format"), "np");
    cr_assert_str_eq(gm_safetensors_meta_get(st, "note"),
                     "\xc3\xbcn\xc3\xaf" "code \"quoted\"\n\\ done");

    float w4d[24];
    for (int i = 0; i < 24; i++) w4d[i] = ((float)i - 7.5f) * 0.25f;
    double f64 = -0.0025;
    float one = 1.5f;
    gm_st_entry want[] = {
        {.name = "bytes", .dtype = GM_DTYPE_U8, .ndim = 1, .shape = {3}, .data = s_u8},
        {.name = "w4d", .dtype = GM_DTYPE_F32, .ndim = 4, .shape = {2, 3, 2, 2}, .data = w4d},
        {.name = "scalar", .dtype = GM_DTYPE_F64, .ndim = 0, .data = &f64},
        {.name = "ints", .dtype = GM_DTYPE_I32, .ndim = 1, .shape = {5}, .data = s_i32},
        {.name = "big", .dtype = GM_DTYPE_I64, .ndim = 2, .shape = {2, 2}, .data = s_i64},
        {.name = "empty", .dtype = GM_DTYPE_F32, .ndim = 2, .shape = {0, 3}},
        {.name = "name \"q\" \xc3\xa9/\xe2\x98\x83", .dtype = GM_DTYPE_F32, .ndim = 1,
         .shape = {1}, .data = &one},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t k = gm_safetensors_find(st, want[i].name);
        cr_assert(k >= 0, "'%s' missing", want[i].name);
        io_expect_same_entry(gm_safetensors_entry(st, k), &want[i]);
    }
    gm_safetensors_free(st);
}

Test(io, we_read_python_files) {
    if (!io_have_numpy()) cr_skip_test("/usr/bin/python3 with numpy is not available");
    const char *path = io_path("python.safetensors");
    io_run_check("write", path, NULL);
    io_check_python_file(path);
}

Test(io, the_safetensors_package_agrees) {
    if (!io_have_numpy() || !io_have_safetensors())
        cr_skip_test("the safetensors Python package is not installed");
    io_samples();
    const char *path = io_path("ours.safetensors");
    cr_assert_eq(gm_safetensors_write(path, NSAMPLE, s_entries, 3, s_keys, s_values), GM_OK,
                 "%s", gm_error_detail());
    io_run_check("read-lib", path, io_write_expect(NSAMPLE, s_entries, 3, s_keys, s_values));
    const char *theirs = io_path("theirs.safetensors");
    io_run_check("write-lib", theirs, NULL);
    io_check_python_file(theirs);
}
