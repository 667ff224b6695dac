/* The YAML run config: shipped configs, reference keys, overrides, round
 * trips and the rejection of malformed files with the line in the detail. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmcnn/config.h"
#include "test_support.h"

#define CONFIG_DIR GM_FIXTURE_DIR "/../../configs/"

static gm_config *load(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s%s", CONFIG_DIR, name);
    gm_config *cfg = NULL;
    OK(gm_config_load(path, &cfg));
    return cfg;
}

static gm_config *parse(const char *yaml) {
    gm_config *cfg = NULL;
    OK(gm_config_parse(yaml, "t.yaml", &cfg));
    return cfg;
}

/* Parsing must fail with `status` and a detail containing each of the
 * fragments (NULL-terminated). */
static void expect_fail(const char *yaml, gm_status status, const char *frag1, const char *frag2) {
    gm_config *cfg = NULL;
    gm_status st = gm_config_parse(yaml, "t.yaml", &cfg);
    cr_assert_eq(st, status, "expected %s, got %s (%s) for:\n%s", gm_strerror(status),
                 gm_strerror(st), gm_error_detail(), yaml);
    cr_assert_null(cfg);
    const char *d = gm_error_detail();
    cr_assert_null(strchr(d, '\n'), "detail is one line: %s", d);
    cr_assert(strstr(d, frag1), "'%s' not in detail '%s'", frag1, d);
    if (frag2) cr_assert(strstr(d, frag2), "'%s' not in detail '%s'", frag2, d);
}

static const char *const shipped[] = {
    "cifar10.yaml",       "mnist-noise.yaml",      "mnist-bg-rot.yaml", "rot-mnist.yaml",
    "norb.yaml",          "smallnorb.yaml",        "rectangles-ref.yaml", "mnist-rot-10k.yaml",
    "mnist-noise-10k.yaml", "mnist-bg-rot-10k.yaml", "rectangles.yaml",   "fashion.yaml",
    "fashion-rot.yaml",   "default.yaml",
};

Test(config, every_shipped_config_parses) {
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        gm_config *cfg = load(shipped[i]);
        cr_assert_not_null(gm_config_model(cfg)->group, "%s", shipped[i]);
        gm_config_free(cfg);
    }
}

static void assert_round_trip(gm_config *cfg, const char *what);

/* The models of the accuracy tables: each config builds, round-trips, and
 * has the parameter count its comment and docs/results.md state. */
Test(config, accuracy_configs_build_with_their_parameter_counts) {
    static const struct {
        const char *file;
        int64_t params;
    } cases[] = {
        {"fashion-small.yaml", 49404}, {"rot-p4m.yaml", 80475},     {"rot-cnn.yaml", 81238},
        {"partial-p4.yaml", 25523},    {"partial-cnn.yaml", 27978}, {"noise-gm-tiny.yaml", 1361},
        {"bg-rot-gm-tiny.yaml", 1309},
        {"plume-reference.yaml", 13356}, {"default.yaml", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_config *cfg = load(cases[i].file);
        assert_round_trip(cfg, cases[i].file);
        gm_model *m = NULL;
        cr_assert_eq(gm_model_new(gm_config_model(cfg), 1, &m), GM_OK, "%s: %s", cases[i].file,
                     gm_error_detail());
        if (cases[i].params)
            cr_expect_eq(gm_model_num_params(m), cases[i].params, "%s: %lld parameters",
                         cases[i].file, (long long)gm_model_num_params(m));
        gm_model_free(m);
        gm_config_free(cfg);
    }
}

typedef struct ref_case {
    const char *file;
    const char *spec;
    int64_t radius, batch, epochs, classes, in_channels;
    double dropout;
    int64_t params;
    gm_data_source source;
} ref_case;

static const ref_case refs[] = {
    {"cifar10.yaml", "C32xC32", 3, 256, 100, 10, 3, 0.2, 13691, GM_DATA_CIFAR10},
    {"mnist-noise.yaml", "C28xC28", 3, 128, 20, 10, 1, 0.3, 13451, GM_DATA_AMAT},
    {"mnist-bg-rot.yaml", "D14xD14", 2, 256, 100, 10, 1, 0.3, 25691, GM_DATA_AMAT},
    {"rot-mnist.yaml", "D14xD14", 3, 128, 120, 10, 1, 0.3, 48731, GM_DATA_AMAT},
    {"norb.yaml", "C32xC32", 3, 256, 150, 6, 1, 0.3, 12967, GM_DATA_NORB},
    {"smallnorb.yaml", "C24xC24", 3, 256, 120, 4, 1, 0.3, 12725, GM_DATA_NORB},
    {"rectangles-ref.yaml", "C28xC28", 3, 512, 100, 2, 1, 0.3, 12483, GM_DATA_AMAT},
};

Test(config, reference_configs_match_spec) {
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const ref_case *r = &refs[i];
        gm_config *cfg = load(r->file);
        const gm_model_desc *m = gm_config_model(cfg);
        const gm_fit_options *f = gm_config_fit(cfg);
        cr_assert_str_eq(m->group, r->spec, "%s", r->file);
        cr_assert_eq(m->kind, GM_MODEL_GMCNN);
        cr_assert_eq(m->radius, r->radius, "%s", r->file);
        cr_assert_eq(m->out_dim, r->classes, "%s", r->file);
        cr_assert_eq(m->in_channels, r->in_channels, "%s", r->file);
        cr_assert_eq(m->nblocks, 2);
        for (int b = 0; b < 2; b++) {
            cr_assert_eq(m->blocks[b].num_layers, 1);
            cr_assert_eq(m->blocks[b].out_channels, 120);
        }
        cr_assert_eq(m->dropout, r->dropout, "%s", r->file);
        cr_assert_eq(f->batch_size, r->batch, "%s", r->file);
        cr_assert_eq(gm_config_data(cfg)->batch_size, r->batch);
        cr_assert_eq(f->epochs, r->epochs, "%s", r->file);
        cr_assert_eq(f->seed, 42u);
        cr_assert_eq(f->optim.kind, GM_OPTIM_ADAMW);
        cr_assert_eq(f->optim.lr, 0.004);
        cr_assert_eq(f->optim.weight_decay, 0.0153);
        cr_assert_eq(f->optim.beta1, 0.9);
        cr_assert_eq(f->optim.beta2, 0.999);
        cr_assert_eq(f->sched.kind, GM_LR_PLATEAU);
        cr_assert_eq(f->sched.factor, 0.7);
        cr_assert_eq(f->sched.patience, 5);
        cr_assert_eq(f->sched.mode, GM_SCHED_MIN);
        cr_assert_eq(gm_config_data(cfg)->val_fraction, 0.2);
        cr_assert_eq(gm_config_data(cfg)->source, r->source, "%s", r->file);

        gm_model *model = NULL;
        OK(gm_model_new(m, gm_config_seed(cfg), &model));
        cr_assert_eq(gm_model_num_params(model), r->params, "%s: %lld parameters, SPEC says %lld",
                     r->file, (long long)gm_model_num_params(model), (long long)r->params);
        gm_model_free(model);
        gm_config_free(cfg);
    }
}

