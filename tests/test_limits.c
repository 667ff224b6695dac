/* The tool under address-space and data-size limits (ulimit -v, ulimit -d).
 * OpenBLAS maps a 128 MiB buffer per thread when it starts and per concurrent
 * call later, and retries forever when a mapping is refused; the tool must
 * instead refuse a limit that is too small with a one-line error within
 * seconds, and run (on fewer threads where only those fit) under one that is
 * large enough. Every run is wrapped in `timeout 20`, so a hang fails the
 * test with exit status 124 rather than stalling the suite.
 *
 * The library's side (gm_threads_reserve, gm_set_threads) is tested in the
 * test's own process under a limit set relative to what it has mapped.
 *
 * The tool's limits are chosen against the buffer size, not this machine: a process
 * of the tool maps well under 128 MiB before OpenBLAS starts, so 1 thread
 * starts under 280 000 KiB and 2 do not; a run on 1 thread (2 buffers) fits
 * in 600 000 KiB and one on 2 threads (4 buffers) does not.
 *
 * Skipped in the AddressSanitizer build: its shadow memory reserves terabytes
 * of address space, so no process of that build starts under ulimit -v. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <omp.h>

#include "test_support.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#ifndef ASAN_BUILD
#define ASAN_BUILD 0
#endif

static char dir[64];

/* A directory with 40 random 6x6 images in 3 classes (img.idx, lab.idx). */
static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/gmcnn-limits-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    unsigned char px[40 * 36], lab[40];
    gm_rng rng;
    gm_rng_seed(&rng, 5, 1);
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)gm_rng_below(&rng, 256);
    for (int i = 0; i < 40; i++) lab[i] = (unsigned char)(i % 3);
    char path[128];
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {40, 6, 6}, .data = px};
    snprintf(path, sizeof path, "%s/img.idx", dir);
    OK(gm_idx_write(path, &a, false));
    gm_array l = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {40}, .data = lab};
    snprintf(path, sizeof path, "%s/lab.idx", dir);
    OK(gm_idx_write(path, &l, false));
}

static void teardown(void) { ts_rmtree(dir); }

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120, .disabled = ASAN_BUILD);

/* Runs the tool in the scratch directory under `ulimit LIMIT` with the thread
 * variables cleared and then `env` (e.g. "OMP_NUM_THREADS=2", or ""); returns
 * its output and exit status. */
static char *run_limited(const char *limit, const char *env, const char *args, int *rc) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ulimit %s && env -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS "
             "-u GOTO_NUM_THREADS %s timeout 20 '%s' %s",
             dir, limit, env, GM_CLI_PATH, args);
    return ts_run(cmd, rc);
}

static char *expect_limited(const char *limit, const char *env, const char *args,
                            int expect_rc) {
    int rc;
    char *out = run_limited(limit, env, args, &rc);
    cr_assert_eq(rc, expect_rc, "ulimit %s; %s gmcnn %s: exit %d, expected %d (124: hung); "
                 "output:\n%s", limit, env, args, rc, expect_rc, out);
    return out;
}

#define TRAIN                                                                                 \
    "train --images img.idx --labels lab.idx --model gmcnn --group C6xC6 --radius 1 "         \
    "--channels 4 --epochs 1 --batch 8 --quiet --out "

Test(limits, version_refuses_a_limit_below_one_buffer) {
    const char *envs[] = {"", "OMP_NUM_THREADS=1", "OMP_NUM_THREADS=4"};
    for (int i = 0; i < 3; i++) {
        char *out = expect_limited("-v 100000", envs[i], "--version", 1);
        ts_expect_one_line_error(out, "address-space limit of 97 MiB (ulimit -v 100000) is too "
                                      "small: OpenBLAS maps 128 MiB per thread when it starts");
        gm_free(out);
    }
}

Test(limits, version_refuses_a_data_size_limit_below_one_buffer) {
    char *out = expect_limited("-d 100000", "", "--version", 1);
    ts_expect_one_line_error(out, "data-size limit of 97 MiB (ulimit -d 100000) is too small");
    gm_free(out);
}

Test(limits, version_starts_on_one_thread_when_only_one_fits) {
    char *out = expect_limited("-v 280000", "", "--version", 0);
    ts_expect_contains(out, "OpenMP threading, 1 threads");
    gm_free(out);
}

