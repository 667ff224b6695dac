/* gmcnn core: status codes, error details, allocation, RNG, logging.
 *
 * Every module of gmcnn uses these. Functions that can fail return a
 * gm_status (0 = GM_OK, negative = error) and hand results back through
 * out-parameters. When a function fails on bad input it also records a
 * one-line, human-readable detail naming the thing and the place
 * (e.g. "group spec 'D0' at column 2: dihedral order must be >= 1"),
 * readable with gm_error_detail() on the same thread.
 */
#ifndef GMCNN_CORE_H
#define GMCNN_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GM_NODISCARD __attribute__((warn_unused_result))
#define GM_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define GM_NODISCARD
#define GM_PRINTF(fmt_idx, arg_idx)
#endif

#define GM_VERSION_MAJOR 0
#define GM_VERSION_MINOR 1
#define GM_VERSION_PATCH 0
#define GM_VERSION_STRING "0.1.0"

/* The one list of status codes: X(name, value, message). */
#define GM_STATUS_LIST(X)                                                    \
    X(GM_OK, 0, "success")                                                   \
    X(GM_ERR_NOMEM, -1, "out of memory")                                     \
    X(GM_ERR_INVALID_ARG, -2, "invalid argument")                            \
    X(GM_ERR_GROUP_SPEC, -3, "malformed group spec")                         \
    X(GM_ERR_GROUP_AXIOM, -4, "group axioms violated")                       \
    X(GM_ERR_TOO_LARGE, -5, "size too large")                                \
    X(GM_ERR_IO, -6, "input/output error")                                   \
    X(GM_ERR_FORMAT, -7, "malformed file")                                   \
    X(GM_ERR_SHAPE, -8, "shape mismatch")                                    \
    X(GM_ERR_NUMERIC, -9, "numerical failure")                               \
    X(GM_ERR_NOT_FOUND, -10, "not found")                                    \
    X(GM_ERR_UNSUPPORTED, -11, "unsupported")                                \
    X(GM_ERR_BUSY, -12, "in use")                                            \
    X(GM_ERR_INTERRUPTED, -13, "interrupted")

typedef enum gm_status {
#define GM_X_ENUM(name, value, msg) name = value,
    GM_STATUS_LIST(GM_X_ENUM)
#undef GM_X_ENUM
} gm_status;

/* Static message for a status code ("unknown status" for values not in the list). */
const char *gm_strerror(gm_status status);

/* Detail of the last failure on this thread ("" when none). The string stays
 * valid until the next failing gmcnn call on the same thread. */
const char *gm_error_detail(void);
/* Records a detail (printf-style) and returns `status`, for use in return statements. */
gm_status gm_error_set(gm_status status, const char *fmt, ...) GM_PRINTF(2, 3);
void gm_error_clear(void);

/* --- allocation ----------------------------------------------------------
 * All heap traffic of gmcnn goes through these. gm_free(NULL) is a no-op.
 * gm_*alloc return NULL on failure (and for a zero size they return a unique
 * non-NULL pointer). Overflow of count*size is detected. */
void *gm_malloc(size_t size);
void *gm_calloc(size_t count, size_t size);
void *gm_realloc(void *ptr, size_t size);
void *gm_malloc_array(size_t count, size_t size); /* NULL on count*size overflow */
char *gm_strdup(const char *s);
void gm_free(void *ptr);

/* Out-of-memory injection for tests: after `n` more successful allocations
 * every further allocation fails, until reset with n < 0 (the default). */
void gm_alloc_fail_after(int64_t n);
/* Number of allocations made so far (monotone counter, for tests). */
int64_t gm_alloc_count(void);

/* Checked multiplication of sizes: returns 0 and sets *out, or -1 on overflow. */
int gm_mul_overflow_i64(int64_t a, int64_t b, int64_t *out);

/* --- RNG: PCG32 (O'Neill, XSH-RR 64/32) --------------------------------
 * Same seed and stream give the same sequence on every machine. */
typedef struct gm_rng {
    uint64_t state;
    uint64_t inc;
} gm_rng;

