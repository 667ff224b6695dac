/* conv1x1: channel mixing at every position,
 * out[b,o,g] = bias[o] + sum_i w[o,i] x[b,i,g], one (O x I) x (I x n) GEMM per sample. */
#include <omp.h>

#include "ops/ops_internal.h"

#define OP "conv1x1"


/* Threads to spread the batch over; 1 = samples in turn, each GEMM threaded
 * by BLAS. */
static gm_status conv1x1_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0], *w = node->in[1], *bias = node->in[2];
    if (!y->grad) return GM_OK;
    const int64_t nb = x->shape[0], ni = x->shape[1], n = x->shape[2], no = w->shape[0];
    const int nt = gm__batch_threads(nb, no * ni * n);
    const gm_real *dy = y->grad;

    if (x->requires_grad) {
        bool fresh = false;
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
        gm_real *dx = x->grad;
        const gm_real *wd = w->data;
        const gm_real beta = fresh ? 0 : 1;
        /* dx_b (+)= W^T dy_b; every sample writes only its own slice */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t b = 0; b < nb; b++)
            gm__gemm(true, false, ni, n, no, 1, wd, ni, dy + b * no * n, n, beta, dx + b * ni * n,
                     n);
    }
    if (w->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(w));
        const gm_real *xd = x->data;
        gm_real *dw = w->grad;
        const int64_t wsz = no * ni;
        gm_real *part = NULL;
        if (nt > 1) {
            part = gm_arena_calloc(y->arena, (size_t)nt * (size_t)wsz, sizeof *part);
            if (!part) return gm__nomem(OP " backward: per-thread weight-gradient buffers");
        }
        if (part) {
            /* Every sample adds into all of dW: each thread sums its samples
             * into a private buffer, and the buffers are then added in thread
             * order, so the result does not depend on scheduling. */
#pragma omp parallel num_threads(nt)
            {
                gm_real *mine = part + (int64_t)omp_get_thread_num() * wsz;
#pragma omp for schedule(static)
                for (int64_t b = 0; b < nb; b++)
                    gm__gemm(false, true, no, ni, n, 1, dy + b * no * n, n, xd + b * ni * n, n, 1,
                             mine, ni);
            }
            for (int t = 0; t < nt; t++) {
                const gm_real *p = part + (int64_t)t * wsz;
                for (int64_t k = 0; k < wsz; k++) dw[k] += p[k];
            }
        } else {
            /* dW += dy_b x_b^T */
            for (int64_t b = 0; b < nb; b++)
                gm__gemm(false, true, no, ni, n, 1, dy + b * no * n, n, xd + b * ni * n, n, 1, dw,
                         ni);
        }
    }
    if (bias && bias->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(bias));
        gm__bias_grad_add(bias->grad, dy, nb, no, n, nt);
    }
    return GM_OK;
}

gm_status gm_op_conv1x1(gm_ctx *ctx, gm_tensor *x, gm_tensor *w, gm_tensor *bias,
                        gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !x || !w, GM_ERR_INVALID_ARG, OP ": ctx, x and w must be non-NULL");
    if (x->ndim != 3) return gm__shape_error(OP, "x", x, "(B, I, n)");
    const int64_t nb = x->shape[0], ni = x->shape[1], n = x->shape[2];
    GM_FORWARD_IF_ERROR(gm__check_weight_2d(OP, w, ni));
    const int64_t no = w->shape[0];
    GM_FORWARD_IF_ERROR(gm__check_bias(OP, bias, no));
    /* cblas takes int dimensions */
    GM_RETURN_ERROR_IF(ni > INT32_MAX || n > INT32_MAX || no > INT32_MAX, GM_ERR_TOO_LARGE,
                       OP ": a dimension exceeds the BLAS limit of %d", INT32_MAX);
    int64_t flops;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(no, ni, &flops) || gm_mul_overflow_i64(flops, n, &flops),
                       GM_ERR_TOO_LARGE, OP ": O*I*n overflows");

    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(gm_ctx_arena(ctx), 3, (int64_t[]){nb, no, n}, &y));
    const int nt = gm__batch_threads(nb, flops);
    const gm_real *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
    gm_real *yd = y->data;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < nb; b++) {
        gm_real *yb = yd + b * no * n;
        if (bd)
            for (int64_t o = 0; o < no; o++)
                for (int64_t g = 0; g < n; g++) yb[o * n + g] = bd[o];
        gm__gemm(false, false, no, n, ni, 1, wd, ni, xd + b * ni * n, n, bd ? 1 : 0, yb, n);
    }

    gm_tensor *in[3] = {x, w, bias};
    if (gm_ctx_needs_grad(ctx, 3, in))
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_CONV1X1, conv1x1_backward, y, 3, in, NULL));
    *out = y;
    return GM_OK;
}
