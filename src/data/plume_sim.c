/* The smoke-plume simulator of gmcnn/plume.h.
 *
 * Pressure solve: conjugate gradients on the Neumann Poisson matrix A
 * ((A p)_c = sum over wall-free neighbours of p_c - p_nb), preconditioned by
 * one multigrid V-cycle. The V-cycle is chosen so that the preconditioner is
 * symmetric (damped Jacobi, the same sweeps before and after the coarse
 * correction; restriction = transpose of prolongation) and commutes with the
 * mirror x -> n - x and the quarter turn of the square grid in exact
 * arithmetic, so the solution has the symmetries of the data to rounding:
 *   - coarsening merges cells pairwise per axis; an odd side keeps one cell
 *     (or merges three) in the middle, so the merging is mirror-symmetric;
 *   - prolongation copies a coarse value to its cells, restriction sums;
 *   - coarse operators are rediscretised on the coarse (possibly uneven)
 *     cells: the coupling across a face is its length over the distance
 *     between the two cell centres, which keeps constants in the null space;
 *   - the coarsest level (at most MG_COARSEST cells per side) is solved
 *     exactly by a dense Cholesky factor of A + c 1 1^T, which on zero-mean
 *     right-hand sides gives the zero-mean solution of A x = b.
 * Every right-hand side and preconditioned residual is projected to zero
 * mean, so CG runs in the complement of the null space of constants.
 * All reductions run in a fixed order: results are bitwise reproducible. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/plume.h"

#define MG_COARSEST 8 /* a level with at most this many cells per side is solved directly */
#define MG_SWEEPS 2   /* damped Jacobi sweeps before and after the coarse correction */
#define MG_OMEGA 0.8  /* Jacobi damping (the smoothing optimum of the 5-point stencil) */
#define MAX_SIDE 16384

typedef struct mg_level {
    int64_t n, s;       /* cells per side; padded stride n + 2 */
    double *ww, *ws;    /* coupling with the west / south neighbour (padded; 0 at walls) */
    double *diag;       /* sum of the four couplings (padded) */
    double *x, *x2, *b; /* padded vectors (ghosts stay 0); x2 is Jacobi's other buffer */
    double *r;          /* padded A x, for the residual passed down */
    int32_t *agg;       /* n: the coarse cell (per axis) each cell is merged into */
    double *width;      /* n: width of each cell, in finest cells */
} mg_level;

struct gm_plume_sim {
    gm_plume_setup setup;
    int64_t n, steps;
    double *u, *v, *smoke;            /* public layouts (plume.h) */
    double *u2, *v2, *smoke2, *shat;  /* next-state buffers and the forward MacCormack pass */
    double *lo, *hi;                  /* MacCormack clamping bounds */
    int64_t *inflow;                  /* cell indices inside the inflow disc */
    int64_t ninflow;
    double added;
    /* pressure solve; padded (n + 2)^2 vectors */
    double *pres, *pb, *pr, *pz, *pp, *pap;
    mg_level *lv;
    int nlevels;
    double *chol; /* dense Cholesky factor of the coarsest level (N x N, lower) */
    double *cvec; /* N */
    int64_t last_iterations;
    double last_residual;
    int64_t max_iterations;
};

/* ---- setup validation ----------------------------------------------------- */

