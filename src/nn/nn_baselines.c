/* Baselines for the tables: a plain zero-padded CNN and an MLP on images,
 * each as a classifier or as a regressor of a map the input's size. */
#include <stdio.h>

#include "nn_internal.h"

#define GM__NN_MLP_WIDTH 256

gm_status gm__nn_image_size(gm_model *m) {
    gm_model_desc *d = &m->desc;
    if (d->image_h == 0) {
        const int64_t n = gm_group_order(m->group);
        if (gm_group_kind_of(m->group) == GM_GROUP_PRODUCT) {
            d->image_h = gm_group_order(gm_group_factor(m->group, 0));
            d->image_w = gm_group_order(gm_group_factor(m->group, 1));
        } else {
            d->image_h = 1;
            d->image_w = n;
        }
    }
    int64_t n;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(d->image_h, d->image_w, &n) || n > GM_GROUP_MAX_ORDER,
                       GM_ERR_TOO_LARGE, "model: image %lld x %lld is too large",
                       (long long)d->image_h, (long long)d->image_w);
    GM_RETURN_ERROR_IF(m->group && gm_group_order(m->group) != n, GM_ERR_INVALID_ARG,
                       "model: image %lld x %lld does not match the order %lld of group %s",
                       (long long)d->image_h, (long long)d->image_w,
                       (long long)gm_group_order(m->group), gm_group_name(m->group));
    m->image_h = d->image_h;
    m->image_w = d->image_w;
    m->positions = n;
    /* With a group, the baseline's logits can still be tested for invariance
     * (they are not invariant: the point of the comparison). */
    if (!m->group) return GM_OK;
    gm__nn_level *lv = &m->levels[0];
    lv->group = gm_group_retain(m->group);
    lv->to_top = gm_malloc_array((size_t)m->positions, sizeof *lv->to_top);
    if (!lv->to_top) return gm__nomem("model domain");
    for (int64_t i = 0; i < m->positions; i++) lv->to_top[i] = (int32_t)i;
    m->nlevels = 1;
    return GM_OK;
}

static gm_status gm__nn_dense_new(gm_model *m, int ndim, const int64_t *shape, int64_t fan_in,
                                  gm_tensor **w, gm_tensor **b, const char *prefix) {
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, ndim, shape, w, "%s.weight", prefix));
    gm_nn_init_kaiming_uniform(*w, fan_in, &m->rng);
    return gm__nn_param_new(&m->params, 1, &shape[0], b, "%s.bias", prefix);
}

static gm_status gm__nn_build_cnn(gm_model *m) {
    const gm_model_desc *d = &m->desc;
    int64_t cin = d->in_channels, h = m->image_h, w = m->image_w;
    char prefix[128];
    m->nblocks = d->nblocks;
    for (int64_t bi = 0; bi < d->nblocks; bi++) {
        gm__nn_block *b = &m->blocks[bi];
        b->nlayers = d->blocks[bi].num_layers;
        b->in_channels = cin;
        b->out_channels = d->blocks[bi].out_channels;
        b->pool = d->blocks[bi].pool;
        b->layers = gm_arena_calloc(m->params.arena, (size_t)b->nlayers, sizeof *b->layers);
        if (!b->layers) return gm__nomem("model layers");
        for (int64_t li = 0; li < b->nlayers; li++) {
            const int64_t shape[4] = {b->out_channels, cin, 3, 3};
            snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.conv", (long long)bi,
                     (long long)li);
            GM_FORWARD_IF_ERROR(gm__nn_dense_new(m, 4, shape, cin * 9, &b->layers[li].weight,
                                                 &b->layers[li].bias, prefix));
            if (d->norm == GM_NORM_BATCH) {
                snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.norm", (long long)bi,
                         (long long)li);
                GM_FORWARD_IF_ERROR(
                    gm__nn_bnorm_init(&b->layers[li].bn, &m->params, prefix, b->out_channels));
            }
            cin = b->out_channels;
        }
        if (b->pool) {
            GM_RETURN_ERROR_IF(h % 2 || w % 2, GM_ERR_INVALID_ARG,
                               "model: blocks[%lld].pool: the %lld x %lld feature map is not "
                               "even-sized",
                               (long long)bi, (long long)h, (long long)w);
            h /= 2;
            w /= 2;
        }
    }
    const int64_t shape[2] = {d->out_dim, cin};
    /* The regressor's 1x1 output convolution has the linear layer's shape. */
    return gm__nn_dense_new(m, 2, shape, cin, &m->out_weight, &m->out_bias,
                            d->regressor ? "output" : "fc");
}

