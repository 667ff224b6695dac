/* safetensors files: an atomic writer, a strict reader that validates every
 * byte before trusting it, and model save/load by parameter name.
 *
 * cJSON parses the header; what it lets through that JSON or safetensors do
 * not (control characters, \u0000, numbers that are not plain integers) is
 * checked on the text beside it. cJSON numbers are doubles, so shapes and
 * offsets are limited to integers below 2^53. The header is written by hand
 * because its bytes are fixed: the same tensors always give the same file. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/core_internal.h"
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

/* ---- writing: the atomic file -------------------------------------------- */

/* A file written under a temporary name and renamed into place once complete,
 * so that readers never see a partial file and a failure leaves the old one. */
typedef struct st_atomic {
    const char *path;
    char *tmp;
    FILE *f;
    int err; /* errno of the first failed write, 0 while all is well */
} st_atomic;

/* Permission bits an ordinary fopen(path, "w") would give: those of the file
 * being replaced, else 0666 less the umask. The umask can only be read by
 * changing it; the brief window uses the most private value. */
static mode_t st_atomic_mode(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return sb.st_mode & 07777;
    mode_t mask = umask(077);
    umask(mask);
    return 0666 & ~mask;
}

static gm_status st_atomic_open(st_atomic *af, const char *path) {
    static const char suffix[] = ".tmp.XXXXXX";
    *af = (st_atomic){.path = path};
    size_t len = strlen(path);
    af->tmp = gm_malloc(len + sizeof suffix);
    if (!af->tmp) return gm__nomem("safetensors temporary path");
    memcpy(af->tmp, path, len);
    memcpy(af->tmp + len, suffix, sizeof suffix);
    mode_t mode = st_atomic_mode(path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int err = errno;
        gm_free(af->tmp);
        af->tmp = NULL;
        return gm_error_set(GM_ERR_IO, "safetensors '%s': cannot create a temporary file: %s",
                            path, strerror(err));
    }
    /* A failed chmod keeps mkstemp's private 0600, which is safe. */
    (void)fchmod(fd, mode);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int err = errno;
        close(fd);
        remove(af->tmp);
        gm_free(af->tmp);
        af->tmp = NULL;
        return gm_error_set(GM_ERR_IO, "safetensors '%s': cannot open a temporary file: %s",
                            path, strerror(err));
    }
    return GM_OK;
}

static void st_atomic_write(st_atomic *af, const void *data, size_t n) {
    if (af->err || n == 0) return;
    errno = 0;
    if (fwrite(data, 1, n, af->f) != n) af->err = errno ? errno : EIO;
}

static void st_atomic_abort(st_atomic *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) remove(af->tmp);
    gm_free(af->tmp);
    *af = (st_atomic){0};
}

static gm_status st_atomic_commit(st_atomic *af) {
    if (!af->err && fflush(af->f) != 0) af->err = errno ? errno : EIO;
    /* Without fsync the rename can reach the disk before the data, and a
     * crash would leave an empty or partial file under the final name. */
    if (!af->err && fsync(fileno(af->f)) != 0) af->err = errno ? errno : EIO;
    int rc = fclose(af->f);
    af->f = NULL;
    if (!af->err && rc != 0) af->err = errno ? errno : EIO;
    if (af->err) {
        int err = af->err;
        const char *path = af->path;
        st_atomic_abort(af);
        return gm_error_set(GM_ERR_IO, "safetensors '%s': write failed: %s", path,
                            strerror(err));
    }
    gm__failpoint("safetensors.rename");
    if (rename(af->tmp, af->path) != 0) {
        int err = errno;
        const char *path = af->path;
        st_atomic_abort(af);
        return gm_error_set(GM_ERR_IO, "safetensors '%s': cannot rename the temporary over it: %s",
                            path, strerror(err));
    }
    gm_free(af->tmp);
    *af = (st_atomic){0};
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
    st_atomic af = {0};
    if (st == GM_OK) st = st_atomic_open(&af, path);
    if (st == GM_OK) {
        unsigned char size_le[8];
        for (int k = 0; k < 8; k++) size_le[k] = (unsigned char)((uint64_t)hdr.len >> (8 * k));
        st_atomic_write(&af, size_le, sizeof size_le);
        st_atomic_write(&af, hdr.p, hdr.len);
        for (int64_t i = 0; i < n; i++)
            st_atomic_write(&af, entries[i].data, (size_t)(offsets[i + 1] - offsets[i]));
        st = st_atomic_commit(&af);
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

/* ---- reading: the header ------------------------------------------------- */

/* Integers above 2^53 are not all exact in cJSON's doubles, so larger shapes
 * and offsets are refused rather than read rounded. */
#define ST_MAX_JSON_INT 9007199254740992.0

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

static int st_hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* What cJSON accepts but JSON or safetensors do not: control characters
 * (cJSON takes them for whitespace, or keeps them in strings), \u escapes
 * with bad hex digits (cJSON reads them as 0), \u0000 (cJSON would cut the
 * string there) and numbers other than plain non-negative integers ("01",
 * "1.0", "4e0" and "-0" are all numbers to cJSON). s[0..len) has parsed, so
 * its strings are closed and every backslash has a character after it. */
static gm_status st_check_lexemes(const char *path, const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] < 0x20)
                    return st_fail_at(path, i, "control character 0x%02x inside a string", s[i]);
                if (s[i] != '\\') continue;
                if (s[i + 1] == 'u') {
                    int cp = 0;
                    for (size_t k = i + 2; k < i + 6; k++) {
                        int h = k < len ? st_hex_digit(s[k]) : -1;
                        if (h < 0) return st_fail_at(path, i, "invalid \\u escape in a string");
                        cp = cp * 16 + h;
                    }
                    if (cp == 0) return st_fail_at(path, i, "U+0000 inside a string");
                }
                i++;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            bool integral = true;
            while (i < len && s[i] && strchr("0123456789+-.eE", s[i])) {
                integral = integral && s[i] != '.' && s[i] != 'e' && s[i] != 'E';
                i++;
            }
            if (c == '-') return st_fail_at(path, start, "numbers must be non-negative integers");
            if (!integral) return st_fail_at(path, start, "a number must be an integer");
            if (c == '0' && i - start > 1)
                return st_fail_at(path, start, "integer with a leading zero");
        } else if (c < 0x20 && !st_is_ws(c)) {
            return st_fail_at(path, i, "control character 0x%02x outside a string", c);
        } else {
            i++;
        }
    }
    return GM_OK;
}

