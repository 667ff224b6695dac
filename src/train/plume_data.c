/* Plume datasets (manifest.json + one .npy per simulation), the forecasting
 * protocol and its windows. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/forecast.h"
#include "train/train_internal.h"

/* Far above any real protocol; keeps every frame index inside int64 and
 * every count inside gm_rng_below's 32 bits. */
#define GM__FC_MAX ((int64_t)1 << 31)
/* A manifest larger than this is not a manifest. */
#define GM__FC_MANIFEST_MAX ((long)16 << 20)

/* --- the protocol -------------------------------------------------------------- */

gm_forecast_protocol gm_forecast_protocol_default(void) {
    return (gm_forecast_protocol){
        .input_frames = 10,
        .input_offset = 2,
        .rollout_steps = 6,
        .eval_steps = 20,
        .train = {0, 160},
        .val = {160, 200},
        .future = {200, 250},
        .domain = {0, 100},
        .train_stride = 1,
        .eval_stride = 1,
    };
}

static const char *const gm__fc_split_names[] = {"train", "val", "future", "domain"};

const char *gm_forecast_split_name(gm_forecast_split split) {
    const int i = (int)split;
    return i >= 0 && i < 4 ? gm__fc_split_names[i] : "?";
}

static const gm_forecast_range *gm__fc_range(const gm_forecast_protocol *p,
                                             gm_forecast_split split) {
    switch (split) {
    case GM_FORECAST_TRAIN: return &p->train;
    case GM_FORECAST_VAL: return &p->val;
    case GM_FORECAST_FUTURE: return &p->future;
    case GM_FORECAST_DOMAIN: return &p->domain;
    }
    return NULL;
}

gm_status gm_forecast_protocol_check(const gm_forecast_protocol *p) {
    GM_RETURN_ERROR_IF(!p, GM_ERR_INVALID_ARG, "gm_forecast_protocol_check: p is required");
    const struct {
        const char *name;
        int64_t v, lo;
    } counts[] = {
        {"input_frames", p->input_frames, 1},
        {"input_offset", p->input_offset, 0},
        {"rollout_steps", p->rollout_steps, 1},
        {"eval_steps", p->eval_steps, 1},
        {"train_stride", p->train_stride, 1},
        {"eval_stride", p->eval_stride, 1},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        GM_RETURN_ERROR_IF(counts[i].v < counts[i].lo || counts[i].v > GM__FC_MAX,
                           GM_ERR_INVALID_ARG, "forecast protocol: %s = %lld is outside %lld..%lld",
                           counts[i].name, (long long)counts[i].v, (long long)counts[i].lo,
                           (long long)GM__FC_MAX);
    for (int s = 0; s < 4; s++) {
        const gm_forecast_range *r = gm__fc_range(p, (gm_forecast_split)s);
        GM_RETURN_ERROR_IF(r->begin < 0 || r->end > GM__FC_MAX || r->begin >= r->end,
                           GM_ERR_INVALID_ARG,
                           "forecast protocol: %s range [%lld, %lld) must satisfy 0 <= begin < "
                           "end <= %lld",
                           gm__fc_split_names[s], (long long)r->begin, (long long)r->end,
                           (long long)GM__FC_MAX);
    }
    return GM_OK;
}

gm_status gm_forecast_protocol_to_json(const gm_forecast_protocol *p, char **json) {
    GM_RETURN_ERROR_IF(!p || !json, GM_ERR_INVALID_ARG,
                       "gm_forecast_protocol_to_json: p and json are required");
    *json = NULL;
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"input_frames\":%lld,\"input_offset\":%lld,\"rollout_steps\":%lld,"
             "\"eval_steps\":%lld,\"train\":[%lld,%lld],\"val\":[%lld,%lld],"
             "\"future\":[%lld,%lld],\"domain\":[%lld,%lld],\"train_stride\":%lld,"
             "\"eval_stride\":%lld}",
             (long long)p->input_frames, (long long)p->input_offset,
             (long long)p->rollout_steps, (long long)p->eval_steps, (long long)p->train.begin,
             (long long)p->train.end, (long long)p->val.begin, (long long)p->val.end,
             (long long)p->future.begin, (long long)p->future.end, (long long)p->domain.begin,
             (long long)p->domain.end, (long long)p->train_stride, (long long)p->eval_stride);
    *json = gm_strdup(buf);
    if (!*json) return gm__nomem("forecast protocol JSON");
    return GM_OK;
}