Test(limits, explicit_thread_count_is_kept_and_refused) {
    if (sysconf(_SC_NPROCESSORS_CONF) < 2) cr_skip_test("OpenBLAS starts 1 thread here");
    char *out = expect_limited("-v 280000", "OMP_NUM_THREADS=2", "--version", 1);
    ts_expect_one_line_error(out, "(2 threads, OMP_NUM_THREADS)");
    ts_expect_contains(out, "or fewer threads)");
    gm_free(out);
}

Test(limits, train_refuses_a_limit_too_small_for_its_buffers) {
    char *out = expect_limited("-v 280000", "", TRAIN "run", 1);
    ts_expect_one_line_error(out, "gmcnn: train: address-space limit of 273 MiB (ulimit -v "
                                  "280000) is too small for 1 thread");
    gm_free(out);
    out = expect_limited("-d 200000", "", TRAIN "run", 1);
    ts_expect_one_line_error(out, "gmcnn: train: data-size limit of 195 MiB");
    gm_free(out);
}

Test(limits, train_runs_on_fewer_threads_under_a_tight_limit) {
    char *out = expect_limited("-v 600000", "", TRAIN "run", 0);
    ts_expect_contains(out, "best epoch 1");
    gm_free(out);
    out = expect_limited("-v 600000", "", TRAIN "run2 --threads 2", 1);
    ts_expect_one_line_error(out, "gmcnn: train: address-space limit of 585 MiB (ulimit -v "
                                  "600000) is too small for 2 threads");
    gm_free(out);
    out = expect_limited("-v 600000", "OMP_NUM_THREADS=2", TRAIN "run3", 1);
    ts_expect_one_line_error(out, "is too small for 2 threads");
    gm_free(out);
}

Test(limits, train_runs_under_a_large_limit) {
    char *out = expect_limited("-v 4000000", "", TRAIN "run", 0);
    ts_expect_contains(out, "best epoch 1");
    gm_free(out);
    out = expect_limited("-v 4000000", "OMP_NUM_THREADS=2", TRAIN "run2 --threads 2", 0);
    ts_expect_contains(out, "best epoch 1");
    gm_free(out);
    out = expect_limited("-d 4000000", "", TRAIN "run3", 0);
    ts_expect_contains(out, "best epoch 1");
    gm_free(out);
}

/* The library side, in this test's own process: an address-space limit
 * 100 MiB above what is mapped now leaves no room for two threads' buffers. */
static void limit_address_space(int64_t headroom) {
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert(f != NULL);
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %lld kB", &kb) == 1) break;
    fclose(f);
    cr_assert(kb > 0);
    const struct rlimit rl = {.rlim_cur = (rlim_t)((kb << 10) + headroom),
                              .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
}

Test(limits, reserve_reports_the_shortfall) {
    limit_address_space((int64_t)100 << 20);
    const gm_status st = gm_threads_reserve(2, 0);
    cr_assert_eq(st, GM_ERR_NOMEM);
    ts_expect_contains(gm_error_detail(), "address-space limit of ");
    ts_expect_contains(gm_error_detail(), "is too small for 2 threads");
    ts_expect_contains(gm_error_detail(), "or fewer threads)");
}

Test(limits, set_threads_keeps_within_the_limit) {
    limit_address_space((int64_t)100 << 20);
    gm_set_threads(8);
    cr_assert_eq(omp_get_max_threads(), 1, "no room for the buffers of a second thread");
    /* The count asked is what the run is checked for. */
    cr_assert_eq(gm_threads_reserve(0, 0), GM_ERR_NOMEM);
    ts_expect_contains(gm_error_detail(), "is too small for 8 threads");
}

Test(limits, reserve_maps_up_front_and_counts_it_once) {
    /* Room for 2 threads' buffers (at most 4 x 128 MiB beyond this process's
     * own), their stacks and the margin. */
    limit_address_space((int64_t)700 << 20);
    OK(gm_threads_reserve(2, 0));
    /* Now mapped: a second check counts only the extra bytes and the margin
     * (counted again, the buffers would leave no room for 200 MiB). */
    OK(gm_threads_reserve(2, (int64_t)200 << 20));
}
