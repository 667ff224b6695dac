/* IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed, and
 * the byte source shared by the binary dataset readers. An IDX file is the
 * magic 0x00 0x00 <type> <ndim>, ndim big-endian u32 dimensions, then the
 * elements in C order, big-endian. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"

/* ---- byte source ---------------------------------------------------------- */

/* zlib takes lengths as unsigned int; larger reads are split. */
#define SRC_CHUNK ((size_t)1 << 30)

gm_status gm__src_open(gm__src *s, const char *kind, const char *path) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->path = path;
    s->size = -1;
    int fd = open(path, O_RDONLY);
    GM_RETURN_ERROR_IF(fd < 0, GM_ERR_IO, "%s file '%s': cannot open: %s", kind, path,
                       strerror(errno));
    struct stat sb;
    int64_t fsize = -1;
    if (fstat(fd, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            close(fd);
            return gm_error_set(GM_ERR_IO, "%s file '%s': is a directory", kind, path);
        }
        if (S_ISREG(sb.st_mode)) fsize = (int64_t)sb.st_size;
    }
    s->gz = gzdopen(fd, "rb");
    if (!s->gz) {
        close(fd);
        return gm__nomem("gzip stream");
    }
    /* Large reads bypass this buffer; it only serves headers and gzip input. */
    (void)gzbuffer(s->gz, 1u << 16);
    /* gzdirect() looks at the first bytes, after which a plain file is known
     * to hold exactly its size in content bytes. */
    s->gzipped = fsize != 0 && !gzdirect(s->gz);
    if (!s->gzipped) s->size = fsize;
    return GM_OK;
}

void gm__src_close(gm__src *s) {
    if (s->gz) gzclose_r(s->gz);
    s->gz = NULL;
}

gm_status gm__src_fail(const gm__src *s, gm_status status, int64_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gm_error_set(status, "%s file '%s' at %sbyte %lld: %s", s->kind, s->path,
                        s->gzipped ? "uncompressed " : "", (long long)at, msg);
}

gm_status gm__src_read_some(gm__src *s, void *buf, size_t n, size_t *got) {
    *got = 0;
    if (n > SRC_CHUNK) n = SRC_CHUNK;
    errno = 0;
    int r = gzread(s->gz, buf, (unsigned)n);
    int zerr = Z_OK;
    const char *zmsg = gzerror(s->gz, &zerr);
    if (r < 0 || zerr != Z_OK) {
        if (zerr == Z_ERRNO) {
            return gm_error_set(GM_ERR_IO, "%s file '%s': read error: %s", s->kind, s->path,
                                strerror(errno ? errno : EIO));
        }
        if (zerr == Z_MEM_ERROR) return gm__nomem("gzip stream");
        int64_t at = s->pos + (r > 0 ? r : 0);
        /* zlib reports a stream cut short as Z_BUF_ERROR. */
        if (zerr == Z_BUF_ERROR) {
            return gm__src_fail(s, GM_ERR_FORMAT, at, "gzip stream is truncated");
        }
        /* zlib prefixes its message with "<fd:N>: ", which names nothing useful. */
        if (!zmsg) zmsg = "unknown error";
        if (strncmp(zmsg, "<fd:", 4) == 0 && strstr(zmsg, ": ")) zmsg = strstr(zmsg, ": ") + 2;
        return gm__src_fail(s, GM_ERR_FORMAT, at, "corrupt gzip stream: %s", zmsg);
    }
    *got = (size_t)r;
    s->pos += r;
    return GM_OK;
}

gm_status gm__src_read_exact(gm__src *s, void *buf, size_t n, const char *what) {
    int64_t start = s->pos;
    size_t done = 0;
    while (done < n) {
        size_t got = 0;
        GM_FORWARD_IF_ERROR(gm__src_read_some(s, (char *)buf + done, n - done, &got));
        if (got == 0) {
            return gm__src_fail(s, GM_ERR_FORMAT, start + (int64_t)done,
                                "file ends inside the %s", what);
        }
        done += got;
    }
    return GM_OK;
}

/* Requires the end of the content at the current position. */
static gm_status src_expect_end(gm__src *s) {
    unsigned char extra[256];
    int64_t at = s->pos, more = 0;
    for (;;) {
        size_t got = 0;
        GM_FORWARD_IF_ERROR(gm__src_read_some(s, extra, sizeof extra, &got));
        if (got == 0) break;
        more += (int64_t)got;
        if (more >= 1 << 20) break;
    }
    if (more > 0) {
        return gm__src_fail(s, GM_ERR_FORMAT, at, "%s%lld trailing bytes after the data",
                            more >= 1 << 20 ? "at least " : "", (long long)more);
    }
    return GM_OK;
}

