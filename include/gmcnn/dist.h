/* gmcnn dist: the communicator of data-parallel training.
 *
 * One process is rank 0 of 1. A build with MPI (-DGM_MPI=ON or found by
 * -DGM_MPI=AUTO) joins MPI_COMM_WORLD in gm_dist_init when the process was
 * started by a launcher (mpirun / mpiexec / srun: OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_SIZE in the environment) and stays a single process
 * otherwise, so a plain `gmcnn train` is the same program with or without
 * MPI. Every MPI call of the project is in src/core/dist.c; without MPI the
 * functions below are those of a world of one (a reduction leaves its buffer
 * as it is).
 *
 * The collective functions must be called by every rank in the same order.
 */
#ifndef GMCNN_DIST_H
#define GMCNN_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Joins the launcher's world when there is one (see above); idempotent.
 * GM_ERR_UNSUPPORTED when launched by mpirun but built without MPI (every
 * rank would train alone and write the same files), GM_ERR_IO when MPI_Init
 * fails. */
GM_NODISCARD gm_status gm_dist_init(int *argc, char ***argv);
/* Leaves the world (MPI_Finalize) if gm_dist_init joined one. */
void gm_dist_finalize(void);
/* Ends every rank at once (MPI_Abort with `code`); without a world, exit(code). */
void gm_dist_abort(int code);

/* This process's rank and the number of ranks (0 and 1 outside a world). */
int gm_dist_rank(void);
int gm_dist_size(void);
/* Whether the build has MPI. */
bool gm_dist_available(void);

/* Collective sums in place over all ranks, in double and int64. */
GM_NODISCARD gm_status gm_dist_allreduce_sum_f64(double *buf, int64_t n);
GM_NODISCARD gm_status gm_dist_allreduce_sum_i64(int64_t *buf, int64_t n);

/* The time spent in gm_dist_allreduce_sum_f64 by this process: its calls in a
 * world of more than one, the doubles they summed and their wall seconds, from
 * entry to return (the wait for the slowest rank included), since the start
 * or the last gm_dist_stats_reset. Two clock readings per call. */
typedef struct gm_dist_stats {
    int64_t calls;
    int64_t values;
    double seconds;
} gm_dist_stats;
gm_dist_stats gm_dist_stats_get(void);
void gm_dist_stats_reset(void);

/* A notice that a rank has failed, for work that the ranks do apart and that
 * should stop on every rank once one fails (e.g. the simulations of a plume
 * recipe): gm_dist_notice_open (collective), then gm_dist_notice_raise when
 * this rank fails (it tells every other rank) and gm_dist_notice_seen to poll
 * whether another rank has, then gm_dist_notice_close (collective; before the
 * ranks agree on the outcome). One thread calls them. In a world of one they
 * do nothing (seen: false). */
GM_NODISCARD gm_status gm_dist_notice_open(void);
void gm_dist_notice_raise(void);
bool gm_dist_notice_seen(void);
void gm_dist_notice_close(void);

/* Collective agreement on a step's outcome: every rank passes its own
 * status, and every rank gets GM_OK when all passed GM_OK, otherwise the
 * status of the lowest failing rank, with that rank's error detail prefixed
 * by "rank R of P: " set on every rank. In a world of one, st as it is. */
GM_NODISCARD gm_status gm_dist_agree(gm_status st);
/* True when the last failure returned by gm_dist_agree is the one in
 * gm_error_detail(), i.e. every rank has it and no rank is left waiting:
 * tools then print it on rank 0 alone and need not abort. */
bool gm_dist_error_agreed(void);
/* Forgets the above (before a new command). */
void gm_dist_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_DIST_H */
