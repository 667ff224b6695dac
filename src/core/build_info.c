/* Build description for `gmcnn --version` and benchmarks. */
#include <stdio.h>

#include "core_internal.h"
#include "gmcnn/kernels.h"

/* From OpenBLAS (declared here so that only the ops layer includes cblas.h). */
extern char *openblas_get_config(void);
extern int openblas_get_num_threads(void);
extern int openblas_get_parallel(void);

#ifndef GM_BUILD_TYPE
#define GM_BUILD_TYPE "unknown"
#endif
/* The optional parts built (cmake/features.cmake sets it). */
#ifndef GM_BUILD_FEATURES
#define GM_BUILD_FEATURES "plot config fft rank"
#endif

const char *gm_build_features(void) { return GM_BUILD_FEATURES; }

const char *gm_build_info(void) {
    static char buf[1024];
    const int par = openblas_get_parallel();
    snprintf(buf, sizeof buf,
             "gmcnn %s\n"
             "build: %s, %s %s, C%ld, parts: %s\n"
             "blas: OpenBLAS (%s), %s threading, %d threads\n%s",
             GM_VERSION_STRING, GM_BUILD_TYPE,
#if defined(__clang__)
             "clang", __clang_version__,
#elif defined(__GNUC__)
             "gcc", __VERSION__,
#else
             "cc", "",
#endif
             (long)__STDC_VERSION__,
             GM_BUILD_FEATURES[0] ? GM_BUILD_FEATURES : "none (slim build)", openblas_get_config(),
             par == 2 ? "OpenMP" : (par == 1 ? "pthreads" : "no"), openblas_get_num_threads(),
             gm_blas_kernels());
    return buf;
}
