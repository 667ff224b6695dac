/* Per-sample normalisation over all of a sample's values together:
 *   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)  (biased variance),
 *   out = xhat [* gamma + beta].
 * The statistics and the backward's sums are in double; the elementwise
 * forward pass is in gm_real with mean and rstd rounded to it (twice the
 * vector width of a pass in double; the result differs by a rounding).
 * Backward (N values per sample, dxhat = dout [* gamma]):
 *   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)). */
#include <math.h>
#include <stdio.h>

#include "ops_internal.h"

/* The sums run in GM__SUM_LANES independent double accumulators, so that
 * they vectorize; each lane adds its elements in order. */
#define LANES GM__SUM_LANES

static double sum_lanes(const double *lane) {
    double s = 0.0;
    for (int l = 0; l < LANES; l++) s += lane[l];
    return s;
}

void gm__ln_moments(int64_t n, const gm_real *restrict x, double eps, double *mean, double *rstd) {
    double lane[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) lane[l] += (double)x[j + l];
    double sum = 0.0;
    for (; j < n; j++) sum += (double)x[j];
    const double m = (sum + sum_lanes(lane)) / (double)n;
    double sq_lane[LANES] = {0};
    j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            const double d = (double)x[j + l] - m;
            sq_lane[l] += d * d;
        }
    double sq = 0.0;
    for (; j < n; j++) {
        const double d = (double)x[j] - m;
        sq += d * d;
    }
    *mean = m;
    *rstd = 1.0 / sqrt((sq + sum_lanes(sq_lane)) / (double)n + eps);
}

void gm__ln_grad_sums(int64_t n, const gm_real *restrict x, const gm_real *restrict g,
                      const gm_real *restrict gamma, double mean, double rstd, double *sum_d,
                      double *sum_dx) {
    double ld[LANES] = {0}, lx[LANES] = {0};
    int64_t j = 0;
    if (gamma) {
        for (; j + LANES <= n; j += LANES)
            for (int l = 0; l < LANES; l++) {
                const double d = (double)g[j + l] * (double)gamma[j + l];
                ld[l] += d;
                lx[l] += d * (((double)x[j + l] - mean) * rstd);
            }
    } else {
        for (; j + LANES <= n; j += LANES)
            for (int l = 0; l < LANES; l++) {
                const double d = (double)g[j + l];
                ld[l] += d;
                lx[l] += d * (((double)x[j + l] - mean) * rstd);
            }
    }
    double sd = 0.0, sx = 0.0;
    for (; j < n; j++) {
        const double d = gamma ? (double)g[j] * (double)gamma[j] : (double)g[j];
        sd += d;
        sx += d * (((double)x[j] - mean) * rstd);
    }
    *sum_d = sd + sum_lanes(ld);
    *sum_dx = sx + sum_lanes(lx);
}

typedef struct {
    double *mean;
    double *rstd;
} gm__layernorm_saved;

static gm_status gm__layernorm_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0], *gamma = node->in[1], *beta = node->in[2];
    const gm__layernorm_saved *s = node->saved;
    const gm_real *g = node->out->grad, *px = x->data;
    const int64_t nb = x->shape[0], n = x->numel / nb;
    if (x->requires_grad) {
        bool fresh = false;
        GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
        gm_real *gx = x->grad;
        const gm_real *pg = gamma ? gamma->data : NULL;
#pragma omp parallel for if (nb > 1 && x->numel >= (1 << 15))
        for (int64_t b = 0; b < nb; b++) {
            const gm_real *xb = px + b * n, *gb = g + b * n;
            const double mean = s->mean[b], rstd = s->rstd[b];
            double sum_d = 0.0, sum_dx = 0.0;
            gm__ln_grad_sums(n, xb, gb, pg, mean, rstd, &sum_d, &sum_dx);
            const double mean_d = sum_d / (double)n, mean_dx = sum_dx / (double)n;
            gm_real *gxb = gx + b * n;
            for (int64_t j = 0; j < n; j++) {
                double d = pg ? (double)gb[j] * (double)pg[j] : (double)gb[j];
                double xhat = ((double)xb[j] - mean) * rstd;
                const gm_real v = (gm_real)(rstd * (d - mean_d - xhat * mean_dx));
                gxb[j] = fresh ? v : gxb[j] + v;
            }
        }
    }
    if (gamma && gamma->requires_grad) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(gamma));
    if (beta && beta->requires_grad) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(beta));
    gm_real *ggamma = gamma && gamma->requires_grad ? gamma->grad : NULL;
    gm_real *gbeta = beta && beta->requires_grad ? beta->grad : NULL;
    if (ggamma || gbeta) {
        /* Positions are independent: split them, sum the batch in order. */
#pragma omp parallel for if (x->numel >= (1 << 15))
        for (int64_t j = 0; j < n; j++) {
            double acc_g = 0.0, acc_b = 0.0;
            for (int64_t b = 0; b < nb; b++) {
                double gj = (double)g[b * n + j];
                acc_g += gj * ((double)px[b * n + j] - s->mean[b]) * s->rstd[b];
                acc_b += gj;
            }
            if (ggamma) ggamma[j] += (gm_real)acc_g;
            if (gbeta) gbeta[j] += (gm_real)acc_b;
        }
    }
    return GM_OK;
}

