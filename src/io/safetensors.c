/* safetensors files: an atomic writer, a strict reader that validates every
 * byte before trusting it, and model save/load by parameter name.
 *
 * jansson parses the header, after a lexical pass that fixes where errors
 * are reported and sets aside what JSON allows but safetensors does not
 * (control characters, \u0000, numbers that are not plain integers), which
 * is rejected after the parse. Header numbers are doubles, so shapes and
 * offsets are limited to integers below 2^53. The header is written by hand
 * because its bytes are fixed: the same tensors always give the same file. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/io.h"

/* Elements are copied between file and memory unchanged, which is only right
 * when the host stores them little-endian like the files do. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gmcnn's safetensors support requires a little-endian host"
#endif
#endif

/* Names inside details are clipped so a forged name cannot crowd out the
 * rest of the message. */
#define ST_NAME_FMT "%.200s"

/* ---- dtypes -------------------------------------------------------------- */

static const char *st_dtype_name(gm_dtype d) {
    switch (d) {
    case GM_DTYPE_F32: return "F32";
    case GM_DTYPE_F64: return "F64";
    case GM_DTYPE_U8: return "U8";
    case GM_DTYPE_I32: return "I32";
    case GM_DTYPE_I64: return "I64";
    }
    return NULL;
}

/* 1 and *out set for a dtype gmcnn reads; 0 for one that safetensors defines
 * but gmcnn does not; -1 for a string that is no safetensors dtype. */
static int st_dtype_parse(const char *s, gm_dtype *out) {
    static const gm_dtype ours[] = {GM_DTYPE_F32, GM_DTYPE_F64, GM_DTYPE_U8, GM_DTYPE_I32,
                                    GM_DTYPE_I64};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        if (strcmp(s, st_dtype_name(ours[i])) == 0) {
            *out = ours[i];
            return 1;
        }
    }
    static const char *const theirs[] = {"BOOL", "I8",      "I16",     "U16",      "U32",
                                         "U64",  "F16",     "BF16",    "F8_E4M3",  "F8_E5M2",
                                         "C64",  "F8_E8M0", "F4",      "F6_E2M3",  "F6_E3M2"};
    for (size_t i = 0; i < sizeof theirs / sizeof theirs[0]; i++) {
        if (strcmp(s, theirs[i]) == 0) return 0;
    }
    return -1;
}

int64_t gm_st_entry_numel(const gm_st_entry *e) {
    if (!e || e->ndim < 0 || e->ndim > GM_ST_MAX_DIMS) return -1;
    int64_t n = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0 || gm_mul_overflow_i64(n, e->shape[d], &n) != 0) return -1;
    }
    return n;
}

/* Byte size of an entry, or -1 when its numel or byte count overflows. */
static int64_t st_entry_nbytes(const gm_st_entry *e) {
    int64_t numel = gm_st_entry_numel(e), nbytes = 0;
    if (numel < 0 || gm_mul_overflow_i64(numel, (int64_t)gm_dtype_size(e->dtype), &nbytes) != 0)
        return -1;
    return nbytes;
}

static void st_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    int w = snprintf(buf, size, "(");
    for (int d = 0; d < ndim && w >= 0; d++) {
        used += (size_t)w;
        if (used >= size) return;
        w = snprintf(buf + used, size - used, d ? ", %lld" : "%lld", (long long)shape[d]);
    }
    if (w < 0) return;
    used += (size_t)w;
    if (used < size) snprintf(buf + used, size - used, ")");
}

gm_st_entry gm_st_entry_tensor(const char *name, const gm_tensor *t) {
    gm_st_entry e = {.name = name, .dtype = sizeof(gm_real) == 8 ? GM_DTYPE_F64 : GM_DTYPE_F32};
    if (!t) return e;
    e.ndim = t->ndim;
    for (int d = 0; d < t->ndim && d < GM_ST_MAX_DIMS; d++) e.shape[d] = t->shape[d];
    e.data = t->data;
    return e;
}

/* ---- small helpers ------------------------------------------------------- */

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * without NUL bytes. Returns true, or false with the offending offset. */
static bool st_utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0) {
            *bad = i;
            return false;
        } else if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            *bad = i;
            return false;
        }
        if (n - i <= k) {
            *bad = i;
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            unsigned b = s[i + j];
            unsigned l = j == 1 ? lo : 0x80, h = j == 1 ? hi : 0xbf;
            if (b < l || b > h) {
                *bad = i;
                return false;
            }
        }
        i += k + 1;
    }
    return true;
}

static int st_cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a string that occurs twice among strs[0..n). Returns GM_OK with *dup
 * NULL when all differ, the duplicate otherwise; GM_ERR_NOMEM. */
