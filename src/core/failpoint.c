/* Fail points for crash-consistency tests. GMCNN_FAILPOINT="NAME:N" makes
 * the N-th pass (N >= 1) through the point NAME kill the process with
 * SIGKILL, as `kill -9` or a power cut would at that instant. Without the
 * variable a point costs one getenv, at the first point passed. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"

static atomic_int fp_state;  /* 0 unread, 1 off, 2 armed */
static char fp_name[64];
static long fp_count;
static atomic_long fp_hits;

static void fp_read(void) {
    const char *v = getenv("GMCNN_FAILPOINT");
    const char *colon = v ? strrchr(v, ':') : NULL;
    int state = 1;
    if (colon && (size_t)(colon - v) < sizeof fp_name) {
        char *end;
        const long n = strtol(colon + 1, &end, 10);
        if (*end == '\0' && n >= 1) {
            memcpy(fp_name, v, (size_t)(colon - v));
            fp_name[colon - v] = '\0';
            fp_count = n;
            state = 2;
        }
    }
    atomic_store(&fp_state, state);
}

void gm__failpoint(const char *name) {
    if (atomic_load(&fp_state) == 0) fp_read();
    if (atomic_load(&fp_state) != 2 || strcmp(name, fp_name) != 0) return;
    if (atomic_fetch_add(&fp_hits, 1) + 1 == fp_count) raise(SIGKILL);
}
