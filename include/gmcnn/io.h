/* gmcnn io: safetensors files (tensors, checkpoints, model weights), metric
 * logs and PNG plots.
 *
 * Layout of a safetensors file: an 8-byte little-endian u64 N, then N bytes
 * of UTF-8 JSON, then the data region. The JSON is one object: an optional
 * "__metadata__" member mapping strings to strings, and one member per tensor,
 *     "<name>": {"dtype": "F32", "shape": [3, 2], "data_offsets": [b, e]}
 * whose elements (little-endian, C order) are bytes [b, e) of the data
 * region. The tensors' ranges are contiguous, do not overlap and cover the
 * whole data region. The files interoperate with the safetensors library of
 * Hugging Face in both directions (only the dtypes below).
 *
 * Element types are gm_dtype of include/gmcnn/data.h: F32, F64, I32, I64 and
 * U8 in safetensors' spelling. Shapes have 0..GM_ST_MAX_DIMS dimensions
 * (0 = a scalar with one element); a dimension may be 0.
 *
 * Failures on bad input record a one-line detail naming the file and the
 * place (gm_error_detail()), e.g. "safetensors 'm.safetensors' tensor
 * 'fc.weight': data_offsets [0, 12) do not match F32 (3, 2) = 24 bytes" or
 * "safetensors 'm.safetensors' at byte 57: expected ':' after a key".
 */
#ifndef GMCNN_IO_H
#define GMCNN_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/data.h"
#include "gmcnn/nn.h"
#include "gmcnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GM_ST_MAX_DIMS 8

/* Largest JSON header the reader accepts, as in the safetensors library. */
#define GM_ST_MAX_HEADER_BYTES 100000000

/* One tensor of a safetensors file: what the writer takes and what the reader
 * hands back. data holds numel * gm_dtype_size(dtype) bytes in C order and
 * host byte order (gmcnn requires a little-endian host, like the files). */
typedef struct gm_st_entry {
    const char *name;
    gm_dtype dtype;
    int ndim; /* 0..GM_ST_MAX_DIMS */
    int64_t shape[GM_ST_MAX_DIMS];
    const void *data;
} gm_st_entry;

/* An entry viewing a tensor's values (not copied): dtype F32, or F64 in a
 * build where gm_real is double. */
gm_st_entry gm_st_entry_tensor(const char *name, const gm_tensor *t);

/* --- writing -------------------------------------------------------------- */

/* Writes n tensors and nmeta metadata pairs to `path`.
 *
 * The header lists "__metadata__" first (only when nmeta > 0), with its pairs
 * in the order given, then the tensors in the order given, whose data follow
 * one another in that order; the JSON has no whitespace and is padded with
 * spaces so that the data region starts at a multiple of 8 bytes. The same
 * arguments always give the same bytes.
 *
 * The write is atomic: the bytes go to a new "<path>.tmp.XXXXXX" in the same
 * directory, are flushed to disk and renamed over `path`; on any failure the
 * temporary is removed and an existing file at `path` is left untouched. The
 * new file takes the permissions an ordinary create would give it.
 *
 * Returns GM_OK; GM_ERR_INVALID_ARG for a NULL path, a negative count, NULL
 * arrays with a positive count, a NULL, empty or duplicate name, the name
 * "__metadata__", a NULL or duplicate metadata key, a NULL metadata value,
 * a name, key or value that is not valid UTF-8, a dtype outside gm_dtype,
 * ndim out of range, a negative dimension, a size that overflows, or NULL
 * data with elements; GM_ERR_IO when the temporary cannot be created,
 * written or renamed (a missing directory, a full disk); GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_safetensors_write(const char *path, int64_t n,
                                            const gm_st_entry *entries, int64_t nmeta,
                                            const char *const *meta_keys,
                                            const char *const *meta_values);

/* --- reading -------------------------------------------------------------- */

typedef struct gm_safetensors gm_safetensors;

