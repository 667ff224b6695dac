/* The safetensors writer: checks the tensors and metadata, builds the
 * header by hand (its bytes are fixed: the same tensors always give the same
 * file) and writes the file atomically (gm__data_write_atomic). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "io/safetensors_internal.h"

/* ---- writing: the header ------------------------------------------------- */

typedef struct st_buf {
    char *p;
    size_t len, cap;
    bool oom;
} st_buf;

static void st_buf_put(st_buf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *q = gm_realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void st_buf_puts(st_buf *b, const char *s) { st_buf_put(b, s, strlen(s)); }

static void st_buf_i64(st_buf *b, int64_t v) {
    char tmp[32];
    int w = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    st_buf_put(b, tmp, (size_t)w);
}

/* A JSON string literal; the input is valid UTF-8, so only quotes,
 * backslashes and control characters need escapes. */
static void st_buf_json_str(st_buf *b, const char *s) {
    st_buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char esc[2] = {'\\', (char)*c};
            st_buf_put(b, esc, 2);
        } else if (*c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*c);
            st_buf_put(b, esc, 6);
        } else {
            st_buf_put(b, c, 1);
        }
    }
    st_buf_put(b, "\"", 1);
}

static gm_status st_check_text(const char *path, const char *what, const char *s) {
    GM_RETURN_ERROR_IF(!s, GM_ERR_INVALID_ARG, "safetensors '%s': %s is NULL", path, what);
    size_t bad = 0;
    GM_RETURN_ERROR_IF(!gm__st_utf8_valid((const unsigned char *)s, strlen(s), &bad),
                       GM_ERR_INVALID_ARG,
                       "safetensors '%s': %s '" GM__ST_NAME_FMT "' is not valid UTF-8 (byte %zu)",
                       path, what, s, bad);
    return GM_OK;
}

static gm_status st_check_entries(const char *path, int64_t n, const gm_st_entry *entries,
                                  int64_t *offsets) {
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        const gm_st_entry *e = &entries[i];
        GM_FORWARD_IF_ERROR(st_check_text(path, "tensor name", e->name));
        GM_RETURN_ERROR_IF(e->name[0] == '\0', GM_ERR_INVALID_ARG,
                           "safetensors '%s': tensor %lld has an empty name", path, (long long)i);
        GM_RETURN_ERROR_IF(strcmp(e->name, "__metadata__") == 0, GM_ERR_INVALID_ARG,
                           "safetensors '%s': '__metadata__' cannot name a tensor", path);
        GM_RETURN_ERROR_IF(!gm__st_dtype_name(e->dtype), GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT "': unknown dtype %d", path,
                           e->name, (int)e->dtype);
        GM_RETURN_ERROR_IF(e->ndim < 0 || e->ndim > GM_ST_MAX_DIMS, GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT "': ndim %d outside 0..%d",
                           path, e->name, e->ndim, GM_ST_MAX_DIMS);
        /* Readers keep JSON numbers in doubles, exact only below 2^53. */
        for (int d = 0; d < e->ndim; d++) {
            GM_RETURN_ERROR_IF(e->shape[d] >= ((int64_t)1 << 53), GM_ERR_INVALID_ARG,
                               "safetensors '%s' tensor '" GM__ST_NAME_FMT
                               "': dimension %lld is 2^53 or more",
                               path, e->name, (long long)e->shape[d]);
        }
        int64_t nbytes = gm__st_entry_nbytes(e);
        GM_RETURN_ERROR_IF(nbytes < 0 || nbytes > INT64_MAX - off, GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': negative dimension or size overflow in the shape",
                           path, e->name);
        GM_RETURN_ERROR_IF(nbytes > 0 && !e->data, GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT "': data is NULL", path,
                           e->name);
        offsets[i] = off;
        off += nbytes;
    }
    offsets[n] = off;
    return GM_OK;
}

/* Builds the padded JSON header into *hdr (gm_free it); offsets[0..n] are the
 * tensors' starts plus the total. */
static gm_status st_build_header(const char *path, int64_t n, const gm_st_entry *entries,
                                 const int64_t *offsets, int64_t nmeta,
                                 const char *const *keys, const char *const *values,
                                 st_buf *hdr) {
    st_buf_put(hdr, "{", 1);
    if (nmeta > 0) {
        st_buf_puts(hdr, "\"__metadata__\":{");
        for (int64_t i = 0; i < nmeta; i++) {
            if (i) st_buf_put(hdr, ",", 1);
            st_buf_json_str(hdr, keys[i]);
            st_buf_put(hdr, ":", 1);
            st_buf_json_str(hdr, values[i]);
        }
        st_buf_puts(hdr, "}");
    }
    for (int64_t i = 0; i < n; i++) {
        const gm_st_entry *e = &entries[i];
        if (i || nmeta > 0) st_buf_put(hdr, ",", 1);
        st_buf_json_str(hdr, e->name);
        st_buf_puts(hdr, ":{\"dtype\":\"");
        st_buf_puts(hdr, gm__st_dtype_name(e->dtype));
        st_buf_puts(hdr, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) st_buf_put(hdr, ",", 1);
            st_buf_i64(hdr, e->shape[d]);
        }
        st_buf_puts(hdr, "],\"data_offsets\":[");
        st_buf_i64(hdr, offsets[i]);
        st_buf_put(hdr, ",", 1);
        st_buf_i64(hdr, offsets[i + 1]);
        st_buf_puts(hdr, "]}");
    }
    st_buf_put(hdr, "}", 1);
    /* Readers that map the file can then view the first tensor, and every
     * tensor of a file whose sizes are multiples of 8, in place. */
    while (!hdr->oom && hdr->len % 8 != 0) st_buf_put(hdr, " ", 1);
    if (hdr->oom) return gm__nomem("safetensors header");
    GM_RETURN_ERROR_IF(hdr->len > GM_ST_MAX_HEADER_BYTES, GM_ERR_INVALID_ARG,
                       "safetensors '%s': header of %zu bytes exceeds the limit of %d that "
                       "readers accept",
                       path, hdr->len, GM_ST_MAX_HEADER_BYTES);
    return GM_OK;
}

