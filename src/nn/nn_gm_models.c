/* The GM model families: the reference GM-CNN classifier, the plume
 * regressor, and the deeper GM-CNN with pooling onto subgroups (on p4/p4m
 * lifting images to the group). */
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

/* --- domains --------------------------------------------------------------- */

/* The kernel support of a level: the reference radius-t support where the
 * level has C_n/D_n structure, else the word ball of the group's generators. */
static gm_status gm__nn_level_support(gm__nn_level *lv, int64_t t) {
    gm_status st = GM_ERR_UNSUPPORTED;
    if (lv->shape) {
        st = gm_nbhd_reference_new(lv->shape, t, &lv->nbhd);
        if (st != GM_OK && st != GM_ERR_UNSUPPORTED) return st;
    }
    if (st == GM_ERR_UNSUPPORTED) {
        gm_error_clear();
        GM_FORWARD_IF_ERROR(gm_nbhd_ball_new(lv->group, gm_group_ngens(lv->group),
                                             gm_group_gens(lv->group), t, &lv->nbhd));
    }
    const int64_t k = gm_nbhd_size(lv->nbhd), n = gm_group_order(lv->group);
    GM_RETURN_ERROR_IF(k > GM__NN_MAX_PLAN_CELLS / n, GM_ERR_TOO_LARGE,
                       "model: the radius-%lld support on %s has %lld elements; its %lld x %lld "
                       "index table is above the limit of %lld entries", (long long)t,
                       gm_group_name(lv->group), (long long)k, (long long)k, (long long)n,
                       (long long)GM__NN_MAX_PLAN_CELLS);
    return gm_gmat_plan_new(lv->group, lv->nbhd, &lv->plan);
}

/* C_n -> C_{n/2}, D_n -> D_{n/2}, factor by factor: the group the stride-2
 * subgroup is isomorphic to, with the same element order. */
static gm_status gm__nn_halve(const gm_group *g, gm_group **out) {
    *out = NULL;
    const int64_t n = gm_group_param(g);
    const int64_t points = gm_group_wallpaper_points(g);
    if (points > 0) return points == 8 ? gm_group_p4m_new(n / 2, out) : gm_group_p4_new(n / 2, out);
    switch (gm_group_kind_of(g)) {
    case GM_GROUP_CYCLIC:
        return gm_group_cyclic_new(n / 2, out);
    case GM_GROUP_DIHEDRAL:
        return gm_group_dihedral_new(n / 2, out);
    case GM_GROUP_PRODUCT: {
        gm_group *a = NULL, *b = NULL;
        gm_status st = gm__nn_halve(gm_group_factor(g, 0), &a);
        if (st == GM_OK) st = gm__nn_halve(gm_group_factor(g, 1), &b);
        if (st == GM_OK) st = gm_group_product_new(a, b, out);
        gm_group_free(a);
        gm_group_free(b);
        return st;
    }
    default:
        return gm_error_set(GM_ERR_UNSUPPORTED, "no stride-2 structure for %s", gm_group_name(g));
    }
}

/* True when a*s agrees in both groups for every a and every generator s of
 * `shape`: then, by induction on word length, the two multiplications agree
 * everywhere, and shape's supports can be used on `group`. */
static bool gm__nn_same_group(const gm_group *group, const gm_group *shape) {
    const int64_t n = gm_group_order(group);
    if (gm_group_order(shape) != n) return false;
    const int32_t *gens = gm_group_gens(shape);
    for (int64_t i = 0; i < gm_group_ngens(shape); i++)
        for (int32_t a = 0; a < n; a++)
            if (gm_group_mul(group, a, gens[i]) != gm_group_mul(shape, a, gens[i])) return false;
    return true;
}

/* Level l+1: the stride-2 subgroup of level l as a group of its own, its
 * pooling plan, and its convolution plan. */
