/* Internal helpers shared by every module: error propagation and assertions. */
#ifndef GMCNN_CORE_INTERNAL_H
#define GMCNN_CORE_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

#include "gmcnn/core.h"

/* Broken internal invariant (never bad user input): report and abort. */
#define GM_ASSERT(cond)                                                              \
    do {                                                                             \
        if (!(cond)) gm__assert_fail(#cond, __FILE__, __LINE__);                     \
    } while (0)

#ifdef NDEBUG
#define GM_DEBUG_ASSERT(cond) ((void)0)
#else
#define GM_DEBUG_ASSERT(cond) GM_ASSERT(cond)
#endif

_Noreturn void gm__assert_fail(const char *expr, const char *file, int line);

/* Returns `status` with a detail message from the enclosing function when
 * `cond` holds. In debug builds the detail is prefixed with file:line. */
#ifdef NDEBUG
#define GM_RETURN_ERROR_IF(cond, status, ...)                                        \
    do {                                                                             \
        if (cond) return gm_error_set((status), __VA_ARGS__);                        \
    } while (0)
#else
#define GM_RETURN_ERROR_IF(cond, status, ...)                                        \
    do {                                                                             \
        if (cond) {                                                                  \
            gm_status gm__st = gm_error_set((status), __VA_ARGS__);                  \
            gm__error_note_location(__FILE__, __LINE__);                             \
            return gm__st;                                                           \
        }                                                                            \
    } while (0)
#endif

/* Evaluates a gm_status expression and returns it from the enclosing
 * function when it is an error (the detail already set stays). */
#define GM_FORWARD_IF_ERROR(expr)                                                    \
    do {                                                                             \
        gm_status gm__st = (expr);                                                   \
        if (gm__st != GM_OK) return gm__st;                                          \
    } while (0)

/* Records where an error was raised (debug builds; visible through the log). */
void gm__error_note_location(const char *file, int line);

/* A detail for an allocation failure of `what` (returns GM_ERR_NOMEM). */
gm_status gm__nomem(const char *what);

/* A named point where crash tests may kill the process (failpoint.c:
 * GMCNN_FAILPOINT="NAME:N" kills it with SIGKILL at the N-th pass). */
void gm__failpoint(const char *name);

/* The shortest of v printed with 15, 16 and 17 significant digits ("%.Ng")
 * that strtod reads back as the same double (17 always does), written into
 * buf and returned; NaN and infinities as "%.17g" prints them. For text that
 * must read back exactly: configs, metric logs, reports. */
#define GM__FMT_REAL_MAX 32
const char *gm__fmt_real(double v, char buf[GM__FMT_REAL_MAX]);

#endif /* GMCNN_CORE_INTERNAL_H */
