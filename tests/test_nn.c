/* nn: parameter counts of the reference configs, exact invariance of the
 * GM-CNN classifiers, the per-stage equivariance report, displacement rank and
 * defect of the LDR layer, the stride-2 pooling subgroup, and a few training
 * steps. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"
#include "test_support.h"

/* --- helpers --------------------------------------------------------------- */

static gm_model *model_new(const gm_model_desc *d, uint64_t seed) {
    gm_model *m = NULL;
    gm_status st = gm_model_new(d, seed, &m);
    cr_assert_eq(st, GM_OK, "gm_model_new(%s): %s", d->group ? d->group : "-", gm_error_detail());
    cr_assert_not_null(m);
    return m;
}

static gm_ctx *ctx_new(void) {
    gm_ctx *ctx = NULL;
    cr_assert_eq(gm_ctx_new(0, 1, &ctx), GM_OK, "%s", gm_error_detail());
    return ctx;
}

static gm_arena *arena_new(void) {
    gm_arena *a = NULL;
    cr_assert_eq(gm_arena_new(0, &a), GM_OK, "%s", gm_error_detail());
    return a;
}

/* nblocks blocks of one layer of `channels` each. */
static gm_model_desc classifier_desc(gm_model_kind kind, const char *group, int64_t t,
                                     int64_t cin, int64_t classes, int64_t channels,
                                     int64_t nblocks) {
    gm_model_desc d = {.kind = kind,
                       .group = group,
                       .radius = t,
                       .in_channels = cin,
                       .out_dim = classes,
                       .nblocks = nblocks};
    for (int64_t b = 0; b < nblocks; b++)
        d.blocks[b] = (gm_block_desc){.num_layers = 1, .out_channels = channels};
    return d;
}

static gm_tensor *random_tensor3(gm_arena *a, gm_rng *rng, int64_t b, int64_t c, int64_t n) {
    gm_tensor *t = NULL;
    cr_assert_eq(gm_tensor_new3(a, b, c, n, &t), GM_OK, "%s", gm_error_detail());
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (gm_real)(2.0 * gm_rng_uniform(rng) - 1.0);
    return t;
}

/* out = L_v x on the last axis: out[.., g] = x[.., v^-1 g]. */
static gm_tensor *translate(gm_arena *a, const gm_group *g, int32_t v, const gm_tensor *x) {
    gm_tensor *out = NULL;
    cr_assert_eq(gm_tensor_new(a, x->ndim, x->shape, &out), GM_OK, "%s", gm_error_detail());
    const int64_t n = x->shape[x->ndim - 1];
    const int32_t vinv = gm_group_inv(g, v);
    for (int64_t p = 0; p < x->numel / n; p++)
        for (int64_t e = 0; e < n; e++)
            out->data[p * n + e] = x->data[p * n + gm_group_mul(g, vinv, (int32_t)e)];
    return out;
}

static double rel_diff(const gm_tensor *a, const gm_tensor *b) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < a->numel; i++) {
        const double d = (double)a->data[i] - (double)b->data[i];
        num += d * d;
        den += (double)b->data[i] * (double)b->data[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Evaluation-mode forward without gradients. */
static gm_tensor *forward_eval(gm_model *m, gm_ctx *ctx, gm_tensor *x) {
    const bool grad = gm_ctx_set_grad(ctx, false);
    const bool train = gm_ctx_set_training(ctx, false);
    gm_tensor *y = NULL;
    gm_status st = gm_model_forward(m, ctx, x, &y);
    cr_assert_eq(st, GM_OK, "forward: %s", gm_error_detail());
    gm_ctx_set_grad(ctx, grad);
    gm_ctx_set_training(ctx, train);
    return y;
}

static gm_tensor *param_named(gm_model *m, const char *name) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++)
        if (!strcmp(gm_model_param_name(m, i), name)) return gm_model_param(m, i);
    cr_assert_fail("no parameter named %s", name);
    return NULL;
}

/* Fills every LDR position vector (names ending in ".v.<rho>") with U(-s, s). */
static void set_position_vectors(gm_model *m, gm_rng *rng, double s) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        const char *name = gm_model_param_name(m, i);
        if (!strstr(name, ".conv.v.")) continue;
        gm_tensor *t = gm_model_param(m, i);
        for (int64_t j = 0; j < t->numel; j++)
            t->data[j] = (gm_real)(s * (2.0 * gm_rng_uniform(rng) - 1.0));
    }
}

/* Largest defect of the logits over a list of elements acting on the input. */
static double max_logit_defect(gm_model *m, gm_ctx *ctx, gm_arena *a, const gm_tensor *x,
                               int64_t nelems, const int32_t *elems) {
    const gm_group *g = gm_model_group(m);
    gm_tensor *y0 = forward_eval(m, ctx, (gm_tensor *)x);
    double worst = 0.0;
    for (int64_t i = 0; i < nelems; i++) {
        gm_tensor *xv = translate(a, g, elems[i], x);
        gm_tensor *yv = forward_eval(m, ctx, xv);
        const double d = rel_diff(yv, y0);
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

/* --- parameter counts (the reference configurations) ---------------------------------------------- */

typedef struct ref_config {
    const char *name, *group;
    int64_t t, k, cin, classes, params;
} ref_config;

static const ref_config ref_configs[] = {
    {"cifar10", "C32xC32", 3, 49, 3, 10, 13691},
    {"mnist-noise", "C28xC28", 3, 49, 1, 10, 13451},
    {"mnist-bg-rot", "D14xD14", 2, 100, 1, 10, 25691},
    {"rot-mnist", "D14xD14", 3, 196, 1, 10, 48731},
    {"norb", "C32xC32", 3, 49, 1, 6, 12967},
    {"smallnorb", "C24xC24", 3, 49, 1, 4, 12725},
    {"rectangles", "C28xC28", 3, 49, 1, 2, 12483},
};

Test(nn, parameter_counts_match_the_reference_table) {
    for (size_t i = 0; i < sizeof ref_configs / sizeof ref_configs[0]; i++) {
        const ref_config *c = &ref_configs[i];
        gm_model_desc d =
            classifier_desc(GM_MODEL_GMCNN, c->group, c->t, c->cin, c->classes, 120, 2);
        d.dropout = 0.3;
        gm_model *m = model_new(&d, 42);
        const int64_t count = gm_model_num_params(m);
        cr_log_info("%-12s %-8s t=%lld: %lld parameters (table: %lld)", c->name, c->group,
                    (long long)c->t, (long long)count, (long long)c->params);
        cr_expect_eq(count, c->params, "%s: %lld parameters, the table says %lld", c->name,
                     (long long)count, (long long)c->params);
        gm_tensor *w = param_named(m, "blocks.0.layers.0.conv.weight");
        cr_expect_eq(w->ndim, 2, "%s: shared-form kernel (O, K)", c->name);
        cr_expect_eq(w->shape[1], c->k, "%s: K = %lld, expected %lld", c->name,
                     (long long)w->shape[1], (long long)c->k);
        gm_model_free(m);
    }
}

Test(nn, reference_classifier_parameters_in_order) {
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN, "C32xC32", 3, 3, 10, 120, 2);
    gm_model *m = model_new(&d, 42);
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[2];
    } want[] = {
        {"blocks.0.layers.0.conv.weight", 2, {120, 49}},
        {"blocks.0.layers.0.conv.bias", 1, {120}},
        {"blocks.0.residual.weight", 2, {120, 3}},
        {"blocks.0.residual.bias", 1, {120}},
        {"blocks.1.layers.0.conv.weight", 2, {120, 49}},
        {"blocks.1.layers.0.conv.bias", 1, {120}},
        {"prelu.weight", 1, {1}},
        {"fc.weight", 2, {10, 120}},
        {"fc.bias", 1, {10}},
    };
    const int64_t n = (int64_t)(sizeof want / sizeof want[0]);
    cr_assert_eq(gm_model_param_count(m), n);
    for (int64_t i = 0; i < n; i++) {
        const gm_tensor *t = gm_model_param(m, i);
        cr_expect_str_eq(gm_model_param_name(m, i), want[i].name);
        cr_expect_eq(t->ndim, want[i].ndim, "%s", want[i].name);
        for (int k = 0; k < want[i].ndim; k++)
            cr_expect_eq(t->shape[k], want[i].shape[k], "%s dim %d", want[i].name, k);
        cr_expect(t->requires_grad, "%s requires a gradient", want[i].name);
    }
    cr_expect_null(gm_model_param_name(m, n));
    cr_expect_null(gm_model_param(m, -1));
    cr_expect_str_eq(gm_model_description(m)->group, "C32xC32");
    cr_expect_eq(gm_group_order(gm_model_group(m)), 1024);
    gm_model_free(m);
}

