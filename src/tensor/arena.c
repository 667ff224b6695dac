/* Bump allocator over a list of chunks (ggml-style contexts), with a free
 * list for blocks released before the reset.
 *
 * Chunks are kept in the order they were first used. A reset rewinds to the
 * first chunk without freeing anything, so a step that repeats the previous
 * step's requests walks the same chunks and never reaches gm_malloc.
 *
 * Released blocks carry their list node in their own first bytes (every
 * block is at least GM__ARENA_ALIGN bytes), so releasing allocates nothing. A
 * request is served from the smallest released block that holds it, its
 * tail handed out and its head kept on the list; only then from the chunks.
 * The choice depends on the sequence of requests alone, so identical steps
 * reuse identical addresses. */
#include <stdint.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/tensor.h"

#define GM__ARENA_ALIGN ((size_t)64)
#define GM__ARENA_DEFAULT_CHUNK ((size_t)1 << 20)

typedef struct gm__chunk {
    struct gm__chunk *next;
    unsigned char *base; /* 64-byte aligned start inside the raw block */
    size_t cap;
    size_t used;
    void *raw; /* what gm_malloc returned */
} gm__chunk;

typedef struct gm__free_block {
    struct gm__free_block *next;
    size_t bytes; /* a multiple of GM__ARENA_ALIGN */
} gm__free_block;

struct gm_arena {
    size_t chunk_bytes;
    gm__chunk *head;
    gm__chunk *cur; /* chunks after cur are unused since the last reset */
    gm__free_block *free; /* released since the last reset, newest first */
    size_t used;
    size_t peak;
};

gm_status gm_arena_new(size_t chunk_bytes, gm_arena **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_arena_new: out is NULL");
    *out = NULL;
    if (chunk_bytes == 0) chunk_bytes = GM__ARENA_DEFAULT_CHUNK;
    GM_RETURN_ERROR_IF(chunk_bytes > SIZE_MAX / 2, GM_ERR_TOO_LARGE,
                       "gm_arena_new: chunk size %zu is too large", chunk_bytes);
    /* Round up so that every chunk can hold whole aligned blocks. */
    chunk_bytes = (chunk_bytes + GM__ARENA_ALIGN - 1) & ~(GM__ARENA_ALIGN - 1);
    gm_arena *a = gm_calloc(1, sizeof *a);
    if (!a) return gm__nomem("an arena");
    a->chunk_bytes = chunk_bytes;
    *out = a;
    return GM_OK;
}

void gm_arena_free(gm_arena *a) {
    if (!a) return;
    gm__chunk *c = a->head;
    while (c) {
        gm__chunk *next = c->next;
        gm_free(c->raw);
        gm_free(c);
        c = next;
    }
    gm_free(a);
}

static gm__chunk *gm__chunk_new(size_t cap) {
    if (cap > SIZE_MAX - GM__ARENA_ALIGN) return NULL;
    gm__chunk *c = gm_malloc(sizeof *c);
    if (!c) return NULL;
    c->raw = gm_malloc(cap + GM__ARENA_ALIGN);
    if (!c->raw) {
        gm_free(c);
        return NULL;
    }
    uintptr_t p = (uintptr_t)c->raw;
    p = (p + GM__ARENA_ALIGN - 1) & ~(uintptr_t)(GM__ARENA_ALIGN - 1);
    c->base = (unsigned char *)p;
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    return c;
}

static size_t gm__arena_round(size_t bytes) {
    /* Zero-byte requests still get a distinct block. */
    if (bytes == 0) bytes = 1;
    return (bytes + GM__ARENA_ALIGN - 1) & ~(GM__ARENA_ALIGN - 1);
}

static void gm__arena_count(gm_arena *a, size_t need) {
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
}

/* The tail of the smallest released block of at least `need` bytes, or NULL. */
static void *gm__arena_reuse(gm_arena *a, size_t need) {
    gm__free_block **best = NULL;
    for (gm__free_block **p = &a->free; *p; p = &(*p)->next) {
        if ((*p)->bytes >= need && (!best || (*p)->bytes < (*best)->bytes)) best = p;
    }
    if (!best) return NULL;
    gm__free_block *b = *best;
    if (b->bytes == need) {
        *best = b->next;
        return b;
    }
    b->bytes -= need;
    return (unsigned char *)b + b->bytes;
}

void *gm_arena_alloc(gm_arena *a, size_t bytes) {
    if (!a) return NULL;
    if (bytes > SIZE_MAX - 2 * GM__ARENA_ALIGN) return NULL;
    const size_t need = gm__arena_round(bytes);
    void *reused = a->free ? gm__arena_reuse(a, need) : NULL;
    if (reused) {
        gm__arena_count(a, need);
        return reused;
    }

    gm__chunk *c = a->cur;
    if (c && c->cap - c->used < need) {
        /* Walk the chunks kept from earlier steps; ones too small for this
         * request are skipped for the rest of the step. */
        c = c->next;
        while (c && c->cap < need) c = c->next;
    }
    if (!c) {
        size_t cap = need > a->chunk_bytes ? need : a->chunk_bytes;
        gm__chunk *fresh = gm__chunk_new(cap);
        if (!fresh) return NULL;
        /* Insert right after the current chunk so that chunk order follows
         * first use, which keeps the next identical step on the same chunks. */
        if (!a->cur) {
            fresh->next = a->head;
            a->head = fresh;
        } else {
            fresh->next = a->cur->next;
            a->cur->next = fresh;
        }
        c = fresh;
    }
    a->cur = c;
    void *p = c->base + c->used;
    c->used += need;
    gm__arena_count(a, need);
    return p;
}

void gm_arena_release(gm_arena *a, void *p, size_t bytes) {
    if (!a || !p || bytes > SIZE_MAX - 2 * GM__ARENA_ALIGN) return;
    const size_t need = gm__arena_round(bytes);
    gm__free_block *b = p;
    b->bytes = need;
    b->next = a->free;
    a->free = b;
    a->used -= need;
}

void *gm_arena_calloc(gm_arena *a, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    void *p = gm_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void gm_arena_reset(gm_arena *a) {
    if (!a) return;
    for (gm__chunk *c = a->head; c; c = c->next) c->used = 0;
    a->cur = a->head;
    a->free = NULL;
    a->used = 0;
}

size_t gm_arena_used(const gm_arena *a) { return a ? a->used : 0; }

size_t gm_arena_peak(const gm_arena *a) { return a ? a->peak : 0; }
