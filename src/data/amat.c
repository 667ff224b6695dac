/* Larochelle et al. .amat files: whitespace-separated text, one example per
 * line, features then the label. The files run to hundreds of megabytes, so
 * they are read a block at a time and never held whole. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define AMAT_BLOCK ((size_t)1 << 16)

typedef struct amat_lines {
    gm__src *src;
    char *buf;
    size_t cap, start, end;
    int eof;
    int64_t line;
} amat_lines;

/* The next line, NUL-terminated in place, in *line / *len; *line == NULL at the end. */
static gm_status amat_next_line(amat_lines *r, char **line, size_t *len) {
    *line = NULL;
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned);
        if (nl || (r->eof && r->end > r->start)) {
            size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
            *line = r->buf + r->start;
            (*line)[n] = '\0';
            *len = n;
            r->start += nl ? n + 1 : n;
            r->line++;
            return GM_OK;
        }
        if (r->eof) return GM_OK;
        scanned = r->end - r->start;
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, scanned);
            r->end = scanned;
            r->start = 0;
        }
        /* One byte always stays free for the terminator of a last line
         * without a newline. */
        if (r->cap - r->end < 2) {
            GM_RETURN_ERROR_IF(r->cap > SIZE_MAX / 2, GM_ERR_TOO_LARGE,
                               "amat file '%s' line %lld: line too long", r->src->path,
                               (long long)(r->line + 1));
            char *nb = gm_realloc(r->buf, r->cap * 2);
            if (!nb) return gm__nomem("amat line");
            r->buf = nb;
            r->cap *= 2;
        }
        size_t got = 0;
        GM_FORWARD_IF_ERROR(gm__src_read_some(r->src, r->buf + r->end, r->cap - r->end - 1, &got));
        if (got == 0) r->eof = 1;
        r->end += got;
    }
}

static int amat_is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The token as printable ASCII, shortened, for an error message. */
static void amat_quote(const char *tok, size_t n, char *buf, size_t cap) {
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

typedef struct amat_out {
    float *x;
    size_t nx, capx;
    int32_t *y;
    size_t ny, capy;
} amat_out;

static gm_status amat_grow(const char *path, void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return GM_OK;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem) {
            return gm_error_set(GM_ERR_TOO_LARGE, "amat file '%s': too many values", path);
        }
        ncap *= 2;
    }
    void *np = gm_realloc(*p, ncap * elem);
    if (!np) return gm__nomem("amat values");
    *p = np;
    *cap = ncap;
    return GM_OK;
}

/* Parses one non-blank line; *count receives its number of values. Features
 * are appended to o->x, the label to o->y. */