static gm_status st_find_duplicate(const char *const *strs, size_t n, const char **dup) {
    *dup = NULL;
    if (n < 2) return GM_OK;
    const char **sorted = gm_malloc_array(n, sizeof *sorted);
    if (!sorted) return gm__nomem("safetensors name list");
    memcpy(sorted, strs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, st_cmp_str_ptr);
    for (size_t i = 1; i < n && !*dup; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) *dup = sorted[i];
    }
    gm_free(sorted);
    return GM_OK;
}

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
    GM_RETURN_ERROR_IF(!st_utf8_valid((const unsigned char *)s, strlen(s), &bad),
                       GM_ERR_INVALID_ARG,
                       "safetensors '%s': %s '" ST_NAME_FMT "' is not valid UTF-8 (byte %zu)",
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
        GM_RETURN_ERROR_IF(!st_dtype_name(e->dtype), GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" ST_NAME_FMT "': unknown dtype %d", path,
                           e->name, (int)e->dtype);
        GM_RETURN_ERROR_IF(e->ndim < 0 || e->ndim > GM_ST_MAX_DIMS, GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" ST_NAME_FMT "': ndim %d outside 0..%d",
                           path, e->name, e->ndim, GM_ST_MAX_DIMS);
        /* Readers keep JSON numbers in doubles, exact only below 2^53. */
        for (int d = 0; d < e->ndim; d++) {
            GM_RETURN_ERROR_IF(e->shape[d] >= ((int64_t)1 << 53), GM_ERR_INVALID_ARG,
                               "safetensors '%s' tensor '" ST_NAME_FMT
                               "': dimension %lld is 2^53 or more",
                               path, e->name, (long long)e->shape[d]);
        }
        int64_t nbytes = st_entry_nbytes(e);
        GM_RETURN_ERROR_IF(nbytes < 0 || nbytes > INT64_MAX - off, GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': negative dimension or size overflow in the shape",
                           path, e->name);
        GM_RETURN_ERROR_IF(nbytes > 0 && !e->data, GM_ERR_INVALID_ARG,
                           "safetensors '%s' tensor '" ST_NAME_FMT "': data is NULL", path,
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
        st_buf_puts(hdr, st_dtype_name(e->dtype));
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
        gm_status st = st_find_duplicate(names, (size_t)n, &dup);
        gm_free(names);
        GM_FORWARD_IF_ERROR(st);
        GM_RETURN_ERROR_IF(dup, GM_ERR_INVALID_ARG,
                           "safetensors '%s': tensor name '" ST_NAME_FMT "' is used twice", path,
                           dup);
    }
    GM_FORWARD_IF_ERROR(st_find_duplicate(keys, (size_t)nmeta, &dup));
    GM_RETURN_ERROR_IF(dup, GM_ERR_INVALID_ARG,
                       "safetensors '%s': metadata key '" ST_NAME_FMT "' is used twice", path,
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

/* ---- reading: the object ------------------------------------------------- */

typedef struct st_item {
    gm_st_entry e;
    char *name;
    uint64_t begin, end;
} st_item;

struct gm_safetensors {
    int64_t n;
    st_item *items;
    int64_t nmeta;
    char **meta; /* key, value, key, value, ... */
    unsigned char *data;
};

void gm_safetensors_free(gm_safetensors *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n; i++) gm_free(st->items[i].name);
    for (int64_t i = 0; i < 2 * st->nmeta; i++) gm_free(st->meta[i]);
    gm_free(st->items);
    gm_free(st->meta);
    gm_free(st->data);
    gm_free(st);
}

int64_t gm_safetensors_count(const gm_safetensors *st) { return st ? st->n : 0; }

const gm_st_entry *gm_safetensors_entry(const gm_safetensors *st, int64_t i) {
    if (!st || i < 0 || i >= st->n) return NULL;
    return &st->items[i].e;
}

const char *gm_safetensors_name(const gm_safetensors *st, int64_t i) {
    const gm_st_entry *e = gm_safetensors_entry(st, i);
    return e ? e->name : NULL;
}

int64_t gm_safetensors_find(const gm_safetensors *st, const char *name) {
    if (!st || !name) return -1;
    for (int64_t i = 0; i < st->n; i++) {
        if (strcmp(st->items[i].name, name) == 0) return i;
    }
    return -1;
}

int64_t gm_safetensors_meta_count(const gm_safetensors *st) { return st ? st->nmeta : 0; }

bool gm_safetensors_meta_at(const gm_safetensors *st, int64_t i, const char **key,
                            const char **value) {
    if (!st || i < 0 || i >= st->nmeta) return false;
    if (key) *key = st->meta[2 * i];
    if (value) *value = st->meta[2 * i + 1];
    return true;
}

const char *gm_safetensors_meta_get(const gm_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int64_t i = 0; i < st->nmeta; i++) {
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    }
    return NULL;
}

/* ---- reading: the header's JSON ------------------------------------------ */

/* Header numbers are read as doubles, exact only below 2^53, so larger shapes
 * and offsets are refused rather than read rounded. */
#define ST_MAX_JSON_INT 9007199254740992.0

/* Nesting deeper than this is a syntax error at the opening bracket. */
#define ST_MAX_DEPTH 1000

static gm_status st_fail_at(const char *path, size_t pos, const char *fmt, ...) GM_PRINTF(3, 4);

/* An error at a header offset; file offsets count the 8-byte size. */
static gm_status st_fail_at(const char *path, size_t pos, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gm_error_set(GM_ERR_FORMAT, "safetensors '%s' at byte %zu: %s", path, pos + 8, msg);
}

