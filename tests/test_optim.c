/* Optimizers, gradient clipping, learning-rate schedules and early stopping.
 *
 * Expected values come from the PyTorch update rules written out below in
 * double (torch itself is not used); with float storage the library differs
 * from them by rounding of the stored values, so the tolerance depends on
 * gm_real (test_optim_f64.c runs these tests against the float64 build). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

/* Against the double reference: float storage rounds every step. */
#define TOL (sizeof(gm_real) == sizeof(double) ? 1e-12 : 2e-6)

#define NP 2  /* parameters in the small problems */
#define NE 7  /* their total element count: 3 + 2*2 */

typedef struct problem {
    gm_arena *arena;
    gm_tensor *p[NP];
} problem;

/* Two parameters, (3,) and (2, 2), with values in [-1, 1) and zero grads. */
static problem problem_new(uint64_t seed) {
    problem pb;
    OK(gm_arena_new(0, &pb.arena));
    OK(gm_tensor_new1(pb.arena, 3, &pb.p[0]));
    OK(gm_tensor_new2(pb.arena, 2, 2, &pb.p[1]));
    gm_rng rng;
    gm_rng_seed(&rng, seed, 1);
    for (int i = 0; i < NP; i++) {
        for (int64_t k = 0; k < pb.p[i]->numel; k++)
            pb.p[i]->data[k] = (gm_real)(2.0 * gm_rng_uniform(&rng) - 1.0);
        OK(gm_tensor_grad_ensure(pb.p[i]));
    }
    return pb;
}

static void problem_free(problem *pb) {
    gm_arena_free(pb->arena);
}

/* A gradient that depends on the step and the parameter value, so that a
 * wrong state (step count, moments) shows up in later steps:
 * g = 0.7*(x - c_k) + 0.3*sin(step + k). */
static double grad_at(int step, int k, double x) {
    const double c = 0.1 * (double)k - 0.3;
    return 0.7 * (x - c) + 0.3 * sin((double)step + (double)k);
}

static void set_grads(problem *pb, int step) {
    int k = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < pb->p[i]->numel; e++, k++)
            pb->p[i]->grad[e] = (gm_real)grad_at(step, k, (double)pb->p[i]->data[e]);
}

static void flatten(const problem *pb, double *x) {
    int k = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < pb->p[i]->numel; e++) x[k++] = (double)pb->p[i]->data[e];
}

/* --- reference PyTorch rules in double --------------------------------------- */

typedef struct ref_state {
    double x[NE], m[NE], v[NE];
    int t;
} ref_state;

/* torch.optim.SGD: d = g + wd*x; b = d (first step) or mom*b + (1-damp)*d;
 * d = nesterov ? d + mom*b : b; x -= lr*d. */
static void ref_sgd_step(const gm_optim_config *c, ref_state *r, int step) {
    r->t++;
    for (int k = 0; k < NE; k++) {
        double d = grad_at(step, k, r->x[k]);
        /* The library rounds the gradient to gm_real before using it. */
        d = (double)(gm_real)d;
        d += c->weight_decay * r->x[k];
        if (c->momentum != 0.0) {
            r->m[k] = r->t == 1 ? d : c->momentum * r->m[k] + (1.0 - c->dampening) * d;
            d = c->nesterov ? d + c->momentum * r->m[k] : r->m[k];
        }
        r->x[k] -= c->lr * d;
    }
}

/* torch.optim.Adam (L2 in the gradient) and torch.optim.AdamW (decoupled). */
static void ref_adam_step(const gm_optim_config *c, ref_state *r, int step) {
    r->t++;
    const double bc1 = 1.0 - pow(c->beta1, r->t);
    const double bc2 = 1.0 - pow(c->beta2, r->t);
    for (int k = 0; k < NE; k++) {
        double g = (double)(gm_real)grad_at(step, k, r->x[k]);
        if (c->kind == GM_OPTIM_ADAMW)
            r->x[k] *= 1.0 - c->lr * c->weight_decay;
        else
            g += c->weight_decay * r->x[k];
        r->m[k] = c->beta1 * r->m[k] + (1.0 - c->beta1) * g;
        r->v[k] = c->beta2 * r->v[k] + (1.0 - c->beta2) * g * g;
        const double denom = sqrt(r->v[k]) / sqrt(bc2) + c->eps;
        r->x[k] -= (c->lr / bc1) * r->m[k] / denom;
    }
}

static void check_against_reference(const gm_optim_config *cfg, int steps, const char *what) {
    problem pb = problem_new(11);
    ref_state r;
    memset(&r, 0, sizeof r);
    flatten(&pb, r.x);
    gm_optim *o = NULL;
    OK(gm_optim_new(cfg, NP, pb.p, &o));
    for (int s = 0; s < steps; s++) {
        /* The grads of step s are computed at the current (stored) parameters;
         * the reference uses its own, which agree to TOL. */
        set_grads(&pb, s);
        OK(gm_optim_step(o));
        if (cfg->kind == GM_OPTIM_SGD)
            ref_sgd_step(cfg, &r, s);
        else
            ref_adam_step(cfg, &r, s);
        double x[NE];
        flatten(&pb, x);
        for (int k = 0; k < NE; k++)
            cr_assert(fabs(x[k] - r.x[k]) <= TOL * (1.0 + fabs(r.x[k])),
                      "%s: step %d element %d: %.17g vs reference %.17g", what, s + 1, k, x[k],
                      r.x[k]);
    }
    for (int i = 0; i < NP; i++) cr_assert_eq(gm_optim_param_steps(o, i), steps);
    gm_optim_free(o);
    problem_free(&pb);
}

/* --- update rules -------------------------------------------------------------- */

Test(optim_rules, sgd_variants_match_the_torch_rules) {
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_SGD);
    c.lr = 0.1;
    check_against_reference(&c, 6, "sgd plain");
    c.weight_decay = 0.05;
    check_against_reference(&c, 6, "sgd weight decay");
    c.momentum = 0.9;
    c.dampening = 0.25;
    check_against_reference(&c, 6, "sgd momentum + dampening");
    c.dampening = 0.0;
    c.nesterov = true;
    check_against_reference(&c, 6, "sgd nesterov");
}

Test(optim_rules, adam_and_adamw_match_the_torch_rules) {
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_ADAM);
    c.lr = 0.05;
    check_against_reference(&c, 8, "adam");
    c.weight_decay = 0.1;
    check_against_reference(&c, 8, "adam L2");
    c.beta1 = 0.5;
    c.beta2 = 0.9;
    c.eps = 1e-3;
    check_against_reference(&c, 8, "adam betas/eps");
    gm_optim_config w = gm_optim_config_default(GM_OPTIM_ADAMW);
    check_against_reference(&w, 8, "adamw reference defaults");
    w.weight_decay = 0.5;
    check_against_reference(&w, 8, "adamw strong decay");
}

