/* Private to the YAML run config (gmcnn/config.h), shared by its files:
 *   config.c           the schema (keys, the values of each choice), defaults,
 *                      free/clone, document loading, the public parse, load,
 *                      override (set/set_all) and accessor API, details
 *   config_apply.c     value parsers and the setting of one field from a node
 *   config_validate.c  which keys apply to which kinds, and the validation
 *                      across fields that ends every parse and override
 *   config_write.c     the canonical YAML writer */
#ifndef GMCNN_RUN_CONFIG_INTERNAL_H
#define GMCNN_RUN_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/core_internal.h"
#include "gmcnn/config.h"

#define GM__CFG_PATH_MAX 96
#define GM__CFG_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Owned strings of a config, by slot. */
enum {
    GM__S_NAME,     /* the file name or label, for details */
    GM__S_SPEC,     /* model.spec as given */
    GM__S_RESOLVED, /* the spec the model uses */
    GM__S_OUTDIR,
    GM__S_IMAGES,
    GM__S_LABELS,
    GM__S_TEST_IMAGES,
    GM__S_TEST_LABELS,
    GM__S_GEN_KIND,
    GM__S_GEN_PATH,
    GM__S_COUNT
};

/* Fields with their own identity: two keys naming one field (aliases) are
 * a duplicate, and validation reports the line a field came from. */
typedef enum gm__cfg_field {
    F_NONE = 0,
    F_SEED,
    F_MODEL, F_M_KIND, F_M_SPEC, F_M_GROUP, F_M_ORDER, F_M_RADIUS, F_M_IN, F_M_CLASSES,
    F_M_BLOCKS, F_M_DROPOUT, F_M_FORM, F_M_LDR, F_M_MOD, F_M_POOL, F_M_HIDDEN, F_M_IMH, F_M_IMW,
    F_M_REGRESSOR, F_M_NORM, F_M_MOD_INPLACE, F_M_CENTER, F_M_STRUCTURE,
    F_DATA, F_D_SOURCE, F_D_BATCH, F_D_VAL, F_D_NORM, F_D_IMAGES, F_D_LABELS, F_D_TEST_IMAGES,
    F_D_TEST_LABELS, F_D_TRAIN, F_D_TEST, F_D_TRAIN_DAT, F_D_TRAIN_CAT, F_D_TEST_DAT,
    F_D_TEST_CAT, F_D_GEN_KIND, F_D_GEN_SEED, F_D_GEN_NTRAIN, F_D_GEN_NTEST,
    F_D_GEN_PATH, F_D_GEN_DIGITS, F_D_SPLIT, F_D_MAXANGLE, F_D_VALSIZE,
    F_D_IN_FRAMES, F_D_IN_OFFSET, F_D_ROLLOUT, F_D_EVAL_STEPS, F_D_TRAIN_RANGE, F_D_VAL_RANGE,
    F_D_FUTURE_RANGE, F_D_DOMAIN_RANGE, F_D_TRAIN_STRIDE, F_D_EVAL_STRIDE,
    F_TRAINER, F_T_EPOCHS, F_T_SMOOTH, F_T_SELECT,
    F_OPTIM, F_O_KIND, F_O_LR, F_O_WD, F_O_MOM, F_O_DAMP, F_O_NEST, F_O_BETAS, F_O_EPS,
    F_O_CLIP, F_O_DECAY,
    F_SCHED, F_S_KIND, F_S_STEP, F_S_GAMMA, F_S_TMAX, F_S_ETAMIN, F_S_MODE, F_S_FACTOR,
    F_S_PATIENCE, F_S_THRESH, F_S_THMODE, F_S_COOLDOWN, F_S_MINLR, F_S_EPS, F_S_WARMUP,
    F_EARLY, F_E_PATIENCE,
    F_OUTPUT, F_OUT_DIR,
    F_AUGMENT, F_A_ROTATE, F_A_MAXANGLE, F_A_FLIP, F_A_TRANSLATE,
    F_COUNT
} gm__cfg_field;

typedef struct gm__cfg_key {
    const char *path;
    gm__cfg_field field;
} gm__cfg_key;

/* The generator's kinds (gmcnn/datasets.h names), then the names used in
 * SPEC and the reference's data sets, mapped onto them (kind, digit source). */
typedef struct gm__cfg_gen {
    const char *name;
    const char *kind;
    const char *digits;
} gm__cfg_gen;

/* The values each choice takes, in the order of the enum they select
 * (config.c). The lengths are checked against the tables there. */
enum {
    GM__CFG_NGEN_KINDS = 12,
    GM__CFG_NDIGIT_SOURCES = 2,
    GM__CFG_NSOURCES = 7,
    GM__CFG_NMODEL_KINDS = 6,
    GM__CFG_NSTRUCTURES = 3,
    GM__CFG_NOPTIMS = 3,
    GM__CFG_NSCHEDS = 4,
    GM__CFG_NROTATES = 3,
    GM__CFG_NFLIPS = 4,
    GM__CFG_NSELECTS = 2,
    GM__CFG_NDECAYS = 2,
    GM__CFG_NSPLITS = 2,
};
extern const gm__cfg_gen gm__cfg_gen_kinds[];
extern const char *const gm__cfg_digit_sources[];
extern const char *const gm__cfg_sources[];
extern const char *const gm__cfg_model_kinds[];
extern const char *const gm__cfg_structures[];
extern const char *const gm__cfg_optims[];
extern const char *const gm__cfg_scheds[];
extern const char *const gm__cfg_rotates[];
extern const char *const gm__cfg_flips[];
extern const char *const gm__cfg_selects[];
extern const char *const gm__cfg_decays[];
extern const char *const gm__cfg_splits[];

