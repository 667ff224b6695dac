/* Models in safetensors files: every parameter under its name
 * (gm_model_param_name), and back with every name and shape checked first. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "io/safetensors_internal.h"

gm_status gm_safetensors_save_model(const char *path, const gm_model *m, int64_t nmeta,
                                    const char *const *meta_keys,
                                    const char *const *meta_values) {
    GM_RETURN_ERROR_IF(!path || !m, GM_ERR_INVALID_ARG,
                       "gm_safetensors_save_model: NULL argument");
    int64_t n = gm_model_param_count(m);
    gm_st_entry *entries = gm_malloc_array(n > 0 ? (size_t)n : 1, sizeof *entries);
    if (!entries) return gm__nomem("safetensors model entries");
    for (int64_t i = 0; i < n; i++)
        entries[i] = gm_st_entry_tensor(gm_model_param_name(m, i), gm_model_param_const(m, i));
    gm_status st = gm_safetensors_write(path, n, entries, nmeta, meta_keys, meta_values);
    gm_free(entries);
    return st;
}

static gm_status st_check_model(const char *path, const gm_safetensors *st, const gm_model *m,
                                int64_t *which) {
    int64_t np = gm_model_param_count(m);
    for (int64_t i = 0; i < np; i++) {
        const char *name = gm_model_param_name(m, i);
        const gm_tensor *t = gm_model_param_const(m, i);
        int64_t k = gm_safetensors_find(st, name);
        GM_RETURN_ERROR_IF(k < 0, GM_ERR_NOT_FOUND,
                           "safetensors '%s': no tensor for parameter '" GM__ST_NAME_FMT "'", path,
                           name);
        const gm_st_entry *e = gm_safetensors_entry(st, k);
        GM_RETURN_ERROR_IF(e->dtype != GM_DTYPE_F32 && e->dtype != GM_DTYPE_F64, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': dtype %s, a parameter needs F32 or F64",
                           path, name, gm__st_dtype_name(e->dtype));
        bool same = e->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
        if (!same) {
            char fs[160], ms[160];
            gm__st_shape_str(e->ndim, e->shape, fs, sizeof fs);
            gm__st_shape_str(t->ndim, t->shape, ms, sizeof ms);
            return gm_error_set(GM_ERR_SHAPE,
                                "safetensors '%s' tensor '" GM__ST_NAME_FMT
                                "': shape %s, the parameter has %s",
                                path, name, fs, ms);
        }
        which[i] = k;
    }
    const size_t plen = strlen(GM_ST_OPTIM_PREFIX);
    for (int64_t k = 0; k < gm_safetensors_count(st); k++) {
        const char *name = gm_safetensors_name(st, k);
        if (strncmp(name, GM_ST_OPTIM_PREFIX, plen) == 0) continue;
        bool known = false;
        for (int64_t i = 0; i < np && !known; i++) known = which[i] == k;
        GM_RETURN_ERROR_IF(!known, GM_ERR_FORMAT,
                           "safetensors '%s' tensor '" GM__ST_NAME_FMT
                           "': not a parameter of the model (nor under '" GM_ST_OPTIM_PREFIX
                           "')",
                           path, name);
    }
    return GM_OK;
}

gm_status gm_safetensors_load_model(const char *path, gm_model *m) {
    GM_RETURN_ERROR_IF(!path || !m, GM_ERR_INVALID_ARG,
                       "gm_safetensors_load_model: NULL argument");
    gm_safetensors *st = NULL;
    GM_FORWARD_IF_ERROR(gm_safetensors_read(path, &st));
    int64_t np = gm_model_param_count(m);
    int64_t *which = gm_malloc_array(np > 0 ? (size_t)np : 1, sizeof *which);
    if (!which) {
        gm_safetensors_free(st);
        return gm__nomem("safetensors parameter map");
    }
    gm_status s = st_check_model(path, st, m, which);
    for (int64_t i = 0; s == GM_OK && i < np; i++) {
        gm_tensor *t = gm_model_param(m, i);
        const gm_st_entry *e = gm_safetensors_entry(st, which[i]);
        if (e->dtype == GM_DTYPE_F32) {
            const float *src = e->data;
            for (int64_t j = 0; j < t->numel; j++) t->data[j] = (gm_real)src[j];
        } else {
            const double *src = e->data;
            for (int64_t j = 0; j < t->numel; j++) t->data[j] = (gm_real)src[j];
        }
    }
    gm_free(which);
    gm_safetensors_free(st);
    return s;
}
