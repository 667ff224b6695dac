/* gmcnn nn: layers with parameters, the named architectures of the reference, and
 * equivariance measurement.
 *
 * A model owns a model arena holding its parameters (and their gradients),
 * each a named tensor ("blocks.0.conv.weight", ...). Its forward pass runs
 * ops in a gm_ctx, so gm_ctx_backward computes every parameter gradient.
 *
 * Initialisation follows the reference: GM kernels, 1x1 convolutions and
 * linear layers get kaiming-uniform with a = sqrt(5), i.e. U(-b, b) with
 * b = 1/sqrt(fan_in); biases start at zero; PReLU slopes at 0.25.
 */
#ifndef GMCNN_NN_H
#define GMCNN_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/group.h"
#include "gmcnn/ops.h"
#include "gmcnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for every element of t. */
void gm_nn_init_kaiming_uniform(gm_tensor *t, int64_t fan_in, gm_rng *rng);

typedef enum gm_model_kind {
    /* The reference GMCNN classifier: blocks of shared-form GMConv +
     * LayerNorm + one shared PReLU, 1x1 residuals where channels change,
     * global max over G, dropout, linear. */
    GM_MODEL_GMCNN = 0,
    /* The reference plume regressor: 1x1 in, blocks of PReLU(LDR-GMConv) +
     * skip, 1x1 out. */
    GM_MODEL_PLUME = 1,
    /* Deeper GM-CNN: full-form GMConv stages with GMPool between blocks
     * (block.pool), features moving to the pooling subgroup. On a
     * wallpaper group (p4:n, p4m:n) the input is an n x n image, a function
     * on the torus = G / H (H the rotations, and reflections, about the
     * origin): the first layer of block 0 is the lifting convolution from
     * the torus to G with the (2t+1)^2 translations as support (each output
     * position (s, h) sees the window rotated by h), and block 0 has no
     * residual; the other layers use the (2t+1)^2 x |H| support of G; GMPool
     * goes to the even translations with all of H, i.e. p4:(n/2). */
    GM_MODEL_GMCNN_DEEP = 2,
    /* Plain CNN baseline: zero-padded 3x3 conv (+ batch norm with
     * desc.norm) + ReLU (+ 2x2 max pool per
     * pooled block), then global mean and linear (classifier), or, with
     * desc.regressor, residual blocks and a 1x1 convolution out (regressor). */
    GM_MODEL_CNN = 3,
    /* MLP baseline on the flattened input: class scores, or with
     * desc.regressor a (C_out, H*W) map from the last linear layer. */
    GM_MODEL_MLP = 4,
    /* The structured-matrix baselines (desc.structure): one hidden layer on
     * the flattened input, x (B, n = C_in*H*W) -> M x + bias -> ReLU ->
     * dropout -> linear to out_dim, with M an n x n structured matrix
     * (gm_op_ldr_toeplitz, gm_op_ldr_tridiag) or a dense one. */
    GM_MODEL_LDR = 5
} gm_model_kind;

/* The hidden matrix M of GM_MODEL_LDR, r = desc.ldr_rank (0 selects 1), K =
 * out_dim. Parameters "layer.g", "layer.h" (r, n): the columns of G, H
 * (normal, std 1/sqrt(r n)); "layer.a", "layer.b" (3, n): the operators'
 * (sub, diag, sup) rows; "layer.weight" (n, n); "layer.bias" (n, zeros);
 * "fc.weight" (K, n), "fc.bias" (K). */
typedef enum gm_ldr_structure {
    /* Toeplitz-like, Z_1 M - M Z_-1 = G H^T: 2 n r + n + (n + 1) K parameters. */
    GM_LDR_TOEPLITZ = 0,
    /* LDR-TD, M = sum_i K(A, g_i) K(B^T, h_i)^T with learnt tridiagonal-plus-
     * corner A, B, 3n values each, initialised to the shifts A = Z_0 (ones
     * below the diagonal) and B = Z_0^T, so that training starts from a
     * Toeplitz-like M: 2 n r + 6 n + n + (n + 1) K parameters. */
    GM_LDR_TRIDIAG = 1,
    /* Dense M (kaiming-uniform): n^2 + n + (n + 1) K parameters; ldr_rank
     * must be 0. */
    GM_LDR_UNSTRUCTURED = 2
} gm_ldr_structure;

