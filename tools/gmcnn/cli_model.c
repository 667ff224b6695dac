/* Saved models for the commands that read them (info, eval, predict,
 * equivariance): the description travels in the file's metadata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_norm_free(cli_norm *n) {
    if (!n) return;
    free(n->mean);
    free(n->std);
    memset(n, 0, sizeof *n);
}

gm_status cli_norm_apply(const cli_norm *n, gm_dataset *d) {
    if (!n || n->channels == 0) return GM_OK;
    if (d->channels != n->channels)
        return gm_error_set(GM_ERR_SHAPE, "data have %lld channels but the model's "
                            "normalisation statistics %lld", (long long)d->channels,
                            (long long)n->channels);
    gm_dataset_normalize(d, n->mean, n->std);
    return GM_OK;
}

/* Reads a JSON array of exactly `want` finite numbers into a new array. */
static gm_status parse_numbers(const char *path, const char *key, const char *s, int64_t want,
                               double **out) {
    *out = NULL;
    double *v = malloc((size_t)(want > 0 ? want : 1) * sizeof *v);
    if (!v) return gm_error_set(GM_ERR_NOMEM, "model file '%s': out of memory", path);
    int64_t n = 0;
    const char *p = s;
    while (*p == ' ') p++;
    bool ok = *p++ == '[';
    while (ok) {
        while (*p == ' ') p++;
        if (n == 0 && *p == ']') break;
        char *end;
        const double x = strtod(p, &end);
        ok = end != p && isfinite(x) && n < want;
        if (!ok) break;
        v[n++] = x;
        p = end;
        while (*p == ' ') p++;
        if (*p == ']') break;
        ok = *p++ == ',';
    }
    if (ok) {
        p++;
        while (*p == ' ') p++;
        ok = *p == '\0' && n == want;
    }
    if (!ok) {
        free(v);
        return gm_error_set(GM_ERR_FORMAT, "model file '%s': metadata \"%s\" is not a JSON "
                            "array of %lld finite numbers", path, key, (long long)want);
    }
    *out = v;
    return GM_OK;
}

static gm_status read_norm(const gm_safetensors *sf, const char *path, int64_t channels,
                           cli_norm *norm) {
    const char *mean = gm_safetensors_meta_get(sf, GM_NORM_MEAN_META_KEY);
    const char *sd = gm_safetensors_meta_get(sf, GM_NORM_STD_META_KEY);
    if (!mean && !sd) return GM_OK;
    if (!mean || !sd)
        return gm_error_set(GM_ERR_FORMAT, "model file '%s': metadata \"%s\" is missing", path,
                            mean ? GM_NORM_STD_META_KEY : GM_NORM_MEAN_META_KEY);
    gm_status st = parse_numbers(path, GM_NORM_MEAN_META_KEY, mean, channels, &norm->mean);
    if (st == GM_OK) st = parse_numbers(path, GM_NORM_STD_META_KEY, sd, channels, &norm->std);
    for (int64_t c = 0; st == GM_OK && c < channels; c++)
        if (norm->std[c] < 0)
            st = gm_error_set(GM_ERR_FORMAT, "model file '%s': metadata \"%s\" has a negative "
                              "value", path, GM_NORM_STD_META_KEY);
    if (st == GM_OK)
        norm->channels = channels;
    else
        cli_norm_free(norm);
    return st;
}

gm_status cli_load_model(const char *path, gm_model **out, cli_norm *norm) {
    *out = NULL;
    if (norm) memset(norm, 0, sizeof *norm);
    gm_safetensors *sf = NULL;
    gm_status st = gm_safetensors_read(path, &sf);
    if (st != GM_OK) return st;
    /* The description is checked against the file's tensors before the
     * model is allocated. */
    st = gm_model_from_safetensors(sf, path, out);
    if (st == GM_OK && norm)
        st = read_norm(sf, path, gm_model_description(*out)->in_channels, norm);
    gm_safetensors_free(sf);
    if (st != GM_OK) {
        gm_model_free(*out);
        *out = NULL;
        cli_norm_free(norm);
    }
    return st;
}

static bool ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

gm_status cli_load_images(const char *path, const gm_model *m, const cli_norm *norm,
                          gm_dataset *out) {
    memset(out, 0, sizeof *out);
    gm_array img = {0}, lab = {0};
    gm_status st = ends_with(path, ".npy") ? gm_npy_read(path, &img) : gm_idx_read(path, &img);
    if (st != GM_OK) return st;
    if (img.ndim != 3 && img.ndim != 4) {
        st = gm_error_set(GM_ERR_SHAPE, "images '%s': %d dimensions, expected (N, H, W) or "
                          "(N, C, H, W)", path, img.ndim);
        gm_array_free(&img);
        return st;
    }
    /* Labels are not needed; zeros let the training loader's scaling apply. */
    lab.dtype = GM_DTYPE_U8;
    lab.ndim = 1;
    lab.shape[0] = img.shape[0];
    lab.data = gm_calloc(img.shape[0] > 0 ? (size_t)img.shape[0] : 1, 1);
    if (!lab.data) st = gm_error_set(GM_ERR_NOMEM, "images '%s': out of memory", path);
    char name[600];
    snprintf(name, sizeof name, "images '%.500s'", path);
    /* Non-finite values are refused here, naming the file and the sample. */
    if (st == GM_OK) st = gm_dataset_from_arrays_named(&img, &lab, 0, 0, 1, name, name, out);
    gm_array_free(&img);
    gm_array_free(&lab);
    if (st != GM_OK) return st;

    const gm_model_desc *md = gm_model_description(m);
    const gm_group *g = gm_model_group(m);
    const int64_t hw = out->height * out->width;
    if (md->in_channels != out->channels)
        st = gm_error_set(GM_ERR_SHAPE, "images '%s' have %lld channels but the model reads %lld",
                          path, (long long)out->channels, (long long)md->in_channels);
    else if (g && gm_model_input_size(m) != hw)
        st = gm_error_set(GM_ERR_SHAPE, "images '%s' are %lldx%lld (%lld pixels) but the model on "
                          "%s reads %lld", path, (long long)out->height,
                          (long long)out->width, (long long)hw, gm_group_name(g),
                          (long long)gm_model_input_size(m));
    else if (md->image_h > 0 && (md->image_h != out->height || md->image_w != out->width))
        st = gm_error_set(GM_ERR_SHAPE, "images '%s' are %lldx%lld but the model reads %lldx%lld",
                          path, (long long)out->height, (long long)out->width,
                          (long long)md->image_h, (long long)md->image_w);
    if (st == GM_OK) st = cli_norm_apply(norm, out);
    if (st != GM_OK) gm_dataset_free(out);
    return st;
}
