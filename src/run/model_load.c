/* Saved models with what they need to read inputs: the description travels
 * in the file's metadata, with the standardisation statistics and the
 * forecasting protocol. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/io.h"
#include "gmcnn/run.h"

void gm_saved_model_free(gm_saved_model *s) {
    if (!s) return;
    gm_model_free(s->model);
    gm_free(s->norm_mean);
    gm_free(s->norm_std);
    memset(s, 0, sizeof *s);
}

gm_status gm_saved_model_normalize(const gm_saved_model *s, gm_dataset *d) {
    if (!s || s->norm_channels == 0) return GM_OK;
    GM_RETURN_ERROR_IF(d->channels != s->norm_channels, GM_ERR_SHAPE,
                       "data have %lld channels but the model's normalisation statistics %lld",
                       (long long)d->channels, (long long)s->norm_channels);
    gm_dataset_normalize(d, s->norm_mean, s->norm_std);
    return GM_OK;
}

static void skip_spaces(const char **p) {
    while (**p == ' ') (*p)++;
}

/* Reads a JSON array of exactly `want` finite numbers into a new array. */
static gm_status parse_numbers(const char *path, const char *key, const char *s, int64_t want,
                               double **out) {
    *out = NULL;
    double *v = gm_malloc_array((size_t)(want > 0 ? want : 1), sizeof *v);
    GM_RETURN_ERROR_IF(!v, GM_ERR_NOMEM, "model file '%s': out of memory", path);
    int64_t n = 0;
    const char *p = s;
    skip_spaces(&p);
    bool ok = *p++ == '[';
    while (ok) {
        skip_spaces(&p);
        if (n == 0 && *p == ']') break;
        char *end;
        const double x = strtod(p, &end);
        ok = end != p && isfinite(x) && n < want;
        if (!ok) break;
        v[n++] = x;
        p = end;
        skip_spaces(&p);
        if (*p == ']') break;
        ok = *p++ == ',';
    }
    if (ok) {
        p++;
        skip_spaces(&p);
        ok = *p == '\0' && n == want;
    }
    if (!ok) {
        gm_free(v);
        return gm_error_set(GM_ERR_FORMAT, "model file '%s': metadata \"%s\" is not a JSON "
                            "array of %lld finite numbers", path, key, (long long)want);
    }
    *out = v;
    return GM_OK;
}

static gm_status read_norm(const gm_safetensors *sf, const char *path, gm_saved_model *s) {
    const char *mean = gm_safetensors_meta_get(sf, GM_NORM_MEAN_META_KEY);
    const char *sd = gm_safetensors_meta_get(sf, GM_NORM_STD_META_KEY);
    if (!mean && !sd) return GM_OK;
    GM_RETURN_ERROR_IF(!mean || !sd, GM_ERR_FORMAT, "model file '%s': metadata \"%s\" is missing",
                       path, mean ? GM_NORM_STD_META_KEY : GM_NORM_MEAN_META_KEY);
    const int64_t channels = gm_model_description(s->model)->in_channels;
    GM_FORWARD_IF_ERROR(parse_numbers(path, GM_NORM_MEAN_META_KEY, mean, channels,
                                      &s->norm_mean));
    GM_FORWARD_IF_ERROR(parse_numbers(path, GM_NORM_STD_META_KEY, sd, channels, &s->norm_std));
    for (int64_t c = 0; c < channels; c++)
        GM_RETURN_ERROR_IF(s->norm_std[c] < 0, GM_ERR_FORMAT, "model file '%s': metadata \"%s\" "
                           "has a negative value", path, GM_NORM_STD_META_KEY);
    s->norm_channels = channels;
    return GM_OK;
}

static gm_status read_forecast(const gm_safetensors *sf, const char *path, gm_saved_model *s) {
    s->forecast = gm_forecast_protocol_default();
    s->forecast.input_frames = gm_model_description(s->model)->in_channels / 2;
    const char *json = gm_safetensors_meta_get(sf, GM_FORECAST_META_KEY);
    if (!json) return GM_OK;
    const gm_status st = gm_forecast_protocol_from_json(json, &s->forecast);
    if (st != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        return gm_error_set(st, "model file '%s': metadata \"%s\": %s", path,
                            GM_FORECAST_META_KEY, detail);
    }
    s->has_forecast = true;
    return GM_OK;
}