#define GM_MODEL_MAX_BLOCKS 16
/* Largest LDR rank (gm_model_desc.ldr_rank) a model, a config or a saved
 * description may have. */
#define GM_MODEL_MAX_LDR_RANK 1024

/* Normalisation after each convolution of GMCNN_DEEP and CNN models. */
typedef enum gm_norm_kind {
    /* GMCNN_DEEP: LayerNorm of each sample over all its (C, |G|) values
     * (the reference's); CNN: none. */
    GM_NORM_DEFAULT = 0,
    /* Per-channel batch normalisation over (batch, positions) with a learnt
     * scale and shift per channel and running statistics for evaluation
     * (gm_op_batchnorm; momentum 0.1, eps 1e-5). Exactly equivariant. */
    GM_NORM_BATCH = 1
} gm_norm_kind;

typedef struct gm_block_desc {
    int64_t num_layers;   /* GMConv layers in the block (>= 1) */
    int64_t out_channels; /* channels of every layer of the block */
    bool pool;            /* GMCNN_DEEP / CNN: pool after the block */
} gm_block_desc;

/* A model description (the config format fills it). Zero values select the
 * defaults noted. */
typedef struct gm_model_desc {
    gm_model_kind kind;
    const char *group;     /* group spec of the input's domain, e.g. "D14xD14" */
    int64_t radius;        /* t of the kernel support: the reference radius-t
                            * neighbourhood, or the word ball where the group
                            * has none */
    int64_t in_channels;   /* C_in */
    int64_t out_dim;       /* classes, or output channels of a regressor */
    int64_t nblocks;
    gm_block_desc blocks[GM_MODEL_MAX_BLOCKS];
    double dropout;        /* before the final linear layer */
    gm_conv_form form;     /* GMCNN_DEEP and PLUME: GMConv form */
    int64_t ldr_rank;      /* PLUME: LDR-GMConv rank r (0 = exact GMConv); LDR:
                            * displacement rank r (0 = 1) */
    bool modulated;        /* PLUME: the reference's modulated layer instead */
    /* With modulated: renormalise the weights and the position vector in
     * place before every forward, outside the autodiff graph, as the
     * reference does (false: differentiate through the normalisation). A
     * forward pass then writes to the model's parameters. */
    bool modulated_in_place;
    gm_reduce pool_mode;   /* GMCNN_DEEP: max (default) or mean pooling */
    int64_t hidden;        /* PLUME: channels C after the input 1x1 (0 = 128);
                            * MLP: hidden width (0 = 256) */
    int64_t image_h, image_w; /* CNN/MLP/LDR: image size (0 = from the group:
                               * |G1| x |G2| of a two-factor product) */
    /* CNN/MLP: a regressor with output (B, out_dim, H*W) instead of a
     * classifier (PLUME is a regressor by construction).
     *   CNN: every layer y = ReLU(conv3x3(x)) (zero padding 1); a block whose
     *        input has as many channels as its output adds that input
     *        (x + block(x)); no pooling; then
     *        dropout and a 1x1 convolution to out_dim ("output.weight" (O, C),
     *        "output.bias"). Parameters 9*C_in*C + C + per further layer
     *        9*C*C + C, + (C + 1)*out_dim.
     *   MLP: the hidden layers as for the classifier, then dropout and a
     *        linear layer to out_dim*H*W ("output.weight", "output.bias"),
     *        reshaped to (out_dim, H*W): about (C_in*H*W + out_dim*H*W)*hidden
     *        parameters. */
    bool regressor;
    gm_norm_kind norm; /* GMCNN_DEEP and CNN */
    /* GMCNN_DEEP on p4:n / p4m:n with n even: first a fixed 2x2 mean,
     * y(a,b) = (x(a,b) + x(a-1,b) + x(a,b-1) + x(a-1,b-1)) / 4 on the torus,
     * which moves the centre of the image, (n-1)/2 in both coordinates, onto
     * the pixel n/2, a fixed point of the group's rotations and reflections.
     * The model's exact symmetries are then the quarter turns and flips of
     * the image about its own centre (and its translations the pooling
     * keeps), instead of those about pixel (0, 0); the mean only removes the
     * highest (checkerboard) frequency. */
    bool center;
    gm_ldr_structure structure; /* LDR: the hidden matrix */
    /* Optional: the group `group` names, already built (a config parses its
     * spec once and passes it on). gm_model_new retains it instead of
     * parsing `group` again; NULL: `group` is parsed. */
    const gm_group *group_parsed;
} gm_model_desc;