gm_status gm__src_read_alloc(gm__src *s, int64_t nbytes, const char *what, void **out) {
    *out = NULL;
    GM_ASSERT(nbytes >= 0);
    int64_t start = s->pos;
    if (s->size >= 0) {
        int64_t avail = s->size - start;
        GM_RETURN_ERROR_IF(avail < nbytes, GM_ERR_FORMAT,
                           "%s file '%s' at byte %lld: truncated %s: %lld bytes needed, the "
                           "file has %lld",
                           s->kind, s->path, (long long)start, what, (long long)nbytes,
                           (long long)avail);
        GM_RETURN_ERROR_IF(avail > nbytes, GM_ERR_FORMAT,
                           "%s file '%s' at byte %lld: %lld trailing bytes after the data",
                           s->kind, s->path, (long long)(start + nbytes),
                           (long long)(avail - nbytes));
    } else if (nbytes > GM__SRC_STREAM_CAP) {
        return gm__src_fail(s, GM_ERR_TOO_LARGE, start,
                            "%s of %lld bytes exceeds the limit of %lld for compressed or "
                            "streamed input",
                            what, (long long)nbytes, (long long)GM__SRC_STREAM_CAP);
    }
    GM_RETURN_ERROR_IF((uint64_t)nbytes > (uint64_t)SIZE_MAX, GM_ERR_TOO_LARGE,
                       "%s file '%s' at byte %lld: %s of %lld bytes does not fit in memory",
                       s->kind, s->path, (long long)start, what, (long long)nbytes);

    /* With the size known the whole buffer is justified; otherwise it grows
     * with the bytes actually delivered, so a forged header costs nothing. */
    size_t want = (size_t)nbytes;
    size_t cap = s->size >= 0 || want < ((size_t)1 << 20) ? want : (size_t)1 << 20;
    uint8_t *buf = gm_malloc(cap);
    if (!buf) return gm__nomem(what);
    size_t done = 0;
    gm_status st = GM_OK;
    while (done < want) {
        if (done == cap) {
            size_t ncap = cap > want / 2 ? want : cap * 2;
            uint8_t *nb = gm_realloc(buf, ncap);
            if (!nb) {
                st = gm__nomem(what);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = 0;
        st = gm__src_read_some(s, buf + done, cap - done, &got);
        if (st != GM_OK) break;
        if (got == 0) {
            st = gm__src_fail(s, GM_ERR_FORMAT, s->pos,
                              "truncated %s: %lld bytes needed, the file has %lld", what,
                              (long long)nbytes, (long long)done);
            break;
        }
        done += got;
    }
    if (st == GM_OK) st = src_expect_end(s);
    if (st != GM_OK) {
        gm_free(buf);
        return st;
    }
    *out = buf;
    return GM_OK;
}

gm_status gm__src_read_rest(gm__src *s, int64_t cap_bytes, char **out, int64_t *len) {
    *out = NULL;
    *len = 0;
    int64_t start = s->pos;
    int64_t known = s->size >= 0 ? s->size - start : -1;
    if (known > cap_bytes || (known >= 0 && (uint64_t)known >= (uint64_t)SIZE_MAX)) {
        return gm__src_fail(s, GM_ERR_TOO_LARGE, start, "%lld bytes exceed the limit of %lld",
                            (long long)known, (long long)cap_bytes);
    }
    /* A known size is allocated once (plus the NUL); a stream grows. */
    size_t cap = known >= 0 ? (size_t)known + 1 : (size_t)1 << 16;
    char *buf = gm_malloc(cap);
    if (!buf) return gm__nomem("file contents");
    size_t n = 0;
    gm_status st = GM_OK;
    for (;;) {
        size_t got = 0;
        if (n + 1 < cap) {
            st = gm__src_read_some(s, buf + n, cap - 1 - n, &got);
            if (st != GM_OK || got == 0) break;
            n += got;
            continue;
        }
        /* Full: probe for more before paying for a bigger buffer. */
        char probe[4096];
        st = gm__src_read_some(s, probe, sizeof probe, &got);
        if (st != GM_OK || got == 0) break;
        if ((int64_t)(n + got) > cap_bytes) {
            st = gm__src_fail(s, GM_ERR_TOO_LARGE, start,
                              "content exceeds the limit of %lld bytes", (long long)cap_bytes);
            break;
        }
        size_t ncap = cap * 2 > n + got + 1 ? cap * 2 : n + got + 1;
        char *nb = gm_realloc(buf, ncap);
        if (!nb) {
            st = gm__nomem("file contents");
            break;
        }
        buf = nb;
        cap = ncap;
        memcpy(buf + n, probe, got);
        n += got;
    }
    if (st != GM_OK) {
        gm_free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = (int64_t)n;
    return GM_OK;
}

/* ---- element decoding ----------------------------------------------------- */

size_t gm__elem_size(gm__elem e) {
    switch (e) {
    case GM__ELEM_U8: return 1;
    case GM__ELEM_I8: return 1;
    case GM__ELEM_I16: return 2;
    case GM__ELEM_I32: return 4;
    case GM__ELEM_F32: return 4;
    case GM__ELEM_F64: return 8;
    }
    return 0;
}

gm_dtype gm__elem_dtype(gm__elem e) {
    switch (e) {
    case GM__ELEM_U8: return GM_DTYPE_U8;
    case GM__ELEM_I8: return GM_DTYPE_I32;
    case GM__ELEM_I16: return GM_DTYPE_I32;
    case GM__ELEM_I32: return GM_DTYPE_I32;
    case GM__ELEM_F32: return GM_DTYPE_F32;
    case GM__ELEM_F64: return GM_DTYPE_F64;
    }
    return GM_DTYPE_U8;
}

/* Assembling values from bytes works whatever the host byte order, and the
 * copy through memcpy keeps float bit patterns (NaN payloads included). */
static uint64_t elem_load(const uint8_t *p, size_t w, int big_endian) {
    uint64_t v = 0;
    if (big_endian) {
        for (size_t i = 0; i < w; i++) v = v << 8 | p[i];
    } else {
        for (size_t i = w; i-- > 0;) v = v << 8 | p[i];
    }
    return v;
}

void gm__elem_decode(gm__elem e, int big_endian, const uint8_t *src, void *dst, int64_t n) {
    size_t w = gm__elem_size(e);
    uint8_t *d = dst;
    switch (e) {
    case GM__ELEM_U8:
        if (dst != src) memcpy(dst, src, (size_t)n);
        break;
    case GM__ELEM_I8:
        for (int64_t i = 0; i < n; i++) {
            int32_t v = (int8_t)src[i];
            memcpy(d + 4 * i, &v, 4);
        }
        break;
    case GM__ELEM_I16:
        for (int64_t i = 0; i < n; i++) {
            int32_t v = (int16_t)(uint16_t)elem_load(src + w * (size_t)i, w, big_endian);
            memcpy(d + 4 * i, &v, 4);
        }
        break;
    case GM__ELEM_I32:
    case GM__ELEM_F32:
        for (int64_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)elem_load(src + 4 * i, 4, big_endian);
            memcpy(d + 4 * i, &v, 4);
        }
        break;
    case GM__ELEM_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t v = elem_load(src + 8 * i, 8, big_endian);
            memcpy(d + 8 * i, &v, 8);
        }
        break;
    }
}

gm_status gm__src_read_elems(gm__src *s, gm__elem e, int big_endian, int64_t numel,
                             const char *shape_str, gm_array *out) {
    size_t w = gm__elem_size(e);
    gm_dtype dt = gm__elem_dtype(e);
    size_t dw = gm_dtype_size(dt);
    int64_t file_bytes = 0, mem_bytes = 0;
    if (numel < 0 || gm_mul_overflow_i64(numel, (int64_t)w, &file_bytes) != 0 ||
        gm_mul_overflow_i64(numel, (int64_t)dw, &mem_bytes) != 0 ||
        (uint64_t)mem_bytes > (uint64_t)SIZE_MAX) {
        return gm__src_fail(s, GM_ERR_FORMAT, s->pos, "shape %s is too large (size overflows)",
                            shape_str);
    }
    void *raw = NULL;
    GM_FORWARD_IF_ERROR(gm__src_read_alloc(s, file_bytes, "data", &raw));
    out->dtype = dt;
    if (w == dw) {
        gm__elem_decode(e, big_endian, raw, raw, numel);
        out->data = raw;
        return GM_OK;
    }
    void *wide = gm_malloc((size_t)mem_bytes);
    if (!wide) {
        gm_free(raw);
        return gm__nomem("widened data");
    }
    gm__elem_decode(e, big_endian, raw, wide, numel);
    gm_free(raw);
    out->data = wide;
    return GM_OK;
}

/* ---- IDX reading ---------------------------------------------------------- */

static gm_status idx_read_src(gm__src *s, gm_array *out) {
    unsigned char magic[4];
    size_t got = 0;
    /* Check what is there before complaining about what is missing, so that
     * a short file of another format reports the bad magic. */
    size_t have = 0;
    while (have < 4) {
        GM_FORWARD_IF_ERROR(gm__src_read_some(s, magic + have, 4 - have, &got));
        if (got == 0) break;
        have += got;
    }
    for (size_t i = 0; i < have && i < 2; i++) {
        if (magic[i] != 0) {
            return gm__src_fail(s, GM_ERR_FORMAT, (int64_t)i,
                                "bad magic (not an IDX file: expected 00 00 <type> <ndim>)");
        }
    }
    if (have < 4) {
        return gm__src_fail(s, GM_ERR_FORMAT, (int64_t)have, "file ends inside the magic");
    }
    gm__elem e;
    switch (magic[2]) {
    case 0x08: e = GM__ELEM_U8; break;
    case 0x09: e = GM__ELEM_I8; break;
    case 0x0B: e = GM__ELEM_I16; break;
    case 0x0C: e = GM__ELEM_I32; break;
    case 0x0D: e = GM__ELEM_F32; break;
    case 0x0E: e = GM__ELEM_F64; break;
    default:
        return gm__src_fail(s, GM_ERR_FORMAT, 2,
                            "unsupported element type 0x%02X (supported: 0x08 u8, 0x09 i8, "
                            "0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)",
                            magic[2]);
    }
    int ndim = magic[3];
    if (ndim > GM_ARRAY_MAX_DIMS) {
        return gm__src_fail(s, GM_ERR_FORMAT, 3, "%d dimensions, more than the %d supported",
                            ndim, GM_ARRAY_MAX_DIMS);
    }
    unsigned char dims[4 * GM_ARRAY_MAX_DIMS];
    GM_FORWARD_IF_ERROR(gm__src_read_exact(s, dims, 4 * (size_t)ndim, "dimensions"));
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        out->shape[d] = (int64_t)elem_load(dims + 4 * d, 4, 1);
    }
    return gm__src_read_shaped(s, e, 1, 4, out);
}

