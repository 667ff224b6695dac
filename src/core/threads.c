/* One knob for the thread pool that our OpenMP regions and OpenBLAS share,
 * and the room that pool needs under an address-space or data-size limit.
 *
 * OpenBLAS (0.3.x, its default allocator) maps one work buffer of BUFFER_SIZE
 * for each of its threads and one more for every BLAS call running at the
 * same time (a GEMM inside one of our parallel regions runs on the calling
 * thread with a buffer of its own), so a run on T threads ends up with 2T
 * buffers mapped. Buffers are never unmapped, only reused, lowest slot first.
 * When mmap fails OpenBLAS retries forever: a limit that is too small shows up
 * as a process spinning at 100% CPU, never as an error. So under a limit the
 * thread count is kept within the room there is, and gm_threads_reserve
 * checks the room and maps buffers and thread stacks before the run, after
 * which only gmcnn's own allocations can fail, with GM_ERR_NOMEM.
 *
 * Without a limit none of this runs: no /proc reads, no reservation. */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core_internal.h"

/* From OpenBLAS (declared here so that only the ops layer includes cblas.h).
 * blas_memory_alloc / blas_memory_free hand out its work buffers. */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern void *blas_memory_alloc(int procpos);
extern void blas_memory_free(void *buffer);

/* Room for gmcnn's own heap before the BLAS buffers are mapped (data,
 * parameters, the first activations), a malloc arena and the bookkeeping of
 * the thread pool (tools/gmcnn/cli_limits.c plans with the same margin). */
#define LIMIT_MARGIN ((int64_t)64 << 20)

/* The count last asked of gm_set_threads (0: never asked). */
static int threads_asked;
/* BLAS buffers known to be mapped (a prefix of OpenBLAS's slots) and pool
 * threads known to be started, by gm_threads_reserve. */
static int buffers_mapped;
static int pool_started = 1;

typedef struct mem_limit {
    const char *name, *ulimit_flag; /* "address-space", "-v" */
    int64_t limit;                  /* bytes; -1 = none */
    int64_t used;                   /* bytes mapped now that count against it */
} mem_limit;

static int64_t rlimit_bytes(int resource) {
    struct rlimit rl;
    if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return rl.rlim_cur > (rlim_t)INT64_MAX ? -1 : (int64_t)rl.rlim_cur;
}

/* VmSize (counts against RLIMIT_AS) and VmData (against RLIMIT_DATA, which
 * Linux applies to private writable mappings since 4.7), in bytes; `fallback`
 * for both when /proc is unreadable. */
static void vm_usage(int64_t fallback, int64_t *size, int64_t *data) {
    *size = *data = fallback;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmSize: %lld kB", &kb) == 1) *size = (int64_t)kb << 10;
        if (sscanf(line, "VmData: %lld kB", &kb) == 1) *data = (int64_t)kb << 10;
    }
    fclose(f);
}

/* Reads both limits and what counts against them now; false when neither is set. */
static bool read_limits(mem_limit lim[2]) {
    lim[0] = (mem_limit){"address-space", "-v", rlimit_bytes(RLIMIT_AS), 0};
    lim[1] = (mem_limit){"data-size", "-d", rlimit_bytes(RLIMIT_DATA), 0};
    if (lim[0].limit < 0 && lim[1].limit < 0) return false;
    vm_usage((int64_t)256 << 20, &lim[0].used, &lim[1].used);
    return true;
}

/* "4M", "512k", "1G", "65536" (KiB by default), as libgomp reads OMP_STACKSIZE;
 * -1 when absent or malformed. */
static int64_t parse_stacksize(const char *s) {
    if (!s) return -1;
    char *end;
    const long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > (1LL << 30)) return -1;
    while (*end == ' ') end++;
    switch (*end) {
    case 'b': case 'B': return v;
    case '\0': case 'k': case 'K': return (int64_t)v << 10;
    case 'm': case 'M': return (int64_t)v << 20;
    case 'g': case 'G': return (int64_t)v << 30;
    default: return -1;
    }
}

/* The stack of one pool thread: GOMP_STACKSIZE / OMP_STACKSIZE, else the
 * default thread stack (the soft RLIMIT_STACK; 8 MiB when unlimited). */
static int64_t thread_stack_bytes(void) {
    int64_t s = parse_stacksize(getenv("GOMP_STACKSIZE"));
    if (s < 0) s = parse_stacksize(getenv("OMP_STACKSIZE"));
    if (s < 0) s = rlimit_bytes(RLIMIT_STACK);
    if (s < 0 || s > ((int64_t)1 << 30)) s = (int64_t)8 << 20;
    return s + 4096; /* guard page */
}

static int max_int(int a, int b) { return a > b ? a : b; }