/* Kaiming-uniform bounds 1/sqrt(fan_in), zero biases, PReLU 0.25, v = 0; the
 * seed alone decides the values. */
Test(nn, initialisation) {
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN, "C8xC8", 1, 3, 5, 16, 2);
    gm_model *m = model_new(&d, 7), *m2 = model_new(&d, 7), *m3 = model_new(&d, 8);
    static const struct {
        const char *name;
        double bound; /* 0: exactly `value` everywhere */
        double value;
    } want[] = {
        {"blocks.0.layers.0.conv.weight", 1.0 / 3.0, 0}, /* fan-in K = 9 */
        {"blocks.0.layers.0.conv.bias", 0, 0},
        {"blocks.0.residual.weight", 1.0 / 1.7320508075688772, 0}, /* fan-in 3 */
        {"blocks.0.residual.bias", 0, 0},
        {"prelu.weight", 0, 0.25},
        {"fc.weight", 0.25, 0}, /* fan-in 16 */
        {"fc.bias", 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const gm_tensor *t = param_named(m, want[i].name);
        double maxabs = 0.0;
        for (int64_t j = 0; j < t->numel; j++) {
            const double v = (double)t->data[j];
            if (want[i].bound == 0)
                cr_expect_eq(v, want[i].value, "%s[%lld] = %g", want[i].name, (long long)j, v);
            if (fabs(v) > maxabs) maxabs = fabs(v);
        }
        if (want[i].bound > 0) {
            cr_expect(maxabs <= want[i].bound, "%s: |w| up to %g > %g", want[i].name, maxabs,
                      want[i].bound);
            cr_expect(maxabs > 0.5 * want[i].bound, "%s: |w| only up to %g", want[i].name,
                      maxabs);
        }
    }
    bool same = true, differs = false;
    for (int64_t i = 0; i < gm_model_param_count(m); i++) {
        const gm_tensor *a = gm_model_param(m, i), *b = gm_model_param(m2, i),
                        *c = gm_model_param(m3, i);
        same = same && !memcmp(a->data, b->data, (size_t)a->numel * sizeof(gm_real));
        differs = differs || memcmp(a->data, c->data, (size_t)a->numel * sizeof(gm_real));
    }
    cr_expect(same, "the same seed gives the same parameters");
    cr_expect(differs, "another seed gives other parameters");

    gm_model_desc p = classifier_desc(GM_MODEL_PLUME, "C6xC6", 1, 20, 2, 0, 1);
    p.hidden = 4;
    p.ldr_rank = 2;
    p.form = GM_CONV_SHARED;
    gm_model *pm = model_new(&p, 3);
    const gm_tensor *v = param_named(pm, "blocks.0.layers.0.conv.v.1");
    for (int64_t j = 0; j < v->numel; j++) cr_expect_eq((double)v->data[j], 0.0);
    /* Plume count: in 1x1 + (1+r) kernels + bias + r*n + PReLU + out 1x1. */
    const int64_t want_count = (20 * 4 + 4) + (3 * 4 * 9 + 4 + 2 * 36 + 1) + (2 * 4 + 2);
    cr_expect_eq(gm_model_num_params(pm), want_count, "plume: %lld parameters, expected %lld",
                 (long long)gm_model_num_params(pm), (long long)want_count);
    gm_model_free(pm);
    gm_model_free(m);
    gm_model_free(m2);
    gm_model_free(m3);
}

/* --- stride-2 subgroup ----------------------------------------------------- */

static gm_subgroup *stride2(const gm_group *g) {
    gm_subgroup *h = NULL;
    cr_assert_eq(gm_subgroup_stride2_new(g, &h), GM_OK, "%s: %s", gm_group_name(g),
                 gm_error_detail());
    return h;
}

Test(nn, stride2_subgroup_of_c8xc8_is_2z8_x_2z8) {
    gm_group *g = ts_group("C8xC8");
    gm_subgroup *h = stride2(g);
    cr_assert_eq(gm_subgroup_order(h), 16);
    const int32_t *e = gm_subgroup_elements(h);
    for (int64_t i = 0; i < 16; i++)
        cr_expect_eq(e[i], (int32_t)((i / 4) * 2 * 8 + (i % 4) * 2), "element %lld",
                     (long long)i);
    /* As a group it is C4xC4 with the same order of elements. */
    gm_group *hg = NULL, *c4 = ts_group("C4xC4");
    cr_assert_eq(gm_subgroup_as_group(h, &hg), GM_OK);
    for (int32_t a = 0; a < 16; a++)
        for (int32_t b = 0; b < 16; b++)
            cr_expect_eq(gm_group_mul(hg, a, b), gm_group_mul(c4, a, b));
    gm_group_free(hg);
    gm_group_free(c4);
    gm_subgroup_free(h);
    gm_group_free(g);
}

