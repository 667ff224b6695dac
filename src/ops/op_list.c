/* The op name table, generated from the one op list, the shared shape error
 * message, and the threading rule of the batched ops. */
#include <assert.h>
#include <omp.h>

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

/* Below this many multiply-adds in all, a parallel region costs more than it
 * saves (measured: a batch-2 plume forward of a few thousand multiply-adds per
 * sample took 4.5 ms threaded against 0.17 ms serial). */
#define GM_PARALLEL_MIN_FLOPS ((int64_t)1 << 16)
/* From this many multiply-adds per sample on, one GEMM keeps BLAS's threads busy. */
#define GM_BLAS_SAMPLE_FLOPS ((int64_t)1 << 22)

int gm__batch_threads(int64_t nb, int64_t flops_per_sample) {
    const int nt = omp_get_max_threads();
    if (nb < 2 || nt < 2 || omp_in_parallel()) return 1;
    if (nb * flops_per_sample < GM_PARALLEL_MIN_FLOPS) return 1;
    if (nb < nt && flops_per_sample >= GM_BLAS_SAMPLE_FLOPS) return 1;
    return nb < nt ? (int)nb : nt;
}