static bool st_is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool st_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool st_is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
/* The characters a number is made of. */
static bool st_is_numeric(unsigned char c) {
    return st_is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

static int st_hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s, or 0 when one of them is not a hex digit. */
static unsigned st_hex4(const unsigned char *s) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        const int h = st_hex_digit(s[k]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    return v;
}

/* The reader's rules for the JSON of a header, beyond the grammar that
 * jansson checks:
 *
 * - A syntax error is reported at the byte where the offending token starts;
 *   in a string at the escape that is wrong (a \u escape needs its four
 *   characters, and a surrogate its partner, before the closing quote); in a
 *   string that never closes just after its opening quote; at the end of the
 *   header at its last byte. Nesting deeper than ST_MAX_DEPTH is an error at
 *   the opening bracket. A number is the longest prefix of its run of
 *   characters from "0123456789+-.eE" that strtod reads; the rest of the run
 *   is a syntax error.
 * - Lexemes that are not what a header may hold are reported after the
 *   parse, so that a syntax error anywhere comes first: control characters
 *   (between tokens too), \u escapes with bad hex digits or for U+0000, and
 *   numbers other than plain non-negative integers ("01", "1.0", "4e0",
 *   "-0", "1."). For the parse they count as whitespace, a string and the
 *   number 0.
 *
 * st_lex_scan applies them to the header: `text` is what jansson parses,
 * cut short (and ended by a token that keeps its place in the grammar) at
 * the first lexeme that fails, whose error is then at `cut_at`. */
typedef enum st_fault {
    ST_FAULT_NONE,
    ST_FAULT_CONTROL_IN_STRING,
    ST_FAULT_HEX_ESCAPE,
    ST_FAULT_NUL_ESCAPE,
    ST_FAULT_NEGATIVE,
    ST_FAULT_NOT_INTEGER,
    ST_FAULT_LEADING_ZERO,
    ST_FAULT_CONTROL_OUTSIDE
} st_fault;

typedef struct st_lex {
    char *text; /* what jansson parses (gm_free it) */
    size_t len;
    bool cut;      /* text stops at a lexeme that fails */
    size_t cut_at; /* its error's offset in the header */
    st_fault fault; /* the first lexeme a header may not hold */
    size_t fault_at;
    unsigned char fault_byte;
} st_lex;

static void st_lex_fault(st_lex *lx, st_fault f, size_t at, unsigned char byte) {
    if (lx->fault != ST_FAULT_NONE) return;
    lx->fault = f;
    lx->fault_at = at;
    lx->fault_byte = byte;
}

/* Where the escapes of the string s[b..e) (between its quotes) fail, or
 * SIZE_MAX. A \u escape with bad hex digits passes here (as U+0000); the
 * lexeme check rejects it. */
static size_t st_string_error(const unsigned char *s, size_t b, size_t e) {
    for (size_t p = b; p < e;) {
        if (s[p] != '\\') {
            p++;
            continue;
        }
        const unsigned char c = s[p + 1];
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
            c == 't') {
            p += 2;
            continue;
        }
        if (c != 'u' || e - p < 6) return p;
        const unsigned hi = st_hex4(s + p + 2);
        if (hi >= 0xdc00 && hi <= 0xdfff) return p;
        if (hi >= 0xd800 && hi <= 0xdbff) {
            if (e - p < 12 || s[p + 6] != '\\' || s[p + 7] != 'u') return p;
            const unsigned lo = st_hex4(s + p + 8);
            if (lo < 0xdc00 || lo > 0xdfff) return p;
            p += 12;
        } else {
            p += 6;
        }
    }
    return SIZE_MAX;
}

/* Records the first lexeme fault of the string s[b..e); true when it has one. */
static bool st_string_fault(st_lex *lx, const unsigned char *s, size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
        if (s[i] < 0x20) {
            st_lex_fault(lx, ST_FAULT_CONTROL_IN_STRING, i, s[i]);
            return true;
        }
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u') {
            unsigned cp = 0;
            for (size_t k = i + 2; k < i + 6; k++) {
                const int h = st_hex_digit(s[k]);
                if (h < 0) {
                    st_lex_fault(lx, ST_FAULT_HEX_ESCAPE, i, 0);
                    return true;
                }
                cp = cp * 16 + (unsigned)h;
            }
            if (cp == 0) {
                st_lex_fault(lx, ST_FAULT_NUL_ESCAPE, i, 0);
                return true;
            }
        }
        i++;
    }
    return false;
}

/* Ends lx->text at `at` with `tail` (a token that stands where the failing
 * lexeme stood), the error lying at `err`. */
static void st_lex_cut(st_lex *lx, size_t at, const char *tail, size_t err) {
    const size_t k = strlen(tail);
    memcpy(lx->text + at, tail, k);
    lx->len = at + k;
    lx->cut = true;
    lx->cut_at = err;
}

/* Applies the rules above to the header s[0..n), valid UTF-8 without NUL
 * bytes. */
static gm_status st_lex_scan(const unsigned char *s, size_t n, st_lex *lx) {
    *lx = (st_lex){.text = gm_malloc(n + 2), .len = n};
    if (!lx->text) return gm__nomem("safetensors header");
    memcpy(lx->text, s, n);
    size_t depth = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
            if (j >= n) {
                st_lex_cut(lx, i, "\"\"", i + 1);
                return GM_OK;
            }
            const size_t bad = st_string_error(s, i + 1, j);
            if (bad != SIZE_MAX) {
                st_lex_cut(lx, i, "\"\"", bad);
                return GM_OK;
            }
            if (st_string_fault(lx, s, i + 1, j)) memset(lx->text + i + 1, 'x', j - i - 1);
            i = j + 1;
        } else if (c == '-' || st_is_digit(c)) {
            size_t r = i;
            while (r < n && st_is_numeric(s[r])) r++;
            /* strtod reads the number from a copy of the run, which may not
             * be all number. */
            char small[64], *num = r - i < sizeof small ? small : gm_malloc(r - i + 1);
            if (!num) {
                gm_free(lx->text);
                lx->text = NULL;
                return gm__nomem("safetensors header number");
            }
            memcpy(num, s + i, r - i);
            num[r - i] = '\0';
            char *end = num;
            const double value = strtod(num, &end);
            const size_t used = (size_t)(end - num);
            if (num != small) gm_free(num);
            if (used == 0 || used < r - i) {
                st_lex_cut(lx, i, "0", i + used);
                return GM_OK;
            }
            bool integral = true;
            for (size_t k = i; k < r; k++) integral = integral && st_is_digit(s[k]);
            const st_fault f = c == '-'                  ? ST_FAULT_NEGATIVE
                               : !integral               ? ST_FAULT_NOT_INTEGER
                               : c == '0' && r - i > 1 ? ST_FAULT_LEADING_ZERO
                                                         : ST_FAULT_NONE;
            if (f != ST_FAULT_NONE) {
                st_lex_fault(lx, f, i, 0);
                lx->text[i] = '0';
                memset(lx->text + i + 1, ' ', r - i - 1);
            } else if (isinf(value)) {
                /* Too large for a double, and so for a header (jansson
                 * refuses it): 2^53 stands in. */
                static const char big[] = "9007199254740992";
                memcpy(lx->text + i, big, sizeof big - 1);
                memset(lx->text + i + sizeof big - 1, ' ', r - i - (sizeof big - 1));
            }
            i = r;
        } else if (st_is_alpha(c)) {
            size_t r = i;
            while (r < n && st_is_alpha(s[r])) r++;
            size_t lit = 0;
            if (n - i >= 4 && (!memcmp(s + i, "null", 4) || !memcmp(s + i, "true", 4))) lit = 4;
            if (n - i >= 5 && !memcmp(s + i, "false", 5)) lit = 5;
            if (lit && r > i + lit) {
                st_lex_cut(lx, i + lit, "", i + lit);
                return GM_OK;
            }
            i = r;
        } else {
            if (c == '{' || c == '[') {
                if (++depth > ST_MAX_DEPTH) {
                    const char bracket[2] = {(char)c, '\0'};
                    st_lex_cut(lx, i, bracket, i);
                    return GM_OK;
                }
            } else if ((c == '}' || c == ']') && depth > 0) {
                depth--;
            } else if (c < 0x20 && !st_is_ws(c)) {
                st_lex_fault(lx, ST_FAULT_CONTROL_OUTSIDE, i, c);
                lx->text[i] = ' ';
            }
            i++;
        }
    }
    return GM_OK;
}

