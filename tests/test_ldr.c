/* The low displacement rank baselines (GM_MODEL_LDR) in the float build:
 * the ops at the papers' size n = 784 against the double references, the
 * model's forward pass against a direct computation, parameter counts,
 * configs and model descriptions (round trips, rejected values), and
 * `gmcnn info` on a saved model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

static gm_ctx *new_ctx(void) {
    gm_ctx *ctx = NULL;
    OK(gm_ctx_new(0, 1, &ctx));
    return ctx;
}

static gm_model *model_new(const gm_model_desc *d) {
    gm_model *m = NULL;
    OK(gm_model_new(d, 7, &m));
    return m;
}

static gm_model_desc ldr_desc(gm_ldr_structure s, int64_t rank, int64_t c, int64_t h, int64_t w,
                              int64_t classes) {
    return (gm_model_desc){.kind = GM_MODEL_LDR, .structure = s, .ldr_rank = rank,
                           .in_channels = c, .image_h = h, .image_w = w, .out_dim = classes};
}

static gm_tensor *param(gm_model *m, const char *name) {
    for (int64_t i = 0; i < gm_model_param_count(m); i++)
        if (!strcmp(gm_model_param_name(m, i), name)) return gm_model_param(m, i);
    cr_assert_fail("no parameter %s", name);
    return NULL;
}

static double *to_double(const gm_tensor *t) {
    double *p = gm_calloc((size_t)t->numel, sizeof *p);
    cr_assert_not_null(p);
    for (int64_t i = 0; i < t->numel; i++) p[i] = t->data[i];
    return p;
}

/* --- the ops at n = 784 ------------------------------------------------------ */

/* The float ops against the double references, with the model's initial
 * factors and operators perturbed as training would. */
Test(ldr, ops_at_mnist_size_match_the_references, .timeout = 120) {
    const gm_model_desc d = ldr_desc(GM_LDR_TRIDIAG, 1, 1, 28, 28, 10);
    gm_model *m = model_new(&d);
    const int64_t n = 784;
    gm_tensor *g = param(m, "layer.g"), *h = param(m, "layer.h"), *a = param(m, "layer.a"),
              *b = param(m, "layer.b");
    gm_rng rng;
    gm_rng_seed(&rng, 3, 0);
    for (int64_t j = 0; j < 3 * n; j++) {
        a->data[j] += (gm_real)(0.01 * (2.0 * gm_rng_uniform(&rng) - 1.0));
        b->data[j] += (gm_real)(0.01 * (2.0 * gm_rng_uniform(&rng) - 1.0));
    }
    double *gd = to_double(g), *hd = to_double(h), *ad = to_double(a), *bd = to_double(b);
    double *ref = gm_calloc((size_t)(n * n), sizeof *ref), *aa = gm_calloc((size_t)(n * n), 8),
           *bb = gm_calloc((size_t)(n * n), 8);
    cr_assert(ref && aa && bb);
    gm_ctx *ctx = new_ctx();
    gm_ctx_set_grad(ctx, false);

    gm_tensor *y = NULL;
    OK(gm_op_ldr_toeplitz(ctx, g, h, &y));
    gm_gmat_ldr_toeplitz(n, 1, gd, hd, ref);
    double err = ts_rel_diff_ref(n * n, y->data, ref);
    cr_expect(err < 1e-5, "toeplitz: relative difference %g", err);
    /* its displacement in float: Z_1 M - M Z_-1 = g h^T, entry by entry */
    double worst = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            const double zm = y->data[((i + n - 1) % n) * n + j];
            const double mz = j + 1 < n ? y->data[i * n + j + 1] : -(double)y->data[i * n];
            const double gh = gd[i] * hd[j];
            worst = fmax(worst, fabs(zm - mz - gh));
            scale = fmax(scale, fabs(gh));
        }
    cr_expect(worst < 1e-4 * scale, "toeplitz displacement off by %g (scale %g)", worst, scale);

    OK(gm_op_ldr_tridiag(ctx, a, b, g, h, &y));
    gm_gmat_tridiag_dense(n, ad, aa);
    gm_gmat_tridiag_dense(n, bd, bb);
    OK(gm_gmat_ldr_krylov(n, 1, aa, bb, gd, hd, ref));
    err = ts_rel_diff_ref(n * n, y->data, ref);
    cr_expect(err < 1e-4, "tridiag: relative difference %g", err);

    gm_ctx_free(ctx);
    gm_free(gd), gm_free(hd), gm_free(ad), gm_free(bd), gm_free(ref), gm_free(aa), gm_free(bb);
    gm_model_free(m);
}