void gm_rng_seed(gm_rng *rng, uint64_t seed, uint64_t stream);
uint32_t gm_rng_u32(gm_rng *rng);
/* Uniform integer in [0, bound), unbiased; bound must be > 0. */
uint32_t gm_rng_below(gm_rng *rng, uint32_t bound);
/* Uniform double in [0, 1) with 53 random bits. */
double gm_rng_uniform(gm_rng *rng);
/* Standard normal (Box-Muller, no cached state). */
double gm_rng_normal(gm_rng *rng);

/* --- logging ----------------------------------------------------------- */
typedef enum gm_log_level {
    GM_LOG_DEBUG = 0,
    GM_LOG_INFO = 1,
    GM_LOG_WARN = 2,
    GM_LOG_ERROR = 3
} gm_log_level;

typedef void (*gm_log_fn)(gm_log_level level, const char *message, void *userdata);

/* Installs the log handler (NULL = discard all messages, the default). The
 * library never prints except through this hook. */
void gm_log_set_handler(gm_log_fn fn, void *userdata);
void gm_log(gm_log_level level, const char *fmt, ...) GM_PRINTF(2, 3);

/* --- threads ------------------------------------------------------------ */
/* Bytes of one OpenBLAS work buffer (its BUFFER_SIZE, 32 << 22 on x86-64).
 * OpenBLAS maps one per thread of its pool when it starts and one per BLAS
 * call running at once, so compute on T threads maps 2T of them; when a
 * mapping is refused it retries forever (spinning, never failing). */
#define GM_BLAS_BUFFER_BYTES ((int64_t)128 << 20)

/* Sets the threads of gmcnn's parallel regions and of BLAS (one OpenMP pool);
 * n < 1 is taken as 1. Call it before work starts, from one thread. Under an
 * address-space or data-size limit (RLIMIT_AS, RLIMIT_DATA) it uses no more
 * threads than those whose BLAS buffers and stacks still fit (at least 1; a
 * warning goes to the log); gm_threads_reserve then reports the shortfall. */
void gm_set_threads(int n);

/* Makes room for compute on `threads` threads (< 1: the count last asked of
 * gm_set_threads, else OpenMP's) under the address-space and data-size limits
 * (RLIMIT_AS, RLIMIT_DATA). Checks that the limits leave, besides what the
 * process has mapped now, room for the BLAS buffers not mapped yet (2 x
 * threads in all), a stack per thread not started yet, `extra_bytes` the
 * caller is about to allocate and a 64 MiB margin; then starts the threads
 * and has OpenBLAS map its buffers, so that a later shortfall fails an
 * allocation of gmcnn (GM_ERR_NOMEM) instead of stalling BLAS. Call it before
 * the first BLAS call of a run, from one thread. GM_OK at once without a
 * limit; GM_ERR_NOMEM with a detail naming the limit, the thread count and
 * the size needed when there is no room. */
GM_NODISCARD gm_status gm_threads_reserve(int threads, int64_t extra_bytes);

/* --- build information -------------------------------------------------- */
/* Multi-line description of the build: version, compiler, build type,
 * BLAS backend, thread count and the kernels in use with why they run
 * (gm_blas_kernels in gmcnn/kernels.h). Static storage, not thread-safe. */
const char *gm_build_info(void);
/* The optional parts compiled into this build, space-separated, from
 *   plot    PNG plots (cairo): gm_plot_metrics_png, gm_plot_fields_png
 *   config  YAML configs (libyaml): gmcnn/config.h, gm_run_train
 *   fft     the FFT path of full-form GMConv (FFTW); without it GMConv
 *           always takes the gather path, with results equal to rounding
 *   rank    numerical and displacement rank (LAPACKE): gm_gmat_rank,
 *           gm_gmat_displacement_rank, gm_gmat_displacement_rank_eps
 * "plot config fft rank" in a full build, "" in a slim one (GM_SLIM). The
 * functions of a part left out exist and return GM_ERR_UNSUPPORTED with a
 * detail naming the build option. Static storage. */
const char *gm_build_features(void);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_CORE_H */