/* One scalar parameter p0 = 1 with a constant gradient. */
static double run_scalar(const gm_optim_config *c, double g, int steps) {
    gm_arena *a = NULL;
    gm_tensor *p = NULL;
    OK(gm_arena_new(0, &a));
    OK(gm_tensor_new1(a, 1, &p));
    OK(gm_tensor_grad_ensure(p));
    p->data[0] = 1;
    gm_optim *o = NULL;
    OK(gm_optim_new(c, 1, &p, &o));
    for (int s = 0; s < steps; s++) {
        p->grad[0] = (gm_real)g;
        OK(gm_optim_step(o));
    }
    const double x = (double)p->data[0];
    gm_optim_free(o);
    gm_arena_free(a);
    return x;
}

Test(optim_rules, hand_computed_values) {
    const double tol = sizeof(gm_real) == sizeof(double) ? 1e-15 : 1e-7;
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_SGD);
    c.lr = 0.1;
    c.momentum = 0.9;
    /* lr 0.1, g = 1: b = 1, 1.9, 2.71 -> p = 0.9, 0.71, 0.439 */
    cr_assert(fabs(run_scalar(&c, 1.0, 1) - 0.9) < tol);
    cr_assert(fabs(run_scalar(&c, 1.0, 2) - 0.71) < tol);
    cr_assert(fabs(run_scalar(&c, 1.0, 3) - 0.439) < tol);
    /* nesterov: d = 1 + 0.9*b: 1.9, 2.71 -> p = 0.81, 0.539 */
    c.nesterov = true;
    cr_assert(fabs(run_scalar(&c, 1.0, 1) - 0.81) < tol);
    cr_assert(fabs(run_scalar(&c, 1.0, 2) - 0.539) < tol);
    /* dampening 0.5 (no nesterov): b = 1, 0.9 + 0.5 = 1.4 -> p = 0.9, 0.76 */
    c.nesterov = false;
    c.dampening = 0.5;
    cr_assert(fabs(run_scalar(&c, 1.0, 2) - 0.76) < tol);

    /* Adam with a constant gradient: m_hat = g, v_hat = g^2, so every step
     * moves by lr * g / (|g| + eps). */
    gm_optim_config a = gm_optim_config_default(GM_OPTIM_ADAM);
    a.lr = 0.1;
    cr_assert(fabs(run_scalar(&a, 2.0, 1) - (1.0 - 0.1 * 2.0 / (2.0 + 1e-8))) < tol);
    cr_assert(fabs(run_scalar(&a, 2.0, 3) - (1.0 - 3 * 0.1 * 2.0 / (2.0 + 1e-8))) < 4 * tol);
}

Test(optim_rules, adam_l2_and_adamw_decoupled_decay_differ) {
    /* Zero gradient, weight decay 0.5, lr 0.1, p0 = 1. AdamW: the moments stay
     * zero, so only the decay acts: p = (1 - 0.05)^t. Adam: the decay is the
     * gradient d = 0.5*p, normalised by Adam to a step of about lr. */
    const double tol = sizeof(gm_real) == sizeof(double) ? 1e-15 : 1e-7;
    gm_optim_config w = gm_optim_config_default(GM_OPTIM_ADAMW);
    w.lr = 0.1;
    w.weight_decay = 0.5;
    cr_assert(fabs(run_scalar(&w, 0.0, 1) - 0.95) < tol);
    cr_assert(fabs(run_scalar(&w, 0.0, 2) - 0.9025) < tol);
    gm_optim_config a = w;
    a.kind = GM_OPTIM_ADAM;
    cr_assert(fabs(run_scalar(&a, 0.0, 1) - (1.0 - 0.1 * 0.5 / (0.5 + 1e-8))) < tol);
    /* Without decay, Adam and AdamW are the same update. */
    w.weight_decay = a.weight_decay = 0.0;
    cr_assert_eq(run_scalar(&w, 0.3, 5), run_scalar(&a, 0.3, 5));
}

Test(optim_rules, nesterov_and_plain_momentum_differ) {
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_SGD);
    c.lr = 0.1;
    c.momentum = 0.9;
    const double plain = run_scalar(&c, 1.0, 4);
    c.nesterov = true;
    const double nest = run_scalar(&c, 1.0, 4);
    /* With a constant gradient nesterov looks ahead and moves further. */
    cr_assert_lt(nest, plain);
    c.momentum = 0.0;
    c.nesterov = false;
    cr_assert(fabs(run_scalar(&c, 1.0, 4) - 0.6) < 1e-6, "no momentum: 4 plain steps");
}

/* Minimises f(x) = 0.5 * sum a_k (x_k - c_k)^2 and returns max |x - c|. */
static double bowl(const gm_optim_config *cfg, int steps) {
    problem pb = problem_new(5);
    gm_optim *o = NULL;
    OK(gm_optim_new(cfg, NP, pb.p, &o));
    double err = 0;
    for (int s = 0; s < steps; s++) {
        int k = 0;
        for (int i = 0; i < NP; i++)
            for (int64_t e = 0; e < pb.p[i]->numel; e++, k++) {
                const double a = 0.5 + 0.25 * k, c = 0.2 * k - 0.5;
                pb.p[i]->grad[e] = (gm_real)(a * ((double)pb.p[i]->data[e] - c));
            }
        OK(gm_optim_step(o));
    }
    int k = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < pb.p[i]->numel; e++, k++)
            err = fmax(err, fabs((double)pb.p[i]->data[e] - (0.2 * k - 0.5)));
    gm_optim_free(o);
    problem_free(&pb);
    return err;
}

Test(optim_rules, quadratic_bowl_is_minimised) {
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_SGD);
    c.lr = 0.1;
    cr_assert_lt(bowl(&c, 400), 1e-4, "sgd");
    c.momentum = 0.9;
    cr_assert_lt(bowl(&c, 400), 1e-4, "sgd momentum");
    c.nesterov = true;
    cr_assert_lt(bowl(&c, 400), 1e-4, "sgd nesterov");
    gm_optim_config a = gm_optim_config_default(GM_OPTIM_ADAM);
    a.lr = 0.01;
    cr_assert_lt(bowl(&a, 2000), 1e-3, "adam");
    gm_optim_config w = gm_optim_config_default(GM_OPTIM_ADAMW);
    w.lr = 0.01;
    w.weight_decay = 0.0;
    cr_assert_lt(bowl(&w, 2000), 1e-3, "adamw");
    /* With the reference decay the minimum shifts slightly towards zero. */
    w.weight_decay = 0.0153;
    cr_assert_lt(bowl(&w, 2000), 0.05, "adamw with decay");
}

