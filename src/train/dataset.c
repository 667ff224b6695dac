/* In-memory classification datasets: construction from reader arrays,
 * subsets, seeded splits and per-channel normalisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "train/train_internal.h"

int64_t gm__dataset_sample_size(const gm_dataset *d) {
    return d->channels * d->height * d->width;
}

void gm__shuffle_indices(gm_rng *rng, int64_t n, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* gm_rng_below is 32-bit; datasets beyond 2^32 samples are not a case here. */
        GM_ASSERT(i < (int64_t)UINT32_MAX);
        const int64_t j = (int64_t)gm_rng_below(rng, (uint32_t)(i + 1));
        const int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

void gm_dataset_free(gm_dataset *d) {
    if (!d) return;
    gm_free(d->x);
    gm_free(d->y);
    memset(d, 0, sizeof *d);
}

static gm_status dataset_alloc(gm_dataset *d, int64_t n, int64_t c, int64_t h, int64_t w,
                               int64_t classes) {
    int64_t per, total;
    memset(d, 0, sizeof *d);
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(c, h, &per) || gm_mul_overflow_i64(per, w, &per) ||
                           gm_mul_overflow_i64(per, n, &total),
                       GM_ERR_TOO_LARGE, "dataset: %lld samples of %lldx%lldx%lld overflow",
                       (long long)n, (long long)c, (long long)h, (long long)w);
    d->x = gm_malloc_array((size_t)total, sizeof *d->x);
    d->y = gm_malloc_array((size_t)n, sizeof *d->y);
    if (!d->x || !d->y) {
        gm_dataset_free(d);
        return gm__nomem("dataset");
    }
    d->n = n;
    d->channels = c;
    d->height = h;
    d->width = w;
    d->classes = classes;
    return GM_OK;
}

static double array_value(const gm_array *a, int64_t i) {
    switch (a->dtype) {
    case GM_DTYPE_U8: return ((const uint8_t *)a->data)[i] / 255.0;
    case GM_DTYPE_F32: return ((const float *)a->data)[i];
    case GM_DTYPE_F64: return ((const double *)a->data)[i];
    case GM_DTYPE_I32: return ((const int32_t *)a->data)[i];
    case GM_DTYPE_I64: return (double)((const int64_t *)a->data)[i];
    }
    return 0.0;
}

static int64_t label_at(const gm_array *labels, int64_t i) {
    return labels->dtype == GM_DTYPE_U8 ? ((const uint8_t *)labels->data)[i]
                                        : ((const int32_t *)labels->data)[i];
}

/* Every label a class index: below `classes` when it is known, else below
 * max_classes when that is set, else just not negative. *count receives
 * the class count (max(label) + 1 when it was not known). */
static gm_status check_labels(const gm_array *labels, int64_t n, int64_t classes,
                              int64_t max_classes, const char *name, int64_t *count) {
    const int64_t bound = classes > 0 ? classes : max_classes;
    int64_t maxl = -1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t v = label_at(labels, i);
        if (bound > 0 && (v < 0 || v >= bound))
            return gm_error_set(GM_ERR_INVALID_ARG,
                                "%s: label %lld of sample %lld is outside 0..%lld (%s%lld "
                                "classes)", name, (long long)v, (long long)i,
                                (long long)(bound - 1), classes > 0 ? "" : "at most ",
                                (long long)bound);
        if (v < 0)
            return gm_error_set(GM_ERR_INVALID_ARG,
                                "%s: label %lld of sample %lld is negative (classes are "
                                "numbered from 0)", name, (long long)v, (long long)i);
        if (v > maxl) maxl = v;
    }
    *count = classes > 0 ? classes : maxl + 1;
    return GM_OK;
}

/* The images as floats, every one finite: a NaN or an infinity (or a
 * float64 beyond float32's range) would only come out as a NaN loss or NaN
 * probabilities much later. */
