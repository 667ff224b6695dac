/* gmcnn ops: differentiable compute kernels.
 *
 * Every op takes a gm_ctx, its input tensors and parameters, allocates its
 * result in the ctx's step arena, computes it at once, and records a tape
 * node when gradients are needed (see tensor.h). Shapes are checked: a
 * mismatch returns GM_ERR_SHAPE with a detail naming the op and the shapes.
 * Results never alias inputs.
 *
 * Feature maps on a group (or any index set of length n) are (B, C, n)
 * tensors, the last axis in group-index order. Ops know index tables
 * (gm_gmat_plan), not groups.
 *
 * Each op lives in one file src/ops/op_<name>.c with its shape check,
 * forward and backward, and has one row in GM_OP_LIST below.
 */
#ifndef GMCNN_OPS_H
#define GMCNN_OPS_H

#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/gmat.h"
#include "gmcnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(enum name, printable name) */
#define GM_OP_LIST(X)                                                                        \
    X(GM_OP_ADD, "add")                                                                      \
    X(GM_OP_SCALE, "scale")                                                                  \
    X(GM_OP_MUL, "mul")                                                                      \
    X(GM_OP_MUL_POSITIONS, "mul_positions")                                                  \
    X(GM_OP_RELU, "relu")                                                                    \
    X(GM_OP_PRELU, "prelu")                                                                  \
    X(GM_OP_LAYERNORM, "layernorm")                                                          \
    X(GM_OP_LAYERNORM_PRELU, "layernorm_prelu")                                              \
    X(GM_OP_BATCHNORM, "batchnorm")                                                          \
    X(GM_OP_DROPOUT, "dropout")                                                              \
    X(GM_OP_LINEAR, "linear")                                                                \
    X(GM_OP_CONV1X1, "conv1x1")                                                              \
    X(GM_OP_GLOBAL_POOL, "global_pool")                                                      \
    X(GM_OP_SOFTMAX_XENT, "softmax_xent")                                                    \
    X(GM_OP_MSE, "mse")                                                                      \
    X(GM_OP_CONCAT, "concat")                                                                \
    X(GM_OP_SLICE, "slice")                                                                  \
    X(GM_OP_RESHAPE, "reshape")                                                              \
    X(GM_OP_ROW_NORMALIZE, "row_normalize")                                                  \
    X(GM_OP_GMCONV, "gmconv")                                                                \
    X(GM_OP_GMPOOL, "gmpool")                                                                \
    X(GM_OP_GMUNPOOL, "gmunpool")                                                            \
    X(GM_OP_CONV2D, "conv2d")                                                                \
    X(GM_OP_MAXPOOL2D, "maxpool2d")                                                          \
    X(GM_OP_LDR_TOEPLITZ, "ldr_toeplitz")                                                    \
    X(GM_OP_LDR_TRIDIAG, "ldr_tridiag")

typedef enum gm_op {
#define GM_X_OP_ENUM(name, str) name,
    GM_OP_LIST(GM_X_OP_ENUM)
#undef GM_X_OP_ENUM
        GM_OP_COUNT
} gm_op;

/* Printable name of an op ("?" for values out of range). */
const char *gm_op_name(int op);

typedef enum gm_reduce { GM_REDUCE_MAX = 0, GM_REDUCE_MEAN = 1 } gm_reduce;
typedef enum gm_conv_form { GM_CONV_FULL = 0, GM_CONV_SHARED = 1 } gm_conv_form;

/* --- elementwise and shape ops ------------------------------------------ */
/* out = a + b (same shape). */
GM_NODISCARD gm_status gm_op_add(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor **out);
/* out = alpha * x. */
GM_NODISCARD gm_status gm_op_scale(gm_ctx *ctx, gm_tensor *x, double alpha, gm_tensor **out);
/* out = a * b elementwise (same shape). */
GM_NODISCARD gm_status gm_op_mul(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor **out);
/* x (B, C, n), v (n): out[b,c,g] = v[g] * x[b,c,g]. */
GM_NODISCARD gm_status gm_op_mul_positions(gm_ctx *ctx, gm_tensor *x, gm_tensor *v,
                                           gm_tensor **out);
/* out = max(x, 0). */
GM_NODISCARD gm_status gm_op_relu(gm_ctx *ctx, gm_tensor *x, gm_tensor **out);
/* x (B, C, ...): out = x if x >= 0 else a * x, with a = slope[0] when slope
 * has one element (shared) or slope[c] when it has C (per channel). */
GM_NODISCARD gm_status gm_op_prelu(gm_ctx *ctx, gm_tensor *x, gm_tensor *slope, gm_tensor **out);
/* x (B, ...): each sample normalised over all its other values together,
 *   out = (x - mean) / sqrt(var + eps) [* gamma + beta],
 * biased variance; gamma and beta (both NULL, or both shaped like one sample)
 * make it affine. */
