/* Generated data sets from their source files: read, generate, split. */
#include "gmcnn/datasets.h"

static gm_status read_needed(const char *path, const char *role, gm_dataset_kind kind,
                             gm_array *out) {
    if (!path)
        return gm_error_set(GM_ERR_INVALID_ARG, "dataset '%s' needs the %s file",
                            gm_dataset_kind_name(kind), role);
    return gm_idx_read(path, out);
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
    gm_array src = {0}, src_lab = {0}, bg = {0}, all = {0}, all_lab = {0};
    gm_status st = GM_OK;
    if (gm_dataset_kind_uses_digits(spec->kind)) {
        st = read_needed(spec->source_images, "source images", spec->kind, &src);
        if (st == GM_OK)
            st = read_needed(spec->source_labels, "source labels", spec->kind, &src_lab);
    }
    if (st == GM_OK && gm_dataset_kind_uses_backgrounds(spec->kind))
        st = read_needed(spec->backgrounds, "background images", spec->kind, &bg);
    if (st == GM_OK) {
        const gm_dataset_spec gs = {.kind = spec->kind,
                                    .seed = spec->seed,
                                    .images = &src,
                                    .labels = &src_lab,
                                    .backgrounds = &bg,
                                    .count = spec->ntrain + spec->ntest};
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