gm_status gm__src_read_shaped(gm__src *s, gm__elem e, int big_endian, int64_t header_bytes,
                              gm_array *out) {
    char shape_str[256];
    gm__data_format_shape(out->ndim, out->shape, shape_str, sizeof shape_str);
    int64_t numel = gm_array_numel(out);
    if (numel < 0) {
        return gm__src_fail(s, GM_ERR_FORMAT, header_bytes,
                            "shape %s is too large (size overflows)", shape_str);
    }
    return gm__src_read_elems(s, e, big_endian, numel, shape_str, out);
}

gm_status gm__src_read_array(const char *kind, const char *path,
                             gm_status (*body)(gm__src *s, gm_array *out), gm_array *out) {
    memset(out, 0, sizeof *out);
    gm__src s;
    GM_FORWARD_IF_ERROR(gm__src_open(&s, kind, path));
    gm_status st = body(&s, out);
    gm__src_close(&s);
    if (st != GM_OK) gm_array_free(out);
    return st;
}

gm_status gm_idx_read(const char *path, gm_array *out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG, "gm_idx_read: NULL argument");
    return gm__src_read_array("idx", path, idx_read_src, out);
}

/* ---- IDX writing ---------------------------------------------------------- */

typedef struct idx_write_ctx {
    const char *path;
    const gm_array *a;
    unsigned char hdr[4 + 4 * GM_ARRAY_MAX_DIMS];
    size_t hdr_len;
    size_t itemsize;
    int64_t numel;
    bool gzip;
} idx_write_ctx;

