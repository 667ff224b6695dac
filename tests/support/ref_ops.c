#include "ref_ops.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>

double *ref_dbuf(int64_t n) {
    double *p = gm_calloc((size_t)n, sizeof *p);
    cr_assert_not_null(p);
    return p;
}

double ref_real_eps(void) {
    return sizeof(gm_real) == sizeof(float) ? FLT_EPSILON : DBL_EPSILON;
}

double ref_round_units(int64_t n, const gm_real *got, double base, const double *ref,
                       const double *sc, int64_t terms) {
    double worst = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double bound = (double)terms * ref_real_eps() * (fabs(base) + sc[j]) + DBL_MIN;
        double e = fabs((double)got[j] - (base + ref[j])) / bound;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

void ref_linear(const gm_tensor *x, const gm_tensor *w, const gm_tensor *bias, double *y,
                double *sc) {
    const int64_t nb = x->shape[0], ni = x->shape[1], no = w->shape[0];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < no; o++) {
            double s = bias ? bias->data[o] : 0.0, a = fabs(s);
            for (int64_t i = 0; i < ni; i++) {
                double t = (double)x->data[b * ni + i] * (double)w->data[o * ni + i];
                s += t;
                a += fabs(t);
            }
            y[b * no + o] = s;
            sc[b * no + o] = a;
        }
}

void ref_linear_bwd(const gm_tensor *x, const gm_tensor *w, const gm_real *dy, double *dx,
                    double *dxs, double *dw, double *dws, double *db, double *dbs) {
    const int64_t nb = x->shape[0], ni = x->shape[1], no = w->shape[0];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < no; o++) {
            const double d = dy[b * no + o];
            for (int64_t i = 0; i < ni; i++) {
                double tx = d * w->data[o * ni + i], tw = d * x->data[b * ni + i];
                dx[b * ni + i] += tx;
                dxs[b * ni + i] += fabs(tx);
                dw[o * ni + i] += tw;
                dws[o * ni + i] += fabs(tw);
            }
            db[o] += d;
            dbs[o] += fabs(d);
        }
}

void ref_conv1x1(const gm_tensor *x, const gm_tensor *w, const gm_tensor *bias, double *y,
                 double *sc) {
    const int64_t nb = x->shape[0], ni = x->shape[1], n = x->shape[2], no = w->shape[0];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t g = 0; g < n; g++) {
                double s = bias ? bias->data[o] : 0.0, a = fabs(s);
                for (int64_t i = 0; i < ni; i++) {
                    double t = (double)w->data[o * ni + i] * (double)x->data[(b * ni + i) * n + g];
                    s += t;
                    a += fabs(t);
                }
                y[(b * no + o) * n + g] = s;
                sc[(b * no + o) * n + g] = a;
            }
}

void ref_conv1x1_bwd(const gm_tensor *x, const gm_tensor *w, const gm_real *dy, double *dx,
                     double *dxs, double *dw, double *dws, double *db, double *dbs) {
    const int64_t nb = x->shape[0], ni = x->shape[1], n = x->shape[2], no = w->shape[0];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t g = 0; g < n; g++) {
                const double d = dy[(b * no + o) * n + g];
                for (int64_t i = 0; i < ni; i++) {
                    const int64_t xi = (b * ni + i) * n + g;
                    double tx = d * w->data[o * ni + i], tw = d * x->data[xi];
                    dx[xi] += tx;
                    dxs[xi] += fabs(tx);
                    dw[o * ni + i] += tw;
                    dws[o * ni + i] += fabs(tw);
                }
                db[o] += d;
                dbs[o] += fabs(d);
            }
}

/* First maximal position of each row, as the op documents. */
static int64_t row_argmax(const gm_real *row, int64_t n) {
    int64_t best = 0;
    for (int64_t g = 1; g < n; g++)
        if (row[g] > row[best]) best = g;
    return best;
}

void ref_global_pool(const gm_tensor *x, gm_reduce mode, double *y, double *sc) {
    const int64_t rows = x->shape[0] * x->shape[1], n = x->shape[2];
    for (int64_t r = 0; r < rows; r++) {
        const gm_real *row = x->data + r * n;
        double s = 0.0, a = 0.0;
        for (int64_t g = 0; g < n; g++) {
            s += row[g];
            a += fabs((double)row[g]);
        }
        y[r] = mode == GM_REDUCE_MAX ? row[row_argmax(row, n)] : s / (double)n;
        sc[r] = mode == GM_REDUCE_MAX ? 0.0 : a / (double)n;
    }
}

