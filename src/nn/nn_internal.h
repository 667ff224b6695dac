/* Shared by the files of src/nn/: the parameter registry, the GM convolution
 * layer (exact, LDR and modulated), and the representation of gm_model. */
#ifndef GMCNN_NN_INTERNAL_H
#define GMCNN_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core_internal.h"
#include "gmcnn/gmat.h"
#include "gmcnn/nn.h"

/* LayerNorm epsilon of the reference (PyTorch's default). */
#define GM__NN_LN_EPS 1e-5
/* Initial PReLU slope (PyTorch's default). */
#define GM__NN_PRELU_INIT 0.25
/* Upper bound on the LDR rank r, far above any useful value; it keeps
 * (1 + r) * kernel sizes away from overflow. */
#define GM__NN_MAX_RANK GM_MODEL_MAX_LDR_RANK
/* Upper bound on a convolution plan's support size x group order: 2^28
 * entries (two int32 tables of 1 GiB), far above the radius-1..3 supports
 * of groups up to GM_GROUP_MAX_ORDER; it stops a large radius on a large
 * group (a description read from a file) from asking for terabytes. */
#define GM__NN_MAX_PLAN_CELLS (INT64_C(1) << 28)

/* --- parameter registry ---------------------------------------------------
 * Tensors (requires_grad = true) and their names, in creation order, all in
 * one arena. */
typedef struct gm__nn_params {
    gm_arena *arena;
    int64_t count, cap;
    char **names;        /* gm_malloc'd array; the strings live in the arena */
    gm_tensor **tensors; /* gm_malloc'd array */
    gm_param_check_fn check; /* consulted before each allocation (may be NULL) */
    void *check_user;
} gm__nn_params;

GM_NODISCARD gm_status gm__nn_params_init(gm__nn_params *p);
void gm__nn_params_release(gm__nn_params *p);
/* A zero-filled parameter named by the printf-style format, after the
 * registry's check (if any) has accepted its name and shape. */
GM_NODISCARD gm_status gm__nn_param_new(gm__nn_params *p, int ndim, const int64_t *shape,
                                        gm_tensor **out, const char *fmt, ...) GM_PRINTF(5, 6);
/* Returns st with the current error detail prefixed by "<context>: " (the
 * detail is copied first: gm_error_set may not read its own buffer). */
gm_status gm__nn_error_wrap(gm_status st, const char *context);
/* Sets every element of t to value. */
void gm__nn_fill(gm_tensor *t, double value);

/* --- GM convolution layer -------------------------------------------------
 * With conv_w the GMConv of ops.h (full: w (O, I, K); shared: w (O, K)) on
 * the layer's plan:
 *   exact      (rank 0):  y = conv_c(x) + b
 *   LDR        (rank r):  y = conv_c(x) + b + sum_{rho<r} v_rho (.) conv_{u_rho}(x)
 *   modulated:            y = (e/||e||) (.) conv_{w~}(x) + b,  w~_o = w_o/||w_o||
 * The modulated layer normalises inside the graph (gradients flow through
 * the normalisation) unless renorm_in_place is set: then, as the reference
 * does, w and e are overwritten by their normalised values before each
 * forward, outside the graph, and the gradient is that of the normalised
 * values (in effect a projection onto the unit spheres after every step).
 * where (.) multiplies every channel at position g by v_rho[g] (e[g]).
 * The bias sits on the c convolution only (in the modulated layer it is added
 * after the modulation, as in the reference). Parameters:
 *   exact / LDR: (1 + r) * kernel + O + r * n   (kernel = O*I*K full, O*K shared)
 *   modulated:   kernel + O + n
 * Names: <prefix>.weight (c, or w), <prefix>.bias, <prefix>.u.<rho> (like c),
 * <prefix>.v.<rho> (n), <prefix>.e (1, n). Init: c, u, w kaiming-uniform with
 * PyTorch's fan-in of their shapes (I*K full, K shared); v = 0, so a fresh
 * LDR layer is exactly equivariant and rank r is what training may use; e
 * kaiming-uniform with fan-in n (the reference's (1, n) vector); b = 0. */