Test(config, cifar10_files) {
    gm_config *cfg = load("cifar10.yaml");
    const gm_data_config *d = gm_config_data(cfg);
    cr_assert_eq(d->ntrain_files, 5);
    cr_assert(strstr(d->train_files[4], "data_batch_5.bin"));
    cr_assert(strstr(d->test_images, "test_batch.bin"));
    cr_assert_null(d->train_files[5]);
    gm_config_free(cfg);
}

Test(config, reference_keys_map_to_spec) {
    gm_config *cfg = parse("model: {group: cyclic, order: 28, nbr: 3}\n"
                           "data: {source: generated, kind: rotated, batch_size: 64}\n"
                           "trainer: {max_epochs: 7}\n"
                           "optimizer: {lr: 0.01, weight_decay: 0.1}\n"
                           "scheduler: {factor: 0.5, patience: 2}\nseed: 9\n");
    const gm_model_desc *m = gm_config_model(cfg);
    cr_assert_str_eq(m->group, "C28xC28");
    cr_assert_eq(m->radius, 3);
    cr_assert_eq(gm_config_fit(cfg)->epochs, 7);
    cr_assert_eq(gm_config_fit(cfg)->batch_size, 64);
    cr_assert_eq(gm_config_fit(cfg)->optim.lr, 0.01);
    cr_assert_eq(gm_config_fit(cfg)->optim.weight_decay, 0.1);
    cr_assert_eq(gm_config_fit(cfg)->sched.factor, 0.5);
    cr_assert_eq(gm_config_fit(cfg)->sched.patience, 2);
    cr_assert_eq(gm_config_seed(cfg), 9u);
    gm_config_free(cfg);

    cfg = parse("model: {group: dihedral, order: 14}\ndata: {kind: rotated}\n");
    cr_assert_str_eq(gm_config_model(cfg)->group, "D14xD14");
    gm_config_free(cfg);

    /* model.spec wins over the reference pair. */
    cfg = parse("model: {group: dihedral, order: 14, spec: C5xD3}\ndata: {kind: rotated}\n");
    cr_assert_str_eq(gm_config_model(cfg)->group, "C5xD3");
    gm_config_free(cfg);
}

