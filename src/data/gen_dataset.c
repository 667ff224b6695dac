/* Derived data sets generated from a seed (see datasets.h for the kinds). */
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/datasets.h"

#define SIDE GM_DATASET_SIDE
#define PIXELS (SIDE * SIDE)

/* The split draws from a stream no per-image stream (an image index) reaches. */
#define SPLIT_STREAM UINT64_C(0x73706c6974)
#define TWO_PI 6.283185307179586476925286766559

static const char *const kind_names[GM_DATASET_KIND_COUNT] = {
    "digits", "rotated", "back-random", "back-image", "rot-back-image", "rectangles"};

_Static_assert(GM_DATASET_RECTANGLES + 1 == GM_DATASET_KIND_COUNT, "one name per kind");

const char *gm_dataset_kind_name(gm_dataset_kind kind) {
    if ((int)kind < 0 || (int)kind >= GM_DATASET_KIND_COUNT) return "?";
    return kind_names[kind];
}

gm_status gm_dataset_kind_parse(const char *name, gm_dataset_kind *out) {
    GM_RETURN_ERROR_IF(!name || !out, GM_ERR_INVALID_ARG, "dataset kind: NULL argument");
    for (int k = 0; k < GM_DATASET_KIND_COUNT; k++) {
        if (!strcmp(name, kind_names[k])) {
            *out = (gm_dataset_kind)k;
            return GM_OK;
        }
    }
    return gm_error_set(GM_ERR_INVALID_ARG,
                        "dataset kind '%s' is unknown (digits, rotated, back-random, "
                        "back-image, rot-back-image, rectangles)",
                        name);
}

int gm_dataset_kind_uses_digits(gm_dataset_kind kind) {
    return kind != GM_DATASET_RECTANGLES;
}

int gm_dataset_kind_uses_backgrounds(gm_dataset_kind kind) {
    return kind == GM_DATASET_BACK_IMAGE || kind == GM_DATASET_ROT_BACK_IMAGE;
}

static gm_status check_images(const char *what, const gm_array *a) {
    GM_RETURN_ERROR_IF(!a || !a->data, GM_ERR_INVALID_ARG, "dataset: %s array is missing", what);
    GM_RETURN_ERROR_IF(a->dtype != GM_DTYPE_U8 || a->ndim != 3 || a->shape[0] < 0 ||
                           a->shape[1] != SIDE || a->shape[2] != SIDE,
                       GM_ERR_SHAPE,
                       "dataset: %s must be uint8 (N, 28, 28), got %s with %d dimensions "
                       "(first %lld)",
                       what, gm_dtype_descr(a->dtype), a->ndim,
                       (long long)(a->ndim > 0 ? a->shape[0] : 0));
    return GM_OK;
}

static gm_status new_u8(gm_array *a, int ndim, int64_t n) {
    memset(a, 0, sizeof *a);
    a->dtype = GM_DTYPE_U8;
    a->ndim = ndim;
    a->shape[0] = n;
    a->shape[1] = SIDE;
    a->shape[2] = SIDE;
    const int64_t bytes = ndim == 1 ? n : n * PIXELS;
    a->data = gm_calloc((size_t)bytes, 1);
    if (!a->data) {
        memset(a, 0, sizeof *a);
        return gm__nomem("dataset array");
    }
    return GM_OK;
}

/* A random 28x28 window of a 2x2 mosaic of random background images, so a
 * background is rarely a whole centred garment. */
static void draw_background(gm_rng *rng, const gm_array *bg, uint8_t *out) {
    const uint8_t *tiles[4];
    const uint32_t m = (uint32_t)bg->shape[0];
    for (int t = 0; t < 4; t++)
        tiles[t] = (const uint8_t *)bg->data + (size_t)gm_rng_below(rng, m) * PIXELS;
    const int ox = (int)gm_rng_below(rng, SIDE + 1), oy = (int)gm_rng_below(rng, SIDE + 1);
    for (int r = 0; r < SIDE; r++) {
        for (int c = 0; c < SIDE; c++) {
            const int mr = oy + r, mc = ox + c;
            const uint8_t *tile = tiles[(mr >= SIDE) * 2 + (mc >= SIDE)];
            out[r * SIDE + c] = tile[(mr % SIDE) * SIDE + mc % SIDE];
        }
    }
}