Test(optim_rules, parameters_without_grad_are_untouched) {
    gm_arena *a = NULL;
    gm_tensor *p[2];
    OK(gm_arena_new(0, &a));
    OK(gm_tensor_new1(a, 2, &p[0]));
    OK(gm_tensor_new1(a, 2, &p[1]));
    p[0]->data[0] = 1, p[0]->data[1] = 2;
    p[1]->data[0] = 3, p[1]->data[1] = 4;
    OK(gm_tensor_grad_ensure(p[0]));
    p[0]->grad[0] = 1, p[0]->grad[1] = 1;
    const gm_optim_kind kinds[3] = {GM_OPTIM_SGD, GM_OPTIM_ADAM, GM_OPTIM_ADAMW};
    for (int ki = 0; ki < 3; ki++) {
        gm_optim_config c = gm_optim_config_default(kinds[ki]);
        c.weight_decay = 0.1;
        if (kinds[ki] == GM_OPTIM_SGD) c.momentum = 0.9;
        gm_optim *o = NULL;
        OK(gm_optim_new(&c, 2, p, &o));
        for (int s = 0; s < 3; s++) OK(gm_optim_step(o));
        cr_assert_eq(p[1]->data[0], 3);
        cr_assert_eq(p[1]->data[1], 4);
        cr_assert_null(p[1]->grad);
        cr_assert_eq(gm_optim_param_steps(o, 0), 3);
        cr_assert_eq(gm_optim_param_steps(o, 1), 0);
        gm_optim_zero_grad(o);
        cr_assert_null(p[1]->grad, "zero_grad leaves a NULL grad NULL");
        cr_assert_eq(p[0]->grad[0], 0);
        p[0]->grad[0] = 1, p[0]->grad[1] = 1;
        gm_optim_free(o);
    }

    /* A parameter that gets its first gradient late starts at step 1 (bias
     * correction of a first step): it moves exactly like under a fresh
     * optimizer. */
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_ADAM);
    gm_optim *o = NULL;
    OK(gm_optim_new(&c, 2, p, &o));
    OK(gm_optim_step(o));
    OK(gm_optim_step(o));
    OK(gm_tensor_grad_ensure(p[1]));
    p[1]->grad[0] = 0.5;
    p[1]->grad[1] = -2;
    OK(gm_optim_step(o));
    cr_assert_eq(gm_optim_param_steps(o, 1), 1);
    /* First Adam step: x -= lr * g / (|g| + eps). */
    cr_assert((double)p[1]->data[0] == (double)(gm_real)(3.0 - 1e-3 * 0.5 / (0.5 + 1e-8)));
    cr_assert((double)p[1]->data[1] == (double)(gm_real)(4.0 + 1e-3 * 2.0 / (2.0 + 1e-8)));
    gm_optim_free(o);
    gm_arena_free(a);
}

Test(optim_rules, learning_rate_is_settable) {
    problem pb = problem_new(3);
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_ADAMW);
    gm_optim *o = NULL;
    OK(gm_optim_new(&c, NP, pb.p, &o));
    cr_assert_eq(gm_optim_lr(o), 0.004);
    OK(gm_optim_set_lr(o, 0.5));
    cr_assert_eq(gm_optim_lr(o), 0.5);
    cr_assert_eq(gm_optim_get_config(o)->lr, 0.004);
    cr_assert_eq(gm_optim_set_lr(o, -1), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "lr"));
    cr_assert_eq(gm_optim_set_lr(o, NAN), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_optim_lr(o), 0.5, "a refused rate leaves the old one");
    cr_assert_eq(gm_optim_param_count(o), NP);
    cr_assert_eq(gm_optim_param(o, 1), pb.p[1]);
    cr_assert_null(gm_optim_param(o, NP));
    /* lr 0 freezes SGD without decay. */
    gm_optim_free(o);
    gm_optim_config s = gm_optim_config_default(GM_OPTIM_SGD);
    s.lr = 0;
    OK(gm_optim_new(&s, NP, pb.p, &o));
    const gm_real before = pb.p[0]->data[0];
    set_grads(&pb, 0);
    OK(gm_optim_step(o));
    cr_assert_eq(pb.p[0]->data[0], before);
    gm_optim_free(o);
    gm_optim_free(NULL);
    problem_free(&pb);
}

/* --- configuration errors --------------------------------------------------------- */

typedef struct bad_config {
    gm_optim_kind kind;
    const char *field;
    void (*mutate)(gm_optim_config *c);
} bad_config;

static void m_lr_neg(gm_optim_config *c) { c->lr = -0.1; }
static void m_lr_nan(gm_optim_config *c) { c->lr = NAN; }
static void m_wd_neg(gm_optim_config *c) { c->weight_decay = -1e-3; }
static void m_wd_inf(gm_optim_config *c) { c->weight_decay = INFINITY; }
static void m_mom_neg(gm_optim_config *c) { c->momentum = -0.5; }
static void m_damp_nan(gm_optim_config *c) { c->dampening = NAN; }
static void m_nest_nomom(gm_optim_config *c) { c->nesterov = true; }
static void m_nest_damp(gm_optim_config *c) {
    c->nesterov = true;
    c->momentum = 0.9;
    c->dampening = 0.1;
}
static void m_b1_one(gm_optim_config *c) { c->beta1 = 1.0; }
static void m_b1_neg(gm_optim_config *c) { c->beta1 = -0.1; }
static void m_b2_one(gm_optim_config *c) { c->beta2 = 1.0; }
static void m_b2_nan(gm_optim_config *c) { c->beta2 = NAN; }
static void m_eps_zero(gm_optim_config *c) { c->eps = 0.0; }
static void m_eps_neg(gm_optim_config *c) { c->eps = -1e-8; }
static void m_kind(gm_optim_config *c) { c->kind = (gm_optim_kind)7; }

Test(optim_config, invalid_fields_are_named) {
    const bad_config cases[] = {
        {GM_OPTIM_SGD, "lr", m_lr_neg},          {GM_OPTIM_ADAMW, "lr", m_lr_nan},
        {GM_OPTIM_SGD, "weight_decay", m_wd_neg}, {GM_OPTIM_ADAM, "weight_decay", m_wd_inf},
        {GM_OPTIM_SGD, "momentum", m_mom_neg},    {GM_OPTIM_SGD, "dampening", m_damp_nan},
        {GM_OPTIM_SGD, "nesterov", m_nest_nomom}, {GM_OPTIM_SGD, "nesterov", m_nest_damp},
        {GM_OPTIM_ADAM, "beta1", m_b1_one},       {GM_OPTIM_ADAMW, "beta1", m_b1_neg},
        {GM_OPTIM_ADAM, "beta2", m_b2_one},       {GM_OPTIM_ADAMW, "beta2", m_b2_nan},
        {GM_OPTIM_ADAM, "eps", m_eps_zero},       {GM_OPTIM_ADAMW, "eps", m_eps_neg},
        {GM_OPTIM_SGD, "kind", m_kind},
    };
    problem pb = problem_new(1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_optim_config c = gm_optim_config_default(cases[i].kind);
        OK(gm_optim_config_check(&c));
        cases[i].mutate(&c);
        cr_assert_eq(gm_optim_config_check(&c), GM_ERR_INVALID_ARG, "case %zu", i);
        gm_optim *o = (gm_optim *)&pb; /* must be reset to NULL on failure */
        cr_assert_eq(gm_optim_new(&c, NP, pb.p, &o), GM_ERR_INVALID_ARG, "case %zu", i);
        cr_assert_null(o);
        cr_assert_not_null(strstr(gm_error_detail(), cases[i].field),
                           "case %zu: detail '%s' names '%s'", i, gm_error_detail(),
                           cases[i].field);
    }
    /* Fields a kind does not use are not checked. */
    gm_optim_config s = gm_optim_config_default(GM_OPTIM_SGD);
    s.eps = 0;
    s.beta1 = 2;
    OK(gm_optim_config_check(&s));
    gm_optim_config a = gm_optim_config_default(GM_OPTIM_ADAM);
    a.momentum = -1;
    a.nesterov = true;
    OK(gm_optim_config_check(&a));
    cr_assert_eq(gm_optim_config_check(NULL), GM_ERR_INVALID_ARG);
    problem_free(&pb);
}

