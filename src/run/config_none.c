/* The run layer's YAML part in a build without libyaml (GM_SLIM,
 * GM_WITH_YAML=OFF; cmake/features.cmake): configs, the data a config names
 * and gm_run_train, which takes a config, are left out, and their functions
 * (gmcnn/config.h, gmcnn/run.h) exist and return GM_ERR_UNSUPPORTED. The
 * names of data sources and model kinds, the data directory and the list of
 * a run's files need no YAML and are as in the full build. Models are
 * described, trained, saved and loaded from code (gmcnn/nn.h, gmcnn/train.h,
 * gmcnn/io.h; gm_model_load and gm_run_eval, gm_run_predict,
 * gm_run_equivariance of gmcnn/run.h). */
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/config.h"
#include "gmcnn/io.h"
#include "gmcnn/run.h"

#define NO_YAML(fn)                                                                     \
    gm_error_set(GM_ERR_UNSUPPORTED, fn ": this build of gmcnn has no YAML configs "    \
                                        "(libyaml; GM_SLIM or GM_WITH_YAML=OFF)")

gm_status gm_data_load(const gm_data_config *dc, const char *default_data_dir, gm_dataset *train,
                       gm_dataset *test) {
    (void)dc, (void)default_data_dir;
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    return NO_YAML("gm_data_load");
}

gm_status gm_data_load_classes(const gm_data_config *dc, const char *default_data_dir,
                               int64_t classes, gm_dataset *train, gm_dataset *test) {
    (void)dc, (void)default_data_dir, (void)classes;
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    return NO_YAML("gm_data_load_classes");
}

gm_status gm_config_load(const char *path, gm_config **out) {
    (void)path;
    if (out) *out = NULL;
    return NO_YAML("gm_config_load");
}

gm_status gm_config_parse(const char *yaml, const char *name, gm_config **out) {
    (void)yaml, (void)name;
    if (out) *out = NULL;
    return NO_YAML("gm_config_parse");
}

gm_status gm_config_new_default(gm_config **out) {
    if (out) *out = NULL;
    return NO_YAML("gm_config_new_default");
}

/* No config is ever made, so there is none to free. */
void gm_config_free(gm_config *cfg) { (void)cfg; }

gm_status gm_config_set(gm_config *cfg, const char *assignment) {
    (void)cfg, (void)assignment;
    return NO_YAML("gm_config_set");
}

gm_status gm_config_set_all(gm_config *cfg, int64_t n, const char *const *assignments) {
    (void)cfg, (void)n, (void)assignments;
    return NO_YAML("gm_config_set_all");
}

gm_status gm_config_to_string(const gm_config *cfg, char **out) {
    (void)cfg;
    if (out) *out = NULL;
    return NO_YAML("gm_config_to_string");
}

gm_status gm_config_write(const gm_config *cfg, const char *path) {
    (void)cfg, (void)path;
    return NO_YAML("gm_config_write");
}

gm_status gm_config_reference(bool markdown, char **out) {
    (void)markdown;
    if (out) *out = NULL;
    return NO_YAML("gm_config_reference");
}

const gm_model_desc *gm_config_model(const gm_config *cfg) {
    (void)cfg;
    return NULL;
}

const gm_fit_options *gm_config_fit(const gm_config *cfg) {
    (void)cfg;
    return NULL;
}

const gm_data_config *gm_config_data(const gm_config *cfg) {
    (void)cfg;
    return NULL;
}

const char *gm_config_output_dir(const gm_config *cfg) {
    (void)cfg;
    return NULL;
}

uint64_t gm_config_seed(const gm_config *cfg) {
    (void)cfg;
    return 0;
}

/* Every enumerator has its case (-Wswitch names one added without). */
const char *gm_data_source_name(gm_data_source source) {
    switch (source) {
    case GM_DATA_GENERATED: return "generated";
    case GM_DATA_IDX: return "idx";
    case GM_DATA_AMAT: return "amat";
    case GM_DATA_CIFAR10: return "cifar10";
    case GM_DATA_NORB: return "norb";
    case GM_DATA_NPY: return "npy";
    case GM_DATA_PLUME: return "plume";
    }
    return NULL;
}

const char *gm_config_model_kind_name(gm_model_kind kind) {
    switch (kind) {
    case GM_MODEL_GMCNN: return "gmcnn";
    case GM_MODEL_PLUME: return "plume";
    case GM_MODEL_GMCNN_DEEP: return "deep";
    case GM_MODEL_CNN: return "cnn";
    case GM_MODEL_MLP: return "mlp";
    case GM_MODEL_LDR: return "ldr";
    }
    return NULL;
}

/* --- gmcnn/run.h ----------------------------------------------------------- */

gm_status gm_run_train(gm_config *cfg, const gm_run_options *opt, gm_run_result *out) {
    (void)cfg, (void)opt;
    if (out) memset(out, 0, sizeof *out);
    return NO_YAML("gm_run_train");
}