static gm_status check_setup(const gm_plume_setup *p) {
    GM_RETURN_ERROR_IF(!p, GM_ERR_INVALID_ARG, "plume setup: NULL argument");
    GM_RETURN_ERROR_IF(p->n < 4 || p->n > MAX_SIDE, GM_ERR_INVALID_ARG,
                       "plume setup: n = %lld outside 4..%d", (long long)p->n, MAX_SIDE);
    const double nd = (double)p->n;
    GM_RETURN_ERROR_IF(!(p->inflow_x >= 0 && p->inflow_x <= nd && p->inflow_y >= 0 &&
                         p->inflow_y <= nd),
                       GM_ERR_INVALID_ARG,
                       "plume setup: inflow centre (%g, %g) outside the domain [0, %lld]^2",
                       p->inflow_x, p->inflow_y, (long long)p->n);
    GM_RETURN_ERROR_IF(!(p->inflow_radius > 0 && isfinite(p->inflow_radius)), GM_ERR_INVALID_ARG,
                       "plume setup: inflow_radius %g is not a positive number", p->inflow_radius);
    for (int r = 0; r < 2; r++)
        for (int a = 0; a < 2; a++)
            GM_RETURN_ERROR_IF(!isfinite(p->buoyancy[r][a]), GM_ERR_INVALID_ARG,
                               "plume setup: buoyancy[%d][%d] is not finite", r, a);
    GM_RETURN_ERROR_IF(isnan(p->split_x), GM_ERR_INVALID_ARG, "plume setup: split_x is NaN");
    GM_RETURN_ERROR_IF(!(p->dt_smoke >= 0 && isfinite(p->dt_smoke)), GM_ERR_INVALID_ARG,
                       "plume setup: dt_smoke %g is not a non-negative number", p->dt_smoke);
    GM_RETURN_ERROR_IF(!(p->dt_velocity >= 0 && isfinite(p->dt_velocity)), GM_ERR_INVALID_ARG,
                       "plume setup: dt_velocity %g is not a non-negative number",
                       p->dt_velocity);
    GM_RETURN_ERROR_IF(!(p->tol > 0 && p->tol < 1), GM_ERR_INVALID_ARG,
                       "plume setup: tol %g outside (0, 1)", p->tol);
    GM_RETURN_ERROR_IF(p->max_iterations < 0, GM_ERR_INVALID_ARG,
                       "plume setup: max_iterations %lld is negative",
                       (long long)p->max_iterations);
    return GM_OK;
}

/* ---- multigrid hierarchy -------------------------------------------------- */

/* Merges m cells pairwise, mirror-symmetrically: for odd m the middle cell
 * stays alone when (m - 1) / 2 is even and is merged with both neighbours
 * otherwise. Returns the coarse count. */
static int64_t mg_merge(int64_t m, int32_t *agg) {
    if (m % 2 == 0) {
        for (int64_t i = 0; i < m; i++) agg[i] = (int32_t)(i / 2);
        return m / 2;
    }
    const int64_t h = (m - 1) / 2;
    const int64_t left = (h % 2 == 0) ? h : h - 1; /* cells merged in pairs on each side */
    const int64_t mid = left / 2;                  /* index of the middle coarse cell */
    for (int64_t i = 0; i < m; i++) {
        if (i < left) agg[i] = (int32_t)(i / 2);
        else if (i >= m - left) agg[i] = (int32_t)(mid + 1 + (i - (m - left)) / 2);
        else agg[i] = (int32_t)mid;
    }
    return mid + 1 + left / 2;
}

static int64_t mg_coarse_size(int64_t m) {
    if (m % 2 == 0) return m / 2;
    const int64_t h = (m - 1) / 2;
    const int64_t left = (h % 2 == 0) ? h : h - 1;
    return left + 1;
}

static gm_status mg_alloc_level(mg_level *L, int64_t n) {
    const size_t padded = (size_t)((n + 2) * (n + 2));
    L->n = n;
    L->s = n + 2;
    L->ww = gm_calloc(padded, sizeof(double));
    L->ws = gm_calloc(padded, sizeof(double));
    L->diag = gm_calloc(padded, sizeof(double));
    L->x = gm_calloc(padded, sizeof(double));
    L->x2 = gm_calloc(padded, sizeof(double));
    L->b = gm_calloc(padded, sizeof(double));
    L->r = gm_calloc(padded, sizeof(double));
    L->agg = gm_calloc((size_t)n, sizeof(int32_t));
    L->width = gm_calloc((size_t)n, sizeof(double));
    if (!L->ww || !L->ws || !L->diag || !L->x || !L->x2 || !L->b || !L->r || !L->agg ||
        !L->width)
        return gm__nomem("plume multigrid level");
    return GM_OK;
}

static void mg_free_level(mg_level *L) {
    gm_free(L->ww);
    gm_free(L->ws);
    gm_free(L->diag);
    gm_free(L->x);
    gm_free(L->x2);
    gm_free(L->b);
    gm_free(L->r);
    gm_free(L->agg);
    gm_free(L->width);
}

/* Couplings from the cell widths: a face's length over the distance between
 * the centres it separates (1 on the finest level). */