/* Reads and validates a whole safetensors file into memory (*out, release
 * with gm_safetensors_free; NULL on failure).
 *
 * Checked: the file has the 8-byte size; N <= GM_ST_MAX_HEADER_BYTES and
 * 8 + N <= file size; the header is valid UTF-8 without NUL bytes and one
 * JSON object followed only by whitespace; member names are unique;
 * "__metadata__", when present, is an object whose values are all strings;
 * every other member is an object with exactly the keys "dtype" (a string),
 * "shape" (an array of non-negative integers) and "data_offsets" (an array of
 * two non-negative integers b <= e); b and e lie inside the data region and
 * e - b equals numel times the element size without overflow; sorted by
 * offset, the ranges follow one another with no gap or overlap from 0 to the
 * end of the file. Tensor names and metadata strings may not contain U+0000.
 *
 * Returns GM_OK; GM_ERR_IO when the file cannot be opened or read (or is a
 * directory); GM_ERR_FORMAT for any violation above and for a dtype string
 * that safetensors does not define; GM_ERR_UNSUPPORTED naming the tensor for
 * a dtype that safetensors defines but gmcnn does not read (F16, BF16, BOOL,
 * I8, I16, U16, U32, U64, F8_*) and for more than GM_ST_MAX_DIMS dimensions;
 * GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_safetensors_read(const char *path, gm_safetensors **out);
void gm_safetensors_free(gm_safetensors *st);

/* Number of tensors. Tensors are numbered in the order of their data in the
 * file; an empty tensor comes before a tensor starting at its offset, and
 * empty tensors at one offset are ordered by name. */
int64_t gm_safetensors_count(const gm_safetensors *st);
/* Tensor i (0 <= i < count), or NULL. The entry, its name and its data are
 * owned by st and live until gm_safetensors_free. The data pointer is
 * aligned to 8 bytes, so it may be read as the dtype's C type directly. */
const gm_st_entry *gm_safetensors_entry(const gm_safetensors *st, int64_t i);
/* Name of tensor i, or NULL when i is out of range. */
const char *gm_safetensors_name(const gm_safetensors *st, int64_t i);
/* Index of the tensor called `name`, or -1 when there is none. */
int64_t gm_safetensors_find(const gm_safetensors *st, const char *name);
/* Total element count of an entry (1 for a scalar), or -1 for an invalid one. */
int64_t gm_st_entry_numel(const gm_st_entry *e);

/* Metadata pairs, in the order of the file. */
int64_t gm_safetensors_meta_count(const gm_safetensors *st);
/* Pair i (0 <= i < meta_count) into *key and *value (either may be NULL);
 * returns false, leaving them alone, when i is out of range. */
bool gm_safetensors_meta_at(const gm_safetensors *st, int64_t i, const char **key,
                            const char **value);
/* Value for `key`, or NULL when the file has no such key. */
const char *gm_safetensors_meta_get(const gm_safetensors *st, const char *key);

/* --- models --------------------------------------------------------------- */

/* Tensors under this prefix belong to whoever wrote them (training
 * checkpoints keep optimizer state there); gm_safetensors_load_model skips
 * them. */
#define GM_ST_OPTIM_PREFIX "optim."

/* Writes every parameter of m under its name (gm_model_param_name) with
 * gm_safetensors_write: F32, or F64 in a build where gm_real is double.
 * Returns what gm_safetensors_write returns, or GM_ERR_INVALID_ARG for a NULL
 * model. */
GM_NODISCARD gm_status gm_safetensors_save_model(const char *path, const gm_model *m,
                                                 int64_t nmeta, const char *const *meta_keys,
                                                 const char *const *meta_values);

/* Reads `path` and copies its tensors into m's parameters by name. Every
 * parameter must be present with exactly its shape, as F32 or F64 (converted
 * to gm_real); every tensor must be a parameter or sit under
 * GM_ST_OPTIM_PREFIX. Everything is checked before anything is copied, so on
 * failure m is unchanged.
 *
 * Returns GM_OK; the errors of gm_safetensors_read; GM_ERR_NOT_FOUND for a
 * parameter the file lacks; GM_ERR_SHAPE for a shape mismatch; GM_ERR_FORMAT
 * for a tensor that is not a parameter or a parameter stored with an integer
 * dtype; GM_ERR_INVALID_ARG for NULL arguments. */
GM_NODISCARD gm_status gm_safetensors_load_model(const char *path, gm_model *m);

/* --- metric logs and plots ------------------------------------------------ */

/* One epoch of a training run: a line of the metric log (gmcnn/train.h
 * writes it, the readers and plots below take it). */
typedef struct gm_epoch_record {
    int64_t epoch; /* 1-based */
    double lr;
    double train_loss, train_accuracy;
    double val_loss, val_accuracy;
    double seconds;
    double samples_per_second;
    bool best; /* the selection criterion improved: the best checkpoint was updated */
} gm_epoch_record;

