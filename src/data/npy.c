/* NumPy .npy files: a strict reader (versions 1.0-3.0, the five gm_dtype
 * descrs, C order) and an atomic writer (version 1.0). The file layout is
 * "\x93NUMPY", major, minor, a little-endian header length (u16 for 1.0, u32
 * for 2.0/3.0), a Python dict literal padded with spaces and ended by '\n',
 * then the raw elements. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/data.h"

/* Elements are copied between file and memory unchanged, which is only right
 * when the host stores them little-endian like the files do. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gmcnn's .npy support requires a little-endian host"
#endif
#endif

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Well-formed headers with at most GM_ARRAY_MAX_DIMS dimensions are a few
 * hundred bytes; the limit keeps a forged u32 length from costing gigabytes
 * when the file size cannot be known in advance (pipes). */
#define NPY_MAX_HEADER_LEN (1 << 20)

size_t gm_dtype_size(gm_dtype dtype) {
    switch (dtype) {
    case GM_DTYPE_F32: return 4;
    case GM_DTYPE_F64: return 8;
    case GM_DTYPE_U8: return 1;
    case GM_DTYPE_I32: return 4;
    case GM_DTYPE_I64: return 8;
    }
    return 0;
}

const char *gm_dtype_descr(gm_dtype dtype) {
    switch (dtype) {
    case GM_DTYPE_F32: return "<f4";
    case GM_DTYPE_F64: return "<f8";
    case GM_DTYPE_U8: return "|u1";
    case GM_DTYPE_I32: return "<i4";
    case GM_DTYPE_I64: return "<i8";
    }
    return "?";
}

int64_t gm_array_numel(const gm_array *a) {
    if (!a || a->ndim < 0 || a->ndim > GM_ARRAY_MAX_DIMS) return -1;
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] < 0 || gm_mul_overflow_i64(n, a->shape[d], &n) != 0) return -1;
    }
    return n;
}

void gm_array_free(gm_array *a) {
    if (!a) return;
    gm_free(a->data);
    memset(a, 0, sizeof *a);
}

/* "(3, 4)" / "(3,)" / "()" as Python writes a shape tuple. */
void gm__data_format_shape(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && n < cap; d++) {
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    }
    if (n < cap) snprintf(buf + n, cap - n, "%s", ndim == 1 ? ",)" : ")");
}

/* ---- header parsing ------------------------------------------------------ */

typedef struct npy_parser {
    const char *path;
    const char *s; /* header text, s[len] == '\0' */
    size_t len;
    size_t pos;
    int64_t base; /* file offset of s[0] */
} npy_parser;

static gm_status npy_fail(const npy_parser *p, const char *fmt, ...) GM_PRINTF(2, 3);

static gm_status npy_fail(const npy_parser *p, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gm_error_set(GM_ERR_FORMAT, "npy file '%s' at byte %lld: %s", p->path,
                        (long long)(p->base + (int64_t)p->pos), msg);
}