/* True when p has x's shape without its first (batch) dim. */
static bool gm__is_sample_shaped(const gm_tensor *p, const gm_tensor *x) {
    if (p->ndim != x->ndim - 1) return false;
    for (int i = 0; i < p->ndim; i++) {
        if (p->shape[i] != x->shape[i + 1]) return false;
    }
    return true;
}

gm_status gm_op_layernorm(gm_ctx *ctx, gm_tensor *x, gm_tensor *gamma, gm_tensor *beta,
                          double eps, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "layernorm: ctx, x and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!gamma != !beta, GM_ERR_INVALID_ARG,
                       "layernorm: gamma and beta must be both given or both NULL");
    GM_RETURN_ERROR_IF(!(eps >= 0.0) || !isfinite(eps), GM_ERR_INVALID_ARG,
                       "layernorm: eps %g must be finite and >= 0", eps);
    if (x->ndim < 2) return gm__shape_error("layernorm", "x", x, "(B, ...) with ndim >= 2");
    if (gamma) {
        char want[128], xs[96];
        gm_tensor_shape_str(x, xs, sizeof xs);
        snprintf(want, sizeof want, "one sample's shape of x %s", xs);
        if (!gm__is_sample_shaped(gamma, x)) {
            return gm__shape_error("layernorm", "gamma", gamma, want);
        }
        if (!gm__is_sample_shaped(beta, x)) {
            return gm__shape_error("layernorm", "beta", beta, want);
        }
    }
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, x->ndim, x->shape, &y));
    const int64_t nb = x->shape[0], n = x->numel / nb;
    gm__layernorm_saved s;
    s.mean = gm_arena_alloc(arena, (size_t)nb * sizeof(double));
    s.rstd = gm_arena_alloc(arena, (size_t)nb * sizeof(double));
    if (!s.mean || !s.rstd) return gm__nomem("layernorm: statistics");
    const gm_real *px = x->data;
    const gm_real *pg = gamma ? gamma->data : NULL, *pb = beta ? beta->data : NULL;
    gm_real *py = y->data;
#pragma omp parallel for if (nb > 1 && x->numel >= (1 << 15))
    for (int64_t b = 0; b < nb; b++) {
        const gm_real *xb = px + b * n;
        double mean = 0.0, rstd = 0.0;
        gm__ln_moments(n, xb, eps, &mean, &rstd);
        s.mean[b] = mean;
        s.rstd[b] = rstd;
        gm_real *yb = py + b * n;
        const gm_real mf = (gm_real)mean, rf = (gm_real)rstd;
        if (pg) {
            for (int64_t j = 0; j < n; j++) yb[j] = GM__LN_XHAT(xb[j], mf, rf) * pg[j] + pb[j];
        } else {
            for (int64_t j = 0; j < n; j++) yb[j] = GM__LN_XHAT(xb[j], mf, rf);
        }
    }
    gm_tensor *in[3] = {x, gamma, beta};
    if (gm_ctx_needs_grad(ctx, 3, in)) {
        gm__layernorm_saved *saved = gm_arena_alloc(arena, sizeof *saved);
        if (!saved) return gm__nomem("layernorm: saved state");
        *saved = s;
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_LAYERNORM, gm__layernorm_backward, y, 3, in, saved));
    }
    *out = y;
    return GM_OK;
}
