/* What the files of the safetensors support share (safetensors.c: dtypes,
 * entries, UTF-8 and duplicate checks; safetensors_header.c: the header's
 * JSON; safetensors_read.c: the reader; safetensors_write.c: the writer;
 * safetensors_model.c: models by parameter name). */
#ifndef GMCNN_IO_SAFETENSORS_INTERNAL_H
#define GMCNN_IO_SAFETENSORS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#define GM__ST_NAME_FMT "%.200s"

/* safetensors' spelling of a dtype ("F32"), or NULL outside gm_dtype. */
const char *gm__st_dtype_name(gm_dtype d);
/* 1 and *out set for a dtype gmcnn reads; 0 for one that safetensors defines
 * but gmcnn does not; -1 for a string that is no safetensors dtype. */
int gm__st_dtype_parse(const char *s, gm_dtype *out);
/* Byte size of an entry, or -1 when its numel or byte count overflows. */
int64_t gm__st_entry_nbytes(const gm_st_entry *e);
/* "(3, 2)" into buf[0..size). */
void gm__st_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * without NUL bytes. Returns true, or false with the offending offset. */
bool gm__st_utf8_valid(const unsigned char *s, size_t n, size_t *bad);
/* Finds a string that occurs twice among strs[0..n). Returns GM_OK with *dup
 * NULL when all differ, the duplicate otherwise; GM_ERR_NOMEM. */
gm_status gm__st_find_duplicate(const char *const *strs, size_t n, const char **dup);

/* ---- the reader's object ------------------------------------------------- */

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

/* Parses the header hdr[0..len), valid UTF-8 without NUL bytes, into st's
 * items (name, dtype, shape, offsets; not yet validated against the data)
 * and metadata. Details name `path` and the header offset as a file offset. */
gm_status gm__st_parse_header(const char *path, const unsigned char *hdr, size_t len,
                              gm_safetensors *st);

#endif /* GMCNN_IO_SAFETENSORS_INTERNAL_H */
