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

#include <stdbool.h>
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
/* gm_matrix_read that also gives, when dtype is not NULL, the type the values
 * were stored in: the .npy file's dtype, GM_DTYPE_F64 for text (set on
 * success only). Its precision is the one the values carry, e.g. for the
 * tolerance of a numerical rank (gm_gmat_displacement_rank_eps). */
GM_NODISCARD gm_status gm_matrix_read_dtype(const char *path, int64_t *rows, int64_t *cols,
                                            double **out, gm_dtype *dtype);

/* ---- dataset file formats ------------------------------------------------
 *
 * Readers for the files public datasets come in. Binary readers (IDX, NORB,
 * CIFAR-10) recognise gzip compression by its magic bytes (1f 8b), not by
 * the file name, and read through it transparently; offsets in details then
 * count uncompressed bytes ("at uncompressed byte 16"). When the file size
 * is known (a plain regular file) a truncated or oversized file is rejected
 * before any allocation; compressed or piped input is read incrementally and
 * refused above 4 GiB of content (GM_ERR_TOO_LARGE). Bytes after the end of
 * a complete gzip stream are ignored, as zlib ignores them. As with
 * gm_npy_read, the output arrays are overwritten and left zeroed on failure. */

/* Reads an IDX file (the MNIST / Fashion-MNIST format), plain or gzipped:
 * bytes 00 00 <type> <ndim>, ndim big-endian uint32 dimensions, then the
 * elements in C order, big-endian. ndim may be 0..GM_ARRAY_MAX_DIMS.
 *
 * Element types: 0x08 uint8 -> GM_DTYPE_U8; 0x09 int8, 0x0B int16 and
 * 0x0C int32 -> GM_DTYPE_I32 (the narrow types widened); 0x0D float32 ->
 * GM_DTYPE_F32; 0x0E float64 -> GM_DTYPE_F64. Values are converted to host
 * byte order; float NaN/infinities are kept. For MNIST, images come back as
 * (N, 28, 28) uint8 and labels as (N) uint8.
 *
 * Returns GM_OK; GM_ERR_IO when the file cannot be opened or read (or is a
 * directory); GM_ERR_FORMAT for a bad magic, an unknown type code, more
 * than GM_ARRAY_MAX_DIMS dimensions, a file ending inside the header, a
 * shape whose byte size overflows, truncated data, trailing bytes, or a
 * corrupt or truncated gzip stream ("idx file 'x.gz' at uncompressed byte
 * 24: gzip stream is truncated"); GM_ERR_TOO_LARGE when a gzipped or piped
 * file declares more than 4 GiB of data; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_idx_read(const char *path, gm_array *out);

/* Writes *a as an IDX file, gzip-compressed when `gzip` is true (whatever
 * the file name). dtype U8, I32, F32 and F64 map to types 0x08, 0x0C, 0x0D,
 * 0x0E; every dimension must be at most 2^32 - 1. The write is atomic, as
 * for gm_npy_write (temporary "<path>.tmp.XXXXXX", fsync, rename; the
 * target is untouched on failure).
 *
 * Returns GM_OK; GM_ERR_UNSUPPORTED for GM_DTYPE_I64 (IDX has no 64-bit
 * integer type); GM_ERR_INVALID_ARG for a NULL argument, an unknown dtype,
 * ndim out of range, a negative or too large dimension, or NULL data with
 * elements; GM_ERR_IO when the file cannot be created, written or renamed;
 * GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_idx_write(const char *path, const gm_array *a, bool gzip);

/* Reads a NORB / smallNORB "binary matrix" file (*-dat.mat, *-cat.mat,
 * *-info.mat), plain or gzipped: a little-endian int32 magic giving the
 * element type, int32 ndim, max(ndim, 3) int32 dimensions of which the
 * first ndim are the shape (the rest, 1 in practice, are ignored), then the
 * elements in C order, little-endian. ndim may be 0..GM_ARRAY_MAX_DIMS.
 *
 * Magic -> dtype: 0x1E3D4C55 byte -> GM_DTYPE_U8; 0x1E3D4C54 int32 and
 * 0x1E3D4C56 int16 (widened) -> GM_DTYPE_I32; 0x1E3D4C51 float32 ->
 * GM_DTYPE_F32; 0x1E3D4C53 float64 -> GM_DTYPE_F64. smallNORB's -dat file
 * comes back as (N, 2, 96, 96) uint8, -cat as (N) int32, -info as (N, 4) int32.
 *
 * Returns GM_OK; GM_ERR_IO; GM_ERR_UNSUPPORTED for the packed-matrix magic
 * 0x1E3D4C52; GM_ERR_FORMAT for any other unknown magic, ndim negative or
 * above GM_ARRAY_MAX_DIMS, a negative dimension, a header cut short, a size
 * overflow, truncated data, trailing bytes or a corrupt gzip stream;
 * GM_ERR_TOO_LARGE; GM_ERR_NOMEM. Details name the file and byte offset. */
GM_NODISCARD gm_status gm_norb_read(const char *path, gm_array *out);

/* Reads a CIFAR-10 binary batch (data_batch_1.bin ... test_batch.bin), plain
 * or gzipped: records of one label byte and 3072 image bytes (32x32 red,
 * then green, then blue, each row-major). Fills *images with an (N, 3, 32,
 * 32) GM_DTYPE_U8 array and *labels with an (N) GM_DTYPE_I32 array of class
 * indices 0..9, N >= 1. On failure both are zeroed.
 *
 * Returns GM_OK; GM_ERR_IO; GM_ERR_FORMAT for an empty file, a size that is
 * not a multiple of 3073 bytes ("cifar file 'b.bin' at byte 6146: file size
 * 7000 is not a multiple of the record size 3073") or a label above 9 (the
 * detail names the record and its byte offset), or a corrupt gzip stream;
 * GM_ERR_TOO_LARGE for more than 4 GiB of records; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_cifar10_read(const char *path, gm_array *images, gm_array *labels);

/* Reads a Larochelle et al. .amat file (mnist-rotation, mnist-back-image,
 * rectangles, convex, ...), plain or gzipped text: one example per line, D
 * feature values then the class label, separated by blanks (spaces, tabs),
 * the same count on every line; blank lines are skipped. Values are parsed
 * with strtod (C locale) and must be finite and representable as float32;
 * the label must be an integer value in 0..INT32_MAX (written either way,
 * "3" or "3.000000e+00"). Fills *images with an (N, D) GM_DTYPE_F32 array
 * and *labels with an (N) GM_DTYPE_I32 array, N >= 1, D >= 1.
 *
 * Returns GM_OK; GM_ERR_IO; GM_ERR_FORMAT naming the file and line for a
 * token that is not a number, a non-finite or out-of-range value, a label
 * that is not a non-negative integer, a line with a different count of
 * values than the first ("amat file 'x.amat' line 7: 784 values, expected
 * 785"), a line with only a label, no lines at all, or a corrupt gzip stream;
 * GM_ERR_TOO_LARGE when the data exceeds what size_t or int64 can count;
 * GM_ERR_NOMEM. On failure both arrays are zeroed. */
GM_NODISCARD gm_status gm_amat_read(const char *path, gm_array *images, gm_array *labels);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_DATA_H */