/* A non-negative integer below 2^53 from a cJSON number. */
static gm_status st_json_uint(const char *path, const char *name, const cJSON *v,
                              const char *what, uint64_t *out) {
    GM_RETURN_ERROR_IF(!cJSON_IsNumber(v), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': expected an integer (%s)",
                       path, name, what);
    double d = v->valuedouble;
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

/* The integers of a JSON array into vals[0..*count); more than max values
 * sets *count to max + 1 after checking them all. */
static gm_status st_json_uint_array(const char *path, const char *name, const cJSON *arr,
                                    const char *what, uint64_t *vals, int max, int *count) {
    *count = 0;
    GM_RETURN_ERROR_IF(!cJSON_IsArray(arr), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': %s is not an array", path,
                       name, arr->string);
    for (const cJSON *v = arr->child; v; v = v->next) {
        uint64_t x = 0;
        GM_FORWARD_IF_ERROR(st_json_uint(path, name, v, what, &x));
        if (*count < max) vals[*count] = x;
        if (*count <= max) (*count)++;
    }
    return GM_OK;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *q = gm_malloc(n);
    if (q) memcpy(q, s, n);
    return q;
}

static gm_status st_read_metadata(const char *path, const cJSON *meta, gm_safetensors *st) {
    GM_RETURN_ERROR_IF(!cJSON_IsObject(meta), GM_ERR_FORMAT,
                       "safetensors '%s': __metadata__ is not an object", path);
    int64_t n = cJSON_GetArraySize(meta);
    if (n == 0) return GM_OK;
    st->meta = gm_malloc_array(2 * (size_t)n, sizeof *st->meta);
    if (!st->meta) return gm__nomem("safetensors metadata");
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        GM_RETURN_ERROR_IF(!cJSON_IsString(kv), GM_ERR_FORMAT,
                           "safetensors '%s': __metadata__ value of '" ST_NAME_FMT
                           "' is not a string",
                           path, kv->string);
        char **pair = st->meta + 2 * st->nmeta;
        pair[0] = st_strdup(kv->string);
        pair[1] = pair[0] ? st_strdup(kv->valuestring) : NULL;
        if (!pair[1]) {
            gm_free(pair[0]);
            return gm__nomem("safetensors metadata");
        }
        st->nmeta++;
    }
    return GM_OK;
}

/* One tensor's {"dtype", "shape", "data_offsets"} into it, which already
 * holds the name. */