static gm_status gm__nn_level_pool(gm_model *m, int l, int64_t block) {
    gm__nn_level *lv = &m->levels[l], *nx = &m->levels[l + 1];
    GM_RETURN_ERROR_IF(l + 1 >= GM__NN_MAX_LEVELS, GM_ERR_INVALID_ARG,
                       "model: blocks[%lld].pool: too many pooling stages", (long long)block);
    GM_RETURN_ERROR_IF(!lv->shape, GM_ERR_UNSUPPORTED,
                       "model: blocks[%lld].pool: the features live on %s, which has no "
                       "stride-2 subgroup (C_n/D_n factors with n even needed)",
                       (long long)block, gm_group_name(lv->group));
    gm_subgroup *ks = NULL;
    gm_status st = gm_subgroup_stride2_new(lv->shape, &ks);
    if (st != GM_OK) {
        char context[64];
        snprintf(context, sizeof context, "model: blocks[%lld].pool", (long long)block);
        return gm__nn_error_wrap(st, context);
    }
    st = gm__nn_halve(lv->shape, &nx->shape);
    /* The same subgroup of the level's own group: the halved group's
     * generators, carried over through the (identical) element order. */
    int32_t *gens = NULL;
    int64_t ngens = 0;
    if (st == GM_OK) {
        ngens = gm_group_ngens(nx->shape);
        gens = gm_malloc_array((size_t)(ngens ? ngens : 1), sizeof *gens);
        if (!gens) st = gm__nomem("pooling subgroup");
    }
    if (st == GM_OK) {
        for (int64_t i = 0; i < ngens; i++)
            gens[i] = gm_subgroup_elements(ks)[gm_group_gens(nx->shape)[i]];
        st = gm_subgroup_generated_new(lv->group, ngens, gens, &lv->pool_sub);
    }
    gm_free(gens);
    if (st == GM_OK) {
        const int64_t order = gm_subgroup_order(ks);
        GM_ASSERT(gm_subgroup_order(lv->pool_sub) == order);
        GM_ASSERT(!memcmp(gm_subgroup_elements(ks), gm_subgroup_elements(lv->pool_sub),
                          (size_t)order * sizeof(int32_t)));
        st = gm_subgroup_as_group(lv->pool_sub, &nx->group);
    }
    gm_subgroup_free(ks);
    if (st == GM_OK) st = gm_gmat_plan_pool_new(lv->pool_sub, &lv->pool_plan);
    if (st != GM_OK) return st;
    if (!gm__nn_same_group(nx->group, nx->shape)) {
        gm_group_free(nx->shape);
        nx->shape = NULL;
    }
    const int64_t n = gm_group_order(nx->group);
    nx->to_top = gm_malloc_array((size_t)n, sizeof *nx->to_top);
    if (!nx->to_top) return gm__nomem("pooled level");
    const int32_t *elems = gm_subgroup_elements(lv->pool_sub);
    for (int64_t i = 0; i < n; i++) nx->to_top[i] = lv->to_top[elems[i]];
    m->nlevels = l + 2;
    return gm__nn_level_support(nx, m->desc.radius);
}

/* The lifting plan of a wallpaper group G = Z_n^2 x| H: from the torus G/H
 * (the left coset (s, h)H is numbered by the pixel s = a*n + b) to G, with
 * the (2t+1)^2 translations as support. */
static gm_status gm__nn_level_lift(gm__nn_level *lv, int64_t t) {
    const gm_group *g = lv->group, *h = gm_group_factor(g, 1);
    const int64_t n = gm_group_param(g), side = 2 * t + 1;
    int32_t gens[8];
    const int64_t ngens = gm_group_ngens(h);
    GM_ASSERT(ngens <= 8);
    for (int64_t i = 0; i < ngens; i++) gens[i] = (int32_t)(gm_group_gens(h)[i] * n * n);
    GM_RETURN_ERROR_IF(side * side > GM__NN_MAX_PLAN_CELLS / gm_group_order(g), GM_ERR_TOO_LARGE,
                       "model: the radius-%lld lifting support on %s (%lld translations) is "
                       "above the limit of %lld index table entries", (long long)t,
                       gm_group_name(g), (long long)(side * side),
                       (long long)GM__NN_MAX_PLAN_CELLS);
    int32_t *elems = gm_malloc_array((size_t)(side * side), sizeof *elems);
    if (!elems) return gm__nomem("lifting support");
    int64_t k = 0;
    for (int64_t da = -t; da <= t; da++)
        for (int64_t db = -t; db <= t; db++)
            elems[k++] = (int32_t)((((da % n) + n) % n) * n + ((db % n) + n) % n);
    gm_subgroup *points = NULL;
    gm_nbhd *support = NULL;
    gm_status st = gm_subgroup_generated_new(g, ngens, gens, &points);
    if (st == GM_OK) st = gm_nbhd_new(gm_group_order(g), k, elems, &support);
    if (st == GM_OK) st = gm_gmat_plan_lift_new(points, support, &lv->lift_plan);
    gm_nbhd_free(support);
    gm_subgroup_free(points);
    gm_free(elems);
    return st;
}

