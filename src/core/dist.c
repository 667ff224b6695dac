/* The communicator of data-parallel training (gmcnn/dist.h): MPI_COMM_WORLD
 * in a build with MPI under a launcher, a world of one otherwise. The only
 * file of the project that calls MPI. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core_internal.h"
#include "gmcnn/dist.h"

#ifdef GM_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static bool g_joined = false;
static bool g_agreed = false;

/* Launched by mpirun / mpiexec (OpenMPI, PMIx) or a PMI launcher (MPICH,
 * Slurm's srun). */
static bool launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return true;
    }
    return false;
}

bool gm_dist_available(void) {
#ifdef GM_HAVE_MPI
    return true;
#else
    return false;
#endif
}

gm_status gm_dist_init(int *argc, char ***argv) {
    if (g_joined || !launched()) return GM_OK;
#ifdef GM_HAVE_MPI
    int done = 0;
    MPI_Initialized(&done);
    if (!done && MPI_Init(argc, argv) != MPI_SUCCESS)
        return gm_error_set(GM_ERR_IO, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_joined = true;
    return GM_OK;
#else
    (void)argc;
    (void)argv;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n) n = getenv("PMI_SIZE");
    /* A launcher of one process changes nothing. */
    if (n && !strcmp(n, "1")) return GM_OK;
    return gm_error_set(GM_ERR_UNSUPPORTED,
                        "started by an MPI launcher, but this gmcnn is built without MPI "
                        "(every process would run alone and write the same files); "
                        "rebuild with -DGM_MPI=ON");
#endif
}

void gm_dist_finalize(void) {
#ifdef GM_HAVE_MPI
    if (g_joined) {
        int done = 0;
        MPI_Finalized(&done);
        if (!done) MPI_Finalize();
    }
#endif
    g_joined = false;
    g_rank = 0;
    g_size = 1;
}

