/* The CPU's features and the BLAS kernel set that runs on them.
 *
 * OpenBLAS picks its kernels ("core type") once, when it loads, from the
 * CPU's model number; on a CPU it does not know it silently falls back to
 * old SSE3 kernels several times slower than the CPU allows. gmcnn compares
 * the kernels in use with the instruction sets the CPU offers (CPUID, not
 * model numbers) and, where they fall short, proposes the kernel sets to
 * try, best first; each is checked for correct results before it is used
 * (gm_blas_check). The command-line tool applies the choice itself by
 * re-executing with OPENBLAS_CORETYPE set; a program using the library
 * gets the finding and the remedy from gm_blas_kernels() and its log. */
#ifndef GMCNN_KERNELS_H
#define GMCNN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "gmcnn/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gm_cpu_features {
    bool intel, amd;
    bool avx, fma, avx2;                                  /* with the OS saving YMM state */
    bool avx512f, avx512dq, avx512cd, avx512bw, avx512vl; /* with ZMM state saved */
    bool avx512_bf16;
} gm_cpu_features;

/* Instruction-set levels, in the order of OpenBLAS's x86-64 kernel sets. */
typedef enum gm_isa {
    GM_ISA_SSE = 0, /* Prescott, Core2, Nehalem, ... */
    GM_ISA_AVX,     /* Sandybridge, Bulldozer */
    GM_ISA_AVX2,    /* Haswell, Zen (AVX2 and FMA) */
    GM_ISA_AVX512   /* SkylakeX, Cooperlake (AVX-512 F, DQ, CD, BW, VL) */
} gm_isa;

/* This CPU's features, from CPUID and XGETBV. */
void gm_cpu_features_detect(gm_cpu_features *out);
/* The best level the features support; "SSE", "AVX", "AVX2", "AVX-512" by name. */
gm_isa gm_cpu_isa(const gm_cpu_features *f);
const char *gm_isa_name(gm_isa isa);
/* The level of an OpenBLAS core name ("Prescott", "Haswell", "SkylakeX", any
 * case); GM_ISA_SSE for names it does not know. */
gm_isa gm_blas_core_isa(const char *core);

#define GM_BLAS_MAX_CANDIDATES 3

/* What to do about the kernels: the kernel sets to try, best first (none
 * when the running set stays), and why, in a phrase. */
typedef struct gm_blas_plan {
    int ncandidates;
    const char *candidates[GM_BLAS_MAX_CANDIDATES]; /* OPENBLAS_CORETYPE values */
    char reason[192];
} gm_blas_plan;

/* The plan for a CPU with features f where OpenBLAS runs the core `running`
 * and the user has set OPENBLAS_CORETYPE to `user` (NULL or "" when not):
 * a core type the user set is never overridden; otherwise, when the running
 * kernels are below the CPU's level, the sets of the CPU's level and below
 * down to the running one's (exclusive). When `failed` names a set that
 * failed gm_blas_check, that set and those above it are left out (then a
 * set below the running one's level may be proposed, the running one
 * having failed). */
void gm_blas_plan_make(const gm_cpu_features *f, const char *running, const char *user,
                       const char *failed, gm_blas_plan *out);

/* The OpenBLAS core type running ("Haswell", "Prescott", ...). */
const char *gm_blas_core_name(void);

/* Checks the kernels in use: sgemm (all four transpose cases, beta 0 and 1)
 * and sgemv at awkward shapes, against a float64 reference. GM_OK, or
 * GM_ERR_NUMERIC with a detail naming the call, shape and error. A few
 * milliseconds. */
GM_NODISCARD gm_status gm_blas_check(void);

/* One line on the kernels in use: the OpenBLAS core, this CPU's level, and
 * why this set runs (chosen by OpenBLAS, set by the user, or selected by
 * gmcnn: GM_BLAS_CHOICE_ENV). When the kernels are below the CPU's level
 * the line and a one-time warning through the log hook name the remedy. */
const char *gm_blas_kernels(void);

/* Set by the command-line tool when it re-executes itself under a kernel
 * set it selected and checked: "<core>|<why>". */
#define GM_BLAS_CHOICE_ENV "GMCNN_BLAS_CHOICE"

#ifdef __cplusplus
}
#endif

#endif