Test(nn, stride2_subgroup_of_dihedral_is_r2_f) {
    gm_group *g = ts_group("D4");
    gm_subgroup *h = stride2(g);
    /* r^0, r^2, f, f r^2 */
    const int32_t want[] = {0, 2, 4, 6};
    cr_assert_eq(gm_subgroup_order(h), 4);
    for (int i = 0; i < 4; i++) cr_expect_eq(gm_subgroup_elements(h)[i], want[i]);
    gm_group *hg = NULL, *d2 = ts_group("D2");
    cr_assert_eq(gm_subgroup_as_group(h, &hg), GM_OK);
    for (int32_t a = 0; a < 4; a++)
        for (int32_t b = 0; b < 4; b++)
            cr_expect_eq(gm_group_mul(hg, a, b), gm_group_mul(d2, a, b));
    gm_group_free(hg);
    gm_group_free(d2);
    gm_subgroup_free(h);
    gm_group_free(g);

    /* Mixed product: |D6 x C4| / 4. */
    g = ts_group("D6xC4");
    h = stride2(g);
    cr_expect_eq(gm_subgroup_order(h), 12);
    for (int64_t i = 0; i < 12; i++) {
        const int32_t a = gm_subgroup_elements(h)[i];
        const int32_t d = a / 4, c = a % 4;
        cr_expect(d % 2 == 0 && c % 2 == 0, "element %d = (%d, %d)", a, d, c);
    }
    gm_subgroup_free(h);
    gm_group_free(g);
}

Test(nn, stride2_subgroup_rejects_other_groups) {
    const char *specs[] = {"C7", "C8xD3", "p4:5", "S3"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        gm_group *g = ts_group(specs[i]);
        gm_subgroup *h = (gm_subgroup *)1;
        cr_expect_eq(gm_subgroup_stride2_new(g, &h), GM_ERR_UNSUPPORTED, "%s", specs[i]);
        cr_expect_null(h);
        cr_expect(strstr(gm_error_detail(), "stride-2") != NULL, "%s: %s", specs[i],
                  gm_error_detail());
        gm_group_free(g);
    }
}

/* --- exact invariance -------------------------------------------------------- */

static void check_classifier_invariance(const char *group, int64_t t) {
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN, group, t, 3, 5, 6, 2);
    d.dropout = 0.3;
    gm_model *m = model_new(&d, 11);
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 5, 0);
    const gm_group *g = gm_model_group(m);
    gm_tensor *x = random_tensor3(a, &rng, 2, 3, gm_group_order(g));
    int32_t elems[16];
    int64_t n = 0;
    for (int64_t i = 0; i < gm_group_ngens(g) && n < 12; i++) elems[n++] = gm_group_gens(g)[i];
    for (int i = 0; i < 4; i++)
        elems[n++] = (int32_t)gm_rng_below(&rng, (uint32_t)gm_group_order(g));
    const double defect = max_logit_defect(m, ctx, a, x, n, elems);
    cr_log_info("GM-CNN on %s: logit defect %.3g over %lld elements", group, defect,
                (long long)n);
    cr_expect(defect <= 1e-5, "%s: logits change by %g under the group", group, defect);

    gm_equiv_report rep;
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    cr_expect_eq(rep.nstages, 8);
    cr_expect_str_eq(rep.stages[rep.nstages - 1].name, "logits");
    cr_expect(rep.stages[rep.nstages - 1].invariant);
    for (int64_t s = 0; s < rep.nstages; s++) {
        cr_log_info("  %-28s %.3g", rep.stages[s].name, rep.stages[s].defect);
        cr_expect(rep.stages[s].defect <= 1e-5, "%s: stage %s defect %g", group,
                  rep.stages[s].name, rep.stages[s].defect);
    }
    cr_expect(rep.end_to_end <= 1e-5);
    gm_arena_free(a);
    gm_ctx_free(ctx);
    gm_model_free(m);
}

Test(nn, gmcnn_classifier_is_invariant) {
    check_classifier_invariance("D4xD4", 1);
    check_classifier_invariance("C6xC6", 1);
    check_classifier_invariance("D3xC5", 2);
}

/* --- equivariance report ---------------------------------------------------- */

static gm_model_desc plume_desc(const char *group, int64_t rank) {
    gm_model_desc d = classifier_desc(GM_MODEL_PLUME, group, 1, 20, 2, 0, 2);
    d.hidden = 6;
    d.form = GM_CONV_SHARED;
    d.ldr_rank = rank;
    return d;
}

Test(nn, equivariance_report_plume) {
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 9, 0);
    gm_model_desc d = plume_desc("D4xD4", 2);
    gm_model *m = model_new(&d, 4);
    gm_tensor *x = random_tensor3(a, &rng, 2, 20, 64);
    gm_equiv_report rep;

    /* v = 0 at initialisation: exact. */
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    cr_expect_eq(rep.nstages, 6);
    cr_expect_str_eq(rep.stages[0].name, "input");
    cr_expect_str_eq(rep.stages[5].name, "output");
    cr_expect(!rep.stages[5].invariant);
    for (int64_t s = 0; s < rep.nstages; s++)
        cr_expect(rep.stages[s].defect <= 1e-5, "v = 0: %s defect %g", rep.stages[s].name,
                  rep.stages[s].defect);

    /* Nonzero v: approximately equivariant from the first LDR layer on. */
    set_position_vectors(m, &rng, 0.5);
    gm_ctx_reset(ctx);
    x = random_tensor3(a, &rng, 2, 20, 64);
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    cr_log_info("plume D4xD4, LDR r = 2, |v| ~ 0.5:");
    for (int64_t s = 0; s < rep.nstages; s++)
        cr_log_info("  %-28s %.3g", rep.stages[s].name, rep.stages[s].defect);
    cr_expect(rep.stages[0].defect <= 1e-5, "the input 1x1 is exact: %g", rep.stages[0].defect);
    for (int64_t s = 1; s < rep.nstages; s++)
        cr_expect(rep.stages[s].defect > 0.05, "%s defect only %g", rep.stages[s].name,
                  rep.stages[s].defect);
    cr_expect_eq(rep.end_to_end, rep.stages[5].defect);

    /* The modulated layer breaks equivariance too. */
    gm_model_free(m);
    d = plume_desc("C6xC6", 0);
    d.modulated = true;
    m = model_new(&d, 4);
    gm_ctx_reset(ctx);
    x = random_tensor3(a, &rng, 1, 20, 36);
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    cr_log_info("plume C6xC6, modulated: end-to-end %.3g", rep.end_to_end);
    cr_expect(rep.end_to_end > 0.05);

    gm_model_free(m);
    gm_arena_free(a);
    gm_ctx_free(ctx);
}

/* --- the LDR layer as a matrix ----------------------------------------------- */

typedef struct ldr_fixture {
    gm_group *g;
    gm_nbhd *s;
    gm_gmat_plan *plan;
    gm__nn_params params;
    gm__nn_gmconv layer;
    gm_ctx *ctx;
    int64_t n;
} ldr_fixture;

