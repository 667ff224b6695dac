/* The choice of BLAS kernels on synthetic CPUs, and the correctness check
 * of the kernels in use. No timings. */
#include <criterion/criterion.h>
#include <string.h>

#include "gmcnn/kernels.h"
#include "test_support.h"

static const gm_cpu_features sse = {.intel = true};
static const gm_cpu_features avx = {.intel = true, .avx = true};
static const gm_cpu_features avx2 = {.intel = true, .avx = true, .fma = true, .avx2 = true};
static const gm_cpu_features zen3 = {.amd = true, .avx = true, .fma = true, .avx2 = true};
static const gm_cpu_features skx = {.intel = true, .avx = true, .fma = true, .avx2 = true,
                                    .avx512f = true, .avx512dq = true, .avx512cd = true,
                                    .avx512bw = true, .avx512vl = true};
static const gm_cpu_features spr = {.intel = true, .avx = true, .fma = true, .avx2 = true,
                                    .avx512f = true, .avx512dq = true, .avx512cd = true,
                                    .avx512bw = true, .avx512vl = true, .avx512_bf16 = true};
static const gm_cpu_features zen4 = {.amd = true, .avx = true, .fma = true, .avx2 = true,
                                     .avx512f = true, .avx512dq = true, .avx512cd = true,
                                     .avx512bw = true, .avx512vl = true, .avx512_bf16 = true};

static void expect(const gm_blas_plan *p, const char *c0, const char *c1, const char *c2,
                   const char *reason) {
    const char *want[3] = {c0, c1, c2};
    int n = 0;
    while (n < 3 && want[n]) n++;
    cr_assert_eq(p->ncandidates, n, "%d candidates, expected %d (%s)", p->ncandidates, n,
                 p->reason);
    for (int i = 0; i < n; i++) cr_assert_str_eq(p->candidates[i], want[i]);
    cr_assert(strstr(p->reason, reason), "'%s' not in '%s'", reason, p->reason);
}

Test(kernels, isa_levels_from_features_and_core_names) {
    cr_assert_eq(gm_cpu_isa(&sse), GM_ISA_SSE);
    cr_assert_eq(gm_cpu_isa(&avx), GM_ISA_AVX);
    cr_assert_eq(gm_cpu_isa(&avx2), GM_ISA_AVX2);
    cr_assert_eq(gm_cpu_isa(&skx), GM_ISA_AVX512);
    gm_cpu_features partial = skx;
    partial.avx512bw = false; /* Knights Landing: F and CD without BW/VL */
    cr_assert_eq(gm_cpu_isa(&partial), GM_ISA_AVX2);
    gm_cpu_features nofma = avx2;
    nofma.fma = false;
    cr_assert_eq(gm_cpu_isa(&nofma), GM_ISA_AVX);
    cr_assert_eq(gm_blas_core_isa("Prescott"), GM_ISA_SSE);
    cr_assert_eq(gm_blas_core_isa("NEHALEM"), GM_ISA_SSE);
    cr_assert_eq(gm_blas_core_isa("Sandybridge"), GM_ISA_AVX);
    cr_assert_eq(gm_blas_core_isa("haswell"), GM_ISA_AVX2);
    cr_assert_eq(gm_blas_core_isa("Zen"), GM_ISA_AVX2);
    cr_assert_eq(gm_blas_core_isa("SkylakeX"), GM_ISA_AVX512);
    cr_assert_eq(gm_blas_core_isa("Cooperlake"), GM_ISA_AVX512);
    cr_assert_eq(gm_blas_core_isa(NULL), GM_ISA_SSE);
    cr_assert_str_eq(gm_isa_name(GM_ISA_AVX512), "AVX-512");
}

Test(kernels, sse_kernels_on_newer_cpus_are_replaced_best_first) {
    gm_blas_plan p;
    gm_blas_plan_make(&spr, "Prescott", NULL, NULL, &p);
    expect(&p, "Cooperlake", "SkylakeX", "Haswell", "OpenBLAS chose Prescott (SSE) on a CPU "
                                                    "with AVX-512");
    gm_blas_plan_make(&skx, "Prescott", "", NULL, &p);
    expect(&p, "SkylakeX", "Haswell", "Sandybridge", "with AVX-512");
    gm_blas_plan_make(&avx2, "Nehalem", NULL, NULL, &p);
    expect(&p, "Haswell", "Sandybridge", NULL, "with AVX2");
    gm_blas_plan_make(&avx, "Prescott", NULL, NULL, &p);
    expect(&p, "Sandybridge", NULL, NULL, "with AVX");
    /* Only sets above the running one: AVX2 kernels on an AVX-512 CPU. */
    gm_blas_plan_make(&zen4, "Haswell", NULL, NULL, &p);
    expect(&p, "Cooperlake", "SkylakeX", NULL, "OpenBLAS chose Haswell (AVX2)");
}

Test(kernels, a_good_choice_and_a_users_choice_stand) {
    gm_blas_plan p;
    gm_blas_plan_make(&zen3, "Zen", NULL, NULL, &p);
    expect(&p, NULL, NULL, NULL, "OpenBLAS's own choice for this CPU's AVX2");
    gm_blas_plan_make(&zen4, "Cooperlake", NULL, NULL, &p);
    expect(&p, NULL, NULL, NULL, "own choice");
    gm_blas_plan_make(&sse, "Prescott", NULL, NULL, &p);
    expect(&p, NULL, NULL, NULL, "own choice for this CPU's SSE");
    /* Set by the user, even to something slow: kept. */
    gm_blas_plan_make(&spr, "Prescott", "Prescott", NULL, &p);
    expect(&p, NULL, NULL, NULL, "OPENBLAS_CORETYPE=Prescott set in the environment");
}

Test(kernels, a_failed_check_falls_back_never_up) {
    gm_blas_plan p;
    /* Cooperlake miscomputes: the next sets, below it. */
    gm_blas_plan_make(&spr, "Prescott", NULL, "Cooperlake", &p);
    expect(&p, "SkylakeX", "Haswell", "Sandybridge", "Cooperlake kernels failed the check");
    gm_blas_plan_make(&spr, "Prescott", NULL, "SkylakeX", &p);
    expect(&p, "Haswell", "Sandybridge", "Prescott", "failed");
    /* OpenBLAS's own choice failing: a lower level, even below nothing better. */
    gm_blas_plan_make(&zen4, "Cooperlake", NULL, "Cooperlake", &p);
    expect(&p, "SkylakeX", "Haswell", "Sandybridge", "failed");
    /* A name not in this CPU's list: the sets below its level. */
    gm_blas_plan_make(&avx2, "Zen", NULL, "Zen", &p);
    expect(&p, "Sandybridge", "Prescott", NULL, "Zen kernels failed");
    gm_blas_plan_make(&sse, "Prescott", NULL, "Prescott", &p);
    expect(&p, NULL, NULL, NULL, "failed");
}

Test(kernels, the_kernels_in_use_compute_correctly) {
    OK(gm_blas_check());
    const char *line = gm_blas_kernels();
    cr_assert(!strncmp(line, "kernels: ", 9), "%s", line);
    cr_assert(strstr(line, " on a CPU with "), "%s", line);
}

Test(kernels, this_cpus_features_are_consistent) {
    gm_cpu_features f;
    gm_cpu_features_detect(&f);
    cr_assert(!f.avx2 || f.avx);
    cr_assert(!f.avx512vl || f.avx512f);
    cr_assert(!f.avx512_bf16 || f.avx512f);
    cr_assert(!(f.intel && f.amd));
}
