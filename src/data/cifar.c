/* CIFAR-10 binary batches: 10000 records per batch of <1 label byte><3072
 * pixel bytes>, with no header, so the record size is the only structure to
 * check and the label range the only content. */
#include <string.h>

#include "data/data_internal.h"

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10

static gm_status cifar_read_src(gm__src *s, gm_array *images, gm_array *labels) {
    /* A plain file's size is checked before its bytes are read. */
    if (s->size >= 0) {
        GM_RETURN_ERROR_IF(s->size == 0, GM_ERR_FORMAT,
                           "cifar file '%s' at byte 0: empty file (no records)", s->path);
        GM_RETURN_ERROR_IF(s->size % CIFAR_RECORD != 0, GM_ERR_FORMAT,
                           "cifar file '%s' at byte %lld: file size %lld is not a multiple of "
                           "the record size %d",
                           s->path, (long long)(s->size - s->size % CIFAR_RECORD),
                           (long long)s->size, CIFAR_RECORD);
    }
    char *buf = NULL;
    int64_t len = 0;
    GM_FORWARD_IF_ERROR(gm__src_read_rest(s, GM__SRC_STREAM_CAP, &buf, &len));
    gm_status st = GM_OK;
    if (len == 0) {
        st = gm__src_fail(s, GM_ERR_FORMAT, 0, "empty file (no records)");
    } else if (len % CIFAR_RECORD != 0) {
        st = gm__src_fail(s, GM_ERR_FORMAT, len - len % CIFAR_RECORD,
                          "file size %lld is not a multiple of the record size %d",
                          (long long)len, CIFAR_RECORD);
    }
    int64_t n = len / CIFAR_RECORD;
    const unsigned char *rec = (const unsigned char *)buf;
    for (int64_t i = 0; st == GM_OK && i < n; i++) {
        unsigned lab = rec[i * CIFAR_RECORD];
        if (lab >= CIFAR_CLASSES) {
            st = gm__src_fail(s, GM_ERR_FORMAT, i * CIFAR_RECORD,
                              "record %lld: label %u outside 0..%d", (long long)i, lab,
                              CIFAR_CLASSES - 1);
        }
    }
    if (st == GM_OK) {
        images->data = gm_malloc_array((size_t)n, CIFAR_PIXELS);
        labels->data = gm_malloc_array((size_t)n, sizeof(int32_t));
        if (!images->data || !labels->data) st = gm__nomem("cifar arrays");
    }
    if (st == GM_OK) {
        images->dtype = GM_DTYPE_U8;
        images->ndim = 4;
        images->shape[0] = n;
        images->shape[1] = 3;
        images->shape[2] = 32;
        images->shape[3] = 32;
        labels->dtype = GM_DTYPE_I32;
        labels->ndim = 1;
        labels->shape[0] = n;
        unsigned char *img = images->data;
        int32_t *lab = labels->data;
        for (int64_t i = 0; i < n; i++) {
            lab[i] = rec[i * CIFAR_RECORD];
            memcpy(img + i * CIFAR_PIXELS, rec + i * CIFAR_RECORD + 1, CIFAR_PIXELS);
        }
    }
    gm_free(buf);
    return st;
}

gm_status gm_cifar10_read(const char *path, gm_array *images, gm_array *labels) {
    GM_RETURN_ERROR_IF(!path || !images || !labels, GM_ERR_INVALID_ARG,
                       "gm_cifar10_read: NULL argument");
    memset(images, 0, sizeof *images);
    memset(labels, 0, sizeof *labels);
    gm__src s;
    GM_FORWARD_IF_ERROR(gm__src_open(&s, "cifar", path));
    gm_status st = cifar_read_src(&s, images, labels);
    gm__src_close(&s);
    if (st != GM_OK) {
        gm_array_free(images);
        gm_array_free(labels);
    }
    return st;
}