static gm_status convert_images(const gm_array *images, int64_t per, const char *name,
                                gm_dataset *out) {
    const int64_t total = out->n * per;
    for (int64_t i = 0; i < total; i++) {
        const double v = array_value(images, i);
        out->x[i] = (float)v;
        if (!isfinite(out->x[i]))
            return gm_error_set(GM_ERR_INVALID_ARG,
                                "%s: value %lld of sample %lld is %g, not a finite float32 "
                                "(inputs must be finite)", name, (long long)(i % per),
                                (long long)(i / per), v);
    }
    return GM_OK;
}

static gm_status from_arrays(const gm_array *images, const gm_array *labels, int64_t height,
                             int64_t width, int64_t classes, int64_t max_classes,
                             const char *iname, const char *lname, gm_dataset *out) {
    GM_RETURN_ERROR_IF(!images || !labels || !out, GM_ERR_INVALID_ARG,
                       "gm_dataset_from_arrays: images, labels and out are required");
    memset(out, 0, sizeof *out);
    if (!iname) iname = "dataset images";
    if (!lname) lname = "dataset labels";
    GM_RETURN_ERROR_IF(images->dtype != GM_DTYPE_U8 && images->dtype != GM_DTYPE_F32 &&
                           images->dtype != GM_DTYPE_F64,
                       GM_ERR_INVALID_ARG, "%s: dtype %s is not u8, f32 or f64", iname,
                       gm_dtype_descr(images->dtype));
    GM_RETURN_ERROR_IF(labels->dtype != GM_DTYPE_U8 && labels->dtype != GM_DTYPE_I32,
                       GM_ERR_INVALID_ARG, "%s: dtype %s is not u8 or i32", lname,
                       gm_dtype_descr(labels->dtype));
    GM_RETURN_ERROR_IF(labels->ndim != 1, GM_ERR_SHAPE, "%s: %d dimensions, expected 1", lname,
                       labels->ndim);
    GM_RETURN_ERROR_IF(height < 0 || width < 0 || classes < 0 || max_classes < 0,
                       GM_ERR_INVALID_ARG, "dataset: height, width and classes must be >= 0");
    const int64_t n = images->ndim >= 1 ? images->shape[0] : 0;
    GM_RETURN_ERROR_IF(images->ndim < 2 || images->ndim > 4, GM_ERR_SHAPE,
                       "%s: %d dimensions, expected (N, D), (N, H, W) or (N, C, H, W)", iname,
                       images->ndim);
    GM_RETURN_ERROR_IF(labels->shape[0] != n, GM_ERR_SHAPE,
                       "%s and %s: %lld images but %lld labels", iname, lname, (long long)n,
                       (long long)labels->shape[0]);
    int64_t c = 1, h, w;
    if (images->ndim == 2) {
        const int64_t dim = images->shape[1];
        if (height == 0 && width == 0) {
            h = (int64_t)llround(sqrt((double)dim));
            GM_RETURN_ERROR_IF(h * h != dim, GM_ERR_SHAPE,
                               "%s: %lld values per sample is not a square; give height and "
                               "width", iname, (long long)dim);
            w = h;
        } else {
            h = height ? height : dim / width;
            w = width ? width : dim / height;
            GM_RETURN_ERROR_IF(h * w != dim, GM_ERR_SHAPE,
                               "%s: %lld values per sample != %lld x %lld", iname,
                               (long long)dim, (long long)h, (long long)w);
        }
    } else {
        if (images->ndim == 4) c = images->shape[1];
        h = images->shape[images->ndim - 2];
        w = images->shape[images->ndim - 1];
        GM_RETURN_ERROR_IF((height && height != h) || (width && width != w), GM_ERR_SHAPE,
                           "%s: %lld x %lld, expected %lld x %lld", iname, (long long)h,
                           (long long)w, (long long)height, (long long)width);
    }
    GM_FORWARD_IF_ERROR(check_labels(labels, n, classes, max_classes, lname, &classes));
    GM_FORWARD_IF_ERROR(dataset_alloc(out, n, c, h, w, classes));
    gm_status st = convert_images(images, gm__dataset_sample_size(out), iname, out);
    if (st != GM_OK) {
        gm_dataset_free(out);
        return st;
    }
    for (int64_t i = 0; i < n; i++) out->y[i] = (int32_t)label_at(labels, i);
    return GM_OK;
}

