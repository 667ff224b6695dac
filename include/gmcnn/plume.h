/* gmcnn plume: a 2-D smoke-plume simulator and the three reference dataset
 * recipes of the reference protocol (after Wang, Walters & Yu 2022, who used PhiFlow 2.0).
 *
 * Grid and conventions
 *   The domain is n x n square cells of side 1 (n = 64 for the datasets, 64f
 *   for the high-resolution scale recipe). x grows with the column index, y
 *   with the row index; cell (i, j) (column i, row j) has its centre at
 *   (i + 0.5, j + 0.5). Arrays are row-major with y slow: a cell field is
 *   n*n doubles, value (i, j) at [j*n + i].
 *   MAC grid: smoke density at cell centres (zero-gradient boundary when
 *   sampled outside); u (x-velocity) on vertical faces, (n+1) columns x n
 *   rows, face (i, j) at x = i, y = j + 0.5, stored [j*(n+1) + i]; v
 *   (y-velocity) on horizontal faces, n columns x (n+1) rows, face (i, j) at
 *   x = i + 0.5, y = j, stored [j*n + i]. The boundary faces are walls: their
 *   normal velocity is 0 at all times.
 *
 * One step (the order of the reference):
 *   1. smoke <- MacCormack advection of smoke by the velocity, time step
 *      dt_smoke (forward and backward semi-Lagrangian passes with bilinear
 *      sampling, correction clamped to the extrema of the forward pass's
 *      sampling stencil, i.e. no new extrema), then + 1 inside the inflow
 *      disc (cell centres at distance < radius from the inflow centre).
 *   2. velocity <- semi-Lagrangian self-advection of (u, v), time step
 *      dt_velocity, bilinear; then + buoyancy: each face gets the smoke
 *      interpolated to the face times the buoyancy component of that face's
 *      axis (the force is not multiplied by a time step, as in the
 *      reference). Buoyancy is piecewise constant in x: buoyancy[0] where
 *      x < split_x, buoyancy[1] elsewhere (split_x >= n: uniform).
 *   3. pressure projection: solve the 5-point Poisson problem with Neumann
 *      walls (conjugate gradients preconditioned by a multigrid V-cycle,
 *      started from the previous step's pressure; the null space of
 *      constants is removed) until ||r||_2 <= tol * ||b||_2 for the true
 *      residual r = b - A p, subtract the pressure gradient; the discrete
 *      divergence (u[i+1,j] - u[i,j]) + (v[i,j+1] - v[i,j]) then vanishes to
 *      the solver tolerance.
 *   The saved frame after a step is the velocity at cell centres (the mean
 *   of the two faces of each cell per axis), channel 0 = x, channel 1 = y.
 *
 * Everything is double precision and deterministic: the same setup gives the
 * same bytes run after run and for any number of threads.
 */
#ifndef GMCNN_PLUME_H
#define GMCNN_PLUME_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gm_plume_setup {
    int64_t n;              /* cells per side (4..16384) */
    double inflow_x, inflow_y; /* disc centre in domain units, inside [0, n]^2 */
    double inflow_radius;   /* > 0 */
    double buoyancy[2][2];  /* [region][axis]; region 0: x < split_x, 1: x >= split_x */
    double split_x;         /* >= n: buoyancy[0] everywhere */
    double dt_smoke;        /* MacCormack time step (1 in every recipe); >= 0 */
    double dt_velocity;     /* self-advection time step (0.5 or 1); >= 0 */
    double tol;             /* relative residual of the pressure solve (1e-5); in (0, 1) */
    int64_t max_iterations; /* of the pressure solve; 0 = 10 * n * n; >= 0 */
} gm_plume_setup;

typedef struct gm_plume_sim gm_plume_sim;

/* GM_ERR_INVALID_ARG naming the field for a bad setup; GM_ERR_NOMEM. The
 * state starts at rest with no smoke. */
GM_NODISCARD gm_status gm_plume_sim_new(const gm_plume_setup *setup, gm_plume_sim **out);
void gm_plume_sim_free(gm_plume_sim *s);
/* One step as above. GM_ERR_NUMERIC when the pressure solve does not reach
 * the tolerance within max_iterations or a value becomes non-finite (detail
 * names the step). */
GM_NODISCARD gm_status gm_plume_sim_step(gm_plume_sim *s);
/* Read-only views of the state (layouts above); valid until the next step. */
int64_t gm_plume_sim_n(const gm_plume_sim *s);
const double *gm_plume_sim_smoke(const gm_plume_sim *s);
const double *gm_plume_sim_u(const gm_plume_sim *s);
const double *gm_plume_sim_v(const gm_plume_sim *s);
/* Mutable views, for tests that start from a given state. */
double *gm_plume_sim_u_mut(gm_plume_sim *s);
double *gm_plume_sim_v_mut(gm_plume_sim *s);
double *gm_plume_sim_smoke_mut(gm_plume_sim *s);
/* Projects the current velocity (step 3 alone). */
GM_NODISCARD gm_status gm_plume_sim_project(gm_plume_sim *s);
/* max over cells of |discrete divergence|. */
double gm_plume_sim_max_divergence(const gm_plume_sim *s);
/* Iterations and final relative residual ||b - A p|| / ||b|| of the last
 * pressure solve (both 0 when the divergence was exactly 0). */
int64_t gm_plume_sim_last_iterations(const gm_plume_sim *s);
double gm_plume_sim_last_residual(const gm_plume_sim *s);
/* Total smoke (sum over cells; cell area 1) and the amount the inflow has
 * added so far. */
