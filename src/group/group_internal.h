/* The representation of gm_group, shared by the files of src/group/. */
#ifndef GMCNN_GROUP_INTERNAL_H
#define GMCNN_GROUP_INTERNAL_H

#include <stdatomic.h>

#include "core/core_internal.h"
#include "gmcnn/group.h"

/* Open-addressing hash from a permutation (degree int32 images) to its index. */
typedef struct gm__perm_index {
    int64_t capacity; /* power of two */
    int32_t *slots;   /* element index or -1 */
} gm__perm_index;

struct gm_group {
    _Atomic int64_t refs;
    gm_group_kind kind;
    int64_t order;
    int64_t param;   /* n of C_n, D_n, S_n, p4:n, p4m:n; degree of perm groups */
    char *name;
    int32_t *inv;    /* order entries, always present */
    int64_t ngens;
    int32_t *gens;
    /* PRODUCT: a x b. SEMIDIRECT: a = N, b = H. SUBGROUP: a = parent. */
    gm_group *a, *b;
    int32_t *action; /* SEMIDIRECT: |H| x |N|, action[h*|N| + x] = phi_h(x) */
    int32_t *table;  /* TABLE: order x order */
    /* PERM: order x degree images, and their index. */
    int32_t *perms;
    gm__perm_index perm_index;
    /* SUBGROUP: elements (parent indices, ascending) and parent -> position. */
    int32_t *sub_elems;
    int32_t *sub_pos;
};

/* A zeroed group of the given kind and order with refs = 1 and an inverse
 * array allocated (not filled). NULL on allocation failure. */
gm_group *gm__group_alloc(gm_group_kind kind, int64_t order);
/* Sets g->name from a printf format; returns GM_ERR_NOMEM on failure. */
gm_status gm__group_set_name(gm_group *g, const char *fmt, ...) GM_PRINTF(2, 3);
/* Fills g->inv by searching, for each a, the b with a*b = e (O(n) per
 * element using the generic multiplication; for kinds without a formula). */
void gm__group_fill_inverses_by_search(gm_group *g);
/* Sets the generating set (copied). */
gm_status gm__group_set_gens(gm_group *g, int64_t ngens, const int32_t *gens);

/* Checks a generator list given by the caller: ngens >= 0, gens present when
 * ngens > 0, every entry an element of g. The detail starts with
 * "<what> <name of g>: " (e.g. what = "subgroup of"). GM_ERR_INVALID_ARG. */
gm_status gm__group_check_gens(const char *what, const gm_group *g, int64_t ngens,
                               const int32_t *gens);

/* Permutation-group helpers (group_perm.c). */
int32_t gm__perm_mul(const gm_group *g, int32_t a, int32_t b);
int32_t gm__perm_lookup(const gm__perm_index *index, const int32_t *perms, int64_t degree,
                        const int32_t *p);
void gm__perm_index_free(gm__perm_index *index);
int gm__perm_name(const gm_group *g, int32_t a, char *buf, size_t size);

#endif
