/* gm_model_desc <-> JSON, the "gmcnn.model" metadata of saved models. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/io.h"
#include "train/train_internal.h"

static const char *const kind_names[] = {"gmcnn", "plume", "gmcnn_deep", "cnn", "mlp", "ldr"};
static const char *const structure_names[] = {"toeplitz", "tridiag", "unstructured"};
static const char *const form_names[] = {"full", "shared"};
static const char *const reduce_names[] = {"max", "mean"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int name_index(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

/* The length of s as a JSON string literal, which is written to buf when it
 * fits in cap bytes (not NUL-terminated). Quotes, backslashes and control
 * characters are escaped (\b \f \n \r \t, else \u00xx); other bytes are
 * copied. */
static size_t json_string_literal(const char *s, char *buf, size_t cap) {
    size_t len = 0;
#define EMIT(c_)                                                                         \
    do {                                                                                 \
        if (len < cap) buf[len] = (char)(c_);                                            \
        len++;                                                                           \
    } while (0)
    static const char plain[] = "\"\\\b\f\n\r\t", escaped[] = "\"\\bfnrt";
    EMIT('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        const char *e = strchr(plain, *c);
        if (e) {
            EMIT('\\');
            EMIT(escaped[e - plain]);
        } else if (*c < 0x20) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\u%04x", (unsigned)*c);
            for (const char *h = hex; *h; h++) EMIT(*h);
        } else {
            EMIT(*c);
        }
    }
    EMIT('"');
#undef EMIT
    return len;
}

gm_status gm_model_desc_to_json(const gm_model_desc *d, char **json) {
    GM_RETURN_ERROR_IF(!d || !json, GM_ERR_INVALID_ARG,
                       "gm_model_desc_to_json: desc and json are required");
    *json = NULL;
    GM_RETURN_ERROR_IF((int)d->kind < 0 || (int)d->kind >= COUNT(kind_names), GM_ERR_INVALID_ARG,
                       "model description: unknown kind %d", (int)d->kind);
    GM_RETURN_ERROR_IF((int)d->form < 0 || (int)d->form >= COUNT(form_names), GM_ERR_INVALID_ARG,
                       "model description: unknown form %d", (int)d->form);
    GM_RETURN_ERROR_IF((int)d->pool_mode < 0 || (int)d->pool_mode >= COUNT(reduce_names),
                       GM_ERR_INVALID_ARG, "model description: unknown pool mode %d",
                       (int)d->pool_mode);
    GM_RETURN_ERROR_IF(d->nblocks < 0 || d->nblocks > GM_MODEL_MAX_BLOCKS, GM_ERR_INVALID_ARG,
                       "model description: nblocks %lld outside 0..%d", (long long)d->nblocks,
                       GM_MODEL_MAX_BLOCKS);
    /* Written by hand: the bytes are fixed (checkpoints compare them), and
     * integers must not go through double. */
    char buf[4096];
    size_t len = 0;
#define PUT(...)                                                                         \
    do {                                                                                 \
        int n_ = snprintf(buf + len, sizeof buf - len, __VA_ARGS__);                     \
        GM_ASSERT(n_ >= 0 && (size_t)n_ < sizeof buf - len);                             \
        len += (size_t)n_;                                                               \
    } while (0)
    PUT("{\"kind\":\"%s\",\"group\":", kind_names[d->kind]);
    if (d->group) {
        /* What is left after the group leaves room for the other members. */
        const size_t room = sizeof buf - len > 2048 ? sizeof buf - len - 2048 : 0;
        const size_t ql = json_string_literal(d->group, buf + len, room);
        GM_RETURN_ERROR_IF(ql > room, GM_ERR_TOO_LARGE,
                           "model description: group spec of %zu bytes is too long", ql);
        len += ql;
    } else {
        PUT("null");
    }
    PUT(",\"radius\":%lld,\"in_channels\":%lld,\"out_dim\":%lld,\"blocks\":[", (long long)d->radius,
        (long long)d->in_channels, (long long)d->out_dim);
    for (int64_t b = 0; b < d->nblocks; b++)
        PUT("%s{\"layers\":%lld,\"channels\":%lld,\"pool\":%s}", b ? "," : "",
            (long long)d->blocks[b].num_layers, (long long)d->blocks[b].out_channels,
            d->blocks[b].pool ? "true" : "false");
    PUT("],\"dropout\":%.17g,\"form\":\"%s\",\"ldr_rank\":%lld,\"modulated\":%s,"
        "\"pool_mode\":\"%s\",\"hidden\":%lld,\"image_h\":%lld,\"image_w\":%lld}",
        d->dropout, form_names[d->form], (long long)d->ldr_rank, d->modulated ? "true" : "false",
        reduce_names[d->pool_mode], (long long)d->hidden, (long long)d->image_h,
        (long long)d->image_w);
    /* Only when set, so that the descriptions of classifiers (and the
     * checkpoints that compare them) stay as they were. */
    if (d->regressor) {
        len--; /* the closing brace */
        PUT(",\"regressor\":true}");
    }
    if (d->norm == GM_NORM_BATCH) {
        len--;
        PUT(",\"norm\":\"batch\"}");
    }
    if (d->modulated_in_place) {
        len--;
        PUT(",\"modulated_in_place\":true}");
    }
    if (d->center) {
        len--;
        PUT(",\"center\":true}");
    }
    /* Only for the LDR model, so that the other descriptions stay as they were. */
    if (d->kind == GM_MODEL_LDR) {
        GM_RETURN_ERROR_IF((int)d->structure < 0 || (int)d->structure >= COUNT(structure_names),
                           GM_ERR_INVALID_ARG, "model description: unknown structure %d",
                           (int)d->structure);
        len--;
        PUT(",\"structure\":\"%s\"}", structure_names[d->structure]);
    }
#undef PUT
    *json = gm_strdup(buf);
    if (!*json) return gm__nomem("model description JSON");
    return GM_OK;
}

