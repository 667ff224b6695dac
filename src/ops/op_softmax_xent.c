/* Mean softmax cross-entropy over the batch, optionally against smoothed
 * targets t = (1 - eps) onehot + eps/K:
 *   loss = (1/B) sum_b (lse_b - sum_k t[b,k] x[b,k]),  lse_b = log sum_k exp x[b,k];
 *   dx[b,k] = (g/B) (exp(x[b,k] - lse_b) - t[b,k]). */
#include <math.h>
#include <string.h>

#include "ops_internal.h"

typedef struct {
    int32_t *labels; /* copied: the caller's array need not outlive the step */
    double *lse;
    double eps;
} gm__xent_saved;

static gm_status gm__softmax_xent_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0];
    if (!x->requires_grad) return GM_OK;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    const gm__xent_saved *s = node->saved;
    const int64_t nb = x->shape[0], nk = x->shape[1];
    const double k = (double)node->out->grad[0] / (double)nb;
    /* eps = 0 keeps the targets exactly 1 and 0, so the plain loss is unchanged. */
    const double on = 1.0 - s->eps, off = s->eps / (double)nk;
    const gm_real *px = x->data;
    gm_real *gx = x->grad;
#pragma omp parallel for if (x->numel >= (1 << 15))
    for (int64_t b = 0; b < nb; b++) {
        const gm_real *xb = px + b * nk;
        gm_real *gb = gx + b * nk;
        for (int64_t j = 0; j < nk; j++) {
            double p = exp((double)xb[j] - s->lse[b]);
            const double t = s->eps == 0.0 ? (j == s->labels[b] ? 1.0 : 0.0)
                                           : off + (j == s->labels[b] ? on : 0.0);
            gb[j] += (gm_real)(k * (p - t));
        }
    }
    return GM_OK;
}

gm_status gm_op_softmax_xent_smooth(gm_ctx *ctx, gm_tensor *logits, const int32_t *labels,
                                    double eps, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !logits || !labels || !out, GM_ERR_INVALID_ARG,
                       "softmax_xent: ctx, logits, labels and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!(eps >= 0.0 && eps < 1.0), GM_ERR_INVALID_ARG,
                       "softmax_xent: label smoothing %g is outside [0, 1)", eps);
    if (logits->ndim != 2) return gm__shape_error("softmax_xent", "logits", logits, "(B, K)");
    const int64_t nb = logits->shape[0], nk = logits->shape[1];
    for (int64_t b = 0; b < nb; b++) {
        GM_RETURN_ERROR_IF(labels[b] < 0 || labels[b] >= nk, GM_ERR_INVALID_ARG,
                           "softmax_xent: label %d of sample %lld is outside 0..%lld",
                           (int)labels[b], (long long)b, (long long)(nk - 1));
    }
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 0, NULL, &y));
    gm__xent_saved s;
    s.eps = eps;
    s.lse = gm_arena_alloc(arena, (size_t)nb * sizeof(double));
    if (!s.lse) return gm__nomem("softmax_xent: log-sum-exp");
    const gm_real *px = logits->data;
    const double on = 1.0 - eps, off = eps / (double)nk;
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (logits->numel >= (1 << 15))
    for (int64_t b = 0; b < nb; b++) {
        const gm_real *xb = px + b * nk;
        /* Shift by the row maximum so that exp never overflows. */
        double m = (double)xb[0];
        for (int64_t j = 1; j < nk; j++) m = fmax(m, (double)xb[j]);
        double sum = 0.0, xsum = 0.0;
        for (int64_t j = 0; j < nk; j++) {
            sum += exp((double)xb[j] - m);
            xsum += (double)xb[j];
        }
        s.lse[b] = m + log(sum);
        if (eps == 0.0)
            total += s.lse[b] - (double)xb[labels[b]];
        else
            total += s.lse[b] - on * (double)xb[labels[b]] - off * xsum;
    }
    y->data[0] = (gm_real)(total / (double)nb);
    gm_tensor *in[1] = {logits};
    if (gm_ctx_needs_grad(ctx, 1, in)) {
        s.labels = gm_arena_alloc(arena, (size_t)nb * sizeof(int32_t));
        gm__xent_saved *saved = gm_arena_alloc(arena, sizeof *saved);
        if (!s.labels || !saved) return gm__nomem("softmax_xent: saved state");
        memcpy(s.labels, labels, (size_t)nb * sizeof(int32_t));
        *saved = s;
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_SOFTMAX_XENT, gm__softmax_xent_backward, y,
                                          1, in, saved));
    }
    *out = y;
    return GM_OK;
}

gm_status gm_op_softmax_xent(gm_ctx *ctx, gm_tensor *logits, const int32_t *labels,
                             gm_tensor **out) {
    return gm_op_softmax_xent_smooth(ctx, logits, labels, 0.0, out);
}
