/* layernorm followed by prelu, and optionally a residual sum, in one op,
 * without storing the values in between:
 *   z = (x - mean) * rstd (per sample, as layernorm without affine),
 *   out = (z if z >= 0 else a * z) [+ res] (a shared or per channel, as prelu;
 *   res shaped like x, as add).
 * Backward recomputes each sample's z from x and the saved mean and rstd
 * into a row that stays in cache, forms dz = dout where z >= 0 and a * dout
 * elsewhere, and finishes with layernorm's backward on dz. Every value is
 * computed by the same expressions, in the same order, as the two separate
 * ops, so the results are bit for bit those of prelu(layernorm(x)); the
 * saving is the buffer z and its gradient (two passes over the activations
 * in each direction). */
#include <math.h>
#include <omp.h>

#include "ops_internal.h"

#define OP "layernorm_prelu"
#define PARALLEL_NUMEL ((int64_t)1 << 15)

typedef struct {
    double *mean;
    double *rstd;
} lnp_saved;

/* z is the value layernorm stores: GM__LN_XHAT with mean and rstd in gm_real. */
static void lnp_row_forward(int64_t n, gm_real a, gm_real mean, gm_real rstd,
                            const gm_real *restrict x, const gm_real *restrict res,
                            gm_real *restrict y) {
    if (res) {
        for (int64_t j = 0; j < n; j++) {
            const gm_real z = GM__LN_XHAT(x[j], mean, rstd), az = a * z;
            y[j] = (z >= 0 ? z : az) + res[j];
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            const gm_real z = GM__LN_XHAT(x[j], mean, rstd), az = a * z;
            y[j] = z >= 0 ? z : az;
        }
    }
}

static void lnp_row_dz(int64_t n, gm_real a, gm_real mean, gm_real rstd,
                       const gm_real *restrict x, const gm_real *restrict g,
                       gm_real *restrict z, gm_real *restrict dz) {
    for (int64_t j = 0; j < n; j++) {
        const gm_real zj = GM__LN_XHAT(x[j], mean, rstd), d = g[j], ad = a * d;
        z[j] = zj;
        dz[j] = zj >= 0 ? d : ad;
    }
}

/* The residual's gradient is dout itself: moved to res when dout expires
 * here, else copied or added. Runs after x's gradient is formed, which reads
 * dout (res may be x itself). */
static gm_status lnp_residual_backward(gm_tape_node *node, gm_tensor *res) {
    if (!res || !res->requires_grad || gm_tape_node_move_grad(node, res)) return GM_OK;
    const gm_real *g = node->out->grad;
    bool fresh = false;
    GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(res, &fresh));
    GM__GRAD_STORE(fresh, res->numel, res->grad, j, g[j]);
    return GM_OK;
}

