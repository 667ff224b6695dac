/* PNG plots of training curves with cairo: loss and accuracy per epoch. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cairo.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/io.h"
#include "io/plot_internal.h"

#define FONT "sans-serif"
#define GM__PI 3.14159265358979323846

typedef struct rgb {
    double r, g, b;
} rgb;

/* The matplotlib defaults: distinguishable, and familiar to readers of
 * PyTorch training plots. */
static const rgb train_color = {0.122, 0.467, 0.706};
static const rgb val_color = {1.000, 0.498, 0.055};

typedef struct axis {
    double lo, hi, step; /* hi > lo, ticks at multiples of step within [lo, hi] */
    int decimals;
} axis;

/* 1, 2, 5 or 10 times a power of ten, near `raw`. */
static double nice_step(double raw) {
    const double p = pow(10.0, floor(log10(raw)));
    const double f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * p;
}

/* About `want` ticks over [lo, hi], with the range widened to whole steps so
 * that the curves never touch the frame. */
static axis make_axis(double lo, double hi, int want, bool integer) {
    if (!(hi > lo)) {
        const double pad = fabs(lo) > 0 ? 0.1 * fabs(lo) : 1.0;
        lo -= pad;
        hi += pad;
    }
    double step = nice_step((hi - lo) / want);
    if (integer && step < 1.0) step = 1.0;
    axis a = {.lo = floor(lo / step) * step, .hi = ceil(hi / step) * step, .step = step};
    if (a.hi <= a.lo) a.hi = a.lo + step;
    a.decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    return a;
}

typedef struct panel {
    double x0, y0, x1, y1; /* plot area in pixels; y grows downwards */
    axis ax, ay;
} panel;

/* Pixels between the frame and the data range, so that markers at the
 * ends stay whole. */
#define INSET 8.0

static double px(const panel *p, double x) {
    return p->x0 + INSET + (x - p->ax.lo) / (p->ax.hi - p->ax.lo) * (p->x1 - p->x0 - 2 * INSET);
}

static double py(const panel *p, double y) {
    return p->y1 - INSET - (y - p->ay.lo) / (p->ay.hi - p->ay.lo) * (p->y1 - p->y0 - 2 * INSET);
}

/* Points of both curves inside the box [x0, x1] x [y0, y1] (pixels). */
static int64_t points_in(const panel *p, int64_t n, const gm_epoch_record *r, const size_t *offs,
                         double x0, double y0, double x1, double y1) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const double v = *(const double *)((const char *)&r[i] + offs[k]);
            if (!isfinite(v)) continue;
            const double X = px(p, (double)r[i].epoch), Y = py(p, v);
            c += X >= x0 && X <= x1 && Y >= y0 && Y <= y1;
        }
    return c;
}

static void set_color(cairo_t *cr, rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

gm_status gm__plot_begin(int w, int h, cairo_surface_t **s, cairo_t **cr) {
    *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(*s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(*s);
        return gm__nomem("plot surface");
    }
    *cr = cairo_create(*s);
    cairo_set_source_rgb(*cr, 1, 1, 1);
    cairo_paint(*cr);
    return GM_OK;
}

void gm__plot_text_at(cairo_t *cr, const char *s, double x, double y, double ha, double va) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - e.x_bearing - ha * e.width, y - e.y_bearing - va * e.height);
    cairo_show_text(cr, s);
}

static double title_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

static void draw_series(cairo_t *cr, const panel *p, int64_t n, const gm_epoch_record *r,
                        size_t offset, rgb color, bool markers) {
    set_color(cr, color);
    cairo_set_line_width(cr, 2.0);
    bool pen = false;
    for (int64_t i = 0; i < n; i++) {
        const double v = *(const double *)((const char *)&r[i] + offset);
        if (!isfinite(v)) {
            pen = false;
            continue;
        }
        if (pen)
            cairo_line_to(cr, px(p, (double)r[i].epoch), py(p, v));
        else
            cairo_move_to(cr, px(p, (double)r[i].epoch), py(p, v));
        pen = true;
    }
    cairo_stroke(cr);
    if (!markers) return;
    for (int64_t i = 0; i < n; i++) {
        const double v = *(const double *)((const char *)&r[i] + offset);
        if (!isfinite(v)) continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, px(p, (double)r[i].epoch), py(p, v), 3.5, 0, 2 * GM__PI);
    }
    cairo_fill(cr);
}

