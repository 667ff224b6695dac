/* gmcnn config: one YAML file describes a whole run — the model, the
 * training options, the data and where results go.
 *
 * Every key, with what it takes, its default, the kinds it applies to and
 * its meaning: `gmcnn config keys`, or docs/config.md, both printed by
 * gm_config_reference from the one schema table the parser, the checks and
 * the writer work from. In short: sections model, data, trainer, optimizer,
 * scheduler, early_stopping, output and augment, and the top-level seed.
 * "kind" keys (model.kind, data.source, optimizer.kind, scheduler.kind) are
 * read before the keys they qualify, whatever their position in the file;
 * the optimizer and scheduler defaults are PyTorch's for the kind, as the
 * reference protocol fixes them, so a reference config needs only the
 * values it changes.
 *
 * Data paths (data.images, data.path, ...) in a config file are relative to
 * the file's directory: gm_config_load joins them to it; gm_config_parse
 * and gm_config_set keep them as given (the working directory's). The
 * canonical form (gm_config_to_string) writes them absolute. output.dir is
 * the working directory's.
 *
 * Errors: unknown keys, duplicate keys (also two aliases of one field),
 * values of the wrong type, out-of-range values, keys that do not apply to
 * the chosen data source and bad group specs are rejected with a one-line
 * detail naming the config, the line and the key path, e.g.
 *   "config 'x.yaml' line 7: unknown key 'model.blok'"
 * (GM_ERR_INVALID_ARG for schema and value errors, GM_ERR_GROUP_SPEC for a
 * spec that does not parse, GM_ERR_FORMAT for YAML syntax errors, GM_ERR_IO
 * when the file cannot be read, GM_ERR_NOMEM).
 */
#ifndef GMCNN_CONFIG_H
#define GMCNN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/forecast.h"
#include "gmcnn/nn.h"
#include "gmcnn/optim.h"
#include "gmcnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gm_data_source {
    GM_DATA_GENERATED = 0,
    GM_DATA_IDX = 1,
    GM_DATA_AMAT = 2,
    GM_DATA_CIFAR10 = 3,
    GM_DATA_NORB = 4,
    GM_DATA_NPY = 5,
    GM_DATA_PLUME = 6
} gm_data_source;

#define GM_CONFIG_MAX_FILES 16

/* The data section. Paths not used by the source are NULL; strings are
 * owned by the config. */
typedef struct gm_data_config {
    gm_data_source source;
    int64_t batch_size;
    double val_fraction;
    bool normalize;
    /* idx, npy: images/labels; amat: train in train_images; norb: train_dat
     * in train_images, train_cat in train_labels; likewise for test_*.
     * cifar10: the test batch in test_images. NULL when not given. */
    const char *train_images;
    const char *train_labels;
    const char *test_images;
    const char *test_labels;
    /* cifar10: the training batch files. */
    int64_t ntrain_files;
    const char *train_files[GM_CONFIG_MAX_FILES];
    /* generated */
    const char *gen_kind;   /* a gmcnn/datasets.h kind name: "rotated", "back-image", ... */
    const char *gen_digits; /* source images: "mnist" (the 10k digits) or "fashion" */
    uint64_t gen_seed;
    int64_t gen_num_train;
    int64_t gen_num_test;
    const char *gen_path; /* "" = the default location */
    bool gen_official;    /* data.split official: Fashion-MNIST's own train/test files */
    double gen_max_angle; /* data.max_angle, degrees; 0 = a full turn */
    /* data.val_size: exactly this many held out for validation; -1 = use
     * val_fraction. */
    int64_t val_size;
    /* plume: the dataset directory (data.path; NULL for other sources) and
     * the forecasting protocol (the reference protocol defaults unless set). */
    const char *plume_dir;
    gm_forecast_protocol forecast;
    /* Derived, not a YAML key: the image size the model takes, model.image_h
     * x model.image_w, else |G1| x |G2| of a two-factor group; 0 x 0 when
     * unknown (no group, a one-factor or table group). norb images are
     * reduced to it (gm_data_load). */
    int64_t image_h, image_w;
} gm_data_config;

/* --- the data a config names ------------------------------------------------ */

