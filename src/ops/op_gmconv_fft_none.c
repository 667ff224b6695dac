/* The FFT path of gmconv in a build without FFTW (GM_SLIM,
 * GM_WITH_FFTW=OFF; cmake/features.cmake): it is never chosen, so every
 * full-form gmconv runs on the gather path, whose results agree with the
 * FFT path's to rounding (the FFT path is an optimisation). The functions of
 * ops_gm.h's FFT section exist for op_gmconv.c and the benchmarks;
 * gm__fft_characters, used by the FFT path alone, does not. */
#include <stdatomic.h>

#include "ops/ops_gm.h"
#include "ops/ops_internal.h"

static atomic_int fft_mode = GM__FFT_AUTO;

/* Kept for callers that force a path; no mode makes the FFT path run. */
void gm__gmconv_set_fft_mode(gm__fft_mode mode) { atomic_store(&fft_mode, (int)mode); }
gm__fft_mode gm__gmconv_fft_mode(void) { return (gm__fft_mode)atomic_load(&fft_mode); }

bool gm__torus_detect(const gm__gm_table *tab, gm__torus *out) {
    (void)tab, (void)out;
    return false;
}

double gm__gmconv_fft_flops(const gm__gmconv_dims *d, const gm__torus *s) {
    (void)d, (void)s;
    return 0;
}

bool gm__gmconv_fft_choose(const gm__gmconv_dims *d, gm__torus *s) {
    (void)d, (void)s;
    return false;
}

size_t gm__gmconv_fft_scratch_bytes(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                    bool backward) {
    (void)d, (void)s, (void)nthreads, (void)backward;
    return 0;
}

gm_status gm__gmconv_fft_forward(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                 void *scratch, const gm_real *x, const gm_real *w,
                                 const gm_real *bias, gm_real *y) {
    (void)d, (void)s, (void)nthreads, (void)scratch, (void)x, (void)w, (void)bias, (void)y;
    return GM_ERR_UNSUPPORTED;
}

gm_status gm__gmconv_fft_backward(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                  void *scratch, const gm_real *x, const gm_real *w,
                                  const gm_real *dy, gm_real *dx, gm_real *dw, gm_real *db) {
    (void)d, (void)s, (void)nthreads, (void)scratch, (void)x, (void)w, (void)dy, (void)dx, (void)dw;
    (void)db;
    return GM_ERR_UNSUPPORTED;
}