Test(optim_config, invalid_parameter_lists) {
    problem pb = problem_new(1);
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_ADAM);
    gm_optim *o = NULL;
    cr_assert_eq(gm_optim_new(&c, 0, pb.p, &o), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "parameter count"));
    cr_assert_eq(gm_optim_new(&c, 1, NULL, &o), GM_ERR_INVALID_ARG);
    gm_tensor *with_null[2] = {pb.p[0], NULL};
    cr_assert_eq(gm_optim_new(&c, 2, with_null, &o), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "parameter 1"));
    gm_tensor *twice[3] = {pb.p[0], pb.p[1], pb.p[0]};
    cr_assert_eq(gm_optim_new(&c, 3, twice, &o), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "parameter 2 is also parameter 0"));
    cr_assert_eq(gm_optim_new(&c, NP, pb.p, NULL), GM_ERR_INVALID_ARG);
    cr_assert_null(o);
    cr_assert_str_eq(gm_optim_kind_name(GM_OPTIM_ADAMW), "adamw");
    cr_assert_null(gm_optim_kind_name((gm_optim_kind)9));
    problem_free(&pb);
}

Test(optim_config, defaults) {
    gm_optim_config w = gm_optim_config_default(GM_OPTIM_ADAMW);
    cr_assert_eq(w.lr, 0.004);
    cr_assert_eq(w.weight_decay, 0.0153);
    cr_assert_eq(w.beta1, 0.9);
    cr_assert_eq(w.beta2, 0.999);
    cr_assert_eq(w.eps, 1e-8);
    gm_optim_config a = gm_optim_config_default(GM_OPTIM_ADAM);
    cr_assert_eq(a.lr, 1e-3);
    cr_assert_eq(a.weight_decay, 0.0);
    gm_optim_config s = gm_optim_config_default(GM_OPTIM_SGD);
    cr_assert_eq(s.momentum, 0.0);
    cr_assert(!s.nesterov);
}

Test(optim_config, out_of_memory_is_reported_without_leaks) {
    problem pb = problem_new(2);
    const gm_optim_kind kinds[3] = {GM_OPTIM_SGD, GM_OPTIM_ADAM, GM_OPTIM_ADAMW};
    for (int ki = 0; ki < 3; ki++) {
        gm_optim_config c = gm_optim_config_default(kinds[ki]);
        c.momentum = 0.5;
        bool succeeded = false;
        for (int64_t n = 0; n < 64 && !succeeded; n++) {
            gm_alloc_fail_after(n);
            gm_optim *o = NULL;
            gm_status st = gm_optim_new(&c, NP, pb.p, &o);
            gm_alloc_fail_after(-1);
            if (st == GM_OK) {
                succeeded = true;
                OK(gm_optim_step(o));
                gm_optim_free(o);
            } else {
                cr_assert_eq(st, GM_ERR_NOMEM, "after %lld allocations: %s", (long long)n,
                             gm_error_detail());
                cr_assert_null(o);
            }
        }
        cr_assert(succeeded);
    }
    problem_free(&pb);
}

/* --- state listing, save and restore ---------------------------------------------- */

Test(optim_state, listing_names_and_shapes) {
    problem pb = problem_new(4);
    gm_optim *o = NULL;
    gm_optim_state e;

    gm_optim_config s = gm_optim_config_default(GM_OPTIM_SGD);
    OK(gm_optim_new(&s, NP, pb.p, &o));
    cr_assert_eq(gm_optim_state_count(o), 2, "plain SGD keeps only step and lr");
    gm_optim_free(o);

    s.momentum = 0.9;
    OK(gm_optim_new(&s, NP, pb.p, &o));
    cr_assert_eq(gm_optim_state_count(o), 2 + NP);
    OK(gm_optim_state_get(o, 2, &e));
    cr_assert_str_eq(e.name, "sgd.momentum.0");
    cr_assert_eq(e.numel, 3);
    OK(gm_optim_state_get(o, 3, &e));
    cr_assert_str_eq(e.name, "sgd.momentum.1");
    cr_assert_eq(e.ndim, 2);
    cr_assert_eq(e.shape[0], 2);
    cr_assert_eq(e.shape[1], 2);
    cr_assert_eq(e.tensor->data, e.data);
    gm_optim_free(o);

    gm_optim_config a = gm_optim_config_default(GM_OPTIM_ADAMW);
    OK(gm_optim_new(&a, NP, pb.p, &o));
    const char *names[] = {"step", "lr", "adam.m.0", "adam.v.0", "adam.m.1", "adam.v.1"};
    const gm_optim_dtype types[] = {GM_OPTIM_DTYPE_I64,  GM_OPTIM_DTYPE_F64,
                                    GM_OPTIM_DTYPE_REAL, GM_OPTIM_DTYPE_REAL,
                                    GM_OPTIM_DTYPE_REAL, GM_OPTIM_DTYPE_REAL};
    cr_assert_eq(gm_optim_state_count(o), 6);
    for (int64_t i = 0; i < 6; i++) {
        OK(gm_optim_state_get(o, i, &e));
        cr_assert_str_eq(e.name, names[i]);
        cr_assert_eq(e.dtype, types[i]);
        cr_assert_eq(e.tensor == NULL, e.dtype != GM_OPTIM_DTYPE_REAL);
    }
    OK(gm_optim_state_find(o, "step", &e));
    cr_assert_eq(e.ndim, 1);
    cr_assert_eq(e.numel, NP);
    OK(gm_optim_state_find(o, "lr", &e));
    cr_assert_eq(e.ndim, 0);
    cr_assert_eq(e.numel, 1);
    cr_assert_eq(*(double *)e.data, 0.004);
    cr_assert_eq(gm_optim_state_find(o, "adam.m.2", &e), GM_ERR_NOT_FOUND);
    cr_assert_not_null(strstr(gm_error_detail(), "adam.m.2"));
    cr_assert_eq(gm_optim_state_get(o, 6, &e), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_optim_state_get(o, -1, &e), GM_ERR_INVALID_ARG);

    /* Restored state is checked. */
    OK(gm_optim_state_validate(o));
    OK(gm_optim_state_find(o, "step", &e));
    ((int64_t *)e.data)[1] = -3;
    cr_assert_eq(gm_optim_state_validate(o), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "step"));
    ((int64_t *)e.data)[1] = 0;
    OK(gm_optim_state_find(o, "lr", &e));
    *(double *)e.data = NAN;
    cr_assert_eq(gm_optim_state_validate(o), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "lr"));
    gm_optim_free(o);
    problem_free(&pb);
}