/* Integers are read as doubles, exact up to 2^53, far beyond any size here. */
static gm_status get_int(const json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return GM_OK;
    const double x = json_number_value(v);
    GM_RETURN_ERROR_IF(!json_is_number(v) || x != floor(x) || x < (double)lo || x > (double)hi,
                       GM_ERR_FORMAT, "model description: \"%s\" must be an integer in %lld..%lld",
                       key, (long long)lo, (long long)hi);
    *out = (int64_t)x;
    return GM_OK;
}

static gm_status get_bool(const json_t *obj, const char *key, bool *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return GM_OK;
    GM_RETURN_ERROR_IF(!json_is_boolean(v), GM_ERR_FORMAT,
                       "model description: \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return GM_OK;
}

static gm_status get_enum(const json_t *obj, const char *key, const char *const *names, int n,
                          int *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return GM_OK;
    const int i = json_is_string(v) ? name_index(names, n, json_string_value(v)) : -1;
    GM_RETURN_ERROR_IF(i < 0, GM_ERR_FORMAT, "model description: \"%s\" has an unknown value",
                       key);
    *out = i;
    return GM_OK;
}

static gm_status parse_obj(const json_t *o, gm_model_desc *d, char **group) {
    GM_RETURN_ERROR_IF(!json_is_object(o), GM_ERR_FORMAT,
                       "model description: expected a JSON object");
    int kind = 0, form = 0, pool = 0;
    GM_FORWARD_IF_ERROR(get_enum(o, "kind", kind_names, COUNT(kind_names), &kind));
    GM_FORWARD_IF_ERROR(get_enum(o, "form", form_names, COUNT(form_names), &form));
    GM_FORWARD_IF_ERROR(get_enum(o, "pool_mode", reduce_names, COUNT(reduce_names), &pool));
    d->kind = (gm_model_kind)kind;
    d->form = (gm_conv_form)form;
    d->pool_mode = (gm_reduce)pool;
    /* The ranges a config accepts (gmcnn/config.h): a description read from
     * a file is untrusted, and some sizes (the input channels of a centred
     * model, the group's radius) shape allocations no tensor of the file
     * vouches for. */
    GM_FORWARD_IF_ERROR(get_int(o, "radius", 0, 64, &d->radius));
    GM_FORWARD_IF_ERROR(get_int(o, "in_channels", 0, 4096, &d->in_channels));
    GM_FORWARD_IF_ERROR(get_int(o, "out_dim", 0, 1 << 20, &d->out_dim));
    GM_FORWARD_IF_ERROR(get_int(o, "ldr_rank", 0, GM_MODEL_MAX_LDR_RANK, &d->ldr_rank));
    GM_FORWARD_IF_ERROR(get_int(o, "hidden", 0, 65536, &d->hidden));
    GM_FORWARD_IF_ERROR(get_int(o, "image_h", 0, 65536, &d->image_h));
    GM_FORWARD_IF_ERROR(get_int(o, "image_w", 0, 65536, &d->image_w));
    GM_FORWARD_IF_ERROR(get_bool(o, "modulated", &d->modulated));
    GM_FORWARD_IF_ERROR(get_bool(o, "regressor", &d->regressor));
    GM_FORWARD_IF_ERROR(get_bool(o, "modulated_in_place", &d->modulated_in_place));
    GM_FORWARD_IF_ERROR(get_bool(o, "center", &d->center));
    int structure = 0;
    GM_FORWARD_IF_ERROR(
        get_enum(o, "structure", structure_names, COUNT(structure_names), &structure));
    d->structure = (gm_ldr_structure)structure;
    static const char *const norm_names[] = {"default", "batch"};
    int norm = 0;
    GM_FORWARD_IF_ERROR(get_enum(o, "norm", norm_names, COUNT(norm_names), &norm));
    d->norm = (gm_norm_kind)norm;
    const json_t *dr = json_object_get(o, "dropout");
    if (dr) {
        GM_RETURN_ERROR_IF(!json_is_number(dr), GM_ERR_FORMAT,
                           "model description: \"dropout\" must be a number");
        d->dropout = json_number_value(dr);
    }
    const json_t *blocks = json_object_get(o, "blocks");
    if (blocks) {
        GM_RETURN_ERROR_IF(!json_is_array(blocks), GM_ERR_FORMAT,
                           "model description: \"blocks\" must be an array");
        const size_t size = json_array_size(blocks);
        const int n = size > INT_MAX ? INT_MAX : (int)size;
        GM_RETURN_ERROR_IF(n > GM_MODEL_MAX_BLOCKS, GM_ERR_FORMAT,
                           "model description: %d blocks, at most %d", n, GM_MODEL_MAX_BLOCKS);
        d->nblocks = n;
        for (int b = 0; b < n; b++) {
            const json_t *bo = json_array_get(blocks, (size_t)b);
            GM_RETURN_ERROR_IF(!json_is_object(bo), GM_ERR_FORMAT,
                               "model description: block %d must be an object", b);
            GM_FORWARD_IF_ERROR(get_int(bo, "layers", 0, 1000, &d->blocks[b].num_layers));
            GM_FORWARD_IF_ERROR(get_int(bo, "channels", 0, 65536, &d->blocks[b].out_channels));
            GM_FORWARD_IF_ERROR(get_bool(bo, "pool", &d->blocks[b].pool));
        }
    }
    const json_t *g = json_object_get(o, "group");
    if (g && !json_is_null(g)) {
        GM_RETURN_ERROR_IF(!json_is_string(g), GM_ERR_FORMAT,
                           "model description: \"group\" must be a string or null");
        /* A saved model names its group by itself: a spec that reads a file
         * would let a model file make the loader open (and quote) any path. */
        GM_RETURN_ERROR_IF(!strncmp(json_string_value(g), "table:", 6), GM_ERR_FORMAT,
                           "model description: \"group\" names a Cayley-table file; a model "
                           "file cannot load its group from a path");
        *group = gm_strdup(json_string_value(g));
        if (!*group) return gm__nomem("model description group");
        d->group = *group;
    }
    return GM_OK;
}

gm_status gm_model_desc_from_json(const char *json, gm_model_desc *out, char **group) {
    GM_RETURN_ERROR_IF(!json || !out || !group, GM_ERR_INVALID_ARG,
                       "gm_model_desc_from_json: json, out and group are required");
    memset(out, 0, sizeof *out);
    *group = NULL;
    json_error_t err;
    json_t *root = json_loads(json, GM__JSON_READ_FLAGS, &err);
    if (!root) {
        return gm_error_set(GM_ERR_FORMAT, "model description: malformed JSON at byte %ld",
                            (long)err.position);
    }
    gm_status st = parse_obj(root, out, group);
    json_decref(root);
    if (st != GM_OK) {
        gm_free(*group);
        *group = NULL;
        memset(out, 0, sizeof *out);
    }
    return st;
}

/* --- saved models ---------------------------------------------------------- */

typedef struct load_ctx {
    const gm_safetensors *sf;
    const char *path;
    int64_t matched; /* parameters found in the file so far */
    bool rejected;   /* the check failed (its detail names the file) */
} load_ctx;

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t len = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "",
                                (long long)shape[d]);
    if (len < cap) snprintf(buf + len, cap - len, ")");
}

