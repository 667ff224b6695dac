/* gm_matrix_read: a 2-D matrix of doubles from a .npy file or from text. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_internal.h"
#include "gmcnn/data.h"

static const unsigned char mt_npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static gm_status mt_from_npy(const char *path, int64_t *rows, int64_t *cols, double **out,
                             gm_dtype *dtype) {
    gm_array a;
    GM_FORWARD_IF_ERROR(gm_npy_read(path, &a));
    *dtype = a.dtype;
    if (a.ndim != 2) {
        int ndim = a.ndim;
        gm_array_free(&a);
        return gm_error_set(GM_ERR_FORMAT,
                            "matrix file '%s': npy array has %d dimensions, expected 2", path,
                            ndim);
    }
    double *d = NULL;
    gm_status st = gm_array_to_f64(&a, &d);
    int64_t r = a.shape[0], c = a.shape[1];
    gm_array_free(&a);
    GM_FORWARD_IF_ERROR(st);
    for (int64_t i = 0; i < r * c; i++) {
        if (!isfinite(d[i])) {
            gm_free(d);
            return gm_error_set(GM_ERR_FORMAT,
                                "matrix file '%s': non-finite value at row %lld, column %lld",
                                path, (long long)(i / c + 1), (long long)(i % c + 1));
        }
    }
    *rows = r;
    *cols = c;
    *out = d;
    return GM_OK;
}

/* Reads the rest of f after the `have` bytes already in *buf (capacity *cap),
 * growing the buffer and NUL-terminating it. */
static gm_status mt_slurp(FILE *f, const char *path, char **buf, size_t *cap, size_t *len) {
    for (;;) {
        if (*cap - *len < 2) {
            size_t ncap = *cap * 2;
            char *nb = gm_realloc(*buf, ncap);
            if (!nb) return gm__nomem("matrix file contents");
            *buf = nb;
            *cap = ncap;
        }
        size_t got = fread(*buf + *len, 1, *cap - *len - 1, f);
        *len += got;
        if (got == 0) break;
    }
    GM_RETURN_ERROR_IF(ferror(f), GM_ERR_IO, "matrix file '%s': read error: %s", path,
                       strerror(errno));
    (*buf)[*len] = '\0';
    return GM_OK;
}

/* The token as printable ASCII, shortened, for an error message. */
static void mt_quote_token(const char *tok, size_t n, char *buf, size_t cap) {
    size_t shown = n < 32 ? n : 32;
    GM_ASSERT(cap > shown + 3);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)tok[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (shown < n) {
        memcpy(buf + shown, "...", 4);
    } else {
        buf[shown] = '\0';
    }
}

static int mt_is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

typedef struct mt_values {
    double *v;
    size_t n, cap;
} mt_values;

static gm_status mt_push(mt_values *vals, double x) {
    if (vals->n == vals->cap) {
        size_t ncap = vals->cap ? vals->cap * 2 : 64;
        double *nv = gm_realloc(vals->v, ncap * sizeof *nv);
        if (!nv) return gm__nomem("matrix values");
        vals->v = nv;
        vals->cap = ncap;
    }
    vals->v[vals->n++] = x;
    return GM_OK;
}

