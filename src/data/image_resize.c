/* Area-averaging resize of float images (see gm_image_resize_area_f32 in
 * datasets.h). */
#include "gmcnn/datasets.h"

/* Overlap of source cell k ([k, k+1)) with output cell i ([i, i+1) * n / m),
 * measured in units of 1/m so that it is an exact integer. */
static int64_t overlap(int64_t k, int64_t i, int64_t n, int64_t m) {
    const int64_t lo = i * n > k * m ? i * n : k * m;
    const int64_t hi = (i + 1) * n < (k + 1) * m ? (i + 1) * n : (k + 1) * m;
    return hi > lo ? hi - lo : 0;
}

void gm_image_resize_area_f32(const float *src, int64_t h, int64_t w, float *dst, int64_t oh,
                              int64_t ow) {
    for (int64_t i = 0; i < oh; i++) {
        /* Source rows the output row touches: [i h / oh, ceil((i+1) h / oh)). */
        const int64_t r0 = i * h / oh, r1 = ((i + 1) * h + oh - 1) / oh;
        for (int64_t j = 0; j < ow; j++) {
            const int64_t c0 = j * w / ow, c1 = ((j + 1) * w + ow - 1) / ow;
            double acc = 0.0;
            for (int64_t r = r0; r < r1; r++) {
                const int64_t wr = overlap(r, i, h, oh);
                if (wr == 0) continue;
                double row = 0.0;
                for (int64_t c = c0; c < c1; c++)
                    row += (double)overlap(c, j, w, ow) * (double)src[r * w + c];
                acc += (double)wr * row;
            }
            /* The weights sum to h * w (in units of 1/oh and 1/ow). */
            dst[i * ow + j] = (float)(acc / ((double)h * (double)w));
        }
    }
}
