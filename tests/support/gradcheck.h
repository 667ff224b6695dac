/* Finite-difference gradient checks for ops and modules (test support).
 *
 * Usage, one row of an op table:
 *
 *     static gm_status fwd_relu(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out) {
 *         (void)user;
 *         return gm_op_relu(ctx, in[0], out);
 *     }
 *     ...
 *     gm_arena *arena = gc_arena();
 *     gm_rng rng;
 *     gm_rng_seed(&rng, 7, 0);
 *     gm_tensor *x = gc_random_tensor(arena, &rng, 3, (int64_t[]){2, 3, 5}, true);
 *     double err = gc_check("relu", fwd_relu, 1, &x, NULL, 1e-6);
 *     cr_assert(err < 1e-6);
 *     gm_arena_free(arena);
 *
 * What gc_check does:
 *   1. runs f once with gradients on, forms L = sum_j out[j] * R[j] with a fixed
 *      random R (uniform in [-1, 1), R = 1 when out has one element, so a loss
 *      is checked as is), and calls gm_ctx_backward on L;
 *   2. for every element x of every input that requires a gradient, evaluates
 *      L at x + h and x - h (gradients off) and takes fd = (L+ - L-) / 2h,
 *      accumulating L in double;
 *   3. returns the largest |g - fd| / max(1, |g|, |fd|) over all checked
 *      elements (so absolute error for small gradients, relative for large),
 *      and logs each input's worst element with cr_log_info.
 * f is called many times on the same input tensors (modified in place and
 * restored); it must be a pure function of them. Before every call of f the
 * ctx is reset and its RNG reseeded, so dropout draws the same mask each time.
 * The inputs must live outside the ctx (e.g. in gc_arena()); their grads are
 * zeroed before the backward pass. Any failure (f or backward returning an
 * error, a changed output shape) is logged and gives INFINITY, which fails
 * any tolerance. In float builds choose h around 1e-2 and a loose tolerance;
 * in *_f64 tests h = 1e-6 gives about 1e-9.
 * Ops with kinks (relu, max) need inputs where ties and zeros are improbable. */
#ifndef GMCNN_GRADCHECK_H
#define GMCNN_GRADCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/gmcnn.h"

typedef gm_status (*gc_forward_fn)(gm_ctx *ctx, gm_tensor **in, void *user, gm_tensor **out);

/* Max error as described above, over every element of every input with
 * requires_grad. */
double gc_check(const char *name, gc_forward_fn f, int nin, gm_tensor **in, void *user, double h);

/* As gc_check, but inputs with more than max_per_input elements are checked on
 * a fixed pseudo-random subset of max_per_input elements (0 = all). */
double gc_check_sampled(const char *name, gc_forward_fn f, int nin, gm_tensor **in, void *user,
                        double h, int64_t max_per_input);

/* Records L = sum_j r[j] y[j] on ctx's tape and runs gm_ctx_backward from L,
 * so that d L / d y = r reaches y as it would from a loss. r (y->numel
 * entries) must outlive the backward pass. Returns the first failing status
 * (GM_ERR_NOMEM when the tape node's state cannot be allocated). */
gm_status gc_backward_weighted(gm_ctx *ctx, gm_tensor *y, const gm_real *r);

/* A fresh arena for inputs (fails the test on error); free with gm_arena_free. */
gm_arena *gc_arena(void);

/* A tensor in `arena` with values uniform in [-1, 1) (fails the test on error). */
gm_tensor *gc_random_tensor(gm_arena *arena, gm_rng *rng, int ndim, const int64_t *shape,
                            bool requires_grad);

/* Fills t with values uniform in [lo, hi). */
void gc_fill_uniform(gm_rng *rng, gm_tensor *t, double lo, double hi);

#endif