static void npy_skip_ws(npy_parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int npy_peek(const npy_parser *p) {
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

/* A quoted Python string without escapes (none occur in valid headers). */
static gm_status npy_parse_string(npy_parser *p, const char *what, char *buf, size_t cap) {
    int q = npy_peek(p);
    if (q != '\'' && q != '"') return npy_fail(p, "expected a quoted %s", what);
    size_t start = ++p->pos;
    while (p->pos < p->len && p->s[p->pos] != q) {
        char c = p->s[p->pos];
        if (c == '\\' || c == '\n' || c == '\0') {
            return npy_fail(p, "unsupported character in %s", what);
        }
        p->pos++;
    }
    if (p->pos >= p->len) return npy_fail(p, "unterminated %s", what);
    size_t n = p->pos - start;
    if (n >= cap) {
        p->pos = start;
        return npy_fail(p, "%s longer than %zu characters", what, cap - 1);
    }
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    p->pos++;
    return GM_OK;
}

static gm_status npy_parse_bool(npy_parser *p, int *out) {
    const char *rest = p->s + p->pos;
    size_t left = p->len - p->pos;
    if (left >= 4 && memcmp(rest, "True", 4) == 0) {
        *out = 1;
        p->pos += 4;
    } else if (left >= 5 && memcmp(rest, "False", 5) == 0) {
        *out = 0;
        p->pos += 5;
    } else {
        return npy_fail(p, "'fortran_order' must be True or False");
    }
    return GM_OK;
}

static gm_status npy_parse_dim(npy_parser *p, int index, int64_t *out) {
    size_t start = p->pos;
    int neg = 0;
    if (npy_peek(p) == '-') {
        neg = 1;
        p->pos++;
    }
    int c = npy_peek(p);
    if (c < '0' || c > '9') {
        p->pos = start;
        return npy_fail(p, "shape dimension %d is not an integer", index + 1);
    }
    int64_t v = 0;
    while ((c = npy_peek(p)) >= '0' && c <= '9') {
        if (v > (INT64_MAX - (c - '0')) / 10) {
            p->pos = start;
            return npy_fail(p, "shape dimension %d is too large", index + 1);
        }
        v = v * 10 + (c - '0');
        p->pos++;
    }
    /* Python 2 wrote long integers with an L suffix. */
    if (npy_peek(p) == 'L' || npy_peek(p) == 'l') p->pos++;
    if (neg && v != 0) {
        p->pos = start;
        return npy_fail(p, "shape dimension %d is negative (-%lld)", index + 1, (long long)v);
    }
    *out = v;
    return GM_OK;
}

static gm_status npy_parse_shape(npy_parser *p, int *ndim, int64_t *shape) {
    if (npy_peek(p) == '[') return npy_fail(p, "'shape' must be a tuple, not a list");
    if (npy_peek(p) != '(') return npy_fail(p, "'shape' must be a tuple");
    p->pos++;
    int n = 0;
    npy_skip_ws(p);
    if (npy_peek(p) == ')') {
        p->pos++;
        *ndim = 0;
        return GM_OK;
    }
    for (;;) {
        if (n == GM_ARRAY_MAX_DIMS) {
            return npy_fail(p, "shape has more than %d dimensions", GM_ARRAY_MAX_DIMS);
        }
        GM_FORWARD_IF_ERROR(npy_parse_dim(p, n, &shape[n]));
        n++;
        npy_skip_ws(p);
        int c = npy_peek(p);
        if (c == ',') {
            p->pos++;
            npy_skip_ws(p);
            if (npy_peek(p) == ')') {
                p->pos++;
                break;
            }
        } else if (c == ')') {
            /* "(3)" is the integer 3 in Python, not a shape. */
            if (n == 1) return npy_fail(p, "one-dimensional shape needs a trailing comma");
            p->pos++;
            break;
        } else {
            return npy_fail(p, "expected ',' or ')' in shape");
        }
    }
    *ndim = n;
    return GM_OK;
}

static gm_status npy_lookup_descr(npy_parser *p, const char *descr, gm_dtype *out) {
    static const struct {
        const char *descr;
        gm_dtype dtype;
    } table[] = {
        {"<f4", GM_DTYPE_F32}, {"<f8", GM_DTYPE_F64}, {"|u1", GM_DTYPE_U8},
        {"<u1", GM_DTYPE_U8},  {">u1", GM_DTYPE_U8},  {"<i4", GM_DTYPE_I32},
        {"<i8", GM_DTYPE_I64},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(descr, table[i].descr) == 0) {
            *out = table[i].dtype;
            return GM_OK;
        }
    }
    if (descr[0] == '>') {
        return npy_fail(p, "big-endian dtype '%s' is not supported (little-endian only)", descr);
    }
    if (strchr(descr, 'O')) return npy_fail(p, "object dtype '%s' is not supported", descr);
    return npy_fail(p, "unsupported dtype '%s' (supported: '<f4', '<f8', '|u1', '<i4', '<i8')",
                    descr);
}

static gm_status npy_parse_header(npy_parser *p, gm_array *out) {
    int have_descr = 0, have_order = 0, have_shape = 0;
    npy_skip_ws(p);
    if (npy_peek(p) != '{') return npy_fail(p, "header is not a dict (expected '{')");
    p->pos++;
    for (;;) {
        npy_skip_ws(p);
        if (npy_peek(p) == '}') {
            p->pos++;
            break;
        }
        size_t key_pos = p->pos;
        char key[32];
        GM_FORWARD_IF_ERROR(npy_parse_string(p, "key", key, sizeof key));
        npy_skip_ws(p);
        if (npy_peek(p) != ':') return npy_fail(p, "expected ':' after key '%s'", key);
        p->pos++;
        npy_skip_ws(p);
        int *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &have_descr;
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &have_order;
        } else if (strcmp(key, "shape") == 0) {
            seen = &have_shape;
        } else {
            p->pos = key_pos;
            return npy_fail(p, "unexpected key '%s' in header", key);
        }
        if (*seen) {
            p->pos = key_pos;
            return npy_fail(p, "duplicate key '%s' in header", key);
        }
        *seen = 1;
        if (seen == &have_descr) {
            int c = npy_peek(p);
            if (c == '[' || c == '{' || c == '(') {
                return npy_fail(p, "structured dtypes are not supported");
            }
            size_t descr_pos = p->pos;
            char descr[32];
            GM_FORWARD_IF_ERROR(npy_parse_string(p, "'descr'", descr, sizeof descr));
            size_t after = p->pos;
            p->pos = descr_pos;
            GM_FORWARD_IF_ERROR(npy_lookup_descr(p, descr, &out->dtype));
            p->pos = after;
        } else if (seen == &have_order) {
            size_t order_pos = p->pos;
            int fortran = 0;
            GM_FORWARD_IF_ERROR(npy_parse_bool(p, &fortran));
            if (fortran) {
                p->pos = order_pos;
                return npy_fail(p, "fortran_order True is not supported (C order only)");
            }
        } else {
            GM_FORWARD_IF_ERROR(npy_parse_shape(p, &out->ndim, out->shape));
        }
        npy_skip_ws(p);
        int c = npy_peek(p);
        if (c == ',') {
            p->pos++;
        } else if (c == '}') {
            p->pos++;
            break;
        } else {
            return npy_fail(p, "expected ',' or '}' in header dict");
        }
    }
    npy_skip_ws(p);
    if (p->pos != p->len) return npy_fail(p, "unexpected text after the header dict");
    const char *missing = !have_descr ? "descr" : !have_order ? "fortran_order"
                        : !have_shape ? "shape" : NULL;
    if (missing) {
        p->pos = 0;
        return npy_fail(p, "header has no '%s' key", missing);
    }
    return GM_OK;
}