/* A saved buffer: name and bytes. */
typedef struct saved_buf {
    char name[64];
    size_t bytes;
    unsigned char *data;
} saved_buf;

static size_t dtype_size(gm_optim_dtype t) {
    return t == GM_OPTIM_DTYPE_REAL ? sizeof(gm_real) : 8;
}

/* Training loop shared by the uninterrupted and the resumed runs: parameter
 * 1 gets no gradient before step 3 (per-parameter step counts), the plateau
 * schedule sees a noisy loss and lowers the rate on the way. */
static void train_steps(problem *pb, gm_optim *o, gm_lr_sched *sched, int from, int to) {
    for (int s = from; s < to; s++) {
        set_grads(pb, s);
        gm_real *keep = pb->p[1]->grad;
        if (s < 3) pb->p[1]->grad = NULL;
        OK(gm_optim_step(o));
        pb->p[1]->grad = keep;
        const double loss = 1.0 / (1.0 + s) + (s % 2 ? 0.3 : 0.0) + (s > 6 ? 1.0 : 0.0);
        OK(gm_lr_sched_step(sched, loss, o));
    }
}

static void check_resume(const gm_optim_config *cfg) {
    const int total = 16, cut = 7;
    gm_lr_sched_config pc = gm_lr_sched_config_default(GM_LR_PLATEAU);
    pc.patience = 1;

    /* Uninterrupted. */
    problem a = problem_new(9);
    gm_optim *oa = NULL;
    gm_lr_sched sa;
    OK(gm_optim_new(cfg, NP, a.p, &oa));
    OK(gm_lr_sched_init(&sa, &pc, cfg->lr));
    train_steps(&a, oa, &sa, 0, total);
    cr_assert_lt(gm_optim_lr(oa), cfg->lr, "the schedule lowered the rate");

    /* Interrupted at `cut`: save parameters, optimizer buffers and the
     * schedule state; rebuild everything from scratch; restore; continue. */
    problem b = problem_new(9);
    gm_optim *ob = NULL;
    gm_lr_sched sb;
    OK(gm_optim_new(cfg, NP, b.p, &ob));
    OK(gm_lr_sched_init(&sb, &pc, cfg->lr));
    train_steps(&b, ob, &sb, 0, cut);
    gm_real saved_params[NE];
    int k = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < b.p[i]->numel; e++) saved_params[k++] = b.p[i]->data[e];
    const int64_t nbuf = gm_optim_state_count(ob);
    saved_buf bufs[16];
    cr_assert_leq(nbuf, 16);
    for (int64_t i = 0; i < nbuf; i++) {
        gm_optim_state e;
        OK(gm_optim_state_get(ob, i, &e));
        snprintf(bufs[i].name, sizeof bufs[i].name, "%s", e.name);
        bufs[i].bytes = (size_t)e.numel * dtype_size(e.dtype);
        bufs[i].data = gm_malloc(bufs[i].bytes);
        cr_assert_not_null(bufs[i].data);
        memcpy(bufs[i].data, e.data, bufs[i].bytes);
    }
    const gm_lr_sched_state saved_sched = sb.state;
    gm_optim_free(ob);
    problem_free(&b);

    problem c = problem_new(12345); /* different initial values, overwritten */
    k = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < c.p[i]->numel; e++) c.p[i]->data[e] = saved_params[k++];
    gm_optim *oc = NULL;
    gm_lr_sched sc;
    OK(gm_optim_new(cfg, NP, c.p, &oc));
    OK(gm_lr_sched_init(&sc, &pc, cfg->lr));
    sc.state = saved_sched;
    for (int64_t i = 0; i < nbuf; i++) {
        gm_optim_state e;
        OK(gm_optim_state_find(oc, bufs[i].name, &e));
        cr_assert_eq((size_t)e.numel * dtype_size(e.dtype), bufs[i].bytes);
        memcpy(e.data, bufs[i].data, bufs[i].bytes);
        gm_free(bufs[i].data);
    }
    OK(gm_optim_state_validate(oc));
    train_steps(&c, oc, &sc, cut, total);

    for (int i = 0; i < NP; i++) {
        cr_assert_eq(memcmp(a.p[i]->data, c.p[i]->data, (size_t)a.p[i]->numel * sizeof(gm_real)),
                     0, "%s: parameter %d differs after resuming", gm_optim_kind_name(cfg->kind),
                     i);
        cr_assert_eq(gm_optim_param_steps(oa, i), gm_optim_param_steps(oc, i));
    }
    cr_assert_eq(gm_optim_lr(oa), gm_optim_lr(oc));
    cr_assert_eq(memcmp(&sa.state, &sc.state, sizeof sa.state), 0);
    gm_optim_free(oa);
    gm_optim_free(oc);
    problem_free(&a);
    problem_free(&c);
}

Test(optim_state, save_restore_mid_run_is_bit_identical) {
    gm_optim_config s = gm_optim_config_default(GM_OPTIM_SGD);
    s.lr = 0.05;
    s.momentum = 0.9;
    s.nesterov = true;
    s.weight_decay = 0.01;
    check_resume(&s);
    gm_optim_config a = gm_optim_config_default(GM_OPTIM_ADAM);
    a.weight_decay = 0.01;
    check_resume(&a);
    gm_optim_config w = gm_optim_config_default(GM_OPTIM_ADAMW);
    check_resume(&w);
}

/* --- gradient clipping ---------------------------------------------------------- */

Test(optim_clip, scales_to_the_max_norm) {
    problem pb = problem_new(1);
    /* grads (3, 0, 0) and (0, 4, 0, 12): total norm 13. */
    memset(pb.p[0]->grad, 0, 3 * sizeof(gm_real));
    memset(pb.p[1]->grad, 0, 4 * sizeof(gm_real));
    pb.p[0]->grad[0] = 3;
    pb.p[1]->grad[1] = 4;
    pb.p[1]->grad[3] = 12;
    double total = 0;
    OK(gm_clip_grad_norm(NP, pb.p, 1.0, &total));
    cr_assert_eq(total, 13.0);
    const double coef = 1.0 / (13.0 + 1e-6);
    const double tol = sizeof(gm_real) == sizeof(double) ? 1e-15 : 1e-7;
    cr_assert(fabs((double)pb.p[0]->grad[0] - 3 * coef) < tol);
    cr_assert(fabs((double)pb.p[1]->grad[1] - 4 * coef) < tol);
    cr_assert(fabs((double)pb.p[1]->grad[3] - 12 * coef) < tol);
    OK(gm_clip_grad_norm(NP, pb.p, 1.0, &total));
    cr_assert(fabs(total - 1.0) < 1e-6, "norm after clipping %g", total);

    /* Small norms show the 1e-6 in the denominator: total 1e-3, max 1e-4
     * gives coef 1e-4 / (1e-3 + 1e-6), about 0.1% below 0.1. */
    pb.p[0]->grad[0] = (gm_real)6e-4;
    pb.p[1]->grad[1] = (gm_real)8e-4;
    pb.p[1]->grad[3] = 0;
    OK(gm_clip_grad_norm(NP, pb.p, 1e-4, &total));
    const double c2 = 1e-4 / (total + 1e-6);
    cr_assert(fabs(total - 1e-3) < 1e-9);
    cr_assert(fabs((double)pb.p[1]->grad[1] - (double)(gm_real)8e-4 * c2) < 1e-7 * 8e-5);
    problem_free(&pb);
}

