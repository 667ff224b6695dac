/* Training and test sets from a config's data section, one branch per
 * source; the readers and generators live in data/, this only wires them. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gmcnn/config.h"
#include "gmcnn/datasets.h"
#include "train/train_internal.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

typedef struct pair {
    gm_array images, labels;
} pair;

static void pair_free(pair *p) {
    gm_array_free(&p->images);
    gm_array_free(&p->labels);
}

static gm_status need(const char *path, const char *source, const char *key) {
    if (path) return GM_OK;
    return gm_error_set(GM_ERR_INVALID_ARG, "data source '%s' needs data.%s", source, key);
}

static gm_status read_two(gm_status (*rd)(const char *, gm_array *), const char *images,
                          const char *labels, pair *out) {
    gm_status st = rd(images, &out->images);
    if (st == GM_OK) st = rd(labels, &out->labels);
    return st;
}

/* Appends b to a along the first axis; both must agree on dtype and the
 * trailing shape (the reader guarantees it for CIFAR batches). */
static gm_status concat_rows(gm_array *a, const gm_array *b, const char *what) {
    if (a->dtype != b->dtype || a->ndim != b->ndim)
        return gm_error_set(GM_ERR_SHAPE, "%s: batches of different layouts", what);
    for (int d = 1; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return gm_error_set(GM_ERR_SHAPE, "%s: batches of different shapes", what);
    const size_t esz = gm_dtype_size(a->dtype);
    const size_t na = (size_t)gm_array_numel(a) * esz, nb = (size_t)gm_array_numel(b) * esz;
    void *p = gm_realloc(a->data, na + nb);
    if (!p) return gm_error_set(GM_ERR_NOMEM, "%s: out of memory", what);
    memcpy((char *)p + na, b->data, nb);
    a->data = p;
    a->shape[0] += b->shape[0];
    return GM_OK;
}

/* The labels of one CIFAR batch against the model's classes (the reader
 * has checked 0..9), so that an error names the batch file and its record. */
static gm_status cifar_labels(const gm_array *labels, const char *path, int64_t classes) {
    const int32_t *y = labels->data;
    for (int64_t i = 0; classes > 0 && i < labels->shape[0]; i++)
        if (y[i] >= classes)
            return gm_error_set(GM_ERR_INVALID_ARG, "cifar10 file '%s': label %d of sample %lld "
                                "is outside 0..%lld (%lld classes)", path, (int)y[i],
                                (long long)i, (long long)(classes - 1), (long long)classes);
    return GM_OK;
}

static gm_status load_cifar(const gm_data_config *dc, int64_t classes, pair *tr, pair *te) {
    if (dc->ntrain_files < 1)
        return gm_error_set(GM_ERR_INVALID_ARG, "data source 'cifar10' needs data.train");
    gm_status st = GM_OK;
    for (int64_t i = 0; i < dc->ntrain_files && st == GM_OK; i++) {
        pair b = {0};
        st = gm_cifar10_read(dc->train_files[i], &b.images, &b.labels);
        if (st == GM_OK) st = cifar_labels(&b.labels, dc->train_files[i], classes);
        if (st == GM_OK && i == 0) {
            *tr = b;
            continue;
        }
        if (st == GM_OK) st = concat_rows(&tr->images, &b.images, dc->train_files[i]);
        if (st == GM_OK) st = concat_rows(&tr->labels, &b.labels, dc->train_files[i]);
        pair_free(&b);
    }
    if (st == GM_OK && dc->test_images) {
        st = gm_cifar10_read(dc->test_images, &te->images, &te->labels);
        if (st == GM_OK) st = cifar_labels(&te->labels, dc->test_images, classes);
    }
    return st;
}

static float pixel_at(const gm_array *a, int64_t k) {
    switch (a->dtype) {
    case GM_DTYPE_U8: return (float)((const uint8_t *)a->data)[k] / 255.0f;
    case GM_DTYPE_I32: return (float)((const int32_t *)a->data)[k];
    case GM_DTYPE_I64: return (float)((const int64_t *)a->data)[k];
    case GM_DTYPE_F64: return (float)((const double *)a->data)[k];
    case GM_DTYPE_F32: break;
    }
    return ((const float *)a->data)[k];
}

/* NORB stereo pairs (N, 2, H, W) or single images (N, H, W): keeps the first
 * camera as one channel and, when the model's size (oh x ow, 0 = as stored)
 * differs, area-averages it to that size. A resized array is F32 with U8
 * pixels already scaled by 1/255, so gm_dataset_from_arrays takes it as is. */
static gm_status norb_first_camera(gm_array *a, const char *path, int64_t oh, int64_t ow) {
    if (a->ndim == 3) {
        a->shape[3] = a->shape[2];
        a->shape[2] = a->shape[1];
        a->shape[1] = 1;
        a->ndim = 4;
    } else if (a->ndim != 4 || a->shape[1] < 1) {
        return gm_error_set(GM_ERR_SHAPE, "norb file '%s': expected (N, 2, H, W) images, "
                            "got %d dimensions", path, a->ndim);
    }
    const int64_t n = a->shape[0], cams = a->shape[1], h = a->shape[2], w = a->shape[3];
    const int64_t hw = h * w;
    const size_t esz = gm_dtype_size(a->dtype);
    if (oh <= 0 || ow <= 0 || (oh == h && ow == w)) {
        char *p = a->data;
        for (int64_t i = 0; i < n; i++)
            memmove(p + (size_t)(i * hw) * esz, p + (size_t)(i * cams * hw) * esz,
                    (size_t)hw * esz);
        a->shape[1] = 1;
        return GM_OK;
    }
    if (h < 1 || w < 1)
        return gm_error_set(GM_ERR_SHAPE, "norb file '%s': empty %lldx%lld images", path,
                            (long long)h, (long long)w);
    /* Without samples the stored sizes have no data behind them: nothing to
     * resize, and nothing to allocate for them. */
    if (n == 0) {
        a->dtype = GM_DTYPE_F32;
        a->shape[1] = 1;
        a->shape[2] = oh;
        a->shape[3] = ow;
        return GM_OK;
    }
    float *img = gm_malloc_array((size_t)hw, sizeof *img);
    float *out = gm_malloc_array((size_t)(n * oh * ow), sizeof *out);
    if (!img || !out) {
        gm_free(img);
        gm_free(out);
        return gm_error_set(GM_ERR_NOMEM, "norb file '%s': out of memory resizing to %lldx%lld",
                            path, (long long)oh, (long long)ow);
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < hw; k++) img[k] = pixel_at(a, i * cams * hw + k);
        gm_image_resize_area_f32(img, h, w, out + i * oh * ow, oh, ow);
    }
    gm_free(img);
    gm_free(a->data);
    a->data = out;
    a->dtype = GM_DTYPE_F32;
    a->shape[1] = 1;
    a->shape[2] = oh;
    a->shape[3] = ow;
    return GM_OK;
}