/* Where a syntax error that jansson reports just after the token of
 * text[0..len) ending at `end` lies: at the start of that token, or one byte
 * later when it stands where an object key belongs. */
static size_t st_syntax_error_at(const char *text, size_t len, size_t end) {
    const unsigned char *t = (const unsigned char *)text;
    unsigned char open[ST_MAX_DEPTH + 1]; /* the brackets around the token */
    size_t depth = 0;
    bool key_next = false;
    for (size_t i = 0; i < len;) {
        if (st_is_ws(t[i])) {
            i++;
            continue;
        }
        const size_t start = i++;
        const unsigned char c = t[start];
        if (c == '"') {
            while (i < len && t[i] != '"') i += t[i] == '\\' ? 2 : 1;
            i++;
        } else if (c == '-' || st_is_digit(c)) {
            while (i < len && st_is_digit(t[i])) i++;
        } else if (st_is_alpha(c)) {
            while (i < len && st_is_alpha(t[i])) i++;
        } else if (c >= 0xc0) {
            while (i < len && (t[i] & 0xc0) == 0x80) i++;
        }
        if (i >= end) return start + (key_next && c != '"');
        if (c == '{' || c == '[') {
            if (depth < sizeof open) open[depth] = c;
            depth++;
            key_next = c == '{';
        } else if (c == '}' || c == ']') {
            depth -= depth > 0;
            key_next = false;
        } else {
            key_next = c == ',' && depth > 0 && depth <= sizeof open && open[depth - 1] == '{';
        }
    }
    return end;
}

static gm_status st_lex_report(const char *path, const st_lex *lx) {
    const size_t at = lx->fault_at;
    switch (lx->fault) {
    case ST_FAULT_NONE: return GM_OK;
    case ST_FAULT_CONTROL_IN_STRING:
        return st_fail_at(path, at, "control character 0x%02x inside a string", lx->fault_byte);
    case ST_FAULT_HEX_ESCAPE: return st_fail_at(path, at, "invalid \\u escape in a string");
    case ST_FAULT_NUL_ESCAPE: return st_fail_at(path, at, "U+0000 inside a string");
    case ST_FAULT_NEGATIVE: return st_fail_at(path, at, "numbers must be non-negative integers");
    case ST_FAULT_NOT_INTEGER: return st_fail_at(path, at, "a number must be an integer");
    case ST_FAULT_LEADING_ZERO: return st_fail_at(path, at, "integer with a leading zero");
    case ST_FAULT_CONTROL_OUTSIDE:
        return st_fail_at(path, at, "control character 0x%02x outside a string", lx->fault_byte);
    }
    return GM_OK;
}

/* ---- reading: the header's members --------------------------------------- */

/* jansson keeps one value per key, so the members of the header and of its
 * objects are listed from the text, which has parsed: every duplicate is
 * seen (and reported) in its place. Values are decoded by jansson. */
typedef struct st_span {
    size_t b, e;
} st_span;

/* The end of the JSON value that starts at s[i]. */
static size_t st_skip_value(const unsigned char *s, size_t n, size_t i) {
    if (s[i] == '"') {
        for (i++; s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        return i + 1;
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        do {
            if (s[i] == '"') {
                i = st_skip_value(s, n, i);
                continue;
            }
            if (s[i] == '{' || s[i] == '[') depth++;
            if (s[i] == '}' || s[i] == ']') depth--;
            i++;
        } while (depth > 0);
        return i;
    }
    while (i < n && !st_is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']') i++;
    return i;
}

static size_t st_skip_ws(const unsigned char *s, size_t n, size_t i) {
    while (i < n && st_is_ws(s[i])) i++;
    return i;
}

/* The members of an object, in order: *pos starts at its '{'. */
static bool st_next_member(const unsigned char *s, size_t n, size_t *pos, st_span *key,
                           st_span *value) {
    if (s[*pos] == '}') return false;
    const size_t i = st_skip_ws(s, n, *pos + 1);
    if (s[i] == '}') {
        *pos = i;
        return false;
    }
    key->b = i;
    key->e = st_skip_value(s, n, i);
    value->b = st_skip_ws(s, n, st_skip_ws(s, n, key->e) + 1);
    value->e = st_skip_value(s, n, value->b);
    *pos = st_skip_ws(s, n, value->e); /* at the ',' or the '}' */
    return true;
}

static size_t st_count_members(const unsigned char *s, size_t n, size_t at) {
    size_t count = 0;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) count++;
    return count;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *q = gm_malloc(n);
    if (q) memcpy(q, s, n);
    return q;
}

/* The value s[span] as jansson reads it (numbers as doubles); NULL only when
 * memory runs out, since the text has parsed. */
