/* Permutation groups: closure of generators by breadth-first search, the
 * symmetric groups, and products by composition plus a hash lookup.
 *
 * A group of order n and degree d stores its n*d images and an
 * open-addressing hash from images to index (load <= 1/2), no Cayley table. */
#include <string.h>

#include "group_internal.h"

/* Degree and storage caps: keep the closure's images (order*degree int32)
 * within 256 MiB so that a hostile spec cannot exhaust memory. */
#define GM_PERM_MAX_IMAGES ((int64_t)1 << 26)

/* 64-bit FNV-1a over the images, finished with a murmur-style mix so that
 * the low bits used as the slot depend on every image. */
static uint64_t gm_perm_hash_step(uint64_t h, int32_t v) {
    return (h ^ (uint32_t)v) * 0x100000001b3ULL;
}

static uint64_t gm_perm_hash_finish(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t gm_perm_hash(const int32_t *p, int64_t degree) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < degree; i++) h = gm_perm_hash_step(h, p[i]);
    return gm_perm_hash_finish(h);
}

int32_t gm__perm_lookup(const gm__perm_index *index, const int32_t *perms, int64_t degree,
                        const int32_t *p) {
    const uint64_t mask = (uint64_t)index->capacity - 1;
    for (uint64_t s = gm_perm_hash(p, degree) & mask;; s = (s + 1) & mask) {
        const int32_t e = index->slots[s];
        if (e < 0) return -1;
        if (memcmp(perms + (int64_t)e * degree, p, (size_t)degree * sizeof *p) == 0) return e;
    }
}

void gm__perm_index_free(gm__perm_index *index) {
    gm_free(index->slots);
    index->slots = NULL;
    index->capacity = 0;
}

/* Inserts element e (not present yet); the caller keeps the load <= 1/2. */
static void gm_perm_index_insert(gm__perm_index *index, const int32_t *perms, int64_t degree,
                                 int32_t e) {
    const uint64_t mask = (uint64_t)index->capacity - 1;
    uint64_t s = gm_perm_hash(perms + (int64_t)e * degree, degree) & mask;
    while (index->slots[s] >= 0) s = (s + 1) & mask;
    index->slots[s] = e;
}

/* Rebuilds the index with `capacity` slots over elements 0..count-1. */
static gm_status gm_perm_index_rebuild(gm__perm_index *index, const int32_t *perms,
                                       int64_t degree, int64_t count, int64_t capacity) {
    int32_t *slots = gm_malloc_array((size_t)capacity, sizeof *slots);
    if (!slots) return gm__nomem("permutation hash");
    memset(slots, 0xff, (size_t)capacity * sizeof *slots);
    gm_free(index->slots);
    index->slots = slots;
    index->capacity = capacity;
    for (int64_t e = 0; e < count; e++) gm_perm_index_insert(index, perms, degree, (int32_t)e);
    return GM_OK;
}