/* The fixed 2x2 mean of desc.center: y(g) = sum_k x(g s_k^-1) / 4 over the
 * translations s = (0,0), (1,0), (0,1), (1,1) of the torus, each channel on
 * its own: the channels are moved into the batch, so that one (1, 1, 4)
 * kernel serves them all (a (C, C, 4) kernel diagonal in the channels would
 * grow with C^2). */
static gm_status gm__nn_level_center(gm_model *m, gm__nn_level *lv) {
    const int64_t n = gm_group_param(lv->group);
    GM_RETURN_ERROR_IF(n % 2 != 0, GM_ERR_INVALID_ARG,
                       "model: center needs an even torus side, %s has %lld",
                       gm_group_name(lv->group), (long long)n);
    gm_group *cn = NULL;
    gm_nbhd *s = NULL;
    const int32_t elems[4] = {0, (int32_t)n, 1, (int32_t)(n + 1)};
    gm_status st = gm_group_cyclic_new(n, &cn);
    if (st == GM_OK) st = gm_group_product_new(cn, cn, &lv->center_group);
    if (st == GM_OK) st = gm_nbhd_new(n * n, 4, elems, &s);
    if (st == GM_OK) st = gm_gmat_plan_new(lv->center_group, s, &lv->center_plan);
    gm_nbhd_free(s);
    gm_group_free(cn);
    if (st != GM_OK) return st;
    const int64_t shape[3] = {1, 1, 4};
    GM_FORWARD_IF_ERROR(gm_tensor_new(m->params.arena, 3, shape, &lv->center_weight));
    gm__nn_fill(lv->center_weight, 0.25);
    return GM_OK;
}

void gm__nn_input_action(const gm_model *m, int32_t v, int32_t *perm) {
    const gm_group *g = m->levels[0].group;
    const int32_t vinv = gm_group_inv(g, v);
    const int64_t np = m->positions;
    if (!m->levels[0].center_plan) {
        for (int64_t p = 0; p < np; p++) perm[p] = (int32_t)(gm_group_mul(g, vinv, (int32_t)p) % np);
        return;
    }
    /* v^-1 = (t, h) moves pixel p to h(p - c) + c + t, c the image centre:
     * in doubled coordinates q = 2p - (n-1), h acts by its integer matrix,
     * read off its action on the unit translations (1,0) and (0,1). */
    const int64_t n = gm_group_param(g), nn = n * n;
    const int32_t h = (int32_t)(vinv / nn * nn);
    const int64_t t = vinv % nn;
    int64_t mat[2][2];
    for (int col = 0; col < 2; col++) {
        const int64_t img = gm_group_mul(g, h, col == 0 ? (int32_t)n : 1) % nn;
        const int64_t a = img / n, b = img % n;
        mat[0][col] = a == n - 1 ? -1 : a;
        mat[1][col] = b == n - 1 ? -1 : b;
    }
    for (int64_t p = 0; p < np; p++) {
        const int64_t qa = 2 * (p / n) - (n - 1), qb = 2 * (p % n) - (n - 1);
        const int64_t ra = mat[0][0] * qa + mat[0][1] * qb, rb = mat[1][0] * qa + mat[1][1] * qb;
        const int64_t a = ((ra + n - 1) / 2 + t / n) % n, b = ((rb + n - 1) / 2 + t % n) % n;
        perm[p] = (int32_t)(a * n + b);
    }
}

static gm_status gm__nn_level0(gm_model *m) {
    gm__nn_level *lv = &m->levels[0];
    lv->group = gm_group_retain(m->group);
    lv->shape = gm_group_retain(m->group);
    const int64_t n = gm_group_order(m->group);
    lv->to_top = gm_malloc_array((size_t)n, sizeof *lv->to_top);
    if (!lv->to_top) return gm__nomem("model domain");
    for (int64_t i = 0; i < n; i++) lv->to_top[i] = (int32_t)i;
    m->nlevels = 1;
    m->positions = n;
    if (gm_group_wallpaper_points(m->group) > 0 && m->desc.kind == GM_MODEL_GMCNN_DEEP) {
        const int64_t side = gm_group_param(m->group);
        m->positions = side * side;
        GM_FORWARD_IF_ERROR(gm__nn_level_lift(lv, m->desc.radius));
        if (m->desc.center) GM_FORWARD_IF_ERROR(gm__nn_level_center(m, lv));
    }
    GM_RETURN_ERROR_IF(m->desc.center && !lv->lift_plan, GM_ERR_INVALID_ARG,
                       "model: center applies to images lifted to p4:n or p4m:n, not to %s",
                       gm_group_name(m->group));
    return gm__nn_level_support(lv, m->desc.radius);
}