static json_t *st_decode(const unsigned char *s, st_span span) {
    return json_loadb((const char *)s + span.b, span.e - span.b,
                      JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
}

/* The string s[span] into *out (gm_free it). */
static gm_status st_decode_string(const unsigned char *s, st_span span, char **out) {
    json_t *v = st_decode(s, span);
    *out = v ? st_strdup(json_string_value(v)) : NULL;
    json_decref(v);
    if (!*out) return gm__nomem("safetensors header string");
    return GM_OK;
}

/* A non-negative integer below 2^53 from a JSON number. */
static gm_status st_json_uint(const char *path, const char *name, const json_t *v,
                              const char *what, uint64_t *out) {
    GM_RETURN_ERROR_IF(!json_is_number(v), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': expected an integer (%s)",
                       path, name, what);
    double d = json_number_value(v);
    GM_RETURN_ERROR_IF(!(d >= 0), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT
                       "': %s must be a non-negative integer",
                       path, name, what);
    GM_RETURN_ERROR_IF(d >= ST_MAX_JSON_INT, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': %s is too large (2^53 or "
                       "more)",
                       path, name, what);
    GM_RETURN_ERROR_IF(d != (double)(int64_t)d, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': %s must be an integer", path,
                       name, what);
    *out = (uint64_t)d;
    return GM_OK;
}

/* The integers of the JSON array s[span] (member `key`) into
 * vals[0..*count); more than max values sets *count to max + 1 after
 * checking them all. */
static gm_status st_json_uint_array(const char *path, const char *name, const unsigned char *s,
                                    st_span span, const char *key, const char *what,
                                    uint64_t *vals, int max, int *count) {
    *count = 0;
    json_t *arr = st_decode(s, span);
    if (!arr) return gm__nomem("safetensors header array");
    gm_status st = GM_OK;
    if (!json_is_array(arr)) {
        st = gm_error_set(GM_ERR_FORMAT,
                          "safetensors '%s' tensor '" ST_NAME_FMT "': %s is not an array", path,
                          name, key);
    }
    for (size_t i = 0; st == GM_OK && i < json_array_size(arr); i++) {
        uint64_t x = 0;
        st = st_json_uint(path, name, json_array_get(arr, i), what, &x);
        if (*count < max) vals[*count] = x;
        if (*count <= max) (*count)++;
    }
    json_decref(arr);
    return st;
}

static gm_status st_read_metadata(const char *path, const unsigned char *s, size_t n,
                                  st_span meta, gm_safetensors *st) {
    GM_RETURN_ERROR_IF(s[meta.b] != '{', GM_ERR_FORMAT,
                       "safetensors '%s': __metadata__ is not an object", path);
    const size_t count = st_count_members(s, n, meta.b);
    if (count == 0) return GM_OK;
    st->meta = gm_malloc_array(2 * count, sizeof *st->meta);
    if (!st->meta) return gm__nomem("safetensors metadata");
    size_t at = meta.b;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) {
        char *key = NULL;
        GM_FORWARD_IF_ERROR(st_decode_string(s, k, &key));
        json_t *value = st_decode(s, v);
        gm_status fail = GM_OK;
        if (!value) {
            fail = gm__nomem("safetensors metadata");
        } else if (!json_is_string(value)) {
            fail = gm_error_set(GM_ERR_FORMAT,
                                "safetensors '%s': __metadata__ value of '" ST_NAME_FMT
                                "' is not a string",
                                path, key);
        }
        char **pair = st->meta + 2 * st->nmeta;
        if (fail == GM_OK) {
            pair[0] = key;
            pair[1] = st_strdup(json_string_value(value));
            if (!pair[1]) fail = gm__nomem("safetensors metadata");
        }
        json_decref(value);
        if (fail != GM_OK) {
            gm_free(key);
            return fail;
        }
        st->nmeta++;
    }
    return GM_OK;
}

/* One tensor's {"dtype", "shape", "data_offsets"} (s[entry]) into it, which
 * already holds the name. */
static gm_status st_read_tensor(const char *path, const unsigned char *s, size_t n,
                                st_span entry, st_item *it) {
    const char *name = it->name;
    GM_RETURN_ERROR_IF(s[entry.b] != '{', GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': the tensor entry is not an "
                       "object",
                       path, name);
    st_span dtype = {0}, shape = {0}, offsets = {0};
    size_t at = entry.b;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) {
        char *key = NULL;
        GM_FORWARD_IF_ERROR(st_decode_string(s, k, &key));
        st_span *slot = strcmp(key, "dtype") == 0          ? &dtype
                        : strcmp(key, "shape") == 0        ? &shape
                        : strcmp(key, "data_offsets") == 0 ? &offsets
                                                           : NULL;
        if (!slot || slot->e) {
            const gm_status fail = gm_error_set(
                GM_ERR_FORMAT,
                "safetensors '%s' tensor '" ST_NAME_FMT "': %s key '" ST_NAME_FMT "'", path,
                name, slot ? "duplicate" : "unknown", key);
            gm_free(key);
            return fail;
        }
        gm_free(key);
        *slot = v;
    }
    const char *missing = !dtype.e     ? "dtype"
                          : !shape.e   ? "shape"
                          : !offsets.e ? "data_offsets"
                                       : NULL;
    GM_RETURN_ERROR_IF(missing, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': entry has no '%s'", path,
                       name, missing);

    GM_RETURN_ERROR_IF(s[dtype.b] != '"', GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': dtype is not a string", path,
                       name);
    char *dt = NULL;
    GM_FORWARD_IF_ERROR(st_decode_string(s, dtype, &dt));
    const int kind = st_dtype_parse(dt, &it->e.dtype);
    gm_status fail = GM_OK;
    if (kind < 0) {
        fail = gm_error_set(GM_ERR_FORMAT,
                            "safetensors '%s' tensor '" ST_NAME_FMT "': unknown dtype '%.40s'",
                            path, name, dt);
    } else if (kind == 0) {
        fail = gm_error_set(GM_ERR_UNSUPPORTED,
                            "safetensors '%s' tensor '" ST_NAME_FMT
                            "': dtype %.40s is not supported (F32, F64, I32, I64 and U8 are)",
                            path, name, dt);
    }
    gm_free(dt);
    GM_FORWARD_IF_ERROR(fail);

    uint64_t dims[GM_ST_MAX_DIMS];
    int nd = 0;
    GM_FORWARD_IF_ERROR(st_json_uint_array(path, name, s, shape, "shape", "a shape dimension",
                                           dims, GM_ST_MAX_DIMS, &nd));
    GM_RETURN_ERROR_IF(nd > GM_ST_MAX_DIMS, GM_ERR_UNSUPPORTED,
                       "safetensors '%s' tensor '" ST_NAME_FMT
                       "': more than %d dimensions are not supported",
                       path, name, GM_ST_MAX_DIMS);
    it->e.ndim = nd;
    for (int d = 0; d < nd; d++) it->e.shape[d] = (int64_t)dims[d];

    uint64_t offs[2] = {0, 0};
    int nv = 0;
    GM_FORWARD_IF_ERROR(st_json_uint_array(path, name, s, offsets, "data_offsets",
                                           "data_offsets", offs, 2, &nv));
    GM_RETURN_ERROR_IF(nv != 2, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT
                       "': data_offsets must hold two integers, not %s",
                       path, name, nv > 2 ? "more" : nv == 1 ? "one" : "none");
    it->begin = offs[0];
    it->end = offs[1];
    return GM_OK;
}