static void mg_couplings(mg_level *L) {
    const int64_t n = L->n, s = L->s;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = (j + 1) * s + i + 1;
            L->ww[c] = i > 0 ? L->width[j] / (0.5 * (L->width[i - 1] + L->width[i])) : 0.0;
            L->ws[c] = j > 0 ? L->width[i] / (0.5 * (L->width[j - 1] + L->width[j])) : 0.0;
        }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = (j + 1) * s + i + 1;
            L->diag[c] = L->ww[c] + L->ww[c + 1] + L->ws[c] + L->ws[c + s];
        }
}

/* Dense Cholesky of A + c 1 1^T on the coarsest level (c = mean diagonal / N,
 * which moves the zero eigenvalue of the constants to about the diagonal). */
static gm_status mg_factor_coarsest(gm_plume_sim *sim) {
    const mg_level *L = &sim->lv[sim->nlevels - 1];
    const int64_t n = L->n, s = L->s, N = n * n;
    double *a = gm_calloc((size_t)(N * N), sizeof(double));
    sim->cvec = gm_calloc((size_t)N, sizeof(double));
    if (!a || !sim->cvec) {
        gm_free(a);
        return gm__nomem("plume coarse solver");
    }
    double dsum = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = (j + 1) * s + i + 1, k = j * n + i;
            a[k * N + k] = L->diag[c];
            dsum += L->diag[c];
            if (i > 0) a[k * N + k - 1] = a[(k - 1) * N + k] = -L->ww[c];
            if (j > 0) a[k * N + k - n] = a[(k - n) * N + k] = -L->ws[c];
        }
    const double shift = dsum / (double)N / (double)N;
    for (int64_t k = 0; k < N * N; k++) a[k] += shift;
    for (int64_t k = 0; k < N; k++) {
        double d = a[k * N + k];
        for (int64_t m = 0; m < k; m++) d -= a[k * N + m] * a[k * N + m];
        GM_ASSERT(d > 0);
        d = sqrt(d);
        a[k * N + k] = d;
        for (int64_t r = k + 1; r < N; r++) {
            double e = a[r * N + k];
            for (int64_t m = 0; m < k; m++) e -= a[r * N + m] * a[k * N + m];
            a[r * N + k] = e / d;
        }
    }
    sim->chol = a;
    return GM_OK;
}

static gm_status mg_build(gm_plume_sim *sim) {
    int nl = 1;
    for (int64_t m = sim->n; m > MG_COARSEST; m = mg_coarse_size(m)) nl++;
    sim->lv = gm_calloc((size_t)nl, sizeof(mg_level));
    if (!sim->lv) return gm__nomem("plume multigrid levels");
    sim->nlevels = nl;
    int64_t m = sim->n;
    for (int l = 0; l < nl; l++) {
        mg_level *L = &sim->lv[l];
        GM_FORWARD_IF_ERROR(mg_alloc_level(L, m));
        if (l == 0) {
            for (int64_t i = 0; i < m; i++) L->width[i] = 1.0;
        } else {
            const mg_level *F = &sim->lv[l - 1];
            for (int64_t i = 0; i < F->n; i++) L->width[F->agg[i]] += F->width[i];
        }
        mg_couplings(L);
        if (l + 1 < nl) {
            m = mg_merge(m, L->agg);
            GM_ASSERT(m == mg_coarse_size(L->n));
        }
    }
    return mg_factor_coarsest(sim);
}

/* y = A x on level L (interior; the ghosts of x are 0). */
static void mg_apply(const mg_level *L, const double *x, double *y) {
    const int64_t n = L->n, s = L->s;
    for (int64_t j = 1; j <= n; j++) {
        const int64_t row = j * s;
        for (int64_t c = row + 1; c <= row + n; c++)
            y[c] = L->diag[c] * x[c] - L->ww[c] * x[c - 1] - L->ww[c + 1] * x[c + 1] -
                   L->ws[c] * x[c - s] - L->ws[c + s] * x[c + s];
    }
}

/* One damped Jacobi sweep x <- x + omega D^-1 (b - A x). */
static void mg_jacobi(mg_level *L) {
    const int64_t n = L->n, s = L->s;
    const double *x = L->x;
    double *y = L->x2;
    for (int64_t j = 1; j <= n; j++) {
        const int64_t row = j * s;
        for (int64_t c = row + 1; c <= row + n; c++) {
            const double ax = L->diag[c] * x[c] - L->ww[c] * x[c - 1] -
                              L->ww[c + 1] * x[c + 1] - L->ws[c] * x[c - s] -
                              L->ws[c + s] * x[c + s];
            y[c] = x[c] + MG_OMEGA * (L->b[c] - ax) / L->diag[c];
        }
    }
    L->x2 = L->x;
    L->x = y;
}