Test(ldr, op_shape_errors) {
    gm_arena *arena = NULL;
    OK(gm_arena_new(0, &arena));
    gm_tensor *g = NULL, *h = NULL, *a = NULL, *y = NULL;
    OK(gm_tensor_new2(arena, 2, 5, &g));
    OK(gm_tensor_new2(arena, 2, 4, &h));
    OK(gm_tensor_new2(arena, 3, 4, &a));
    gm_ctx *ctx = new_ctx();
    cr_expect_eq(gm_op_ldr_toeplitz(ctx, g, h, &y), GM_ERR_SHAPE);
    cr_expect(strstr(gm_error_detail(), "ldr_toeplitz"), "%s", gm_error_detail());
    cr_expect_null(y);
    cr_expect_eq(gm_op_ldr_tridiag(ctx, a, a, g, g, &y), GM_ERR_SHAPE);
    cr_expect(strstr(gm_error_detail(), "ldr_tridiag: a has shape (3, 4)"), "%s",
              gm_error_detail());
    gm_ctx_free(ctx);
    gm_arena_free(arena);
}

/* --- the model --------------------------------------------------------------- */

/* n = 784, K = 10: the papers' single hidden layer on MNIST. */
Test(ldr, parameter_counts) {
    static const int64_t ranks[] = {1, 4, 16};
    const int64_t n = 784, k = 10, rest = n + (n + 1) * k;
    for (int i = 0; i < 3; i++) {
        const int64_t r = ranks[i];
        gm_model_desc d = ldr_desc(GM_LDR_TOEPLITZ, r, 1, 28, 28, k);
        gm_model *m = model_new(&d);
        cr_expect_eq(gm_model_num_params(m), 2 * n * r + rest, "toeplitz r %lld",
                     (long long)r);
        gm_model_free(m);
        d.structure = GM_LDR_TRIDIAG;
        m = model_new(&d);
        cr_expect_eq(gm_model_num_params(m), 2 * n * r + 6 * n + rest, "tridiag r %lld",
                     (long long)r);
        gm_model_free(m);
    }
    /* the structured layers alone: 1568/6272/25088 and 6272/10976/29792 */
    gm_model_desc d = ldr_desc(GM_LDR_UNSTRUCTURED, 0, 1, 28, 28, k);
    gm_model *m = model_new(&d);
    cr_expect_eq(gm_model_num_params(m), n * n + rest);
    cr_expect_eq(gm_model_num_params(m), 623290);
    static const char *const names[] = {"layer.weight", "layer.bias", "fc.weight", "fc.bias"};
    cr_assert_eq(gm_model_param_count(m), 4);
    for (int i = 0; i < 4; i++) cr_expect_str_eq(gm_model_param_name(m, i), names[i]);
    gm_model_free(m);

    /* rank 0 selects 1, written back into the description */
    d = ldr_desc(GM_LDR_TRIDIAG, 0, 1, 28, 28, k);
    m = model_new(&d);
    cr_expect_eq(gm_model_description(m)->ldr_rank, 1);
    cr_expect_eq(gm_model_num_params(m), 2 * n + 6 * n + rest);
    static const char *const tnames[] = {"layer.g", "layer.h", "layer.a", "layer.b",
                                         "layer.bias", "fc.weight", "fc.bias"};
    cr_assert_eq(gm_model_param_count(m), 7);
    for (int i = 0; i < 7; i++) cr_expect_str_eq(gm_model_param_name(m, i), tnames[i]);
    /* initial operators: A = Z_0, B = Z_0^T */
    const gm_tensor *a = param(m, "layer.a"), *b = param(m, "layer.b");
    cr_expect(a->data[0] == 0 && a->data[1] == 1 && a->data[n - 1] == 1 && a->data[n] == 0);
    cr_expect(b->data[2 * n] == 1 && b->data[3 * n - 2] == 1 && b->data[3 * n - 1] == 0);
    gm_model_free(m);
}

/* The forward pass on a batch (evaluation mode) against the formula with
 * M from the double references: logits = W relu(M x + b) + c. */