void ref_global_pool_bwd(const gm_tensor *x, gm_reduce mode, const gm_real *dy, double *dx,
                         double *dxs) {
    const int64_t rows = x->shape[0] * x->shape[1], n = x->shape[2];
    for (int64_t r = 0; r < rows; r++) {
        if (mode == GM_REDUCE_MAX) {
            dx[r * n + row_argmax(x->data + r * n, n)] += dy[r];
            dxs[r * n + row_argmax(x->data + r * n, n)] += fabs((double)dy[r]);
        } else {
            for (int64_t g = 0; g < n; g++) {
                dx[r * n + g] += dy[r] / (double)n;
                dxs[r * n + g] += fabs((double)dy[r]) / (double)n;
            }
        }
    }
}

void ref_conv2d(const gm_tensor *x, const gm_tensor *w, const gm_tensor *bias, int64_t stride,
                int64_t pad, int64_t ho, int64_t wo, double *y, double *sc) {
    const int64_t nb = x->shape[0], ni = x->shape[1], h = x->shape[2], wd = x->shape[3];
    const int64_t no = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t oy = 0; oy < ho; oy++)
                for (int64_t ox = 0; ox < wo; ox++) {
                    double s = bias ? bias->data[o] : 0.0, a = fabs(s);
                    for (int64_t i = 0; i < ni; i++)
                        for (int64_t u = 0; u < kh; u++)
                            for (int64_t v = 0; v < kw; v++) {
                                int64_t iy = oy * stride + u - pad, ix = ox * stride + v - pad;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                double t = (double)w->data[((o * ni + i) * kh + u) * kw + v] *
                                           (double)x->data[((b * ni + i) * h + iy) * wd + ix];
                                s += t;
                                a += fabs(t);
                            }
                    int64_t j = ((b * no + o) * ho + oy) * wo + ox;
                    y[j] = s;
                    sc[j] = a;
                }
}

void ref_conv2d_bwd(const gm_tensor *x, const gm_tensor *w, int64_t stride, int64_t pad,
                    int64_t ho, int64_t wo, const gm_real *dy, double *dx, double *dxs,
                    double *dw, double *dws, double *db, double *dbs) {
    const int64_t nb = x->shape[0], ni = x->shape[1], h = x->shape[2], wd = x->shape[3];
    const int64_t no = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < no; o++)
            for (int64_t oy = 0; oy < ho; oy++)
                for (int64_t ox = 0; ox < wo; ox++) {
                    const double d = dy[((b * no + o) * ho + oy) * wo + ox];
                    db[o] += d;
                    dbs[o] += fabs(d);
                    for (int64_t i = 0; i < ni; i++)
                        for (int64_t u = 0; u < kh; u++)
                            for (int64_t v = 0; v < kw; v++) {
                                int64_t iy = oy * stride + u - pad, ix = ox * stride + v - pad;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                const int64_t xj = ((b * ni + i) * h + iy) * wd + ix;
                                const int64_t wj = ((o * ni + i) * kh + u) * kw + v;
                                double tx = d * w->data[wj], tw = d * x->data[xj];
                                dx[xj] += tx;
                                dxs[xj] += fabs(tx);
                                dw[wj] += tw;
                                dws[wj] += fabs(tw);
                            }
                }
}

static int maxpool_arg(const gm_real *x, int64_t w, int64_t pl_h, int64_t oy, int64_t ox,
                       int64_t *at) {
    int best = 0;
    double m = -INFINITY;
    for (int q = 0; q < 4; q++) {
        const int64_t j = (pl_h + 2 * oy + q / 2) * w + 2 * ox + q % 2;
        if (x[j] > m) {
            m = x[j];
            best = q;
            *at = j;
        }
    }
    return best;
}

void ref_maxpool2d(const gm_tensor *x, double *y) {
    const int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < h / 2; oy++)
            for (int64_t ox = 0; ox < w / 2; ox++) {
                int64_t at = 0;
                maxpool_arg(x->data, w, p * h, oy, ox, &at);
                y[(p * (h / 2) + oy) * (w / 2) + ox] = x->data[at];
            }
}

void ref_maxpool2d_bwd(const gm_tensor *x, const gm_real *dy, double *dx, double *dxs) {
    const int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < h / 2; oy++)
            for (int64_t ox = 0; ox < w / 2; ox++) {
                int64_t at = 0;
                maxpool_arg(x->data, w, p * h, oy, ox, &at);
                const double d = dy[(p * (h / 2) + oy) * (w / 2) + ox];
                dx[at] += d;
                dxs[at] += fabs(d);
            }
}
