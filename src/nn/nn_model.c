/* gm_model: description checks, lifetime, parameters and the forward pass
 * dispatch. The families are built in nn_gm_models.c, nn_baselines.c and
 * nn_ldr.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

/* Fixed PCG stream for initialisation; the seed alone selects the values. */
#define GM__NN_INIT_STREAM 0x696e6974u
/* Layers per block: far above any real network, and it keeps stage names
 * within gm_equiv_stage.name. */
#define GM__NN_MAX_LAYERS 1000

static bool gm__nn_is_gm_kind(gm_model_kind k) {
    return k == GM_MODEL_GMCNN || k == GM_MODEL_PLUME || k == GM_MODEL_GMCNN_DEEP;
}

static gm_status gm__nn_check_desc(const gm_model_desc *d) {
    const gm_model_kind k = d->kind;
    GM_RETURN_ERROR_IF(k < GM_MODEL_GMCNN || k > GM_MODEL_LDR, GM_ERR_INVALID_ARG,
                       "model: kind %d is not a model kind (0..5)", (int)k);
    const bool gm = gm__nn_is_gm_kind(k);
    GM_RETURN_ERROR_IF(gm && (!d->group || !d->group[0]), GM_ERR_INVALID_ARG,
                       "model: group is required for GM models");
    /* Bounded before any support is formed from it ((2t+1)^2 in int64). */
    GM_RETURN_ERROR_IF(d->radius < 0 || d->radius > GM_GROUP_MAX_ORDER, GM_ERR_INVALID_ARG,
                       "model: radius %lld must be in 0..%lld", (long long)d->radius,
                       (long long)GM_GROUP_MAX_ORDER);
    GM_RETURN_ERROR_IF(d->in_channels < 1, GM_ERR_INVALID_ARG,
                       "model: in_channels %lld must be >= 1", (long long)d->in_channels);
    GM_RETURN_ERROR_IF(d->out_dim < 1, GM_ERR_INVALID_ARG, "model: out_dim %lld must be >= 1",
                       (long long)d->out_dim);
    const int64_t min_blocks = k == GM_MODEL_MLP || k == GM_MODEL_LDR ? 0 : 1;
    GM_RETURN_ERROR_IF(d->nblocks < min_blocks || d->nblocks > GM_MODEL_MAX_BLOCKS,
                       GM_ERR_INVALID_ARG, "model: nblocks %lld is outside %lld..%d",
                       (long long)d->nblocks, (long long)min_blocks, GM_MODEL_MAX_BLOCKS);
    for (int64_t i = 0; i < d->nblocks; i++) {
        const gm_block_desc *b = &d->blocks[i];
        /* MLP blocks may leave the depth to the default (0 = one layer). */
        const int64_t min_layers = k == GM_MODEL_MLP ? 0 : 1;
        GM_RETURN_ERROR_IF(b->num_layers < min_layers || b->num_layers > GM__NN_MAX_LAYERS,
                           GM_ERR_INVALID_ARG, "model: blocks[%lld].num_layers %lld is outside "
                           "%lld..%d", (long long)i, (long long)b->num_layers,
                           (long long)min_layers, GM__NN_MAX_LAYERS);
        /* PLUME and MLP blocks may leave the width to `hidden`. */
        const int64_t min_ch = (k == GM_MODEL_PLUME || k == GM_MODEL_MLP) ? 0 : 1;
        GM_RETURN_ERROR_IF(b->out_channels < min_ch, GM_ERR_INVALID_ARG,
                           "model: blocks[%lld].out_channels %lld must be >= %lld", (long long)i,
                           (long long)b->out_channels, (long long)min_ch);
        GM_RETURN_ERROR_IF(b->pool && k != GM_MODEL_GMCNN_DEEP && k != GM_MODEL_CNN,
                           GM_ERR_INVALID_ARG,
                           "model: blocks[%lld].pool: only GMCNN_DEEP and CNN models pool",
                           (long long)i);
    }
    GM_RETURN_ERROR_IF(!(d->dropout >= 0.0 && d->dropout < 1.0), GM_ERR_INVALID_ARG,
                       "model: dropout %g must be in [0, 1)", d->dropout);
    GM_RETURN_ERROR_IF(d->form != GM_CONV_FULL && d->form != GM_CONV_SHARED, GM_ERR_INVALID_ARG,
                       "model: form %d is not a GMConv form", (int)d->form);
    GM_RETURN_ERROR_IF(d->norm != GM_NORM_DEFAULT && d->norm != GM_NORM_BATCH,
                       GM_ERR_INVALID_ARG, "model: norm %d is not a normalisation kind",
                       (int)d->norm);
    GM_RETURN_ERROR_IF(d->norm == GM_NORM_BATCH && k != GM_MODEL_GMCNN_DEEP && k != GM_MODEL_CNN,
                       GM_ERR_INVALID_ARG,
                       "model: norm batch applies to the deep GM-CNN and the CNN");
    GM_RETURN_ERROR_IF(d->pool_mode != GM_REDUCE_MAX && d->pool_mode != GM_REDUCE_MEAN,
                       GM_ERR_INVALID_ARG, "model: pool_mode %d is not max or mean",
                       (int)d->pool_mode);
    GM_RETURN_ERROR_IF(d->ldr_rank < 0 || d->ldr_rank > GM__NN_MAX_RANK, GM_ERR_INVALID_ARG,
                       "model: ldr_rank %lld is outside 0..%d", (long long)d->ldr_rank,
                       GM__NN_MAX_RANK);
    GM_RETURN_ERROR_IF(!gm && k != GM_MODEL_LDR && d->ldr_rank > 0, GM_ERR_INVALID_ARG,
                       "model: ldr_rank applies to GM models and the LDR model only");
    GM_RETURN_ERROR_IF(!gm && d->modulated, GM_ERR_INVALID_ARG,
                       "model: modulated applies to GM models only");
    GM_RETURN_ERROR_IF(d->structure != GM_LDR_TOEPLITZ && d->structure != GM_LDR_TRIDIAG &&
                           d->structure != GM_LDR_UNSTRUCTURED,
                       GM_ERR_INVALID_ARG, "model: structure %d is not an LDR structure",
                       (int)d->structure);
    GM_RETURN_ERROR_IF(d->structure != GM_LDR_TOEPLITZ && k != GM_MODEL_LDR, GM_ERR_INVALID_ARG,
                       "model: structure applies to the LDR model only");
    GM_RETURN_ERROR_IF(k == GM_MODEL_LDR && d->structure == GM_LDR_UNSTRUCTURED &&
                           d->ldr_rank > 0,
                       GM_ERR_INVALID_ARG,
                       "model: ldr_rank %lld does not apply to the unstructured LDR layer",
                       (long long)d->ldr_rank);
    GM_RETURN_ERROR_IF(k == GM_MODEL_LDR && (d->nblocks > 0 || d->hidden > 0),
                       GM_ERR_INVALID_ARG,
                       "model: blocks and hidden do not apply to the LDR model (one n x n layer, "
                       "n = C*H*W)");
    GM_RETURN_ERROR_IF(d->center && k != GM_MODEL_GMCNN_DEEP, GM_ERR_INVALID_ARG,
                       "model: center applies to the deep GM-CNN on p4:n or p4m:n");
    GM_RETURN_ERROR_IF(d->modulated_in_place && !d->modulated, GM_ERR_INVALID_ARG,
                       "model: modulated_in_place applies to the modulated layer only");
    GM_RETURN_ERROR_IF(d->modulated && d->ldr_rank > 0, GM_ERR_INVALID_ARG,
                       "model: modulated excludes ldr_rank (the modulated layer is rank 1 "
                       "by construction)");
    GM_RETURN_ERROR_IF(d->hidden < 0, GM_ERR_INVALID_ARG, "model: hidden %lld must be >= 0",
                       (long long)d->hidden);
    GM_RETURN_ERROR_IF(d->image_h < 0 || d->image_w < 0 || ((d->image_h == 0) != (d->image_w == 0)),
                       GM_ERR_INVALID_ARG,
                       "model: image_h and image_w (%lld, %lld) must both be 0 or both >= 1",
                       (long long)d->image_h, (long long)d->image_w);
    GM_RETURN_ERROR_IF(!gm && !(d->group && d->group[0]) && d->image_h == 0, GM_ERR_INVALID_ARG,
                       "model: a baseline needs image_h and image_w, or a group");
    GM_RETURN_ERROR_IF(d->regressor && k != GM_MODEL_CNN && k != GM_MODEL_MLP, GM_ERR_INVALID_ARG,
                       "model: regressor applies to the CNN and MLP baselines (the plume model "
                       "is a regressor by construction)");
    for (int64_t i = 0; i < d->nblocks && d->regressor; i++)
        GM_RETURN_ERROR_IF(d->blocks[i].pool, GM_ERR_INVALID_ARG,
                           "model: blocks[%lld].pool: a regressor keeps the input's resolution",
                           (long long)i);
    return GM_OK;
}