/* Loads the training and test sets a config's data section names; `test` is
 * empty (n = 0, NULL arrays) when the source has no test files. Both sets
 * get the same `classes` (the larger of max(label) + 1 of the two). Per
 * source:
 *   idx, npy   images (N, H, W) or (N, C, H, W), labels (N); U8 pixels are
 *              scaled by 1/255, float pixels taken as stored
 *   amat       (N, D) rows with D = H * W square
 *   cifar10    the training batches concatenated in the order listed, the
 *              test batch; (N, 3, 32, 32)
 *   norb       the -dat files give (N, 2, H, W) stereo pairs (96x96
 *              smallNORB, 108x108 NORB): the first camera is kept and
 *              area-averaged (gm_image_resize_area_f32) to dc->image_h x
 *              dc->image_w, the size the config's model takes (|G1| x |G2|
 *              of a two-factor group); at the stored size when that is 0
 *              or equal. (N, H, W) files are taken as one camera.
 *   generated  gm_dataset_make with the convention of `gmcnn data make`:
 *              digits "mnist" from <default_data_dir>/mnist10k
 *              (images-idx3-ubyte.gz, labels-idx1-ubyte.gz), "fashion" from
 *              the training half of /usr/share/datasets/fashion-mnist
 *              (data.split pooled: num_train + num_test drawn from it); with
 *              data.split official (fashion only) the training set is the
 *              first num_train images of train-*-ubyte.gz and the test set
 *              the first num_test of t10k-*-ubyte.gz (the official split;
 *              data.max_angle passes to the generator); the
 *              back-image kinds take backgrounds from Fashion-MNIST's
 *              training images; data.path, when not "", replaces the source
 *              directory. default_data_dir NULL means "build/data".
 *   plume      not a classification set: GM_ERR_INVALID_ARG (forecasting
 *              data load with gm_plume_data_load of gmcnn/forecast.h).
 * Returns GM_OK; GM_ERR_IO when a file is missing or unreadable (for
 * generated sources the detail says to run `make data`, i.e.
 * scripts/setup-data.sh); the readers' GM_ERR_FORMAT / GM_ERR_SHAPE;
 * GM_ERR_INVALID_ARG for a config without the paths its source needs;
 * GM_ERR_NOMEM. Outputs are overwritten, and zeroed on failure. */
GM_NODISCARD gm_status gm_data_load(const gm_data_config *dc, const char *default_data_dir,
                                    gm_dataset *train, gm_dataset *test);
/* gm_data_load for a model with `classes` outputs (its model.num_classes):
 * every label of both sets must lie in 0..classes-1, else GM_ERR_INVALID_ARG
 * naming the file (or the data source) and the sample, and both sets get
 * `classes` classes. classes = 0 is gm_data_load. Every image value must be
 * finite (both functions): GM_ERR_INVALID_ARG naming the file and the
 * sample otherwise. */
GM_NODISCARD gm_status gm_data_load_classes(const gm_data_config *dc,
                                            const char *default_data_dir, int64_t classes,
                                            gm_dataset *train, gm_dataset *test);

typedef struct gm_config gm_config;

/* model.num_classes when a config leaves it out (gm_config_new_default). */
#define GM_CONFIG_DEFAULT_CLASSES 10

/* Parses and validates a config file / a YAML string. `name` labels the
 * string in details (NULL = "<string>"). *out is NULL on failure. */
GM_NODISCARD gm_status gm_config_load(const char *path, gm_config **out);
GM_NODISCARD gm_status gm_config_parse(const char *yaml, const char *name, gm_config **out);
/* A config holding every default (no group: not valid for a GM model until
 * model.spec or model.group/order is set). */
GM_NODISCARD gm_status gm_config_new_default(gm_config **out);
void gm_config_free(gm_config *cfg);

/* Applies one "key.path=value" override (the CLI's --set), value in YAML
 * syntax ("model.blocks=[{num_layers: 1, out_channels: 64}]"), then
 * revalidates the whole config. Setting model.group or model.order drops a
 * model.spec, so the reference keys take effect. On error the config is
 * unchanged and the detail names the override and the key. */
GM_NODISCARD gm_status gm_config_set(gm_config *cfg, const char *assignment);
/* Several overrides applied in order and validated once at the end (so a
 * data.source change can come with its paths); all or nothing. */
GM_NODISCARD gm_status gm_config_set_all(gm_config *cfg, int64_t n,
                                         const char *const *assignments);

/* The resolved config as canonical YAML (model.spec rather than
 * group/order); parsing it gives an equal config. *out is gm_malloc'd
 * (gm_free it). write: atomically replaces `path`. */
GM_NODISCARD gm_status gm_config_to_string(const gm_config *cfg, char **out);
GM_NODISCARD gm_status gm_config_write(const gm_config *cfg, const char *path);

/* The key reference: every key with what it takes, its default, the kinds
 * it applies to and what it means, from the schema the parser, the writer
 * and the checks use (`gmcnn config keys`; docs/config.md holds the Markdown
 * form). markdown: Markdown tables, a section each; else plain text. *out
 * is gm_malloc'd (gm_free it). */
GM_NODISCARD gm_status gm_config_reference(bool markdown, char **out);

/* Views into the config (valid until it is freed or changed by
 * gm_config_set). The model description's group points at the config's
 * resolved spec string. The fit options carry no paths and no callbacks:
 * copy them and fill those in. */
const gm_model_desc *gm_config_model(const gm_config *cfg);
const gm_fit_options *gm_config_fit(const gm_config *cfg);
const gm_data_config *gm_config_data(const gm_config *cfg);
const char *gm_config_output_dir(const gm_config *cfg);
uint64_t gm_config_seed(const gm_config *cfg);

/* "generated", "idx", "amat", "cifar10", "norb", "npy", "plume" (NULL if
 * unknown). */
const char *gm_data_source_name(gm_data_source source);
/* The config names of model kinds: "gmcnn", "plume", "deep", "cnn", "mlp",
 * "ldr" (NULL if unknown). */
const char *gm_config_model_kind_name(gm_model_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_CONFIG_H */