Test(config, our_keys) {
    gm_config *cfg = parse("model:\n  kind: deep\n  spec: p4:8\n  form: shared\n  pool: mean\n"
                           "  blocks:\n    - {num_layers: 2, out_channels: 8, pool: true}\n"
                           "    - {out_channels: 16}\n"
                           "data:\n  source: idx\n  images: a.gz\n  labels: b.gz\n"
                           "  normalize: yes\n"
                           "optimizer:\n  clip_norm: 1.5\n  kind: sgd\n  momentum: 0.9\n"
                           "  nesterov: true\n"
                           "scheduler: {kind: cosine, t_max: 10, eta_min: 0.001}\n"
                           "early_stopping: {patience: 4}\noutput: {dir: out/x}\n");
    const gm_model_desc *m = gm_config_model(cfg);
    const gm_fit_options *f = gm_config_fit(cfg);
    const gm_data_config *d = gm_config_data(cfg);
    cr_assert_eq(m->kind, GM_MODEL_GMCNN_DEEP);
    cr_assert_str_eq(m->group, "p4:8");
    cr_assert_eq(m->form, GM_CONV_SHARED);
    cr_assert_eq(m->pool_mode, GM_REDUCE_MEAN);
    cr_assert_eq(m->nblocks, 2);
    cr_assert_eq(m->blocks[0].num_layers, 2);
    cr_assert(m->blocks[0].pool);
    cr_assert_eq(m->blocks[1].num_layers, 1);
    cr_assert_eq(m->blocks[1].out_channels, 16);
    cr_assert_eq(d->source, GM_DATA_IDX);
    cr_assert_str_eq(d->train_images, "a.gz");
    cr_assert_str_eq(d->train_labels, "b.gz");
    cr_assert_null(d->test_images);
    cr_assert(d->normalize);
    /* kind is read first, so momentum applies to SGD whatever the order. */
    cr_assert_eq(f->optim.kind, GM_OPTIM_SGD);
    cr_assert_eq(f->optim.momentum, 0.9);
    cr_assert(f->optim.nesterov);
    cr_assert_eq(f->clip_norm, 1.5);
    cr_assert_eq(f->sched.kind, GM_LR_COSINE);
    cr_assert_eq(f->sched.t_max, 10);
    cr_assert_eq(f->early_stop_patience, 4);
    cr_assert_str_eq(gm_config_output_dir(cfg), "out/x");
    gm_config_free(cfg);
}

Test(config, generated_kind_names) {
    gm_config *cfg = parse("model: {spec: C28xC28}\ndata: {kind: fashion-rotated}\n");
    cr_assert_str_eq(gm_config_data(cfg)->gen_kind, "rotated");
    cr_assert_str_eq(gm_config_data(cfg)->gen_digits, "fashion");
    gm_config_free(cfg);
    cfg = parse("model: {spec: C28xC28}\ndata: {kind: noise}\n");
    cr_assert_str_eq(gm_config_data(cfg)->gen_kind, "back-random");
    cr_assert_str_eq(gm_config_data(cfg)->gen_digits, "mnist");
    gm_config_free(cfg);
    expect_fail("model: {spec: C28xC28}\ndata: {kind: fashion, digits: mnist}\n",
                GM_ERR_INVALID_ARG, "line 2", "drop data.digits");
}

Test(config, overrides) {
    gm_config *cfg = load("rot-mnist.yaml");
    OK(gm_config_set(cfg, "model.dropout=0.5"));
    cr_assert_eq(gm_config_model(cfg)->dropout, 0.5);
    OK(gm_config_set(cfg, "trainer.max_epochs=3"));
    cr_assert_eq(gm_config_fit(cfg)->epochs, 3);
    OK(gm_config_set(cfg, "model.blocks=[{num_layers: 1, out_channels: 8}]"));
    cr_assert_eq(gm_config_model(cfg)->nblocks, 1);
    cr_assert_eq(gm_config_model(cfg)->blocks[0].out_channels, 8);
    /* model.order re-resolves the reference's group. */
    OK(gm_config_set(cfg, "model.order=7"));
    cr_assert_str_eq(gm_config_model(cfg)->group, "D7xD7");
    OK(gm_config_set(cfg, "model.spec=C4"));
    cr_assert_str_eq(gm_config_model(cfg)->group, "C4");

    /* Errors name the key; the config is left as it was. */
    cr_assert_eq(gm_config_set(cfg, "model.dropout=1.5"), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "model.dropout"), "%s", gm_error_detail());
    cr_assert(strstr(gm_error_detail(), "override"), "%s", gm_error_detail());
    cr_assert_eq(gm_config_model(cfg)->dropout, 0.5);
    cr_assert_eq(gm_config_set(cfg, "model.blok=1"), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "unknown key 'model.blok'"), "%s", gm_error_detail());
    cr_assert_eq(gm_config_set(cfg, "trainer.max_epochs=many"), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "expected an integer"), "%s", gm_error_detail());
    cr_assert_eq(gm_config_set(cfg, "model.spec=Q9"), GM_ERR_GROUP_SPEC);
    cr_assert_str_eq(gm_config_model(cfg)->group, "C4");
    cr_assert_eq(gm_config_set(cfg, "no_equals"), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_config_set(cfg, "optimizer.momentum=0.9"), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "does not apply"), "%s", gm_error_detail());

    /* A source switch needs its paths: several overrides validate together. */
    cr_assert_eq(gm_config_set(cfg, "data.source=idx"), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_config_data(cfg)->source, GM_DATA_AMAT);
    const char *sets[] = {"data.source=idx", "data.images=i.gz", "data.labels=l.gz"};
    OK(gm_config_set_all(cfg, 3, sets));
    cr_assert_eq(gm_config_data(cfg)->source, GM_DATA_IDX);
    cr_assert_str_eq(gm_config_data(cfg)->train_images, "i.gz");
    cr_assert_null(gm_config_data(cfg)->test_images);
    gm_config_free(cfg);
}

