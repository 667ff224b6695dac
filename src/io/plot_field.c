/* PNG pictures of velocity fields with cairo: true and predicted magnitude
 * of a forecast, step by step, on one colour scale. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cairo.h>

#include "core/core_internal.h"
#include "gmcnn/io.h"
#include "io/plot_internal.h"

#define FONT "sans-serif"
/* Target side of one field panel in pixels; cells are whole pixels. */
#define PANEL_TARGET 192
#define GAP 12.0
#define LEFT 78.0
#define BAR_W 18.0
#define RIGHT 90.0

/* viridis at 9 evenly spaced points (matplotlib's table): perceptually
 * uniform and readable in grey. */
static const double viridis[9][3] = {
    {0.267, 0.005, 0.329}, {0.279, 0.175, 0.483}, {0.230, 0.322, 0.546},
    {0.173, 0.449, 0.558}, {0.128, 0.567, 0.551}, {0.153, 0.680, 0.504},
    {0.361, 0.785, 0.388}, {0.667, 0.862, 0.196}, {0.993, 0.906, 0.144},
};

static void colour_of(double t, unsigned char rgb[3]) {
    if (!(t >= 0.0)) t = 0.0;
    if (t > 1.0) t = 1.0;
    const double x = t * 8.0;
    int i = (int)x;
    if (i > 7) i = 7;
    const double f = x - i;
    for (int c = 0; c < 3; c++) {
        const double v = viridis[i][c] + f * (viridis[i + 1][c] - viridis[i][c]);
        rgb[c] = (unsigned char)lround(255.0 * v);
    }
}


static double magnitude(const float *frame, int64_t hw, int64_t p) {
    const double u = frame[p], v = frame[hw + p];
    return sqrt(u * u + v * v);
}

/* Paints one frame's magnitude into the surface's pixels at (x0, y0), y up. */
static void paint_field(unsigned char *px, int stride, int x0, int y0, int scale, int64_t h,
                        int64_t w, const float *frame, double vmax) {
    const int64_t hw = h * w;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            unsigned char rgb[3];
            colour_of(magnitude(frame, hw, r * w + c) / vmax, rgb);
            const int64_t top = y0 + (h - 1 - r) * scale, left = x0 + c * scale;
            for (int dy = 0; dy < scale; dy++) {
                uint32_t *row = (uint32_t *)(px + (top + dy) * stride);
                for (int dx = 0; dx < scale; dx++)
                    row[left + dx] = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
            }
        }
}

gm_status gm_plot_fields_png(const char *path, int64_t nrows, const int64_t *steps,
                             int64_t height, int64_t width, const float *truth,
                             const float *pred, const char *title) {
    GM_RETURN_ERROR_IF(!path || !steps || !truth || !pred, GM_ERR_INVALID_ARG,
                       "gm_plot_fields_png: path, steps, truth and pred are required");
    GM_RETURN_ERROR_IF(nrows < 1 || nrows > GM_PLOT_FIELDS_MAX_ROWS, GM_ERR_INVALID_ARG,
                       "gm_plot_fields_png: %lld rows, expected 1..%d", (long long)nrows,
                       GM_PLOT_FIELDS_MAX_ROWS);
    GM_RETURN_ERROR_IF(height < 1 || width < 1 || height > 4096 || width > 4096,
                       GM_ERR_INVALID_ARG, "gm_plot_fields_png: fields of %lld x %lld cells",
                       (long long)height, (long long)width);
    const int64_t hw = height * width, plane = 2 * hw;
    double vmax = 0.0;
    for (int64_t i = 0; i < nrows * plane; i++)
        GM_RETURN_ERROR_IF(!isfinite(truth[i]) || !isfinite(pred[i]), GM_ERR_INVALID_ARG,
                           "plot '%s': a velocity value is not finite", path);
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t p = 0; p < hw; p++) {
            vmax = fmax(vmax, magnitude(truth + r * plane, hw, p));
            vmax = fmax(vmax, magnitude(pred + r * plane, hw, p));
        }
    if (!(vmax > 0.0)) vmax = 1.0;

    const int64_t side = height > width ? height : width;
    const int scale = side >= PANEL_TARGET ? 1 : (int)(PANEL_TARGET / side);
    const int pw = (int)(width * scale), ph = (int)(height * scale);
    const bool titled = title && *title;
    const double top = (titled ? 44.0 : 12.0) + 26.0; /* title, column headers */
    const int img_w = (int)(LEFT + 2 * pw + GAP + 2 * GAP + BAR_W + RIGHT);
    const int img_h = (int)(top + nrows * ph + (nrows - 1) * GAP + 20.0);

    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    GM_FORWARD_IF_ERROR(gm__plot_begin(img_w, img_h, &s, &cr));
    cairo_surface_flush(s);
    unsigned char *px = cairo_image_surface_get_data(s);
    const int stride = cairo_image_surface_get_stride(s);
    const int x_true = (int)LEFT, x_pred = (int)(LEFT + pw + GAP);
    for (int64_t r = 0; r < nrows; r++) {
        const int y = (int)(top + r * (ph + GAP));
        paint_field(px, stride, x_true, y, scale, height, width, truth + r * plane, vmax);
        paint_field(px, stride, x_pred, y, scale, height, width, pred + r * plane, vmax);
    }
    /* The colour bar, low values at the bottom. */
    const int bx = (int)(x_pred + pw + 2 * GAP), by = (int)top;
    const int bh = (int)(nrows * ph + (nrows - 1) * GAP);
    for (int yy = 0; yy < bh; yy++) {
        unsigned char rgb[3];
        colour_of(1.0 - (double)yy / (bh > 1 ? bh - 1 : 1), rgb);
        uint32_t *row = (uint32_t *)(px + (by + yy) * stride);
        for (int xx = 0; xx < (int)BAR_W; xx++)
            row[bx + xx] = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
    }
    cairo_surface_mark_dirty(s);

    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    if (titled) {
        /* Long titles (paths) get a smaller font, down to 8 points. */
        double size = 16;
        cairo_text_extents_t e;
        for (;; size -= 1) {
            cairo_set_font_size(cr, size);
            cairo_text_extents(cr, title, &e);
            if (e.width <= img_w - 16 || size <= 8) break;
        }
        gm__plot_text_at(cr, title, 0.5 * img_w, 12, 0.5, 0.0);
    }
    cairo_set_font_size(cr, 13);
    gm__plot_text_at(cr, "true |v|", x_true + 0.5 * pw, top - 8, 0.5, 1.0);
    gm__plot_text_at(cr, "predicted |v|", x_pred + 0.5 * pw, top - 8, 0.5, 1.0);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    char buf[64];
    for (int64_t r = 0; r < nrows; r++) {
        snprintf(buf, sizeof buf, "step %lld", (long long)steps[r]);
        gm__plot_text_at(cr, buf, LEFT - 8, top + r * (ph + GAP) + 0.5 * ph, 1.0, 0.5);
    }
    cairo_set_line_width(cr, 1.0);
    for (int k = 0; k <= 4; k++) {
        const double v = vmax * k / 4.0, yy = by + bh - (double)bh * k / 4.0;
        cairo_move_to(cr, bx + BAR_W, yy + 0.5);
        cairo_line_to(cr, bx + BAR_W + 4, yy + 0.5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%.3g", v);
        gm__plot_text_at(cr, buf, bx + BAR_W + 7, yy, 0.0, 0.5);
    }
    gm__plot_text_at(cr, "|v|", bx + 0.5 * BAR_W, by - 8, 0.5, 1.0);

    return gm__plot_finish_png(cr, s, path);
}