/* --- builders ------------------------------------------------------------ */

static gm_status gm__nn_layers_alloc(gm_model *m, gm__nn_block *b, int64_t nlayers) {
    b->nlayers = nlayers;
    b->layers = gm_arena_calloc(m->params.arena, (size_t)nlayers, sizeof *b->layers);
    return b->layers ? GM_OK : gm__nomem("model layers");
}

static gm_status gm__nn_prelu_new(gm_model *m, gm_tensor **out, const char *name) {
    const int64_t one = 1;
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 1, &one, out, "%s", name));
    gm__nn_fill(*out, GM__NN_PRELU_INIT);
    return GM_OK;
}

/* GM-CNN (shared PReLU, shared-form convolutions) and the deeper variant
 * (a PReLU per layer, desc.form convolutions, pooling). */
static gm_status gm__nn_build_classifier(gm_model *m) {
    const gm_model_desc *d = &m->desc;
    const bool deep = d->kind == GM_MODEL_GMCNN_DEEP;
    const gm_conv_form form = deep ? d->form : GM_CONV_SHARED;
    int64_t cin = d->in_channels;
    int level = 0;
    char prefix[128];
    for (int64_t bi = 0; bi < d->nblocks; bi++) {
        gm__nn_block *b = &m->blocks[bi];
        b->level = level;
        b->in_channels = cin;
        b->out_channels = d->blocks[bi].out_channels;
        b->pool = d->blocks[bi].pool;
        GM_FORWARD_IF_ERROR(gm__nn_layers_alloc(m, b, d->blocks[bi].num_layers));
        /* The first layer of a wallpaper model lifts the image to G. */
        const gm_gmat_plan *lift = bi == 0 ? m->levels[0].lift_plan : NULL;
        b->lifts = lift != NULL;
        for (int64_t li = 0; li < b->nlayers; li++) {
            snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.conv", (long long)bi,
                     (long long)li);
            const gm_gmat_plan *plan = li == 0 && lift ? lift : m->levels[level].plan;
            GM_FORWARD_IF_ERROR(gm__nn_gmconv_init(
                &b->layers[li].conv, &m->params, &m->rng, prefix, plan, form,
                li == 0 ? cin : b->out_channels, b->out_channels, d->ldr_rank, d->modulated));
            b->layers[li].conv.renorm_in_place = d->modulated_in_place;
            if (deep && d->norm == GM_NORM_BATCH) {
                snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.norm", (long long)bi,
                         (long long)li);
                GM_FORWARD_IF_ERROR(
                    gm__nn_bnorm_init(&b->layers[li].bn, &m->params, prefix, b->out_channels));
            }
            if (deep) {
                snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.prelu.weight",
                         (long long)bi, (long long)li);
                GM_FORWARD_IF_ERROR(gm__nn_prelu_new(m, &b->layers[li].prelu, prefix));
            }
        }
        if (cin != b->out_channels && !b->lifts) {
            const int64_t shape[2] = {b->out_channels, cin};
            GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 2, shape, &b->res_weight,
                                                 "blocks.%lld.residual.weight", (long long)bi));
            gm_nn_init_kaiming_uniform(b->res_weight, cin, &m->rng);
            GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 1, &b->out_channels, &b->res_bias,
                                                 "blocks.%lld.residual.bias", (long long)bi));
        }
        if (b->pool) {
            GM_FORWARD_IF_ERROR(gm__nn_level_pool(m, level, bi));
            level++;
        }
        cin = b->out_channels;
    }
    if (!deep) {
        GM_FORWARD_IF_ERROR(gm__nn_prelu_new(m, &m->prelu, "prelu.weight"));
        for (int64_t bi = 0; bi < d->nblocks; bi++)
            for (int64_t li = 0; li < m->blocks[bi].nlayers; li++)
                m->blocks[bi].layers[li].prelu = m->prelu;
    }
    const int64_t shape[2] = {d->out_dim, cin};
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 2, shape, &m->out_weight, "fc.weight"));
    gm_nn_init_kaiming_uniform(m->out_weight, cin, &m->rng);
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 1, &d->out_dim, &m->out_bias, "fc.bias"));
    m->out_level = level;
    m->classifier = true;
    return GM_OK;
}

