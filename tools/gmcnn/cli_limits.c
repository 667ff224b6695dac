/* gmcnn: the memory limits, checked before any library starts.
 *
 * OpenBLAS maps a work buffer of GM_BLAS_BUFFER_BYTES (128 MiB on x86-64) for
 * every thread of its pool in its constructor, before main(), and retries
 * forever when the mapping is refused: under a small address-space limit
 * (ulimit -v, RLIMIT_AS) or data-size limit (ulimit -d, RLIMIT_DATA, which
 * Linux applies to private writable mappings) the process would spin at 100%
 * CPU without a word. It starts min(OMP_NUM_THREADS or the configured CPUs,
 * the configured CPUs) threads; builds with its TLS allocator read
 * OPENBLAS_NUM_THREADS / GOTO_NUM_THREADS first. Compute on T threads then maps
 * 2T buffers in all (see src/core/threads.c).
 *
 * The function below sits in the executable's .preinit_array, which the
 * dynamic loader runs before the constructors of all shared libraries. It
 * compares the limits with what is mapped now plus what OpenBLAS and a run
 * will map:
 *   - room for a run on the default threads: nothing to do;
 *   - OMP_NUM_THREADS set by the user: kept; when OpenBLAS cannot even start
 *     on it, a one-line error and exit status 1;
 *   - otherwise the executable runs itself again with OMP_NUM_THREADS set to
 *     the most threads whose run fits (else 1, which lets the commands without
 *     BLAS work; main() checks the others), or reports, as above, that
 *     OpenBLAS cannot start at all.
 * setenv() here would be lost: the C library sets `environ` from the stack
 * only after this function (getenv() still sees nothing), so the environment
 * is read from `envp` and a changed one is passed to execve().
 *
 * Nothing here may need an initialised library: only system calls, sysconf
 * and code of this file, and no stdio. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

/* Room for the commands without BLAS once OpenBLAS has started; for a run,
 * the margin of gm_threads_reserve (64 MiB, which main() calls) plus the
 * same, so that the plan made here passes there. */
#define START_MARGIN ((int64_t)16 << 20)
#define RUN_MARGIN ((int64_t)80 << 20)
#define MIB ((int64_t)1 << 20)

typedef struct limit {
    const char *name, *flag; /* "address-space", "-v" */
    int64_t limit, used;     /* bytes; limit -1 = none */
} limit;

typedef struct plan {
    limit lim[2];
    int64_t stack;        /* one pool thread's stack */
    int nconf, navail;    /* configured CPUs; CPUs this process may run on */
    int omp, blas;        /* OMP_NUM_THREADS; OPENBLAS_/GOTO_NUM_THREADS (0 = unset) */
    bool omp_set;         /* OMP_NUM_THREADS present at all */
    const char *blas_var; /* the name of the variable `blas` came from */
} plan;

static int64_t rlimit_bytes(int resource) {
    struct rlimit rl;
    if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return rl.rlim_cur > (rlim_t)INT64_MAX ? -1 : (int64_t)rl.rlim_cur;
}

/* The value of `name` in envp, or NULL. */
static const char *env_get(char **envp, const char *name) {
    const size_t len = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (!strncmp(*e, name, len) && (*e)[len] == '=') return *e + len + 1;
    return NULL;
}

/* Leading decimal number after blanks, at most `cap` (as atoi reads a thread
 * count, and the first entry of a list "4,2"); 0 if none. */
static int64_t leading_num(const char *s, int64_t cap) {
    int64_t v = 0;
    if (!s) return 0;
    while (*s == ' ' || *s == '\t') s++;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        if (v > cap) return cap;
    }
    return v;
}

static int leading_int(const char *s) { return (int)leading_num(s, 1 << 20); }