static void ldr_setup(ldr_fixture *f, const char *group, int64_t rank, bool modulated,
                      gm_conv_form form, uint64_t seed) {
    f->g = ts_group(group);
    f->n = gm_group_order(f->g);
    cr_assert_eq(gm_nbhd_reference_new(f->g, 1, &f->s), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_gmat_plan_new(f->g, f->s, &f->plan), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm__nn_params_init(&f->params), GM_OK);
    gm_rng rng;
    gm_rng_seed(&rng, seed, 0);
    cr_assert_eq(gm__nn_gmconv_init(&f->layer, &f->params, &rng, "conv", f->plan, form, 1, 1,
                                    rank, modulated),
                 GM_OK, "%s", gm_error_detail());
    for (int64_t r = 0; r < rank; r++)
        for (int64_t j = 0; j < f->n; j++)
            f->layer.v[r]->data[j] = (gm_real)(2.0 * gm_rng_uniform(&rng) - 1.0);
    f->ctx = ctx_new();
    gm_ctx_set_grad(f->ctx, false);
}

static void ldr_teardown(ldr_fixture *f) {
    gm_ctx_free(f->ctx);
    gm__nn_params_release(&f->params);
    gm_gmat_plan_free(f->plan);
    gm_nbhd_free(f->s);
    gm_group_free(f->g);
}

/* M[g][h] = y(e_h)[g] for one input and one output channel (the bias, which
 * makes the layer affine rather than linear, is zero). */
static double *ldr_dense(ldr_fixture *f) {
    const int64_t n = f->n;
    double *m = gm_malloc_array((size_t)(n * n), sizeof *m);
    cr_assert_not_null(m);
    for (int64_t h = 0; h < n; h++) {
        gm_tensor *x = NULL, *y = NULL;
        cr_assert_eq(gm_tensor_new3(gm_ctx_arena(f->ctx), 1, 1, n, &x), GM_OK);
        x->data[h] = 1;
        cr_assert_eq(gm__nn_gmconv_forward(&f->layer, f->ctx, x, &y), GM_OK, "%s",
                     gm_error_detail());
        for (int64_t g = 0; g < n; g++) m[g * n + h] = (double)y->data[g];
        gm_ctx_reset(f->ctx);
    }
    return m;
}

static double frobenius(int64_t n, const double *m) {
    double s = 0.0;
    for (int64_t i = 0; i < n * n; i++) s += m[i] * m[i];
    return sqrt(s);
}

/* Float layers: rounding of order 1e-7 ||M|| must not count as rank. */
static int64_t ldr_rank_of(ldr_fixture *f, const double *m) {
    int64_t rank = -1;
    cr_assert_eq(gm_gmat_displacement_rank(f->g, m, 1e-4 * frobenius(f->n, m), &rank, NULL),
                 GM_OK, "%s", gm_error_detail());
    return rank;
}

Test(nn, ldr_layer_has_displacement_rank_r) {
    const char *groups[] = {"C6xC6", "D3xD2"};
    const gm_conv_form forms[] = {GM_CONV_SHARED, GM_CONV_FULL};
    for (int gi = 0; gi < 2; gi++)
        for (int64_t r = 0; r <= 3; r++) {
            ldr_fixture f;
            ldr_setup(&f, groups[gi], r, false, forms[gi], 100 + (uint64_t)r);
            double *m = ldr_dense(&f);
            const int64_t dr = ldr_rank_of(&f, m);
            cr_log_info("LDR layer on %s, r = %lld: DR = %lld", groups[gi], (long long)r,
                        (long long)dr);
            cr_expect_eq(dr, r, "%s r = %lld: displacement rank %lld", groups[gi],
                         (long long)r, (long long)dr);
            gm_free(m);
            ldr_teardown(&f);
        }
    /* The modulated layer is the case c = 0, r = 1. */
    ldr_fixture f;
    ldr_setup(&f, "C6xC6", 0, true, GM_CONV_SHARED, 5);
    double *m = ldr_dense(&f);
    cr_expect_eq(ldr_rank_of(&f, m), 1);
    gm_free(m);
    ldr_teardown(&f);
}

static double max_commutator(const gm_group *g, const double *m) {
    double worst = 0.0;
    for (int64_t i = 0; i < gm_group_ngens(g); i++) {
        double c = 0.0;
        cr_assert_eq(gm_gmat_commutator_norm(g, m, gm_group_gens(g)[i], &c), GM_OK);
        if (c > worst) worst = c;
    }
    return worst;
}

Test(nn, ldr_layer_defect_grows_with_v) {
    ldr_fixture f;
    ldr_setup(&f, "D3xC4", 2, false, GM_CONV_SHARED, 77);
    gm_real *v0[2];
    for (int r = 0; r < 2; r++) {
        v0[r] = gm_malloc_array((size_t)f.n, sizeof(gm_real));
        memcpy(v0[r], f.layer.v[r]->data, (size_t)f.n * sizeof(gm_real));
    }
    const double scales[] = {0.0, 1e-3, 1e-2, 1e-1, 1.0};
    double prev = -1.0;
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        for (int r = 0; r < 2; r++)
            for (int64_t j = 0; j < f.n; j++)
                f.layer.v[r]->data[j] = (gm_real)(scales[i] * v0[r][j]);
        double *m = ldr_dense(&f);
        const double c = max_commutator(f.g, m);
        cr_log_info("LDR r = 2 on D3xC4, v scaled by %g: commutator %.3g", scales[i], c);
        if (i == 0)
            cr_expect(c <= 1e-6, "v = 0 must be exact, commutator %g", c);
        else
            cr_expect(c > prev, "defect not increasing: %g after %g", c, prev);
        prev = c;
        gm_free(m);
    }
    for (int r = 0; r < 2; r++) gm_free(v0[r]);
    ldr_teardown(&f);
}

/* --- the deeper GM-CNN with pooling ---------------------------------------- */

static gm_model_desc deep_desc(const char *group, bool pool0, bool pool1) {
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN_DEEP, group, 1, 2, 4, 5, 2);
    d.blocks[0].pool = pool0;
    d.blocks[1].pool = pool1;
    d.blocks[1].num_layers = 2;
    d.dropout = 0.2;
    return d;
}

/* Subgroup generators as elements of G. */
static int64_t stride2_gens(const gm_group *g, int32_t *out) {
    gm_subgroup *h = stride2(g);
    gm_group *hg = NULL;
    cr_assert_eq(gm_subgroup_as_group(h, &hg), GM_OK);
    const int64_t n = gm_group_ngens(hg);
    for (int64_t i = 0; i < n; i++) out[i] = gm_subgroup_elements(h)[gm_group_gens(hg)[i]];
    gm_group_free(hg);
    gm_subgroup_free(h);
    return n;
}