int32_t gm__perm_mul(const gm_group *g, int32_t a, int32_t b) {
    GM_DEBUG_ASSERT(a >= 0 && a < g->order && b >= 0 && b < g->order);
    const int64_t d = g->param;
    const int32_t *pa = g->perms + (int64_t)a * d, *pb = g->perms + (int64_t)b * d;
    /* Hash and compare the composite on the fly: no scratch buffer, so
     * products stay allocation-free and thread-safe. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < d; i++) h = gm_perm_hash_step(h, pa[pb[i]]);
    const uint64_t mask = (uint64_t)g->perm_index.capacity - 1;
    for (uint64_t s = gm_perm_hash_finish(h) & mask;; s = (s + 1) & mask) {
        const int32_t e = g->perm_index.slots[s];
        GM_ASSERT(e >= 0 && "product of two elements missing from a closed group");
        const int32_t *pe = g->perms + (int64_t)e * d;
        int64_t i = 0;
        while (i < d && pe[i] == pa[pb[i]]) i++;
        if (i == d) return e;
    }
}

/* Appends snprintf-style at *off, keeping the running full length in *total. */
static void gm_name_append(char *buf, size_t size, size_t *off, int *total, const char *sep,
                           int32_t k) {
    const int n = snprintf(buf ? buf + *off : NULL, buf ? size - *off : 0, "%s%d", sep, k);
    *total += n;
    if (size) *off += (size_t)n < size - *off ? (size_t)n : size - *off - 1;
}

/* Cycle notation with fixed points left out; a cycle is written from its
 * smallest point. Quadratic in the worst case, but names are for printing. */
int gm__perm_name(const gm_group *g, int32_t a, char *buf, size_t size) {
    const int64_t d = g->param;
    const int32_t *p = g->perms + (int64_t)a * d;
    size_t off = 0;
    int total = 0;
    if (size == 0) buf = NULL;
    for (int32_t i = 0; i < d; i++) {
        if (p[i] == i) continue;
        int32_t j = p[i];
        while (j > i) j = p[j];
        if (j < i) continue; /* i is not the smallest point of its cycle */
        gm_name_append(buf, size, &off, &total, "(", i);
        for (int32_t k = p[i]; k != i; k = p[k]) gm_name_append(buf, size, &off, &total, " ", k);
        const int n = snprintf(buf ? buf + off : NULL, buf ? size - off : 0, ")");
        total += n;
        if (size) off += (size_t)n < size - off ? (size_t)n : size - off - 1;
    }
    if (total == 0) return snprintf(buf, size, "()");
    return total;
}

/* --- closure ------------------------------------------------------------- */

/* The growing closure: elements in breadth-first order and their index. */
typedef struct gm_perm_closure {
    int64_t degree, count, cap;
    int32_t *perms;
    gm__perm_index index;
} gm_perm_closure;

/* Appends p (not present) to the closure, growing storage and index. */
static gm_status gm_perm_closure_add(gm_perm_closure *c, const int32_t *p) {
    GM_RETURN_ERROR_IF(c->count + 1 > GM_GROUP_MAX_PERM_ORDER, GM_ERR_TOO_LARGE,
                       "permutation group of degree %lld: order exceeds the limit %lld",
                       (long long)c->degree, (long long)GM_GROUP_MAX_PERM_ORDER);
    GM_RETURN_ERROR_IF((c->count + 1) * c->degree > GM_PERM_MAX_IMAGES, GM_ERR_TOO_LARGE,
                       "permutation group of degree %lld: more than %lld elements would exceed "
                       "the storage limit of %lld images",
                       (long long)c->degree, (long long)c->count, (long long)GM_PERM_MAX_IMAGES);
    if (c->count == c->cap) {
        const int64_t cap = c->cap ? 2 * c->cap : 16;
        int32_t *perms = gm_realloc(c->perms, (size_t)(cap * c->degree) * sizeof *perms);
        if (!perms) return gm__nomem("permutation group elements");
        c->perms = perms;
        c->cap = cap;
    }
    memcpy(c->perms + c->count * c->degree, p, (size_t)c->degree * sizeof *p);
    c->count++;
    if (2 * c->count > c->index.capacity)
        return gm_perm_index_rebuild(&c->index, c->perms, c->degree, c->count,
                                     c->index.capacity ? 2 * c->index.capacity : 32);
    gm_perm_index_insert(&c->index, c->perms, c->degree, (int32_t)(c->count - 1));
    return GM_OK;
}

/* Breadth-first closure from the identity, x -> x*s for s in gens in order;
 * `scratch` holds degree ints. */
static gm_status gm_perm_closure_run(gm_perm_closure *c, int64_t ngens, const int32_t *gens,
                                     int32_t *scratch) {
    const int64_t d = c->degree;
    for (int64_t i = 0; i < d; i++) scratch[i] = (int32_t)i;
    GM_FORWARD_IF_ERROR(gm_perm_closure_add(c, scratch));
    /* The identity and repeats of a generator add nothing and leave the
     * order of the elements as it is: they are skipped. */
    int64_t *use = gm_malloc_array((size_t)(ngens ? ngens : 1), sizeof *use);
    if (!use) return gm__nomem("permutation closure");
    int64_t nuse = 0;
    for (int64_t k = 0; k < ngens; k++) {
        bool skip = !memcmp(gens + k * d, c->perms, (size_t)d * sizeof *gens);
        for (int64_t j = 0; j < nuse && !skip; j++)
            skip = !memcmp(gens + k * d, gens + use[j] * d, (size_t)d * sizeof *gens);
        if (!skip) use[nuse++] = k;
    }
    /* Many distinct generators over a large group is work without end in
     * sight: bounded, with a detail saying so. */
    const int64_t work_max = INT64_C(1) << 31;
    int64_t work = 0;
    gm_status st = GM_OK;
    for (int64_t x = 0; x < c->count && st == GM_OK; x++) {
        work += nuse * d;
        if (work > work_max) {
            st = gm_error_set(GM_ERR_TOO_LARGE,
                              "permutation group of degree %lld: %lld distinct generators over "
                              "more than %lld elements exceed the work limit; list fewer "
                              "generators", (long long)d, (long long)nuse, (long long)x);
            break;
        }
        for (int64_t k = 0; k < nuse && st == GM_OK; k++) {
            const int32_t *s = gens + use[k] * d;
            for (int64_t i = 0; i < d; i++) scratch[i] = c->perms[x * d + s[i]];
            if (gm__perm_lookup(&c->index, c->perms, d, scratch) < 0)
                st = gm_perm_closure_add(c, scratch);
        }
    }
    gm_free(use);
    return st;
}

static gm_status gm_perm_check_gens(int64_t degree, int64_t ngens, const int32_t *gens) {
    GM_RETURN_ERROR_IF(degree < 1, GM_ERR_INVALID_ARG,
                       "permutation group: degree %lld must be at least 1", (long long)degree);
    GM_RETURN_ERROR_IF(degree > GM_GROUP_MAX_PERM_DEGREE, GM_ERR_TOO_LARGE,
                       "permutation group: degree %lld exceeds the limit %lld", (long long)degree,
                       (long long)GM_GROUP_MAX_PERM_DEGREE);
    GM_RETURN_ERROR_IF(ngens < 0 || (ngens > 0 && !gens), GM_ERR_INVALID_ARG,
                       "permutation group: bad generator list (%lld generators)",
                       (long long)ngens);
    uint8_t *seen = gm_malloc((size_t)degree);
    if (!seen) return gm__nomem("permutation check");
    gm_status st = GM_OK;
    for (int64_t k = 0; k < ngens && st == GM_OK; k++) {
        memset(seen, 0, (size_t)degree);
        for (int64_t i = 0; i < degree && st == GM_OK; i++) {
            const int32_t v = gens[k * degree + i];
            if (v < 0 || v >= degree)
                st = gm_error_set(GM_ERR_INVALID_ARG,
                                  "permutation group: generator %lld maps %lld to %d, outside "
                                  "0..%lld",
                                  (long long)k, (long long)i, v, (long long)degree - 1);
            else if (seen[v]++)
                st = gm_error_set(GM_ERR_INVALID_ARG,
                                  "permutation group: generator %lld is not a bijection (%d is "
                                  "the image of two points)",
                                  (long long)k, v);
        }
    }
    gm_free(seen);
    return st;
}

/* Fills inverses and the generating set (indices of the distinct
 * non-identity generators, in the order given). */
static gm_status gm_perm_finish(gm_group *g, int64_t ngens, const int32_t *gens,
                                int32_t *scratch) {
    const int64_t d = g->param;
    for (int64_t a = 0; a < g->order; a++) {
        const int32_t *p = g->perms + a * d;
        for (int64_t i = 0; i < d; i++) scratch[p[i]] = (int32_t)i;
        g->inv[a] = gm__perm_lookup(&g->perm_index, g->perms, d, scratch);
        GM_ASSERT(g->inv[a] >= 0);
    }
    int32_t *idx = gm_malloc_array((size_t)(ngens ? ngens : 1), sizeof *idx);
    if (!idx) return gm__nomem("permutation group generators");
    int64_t n = 0;
    for (int64_t k = 0; k < ngens; k++) {
        const int32_t e = gm__perm_lookup(&g->perm_index, g->perms, d, gens + k * d);
        GM_ASSERT(e >= 0);
        bool dup = e == 0;
        for (int64_t j = 0; j < n && !dup; j++) dup = idx[j] == e;
        if (!dup) idx[n++] = e;
    }
    gm_status st = gm__group_set_gens(g, n, idx);
    gm_free(idx);
    return st;
}

gm_status gm_group_perm_new(int64_t degree, int64_t ngens, const int32_t *gens, gm_group **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "permutation group: no output pointer");
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm_perm_check_gens(degree, ngens, gens));
    gm_perm_closure c = {.degree = degree};
    gm_group *g = NULL;
    int32_t *scratch = gm_malloc_array((size_t)degree, sizeof *scratch);
    gm_status st = scratch ? GM_OK : gm__nomem("permutation scratch");
    if (st == GM_OK) st = gm_perm_closure_run(&c, ngens, gens, scratch);
    if (st == GM_OK) {
        g = gm__group_alloc(GM_GROUP_PERM, c.count);
        if (!g) st = gm__nomem("permutation group");
    }
    if (st == GM_OK) {
        /* Hand the closure to the group; shrinking is optional. */
        int32_t *fit = gm_realloc(c.perms, (size_t)(c.count * degree) * sizeof *fit);
        g->perms = fit ? fit : c.perms;
        g->perm_index = c.index;
        c.perms = NULL;
        c.index = (gm__perm_index){0};
        g->param = degree;
        st = gm_perm_finish(g, ngens, gens, scratch);
    }
    if (st == GM_OK) st = gm__group_set_name(g, "perm(degree %lld)", (long long)degree);
    gm_free(scratch);
    gm_free(c.perms);
    gm__perm_index_free(&c.index);
    if (st != GM_OK) {
        gm_group_free(g);
        return st;
    }
    *out = g;
    return GM_OK;
}

gm_status gm_group_symmetric_new(int64_t n, gm_group **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "symmetric group: no output pointer");
    *out = NULL;
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG, "symmetric group S%lld: n must be at least 1",
                       (long long)n);
    /* 9! = 362880 <= 2^20 < 10!. */
    GM_RETURN_ERROR_IF(n > 9, GM_ERR_TOO_LARGE,
                       "symmetric group S%lld: order %lld! exceeds the permutation group "
                       "limit %lld",
                       (long long)n, (long long)n, (long long)GM_GROUP_MAX_PERM_ORDER);
    int32_t gens[2 * 9];
    for (int32_t i = 0; i < n; i++) {
        gens[i] = i < 2 ? (int32_t)(n > 1 ? 1 - i : 0) : i; /* (0 1) */
        gens[n + i] = (int32_t)((i + 1) % n);              /* (0 1 ... n-1) */
    }
    gm_group *g = NULL;
    GM_FORWARD_IF_ERROR(gm_group_perm_new(n, 2, gens, &g));
    gm_status st = gm__group_set_name(g, "S%lld", (long long)n);
    if (st != GM_OK) {
        gm_group_free(g);
        return st;
    }
    *out = g;
    return GM_OK;
}
