/* TEMPORARY: placeholders until group_perm.c, group_table.c, group_spec.c,
 * subgroup.c and coset.c exist. Delete each function as its real one lands. */
#include "group_internal.h"

int32_t gm__perm_mul(const gm_group *g, int32_t a, int32_t b) { (void)g; (void)a; (void)b; GM_ASSERT(0); }
void gm__perm_index_free(gm__perm_index *index) { (void)index; }
int gm__perm_name(const gm_group *g, int32_t a, char *buf, size_t size) { (void)g; (void)a; (void)buf; (void)size; return 0; }
gm_status gm_group_from_spec(const char *spec, gm_group **out) { (void)spec; *out = NULL; return GM_ERR_UNSUPPORTED; }