Test(ldr, model_forward_on_a_batch) {
    static const gm_ldr_structure structures[] = {GM_LDR_TOEPLITZ, GM_LDR_TRIDIAG,
                                                  GM_LDR_UNSTRUCTURED};
    const int64_t c = 2, hh = 3, ww = 5, n = c * hh * ww, k = 4, batch = 6, r = 3;
    for (int s = 0; s < 3; s++) {
        gm_model_desc d = ldr_desc(structures[s], s == 2 ? 0 : r, c, hh, ww, k);
        d.dropout = 0.5;
        gm_model *m = model_new(&d);
        gm_rng rng;
        gm_rng_seed(&rng, 9, 0);
        for (int64_t i = 0; i < gm_model_param_count(m); i++) {
            gm_tensor *t = gm_model_param(m, i);
            for (int64_t j = 0; j < t->numel; j++)
                t->data[j] += (gm_real)(0.2 * (2.0 * gm_rng_uniform(&rng) - 1.0));
        }
        double *mat = gm_calloc((size_t)(n * n), sizeof *mat);
        cr_assert_not_null(mat);
        if (s == 2) {
            const gm_tensor *w = param(m, "layer.weight");
            for (int64_t j = 0; j < n * n; j++) mat[j] = w->data[j];
        } else {
            double *gd = to_double(param(m, "layer.g")), *hd = to_double(param(m, "layer.h"));
            if (s == 0) {
                gm_gmat_ldr_toeplitz(n, r, gd, hd, mat);
            } else {
                double *ao = to_double(param(m, "layer.a")), *bo = to_double(param(m, "layer.b"));
                double *aa = gm_calloc((size_t)(n * n), 8), *bb = gm_calloc((size_t)(n * n), 8);
                cr_assert(aa && bb);
                gm_gmat_tridiag_dense(n, ao, aa);
                gm_gmat_tridiag_dense(n, bo, bb);
                OK(gm_gmat_ldr_krylov(n, r, aa, bb, gd, hd, mat));
                gm_free(ao), gm_free(bo), gm_free(aa), gm_free(bb);
            }
            gm_free(gd), gm_free(hd);
        }
        gm_arena *arena = NULL;
        OK(gm_arena_new(0, &arena));
        gm_tensor *x = NULL;
        OK(gm_tensor_new3(arena, batch, c, hh * ww, &x));
        ts_fill_real(&rng, x->numel, x->data);
        gm_ctx *ctx = new_ctx();
        gm_ctx_set_training(ctx, false);
        gm_tensor *y = NULL;
        OK(gm_model_forward(m, ctx, x, &y));
        cr_assert_eq(y->ndim, 2);
        cr_assert(y->shape[0] == batch && y->shape[1] == k);

        const gm_tensor *bias = param(m, "layer.bias"), *fw = param(m, "fc.weight"),
                        *fb = param(m, "fc.bias");
        double *want = gm_calloc((size_t)(batch * k), sizeof *want), hid[30];
        cr_assert_not_null(want);
        for (int64_t bi = 0; bi < batch; bi++) {
            for (int64_t i = 0; i < n; i++) {
                double sum = bias->data[i];
                for (int64_t j = 0; j < n; j++) sum += mat[i * n + j] * x->data[bi * n + j];
                hid[i] = sum > 0 ? sum : 0;
            }
            for (int64_t o = 0; o < k; o++) {
                double sum = fb->data[o];
                for (int64_t i = 0; i < n; i++) sum += fw->data[o * n + i] * hid[i];
                want[bi * k + o] = sum;
            }
        }
        const double err = ts_rel_diff_ref(batch * k, y->data, want);
        cr_expect(err < 1e-5, "structure %d: logits off by %g", s, err);
        gm_ctx_free(ctx);
        gm_arena_free(arena);
        gm_free(mat), gm_free(want);
        gm_model_free(m);
    }
}