/* ---- reading ------------------------------------------------------------- */

/* Reads exactly n bytes; on a short read tells a read error (GM_ERR_IO) from
 * the end of the file (GM_ERR_FORMAT, naming `what` and the offset). */
static gm_status npy_read_exact(FILE *f, const char *path, void *buf, size_t n, int64_t offset,
                                const char *what) {
    size_t got = fread(buf, 1, n, f);
    if (got == n) return GM_OK;
    if (ferror(f)) {
        return gm_error_set(GM_ERR_IO, "npy file '%s' at byte %lld: read error: %s", path,
                            (long long)offset, strerror(errno));
    }
    return gm_error_set(GM_ERR_FORMAT, "npy file '%s' at byte %lld: file ends inside the %s",
                        path, (long long)(offset + (int64_t)got), what);
}

/* The data of a pipe or other stream, whose size is unknown beforehand:
 * the buffer grows with the bytes that actually arrive, so that a forged
 * shape costs no more memory than the data sent. */
static gm_status npy_read_streamed_data(FILE *f, const char *path, int64_t nbytes,
                                        int64_t data_start, gm_array *out) {
    GM_RETURN_ERROR_IF(nbytes > GM__SRC_STREAM_CAP, GM_ERR_TOO_LARGE,
                       "npy file '%s' at byte %lld: data of %lld bytes exceeds the limit of %lld "
                       "for streamed input", path, (long long)data_start, (long long)nbytes,
                       (long long)GM__SRC_STREAM_CAP);
    const size_t want = (size_t)nbytes;
    size_t cap = want < ((size_t)1 << 20) ? want : (size_t)1 << 20, done = 0;
    unsigned char *buf = gm_malloc(cap ? cap : 1);
    if (!buf) return gm__nomem("npy data");
    gm_status st = GM_OK;
    while (st == GM_OK && done < want) {
        if (done == cap) {
            const size_t ncap = cap > want / 2 ? want : cap * 2;
            unsigned char *nb = gm_realloc(buf, ncap);
            if (!nb) {
                st = gm__nomem("npy data");
                break;
            }
            buf = nb;
            cap = ncap;
        }
        const size_t got = fread(buf + done, 1, cap - done, f);
        done += got;
        if (got == 0 && ferror(f))
            st = gm_error_set(GM_ERR_IO, "npy file '%s' at byte %lld: read error: %s", path,
                              (long long)(data_start + (int64_t)done), strerror(errno));
        else if (got == 0)
            st = gm_error_set(GM_ERR_FORMAT, "npy file '%s' at byte %lld: file ends inside the "
                              "data", path, (long long)(data_start + (int64_t)done));
    }
    if (st == GM_OK && fgetc(f) != EOF)
        st = gm_error_set(GM_ERR_FORMAT, "npy file '%s' at byte %lld: trailing bytes after the "
                          "data", path, (long long)(data_start + nbytes));
    if (st != GM_OK) {
        gm_free(buf);
        return st;
    }
    out->data = buf;
    return GM_OK;
}