/* Parses text[0..len) (text[len] == '\0', which bounds strtod). */
static gm_status mt_parse_text(const char *path, const char *text, size_t len, mt_values *vals,
                               int64_t *rows_out, int64_t *cols_out) {
    int64_t rows = 0, cols = -1, line = 0;
    size_t i = 0;
    while (i < len) {
        line++;
        const char *end_nl = memchr(text + i, '\n', len - i);
        size_t end = end_nl ? (size_t)(end_nl - text) : len;
        int64_t count = 0;
        int after_comma = 0;
        size_t p = i;
        for (;;) {
            while (p < end && mt_is_blank(text[p])) p++;
            if (p == end || text[p] == '#') {
                GM_RETURN_ERROR_IF(after_comma, GM_ERR_FORMAT,
                                   "matrix file '%s' line %lld column %zu: missing value "
                                   "after ','",
                                   path, (long long)line, p - i + 1);
                break;
            }
            if (text[p] == ',') {
                GM_RETURN_ERROR_IF(count == 0 || after_comma, GM_ERR_FORMAT,
                                   "matrix file '%s' line %lld column %zu: empty value before "
                                   "','",
                                   path, (long long)line, p - i + 1);
                after_comma = 1;
                p++;
                continue;
            }
            size_t start = p;
            while (p < end && !mt_is_blank(text[p]) && text[p] != ',' && text[p] != '#') p++;
            char *stop = NULL;
            errno = 0;
            double x = strtod(text + start, &stop);
            if (stop != text + p) {
                char shown[40];
                mt_quote_token(text + start, p - start, shown, sizeof shown);
                return gm_error_set(GM_ERR_FORMAT,
                                    "matrix file '%s' line %lld column %zu: '%s' is not a "
                                    "number",
                                    path, (long long)line, start - i + 1, shown);
            }
            if (!isfinite(x)) {
                char shown[40];
                mt_quote_token(text + start, p - start, shown, sizeof shown);
                return gm_error_set(GM_ERR_FORMAT,
                                    "matrix file '%s' line %lld column %zu: non-finite value "
                                    "'%s'",
                                    path, (long long)line, start - i + 1, shown);
            }
            GM_FORWARD_IF_ERROR(mt_push(vals, x));
            count++;
            after_comma = 0;
        }
        if (count > 0) {
            if (cols < 0) cols = count;
            GM_RETURN_ERROR_IF(count != cols, GM_ERR_FORMAT,
                               "matrix file '%s' line %lld: %lld values, expected %lld", path,
                               (long long)line, (long long)count, (long long)cols);
            rows++;
        }
        i = end + 1;
    }
    GM_RETURN_ERROR_IF(rows == 0, GM_ERR_FORMAT,
                       "matrix file '%s': no rows (empty, or only blank and comment lines)",
                       path);
    *rows_out = rows;
    *cols_out = cols;
    return GM_OK;
}

gm_status gm_matrix_read(const char *path, int64_t *rows, int64_t *cols, double **out) {
    return gm_matrix_read_dtype(path, rows, cols, out, NULL);
}

gm_status gm_matrix_read_dtype(const char *path, int64_t *rows, int64_t *cols, double **out,
                               gm_dtype *dtype) {
    GM_RETURN_ERROR_IF(!path || !rows || !cols || !out, GM_ERR_INVALID_ARG,
                       "gm_matrix_read: NULL argument");
    *rows = 0;
    *cols = 0;
    *out = NULL;
    gm_dtype stored = GM_DTYPE_F64; /* text */
    FILE *f = fopen(path, "rb");
    GM_RETURN_ERROR_IF(!f, GM_ERR_IO, "matrix file '%s': cannot open: %s", path,
                       strerror(errno));
    struct stat sb;
    size_t cap = 4096;
    if (fstat(fileno(f), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            fclose(f);
            return gm_error_set(GM_ERR_IO, "matrix file '%s': is a directory", path);
        }
        if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size < (uint64_t)SIZE_MAX - 2 &&
            (size_t)sb.st_size + 2 > cap) {
            cap = (size_t)sb.st_size + 2;
        }
    }
    char *buf = gm_malloc(cap);
    if (!buf) {
        fclose(f);
        return gm__nomem("matrix file contents");
    }
    /* Look at the magic first so an .npy file is not read twice. */
    size_t len = fread(buf, 1, sizeof mt_npy_magic, f);
    gm_status st = GM_OK;
    if (len == sizeof mt_npy_magic && memcmp(buf, mt_npy_magic, sizeof mt_npy_magic) == 0) {
        fclose(f);
        gm_free(buf);
        st = mt_from_npy(path, rows, cols, out, &stored);
        if (st == GM_OK && dtype) *dtype = stored;
        return st;
    }
    st = mt_slurp(f, path, &buf, &cap, &len);
    fclose(f);
    mt_values vals = {0};
    if (st == GM_OK) st = mt_parse_text(path, buf, len, &vals, rows, cols);
    gm_free(buf);
    if (st != GM_OK) {
        gm_free(vals.v);
        *rows = 0;
        *cols = 0;
        return st;
    }
    *out = vals.v;
    if (dtype) *dtype = stored;
    return GM_OK;
}
