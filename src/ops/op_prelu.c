/* out = x where x >= 0, else a * x; a is one shared slope or one per channel
 * (axis 1 of x (B, C, ...)).
 *
 * The loops compute both branches and select, so that they compile to vector
 * blends: with a branch, a random sign costs a misprediction per element, and
 * the compiler may not speculate the multiply itself. The slope gradient sums
 * each row in eight double lanes, then the rows in order. */
#include <stdio.h>

#include "ops_internal.h"

#define LANES GM__SUM_LANES

static void prelu_row(int64_t n, gm_real a, const gm_real *restrict x, gm_real *restrict y) {
    for (int64_t j = 0; j < n; j++) {
        const gm_real v = x[j], av = a * v;
        y[j] = v >= 0 ? v : av;
    }
}

/* gx = (or += when accumulating) the gradient through one row */
static void prelu_row_grad(int64_t n, gm_real a, const gm_real *restrict x,
                           const gm_real *restrict g, bool accumulate,
                           gm_real *restrict gx) {
    if (accumulate) {
        for (int64_t j = 0; j < n; j++) {
            const gm_real d = g[j], ad = a * d;
            gx[j] += x[j] >= 0 ? d : ad;
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            const gm_real d = g[j], ad = a * d;
            gx[j] = x[j] >= 0 ? d : ad;
        }
    }
}

double gm__prelu_row_slope(int64_t n, const gm_real *restrict x,
                           const gm_real *restrict g) {
    double lane[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            const double p = (double)g[j + l] * (double)x[j + l];
            lane[l] += x[j + l] < 0 ? p : 0.0;
        }
    double s = 0.0;
    for (; j < n; j++)
        if (x[j] < 0) s += (double)g[j] * (double)x[j];
    for (int l = 0; l < LANES; l++) s += lane[l];
    return s;
}

static gm_status gm__prelu_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0], *slope = node->in[1];
    const gm_real *g = node->out->grad, *px = x->data, *pa = slope->data;
    const bool shared = slope->numel == 1;
    const int64_t nb = x->shape[0], nc = x->shape[1], inner = x->numel / (nb * nc);
    const int64_t n = x->numel;
    if (x->requires_grad) {
        bool fresh = false;
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
        gm_real *gx = x->grad;
#pragma omp parallel for if (n >= (1 << 16))
        for (int64_t r = 0; r < nb * nc; r++) {
            const gm_real a = shared ? pa[0] : pa[r % nc];
            prelu_row_grad(inner, a, px + r * inner, g + r * inner, !fresh, gx + r * inner);
        }
    }
    if (slope->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(slope));
        if (shared) {
            /* per-sample sums, then the samples in order: the same result for
             * any thread count */
            double acc = 0.0;
#pragma omp parallel for ordered schedule(static, 1) if (nb > 1 && n >= (1 << 16))
            for (int64_t b = 0; b < nb; b++) {
                double s = 0.0;
                for (int64_t c = 0; c < nc; c++) {
                    const int64_t base = (b * nc + c) * inner;
                    s += gm__prelu_row_slope(inner, px + base, g + base);
                }
#pragma omp ordered
                acc += s;
            }
            slope->grad[0] += (gm_real)acc;
        } else {
#pragma omp parallel for if (n >= (1 << 16))
            for (int64_t c = 0; c < nc; c++) {
                double acc = 0.0;
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t base = (b * nc + c) * inner;
                    acc += gm__prelu_row_slope(inner, px + base, g + base);
                }
                slope->grad[c] += (gm_real)acc;
            }
        }
    }
    return GM_OK;
}

gm_status gm__check_prelu_shapes(const char *op, const gm_tensor *x, const gm_tensor *slope) {
    if (x->ndim < 2) return gm__shape_error(op, "x", x, "(B, C, ...)");
    const int64_t nc = x->shape[1];
    if (slope->numel != 1 && (slope->ndim != 1 || slope->shape[0] != nc)) {
        char want[64];
        snprintf(want, sizeof want, "one element or (%lld), one per channel", (long long)nc);
        return gm__shape_error(op, "slope", slope, want);
    }
    return GM_OK;
}

gm_status gm_op_prelu(gm_ctx *ctx, gm_tensor *x, gm_tensor *slope, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !slope || !out, GM_ERR_INVALID_ARG,
                       "prelu: ctx, x, slope and out must be non-NULL");
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm__check_prelu_shapes("prelu", x, slope));
    const int64_t nb = x->shape[0], nc = x->shape[1], inner = x->numel / (nb * nc);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), x->ndim, x->shape, &y));
    const bool shared = slope->numel == 1;
    const gm_real *px = x->data, *pa = slope->data;
    gm_real *py = y->data;
#pragma omp parallel for if (x->numel >= (1 << 16))
    for (int64_t r = 0; r < nb * nc; r++) {
        const gm_real a = shared ? pa[0] : pa[r % nc];
        prelu_row(inner, a, px + r * inner, py + r * inner);
    }
    gm_tensor *in[2] = {x, slope};
    if (gm_ctx_needs_grad(ctx, 2, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_PRELU, gm__prelu_backward, y, 2, in, NULL));
    }
    *out = y;
    return GM_OK;
}
