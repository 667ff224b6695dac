/* conv2d: zero-padded 2-D cross-correlation,
 *   out[b,o,y,x] = bias[o] + sum_{i,u,v} w[o,i,u,v] in[b,i,y*stride+u-pad, x*stride+v-pad],
 * as im2col + GEMM. The output positions of a sample are taken in tiles so
 * that the column block (I*kh*kw rows) stays cache-sized and the scratch
 * does not grow with the image. */
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

#define OP "conv2d"

/* Target size of one column block, in elements. */
#define COL_BLOCK_ELEMS ((int64_t)1 << 18)
/* Fewest output positions per tile, so that the GEMMs stay wide enough to
 * run near peak when I*kh*kw is large. */
#define MIN_TILE 256

typedef struct conv2d_geom {
    int64_t nb, ni, h, w;     /* input */
    int64_t no, kh, kw;       /* kernel */
    int64_t stride, pad;
    int64_t ho, wo;           /* output */
    int64_t k, p, pt;         /* rows of a column block, positions, positions per tile */
} conv2d_geom;

/* The output columns [*lo, *hi) of a row whose input column ox*stride+v-pad
 * lies inside the image (0 <= ix < w); clamped to [0, wo). */
static void valid_cols(const conv2d_geom *g, int64_t v, int64_t *lo, int64_t *hi) {
    const int64_t off = v - g->pad;  /* ix = ox*stride + off */
    int64_t a = off >= 0 ? 0 : (-off + g->stride - 1) / g->stride;
    int64_t b = g->w - off <= 0 ? 0 : (g->w - off - 1) / g->stride + 1;
    if (b > g->wo) b = g->wo;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* The part of one output row that a tile covers, for kernel row u: output
 * columns [ox0, ox1) starting at output position q (at most n of them),
 * input row iy, and [a, b) the columns among them whose input column
 * ox*stride + v - pad lies inside the image ([lo, hi) of valid_cols). */
typedef struct tile_row {
    int64_t ox0, ox1, iy, a, b;
} tile_row;

static tile_row tile_row_at(const conv2d_geom *g, int64_t q, int64_t n, int64_t u, int64_t lo,
                            int64_t hi) {
    tile_row r = {.ox0 = q % g->wo};
    r.ox1 = r.ox0 + (n < g->wo - r.ox0 ? n : g->wo - r.ox0);
    r.iy = (q / g->wo) * g->stride + u - g->pad;
    r.a = lo < r.ox0 ? r.ox0 : lo > r.ox1 ? r.ox1 : lo;
    r.b = hi < r.a ? r.a : hi > r.ox1 ? r.ox1 : hi;
    return r;
}

/* col (k x pt) = the input patches of output positions p0 .. p0+pt-1 of one
 * sample xb (I, H, W), zero where the kernel overhangs the padding. Taken a
 * row of output positions at a time, so that the inner loops run over a
 * contiguous range with no bounds test. */
static void im2col_tile(const conv2d_geom *g, const gm_real *xb, int64_t p0, int64_t pt,
                        gm_real *col) {
    const int64_t khw = g->kh * g->kw, s = g->stride;
    for (int64_t k = 0; k < g->k; k++) {
        const int64_t i = k / khw, u = (k / g->kw) % g->kh, v = k % g->kw, off = v - g->pad;
        const gm_real *xi = xb + i * g->h * g->w;
        int64_t lo, hi;
        valid_cols(g, v, &lo, &hi);
        for (int64_t j = 0; j < pt;) {
            const tile_row r = tile_row_at(g, p0 + j, pt - j, u, lo, hi);
            gm_real *d = col + k * pt + j; /* d[ox - ox0] is output column ox of this row */
            if (r.iy < 0 || r.iy >= g->h) {
                memset(d, 0, (size_t)(r.ox1 - r.ox0) * sizeof *d);
            } else {
                const gm_real *xr = xi + r.iy * g->w; /* input column ox*s + off */
                for (int64_t ox = r.ox0; ox < r.a; ox++) d[ox - r.ox0] = 0;
                if (s == 1 && r.b > r.a)
                    memcpy(d + (r.a - r.ox0), xr + (r.a + off), (size_t)(r.b - r.a) * sizeof *d);
                else
                    for (int64_t ox = r.a; ox < r.b; ox++) d[ox - r.ox0] = xr[ox * s + off];
                for (int64_t ox = r.b; ox < r.ox1; ox++) d[ox - r.ox0] = 0;
            }
            j += r.ox1 - r.ox0;
        }
    }
}

/* The adjoint of im2col_tile: dxb (I, H, W) += the column block scattered
 * back to the input positions it was read from (padding drops out). */
static void col2im_tile_add(const conv2d_geom *g, const gm_real *col, int64_t p0, int64_t pt,
                            gm_real *dxb) {
    const int64_t khw = g->kh * g->kw, s = g->stride;
    for (int64_t k = 0; k < g->k; k++) {
        const int64_t i = k / khw, u = (k / g->kw) % g->kh, v = k % g->kw, off = v - g->pad;
        gm_real *xi = dxb + i * g->h * g->w;
        int64_t lo, hi;
        valid_cols(g, v, &lo, &hi);
        for (int64_t j = 0; j < pt;) {
            const tile_row r = tile_row_at(g, p0 + j, pt - j, u, lo, hi);
            if (r.iy >= 0 && r.iy < g->h) {
                const gm_real *c = col + k * pt + j; /* c[ox - ox0] */
                gm_real *xr = xi + r.iy * g->w;
                for (int64_t ox = r.a; ox < r.b; ox++) xr[ox * s + off] += c[ox - r.ox0];
            }
            j += r.ox1 - r.ox0;
        }
    }
}

static gm_status conv2d_backward(gm_tape_node *node) {
    gm_tensor *y = node->out, *x = node->in[0], *w = node->in[1], *bias = node->in[2];
    if (!y->grad) return GM_OK;
    const conv2d_geom *g = node->saved;
    const int64_t nb = g->nb, no = g->no, k = g->k, p = g->p, pt = g->pt;
    const bool need_dx = x->requires_grad, need_dw = w->requires_grad;
    const int nt = gm__batch_threads(nb, no * k * p);
    const gm_real *dy = y->grad, *xd = x->data, *wd = w->data;

    if (need_dx) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(x));
    if (need_dw) GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(w));
    if (need_dx || need_dw) {
        /* per thread: a column block, and when dW is wanted with several
         * threads a private dW, added up in thread order afterwards so the
         * result does not depend on scheduling */
        const int64_t wsz = no * k;
        const bool parts = need_dw && nt > 1;
        const int64_t per = k * pt + (parts ? wsz : 0);
        gm_real *ws = gm_arena_calloc(y->arena, (size_t)nt * (size_t)per, sizeof *ws);
        if (!ws) return gm__nomem(OP " backward: per-thread scratch");
        gm_real *dx = need_dx ? x->grad : NULL;
        gm_real *dw = need_dw ? w->grad : NULL;
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            gm_real *col = ws + (int64_t)omp_get_thread_num() * per;
            gm_real *dw_acc = parts ? col + k * pt : dw;
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nb; b++) {
                const gm_real *dyb = dy + b * no * p;
                for (int64_t p0 = 0; p0 < p; p0 += pt) {
                    const int64_t n = p - p0 < pt ? p - p0 : pt;
                    if (need_dw) {
                        /* dW += dy_tile col^T */
                        im2col_tile(g, xd + b * g->ni * g->h * g->w, p0, n, col);
                        gm__gemm(false, true, no, k, n, 1, dyb + p0, p, col, n, 1, dw_acc, k);
                    }
                    if (need_dx) {
                        /* dcol = W^T dy_tile, scattered back into dx_b */
                        gm__gemm(true, false, k, n, no, 1, wd, k, dyb + p0, p, 0, col, n);
                        col2im_tile_add(g, col, p0, n, dx + b * g->ni * g->h * g->w);
                    }
                }
            }
        }
        if (parts)
            for (int t = 0; t < nt; t++) {
                const gm_real *part = ws + (int64_t)t * per + k * pt;
                for (int64_t e = 0; e < wsz; e++) dw[e] += part[e];
            }
        gm_arena_release(y->arena, ws, (size_t)nt * (size_t)per * sizeof *ws);
    }
    if (bias && bias->requires_grad) {
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(bias));
        gm__bias_grad_add(bias->grad, dy, nb, no, p, 1);
    }
    return GM_OK;
}