typedef struct gm__nn_gmconv {
    const gm_gmat_plan *plan; /* not owned */
    gm_conv_form form;
    int64_t in_channels, out_channels, positions;
    int64_t rank;
    bool modulated;
    bool renorm_in_place; /* modulated: the reference's in-place renormalisation */
    gm_tensor *weight, *bias;
    gm_tensor **u, **v; /* rank entries each (arena arrays); NULL when rank 0 */
    gm_tensor *e;       /* modulated only */
} gm__nn_gmconv;

GM_NODISCARD gm_status gm__nn_gmconv_init(gm__nn_gmconv *l, gm__nn_params *p, gm_rng *rng,
                                          const char *prefix, const gm_gmat_plan *plan,
                                          gm_conv_form form, int64_t in_channels,
                                          int64_t out_channels, int64_t rank, bool modulated);
/* x (B, I, n) -> y (B, O, n). */
GM_NODISCARD gm_status gm__nn_gmconv_forward(const gm__nn_gmconv *l, gm_ctx *ctx, gm_tensor *x,
                                             gm_tensor **out);

/* --- model representation ------------------------------------------------ */

/* A domain the features live on: the input group G (level 0), or after each
 * GMPool the pooling subgroup seen as a group of its own. */
typedef struct gm__nn_level {
    gm_group *group;        /* retained */
    gm_group *shape;        /* same indexing as group, built from C_n/D_n
                             * factors (for reference supports); may be NULL */
    gm_nbhd *nbhd;          /* kernel support on group */
    gm_gmat_plan *plan;     /* convolution plan of (group, nbhd) */
    gm_gmat_plan *lift_plan; /* level 0 of a wallpaper group: the lifting
                              * convolution from the torus G/H to G */
    gm_group *center_group;  /* desc.center: the torus C_n x C_n, */
    gm_gmat_plan *center_plan; /* the 2x2 mean's plan on it */
    gm_tensor *center_weight;  /* and its fixed weight (1, 1, 4), per channel */
    gm_subgroup *pool_sub;  /* stride-2 subgroup of group, the next level */
    gm_gmat_plan *pool_plan;
    int32_t *to_top;        /* element index here -> index in G (gm_malloc'd) */
} gm__nn_level;

/* Batch normalisation of a layer (gm_op_batchnorm): weight, bias (C)
 * trained; running_mean, running_var (C) saved state without gradient. */
typedef struct gm__nn_bnorm {
    gm_tensor *weight, *bias, *running_mean, *running_var;
} gm__nn_bnorm;

#define GM__NN_BN_MOMENTUM 0.1
#define GM__NN_BN_EPS 1e-5

/* Registers "<prefix>.weight" (ones), ".bias" (zeros), ".running_mean"
 * (zeros) and ".running_var" (ones) for c channels. */
GM_NODISCARD gm_status gm__nn_bnorm_init(gm__nn_bnorm *bn, gm__nn_params *p, const char *prefix,
                                         int64_t c);
GM_NODISCARD gm_status gm__nn_bnorm_forward(const gm__nn_bnorm *bn, gm_ctx *ctx, gm_tensor *x,
                                            gm_tensor **out);

typedef struct gm__nn_layer {
    gm__nn_gmconv conv;    /* GM models */
    gm__nn_bnorm bn;       /* desc.norm == GM_NORM_BATCH */
    gm_tensor *prelu;      /* slope (1); shared by every layer in GM_MODEL_GMCNN */
    gm_tensor *weight;     /* CNN conv2d (O, I, 3, 3) / MLP linear (O, I) */
    gm_tensor *bias;
} gm__nn_layer;