void gm_dist_abort(int code) {
#ifdef GM_HAVE_MPI
    if (g_joined) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

int gm_dist_rank(void) { return g_rank; }
int gm_dist_size(void) { return g_size; }

static gm_dist_stats g_stats;

gm_dist_stats gm_dist_stats_get(void) { return g_stats; }
void gm_dist_stats_reset(void) { memset(&g_stats, 0, sizeof g_stats); }

#ifdef GM_HAVE_MPI
static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

gm_status gm_dist_allreduce_sum_f64(double *buf, int64_t n) {
    if (g_size == 1 || n == 0) return GM_OK;
#ifdef GM_HAVE_MPI
    const double t0 = now_seconds();
    g_stats.calls++;
    g_stats.values += n;
    /* in chunks that an int counts */
    for (int64_t off = 0; off < n; off += INT32_MAX / 2) {
        const int64_t k = n - off < INT32_MAX / 2 ? n - off : INT32_MAX / 2;
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return gm_error_set(GM_ERR_IO, "MPI_Allreduce of %lld doubles failed", (long long)n);
    }
    g_stats.seconds += now_seconds() - t0;
#else
    (void)buf;
#endif
    return GM_OK;
}

gm_status gm_dist_allreduce_sum_i64(int64_t *buf, int64_t n) {
    if (g_size == 1 || n == 0) return GM_OK;
#ifdef GM_HAVE_MPI
    GM_RETURN_ERROR_IF(n > INT32_MAX, GM_ERR_TOO_LARGE, "allreduce of %lld integers",
                       (long long)n);
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return gm_error_set(GM_ERR_IO, "MPI_Allreduce of %lld integers failed", (long long)n);
#else
    (void)buf;
#endif
    return GM_OK;
}

#ifdef GM_HAVE_MPI
/* The notice: its own communicator, one receive posted for the first notice,
 * a send to every other rank on raising. */
static MPI_Comm g_notice_comm = MPI_COMM_NULL;
static MPI_Request g_notice_recv = MPI_REQUEST_NULL, *g_notice_sends;
static int g_notice_in, g_notice_one = 1;
static bool g_notice_raised, g_notice_got;
#endif

gm_status gm_dist_notice_open(void) {
    if (g_size == 1) return GM_OK;
#ifdef GM_HAVE_MPI
    GM_RETURN_ERROR_IF(g_notice_comm != MPI_COMM_NULL, GM_ERR_BUSY,
                       "gm_dist_notice_open: a notice is open");
    if (MPI_Comm_dup(MPI_COMM_WORLD, &g_notice_comm) != MPI_SUCCESS ||
        MPI_Irecv(&g_notice_in, 1, MPI_INT, MPI_ANY_SOURCE, 0, g_notice_comm, &g_notice_recv) !=
            MPI_SUCCESS)
        return gm_error_set(GM_ERR_IO, "MPI: cannot open the failure notice");
    /* Best effort: without it this rank raises nothing, and the others learn
     * of its failure when the ranks agree. */
    g_notice_sends = calloc((size_t)g_size, sizeof *g_notice_sends);
    for (int r = 0; g_notice_sends && r < g_size; r++) g_notice_sends[r] = MPI_REQUEST_NULL;
    g_notice_raised = g_notice_got = false;
#endif
    return GM_OK;
}

void gm_dist_notice_raise(void) {
#ifdef GM_HAVE_MPI
    if (g_notice_comm == MPI_COMM_NULL || g_notice_raised || !g_notice_sends) return;
    g_notice_raised = true;
    for (int r = 0; r < g_size; r++)
        if (r != g_rank)
            MPI_Isend(&g_notice_one, 1, MPI_INT, r, 0, g_notice_comm, &g_notice_sends[r]);
#endif
}

bool gm_dist_notice_seen(void) {
#ifdef GM_HAVE_MPI
    if (g_notice_comm == MPI_COMM_NULL) return false;
    if (!g_notice_got) {
        int flag = 0;
        MPI_Test(&g_notice_recv, &flag, MPI_STATUS_IGNORE);
        g_notice_got = flag != 0;
    }
    return g_notice_got;
#else
    return false;
#endif
}

void gm_dist_notice_close(void) {
#ifdef GM_HAVE_MPI
    if (g_notice_comm == MPI_COMM_NULL) return;
    /* Every notice sent is received: the raisers other than this rank. */
    int raised = g_notice_raised ? 1 : 0, raisers = 0;
    MPI_Allreduce(&raised, &raisers, 1, MPI_INT, MPI_SUM, g_notice_comm);
    int expect = raisers - raised;
    if (expect > 0) {
        MPI_Wait(&g_notice_recv, MPI_STATUS_IGNORE);
        for (int k = 1; k < expect; k++) {
            int in = 0;
            MPI_Recv(&in, 1, MPI_INT, MPI_ANY_SOURCE, 0, g_notice_comm, MPI_STATUS_IGNORE);
        }
    } else {
        MPI_Cancel(&g_notice_recv);
        MPI_Wait(&g_notice_recv, MPI_STATUS_IGNORE);
    }
    if (g_notice_sends) MPI_Waitall(g_size, g_notice_sends, MPI_STATUSES_IGNORE);
    free(g_notice_sends);
    g_notice_sends = NULL;
    MPI_Comm_free(&g_notice_comm);
    g_notice_raised = g_notice_got = false;
#endif
}

gm_status gm_dist_agree(gm_status st) {
    if (g_size == 1) return st;
#ifdef GM_HAVE_MPI
    /* The lowest failing rank: the maximum of size - rank over failures. */
    int mine = st != GM_OK ? g_size - g_rank : 0, worst = 0;
    if (MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return gm_error_set(GM_ERR_IO, "MPI_Allreduce of the step status failed");
    if (worst == 0) return GM_OK;
    const int root = g_size - worst;
    struct {
        int status;
        char detail[1000];
    } msg = {0};
    if (g_rank == root) {
        msg.status = (int)st;
        snprintf(msg.detail, sizeof msg.detail, "%s", gm_error_detail());
    }
    if (MPI_Bcast(&msg, (int)sizeof msg, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
        return gm_error_set(GM_ERR_IO, "MPI_Bcast of the error of rank %d failed", root);
    msg.detail[sizeof msg.detail - 1] = '\0';
    gm_error_set((gm_status)msg.status, "rank %d of %d: %s", root, g_size,
                 msg.detail[0] ? msg.detail : gm_strerror((gm_status)msg.status));
    g_agreed = true;
    return (gm_status)msg.status;
#else
    return st;
#endif
}

bool gm_dist_error_agreed(void) { return g_agreed; }
void gm_dist_error_clear(void) { g_agreed = false; }