static void draw_panel(cairo_t *cr, panel *p, int64_t n, const gm_epoch_record *r,
                       size_t train_off, size_t val_off, const char *title, const char *ylabel) {
    double lo = INFINITY, hi = -INFINITY, elo = INFINITY, ehi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        const double e = (double)r[i].epoch;
        elo = fmin(elo, e);
        ehi = fmax(ehi, e);
        const size_t offs[2] = {train_off, val_off};
        for (int k = 0; k < 2; k++) {
            const double v = *(const double *)((const char *)&r[i] + offs[k]);
            if (!isfinite(v)) continue;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    }
    if (!isfinite(lo)) lo = 0, hi = 1; /* nothing finite: an empty, labelled frame */
    p->ax = make_axis(elo, ehi, 8, true);
    p->ay = make_axis(lo, hi, 6, false);

    /* grid and ticks */
    char buf[64];
    cairo_set_font_size(cr, 13);
    cairo_set_line_width(cr, 1.0);
    for (double x = p->ax.lo; x <= p->ax.hi + 1e-9 * p->ax.step; x += p->ax.step) {
        const double X = round(px(p, x)) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, X, p->y0);
        cairo_line_to(cr, X, p->y1);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, X, p->y1);
        cairo_line_to(cr, X, p->y1 + 5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%.0f", x);
        gm__plot_text_at(cr, buf, X, p->y1 + 9, 0.5, 0.0);
    }
    for (double y = p->ay.lo; y <= p->ay.hi + 1e-9 * p->ay.step; y += p->ay.step) {
        const double Y = round(py(p, y)) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, p->x0, Y);
        cairo_line_to(cr, p->x1, Y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, p->x0 - 5, Y);
        cairo_line_to(cr, p->x0, Y);
        cairo_stroke(cr);
        /* "-0.0" is what rounding a tiny negative gives; print 0. */
        snprintf(buf, sizeof buf, "%.*f", p->ay.decimals, fabs(y) < 1e-12 ? 0.0 : y);
        gm__plot_text_at(cr, buf, p->x0 - 9, Y, 1.0, 0.5);
    }

    const bool markers = n <= 60;
    cairo_save(cr);
    cairo_rectangle(cr, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
    cairo_clip(cr);
    draw_series(cr, p, n, r, train_off, train_color, markers);
    draw_series(cr, p, n, r, val_off, val_color, markers);
    cairo_restore(cr);

    /* frame */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, p->x0 + 0.5, p->y0 + 0.5, p->x1 - p->x0 - 1, p->y1 - p->y0 - 1);
    cairo_stroke(cr);

    /* labels */
    cairo_set_font_size(cr, 14);
    gm__plot_text_at(cr, "epoch", 0.5 * (p->x0 + p->x1), p->y1 + 30, 0.5, 0.0);
    cairo_save(cr);
    cairo_translate(cr, p->x0 - 62, 0.5 * (p->y0 + p->y1));
    cairo_rotate(cr, -GM__PI / 2);
    gm__plot_text_at(cr, ylabel, 0, 0, 0.5, 0.5);
    cairo_restore(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 15);
    cairo_move_to(cr, 0.5 * (p->x0 + p->x1) - 0.5 * title_width(cr, title), p->y0 - 10);
    cairo_show_text(cr, title);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);

    /* legend inside the frame, in the right-hand corner the curves leave
     * freer */
    cairo_set_font_size(cr, 13);
    const char *names[2] = {"train", "validation"};
    const rgb colors[2] = {train_color, val_color};
    const size_t offs[2] = {train_off, val_off};
    const double w = 130, h = 48, lx = p->x1 - w - 10;
    const double top_y = p->y0 + 10, bottom_y = p->y1 - h - 10;
    const int64_t in_top = points_in(p, n, r, offs, lx - 6, top_y - 6, lx + w + 6, top_y + h + 6);
    const int64_t in_bottom =
        points_in(p, n, r, offs, lx - 6, bottom_y - 6, lx + w + 6, bottom_y + h + 6);
    const double ly = in_bottom < in_top ? bottom_y : top_y;
    cairo_rectangle(cr, lx, ly, w, h);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_stroke(cr);
    for (int k = 0; k < 2; k++) {
        const double yk = ly + 14 + 20 * k;
        set_color(cr, colors[k]);
        cairo_set_line_width(cr, 2.0);
        cairo_move_to(cr, lx + 10, yk);
        cairo_line_to(cr, lx + 40, yk);
        cairo_stroke(cr);
        cairo_arc(cr, lx + 25, yk, 3.5, 0, 2 * GM__PI);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        gm__plot_text_at(cr, names[k], lx + 48, yk, 0.0, 0.5);
    }
}

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    bool nomem;
} membuf;

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int len) {
    membuf *b = closure;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + len) cap *= 2;
        unsigned char *p = gm_realloc(b->data, cap);
        if (!p) {
            b->nomem = true;
            return CAIRO_STATUS_NO_MEMORY;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return CAIRO_STATUS_SUCCESS;
}