/* The members of the header object at s[root] in order. */
static gm_status st_read_members(const char *path, const unsigned char *s, size_t n,
                                 size_t root, gm_safetensors *st) {
    const size_t count = st_count_members(s, n, root);
    if (count > 0) {
        st->items = gm_malloc_array(count, sizeof *st->items);
        if (!st->items) return gm__nomem("safetensors tensor list");
    }
    bool have_meta = false;
    size_t at = root;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) {
        char *name = NULL;
        GM_FORWARD_IF_ERROR(st_decode_string(s, k, &name));
        if (strcmp(name, "__metadata__") == 0) {
            gm_free(name);
            GM_RETURN_ERROR_IF(have_meta, GM_ERR_FORMAT,
                               "safetensors '%s': __metadata__ appears twice", path);
            have_meta = true;
            GM_FORWARD_IF_ERROR(st_read_metadata(path, s, n, v, st));
            continue;
        }
        if (name[0] == '\0') {
            gm_free(name);
            return gm_error_set(GM_ERR_FORMAT, "safetensors '%s': empty tensor name", path);
        }
        st_item *it = &st->items[st->n++];
        *it = (st_item){.name = name};
        it->e.name = name;
        GM_FORWARD_IF_ERROR(st_read_tensor(path, s, n, v, it));
    }
    return GM_OK;
}

/* Parses hdr[0..len), which is valid UTF-8 without NUL bytes, into st. */
static gm_status st_parse_header(const char *path, const unsigned char *hdr, size_t len,
                                 gm_safetensors *st) {
    size_t i = 0;
    while (i < len && st_is_ws(hdr[i])) i++;
    if (i == len || hdr[i] != '{') return st_fail_at(path, i, "the header is not a JSON object");
    const size_t root = i;
    st_lex lx;
    GM_FORWARD_IF_ERROR(st_lex_scan(hdr, len, &lx));
    json_error_t err;
    json_t *parsed = json_loadb(lx.text, lx.len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_INT_AS_REAL,
                                &err);
    gm_status s = GM_OK;
    size_t stop = 0;
    if (!parsed && (!err.text[0] || json_error_code(&err) == json_error_out_of_memory)) {
        s = gm__nomem("safetensors header");
    } else if (!parsed) {
        size_t at = json_error_code(&err) == json_error_premature_end_of_input
                        ? (lx.cut ? lx.cut_at : len)
                        : st_syntax_error_at(lx.text, lx.len, (size_t)err.position);
        if (at >= len) at = len - 1; /* the end of the header is its last byte */
        s = st_fail_at(path, at, "the header is not valid JSON");
    } else {
        stop = (size_t)err.position;
        json_decref(parsed);
        for (i = stop; i < len && st_is_ws(hdr[i]); i++) {}
        if (i < len) {
            s = st_fail_at(path, i, "unexpected text after the header object");
        } else if (lx.fault != ST_FAULT_NONE && lx.fault_at < stop) {
            s = st_lex_report(path, &lx);
        } else {
            /* The lexed text, where a number too large for a double reads
             * as 2^53. */
            s = st_read_members(path, (const unsigned char *)lx.text, stop, root, st);
        }
    }
    gm_free(lx.text);
    return s;
}

/* ---- reading: validation and data ---------------------------------------- */

