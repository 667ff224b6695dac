/* Per-channel batch normalisation of feature maps x (B, C, n): channel c is
 * normalised over all of its B * n values together (the batch and every
 * group position), so the op commutes with any permutation of the positions
 * and a G-equivariant map stays G-equivariant.
 *
 * Training mode: mean and biased variance of the batch; the running
 * statistics move by `momentum` toward the batch mean and the unbiased
 * variance (PyTorch's BatchNorm convention). Evaluation mode: the running
 * statistics, so the op is affine in x. The statistics and the backward's
 * sums are in double.
 * Backward in training mode (N = B * n values per channel, d = dout * gamma):
 *   dx = rstd * (d - mean(d) - xhat * mean(d * xhat)),
 * and in evaluation mode dx = rstd * d. */
#include <math.h>
#include <stdio.h>

#include "ops_internal.h"

typedef struct {
    double *mean; /* per channel: the statistics the forward used */
    double *rstd;
    bool batch_stats; /* mean/rstd came from the batch (training) */
} gm__bn_saved;

/* The channel's sum and sum of squared deviations over B rows of n values
 * with stride C * n, rows in order. */
static void gm__bn_moments(const gm_real *x, int64_t nb, int64_t stride, int64_t n, double *mean,
                           double *var) {
    double sum = 0.0;
    for (int64_t b = 0; b < nb; b++) sum += gm__sum(n, x + b * stride);
    const double m = sum / (double)(nb * n);
    double sq = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        const gm_real *xb = x + b * stride;
        double lane[GM__SUM_LANES] = {0};
        int64_t j = 0;
        for (; j + GM__SUM_LANES <= n; j += GM__SUM_LANES)
            for (int l = 0; l < GM__SUM_LANES; l++) {
                const double d = (double)xb[j + l] - m;
                lane[l] += d * d;
            }
        double tail = 0.0;
        for (; j < n; j++) {
            const double d = (double)xb[j] - m;
            tail += d * d;
        }
        for (int l = 0; l < GM__SUM_LANES; l++) sq += lane[l];
        sq += tail;
    }
    *mean = m;
    *var = sq / (double)(nb * n);
}

static gm_status gm__batchnorm_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0], *gamma = node->in[1], *beta = node->in[2];
    const gm__bn_saved *s = node->saved;
    const gm_real *g = node->out->grad, *px = x->data;
    const int64_t nb = x->shape[0], nc = x->shape[1], n = x->numel / (nb * nc);
    const int64_t stride = nc * n, count = nb * n;
    const gm_real *pgam = gamma ? gamma->data : NULL;
    bool fresh = false;
    if (x->requires_grad) GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
    if (gamma && gamma->requires_grad) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(gamma));
    if (beta && beta->requires_grad) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(beta));
    gm_real *gx = x->requires_grad ? x->grad : NULL;
    gm_real *ggam = gamma && gamma->requires_grad ? gamma->grad : NULL;
    gm_real *gbet = beta && beta->requires_grad ? beta->grad : NULL;
#pragma omp parallel for if (nc > 1 && x->numel >= (1 << 15))
    for (int64_t c = 0; c < nc; c++) {
        const double mean = s->mean[c], rstd = s->rstd[c];
        /* sum of dout and of dout * xhat over the channel's values */
        double sum_g = 0.0, sum_gx = 0.0;
        for (int64_t b = 0; b < nb; b++) {
            const gm_real *xb = px + b * stride + c * n, *gb = g + b * stride + c * n;
            double sd = 0.0, sx = 0.0;
            gm__ln_grad_sums(n, xb, gb, NULL, mean, rstd, &sd, &sx);
            sum_g += sd;
            sum_gx += sx;
        }
        if (ggam) ggam[c] += (gm_real)sum_gx;
        if (gbet) gbet[c] += (gm_real)sum_g;
        if (!gx) continue;
        const double scale = pgam ? (double)pgam[c] : 1.0;
        const double mean_d = s->batch_stats ? scale * sum_g / (double)count : 0.0;
        const double mean_dx = s->batch_stats ? scale * sum_gx / (double)count : 0.0;
        for (int64_t b = 0; b < nb; b++) {
            const gm_real *xb = px + b * stride + c * n, *gb = g + b * stride + c * n;
            gm_real *gxb = gx + b * stride + c * n;
            for (int64_t j = 0; j < n; j++) {
                const double xhat = ((double)xb[j] - mean) * rstd;
                const gm_real v =
                    (gm_real)(rstd * (scale * (double)gb[j] - mean_d - xhat * mean_dx));
                gxb[j] = fresh ? v : gxb[j] + v;
            }
        }
    }
    return GM_OK;
}

