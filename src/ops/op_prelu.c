/* out = x where x >= 0, else a * x; a is one shared slope or one per channel
 * (axis 1 of x (B, C, ...)). */
#include <stdio.h>

#include "ops_internal.h"

static gm_status gm__prelu_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0], *slope = node->in[1];
    const gm_real *g = node->out->grad, *px = x->data, *pa = slope->data;
    const bool shared = slope->numel == 1;
    const int64_t nb = x->shape[0], nc = x->shape[1], inner = x->numel / (nb * nc);
    const int64_t n = x->numel;
    if (x->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
        gm_real *gx = x->grad;
#pragma omp parallel for if (n >= (1 << 16))
        for (int64_t r = 0; r < nb * nc; r++) {
            const gm_real a = shared ? pa[0] : pa[r % nc];
            for (int64_t j = r * inner; j < (r + 1) * inner; j++) {
                gx[j] += px[j] >= 0 ? g[j] : a * g[j];
            }
        }
    }
    if (slope->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(slope));
        if (shared) {
            double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (n >= (1 << 16))
            for (int64_t j = 0; j < n; j++) {
                if (px[j] < 0) acc += (double)g[j] * (double)px[j];
            }
            slope->grad[0] += (gm_real)acc;
        } else {
#pragma omp parallel for if (n >= (1 << 16))
            for (int64_t c = 0; c < nc; c++) {
                double acc = 0.0;
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t base = (b * nc + c) * inner;
                    for (int64_t j = base; j < base + inner; j++) {
                        if (px[j] < 0) acc += (double)g[j] * (double)px[j];
                    }
                }
                slope->grad[c] += (gm_real)acc;
            }
        }
    }
    return GM_OK;
}

gm_status gm_op_prelu(gm_ctx *ctx, gm_tensor *x, gm_tensor *slope, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !slope || !out, GM_ERR_INVALID_ARG,
                       "prelu: ctx, x, slope and out must be non-NULL");
    *out = NULL;
    if (x->ndim < 2) return gm__shape_error("prelu", "x", x, "(B, C, ...)");
    const int64_t nb = x->shape[0], nc = x->shape[1], inner = x->numel / (nb * nc);
    if (slope->numel != 1 && (slope->ndim != 1 || slope->shape[0] != nc)) {
        char want[64];
        snprintf(want, sizeof want, "one element or (%lld), one per channel", (long long)nc);
        return gm__shape_error("prelu", "slope", slope, want);
    }
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new(gm_ctx_arena(ctx), x->ndim, x->shape, &y));
    const bool shared = slope->numel == 1;
    const gm_real *px = x->data, *pa = slope->data;
    gm_real *py = y->data;
#pragma omp parallel for if (x->numel >= (1 << 16))
    for (int64_t r = 0; r < nb * nc; r++) {
        const gm_real a = shared ? pa[0] : pa[r % nc];
        for (int64_t j = r * inner; j < (r + 1) * inner; j++) {
            py[j] = px[j] >= 0 ? px[j] : a * px[j];
        }
    }
    gm_tensor *in[2] = {x, slope};
    if (gm_ctx_needs_grad(ctx, 2, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_PRELU, gm__prelu_backward, y, 2, in, NULL));
    }
    *out = y;
    return GM_OK;
}