/* Big-endian element bytes, a block at a time so the array is never copied whole. */
static size_t idx_encode_block(const idx_write_ctx *c, int64_t first, int64_t count,
                               unsigned char *out) {
    const unsigned char *src = (const unsigned char *)c->a->data + first * (int64_t)c->itemsize;
    size_t w = c->itemsize;
    for (int64_t i = 0; i < count; i++) {
        uint64_t v = 0;
        if (w == 1) {
            out[i] = src[i];
            continue;
        }
        if (w == 4) {
            uint32_t x;
            memcpy(&x, src + 4 * i, 4);
            v = x;
        } else {
            memcpy(&v, src + 8 * i, 8);
        }
        for (size_t b = 0; b < w; b++) {
            out[(size_t)i * w + b] = (unsigned char)(v >> (8 * (w - 1 - b)));
        }
    }
    return (size_t)count * w;
}

#define IDX_BLOCK 8192

static gm_status idx_write_body(int fd, const char *tmp, void *vctx) {
    const idx_write_ctx *c = vctx;
    unsigned char block[IDX_BLOCK * 8];
    gzFile gz = NULL;
    if (c->gzip) {
        int fd2 = dup(fd);
        GM_RETURN_ERROR_IF(fd2 < 0, GM_ERR_IO, "idx file '%s': cannot write '%s': %s", c->path,
                           tmp, strerror(errno));
        gz = gzdopen(fd2, "wb");
        if (!gz) {
            close(fd2);
            return gm__nomem("gzip stream");
        }
    }
    int ok = 1, err = 0;
    for (int64_t i = -1; ok && i < c->numel; i += i < 0 ? 1 : IDX_BLOCK) {
        const unsigned char *p = c->hdr;
        size_t n = c->hdr_len;
        if (i >= 0) {
            int64_t count = c->numel - i < IDX_BLOCK ? c->numel - i : IDX_BLOCK;
            n = idx_encode_block(c, i, count, block);
            p = block;
        }
        if (gz) {
            errno = 0;
            ok = gzwrite(gz, p, (unsigned)n) == (int)n;
            err = errno;
        } else {
            err = gm__data_write_all(fd, p, n);
            ok = err == 0;
        }
    }
    if (gz) {
        errno = 0;
        int zc = gzclose_w(gz);
        if (ok && zc != Z_OK) {
            ok = 0;
            err = errno;
        }
    }
    GM_RETURN_ERROR_IF(!ok, GM_ERR_IO, "idx file '%s': write failed: %s", tmp,
                       strerror(err ? err : EIO));
    return GM_OK;
}

