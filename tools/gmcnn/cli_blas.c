/* The BLAS kernels the tool runs (see gmcnn/kernels.h): where OpenBLAS runs
 * kernels below what the CPU offers and the user has not set a core type,
 * each better kernel set is checked in a child process (a crash or a wrong
 * result there costs nothing) and the tool re-executes itself under the
 * first that passes. Kernels that stay are checked in-process; if they fail,
 * the sets below them are tried the same way, and with none left the tool
 * stops rather than compute wrong results. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define SELF "/proc/self/exe"

/* Runs `gmcnn __blas-check` under `core`; true when it exits 0. */
static bool passes_in_child(const char *core) {
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        const int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        setenv("OPENBLAS_CORETYPE", core, 1);
        char *args[] = {"gmcnn", CLI_BLAS_CHECK, NULL};
        execv(SELF, args);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The first candidate that passes, or NULL. */
static const char *first_passing(const gm_blas_plan *p) {
    for (int i = 0; i < p->ncandidates; i++)
        if (passes_in_child(p->candidates[i])) return p->candidates[i];
    return NULL;
}

int cli_blas_check_main(void) {
    /* Under a memory limit too tight for the check's BLAS buffers: a failure,
     * not a stall. */
    if (gm_threads_reserve(0, 0) != GM_OK) return CLI_FAIL;
    const gm_status st = gm_blas_check();
    if (st == GM_OK) return CLI_OK;
    fprintf(stderr, "gmcnn: %s: %s\n", gm_blas_core_name(), gm_error_detail());
    return CLI_FAIL;
}

void cli_blas_select(char **argv) {
    /* GMCNN_BLAS_SELECT: off, or force (a core type set in the environment is
     * then where the choice starts, as if OpenBLAS had picked it). */
    const char *mode = getenv("GMCNN_BLAS_SELECT");
    if ((mode && !strcmp(mode, "off")) || getenv(GM_BLAS_CHOICE_ENV)) return;
    const bool force = mode && !strcmp(mode, "force");
    gm_cpu_features f;
    gm_cpu_features_detect(&f);
    const char *user = force ? NULL : getenv("OPENBLAS_CORETYPE");
    /* A core type the user set stays; under a memory limit that leaves no
     * room for the check's BLAS buffers the kernels stay as they are (the
     * commands that compute report it). */
    if ((user && *user) || gm_threads_reserve(0, 0) != GM_OK) return;
    const char *running = gm_blas_core_name();
    gm_blas_plan p;
    gm_blas_plan_make(&f, running, NULL, NULL, &p);
    const char *chosen = first_passing(&p);
    char why[400];
    if (chosen) {
        snprintf(why, sizeof why, "%s; its check passed", p.reason);
    } else if (gm_blas_check() != GM_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", gm_error_detail());
        gm_blas_plan_make(&f, running, NULL, running, &p);
        chosen = first_passing(&p);
        if (!chosen) {
            fprintf(stderr, "gmcnn: the BLAS kernels %s compute wrong results (%s) and no other "
                    "kernel set passes the check; set OPENBLAS_CORETYPE to a working one\n",
                    running, detail);
            exit(CLI_FAIL);
        }
        snprintf(why, sizeof why, "%.150s (%.120s); %.20s passed", p.reason, detail, chosen);
    }
    if (!chosen) return;
    char value[448];
    snprintf(value, sizeof value, "%s|%s", chosen, why);
    setenv("OPENBLAS_CORETYPE", chosen, 1);
    setenv(GM_BLAS_CHOICE_ENV, value, 1);
    execv(SELF, argv);
    /* Could not re-execute: go on with the kernels loaded, and say why not. */
    fprintf(stderr, "gmcnn: warning: cannot re-execute under OPENBLAS_CORETYPE=%s (%s); "
            "going on with %s\n", chosen, strerror(errno), running);
    unsetenv(GM_BLAS_CHOICE_ENV);
    unsetenv("OPENBLAS_CORETYPE");
}