static void mg_solve_coarsest(gm_plume_sim *sim, mg_level *L) {
    const int64_t n = L->n, s = L->s, N = n * n;
    const double *a = sim->chol;
    double *y = sim->cvec;
    for (int64_t k = 0; k < N; k++) {
        double e = L->b[(k / n + 1) * s + k % n + 1];
        for (int64_t m = 0; m < k; m++) e -= a[k * N + m] * y[m];
        y[k] = e / a[k * N + k];
    }
    for (int64_t k = N - 1; k >= 0; k--) {
        double e = y[k];
        for (int64_t m = k + 1; m < N; m++) e -= a[m * N + k] * y[m];
        y[k] = e / a[k * N + k];
    }
    for (int64_t k = 0; k < N; k++) L->x[(k / n + 1) * s + k % n + 1] = y[k];
}

/* x = V-cycle applied to b on level l. */
static void mg_vcycle(gm_plume_sim *sim, int l) {
    mg_level *L = &sim->lv[l];
    if (l == sim->nlevels - 1) {
        mg_solve_coarsest(sim, L);
        return;
    }
    const int64_t n = L->n, s = L->s;
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) L->x[c] = MG_OMEGA * L->b[c] / L->diag[c];
    for (int k = 1; k < MG_SWEEPS; k++) mg_jacobi(L);
    mg_apply(L, L->x, L->r);
    mg_level *C = &sim->lv[l + 1];
    const int64_t cs = C->s;
    for (int64_t j = 1; j <= C->n; j++)
        for (int64_t c = j * cs + 1; c <= j * cs + C->n; c++) C->b[c] = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const int64_t crow = ((int64_t)L->agg[j] + 1) * cs + 1;
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = (j + 1) * s + i + 1;
            C->b[crow + L->agg[i]] += L->b[c] - L->r[c];
        }
    }
    mg_vcycle(sim, l + 1);
    for (int64_t j = 0; j < n; j++) {
        const int64_t crow = ((int64_t)L->agg[j] + 1) * cs + 1;
        for (int64_t i = 0; i < n; i++) L->x[(j + 1) * s + i + 1] += C->x[crow + L->agg[i]];
    }
    for (int k = 0; k < MG_SWEEPS; k++) mg_jacobi(L);
}

/* ---- pressure solve ------------------------------------------------------- */

static double dot(int64_t n, const double *a, const double *b) {
    const int64_t s = n + 2;
    double sum = 0;
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) sum += a[c] * b[c];
    return sum;
}

static void remove_mean(int64_t n, double *a) {
    const int64_t s = n + 2;
    double sum = 0;
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) sum += a[c];
    const double mean = sum / (double)(n * n);
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) a[c] -= mean;
}

/* z = M^-1 r, projected to zero mean. */
static void precondition(gm_plume_sim *sim, double *r, double *z) {
    mg_level *L = &sim->lv[0];
    const int64_t n = sim->n, s = n + 2;
    double *keep = L->b;
    L->b = r; /* read only by the V-cycle */
    mg_vcycle(sim, 0);
    L->b = keep;
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) z[c] = L->x[c];
    remove_mean(n, z);
}

/* Runs PCG on A x = b from the current x (sim->pres) and r until
 * ||r|| <= target or the iteration budget is spent. */