/* "VmSize:" and "VmData:" of /proc/self/status in bytes; false if unreadable. */
static bool read_usage(int64_t *size, int64_t *data) {
    static char buf[8192];
    int fd;
    do fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return false;
    size_t len = 0;
    for (;;) {
        const ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    const char *keys[2] = {"\nVmSize:", "\nVmData:"};
    int64_t *out[2] = {size, data};
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(buf, keys[i]);
        if (!p) return false;
        *out[i] = leading_num(p + strlen(keys[i]), INT64_C(1) << 50) << 10;
    }
    return true;
}

/* "4M", "512k", "65536" (KiB by default), as libgomp reads OMP_STACKSIZE; -1 if absent. */
static int64_t stacksize(const char *s) {
    const int64_t v = leading_num(s, INT64_C(1) << 30);
    if (v <= 0) return -1;
    while (*s == ' ' || *s == '\t' || (*s >= '0' && *s <= '9')) s++;
    switch (*s) {
    case 'b': case 'B': return v;
    case 'm': case 'M': return v << 20;
    case 'g': case 'G': return v << 30;
    default: return v << 10;
    }
}

/* Threads OpenBLAS starts when OMP_NUM_THREADS is `omp` (0 = unset). */
static int start_threads(const plan *p, int omp) {
    int t = omp > 0 && omp < p->nconf ? omp : p->nconf;
    if (p->blas > 0) {
        const int b = p->blas < p->nconf ? p->blas : p->nconf;
        if (b > t) t = b;
    }
    return t;
}

/* Bytes OpenBLAS maps when it starts, and a run maps in all, for `omp`. */
static int64_t start_need(const plan *p, int omp) {
    return start_threads(p, omp) * GM_BLAS_BUFFER_BYTES + START_MARGIN;
}

static int64_t run_need(const plan *p, int omp) {
    const int t = omp > 0 ? omp : p->navail, s = start_threads(p, omp);
    const int buffers = 2 * t > s ? 2 * t : s;
    return buffers * GM_BLAS_BUFFER_BYTES + (t - 1) * p->stack + RUN_MARGIN;
}

/* The limit that `need` more bytes would exceed, or NULL. */
static const limit *exceeded(const plan *p, int64_t need) {
    for (int i = 0; i < 2; i++)
        if (p->lim[i].limit >= 0 && p->lim[i].used + need > p->lim[i].limit) return &p->lim[i];
    return NULL;
}

/* --- a one-line message without stdio ------------------------------------ */

typedef struct line {
    char buf[512];
    size_t len;
} line;

static void put(line *l, const char *s) {
    while (*s && l->len < sizeof l->buf - 1) l->buf[l->len++] = *s++;
}

static void put_int(line *l, int64_t v) {
    char tmp[24];
    int n = 0;
    if (v < 0) {
        put(l, "-");
        v = -v;
    }
    do tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && n < (int)sizeof tmp);
    while (n > 0 && l->len < sizeof l->buf - 1) l->buf[l->len++] = tmp[--n];
}

static void put_str_int(line *l, const char *s, int64_t v) {
    put(l, s);
    put_int(l, v);
}

/* Prints why OpenBLAS cannot start when OMP_NUM_THREADS is `omp` (0 =
 * unset, exceeding a limit) and exits; `whose` says who chose `omp`. */