Test(nn, deep_gmcnn_with_pooling_is_invariant_under_the_subgroup) {
    const char *groups[] = {"C8xC8", "D4xD4"};
    for (int gi = 0; gi < 2; gi++) {
        gm_ctx *ctx = ctx_new();
        gm_arena *a = arena_new();
        gm_rng rng;
        gm_rng_seed(&rng, 21, 0);
        gm_model_desc d = deep_desc(groups[gi], true, false);
        gm_model *m = model_new(&d, 12);
        const gm_group *g = gm_model_group(m);
        gm_tensor *x = random_tensor3(a, &rng, 2, 2, gm_group_order(g));
        int32_t hgens[16];
        const int64_t nh = stride2_gens(g, hgens);
        const double dh = max_logit_defect(m, ctx, a, x, nh, hgens);
        const double dg = max_logit_defect(m, ctx, a, x, gm_group_ngens(g), gm_group_gens(g));
        cr_log_info("deep GM-CNN on %s, pool after block 0: logit defect %.3g under H, %.3g "
                    "under G",
                    groups[gi], dh, dg);
        cr_expect(dh <= 1e-5, "%s: H-defect %g", groups[gi], dh);
        /* Convolutions on H after the pool see G's odd translations as a new
         * input: invariance under all of G does not hold. */
        cr_expect(dg > 1e-4, "%s: G-defect %g", groups[gi], dg);

        gm_equiv_report rep;
        cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
        cr_expect_eq(rep.nstages, 11);
        cr_expect_str_eq(rep.stages[3].name, "blocks.0.pool");
        for (int64_t s = 0; s < rep.nstages; s++) {
            cr_log_info("  %-28s %.3g", rep.stages[s].name, rep.stages[s].defect);
            cr_expect(rep.stages[s].defect <= 1e-5, "%s: stage %s defect %g", groups[gi],
                      rep.stages[s].name, rep.stages[s].defect);
        }
        gm_model_free(m);

        /* Pooling right before the global max: the max over H of the window
         * maxima is the max over G, so the logits are G-invariant. */
        d = deep_desc(groups[gi], false, true);
        m = model_new(&d, 12);
        g = gm_model_group(m);
        const double dg_last =
            max_logit_defect(m, ctx, a, x, gm_group_ngens(g), gm_group_gens(g));
        cr_log_info("deep GM-CNN on %s, pool after the last block: G-defect %.3g", groups[gi],
                    dg_last);
        cr_expect(dg_last <= 1e-5, "%s: G-defect %g", groups[gi], dg_last);
        gm_model_free(m);
        gm_arena_free(a);
        gm_ctx_free(ctx);
    }
}

Test(nn, deep_gmcnn_pools_twice) {
    gm_model_desc d = deep_desc("C8xC8", true, true);
    d.nblocks = 3;
    d.blocks[2] = (gm_block_desc){.num_layers = 1, .out_channels = 3};
    d.pool_mode = GM_REDUCE_MEAN;
    gm_model *m = model_new(&d, 1);
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 2, 0);
    gm_tensor *x = random_tensor3(a, &rng, 1, 2, 64);
    gm_equiv_report rep;
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    for (int64_t s = 0; s < rep.nstages; s++)
        cr_expect(rep.stages[s].defect <= 1e-5, "stage %s defect %g", rep.stages[s].name,
                  rep.stages[s].defect);
    /* Full-form kernel on C2xC2 after two pools: (O, I, K) with K = 9 (the
     * radius-1 support repeats on C2). */
    const gm_tensor *w = param_named(m, "blocks.2.layers.0.conv.weight");
    cr_expect_eq(w->ndim, 3);
    cr_expect_eq(w->shape[2], 9);
    gm_tensor *y = forward_eval(m, ctx, x);
    cr_expect_eq(y->shape[0], 1);
    cr_expect_eq(y->shape[1], 4);
    gm_arena_free(a);
    gm_ctx_free(ctx);
    gm_model_free(m);
}

/* The modulated layer both ways: the same outputs (both use the normalised
 * weights), but the in-place form leaves unit rows behind and its gradient
 * is that of the normalised weights, while differentiating through the
 * normalisation gives a gradient orthogonal to every weight row. */
Test(nn, modulated_in_place_renormalises_outside_autodiff) {
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 8, 0);
    gm_tensor *x = random_tensor3(a, &rng, 2, 20, 36), *zero = random_tensor3(a, &rng, 2, 2, 36);
    for (int64_t i = 0; i < zero->numel; i++) zero->data[i] = 0.0f;
    double radial[2] = {0, 0};
    gm_tensor *out[2] = {NULL, NULL};
    gm_ctx *ctx[2] = {ctx_new(), ctx_new()};
    gm_model *m[2];
    for (int k = 0; k < 2; k++) {
        gm_model_desc d = plume_desc("C6xC6", 0);
        d.modulated = true;
        d.modulated_in_place = k == 1;
        m[k] = model_new(&d, 5);
        gm_tensor *loss = NULL;
        cr_assert_eq(gm_model_zero_grad(m[k]), GM_OK);
        cr_assert_eq(gm_model_forward(m[k], ctx[k], x, &out[k]), GM_OK, "%s", gm_error_detail());
        cr_assert_eq(gm_op_mse(ctx[k], out[k], zero, &loss), GM_OK);
        cr_assert_eq(gm_ctx_backward(ctx[k], loss), GM_OK, "%s", gm_error_detail());
        const gm_tensor *w = param_named(m[k], "blocks.0.layers.0.conv.weight");
        const int64_t len = w->numel / w->shape[0];
        for (int64_t o = 0; o < w->shape[0]; o++) {
            double dot = 0.0, nw = 0.0, ng = 0.0;
            for (int64_t j = 0; j < len; j++) {
                dot += (double)w->data[o * len + j] * (double)w->grad[o * len + j];
                nw += (double)w->data[o * len + j] * (double)w->data[o * len + j];
                ng += (double)w->grad[o * len + j] * (double)w->grad[o * len + j];
            }
            if (k == 1) cr_expect(fabs(nw - 1.0) < 1e-5, "row %lld has norm^2 %g", (long long)o, nw);
            const double cosine = fabs(dot) / (sqrt(nw * ng) + 1e-30);
            if (cosine > radial[k]) radial[k] = cosine;
        }
    }
    cr_expect(rel_diff(out[1], out[0]) < 1e-5, "outputs %g apart", rel_diff(out[1], out[0]));
    cr_expect(radial[0] < 1e-4, "through the normalisation: radial part %g", radial[0]);
    cr_expect(radial[1] > 1e-2, "in place: radial part %g", radial[1]);
    for (int k = 0; k < 2; k++) {
        gm_model_free(m[k]);
        gm_ctx_free(ctx[k]);
    }
    gm_arena_free(a);
}

/* --- wallpaper groups: images lifted to p4 / p4m ------------------------------ */

/* out = the image x (B, C, n*n) moved by v in G = p4:n / p4m:n acting on the
 * torus: out(s) = x(v^-1 s), s a pixel = the coset sH. */
static gm_tensor *act_on_torus(gm_arena *a, const gm_group *g, int32_t v, const gm_tensor *x) {
    gm_tensor *out = NULL;
    cr_assert_eq(gm_tensor_new(a, x->ndim, x->shape, &out), GM_OK, "%s", gm_error_detail());
    const int64_t np = x->shape[2];
    const int32_t vinv = gm_group_inv(g, v);
    for (int64_t p = 0; p < x->numel / np; p++)
        for (int64_t s = 0; s < np; s++)
            out->data[p * np + s] = x->data[p * np + gm_group_mul(g, vinv, (int32_t)s) % np];
    return out;
}