/* The plume regressor: the first convolution reads the raw input (as in the
 * reference, whose input 1x1 only feeds the first skip connection). */
static gm_status gm__nn_build_plume(gm_model *m) {
    gm_model_desc *d = &m->desc;
    int64_t c = d->hidden;
    if (c == 0) c = d->blocks[0].out_channels;
    if (c == 0) c = 128;
    d->hidden = c;
    m->hidden = c;
    for (int64_t bi = 0; bi < d->nblocks; bi++)
        GM_RETURN_ERROR_IF(d->blocks[bi].out_channels != 0 && d->blocks[bi].out_channels != c,
                           GM_ERR_INVALID_ARG,
                           "model: blocks[%lld].out_channels %lld must equal the plume width "
                           "hidden = %lld (every block adds the previous block's output)",
                           (long long)bi, (long long)d->blocks[bi].out_channels, (long long)c);
    const int64_t in_shape[2] = {c, d->in_channels};
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 2, in_shape, &m->in_weight, "input.weight"));
    gm_nn_init_kaiming_uniform(m->in_weight, d->in_channels, &m->rng);
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 1, &c, &m->in_bias, "input.bias"));
    int64_t cin = d->in_channels;
    char prefix[128];
    for (int64_t bi = 0; bi < d->nblocks; bi++) {
        gm__nn_block *b = &m->blocks[bi];
        b->in_channels = cin;
        b->out_channels = c;
        GM_FORWARD_IF_ERROR(gm__nn_layers_alloc(m, b, d->blocks[bi].num_layers));
        for (int64_t li = 0; li < b->nlayers; li++) {
            snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.conv", (long long)bi,
                     (long long)li);
            GM_FORWARD_IF_ERROR(gm__nn_gmconv_init(&b->layers[li].conv, &m->params, &m->rng,
                                                   prefix, m->levels[0].plan, d->form, cin, c,
                                                   d->ldr_rank, d->modulated));
            b->layers[li].conv.renorm_in_place = d->modulated_in_place;
            snprintf(prefix, sizeof prefix, "blocks.%lld.layers.%lld.prelu.weight",
                     (long long)bi, (long long)li);
            GM_FORWARD_IF_ERROR(gm__nn_prelu_new(m, &b->layers[li].prelu, prefix));
            cin = c;
        }
    }
    const int64_t out_shape[2] = {d->out_dim, c};
    GM_FORWARD_IF_ERROR(
        gm__nn_param_new(&m->params, 2, out_shape, &m->out_weight, "output.weight"));
    gm_nn_init_kaiming_uniform(m->out_weight, c, &m->rng);
    GM_FORWARD_IF_ERROR(gm__nn_param_new(&m->params, 1, &d->out_dim, &m->out_bias, "output.bias"));
    m->out_level = 0;
    m->classifier = false;
    return GM_OK;
}

gm_status gm__nn_build_gm(gm_model *m) {
    m->nblocks = m->desc.nblocks;
    GM_FORWARD_IF_ERROR(gm__nn_level0(m));
    if (m->desc.kind == GM_MODEL_PLUME) return gm__nn_build_plume(m);
    return gm__nn_build_classifier(m);
}

/* --- forward ------------------------------------------------------------- */