static gm_status amat_parse_line(const char *path, int64_t lineno, char *line, size_t len,
                                 int64_t expect, amat_out *o, int64_t *count) {
    int64_t n = 0;
    size_t p = 0;
    double last = 0.0;
    size_t last_at = 0;
    size_t x_before = o->nx;
    for (;;) {
        while (p < len && amat_is_blank(line[p])) p++;
        if (p == len) break;
        size_t start = p;
        while (p < len && !amat_is_blank(line[p])) p++;
        char saved = line[p];
        line[p] = '\0';
        char *stop = NULL;
        errno = 0;
        double x = strtod(line + start, &stop);
        int whole = stop == line + p;
        line[p] = saved;
        char shown[40];
        if (!whole) {
            amat_quote(line + start, p - start, shown, sizeof shown);
            return gm_error_set(GM_ERR_FORMAT,
                                "amat file '%s' line %lld, value %lld: '%s' is not a number",
                                path, (long long)lineno, (long long)(n + 1), shown);
        }
        if (!isfinite(x) || fabs(x) > FLT_MAX) {
            amat_quote(line + start, p - start, shown, sizeof shown);
            return gm_error_set(GM_ERR_FORMAT,
                                "amat file '%s' line %lld, value %lld: '%s' is not finite or "
                                "outside the float32 range",
                                path, (long long)lineno, (long long)(n + 1), shown);
        }
        /* Every value goes in as a feature; the last one moves to the labels
         * when the line ends. */
        if (n > 0) {
            if (o->nx == o->capx) {
                void *grown = o->x;
                GM_FORWARD_IF_ERROR(amat_grow(path, &grown, &o->capx, o->nx + 1, sizeof *o->x));
                o->x = grown;
            }
            o->x[o->nx++] = (float)last;
        }
        last = x;
        last_at = start;
        n++;
        if (expect >= 0 && n > expect) break;
    }
    if (expect >= 0 && n != expect) {
        o->nx = x_before;
        return gm_error_set(GM_ERR_FORMAT, "amat file '%s' line %lld: %s%lld values, expected %lld",
                            path, (long long)lineno, n > expect ? "more than " : "",
                            (long long)(n > expect ? expect : n), (long long)expect);
    }
    if (n < 2) {
        return gm_error_set(GM_ERR_FORMAT,
                            "amat file '%s' line %lld: one value, expected features and a label",
                            path, (long long)lineno);
    }
    if (last != floor(last) || last < 0 || last > (double)INT32_MAX) {
        char shown[40];
        size_t e = last_at;
        while (e < len && !amat_is_blank(line[e])) e++;
        amat_quote(line + last_at, e - last_at, shown, sizeof shown);
        return gm_error_set(GM_ERR_FORMAT,
                            "amat file '%s' line %lld: label '%s' is not a non-negative integer",
                            path, (long long)lineno, shown);
    }
    if (o->ny == o->capy) {
        void *grown = o->y;
        GM_FORWARD_IF_ERROR(amat_grow(path, &grown, &o->capy, o->ny + 1, sizeof *o->y));
        o->y = grown;
    }
    o->y[o->ny++] = (int32_t)last;
    *count = n;
    return GM_OK;
}

static gm_status amat_read_src(gm__src *s, gm_array *images, gm_array *labels) {
    amat_lines r = {.src = s, .cap = AMAT_BLOCK};
    r.buf = gm_malloc(r.cap);
    if (!r.buf) return gm__nomem("amat buffer");
    amat_out o = {0};
    int64_t expect = -1;
    gm_status st = GM_OK;
    for (;;) {
        char *line = NULL;
        size_t len = 0;
        st = amat_next_line(&r, &line, &len);
        if (st != GM_OK || !line) break;
        size_t p = 0;
        while (p < len && amat_is_blank(line[p])) p++;
        if (p == len) continue;
        int64_t count = 0;
        st = amat_parse_line(s->path, r.line, line, len, expect, &o, &count);
        if (st != GM_OK) break;
        expect = count;
    }
    gm_free(r.buf);
    if (st == GM_OK && o.ny == 0) {
        st = gm_error_set(GM_ERR_FORMAT, "amat file '%s': no examples (%lld blank lines)",
                          s->path, (long long)r.line);
    }
    if (st != GM_OK) {
        gm_free(o.x);
        gm_free(o.y);
        return st;
    }
    images->dtype = GM_DTYPE_F32;
    images->ndim = 2;
    images->shape[0] = (int64_t)o.ny;
    images->shape[1] = expect - 1;
    images->data = o.x;
    labels->dtype = GM_DTYPE_I32;
    labels->ndim = 1;
    labels->shape[0] = (int64_t)o.ny;
    labels->data = o.y;
    return GM_OK;
}

gm_status gm_amat_read(const char *path, gm_array *images, gm_array *labels) {
    GM_RETURN_ERROR_IF(!path || !images || !labels, GM_ERR_INVALID_ARG,
                       "gm_amat_read: NULL argument");
    memset(images, 0, sizeof *images);
    memset(labels, 0, sizeof *labels);
    gm__src s;
    GM_FORWARD_IF_ERROR(gm__src_open(&s, "amat", path));
    gm_status st = amat_read_src(&s, images, labels);
    gm__src_close(&s);
    return st;
}
