/* Direct reference loops for the dense ops (test support), in double.
 *
 * Every forward writes the reference output y and, where rounding matters,
 * the per-output scale sc = sum |terms| that bounds the rounding error of an
 * optimized kernel. Every backward adds d loss / d input for the upstream
 * gradient dy into dx (dw, db) and |terms| into dxs (dws, dbs); the caller
 * zeroes them first. Layouts are those of the ops in gmcnn/ops.h. */
#ifndef GMCNN_REF_OPS_H
#define GMCNN_REF_OPS_H

#include <stdint.h>

#include "gmcnn/gmcnn.h"

/* n zeroed doubles from gm_calloc (fails the test on error); gm_free them. */
double *ref_dbuf(int64_t n);

/* The machine epsilon of gm_real. */
double ref_real_eps(void);

/* Largest |got - (base + ref)| in units of the rounding bound
 * terms * eps * (|base| + sc), eps that of gm_real; <= 1 passes. */
double ref_round_units(int64_t n, const gm_real *got, double base, const double *ref,
                       const double *sc, int64_t terms);

/* linear: x (B, I), w (O, I), bias (O) or NULL; y (B, O). */
void ref_linear(const gm_tensor *x, const gm_tensor *w, const gm_tensor *bias, double *y,
                double *sc);
void ref_linear_bwd(const gm_tensor *x, const gm_tensor *w, const gm_real *dy, double *dx,
                    double *dxs, double *dw, double *dws, double *db, double *dbs);

/* conv1x1: x (B, I, n), w (O, I), bias (O) or NULL; y (B, O, n). */
void ref_conv1x1(const gm_tensor *x, const gm_tensor *w, const gm_tensor *bias, double *y,
                 double *sc);
void ref_conv1x1_bwd(const gm_tensor *x, const gm_tensor *w, const gm_real *dy, double *dx,
                     double *dxs, double *dw, double *dws, double *db, double *dbs);

/* global_pool: x (B, C, n); y (B, C). Max takes the first maximal entry of a
 * row (sc = 0); mean divides the sum by n. */
void ref_global_pool(const gm_tensor *x, gm_reduce mode, double *y, double *sc);
void ref_global_pool_bwd(const gm_tensor *x, gm_reduce mode, const gm_real *dy, double *dx,
                         double *dxs);

/* conv2d: x (B, I, H, W), w (O, I, kh, kw), bias (O) or NULL, zero padding;
 * y (B, O, ho, wo). */
void ref_conv2d(const gm_tensor *x, const gm_tensor *w, const gm_tensor *bias, int64_t stride,
                int64_t pad, int64_t ho, int64_t wo, double *y, double *sc);
void ref_conv2d_bwd(const gm_tensor *x, const gm_tensor *w, int64_t stride, int64_t pad,
                    int64_t ho, int64_t wo, const gm_real *dy, double *dx, double *dxs,
                    double *dw, double *dws, double *db, double *dbs);

/* maxpool2d: x (B, C, H, W), 2x2 windows, the first maximum in row-major
 * order wins; y (B, C, H/2, W/2). */
void ref_maxpool2d(const gm_tensor *x, double *y);
void ref_maxpool2d_bwd(const gm_tensor *x, const gm_real *dy, double *dx, double *dxs);

#endif