static void compose_max(uint8_t *img, const uint8_t *bg) {
    for (int p = 0; p < PIXELS; p++) img[p] = img[p] > bg[p] ? img[p] : bg[p];
}

static void draw_digit(gm_dataset_kind kind, gm_rng *rng, const gm_array *bgs,
                       double max_angle, const uint8_t *src, uint8_t *dst) {
    uint8_t bg[PIXELS];
    if (kind == GM_DATASET_ROTATED || kind == GM_DATASET_ROT_BACK_IMAGE) {
        /* One draw either way, so the rest of the image's stream is unchanged. */
        const double u = gm_rng_uniform(rng);
        const double angle = max_angle > 0.0 ? (2.0 * u - 1.0) * max_angle * (TWO_PI / 360.0)
                                             : u * TWO_PI;
        gm_image_rotate_u8(src, SIDE, SIDE, angle, dst);
    } else {
        memcpy(dst, src, PIXELS);
    }
    if (kind == GM_DATASET_BACK_RANDOM) {
        for (int p = 0; p < PIXELS; p++) bg[p] = (uint8_t)gm_rng_below(rng, 256);
        compose_max(dst, bg);
    } else if (gm_dataset_kind_uses_backgrounds(kind)) {
        draw_background(rng, bgs, bg);
        compose_max(dst, bg);
    }
}

static uint8_t draw_rectangle(gm_rng *rng, uint8_t *dst) {
    int h, w;
    do {
        h = 3 + (int)gm_rng_below(rng, SIDE - 2);
        w = 3 + (int)gm_rng_below(rng, SIDE - 2);
    } while (h == w);
    const int r0 = (int)gm_rng_below(rng, (uint32_t)(SIDE - h + 1));
    const int c0 = (int)gm_rng_below(rng, (uint32_t)(SIDE - w + 1));
    for (int c = c0; c < c0 + w; c++) {
        dst[r0 * SIDE + c] = 255;
        dst[(r0 + h - 1) * SIDE + c] = 255;
    }
    for (int r = r0; r < r0 + h; r++) {
        dst[r * SIDE + c0] = 255;
        dst[r * SIDE + c0 + w - 1] = 255;
    }
    return h > w ? 1 : 0;
}

gm_status gm_dataset_generate(const gm_dataset_spec *spec, gm_array *images, gm_array *labels) {
    GM_RETURN_ERROR_IF(!spec || !images || !labels, GM_ERR_INVALID_ARG,
                       "dataset: NULL argument");
    memset(images, 0, sizeof *images);
    memset(labels, 0, sizeof *labels);
    const gm_dataset_kind kind = spec->kind;
    GM_RETURN_ERROR_IF((int)kind < 0 || (int)kind >= GM_DATASET_KIND_COUNT, GM_ERR_INVALID_ARG,
                       "dataset: unknown kind %d", (int)kind);
    GM_RETURN_ERROR_IF(!(spec->max_angle >= 0.0 && spec->max_angle <= 180.0),
                       GM_ERR_INVALID_ARG, "dataset %s: max_angle %g is outside [0, 180] degrees",
                       kind_names[kind], spec->max_angle);
    int64_t n = spec->count;
    if (gm_dataset_kind_uses_digits(kind)) {
        GM_FORWARD_IF_ERROR(check_images("source images", spec->images));
        n = spec->images->shape[0];
        const gm_array *lab = spec->labels;
        GM_RETURN_ERROR_IF(!lab || !lab->data, GM_ERR_INVALID_ARG,
                           "dataset %s: source labels are missing", kind_names[kind]);
        GM_RETURN_ERROR_IF(lab->dtype != GM_DTYPE_U8 || lab->ndim != 1 || lab->shape[0] != n,
                           GM_ERR_SHAPE,
                           "dataset %s: source labels must be uint8 (%lld), got %s with %d "
                           "dimensions",
                           kind_names[kind], (long long)n, gm_dtype_descr(lab->dtype),
                           lab->ndim);
        if (gm_dataset_kind_uses_backgrounds(kind)) {
            GM_FORWARD_IF_ERROR(check_images("background images", spec->backgrounds));
            GM_RETURN_ERROR_IF(spec->backgrounds->shape[0] < 1 ||
                                   spec->backgrounds->shape[0] > UINT32_MAX,
                               GM_ERR_SHAPE, "dataset %s: need 1 to 2^32-1 background images",
                               kind_names[kind]);
        }
    } else {
        GM_RETURN_ERROR_IF(n < 0 || n > INT64_MAX / PIXELS, GM_ERR_INVALID_ARG,
                           "dataset rectangles: count %lld out of range", (long long)n);
    }
    GM_FORWARD_IF_ERROR(new_u8(images, 3, n));
    gm_status st = new_u8(labels, 1, n);
    if (st != GM_OK) {
        gm_array_free(images);
        return st;
    }
    uint8_t *out = images->data, *lab = labels->data;
    for (int64_t i = 0; i < n; i++) {
        gm_rng rng;
        gm_rng_seed(&rng, spec->seed, (uint64_t)i);
        if (kind == GM_DATASET_RECTANGLES) {
            lab[i] = draw_rectangle(&rng, out + i * PIXELS);
        } else {
            const uint8_t *src = (const uint8_t *)spec->images->data + i * PIXELS;
            draw_digit(kind, &rng, spec->backgrounds, spec->max_angle, src, out + i * PIXELS);
            lab[i] = ((const uint8_t *)spec->labels->data)[i];
        }
    }
    return GM_OK;
}