GM_NODISCARD gm_status gm_op_layernorm(gm_ctx *ctx, gm_tensor *x, gm_tensor *gamma,
                                       gm_tensor *beta, double eps, gm_tensor **out);
/* prelu(layernorm(x)) [+ res] without affine, slope as in gm_op_prelu, res
 * shaped like x or NULL, in one op that stores no values in between: bit for
 * bit the separate ops' results and gradients, with one or two activation
 * buffers (and their gradients) fewer. */
GM_NODISCARD gm_status gm_op_layernorm_prelu(gm_ctx *ctx, gm_tensor *x, gm_tensor *slope,
                                             gm_tensor *res, double eps, gm_tensor **out);
/* Per-channel batch normalisation of x (B, C, ...): channel c over all of its
 * B * (values per channel) entries together (for feature maps on a group:
 * the batch and every position, so the op commutes with the group's action),
 *   out = (x - mean_c) / sqrt(var_c + eps) [* gamma[c] + beta[c]].
 * In training mode (or without running statistics) mean_c and var_c are
 * the batch's (biased variance), and running_mean/running_var (C), when
 * given, are updated in place: r = (1 - momentum) r + momentum * s, with the
 * unbiased variance for running_var; they take no gradient. In evaluation
 * mode the running statistics are used. gamma, beta (C) or both NULL.
 * Batch statistics of a single value per channel: GM_ERR_INVALID_ARG. */
GM_NODISCARD gm_status gm_op_batchnorm(gm_ctx *ctx, gm_tensor *x, gm_tensor *gamma,
                                       gm_tensor *beta, gm_tensor *running_mean,
                                       gm_tensor *running_var, double momentum, double eps,
                                       gm_tensor **out);
/* In training mode: zero each value with probability p and scale the rest by
 * 1/(1-p), using the ctx's RNG; otherwise (or p = 0) out = x. 0 <= p < 1. */
GM_NODISCARD gm_status gm_op_dropout(gm_ctx *ctx, gm_tensor *x, double p, gm_tensor **out);
/* x (B, I), w (O, I), bias (O) or NULL: out (B, O) = x w^T + bias. */
GM_NODISCARD gm_status gm_op_linear(gm_ctx *ctx, gm_tensor *x, gm_tensor *w, gm_tensor *bias,
                                    gm_tensor **out);
/* x (B, I, n), w (O, I), bias (O) or NULL: out[b,o,g] = bias[o] + sum_i w[o,i] x[b,i,g]. */
GM_NODISCARD gm_status gm_op_conv1x1(gm_ctx *ctx, gm_tensor *x, gm_tensor *w, gm_tensor *bias,
                                     gm_tensor **out);
/* x (B, C, n): out (B, C) = max or mean over the last axis (G-invariant). */
GM_NODISCARD gm_status gm_op_global_pool(gm_ctx *ctx, gm_tensor *x, gm_reduce mode,
                                         gm_tensor **out);
/* logits (B, K), labels[B] in 0..K-1: out (scalar) = mean over the batch of
 * -log softmax(logits)[label]. A label out of range is GM_ERR_INVALID_ARG. */
GM_NODISCARD gm_status gm_op_softmax_xent(gm_ctx *ctx, gm_tensor *logits, const int32_t *labels,
                                          gm_tensor **out);
/* Label smoothing: the cross-entropy against (1 - eps) onehot(label) + eps/K,
 *   out = mean over the batch of lse - (1 - eps) x[label] - (eps/K) sum_k x[k],
 * 0 <= eps < 1 (GM_ERR_INVALID_ARG otherwise); eps = 0 is gm_op_softmax_xent
 * bit for bit. Recorded under GM_OP_SOFTMAX_XENT. */
GM_NODISCARD gm_status gm_op_softmax_xent_smooth(gm_ctx *ctx, gm_tensor *logits,
                                                 const int32_t *labels, double eps,
                                                 gm_tensor **out);
/* out (scalar) = mean((pred - target)^2); target gets no gradient. */
GM_NODISCARD gm_status gm_op_mse(gm_ctx *ctx, gm_tensor *pred, gm_tensor *target, gm_tensor **out);
/* a (B, Ca, n), b (B, Cb, n): out (B, Ca+Cb, n), a's channels first. */
GM_NODISCARD gm_status gm_op_concat(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor **out);
/* x (B, C, n): out (B, count, n) = channels [start, start+count). */
GM_NODISCARD gm_status gm_op_slice(gm_ctx *ctx, gm_tensor *x, int64_t start, int64_t count,
                                   gm_tensor **out);
/* Same data, another shape with the same numel (a copy, differentiable). */
GM_NODISCARD gm_status gm_op_reshape(gm_ctx *ctx, gm_tensor *x, int ndim, const int64_t *shape,
                                     gm_tensor **out);