gm_status gm_op_conv2d(gm_ctx *ctx, gm_tensor *x, gm_tensor *w, gm_tensor *bias, int64_t stride,
                       int64_t pad, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, OP ": out is NULL");
    *out = NULL;
    GM_RETURN_ERROR_IF(!ctx || !x || !w, GM_ERR_INVALID_ARG, OP ": ctx, x and w must be non-NULL");
    GM_RETURN_ERROR_IF(stride < 1, GM_ERR_INVALID_ARG, OP ": stride %" PRId64 " must be >= 1",
                       stride);
    GM_RETURN_ERROR_IF(pad < 0, GM_ERR_INVALID_ARG, OP ": pad %" PRId64 " must be >= 0", pad);
    GM_RETURN_ERROR_IF(stride > INT32_MAX || pad > INT32_MAX, GM_ERR_TOO_LARGE,
                       OP ": stride %" PRId64 " or pad %" PRId64 " exceeds %d", stride, pad,
                       INT32_MAX);
    char expect[128];
    if (x->ndim != 4) return gm__shape_error(OP, "x", x, "(B, I, H, W)");
    conv2d_geom g = {.nb = x->shape[0], .ni = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                     .stride = stride, .pad = pad};
    if (w->ndim != 4 || w->shape[1] != g.ni) {
        snprintf(expect, sizeof expect, "(O, %" PRId64 ", kh, kw) to match x's I", g.ni);
        return gm__shape_error(OP, "w", w, expect);
    }
    g.no = w->shape[0];
    g.kh = w->shape[2];
    g.kw = w->shape[3];
    GM_FORWARD_IF_ERROR(gm__check_bias(OP, bias, g.no));
    const int64_t hp = g.h + 2 * pad, wp = g.w + 2 * pad;
    if (g.kh > hp || g.kw > wp) {
        snprintf(expect, sizeof expect,
                 "a kernel no larger than the padded input (%" PRId64 ", %" PRId64 ")", hp, wp);
        return gm__shape_error(OP, "w", w, expect);
    }
    g.ho = (hp - g.kh) / stride + 1;
    g.wo = (wp - g.kw) / stride + 1;
    int64_t flops;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(g.ni, g.kh, &g.k) ||
                           gm_mul_overflow_i64(g.k, g.kw, &g.k) ||
                           gm_mul_overflow_i64(g.ho, g.wo, &g.p) ||
                           gm_mul_overflow_i64(g.no, g.k, &flops) ||
                           gm_mul_overflow_i64(flops, g.p, &flops),
                       GM_ERR_TOO_LARGE, OP ": sizes overflow (I*kh*kw, Ho*Wo or O*I*kh*kw*Ho*Wo)");
    /* cblas takes int dimensions */
    GM_RETURN_ERROR_IF(g.k > INT32_MAX || g.p > INT32_MAX || g.no > INT32_MAX, GM_ERR_TOO_LARGE,
                       OP ": I*kh*kw = %" PRId64 " or Ho*Wo = %" PRId64 " exceeds the BLAS limit",
                       g.k, g.p);
    g.pt = COL_BLOCK_ELEMS / g.k;
    if (g.pt < MIN_TILE) g.pt = MIN_TILE;
    if (g.pt > g.p) g.pt = g.p;

    gm_arena *arena = gm_ctx_arena(ctx);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new_uninit(arena, 4, (int64_t[]){g.nb, g.no, g.ho, g.wo}, &y));
    const int nt = gm__batch_threads(g.nb, flops);
    gm_real *ws = gm_arena_alloc(arena, (size_t)nt * (size_t)(g.k * g.pt) * sizeof *ws);
    if (!ws) return gm__nomem(OP ": column scratch");

    const gm_real *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
    gm_real *yd = y->data;
    const int64_t no = g.no, k = g.k, p = g.p, pt = g.pt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        gm_real *col = ws + (int64_t)omp_get_thread_num() * k * pt;