/* BLAS buffers mapped at least: those of OpenBLAS's threads and those reserved. */
static int buffers_now(void) { return max_int(openblas_get_num_threads(), buffers_mapped); }

/* Bytes the pool on `threads` threads still has to map: the BLAS buffers
 * beyond those mapped and the stacks of threads not started yet. */
static int64_t pool_need(int threads) {
    const int buffers = max_int(0, 2 * threads - buffers_now());
    const int stacks = max_int(0, threads - pool_started);
    return buffers * GM_BLAS_BUFFER_BYTES + stacks * thread_stack_bytes();
}

/* The limit that `need` more bytes would exceed, or NULL. */
static const mem_limit *exceeded(const mem_limit lim[2], int64_t need) {
    for (int i = 0; i < 2; i++)
        if (lim[i].limit >= 0 && lim[i].used + need > lim[i].limit) return &lim[i];
    return NULL;
}

void gm_set_threads(int n) {
    if (n < 1) n = 1;
    threads_asked = n;
    mem_limit lim[2];
    if (read_limits(lim)) {
        int fit = n;
        while (fit > 1 && exceeded(lim, pool_need(fit))) fit--;
        if (fit < n)
            gm_log(GM_LOG_WARN,
                   "threads: %d asked, %d used: the %s limit leaves no room for the BLAS "
                   "buffers of more",
                   n, fit, exceeded(lim, pool_need(n))->name);
        n = fit;
    }
    omp_set_num_threads(n);
    /* The OpenMP build of OpenBLAS reads its own setting, not only omp's. */
    openblas_set_num_threads(n);
}

/* Slots in OpenBLAS's buffer table: max(50, 2 x MAX_THREADS) in its common.h;
 * beyond them it warns and switches to an overflow table. */
static int blas_buffer_slots(void) {
    const char *cfg = openblas_get_config();
    const char *p = cfg ? strstr(cfg, "MAX_THREADS=") : NULL;
    const int max_threads = p ? atoi(p + strlen("MAX_THREADS=")) : 0;
    return max_int(50, 2 * max_threads);
}

/* Starts the pool on `threads` threads and maps the BLAS buffers of a run on
 * them, while the limit check above still holds. */
static void reserve(int threads) {
    if (threads > pool_started) {
        /* The only OpenMP region outside ops/: it starts the pool's threads,
         * and with them their stacks (an empty body would be dropped). */
        int started = 1;
#pragma omp parallel num_threads(threads)
        {
            if (omp_get_thread_num() == 0) started = omp_get_num_threads();
        }
        pool_started = max_int(pool_started, started);
    }
    const int want = 2 * threads, in_use = openblas_get_num_threads();
    if (want <= buffers_now() || want > blas_buffer_slots()) return;
    /* Slots are taken lowest first and stay mapped when released; the
     * threads' buffers hold the first `in_use` (one set of them: OpenBLAS's
     * default NUM_PARALLEL of 1), so holding the rest at once maps exactly
     * the first `want`, reusing any already mapped. */
    const int n = want - in_use;
    void **held = gm_malloc_array((size_t)n, sizeof *held);
    if (!held) return;
    for (int i = 0; i < n; i++) held[i] = blas_memory_alloc(0);
    for (int i = 0; i < n; i++)
        if (held[i]) blas_memory_free(held[i]);
    gm_free(held);
    buffers_mapped = want;
}

/* Whole MiB, rounded down. */
static long long mib(int64_t bytes) { return (long long)(bytes >> 20); }

gm_status gm_threads_reserve(int threads, int64_t extra_bytes) {
    if (threads < 1) threads = threads_asked > 0 ? threads_asked : omp_get_max_threads();
    mem_limit lim[2];
    if (!read_limits(lim)) return GM_OK;
    const int64_t need = pool_need(threads) + (extra_bytes > 0 ? extra_bytes : 0) + LIMIT_MARGIN;
    const mem_limit *l = exceeded(lim, need);
    if (!l) {
        reserve(threads);
        return GM_OK;
    }
    /* The advice in whole MiB (rounded up), in KiB as ulimit takes it. */
    const int64_t want_mib = (l->used + need + ((int64_t)1 << 20) - 1) >> 20;
    return gm_error_set(GM_ERR_NOMEM,
                        "%s limit of %lld MiB (ulimit %s %lld) is too small for %d thread%s: "
                        "%lld MiB in use, BLAS maps %lld MiB per thread and per concurrent call; "
                        "about %lld MiB needed (ulimit %s %lld%s)",
                        l->name, mib(l->limit), l->ulimit_flag, (long long)(l->limit >> 10),
                        threads, threads == 1 ? "" : "s", mib(l->used), mib(GM_BLAS_BUFFER_BYTES),
                        (long long)want_mib, l->ulimit_flag, (long long)(want_mib << 10),
                        threads > 1 ? ", or fewer threads" : "");
}