static double pcg_run(gm_plume_sim *sim, double rnorm, double bnorm, double target, int64_t *it,
                      gm_status *st, const char *where) {
    const int64_t n = sim->n, s = n + 2;
    double *x = sim->pres, *r = sim->pr, *z = sim->pz, *p = sim->pp, *ap = sim->pap;
    const mg_level *L = &sim->lv[0];
    precondition(sim, r, z);
    double rz = dot(n, r, z);
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) p[c] = z[c];
    while (*it < sim->max_iterations) {
        mg_apply(L, p, ap);
        const double pap = dot(n, p, ap);
        if (!(pap > 0) || !isfinite(pap) || !(rz > 0)) {
            *st = gm_error_set(GM_ERR_NUMERIC,
                               "%s: pressure solve broke down after %lld iterations "
                               "(relative residual %.3g)",
                               where, (long long)*it, rnorm / bnorm);
            return rnorm;
        }
        const double alpha = rz / pap;
        double rr = 0;
        for (int64_t j = 1; j <= n; j++)
            for (int64_t c = j * s + 1; c <= j * s + n; c++) {
                x[c] += alpha * p[c];
                r[c] -= alpha * ap[c];
                rr += r[c] * r[c];
            }
        ++*it;
        rnorm = sqrt(rr);
        if (!isfinite(rnorm) || rnorm <= target) return rnorm;
        precondition(sim, r, z);
        const double rz_new = dot(n, r, z);
        const double beta = rz_new / rz;
        rz = rz_new;
        for (int64_t j = 1; j <= n; j++)
            for (int64_t c = j * s + 1; c <= j * s + n; c++) p[c] = z[c] + beta * p[c];
    }
    return rnorm;
}

/* r = b - A x; returns ||r||. */
static double true_residual(gm_plume_sim *sim) {
    const int64_t n = sim->n, s = n + 2;
    mg_apply(&sim->lv[0], sim->pres, sim->pap);
    double rr = 0;
    for (int64_t j = 1; j <= n; j++)
        for (int64_t c = j * s + 1; c <= j * s + n; c++) {
            sim->pr[c] = sim->pb[c] - sim->pap[c];
            rr += sim->pr[c] * sim->pr[c];
        }
    return sqrt(rr);
}

/* Makes the velocity discretely divergence-free: solves A p = -div (zero
 * mean) from the previous pressure and subtracts grad p from the interior
 * faces. `where` names the step in error details. */
static gm_status project(gm_plume_sim *sim, const char *where) {
    const int64_t n = sim->n, s = n + 2, nu = n + 1;
    double *b = sim->pb, *x = sim->pres;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++)
            b[(j + 1) * s + i + 1] = -((sim->u[j * nu + i + 1] - sim->u[j * nu + i]) +
                                      (sim->v[(j + 1) * n + i] - sim->v[j * n + i]));
    remove_mean(n, b);
    const double bnorm = sqrt(dot(n, b, b));
    sim->last_iterations = 0;
    sim->last_residual = 0;
    GM_RETURN_ERROR_IF(!isfinite(bnorm), GM_ERR_NUMERIC,
                       "%s: the velocity divergence is not finite", where);
    if (bnorm == 0) {
        memset(x, 0, (size_t)(s * s) * sizeof(double));
        return GM_OK;
    }
    const double target = sim->setup.tol * bnorm;
    double rnorm = true_residual(sim);
    if (!(rnorm <= bnorm)) { /* the previous pressure is a worse start than zero */
        memset(x, 0, (size_t)(s * s) * sizeof(double));
        rnorm = true_residual(sim);
    }
    int64_t it = 0;
    gm_status st = GM_OK;
    for (;;) {
        if (rnorm <= target) {
            /* The recursively updated residual can drift from b - A x: accept
             * only the true one, else go on from it. */
            rnorm = true_residual(sim);
            if (rnorm <= target) break;
        }
        GM_RETURN_ERROR_IF(it >= sim->max_iterations, GM_ERR_NUMERIC,
                           "%s: pressure solve did not reach relative residual %g in %lld "
                           "iterations (%.3g)",
                           where, sim->setup.tol, (long long)it, rnorm / bnorm);
        rnorm = pcg_run(sim, rnorm, bnorm, target, &it, &st, where);
        if (st != GM_OK) return st;
        GM_RETURN_ERROR_IF(!isfinite(rnorm), GM_ERR_NUMERIC,
                           "%s: pressure solve produced a non-finite residual", where);
    }
    sim->last_iterations = it;
    sim->last_residual = rnorm / bnorm;
    remove_mean(n, x);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 1; i < n; i++) {
            const int64_t c = (j + 1) * s + i + 1;
            sim->u[j * nu + i] -= x[c] - x[c - 1];
        }
    for (int64_t j = 1; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = (j + 1) * s + i + 1;
            sim->v[j * n + i] -= x[c] - x[c - s];
        }
    return GM_OK;
}

/* ---- advection ------------------------------------------------------------ */

