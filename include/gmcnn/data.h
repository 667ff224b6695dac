/* gmcnn data: n-dimensional arrays, NumPy .npy files and matrix files.
 *
 * A gm_array is a plain struct: an element type, a shape of up to
 * GM_ARRAY_MAX_DIMS dimensions and a dense, C-ordered (row-major) block of
 * elements in host byte order. The data block is owned by the struct and
 * released with gm_array_free(); the readers below fill a caller-provided
 * gm_array and leave it zeroed (data == NULL) on failure.
 *
 * Every function that fails on bad input records a one-line detail naming
 * the file and the place (byte offset for .npy, line for text), readable with
 * gm_error_detail(), e.g. "npy file 'x.npy' at byte 23: shape dimension 2 is
 * negative (-1)".
 */
#ifndef GMCNN_DATA_H
#define GMCNN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "gmcnn/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GM_ARRAY_MAX_DIMS 8

/* Element types; each maps to one NumPy descr (little-endian on disk). */
typedef enum gm_dtype {
    GM_DTYPE_F32, /* '<f4' float32 */
    GM_DTYPE_F64, /* '<f8' float64 */
    GM_DTYPE_U8,  /* '|u1' uint8   */
    GM_DTYPE_I32, /* '<i4' int32   */
    GM_DTYPE_I64  /* '<i8' int64   */
} gm_dtype;

/* A dense C-ordered array. ndim is 0..GM_ARRAY_MAX_DIMS (0 = a scalar with
 * one element); shape[0..ndim) are >= 0, entries past ndim are ignored.
 * A dimension of 0 gives an empty array whose data is still a valid,
 * freeable pointer. */
typedef struct gm_array {
    gm_dtype dtype;
    int ndim;
    int64_t shape[GM_ARRAY_MAX_DIMS];
    void *data; /* owned; numel * gm_dtype_size(dtype) bytes */
} gm_array;

/* Bytes per element (1, 4 or 8), or 0 for a value outside gm_dtype. */
size_t gm_dtype_size(gm_dtype dtype);
/* NumPy descr of the type ("<f4", "|u1", ...), or "?" for a value outside gm_dtype. */
const char *gm_dtype_descr(gm_dtype dtype);

/* Number of elements (product of shape[0..ndim), 1 for ndim == 0), or -1 when
 * ndim is out of range, a dimension is negative or the product overflows int64. */
int64_t gm_array_numel(const gm_array *a);

/* Releases a->data and zeroes *a. gm_array_free(NULL) is a no-op, and so is
 * freeing a zeroed or already freed array. */
void gm_array_free(gm_array *a);

/* Reads a NumPy .npy file into *out (overwritten; it owns nothing on entry).
 *
 * Accepted: format versions 1.0, 2.0 and 3.0; a header dict with exactly the
 * keys 'descr', 'fortran_order' and 'shape'; descr '<f4', '<f8', '|u1'
 * (also '<u1' / '>u1'), '<i4', '<i8'; fortran_order False; a shape tuple of
 * 0..GM_ARRAY_MAX_DIMS non-negative integers; data of exactly
 * numel * itemsize bytes after the header, whatever its alignment.
 *
 * Returns GM_OK; GM_ERR_IO when the file cannot be opened or read;
 * GM_ERR_FORMAT for anything else the reader rejects: bad magic, a version
 * other than 1.0/2.0/3.0, a header length past the end of the file, a header
 * that is not such a dict (missing, duplicate or unknown keys, bad shape
 * tuple, negative dimension), a big-endian, object, structured or other
 * unsupported descr, fortran_order True, a shape whose byte size overflows,
 * truncated data, or trailing bytes after the data; GM_ERR_NOMEM. The reader
 * never reads past its buffers, whatever the input. */
GM_NODISCARD gm_status gm_npy_read(const char *path, gm_array *out);

/* Writes *a as a .npy file (format 1.0, C order, header padded so the data
 * starts at a multiple of 64 bytes), readable by numpy.load.
 *
 * The write is atomic: the bytes go to a new "<path>.tmp.XXXXXX" in the same
 * directory, are flushed to disk, and the temporary is renamed over `path`;
 * on any failure the temporary is removed and an existing file at `path` is
 * left untouched. The new file takes the permissions an ordinary create
 * would give it (0666 less the umask).
 *
 * Returns GM_OK; GM_ERR_INVALID_ARG for a NULL argument, an unknown dtype,
 * ndim out of range, a negative dimension, an overflowing size or NULL data
 * with elements; GM_ERR_IO when the temporary cannot be created, written or
 * renamed (for example when the directory does not exist); GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_npy_write(const char *path, const gm_array *a);

/* Converts the elements of *a, in C order, to a newly allocated array of
 * doubles (*out, gm_free it; a valid pointer even for an empty array).
 * Values are converted as C converts them: int64 magnitudes above 2^53 are
 * rounded, and NaN or infinities in float arrays are kept (the caller decides).
 * Returns GM_OK, GM_ERR_INVALID_ARG (NULL argument, invalid array) or
 * GM_ERR_NOMEM; *out is NULL on failure. */
GM_NODISCARD gm_status gm_array_to_f64(const gm_array *a, double **out);

/* Reads a 2-D matrix of doubles, row-major, into *out (gm_free it), with its
 * size in *rows and *cols.
 *
 * The format is chosen by content, not by file name: a file starting with the
 * .npy magic "\x93NUMPY" is read with gm_npy_read and must have ndim == 2 (any
 * supported dtype, converted to double); anything else is text: one row per
 * line, values separated by whitespace and/or single commas, '#' starting a
 * comment to the end of the line, blank and comment-only lines ignored, every
 * row with the same number of values, at least one row. Text values are
 * parsed with strtod (decimal or hexadecimal; the C locale's decimal point).
 * Every value must be finite, in either format.
 *
 * Returns GM_OK; GM_ERR_IO when the file cannot be opened or read;
 * GM_ERR_FORMAT for a malformed .npy (see gm_npy_read), ndim != 2, a ragged
 * row ("matrix file 'm.txt' line 4: 5 values, expected 6"), a token that is
 * not a number, an empty value between commas, a non-finite value, or no
 * rows at all; GM_ERR_NOMEM. On failure *out is NULL and *rows, *cols are 0. */
GM_NODISCARD gm_status gm_matrix_read(const char *path, int64_t *rows, int64_t *cols,
                                      double **out);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_DATA_H */
