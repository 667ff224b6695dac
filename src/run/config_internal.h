/* Private to the YAML run config (gmcnn/config.h), shared by its files:
 *   config_schema.h    every key, one row each (the one list of the schema)
 *   config.c           the rows as a table, the values of each choice,
 *                      defaults, free/clone, document loading, the public
 *                      parse, load, override (set/set_all) and accessor API,
 *                      details
 *   config_apply.c     value parsers and the setting of one field from a node
 *   config_validate.c  what a change of kind keeps, and the validation
 *                      across fields that ends every parse and override
 *   config_write.c     the canonical YAML writer and the key reference */
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

#include "run/config_schema.h"

/* The kinds a key applies to, as bit masks (config_schema.h). */
#define GM__SRC(x) (1u << GM_DATA_##x)
#define GM__SRC_ALL ((1u << GM__CFG_NSOURCES) - 1u)
#define GM__OPTIM(x) (1u << GM_OPTIM_##x)
#define GM__SCHED(x) (1u << GM_LR_##x)
#define GM__MODEL(x) (1u << GM_MODEL_##x)
#define GM__MODEL_ALL ((1u << GM__CFG_NMODEL_KINDS) - 1u)

/* Fields with their own identity, one per row of the schema: two keys
 * naming one field (aliases) are a duplicate, and validation reports the
 * line a field came from. */
#define GM__CFG_FIELD(field, ...) field,
#define GM__CFG_NO_FIELD(field, path)
typedef enum gm__cfg_field {
    F_NONE = 0,
    GM__CFG_SCHEMA(GM__CFG_FIELD, GM__CFG_NO_FIELD)
    F_COUNT
} gm__cfg_field;
#undef GM__CFG_FIELD
#undef GM__CFG_NO_FIELD

typedef enum gm__cfg_type {
    GM__T_SECTION,
    GM__T_I64,
    GM__T_U64,
    GM__T_REAL,
    GM__T_FLAG,
    GM__T_CHOICE,
    GM__T_STR,
    GM__T_PAIR,
    GM__T_RANGE,
    GM__T_OWN
} gm__cfg_type;

typedef enum gm__cfg_write { W_ALWAYS, W_NONZERO, W_NEVER, W_OWN } gm__cfg_write;

/* A row of the schema (config_schema.h has the meaning of the columns). */
typedef struct gm__cfg_key {
    const char *path;
    gm__cfg_field field;
    bool alias;    /* another name of the field; the other columns are the field's row's */
    bool selector; /* a kind: read before the other keys of its mapping */
    gm__cfg_type type;
    size_t off, size; /* the member in gm_config (I64 .. CHOICE, PAIR, RANGE) */
    size_t off2;      /* PAIR: the second member */
    int slot;         /* STR: the owned string */
    bool is_path;     /* STR: a data path (gm__cfg_set_path; written absolute) */
    int64_t ilo, ihi; /* I64 */
    double rlo, rhi;  /* REAL, PAIR */
    bool rlo_open, rhi_open;
    const char *const *names; /* CHOICE */
    const int *values;        /* CHOICE: the member's value of each name (NULL: the index) */
    int nnames;
    const char *takes;        /* OWN: what the key takes, for the reference */
    unsigned sources, optims, scheds, models; /* kinds it applies to (0: all) */
    gm__cfg_write write;
    const char *doc;
} gm__cfg_key;

/* A name data.kind takes: the generator's kinds (gmcnn/datasets.h names) and
 * other names for them, mapped onto them (kind, digit source). */
typedef struct gm__cfg_gen {
    const char *name;
    const char *kind;
    const char *digits;
} gm__cfg_gen;

/* The values of the choices other files use (config.c); the lengths are
 * checked against the tables there. */
enum {
    GM__CFG_NGEN_KINDS = 12,
    GM__CFG_NDIGIT_SOURCES = 2,
    GM__CFG_NSOURCES = 7,
    GM__CFG_NMODEL_KINDS = 6,
};
extern const gm__cfg_gen gm__cfg_gen_kinds[];
extern const char *const gm__cfg_digit_sources[];
extern const char *const gm__cfg_sources[];
extern const char *const gm__cfg_model_kinds[];
extern const gm__cfg_key gm__cfg_keys[];
extern const int gm__cfg_nkeys;

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
    const char *base_dir; /* the config file's directory, for its relative data
                           * paths (NULL: an override or a string; "" for a
                           * file in the working directory) */
    bool seen[F_COUNT];
} gm__cfg_ctx;

/* ---- config.c: the schema ---------------------------------------------------- */

/* The row of a full path ("model.kind"; an alias gives its field's row), or NULL. */
const gm__cfg_key *gm__cfg_lookup(const char *path);
/* The row of a field. */
const gm__cfg_key *gm__cfg_key_of_field(gm__cfg_field f);
/* Whether a row applies to the config's data source, optimizer, schedule and
 * model kinds. */
bool gm__cfg_key_applies(const gm__cfg_key *k, const gm_config *cfg);
/* A member's value as an integer (I64, FLAG, CHOICE; sizes 1, 4 and 8), and
 * its setting. */
int64_t gm__cfg_member_int(const gm_config *cfg, const gm__cfg_key *k);
void gm__cfg_member_set_int(gm_config *cfg, const gm__cfg_key *k, int64_t v);
static inline double *gm__cfg_member_real(gm_config *cfg, size_t off) {
    return (double *)(void *)((char *)cfg + off);
}

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
/* Sets a data path: a relative one given in a config file is taken relative
 * to the file's directory (c->base_dir): the value becomes that directory's
 * path joined with it. Overrides and strings keep theirs (the working
 * directory's). */
GM_NODISCARD gm_status gm__cfg_set_path(const gm__cfg_ctx *c, char **slot, const char *value);
/* Points the public views (model.group, the data paths) at the owned strings. */
void gm__cfg_sync(gm_config *cfg);

/* ---- config_apply.c ------------------------------------------------------------ */

/* "a mapping", "a list", "null", "a quoted string" or "a plain scalar". */
const char *gm__cfg_node_kind(const yaml_node_t *n);
/* Sets the field of key k (given as `path`) from node v of doc; a section
 * applies its mapping. */
GM_NODISCARD gm_status gm__cfg_apply(gm__cfg_ctx *c, yaml_document_t *doc, const gm__cfg_key *k,
                                     const char *path, const yaml_node_t *v);
/* Applies every key of a mapping under prefix ("" for the top level). */
GM_NODISCARD gm_status gm__cfg_apply_map(gm__cfg_ctx *c, yaml_document_t *doc,
                                         const yaml_node_t *map, const char *prefix);

/* ---- config_validate.c --------------------------------------------------------- */

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