static gm_status npy_read_stream(FILE *f, const char *path, gm_array *out) {
    int64_t fsize = -1;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        GM_RETURN_ERROR_IF(S_ISDIR(sb.st_mode), GM_ERR_IO, "npy file '%s': is a directory",
                           path);
        if (S_ISREG(sb.st_mode)) fsize = (int64_t)sb.st_size;
    }

    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    GM_RETURN_ERROR_IF(ferror(f), GM_ERR_IO, "npy file '%s': read error: %s", path,
                       strerror(errno));
    size_t cmp = got < sizeof npy_magic ? got : sizeof npy_magic;
    for (size_t i = 0; i < cmp; i++) {
        GM_RETURN_ERROR_IF(pre[i] != npy_magic[i], GM_ERR_FORMAT,
                           "npy file '%s' at byte %zu: bad magic (not an .npy file)", path, i);
    }
    GM_RETURN_ERROR_IF(got < 8, GM_ERR_FORMAT,
                       "npy file '%s' at byte %zu: file ends inside the magic and version",
                       path, got);
    unsigned major = pre[6], minor = pre[7];
    GM_RETURN_ERROR_IF(major < 1 || major > 3 || minor != 0, GM_ERR_FORMAT,
                       "npy file '%s' at byte 6: unsupported format version %u.%u "
                       "(1.0, 2.0 and 3.0 are read)",
                       path, major, minor);
    size_t len_bytes = major == 1 ? 2 : 4;
    GM_FORWARD_IF_ERROR(npy_read_exact(f, path, pre + 8, len_bytes, 8, "header length"));
    int64_t hlen = (int64_t)pre[8] | (int64_t)pre[9] << 8;
    if (len_bytes == 4) hlen |= (int64_t)pre[10] << 16 | (int64_t)pre[11] << 24;
    int64_t hstart = 8 + (int64_t)len_bytes;
    GM_RETURN_ERROR_IF(fsize >= 0 && hstart + hlen > fsize, GM_ERR_FORMAT,
                       "npy file '%s' at byte 8: header length %lld runs past the end of the "
                       "file (%lld bytes)",
                       path, (long long)hlen, (long long)fsize);
    GM_RETURN_ERROR_IF(hlen > NPY_MAX_HEADER_LEN, GM_ERR_FORMAT,
                       "npy file '%s' at byte 8: header length %lld exceeds the limit of %d",
                       path, (long long)hlen, NPY_MAX_HEADER_LEN);

    char *hdr = gm_malloc((size_t)hlen + 1);
    if (!hdr) return gm__nomem("npy header");
    gm_status st = npy_read_exact(f, path, hdr, (size_t)hlen, hstart, "header");
    if (st == GM_OK) {
        hdr[hlen] = '\0';
        npy_parser p = {.path = path, .s = hdr, .len = (size_t)hlen, .pos = 0, .base = hstart};
        st = npy_parse_header(&p, out);
    }
    gm_free(hdr);
    GM_FORWARD_IF_ERROR(st);

    int64_t data_start = hstart + hlen;
    char shape_str[256];
    gm__data_format_shape(out->ndim, out->shape, shape_str, sizeof shape_str);
    int64_t numel = gm_array_numel(out);
    int64_t nbytes = 0;
    GM_RETURN_ERROR_IF(numel < 0 ||
                           gm_mul_overflow_i64(numel, (int64_t)gm_dtype_size(out->dtype),
                                               &nbytes) != 0 ||
                           (uint64_t)nbytes > (uint64_t)SIZE_MAX,
                       GM_ERR_FORMAT,
                       "npy file '%s' at byte %lld: shape %s is too large (size overflows)",
                       path, (long long)hstart, shape_str);
    if (fsize >= 0) {
        int64_t avail = fsize - data_start;
        GM_RETURN_ERROR_IF(avail < nbytes, GM_ERR_FORMAT,
                           "npy file '%s' at byte %lld: truncated data: shape %s of '%s' needs "
                           "%lld bytes, the file has %lld",
                           path, (long long)data_start, shape_str,
                           gm_dtype_descr(out->dtype), (long long)nbytes, (long long)avail);
        GM_RETURN_ERROR_IF(avail > nbytes, GM_ERR_FORMAT,
                           "npy file '%s' at byte %lld: %lld trailing bytes after the data",
                           path, (long long)(data_start + nbytes), (long long)(avail - nbytes));
    }

    if (fsize < 0) return npy_read_streamed_data(f, path, nbytes, data_start, out);
    out->data = gm_malloc((size_t)nbytes);
    if (!out->data) return gm__nomem("npy data");
    GM_FORWARD_IF_ERROR(npy_read_exact(f, path, out->data, (size_t)nbytes, data_start, "data"));
    return GM_OK;
}