static gm_status gather(const gm_array *src, const int64_t *idx, int64_t n, gm_array *dst) {
    memset(dst, 0, sizeof *dst);
    int64_t row = 1;
    for (int d = 1; d < src->ndim; d++) row *= src->shape[d];
    const size_t es = gm_dtype_size(src->dtype);
    const size_t row_bytes = (size_t)row * es;
    void *data = gm_malloc_array((size_t)n, row_bytes);
    if (!data) return gm__nomem("split array");
    for (int64_t i = 0; i < n; i++) {
        memcpy((char *)data + (size_t)i * row_bytes,
               (const char *)src->data + (size_t)idx[i] * row_bytes, row_bytes);
    }
    *dst = *src;
    dst->shape[0] = n;
    dst->data = data;
    return GM_OK;
}

gm_status gm_dataset_split(const gm_array *images, const gm_array *labels, int64_t ntrain,
                           int64_t ntest, uint64_t seed, gm_array *train_images,
                           gm_array *train_labels, gm_array *test_images,
                           gm_array *test_labels) {
    GM_RETURN_ERROR_IF(!images || !labels || !train_images || !train_labels || !test_images ||
                           !test_labels,
                       GM_ERR_INVALID_ARG, "dataset split: NULL argument");
    gm_array *outs[4] = {train_images, train_labels, test_images, test_labels};
    for (int k = 0; k < 4; k++) memset(outs[k], 0, sizeof *outs[k]);
    GM_RETURN_ERROR_IF(ntrain < 0 || ntest < 0, GM_ERR_INVALID_ARG,
                       "dataset split: negative count (train %lld, test %lld)",
                       (long long)ntrain, (long long)ntest);
    GM_RETURN_ERROR_IF(gm_array_numel(images) < 0 || gm_array_numel(labels) < 0 ||
                           images->ndim < 1 || labels->ndim != 1 || !images->data ||
                           !labels->data,
                       GM_ERR_INVALID_ARG, "dataset split: invalid arrays");
    const int64_t n = images->shape[0];
    GM_RETURN_ERROR_IF(labels->shape[0] != n, GM_ERR_SHAPE,
                       "dataset split: %lld labels for %lld images", (long long)labels->shape[0],
                       (long long)n);
    GM_RETURN_ERROR_IF(ntrain > n - ntest || n > UINT32_MAX, GM_ERR_SHAPE,
                       "dataset split: %lld train + %lld test exceed the %lld examples",
                       (long long)ntrain, (long long)ntest, (long long)n);
    int64_t *perm = gm_malloc_array((size_t)n, sizeof *perm);
    if (!perm) return gm__nomem("split permutation");
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    gm_rng rng;
    gm_rng_seed(&rng, seed, SPLIT_STREAM);
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = gm_rng_below(&rng, (uint32_t)(i + 1));
        const int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    gm_status st = gather(images, perm, ntrain, train_images);
    if (st == GM_OK) st = gather(labels, perm, ntrain, train_labels);
    if (st == GM_OK) st = gather(images, perm + ntrain, ntest, test_images);
    if (st == GM_OK) st = gather(labels, perm + ntrain, ntest, test_labels);
    gm_free(perm);
    if (st != GM_OK) {
        for (int k = 0; k < 4; k++) gm_array_free(outs[k]);
    }
    return st;
}