Test(optim_clip, small_gradients_and_missing_grads_are_left_alone) {
    problem pb = problem_new(2);
    set_grads(&pb, 0);
    gm_real before[4];
    memcpy(before, pb.p[1]->grad, sizeof before);
    /* A parameter without a grad neither contributes nor breaks anything. */
    pb.p[0]->grad = NULL;
    double total = 0;
    OK(gm_clip_grad_norm(NP, pb.p, 100.0, &total));
    double expect = 0;
    for (int k = 0; k < 4; k++) expect += (double)before[k] * (double)before[k];
    cr_assert(fabs(total - sqrt(expect)) < 1e-12);
    cr_assert_eq(memcmp(before, pb.p[1]->grad, sizeof before), 0);
    /* max_norm == total: coef = total/(total + 1e-6) < 1 still scales, as in
     * PyTorch (a relative change of about 1e-6, visible in float). */
    OK(gm_clip_grad_norm(NP, pb.p, total, NULL));
    int big = 0;
    for (int k = 1; k < 4; k++)
        if (fabs((double)before[k]) > fabs((double)before[big])) big = k;
    cr_assert_lt(fabs((double)pb.p[1]->grad[big]), fabs((double)before[big]));
    /* No grads at all: norm 0. */
    pb.p[1]->grad = NULL;
    OK(gm_clip_grad_norm(NP, pb.p, 1.0, &total));
    cr_assert_eq(total, 0.0);
    OK(gm_clip_grad_norm(0, NULL, 1.0, &total));
    problem_free(&pb);
}

Test(optim_clip, non_finite_norm_is_a_numeric_error) {
    problem pb = problem_new(3);
    set_grads(&pb, 0);
    pb.p[1]->grad[2] = (gm_real)NAN;
    gm_real before[3];
    memcpy(before, pb.p[0]->grad, sizeof before);
    double total = 0;
    cr_assert_eq(gm_clip_grad_norm(NP, pb.p, 1.0, &total), GM_ERR_NUMERIC);
    cr_assert(isnan(total));
    cr_assert_not_null(strstr(gm_error_detail(), "parameter 1"), "%s", gm_error_detail());
    cr_assert_not_null(strstr(gm_error_detail(), "element 2"), "%s", gm_error_detail());
    cr_assert_eq(memcmp(before, pb.p[0]->grad, sizeof before), 0, "untouched on error");
    pb.p[1]->grad[2] = (gm_real)INFINITY;
    cr_assert_eq(gm_clip_grad_norm(NP, pb.p, 1.0, &total), GM_ERR_NUMERIC);
    cr_assert(isinf(total));
    pb.p[1]->grad[2] = 0;
    cr_assert_eq(gm_clip_grad_norm(NP, pb.p, 0.0, NULL), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "max_norm"));
    cr_assert_eq(gm_clip_grad_norm(NP, pb.p, NAN, NULL), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_clip_grad_norm(-1, pb.p, 1.0, NULL), GM_ERR_INVALID_ARG);
    problem_free(&pb);
}

/* --- schedules ---------------------------------------------------------------------- */

static gm_lr_sched plateau(int64_t patience, int64_t cooldown, double min_lr, double base) {
    gm_lr_sched_config c = gm_lr_sched_config_default(GM_LR_PLATEAU);
    c.patience = patience;
    c.cooldown = cooldown;
    c.min_lr = min_lr;
    gm_lr_sched s;
    OK(gm_lr_sched_init(&s, &c, base));
    return s;
}

Test(optim_sched, plateau_reduces_after_patience_plus_one_bad_epochs) {
    gm_lr_sched_config d = gm_lr_sched_config_default(GM_LR_PLATEAU);
    cr_assert_eq(d.factor, 0.7);
    cr_assert_eq(d.patience, 5);
    cr_assert_eq(d.threshold, 1e-4);
    cr_assert_eq(d.threshold_mode, GM_THRESHOLD_REL);
    cr_assert_eq(d.mode, GM_SCHED_MIN);
    cr_assert_eq(d.cooldown, 0);
    cr_assert_eq(d.min_lr, 0.0);

    problem pb = problem_new(1);
    gm_optim_config oc = gm_optim_config_default(GM_OPTIM_ADAMW);
    gm_optim *o = NULL;
    OK(gm_optim_new(&oc, NP, pb.p, &o));
    gm_lr_sched s = plateau(5, 0, 0.0, 0.004);
    /* Epoch 1 sets best; epochs 2..7 are 6 = patience + 1 bad epochs. */
    OK(gm_lr_sched_step(&s, 1.0, o));
    for (int e = 2; e <= 6; e++) {
        OK(gm_lr_sched_step(&s, 1.0, o));
        cr_assert_eq(gm_lr_sched_lr(&s), 0.004, "epoch %d", e);
        cr_assert_eq(s.state.num_bad_epochs, e - 1);
    }
    OK(gm_lr_sched_step(&s, 1.0, o));
    cr_assert_eq(gm_lr_sched_lr(&s), 0.004 * 0.7);
    cr_assert_eq(gm_optim_lr(o), 0.004 * 0.7, "the rate reaches the optimizer");
    cr_assert_eq(s.state.num_bad_epochs, 0);
    cr_assert_eq(s.state.epoch, 7);
    /* The count restarts: the next reduction is 6 bad epochs later. */
    for (int e = 8; e <= 12; e++) OK(gm_lr_sched_step(&s, 1.0, o));
    cr_assert_eq(gm_lr_sched_lr(&s), 0.004 * 0.7);
    OK(gm_lr_sched_step(&s, 1.0, o));
    cr_assert_eq(gm_lr_sched_lr(&s), 0.004 * 0.7 * 0.7);
    gm_optim_free(o);
    problem_free(&pb);
}

