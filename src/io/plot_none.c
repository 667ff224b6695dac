/* PNG plots in a build without cairo (GM_SLIM, GM_WITH_PLOT=OFF;
 * cmake/features.cmake): the functions of gmcnn/io.h exist and draw
 * nothing. */
#include "core/core_internal.h"
#include "gmcnn/io.h"

gm_status gm_plot_metrics_png(const char *path, int64_t n, const gm_epoch_record *records,
                              const char *title) {
    (void)path, (void)n, (void)records, (void)title;
    return gm_error_set(GM_ERR_UNSUPPORTED, "gm_plot_metrics_png: this build of gmcnn has no "
                                            "plotting (GM_SLIM or GM_WITH_PLOT=OFF)");
}

gm_status gm_plot_fields_png(const char *path, int64_t nrows, const int64_t *steps,
                             int64_t height, int64_t width, const float *truth, const float *pred,
                             const char *title) {
    (void)path, (void)nrows, (void)steps, (void)height, (void)width, (void)truth, (void)pred;
    (void)title;
    return gm_error_set(GM_ERR_UNSUPPORTED, "gm_plot_fields_png: this build of gmcnn has no "
                                            "plotting (GM_SLIM or GM_WITH_PLOT=OFF)");
}
