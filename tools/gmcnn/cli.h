/* Shared pieces of the gmcnn command-line tool. No math here: parse, call
 * the public API, print. */
#ifndef GMCNN_CLI_H
#define GMCNN_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/gmcnn.h"

/* Exit statuses: 0 success, 1 failure on valid usage (bad file, bad spec,
 * numerical failure), 2 bad usage (unknown flag, missing argument). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "gmcnn: <context>: <message>" to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *context, const char *fmt, ...) GM_PRINTF(2, 3);
/* Prints "gmcnn: <context>: <gm_error_detail() or gm_strerror(st)>" and returns CLI_FAIL. */
int cli_status_error(const char *context, gm_status st);
/* Parses a whole decimal integer in [lo, hi]; false on anything else. */
bool cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* Parses a finite double; false on anything else. */
bool cli_parse_double(const char *s, double *out);
/* True when arg is "-h" or "--help". */
bool cli_is_help(const char *arg);
/* Matches argv[*i] against a flag taking a value, as "--flag VALUE" or
 * "--flag=VALUE": returns 1 and sets *value (advancing *i past a separate
 * value), 0 when argv[*i] is another argument, -1 when the value is missing. */
int cli_flag_value(int argc, char **argv, int *i, const char *flag, const char **value);
/* Chooses the BLAS kernels before anything else runs (cli_blas.c): may
 * re-execute the tool under a better kernel set that passed its check, or
 * exit when no kernel set computes correctly. The hidden command
 * CLI_BLAS_CHECK runs the check alone (cli_blas_check_main). */
#define CLI_BLAS_CHECK "__blas-check"
void cli_blas_select(char **argv);
int cli_blas_check_main(void);
/* Resolves an element given by index ("17") or by printed name ("f*r^2",
 * "(1,3)") in g. */
bool cli_parse_element(const gm_group *g, const char *s, int32_t *out);

int cmd_group(int argc, char **argv);
int cmd_gm(int argc, char **argv);
int cmd_equivariance(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_rollout(int argc, char **argv);

#endif