static gm_status load_norb(const gm_data_config *dc, pair *tr, pair *te) {
    gm_status st = read_two(gm_norb_read, dc->train_images, dc->train_labels, tr);
    if (st == GM_OK)
        st = norb_first_camera(&tr->images, dc->train_images, dc->image_h, dc->image_w);
    if (st == GM_OK && dc->test_images) {
        st = read_two(gm_norb_read, dc->test_images, dc->test_labels, te);
        if (st == GM_OK)
            st = norb_first_camera(&te->images, dc->test_images, dc->image_h, dc->image_w);
    }
    return st;
}

static gm_status must_exist(const char *path) {
    if (access(path, R_OK) == 0) return GM_OK;
    return gm_error_set(GM_ERR_IO, "generated data: source file '%s' is missing; run `make data` "
                        "(scripts/setup-data.sh), or set the data directory (GMCNN_DATA) to "
                        "where it made them", path);
}

static gm_status load_generated(const gm_data_config *dc, const char *data_dir, pair *tr,
                                pair *te) {
    gm_dataset_kind kind;
    gm_status st = gm_dataset_kind_parse(dc->gen_kind ? dc->gen_kind : "rotated", &kind);
    if (st != GM_OK) return st;
    const bool fashion = dc->gen_digits && !strcmp(dc->gen_digits, "fashion");
    const bool custom = dc->gen_path && dc->gen_path[0];
    char dir[4096], images[4200], labels[4200], backgrounds[4200], test_images[4200],
        test_labels[4200];
    if (custom)
        snprintf(dir, sizeof dir, "%s", dc->gen_path);
    else if (fashion)
        snprintf(dir, sizeof dir, "%s", FASHION_DIR);
    else
        snprintf(dir, sizeof dir, "%s/mnist10k", data_dir ? data_dir : "build/data");
    snprintf(images, sizeof images, "%s/%s", dir,
             fashion ? "train-images-idx3-ubyte.gz" : "images-idx3-ubyte.gz");
    snprintf(labels, sizeof labels, "%s/%s", dir,
             fashion ? "train-labels-idx1-ubyte.gz" : "labels-idx1-ubyte.gz");
    snprintf(backgrounds, sizeof backgrounds, "%s/train-images-idx3-ubyte.gz",
             fashion && custom ? dir : FASHION_DIR);
    snprintf(test_images, sizeof test_images, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(test_labels, sizeof test_labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (dc->gen_official && !fashion)
        return gm_error_set(GM_ERR_INVALID_ARG, "data.split official needs the Fashion-MNIST "
                            "digits (data.kind fashion or fashion-rotated)");
    if (gm_dataset_kind_uses_digits(kind)) {
        st = must_exist(images);
        if (st == GM_OK) st = must_exist(labels);
    }
    if (st == GM_OK && gm_dataset_kind_uses_backgrounds(kind)) st = must_exist(backgrounds);
    if (st == GM_OK && dc->gen_official) {
        st = must_exist(test_images);
        if (st == GM_OK) st = must_exist(test_labels);
    }
    if (st != GM_OK) return st;
    const gm_dataset_make_spec spec = {.kind = kind,
                                       .seed = dc->gen_seed,
                                       .source_images = images,
                                       .source_labels = labels,
                                       .backgrounds = backgrounds,
                                       .ntrain = dc->gen_num_train,
                                       .ntest = dc->gen_num_test,
                                       .max_angle = dc->gen_max_angle,
                                       .test_images = dc->gen_official ? test_images : NULL,
                                       .test_labels = dc->gen_official ? test_labels : NULL};
    return gm_dataset_make(&spec, &tr->images, &tr->labels, &te->images, &te->labels);
}

static gm_status load_arrays(const gm_data_config *dc, const char *data_dir, int64_t classes,
                             pair *tr, pair *te) {
    const char *name = gm_data_source_name(dc->source);
    gm_status st = GM_OK;
    switch (dc->source) {
    case GM_DATA_IDX:
    case GM_DATA_NPY: {
        gm_status (*rd)(const char *, gm_array *) =
            dc->source == GM_DATA_IDX ? gm_idx_read : gm_npy_read;
        st = need(dc->train_images, name, "images");
        if (st == GM_OK) st = need(dc->train_labels, name, "labels");
        if (st == GM_OK) st = read_two(rd, dc->train_images, dc->train_labels, tr);
        if (st == GM_OK && dc->test_images) {
            st = need(dc->test_labels, name, "test_labels");
            if (st == GM_OK) st = read_two(rd, dc->test_images, dc->test_labels, te);
        }
        return st;
    }
    case GM_DATA_AMAT:
        st = need(dc->train_images, name, "train");
        if (st == GM_OK) st = gm_amat_read(dc->train_images, &tr->images, &tr->labels);
        if (st == GM_OK && dc->test_images)
            st = gm_amat_read(dc->test_images, &te->images, &te->labels);
        return st;
    case GM_DATA_CIFAR10: return load_cifar(dc, classes, tr, te);
    case GM_DATA_NORB:
        st = need(dc->train_images, name, "train_dat");
        if (st == GM_OK) st = need(dc->train_labels, name, "train_cat");
        if (st == GM_OK && dc->test_images) st = need(dc->test_labels, name, "test_cat");
        return st == GM_OK ? load_norb(dc, tr, te) : st;
    case GM_DATA_GENERATED: return load_generated(dc, data_dir, tr, te);
    case GM_DATA_PLUME:
        return gm_error_set(GM_ERR_INVALID_ARG, "data.source plume holds forecasting windows, "
                            "not a classification set: load it with gm_plume_data_load");
    }
    return gm_error_set(GM_ERR_INVALID_ARG, "unknown data source %d", (int)dc->source);
}

/* What errors call the arrays of one set: the files, or the source. */
typedef struct set_names {
    char images[600], labels[600];
} set_names;

static void names_for(const gm_data_config *dc, bool test, set_names *nm) {
    const char *img = test ? dc->test_images : dc->train_images;
    const char *lab = test ? dc->test_labels : dc->train_labels;
    const char *split = test ? "test" : "training";
    switch (dc->source) {
    case GM_DATA_IDX:
    case GM_DATA_NPY:
        snprintf(nm->images, sizeof nm->images, "images '%.500s'", img ? img : "?");
        snprintf(nm->labels, sizeof nm->labels, "labels '%.500s'", lab ? lab : "?");
        return;
    case GM_DATA_AMAT:
        snprintf(nm->images, sizeof nm->images, "amat file '%.500s'", img ? img : "?");
        snprintf(nm->labels, sizeof nm->labels, "amat file '%.500s'", img ? img : "?");
        return;
    case GM_DATA_NORB:
        snprintf(nm->images, sizeof nm->images, "norb file '%.500s'", img ? img : "?");
        snprintf(nm->labels, sizeof nm->labels, "norb file '%.500s'", lab ? lab : "?");
        return;
    case GM_DATA_CIFAR10:
        snprintf(nm->images, sizeof nm->images, "cifar10 %s batches", split);
        snprintf(nm->labels, sizeof nm->labels, "cifar10 %s batches", split);
        return;
    case GM_DATA_GENERATED:
        snprintf(nm->images, sizeof nm->images, "generated data '%.100s', %s set",
                 dc->gen_kind ? dc->gen_kind : "rotated", split);
        break;
    case GM_DATA_PLUME:
        snprintf(nm->images, sizeof nm->images, "plume %s set", split);
        break;
    }
    snprintf(nm->labels, sizeof nm->labels, "%s", nm->images);
}

gm_status gm_data_load(const gm_data_config *dc, const char *default_data_dir, gm_dataset *train,
                       gm_dataset *test) {
    return gm_data_load_classes(dc, default_data_dir, 0, train, test);
}

gm_status gm_data_load_classes(const gm_data_config *dc, const char *default_data_dir,
                               int64_t classes, gm_dataset *train, gm_dataset *test) {
    if (!dc || !train || !test)
        return gm_error_set(GM_ERR_INVALID_ARG, "gm_data_load: NULL argument");
    *train = *test = (gm_dataset){0};
    if (classes < 0)
        return gm_error_set(GM_ERR_INVALID_ARG, "gm_data_load: classes %lld must be >= 0",
                            (long long)classes);
    pair tr = {0}, te = {0};
    set_names nm;
    gm_status st = load_arrays(dc, default_data_dir, classes, &tr, &te);
    if (st == GM_OK) {
        names_for(dc, false, &nm);
        st = gm_dataset_from_arrays_named(&tr.images, &tr.labels, 0, 0, classes, nm.images,
                                          nm.labels, train);
    }
    /* An empty generated test split is still "no test set". */
    if (st == GM_OK && te.images.data && gm_array_numel(&te.images) > 0) {
        names_for(dc, true, &nm);
        st = gm_dataset_from_arrays_named(&te.images, &te.labels, 0, 0, classes, nm.images,
                                          nm.labels, test);
    }
    pair_free(&tr);
    pair_free(&te);
    if (st == GM_OK && test->n > 0 &&
        (test->channels != train->channels || test->height != train->height ||
         test->width != train->width))
        st = gm_error_set(GM_ERR_SHAPE, "data: test images are %lldx%lldx%lld, training "
                          "images %lldx%lldx%lld", (long long)test->channels,
                          (long long)test->height, (long long)test->width,
                          (long long)train->channels, (long long)train->height,
                          (long long)train->width);
    if (st != GM_OK) {
        gm_dataset_free(train);
        gm_dataset_free(test);
        return st;
    }
    if (test->classes > train->classes) train->classes = test->classes;
    test->classes = train->classes;
    return GM_OK;
}
