/* The structured-matrix baselines (GM_MODEL_LDR): the single-hidden-layer
 * network of the low displacement rank papers on the flattened image,
 * x -> M x + bias -> ReLU -> dropout -> linear, with M Toeplitz-like, LDR-TD
 * or dense. M is rebuilt from its factors by an op on every forward pass
 * and applied by gm_op_linear, so the gradients of G, H and the operators
 * come from the ops' backward passes. */
#include <math.h>
#include <stdio.h>

#include "nn_internal.h"

/* Image size as for the other baselines, and n = C*H*W small enough for a
 * dense n x n matrix. */
static gm_status gm__nn_ldr_image_size(gm_model *m) {
    GM_FORWARD_IF_ERROR(gm__nn_image_size(m));
    const gm_model_desc *d = &m->desc;
    int64_t n;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(m->positions, d->in_channels, &n) || n > (1 << 16),
                       GM_ERR_TOO_LARGE,
                       "model: LDR layer on %lld channels of %lld x %lld is too large (n = C*H*W "
                       "at most 65536)",
                       (long long)d->in_channels, (long long)d->image_h, (long long)d->image_w);
    return GM_OK;
}

static void gm__nn_fill_normal(gm_tensor *t, double std, gm_rng *rng) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (gm_real)(std * gm_rng_normal(rng));
}

gm_status gm__nn_build_ldr(gm_model *m) {
    GM_FORWARD_IF_ERROR(gm__nn_ldr_image_size(m));
    gm_model_desc *d = &m->desc;
    m->classifier = true;
    m->out_level = 0;
    const int64_t n = d->in_channels * m->positions;
    gm__nn_params *p = &m->params;
    if (d->structure == GM_LDR_UNSTRUCTURED) {
        GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 2, (int64_t[]){n, n}, &m->ldr_weight,
                                             "layer.weight"));
        gm_nn_init_kaiming_uniform(m->ldr_weight, n, &m->rng);
    } else {
        if (d->ldr_rank == 0) d->ldr_rank = 1;
        const int64_t r = d->ldr_rank;
        GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 2, (int64_t[]){r, n}, &m->ldr_g, "layer.g"));
        GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 2, (int64_t[]){r, n}, &m->ldr_h, "layer.h"));
        /* The scale of the papers' code: a Toeplitz-like M then has entries
         * of variance about 1/(4 r n), close to a dense layer's 1/(3 n). */
        const double std = 1.0 / sqrt((double)(r * n));
        gm__nn_fill_normal(m->ldr_g, std, &m->rng);
        gm__nn_fill_normal(m->ldr_h, std, &m->rng);
        if (d->structure == GM_LDR_TRIDIAG) {
            GM_FORWARD_IF_ERROR(
                gm__nn_param_new(p, 2, (int64_t[]){3, n}, &m->ldr_a, "layer.a"));
            GM_FORWARD_IF_ERROR(
                gm__nn_param_new(p, 2, (int64_t[]){3, n}, &m->ldr_b, "layer.b"));
            /* A = Z_0: ones on the subdiagonal (row 0 of a, corner sub[0]
             * left 0); B = Z_0^T: ones on the superdiagonal (row 2 of b,
             * corner sup[n-1] left 0), so K(B^T, h) = K(Z_0, h) and M starts
             * as sum_i L(g_i) L(h_i)^T with L(v) lower-triangular Toeplitz. */
            for (int64_t i = 1; i < n; i++) m->ldr_a->data[i] = 1;
            for (int64_t i = 0; i + 1 < n; i++) m->ldr_b->data[2 * n + i] = 1;
        }
    }
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 1, &n, &m->ldr_bias, "layer.bias"));
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 2, (int64_t[]){d->out_dim, n}, &m->out_weight,
                                         "fc.weight"));
    gm_nn_init_kaiming_uniform(m->out_weight, n, &m->rng);
    return gm__nn_param_new(p, 1, &d->out_dim, &m->out_bias, "fc.bias");
}

gm_status gm__nn_forward_ldr(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    const int64_t s2[2] = {x->shape[0], x->shape[1] * x->shape[2]};
    gm_tensor *flat = NULL, *mat = NULL, *y = NULL, *act = NULL, *dr = NULL;
    GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, x, 2, s2, &flat));
    switch (m->desc.structure) {
    case GM_LDR_TOEPLITZ:
        GM_FORWARD_IF_ERROR(gm_op_ldr_toeplitz(ctx, m->ldr_g, m->ldr_h, &mat));
        break;
    case GM_LDR_TRIDIAG:
        GM_FORWARD_IF_ERROR(
            gm_op_ldr_tridiag(ctx, m->ldr_a, m->ldr_b, m->ldr_g, m->ldr_h, &mat));
        break;
    default: mat = m->ldr_weight; break;
    }
    GM_FORWARD_IF_ERROR(gm_op_linear(ctx, flat, mat, m->ldr_bias, &y));
    GM_FORWARD_IF_ERROR(gm_op_relu(ctx, y, &act));
    GM_FORWARD_IF_ERROR(gm_op_dropout(ctx, act, m->desc.dropout, &dr));
    return gm_op_linear(ctx, dr, m->out_weight, m->out_bias, out);
}