static bool gm__fc_json_int(const json_t *v, int64_t *out) {
    const double x = json_number_value(v);
    if (!json_is_number(v) || x != floor(x) || fabs(x) > (double)GM__FC_MAX) return false;
    *out = (int64_t)x;
    return true;
}

static gm_status gm__fc_protocol_parse(const json_t *o, gm_forecast_protocol *p) {
    GM_RETURN_ERROR_IF(!json_is_object(o), GM_ERR_FORMAT,
                       "forecast protocol: expected a JSON object");
    const struct {
        const char *key;
        int64_t *dst;
    } ints[] = {
        {"input_frames", &p->input_frames},   {"input_offset", &p->input_offset},
        {"rollout_steps", &p->rollout_steps}, {"eval_steps", &p->eval_steps},
        {"train_stride", &p->train_stride},   {"eval_stride", &p->eval_stride},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const json_t *v = json_object_get(o, ints[i].key);
        GM_RETURN_ERROR_IF(v && !gm__fc_json_int(v, ints[i].dst), GM_ERR_FORMAT,
                           "forecast protocol: \"%s\" must be an integer", ints[i].key);
    }
    for (int s = 0; s < 4; s++) {
        const json_t *v = json_object_get(o, gm__fc_split_names[s]);
        if (!v) continue;
        gm_forecast_range *r = (gm_forecast_range *)gm__fc_range(p, (gm_forecast_split)s);
        const bool ok = json_is_array(v) && json_array_size(v) == 2 &&
                        gm__fc_json_int(json_array_get(v, 0), &r->begin) &&
                        gm__fc_json_int(json_array_get(v, 1), &r->end);
        GM_RETURN_ERROR_IF(!ok, GM_ERR_FORMAT,
                           "forecast protocol: \"%s\" must be a list of two integers",
                           gm__fc_split_names[s]);
    }
    if (gm_forecast_protocol_check(p) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        return gm_error_set(GM_ERR_FORMAT, "%s", detail);
    }
    return GM_OK;
}

gm_status gm_forecast_protocol_from_json(const char *json, gm_forecast_protocol *out) {
    GM_RETURN_ERROR_IF(!json || !out, GM_ERR_INVALID_ARG,
                       "gm_forecast_protocol_from_json: json and out are required");
    gm_forecast_protocol p = gm_forecast_protocol_default();
    json_t *root = json_loads(json, GM__JSON_READ_FLAGS, NULL);
    if (!root) return gm_error_set(GM_ERR_FORMAT, "forecast protocol: malformed JSON");
    const gm_status st = gm__fc_protocol_parse(root, &p);
    json_decref(root);
    if (st == GM_OK) *out = p;
    return st;
}

/* --- datasets ------------------------------------------------------------------------ */

void gm_plume_data_free(gm_plume_data *d) {
    if (!d) return;
    for (int64_t i = 0; d->labels && i < d->nsims; i++) gm_free(d->labels[i]);
    gm_free(d->labels);
    gm_free(d->held_out);
    gm_free(d->x);
    gm_free(d->name);
    memset(d, 0, sizeof *d);
}

const float *gm_plume_data_frame(const gm_plume_data *d, int64_t sim, int64_t frame) {
    const int64_t plane = 2 * d->height * d->width;
    return d->x + (sim * d->frames + frame) * plane;
}

static void gm__fc_shape_str(const gm_array *a, char *buf, size_t cap) {
    size_t len = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < a->ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "",
                                (long long)a->shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "%s)", a->ndim == 1 ? "," : "");
}

/* Reads one sim file into *dst (frames * 2 * h * w floats, gm_malloc'd)
 * with every check. Sizes that are 0 on entry are taken from the file. */
