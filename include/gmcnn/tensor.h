/* gmcnn tensor: dense tensors, arenas, and reverse-mode automatic
 * differentiation.
 *
 * Tensors are contiguous row-major arrays of gm_real with up to 4 dims. The
 * library's element type gm_real is float; a test-only build of the library
 * defines GM_REAL_DOUBLE to make it double, so that every backward pass can
 * be checked against central finite differences in float64.
 *
 * Memory lives in arenas: a model arena (parameters, their gradients,
 * optimizer state) and the step arena of a gm_ctx (activations, their
 * gradients, the tape, saved intermediates), reset after every step.
 *
 * Autodiff: every op (include/gmcnn/ops.h) runs eagerly and, when gradients
 * are enabled in its gm_ctx and some input requires a gradient, records a
 * node on the ctx's tape. gm_ctx_backward(ctx, loss) replays the tape in
 * reverse and accumulates d loss / d t into t->grad of every tensor that
 * requires a gradient (parameters included; op results' gradients are given
 * back to the arena once used, see gm_ctx_set_retain_grads), so any
 * composition of ops works without hand-written backward code: shared
 * weights, residual sums, a model called several times in an autoregressive
 * rollout.
 */
#ifndef GMCNN_TENSOR_H
#define GMCNN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmcnn/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef GM_REAL_DOUBLE
typedef double gm_real;
#else
typedef float gm_real;
#endif

#define GM_TENSOR_MAX_DIMS 4

/* --- arenas -------------------------------------------------------------
 * A bump allocator over a list of chunks. Allocations are 64-byte aligned
 * and live until gm_arena_reset or gm_arena_free. Chunks come from
 * gm_malloc, so out-of-memory injection reaches them. */
typedef struct gm_arena gm_arena;

/* chunk_bytes: size of each chunk (0 selects 1 MiB); a larger request gets a
 * chunk of its own. */
GM_NODISCARD gm_status gm_arena_new(size_t chunk_bytes, gm_arena **out);
void gm_arena_free(gm_arena *a);
/* Uninitialised memory; NULL on out-of-memory or size overflow. */
void *gm_arena_alloc(gm_arena *a, size_t bytes);
/* Zero-filled memory; NULL on out-of-memory or size overflow. */
void *gm_arena_calloc(gm_arena *a, size_t count, size_t size);
/* Gives back a block before the reset: p and bytes as returned by and
 * passed to gm_arena_alloc (or count * size of gm_arena_calloc) of this
 * arena, released at most once. Later requests of this arena reuse it (the
 * smallest released block that fits, split if larger), before taking new
 * chunk space; a reset forgets all released blocks. */
void gm_arena_release(gm_arena *a, void *p, size_t bytes);
/* Releases everything allocated so far. The chunks are kept and reused, so a
 * training loop whose steps allocate the same amounts stops calling
 * gm_malloc after its first step. */
void gm_arena_reset(gm_arena *a);
/* Bytes handed out and not released since the last reset, and the largest
 * such value seen. */
size_t gm_arena_used(const gm_arena *a);
size_t gm_arena_peak(const gm_arena *a);

/* --- tensors ------------------------------------------------------------ */
typedef struct gm_tensor {
    int ndim;
    int64_t shape[GM_TENSOR_MAX_DIMS];
    int64_t numel;
    gm_real *data;
    /* d loss / d tensor, same shape; NULL until a backward pass reaches the
     * tensor or gm_tensor_grad_ensure allocates it. */
    gm_real *grad;
    /* Set on parameters by their creator, and on op results that depend on
     * such a tensor while gradients are enabled. */
    bool requires_grad;
    /* The arena that owns data and grad. */
    gm_arena *arena;
} gm_tensor;

/* A zero-filled tensor in `arena`. ndim in 0..4 (0 = scalar, numel 1); every
 * dim >= 1; numel overflow is GM_ERR_TOO_LARGE. */
GM_NODISCARD gm_status gm_tensor_new(gm_arena *arena, int ndim, const int64_t *shape,
                                     gm_tensor **out);
/* gm_tensor_new without the zero fill: the data is left as the arena holds
 * it (NaN in sanitizer builds). For results that are written in full before
 * they are read, such as every op's output. */
GM_NODISCARD gm_status gm_tensor_new_uninit(gm_arena *arena, int ndim, const int64_t *shape,
                                            gm_tensor **out);
/* Shorthands: gm_tensor_new with 1..4 explicit dims. */
GM_NODISCARD gm_status gm_tensor_new1(gm_arena *arena, int64_t d0, gm_tensor **out);
GM_NODISCARD gm_status gm_tensor_new2(gm_arena *arena, int64_t d0, int64_t d1, gm_tensor **out);
GM_NODISCARD gm_status gm_tensor_new3(gm_arena *arena, int64_t d0, int64_t d1, int64_t d2,
                                      gm_tensor **out);
GM_NODISCARD gm_status gm_tensor_new4(gm_arena *arena, int64_t d0, int64_t d1, int64_t d2,
                                      int64_t d3, gm_tensor **out);