Test(optim_sched, plateau_threshold_is_relative) {
    gm_lr_sched s = plateau(0, 0, 0.0, 1.0);
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(s.state.best, 1.0);
    /* 0.99995 is not below 1*(1 - 1e-4): a bad epoch; patience 0 reduces. */
    OK(gm_lr_sched_step(&s, 0.99995, NULL));
    cr_assert_eq(s.state.best, 1.0);
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7);
    /* 0.9998 < 0.9999 improves. */
    OK(gm_lr_sched_step(&s, 0.9998, NULL));
    cr_assert_eq(s.state.best, 0.9998);
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7);
    /* NaN is never better. */
    OK(gm_lr_sched_step(&s, NAN, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7 * 0.7);

    /* abs mode, and max mode. */
    gm_lr_sched_config c = gm_lr_sched_config_default(GM_LR_PLATEAU);
    c.patience = 0;
    c.threshold = 0.1;
    c.threshold_mode = GM_THRESHOLD_ABS;
    OK(gm_lr_sched_init(&s, &c, 1.0));
    OK(gm_lr_sched_step(&s, 5.0, NULL));
    OK(gm_lr_sched_step(&s, 4.95, NULL)); /* not below 4.9 */
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7);
    OK(gm_lr_sched_step(&s, 4.85, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7);
    c.mode = GM_SCHED_MAX;
    c.threshold_mode = GM_THRESHOLD_REL;
    c.threshold = 0.01;
    OK(gm_lr_sched_init(&s, &c, 1.0));
    OK(gm_lr_sched_step(&s, 0.5, NULL));
    cr_assert_eq(s.state.best, 0.5);
    OK(gm_lr_sched_step(&s, 0.504, NULL)); /* not above 0.505 */
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7);
    OK(gm_lr_sched_step(&s, 0.51, NULL));
    cr_assert_eq(s.state.best, 0.51);
    cr_assert_eq(gm_lr_sched_lr(&s), 0.7);
}

Test(optim_sched, plateau_min_lr_and_eps) {
    gm_lr_sched s = plateau(0, 0, 6e-4, 1e-3);
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 1e-3 * 0.7);
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 6e-4, "clamped to min_lr");
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 6e-4);
    /* A change smaller than eps (1e-8) is not applied. */
    s = plateau(0, 0, 0.0, 2e-8);
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 2e-8);
}

Test(optim_sched, plateau_cooldown) {
    /* patience 1, cooldown 2, constant metric: reductions at epochs 3 and 7
     * (cooldown swallows epochs 4 and 5); without cooldown at 3, 5, 7. */
    const int with_cd[] = {3, 7};
    const int without[] = {3, 5, 7};
    for (int variant = 0; variant < 2; variant++) {
        gm_lr_sched s = plateau(1, variant == 0 ? 2 : 0, 0.0, 1.0);
        const int *at = variant == 0 ? with_cd : without;
        const int nat = variant == 0 ? 2 : 3;
        int seen = 0;
        double lr = 1.0;
        for (int e = 1; e <= 8; e++) {
            OK(gm_lr_sched_step(&s, 1.0, NULL));
            const bool reduced = gm_lr_sched_lr(&s) < lr;
            const bool expect = seen < nat && at[seen] == e;
            cr_assert_eq(reduced, expect, "variant %d epoch %d", variant, e);
            if (reduced) seen++;
            lr = gm_lr_sched_lr(&s);
        }
        cr_assert_eq(seen, nat);
    }
}

Test(optim_sched, step_and_cosine_closed_forms) {
    gm_lr_sched_config c = gm_lr_sched_config_default(GM_LR_STEP);
    c.step_size = 3;
    c.gamma = 0.5;
    gm_lr_sched s;
    OK(gm_lr_sched_init(&s, &c, 0.1));
    const double step_expect[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125};
    for (int e = 0; e < 10; e++) {
        cr_assert_eq(gm_lr_sched_lr(&s), step_expect[e], "epoch %d: %.17g", e,
                     gm_lr_sched_lr(&s));
        cr_assert_eq(gm_lr_sched_lr_at(&s, e), step_expect[e]);
        OK(gm_lr_sched_step(&s, 0.0, NULL));
    }

    c = gm_lr_sched_config_default(GM_LR_COSINE);
    c.t_max = 10;
    c.eta_min = 0.001;
    OK(gm_lr_sched_init(&s, &c, 0.1));
    const double pi = 3.14159265358979323846;
    for (int e = 0; e <= 20; e++) {
        const double expect = 0.001 + (0.1 - 0.001) * (1 + cos(pi * e / 10.0)) / 2;
        cr_assert(fabs(gm_lr_sched_lr(&s) - expect) < 1e-16, "epoch %d", e);
        OK(gm_lr_sched_step(&s, 0.0, NULL));
    }
    cr_assert(fabs(gm_lr_sched_lr_at(&s, 0) - 0.1) < 1e-16);
    cr_assert(fabs(gm_lr_sched_lr_at(&s, 5) - 0.0505) < 1e-15);
    cr_assert(fabs(gm_lr_sched_lr_at(&s, 10) - 0.001) < 1e-16);

    c = gm_lr_sched_config_default(GM_LR_CONSTANT);
    OK(gm_lr_sched_init(&s, &c, 0.3));
    for (int e = 0; e < 5; e++) OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(gm_lr_sched_lr(&s), 0.3);
    cr_assert_str_eq(gm_lr_sched_kind_name(GM_LR_PLATEAU), "plateau");
    cr_assert_null(gm_lr_sched_kind_name((gm_lr_sched_kind)42));
}

Test(optim_sched, invalid_configs_name_the_field) {
    struct {
        gm_lr_sched_kind kind;
        const char *field;
        int which;
    } cases[] = {
        {GM_LR_STEP, "step_size", 0},      {GM_LR_STEP, "gamma", 1},
        {GM_LR_COSINE, "t_max", 2},        {GM_LR_COSINE, "eta_min", 3},
        {GM_LR_PLATEAU, "factor", 4},      {GM_LR_PLATEAU, "factor", 5},
        {GM_LR_PLATEAU, "patience", 6},    {GM_LR_PLATEAU, "threshold", 7},
        {GM_LR_PLATEAU, "cooldown", 8},    {GM_LR_PLATEAU, "min_lr", 9},
        {GM_LR_PLATEAU, "mode", 10},       {GM_LR_PLATEAU, "threshold_mode", 11},
        {(gm_lr_sched_kind)9, "kind", 12}, {GM_LR_PLATEAU, "base_lr", 13},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_lr_sched_config c = gm_lr_sched_config_default(cases[i].kind);
        double base = 0.1;
        switch (cases[i].which) {
        case 0: c.step_size = 0; break;
        case 1: c.gamma = -0.5; break;
        case 2: c.t_max = 0; break;
        case 3: c.eta_min = NAN; break;
        case 4: c.factor = 1.0; break;
        case 5: c.factor = -0.1; break;
        case 6: c.patience = -1; break;
        case 7: c.threshold = -1e-4; break;
        case 8: c.cooldown = -2; break;
        case 9: c.min_lr = -1; break;
        case 10: c.mode = (gm_sched_mode)5; break;
        case 11: c.threshold_mode = (gm_threshold_mode)5; break;
        case 12: break;
        case 13: base = -1; break;
        }
        gm_lr_sched s;
        cr_assert_eq(gm_lr_sched_init(&s, &c, base), GM_ERR_INVALID_ARG, "case %zu", i);
        cr_assert_not_null(strstr(gm_error_detail(), cases[i].field), "case %zu: '%s'", i,
                           gm_error_detail());
    }
}