static double max_torus_defect(gm_model *m, gm_ctx *ctx, gm_arena *a, const gm_tensor *x,
                               int64_t nelems, const int32_t *elems) {
    gm_tensor *y0 = forward_eval(m, ctx, (gm_tensor *)x);
    double worst = 0.0;
    for (int64_t i = 0; i < nelems; i++) {
        gm_tensor *yv = forward_eval(m, ctx, act_on_torus(a, gm_model_group(m), elems[i], x));
        const double d = rel_diff(yv, y0);
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

/* A deep GM-CNN on p4:8 / p4m:8 reads 8x8 images: it lifts them to the group,
 * pools onto p4:4 / p4m:4, and its logits are invariant under the rotations
 * (and reflections) of the torus and its even translations, with LayerNorm
 * and with batch normalisation; every stage of the equivariance report is
 * exact; an LDR model with nonzero position vectors is not. */
Test(nn, wallpaper_gmcnn_lifts_images_and_is_invariant) {
    const char *groups[] = {"p4:8", "p4m:8"};
    for (int gi = 0; gi < 2; gi++)
        for (int norm = 0; norm <= 1; norm++) {
            gm_ctx *ctx = ctx_new();
            gm_arena *a = arena_new();
            gm_rng rng;
            gm_rng_seed(&rng, 4, 0);
            gm_model_desc d = deep_desc(groups[gi], true, false);
            d.in_channels = 1;
            d.norm = norm ? GM_NORM_BATCH : GM_NORM_DEFAULT;
            gm_model *m = model_new(&d, 3);
            const gm_group *g = gm_model_group(m);
            const int64_t points = gm_group_wallpaper_points(g);
            /* the lifting kernel has the 9 translations; the others 9 x |H| */
            cr_expect_eq(param_named(m, "blocks.0.layers.0.conv.weight")->shape[2], 9);
            cr_expect_eq(param_named(m, "blocks.1.layers.0.conv.weight")->shape[2], 9 * points);
            if (norm) {
                /* fresh running statistics would make evaluation an identity:
                 * give them values to test the evaluation path */
                for (int64_t i = 0; i < gm_model_param_count(m); i++) {
                    gm_tensor *t = gm_model_param(m, i);
                    if (!strstr(gm_model_param_name(m, i), "running")) continue;
                    cr_expect(!t->requires_grad, "%s", gm_model_param_name(m, i));
                    for (int64_t j = 0; j < t->numel; j++)
                        t->data[j] = (gm_real)(0.5 + gm_rng_uniform(&rng));
                }
            }
            gm_tensor *x = random_tensor3(a, &rng, 2, 1, 64);
            int32_t hgens[16];
            const int64_t nh = stride2_gens(g, hgens);
            const double dh = max_torus_defect(m, ctx, a, x, nh, hgens);
            const double dg = max_torus_defect(m, ctx, a, x, gm_group_ngens(g), gm_group_gens(g));
            cr_log_info("%s norm %d: defect %.3g under the pooling subgroup, %.3g under G",
                        groups[gi], norm, dh, dg);
            cr_expect(dh <= 1e-5, "%s: defect %g", groups[gi], dh);
            cr_expect(dg > 1e-4, "%s: odd translations after a pool are not symmetries (%g)",
                      groups[gi], dg);
            gm_equiv_report rep;
            cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
            for (int64_t s = 0; s < rep.nstages; s++)
                cr_expect(rep.stages[s].defect <= 1e-5, "%s: stage %s defect %g", groups[gi],
                          rep.stages[s].name, rep.stages[s].defect);
            gm_model_free(m);

            d.ldr_rank = 1;
            m = model_new(&d, 3);
            set_position_vectors(m, &rng, 0.5);
            const double dl = max_torus_defect(m, ctx, a, x, nh, hgens);
            cr_log_info("%s norm %d, LDR rank 1: defect %.3g", groups[gi], norm, dl);
            cr_expect(dl > 1e-3, "%s: LDR defect %g", groups[gi], dl);
            gm_model_free(m);
            gm_arena_free(a);
            gm_ctx_free(ctx);
        }
}

/* out = the image x (B, C, n*n) turned by a quarter turn about its centre
 * (quarter = true: out[a][b] = x[b][n-1-a]) or mirrored (out[a][b] =
 * x[a][n-1-b]): what a user does to an image array. */
static gm_tensor *image_turn(gm_arena *a, const gm_tensor *x, int64_t n, bool quarter) {
    gm_tensor *out = NULL;
    cr_assert_eq(gm_tensor_new(a, x->ndim, x->shape, &out), GM_OK, "%s", gm_error_detail());
    for (int64_t p = 0; p < x->numel / (n * n); p++)
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < n; c++)
                out->data[p * n * n + r * n + c] =
                    quarter ? x->data[p * n * n + c * n + (n - 1 - r)]
                            : x->data[p * n * n + r * n + (n - 1 - c)];
    return out;
}

/* With model.center the logits of a pooled p4m model are invariant under the
 * quarter turns and mirrors of the image about its centre; without it they
 * are invariant under those about pixel (0, 0) only, which differ from the
 * image's by an odd translation that the pooled stages do not keep. */
Test(nn, centred_wallpaper_gmcnn_is_invariant_under_turns_of_the_image) {
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 6, 0);
    gm_tensor *x = random_tensor3(a, &rng, 2, 1, 64);
    double defect[2] = {0, 0};
    for (int center = 0; center <= 1; center++) {
        gm_model_desc d = deep_desc("p4m:8", true, false);
        d.in_channels = 1;
        d.norm = GM_NORM_BATCH;
        d.center = center;
        gm_model *m = model_new(&d, 3);
        gm_tensor *y0 = forward_eval(m, ctx, x);
        for (int quarter = 0; quarter <= 1; quarter++) {
            const double dq = rel_diff(forward_eval(m, ctx, image_turn(a, x, 8, quarter)), y0);
            if (dq > defect[center]) defect[center] = dq;
        }
        gm_equiv_report rep;
        cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
        for (int64_t s = 0; s < rep.nstages; s++)
            cr_expect(rep.stages[s].defect <= 1e-5, "center %d: stage %s defect %g", center,
                      rep.stages[s].name, rep.stages[s].defect);
        gm_model_free(m);
    }
    cr_log_info("image turns: logit defect %.3g without centring, %.3g with", defect[0], defect[1]);
    cr_expect(defect[0] > 1e-3, "without centring: %g", defect[0]);
    cr_expect(defect[1] <= 1e-5, "with centring: %g", defect[1]);
    gm_model_desc bad = deep_desc("p4m:7", false, false);
    bad.center = true;
    gm_model *m = NULL;
    cr_expect_eq(gm_model_new(&bad, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "even"), "%s", gm_error_detail());
    bad = deep_desc("C8xC8", false, false);
    bad.center = true;
    cr_expect_eq(gm_model_new(&bad, 1, &m), GM_ERR_INVALID_ARG);
    gm_arena_free(a);
    gm_ctx_free(ctx);
}