static gm_status gm__bn_check_vec(const char *what, const gm_tensor *t, int64_t nc) {
    if (!t || (t->ndim == 1 && t->shape[0] == nc)) return GM_OK;
    char want[64];
    snprintf(want, sizeof want, "(%lld) to match x's C", (long long)nc);
    return gm__shape_error("batchnorm", what, t, want);
}

gm_status gm_op_batchnorm(gm_ctx *ctx, gm_tensor *x, gm_tensor *gamma, gm_tensor *beta,
                          gm_tensor *running_mean, gm_tensor *running_var, double momentum,
                          double eps, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "batchnorm: ctx, x and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!gamma != !beta, GM_ERR_INVALID_ARG,
                       "batchnorm: gamma and beta must be both given or both NULL");
    GM_RETURN_ERROR_IF(!running_mean != !running_var, GM_ERR_INVALID_ARG,
                       "batchnorm: running_mean and running_var must be both given or both NULL");
    GM_RETURN_ERROR_IF(!(eps >= 0.0) || !isfinite(eps), GM_ERR_INVALID_ARG,
                       "batchnorm: eps %g must be finite and >= 0", eps);
    GM_RETURN_ERROR_IF(!(momentum >= 0.0 && momentum <= 1.0), GM_ERR_INVALID_ARG,
                       "batchnorm: momentum %g must be in [0, 1]", momentum);
    if (x->ndim < 2) return gm__shape_error("batchnorm", "x", x, "(B, C, ...)");
    const int64_t nb = x->shape[0], nc = x->shape[1];
    GM_FORWARD_IF_ERROR(gm__bn_check_vec("gamma", gamma, nc));
    GM_FORWARD_IF_ERROR(gm__bn_check_vec("beta", beta, nc));
    GM_FORWARD_IF_ERROR(gm__bn_check_vec("running_mean", running_mean, nc));
    GM_FORWARD_IF_ERROR(gm__bn_check_vec("running_var", running_var, nc));
    const bool batch_stats = gm_ctx_training(ctx) || !running_mean;
    const int64_t n = nc > 0 && nb > 0 ? x->numel / (nb * nc) : 0;
    GM_RETURN_ERROR_IF(batch_stats && nb * n < 2, GM_ERR_INVALID_ARG,
                       "batchnorm: batch statistics need more than one value per channel, x "
                       "has %lld",
                       (long long)(nb * n));
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, x->ndim, x->shape, &y));
    gm__bn_saved s = {.batch_stats = batch_stats};
    s.mean = gm_arena_alloc(arena, (size_t)(nc ? nc : 1) * sizeof(double));
    s.rstd = gm_arena_alloc(arena, (size_t)(nc ? nc : 1) * sizeof(double));
    if (!s.mean || !s.rstd) return gm__nomem("batchnorm: statistics");
    const int64_t stride = nc * n;
    const gm_real *px = x->data;
    gm_real *py = y->data;
    const bool update = gm_ctx_training(ctx) && running_mean;
#pragma omp parallel for if (nc > 1 && x->numel >= (1 << 15))
    for (int64_t c = 0; c < nc; c++) {
        double mean, var;
        if (batch_stats) {
            gm__bn_moments(px + c * n, nb, stride, n, &mean, &var);
            if (update) {
                const double count = (double)(nb * n);
                gm_real *rm = running_mean->data + c, *rv = running_var->data + c;
                *rm = (gm_real)((1.0 - momentum) * (double)*rm + momentum * mean);
                *rv = (gm_real)((1.0 - momentum) * (double)*rv +
                                momentum * var * count / (count - 1.0));
            }
        } else {
            mean = (double)running_mean->data[c];
            var = (double)running_var->data[c];
        }
        const double rstd = 1.0 / sqrt(var + eps);
        s.mean[c] = mean;
        s.rstd[c] = rstd;
        /* y = x * a + b with the affine part folded in */
        const double scale = gamma ? (double)gamma->data[c] : 1.0;
        const double shift = beta ? (double)beta->data[c] : 0.0;
        const gm_real a = (gm_real)(rstd * scale), b0 = (gm_real)(shift - mean * rstd * scale);
        for (int64_t b = 0; b < nb; b++) {
            const gm_real *xb = px + b * stride + c * n;
            gm_real *yb = py + b * stride + c * n;
            for (int64_t j = 0; j < n; j++) yb[j] = xb[j] * a + b0;
        }
    }
    gm_tensor *in[3] = {x, gamma, beta};
    if (gm_ctx_needs_grad(ctx, 3, in)) {
        gm__bn_saved *saved = gm_arena_alloc(arena, sizeof *saved);
        if (!saved) return gm__nomem("batchnorm: saved state");
        *saved = s;
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_BATCHNORM, gm__batchnorm_backward, y, 3, in, saved));
    }
    *out = y;
    return GM_OK;
}
