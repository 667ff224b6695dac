/* A worked example: a group convolution on D4 x D4 (the dihedral symmetries
 * of a square, on each of two axes), applied through its index table, and a
 * check that it commutes with the group action.
 *
 * Build: part of the CMake build (build/example_equivariant_conv).
 * Output: the support size, and the equivariance defect for every generator,
 * which is zero up to rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gmcnn/gmcnn.h"

static int fail(const char *what, gm_status st) {
    fprintf(stderr, "%s: %s\n", what, gm_error_detail()[0] ? gm_error_detail() : gm_strerror(st));
    return 1;
}

int main(void) {
    gm_group *g = NULL;
    gm_nbhd *support = NULL;
    gm_gmat_plan *plan = NULL;
    gm_status st;
    if ((st = gm_group_from_spec("D4xD4", &g)) != GM_OK) return fail("group", st);
    if ((st = gm_nbhd_reference_new(g, 1, &support)) != GM_OK) return fail("support", st);
    if ((st = gm_gmat_plan_new(g, support, &plan)) != GM_OK) return fail("plan", st);

    const int64_t n = gm_group_order(g), k = gm_nbhd_size(support);
    double *w = malloc((size_t)k * sizeof *w), *x = malloc((size_t)n * sizeof *x);
    double *lx = malloc((size_t)n * sizeof *lx), *y = malloc((size_t)n * sizeof *y);
    double *ly = malloc((size_t)n * sizeof *ly), *ylx = malloc((size_t)n * sizeof *ylx);
    if (!w || !x || !lx || !y || !ly || !ylx) return fail("memory", GM_ERR_NOMEM);

    gm_rng rng;
    gm_rng_seed(&rng, 42, 0);
    for (int64_t i = 0; i < k; i++) w[i] = gm_rng_normal(&rng);
    for (int64_t i = 0; i < n; i++) x[i] = gm_rng_normal(&rng);

    printf("group %s of order %lld, kernel support of %lld elements\n", gm_group_name(g),
           (long long)n, (long long)k);
    /* y = conv(x); compare conv(L_v x) with L_v conv(x) for each generator v. */
    gm_gmat_plan_matvec(plan, w, x, y);
    for (int64_t i = 0; i < gm_group_ngens(g); i++) {
        const int32_t v = gm_group_gens(g)[i];
        gm_gmat_left_translate(g, v, x, lx);
        gm_gmat_plan_matvec(plan, w, lx, ylx);
        gm_gmat_left_translate(g, v, y, ly);
        double num = 0, den = 0;
        for (int64_t j = 0; j < n; j++) {
            num += (ylx[j] - ly[j]) * (ylx[j] - ly[j]);
            den += ly[j] * ly[j];
        }
        char name[64];
        gm_group_element_name(g, v, name, sizeof name);
        printf("generator %-8s defect %.2e\n", name, sqrt(num / den));
    }
    free(w);
    free(x);
    free(lx);
    free(y);
    free(ly);
    free(ylx);
    gm_gmat_plan_free(plan);
    gm_nbhd_free(support);
    gm_group_free(g);
    return 0;
}
