/* Bilinear rotation of byte and float images (see gm_image_rotate_u8 and
 * gm_image_rotate_f32 in datasets.h). */
#include <math.h>

#include "gmcnn/datasets.h"

static double pixel_or_zero(const uint8_t *src8, const float *srcf, int64_t h, int64_t w,
                            int64_t r, int64_t c) {
    if (r < 0 || r >= h || c < 0 || c >= w) return 0.0;
    return src8 ? (double)src8[r * w + c] : (double)srcf[r * w + c];
}

/* One source of truth for both pixel types, so the float rotation is the byte
 * rotation without its final rounding. Exactly one of src8 / srcf is set. */
static inline double rotated_value(const uint8_t *src8, const float *srcf, int64_t h, int64_t w,
                                   double cs, double sn, int64_t r, int64_t c) {
    const double cy = 0.5 * (double)(h - 1), cx = 0.5 * (double)(w - 1);
    /* Inverse map: the source point that lands on (r, c). With rows
     * pointing down, a counter-clockwise turn on screen maps
     * (dx, dy) -> (dx cos + dy sin, -dx sin + dy cos). */
    const double dx = (double)c - cx, dy = (double)r - cy;
    const double sx = cs * dx - sn * dy + cx;
    const double sy = sn * dx + cs * dy + cy;
    const double fx = floor(sx), fy = floor(sy);
    const double ax = sx - fx, ay = sy - fy;
    const int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    if (fx < -1.0 || fy < -1.0 || fx > (double)w || fy > (double)h) return 0.0;
    const double p00 = pixel_or_zero(src8, srcf, h, w, y0, x0);
    const double p01 = pixel_or_zero(src8, srcf, h, w, y0, x0 + 1);
    const double p10 = pixel_or_zero(src8, srcf, h, w, y0 + 1, x0);
    const double p11 = pixel_or_zero(src8, srcf, h, w, y0 + 1, x0 + 1);
    const double top = p00 + ax * (p01 - p00);
    const double bot = p10 + ax * (p11 - p10);
    return top + ay * (bot - top);
}

void gm_image_rotate_u8(const uint8_t *src, int64_t h, int64_t w, double angle, uint8_t *dst) {
    /* sin and cos once per image: the only libm results the output depends on. */
    const double cs = cos(angle), sn = sin(angle);
    for (int64_t r = 0; r < h; r++) {
        for (int64_t c = 0; c < w; c++) {
            double q = floor(rotated_value(src, NULL, h, w, cs, sn, r, c) + 0.5);
            if (q < 0.0) q = 0.0;
            if (q > 255.0) q = 255.0;
            dst[r * w + c] = (uint8_t)q;
        }
    }
}

void gm_image_rotate_f32(const float *src, int64_t h, int64_t w, double angle, float *dst) {
    /* Angle 0 copies: 0 * (p01 - p00) would turn an infinite pixel into NaN. */
    if (angle == 0.0) {
        for (int64_t i = 0; i < h * w; i++) dst[i] = src[i];
        return;
    }
    const double cs = cos(angle), sn = sin(angle);
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++)
            dst[r * w + c] = (float)rotated_value(NULL, src, h, w, cs, sn, r, c);
}