static gm_status gm__fc_read_sim(const char *path, int64_t *frames, int64_t *h, int64_t *w,
                                 float **dst) {
    gm_array a = {0};
    GM_FORWARD_IF_ERROR(gm_npy_read(path, &a));
    gm_status st = GM_OK;
    char shape[160];
    gm__fc_shape_str(&a, shape, sizeof shape);
    const bool fixed = *h > 0;
    if (a.dtype != GM_DTYPE_F32) {
        st = gm_error_set(GM_ERR_FORMAT, "plume data '%s': dtype %s, expected float32 (<f4)",
                          path, gm_dtype_descr(a.dtype));
    } else if (a.ndim != 4 || a.shape[0] < 1 || a.shape[1] != 2 || a.shape[2] < 1 ||
               a.shape[3] < 1 || (fixed && (a.shape[2] != *h || a.shape[3] != *w))) {
        if (fixed)
            st = gm_error_set(GM_ERR_SHAPE, "plume data '%s': shape %s, expected (%lld, 2, %lld, "
                              "%lld)", path, shape, (long long)*frames, (long long)*h,
                              (long long)*w);
        else
            st = gm_error_set(GM_ERR_SHAPE, "plume data '%s': shape %s, expected (frames, 2, "
                              "height, width)", path, shape);
    } else if (*frames > 0 && a.shape[0] != *frames) {
        st = gm_error_set(GM_ERR_SHAPE, "plume data '%s': %lld frames, the manifest says %lld "
                          "(shape %s)", path, (long long)a.shape[0], (long long)*frames, shape);
    }
    if (st == GM_OK) {
        const int64_t n = gm_array_numel(&a), hw = a.shape[2] * a.shape[3];
        const float *v = a.data;
        for (int64_t i = 0; i < n && st == GM_OK; i++) {
            if (isfinite(v[i])) continue;
            const int64_t f = i / (2 * hw), c = (i / hw) % 2, p = i % hw;
            st = gm_error_set(GM_ERR_FORMAT, "plume data '%s': non-finite value %g at frame %lld "
                              "channel %lld row %lld column %lld", path, (double)v[i],
                              (long long)f, (long long)c, (long long)(p / a.shape[3]),
                              (long long)(p % a.shape[3]));
        }
    }
    if (st != GM_OK) {
        gm_array_free(&a);
        return st;
    }
    *frames = a.shape[0];
    *h = a.shape[2];
    *w = a.shape[3];
    *dst = a.data; /* the array's block: gm_malloc'd, now ours */
    return GM_OK;
}

static char *gm__fc_read_text(const char *path, gm_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = gm_error_set(GM_ERR_IO, "plume data '%s': cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        *st = gm_error_set(GM_ERR_IO, "plume data '%s': cannot read", path);
    } else if (size > GM__FC_MANIFEST_MAX) {
        *st = gm_error_set(GM_ERR_FORMAT, "plume data '%s': %ld bytes, larger than a manifest",
                           path, size);
    } else if (!(buf = gm_malloc((size_t)size + 1))) {
        *st = gm__nomem("plume manifest");
    } else if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        *st = gm_error_set(GM_ERR_IO, "plume data '%s': read error", path);
        gm_free(buf);
        buf = NULL;
    } else {
        buf[size] = '\0';
    }
    fclose(f);
    return buf;
}

static gm_status gm__fc_manifest_int(const json_t *o, const char *mpath, const char *key,
                                     int64_t *out) {
    const json_t *v = json_object_get(o, key);
    GM_RETURN_ERROR_IF(!v, GM_ERR_FORMAT, "plume data '%s': \"%s\" is missing", mpath, key);
    GM_RETURN_ERROR_IF(!gm__fc_json_int(v, out) || *out < 1, GM_ERR_FORMAT,
                       "plume data '%s': \"%s\" must be a positive integer", mpath, key);
    return GM_OK;
}

