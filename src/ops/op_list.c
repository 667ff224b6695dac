/* The op name table, generated from the one op list, the shared shape checks
 * and error message, the bias gradient, and the threading rule of the batched
 * ops. */
#include <assert.h>
#include <inttypes.h>
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

gm_status gm__check_same_shape(const char *op, const char *what, const gm_tensor *t,
                               const gm_tensor *ref) {
    if (gm_tensor_same_shape(ref, t)) return GM_OK;
    char want[96];
    gm_tensor_shape_str(ref, want, sizeof want);
    return gm__shape_error(op, what, t, want);
}

gm_status gm__check_weight_2d(const char *op, const gm_tensor *w, int64_t ni) {
    if (w->ndim == 2 && w->shape[1] == ni) return GM_OK;
    char expect[96];
    snprintf(expect, sizeof expect, "(O, %" PRId64 ") to match x's I", ni);
    return gm__shape_error(op, "w", w, expect);
}

gm_status gm__check_bias(const char *op, const gm_tensor *bias, int64_t no) {
    if (!bias || (bias->ndim == 1 && bias->shape[0] == no)) return GM_OK;
    char expect[96];
    snprintf(expect, sizeof expect, "(%" PRId64 ") to match w's O", no);
    return gm__shape_error(op, "bias", bias, expect);
}

double gm__sum(int64_t n, const gm_real *x) {
    double lane[GM__SUM_LANES] = {0};
    int64_t j = 0;
    for (; j + GM__SUM_LANES <= n; j += GM__SUM_LANES)
        for (int l = 0; l < GM__SUM_LANES; l++) lane[l] += (double)x[j + l];
    double s = 0.0;
    for (; j < n; j++) s += (double)x[j];
    for (int l = 0; l < GM__SUM_LANES; l++) s += lane[l];
    return s;
}

void gm__bias_grad_add(gm_real *db, const gm_real *dy, int64_t nb, int64_t no, int64_t n,
                       int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < no; o++) {
        double s = 0.0;
        for (int64_t b = 0; b < nb; b++) s += gm__sum(n, dy + (b * no + o) * n);
        db[o] += (gm_real)s;
    }
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