double gm_plume_sim_smoke_total(const gm_plume_sim *s);
double gm_plume_sim_smoke_added(const gm_plume_sim *s);
/* Cell-centred velocity, 2 x n x n floats (x then y). */
void gm_plume_sim_velocity_centered(const gm_plume_sim *s, float *out);

/* --- the dataset recipes of the reference protocol ---------------------------------------- */
typedef enum gm_plume_recipe {
    GM_PLUME_TRANSLATION = 0, /* 35 sims, 10 held out */
    GM_PLUME_ROTATION = 1,    /* 36 sims, 10 held out, first frame dropped */
    GM_PLUME_SCALE = 2        /* 38 sims, 10 held out, first frame dropped */
} gm_plume_recipe;

#define GM_PLUME_SIDE 64
#define GM_PLUME_DEFAULT_STEPS 310

/* "translation", "rotation", "scale"; parse accepts these and "plume-<name>"
 * (GM_ERR_INVALID_ARG naming the unknown recipe). */
const char *gm_plume_recipe_name(gm_plume_recipe r);
GM_NODISCARD gm_status gm_plume_recipe_parse(const char *name, gm_plume_recipe *out);
int64_t gm_plume_recipe_count(gm_plume_recipe r);

typedef struct gm_plume_task {
    gm_plume_setup setup; /* at the simulation resolution */
    double scale;         /* f: simulate at n = round(64f), downsample to 64x64 (bilinear,
                           * cell-centre aligned: output centre I + 0.5 samples
                           * the simulation at (I + 0.5) n / 64, clamped) and
                           * divide velocity by f; 1 for the other recipes */
    bool drop_first;      /* the first frame is not saved */
    bool held_out;        /* a domain-test task of the reference protocol */
    char label[48];       /* "x=8,y=5", "k=6,j=1", "i=5,f=1.5" */
} gm_plume_task;

/* Task i (0-based) of a recipe; GM_ERR_INVALID_ARG outside 0..count-1.
 *   translation: i = 5 a + b (a = 0..6, b = 0..4) is inflow (8 + 8a, 5 + 5b),
 *     i.e. x outer, y inner; split_x 32.
 *   rotation: i = k - 1; buoyancy k/100 (11k/1000 for j = 2) in both regions,
 *     split_x = n (uniform).
 *   scale: f = i * 0.1 + 1 (numpy.linspace(1, 5, 41)[i]), n = round(64 f) to
 *     nearest (64 f is never a tie), inflow (32f, 5f), radius 5f, buoyancy
 *     (0, 0.1 f), split_x = n. */
GM_NODISCARD gm_status gm_plume_recipe_task(gm_plume_recipe r, int64_t i, gm_plume_task *out);

/* Runs task i for `steps` steps and returns its frames (steps, or steps - 1
 * with drop_first) as (frames, 2, 64, 64) float32 in *frames (gm_malloc'd,
 * caller gm_frees); *nframes receives the count. GM_ERR_INVALID_ARG for steps
 * outside 1..1000000 (2.. with drop_first) or a bad setup or scale; the
 * errors of gm_plume_sim_step. */
GM_NODISCARD gm_status gm_plume_run_task(const gm_plume_task *task, int64_t steps, float **frames,
                                         int64_t *nframes);

/* Progress callback: called after each successfully finished simulation
 * (from the calling thread, in completion order; done counts them out of
 * total, the simulations of this process). */
typedef void (*gm_plume_progress_fn)(int64_t done, int64_t total, const gm_plume_task *task,
                                     double seconds, void *user);

/* Generates a whole recipe into dir (created if missing): sim_000.npy ...
 * (one (frames, 2, 64, 64) float32 .npy per task, written atomically) and
 * manifest.json, written last and atomically:
 *   {"format": "gmcnn-plume", "version": 1, "recipe": "translation",
 *    "steps": 310, "frames": 310, "height": 64, "width": 64,
 *    "sims": [{"file": "sim_000.npy", "label": "x=8,y=5", "held_out": false,
 *              "inflow": [8, 5], "radius": 5, "buoyancy": [[0, 0.1], [0, 0.2]],
 *              "split_x": 32, "dt_velocity": 0.5, "scale": 1, "resolution": 64,
 *              "seconds": 12.3},
 *             ...]}
 * ("seconds" is the wall time of that simulation and its write.)
 * Simulations run in parallel on up to `threads` POSIX threads (0 = all
 * cores), largest grids first; the .npy bytes do not depend on the thread
 * count. steps as for gm_plume_run_task; on failure the error of the lowest
 * failing task index is returned, the remaining tasks are not started and no
 * manifest is written. GM_ERR_IO when dir cannot be created or written.
 *
 * Under an MPI launcher (gmcnn/dist.h; collective: every rank calls it with the
 * same arguments) the simulations, largest first, are dealt out round-robin
 * over the ranks, each rank writing its own .npy files on its `threads` threads
 * (progress then counts the rank's own simulations); rank 0 writes the manifest,
 * with every simulation's seconds, once all ranks are done. The .npy bytes do not
 * depend on the number of ranks either. A failure on any rank is every rank's
 * result (gm_dist_agree: "rank R of P: ...") and no manifest is written; the
 * failing rank tells the others at once (gm_dist_notice_raise), and they start
 * no further simulation (those running finish first). */
GM_NODISCARD gm_status gm_plume_generate(gm_plume_recipe r, const char *dir, int64_t steps,
                                         int threads, gm_plume_progress_fn progress, void *user);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_PLUME_H */