/* The manifest's sims, checked; the files are read afterwards. */
static gm_status gm__fc_manifest(const json_t *root, const char *mpath, gm_plume_data *d,
                                 const json_t **sims) {
    GM_RETURN_ERROR_IF(!json_is_object(root), GM_ERR_FORMAT,
                       "plume data '%s': expected a JSON object", mpath);
    GM_FORWARD_IF_ERROR(gm__fc_manifest_int(root, mpath, "frames", &d->frames));
    GM_FORWARD_IF_ERROR(gm__fc_manifest_int(root, mpath, "height", &d->height));
    GM_FORWARD_IF_ERROR(gm__fc_manifest_int(root, mpath, "width", &d->width));
    int64_t per;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(d->frames, 2 * d->height, &per) ||
                           gm_mul_overflow_i64(per, d->width, &per),
                       GM_ERR_FORMAT, "plume data '%s': frames x 2 x height x width overflows",
                       mpath);
    const json_t *s = json_object_get(root, "sims");
    GM_RETURN_ERROR_IF(!s, GM_ERR_FORMAT, "plume data '%s': \"sims\" is missing", mpath);
    GM_RETURN_ERROR_IF(!json_is_array(s) || json_array_size(s) < 1, GM_ERR_FORMAT,
                       "plume data '%s': \"sims\" must be a non-empty array", mpath);
    int i = 0;
    for (; (size_t)i < json_array_size(s); i++) {
        const json_t *e = json_array_get(s, (size_t)i);
        GM_RETURN_ERROR_IF(!json_is_object(e), GM_ERR_FORMAT,
                           "plume data '%s': sims[%d] must be an object", mpath, i);
        const json_t *f = json_object_get(e, "file");
        GM_RETURN_ERROR_IF(!f, GM_ERR_FORMAT, "plume data '%s': sims[%d].file is missing", mpath,
                           i);
        const char *fs = json_string_value(f);
        GM_RETURN_ERROR_IF(!fs || !fs[0] || strchr(fs, '/') || !strcmp(fs, ".") ||
                               !strcmp(fs, ".."),
                           GM_ERR_FORMAT,
                           "plume data '%s': sims[%d].file must be a file name in the dataset "
                           "directory", mpath, i);
        const json_t *h = json_object_get(e, "held_out");
        GM_RETURN_ERROR_IF(!h, GM_ERR_FORMAT, "plume data '%s': sims[%d].held_out is missing",
                           mpath, i);
        GM_RETURN_ERROR_IF(!json_is_boolean(h), GM_ERR_FORMAT,
                           "plume data '%s': sims[%d].held_out must be true or false", mpath, i);
        const json_t *l = json_object_get(e, "label");
        GM_RETURN_ERROR_IF(l && !json_is_string(l), GM_ERR_FORMAT,
                           "plume data '%s': sims[%d].label must be a string", mpath, i);
    }
    int64_t bytes;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(per, (int64_t)i, &bytes) ||
                           gm_mul_overflow_i64(bytes, (int64_t)sizeof(float), &bytes),
                       GM_ERR_TOO_LARGE, "plume data '%s': %d simulations are too large", mpath,
                       i);
    d->nsims = i;
    *sims = s;
    return GM_OK;
}

static gm_status gm__fc_alloc_meta(gm_plume_data *d) {
    d->held_out = gm_calloc((size_t)d->nsims, sizeof *d->held_out);
    d->labels = gm_calloc((size_t)d->nsims, sizeof *d->labels);
    if (!d->held_out || !d->labels) return gm__nomem("plume data");
    return GM_OK;
}

static gm_status gm__fc_load_dir(const char *dir, gm_plume_data *d) {
    d->name = gm_strdup(dir);
    if (!d->name) return gm__nomem("plume data");
    const size_t cap = strlen(dir) + 300;
    char *path = gm_malloc(cap);
    if (!path) return gm__nomem("plume data path");
    snprintf(path, cap, "%s/manifest.json", dir);
    gm_status st = GM_OK;
    char *text = gm__fc_read_text(path, &st);
    json_t *root = NULL;
    if (text) {
        json_error_t err;
        root = json_loads(text, GM__JSON_READ_FLAGS, &err);
        if (!root) {
            st = gm_error_set(GM_ERR_FORMAT, "plume data '%s': malformed JSON at byte %ld", path,
                              (long)err.position);
        }
    }
    const json_t *sims = NULL;
    if (st == GM_OK) st = gm__fc_manifest(root, path, d, &sims);
    if (st == GM_OK) st = gm__fc_alloc_meta(d);
    /* The manifest's sizes are not trusted with memory before the files bear
     * them out: the frames grow with the simulations actually read. */
    const int64_t per = d->frames * 2 * d->height * d->width;
    int64_t xcap = 0;
    int64_t i = 0;
    for (; sims && (size_t)i < json_array_size(sims) && st == GM_OK; i++) {
        const json_t *e = json_array_get(sims, (size_t)i);
        const char *file = json_string_value(json_object_get(e, "file"));
        const json_t *l = json_object_get(e, "label");
        d->held_out[i] = json_is_true(json_object_get(e, "held_out"));
        d->labels[i] = gm_strdup(l ? json_string_value(l) : "");
        if (!d->labels[i]) {
            st = gm__nomem("plume data labels");
            break;
        }
        const size_t need = strlen(dir) + strlen(file) + 2;
        char *sp = gm_malloc(need);
        if (!sp) {
            st = gm__nomem("plume data path");
            break;
        }
        snprintf(sp, need, "%s/%s", dir, file);
        float *v = NULL;
        int64_t frames = d->frames, h = d->height, w = d->width;
        st = gm__fc_read_sim(sp, &frames, &h, &w, &v);
        if (st == GM_OK && i + 1 > xcap) {
            const int64_t ncap = xcap == 0 ? 1 : 2 * xcap < d->nsims ? 2 * xcap : d->nsims;
            float *x = gm_realloc(d->x, (size_t)(ncap * per) * sizeof *x);
            if (!x) {
                st = gm__nomem("plume data frames");
            } else {
                d->x = x;
                xcap = ncap;
            }
        }
        if (st == GM_OK) memcpy(d->x + i * per, v, (size_t)per * sizeof *v);
        gm_free(v);
        gm_free(sp);
    }
    json_decref(root);
    gm_free(text);
    gm_free(path);
    return st;
}

