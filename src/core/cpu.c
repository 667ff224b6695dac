/* The CPU's instruction sets (CPUID and XGETBV) and the choice of BLAS
 * kernels they allow: see gmcnn/kernels.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core_internal.h"
#include "gmcnn/kernels.h"

/* From OpenBLAS. */
extern char *openblas_get_corename(void);

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

void gm_cpu_features_detect(gm_cpu_features *out) {
    memset(out, 0, sizeof *out);
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const unsigned int max_leaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    out->intel = !strcmp(vendor, "GenuineIntel");
    out->amd = !strcmp(vendor, "AuthenticAMD");
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = c & (1u << 27);
    const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm = (xcr0 & 0x6) == 0x6;           /* SSE and AVX state */
    const bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;  /* opmask, ZMM_Hi256, Hi16_ZMM */
    out->avx = ymm && (c & (1u << 28));
    out->fma = out->avx && (c & (1u << 12));
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned int sub_leaves = a;
    out->avx2 = out->avx && (b & (1u << 5));
    out->avx512f = zmm && (b & (1u << 16));
    out->avx512dq = out->avx512f && (b & (1u << 17));
    out->avx512cd = out->avx512f && (b & (1u << 28));
    out->avx512bw = out->avx512f && (b & (1u << 30));
    out->avx512vl = out->avx512f && (b & (1u << 31));
    if (sub_leaves >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        out->avx512_bf16 = out->avx512f && (a & (1u << 5));
    }
#endif
}

gm_isa gm_cpu_isa(const gm_cpu_features *f) {
    if (f->avx512f && f->avx512dq && f->avx512cd && f->avx512bw && f->avx512vl && f->avx2 &&
        f->fma)
        return GM_ISA_AVX512;
    if (f->avx2 && f->fma) return GM_ISA_AVX2;
    if (f->avx) return GM_ISA_AVX;
    return GM_ISA_SSE;
}

const char *gm_isa_name(gm_isa isa) {
    switch (isa) {
    case GM_ISA_AVX512: return "AVX-512";
    case GM_ISA_AVX2: return "AVX2";
    case GM_ISA_AVX: return "AVX";
    case GM_ISA_SSE: break;
    }
    return "SSE";
}

/* OpenBLAS's x86-64 core names by level (0.3.x). */
static const struct {
    const char *name;
    gm_isa isa;
} cores[] = {
    {"SapphireRapids", GM_ISA_AVX512}, {"Cooperlake", GM_ISA_AVX512},
    {"SkylakeX", GM_ISA_AVX512},       {"Haswell", GM_ISA_AVX2},
    {"Zen", GM_ISA_AVX2},              {"Excavator", GM_ISA_AVX2},
    {"Sandybridge", GM_ISA_AVX},       {"Bulldozer", GM_ISA_AVX},
    {"Piledriver", GM_ISA_AVX},        {"Steamroller", GM_ISA_AVX},
};

gm_isa gm_blas_core_isa(const char *core) {
    for (size_t i = 0; core && i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(core, cores[i].name)) return cores[i].isa;
    return GM_ISA_SSE;
}

void gm_blas_plan_make(const gm_cpu_features *f, const char *running, const char *user,
                       const char *failed, gm_blas_plan *out) {
    memset(out, 0, sizeof *out);
    if (user && *user) {
        snprintf(out->reason, sizeof out->reason, "OPENBLAS_CORETYPE=%.40s set in the "
                 "environment", user);
        return;
    }
    const gm_isa cpu = gm_cpu_isa(f), run = gm_blas_core_isa(running);
    /* The kernel sets this CPU can run, best first. */
    const char *order[5];
    int n = 0;
    if (cpu >= GM_ISA_AVX512 && f->avx512_bf16) order[n++] = "Cooperlake";
    if (cpu >= GM_ISA_AVX512) order[n++] = "SkylakeX";
    if (cpu >= GM_ISA_AVX2) order[n++] = "Haswell";
    if (cpu >= GM_ISA_AVX) order[n++] = "Sandybridge";
    order[n++] = "Prescott";
    int from = 0;
    if (failed) {
        /* After the failed set: the next in the list, or the first of a lower level. */
        const gm_isa fl = gm_blas_core_isa(failed);
        while (from < n && strcasecmp(order[from], failed) != 0 &&
               gm_blas_core_isa(order[from]) >= fl)
            from++;
        if (from < n && !strcasecmp(order[from], failed)) from++;
        snprintf(out->reason, sizeof out->reason, "the %.40s kernels failed the check", failed);
    } else if (run >= cpu) {
        snprintf(out->reason, sizeof out->reason, "OpenBLAS's own choice for this CPU's %s",
                 gm_isa_name(cpu));
        return;
    } else {
        snprintf(out->reason, sizeof out->reason, "OpenBLAS chose %.40s (%s) on a CPU with %s",
                 running ? running : "unknown", gm_isa_name(run), gm_isa_name(cpu));
    }
    for (int i = from; i < n && out->ncandidates < GM_BLAS_MAX_CANDIDATES; i++)
        if (failed || gm_blas_core_isa(order[i]) > run)
            out->candidates[out->ncandidates++] = order[i];
}

const char *gm_blas_core_name(void) { return openblas_get_corename(); }

const char *gm_blas_kernels(void) {
    static char line[320];
    static bool warned;
    gm_cpu_features f;
    gm_cpu_features_detect(&f);
    const char *core = openblas_get_corename();
    const gm_isa cpu = gm_cpu_isa(&f), run = gm_blas_core_isa(core);
    const char *user = getenv("OPENBLAS_CORETYPE");
    const char *choice = getenv(GM_BLAS_CHOICE_ENV);
    const char *bar = choice ? strchr(choice, '|') : NULL;
    if (bar && user && !strncasecmp(choice, user, (size_t)(bar - choice)) &&
        strlen(user) == (size_t)(bar - choice)) {
        snprintf(line, sizeof line, "kernels: %s on a CPU with %s (selected by gmcnn: %.200s)",
                 core, gm_isa_name(cpu), bar + 1);
    } else if (user && *user) {
        snprintf(line, sizeof line, "kernels: %s on a CPU with %s (OPENBLAS_CORETYPE=%.40s set "
                 "in the environment)", core, gm_isa_name(cpu), user);
    } else if (run < cpu) {
        gm_blas_plan p;
        gm_blas_plan_make(&f, core, NULL, NULL, &p);
        snprintf(line, sizeof line, "kernels: %s (%s) on a CPU with %s: below what it offers; "
                 "OPENBLAS_CORETYPE=%s runs faster (the gmcnn tool sets it itself)", core,
                 gm_isa_name(run), gm_isa_name(cpu), p.ncandidates ? p.candidates[0] : "?");
        if (!warned) {
            warned = true;
            gm_log(GM_LOG_WARN, "%s", line);
        }
    } else {
        snprintf(line, sizeof line, "kernels: %s on a CPU with %s (OpenBLAS's own choice)",
                 core, gm_isa_name(cpu));
    }
    return line;
}
