/* The GM convolution layer: exact GMConv, LDR-GMConv (a group matrix plus a
 * rank-r displacement: approximately equivariant) and the reference's
 * modulated regression layer. */
#include <math.h>

#include "nn_internal.h"

gm_status gm__nn_gmconv_init(gm__nn_gmconv *l, gm__nn_params *p, gm_rng *rng, const char *prefix,
                             const gm_gmat_plan *plan, gm_conv_form form, int64_t in_channels,
                             int64_t out_channels, int64_t rank, bool modulated) {
    const int64_t k = gm_gmat_plan_support_size(plan);
    const int64_t n = gm_gmat_plan_order(plan);
    GM_RETURN_ERROR_IF(rank < 0 || rank > GM__NN_MAX_RANK, GM_ERR_INVALID_ARG,
                       "%s: LDR rank %lld is outside 0..%d", prefix, (long long)rank,
                       GM__NN_MAX_RANK);
    GM_RETURN_ERROR_IF(modulated && rank > 0, GM_ERR_INVALID_ARG,
                       "%s: the modulated layer has no LDR rank (got %lld)", prefix,
                       (long long)rank);
    *l = (gm__nn_gmconv){.plan = plan,
                         .form = form,
                         .in_channels = in_channels,
                         .out_channels = out_channels,
                         .positions = n,
                         .rank = rank,
                         .modulated = modulated};
    const bool full = form == GM_CONV_FULL;
    const int64_t wshape[3] = {out_channels, full ? in_channels : k, k};
    const int wdim = full ? 3 : 2;
    /* PyTorch's fan-in of (O, I, K) is I*K and of (O, K) is K. */
    const int64_t fan_in = full ? in_channels * k : k;

    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, wdim, wshape, &l->weight, "%s.weight", prefix));
    gm_nn_init_kaiming_uniform(l->weight, fan_in, rng);
    GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 1, &out_channels, &l->bias, "%s.bias", prefix));
    if (modulated) {
        const int64_t eshape[2] = {1, n};
        GM_FORWARD_IF_ERROR(gm__nn_param_new(p, 2, eshape, &l->e, "%s.e", prefix));
        gm_nn_init_kaiming_uniform(l->e, n, rng);
        return GM_OK;
    }
    if (rank == 0) return GM_OK;
    l->u = gm_arena_calloc(p->arena, (size_t)rank, sizeof *l->u);
    l->v = gm_arena_calloc(p->arena, (size_t)rank, sizeof *l->v);
    if (!l->u || !l->v) return gm__nomem("LDR layer");
    for (int64_t r = 0; r < rank; r++) {
        GM_FORWARD_IF_ERROR(
            gm__nn_param_new(p, wdim, wshape, &l->u[r], "%s.u.%lld", prefix, (long long)r));
        gm_nn_init_kaiming_uniform(l->u[r], fan_in, rng);
    }
    /* v = 0: the layer starts as an exact group convolution. */
    for (int64_t r = 0; r < rank; r++)
        GM_FORWARD_IF_ERROR(
            gm__nn_param_new(p, 1, &n, &l->v[r], "%s.v.%lld", prefix, (long long)r));
    return GM_OK;
}

/* out[b,o,g] = bias[o], through a 1x1 convolution of a constant plane with a
 * zero weight: the op list has no broadcast add, and this one costs O*n per
 * sample against the convolution's O*K*n. */
static gm_status gm__nn_bias_plane(gm_ctx *ctx, int64_t batch, int64_t n, gm_tensor *bias,
                                   gm_tensor **out) {
    gm_arena *a = gm_ctx_arena(ctx);
    gm_tensor *ones = NULL, *zero = NULL;
    GM_FORWARD_IF_ERROR(gm_tensor_new3(a, batch, 1, n, &ones));
    GM_FORWARD_IF_ERROR(gm_tensor_new2(a, bias->shape[0], 1, &zero));
    gm__nn_fill(ones, 1.0);
    return gm_op_conv1x1(ctx, ones, zero, bias, out);
}

/* Each row of t (the first axis indexes rows) divided in place by its
 * Euclidean norm plus 1e-12, as gm_op_row_normalize computes it. */
static void gm__nn_rows_normalize_in_place(gm_tensor *t) {
    const int64_t rows = t->shape[0], len = t->numel / rows;
    for (int64_t r = 0; r < rows; r++) {
        gm_real *row = t->data + r * len;
        double sq = 0.0;
        for (int64_t j = 0; j < len; j++) sq += (double)row[j] * (double)row[j];
        const double inv = 1.0 / (sqrt(sq) + 1e-12);
        for (int64_t j = 0; j < len; j++) row[j] = (gm_real)((double)row[j] * inv);
    }
}

static gm_status gm__nn_modulated_forward(const gm__nn_gmconv *l, gm_ctx *ctx, gm_tensor *x,
                                          gm_tensor **out) {
    gm_tensor *w = l->weight, *e = l->e, *e1 = NULL, *y = NULL, *ye = NULL, *b = NULL;
    if (l->renorm_in_place) {
        gm__nn_rows_normalize_in_place(l->weight);
        gm__nn_rows_normalize_in_place(l->e);
    } else {
        GM_FORWARD_IF_ERROR(gm_op_row_normalize(ctx, l->weight, &w));
        GM_FORWARD_IF_ERROR(gm_op_row_normalize(ctx, l->e, &e));
    }
    GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, e, 1, &l->positions, &e1));
    GM_FORWARD_IF_ERROR(gm_op_gmconv(ctx, l->plan, x, w, NULL, l->form, &y));
    GM_FORWARD_IF_ERROR(gm_op_mul_positions(ctx, y, e1, &ye));
    GM_FORWARD_IF_ERROR(gm__nn_bias_plane(ctx, x->shape[0], l->positions, l->bias, &b));
    return gm_op_add(ctx, ye, b, out);
}

gm_status gm__nn_gmconv_forward(const gm__nn_gmconv *l, gm_ctx *ctx, gm_tensor *x,
                                gm_tensor **out) {
    *out = NULL;
    if (l->modulated) return gm__nn_modulated_forward(l, ctx, x, out);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_op_gmconv(ctx, l->plan, x, l->weight, l->bias, l->form, &y));
    for (int64_t r = 0; r < l->rank; r++) {
        gm_tensor *c = NULL, *cv = NULL, *sum = NULL;
        GM_FORWARD_IF_ERROR(gm_op_gmconv(ctx, l->plan, x, l->u[r], NULL, l->form, &c));
        GM_FORWARD_IF_ERROR(gm_op_mul_positions(ctx, c, l->v[r], &cv));
        GM_FORWARD_IF_ERROR(gm_op_add(ctx, y, cv, &sum));
        y = sum;
    }
    *out = y;
    return GM_OK;
}