static gm_status gm__nn_build_mlp(gm_model *m) {
    gm_model_desc *d = &m->desc;
    if (d->hidden == 0) d->hidden = GM__NN_MLP_WIDTH;
    m->hidden = d->hidden;
    int64_t cin;
    GM_RETURN_ERROR_IF(gm_mul_overflow_i64(d->in_channels, m->positions, &cin), GM_ERR_TOO_LARGE,
                       "model: MLP input %lld x %lld is too large", (long long)d->in_channels,
                       (long long)m->positions);
    /* No blocks: one hidden layer of width `hidden`. */
    m->nblocks = d->nblocks ? d->nblocks : 1;
    char prefix[128];
    for (int64_t bi = 0; bi < m->nblocks; bi++) {
        gm__nn_block *b = &m->blocks[bi];
        const gm_block_desc *bd = d->nblocks ? &d->blocks[bi] : NULL;
        b->nlayers = bd && bd->num_layers > 0 ? bd->num_layers : 1;
        b->out_channels = bd && bd->out_channels > 0 ? bd->out_channels : d->hidden;
        b->layers = gm_arena_calloc(m->params.arena, (size_t)b->nlayers, sizeof *b->layers);
        if (!b->layers) return gm__nomem("model layers");
        for (int64_t li = 0; li < b->nlayers; li++) {
            const int64_t shape[2] = {b->out_channels, cin};
            snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.linear", (long long)bi,
                     (long long)li);
            GM_FORWARD_IF_ERROR(gm__nn_dense_new(m, 2, shape, cin, &b->layers[li].weight,
                                                 &b->layers[li].bias, prefix));
            cin = b->out_channels;
        }
    }
    int64_t nout = d->out_dim;
    GM_RETURN_ERROR_IF(d->regressor && gm_mul_overflow_i64(d->out_dim, m->positions, &nout),
                       GM_ERR_TOO_LARGE, "model: MLP output %lld x %lld is too large",
                       (long long)d->out_dim, (long long)m->positions);
    const int64_t shape[2] = {nout, cin};
    return gm__nn_dense_new(m, 2, shape, cin, &m->out_weight, &m->out_bias,
                            d->regressor ? "output" : "fc");
}

gm_status gm__nn_build_baseline(gm_model *m) {
    GM_FORWARD_IF_ERROR(gm__nn_image_size(m));
    m->classifier = !m->desc.regressor;
    m->out_level = 0;
    if (m->desc.kind == GM_MODEL_CNN) return gm__nn_build_cnn(m);
    return gm__nn_build_mlp(m);
}

static gm_status gm__nn_forward_cnn(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    const int64_t batch = x->shape[0];
    int64_t h = m->image_h, w = m->image_w;
    const int64_t s4[4] = {batch, x->shape[1], h, w};
    gm_tensor *img = NULL;
    GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, x, 4, s4, &img));
    x = img;
    const bool regressor = m->desc.regressor;
    for (int64_t bi = 0; bi < m->nblocks; bi++) {
        const gm__nn_block *b = &m->blocks[bi];
        gm_tensor *res = x;
        for (int64_t li = 0; li < b->nlayers; li++) {
            gm_tensor *y = NULL;
            GM_FORWARD_IF_ERROR(
                gm_op_conv2d(ctx, x, b->layers[li].weight, b->layers[li].bias, 1, 1, &y));
            if (m->desc.norm == GM_NORM_BATCH) {
                gm_tensor *z = NULL;
                GM_FORWARD_IF_ERROR(gm__nn_bnorm_forward(&b->layers[li].bn, ctx, y, &z));
                y = z;
            }
            GM_FORWARD_IF_ERROR(gm_op_relu(ctx, y, &x));
        }
        if (regressor && b->in_channels == b->out_channels) {
            gm_tensor *sum = NULL;
            GM_FORWARD_IF_ERROR(gm_op_add(ctx, x, res, &sum));
            x = sum;
        }
        if (b->pool) {
            gm_tensor *p = NULL;
            GM_FORWARD_IF_ERROR(gm_op_maxpool2d(ctx, x, &p));
            x = p;
            h /= 2;
            w /= 2;
        }
    }
    const int64_t s3[3] = {batch, x->shape[1], h * w};
    gm_tensor *flat = NULL, *g = NULL, *dr = NULL;
    GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, x, 3, s3, &flat));
    if (regressor) {
        GM_FORWARD_IF_ERROR(gm_op_dropout(ctx, flat, m->desc.dropout, &dr));
        return gm_op_conv1x1(ctx, dr, m->out_weight, m->out_bias, out);
    }
    GM_FORWARD_IF_ERROR(gm_op_global_pool(ctx, flat, GM_REDUCE_MEAN, &g));
    GM_FORWARD_IF_ERROR(gm_op_dropout(ctx, g, m->desc.dropout, &dr));
    return gm_op_linear(ctx, dr, m->out_weight, m->out_bias, out);
}

static gm_status gm__nn_forward_mlp(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    const int64_t s2[2] = {x->shape[0], x->shape[1] * x->shape[2]};
    gm_tensor *flat = NULL;
    GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, x, 2, s2, &flat));
    x = flat;
    for (int64_t bi = 0; bi < m->nblocks; bi++) {
        const gm__nn_block *b = &m->blocks[bi];
        for (int64_t li = 0; li < b->nlayers; li++) {
            gm_tensor *y = NULL;
            GM_FORWARD_IF_ERROR(
                gm_op_linear(ctx, x, b->layers[li].weight, b->layers[li].bias, &y));
            GM_FORWARD_IF_ERROR(gm_op_relu(ctx, y, &x));
        }
    }
    gm_tensor *dr = NULL;
    GM_FORWARD_IF_ERROR(gm_op_dropout(ctx, x, m->desc.dropout, &dr));
    if (!m->desc.regressor) return gm_op_linear(ctx, dr, m->out_weight, m->out_bias, out);
    gm_tensor *y = NULL;
    GM_FORWARD_IF_ERROR(gm_op_linear(ctx, dr, m->out_weight, m->out_bias, &y));
    const int64_t s3[3] = {s2[0], m->desc.out_dim, m->positions};
    return gm_op_reshape(ctx, y, 3, s3, out);
}

gm_status gm__nn_forward_baseline(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    if (m->desc.kind == GM_MODEL_CNN) return gm__nn_forward_cnn(m, ctx, x, out);
    return gm__nn_forward_mlp(m, ctx, x, out);
}