gm_status gm_plume_data_load(const char *dir, gm_plume_data *out) {
    GM_RETURN_ERROR_IF(!dir || !out, GM_ERR_INVALID_ARG,
                       "gm_plume_data_load: dir and out are required");
    memset(out, 0, sizeof *out);
    const gm_status st = gm__fc_load_dir(dir, out);
    if (st != GM_OK) gm_plume_data_free(out);
    return st;
}

gm_status gm_plume_data_load_sim(const char *path, gm_plume_data *out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG,
                       "gm_plume_data_load_sim: path and out are required");
    memset(out, 0, sizeof *out);
    out->nsims = 1;
    gm_status st = gm__fc_alloc_meta(out);
    if (st == GM_OK) {
        out->name = gm_strdup(path);
        out->labels[0] = gm_strdup("");
        if (!out->name || !out->labels[0]) st = gm__nomem("plume data");
    }
    if (st == GM_OK)
        st = gm__fc_read_sim(path, &out->frames, &out->height, &out->width, &out->x);
    if (st != GM_OK) {
        gm_plume_data_free(out);
        return st;
    }
    return GM_OK;
}

/* --- windows ---------------------------------------------------------------------------- */

void gm_forecast_set_free(gm_forecast_set *s) {
    if (!s) return;
    gm_free(s->sim);
    gm_free(s->start);
    memset(s, 0, sizeof *s);
}

/* Windows s = begin, begin + stride, ... < end of every sim with use[sim];
 * `what` names them in details. */
static gm_status gm__fc_set_make(const gm_plume_data *d, const bool *use, int64_t begin,
                                 int64_t end, int64_t stride, int64_t frames_in, int64_t offset,
                                 int64_t steps, const char *what, gm_forecast_set *out) {
    GM_RETURN_ERROR_IF(frames_in < 1 || frames_in > GM__FC_MAX || offset < 0 ||
                           offset > GM__FC_MAX || steps < 1 || steps > GM__FC_MAX ||
                           stride < 1 || begin < 0 || begin >= end || end > GM__FC_MAX,
                       GM_ERR_INVALID_ARG,
                       "plume data '%s': %s windows [%lld, %lld) (stride %lld) with %lld input "
                       "frames at offset %lld and %lld steps are not a valid choice",
                       d->name, what, (long long)begin, (long long)end, (long long)stride,
                       (long long)frames_in, (long long)offset, (long long)steps);
    int64_t nsims = 0;
    for (int64_t i = 0; i < d->nsims; i++) nsims += use[i];
    GM_RETURN_ERROR_IF(nsims == 0, GM_ERR_INVALID_ARG, "plume data '%s': no %s simulations for "
                       "the %s windows", d->name,
                       !strcmp(what, "domain") ? "held-out" : "training", what);
    const int64_t last = begin + (end - 1 - begin) / stride * stride;
    const int64_t need = last + offset + frames_in + steps - 1;
    GM_RETURN_ERROR_IF(need >= d->frames, GM_ERR_INVALID_ARG,
                       "plume data '%s': %s windows [%lld, %lld) with %lld input frames at "
                       "offset %lld and %lld steps need frame %lld, the simulations have %lld "
                       "frames (0..%lld)",
                       d->name, what, (long long)begin, (long long)end, (long long)frames_in,
                       (long long)offset, (long long)steps, (long long)need,
                       (long long)d->frames, (long long)(d->frames - 1));
    const int64_t per = (last - begin) / stride + 1, n = per * nsims;
    out->sim = gm_malloc_array((size_t)n, sizeof *out->sim);
    out->start = gm_malloc_array((size_t)n, sizeof *out->start);
    if (!out->sim || !out->start) {
        gm_forecast_set_free(out);
        return gm__nomem("forecast windows");
    }
    int64_t k = 0;
    for (int64_t i = 0; i < d->nsims; i++) {
        if (!use[i]) continue;
        for (int64_t s = begin; s < end; s += stride) {
            out->sim[k] = i;
            out->start[k] = s;
            k++;
        }
    }
    GM_ASSERT(k == n);
    out->data = d;
    out->n = n;
    out->input_frames = frames_in;
    out->input_offset = offset;
    out->steps = steps;
    return GM_OK;
}