/* --- training --------------------------------------------------------------- */

/* 16 images on the 6x6 torus: a horizontal bar (class 0) or a vertical bar
 * (class 1) of length 3 at a random place, plus a little noise. */
static gm_tensor *bars(gm_arena *a, int32_t *labels) {
    gm_rng rng;
    gm_rng_seed(&rng, 31, 0);
    gm_tensor *x = NULL;
    cr_assert_eq(gm_tensor_new3(a, 16, 1, 36, &x), GM_OK);
    for (int64_t s = 0; s < 16; s++) {
        labels[s] = (int32_t)(s % 2);
        gm_real *img = x->data + s * 36;
        for (int p = 0; p < 36; p++) img[p] = (gm_real)(0.1 * (2.0 * gm_rng_uniform(&rng) - 1.0));
        const int r0 = (int)gm_rng_below(&rng, 6), c0 = (int)gm_rng_below(&rng, 6);
        for (int k = 0; k < 3; k++) {
            const int r = labels[s] ? (r0 + k) % 6 : r0, c = labels[s] ? c0 : (c0 + k) % 6;
            img[r * 6 + c] += 1;
        }
    }
    return x;
}

Test(nn, sgd_steps_reduce_the_loss) {
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN, "C6xC6", 1, 1, 2, 6, 2);
    gm_model *m = model_new(&d, 3);
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    int32_t labels[16];
    gm_tensor *x = bars(a, labels);
    const double lr = 0.1;
    const int steps = 60;
    double first = 0.0, last = 0.0;
    for (int step = 0; step < steps; step++) {
        gm_tensor *logits = NULL, *loss = NULL;
        cr_assert_eq(gm_model_forward(m, ctx, x, &logits), GM_OK, "%s", gm_error_detail());
        cr_assert_eq(gm_op_softmax_xent(ctx, logits, labels, &loss), GM_OK);
        cr_assert_eq(gm_model_zero_grad(m), GM_OK);
        cr_assert_eq(gm_ctx_backward(ctx, loss), GM_OK, "%s", gm_error_detail());
        const double l = (double)loss->data[0];
        cr_assert(isfinite(l));
        if (step == 0) first = l;
        last = l;
        for (int64_t i = 0; i < gm_model_param_count(m); i++) {
            gm_tensor *w = gm_model_param(m, i);
            for (int64_t j = 0; j < w->numel; j++) w->data[j] -= (gm_real)(lr * w->grad[j]);
        }
        gm_ctx_reset(ctx);
    }
    cr_log_info("SGD lr %g, %d full-batch steps on 16 bar images (C6xC6): loss %.4f -> %.4f",
                lr, steps, first, last);
    cr_expect(last < 0.5 * first, "loss %g -> %g", first, last);
    gm_arena_free(a);
    gm_ctx_free(ctx);
    gm_model_free(m);
}

/* --- baselines and errors --------------------------------------------------- */

Test(nn, baselines) {
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 8, 0);

    gm_model_desc d = classifier_desc(GM_MODEL_CNN, "C8xC8", 1, 1, 3, 4, 2);
    d.blocks[0].pool = true;
    d.blocks[1].out_channels = 6;
    gm_model *m = model_new(&d, 1);
    cr_expect_eq(gm_model_num_params(m), (4 * 9 + 4) + (6 * 4 * 9 + 6) + (3 * 6 + 3));
    gm_tensor *x = random_tensor3(a, &rng, 2, 1, 64);
    gm_tensor *y = forward_eval(m, ctx, x);
    cr_expect_eq(y->ndim, 2);
    cr_expect_eq(y->shape[1], 3);
    /* Zero padding and stride-2 pooling: a CNN is not invariant under the torus. */
    gm_equiv_report rep;
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    cr_expect_eq(rep.nstages, 1);
    cr_log_info("CNN baseline on the 8x8 torus: logit defect %.3g", rep.end_to_end);
    cr_expect(rep.end_to_end > 1e-4);
    gm_model_free(m);

    gm_model_desc mlp = {.kind = GM_MODEL_MLP, .in_channels = 2, .out_dim = 3, .hidden = 16,
                         .image_h = 4, .image_w = 5};
    m = model_new(&mlp, 1);
    cr_expect_eq(gm_model_num_params(m), (40 * 16 + 16) + (16 * 3 + 3));
    cr_expect_null(gm_model_group(m));
    x = random_tensor3(a, &rng, 3, 2, 20);
    y = forward_eval(m, ctx, x);
    cr_expect_eq(y->shape[0], 3);
    cr_expect_eq(y->shape[1], 3);
    cr_expect_eq(gm_model_equivariance(m, ctx, x, &rep), GM_ERR_UNSUPPORTED);
    gm_model_free(m);
    gm_arena_free(a);
    gm_ctx_free(ctx);
}

Test(nn, description_errors) {
    gm_model *m = (gm_model *)1;
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN, "Q8", 1, 1, 2, 4, 1);
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_GROUP_SPEC);
    cr_expect_null(m);
    cr_expect(strstr(gm_error_detail(), "model: group") != NULL, "%s", gm_error_detail());

    d = classifier_desc(GM_MODEL_GMCNN, "C4xC4", 1, 1, 2, 4, 0);
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "nblocks") != NULL, "%s", gm_error_detail());

    d = classifier_desc(GM_MODEL_GMCNN, "C4xC4", 1, 1, 2, 4, 1);
    d.blocks[0].num_layers = 0;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "blocks[0].num_layers") != NULL, "%s",
              gm_error_detail());

    d = classifier_desc(GM_MODEL_GMCNN_DEEP, "C7xC8", 1, 1, 2, 4, 2);
    d.blocks[0].pool = true;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_UNSUPPORTED);
    cr_expect(strstr(gm_error_detail(), "blocks[0].pool") != NULL, "%s", gm_error_detail());

    d = classifier_desc(GM_MODEL_GMCNN, "C4xC4", 1, 1, 2, 4, 1);
    d.blocks[0].pool = true;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);

    d = classifier_desc(GM_MODEL_CNN, "C4xC4", 1, 1, 2, 4, 1);
    d.ldr_rank = 1;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);

    d = plume_desc("C4xC4", 1);
    d.blocks[1].out_channels = 9;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "blocks[1].out_channels") != NULL, "%s",
              gm_error_detail());

    d = plume_desc("C4xC4", 1);
    d.modulated = true;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);

    /* A radius that (2t+1)^2 would overflow, on the lifting path. */
    d = deep_desc("p4:4", false, false);
    d.radius = INT64_MAX / 2;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "radius") != NULL, "%s", gm_error_detail());

    d = classifier_desc(GM_MODEL_GMCNN, "C4xC4", 1, 1, 2, 4, 1);
    d.dropout = 1.0;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);

    d = classifier_desc(GM_MODEL_GMCNN, "C4xC4", 1, 1, 2, 4, 1);
    d.group = NULL;
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect_null(m);

    /* Input of the wrong shape. */
    d = classifier_desc(GM_MODEL_GMCNN, "C4xC4", 1, 2, 2, 4, 1);
    m = model_new(&d, 1);
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 1, 0);
    gm_tensor *x = random_tensor3(a, &rng, 1, 3, 16), *y = NULL;
    cr_expect_eq(gm_model_forward(m, ctx, x, &y), GM_ERR_SHAPE);
    cr_expect(strstr(gm_error_detail(), "(B, 2, 16)") != NULL, "%s", gm_error_detail());
    gm_arena_free(a);
    gm_ctx_free(ctx);
    gm_model_free(m);
    gm_model_free(NULL);
}

