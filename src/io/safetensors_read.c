/* The safetensors reader: the file's size and header (safetensors_header.c
 * parses the JSON), every tensor's range checked against the data before
 * anything is trusted, and the reader's object. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_internal.h"
#include "io/safetensors_internal.h"

/* ---- reading: the object ------------------------------------------------- */

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
        gm_status s = gm__st_find_duplicate(names, (size_t)st->n, &dup);
        gm_free(names);
        GM_FORWARD_IF_ERROR(s);
        GM_RETURN_ERROR_IF(dup, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT "': name appears twice in "
                           "the header",
                           path, dup);
    }
    if (st->nmeta > 1) {
        const char **keys = gm_malloc_array((size_t)st->nmeta, sizeof *keys);
        if (!keys) return gm__nomem("safetensors metadata key list");
        for (int64_t i = 0; i < st->nmeta; i++) keys[i] = st->meta[2 * i];
        const char *dup = NULL;
        gm_status s = gm__st_find_duplicate(keys, (size_t)st->nmeta, &dup);
        gm_free(keys);
        GM_FORWARD_IF_ERROR(s);
        GM_RETURN_ERROR_IF(dup, GM_ERR_FORMAT,
                           "safetensors '%s': __metadata__ key '" GM__ST_NAME_FMT
                           "' appears twice",
                           path, dup);
    }
    for (int64_t i = 0; i < st->n; i++) {
        const st_item *it = &st->items[i];
        char shape[160];
        gm__st_shape_str(it->e.ndim, it->e.shape, shape, sizeof shape);
        int64_t nbytes = gm__st_entry_nbytes(&it->e);
        GM_RETURN_ERROR_IF(nbytes < 0, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': shape %s of %s overflows",
                           path, it->name, shape, gm__st_dtype_name(it->e.dtype));
        GM_RETURN_ERROR_IF(it->begin > it->end, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': data_offsets [%llu, %llu) end before they begin",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end);
        GM_RETURN_ERROR_IF(it->end - it->begin != (uint64_t)nbytes, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': data_offsets [%llu, %llu) do not match %s %s = %lld bytes",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end, gm__st_dtype_name(it->e.dtype), shape,
                           (long long)nbytes);
        GM_RETURN_ERROR_IF(it->end > data_len, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
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
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': data_offsets [%llu, %llu) overlap tensor '" GM__ST_NAME_FMT "'",
                           path, it->name, (unsigned long long)it->begin,
                           (unsigned long long)it->end, st->items[i - 1].name);
        GM_RETURN_ERROR_IF(it->begin > expect, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
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
        if (!gm__st_utf8_valid(hdr, (size_t)hlen, &bad)) {
            s = gm_error_set(GM_ERR_FORMAT,
                             "safetensors '%s' at byte %zu: the header is not UTF-8 text%s",
                             path, bad + 8, hdr[bad] ? "" : " (NUL byte)");
        } else {
            s = gm__st_parse_header(path, hdr, (size_t)hlen, st);
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
