/* Numerical and displacement rank in a build without LAPACKE (GM_SLIM,
 * GM_WITH_LAPACKE=OFF; cmake/features.cmake): the functions of gmcnn/gmat.h
 * exist and compute nothing. */
#include "core/core_internal.h"
#include "gmcnn/gmat.h"

#define NO_RANK(fn)                                                                     \
    gm_error_set(GM_ERR_UNSUPPORTED, fn ": this build of gmcnn has no numerical rank "  \
                                        "(LAPACKE; GM_SLIM or GM_WITH_LAPACKE=OFF)")

gm_status gm_gmat_rank(int64_t rows, int64_t cols, const double *a, double tol, int64_t *rank,
                       double *sigma, double *tol_used) {
    (void)rows, (void)cols, (void)a, (void)tol, (void)sigma, (void)tol_used;
    if (rank) *rank = 0;
    return NO_RANK("gm_gmat_rank");
}

gm_status gm_gmat_displacement_rank(const gm_group *g, const double *m, double tol,
                                    int64_t *rank, double *tol_used) {
    (void)g, (void)m, (void)tol, (void)tol_used;
    if (rank) *rank = 0;
    return NO_RANK("gm_gmat_displacement_rank");
}

gm_status gm_gmat_displacement_rank_eps(const gm_group *g, const double *m, double tol,
                                        double eps, int64_t *rank, double *tol_used) {
    (void)g, (void)m, (void)tol, (void)eps, (void)tol_used;
    if (rank) *rank = 0;
    return NO_RANK("gm_gmat_displacement_rank_eps");
}