static gm_status lnp_backward(gm_tape_node *node) {
    gm_tensor *x = node->in[0], *slope = node->in[1], *res = node->in[2];
    const lnp_saved *s = node->saved;
    const gm_real *g = node->out->grad, *px = x->data, *pa = slope->data;
    const bool shared = slope->numel == 1, gx = x->requires_grad, ga = slope->requires_grad;
    const int64_t nb = x->shape[0], nc = x->shape[1], n = x->numel / nb, inner = n / nc;
    if (!gx && !ga) return lnp_residual_backward(node, res);
    bool fresh = false;
    if (gx) GM_FORWARD_IF_ERROR(gm_tensor_grad_acquire(x, &fresh));
    if (ga) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(slope));
    const int nt = nb > 1 && x->numel >= PARALLEL_NUMEL ? omp_get_max_threads() : 1;
    gm_arena *arena = node->out->arena;
    /* per thread: z and dz of one sample; the slope sums of every row */
    const size_t rows_bytes = (size_t)nt * 2 * (size_t)n * sizeof(gm_real);
    const size_t part_bytes = (size_t)(nb * nc) * sizeof(double);
    gm_real *rows = gm_arena_alloc(arena, rows_bytes);
    double *part = gm_arena_alloc(arena, part_bytes);
    if (!rows || !part) return gm__nomem(OP ": backward scratch");
    gm_real *dxd = gx ? x->grad : NULL;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        gm_real *z = rows + (int64_t)omp_get_thread_num() * 2 * n, *dz = z + n;
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nb; b++) {
            const gm_real *xb = px + b * n, *gb = g + b * n;
            const double mean = s->mean[b], rstd = s->rstd[b];
            for (int64_t c = 0; c < nc; c++) {
                const gm_real a = shared ? pa[0] : pa[c];
                const int64_t o = c * inner;
                lnp_row_dz(inner, a, (gm_real)mean, (gm_real)rstd, xb + o, gb + o, z + o, dz + o);
                if (ga) part[b * nc + c] = gm__prelu_row_slope(inner, z + o, gb + o);
            }
            if (!dxd) continue;
            double sum_d = 0.0, sum_dx = 0.0;
            gm__ln_grad_sums(n, xb, dz, NULL, mean, rstd, &sum_d, &sum_dx);
            const double mean_d = sum_d / (double)n, mean_dx = sum_dx / (double)n;
            gm_real *dxb = dxd + b * n;
            for (int64_t j = 0; j < n; j++) {
                const double xhat = ((double)xb[j] - mean) * rstd;
                const gm_real v = (gm_real)(rstd * ((double)dz[j] - mean_d - xhat * mean_dx));
                dxb[j] = fresh ? v : dxb[j] + v;
            }
        }
    }
    if (ga) {
        /* the sums in prelu's order: rows of a sample, then samples */
        if (shared) {
            double acc = 0.0;
            for (int64_t b = 0; b < nb; b++) {
                double sb = 0.0;
                for (int64_t c = 0; c < nc; c++) sb += part[b * nc + c];
                acc += sb;
            }
            slope->grad[0] += (gm_real)acc;
        } else {
            for (int64_t c = 0; c < nc; c++) {
                double acc = 0.0;
                for (int64_t b = 0; b < nb; b++) acc += part[b * nc + c];
                slope->grad[c] += (gm_real)acc;
            }
        }
    }
    gm_arena_release(arena, part, part_bytes);
    gm_arena_release(arena, rows, rows_bytes);
    return lnp_residual_backward(node, res);
}

gm_status gm_op_layernorm_prelu(gm_ctx *ctx, gm_tensor *x, gm_tensor *slope, gm_tensor *res,
                                double eps, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!ctx || !x || !slope || !out, GM_ERR_INVALID_ARG,
                       OP ": ctx, x, slope and out must be non-NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!(eps >= 0.0) || !isfinite(eps), GM_ERR_INVALID_ARG,
                       OP ": eps %g must be finite and >= 0", eps);
    GM_FORWARD_IF_ERROR(gm__check_prelu_shapes(OP, x, slope));
    if (res) GM_FORWARD_IF_ERROR(gm__check_same_shape(OP, "res", res, x));
    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, x->ndim, x->shape, &y));
    const int64_t nb = x->shape[0], nc = x->shape[1], n = x->numel / nb, inner = n / nc;
    lnp_saved sv;
    sv.mean = gm_arena_alloc(arena, (size_t)nb * sizeof(double));
    sv.rstd = gm_arena_alloc(arena, (size_t)nb * sizeof(double));
    if (!sv.mean || !sv.rstd) return gm__nomem(OP ": statistics");
    const bool shared = slope->numel == 1;
    const gm_real *px = x->data, *pa = slope->data, *pr = res ? res->data : NULL;
    gm_real *py = y->data;
#pragma omp parallel for if (nb > 1 && x->numel >= PARALLEL_NUMEL)
    for (int64_t b = 0; b < nb; b++) {
        double mean = 0.0, rstd = 0.0;
        gm__ln_moments(n, px + b * n, eps, &mean, &rstd);
        sv.mean[b] = mean;
        sv.rstd[b] = rstd;
        for (int64_t c = 0; c < nc; c++) {
            const gm_real a = shared ? pa[0] : pa[c];
            const int64_t o = b * n + c * inner;
            lnp_row_forward(inner, a, (gm_real)mean, (gm_real)rstd, px + o, pr ? pr + o : NULL,
                            py + o);
        }
    }
    gm_tensor *in[3] = {x, slope, res};
    if (gm_ctx_needs_grad(ctx, 3, in)) {
        lnp_saved *saved = gm_arena_alloc(arena, sizeof *saved);
        if (!saved) return gm__nomem(OP ": saved state");
        *saved = sv;
        GM_FORWARD_IF_ERROR(
            gm_ctx_record(ctx, GM_OP_LAYERNORM_PRELU, lnp_backward, y, 3, in, saved));
    }
    *out = y;
    return GM_OK;
}