static const char *dtype_name(gm_dtype t) {
    switch (t) {
    case GM_DTYPE_U8: return "U8";
    case GM_DTYPE_I32: return "I32";
    case GM_DTYPE_I64: return "I64";
    case GM_DTYPE_F32: return "F32";
    case GM_DTYPE_F64: return "F64";
    }
    return "?";
}

/* Each parameter the description implies must be a tensor of the file
 * before any memory is spent on it. */
static gm_status check_param(void *user, const char *name, int ndim, const int64_t *shape) {
    load_ctx *c = user;
    c->rejected = true;
    const int64_t k = gm_safetensors_find(c->sf, name);
    GM_RETURN_ERROR_IF(k < 0, GM_ERR_FORMAT,
                       "model file '%s': its description implies parameter '%.200s', which "
                       "the file lacks", c->path, name);
    const gm_st_entry *e = gm_safetensors_entry(c->sf, k);
    GM_RETURN_ERROR_IF(e->dtype != GM_DTYPE_F32 && e->dtype != GM_DTYPE_F64, GM_ERR_FORMAT,
                       "model file '%s' tensor '%.200s': dtype %s, a parameter needs F32 or "
                       "F64", c->path, name, dtype_name(e->dtype));
    bool same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = e->shape[d] == shape[d];
    if (!same) {
        char fs[160], ds[160];
        shape_str(e->ndim, e->shape, fs, sizeof fs);
        shape_str(ndim, shape, ds, sizeof ds);
        return gm_error_set(GM_ERR_SHAPE, "model file '%s' tensor '%.200s': shape %s, but the "
                            "file's model description implies %s", c->path, name, fs, ds);
    }
    c->matched++;
    c->rejected = false;
    return GM_OK;
}