/* Allocates t->grad (zero-filled) in t's arena if it is NULL. */
GM_NODISCARD gm_status gm_tensor_grad_ensure(gm_tensor *t);
/* For backward functions that write every element of t's gradient: when
 * t->grad is NULL, allocates it without the zero fill (NaN in sanitizer
 * builds) and sets *fresh, and the caller must assign (=) every element;
 * otherwise *fresh is false and the caller adds (+=) as usual. Saves a pass
 * of memset and of reading zeros per gradient. */
GM_NODISCARD gm_status gm_tensor_grad_acquire(gm_tensor *t, bool *fresh);
/* Zeroes t->grad if allocated. */
void gm_tensor_zero_grad(gm_tensor *t);
/* True when the two tensors have the same ndim and shape. */
bool gm_tensor_same_shape(const gm_tensor *a, const gm_tensor *b);
/* "(2, 3, 784)" into buf, snprintf-style; for error messages. */
int gm_tensor_shape_str(const gm_tensor *t, char *buf, size_t size);

/* --- execution context and tape ----------------------------------------- */
typedef struct gm_ctx gm_ctx;

/* A context with its own step arena (chunk size as in gm_arena_new),
 * gradients enabled, training mode on, RNG seeded with `seed` (dropout). */
GM_NODISCARD gm_status gm_ctx_new(size_t step_chunk_bytes, uint64_t seed, gm_ctx **out);
void gm_ctx_free(gm_ctx *ctx);
/* The step arena: op results and saved intermediates live here. */
gm_arena *gm_ctx_arena(gm_ctx *ctx);
/* Gradient recording on/off (off: ops record nothing, results never require
 * gradients; for evaluation). Returns the previous setting. */
bool gm_ctx_set_grad(gm_ctx *ctx, bool enabled);
bool gm_ctx_grad_enabled(const gm_ctx *ctx);
/* Training mode (dropout active) on/off. Returns the previous setting. */
bool gm_ctx_set_training(gm_ctx *ctx, bool training);
bool gm_ctx_training(const gm_ctx *ctx);
gm_rng *gm_ctx_rng(gm_ctx *ctx);
/* Keeping the gradients of op results (off by default). When off,
 * gm_ctx_backward gives each op result's gradient back to the step arena as
 * soon as the op that produced the result has propagated it, and sets the
 * result's grad to NULL: a training step then holds the activations and only
 * the few gradients in flight. Gradients of tensors that no recorded op
 * produced (parameters, inputs marked requires_grad) are always kept. On:
 * every op result keeps d loss / d result, for inspection. Returns the
 * previous setting. */
bool gm_ctx_set_retain_grads(gm_ctx *ctx, bool retain);
/* Number of nodes on the tape. */
int64_t gm_ctx_tape_size(const gm_ctx *ctx);
/* Backpropagates from a one-element tensor: seeds d loss/d loss = 1 and runs
 * the tape in reverse, accumulating (+=) into the grads of every tensor that
 * requires one (of op results only with gm_ctx_set_retain_grads on). The tape
 * is kept (call gm_ctx_reset to drop it). */
GM_NODISCARD gm_status gm_ctx_backward(gm_ctx *ctx, gm_tensor *loss);
/* Drops the tape and resets the step arena: every tensor created in it is
 * gone; parameters in other arenas are untouched. */
void gm_ctx_reset(gm_ctx *ctx);

/* --- recording ops (for op implementations) ------------------------------
 * An op's backward receives its node: the output (whose grad is set), the
 * inputs as recorded, and the op's saved state (allocated in the step arena
 * by the op). It accumulates into in[i]->grad for inputs that require a
 * gradient (allocating them with gm_tensor_grad_ensure). */
#define GM_TAPE_MAX_INPUTS 6

typedef struct gm_tape_node gm_tape_node;
typedef gm_status (*gm_backward_fn)(gm_tape_node *node);

struct gm_tape_node {
    int op;                 /* enum gm_op of include/gmcnn/ops.h, for messages */
    gm_backward_fn backward;
    gm_tensor *out;
    int nin;
    gm_tensor *in[GM_TAPE_MAX_INPUTS];
    void *saved;
    /* Set by gm_ctx_backward while the backward runs: true when out->grad is
     * given back to the arena right after it (see gm_ctx_set_retain_grads). */
    bool out_grad_expires;
};

/* For a backward whose input x would receive a copy of the output's
 * gradient: when that gradient expires after this node, x has no gradient
 * yet and both live in one arena with the same numel, moves the buffer to x
 * (x->grad = out->grad, out->grad = NULL) and returns true; otherwise
 * changes nothing and returns false. */
bool gm_tape_node_move_grad(gm_tape_node *node, gm_tensor *x);
/* True when an op on these inputs must record: gradients are enabled and at
 * least one input (non-NULL) requires a gradient. */
bool gm_ctx_needs_grad(const gm_ctx *ctx, int nin, gm_tensor *const *in);
/* Records a node and marks `out` as requiring a gradient. The inputs array is
 * copied; NULL entries (optional inputs) are allowed. */
GM_NODISCARD gm_status gm_ctx_record(gm_ctx *ctx, int op, gm_backward_fn backward, gm_tensor *out,
                                     int nin, gm_tensor *const *in, void *saved);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_TENSOR_H */