static gm_status write_png_file(int fd, const char *tmp, void *ctx) {
    const membuf *b = ctx;
    const int err = gm__data_write_all(fd, b->data, b->len);
    GM_RETURN_ERROR_IF(err, GM_ERR_IO, "png file '%s': write failed: %s", tmp, strerror(err));
    return GM_OK;
}

gm_status gm__plot_finish_png(cairo_t *cr, cairo_surface_t *s, const char *path) {
    gm_status st = GM_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = gm_error_set(GM_ERR_NOMEM, "plot '%s': drawing failed: %s", path,
                          cairo_status_to_string(cairo_status(cr)));
    cairo_destroy(cr);
    membuf b = {0};
    if (st == GM_OK) {
        cairo_surface_flush(s);
        const cairo_status_t cs = cairo_surface_write_to_png_stream(s, membuf_write, &b);
        if (cs != CAIRO_STATUS_SUCCESS)
            st = b.nomem ? gm__nomem("png buffer")
                         : gm_error_set(GM_ERR_IO, "png file '%s': encoding failed: %s", path,
                                        cairo_status_to_string(cs));
    }
    cairo_surface_destroy(s);
    if (st == GM_OK) st = gm__data_write_atomic("png", path, write_png_file, &b);
    gm_free(b.data);
    return st;
}

gm_status gm_plot_metrics_png(const char *path, int64_t n, const gm_epoch_record *records,
                              const char *title) {
    GM_RETURN_ERROR_IF(!path || !records, GM_ERR_INVALID_ARG,
                       "gm_plot_metrics_png: path and records are required");
    GM_RETURN_ERROR_IF(n < 1, GM_ERR_INVALID_ARG,
                       "gm_plot_metrics_png: no epochs to plot (n = %lld)", (long long)n);
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    GM_FORWARD_IF_ERROR(gm__plot_begin(GM_PLOT_WIDTH, GM_PLOT_HEIGHT, &s, &cr));
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);

    const bool titled = title && *title;
    double top = 40;
    if (titled) {
        cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, 18);
        cairo_set_source_rgb(cr, 0, 0, 0);
        gm__plot_text_at(cr, title, 0.5 * GM_PLOT_WIDTH, 14, 0.5, 0.0);
        cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        top += 32;
    }
    /* Forecasting runs have no accuracy; their losses are RMSEs. */
    bool accuracy = false;
    for (int64_t i = 0; i < n && !accuracy; i++)
        accuracy = isfinite(records[i].train_accuracy) || isfinite(records[i].val_accuracy);
    const double half = accuracy ? 0.5 * GM_PLOT_WIDTH : GM_PLOT_WIDTH;
    panel loss = {.x0 = 85, .y0 = top, .x1 = half - 25, .y1 = GM_PLOT_HEIGHT - 60};
    draw_panel(cr, &loss, n, records, offsetof(gm_epoch_record, train_loss),
               offsetof(gm_epoch_record, val_loss), "loss", accuracy ? "cross-entropy" : "RMSE");
    if (accuracy) {
        panel acc = {.x0 = half + 85, .y0 = top, .x1 = GM_PLOT_WIDTH - 25,
                     .y1 = GM_PLOT_HEIGHT - 60};
        draw_panel(cr, &acc, n, records, offsetof(gm_epoch_record, train_accuracy),
                   offsetof(gm_epoch_record, val_accuracy), "accuracy", "accuracy (%)");
    }

    return gm__plot_finish_png(cr, s, path);
}