#pragma omp for schedule(static)
        for (int64_t b = 0; b < g.nb; b++) {
            gm_real *yb = yd + b * no * p;
            if (bd)
                for (int64_t o = 0; o < no; o++)
                    for (int64_t q = 0; q < p; q++) yb[o * p + q] = bd[o];
            for (int64_t p0 = 0; p0 < p; p0 += pt) {
                const int64_t n = p - p0 < pt ? p - p0 : pt;
                im2col_tile(&g, xd + b * g.ni * g.h * g.w, p0, n, col);
                gm__gemm(false, false, no, n, k, 1, wd, k, col, n, bd ? 1 : 0, yb + p0, p);
            }
        }
    }

    gm_arena_release(arena, ws, (size_t)nt * (size_t)(g.k * g.pt) * sizeof *ws);

    gm_tensor *in[3] = {x, w, bias};
    if (gm_ctx_needs_grad(ctx, 3, in)) {
        conv2d_geom *sv = gm_arena_alloc(arena, sizeof *sv);
        if (!sv) return gm__nomem(OP ": saved geometry");
        *sv = g;
        GM_FORWARD_IF_ERROR(gm_ctx_record(ctx, GM_OP_CONV2D, conv2d_backward, y, 3, in, sv));
    }
    *out = y;
    return GM_OK;
}
