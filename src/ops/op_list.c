/* The op name table, generated from the one op list, and the shared shape
 * error message. */
#include <assert.h>

#include "ops_internal.h"

static const char *const gm__op_names[] = {
#define GM_X_OP_NAME(name, str) str,
    GM_OP_LIST(GM_X_OP_NAME)
#undef GM_X_OP_NAME
};

static_assert(sizeof gm__op_names / sizeof gm__op_names[0] == GM_OP_COUNT,
              "GM_OP_LIST and the op name table disagree");

const char *gm_op_name(int op) {
    if (op < 0 || op >= GM_OP_COUNT) return "?";
    return gm__op_names[op];
}

gm_status gm__shape_error(const char *op, const char *what, const gm_tensor *t,
                          const char *expected) {
    char buf[96];
    gm_tensor_shape_str(t, buf, sizeof buf);
    return gm_error_set(GM_ERR_SHAPE, "%s: %s has shape %s, expected %s", op, what, buf,
                        expected);
}