/* Bilinear sample of a cell field at index coordinates (fx, fy), clamped to
 * the cell centres (zero-gradient boundary); also the extrema of the four
 * values used. */
static inline double sample_clamped(const double *f, int64_t n, double fx, double fy, double *lo,
                                    double *hi) {
    const double top = (double)(n - 1);
    if (!(fx >= 0)) fx = 0;
    if (fx > top) fx = top;
    if (!(fy >= 0)) fy = 0;
    if (fy > top) fy = top;
    int64_t i0 = (int64_t)fx, j0 = (int64_t)fy;
    if (i0 > n - 2) i0 = n - 2;
    if (j0 > n - 2) j0 = n - 2;
    const double tx = fx - (double)i0, ty = fy - (double)j0;
    const double *q = f + j0 * n + i0;
    const double a = q[0], b = q[1], c = q[n], d = q[n + 1];
    if (lo) {
        *lo = fmin(fmin(a, b), fmin(c, d));
        *hi = fmax(fmax(a, b), fmax(c, d));
    }
    return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d);
}

/* Bilinear sample of a face field with nx columns and ny rows at index
 * coordinates (fx, fy); 0 beyond the stored faces (zero boundary). */
static inline double sample_zero(const double *f, int64_t nx, int64_t ny, double fx, double fy) {
    if (!(fx > -1.0 && fx < (double)nx && fy > -1.0 && fy < (double)ny)) return 0.0;
    const double flx = floor(fx), fly = floor(fy);
    const int64_t i0 = (int64_t)flx, j0 = (int64_t)fly;
    const double tx = fx - flx, ty = fy - fly;
    const bool in_i0 = i0 >= 0, in_i1 = i0 + 1 < nx, in_j0 = j0 >= 0, in_j1 = j0 + 1 < ny;
    const double a = (in_i0 && in_j0) ? f[j0 * nx + i0] : 0.0;
    const double b = (in_i1 && in_j0) ? f[j0 * nx + i0 + 1] : 0.0;
    const double c = (in_i0 && in_j1) ? f[(j0 + 1) * nx + i0] : 0.0;
    const double d = (in_i1 && in_j1) ? f[(j0 + 1) * nx + i0 + 1] : 0.0;
    return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d);
}

static void advect_smoke(gm_plume_sim *sim) {
    const int64_t n = sim->n, nu = n + 1;
    const double dt = sim->setup.dt_smoke;
    const double *u = sim->u, *v = sim->v, *phi = sim->smoke;
    double *hat = sim->shat, *out = sim->smoke2;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const double uc = 0.5 * (u[j * nu + i] + u[j * nu + i + 1]);
            const double vc = 0.5 * (v[j * n + i] + v[(j + 1) * n + i]);
            const int64_t c = j * n + i;
            hat[c] = sample_clamped(phi, n, (double)i - dt * uc, (double)j - dt * vc,
                                    &sim->lo[c], &sim->hi[c]);
        }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const double uc = 0.5 * (u[j * nu + i] + u[j * nu + i + 1]);
            const double vc = 0.5 * (v[j * n + i] + v[(j + 1) * n + i]);
            const int64_t c = j * n + i;
            const double bar = sample_clamped(hat, n, (double)i + dt * uc, (double)j + dt * vc,
                                              NULL, NULL);
            double x = hat[c] + 0.5 * (phi[c] - bar);
            if (x < sim->lo[c]) x = sim->lo[c];
            if (x > sim->hi[c]) x = sim->hi[c];
            out[c] = x;
        }
    for (int64_t k = 0; k < sim->ninflow; k++) out[sim->inflow[k]] += 1.0;
    sim->added += (double)sim->ninflow;
    sim->smoke2 = sim->smoke;
    sim->smoke = out;
}