typedef struct gm_model gm_model;

/* Builds the model and initialises its parameters from `seed`. Errors (bad
 * group spec, inconsistent sizes) name the description field. */
GM_NODISCARD gm_status gm_model_new(const gm_model_desc *desc, uint64_t seed, gm_model **out);
/* Consulted before each parameter (and saved state) is allocated, with the
 * name and shape it will have; any status but GM_OK stops the build, and
 * gm_model_new_checked returns that status (the detail is the callback's). */
typedef gm_status (*gm_param_check_fn)(void *user, const char *name, int ndim,
                                       const int64_t *shape);
/* gm_model_new that passes every parameter to check before allocating it
 * (check NULL: gm_model_new). Loading a description from a file, the check
 * compares with the tensors the file holds, so that a description that does
 * not match cannot allocate more than the file's tensors. */
GM_NODISCARD gm_status gm_model_new_checked(const gm_model_desc *desc, uint64_t seed,
                                            gm_param_check_fn check, void *user,
                                            gm_model **out);
void gm_model_free(gm_model *m);
const gm_model_desc *gm_model_description(const gm_model *m);
/* The group of the input's domain (NULL for baselines without one). */
const gm_group *gm_model_group(const gm_model *m);
/* The length of the input's last axis: |G|, the pixels of the image a
 * wallpaper model lifts (n*n for p4:n), or H*W of a baseline. */
int64_t gm_model_input_size(const gm_model *m);

/* x (B, C_in, |G|) for GM models (images flattened in group order), or
 * (B, C_in, H*W) for the baselines: out (B, classes), or (B, C_out, |G|)
 * (resp. (B, C_out, H*W)) for regressors. */
GM_NODISCARD gm_status gm_model_forward(gm_model *m, gm_ctx *ctx, gm_tensor *x, gm_tensor **out);

/* Parameters in a fixed order, with their names. The list includes state
 * that is saved with the model but not trained (batch normalisation's
 * running statistics: requires_grad false, no gradient). */
int64_t gm_model_param_count(const gm_model *m);
const char *gm_model_param_name(const gm_model *m, int64_t i);
gm_tensor *gm_model_param(gm_model *m, int64_t i);
/* The same parameter, read-only, for code that holds a const model. */
const gm_tensor *gm_model_param_const(const gm_model *m, int64_t i);
/* Total number of trained scalar parameters (running statistics excluded). */
int64_t gm_model_num_params(const gm_model *m);
/* Zeroes every trained parameter's gradient (allocating them on first use). */
GM_NODISCARD gm_status gm_model_zero_grad(gm_model *m);

/* --- equivariance measurement -------------------------------------------- */
#define GM_EQUIV_MAX_STAGES 64

typedef struct gm_equiv_stage {
    char name[48];  /* "blocks.0.layers.0", "pool.1", "logits", ... */
    bool invariant; /* true for outputs on which G acts trivially (logits) */
    double defect;  /* max over generators v of ||f(L_v x) - L_v f(x)|| / ||f(x)|| */
} gm_equiv_stage;

typedef struct gm_equiv_report {
    int64_t nstages;
    gm_equiv_stage stages[GM_EQUIV_MAX_STAGES];
    double end_to_end; /* defect of the model output */
} gm_equiv_report;

/* Runs the model (no gradients, evaluation mode) on x and on L_v x for every
 * generator v of the acting group and reports the defect of every
 * intermediate feature map (measured under the group acting on it: G, or the
 * pooling subgroup after a GMPool, whose generators are used there) and of
 * the output. Baselines without a group: GM_ERR_UNSUPPORTED. */
GM_NODISCARD gm_status gm_model_equivariance(gm_model *m, gm_ctx *ctx, gm_tensor *x,
                                             gm_equiv_report *out);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_NN_H */
