/* Helpers shared by the benchmark programs (each bench/<name>.c is its own
 * executable, so these are static): the clock, the timing protocol, the
 * process's memory high-water mark, and a small JSON writer for scripts.
 *
 * Timing protocol (the same in bench/peer/): `warmup` untimed runs, then
 * timed runs until at least `min_reps` runs and `min_time` seconds have been
 * spent, or `max_reps` runs, or `max_time` seconds (after at least one timed
 * run: a run of seconds is measured once or twice); the reported time is the
 * median run. */
#ifndef GMCNN_BENCH_UTIL_H
#define GMCNN_BENCH_UTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gmcnn/gmcnn.h"

/* The clock: wall time, or with bu_cpu_clock set the process's CPU time
 * (for comparing kernels with --threads 1 on a busy machine, where CPU time
 * stays close to the time a quiet machine would take). */
static bool bu_cpu_clock = false;

static inline double bu_now(void) {
    struct timespec ts;
    clock_gettime(bu_cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bu_protocol {
    int warmup;
    int min_reps;
    int max_reps;
    double min_time; /* seconds of timed runs, at least */
    double max_time; /* no further run once this much is spent (0 = no limit) */
} bu_protocol;

#define BU_MAX_REPS 200

/* Samples of one measurement; a run may time several parts at once. */
typedef struct bu_samples {
    int n;
    double t[BU_MAX_REPS];
} bu_samples;

static int bu_cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bu_median(const bu_samples *s) {
    if (s->n < 1) return NAN;
    double v[BU_MAX_REPS];
    memcpy(v, s->t, (size_t)s->n * sizeof v[0]);
    qsort(v, (size_t)s->n, sizeof v[0], bu_cmp_double);
    return s->n % 2 ? v[s->n / 2] : 0.5 * (v[s->n / 2 - 1] + v[s->n / 2]);
}

static inline void bu_push(bu_samples *s, double t) {
    if (s->n < BU_MAX_REPS) s->t[s->n++] = t;
}

/* True while another timed run is due after `done` runs taking `spent` s. */
static inline bool bu_more(const bu_protocol *p, int done, double spent) {
    if (done >= p->max_reps || done >= BU_MAX_REPS) return false;
    if (done >= 1 && p->max_time > 0 && spent >= p->max_time) return false;
    return done < p->min_reps || spent < p->min_time;
}

/* A "Vm...:" line of /proc/self/status in KiB (-1 if unavailable). */
static inline long bu_proc_status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    const size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The first "model name" of /proc/cpuinfo into buf. */
static inline void bu_cpu_model(char *buf, size_t size) {
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t') c++;
                snprintf(buf, size, "%s", c);
                buf[strcspn(buf, "\n")] = 0;
            }
            break;
        }
    fclose(f);
}

static inline double bu_loadavg1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return l;
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
    return l;
}

/* --- JSON ----------------------------------------------------------------
 * One array of flat records: bu_json_begin(j); bu_json_str / bu_json_num /
 * bu_json_int ...; bu_json_end(j). A NULL writer ignores every call, so the
 * programs write unconditionally. */
typedef struct bu_json {
    FILE *f;
    int records, fields;
} bu_json;

static inline bu_json *bu_json_open(const char *path) {
    if (!path) return NULL;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    bu_json *j = calloc(1, sizeof *j);
    if (!j) exit(2);
    j->f = f;
    fputs("[\n", f);
    return j;
}

static inline void bu_json_close(bu_json *j) {
    if (!j) return;
    fputs("\n]\n", j->f);
    if (fclose(j->f) != 0) {
        fprintf(stderr, "error writing the JSON output\n");
        exit(2);
    }
    free(j);
}

static inline void bu_json_begin(bu_json *j) {
    if (!j) return;
    fputs(j->records++ ? ",\n  {" : "  {", j->f);
    j->fields = 0;
}

static inline void bu_json_end(bu_json *j) {
    if (j) fputc('}', j->f);
}

static inline void bu_json_key(bu_json *j, const char *key) {
    fprintf(j->f, "%s\"%s\": ", j->fields++ ? ", " : "", key);
}

static inline void bu_json_str(bu_json *j, const char *key, const char *v) {
    if (!j) return;
    bu_json_key(j, key);
    fputc('"', j->f);
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(j->f, "\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            fprintf(j->f, "\\u%04x", (unsigned)(unsigned char)*c);
        else
            fputc(*c, j->f);
    }
    fputc('"', j->f);
}

static inline void bu_json_num(bu_json *j, const char *key, double v) {
    if (!j) return;
    bu_json_key(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f);
}

static inline void bu_json_int(bu_json *j, const char *key, int64_t v) {
    if (!j) return;
    bu_json_key(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

/* The machine record every program writes first. */
static inline void bu_json_machine(bu_json *j, int threads) {
    if (!j) return;
    char cpu[256];
    bu_cpu_model(cpu, sizeof cpu);
    bu_json_begin(j);
    bu_json_str(j, "suite", "machine");
    bu_json_str(j, "impl", "gmcnn");
    bu_json_str(j, "cpu", cpu);
    bu_json_int(j, "threads", threads);
    bu_json_str(j, "build", gm_build_info());
    bu_json_num(j, "loadavg1", bu_loadavg1());
    bu_json_end(j);
}

/* Aborts the benchmark on a library error (benchmarks have no recovery). */
#define BU_CHECK(expr)                                                                          \
    do {                                                                                       \
        gm_status bu_st_ = (expr);                                                             \
        if (bu_st_ != GM_OK) {                                                                 \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr,                 \
                    gm_strerror(bu_st_), gm_error_detail());                                   \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static inline void bu_fill_uniform(gm_rng *rng, int64_t n, gm_real *x, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (gm_real)(scale * (2.0 * gm_rng_uniform(rng) - 1.0));
}

#endif