static void advect_velocity(gm_plume_sim *sim) {
    const int64_t n = sim->n, nu = n + 1;
    const double dt = sim->setup.dt_velocity;
    const double *u = sim->u, *v = sim->v;
    double *un = sim->u2, *vn = sim->v2;
    /* u face (i, j) sits at (i, j + 0.5): u's index coordinates are (x, y - 0.5). */
    for (int64_t j = 0; j < n; j++) {
        un[j * nu] = un[j * nu + n] = 0.0;
        for (int64_t i = 1; i < n; i++) {
            const double uu = u[j * nu + i];
            const double vv = 0.25 * (v[j * n + i - 1] + v[j * n + i] + v[(j + 1) * n + i - 1] +
                                      v[(j + 1) * n + i]);
            un[j * nu + i] = sample_zero(u, nu, n, (double)i - dt * uu, (double)j - dt * vv);
        }
    }
    /* v face (i, j) sits at (i + 0.5, j): v's index coordinates are (x - 0.5, y). */
    for (int64_t i = 0; i < n; i++) vn[i] = vn[n * n + i] = 0.0;
    for (int64_t j = 1; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const double vv = v[j * n + i];
            const double uu = 0.25 * (u[(j - 1) * nu + i] + u[(j - 1) * nu + i + 1] +
                                      u[j * nu + i] + u[j * nu + i + 1]);
            vn[j * n + i] = sample_zero(v, n, nu, (double)i - dt * uu, (double)j - dt * vv);
        }
    sim->u2 = sim->u;
    sim->u = un;
    sim->v2 = sim->v;
    sim->v = vn;
}

/* Smoke interpolated to each interior face times the buoyancy of the face's
 * region and axis. */
static void add_buoyancy(gm_plume_sim *sim) {
    const int64_t n = sim->n, nu = n + 1;
    const double *sm = sim->smoke;
    const double sx = sim->setup.split_x;
    const gm_plume_setup *p = &sim->setup;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 1; i < n; i++) {
            const double f = p->buoyancy[(double)i < sx ? 0 : 1][0];
            sim->u[j * nu + i] += 0.5 * (sm[j * n + i - 1] + sm[j * n + i]) * f;
        }
    for (int64_t j = 1; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const double f = p->buoyancy[(double)i + 0.5 < sx ? 0 : 1][1];
            sim->v[j * n + i] += 0.5 * (sm[(j - 1) * n + i] + sm[j * n + i]) * f;
        }
}

static bool all_finite(int64_t count, const double *a) {
    double acc = 0;
    for (int64_t k = 0; k < count; k++) acc += a[k] * 0.0;
    return acc == 0.0; /* NaN or an infinity makes the sum NaN */
}

static bool state_finite(const gm_plume_sim *sim) {
    const int64_t n = sim->n;
    return all_finite(n * (n + 1), sim->u) && all_finite(n * (n + 1), sim->v) &&
           all_finite(n * n, sim->smoke);
}

/* ---- public API ----------------------------------------------------------- */

gm_status gm_plume_sim_new(const gm_plume_setup *setup, gm_plume_sim **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_plume_sim_new: NULL argument");
    *out = NULL;
    GM_FORWARD_IF_ERROR(check_setup(setup));
    gm_plume_sim *sim = gm_calloc(1, sizeof *sim);
    if (!sim) return gm__nomem("plume simulation");
    sim->setup = *setup;
    const int64_t n = setup->n;
    sim->n = n;
    sim->max_iterations = setup->max_iterations > 0 ? setup->max_iterations : 10 * n * n;
    const size_t cells = (size_t)(n * n), faces = (size_t)(n * (n + 1));
    const size_t padded = (size_t)((n + 2) * (n + 2));
    double **face_arrays[] = {&sim->u, &sim->v, &sim->u2, &sim->v2};
    double **cell_arrays[] = {&sim->smoke, &sim->smoke2, &sim->shat, &sim->lo, &sim->hi};
    double **pad_arrays[] = {&sim->pres, &sim->pb, &sim->pr, &sim->pz, &sim->pp, &sim->pap};
    bool ok = true;
    for (size_t k = 0; k < sizeof face_arrays / sizeof *face_arrays; k++)
        ok = (*face_arrays[k] = gm_calloc(faces, sizeof(double))) != NULL && ok;
    for (size_t k = 0; k < sizeof cell_arrays / sizeof *cell_arrays; k++)
        ok = (*cell_arrays[k] = gm_calloc(cells, sizeof(double))) != NULL && ok;
    for (size_t k = 0; k < sizeof pad_arrays / sizeof *pad_arrays; k++)
        ok = (*pad_arrays[k] = gm_calloc(padded, sizeof(double))) != NULL && ok;
    sim->inflow = gm_malloc_array(cells, sizeof(int64_t));
    gm_status st = ok && sim->inflow ? GM_OK : gm__nomem("plume simulation state");
    if (st == GM_OK) {
        const double r2 = setup->inflow_radius * setup->inflow_radius;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < n; i++) {
                const double dx = (double)i + 0.5 - setup->inflow_x;
                const double dy = (double)j + 0.5 - setup->inflow_y;
                if (dx * dx + dy * dy < r2) sim->inflow[sim->ninflow++] = j * n + i;
            }
        st = mg_build(sim);
    }
    if (st != GM_OK) {
        gm_plume_sim_free(sim);
        return st;
    }
    *out = sim;
    return GM_OK;
}