static void assert_round_trip(gm_config *cfg, const char *what) {
    char *a = NULL, *b = NULL;
    OK(gm_config_to_string(cfg, &a));
    gm_config *again = NULL;
    gm_status st = gm_config_parse(a, "written", &again);
    cr_assert_eq(st, GM_OK, "%s: %s\n%s", what, gm_error_detail(), a);
    OK(gm_config_to_string(again, &b));
    cr_assert_str_eq(a, b, "%s", what);
    const gm_model_desc *m1 = gm_config_model(cfg), *m2 = gm_config_model(again);
    cr_assert_str_eq(m1->group, m2->group);
    cr_assert_eq(m1->dropout, m2->dropout);
    cr_assert_eq(m1->nblocks, m2->nblocks);
    for (int64_t i = 0; i < m1->nblocks; i++) {
        cr_assert_eq(m1->blocks[i].num_layers, m2->blocks[i].num_layers);
        cr_assert_eq(m1->blocks[i].out_channels, m2->blocks[i].out_channels);
        cr_assert_eq(m1->blocks[i].pool, m2->blocks[i].pool);
    }
    const gm_fit_options *f1 = gm_config_fit(cfg), *f2 = gm_config_fit(again);
    cr_assert_eq(f1->optim.kind, f2->optim.kind, "%s", what);
    cr_assert_eq(f1->optim.lr, f2->optim.lr, "%s", what);
    cr_assert_eq(f1->optim.weight_decay, f2->optim.weight_decay, "%s", what);
    cr_assert_eq(f1->optim.beta2, f2->optim.beta2, "%s", what);
    cr_assert_eq(f1->optim.eps, f2->optim.eps, "%s", what);
    cr_assert_eq(f1->sched.kind, f2->sched.kind);
    cr_assert_eq(f1->sched.factor, f2->sched.factor);
    cr_assert_eq(f1->seed, f2->seed);
    cr_assert_eq(f1->epochs, f2->epochs);
    cr_assert_eq(f1->batch_size, f2->batch_size);
    gm_free(a);
    gm_free(b);
    gm_config_free(again);
}

Test(config, round_trip) {
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        gm_config *cfg = load(shipped[i]);
        assert_round_trip(cfg, shipped[i]);
        gm_config_free(cfg);
    }
    gm_config *cfg = parse("model: {spec: C3, kind: cnn, image_h: 4, image_w: 4}\n"
                           "data: {source: npy, images: \"we\\\"ird\\\\ \\u00e9\\x01.npy\", "
                           "labels: 'l.npy'}\n"
                           "optimizer: {kind: adam, lr: 0.1, eps: 1.0e-10}\n"
                           "scheduler: {kind: step, step_size: 3, gamma: 0.3}\n");
    cr_assert_str_eq(gm_config_data(cfg)->train_images, "we\"ird\\ \xc3\xa9\x01.npy");
    assert_round_trip(cfg, "odd strings");
    gm_config_free(cfg);

    /* Through a file, as a run directory stores it. */
    cfg = load("default.yaml");
    char path[64];
    snprintf(path, sizeof path, "/tmp/gm_test_config_%d.yaml", (int)getpid());
    OK(gm_config_write(cfg, path));
    gm_config *again = NULL;
    OK(gm_config_load(path, &again));
    char *a = NULL, *b = NULL;
    OK(gm_config_to_string(cfg, &a));
    OK(gm_config_to_string(again, &b));
    cr_assert_str_eq(a, b);
    remove(path);
    gm_free(a);
    gm_free(b);
    gm_config_free(again);
    gm_config_free(cfg);
}