_Noreturn static void fail(const plan *p, int omp, const char *whose) {
    const int64_t need = start_need(p, omp);
    const limit *l = exceeded(p, need);
    const int threads = start_threads(p, omp);
    const int64_t total_mib = (l->used + need + MIB - 1) / MIB;
    line m = {.len = 0};
    put(&m, "gmcnn: ");
    put(&m, l->name);
    put_str_int(&m, " limit of ", l->limit / MIB);
    put(&m, " MiB (ulimit ");
    put(&m, l->flag);
    put_str_int(&m, " ", l->limit >> 10);
    put_str_int(&m, ") is too small: OpenBLAS maps ", GM_BLAS_BUFFER_BYTES / MIB);
    put_str_int(&m, " MiB per thread when it starts (", threads);
    put(&m, threads == 1 ? " thread" : " threads");
    if (threads > (omp > 0 && omp < p->nconf ? omp : p->nconf)) {
        put(&m, ", ");
        put(&m, p->blas_var);
    } else {
        put(&m, whose);
    }
    put_str_int(&m, ") on top of ", l->used / MIB);
    put_str_int(&m, " MiB in use: about ", total_mib);
    put(&m, " MiB needed (ulimit ");
    put(&m, l->flag);
    put_str_int(&m, " ", total_mib << 10);
    put(&m, threads > 1 ? ", or fewer threads)\n" : ")\n");
    const char *s = m.buf;
    size_t left = m.len;
    while (left > 0) {
        const ssize_t w = write(STDERR_FILENO, s, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        s += w;
        left -= (size_t)w;
    }
    _exit(CLI_FAIL);
}

/* Runs this executable again with OMP_NUM_THREADS=threads; returns on failure. */
static void rerun(char **argv, char **envp, int threads) {
    static char *env[4096];
    static line var;
    var.len = 0;
    put_str_int(&var, "OMP_NUM_THREADS=", threads);
    var.buf[var.len] = '\0';
    size_t n = 0;
    for (char **e = envp; e && *e; e++) {
        if (n + 2 >= sizeof env / sizeof *env) return;
        if (strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env[n++] = *e;
    }
    env[n++] = var.buf;
    env[n] = NULL;
    execve("/proc/self/exe", argv, env);
}

static void cli_limits_preinit(int argc, char **argv, char **envp) {
    (void)argc;
    plan p = {
        .lim = {{"address-space", "-v", rlimit_bytes(RLIMIT_AS), 0},
                {"data-size", "-d", rlimit_bytes(RLIMIT_DATA), 0}},
    };
    if (p.lim[0].limit < 0 && p.lim[1].limit < 0) return;
    if (!read_usage(&p.lim[0].used, &p.lim[1].used)) p.lim[0].used = p.lim[1].used = 256 * MIB;

    const long nconf = sysconf(_SC_NPROCESSORS_CONF);
    p.nconf = nconf > 0 ? (nconf < 1 << 16 ? (int)nconf : 1 << 16) : 1;
    cpu_set_t set;
    p.navail = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : p.nconf;
    if (p.navail < 1) p.navail = 1;
    const char *omp = env_get(envp, "OMP_NUM_THREADS");
    p.omp_set = omp && *omp;
    p.omp = leading_int(omp);
    p.blas_var = "OPENBLAS_NUM_THREADS";
    p.blas = leading_int(env_get(envp, p.blas_var));
    if (p.blas <= 0) {
        p.blas_var = "GOTO_NUM_THREADS";
        p.blas = leading_int(env_get(envp, p.blas_var));
    }
    p.stack = stacksize(env_get(envp, "GOMP_STACKSIZE"));
    if (p.stack < 0) p.stack = stacksize(env_get(envp, "OMP_STACKSIZE"));
    if (p.stack < 0) p.stack = rlimit_bytes(RLIMIT_STACK);
    if (p.stack < 0 || p.stack > 1024 * MIB) p.stack = 8 * MIB;
    p.stack += 4096;

    if (!exceeded(&p, run_need(&p, p.omp))) return;
    if (p.omp_set) {
        if (!exceeded(&p, start_need(&p, p.omp))) return; /* main() checks the run */
        fail(&p, p.omp, p.omp > 0 ? ", OMP_NUM_THREADS" : "");
    }
    for (int t = p.navail; t >= 1; t--)
        if (!exceeded(&p, run_need(&p, t))) rerun(argv, envp, t);
    if (exceeded(&p, start_need(&p, 1))) fail(&p, 1, "");
    rerun(argv, envp, 1);
    /* The reruns failed (no /proc): go on if OpenBLAS can start as it is. */
    if (exceeded(&p, start_need(&p, 0))) fail(&p, 0, ", one per CPU; fewer with OMP_NUM_THREADS");
}

__attribute__((section(".preinit_array"), used)) static void (*cli_limits_entry)(int, char **,
                                                                                  char **) =
    cli_limits_preinit;