void gm__nn_trace_add(gm_model *m, gm_tensor *t, int level, bool invariant, const char *fmt,
                      ...) {
    /* The report's last slot is kept for the model output. */
    if (!m->tracing || m->ntrace >= GM_EQUIV_MAX_STAGES - 1) return;
    gm__nn_trace *e = &m->trace[m->ntrace++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->t = t;
    e->level = level;
    e->invariant = invariant;
}

gm_status gm_model_new(const gm_model_desc *desc, uint64_t seed, gm_model **out) {
    return gm_model_new_checked(desc, seed, NULL, NULL, out);
}

gm_status gm_model_new_checked(const gm_model_desc *desc, uint64_t seed, gm_param_check_fn check,
                               void *user, gm_model **out) {
    GM_RETURN_ERROR_IF(!desc || !out, GM_ERR_INVALID_ARG,
                       "gm_model_new: desc and out are required");
    *out = NULL;
    GM_FORWARD_IF_ERROR(gm__nn_check_desc(desc));
    gm_model *m = gm_calloc(1, sizeof *m);
    if (!m) return gm__nomem("model");
    m->desc = *desc;
    m->desc.group = NULL;
    m->desc.group_parsed = NULL;
    gm_status st = gm__nn_params_init(&m->params);
    m->params.check = check;
    m->params.check_user = user;
    if (st == GM_OK && desc->group && desc->group[0]) {
        m->group_spec = gm_strdup(desc->group);
        if (!m->group_spec) st = gm__nomem("model group spec");
        m->desc.group = m->group_spec;
        if (st == GM_OK && desc->group_parsed) {
            m->group = gm_group_retain(desc->group_parsed);
        } else if (st == GM_OK) {
            st = gm_group_from_spec(desc->group, &m->group);
            if (st != GM_OK) st = gm__nn_error_wrap(st, "model: group");
        }
    }
    gm_rng_seed(&m->rng, seed, GM__NN_INIT_STREAM);
    if (st == GM_OK)
        st = gm__nn_is_gm_kind(desc->kind)   ? gm__nn_build_gm(m)
             : desc->kind == GM_MODEL_LDR ? gm__nn_build_ldr(m)
                                          : gm__nn_build_baseline(m);
    if (st != GM_OK) {
        gm_model_free(m);
        return st;
    }
    *out = m;
    return GM_OK;
}

void gm_model_free(gm_model *m) {
    if (!m) return;
    for (int i = 0; i < GM__NN_MAX_LEVELS; i++) {
        gm__nn_level *lv = &m->levels[i];
        gm_gmat_plan_free(lv->plan);
        gm_gmat_plan_free(lv->pool_plan);
        gm_gmat_plan_free(lv->lift_plan);
        gm_gmat_plan_free(lv->center_plan);
        gm_group_free(lv->center_group);
        gm_subgroup_free(lv->pool_sub);
        gm_nbhd_free(lv->nbhd);
        gm_group_free(lv->shape);
        gm_group_free(lv->group);
        gm_free(lv->to_top);
    }
    gm__nn_params_release(&m->params);
    gm_group_free(m->group);
    gm_free(m->group_spec);
    gm_free(m);
}

const gm_model_desc *gm_model_description(const gm_model *m) { return &m->desc; }
const gm_group *gm_model_group(const gm_model *m) { return m->group; }
int64_t gm_model_input_size(const gm_model *m) { return m->positions; }

gm_status gm_model_forward(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out) {
    GM_RETURN_ERROR_IF(!m || !ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "gm_model_forward: model, ctx, x and out are required");
    *out = NULL;
    if (x->ndim != 3 || x->shape[1] != m->desc.in_channels || x->shape[2] != m->positions) {
        char got[96];
        gm_tensor_shape_str(x, got, sizeof got);
        return gm_error_set(GM_ERR_SHAPE, "model input has shape %s, expected (B, %lld, %lld)",
                            got, (long long)m->desc.in_channels, (long long)m->positions);
    }
    /* Only a tracing run writes to the model, so that plain forward passes
     * may share it between threads. */
    if (m->tracing) m->ntrace = 0;
    if (gm__nn_is_gm_kind(m->desc.kind)) return gm__nn_forward_gm(m, ctx, x, out);
    if (m->desc.kind == GM_MODEL_LDR) return gm__nn_forward_ldr(m, ctx, x, out);
    return gm__nn_forward_baseline(m, ctx, x, out);
}

int64_t gm_model_param_count(const gm_model *m) { return m->params.count; }

const char *gm_model_param_name(const gm_model *m, int64_t i) {
    return i >= 0 && i < m->params.count ? m->params.names[i] : NULL;
}

gm_tensor *gm_model_param(gm_model *m, int64_t i) {
    return i >= 0 && i < m->params.count ? m->params.tensors[i] : NULL;
}

const gm_tensor *gm_model_param_const(const gm_model *m, int64_t i) {
    return i >= 0 && i < m->params.count ? m->params.tensors[i] : NULL;
}

int64_t gm_model_num_params(const gm_model *m) {
    int64_t total = 0;
    for (int64_t i = 0; i < m->params.count; i++)
        if (m->params.tensors[i]->requires_grad) total += m->params.tensors[i]->numel;
    return total;
}

gm_status gm_model_zero_grad(gm_model *m) {
    for (int64_t i = 0; i < m->params.count; i++) {
        if (!m->params.tensors[i]->requires_grad) continue;
        GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(m->params.tensors[i]));
        gm_tensor_zero_grad(m->params.tensors[i]);
    }
    return GM_OK;
}