Test(config, malformed) {
    expect_fail("model:\n  spec: C4\n  blocks: [\n", GM_ERR_FORMAT, "line ", "YAML syntax error");
    expect_fail("model:\n  spec: C4\n data: 1\n", GM_ERR_FORMAT, "line 3", NULL);
    expect_fail("model:\n  spec: C4\n  blok: 3\n", GM_ERR_INVALID_ARG, "line 3",
                "unknown key 'model.blok'");
    expect_fail("model:\n  spec: C4\nmodel.dropout: 0.1\n", GM_ERR_INVALID_ARG, "line 3",
                "unknown key");
    expect_fail("seed: 1\nmodel:\n  spec: C4\n  in_channels: three\n", GM_ERR_INVALID_ARG,
                "line 4", "expected an integer");
    expect_fail("model:\n  spec: C4\n  in_channels: \"3\"\n", GM_ERR_INVALID_ARG, "line 3",
                "expected an integer");
    expect_fail("model:\n  spec: C4\n  dropout: [1]\n", GM_ERR_INVALID_ARG, "line 3",
                "expected a finite number");
    expect_fail("model:\n  spec: C4\n  dropout: 1.0\n", GM_ERR_INVALID_ARG, "line 3",
                "model.dropout");
    expect_fail("model:\n  spec: C4\n  dropout: .nan\n", GM_ERR_INVALID_ARG, "line 3", NULL);
    expect_fail("model:\n  spec: C4\n  in_channels: 0\n", GM_ERR_INVALID_ARG, "line 3",
                "out of range");
    expect_fail("model:\n  spec: C4\n  in_channels: 99999999999999999999\n",
                GM_ERR_INVALID_ARG, "line 3", "out of range");
    expect_fail("model:\n  spec: C4\n  modulated: maybe\n", GM_ERR_INVALID_ARG, "line 3",
                "expected a boolean");
    expect_fail("model:\n  kind: gmcnn\n\n  spec: Q7xC3\n", GM_ERR_GROUP_SPEC, "line 4",
                "model.spec");
    expect_fail("model:\n  spec: C4\n  dropout: 0.1\n  dropout: 0.2\n", GM_ERR_INVALID_ARG,
                "line 4", "duplicate key 'model.dropout' (first given at line 3)");
    expect_fail("model:\n  spec: C4\n  nbr: 1\n  radius: 2\n", GM_ERR_INVALID_ARG, "line 4",
                "duplicate key 'model.radius'");
    expect_fail("model: {spec: C4}\nmodel: {spec: C5}\n", GM_ERR_INVALID_ARG, "line 2",
                "duplicate key 'model'");
    expect_fail("model:\n  kind: resnet\n", GM_ERR_INVALID_ARG, "line 2", "gmcnn, plume");
    expect_fail("model:\n  group: cyclic\n", GM_ERR_INVALID_ARG, "line 2", "model.order");
    expect_fail("data: {kind: rotated}\n", GM_ERR_INVALID_ARG, "needs a group", NULL);
    expect_fail("model: {spec: C4}\ndata:\n  source: idx\n  images: a\n", GM_ERR_INVALID_ARG,
                "line 3", "data.labels");
    expect_fail("model: {spec: C4}\ndata:\n  source: amat\n  images: a\n", GM_ERR_INVALID_ARG,
                "line 4", "does not apply to data.source amat");
    expect_fail("model: {spec: C4}\ndata: {kind: spirals}\n", GM_ERR_INVALID_ARG, "line 2",
                "data.kind");
    expect_fail("model: {spec: C4}\ndata: {kind: rotated}\noptimizer:\n  betas: [0.9]\n",
                GM_ERR_INVALID_ARG, "line 4", "optimizer.betas");
    expect_fail("model: {spec: C4}\ndata: {kind: rotated}\noptimizer:\n  kind: sgd\n"
                "  nesterov: true\n",
                GM_ERR_INVALID_ARG, "line 3", "nesterov");
    expect_fail("model: {spec: C4}\ndata: {kind: rotated}\nscheduler:\n  t_max: 4\n",
                GM_ERR_INVALID_ARG, "line 4", "does not apply to scheduler.kind plateau");
    expect_fail("model:\n  spec: C4\n  blocks:\n    - {out_channels: 8, widht: 3}\n",
                GM_ERR_INVALID_ARG, "line 4", "unknown key 'model.blocks[0].widht'");
    expect_fail("model:\n  spec: C4\n  blocks: []\n", GM_ERR_INVALID_ARG, "line 3", "1..16");
    expect_fail("", GM_ERR_INVALID_ARG, "empty", NULL);
    expect_fail("- 1\n- 2\n", GM_ERR_INVALID_ARG, "line 1", "top level");
    expect_fail("model: {spec: C4}\n---\nseed: 1\n", GM_ERR_FORMAT, "second YAML document", NULL);
    expect_fail("model: {spec: C4}\noutput: {dir: ''}\n", GM_ERR_INVALID_ARG, "line 2",
                "must not be empty");
}

Test(config, load_errors) {
    gm_config *cfg = NULL;
    cr_assert_eq(gm_config_load("/nonexistent/x.yaml", &cfg), GM_ERR_IO);
    cr_assert(strstr(gm_error_detail(), "/nonexistent/x.yaml"));
    cr_assert_null(cfg);
}

Test(config, out_of_memory) {
    const char *yaml = "model: {group: dihedral, order: 14}\ndata: {kind: rotated}\n";
    for (int64_t n = 0; n < 400; n++) {
        gm_config *cfg = NULL;
        gm_alloc_fail_after(n);
        gm_status st = gm_config_parse(yaml, "t", &cfg);
        gm_alloc_fail_after(-1);
        if (st == GM_OK) {
            gm_config_free(cfg);
            return;
        }
        cr_assert_eq(st, GM_ERR_NOMEM, "%s", gm_error_detail());
        cr_assert_null(cfg);
    }
    cr_assert_fail("parse never succeeded");
}

/* --- the training recipe -------------------------------------------------------- */

