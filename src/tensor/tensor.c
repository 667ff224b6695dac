/* Dense tensors living in an arena: the struct and its data share the
 * arena's lifetime, so a step's activations vanish with one reset. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/tensor.h"

/* Keeps numel * sizeof(gm_real) and index arithmetic of the ops well inside
 * int64_t and size_t. */
#define GM__TENSOR_MAX_NUMEL ((int64_t)1 << 56)

/* Sanitizer builds fill the data of uninitialised tensors with NaN, so that
 * an op that leaves part of its result unwritten fails the tests (its
 * results no longer match the references) instead of passing on whatever the
 * arena held. */
#if defined(__SANITIZE_ADDRESS__)
#define GM__POISON_UNINIT 1
#else
#define GM__POISON_UNINIT 0
#endif

static gm_status gm__tensor_make(gm_arena *arena, int ndim, const int64_t *shape, bool zero,
                                 gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_tensor_new: out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!arena, GM_ERR_INVALID_ARG, "gm_tensor_new: arena is NULL");
    GM_RETURN_ERROR_IF(ndim < 0 || ndim > GM_TENSOR_MAX_DIMS, GM_ERR_INVALID_ARG,
                       "gm_tensor_new: ndim %d is outside 0..%d", ndim, GM_TENSOR_MAX_DIMS);
    GM_RETURN_ERROR_IF(ndim > 0 && !shape, GM_ERR_INVALID_ARG, "gm_tensor_new: shape is NULL");
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        GM_RETURN_ERROR_IF(shape[i] < 1, GM_ERR_INVALID_ARG,
                           "gm_tensor_new: dim %d is %lld, must be >= 1", i,
                           (long long)shape[i]);
        GM_RETURN_ERROR_IF(gm_mul_overflow_i64(numel, shape[i], &numel) != 0 ||
                               numel > GM__TENSOR_MAX_NUMEL,
                           GM_ERR_TOO_LARGE, "gm_tensor_new: %d-dim shape has too many elements",
                           ndim);
    }
    GM_RETURN_ERROR_IF((uint64_t)numel > SIZE_MAX / sizeof(gm_real), GM_ERR_TOO_LARGE,
                       "gm_tensor_new: %lld elements do not fit in memory", (long long)numel);

    gm_tensor *t = gm_arena_alloc(arena, sizeof *t);
    if (!t) return gm__nomem("a tensor header");
    memset(t, 0, sizeof *t);
    t->data = zero ? gm_arena_calloc(arena, (size_t)numel, sizeof(gm_real))
                   : gm_arena_alloc(arena, (size_t)numel * sizeof(gm_real));
    if (!t->data) return gm__nomem("tensor data");
    if (!zero && GM__POISON_UNINIT) {
        for (int64_t i = 0; i < numel; i++) t->data[i] = (gm_real)NAN;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->grad = NULL;
    t->requires_grad = false;
    t->arena = arena;
    *out = t;
    return GM_OK;
}

gm_status gm_tensor_new(gm_arena *arena, int ndim, const int64_t *shape, gm_tensor **out) {
    return gm__tensor_make(arena, ndim, shape, true, out);
}

gm_status gm_tensor_new_uninit(gm_arena *arena, int ndim, const int64_t *shape,
                               gm_tensor **out) {
    return gm__tensor_make(arena, ndim, shape, false, out);
}

gm_status gm_tensor_new1(gm_arena *arena, int64_t d0, gm_tensor **out) {
    const int64_t shape[1] = {d0};
    return gm_tensor_new(arena, 1, shape, out);
}

gm_status gm_tensor_new2(gm_arena *arena, int64_t d0, int64_t d1, gm_tensor **out) {
    const int64_t shape[2] = {d0, d1};
    return gm_tensor_new(arena, 2, shape, out);
}

gm_status gm_tensor_new3(gm_arena *arena, int64_t d0, int64_t d1, int64_t d2, gm_tensor **out) {
    const int64_t shape[3] = {d0, d1, d2};
    return gm_tensor_new(arena, 3, shape, out);
}

gm_status gm_tensor_new4(gm_arena *arena, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                         gm_tensor **out) {
    const int64_t shape[4] = {d0, d1, d2, d3};
    return gm_tensor_new(arena, 4, shape, out);
}

gm_status gm_tensor_grad_acquire(gm_tensor *t, bool *fresh) {
    GM_RETURN_ERROR_IF(!t || !fresh, GM_ERR_INVALID_ARG,
                       "gm_tensor_grad_acquire: tensor and fresh must be non-NULL");
    *fresh = false;
    if (t->grad) return GM_OK;
    t->grad = gm_arena_alloc(t->arena, (size_t)t->numel * sizeof(gm_real));
    if (!t->grad) return gm__nomem("a gradient");
    if (GM__POISON_UNINIT) {
        for (int64_t i = 0; i < t->numel; i++) t->grad[i] = (gm_real)NAN;
    }
    *fresh = true;
    return GM_OK;
}

gm_status gm_tensor_grad_ensure(gm_tensor *t) {
    GM_RETURN_ERROR_IF(!t, GM_ERR_INVALID_ARG, "gm_tensor_grad_ensure: tensor is NULL");
    if (t->grad) return GM_OK;
    t->grad = gm_arena_calloc(t->arena, (size_t)t->numel, sizeof(gm_real));
    if (!t->grad) return gm__nomem("a gradient");
    return GM_OK;
}

void gm_tensor_zero_grad(gm_tensor *t) {
    if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(gm_real));
}

bool gm_tensor_same_shape(const gm_tensor *a, const gm_tensor *b) {
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] != b->shape[i]) return false;
    }
    return true;
}

int gm_tensor_shape_str(const gm_tensor *t, char *buf, size_t size) {
    if (!t) return snprintf(buf, size, "(null)");
    char tmp[128];
    size_t len = 0;
    tmp[len++] = '(';
    for (int i = 0; i < t->ndim && i < GM_TENSOR_MAX_DIMS; i++) {
        int n = snprintf(tmp + len, sizeof tmp - len, i ? ", %lld" : "%lld",
                         (long long)t->shape[i]);
        if (n < 0 || (size_t)n >= sizeof tmp - len) break;
        len += (size_t)n;
    }
    if (len + 1 < sizeof tmp) tmp[len++] = ')';
    tmp[len] = '\0';
    return snprintf(buf, size, "%s", tmp);
}