struct gm_config {
    gm_model_desc model;
    gm_fit_options fit;
    gm_data_config data;
    char *str[GM__S_COUNT];
    int64_t nfiles;
    char *files[GM_CONFIG_MAX_FILES];
    gm_group *group;   /* the model's group, parsed once by validation (NULL: none,
                        * or a table: spec, read when the model is built) */
    int ref_group;     /* 0 none, 'C' cyclic, 'D' dihedral */
    int64_t ref_order; /* 0 = not given */
    int line[F_COUNT]; /* 1-based line a field was set on; 0 = default or override */
    bool given[F_COUNT]; /* set by the file or an override, not a default (a cosine
                          * schedule without a given t_max spans trainer.max_epochs) */
};

/* Where values come from, for details. */
typedef struct gm__cfg_ctx {
    gm_config *cfg;
    const char *override; /* the assignment, or NULL while parsing a file */
    bool from_file;       /* duplicates are checked (an override may repeat a key) */
    bool seen[F_COUNT];
} gm__cfg_ctx;

/* ---- config.c: the schema ---------------------------------------------------- */

/* The key of a full path ("model.kind"), or NULL. */
const gm__cfg_key *gm__cfg_lookup(const char *path);
/* The path of a field's key; of aliases, the one listed last ("?" for none). */
const char *gm__cfg_field_path(gm__cfg_field f);
/* The top-level sections (model, data, ...), fields of their own. */
bool gm__cfg_is_section(gm__cfg_field f);
/* Keys that select a kind: its defaults and which other keys apply. */
bool gm__cfg_is_selector(gm__cfg_field f);

/* ---- config.c: details and strings ------------------------------------------ */

/* Printable, bounded copy of untrusted text for messages. */
void gm__cfg_shown(char *dst, size_t cap, const char *s, size_t n);
/* Records the detail "config 'NAME' line L: MSG" (or "config 'NAME':
 * override 'A': MSG" for an override, no line when line <= 0) and returns st. */
gm_status gm__cfg_fail(const gm__cfg_ctx *c, int line, gm_status st, const char *fmt, ...)
    GM_PRINTF(4, 5);

#define GM__CFG_FAIL_IF(cond, c, line, st, ...)                                      \
    do {                                                                             \
        if (cond) {                                                                  \
            gm_status gm__cst = gm__cfg_fail((c), (line), (st), __VA_ARGS__);        \
            gm__error_note_location(__FILE__, __LINE__);                             \
            return gm__cst;                                                          \
        }                                                                            \
    } while (0)

static inline int gm__cfg_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* Replaces an owned string by a copy of s (NULL clears it). */
GM_NODISCARD gm_status gm__cfg_set_str(char **slot, const char *s);
/* Points the public views (model.group, the data paths) at the owned strings. */
void gm__cfg_sync(gm_config *cfg);

/* ---- config_apply.c ------------------------------------------------------------ */

/* "a mapping", "a list", "null", "a quoted string" or "a plain scalar". */
const char *gm__cfg_node_kind(const yaml_node_t *n);
/* Sets field f (key `path`) from node v of doc; a section applies its mapping. */
GM_NODISCARD gm_status gm__cfg_apply(gm__cfg_ctx *c, yaml_document_t *doc, gm__cfg_field f,
                                     const char *path, const yaml_node_t *v);
/* Applies every key of a mapping under prefix ("" for the top level). */
GM_NODISCARD gm_status gm__cfg_apply_map(gm__cfg_ctx *c, yaml_document_t *doc,
                                         const yaml_node_t *map, const char *prefix);

/* ---- config_validate.c --------------------------------------------------------- */

/* Which keys apply to a data source, an optimizer kind, a schedule kind. */
bool gm__cfg_data_key_applies(gm__cfg_field f, gm_data_source src);
bool gm__cfg_optim_key_applies(gm__cfg_field f, gm_optim_kind k);
bool gm__cfg_sched_key_applies(gm__cfg_field f, gm_lr_sched_kind k);
/* After a change of kind (fresh holds the new kind's defaults, old the
 * values before): keeps the given values that apply to the new kind, drops
 * the others with a warning. */
void gm__cfg_keep_given_optim(gm__cfg_ctx *c, const gm_optim_config *old,
                              gm_optim_config *fresh);
void gm__cfg_keep_given_sched(gm__cfg_ctx *c, const gm_lr_sched_config *old,
                              gm_lr_sched_config *fresh);
/* The checks across fields after a parse or a set of overrides; resolves the
 * group spec, the data loader's image size, batch size and cosine t_max. */
GM_NODISCARD gm_status gm__cfg_validate(gm__cfg_ctx *c);

#endif
