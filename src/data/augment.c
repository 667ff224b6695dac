/* Exact image transforms and the random augmentation of training images (see
 * datasets.h). */
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/datasets.h"

#define PI 3.14159265358979323846

void gm_image_rot90_f32(const float *src, int64_t h, int64_t w, int turns, float *dst) {
    const int k = ((turns % 4) + 4) % 4;
    /* dst[r][c] = src at the inversely turned position; for one
     * counter-clockwise turn of an n x n image that is src[c][n-1-r]. */
    for (int64_t r = 0; r < h; r++) {
        for (int64_t c = 0; c < w; c++) {
            int64_t sr = r, sc = c;
            if (k == 1) sr = c, sc = w - 1 - r;
            else if (k == 2) sr = h - 1 - r, sc = w - 1 - c;
            else if (k == 3) sr = h - 1 - c, sc = r;
            dst[r * w + c] = src[sr * w + sc];
        }
    }
}

void gm_image_flip_f32(const float *src, int64_t h, int64_t w, bool horizontal, bool vertical,
                       float *dst) {
    for (int64_t r = 0; r < h; r++) {
        const float *row = src + (vertical ? h - 1 - r : r) * w;
        float *out = dst + r * w;
        if (horizontal)
            for (int64_t c = 0; c < w; c++) out[c] = row[w - 1 - c];
        else
            memcpy(out, row, (size_t)w * sizeof *out);
    }
}

void gm_image_translate_f32(const float *src, int64_t h, int64_t w, int64_t dy, int64_t dx,
                            float *dst) {
    for (int64_t r = 0; r < h; r++) {
        const int64_t sr = r - dy;
        for (int64_t c = 0; c < w; c++) {
            const int64_t sc = c - dx;
            dst[r * w + c] = sr >= 0 && sr < h && sc >= 0 && sc < w ? src[sr * w + sc] : 0.0f;
        }
    }
}

bool gm_augment_enabled(const gm_augment *a) {
    return a && (a->rotate != GM_AUGMENT_ROTATE_NONE || a->flip != GM_AUGMENT_FLIP_NONE ||
                 a->translate > 0);
}

gm_status gm_augment_check(const gm_augment *a, int64_t h, int64_t w) {
    GM_RETURN_ERROR_IF(!a, GM_ERR_INVALID_ARG, "augmentation: NULL argument");
    GM_RETURN_ERROR_IF((int)a->rotate < 0 || (int)a->rotate > GM_AUGMENT_ROTATE_90,
                       GM_ERR_INVALID_ARG, "augmentation: rotate = %d is not none, any or 90",
                       (int)a->rotate);
    GM_RETURN_ERROR_IF((int)a->flip < 0 || (int)a->flip > GM_AUGMENT_FLIP_BOTH,
                       GM_ERR_INVALID_ARG,
                       "augmentation: flip = %d is not none, horizontal, vertical or both",
                       (int)a->flip);
    GM_RETURN_ERROR_IF(!(a->max_angle >= 0.0 && a->max_angle <= 180.0), GM_ERR_INVALID_ARG,
                       "augmentation: max_angle = %g must be in [0, 180] degrees", a->max_angle);
    GM_RETURN_ERROR_IF(a->max_angle > 0.0 && a->rotate != GM_AUGMENT_ROTATE_ANY,
                       GM_ERR_INVALID_ARG, "augmentation: max_angle needs rotate any");
    GM_RETURN_ERROR_IF(a->translate < 0 || a->translate > 65536, GM_ERR_INVALID_ARG,
                       "augmentation: translate = %lld must be in 0..65536",
                       (long long)a->translate);
    GM_RETURN_ERROR_IF(a->rotate == GM_AUGMENT_ROTATE_90 && h > 0 && w > 0 && h != w,
                       GM_ERR_SHAPE,
                       "augmentation: rotate 90 needs square images, got %lldx%lld",
                       (long long)h, (long long)w);
    return GM_OK;
}

gm_augment_draw gm_augment_sample(const gm_augment *a, gm_rng *rng) {
    gm_augment_draw d = {0};
    if (a->rotate == GM_AUGMENT_ROTATE_ANY) {
        const double u = gm_rng_uniform(rng);
        d.angle = a->max_angle > 0.0 ? (2.0 * u - 1.0) * a->max_angle * (PI / 180.0)
                                     : u * (2.0 * PI);
    } else if (a->rotate == GM_AUGMENT_ROTATE_90) {
        d.turns = (int)gm_rng_below(rng, 4);
    }
    if (a->flip == GM_AUGMENT_FLIP_HORIZONTAL || a->flip == GM_AUGMENT_FLIP_BOTH)
        d.flip_h = gm_rng_below(rng, 2) != 0;
    if (a->flip == GM_AUGMENT_FLIP_VERTICAL || a->flip == GM_AUGMENT_FLIP_BOTH)
        d.flip_v = gm_rng_below(rng, 2) != 0;
    if (a->translate > 0) {
        const uint32_t span = (uint32_t)(2 * a->translate + 1);
        d.dy = (int64_t)gm_rng_below(rng, span) - a->translate;
        d.dx = (int64_t)gm_rng_below(rng, span) - a->translate;
    }
    return d;
}

void gm_augment_apply(const gm_augment_draw *d, int64_t c, int64_t h, int64_t w,
                      const float *src, float *dst, float *scratch) {
    const int64_t hw = h * w;
    const bool rot = d->angle != 0.0 || d->turns % 4 != 0;
    const bool flip = d->flip_h || d->flip_v;
    const bool shift = d->dy != 0 || d->dx != 0;
    for (int64_t ch = 0; ch < c; ch++) {
        const float *in = src + ch * hw;
        float *out = dst + ch * hw;
        /* Each stage writes the buffer the last stage will not, so the final
         * result lands in out without a copy. */
        const int stages = rot + flip + shift;
        if (stages == 0) {
            memcpy(out, in, (size_t)hw * sizeof *out);
            continue;
        }
        float *bufs[2] = {stages % 2 ? out : scratch, stages % 2 ? scratch : out};
        int k = 0;
        const float *cur = in;
        if (rot) {
            if (d->turns % 4 != 0)
                gm_image_rot90_f32(cur, h, w, d->turns, bufs[k]);
            else
                gm_image_rotate_f32(cur, h, w, d->angle, bufs[k]);
            cur = bufs[k];
            k ^= 1;
        }
        if (flip) {
            gm_image_flip_f32(cur, h, w, d->flip_h, d->flip_v, bufs[k]);
            cur = bufs[k];
            k ^= 1;
        }
        if (shift) gm_image_translate_f32(cur, h, w, d->dy, d->dx, bufs[k]);
    }
}