void gm_plume_sim_free(gm_plume_sim *s) {
    if (!s) return;
    double *arrays[] = {s->u,    s->v,  s->u2, s->v2, s->smoke, s->smoke2, s->shat,
                        s->lo,   s->hi, s->pres, s->pb, s->pr,  s->pz,     s->pp,
                        s->pap,  s->chol, s->cvec};
    for (size_t k = 0; k < sizeof arrays / sizeof *arrays; k++) gm_free(arrays[k]);
    gm_free(s->inflow);
    if (s->lv)
        for (int l = 0; l < s->nlevels; l++) mg_free_level(&s->lv[l]);
    gm_free(s->lv);
    gm_free(s);
}

gm_status gm_plume_sim_step(gm_plume_sim *s) {
    GM_RETURN_ERROR_IF(!s, GM_ERR_INVALID_ARG, "gm_plume_sim_step: NULL argument");
    const long long step = (long long)s->steps + 1;
    GM_RETURN_ERROR_IF(!state_finite(s), GM_ERR_NUMERIC,
                       "plume step %lld: the state holds a non-finite value before the step",
                       step);
    char where[48];
    snprintf(where, sizeof where, "plume step %lld", step);
    advect_smoke(s);
    advect_velocity(s);
    add_buoyancy(s);
    GM_FORWARD_IF_ERROR(project(s, where));
    GM_RETURN_ERROR_IF(!state_finite(s), GM_ERR_NUMERIC,
                       "plume step %lld: a value became non-finite", step);
    s->steps++;
    return GM_OK;
}

gm_status gm_plume_sim_project(gm_plume_sim *s) {
    GM_RETURN_ERROR_IF(!s, GM_ERR_INVALID_ARG, "gm_plume_sim_project: NULL argument");
    return project(s, "plume projection");
}

int64_t gm_plume_sim_n(const gm_plume_sim *s) { return s->n; }
const double *gm_plume_sim_smoke(const gm_plume_sim *s) { return s->smoke; }
const double *gm_plume_sim_u(const gm_plume_sim *s) { return s->u; }
const double *gm_plume_sim_v(const gm_plume_sim *s) { return s->v; }
double *gm_plume_sim_u_mut(gm_plume_sim *s) { return s->u; }
double *gm_plume_sim_v_mut(gm_plume_sim *s) { return s->v; }
double *gm_plume_sim_smoke_mut(gm_plume_sim *s) { return s->smoke; }
int64_t gm_plume_sim_last_iterations(const gm_plume_sim *s) { return s->last_iterations; }
double gm_plume_sim_last_residual(const gm_plume_sim *s) { return s->last_residual; }
double gm_plume_sim_smoke_added(const gm_plume_sim *s) { return s->added; }

double gm_plume_sim_max_divergence(const gm_plume_sim *s) {
    const int64_t n = s->n, nu = n + 1;
    double m = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            const double d = (s->u[j * nu + i + 1] - s->u[j * nu + i]) +
                             (s->v[(j + 1) * n + i] - s->v[j * n + i]);
            if (!(fabs(d) <= m)) m = fabs(d);
        }
    return m;
}

double gm_plume_sim_smoke_total(const gm_plume_sim *s) {
    double sum = 0;
    for (int64_t k = 0; k < s->n * s->n; k++) sum += s->smoke[k];
    return sum;
}

void gm_plume_sim_velocity_centered(const gm_plume_sim *s, float *out) {
    const int64_t n = s->n, nu = n + 1;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            out[j * n + i] = (float)(0.5 * (s->u[j * nu + i] + s->u[j * nu + i + 1]));
            out[n * n + j * n + i] = (float)(0.5 * (s->v[j * n + i] + s->v[(j + 1) * n + i]));
        }
}
