/* Generated data sets from their source files: read, generate, split. */
#include <stdbool.h>

#include "gmcnn/datasets.h"

static gm_status read_needed(const char *path, const char *role, gm_dataset_kind kind,
                             gm_array *out) {
    if (!path)
        return gm_error_set(GM_ERR_INVALID_ARG, "dataset '%s' needs the %s file",
                            gm_dataset_kind_name(kind), role);
    return gm_idx_read(path, out);
}

/* The first n examples of images/labels as views (no copy), n checked. */
static gm_status first_n(const gm_array *images, const gm_array *labels, int64_t n,
                         const char *path, gm_array *vi, gm_array *vl) {
    if (images->ndim < 1 || labels->ndim != 1 || labels->shape[0] != images->shape[0])
        return gm_error_set(GM_ERR_SHAPE, "dataset: '%s' and its labels disagree in length",
                            path);
    if (n > images->shape[0])
        return gm_error_set(GM_ERR_SHAPE, "dataset: %lld examples requested but '%s' holds %lld",
                            (long long)n, path, (long long)images->shape[0]);
    *vi = *images;
    *vl = *labels;
    vi->shape[0] = vl->shape[0] = n;
    return GM_OK;
}

/* The official split: training set from the source files, test set from the
 * test files, each generated from its own seed. */
static gm_status make_official(const gm_dataset_make_spec *spec, const gm_array *src,
                               const gm_array *src_lab, const gm_array *bg, gm_array *train_images,
                               gm_array *train_labels, gm_array *test_images,
                               gm_array *test_labels) {
    gm_array te = {0}, te_lab = {0}, vi, vl;
    gm_status st = gm_idx_read(spec->test_images, &te);
    if (st == GM_OK) st = gm_idx_read(spec->test_labels, &te_lab);
    if (st == GM_OK) st = first_n(src, src_lab, spec->ntrain, spec->source_images, &vi, &vl);
    if (st == GM_OK) {
        const gm_dataset_spec gs = {.kind = spec->kind, .seed = spec->seed, .images = &vi,
                                    .labels = &vl, .backgrounds = bg,
                                    .max_angle = spec->max_angle};
        st = gm_dataset_generate(&gs, train_images, train_labels);
    }
    if (st == GM_OK) st = first_n(&te, &te_lab, spec->ntest, spec->test_images, &vi, &vl);
    if (st == GM_OK) {
        const gm_dataset_spec gs = {.kind = spec->kind,
                                    .seed = spec->seed ^ GM_DATASET_TEST_SEED_MIX,
                                    .images = &vi, .labels = &vl, .backgrounds = bg,
                                    .max_angle = spec->max_angle};
        st = gm_dataset_generate(&gs, test_images, test_labels);
    }
    gm_array_free(&te);
    gm_array_free(&te_lab);
    return st;
}

gm_status gm_dataset_make(const gm_dataset_make_spec *spec, gm_array *train_images,
                          gm_array *train_labels, gm_array *test_images,
                          gm_array *test_labels) {
    if (!spec || !train_images || !train_labels || !test_images || !test_labels)
        return gm_error_set(GM_ERR_INVALID_ARG, "gm_dataset_make: NULL argument");
    *train_images = *train_labels = *test_images = *test_labels = (gm_array){0};
    if (spec->ntrain < 0 || spec->ntest < 0 || spec->ntrain > INT64_MAX - spec->ntest)
        return gm_error_set(GM_ERR_INVALID_ARG, "gm_dataset_make: bad counts %lld, %lld",
                            (long long)spec->ntrain, (long long)spec->ntest);
    const bool official = spec->test_images || spec->test_labels;
    if (official && (!spec->test_images || !spec->test_labels))
        return gm_error_set(GM_ERR_INVALID_ARG, "dataset '%s': the official split needs both "
                            "test images and test labels", gm_dataset_kind_name(spec->kind));
    if (official && !gm_dataset_kind_uses_digits(spec->kind))
        return gm_error_set(GM_ERR_INVALID_ARG, "dataset '%s': an official split needs a "
                            "digit kind", gm_dataset_kind_name(spec->kind));
    gm_array src = {0}, src_lab = {0}, bg = {0}, all = {0}, all_lab = {0};
    gm_status st = GM_OK;
    if (gm_dataset_kind_uses_digits(spec->kind)) {
        st = read_needed(spec->source_images, "source images", spec->kind, &src);
        if (st == GM_OK)
            st = read_needed(spec->source_labels, "source labels", spec->kind, &src_lab);
    }
    if (st == GM_OK && gm_dataset_kind_uses_backgrounds(spec->kind))
        st = read_needed(spec->backgrounds, "background images", spec->kind, &bg);
    if (st == GM_OK && official) {
        st = make_official(spec, &src, &src_lab, &bg, train_images, train_labels, test_images,
                           test_labels);
        if (st != GM_OK) {
            gm_array_free(train_images);
            gm_array_free(train_labels);
            gm_array_free(test_images);
            gm_array_free(test_labels);
        }
        gm_array_free(&src);
        gm_array_free(&src_lab);
        gm_array_free(&bg);
        return st;
    }
    if (st == GM_OK) {
        const gm_dataset_spec gs = {.kind = spec->kind,
                                    .seed = spec->seed,
                                    .images = &src,
                                    .labels = &src_lab,
                                    .backgrounds = &bg,
                                    .count = spec->ntrain + spec->ntest,
                                    .max_angle = spec->max_angle};
        st = gm_dataset_generate(&gs, &all, &all_lab);
    }
    if (st == GM_OK)
        st = gm_dataset_split(&all, &all_lab, spec->ntrain, spec->ntest, spec->seed,
                              train_images, train_labels, test_images, test_labels);
    gm_array_free(&src);
    gm_array_free(&src_lab);
    gm_array_free(&bg);
    gm_array_free(&all);
    gm_array_free(&all_lab);
    return st;
}
