/* Build time and product cost of the larger groups.
 * Usage: build/bench_groups [SPEC...]   (default: the groups of docs/groups.md) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gmcnn/gmcnn.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(const char *spec) {
    enum { REPS = 7 };
    double t[REPS];
    gm_group *g = NULL;
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        gm_status st = gm_group_from_spec(spec, &g);
        t[r] = now() - t0;
        if (st != GM_OK) {
            fprintf(stderr, "bench_groups: %s\n", gm_error_detail());
            return 1;
        }
        if (r + 1 < REPS) gm_group_free(g);
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    /* Product cost over a pseudo-random walk (each product feeds the next). */
    const int64_t n = gm_group_order(g), steps = 4000000;
    int32_t x = 0;
    double t0 = now();
    for (int64_t i = 0; i < steps; i++) x = gm_group_mul(g, x, (int32_t)((i * 7919) % n));
    double per = (now() - t0) / (double)steps;
    printf("%-10s order %8lld  build median %10.3f ms  product %6.1f ns  (walk end %d)\n", spec,
           (long long)n, 1e3 * t[REPS / 2], 1e9 * per, x);
    gm_group_free(g);
    return 0;
}

int main(int argc, char **argv) {
    static const char *defaults[] = {"D14xD14", "C64xC64", "p4:64", "p4m:64", "S8"};
    int rc = 0;
    printf("%s\n", gm_build_info());
    if (argc > 1)
        for (int i = 1; i < argc; i++) rc |= bench(argv[i]);
    else
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) rc |= bench(defaults[i]);
    return rc;
}