gm_status gm_npy_read(const char *path, gm_array *out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG, "gm_npy_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    GM_RETURN_ERROR_IF(!f, GM_ERR_IO, "npy file '%s': cannot open: %s", path, strerror(errno));
    gm_status st = npy_read_stream(f, path, out);
    fclose(f);
    if (st != GM_OK) gm_array_free(out);
    return st;
}

/* ---- writing ------------------------------------------------------------- */

typedef struct npy_write_ctx {
    const char *hdr;
    size_t hdr_len;
    const void *data;
    size_t nbytes;
} npy_write_ctx;

static gm_status npy_write_body(int fd, const char *tmp, void *ctx) {
    const npy_write_ctx *c = ctx;
    int err = gm__data_write_all(fd, c->hdr, c->hdr_len);
    if (!err && c->nbytes > 0) err = gm__data_write_all(fd, c->data, c->nbytes);
    GM_RETURN_ERROR_IF(err, GM_ERR_IO, "npy file '%s': write failed: %s", tmp, strerror(err));
    return GM_OK;
}

gm_status gm_npy_write(const char *path, const gm_array *a) {
    GM_RETURN_ERROR_IF(!path || !a, GM_ERR_INVALID_ARG, "gm_npy_write: NULL argument");
    size_t itemsize = gm_dtype_size(a->dtype);
    GM_RETURN_ERROR_IF(itemsize == 0, GM_ERR_INVALID_ARG,
                       "npy file '%s': unknown dtype %d", path, (int)a->dtype);
    GM_RETURN_ERROR_IF(a->ndim < 0 || a->ndim > GM_ARRAY_MAX_DIMS, GM_ERR_INVALID_ARG,
                       "npy file '%s': ndim %d outside 0..%d", path, a->ndim,
                       GM_ARRAY_MAX_DIMS);
    int64_t numel = gm_array_numel(a);
    int64_t nbytes = 0;
    GM_RETURN_ERROR_IF(numel < 0 || gm_mul_overflow_i64(numel, (int64_t)itemsize, &nbytes) != 0 ||
                           (uint64_t)nbytes > (uint64_t)SIZE_MAX,
                       GM_ERR_INVALID_ARG,
                       "npy file '%s': negative dimension or size overflow in the shape", path);
    GM_RETURN_ERROR_IF(nbytes > 0 && !a->data, GM_ERR_INVALID_ARG,
                       "npy file '%s': array data is NULL", path);

    /* Magic, version, u16 length, dict, space padding to a multiple of 64 so
     * that memory-mapped readers see aligned data, and the final newline. */
    char hdr[512];
    char shape_str[256];
    gm__data_format_shape(a->ndim, a->shape, shape_str, sizeof shape_str);
    memcpy(hdr, npy_magic, sizeof npy_magic);
    hdr[6] = 1;
    hdr[7] = 0;
    int dict_len = snprintf(hdr + 10, sizeof hdr - 10,
                            "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                            gm_dtype_descr(a->dtype), shape_str);
    GM_ASSERT(dict_len > 0 && (size_t)dict_len < sizeof hdr - 10 - 64);
    size_t total = 10 + (size_t)dict_len + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(hdr + 10 + dict_len, ' ', pad);
    total += pad;
    hdr[total - 1] = '\n';
    size_t hlen = total - 10;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);

    npy_write_ctx ctx = {.hdr = hdr, .hdr_len = total, .data = a->data,
                         .nbytes = (size_t)nbytes};
    return gm__data_write_atomic("npy", path, npy_write_body, &ctx);
}