gm_status gm_idx_write(const char *path, const gm_array *a, bool gzip) {
    GM_RETURN_ERROR_IF(!path || !a, GM_ERR_INVALID_ARG, "gm_idx_write: NULL argument");
    idx_write_ctx c = {.path = path, .a = a, .gzip = gzip};
    unsigned char type;
    switch (a->dtype) {
    case GM_DTYPE_U8: type = 0x08; break;
    case GM_DTYPE_I32: type = 0x0C; break;
    case GM_DTYPE_F32: type = 0x0D; break;
    case GM_DTYPE_F64: type = 0x0E; break;
    case GM_DTYPE_I64:
        return gm_error_set(GM_ERR_UNSUPPORTED,
                            "idx file '%s': IDX has no 64-bit integer type (dtype '%s')", path,
                            gm_dtype_descr(a->dtype));
    default:
        return gm_error_set(GM_ERR_INVALID_ARG, "idx file '%s': unknown dtype %d", path,
                            (int)a->dtype);
    }
    GM_RETURN_ERROR_IF(a->ndim < 0 || a->ndim > GM_ARRAY_MAX_DIMS, GM_ERR_INVALID_ARG,
                       "idx file '%s': ndim %d outside 0..%d", path, a->ndim,
                       GM_ARRAY_MAX_DIMS);
    c.itemsize = gm_dtype_size(a->dtype);
    c.numel = gm_array_numel(a);
    int64_t nbytes = 0;
    GM_RETURN_ERROR_IF(c.numel < 0 ||
                           gm_mul_overflow_i64(c.numel, (int64_t)c.itemsize, &nbytes) != 0,
                       GM_ERR_INVALID_ARG,
                       "idx file '%s': negative dimension or size overflow in the shape", path);
    GM_RETURN_ERROR_IF(nbytes > 0 && !a->data, GM_ERR_INVALID_ARG,
                       "idx file '%s': array data is NULL", path);
    c.hdr[0] = 0;
    c.hdr[1] = 0;
    c.hdr[2] = type;
    c.hdr[3] = (unsigned char)a->ndim;
    for (int d = 0; d < a->ndim; d++) {
        GM_RETURN_ERROR_IF(a->shape[d] > (int64_t)UINT32_MAX, GM_ERR_INVALID_ARG,
                           "idx file '%s': dimension %d (%lld) exceeds the IDX limit of "
                           "2^32 - 1",
                           path, d + 1, (long long)a->shape[d]);
        uint32_t v = (uint32_t)a->shape[d];
        for (int b = 0; b < 4; b++) c.hdr[4 + 4 * d + b] = (unsigned char)(v >> (24 - 8 * b));
    }
    c.hdr_len = 4 + 4 * (size_t)a->ndim;
    return gm__data_write_atomic("idx", path, idx_write_body, &c);
}