Test(config, recipe_keys_parse_round_trip_and_override) {
    gm_config *cfg = parse("model: {spec: C4xC4}\n"
                           "data: {kind: fashion-rotated, split: official, max_angle: 30,\n"
                           "       val_size: 500, num_train: 1000}\n"
                           "trainer: {max_epochs: 12, label_smoothing: 0.1, select: val_accuracy}\n"
                           "optimizer: {decay: weights}\n"
                           "scheduler: {kind: cosine, warmup_epochs: 2}\n"
                           "augment: {rotate: any, max_angle: 15, flip: both, translate: 3}\n");
    const gm_fit_options *f = gm_config_fit(cfg);
    const gm_data_config *d = gm_config_data(cfg);
    cr_assert(d->gen_official);
    cr_assert_eq(d->gen_max_angle, 30.0);
    cr_assert_eq(d->val_size, 500);
    cr_assert_str_eq(d->gen_digits, "fashion");
    cr_assert_eq(f->label_smoothing, 0.1);
    cr_assert_eq(f->select, GM_SELECT_VAL_ACCURACY);
    cr_assert_eq(f->optim.decay, GM_DECAY_WEIGHTS);
    cr_assert_eq(f->sched.warmup_epochs, 2);
    cr_assert_eq(f->sched.t_max, 12, "cosine spans max_epochs unless t_max is given");
    cr_assert_eq(f->augment.rotate, GM_AUGMENT_ROTATE_ANY);
    cr_assert_eq(f->augment.max_angle, 15.0);
    cr_assert_eq(f->augment.flip, GM_AUGMENT_FLIP_BOTH);
    cr_assert_eq(f->augment.translate, 3);
    assert_round_trip(cfg, "recipe");
    char *text = NULL;
    OK(gm_config_to_string(cfg, &text));
    cr_assert(strstr(text, "augment:\n  rotate: any\n"), "%s", text);
    cr_assert(strstr(text, "val_size: 500"), "%s", text);
    /* Reals in their shortest form that reads back. */
    cr_assert(strstr(text, "  label_smoothing: 0.1\n"), "%s", text);
    cr_assert(strstr(text, "  max_angle: 15.0\n"), "%s", text);
    gm_free(text);
    OK(gm_config_set(cfg, "optimizer.lr=0.004"));
    OK(gm_config_to_string(cfg, &text));
    cr_assert(strstr(text, "  lr: 0.004\n"), "%s", text);
    gm_free(text);

    OK(gm_config_set(cfg, "trainer.max_epochs=20"));
    cr_assert_eq(gm_config_fit(cfg)->sched.t_max, 20);
    OK(gm_config_set(cfg, "augment.rotate=90"));
    cr_assert_eq(gm_config_fit(cfg)->augment.rotate, GM_AUGMENT_ROTATE_90, "%s",
                 gm_error_detail());
    cr_assert_eq(gm_config_set(cfg, "augment.flip=sideways"), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "augment.flip"), "%s", gm_error_detail());
    cr_assert_eq(gm_config_set(cfg, "augment.max_angle=5"), GM_ERR_INVALID_ARG,
                 "needs rotate any");
    OK(gm_config_set(cfg, "data.val_fraction=0.25"));
    cr_assert_eq(gm_config_data(cfg)->val_size, -1);
    OK(gm_config_set(cfg, "data.val_size=100"));
    cr_assert_eq(gm_config_data(cfg)->val_size, 100);
    OK(gm_config_set(cfg, "optimizer.decay=all"));
    OK(gm_config_set(cfg, "trainer.select=val_loss"));
    OK(gm_config_set(cfg, "data.split=pooled"));
    assert_round_trip(cfg, "recipe after overrides");
    gm_config_free(cfg);

    cfg = parse("model: {spec: C4xC4}\ndata: {kind: rotated}\n"
                "scheduler: {kind: cosine, t_max: 7, warmup_epochs: 1}\n");
    cr_assert_eq(gm_config_fit(cfg)->sched.t_max, 7);
    cr_assert_eq(gm_config_data(cfg)->val_size, -1);
    cr_assert(!gm_config_data(cfg)->gen_official);
    gm_config_free(cfg);
    cfg = load("fashion-full.yaml");
    cr_assert_eq(gm_config_data(cfg)->gen_num_train, 60000);
    assert_round_trip(cfg, "fashion-full.yaml");
    gm_config_free(cfg);
}

