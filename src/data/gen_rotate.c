/* Bilinear rotation of byte images (see gm_image_rotate_u8 in datasets.h). */
#include <math.h>

#include "gmcnn/datasets.h"

static double pixel_or_zero(const uint8_t *src, int64_t h, int64_t w, int64_t r, int64_t c) {
    if (r < 0 || r >= h || c < 0 || c >= w) return 0.0;
    return (double)src[r * w + c];
}

void gm_image_rotate_u8(const uint8_t *src, int64_t h, int64_t w, double angle, uint8_t *dst) {
    /* sin and cos once per image: the only libm results the output depends on. */
    const double cs = cos(angle), sn = sin(angle);
    const double cy = 0.5 * (double)(h - 1), cx = 0.5 * (double)(w - 1);
    for (int64_t r = 0; r < h; r++) {
        for (int64_t c = 0; c < w; c++) {
            /* Inverse map: the source point that lands on (r, c). With rows
             * pointing down, a counter-clockwise turn on screen maps
             * (dx, dy) -> (dx cos + dy sin, -dx sin + dy cos). */
            const double dx = (double)c - cx, dy = (double)r - cy;
            const double sx = cs * dx - sn * dy + cx;
            const double sy = sn * dx + cs * dy + cy;
            const double fx = floor(sx), fy = floor(sy);
            const double ax = sx - fx, ay = sy - fy;
            const int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
            double v;
            if (fx < -1.0 || fy < -1.0 || fx > (double)w || fy > (double)h) {
                v = 0.0;
            } else {
                const double p00 = pixel_or_zero(src, h, w, y0, x0);
                const double p01 = pixel_or_zero(src, h, w, y0, x0 + 1);
                const double p10 = pixel_or_zero(src, h, w, y0 + 1, x0);
                const double p11 = pixel_or_zero(src, h, w, y0 + 1, x0 + 1);
                const double top = p00 + ax * (p01 - p00);
                const double bot = p10 + ax * (p11 - p10);
                v = top + ay * (bot - top);
            }
            double q = floor(v + 0.5);
            if (q < 0.0) q = 0.0;
            if (q > 255.0) q = 255.0;
            dst[r * w + c] = (uint8_t)q;
        }
    }
}
