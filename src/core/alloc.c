/* The one allocator of gmcnn, with an out-of-memory injection hook. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static _Atomic int64_t gm_fail_after = -1;
static _Atomic int64_t gm_allocs;

void gm_alloc_fail_after(int64_t n) { atomic_store(&gm_fail_after, n); }

int64_t gm_alloc_count(void) { return atomic_load(&gm_allocs); }

/* True when this allocation must fail because of the injection hook. */
static int gm_inject_failure(void) {
    int64_t left = atomic_load(&gm_fail_after);
    while (left >= 0) {
        if (left == 0) return 1;
        if (atomic_compare_exchange_weak(&gm_fail_after, &left, left - 1)) return 0;
    }
    return 0;
}

void *gm_malloc(size_t size) {
    if (gm_inject_failure()) return NULL;
    void *p = malloc(size ? size : 1);
    if (p) atomic_fetch_add(&gm_allocs, 1);
    return p;
}

void *gm_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    if (gm_inject_failure()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) atomic_fetch_add(&gm_allocs, 1);
    return p;
}

void *gm_malloc_array(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    return gm_malloc(count * size);
}

void *gm_realloc(void *ptr, size_t size) {
    if (gm_inject_failure()) return NULL;
    void *p = realloc(ptr, size ? size : 1);
    if (p && !ptr) atomic_fetch_add(&gm_allocs, 1);
    return p;
}

char *gm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = gm_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

void gm_free(void *ptr) { free(ptr); }

int gm_mul_overflow_i64(int64_t a, int64_t b, int64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