/* A group without C_n/D_n structure gets the word ball of its generators. */
Test(nn, ball_support_on_other_groups) {
    gm_model_desc d = classifier_desc(GM_MODEL_GMCNN, "S4", 1, 1, 3, 4, 2);
    gm_model *m = model_new(&d, 1);
    /* S4's two generators and their inverses around e: at most 5 elements. */
    const gm_tensor *w = param_named(m, "blocks.0.layers.0.conv.weight");
    cr_expect(w->shape[1] >= 3 && w->shape[1] <= 5, "K = %lld", (long long)w->shape[1]);
    gm_ctx *ctx = ctx_new();
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 1, 0);
    gm_tensor *x = random_tensor3(a, &rng, 2, 1, 24);
    gm_equiv_report rep;
    cr_assert_eq(gm_model_equivariance(m, ctx, x, &rep), GM_OK, "%s", gm_error_detail());
    cr_expect(rep.end_to_end <= 1e-5, "S4 GM-CNN: %g", rep.end_to_end);
    gm_arena_free(a);
    gm_ctx_free(ctx);
    gm_model_free(m);
}

/* Every allocation failure while building or running a model is reported as
 * GM_ERR_NOMEM and leaks nothing (the sanitizer build checks the latter). */
Test(nn, out_of_memory_while_building_and_running) {
    gm_model_desc descs[3] = {deep_desc("D4xD4", true, false), plume_desc("C4xC4", 2),
                              classifier_desc(GM_MODEL_CNN, "C4xC4", 1, 1, 2, 3, 1)};
    for (int i = 0; i < 3; i++) {
        bool built = false;
        for (int64_t n = 0; n < 100000 && !built; n++) {
            gm_model *m = NULL;
            gm_alloc_fail_after(n);
            gm_status st = gm_model_new(&descs[i], 1, &m);
            gm_alloc_fail_after(-1);
            if (st == GM_OK) {
                built = true;
                gm_model_free(m);
            } else {
                cr_assert_eq(st, GM_ERR_NOMEM, "model %d, %lld allocations: %s (%s)", i,
                             (long long)n, gm_strerror(st), gm_error_detail());
                cr_assert_null(m);
            }
        }
        cr_expect(built, "model %d never built", i);
    }
    /* Forward and equivariance with failing step-arena allocations. */
    gm_model *m = model_new(&descs[0], 1);
    gm_arena *a = arena_new();
    gm_rng rng;
    gm_rng_seed(&rng, 1, 0);
    gm_tensor *x = random_tensor3(a, &rng, 1, 2, 64);
    bool ran = false;
    for (int64_t n = 0; n < 100000 && !ran; n++) {
        gm_ctx *ctx = ctx_new();
        gm_equiv_report rep;
        gm_alloc_fail_after(n);
        gm_status st = gm_model_equivariance(m, ctx, x, &rep);
        gm_alloc_fail_after(-1);
        ran = st == GM_OK;
        if (!ran) cr_assert_eq(st, GM_ERR_NOMEM, "%s", gm_error_detail());
        cr_expect(gm_ctx_grad_enabled(ctx) && gm_ctx_training(ctx), "ctx switches restored");
        gm_ctx_free(ctx);
    }
    cr_expect(ran);
    gm_arena_free(a);
    gm_model_free(m);
}

/* --- the equivariance command ------------------------------------------------ */

static char *run_cli(const char *args, int expect_rc) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' equivariance %s", GM_CLI_PATH, args);
    int rc = -1;
    char *out = ts_run(cmd, &rc);
    cr_assert_not_null(out);
    cr_assert_eq(rc, expect_rc, "gmcnn equivariance %s: exit %d, expected %d:\n%s", args, rc,
                 expect_rc, out);
    return out;
}

static double end_to_end_of(const char *out) {
    const char *p = strstr(out, "end-to-end defect ");
    cr_assert_not_null(p, "%s", out);
    return strtod(p + strlen("end-to-end defect "), NULL);
}

Test(nn, equivariance_command) {
    char *out = run_cli("", 0);
    cr_expect(strstr(out, "gmcnn on D4xD4 (order 64)") != NULL, "%s", out);
    cr_expect(strstr(out, "logits") != NULL, "%s", out);
    cr_expect(end_to_end_of(out) <= 1e-5, "%s", out);
    gm_free(out);

    out = run_cli("--model deep --group C8xC8 --blocks 3 --channels 4", 0);
    cr_expect(strstr(out, "blocks.1.pool") != NULL, "%s", out);
    cr_expect(end_to_end_of(out) <= 1e-5, "%s", out);
    gm_free(out);

    /* Images lifted to p4m: exact under the rotations, reflections and
     * translations the pooled stages keep; LDR rank 1 is not. */
    out = run_cli("--model deep --group p4m:8 --channels 4", 0);
    cr_expect(strstr(out, "deep on p4m:8 (order 512)") != NULL, "%s", out);
    cr_expect(end_to_end_of(out) <= 1e-5, "%s", out);
    gm_free(out);
    out = run_cli("--model deep --group p4m:8 --channels 4 --ldr-rank 1", 0);
    cr_expect(end_to_end_of(out) > 1e-3, "%s", out);
    gm_free(out);

    out = run_cli("--model plume --ldr-rank 2 --group C6xC6 --channels 4", 0);
    cr_expect(strstr(out, "ldr rank   2") != NULL, "%s", out);
    cr_expect(end_to_end_of(out) > 1e-2, "%s", out);
    gm_free(out);

    out = run_cli("--help", 0);
    cr_expect(strstr(out, "usage: gmcnn equivariance") != NULL, "%s", out);
    gm_free(out);

    const char *bad[] = {"--bogus", "--model", "--model cnn", "--radius -1", "--blocks 99",
                         "--ldr-rank 1 --modulated", "extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = run_cli(bad[i], 2);
        cr_expect(strncmp(out, "gmcnn: equivariance: ", 21) == 0, "%s: %s", bad[i], out);
        const char *nl = strchr(out, '\n');
        cr_expect(nl && nl[1] == '\0', "%s: one line: %s", bad[i], out);
        gm_free(out);
    }
    out = run_cli("--group p4:5 --model deep", 1);
    cr_expect(strstr(out, "stride-2") != NULL, "%s", out);
    gm_free(out);
    out = run_cli("--group Q8", 1);
    cr_expect(strstr(out, "group spec") != NULL, "%s", out);
    gm_free(out);
}