gm_status gm_forecast_set_new(const gm_plume_data *d, const gm_forecast_protocol *p,
                              gm_forecast_split split, gm_forecast_set *out) {
    GM_RETURN_ERROR_IF(!d || !p || !out, GM_ERR_INVALID_ARG,
                       "gm_forecast_set_new: data, protocol and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF((int)split < 0 || (int)split > 3, GM_ERR_INVALID_ARG,
                       "gm_forecast_set_new: unknown split %d", (int)split);
    GM_FORWARD_IF_ERROR(gm_forecast_protocol_check(p));
    bool *use = gm_malloc_array((size_t)d->nsims, sizeof *use);
    if (!use) return gm__nomem("forecast windows");
    for (int64_t i = 0; i < d->nsims; i++)
        use[i] = split == GM_FORECAST_DOMAIN ? d->held_out[i] : !d->held_out[i];
    const gm_forecast_range *r = gm__fc_range(p, split);
    const bool short_rollout = split == GM_FORECAST_TRAIN || split == GM_FORECAST_VAL;
    const gm_status st = gm__fc_set_make(
        d, use, r->begin, r->end, split == GM_FORECAST_TRAIN ? p->train_stride : p->eval_stride,
        p->input_frames, p->input_offset, short_rollout ? p->rollout_steps : p->eval_steps,
        gm__fc_split_names[split], out);
    gm_free(use);
    return st;
}

gm_status gm_forecast_set_window(const gm_plume_data *d, int64_t sim, int64_t start,
                                 int64_t input_frames, int64_t input_offset, int64_t steps,
                                 gm_forecast_set *out) {
    GM_RETURN_ERROR_IF(!d || !out, GM_ERR_INVALID_ARG,
                       "gm_forecast_set_window: data and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF(sim < 0 || sim >= d->nsims, GM_ERR_INVALID_ARG,
                       "plume data '%s': simulation %lld is outside 0..%lld", d->name,
                       (long long)sim, (long long)(d->nsims - 1));
    GM_RETURN_ERROR_IF(start < 0 || start >= GM__FC_MAX, GM_ERR_INVALID_ARG,
                       "plume data '%s': window start %lld must be >= 0", d->name,
                       (long long)start);
    bool *use = gm_calloc((size_t)d->nsims, sizeof *use);
    if (!use) return gm__nomem("forecast windows");
    use[sim] = true;
    const gm_status st = gm__fc_set_make(d, use, start, start + 1, 1, input_frames, input_offset,
                                         steps, "rollout", out);
    gm_free(use);
    return st;
}

void gm_forecast_window_copy(const gm_forecast_set *s, int64_t i, float *inputs, float *targets) {
    const gm_plume_data *d = s->data;
    const int64_t plane = 2 * d->height * d->width;
    const int64_t first = s->start[i] + s->input_offset;
    if (inputs)
        memcpy(inputs, gm_plume_data_frame(d, s->sim[i], first),
               (size_t)(s->input_frames * plane) * sizeof *inputs);
    if (targets)
        memcpy(targets, gm_plume_data_frame(d, s->sim[i], first + s->input_frames),
               (size_t)(s->steps * plane) * sizeof *targets);
}