/* Reads the JSON-lines metric log the trainer writes (one object per epoch:
 * "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
 * "seconds", "samples_per_s", "best") into *records (n of them, in file
 * order; release with gm_free). "epoch" (an integer >= 1) and the four
 * loss/accuracy members are required; a number or null (NaN: no validation
 * set) each. The others may be missing (NaN, false). Blank lines are skipped.
 *
 * Returns GM_OK (n may be 0); GM_ERR_IO when the file cannot be read;
 * GM_ERR_FORMAT naming the file, line and member for a line that is not a
 * JSON object or a member of the wrong type; GM_ERR_INVALID_ARG for NULL
 * arguments; GM_ERR_NOMEM. Outputs are 0 / NULL on failure. */
GM_NODISCARD gm_status gm_metrics_jsonl_read(const char *path, int64_t *n,
                                             gm_epoch_record **records);
/* The same from text in memory (len bytes, not necessarily NUL-terminated);
 * details begin with `name` ("metrics file 'm.jsonl'"), then the line. */
GM_NODISCARD gm_status gm_metrics_jsonl_parse(const char *text, size_t len, const char *name,
                                              int64_t *n, gm_epoch_record **records);

/* --- output directories -------------------------------------------------- */

/* True when both paths exist and name the same file or directory (the same
 * device and inode, however the paths spell it): outputs are checked
 * against inputs with it, so that no output overwrites an input. */
bool gm_same_file(const char *a, const char *b);

/* The lock file inside a run's output directory. */
#define GM_OUTPUT_DIR_LOCK ".gmcnn-lock"

/* Takes the exclusive lock of an existing output directory for this
 * process, so that two runs never write into one directory: held until
 * gm_output_dir_unlock(*fd) or the end of the process (however it ends; a
 * lock is never stale). Returns GM_OK; GM_ERR_BUSY when another process
 * holds it (the detail names the directory and that process); GM_ERR_IO. */
GM_NODISCARD gm_status gm_output_dir_lock(const char *dir, int *fd);
void gm_output_dir_unlock(int fd);

/* Size of the image gm_plot_metrics_png draws, in pixels. */
#define GM_PLOT_WIDTH 1200
#define GM_PLOT_HEIGHT 500

/* Draws a GM_PLOT_WIDTH x GM_PLOT_HEIGHT PNG of n epoch records: on the left
 * the training and validation loss, on the right the training and validation
 * accuracy (percent), against the epoch, with axes, ticks, labels, a legend
 * and `title` (NULL or "" for none) above. Non-finite values are left out
 * (a validation curve without validation data draws nothing). Records
 * without any finite accuracy (forecasting runs, whose losses are RMSEs;
 * gmcnn/forecast.h) get one panel of the width of both, its axis labelled
 * RMSE. The write is atomic, as gm_safetensors_write's.
 *
 * Returns GM_OK; GM_ERR_INVALID_ARG for a NULL path, n < 1 or NULL records;
 * GM_ERR_IO when the file cannot be written; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_plot_metrics_png(const char *path, int64_t n,
                                           const gm_epoch_record *records, const char *title);

/* Most rows gm_plot_fields_png draws. */
#define GM_PLOT_FIELDS_MAX_ROWS 32

/* Draws a PNG of a velocity forecast: one row per frame, labelled
 * "step <steps[r]>", two columns, the true and the predicted velocity
 * magnitude sqrt(u^2 + v^2), on one colour scale (viridis from 0 to the
 * largest magnitude of every panel) shared by all panels and shown by a
 * labelled colour bar on the right, and `title` (NULL or "" for none) above.
 * truth and pred hold nrows frames of (2, height, width) floats (channel 0 =
 * x, 1 = y; row = y). Rows of a frame are drawn bottom-up, so y grows
 * upwards as in the simulation; each cell is a square of whole pixels (a
 * panel is about 192 pixels wide). The write is atomic, as
 * gm_safetensors_write's.
 *
 * Returns GM_OK; GM_ERR_INVALID_ARG for NULL arguments, nrows outside
 * 1..GM_PLOT_FIELDS_MAX_ROWS, sizes outside 1..4096 or a non-finite value;
 * GM_ERR_IO when the file cannot be written; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_plot_fields_png(const char *path, int64_t nrows, const int64_t *steps,
                                          int64_t height, int64_t width, const float *truth,
                                          const float *pred, const char *title);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_IO_H */
