/* One knob for the thread pool that our OpenMP regions and OpenBLAS share. */
#include <omp.h>

#include "core_internal.h"

/* From OpenBLAS (declared here so that only the ops layer includes cblas.h). */
extern void openblas_set_num_threads(int num_threads);

void gm_set_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    /* The OpenMP build of OpenBLAS reads its own setting, not only omp's. */
    openblas_set_num_threads(n);
}
