/* Execution context: step arena, tape and the switches ops consult.
 *
 * The tape is a gm_malloc'd array that only grows; a reset empties it
 * without freeing, so steady training steps do not allocate. */
#include <string.h>

#include "core/core_internal.h"
#include "gmcnn/tensor.h"

struct gm_ctx {
    gm_arena *arena;
    gm_tape_node *nodes;
    int64_t nnodes;
    int64_t cap;
    bool grad_enabled;
    bool training;
    bool retain_grads;
    gm_rng rng;
};

/* Fixed PCG stream for dropout masks; the seed alone selects the sequence. */
#define GM__CTX_RNG_STREAM 0x6d61736bu

gm_status gm_ctx_new(size_t step_chunk_bytes, uint64_t seed, gm_ctx **out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "gm_ctx_new: out is NULL");
    *out = NULL;
    gm_ctx *ctx = gm_calloc(1, sizeof *ctx);
    if (!ctx) return gm__nomem("a context");
    gm_status st = gm_arena_new(step_chunk_bytes, &ctx->arena);
    if (st != GM_OK) {
        gm_free(ctx);
        return st;
    }
    ctx->grad_enabled = true;
    ctx->training = true;
    gm_rng_seed(&ctx->rng, seed, GM__CTX_RNG_STREAM);
    *out = ctx;
    return GM_OK;
}

void gm_ctx_free(gm_ctx *ctx) {
    if (!ctx) return;
    gm_arena_free(ctx->arena);
    gm_free(ctx->nodes);
    gm_free(ctx);
}

gm_arena *gm_ctx_arena(gm_ctx *ctx) { return ctx->arena; }

bool gm_ctx_set_grad(gm_ctx *ctx, bool enabled) {
    bool prev = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return prev;
}

bool gm_ctx_grad_enabled(const gm_ctx *ctx) { return ctx->grad_enabled; }

bool gm_ctx_set_training(gm_ctx *ctx, bool training) {
    bool prev = ctx->training;
    ctx->training = training;
    return prev;
}

bool gm_ctx_training(const gm_ctx *ctx) { return ctx->training; }

bool gm_ctx_set_retain_grads(gm_ctx *ctx, bool retain) {
    bool prev = ctx->retain_grads;
    ctx->retain_grads = retain;
    return prev;
}

gm_rng *gm_ctx_rng(gm_ctx *ctx) { return &ctx->rng; }

int64_t gm_ctx_tape_size(const gm_ctx *ctx) { return ctx->nnodes; }

bool gm_ctx_needs_grad(const gm_ctx *ctx, int nin, gm_tensor *const *in) {
    if (!ctx || !ctx->grad_enabled) return false;
    for (int i = 0; i < nin; i++) {
        if (in[i] && in[i]->requires_grad) return true;
    }
    return false;
}

gm_status gm_ctx_record(gm_ctx *ctx, int op, gm_backward_fn backward, gm_tensor *out, int nin,
                        gm_tensor *const *in, void *saved) {
    GM_RETURN_ERROR_IF(!ctx || !backward || !out, GM_ERR_INVALID_ARG,
                       "gm_ctx_record (op %d): ctx, backward and out must be non-NULL", op);
    GM_RETURN_ERROR_IF(nin < 0 || nin > GM_TAPE_MAX_INPUTS || (nin > 0 && !in),
                       GM_ERR_INVALID_ARG, "gm_ctx_record (op %d): %d inputs, at most %d", op,
                       nin, GM_TAPE_MAX_INPUTS);
    if (ctx->nnodes == ctx->cap) {
        int64_t cap = ctx->cap ? 2 * ctx->cap : 256;
        GM_RETURN_ERROR_IF((uint64_t)cap > SIZE_MAX / sizeof(gm_tape_node), GM_ERR_TOO_LARGE,
                           "gm_ctx_record (op %d): tape of %lld nodes is too long", op,
                           (long long)ctx->nnodes);
        gm_tape_node *nodes = gm_realloc(ctx->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return gm__nomem("the tape");
        ctx->nodes = nodes;
        ctx->cap = cap;
    }
    gm_tape_node *node = &ctx->nodes[ctx->nnodes++];
    memset(node, 0, sizeof *node);
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->nin = nin;
    for (int i = 0; i < nin; i++) node->in[i] = in[i];
    node->saved = saved;
    out->requires_grad = true;
    return GM_OK;
}

gm_status gm_ctx_backward(gm_ctx *ctx, gm_tensor *loss) {
    GM_RETURN_ERROR_IF(!ctx || !loss, GM_ERR_INVALID_ARG,
                       "gm_ctx_backward: ctx and loss must be non-NULL");
    char buf[96];
    if (loss->numel != 1) {
        gm_tensor_shape_str(loss, buf, sizeof buf);
        return gm_error_set(GM_ERR_SHAPE,
                            "gm_ctx_backward: loss has shape %s, expected one element", buf);
    }
    GM_RETURN_ERROR_IF(!loss->requires_grad, GM_ERR_INVALID_ARG,
                       "gm_ctx_backward: loss does not require a gradient (computed with "
                       "gradients disabled, or from no parameter)");
    /* Op results hold d loss / d result only for one pass; clearing them
     * makes a second backward add exactly one more gradient to the leaves
     * (parameters) instead of re-propagating the first pass's values. */
    for (int64_t i = 0; i < ctx->nnodes; i++) gm_tensor_zero_grad(ctx->nodes[i].out);
    GM_FORWARD_IF_ERROR(gm_tensor_grad_ensure(loss));
    loss->grad[0] += (gm_real)1;
    for (int64_t i = ctx->nnodes - 1; i >= 0; i--) {
        gm_tape_node *node = &ctx->nodes[i];
        /* NULL: no path from the loss reaches this node's result. */
        gm_tensor *out = node->out;
        if (!out->grad) continue;
        /* Every node that reads out->grad comes later on the tape (it
         * consumed out), so it has run: after this node, the step arena may
         * reuse the block for the gradients still to come. */
        node->out_grad_expires = !ctx->retain_grads && out->arena == ctx->arena;
        GM_FORWARD_IF_ERROR(node->backward(node));
        if (node->out_grad_expires && out->grad) {
            gm_arena_release(ctx->arena, out->grad, (size_t)out->numel * sizeof(gm_real));
            out->grad = NULL;
        }
    }
    return GM_OK;
}

bool gm_tape_node_move_grad(gm_tape_node *node, gm_tensor *x) {
    gm_tensor *out = node->out;
    if (!node->out_grad_expires || !out->grad || x->grad || x->arena != out->arena ||
        x->numel != out->numel)
        return false;
    x->grad = out->grad;
    out->grad = NULL;
    return true;
}

void gm_ctx_reset(gm_ctx *ctx) {
    if (!ctx) return;
    ctx->nnodes = 0;
    gm_arena_reset(ctx->arena);
}
