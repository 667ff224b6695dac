/* Equivariance of a whole model, stage by stage: run it on x and on L_v x
 * and compare every traced feature map with the translated original,
 * (L_v f)(g) = f(v^-1 g), under the group that acts on that stage. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

typedef struct gm__nn_gen {
    int level;
    int32_t local; /* element of the level's group */
    int32_t top;   /* the same element of G */
} gm__nn_gen;

#define GM__NN_MAX_GENS 256

/* ||a - P b|| / ||b|| over every plane of `positions` values, with
 * (P b)[g] = b[perm[g]] (perm NULL: identity, for invariant stages). */
static double gm__nn_defect(const gm_tensor *a, const gm_tensor *b, int64_t positions,
                            const int32_t *perm) {
    double num = 0.0, den = 0.0;
    const int64_t planes = b->numel / positions;
    for (int64_t p = 0; p < planes; p++) {
        const gm_real *ap = a->data + p * positions, *bp = b->data + p * positions;
        for (int64_t g = 0; g < positions; g++) {
            const double ref = (double)bp[perm ? perm[g] : g];
            const double diff = (double)ap[g] - ref;
            num += diff * diff;
            den += (double)bp[g] * (double)bp[g];
        }
    }
    if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
    return sqrt(num / den);
}

/* perm[g] = v^-1 g in grp. */
static void gm__nn_translation(const gm_group *grp, int32_t v, int32_t *perm) {
    const int32_t vinv = gm_group_inv(grp, v);
    const int64_t n = gm_group_order(grp);
    for (int64_t g = 0; g < n; g++) perm[g] = gm_group_mul(grp, vinv, (int32_t)g);
}

/* Generators of every level's group, as (level, local, top) triples. */
static int64_t gm__nn_generators(const gm_model *m, gm__nn_gen *gens) {
    int64_t count = 0;
    for (int l = 0; l < m->nlevels; l++) {
        const gm_group *grp = m->levels[l].group;
        for (int64_t i = 0; i < gm_group_ngens(grp) && count < GM__NN_MAX_GENS; i++) {
            const int32_t local = gm_group_gens(grp)[i];
            gens[count++] = (gm__nn_gen){l, local, m->levels[l].to_top[local]};
        }
    }
    return count;
}

static gm_status gm__nn_equivariance_run(gm_model *m, gm_ctx *ctx, gm_tensor *x,
                                         gm_equiv_report *rep, int32_t *perm) {
    gm__nn_trace base[GM_EQUIV_MAX_STAGES];
    gm__nn_gen gens[GM__NN_MAX_GENS];
    gm_tensor *y0 = NULL;
    m->tracing = true;
    GM_FORWARD_IF_ERROR(gm_model_forward(m, ctx, x, &y0));
    const int64_t nbase = m->ntrace;
    memcpy(base, m->trace, (size_t)nbase * sizeof *base);
    /* The output is the last stage. */
    base[nbase] = (gm__nn_trace){.t = y0, .level = m->out_level, .invariant = m->classifier};
    snprintf(base[nbase].name, sizeof base[nbase].name, "%s",
             m->classifier ? "logits" : "output");
    const int64_t nstages = nbase + 1;
    rep->nstages = nstages;
    for (int64_t s = 0; s < nstages; s++) {
        snprintf(rep->stages[s].name, sizeof rep->stages[s].name, "%.*s",
                 (int)sizeof rep->stages[s].name - 1, base[s].name);
        rep->stages[s].invariant = base[s].invariant;
        rep->stages[s].defect = 0.0;
    }

    const int64_t ngens = gm__nn_generators(m, gens);
    for (int64_t i = 0; i < ngens; i++) {
        bool seen = false;
        for (int64_t j = 0; j < i && !seen; j++) seen = gens[j].top == gens[i].top;
        if (seen) continue;
        /* L_v x, every channel of every sample (a lifting model's input is
         * an image on which v acts as gm__nn_input_action says). */
        gm_tensor *xv = NULL, *yv = NULL;
        GM_FORWARD_IF_ERROR(gm_tensor_new(gm_ctx_arena(ctx), x->ndim, x->shape, &xv));
        const int64_t np = m->positions;
        gm__nn_input_action(m, gens[i].top, perm);
        for (int64_t p = 0; p < x->numel / np; p++)
            for (int64_t e = 0; e < np; e++) xv->data[p * np + e] = x->data[p * np + perm[e]];
        GM_FORWARD_IF_ERROR(gm_model_forward(m, ctx, xv, &yv));
        GM_RETURN_ERROR_IF(m->ntrace != nbase, GM_ERR_INVALID_ARG,
                           "equivariance: the model traced %lld stages, then %lld",
                           (long long)nbase, (long long)m->ntrace);
        m->trace[nbase].t = yv;
        /* Every stage acted on by a group containing v (as one of that
         * group's generators) is compared. */
        for (int64_t j = 0; j < ngens; j++) {
            if (gens[j].top != gens[i].top) continue;
            const gm__nn_level *lv = &m->levels[gens[j].level];
            const int64_t nl = gm_group_order(lv->group);
            gm__nn_translation(lv->group, gens[j].local, perm);
            for (int64_t s = 0; s < nstages; s++) {
                if (base[s].level != gens[j].level) continue;
                const gm_tensor *a = m->trace[s].t, *b = base[s].t;
                const int64_t positions = base[s].invariant ? b->numel : nl;
                const double d =
                    gm__nn_defect(a, b, positions, base[s].invariant ? NULL : perm);
                if (!(d <= rep->stages[s].defect)) rep->stages[s].defect = d;
            }
        }
    }
    rep->end_to_end = rep->stages[nstages - 1].defect;
    return GM_OK;
}

gm_status gm_model_equivariance(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_equiv_report *out) {
    GM_RETURN_ERROR_IF(!m || !ctx || !x || !out, GM_ERR_INVALID_ARG,
                       "gm_model_equivariance: model, ctx, x and out are required");
    memset(out, 0, sizeof *out);
    GM_RETURN_ERROR_IF(m->nlevels == 0, GM_ERR_UNSUPPORTED,
                       "equivariance: the model has no group acting on its input");
    const int64_t order = gm_group_order(m->levels[0].group);
    int32_t *perm =
        gm_malloc_array((size_t)(m->positions > order ? m->positions : order), sizeof *perm);
    if (!perm) return gm__nomem("equivariance");
    const bool grad = gm_ctx_set_grad(ctx, false);
    const bool training = gm_ctx_set_training(ctx, false);
    gm_status st = gm__nn_equivariance_run(m, ctx, x, out, perm);
    gm_ctx_set_grad(ctx, grad);
    gm_ctx_set_training(ctx, training);
    m->tracing = false;
    gm_free(perm);
    return st;
}