static gm_status gm__nn_forward_classifier(gm_model *m, gm_ctx *ctx, gm_tensor *x,
                                           gm_tensor **out) {
    const gm_model_desc *d = &m->desc;
    const bool batch_norm = d->norm == GM_NORM_BATCH;
    const gm__nn_level *l0 = &m->levels[0];
    if (l0->center_plan) {
        const int64_t bc[3] = {x->shape[0] * x->shape[1], 1, x->shape[2]};
        const int64_t back[3] = {x->shape[0], x->shape[1], x->shape[2]};
        gm_tensor *flat = NULL, *y = NULL;
        GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, x, 3, bc, &flat));
        GM_FORWARD_IF_ERROR(
            gm_op_gmconv(ctx, l0->center_plan, flat, l0->center_weight, NULL, GM_CONV_FULL, &y));
        GM_FORWARD_IF_ERROR(gm_op_reshape(ctx, y, 3, back, &x));
    }
    for (int64_t bi = 0; bi < m->nblocks; bi++) {
        const gm__nn_block *b = &m->blocks[bi];
        gm_tensor *res = b->lifts ? NULL : x;
        if (b->res_weight) {
            gm_tensor *r = NULL;
            GM_FORWARD_IF_ERROR(gm_op_conv1x1(ctx, res, b->res_weight, b->res_bias, &r));
            res = r;
        }
        /* The residual sum joins the block's last layer op, unless every
         * layer's output is wanted for an equivariance report. */
        const bool fuse = !m->tracing && b->nlayers > 0 && !batch_norm;
        for (int64_t li = 0; li < b->nlayers; li++) {
            const gm__nn_layer *l = &b->layers[li];
            const bool join = fuse && li == b->nlayers - 1;
            gm_tensor *y = NULL;
            GM_FORWARD_IF_ERROR(gm__nn_gmconv_forward(&l->conv, ctx, x, &y));
            gm__nn_trace_add(m, y, b->level, false, "blocks.%lld.layers.%lld.conv",
                             (long long)bi, (long long)li);
            if (batch_norm) {
                gm_tensor *z = NULL;
                GM_FORWARD_IF_ERROR(gm__nn_bnorm_forward(&l->bn, ctx, y, &z));
                GM_FORWARD_IF_ERROR(gm_op_prelu(ctx, z, l->prelu, &x));
            } else {
                GM_FORWARD_IF_ERROR(gm_op_layernorm_prelu(ctx, y, l->prelu, join ? res : NULL,
                                                          GM__NN_LN_EPS, &x));
            }
            gm__nn_trace_add(m, x, b->level, false, "blocks.%lld.layers.%lld", (long long)bi,
                             (long long)li);
        }
        if (!fuse && res) {
            gm_tensor *sum = NULL;
            GM_FORWARD_IF_ERROR(gm_op_add(ctx, x, res, &sum));
            x = sum;
        }
        gm__nn_trace_add(m, x, b->level, false, "blocks.%lld", (long long)bi);
        if (b->pool) {
            gm_tensor *p = NULL;
            GM_FORWARD_IF_ERROR(
                gm_op_gmpool(ctx, m->levels[b->level].pool_plan, x, d->pool_mode, &p));
            x = p;
            gm__nn_trace_add(m, x, b->level + 1, false, "blocks.%lld.pool", (long long)bi);
        }
    }
    gm_tensor *g = NULL, *dr = NULL;
    GM_FORWARD_IF_ERROR(gm_op_global_pool(ctx, x, GM_REDUCE_MAX, &g));
    gm__nn_trace_add(m, g, m->out_level, true, "global_max");
    GM_FORWARD_IF_ERROR(gm_op_dropout(ctx, g, d->dropout, &dr));
    return gm_op_linear(ctx, dr, m->out_weight, m->out_bias, out);
}

static gm_status gm__nn_forward_plume(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    gm_tensor *skip = NULL;
    GM_FORWARD_IF_ERROR(gm_op_conv1x1(ctx, x, m->in_weight, m->in_bias, &skip));
    gm__nn_trace_add(m, skip, 0, false, "input");
    for (int64_t bi = 0; bi < m->nblocks; bi++) {
        const gm__nn_block *b = &m->blocks[bi];
        for (int64_t li = 0; li < b->nlayers; li++) {
            const gm__nn_layer *l = &b->layers[li];
            gm_tensor *y = NULL;
            GM_FORWARD_IF_ERROR(gm__nn_gmconv_forward(&l->conv, ctx, x, &y));
            gm__nn_trace_add(m, y, 0, false, "blocks.%lld.layers.%lld.conv", (long long)bi,
                             (long long)li);
            GM_FORWARD_IF_ERROR(gm_op_prelu(ctx, y, l->prelu, &x));
        }
        gm_tensor *sum = NULL;
        GM_FORWARD_IF_ERROR(gm_op_add(ctx, x, skip, &sum));
        x = skip = sum;
        gm__nn_trace_add(m, x, 0, false, "blocks.%lld", (long long)bi);
    }
    return gm_op_conv1x1(ctx, skip, m->out_weight, m->out_bias, out);
}

gm_status gm__nn_forward_gm(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    if (m->desc.kind == GM_MODEL_PLUME) return gm__nn_forward_plume(m, ctx, x, out);
    return gm__nn_forward_classifier(m, ctx, x, out);
}
