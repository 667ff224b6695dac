/* The rules of a config across its keys: what a change of optimizer or
 * schedule kind keeps (by the schema's rows), and the validation that ends
 * every parse and every set of overrides: the group spec resolved and
 * checked, the model's keys against its kind, each data source's required
 * keys, the plume protocol, the training recipe, and the optimizer's and
 * schedule's own checks (config_internal.h). */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/config.h"
#include "gmcnn/group.h"
#include "run/config_internal.h"

/* ---- what a change of kind keeps ------------------------------------------------ */

/* A new kind starts from its defaults, but every value given so far (in the
 * file or by an override) that applies to the new kind is kept, so the
 * outcome does not depend on the order of the keys; a given value that no
 * longer applies is dropped with a warning. The keys are the schema's rows
 * whose members lie in the kind's struct (at `base` in gm_config, `size`
 * bytes); `cfg` holds the new kind (for gm__cfg_key_applies). */
static void gm__cfg_keep_given(gm__cfg_ctx *c, size_t base, size_t size, const void *old,
                               void *fresh, const char *kind_key, const char *kind) {
    gm_config *cfg = c->cfg;
    for (int i = 0; i < gm__cfg_nkeys; i++) {
        const gm__cfg_key *k = &gm__cfg_keys[i];
        if (k->alias || k->selector || k->size == 0 || k->off < base || k->off >= base + size)
            continue;
        const gm__cfg_field f = k->field;
        if (!cfg->given[f]) continue;
        if (gm__cfg_key_applies(k, cfg)) {
            memcpy((char *)fresh + (k->off - base), (const char *)old + (k->off - base),
                   k->size);
            if (k->type == GM__T_PAIR)
                memcpy((char *)fresh + (k->off2 - base), (const char *)old + (k->off2 - base),
                       k->size);
            continue;
        }
        cfg->given[f] = false;
        const char *nm = cfg->str[GM__S_NAME] ? cfg->str[GM__S_NAME] : "<string>";
        if (cfg->line[f] > 0)
            gm_log(GM_LOG_WARN, "config '%s': %s (line %d) does not apply to %s %s; dropped", nm,
                   k->path, cfg->line[f], kind_key, kind);
        else
            gm_log(GM_LOG_WARN, "config '%s': %s does not apply to %s %s; dropped", nm, k->path,
                   kind_key, kind);
    }
}

void gm__cfg_keep_given_optim(gm__cfg_ctx *c, const gm_optim_config *old,
                              gm_optim_config *fresh) {
    gm__cfg_keep_given(c, offsetof(gm_config, fit.optim), sizeof *fresh, old, fresh,
                       "optimizer.kind", gm_optim_kind_name(fresh->kind));
}

void gm__cfg_keep_given_sched(gm__cfg_ctx *c, const gm_lr_sched_config *old,
                              gm_lr_sched_config *fresh) {
    gm__cfg_keep_given(c, offsetof(gm_config, fit.sched), sizeof *fresh, old, fresh,
                       "scheduler.kind", gm_lr_sched_kind_name(fresh->kind));
}

/* ---- validation across fields ----------------------------------------------------- */

static bool gm__cfg_gm_kind(gm_model_kind k) {
    return k == GM_MODEL_GMCNN || k == GM_MODEL_PLUME || k == GM_MODEL_GMCNN_DEEP;
}

/* data.source plume: a dataset directory, a consistent protocol, and a model
 * that maps 2F input channels to one frame. */
static gm_status gm__cfg_validate_plume(gm__cfg_ctx *c, int dl) {
    gm_config *cfg = c->cfg;
    const gm_model_desc *m = &cfg->model;
    const gm_forecast_protocol *p = &cfg->data.forecast;
    const int *ln = cfg->line;
    GM__CFG_FAIL_IF(!cfg->str[GM__S_GEN_PATH] || !cfg->str[GM__S_GEN_PATH][0], c, dl,
                    GM_ERR_INVALID_ARG,
                    "data.source plume needs data.path (a dataset directory with manifest.json)");
    if (gm_forecast_protocol_check(p) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        GM__CFG_FAIL_IF(true, c, dl, GM_ERR_INVALID_ARG, "data: %s", detail);
    }
    GM__CFG_FAIL_IF(m->kind != GM_MODEL_PLUME && !m->regressor, c,
                    ln[F_M_KIND] ? ln[F_M_KIND] : dl, GM_ERR_INVALID_ARG,
                    "data.source plume needs a regressor: model.kind plume, or cnn/mlp with "
                    "model.regressor: true (model.kind is %s)",
                    gm_config_model_kind_name(m->kind));
    GM__CFG_FAIL_IF(m->in_channels != 2 * p->input_frames, c,
                    ln[F_M_IN] ? ln[F_M_IN] : ln[F_D_IN_FRAMES] ? ln[F_D_IN_FRAMES] : dl,
                    GM_ERR_INVALID_ARG,
                    "model.in_channels is %lld but data.input_frames %lld x 2 velocity channels "
                    "= %lld", (long long)m->in_channels, (long long)p->input_frames,
                    (long long)(2 * p->input_frames));
    GM__CFG_FAIL_IF(m->out_dim != 2, c, ln[F_M_CLASSES] ? ln[F_M_CLASSES] : dl,
                    GM_ERR_INVALID_ARG,
                    "model.out_dim is %lld but the model predicts one velocity frame (2 "
                    "channels)", (long long)m->out_dim);
    return GM_OK;
}