Test(ldr, descriptions_are_checked) {
    gm_model *m = NULL;
    gm_model_desc d = ldr_desc(GM_LDR_UNSTRUCTURED, 2, 1, 4, 4, 3);
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "ldr_rank 2 does not apply to the unstructured"), "%s",
              gm_error_detail());
    d = ldr_desc(GM_LDR_TOEPLITZ, 1, 1, 4, 4, 3);
    d.nblocks = 1;
    d.blocks[0] = (gm_block_desc){.num_layers = 1, .out_channels = 8};
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "blocks and hidden do not apply"), "%s",
              gm_error_detail());
    d = (gm_model_desc){.kind = GM_MODEL_MLP, .structure = GM_LDR_TRIDIAG, .in_channels = 1,
                        .out_dim = 2, .image_h = 2, .image_w = 2};
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "structure applies to the LDR model only"), "%s",
              gm_error_detail());
    d = ldr_desc((gm_ldr_structure)7, 1, 1, 4, 4, 3);
    cr_expect_eq(gm_model_new(&d, 1, &m), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "structure 7"), "%s", gm_error_detail());
    /* a group gives the image size */
    d = ldr_desc(GM_LDR_TOEPLITZ, 2, 1, 0, 0, 3);
    d.group = "C4xC5";
    OK(gm_model_new(&d, 1, &m));
    cr_expect_eq(gm_model_num_params(m), 2 * 20 * 2 + 20 + 21 * 3);
    cr_expect(gm_model_description(m)->image_h == 4 && gm_model_description(m)->image_w == 5);
    gm_model_free(m);
    cr_expect_null(m = NULL);
}

Test(ldr, description_json_round_trip) {
    gm_model_desc d = ldr_desc(GM_LDR_TRIDIAG, 4, 1, 28, 28, 10);
    d.dropout = 0.3;
    char *json = NULL, *group = NULL;
    OK(gm_model_desc_to_json(&d, &json));
    cr_expect(strstr(json, "\"kind\":\"ldr\""), "%s", json);
    cr_expect(strstr(json, "\"structure\":\"tridiag\""), "%s", json);
    gm_model_desc back;
    OK(gm_model_desc_from_json(json, &back, &group));
    cr_expect_eq(back.kind, GM_MODEL_LDR);
    cr_expect_eq(back.structure, GM_LDR_TRIDIAG);
    cr_expect_eq(back.ldr_rank, 4);
    cr_expect(back.image_h == 28 && back.image_w == 28 && back.dropout == 0.3);
    char *again = NULL;
    OK(gm_model_desc_to_json(&back, &again));
    cr_expect_str_eq(again, json);
    gm_free(json), gm_free(again), gm_free(group);

    /* other kinds do not gain the key */
    gm_model_desc mlp = {.kind = GM_MODEL_MLP, .in_channels = 1, .out_dim = 2, .image_h = 2,
                         .image_w = 2};
    OK(gm_model_desc_to_json(&mlp, &json));
    cr_expect_null(strstr(json, "structure"), "%s", json);
    gm_free(json);
    cr_expect_eq(gm_model_desc_from_json("{\"kind\":\"ldr\",\"structure\":\"circulant\"}", &back,
                                         &group),
                 GM_ERR_FORMAT);
    cr_expect(strstr(gm_error_detail(), "\"structure\""), "%s", gm_error_detail());
}

/* --- configs ------------------------------------------------------------------ */

static gm_config *load_shipped(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/../../configs/%s", GM_FIXTURE_DIR, name);
    gm_config *cfg = NULL;
    OK(gm_config_load(path, &cfg));
    return cfg;
}

Test(ldr, shipped_configs_and_round_trip) {
    static const struct {
        const char *file;
        gm_ldr_structure structure;
        int64_t rank, params;
    } cases[] = {
        {"baseline-ldr-td.yaml", GM_LDR_TRIDIAG, 1, 14906},
        {"baseline-toeplitz.yaml", GM_LDR_TOEPLITZ, 4, 14906},
        {"baseline-unstructured.yaml", GM_LDR_UNSTRUCTURED, 0, 623290},
    };
    for (int i = 0; i < 3; i++) {
        gm_config *cfg = load_shipped(cases[i].file);
        const gm_model_desc *d = gm_config_model(cfg);
        cr_expect_eq(d->kind, GM_MODEL_LDR, "%s", cases[i].file);
        cr_expect_eq(d->structure, cases[i].structure, "%s", cases[i].file);
        cr_expect_eq(d->ldr_rank, cases[i].rank, "%s", cases[i].file);
        cr_expect_eq(d->nblocks, 0, "%s", cases[i].file);
        cr_expect(gm_config_data(cfg)->image_h == 28 && gm_config_data(cfg)->image_w == 28);
        gm_model *m = model_new(d);
        cr_expect_eq(gm_model_num_params(m), cases[i].params, "%s: %lld parameters",
                     cases[i].file, (long long)gm_model_num_params(m));
        gm_model_free(m);

        char *a = NULL, *b = NULL;
        OK(gm_config_to_string(cfg, &a));
        cr_expect(strstr(a, "  kind: ldr\n"), "%s", a);
        cr_expect_null(strstr(a, "blocks"), "%s", a);
        gm_config *again = NULL;
        OK(gm_config_parse(a, "written", &again));
        OK(gm_config_to_string(again, &b));
        cr_expect_str_eq(a, b);
        cr_expect_eq(gm_config_model(again)->structure, cases[i].structure);
        gm_free(a), gm_free(b);
        gm_config_free(again);
        gm_config_free(cfg);
    }
}