gm_status gm_dataset_from_arrays(const gm_array *images, const gm_array *labels, int64_t height,
                                 int64_t width, int64_t classes, gm_dataset *out) {
    return from_arrays(images, labels, height, width, classes, 0, NULL, NULL, out);
}

gm_status gm_dataset_from_arrays_named(const gm_array *images, const gm_array *labels,
                                       int64_t height, int64_t width, int64_t classes,
                                       const char *images_name, const char *labels_name,
                                       gm_dataset *out) {
    return from_arrays(images, labels, height, width, classes, 0, images_name, labels_name, out);
}

static bool has_suffix(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

gm_status gm_dataset_read_files(const char *images, const char *labels, int64_t classes,
                                int64_t max_classes, gm_dataset *out) {
    GM_RETURN_ERROR_IF(!images || !labels || !out, GM_ERR_INVALID_ARG,
                       "gm_dataset_read_files: images, labels and out are required");
    memset(out, 0, sizeof *out);
    gm_array img = {0}, lab = {0};
    gm_status st = has_suffix(images, ".npy") ? gm_npy_read(images, &img)
                                              : gm_idx_read(images, &img);
    if (st == GM_OK)
        st = has_suffix(labels, ".npy") ? gm_npy_read(labels, &lab) : gm_idx_read(labels, &lab);
    /* Paths are clipped so that the detail keeps its end. */
    char iname[300], lname[300];
    snprintf(iname, sizeof iname, "images '%.280s'", images);
    snprintf(lname, sizeof lname, "labels '%.280s'", labels);
    if (st == GM_OK)
        st = from_arrays(&img, &lab, 0, 0, classes, max_classes, iname, lname, out);
    gm_array_free(&img);
    gm_array_free(&lab);
    return st;
}

gm_status gm_dataset_subset(const gm_dataset *d, int64_t n, const int64_t *idx, gm_dataset *out) {
    GM_RETURN_ERROR_IF(!d || !out || n < 0 || (n > 0 && !idx), GM_ERR_INVALID_ARG,
                       "gm_dataset_subset: dataset, out and n >= 0 indices are required");
    memset(out, 0, sizeof *out);
    for (int64_t i = 0; i < n; i++)
        GM_RETURN_ERROR_IF(idx[i] < 0 || idx[i] >= d->n, GM_ERR_INVALID_ARG,
                           "dataset subset: index %lld at position %lld is outside 0..%lld",
                           (long long)idx[i], (long long)i, (long long)(d->n - 1));
    GM_FORWARD_IF_ERROR(dataset_alloc(out, n, d->channels, d->height, d->width, d->classes));
    const int64_t per = gm__dataset_sample_size(d);
    for (int64_t i = 0; i < n; i++) {
        memcpy(out->x + i * per, d->x + idx[i] * per, (size_t)per * sizeof *out->x);
        out->y[i] = d->y[idx[i]];
    }
    return GM_OK;
}

gm_status gm_dataset_split_fraction(const gm_dataset *d, double fraction, uint64_t seed,
                                    gm_dataset *first, gm_dataset *second) {
    GM_RETURN_ERROR_IF(!d || !first || !second, GM_ERR_INVALID_ARG,
                       "gm_dataset_split_fraction: dataset, first and second are required");
    GM_RETURN_ERROR_IF(!(fraction >= 0.0 && fraction <= 1.0), GM_ERR_INVALID_ARG,
                       "dataset split: fraction %g is outside [0, 1]", fraction);
    return gm_dataset_split_count(d, (int64_t)floor(fraction * (double)d->n), seed, first,
                                  second);
}

gm_status gm_dataset_split_count(const gm_dataset *d, int64_t k, uint64_t seed,
                                 gm_dataset *first, gm_dataset *second) {
    GM_RETURN_ERROR_IF(!d || !first || !second, GM_ERR_INVALID_ARG,
                       "gm_dataset_split_count: dataset, first and second are required");
    memset(first, 0, sizeof *first);
    memset(second, 0, sizeof *second);
    GM_RETURN_ERROR_IF(k < 0 || k > d->n, GM_ERR_INVALID_ARG,
                       "dataset split: %lld held out of %lld samples", (long long)k,
                       (long long)d->n);
    const int64_t n = d->n;
    int64_t *perm = gm_malloc_array((size_t)n, sizeof *perm);
    unsigned char *mark = gm_calloc((size_t)n, 1);
    int64_t *idx = gm_malloc_array((size_t)n, sizeof *idx);
    gm_status st = GM_OK;
    if (!perm || !mark || !idx) {
        st = gm__nomem("dataset split");
    } else {
        gm_rng rng;
        gm_rng_seed(&rng, seed, 0x73706c6974ULL);
        gm__shuffle_indices(&rng, n, perm);
        for (int64_t i = 0; i < k; i++) mark[perm[i]] = 1;
        /* Both parts keep the original order, so the split is a pure selection. */
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (!mark[i]) idx[m++] = i;
        st = gm_dataset_subset(d, m, idx, first);
        m = 0;
        for (int64_t i = 0; i < n && st == GM_OK; i++)
            if (mark[i]) idx[m++] = i;
        if (st == GM_OK) st = gm_dataset_subset(d, m, idx, second);
    }
    gm_free(perm);
    gm_free(mark);
    gm_free(idx);
    if (st != GM_OK) {
        gm_dataset_free(first);
        gm_dataset_free(second);
    }
    return st;
}

gm_status gm_dataset_channel_stats(const gm_dataset *d, double *mean, double *std) {
    GM_RETURN_ERROR_IF(!d || !mean || !std, GM_ERR_INVALID_ARG,
                       "gm_dataset_channel_stats: dataset, mean and std are required");
    GM_RETURN_ERROR_IF(d->n < 1, GM_ERR_INVALID_ARG, "dataset channel stats: no samples");
    const int64_t hw = d->height * d->width, per = gm__dataset_sample_size(d);
    for (int64_t c = 0; c < d->channels; c++) {
        /* Two passes in double: the one-pass formula loses digits for bright images. */
        double s = 0.0;
        for (int64_t i = 0; i < d->n; i++) {
            const float *p = d->x + i * per + c * hw;
            for (int64_t j = 0; j < hw; j++) s += p[j];
        }
        const double cnt = (double)d->n * (double)hw, mu = s / cnt;
        double v = 0.0;
        for (int64_t i = 0; i < d->n; i++) {
            const float *p = d->x + i * per + c * hw;
            for (int64_t j = 0; j < hw; j++) v += (p[j] - mu) * (p[j] - mu);
        }
        mean[c] = mu;
        std[c] = sqrt(v / cnt);
    }
    return GM_OK;
}

void gm_dataset_normalize(gm_dataset *d, const double *mean, const double *std) {
    if (!d || !mean || !std) return;
    const int64_t hw = d->height * d->width, per = gm__dataset_sample_size(d);
    for (int64_t c = 0; c < d->channels; c++) {
        const double s = std[c] > 0.0 ? std[c] : 1.0;
        for (int64_t i = 0; i < d->n; i++) {
            float *p = d->x + i * per + c * hw;
            for (int64_t j = 0; j < hw; j++) p[j] = (float)((p[j] - mean[c]) / s);
        }
    }
}
