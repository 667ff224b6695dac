/* Core: status codes, error details, allocation hook, RNG, logging. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "test_support.h"

Test(core, every_status_has_a_distinct_message) {
    const gm_status all[] = {
#define GM_X_LIST(name, value, msg) name,
        GM_STATUS_LIST(GM_X_LIST)
#undef GM_X_LIST
    };
    const size_t n = sizeof all / sizeof all[0];
    cr_assert_eq(all[0], GM_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert(all[i] <= 0, "status codes are zero or negative");
        cr_assert_str_neq(gm_strerror(all[i]), "unknown status");
        for (size_t j = i + 1; j < n; j++) {
            cr_assert_neq(all[i], all[j]);
            cr_assert_str_neq(gm_strerror(all[i]), gm_strerror(all[j]));
        }
    }
    cr_assert_str_eq(gm_strerror((gm_status)12345), "unknown status");
}

Test(core, error_detail_is_recorded_and_cleared) {
    gm_error_clear();
    cr_assert_str_eq(gm_error_detail(), "");
    gm_status st = gm_error_set(GM_ERR_FORMAT, "file '%s' offset %d: bad magic", "x.npy", 3);
    cr_assert_eq(st, GM_ERR_FORMAT);
    cr_assert_str_eq(gm_error_detail(), "file 'x.npy' offset 3: bad magic");
    gm_error_clear();
    cr_assert_str_eq(gm_error_detail(), "");
}

Test(core, allocation_failure_injection) {
    gm_alloc_fail_after(2);
    void *a = gm_malloc(8), *b = gm_calloc(2, 8), *c = gm_malloc(8), *d = gm_realloc(NULL, 8);
    cr_assert(a && b, "the first two allocations succeed");
    cr_assert(!c && !d, "allocations after the budget fail");
    gm_alloc_fail_after(-1);
    void *e = gm_malloc(8);
    cr_assert(e != NULL, "reset restores allocation");
    gm_free(a);
    gm_free(b);
    gm_free(e);
    gm_free(NULL);
}

Test(core, allocation_overflow_is_refused) {
    cr_assert_null(gm_malloc_array(SIZE_MAX / 2, 4));
    cr_assert_null(gm_calloc(SIZE_MAX / 2, 4));
    int64_t out;
    cr_assert_eq(gm_mul_overflow_i64(INT64_MAX / 2, 3, &out), -1);
    cr_assert_eq(gm_mul_overflow_i64(1 << 20, 1 << 20, &out), 0);
    cr_assert_eq(out, (int64_t)1 << 40);
}

/* The PCG32 reference stream (pcg32-demo: state 42, sequence 54). */
Test(core, rng_matches_the_pcg32_reference_stream) {
    gm_rng rng;
    gm_rng_seed(&rng, 42u, 54u);
    const uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                  0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    for (int i = 0; i < 6; i++) cr_assert_eq(gm_rng_u32(&rng), expected[i], "output %d", i);
}

Test(core, rng_same_seed_same_stream_and_ranges) {
    gm_rng a, b, c;
    gm_rng_seed(&a, 7, 1);
    gm_rng_seed(&b, 7, 1);
    gm_rng_seed(&c, 8, 1);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = gm_rng_u32(&a);
        cr_assert_eq(x, gm_rng_u32(&b));
        same_c += x == gm_rng_u32(&c);
    }
    cr_assert_lt(same_c, 5, "a different seed gives a different stream");
    double sum = 0, sum2 = 0;
    int counts[7] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = gm_rng_uniform(&a);
        cr_assert(u >= 0.0 && u < 1.0);
        uint32_t k = gm_rng_below(&a, 7);
        cr_assert_lt(k, 7u);
        counts[k]++;
        double z = gm_rng_normal(&a);
        sum += z;
        sum2 += z * z;
    }
    for (int k = 0; k < 7; k++) cr_assert(fabs(counts[k] / (double)n - 1.0 / 7) < 0.01);
    cr_assert(fabs(sum / n) < 0.02, "normal mean %g", sum / n);
    cr_assert(fabs(sum2 / n - 1.0) < 0.02, "normal variance %g", sum2 / n);
}

static int log_calls;
static char log_last[256];

static void capture(gm_log_level level, const char *msg, void *ud) {
    (void)ud;
    if (level == GM_LOG_WARN) log_calls++;
    snprintf(log_last, sizeof log_last, "%s", msg);
}

Test(core, logging_goes_through_the_hook_only) {
    gm_log(GM_LOG_WARN, "dropped %d", 1);
    gm_log_set_handler(capture, NULL);
    gm_log(GM_LOG_WARN, "seen %d", 2);
    gm_log_set_handler(NULL, NULL);
    gm_log(GM_LOG_WARN, "dropped %d", 3);
    cr_assert_eq(log_calls, 1);
    cr_assert_str_eq(log_last, "seen 2");
}

Test(core, build_info_names_version_and_blas) {
    const char *info = gm_build_info();
    cr_assert(strstr(info, GM_VERSION_STRING) != NULL);
    cr_assert(strstr(info, "OpenBLAS") != NULL);
    cr_assert(strstr(info, "OpenMP") != NULL, "the OpenMP build of OpenBLAS is linked: %s", info);
}

Test(core, fmt_real_is_the_shortest_of_15_to_17_digits_that_reads_back) {
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.004, "0.004"},
        {0.1, "0.1"},
        {5.0, "5"},
        {-0.0, "-0"},
        {1e-300, "1e-300"},
        {0.1 + 0.2, "0.30000000000000004"}, /* 17 digits needed */
        {1.0 / 3.0, "0.3333333333333333"},        /* 16 digits */
        {0.9, "0.9"},
        {123456789012345.6, "123456789012345.6"}, /* 16 digits */
    };
    char buf[GM__FMT_REAL_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_str_eq(gm__fmt_real(cases[i].v, buf), cases[i].text, "case %zu", i);
    cr_assert_str_eq(gm__fmt_real(NAN, buf), "nan");
    cr_assert_str_eq(gm__fmt_real(-INFINITY, buf), "-inf");
    /* Random bit patterns and random reals of everyday sizes: the text reads
     * back to the same bits, and is the first of 15 and 16 digits that does. */
    gm_rng rng;
    gm_rng_seed(&rng, 7, 1);
    for (int i = 0; i < 20000; i++) {
        double v;
        if (i % 2) {
            const uint64_t bits = (uint64_t)gm_rng_u32(&rng) << 32 | gm_rng_u32(&rng);
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v)) continue;
        } else {
            v = gm_rng_uniform(&rng) * pow(10.0, (double)gm_rng_below(&rng, 13) - 6.0);
        }
        gm__fmt_real(v, buf);
        const double back = strtod(buf, NULL);
        cr_assert_eq(memcmp(&back, &v, sizeof v), 0, "%s does not read back", buf);
        char shorter[GM__FMT_REAL_MAX];
        for (int prec = 15; prec < 17; prec++) {
            snprintf(shorter, sizeof shorter, "%.*g", prec, v);
            if (strtod(shorter, NULL) == v) {
                cr_assert_str_eq(buf, shorter, "%.17g", v);
                break;
            }
        }
    }
}
