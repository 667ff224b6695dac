/* The canonical YAML form of a config (gm_config_to_string): every value
 * the run uses, the group as the resolved spec, only the keys that apply to
 * the chosen kinds, reals as the shortest text that reads back, strings
 * double-quoted; and its atomic write (gm_config_write). */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/config.h"
#include "run/config_internal.h"

typedef struct gm__cfg_buf {
    char *p;
    size_t len, cap;
    bool nomem;
} gm__cfg_buf;

static void gm__cfg_put(gm__cfg_buf *b, const char *fmt, ...) GM_PRINTF(2, 3);

static void gm__cfg_put(gm__cfg_buf *b, const char *fmt, ...) {
    if (b->nomem) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        GM_ASSERT(n >= 0);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        const size_t cap = 2 * b->cap + (size_t)n + 64;
        char *p = gm_realloc(b->p, cap);
        if (!p) {
            b->nomem = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Shortest decimal that reads back to the same double. */
static void gm__cfg_put_real(gm__cfg_buf *b, double v) {
    char s[GM__FMT_REAL_MAX];
    gm__fmt_real(v, s);
    /* A plain "5" reads as a number too, but 5.0 says it is real. */
    gm__cfg_put(b, "%s%s", s, strpbrk(s, ".eEn") ? "" : ".0");
}

/* Double-quoted YAML string; non-ASCII as \u escapes so any character the
 * parser produced reads back the same. */
static void gm__cfg_put_str(gm__cfg_buf *b, const char *s) {
    gm__cfg_put(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char ch = *p;
        if (ch == '"' || ch == '\\') {
            gm__cfg_put(b, "\\%c", ch);
            p++;
        } else if (ch >= 0x20 && ch < 0x7f) {
            gm__cfg_put(b, "%c", ch);
            p++;
        } else if (ch < 0x80) {
            gm__cfg_put(b, "\\x%02x", ch);
            p++;
        } else {
            /* libyaml hands out valid UTF-8; decode one character. */
            int n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
            uint32_t cp = ch & (n == 4 ? 0x07u : n == 3 ? 0x0fu : 0x1fu);
            int i = 1;
            for (; i < n && (p[i] & 0xc0) == 0x80; i++) cp = (cp << 6) | (p[i] & 0x3fu);
            if (i < n || ch < 0xc2 || ch > 0xf4) cp = 0xfffd, n = i;
            if (cp > 0xffff)
                gm__cfg_put(b, "\\U%08x", (unsigned)cp);
            else
                gm__cfg_put(b, "\\u%04x", (unsigned)cp);
            p += n;
        }
    }
    gm__cfg_put(b, "\"");
}

static const char *gm__cfg_bool_name(bool v) { return v ? "true" : "false"; }

gm_status gm_config_to_string(const gm_config *cfg, char **out) {
    GM_RETURN_ERROR_IF(!cfg || !out, GM_ERR_INVALID_ARG,
                       "gm_config_to_string: cfg and out are required");
    *out = NULL;
    gm__cfg_buf b = {.p = gm_malloc(1024), .cap = 1024};
    if (!b.p) return gm__nomem("config text");
    const gm_model_desc *m = &cfg->model;
    const gm_fit_options *f = &cfg->fit;
    const gm_data_config *d = &cfg->data;
    gm__cfg_put(&b, "# gmcnn config (resolved)\nseed: %llu\n", (unsigned long long)f->seed);
    gm__cfg_put(&b, "model:\n  kind: %s\n", gm_config_model_kind_name(m->kind));
    if (cfg->str[GM__S_RESOLVED]) {
        gm__cfg_put(&b, "  spec: ");
        gm__cfg_put_str(&b, cfg->str[GM__S_RESOLVED]);
        gm__cfg_put(&b, "\n");
    }
    gm__cfg_put(&b, "  nbr: %lld\n  in_channels: %lld\n  num_classes: %lld\n%s",
                (long long)m->radius, (long long)m->in_channels, (long long)m->out_dim,
                m->kind == GM_MODEL_LDR ? "" : "  blocks:\n");
    for (int64_t i = 0; i < m->nblocks; i++)
        gm__cfg_put(&b, "    - {num_layers: %lld, out_channels: %lld, pool: %s}\n",
                    (long long)m->blocks[i].num_layers, (long long)m->blocks[i].out_channels,
                    gm__cfg_bool_name(m->blocks[i].pool));
    gm__cfg_put(&b, "  dropout: ");
    gm__cfg_put_real(&b, m->dropout);
    gm__cfg_put(&b, "\n  form: %s\n  ldr_rank: %lld\n  modulated: %s\n  pool: %s\n",
                m->form == GM_CONV_SHARED ? "shared" : "full", (long long)m->ldr_rank,
                gm__cfg_bool_name(m->modulated), m->pool_mode == GM_REDUCE_MEAN ? "mean" : "max");
    gm__cfg_put(&b, "  hidden: %lld\n  image_h: %lld\n  image_w: %lld\n", (long long)m->hidden,
                (long long)m->image_h, (long long)m->image_w);
    if (m->regressor) gm__cfg_put(&b, "  regressor: true\n");
    if (m->norm == GM_NORM_BATCH) gm__cfg_put(&b, "  norm: batch\n");
    if (m->modulated_in_place) gm__cfg_put(&b, "  modulated_in_place: true\n");
    if (m->center) gm__cfg_put(&b, "  center: true\n");
    if (m->kind == GM_MODEL_LDR)
        gm__cfg_put(&b, "  structure: %s\n", gm__cfg_structures[m->structure]);

    gm__cfg_put(&b, "data:\n  source: %s\n  batch_size: %lld\n", gm_data_source_name(d->source),
                (long long)d->batch_size);
    if (d->source != GM_DATA_PLUME) {
        if (d->val_size >= 0) {
            gm__cfg_put(&b, "  val_size: %lld", (long long)d->val_size);
        } else {
            gm__cfg_put(&b, "  val_fraction: ");
            gm__cfg_put_real(&b, d->val_fraction);
        }
        gm__cfg_put(&b, "\n  normalize: %s\n", gm__cfg_bool_name(d->normalize));
    }
    static const char *const names[][4] = {
        [GM_DATA_IDX] = {"images", "labels", "test_images", "test_labels"},
        [GM_DATA_NPY] = {"images", "labels", "test_images", "test_labels"},
        [GM_DATA_AMAT] = {"train", NULL, "test", NULL},
        [GM_DATA_CIFAR10] = {NULL, NULL, "test", NULL},
        [GM_DATA_NORB] = {"train_dat", "train_cat", "test_dat", "test_cat"},
        [GM_DATA_GENERATED] = {NULL, NULL, NULL, NULL},
        [GM_DATA_PLUME] = {NULL, NULL, NULL, NULL},
    };
    const char *vals[4] = {d->train_images, d->train_labels, d->test_images, d->test_labels};
    if (d->source == GM_DATA_CIFAR10) {
        gm__cfg_put(&b, "  train:\n");
        for (int64_t i = 0; i < d->ntrain_files; i++) {
            gm__cfg_put(&b, "    - ");
            gm__cfg_put_str(&b, d->train_files[i]);
            gm__cfg_put(&b, "\n");
        }
    }
    for (int i = 0; i < 4; i++) {
        if (!names[d->source][i] || !vals[i]) continue;
        gm__cfg_put(&b, "  %s: ", names[d->source][i]);
        gm__cfg_put_str(&b, vals[i]);
        gm__cfg_put(&b, "\n");
    }
    if (d->source == GM_DATA_GENERATED) {
        gm__cfg_put(&b, "  kind: %s\n  digits: %s\n  seed: %llu\n  num_train: %lld\n"
                    "  num_test: %lld\n  path: ",
                    d->gen_kind ? d->gen_kind : "rotated", d->gen_digits,
                    (unsigned long long)d->gen_seed,
                    (long long)d->gen_num_train, (long long)d->gen_num_test);
        gm__cfg_put_str(&b, d->gen_path ? d->gen_path : "");
        gm__cfg_put(&b, "\n  split: %s\n", gm__cfg_splits[d->gen_official ? 1 : 0]);
        if (d->gen_max_angle > 0.0) {
            gm__cfg_put(&b, "  max_angle: ");
            gm__cfg_put_real(&b, d->gen_max_angle);
            gm__cfg_put(&b, "\n");
        }
    }
    if (d->source == GM_DATA_PLUME) {
        const gm_forecast_protocol *p = &d->forecast;
        gm__cfg_put(&b, "  path: ");
        gm__cfg_put_str(&b, d->plume_dir ? d->plume_dir : "");
        gm__cfg_put(&b, "\n  input_frames: %lld\n  input_offset: %lld\n  rollout_steps: %lld\n"
                    "  eval_steps: %lld\n", (long long)p->input_frames,
                    (long long)p->input_offset, (long long)p->rollout_steps,
                    (long long)p->eval_steps);
        const char *const rn[4] = {"train", "val", "future", "domain"};
        const gm_forecast_range *rv[4] = {&p->train, &p->val, &p->future, &p->domain};
        for (int i = 0; i < 4; i++)
            gm__cfg_put(&b, "  %s_range: [%lld, %lld]\n", rn[i], (long long)rv[i]->begin,
                        (long long)rv[i]->end);
        gm__cfg_put(&b, "  train_stride: %lld\n  eval_stride: %lld\n", (long long)p->train_stride,
                    (long long)p->eval_stride);
    }

    gm__cfg_put(&b, "trainer:\n  max_epochs: %lld\n", (long long)f->epochs);
    if (d->source != GM_DATA_PLUME) {
        gm__cfg_put(&b, "  label_smoothing: ");
        gm__cfg_put_real(&b, f->label_smoothing);
        gm__cfg_put(&b, "\n  select: %s\n", gm__cfg_selects[f->select == GM_SELECT_VAL_ACCURACY]);
    }
    const gm_optim_config *o = &f->optim;
    gm__cfg_put(&b, "optimizer:\n  kind: %s\n  lr: ", gm_optim_kind_name(o->kind));
    gm__cfg_put_real(&b, o->lr);
    gm__cfg_put(&b, "\n  weight_decay: ");
    gm__cfg_put_real(&b, o->weight_decay);
    if (o->kind == GM_OPTIM_SGD) {
        gm__cfg_put(&b, "\n  momentum: ");
        gm__cfg_put_real(&b, o->momentum);
        gm__cfg_put(&b, "\n  dampening: ");
        gm__cfg_put_real(&b, o->dampening);
        gm__cfg_put(&b, "\n  nesterov: %s", gm__cfg_bool_name(o->nesterov));
    } else {
        gm__cfg_put(&b, "\n  betas: [");
        gm__cfg_put_real(&b, o->beta1);
        gm__cfg_put(&b, ", ");
        gm__cfg_put_real(&b, o->beta2);
        gm__cfg_put(&b, "]\n  eps: ");
        gm__cfg_put_real(&b, o->eps);
    }
    gm__cfg_put(&b, "\n  clip_norm: ");
    gm__cfg_put_real(&b, f->clip_norm);
    gm__cfg_put(&b, "\n  decay: %s", gm__cfg_decays[o->decay == GM_DECAY_WEIGHTS]);

    const gm_lr_sched_config *s = &f->sched;
    gm__cfg_put(&b, "\nscheduler:\n  kind: %s\n", gm_lr_sched_kind_name(s->kind));
    if (s->kind == GM_LR_CONSTANT || s->kind == GM_LR_COSINE)
        gm__cfg_put(&b, "  warmup_epochs: %lld\n", (long long)s->warmup_epochs);
    if (s->kind == GM_LR_STEP) {
        gm__cfg_put(&b, "  step_size: %lld\n  gamma: ", (long long)s->step_size);
        gm__cfg_put_real(&b, s->gamma);
        gm__cfg_put(&b, "\n");
    } else if (s->kind == GM_LR_COSINE) {
        gm__cfg_put(&b, "  t_max: %lld\n  eta_min: ", (long long)s->t_max);
        gm__cfg_put_real(&b, s->eta_min);
        gm__cfg_put(&b, "\n");
    } else if (s->kind == GM_LR_PLATEAU) {
        gm__cfg_put(&b, "  mode: %s\n  factor: ", s->mode == GM_SCHED_MAX ? "max" : "min");
        gm__cfg_put_real(&b, s->factor);
        gm__cfg_put(&b, "\n  patience: %lld\n  threshold: ", (long long)s->patience);
        gm__cfg_put_real(&b, s->threshold);
        gm__cfg_put(&b, "\n  threshold_mode: %s\n  cooldown: %lld\n  min_lr: ",
                    s->threshold_mode == GM_THRESHOLD_ABS ? "abs" : "rel",
                    (long long)s->cooldown);
        gm__cfg_put_real(&b, s->min_lr);
        gm__cfg_put(&b, "\n  eps: ");
        gm__cfg_put_real(&b, s->eps);
        gm__cfg_put(&b, "\n");
    }
    gm__cfg_put(&b, "early_stopping:\n  patience: %lld\noutput:\n  dir: ",
                (long long)f->early_stop_patience);
    gm__cfg_put_str(&b, cfg->str[GM__S_OUTDIR] ? cfg->str[GM__S_OUTDIR] : "runs");
    gm__cfg_put(&b, "\n");
    if (d->source != GM_DATA_PLUME) {
        const gm_augment *a = &f->augment;
        gm__cfg_put(&b, "augment:\n  rotate: %s\n", gm__cfg_rotates[a->rotate]);
        if (a->max_angle > 0.0) {
            gm__cfg_put(&b, "  max_angle: ");
            gm__cfg_put_real(&b, a->max_angle);
            gm__cfg_put(&b, "\n");
        }
        gm__cfg_put(&b, "  flip: %s\n  translate: %lld\n", gm__cfg_flips[a->flip],
                    (long long)a->translate);
    }
    if (b.nomem) {
        gm_free(b.p);
        return gm__nomem("config text");
    }
    *out = b.p;
    return GM_OK;
}

gm_status gm_config_write(const gm_config *cfg, const char *path) {
    GM_RETURN_ERROR_IF(!cfg || !path, GM_ERR_INVALID_ARG,
                       "gm_config_write: cfg and path are required");
    char *text = NULL;
    GM_FORWARD_IF_ERROR(gm_config_to_string(cfg, &text));
    const gm_status st = gm__data_write_text_atomic("config", "config", path, text, strlen(text));
    gm_free(text);
    return st;
}
