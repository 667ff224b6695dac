/* out[b,c,g] = v[g] * x[b,c,g]: a position-wise modulation shared by every
 * channel (the LDR layer's v_rho). */
#include <omp.h>
#include <stdio.h>

#include "ops_internal.h"

static gm_status gm__mul_positions_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0], *v = node->in[1];
    const gm_real *g = node->out->grad;
    int64_t rows = x->shape[0] * x->shape[1], n = x->shape[2];
    if (x->requires_grad) {
        bool fresh = false;
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
        const gm_real *pv = v->data;
        gm_real *gx = x->grad;
#pragma omp parallel for if (rows * n >= (1 << 16))
        for (int64_t r = 0; r < rows; r++) {
            gm_real *gxr = gx + r * n;
            const gm_real *gr = g + r * n;
            if (fresh) {
                for (int64_t j = 0; j < n; j++) gxr[j] = pv[j] * gr[j];
            } else {
                for (int64_t j = 0; j < n; j++) gxr[j] += pv[j] * gr[j];
            }
        }
    }
    if (v->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(v));
        const gm_real *px = x->data;
        gm_real *gv = v->grad;
        gm_real *acc = gm_arena_calloc(node->out->arena, (size_t)n, sizeof *acc);
        if (!acc) return gm__nomem("mul_positions: backward sums");
        /* Each thread owns a slice of the positions and sums the rows over
         * it in row order, so every position's sum is the same for any
         * thread count; the rows are read in contiguous slices (a walk down
         * each column would stride by n between rows). */
        const int nt = rows * n >= (1 << 16) ? omp_get_max_threads() : 1;
        const int64_t chunk = (n + nt - 1) / nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t c = 0; c < nt; c++) {
            const int64_t j0 = c * chunk;
            const int64_t j1 = j0 + chunk < n ? j0 + chunk : n;
            for (int64_t r = 0; r < rows && j0 < j1; r++) {
                const gm_real *xr = px + r * n, *gr = g + r * n;
                for (int64_t j = j0; j < j1; j++) acc[j] += xr[j] * gr[j];
            }
            for (int64_t j = j0; j < j1; j++) gv[j] += acc[j];
        }
    }
    return GM_OK;
}

gm_status gm_op_mul_positions(gm_ctx *ctx, gm_tensor *x, gm_tensor *v, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !v || !out, GM_ERR_INVALID_ARG,
                       "mul_positions: ctx, x, v and out must be non-NULL");
    *out = NULL;
    if (x->ndim != 3) return gm__shape_error("mul_positions", "x", x, "(B, C, n)");
    if (v->ndim != 1 || v->shape[0] != x->shape[2]) {
        char want[64];
        snprintf(want, sizeof want, "(%lld) to match x's last axis", (long long)x->shape[2]);
        return gm__shape_error("mul_positions", "v", v, want);
    }
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), 3, x->shape, &y));
    int64_t rows = x->shape[0] * x->shape[1], n = x->shape[2];
    const gm_real *px = x->data, *pv = v->data;
    gm_real *py = y->data;
#pragma omp parallel for if (rows * n >= (1 << 16))
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < n; j++) py[r * n + j] = pv[j] * px[r * n + j];
    }
    gm_tensor *in[2] = {x, v};
    if (gm_ctx_needs_grad(ctx, 2, in)) {
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_MUL_POSITIONS, gm__mul_positions_backward, y,
                                          2, in, NULL));
    }
    *out = y;
    return GM_OK;
}