gm_status gm__cfg_validate(gm__cfg_ctx *c) {
    gm_config *cfg = c->cfg;
    gm_model_desc *m = &cfg->model;
    const int *ln = cfg->line;

    /* The group: model.spec, else the reference's group + order. */
    GM__CFG_FAIL_IF(!cfg->str[GM__S_SPEC] && (cfg->ref_group != 0) != (cfg->ref_order != 0), c,
                    ln[F_M_GROUP] ? ln[F_M_GROUP] : ln[F_M_ORDER], GM_ERR_INVALID_ARG,
                    "model.group and model.order go together (%s is missing)",
                    cfg->ref_group ? "model.order" : "model.group");
    char ref[64];
    const char *spec = cfg->str[GM__S_SPEC];
    int spec_line = ln[F_M_SPEC];
    if (!spec && cfg->ref_group) {
        snprintf(ref, sizeof ref, "%c%lldx%c%lld", cfg->ref_group, (long long)cfg->ref_order,
                 cfg->ref_group, (long long)cfg->ref_order);
        spec = ref;
        spec_line = ln[F_M_GROUP];
    }
    GM__CFG_FAIL_IF(!spec && gm__cfg_gm_kind(m->kind), c, ln[F_MODEL], GM_ERR_INVALID_ARG,
                    "model.kind %s needs a group: model.spec, or model.group and model.order",
                    gm_config_model_kind_name(m->kind));
    GM__CFG_FAIL_IF(!spec && m->image_h == 0, c, ln[F_MODEL], GM_ERR_INVALID_ARG,
                    "model.kind %s needs model.image_h and model.image_w, or a group",
                    gm_config_model_kind_name(m->kind));
    /* A table spec names a file, read when the model is built. */
    /* The model's image size for the data loader: CNN/MLP take model.image_h
     * x model.image_w when given, GM models (and the rest) |G1| x |G2|. */
    const bool sized = !gm__cfg_gm_kind(m->kind) && m->image_h > 0;
    cfg->data.image_h = sized ? m->image_h : 0;
    cfg->data.image_w = sized ? m->image_w : 0;
    /* The spec is parsed here once; the model is built from this group. */
    gm_group_free(cfg->group);
    cfg->group = NULL;
    if (spec && strncmp(spec, "table:", 6) != 0) {
        gm_group *g = NULL;
        const gm_status st = gm_group_from_spec(spec, &g);
        if (st == GM_OK && !sized && gm_group_kind_of(g) == GM_GROUP_PRODUCT) {
            cfg->data.image_h = gm_group_order(gm_group_factor(g, 0));
            cfg->data.image_w = gm_group_order(gm_group_factor(g, 1));
        }
        /* A wallpaper group's deep model reads an n x n image (the torus). */
        if (st == GM_OK && !sized && m->kind == GM_MODEL_GMCNN_DEEP &&
            gm_group_wallpaper_points(g) > 0)
            cfg->data.image_h = cfg->data.image_w = gm_group_param(g);
        cfg->group = g;
        if (st == GM_ERR_NOMEM) return st;
        if (st != GM_OK) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s", gm_error_detail());
            GM__CFG_FAIL_IF(true, c, spec_line, st, "model.spec: %s", detail);
        }
    }
    GM_FORWARD_IF_ERROR(gm__cfg_set_str(&cfg->str[GM__S_RESOLVED], spec));

    GM__CFG_FAIL_IF((m->image_h == 0) != (m->image_w == 0), c,
                    ln[F_M_IMH] ? ln[F_M_IMH] : ln[F_M_IMW], GM_ERR_INVALID_ARG,
                    "model.image_h and model.image_w go together");
    GM__CFG_FAIL_IF(m->modulated && m->ldr_rank > 0, c, ln[F_M_MOD], GM_ERR_INVALID_ARG,
                    "model.modulated excludes model.ldr_rank");
    GM__CFG_FAIL_IF(!gm__cfg_gm_kind(m->kind) && m->modulated, c, ln[F_M_MOD],
                    GM_ERR_INVALID_ARG, "model.modulated applies to GM models only");
    GM__CFG_FAIL_IF(!gm__cfg_gm_kind(m->kind) && m->kind != GM_MODEL_LDR && m->ldr_rank > 0, c,
                    ln[F_M_LDR], GM_ERR_INVALID_ARG,
                    "model.ldr_rank applies to GM models and model.kind ldr only");
    /* The LDR model is one n x n layer: its own keys only, and no blocks. */
    const bool ldr = m->kind == GM_MODEL_LDR;
    GM__CFG_FAIL_IF(!ldr && (m->structure != GM_LDR_TOEPLITZ || ln[F_M_STRUCTURE]), c,
                    ln[F_M_STRUCTURE], GM_ERR_INVALID_ARG,
                    "model.structure applies to model.kind ldr only");
    GM__CFG_FAIL_IF(ldr && (ln[F_M_BLOCKS] || c->seen[F_M_BLOCKS]), c, ln[F_M_BLOCKS],
                    GM_ERR_INVALID_ARG,
                    "model.blocks does not apply to model.kind ldr (one n x n layer)");
    GM__CFG_FAIL_IF(ldr && m->hidden > 0, c, ln[F_M_HIDDEN], GM_ERR_INVALID_ARG,
                    "model.hidden does not apply to model.kind ldr (the layer is n x n, n = "
                    "in_channels x image size)");
    GM__CFG_FAIL_IF(ldr && m->structure == GM_LDR_UNSTRUCTURED && m->ldr_rank > 0, c,
                    ln[F_M_LDR], GM_ERR_INVALID_ARG,
                    "model.ldr_rank does not apply to model.structure unstructured");
    if (ldr) m->nblocks = 0;
    for (int64_t i = 0; i < m->nblocks; i++)
        GM__CFG_FAIL_IF(m->blocks[i].pool && m->kind != GM_MODEL_GMCNN_DEEP &&
                            m->kind != GM_MODEL_CNN,
                        c, ln[F_M_BLOCKS], GM_ERR_INVALID_ARG,
                        "model.blocks[%lld].pool: only deep and cnn models pool", (long long)i);
    GM__CFG_FAIL_IF(m->center && m->kind != GM_MODEL_GMCNN_DEEP, c, ln[F_M_CENTER],
                    GM_ERR_INVALID_ARG, "model.center applies to deep models on p4:n or p4m:n");
    GM__CFG_FAIL_IF(m->modulated_in_place && !m->modulated, c, ln[F_M_MOD_INPLACE],
                    GM_ERR_INVALID_ARG, "model.modulated_in_place needs model.modulated: true");
    GM__CFG_FAIL_IF(m->norm == GM_NORM_BATCH && m->kind != GM_MODEL_GMCNN_DEEP &&
                        m->kind != GM_MODEL_CNN,
                    c, ln[F_M_NORM], GM_ERR_INVALID_ARG,
                    "model.norm batch applies to deep and cnn models");
    GM__CFG_FAIL_IF(m->regressor && m->kind != GM_MODEL_CNN && m->kind != GM_MODEL_MLP, c,
                    ln[F_M_REGRESSOR], GM_ERR_INVALID_ARG,
                    "model.regressor applies to cnn and mlp models (plume is a regressor by "
                    "construction)");
    for (int64_t i = 0; i < m->nblocks && m->regressor; i++)
        GM__CFG_FAIL_IF(m->blocks[i].pool, c, ln[F_M_BLOCKS], GM_ERR_INVALID_ARG,
                        "model.blocks[%lld].pool: a regressor keeps the input's resolution",
                        (long long)i);

    /* The reference reads batch_size under data; the trainer uses it. */
    cfg->fit.batch_size = cfg->data.batch_size;

    const gm_data_config *d = &cfg->data;
    const int dl = ln[F_D_SOURCE] ? ln[F_D_SOURCE] : ln[F_DATA];
    switch (d->source) {
    case GM_DATA_IDX: case GM_DATA_NPY:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_IMAGES] || !cfg->str[GM__S_LABELS], c, dl,
                        GM_ERR_INVALID_ARG, "data.source %s needs data.images and data.labels",
                        gm_data_source_name(d->source));
        GM__CFG_FAIL_IF(!cfg->str[GM__S_TEST_IMAGES] != !cfg->str[GM__S_TEST_LABELS], c, dl,
                        GM_ERR_INVALID_ARG, "data.test_images and data.test_labels go together");
        break;
    case GM_DATA_AMAT:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_IMAGES], c, dl, GM_ERR_INVALID_ARG,
                        "data.source amat needs data.train");
        break;
    case GM_DATA_CIFAR10:
        GM__CFG_FAIL_IF(cfg->nfiles < 1, c, dl, GM_ERR_INVALID_ARG,
                        "data.source cifar10 needs data.train (a list of batch files)");
        break;
    case GM_DATA_NORB:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_IMAGES] || !cfg->str[GM__S_LABELS], c, dl,
                        GM_ERR_INVALID_ARG,
                        "data.source norb needs data.train_dat and data.train_cat");
        GM__CFG_FAIL_IF(!cfg->str[GM__S_TEST_IMAGES] != !cfg->str[GM__S_TEST_LABELS], c, dl,
                        GM_ERR_INVALID_ARG, "data.test_dat and data.test_cat go together");
        break;
    case GM_DATA_GENERATED:
        GM__CFG_FAIL_IF(!cfg->str[GM__S_GEN_KIND], c, dl, GM_ERR_INVALID_ARG,
                        "data.source generated needs data.kind");
        break;
    case GM_DATA_PLUME:
        GM_FORWARD_IF_ERROR(gm__cfg_validate_plume(c, dl));
        break;
    }
    const bool regressor = m->kind == GM_MODEL_PLUME || m->regressor;
    GM__CFG_FAIL_IF(regressor && d->source != GM_DATA_PLUME, c,
                    ln[F_M_REGRESSOR] ? ln[F_M_REGRESSOR] : ln[F_M_KIND] ? ln[F_M_KIND] : dl,
                    GM_ERR_INVALID_ARG,
                    "model.kind %s%s is a regressor: it needs data.source plume",
                    gm_config_model_kind_name(m->kind),
                    m->regressor ? " with model.regressor" : "");

    /* The training recipe: classification only, and keys that qualify others. */
    gm_fit_options *fo = &cfg->fit;
    const bool plume = d->source == GM_DATA_PLUME;
    GM__CFG_FAIL_IF(plume && gm_augment_enabled(&fo->augment), c,
                    ln[F_A_ROTATE] ? ln[F_A_ROTATE] : ln[F_A_FLIP] ? ln[F_A_FLIP]
                                                                     : ln[F_AUGMENT],
                    GM_ERR_INVALID_ARG, "augment applies to classification, not to data.source "
                    "plume");
    GM__CFG_FAIL_IF(plume && fo->label_smoothing != 0.0, c, ln[F_T_SMOOTH], GM_ERR_INVALID_ARG,
                    "trainer.label_smoothing applies to classification, not to data.source "
                    "plume");
    GM__CFG_FAIL_IF(plume && fo->select != GM_SELECT_VAL_LOSS, c, ln[F_T_SELECT],
                    GM_ERR_INVALID_ARG,
                    "trainer.select val_accuracy needs a classifier (data.source plume has no "
                    "accuracy)");
    GM__CFG_FAIL_IF(fo->augment.max_angle > 0.0 && fo->augment.rotate != GM_AUGMENT_ROTATE_ANY,
                    c, ln[F_A_MAXANGLE], GM_ERR_INVALID_ARG,
                    "augment.max_angle needs augment.rotate: any");
    const char *gk = cfg->str[GM__S_GEN_KIND];
    GM__CFG_FAIL_IF(d->source == GM_DATA_GENERATED && d->gen_max_angle > 0.0 && gk &&
                        strcmp(gk, "rotated") != 0 && strcmp(gk, "rot-back-image") != 0,
                    c, ln[F_D_MAXANGLE], GM_ERR_INVALID_ARG,
                    "data.max_angle applies to the rotated kinds (rotated, fashion-rotated, "
                    "rotated-background), not to %s", gk);
    GM__CFG_FAIL_IF(d->source == GM_DATA_GENERATED && d->gen_official &&
                        (!d->gen_digits || strcmp(d->gen_digits, "fashion") != 0 ||
                         (gk && !strcmp(gk, "rectangles"))),
                    c, ln[F_D_SPLIT], GM_ERR_INVALID_ARG,
                    "data.split official needs Fashion-MNIST digits (data.kind fashion or "
                    "fashion-rotated, or data.digits: fashion)");
    if (fo->sched.kind == GM_LR_COSINE && !cfg->given[F_S_TMAX]) fo->sched.t_max = fo->epochs;

    /* The optimizer and schedule modules own their rules; these catch the
     * combinations a single key cannot (nesterov without momentum). */
    if (gm_optim_config_check(&cfg->fit.optim) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        GM__CFG_FAIL_IF(true, c, ln[F_OPTIM], GM_ERR_INVALID_ARG, "optimizer: %s", detail);
    }
    gm_lr_sched sched;
    if (gm_lr_sched_init(&sched, &cfg->fit.sched, cfg->fit.optim.lr) != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        GM__CFG_FAIL_IF(true, c, ln[F_SCHED], GM_ERR_INVALID_ARG, "scheduler: %s", detail);
    }
    gm__cfg_sync(cfg);
    return GM_OK;
}
