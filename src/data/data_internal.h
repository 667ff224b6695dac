/* Private helpers of the data module: atomic file replacement
 * (write_atomic.c), the flags of the JSON readers, and a byte source that
 * reads plain or gzip-compressed files alike (idx.c). */
#ifndef GMCNN_DATA_INTERNAL_H
#define GMCNN_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zlib.h>

#include "core/core_internal.h"
#include "gmcnn/data.h"

/* ---- atomic writes (write_atomic.c) -------------------------------------- */

/* Writes the whole file to `fd` (the temporary named `tmp`); must not close
 * fd. Returns GM_OK or an error with its detail set. */
typedef gm_status (*gm__data_writer)(int fd, const char *tmp, void *ctx);

/* Replaces `path` atomically, for every file the library writes: creates
 * "<path>.tmp.XXXXXX" (a training run's cleanup looks for that pattern) with
 * the mode an ordinary create would give, calls `write`, fsyncs, renames it
 * over `path`; on failure removes the temporary and leaves `path` untouched.
 * `kind` names the format in details ("npy", "safetensors") and the fail
 * point "<kind>.rename" between the fsync and the rename (core_internal.h).
 * GM_OK, GM_ERR_IO, GM_ERR_NOMEM or whatever `write` returns. */
gm_status gm__data_write_atomic(const char *kind, const char *path, gm__data_writer write,
                                void *ctx);

/* gm__data_write_atomic of len bytes of text; a failed write is named
 * "<label> '<temporary>': write failed: ..." (label e.g. "config"). */
gm_status gm__data_write_text_atomic(const char *kind, const char *label, const char *path,
                                     const char *text, size_t len);

/* write(2) until all n bytes are out; 0, or the errno of the failure. */
int gm__data_write_all(int fd, const void *buf, size_t n);

/* ---- JSON ---------------------------------------------------------------- */

/* The jansson flags of every JSON reader of the library: the leading value of
 * the text, of any type (what follows it is not read); numbers as doubles,
 * which the readers check against their ranges; \u0000 kept (a string ends
 * there for C); and a key given twice is an error, not a silent choice. */
#define GM__JSON_READ_FLAGS                                                              \
    (JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL | \
     JSON_REJECT_DUPLICATES)

/* ---- byte sources (idx.c) ------------------------------------------------ */

/* Streams of unknown length (gzip, pipes) are never trusted with more than
 * this many bytes: a forged header cannot make a reader allocate beyond it. */
#define GM__SRC_STREAM_CAP ((int64_t)1 << 32)

/* A file opened through zlib, which passes bytes that do not start with the
 * gzip magic through unchanged, so compression is recognised by content. */
typedef struct gm__src {
    const char *kind; /* "idx", "norb", ... for details */
    const char *path;
    gzFile gz;
    int gzipped;  /* known after the first read */
    int64_t size; /* content bytes when known up front (plain regular file), else -1 */
    int64_t pos;  /* content bytes consumed */
} gm__src;

/* Opens `path`; GM_ERR_IO when it cannot be opened or is a directory. The
 * strings must outlive the source. */
gm_status gm__src_open(gm__src *s, const char *kind, const char *path);
void gm__src_close(gm__src *s);

/* Records "<kind> file '<path>' at byte <at>: <message>" ("at uncompressed
 * byte" for gzip content) and returns `status`. */
gm_status gm__src_fail(const gm__src *s, gm_status status, int64_t at, const char *fmt, ...)
    GM_PRINTF(4, 5);

/* Reads up to n bytes; *got == 0 only at the end. A read error is GM_ERR_IO,
 * a corrupt or truncated gzip stream GM_ERR_FORMAT. */
gm_status gm__src_read_some(gm__src *s, void *buf, size_t n, size_t *got);
/* Reads exactly n bytes; the end of the file first is GM_ERR_FORMAT naming
 * `what` and the offset. */
gm_status gm__src_read_exact(gm__src *s, void *buf, size_t n, const char *what);
/* Reads exactly nbytes more into a new buffer (*out, gm_free it) and checks
 * that the file ends there. When the size is known, truncation and trailing
 * bytes are reported before anything is allocated; otherwise the buffer grows
 * with the bytes actually present, and nbytes above GM__SRC_STREAM_CAP is
 * GM_ERR_TOO_LARGE. */
gm_status gm__src_read_alloc(gm__src *s, int64_t nbytes, const char *what, void **out);
/* Reads everything left (at most `cap` bytes, else GM_ERR_TOO_LARGE) into a
 * new buffer with one extra NUL byte after it. */
gm_status gm__src_read_rest(gm__src *s, int64_t cap, char **out, int64_t *len);

/* ---- element decoding (idx.c) -------------------------------------------- */

/* Element encodings found in files. Signed 8- and 16-bit integers are
 * widened to int32 since gm_dtype has no narrower signed type. */
typedef enum gm__elem {
    GM__ELEM_U8,
    GM__ELEM_I8,
    GM__ELEM_I16,
    GM__ELEM_I32,
    GM__ELEM_F32,
    GM__ELEM_F64
} gm__elem;

size_t gm__elem_size(gm__elem e);
gm_dtype gm__elem_dtype(gm__elem e);

/* Converts n elements stored with `big_endian` byte order at src into host
 * values of gm__elem_dtype(e) at dst. dst may equal src when the element and
 * the dtype have the same size; otherwise they must not overlap. */
void gm__elem_decode(gm__elem e, int big_endian, const uint8_t *src, void *dst, int64_t n);

/* Reads a complete array body of `numel` elements encoded as `e` into out->data
 * (out->dtype is set; out->ndim/shape are the caller's), then requires the
 * end of the file. `shape_str` describes the shape for messages. */
gm_status gm__src_read_elems(gm__src *s, gm__elem e, int big_endian, int64_t numel,
                             const char *shape_str, gm_array *out);

/* The element block of a shaped array whose header (header_bytes long) set
 * out->ndim and out->shape: checks the size for overflow, then reads numel
 * elements (errors name the shape). */
gm_status gm__src_read_shaped(gm__src *s, gm__elem e, int big_endian, int64_t header_bytes,
                              gm_array *out);

/* Opens `path` as a source of `kind`, runs `body` on it, closes it; on error
 * *out is freed and zeroed. */
gm_status gm__src_read_array(const char *kind, const char *path,
                             gm_status (*body)(gm__src *s, gm_array *out), gm_array *out);

/* "(3, 4)"-style shape for messages. */
void gm__data_format_shape(int ndim, const int64_t *shape, char *buf, size_t cap);

#endif /* GMCNN_DATA_INTERNAL_H */
