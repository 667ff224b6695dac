#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

gm_group *ts_group(const char *spec) {
    gm_group *g = NULL;
    gm_status st = gm_group_from_spec(spec, &g);
    cr_assert_eq(st, GM_OK, "group spec '%s': %s", spec, gm_error_detail());
    return g;
}

gm_subgroup *ts_subgroup(const gm_group *g, int64_t ngens, const int32_t *gens) {
    gm_subgroup *h = NULL;
    cr_assert_eq(gm_subgroup_generated_new(g, ngens, gens, &h), GM_OK, "%s", gm_error_detail());
    return h;
}

gm_nbhd *ts_support(const gm_group *g, int64_t t) {
    gm_nbhd *s = NULL;
    gm_status st = gm_nbhd_reference_new(g, t, &s);
    if (st == GM_ERR_UNSUPPORTED)
        st = gm_nbhd_ball_new(g, gm_group_ngens(g), gm_group_gens(g), t, &s);
    cr_assert_eq(st, GM_OK, "support of %s: %s", gm_group_name(g), gm_error_detail());
    return s;
}

void ts_fill_uniform(gm_rng *rng, int64_t n, double *x) {
    for (int64_t i = 0; i < n; i++) x[i] = 2.0 * gm_rng_uniform(rng) - 1.0;
}

double ts_max_abs_diff(int64_t n, const double *a, const double *b) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        if (d > m || d != d) m = d;
    }
    return m;
}

char *ts_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = gm_malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = gm_realloc(buf, cap);
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

const char *ts_write_temp(const char *text) {
    static char paths[8][64];
    static int slot;
    char *path = paths[slot++ % 8];
    snprintf(path, 64, "/tmp/gmcnn-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp failed");
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

char *ts_run(const char *cmd, int *rc) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert(p != NULL, "popen failed: %s", cmd);
    size_t cap = 4096, len = 0;
    char *buf = gm_malloc(cap);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = gm_realloc(buf, cap);
        }
    }
    buf[len] = '\0';
    int status = pclose(p);
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return buf;
}

char *ts_cli(const char *args, int expect_rc) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", GM_CLI_PATH, args);
    int rc;
    char *out = ts_run(cmd, &rc);
    cr_assert_eq(rc, expect_rc, "gmcnn %s: exit %d, expected %d; output:\n%s", args, rc, expect_rc,
                 out);
    return out;
}

void ts_expect_contains(const char *out, const char *needle) {
    cr_assert(strstr(out, needle) != NULL, "expected '%s' in:\n%s", needle, out);
}

void ts_expect_one_line_error(const char *out, const char *needle) {
    ts_expect_contains(out, needle);
    cr_assert(strncmp(out, "gmcnn: ", 7) == 0, "error starts with 'gmcnn: ': %s", out);
    const char *nl = strchr(out, '\n');
    cr_assert(nl && nl[1] == '\0', "error is one line: %s", out);
}

const char *ts_temp_dir(void) {
    static char dirs[8][64];
    static int slot;
    char *d = dirs[slot++ % 8];
    snprintf(d, 64, "/tmp/gmcnn-test-XXXXXX");
    cr_assert(mkdtemp(d) != NULL, "mkdtemp failed");
    return d;
}

void ts_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            ts_rmtree(path);
        } else {
            remove(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

gm_real *ts_real_buf(int64_t n) {
    gm_real *p = gm_calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    cr_assert_not_null(p);
    return p;
}

void ts_fill_real(gm_rng *rng, int64_t n, gm_real *x) {
    for (int64_t i = 0; i < n; i++) x[i] = (gm_real)(2.0 * gm_rng_uniform(rng) - 1.0);
}

/* max |a - b| / max |b|, b from bf (gm_real) or bd (double) */
static double rel_diff(int64_t n, const gm_real *a, const gm_real *bf, const double *bd) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double b = bf ? (double)bf[i] : bd[i], d = fabs((double)a[i] - b);
        if (!(d <= num)) num = d;
        if (fabs(b) > den) den = fabs(b);
    }
    return den > 0 ? num / den : num;
}

double ts_rel_diff_ref(int64_t n, const gm_real *a, const double *ref) {
    return rel_diff(n, a, NULL, ref);
}

double ts_rel_diff(int64_t n, const gm_real *a, const gm_real *b) {
    return rel_diff(n, a, b, NULL);
}

gm_dataset ts_bars(int64_t n, int64_t side, uint64_t seed, double noise) {
    gm_array img = {.dtype = GM_DTYPE_F32, .ndim = 3, .shape = {n, side, side}};
    gm_array lab = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {n}};
    img.data = gm_malloc((size_t)(n * side * side) * sizeof(float));
    lab.data = gm_malloc((size_t)n);
    cr_assert(img.data && lab.data);
    gm_rng rng;
    gm_rng_seed(&rng, seed, 7);
    for (int64_t i = 0; i < n; i++) {
        const int label = (int)(i % 2);
        const int64_t at = gm_rng_below(&rng, (uint32_t)side);
        float *x = (float *)img.data + i * side * side;
        for (int64_t r = 0; r < side; r++)
            for (int64_t c = 0; c < side; c++)
                x[r * side + c] = (float)(((label == 0 ? r : c) == at ? 1.0 : 0.0) +
                                          noise * gm_rng_normal(&rng));
        ((uint8_t *)lab.data)[i] = (uint8_t)label;
    }
    gm_dataset d;
    OK(gm_dataset_from_arrays(&img, &lab, 0, 0, 2, &d));
    gm_array_free(&img);
    gm_array_free(&lab);
    return d;
}
