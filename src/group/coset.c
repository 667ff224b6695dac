/* Left and right cosets of a subgroup, and the action of G on them. */
#include "group_internal.h"

struct gm_cosets {
    gm_group *parent; /* retained */
    gm_coset_side side;
    int64_t count;
    int32_t *reps;  /* count entries, ascending */
    int32_t *index; /* |G| entries: coset number of each element */
};

void gm_cosets_free(gm_cosets *c) {
    if (!c) return;
    gm_group_free(c->parent);
    gm_free(c->reps);
    gm_free(c->index);
    gm_free(c);
}

gm_status gm_cosets_new(const gm_subgroup *h, gm_coset_side side, gm_cosets **out) {
    *out = NULL;
    const gm_group *g = gm_subgroup_parent(h);
    GM_RETURN_ERROR_IF(side != GM_COSET_LEFT && side != GM_COSET_RIGHT, GM_ERR_INVALID_ARG,
                       "cosets in %s: side %d is neither left (%d) nor right (%d)",
                       gm_group_name(g), (int)side, (int)GM_COSET_LEFT, (int)GM_COSET_RIGHT);
    const int64_t n = gm_group_order(g), m = gm_subgroup_order(h);
    const int32_t *elems = gm_subgroup_elements(h);
    GM_ASSERT(m >= 1 && n % m == 0);

    gm_cosets *c = gm_calloc(1, sizeof *c);
    if (!c) return gm__nomem("cosets");
    c->parent = gm_group_retain(g);
    c->side = side;
    c->count = n / m;
    c->reps = gm_malloc_array((size_t)c->count, sizeof *c->reps);
    c->index = gm_malloc_array((size_t)n, sizeof *c->index);
    if (!c->reps || !c->index) {
        gm_cosets_free(c);
        return gm__nomem("cosets");
    }
    for (int64_t a = 0; a < n; a++) c->index[a] = -1;
    /* Scanning in ascending order makes the first unvisited element the
     * smallest of its coset, and numbers the cosets by their representatives. */
    int32_t k = 0;
    for (int32_t a = 0; a < n; a++) {
        if (c->index[a] >= 0) continue;
        GM_ASSERT(k < c->count);
        c->reps[k] = a;
        for (int64_t i = 0; i < m; i++) {
            const int32_t b = side == GM_COSET_LEFT ? gm_group_mul(g, a, elems[i])
                                                    : gm_group_mul(g, elems[i], a);
            GM_ASSERT(c->index[b] < 0);
            c->index[b] = k;
        }
        k++;
    }
    GM_ASSERT(k == c->count);
    *out = c;
    return GM_OK;
}

gm_coset_side gm_cosets_side(const gm_cosets *c) { return c->side; }
int64_t gm_cosets_count(const gm_cosets *c) { return c->count; }
const int32_t *gm_cosets_reps(const gm_cosets *c) { return c->reps; }
const int32_t *gm_cosets_index(const gm_cosets *c) { return c->index; }

/* Well defined on cosets: for left cosets g(xh)H = (gx)H, for right cosets
 * H(hx)g = H(xg); so the representative stands for the whole coset. */
int32_t gm_cosets_act(const gm_cosets *c, int32_t g, int32_t x) {
    GM_DEBUG_ASSERT(x >= 0 && x < c->count);
    const int32_t r = c->reps[x];
    return c->index[c->side == GM_COSET_LEFT ? gm_group_mul(c->parent, g, r)
                                             : gm_group_mul(c->parent, r, g)];
}