gm_status gm_model_load(const char *path, gm_saved_model *out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG, "gm_model_load: NULL argument");
    memset(out, 0, sizeof *out);
    gm_safetensors *sf = NULL;
    GM_FORWARD_IF_ERROR(gm_safetensors_read(path, &sf));
    /* The description is checked against the file's tensors before the
     * model is allocated. */
    gm_status st = gm_model_from_safetensors(sf, path, &out->model);
    if (st == GM_OK) st = read_norm(sf, path, out);
    if (st == GM_OK) st = read_forecast(sf, path, out);
    gm_safetensors_free(sf);
    if (st != GM_OK) gm_saved_model_free(out);
    return st;
}

gm_status gm_saved_model_open(const char *path, gm_saved_model **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_saved_model_open: NULL argument");
    *out = NULL;
    gm_saved_model *s = gm_calloc(1, sizeof *s);
    GM_RETURN_ERROR_IF(!s, GM_ERR_NOMEM, "model file '%s': out of memory", path ? path : "");
    const gm_status st = gm_model_load(path, s);
    if (st != GM_OK) {
        gm_free(s);
        return st;
    }
    *out = s;
    return GM_OK;
}

void gm_saved_model_close(gm_saved_model *s) {
    if (!s) return;
    gm_saved_model_free(s);
    gm_free(s);
}

static bool ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The images must be what the model reads: channels, group order or image
 * size. */
static gm_status check_images(const gm_model *m, const char *path, const gm_dataset *d) {
    const gm_model_desc *md = gm_model_description(m);
    const gm_group *g = gm_model_group(m);
    const int64_t hw = d->height * d->width;
    GM_RETURN_ERROR_IF(md->in_channels != d->channels, GM_ERR_SHAPE,
                       "images '%s' have %lld channels but the model reads %lld", path,
                       (long long)d->channels, (long long)md->in_channels);
    GM_RETURN_ERROR_IF(g && gm_model_input_size(m) != hw, GM_ERR_SHAPE,
                       "images '%s' are %lldx%lld (%lld pixels) but the model on %s reads %lld",
                       path, (long long)d->height, (long long)d->width, (long long)hw,
                       g ? gm_group_name(g) : "", (long long)gm_model_input_size(m));
    GM_RETURN_ERROR_IF(md->image_h > 0 && (md->image_h != d->height || md->image_w != d->width),
                       GM_ERR_SHAPE, "images '%s' are %lldx%lld but the model reads %lldx%lld",
                       path, (long long)d->height, (long long)d->width, (long long)md->image_h,
                       (long long)md->image_w);
    return GM_OK;
}

gm_status gm_saved_model_read_images(const gm_saved_model *s, const char *path,
                                     gm_dataset *out) {
    GM_RETURN_ERROR_IF(!s || !s->model || !path || !out, GM_ERR_INVALID_ARG,
                       "gm_saved_model_read_images: NULL argument");
    memset(out, 0, sizeof *out);
    gm_array img = {0}, lab = {0};
    GM_FORWARD_IF_ERROR(ends_with(path, ".npy") ? gm_npy_read(path, &img)
                                                : gm_idx_read(path, &img));
    gm_status st = GM_OK;
    if (img.ndim != 3 && img.ndim != 4)
        st = gm_error_set(GM_ERR_SHAPE, "images '%s': %d dimensions, expected (N, H, W) or "
                          "(N, C, H, W)", path, img.ndim);
    /* Labels are not needed; zeros let the training loader's scaling apply. */
    if (st == GM_OK) {
        lab.dtype = GM_DTYPE_U8;
        lab.ndim = 1;
        lab.shape[0] = img.shape[0];
        lab.data = gm_calloc(img.shape[0] > 0 ? (size_t)img.shape[0] : 1, 1);
        if (!lab.data) st = gm_error_set(GM_ERR_NOMEM, "images '%s': out of memory", path);
    }
    char name[600];
    snprintf(name, sizeof name, "images '%.500s'", path);
    /* Non-finite values are refused here, naming the file and the sample. */
    if (st == GM_OK) st = gm_dataset_from_arrays_named(&img, &lab, 0, 0, 1, name, name, out);
    gm_array_free(&img);
    gm_array_free(&lab);
    if (st != GM_OK) return st;
    st = check_images(s->model, path, out);
    if (st == GM_OK) st = gm_saved_model_normalize(s, out);
    if (st != GM_OK) gm_dataset_free(out);
    return st;
}