static void expect_fail(const char *yaml, const char *frag1, const char *frag2) {
    gm_config *cfg = NULL;
    const gm_status st = gm_config_parse(yaml, "x.yaml", &cfg);
    cr_assert_eq(st, GM_ERR_INVALID_ARG, "got %s (%s) for:\n%s", gm_strerror(st),
                 gm_error_detail(), yaml);
    cr_assert_null(cfg);
    const char *d = gm_error_detail();
    cr_expect_null(strchr(d, '\n'), "detail is one line: %s", d);
    cr_expect(strstr(d, frag1), "'%s' not in '%s'", frag1, d);
    if (frag2) cr_expect(strstr(d, frag2), "'%s' not in '%s'", frag2, d);
}

Test(ldr, config_errors) {
    expect_fail("model:\n  kind: ldr\n  image_h: 4\n  image_w: 4\n  structure: circulant\n",
                "config 'x.yaml' line 5", "model.structure");
    expect_fail("model:\n  kind: ldr\n  image_h: 4\n  image_w: 4\n  structure: 3\n",
                "line 5", "model.structure");
    expect_fail("model:\n  kind: cnn\n  image_h: 4\n  image_w: 4\n  structure: tridiag\n",
                "line 5", "model.structure applies to model.kind ldr only");
    expect_fail("model:\n  kind: ldr\n  image_h: 4\n  image_w: 4\n"
                "  blocks: [{num_layers: 1, out_channels: 3}]\n",
                "line 5", "model.blocks does not apply to model.kind ldr");
    expect_fail("model:\n  kind: ldr\n  image_h: 4\n  image_w: 4\n  structure: unstructured\n"
                "  ldr_rank: 2\n",
                "line 6", "model.ldr_rank does not apply to model.structure unstructured");
    expect_fail("model:\n  kind: ldr\n  image_h: 4\n  image_w: 4\n  hidden: 16\n", "line 5",
                "model.hidden does not apply");
    expect_fail("model:\n  kind: ldr\n  in_channels: 1\n", "model.kind ldr needs", NULL);

    /* overrides */
    gm_config *cfg = load_shipped("baseline-toeplitz.yaml");
    cr_expect_eq(gm_config_set(cfg, "model.structure=banded"), GM_ERR_INVALID_ARG);
    cr_expect(strstr(gm_error_detail(), "model.structure"), "%s", gm_error_detail());
    OK(gm_config_set(cfg, "model.structure=tridiag"));
    cr_expect_eq(gm_config_model(cfg)->structure, GM_LDR_TRIDIAG);
    OK(gm_config_set(cfg, "model.ldr_rank=16"));
    cr_expect_eq(gm_config_model(cfg)->ldr_rank, 16);
    gm_config_free(cfg);
}

/* `gmcnn info` reads the structure and rank from the saved description. */
Test(ldr, info_on_a_saved_model) {
    gm_model_desc d = ldr_desc(GM_LDR_TRIDIAG, 3, 1, 4, 5, 3);
    gm_model *m = model_new(&d);
    char *json = NULL;
    OK(gm_model_desc_to_json(gm_model_description(m), &json));
    const char *dir = ts_temp_dir();
    char path[512], args[600];
    snprintf(path, sizeof path, "%s/ldr.safetensors", dir);
    const char *keys[] = {GM_MODEL_META_KEY}, *values[] = {json};
    OK(gm_safetensors_save_model(path, m, 1, keys, values));
    snprintf(args, sizeof args, "info '%s'", path);
    char *out = ts_cli(args, 0);
    ts_expect_contains(out, "model       ldr");
    ts_expect_contains(out, "structure   tridiag, displacement rank 3, 20 x 20");
    ts_expect_contains(out, "layer.a");
    char total[64];
    snprintf(total, sizeof total, "total %lld", (long long)(2 * 20 * 3 + 6 * 20 + 20 + 21 * 3));
    ts_expect_contains(out, total);
    gm_free(out), gm_free(json);
    ts_rmtree(dir);
    gm_model_free(m);
}
