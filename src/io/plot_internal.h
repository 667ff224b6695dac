/* Private helpers shared by the PNG writers of io/ (cairo). */
#ifndef GMCNN_IO_PLOT_INTERNAL_H
#define GMCNN_IO_PLOT_INTERNAL_H

#include <cairo.h>

#include "gmcnn/core.h"

/* Draws text with its anchor at (x, y): ha 0 left, 0.5 centre, 1 right;
 * va the same from top to bottom. */
void gm__plot_text_at(cairo_t *cr, const char *s, double x, double y, double ha, double va);

/* Starts a drawing: an RGB image of w x h pixels painted white, and its
 * cairo context. GM_ERR_NOMEM when cairo cannot make the surface. */
GM_NODISCARD gm_status gm__plot_begin(int w, int h, cairo_surface_t **s, cairo_t **cr);

/* Ends a drawing: destroys cr and s and, when cairo reports no error, encodes
 * s as PNG in memory and writes it to path atomically (nothing is left at
 * path on failure). GM_ERR_NOMEM, GM_ERR_IO naming the file. */
GM_NODISCARD gm_status gm__plot_finish_png(cairo_t *cr, cairo_surface_t *s, const char *path);

#endif /* GMCNN_IO_PLOT_INTERNAL_H */