typedef struct gm__nn_block {
    int64_t nlayers;
    gm__nn_layer *layers;   /* arena array */
    int level;              /* the level the block's convolutions run on */
    int64_t in_channels, out_channels;
    gm_tensor *res_weight;  /* 1x1 residual (O, I) where channels change, else NULL */
    gm_tensor *res_bias;
    bool pool;
    bool lifts;             /* the first layer lifts the torus to the group:
                             * no residual */
} gm__nn_block;

typedef struct gm__nn_trace {
    char name[48];
    gm_tensor *t;   /* in the ctx's step arena */
    int level;
    bool invariant;
} gm__nn_trace;

#define GM__NN_MAX_LEVELS (GM_MODEL_MAX_BLOCKS + 1)

struct gm_model {
    gm_model_desc desc;
    char *group_spec;       /* owned copy; desc.group points here */
    gm_group *group;        /* NULL for a baseline given no group */
    gm__nn_params params;
    gm_rng rng;             /* initialisation */

    int nlevels;
    gm__nn_level levels[GM__NN_MAX_LEVELS];
    int64_t nblocks;
    gm__nn_block blocks[GM_MODEL_MAX_BLOCKS];

    int64_t positions;      /* length of the input's last axis */
    int64_t image_h, image_w;
    int64_t hidden;         /* PLUME channels, MLP default width */
    gm_tensor *prelu;       /* GMCNN: the one shared slope */
    gm_tensor *in_weight, *in_bias;   /* PLUME: input 1x1 */
    gm_tensor *out_weight, *out_bias; /* final linear, or PLUME's output 1x1 */
    /* LDR: the hidden matrix's factors G, H and operators A, B (or NULL),
     * its dense weight (unstructured) and bias */
    gm_tensor *ldr_g, *ldr_h, *ldr_a, *ldr_b, *ldr_weight, *ldr_bias;
    int out_level;          /* level of the last feature map */
    bool classifier;        /* output (B, classes), G-invariant */

    bool tracing;
    int64_t ntrace;
    gm__nn_trace trace[GM_EQUIV_MAX_STAGES];
};

/* perm[p] = the input position whose value L_v moves onto position p, for
 * the m->positions input positions: v^-1 g for a model on G; for a lifting
 * model the pixel v^-1 . p of the torus, about pixel (0, 0), or with
 * desc.center about the image's centre. */
void gm__nn_input_action(const gm_model *m, int32_t v, int32_t *perm);

/* Records an intermediate feature map while m->tracing is set (silently
 * drops stages beyond the report's capacity). */
void gm__nn_trace_add(gm_model *m, gm_tensor *t, int level, bool invariant, const char *fmt, ...)
    GM_PRINTF(5, 6);

/* Builders and forward passes of the model families (nn_gm_models.c,
 * nn_baselines.c); gm_model_new has validated the description and parsed the
 * group. */
GM_NODISCARD gm_status gm__nn_build_gm(gm_model *m);
GM_NODISCARD gm_status gm__nn_forward_gm(gm_model *m, gm_ctx *ctx, gm_tensor *x,
                                         gm_tensor **out);
GM_NODISCARD gm_status gm__nn_build_baseline(gm_model *m);
/* The image size of a baseline (desc.image_h x image_w, or the two factors
 * of a product group, or one row of |G| pixels) into m->image_h/w and
 * m->positions, checked against the group's order; with a group, level 0 so
 * that the (non-invariant) logits can be measured. */
GM_NODISCARD gm_status gm__nn_image_size(gm_model *m);
GM_NODISCARD gm_status gm__nn_forward_baseline(gm_model *m, gm_ctx *ctx, gm_tensor *x,
                                               gm_tensor **out);
/* The structured-matrix baselines, GM_MODEL_LDR (nn_ldr.c). */
GM_NODISCARD gm_status gm__nn_build_ldr(gm_model *m);
GM_NODISCARD gm_status gm__nn_forward_ldr(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out);

#endif
