/* Status codes, per-thread error details, assertions and logging. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_internal.h"

const char *gm_strerror(gm_status status) {
    switch (status) {
#define GM_X_CASE(name, value, msg) \
    case name:                      \
        return msg;
        GM_STATUS_LIST(GM_X_CASE)
#undef GM_X_CASE
    }
    return "unknown status";
}

static _Thread_local char gm_detail[1024];

const char *gm_error_detail(void) { return gm_detail; }

void gm_error_clear(void) { gm_detail[0] = '\0'; }

gm_status gm_error_set(gm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gm_detail, sizeof gm_detail, fmt, ap);
    va_end(ap);
    return status;
}

void gm__error_note_location(const char *file, int line) {
    gm_log(GM_LOG_DEBUG, "%s:%d: %s", file, line, gm_detail);
}

gm_status gm__nomem(const char *what) {
    return gm_error_set(GM_ERR_NOMEM, "out of memory allocating %s", what);
}

_Noreturn void gm__assert_fail(const char *expr, const char *file, int line) {
    gm_log(GM_LOG_ERROR, "%s:%d: internal invariant failed: %s", file, line, expr);
    fprintf(stderr, "gmcnn: %s:%d: internal invariant failed: %s\n", file, line, expr);
    abort();
}

static gm_log_fn gm_log_handler;
static void *gm_log_userdata;

void gm_log_set_handler(gm_log_fn fn, void *userdata) {
    gm_log_handler = fn;
    gm_log_userdata = userdata;
}

void gm_log(gm_log_level level, const char *fmt, ...) {
    gm_log_fn fn = gm_log_handler;
    if (!fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(level, buf, gm_log_userdata);
}