Test(optim_sched, early_stopping_triggers_at_the_right_epoch) {
    gm_early_stop e;
    OK(gm_early_stop_init(&e, GM_SCHED_MIN, 3, 0.01));
    /* Best 0.85 at epoch 4 (0.895 is within min_delta of 0.9; 0.849.. are
     * within min_delta of 0.85): bad epochs 5, 6, 7 -> stop at epoch 7. */
    const double v[] = {1.0, 0.9, 0.895, 0.85, 0.849, 0.848, 0.847, 0.5};
    const bool improved[] = {true, true, false, true, false, false, false};
    for (int i = 0; i < 7; i++) {
        const bool stop = gm_early_stop_update(&e, v[i]);
        cr_assert_eq(e.improved, improved[i], "epoch %d", i + 1);
        cr_assert_eq(stop, i == 6, "epoch %d", i + 1);
    }
    cr_assert_eq(e.best, 0.85);
    cr_assert_eq(e.best_epoch, 4);
    cr_assert(gm_early_stop_update(&e, v[7]), "stop is sticky");

    OK(gm_early_stop_init(&e, GM_SCHED_MAX, 2, 0.0));
    cr_assert(!gm_early_stop_update(&e, 0.5));
    cr_assert(!gm_early_stop_update(&e, 0.6));
    cr_assert(!gm_early_stop_update(&e, 0.6)); /* equal is no improvement */
    cr_assert(!gm_early_stop_update(&e, 0.7)); /* improves, count resets */
    cr_assert(!gm_early_stop_update(&e, NAN));
    cr_assert(gm_early_stop_update(&e, 0.1));
    cr_assert_eq(e.best_epoch, 4);

    cr_assert_eq(gm_early_stop_init(&e, GM_SCHED_MIN, 0, 0.0), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "patience"));
    cr_assert_eq(gm_early_stop_init(&e, GM_SCHED_MIN, 3, -0.1), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "min_delta"));
    cr_assert_eq(gm_early_stop_init(&e, (gm_sched_mode)3, 3, 0.1), GM_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(gm_error_detail(), "mode"));
}

/* --- weight decay on weights only, warm-up ------------------------------------ */

Test(optim_rules, decay_weights_spares_vectors) {
    const gm_optim_kind kinds[3] = {GM_OPTIM_SGD, GM_OPTIM_ADAM, GM_OPTIM_ADAMW};
    for (int ki = 0; ki < 3; ki++) {
        for (int scope = 0; scope < 2; scope++) {
            gm_arena *a = NULL;
            gm_tensor *p[2];
            OK(gm_arena_new(0, &a));
            OK(gm_tensor_new1(a, 3, &p[0]));
            OK(gm_tensor_new2(a, 2, 2, &p[1]));
            for (int i = 0; i < 3; i++) p[0]->data[i] = (gm_real)(1 + i);
            for (int i = 0; i < 4; i++) p[1]->data[i] = (gm_real)(1 + i);
            OK(gm_tensor_grad_ensure(p[0]));
            OK(gm_tensor_grad_ensure(p[1]));
            gm_optim_config c = gm_optim_config_default(kinds[ki]);
            c.weight_decay = 0.1;
            c.lr = 0.1;
            c.decay = scope ? GM_DECAY_WEIGHTS : GM_DECAY_ALL;
            gm_optim *o = NULL;
            OK(gm_optim_new(&c, 2, p, &o));
            for (int s = 0; s < 3; s++) OK(gm_optim_step(o));
            /* Zero gradients: only decay moves a parameter. */
            for (int i = 0; i < 3; i++) {
                if (scope)
                    cr_assert_eq(p[0]->data[i], (gm_real)(1 + i), "%s bias moved",
                                 gm_optim_kind_name(kinds[ki]));
                else
                    cr_assert_lt(p[0]->data[i], (gm_real)(1 + i));
            }
            for (int i = 0; i < 4; i++) cr_assert_lt(p[1]->data[i], (gm_real)(1 + i));
            gm_optim_free(o);
            gm_arena_free(a);
        }
    }
    gm_optim_config c = gm_optim_config_default(GM_OPTIM_ADAMW);
    c.decay = (gm_decay_scope)5;
    cr_assert_eq(gm_optim_config_check(&c), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "decay"), "%s", gm_error_detail());
}

Test(optim_sched, warmup_ramps_then_cosine_reaches_eta_min) {
    gm_lr_sched_config c = gm_lr_sched_config_default(GM_LR_COSINE);
    c.t_max = 10;
    c.eta_min = 0.001;
    c.warmup_epochs = 2;
    gm_lr_sched s;
    OK(gm_lr_sched_init(&s, &c, 0.1));
    cr_assert(gm_lr_sched_per_step(&s));
    const int64_t spe = 5; /* steps per epoch: 10 warm-up steps, 50 in all */
    for (int64_t i = 0; i < 10; i++)
        cr_assert_float_eq(gm_lr_sched_lr_at_step(&s, i, spe), 0.1 * (double)(i + 1) / 10.0,
                           1e-15, "warm-up step %lld", (long long)i);
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 9, spe), 0.1);
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 10, spe), 0.1);
    cr_assert_float_eq(gm_lr_sched_lr_at_step(&s, 30, spe), 0.001 + 0.099 * 0.5, 1e-15);
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 50, spe), 0.001);
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 70, spe), 0.001);
    double prev = 1.0;
    for (int64_t i = 10; i < 50; i++) {
        const double lr = gm_lr_sched_lr_at_step(&s, i, spe);
        cr_assert_leq(lr, prev);
        prev = lr;
    }
    /* Epoch ends count but leave the rate to the steps. */
    OK(gm_lr_sched_step(&s, 1.0, NULL));
    cr_assert_eq(s.state.epoch, 1);
    cr_assert_eq(gm_lr_sched_lr(&s), 0.1);

    gm_lr_sched_config k = gm_lr_sched_config_default(GM_LR_CONSTANT);
    k.warmup_epochs = 1;
    OK(gm_lr_sched_init(&s, &k, 0.5));
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 0, 4), 0.125);
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 3, 4), 0.5);
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 100, 4), 0.5);
    /* Without warm-up the per-step form is the per-epoch closed form. */
    c.warmup_epochs = 0;
    OK(gm_lr_sched_init(&s, &c, 0.1));
    cr_assert(!gm_lr_sched_per_step(&s));
    cr_assert_eq(gm_lr_sched_lr_at_step(&s, 17, 5), gm_lr_sched_lr_at(&s, 3));
}

Test(optim_sched, warmup_config_errors) {
    gm_lr_sched s;
    gm_lr_sched_config c = gm_lr_sched_config_default(GM_LR_COSINE);
    c.t_max = 3;
    c.warmup_epochs = 3;
    cr_assert_eq(gm_lr_sched_init(&s, &c, 0.1), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "warmup_epochs"), "%s", gm_error_detail());
    c = gm_lr_sched_config_default(GM_LR_PLATEAU);
    c.warmup_epochs = 1;
    cr_assert_eq(gm_lr_sched_init(&s, &c, 0.1), GM_ERR_INVALID_ARG);
    c = gm_lr_sched_config_default(GM_LR_CONSTANT);
    c.warmup_epochs = -1;
    cr_assert_eq(gm_lr_sched_init(&s, &c, 0.1), GM_ERR_INVALID_ARG);
}