gm_status gm_model_from_safetensors(const gm_safetensors *sf, const char *path, gm_model **out) {
    GM_RETURN_ERROR_IF(!sf || !path || !out, GM_ERR_INVALID_ARG,
                       "gm_model_from_safetensors: sf, path and out are required");
    *out = NULL;
    const char *json = gm_safetensors_meta_get(sf, GM_MODEL_META_KEY);
    GM_RETURN_ERROR_IF(!json, GM_ERR_FORMAT, "model file '%s': no \"%s\" metadata", path,
                       GM_MODEL_META_KEY);
    gm_model_desc d;
    char *group = NULL;
    gm_status st = gm_model_desc_from_json(json, &d, &group);
    if (st != GM_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        return gm_error_set(st, "model file '%s': %s", path, detail);
    }
    load_ctx c = {.sf = sf, .path = path};
    gm_model *m = NULL;
    st = gm_model_new_checked(&d, 0, check_param, &c, &m);
    gm_free(group);
    if (st != GM_OK && !c.rejected) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        return gm_error_set(st, "model file '%s': %s", path, detail);
    }
    if (st != GM_OK) return st;
    /* Every parameter matched a tensor of its name, so the names the model
     * does not use are the surplus. */
    const size_t plen = strlen(GM_ST_OPTIM_PREFIX);
    int64_t kept = 0;
    for (int64_t k = 0; k < gm_safetensors_count(sf); k++)
        kept += strncmp(gm_safetensors_name(sf, k), GM_ST_OPTIM_PREFIX, plen) != 0;
    for (int64_t k = 0; st == GM_OK && kept != c.matched && k < gm_safetensors_count(sf); k++) {
        const char *name = gm_safetensors_name(sf, k);
        bool known = strncmp(name, GM_ST_OPTIM_PREFIX, plen) == 0;
        for (int64_t i = 0; !known && i < gm_model_param_count(m); i++)
            known = !strcmp(gm_model_param_name(m, i), name);
        if (!known)
            st = gm_error_set(GM_ERR_FORMAT, "model file '%s' tensor '%.200s': not a parameter "
                              "of the model its description gives", path, name);
    }
    /* A NaN or an infinity among the parameters would only show as NaN
     * outputs. */
    for (int64_t i = 0; st == GM_OK && i < gm_model_param_count(m); i++) {
        gm_tensor *t = gm_model_param(m, i);
        const char *name = gm_model_param_name(m, i);
        const gm_st_entry *e = gm_safetensors_entry(sf, gm_safetensors_find(sf, name));
        for (int64_t j = 0; st == GM_OK && j < t->numel; j++) {
            const double v = e->dtype == GM_DTYPE_F32 ? (double)((const float *)e->data)[j]
                                                      : ((const double *)e->data)[j];
            t->data[j] = (gm_real)v;
            if (!isfinite(t->data[j]))
                st = gm_error_set(GM_ERR_FORMAT, "model file '%s' tensor '%.200s': value %lld "
                                  "is %g, not a finite parameter", path, name, (long long)j, v);
        }
    }
    if (st != GM_OK) {
        gm_model_free(m);
        return st;
    }
    *out = m;
    return GM_OK;
}