static int st_cmp_items(const void *a, const void *b) {
    const st_item *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static gm_status st_validate(const char *path, gm_safetensors *st, uint64_t data_len) {
    if (st->n > 0) {
        const char **names = gm_malloc_array((size_t)st->n, sizeof *names);
        if (!names) return gm__nomem("safetensors name list");
        for (int64_t i = 0; i < st->n; i++) names[i] = st->items[i].name;
        const char *dup = NULL;
        gm_status s = st_find_duplicate(names, (size_t)st->n, &dup);
        gm_free(names);
        GM_FORWARD_IF_ERROR(s);
        GM_RETURN_ERROR_IF(dup, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT "': name appears twice in "
                           "the header",
                           path, dup);
    }
    if (st->nmeta > 1) {
        const char **keys = gm_malloc_array((size_t)st->nmeta, sizeof *keys);
        if (!keys) return gm__nomem("safetensors metadata key list");
        for (int64_t i = 0; i < st->nmeta; i++) keys[i] = st->meta[2 * i];
        const char *dup = NULL;
        gm_status s = st_find_duplicate(keys, (size_t)st->nmeta, &dup);
        gm_free(keys);
        GM_FORWARD_IF_ERROR(s);
        GM_RETURN_ERROR_IF(dup, GM_ERR_FORMAT,
                           "safetensors '%s': __metadata__ key '" ST_NAME_FMT
                           "' appears twice",
                           path, dup);
    }
    for (int64_t i = 0; i < st->n; i++) {
        const st_item *it = &st->items[i];
        char shape[160];
        st_shape_str(it->e.ndim, it->e.shape, shape, sizeof shape);
        int64_t nbytes = st_entry_nbytes(&it->e);
        GM_RETURN_ERROR_IF(nbytes < 0, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT "': shape %s of %s overflows",
                           path, it->name, shape, st_dtype_name(it->e.dtype));
        GM_RETURN_ERROR_IF(it->begin > it->end, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': data_offsets [%llu, %llu) end before they begin",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end);
        GM_RETURN_ERROR_IF(it->end - it->begin != (uint64_t)nbytes, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': data_offsets [%llu, %llu) do not match %s %s = %lld bytes",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end, st_dtype_name(it->e.dtype), shape,
                           (long long)nbytes);
        GM_RETURN_ERROR_IF(it->end > data_len, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': data_offsets [%llu, %llu) run past the end of the data "
                           "(%llu bytes after the header; truncated file?)",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end, (unsigned long long)data_len);
    }
    if (st->n > 1) qsort(st->items, (size_t)st->n, sizeof *st->items, st_cmp_items);
    uint64_t expect = 0;
    for (int64_t i = 0; i < st->n; i++) {
        st_item *it = &st->items[i];
        it->e.name = it->name;
        GM_RETURN_ERROR_IF(it->begin < expect, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': data_offsets [%llu, %llu) overlap tensor '" ST_NAME_FMT "'",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end, st->items[i - 1].name);
        GM_RETURN_ERROR_IF(it->begin > expect, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': data_offsets [%llu, %llu) leave a gap of %llu unused bytes "
                           "before it",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end,
                           (unsigned long long)(it->begin - expect));
        expect = it->end;
    }
    GM_RETURN_ERROR_IF(expect != data_len, GM_ERR_FORMAT,
                       "safetensors '%s': %llu bytes after the data of the last tensor are not "
                       "covered by any tensor",
                       path, (unsigned long long)(data_len - expect));
    return GM_OK;
}

/* Reads exactly n bytes at the current position; a short read is GM_ERR_IO
 * for a read error and GM_ERR_FORMAT when the file ended (it shrank since
 * its size was taken). */
static gm_status st_read_exact(FILE *f, const char *path, void *buf, size_t n, uint64_t offset) {
    size_t got = n ? fread(buf, 1, n, f) : 0;
    if (got == n) return GM_OK;
    if (ferror(f)) {
        return gm_error_set(GM_ERR_IO, "safetensors '%s' at byte %llu: read error: %s", path,
                            (unsigned long long)offset, strerror(errno));
    }
    return gm_error_set(GM_ERR_FORMAT, "safetensors '%s' at byte %llu: file ends early", path,
                        (unsigned long long)(offset + got));
}

/* Points every entry at its data, moving the data so that each tensor starts
 * at a multiple of 8 when some other writer packed them tighter. */
static gm_status st_place_data(gm_safetensors *st) {
    bool aligned = true;
    for (int64_t i = 0; i < st->n; i++) aligned = aligned && st->items[i].begin % 8 == 0;
    if (!aligned) {
        size_t total = 0;
        for (int64_t i = 0; i < st->n; i++) {
            size_t len = (size_t)(st->items[i].end - st->items[i].begin);
            if (len > SIZE_MAX - total - 8) return gm__nomem("safetensors aligned data");
            total = (total + len + 7) / 8 * 8;
        }
        unsigned char *moved = gm_malloc(total);
        if (!moved) return gm__nomem("safetensors aligned data");
        size_t at = 0;
        for (int64_t i = 0; i < st->n; i++) {
            st_item *it = &st->items[i];
            size_t len = (size_t)(it->end - it->begin);
            if (len) memcpy(moved + at, st->data + it->begin, len);
            it->begin = at;
            it->end = at + len;
            at = (at + len + 7) / 8 * 8;
        }
        gm_free(st->data);
        st->data = moved;
    }
    for (int64_t i = 0; i < st->n; i++) st->items[i].e.data = st->data + st->items[i].begin;
    return GM_OK;
}

static gm_status st_read_stream(FILE *f, const char *path, gm_safetensors *st) {
    struct stat sb;
    GM_RETURN_ERROR_IF(fstat(fileno(f), &sb) != 0, GM_ERR_IO, "safetensors '%s': cannot stat: %s",
                       path, strerror(errno));
    GM_RETURN_ERROR_IF(S_ISDIR(sb.st_mode), GM_ERR_IO, "safetensors '%s': is a directory", path);
    GM_RETURN_ERROR_IF(!S_ISREG(sb.st_mode), GM_ERR_IO, "safetensors '%s': not a regular file",
                       path);
    uint64_t fsize = (uint64_t)sb.st_size;
    GM_RETURN_ERROR_IF(fsize < 8, GM_ERR_FORMAT,
                       "safetensors '%s' at byte 0: the file has %llu bytes, fewer than the "
                       "8-byte header size",
                       path, (unsigned long long)fsize);
    unsigned char size_le[8];
    GM_FORWARD_IF_ERROR(st_read_exact(f, path, size_le, 8, 0));
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | size_le[k];
    GM_RETURN_ERROR_IF(hlen > GM_ST_MAX_HEADER_BYTES, GM_ERR_FORMAT,
                       "safetensors '%s' at byte 0: header size %llu exceeds the limit of %d",
                       path, (unsigned long long)hlen, GM_ST_MAX_HEADER_BYTES);
    GM_RETURN_ERROR_IF(hlen > fsize - 8, GM_ERR_FORMAT,
                       "safetensors '%s' at byte 0: header size %llu runs past the end of the "
                       "file (%llu bytes)",
                       path, (unsigned long long)hlen, (unsigned long long)fsize);

    unsigned char *hdr = gm_malloc((size_t)hlen + 1);
    if (!hdr) return gm__nomem("safetensors header");
    gm_status s = st_read_exact(f, path, hdr, (size_t)hlen, 8);
    if (s == GM_OK) {
        hdr[hlen] = '\0';
        size_t bad = 0;
        if (!st_utf8_valid(hdr, (size_t)hlen, &bad)) {
            s = gm_error_set(GM_ERR_FORMAT,
                             "safetensors '%s' at byte %zu: the header is not UTF-8 text%s",
                             path, bad + 8, hdr[bad] ? "" : " (NUL byte)");
        } else {
            s = st_parse_header(path, hdr, (size_t)hlen, st);
        }
    }
    gm_free(hdr);
    GM_FORWARD_IF_ERROR(s);

    uint64_t data_len = fsize - 8 - hlen;
    GM_FORWARD_IF_ERROR(st_validate(path, st, data_len));
    GM_RETURN_ERROR_IF(data_len > SIZE_MAX, GM_ERR_TOO_LARGE,
                       "safetensors '%s': %llu bytes of data do not fit in memory", path,
                       (unsigned long long)data_len);
    st->data = gm_malloc((size_t)data_len);
    if (!st->data) return gm__nomem("safetensors data");
    GM_FORWARD_IF_ERROR(st_read_exact(f, path, st->data, (size_t)data_len, 8 + hlen));
    GM_RETURN_ERROR_IF(fgetc(f) != EOF, GM_ERR_FORMAT,
                       "safetensors '%s': the file grew while it was read", path);
    return st_place_data(st);
}

gm_status gm_safetensors_read(const char *path, gm_safetensors **out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG, "gm_safetensors_read: NULL argument");
    *out = NULL;
    gm_safetensors *st = gm_calloc(1, sizeof *st);
    if (!st) return gm__nomem("safetensors object");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        gm_free(st);
        return gm_error_set(GM_ERR_IO, "safetensors '%s': cannot open: %s", path,
                            strerror(err));
    }
    gm_status s = st_read_stream(f, path, st);
    fclose(f);
    if (s != GM_OK) {
        gm_safetensors_free(st);
        return s;
    }
    *out = st;
    return GM_OK;
}

/* ---- models -------------------------------------------------------------- */

gm_status gm_safetensors_save_model(const char *path, gm_model *m, int64_t nmeta,
                                    const char *const *meta_keys,
                                    const char *const *meta_values) {
    GM_RETURN_ERROR_IF(!path || !m, GM_ERR_INVALID_ARG,
                       "gm_safetensors_save_model: NULL argument");
    int64_t n = gm_model_param_count(m);
    gm_st_entry *entries = gm_malloc_array(n > 0 ? (size_t)n : 1, sizeof *entries);
    if (!entries) return gm__nomem("safetensors model entries");
    for (int64_t i = 0; i < n; i++)
        entries[i] = gm_st_entry_tensor(gm_model_param_name(m, i), gm_model_param(m, i));
    gm_status st = gm_safetensors_write(path, n, entries, nmeta, meta_keys, meta_values);
    gm_free(entries);
    return st;
}

static gm_status st_check_model(const char *path, const gm_safetensors *st, gm_model *m,
                                int64_t *which) {
    int64_t np = gm_model_param_count(m);
    for (int64_t i = 0; i < np; i++) {
        const char *name = gm_model_param_name(m, i);
        const gm_tensor *t = gm_model_param(m, i);
        int64_t k = gm_safetensors_find(st, name);
        GM_RETURN_ERROR_IF(k < 0, GM_ERR_NOT_FOUND,
                           "safetensors '%s': no tensor for parameter '" ST_NAME_FMT "'", path,
                           name);
        const gm_st_entry *e = gm_safetensors_entry(st, k);
        GM_RETURN_ERROR_IF(e->dtype != GM_DTYPE_F32 && e->dtype != GM_DTYPE_F64, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': dtype %s, a parameter needs F32 or F64",
                           path, name, st_dtype_name(e->dtype));
        bool same = e->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
        if (!same) {
            char fs[160], ms[160];
            st_shape_str(e->ndim, e->shape, fs, sizeof fs);
            st_shape_str(t->ndim, t->shape, ms, sizeof ms);
            return gm_error_set(GM_ERR_SHAPE,
                                "safetensors '%s' tensor '" ST_NAME_FMT
                                "': shape %s, the parameter has %s",
                                path, name, fs, ms);
        }
        which[i] = k;
    }
    const size_t plen = strlen(GM_ST_OPTIM_PREFIX);
    for (int64_t k = 0; k < gm_safetensors_count(st); k++) {
        const char *name = gm_safetensors_name(st, k);
        if (strncmp(name, GM_ST_OPTIM_PREFIX, plen) == 0) continue;
        bool known = false;
        for (int64_t i = 0; i < np && !known; i++) known = which[i] == k;
        GM_RETURN_ERROR_IF(!known, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT
                           "': not a parameter of the model (nor under '" GM_ST_OPTIM_PREFIX
                           "')",
                           path, name);
    }
    return GM_OK;
}

gm_status gm_safetensors_load_model(const char *path, gm_model *m) {
    GM_RETURN_ERROR_IF(!path || !m, GM_ERR_INVALID_ARG,
                       "gm_safetensors_load_model: NULL argument");
    gm_safetensors *st = NULL;
    GM_FORWARD_IF_ERROR(gm_safetensors_read(path, &st));
    int64_t np = gm_model_param_count(m);
    int64_t *which = gm_malloc_array(np > 0 ? (size_t)np : 1, sizeof *which);
    if (!which) {
        gm_safetensors_free(st);
        return gm__nomem("safetensors parameter map");
    }
    gm_status s = st_check_model(path, st, m, which);
    for (int64_t i = 0; s == GM_OK && i < np; i++) {
        gm_tensor *t = gm_model_param(m, i);
        const gm_st_entry *e = gm_safetensors_entry(st, which[i]);
        if (e->dtype == GM_DTYPE_F32) {
            const float *src = e->data;
            for (int64_t j = 0; j < t->numel; j++) t->data[j] = (gm_real)src[j];
        } else {
            const double *src = e->data;
            for (int64_t j = 0; j < t->numel; j++) t->data[j] = (gm_real)src[j];
        }
    }
    gm_free(which);
    gm_safetensors_free(st);
    return s;
}