/* ---- writing ------------------------------------------------------------- */

static gm_status st_check_args(const char *path, int64_t n, const gm_st_entry *entries,
                               int64_t nmeta, const char *const *keys,
                               const char *const *values) {
    GM_RETURN_ERROR_IF(!path, GM_ERR_INVALID_ARG, "gm_safetensors_write: path is NULL");
    GM_RETURN_ERROR_IF(n < 0 || nmeta < 0, GM_ERR_INVALID_ARG,
                       "safetensors '%s': negative tensor or metadata count", path);
    GM_RETURN_ERROR_IF(n > 0 && !entries, GM_ERR_INVALID_ARG,
                       "safetensors '%s': entries is NULL", path);
    GM_RETURN_ERROR_IF(nmeta > 0 && (!keys || !values), GM_ERR_INVALID_ARG,
                       "safetensors '%s': metadata keys or values are NULL", path);
    GM_RETURN_ERROR_IF((uint64_t)n > SIZE_MAX / sizeof(int64_t) - 1 ||
                           (uint64_t)nmeta > SIZE_MAX / sizeof(char *),
                       GM_ERR_INVALID_ARG, "safetensors '%s': too many entries", path);
    for (int64_t i = 0; i < nmeta; i++) {
        GM_FORWARD_IF_ERROR(st_check_text(path, "metadata key", keys[i]));
        GM_FORWARD_IF_ERROR(st_check_text(path, "metadata value", values[i]));
    }
    return GM_OK;
}

static gm_status st_check_unique(const char *path, int64_t n, const gm_st_entry *entries,
                                 int64_t nmeta, const char *const *keys) {
    const char *dup = NULL;
    if (n > 1) {
        const char **names = gm_malloc_array((size_t)n, sizeof *names);
        if (!names) return gm__nomem("safetensors name list");
        for (int64_t i = 0; i < n; i++) names[i] = entries[i].name;
        gm_status st = gm__st_find_duplicate(names, (size_t)n, &dup);
        gm_free(names);
        GM_FORWARD_IF_ERROR(st);
        GM_RETURN_ERROR_IF(dup, GM_ERR_INVALID_ARG,
                           "safetensors '%s': tensor name '" GM__ST_NAME_FMT "' is used twice",
                           path, dup);
    }
    GM_FORWARD_IF_ERROR(gm__st_find_duplicate(keys, (size_t)nmeta, &dup));
    GM_RETURN_ERROR_IF(dup, GM_ERR_INVALID_ARG,
                       "safetensors '%s': metadata key '" GM__ST_NAME_FMT "' is used twice", path,
                       dup);
    return GM_OK;
}

/* The file's bytes: the header's size, the header, the tensors' data. */
typedef struct st_write_ctx {
    const char *path;
    const st_buf *hdr;
    int64_t n;
    const gm_st_entry *entries;
    const int64_t *offsets;
} st_write_ctx;

static gm_status st_write_body(int fd, const char *tmp, void *ctx) {
    (void)tmp;
    const st_write_ctx *c = ctx;
    unsigned char size_le[8];
    for (int k = 0; k < 8; k++) size_le[k] = (unsigned char)((uint64_t)c->hdr->len >> (8 * k));
    int err = gm__data_write_all(fd, size_le, sizeof size_le);
    if (!err) err = gm__data_write_all(fd, c->hdr->p, c->hdr->len);
    for (int64_t i = 0; !err && i < c->n; i++) {
        err = gm__data_write_all(fd, c->entries[i].data,
                                 (size_t)(c->offsets[i + 1] - c->offsets[i]));
    }
    GM_RETURN_ERROR_IF(err, GM_ERR_IO, "safetensors '%s': write failed: %s", c->path,
                       strerror(err));
    return GM_OK;
}

gm_status gm_safetensors_write(const char *path, int64_t n, const gm_st_entry *entries,
                               int64_t nmeta, const char *const *meta_keys,
                               const char *const *meta_values) {
    GM_FORWARD_IF_ERROR(st_check_args(path, n, entries, nmeta, meta_keys, meta_values));
    int64_t *offsets = gm_malloc_array((size_t)n + 1, sizeof *offsets);
    if (!offsets) return gm__nomem("safetensors offsets");
    st_buf hdr = {0};
    gm_status st = st_check_entries(path, n, entries, offsets);
    if (st == GM_OK) st = st_check_unique(path, n, entries, nmeta, meta_keys);
    if (st == GM_OK)
        st = st_build_header(path, n, entries, offsets, nmeta, meta_keys, meta_values, &hdr);
    if (st == GM_OK) {
        st_write_ctx ctx = {.path = path, .hdr = &hdr, .n = n, .entries = entries,
                            .offsets = offsets};
        st = gm__data_write_atomic("safetensors", path, st_write_body, &ctx);
    }
    gm_free(hdr.p);
    gm_free(offsets);
    return st;
}