/* x (R, L...): each row (the first axis indexes rows) divided by its
 * Euclidean norm (plus 1e-12 against division by zero). */
GM_NODISCARD gm_status gm_op_row_normalize(gm_ctx *ctx, gm_tensor *x, gm_tensor **out);

/* --- group-matrix ops ----------------------------------------------------
 * With T the plan's table (rows K, cols n_out, input n_in):
 * gmconv, full   (w (O, I, K)): y[b,o,g] = bias[o] + sum_i sum_k w[o,i,k] x[b,i,T[k][g]]
 * gmconv, shared (w (O, K)):    y[b,o,g] = bias[o] + sum_k w[o,k] sum_i x[b,i,T[k][g]]
 * x is (B, I, n_in), y is (B, O, n_out), bias (O) or NULL. With a convolution
 * plan this is the group convolution x(g s_k^-1); with a lifting plan the
 * lifting convolution from G/K to G. */
GM_NODISCARD gm_status gm_op_gmconv(gm_ctx *ctx, const gm_gmat_plan *plan, gm_tensor *x,
                                    gm_tensor *w, gm_tensor *bias, gm_conv_form form,
                                    gm_tensor **out);
/* Pooling through a pool or projection plan (rows R, cols n_out, input n_in):
 * y[b,c,j] = max (or mean) over r of x[b,c,T[r][j]]; x (B, C, n_in). Max
 * passes the gradient to the first maximal entry. */
GM_NODISCARD gm_status gm_op_gmpool(gm_ctx *ctx, const gm_gmat_plan *plan, gm_tensor *x,
                                    gm_reduce mode, gm_tensor **out);
/* Learnable transpose of pooling through a pool plan: x (B, I, n_out of the
 * plan), p (I, O, R): y (B, O, n_in) with y[b,o,T[r][j]] = sum_i p[i,o,r] x[b,i,j]. */
GM_NODISCARD gm_status gm_op_gmunpool(gm_ctx *ctx, const gm_gmat_plan *plan, gm_tensor *x,
                                      gm_tensor *p, gm_tensor **out);

/* --- baselines ------------------------------------------------------------
 * Images are (B, C, H, W). */
/* Zero-padded 2-D cross-correlation: w (O, I, kh, kw), bias (O) or NULL,
 * stride >= 1, pad >= 0: out[b,o,y,x] = bias[o] + sum w[o,i,u,v]
 * in[b,i,y*stride+u-pad, x*stride+v-pad] (zero outside). */
GM_NODISCARD gm_status gm_op_conv2d(gm_ctx *ctx, gm_tensor *x, gm_tensor *w, gm_tensor *bias,
                                    int64_t stride, int64_t pad, gm_tensor **out);
/* 2x2 max pooling with stride 2 (H and W even). */
GM_NODISCARD gm_status gm_op_maxpool2d(gm_ctx *ctx, gm_tensor *x, gm_tensor **out);

/* --- low displacement rank matrices ---------------------------------------
 * The structured n x n weights of the LDR baselines, built densely from
 * their factors (apply them with gm_op_linear). Notation of gmat.h: Z_f the
 * unit-f-circulant shift, K(A, v) = [v, A v, ..., A^(n-1) v], J the reversal;
 * g, h (r, n) hold the columns g_i, h_i of G, H (n x r) as rows. */
/* Toeplitz-like (Sindhwani et al. 2015): out (n, n) =
 *   M = 1/2 sum_i Z_1(g_i) Z_-1(J h_i),  the solution of  Z_1 M - M Z_-1 = G H^T,
 * computed as one GEMM for G H^T and an O(n^2) row sweep. */
GM_NODISCARD gm_status gm_op_ldr_toeplitz(gm_ctx *ctx, gm_tensor *g, gm_tensor *h,
                                          gm_tensor **out);
/* LDR-TD (Thomas et al. 2018): a, b (3, n) tridiagonal-plus-corner operators
 * A, B, rows (sub, diag, sup): (A x)[i] = sub[i] x[i-1] + diag[i] x[i] +
 * sup[i] x[i+1], indices mod n (the corners A[0][n-1] = sub[0] and
 * A[n-1][0] = sup[n-1]); out (n, n) =
 *   M = sum_i K(A, g_i) K(B^T, h_i)^T = sum_{k<n} A^k G H^T B^k,
 * whose Stein displacement M - A M B = G H^T - A^n G H^T B^n has rank <= 2r
 * (<= r when A or B is nilpotent). Costs O(r n^3) and keeps 2 r n^2 values
 * for the backward pass. */
GM_NODISCARD gm_status gm_op_ldr_tridiag(gm_ctx *ctx, gm_tensor *a, gm_tensor *b, gm_tensor *g,
                                         gm_tensor *h, gm_tensor **out);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_OPS_H */
