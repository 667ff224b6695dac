/* Shared helpers of the test suite (not part of the library). */
#ifndef GMCNN_TEST_SUPPORT_H
#define GMCNN_TEST_SUPPORT_H

#include <stdint.h>

#include "gmcnn/gmcnn.h"

/* Builds a group from a spec; fails the current test with the detail on error. */
gm_group *ts_group(const char *spec);
/* Fills x[0..n) with uniform values in [-1, 1) from the seeded generator. */
void ts_fill_uniform(gm_rng *rng, int64_t n, double *x);
/* Max |a[i] - b[i]|. */
double ts_max_abs_diff(int64_t n, const double *a, const double *b);
/* Reads a whole file into a NUL-terminated heap string (gm_free it); NULL on error. */
char *ts_read_file(const char *path);
/* Writes text to a new temporary file and returns its path (static buffer per call slot). */
const char *ts_write_temp(const char *text);
/* Runs a shell command, capturing stdout+stderr into a heap string (gm_free it);
 * *rc receives the exit status. */
char *ts_run(const char *cmd, int *rc);

#endif