/* ---- conversion ---------------------------------------------------------- */

gm_status gm_array_to_f64(const gm_array *a, double **out) {
    GM_RETURN_ERROR_IF(!a || !out, GM_ERR_INVALID_ARG, "gm_array_to_f64: NULL argument");
    *out = NULL;
    int64_t n = gm_array_numel(a);
    GM_RETURN_ERROR_IF(n < 0 || gm_dtype_size(a->dtype) == 0, GM_ERR_INVALID_ARG,
                       "gm_array_to_f64: invalid array (dtype %d, ndim %d)", (int)a->dtype,
                       a->ndim);
    GM_RETURN_ERROR_IF(n > 0 && !a->data, GM_ERR_INVALID_ARG,
                       "gm_array_to_f64: array data is NULL");
    double *d = gm_malloc_array((size_t)n, sizeof *d);
    if (!d) return gm__nomem("f64 array");
    switch (a->dtype) {
    case GM_DTYPE_F32: {
        const float *s = a->data;
        for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
        break;
    }
    case GM_DTYPE_F64:
        if (n > 0) memcpy(d, a->data, (size_t)n * sizeof *d);
        break;
    case GM_DTYPE_U8: {
        const uint8_t *s = a->data;
        for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
        break;
    }
    case GM_DTYPE_I32: {
        const int32_t *s = a->data;
        for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
        break;
    }
    case GM_DTYPE_I64: {
        const int64_t *s = a->data;
        for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
        break;
    }
    }
    *out = d;
    return GM_OK;
}
