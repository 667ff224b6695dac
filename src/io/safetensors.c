/* safetensors files (gmcnn/io.h): what the reader, the writer and the model
 * functions share: dtypes, entries, and the checks of names and strings.
 * The header's JSON is read by safetensors_header.c, the file by
 * safetensors_read.c, written by safetensors_write.c; models are saved and
 * loaded by parameter name in safetensors_model.c. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "io/safetensors_internal.h"

/* ---- dtypes and entries -------------------------------------------------- */

const char *gm__st_dtype_name(gm_dtype d) {
    switch (d) {
    case GM_DTYPE_F32: return "F32";
    case GM_DTYPE_F64: return "F64";
    case GM_DTYPE_U8: return "U8";
    case GM_DTYPE_I32: return "I32";
    case GM_DTYPE_I64: return "I64";
    }
    return NULL;
}

int gm__st_dtype_parse(const char *s, gm_dtype *out) {
    static const gm_dtype ours[] = {GM_DTYPE_F32, GM_DTYPE_F64, GM_DTYPE_U8, GM_DTYPE_I32,
                                    GM_DTYPE_I64};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        if (strcmp(s, gm__st_dtype_name(ours[i])) == 0) {
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

int64_t gm__st_entry_nbytes(const gm_st_entry *e) {
    int64_t numel = gm_st_entry_numel(e), nbytes = 0;
    if (numel < 0 || gm_mul_overflow_i64(numel, (int64_t)gm_dtype_size(e->dtype), &nbytes) != 0)
        return -1;
    return nbytes;
}

void gm__st_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
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

/* ---- names and strings --------------------------------------------------- */

bool gm__st_utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
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

gm_status gm__st_find_duplicate(const char *const *strs, size_t n, const char **dup) {
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