static gm_status st_read_tensor(const char *path, const cJSON *entry, st_item *it) {
    const char *name = it->name;
    GM_RETURN_ERROR_IF(!cJSON_IsObject(entry), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': the tensor entry is not an "
                       "object",
                       path, name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = entry->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &dtype
                             : strcmp(c->string, "shape") == 0        ? &shape
                             : strcmp(c->string, "data_offsets") == 0 ? &offsets
                                                                      : NULL;
        GM_RETURN_ERROR_IF(!slot || *slot, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" ST_NAME_FMT "': %s key '" ST_NAME_FMT "'",
                           path, name, slot ? "duplicate" : "unknown", c->string);
        *slot = c;
    }
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offsets ? "data_offsets" : NULL;
    GM_RETURN_ERROR_IF(missing, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': entry has no '%s'", path,
                       name, missing);

    GM_RETURN_ERROR_IF(!cJSON_IsString(dtype), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': dtype is not a string", path,
                       name);
    int kind = st_dtype_parse(dtype->valuestring, &it->e.dtype);
    GM_RETURN_ERROR_IF(kind < 0, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT "': unknown dtype '%.40s'", path,
                       name, dtype->valuestring);
    GM_RETURN_ERROR_IF(kind == 0, GM_ERR_UNSUPPORTED,
                       "safetensors '%s' tensor '" ST_NAME_FMT
                       "': dtype %.40s is not supported (F32, F64, I32, I64 and U8 are)",
                       path, name, dtype->valuestring);

    uint64_t dims[GM_ST_MAX_DIMS];
    int nd = 0;
    GM_FORWARD_IF_ERROR(
        st_json_uint_array(path, name, shape, "a shape dimension", dims, GM_ST_MAX_DIMS, &nd));
    GM_RETURN_ERROR_IF(nd > GM_ST_MAX_DIMS, GM_ERR_UNSUPPORTED,
                       "safetensors '%s' tensor '" ST_NAME_FMT
                       "': more than %d dimensions are not supported",
                       path, name, GM_ST_MAX_DIMS);
    it->e.ndim = nd;
    for (int d = 0; d < nd; d++) it->e.shape[d] = (int64_t)dims[d];

    uint64_t offs[2] = {0, 0};
    int nv = 0;
    GM_FORWARD_IF_ERROR(st_json_uint_array(path, name, offsets, "data_offsets", offs, 2, &nv));
    GM_RETURN_ERROR_IF(nv != 2, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" ST_NAME_FMT
                       "': data_offsets must hold two integers, not %s",
                       path, name, nv > 2 ? "more" : nv == 1 ? "one" : "none");
    it->begin = offs[0];
    it->end = offs[1];
    return GM_OK;
}

static gm_status st_read_members(const char *path, const cJSON *root, gm_safetensors *st) {
    int64_t n = cJSON_GetArraySize(root);
    if (n > 0) {
        st->items = gm_malloc_array((size_t)n, sizeof *st->items);
        if (!st->items) return gm__nomem("safetensors tensor list");
    }
    bool have_meta = false;
    for (const cJSON *m = root->child; m; m = m->next) {
        if (strcmp(m->string, "__metadata__") == 0) {
            GM_RETURN_ERROR_IF(have_meta, GM_ERR_FORMAT,
                               "safetensors '%s': __metadata__ appears twice", path);
            have_meta = true;
            GM_FORWARD_IF_ERROR(st_read_metadata(path, m, st));
            continue;
        }
        GM_RETURN_ERROR_IF(m->string[0] == '\0', GM_ERR_FORMAT,
                           "safetensors '%s': empty tensor name", path);
        char *name = st_strdup(m->string);
        if (!name) return gm__nomem("safetensors tensor name");
        st_item *it = &st->items[st->n++];
        *it = (st_item){.name = name};
        it->e.name = name;
        GM_FORWARD_IF_ERROR(st_read_tensor(path, m, it));
    }
    return GM_OK;
}

/* Parses hdr[0..len), which is valid UTF-8 without NUL bytes, into st. */
static gm_status st_parse_header(const char *path, const unsigned char *hdr, size_t len,
                                 gm_safetensors *st) {
    size_t i = 0;
    while (i < len && st_is_ws(hdr[i])) i++;
    if (i == len || hdr[i] != '{') return st_fail_at(path, i, "the header is not a JSON object");
    /* The Opts variant gives the end of the object (or of the error) for
     * this call, where cJSON_GetErrorPtr would share one pointer between
     * threads. */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)hdr, len, &end, false);
    size_t stop = end ? (size_t)((const unsigned char *)end - hdr) : 0;
    if (!root) return st_fail_at(path, stop, "the header is not valid JSON");
    gm_status s = GM_OK;
    for (i = stop; i < len && st_is_ws(hdr[i]); i++) {}
    if (i < len) s = st_fail_at(path, i, "unexpected text after the header object");
    if (s == GM_OK) s = st_check_lexemes(path, hdr, stop);
    if (s == GM_OK && !cJSON_IsObject(root))
        s = st_fail_at(path, 0, "the header is not a JSON object");
    if (s == GM_OK) s = st_read_members(path, root, st);
    cJSON_Delete(root);
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