Test(config, recipe_key_errors_name_line_and_key) {
    const char *m = "model: {spec: C4xC4}\n";
    char y[512];
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\naugment:\n  rotate: sideways\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "augment.rotate");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\naugment:\n  max_angle: 10\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "needs augment.rotate: any");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\naugment:\n  translate: -1\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "augment.translate");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\naugment:\n  colour: 3\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "unknown key 'augment.colour'");
    snprintf(y, sizeof y, "%sdata:\n  kind: rotated\n  split: official\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "data.split official");
    snprintf(y, sizeof y, "%sdata:\n  kind: fashion\n  split: sideways\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "data.split");
    snprintf(y, sizeof y, "%sdata:\n  kind: fashion\n  max_angle: 20\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "data.max_angle");
    snprintf(y, sizeof y, "%sdata:\n  kind: rotated\n  max_angle: 190\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "data.max_angle");
    snprintf(y, sizeof y, "%sdata:\n  kind: rotated\n  val_fraction: 0.1\n  val_size: 10\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "exclude each other");
    snprintf(y, sizeof y, "%sdata:\n  source: idx\n  images: a\n  labels: b\n  split: official\n",
             m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 6", "does not apply to data.source idx");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\ntrainer:\n  label_smoothing: 1.0\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "trainer.label_smoothing");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\ntrainer:\n  select: val_f1\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "trainer.select");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\noptimizer:\n  decay: biases\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "optimizer.decay");
    snprintf(y, sizeof y, "%sdata: {kind: rotated}\nscheduler:\n  warmup_epochs: 2\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "line 4", "does not apply to scheduler.kind plateau");
    snprintf(y, sizeof y,
             "%sdata: {kind: rotated}\ntrainer: {max_epochs: 3}\n"
             "scheduler:\n  kind: cosine\n  warmup_epochs: 3\n", m);
    expect_fail(y, GM_ERR_INVALID_ARG, "warmup_epochs = 3 must be below t_max = 3", NULL);
}

static int warn_calls;
static char warn_last[1024];
static void capture_warn(gm_log_level level, const char *msg, void *ud) {
    (void)ud;
    if (level != GM_LOG_WARN) return;
    warn_calls++;
    const size_t n = strlen(warn_last);
    snprintf(warn_last + n, sizeof warn_last - n, "%s\n", msg);
}

/* A change of optimizer or scheduler kind keeps every value given for a key
 * that applies to the new kind, whatever the order of the overrides. */
Test(config, overrides_do_not_depend_on_their_order) {
    static const char yaml[] = "data: {kind: rotated}\nmodel: {spec: C4}\n"
                               "optimizer: {kind: sgd, lr: 0.2, weight_decay: 0.01, momentum: 0.9}\n"
                               "scheduler: {kind: cosine, warmup_epochs: 2, t_max: 7}\n";
    const char *a[] = {"optimizer.lr=0.5", "optimizer.kind=adam", "scheduler.kind=constant"};
    const char *b[] = {"scheduler.kind=constant", "optimizer.kind=adam", "optimizer.lr=0.5"};
    const char *const *orders[] = {a, b};
    for (int i = 0; i < 2; i++) {
        gm_config *cfg = parse(yaml);
        warn_calls = 0;
        warn_last[0] = '\0';
        gm_log_set_handler(capture_warn, NULL);
        const gm_status st = gm_config_set_all(cfg, 3, orders[i]);
        gm_log_set_handler(NULL, NULL);
        OK(st);
        const gm_fit_options *f = gm_config_fit(cfg);
        cr_assert_eq(f->optim.kind, GM_OPTIM_ADAM);
        cr_assert_eq(f->optim.lr, 0.5, "order %d: lr %g", i, f->optim.lr);
        cr_assert_eq(f->optim.weight_decay, 0.01, "order %d", i);
        cr_assert_eq(f->optim.beta1, 0.9);
        cr_assert_eq(f->sched.kind, GM_LR_CONSTANT);
        cr_assert_eq(f->sched.warmup_epochs, 2, "order %d", i);
        /* momentum and t_max do not apply any more: dropped, each with a warning. */
        cr_assert_eq(warn_calls, 2, "order %d: %d warnings", i, warn_calls);
        cr_assert(strstr(warn_last, "scheduler.t_max (line 4) does not apply to scheduler.kind "
                                    "constant; dropped\n"), "%s", warn_last);
        cr_assert(strstr(warn_last, "optimizer.momentum (line 3) does not apply to optimizer.kind "
                                    "adam; dropped\n"), "%s", warn_last);
        gm_config_free(cfg);
    }
    /* A key given for the old kind and set again for the new one. */
    gm_config *cfg = parse(yaml);
    const char *c[] = {"optimizer.momentum=0.5", "optimizer.kind=sgd"};
    OK(gm_config_set_all(cfg, 2, c));
    cr_assert_eq(gm_config_fit(cfg)->optim.momentum, 0.5);
    /* Selecting cosine again: t_max given in the file is kept. */
    const char *d[] = {"scheduler.kind=step", "scheduler.kind=cosine"};
    OK(gm_config_set_all(cfg, 2, d));
    cr_assert_eq(gm_config_fit(cfg)->sched.kind, GM_LR_COSINE);
    gm_config_free(cfg);
}

/* Deep nesting is refused before the document is built, in linear time. */
Test(config, deep_nesting_is_rejected_early) {
    const size_t depth = 400000;
    char *yaml = malloc(8 + 2 * depth + 2);
    cr_assert_not_null(yaml);
    memcpy(yaml, "extra: ", 7);
    memset(yaml + 7, '[', depth);
    memset(yaml + 7 + depth, ']', depth);
    strcpy(yaml + 7 + 2 * depth, "\n");
    expect_fail(yaml, GM_ERR_FORMAT, "line 1", "nested deeper than 32 levels");
    yaml[7 + depth] = '\0'; /* unclosed */
    expect_fail(yaml, GM_ERR_FORMAT, "line 1", "nested deeper than 32 levels");
    free(yaml);
    expect_fail("model:\n a:\n  b:\n   c:\n    d: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]"
                "]]]]]]]]]]]\n", GM_ERR_FORMAT, "line 5", "nested deeper");
    /* The deepest legitimate config is far from the limit. */
    gm_config *cfg = parse("data: {kind: rotated}\nmodel:\n  spec: C4\n  blocks:\n"
                           "    - {num_layers: 1, out_channels: 2}\n");
    gm_config_free(cfg);
}

/* ---- the key reference and the schema behind it ------------------------- */

/* The next cell boundary: a '|' not escaped as "\|". */
static const char *next_bar(const char *s) {
    for (; *s; s++)
        if (*s == '|' && s[-1] != '\\') return s;
    cr_assert_fail("a row ends early");
    return s;
}

/* The keys of the reference's Markdown rows ("| `key`"), in order, with
 * their defaults. */
static int reference_keys(char keys[][64], int room, char defaults[][160]) {
    char *md = NULL;
    OK(gm_config_reference(true, &md));
    int n = 0;
    for (const char *p = md; (p = strstr(p, "\n| `")) != NULL && n < room; p++) {
        const char *k = p + 4, *e = strchr(k, '`');
        cr_assert_not_null(e);
        snprintf(keys[n], 64, "%.*s", (int)(e - k), k);
        /* the third cell: the default (after the line's third bar) */
        const char *c = p + 1;
        for (int bar = 0; bar < 2; bar++) c = next_bar(c + 1);
        const char *end = next_bar(c + 1) - 1;
        snprintf(defaults[n], 160, "%.*s", (int)(end - c - 2), c + 2);
        n++;
    }
    gm_free(md);
    return n;
}

/* Every key of the reference is one the parser takes, and its listed
 * default is the default: setting it changes nothing in the resolved
 * config. (Keys of other kinds than the defaults', and defaults that are
 * not values, are only checked to be known.) */
Test(config, reference_defaults_are_the_defaults) {
    static char keys[160][64], defaults[160][160];
    const int n = reference_keys(keys, 160, defaults);
    cr_assert_gt(n, 80, "%d keys", n);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        gm_config *cfg = parse("model: {spec: C4}\ndata: {kind: rotated}\n");
        char *before = NULL, *after = NULL;
        OK(gm_config_to_string(cfg, &before));
        char set[512];
        const char *d = defaults[i];
        const bool value = strcmp(d, "none") && strncmp(d, "none ", 5) &&
                           !strstr(d, "max_epochs") && !strchr(d, '\\');
        snprintf(set, sizeof set, "%.63s=%.159s", keys[i], value ? d : "x");
        const gm_status st = gm_config_set(cfg, set);
        /* a key is never unknown; a value of its own default is accepted
         * where the default kinds take the key */
        cr_assert_null(strstr(gm_error_detail(), "unknown key"), "%s: %s", set,
                       gm_error_detail());
        if (value && st == GM_OK) {
            OK(gm_config_to_string(cfg, &after));
            cr_assert_str_eq(before, after, "%s", set);
            checked++;
        }
        gm_free(before);
        gm_free(after);
        gm_config_free(cfg);
    }
    cr_assert_gt(checked, 50, "%d defaults checked", checked);
}

/* Every key a resolved config writes is in the reference, in its order. */
Test(config, resolved_configs_write_only_listed_keys) {
    static char keys[160][64], defaults[160][160];
    const int n = reference_keys(keys, 160, defaults);
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        gm_config *cfg = load(shipped[i]);
        char *text = NULL;
        OK(gm_config_to_string(cfg, &text));
        char section[64] = "";
        int at = -1;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] == '#' || !strncmp(line, "    - ", 6)) continue;
            char key[128];
            const char *colon = strchr(line, ':');
            cr_assert_not_null(colon, "%s: %s", shipped[i], line);
            if (line[0] != ' ' && colon[1] == '\0') {
                snprintf(section, sizeof section, "%.*s", (int)(colon - line), line);
                continue;
            }
            if (line[0] == ' ')
                snprintf(key, sizeof key, "%s.%.*s", section, (int)(colon - line - 2), line + 2);
            else
                snprintf(key, sizeof key, "%.*s", (int)(colon - line), line);
            int j = 0;
            while (j < n && strcmp(keys[j], key)) j++;
            cr_assert_lt(j, n, "%s writes %s, which the reference lacks", shipped[i], key);
            cr_assert_gt(j, at, "%s writes %s out of the reference's order", shipped[i], key);
            at = j;
        }
        gm_free(text);
        gm_config_free(cfg);
    }
}

/* A config file's relative data paths are its directory's; an override's
 * are the working directory's; the written config has them absolute. */
Test(config, relative_paths_follow_the_config_file) {
    const char *dir = ts_temp_dir();
    char sub[600], file[700], want[4200];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(file, sizeof file, "%s/c.yaml", sub);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("model: {kind: cnn, image_h: 4, image_w: 4}\n"
          "data: {source: idx, images: img.idx, labels: /abs/lab.idx,\n"
          "       test_images: ../t/img.idx, test_labels: ../t/lab.idx}\n", f);
    fclose(f);
    gm_config *cfg = NULL;
    OK(gm_config_load(file, &cfg));
    const gm_data_config *d = gm_config_data(cfg);
    snprintf(want, sizeof want, "%s/img.idx", sub);
    cr_assert_str_eq(d->train_images, want);
    cr_assert_str_eq(d->train_labels, "/abs/lab.idx");
    snprintf(want, sizeof want, "%s/../t/img.idx", sub);
    cr_assert_str_eq(d->test_images, want);
    OK(gm_config_set(cfg, "data.labels=here/lab.idx"));
    cr_assert_str_eq(gm_config_data(cfg)->train_labels, "here/lab.idx");
    char *text = NULL;
    OK(gm_config_to_string(cfg, &text));
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "  labels: \"%s/here/lab.idx\"\n", cwd);
    ts_expect_contains(text, want);
    gm_free(text);
    gm_config_free(cfg);
    ts_rmtree(dir);
}
