/* The schema of the YAML run config: one row per key, and everything about
 * a key is in its row. From this one list come the field enum, the key
 * lookup (with aliases), the parsing of every plain value, which keys apply
 * to which data source, optimizer, schedule and model kind, what a change of
 * kind keeps, the canonical writer, and the key reference that
 * `gmcnn config keys` prints and docs/config.md holds (gm_config_reference).
 * Only keys whose value is more than a number, a flag, a choice or a string
 * (the block list, the batch files, the data kind, ...) have code of their
 * own, in config_apply.c and config_write.c, next to the generic code.
 *
 * Rows, in the order the canonical YAML writes them:
 *   KEY(FIELD, "path", TYPE, SCOPE, WRITE, "meaning")
 *   ALIAS(FIELD, "path")          another name of FIELD's key
 * TYPE (members name gm_config's members; config.c turns these into columns):
 *   SECTION                       a mapping of the keys under it
 *   I64(member, lo, hi)           an integer in [lo, hi]
 *   U64(member)                   an integer >= 0
 *   REAL(member, lo, lo_open, hi, hi_open)   a finite number in the interval
 *   FLAG(member)                  true | false (also yes/no, on/off)
 *   CHOICE(member, names)         one of names; the member takes its index
 *   CHOICE_OF(member, names, values)   ... the member takes values[index]
 *   STR(slot)                     a string, owned in cfg->str[slot]
 *   PATH(slot)                    ... a data path: relative to the config file's
 *                                 directory; the writer makes it absolute
 *   PAIR(m1, m2, lo, lo_open, hi, hi_open)   [a, b]: two numbers
 *   RANGE(member)                 [begin, end]: two integers, begin < end
 *   OWN("what it takes")          parsed and written by the key's own code
 * SCOPE: ANY, or IN(.sources = ..., .optims = ..., .scheds = ..., .models =
 *   ..., .selector = true): the kinds the key applies to (0 = all). A data
 *   key given for another data.source, or an optimizer or scheduler key
 *   for another kind, is an error; the writer leaves out every key whose
 *   kinds are not the config's. A selector (a "kind" key) is read before
 *   the other keys of its mapping.
 * WRITE: W_ALWAYS, W_NONZERO (only when not false / the first choice / 0),
 *   W_NEVER (resolved into another key), W_OWN (the key's own code). */
#ifndef GMCNN_RUN_CONFIG_SCHEMA_H
#define GMCNN_RUN_CONFIG_SCHEMA_H

#define GM__CFG_NOT_PLUME (GM__SRC_ALL & ~GM__SRC(PLUME))

#define GM__CFG_SCHEMA(KEY, ALIAS)                                                              \
    KEY(F_SEED, "seed", U64(fit.seed), ANY, W_ALWAYS,                                           \
        "seed of every random draw: initialisation, the validation split, shuffling, "         \
        "dropout, augmentation")                                                                \
    KEY(F_MODEL, "model", SECTION, ANY, W_ALWAYS, "the network")                                \
    KEY(F_M_KIND, "model.kind", CHOICE(model.kind, gm__cfg_model_kinds),                        \
        IN(.selector = true), W_ALWAYS,                                                         \
        "gmcnn: the reference GM-CNN classifier; plume: the reference forecaster; deep: "       \
        "GM-CNN with pooling stages (image models on p4:n and p4m:n); cnn, mlp: baselines; "    \
        "ldr: one structured hidden layer (Toeplitz-like, LDR-TD or dense)")                    \
    KEY(F_M_SPEC, "model.spec", STR(GM__S_SPEC), ANY, W_OWN,                                    \
        "the group: C28, D14xD14, p4m:28, S4, table:PATH, ... (`gmcnn group info SPEC`); "      \
        "written back as the spec the model uses")                                              \
    KEY(F_M_GROUP, "model.group", CHOICE_OF(ref_group, gm__cfg_groups, gm__cfg_group_codes),    \
        ANY, W_NEVER,                                                                           \
        "the reference's way to name the group, with model.order n: C<n>xC<n> or D<n>xD<n> "    \
        "(setting it drops a model.spec)")                                                      \
    KEY(F_M_ORDER, "model.order", I64(ref_order, 1, 4096), ANY, W_NEVER,                        \
        "n per axis, with model.group")                                                         \
    KEY(F_M_RADIUS, "model.nbr", I64(model.radius, 0, 64), ANY, W_ALWAYS,                       \
        "t: the kernel support is the (2t+1) x (2t+1) window of offsets (on p4 and p4m "        \
        "times the rotations and reflections)")                                                 \
    ALIAS(F_M_RADIUS, "model.radius")                                                           \
    KEY(F_M_IN, "model.in_channels", I64(model.in_channels, 1, 4096), ANY, W_ALWAYS,            \
        "input channels")                                                                       \
    KEY(F_M_CLASSES, "model.num_classes", I64(model.out_dim, 1, 1 << 20), ANY, W_ALWAYS,        \
        "classes, or the output channels of a regressor")                                       \
    ALIAS(F_M_CLASSES, "model.out_dim")                                                         \
    KEY(F_M_BLOCKS, "model.blocks", OWN("a list of {num_layers, out_channels, pool}"),          \
        IN(.models = GM__MODEL_ALL & ~GM__MODEL(LDR)), W_OWN,                                   \
        "the stages: num_layers convolutions (1..1000, default 1) of out_channels "             \
        "channels each (required); pool (deep, cnn; default false) pools after the stage")      \
    KEY(F_M_DROPOUT, "model.dropout", REAL(model.dropout, 0.0, false, 1.0, true), ANY,          \
        W_ALWAYS, "dropout before the last linear layer")                                       \
    KEY(F_M_FORM, "model.form", CHOICE(model.form, gm__cfg_forms), ANY, W_ALWAYS,               \
        "GMConv weights (deep, plume; gmcnn is shared): full (a kernel per input and output "   \
        "channel) or shared (one per output channel, applied to the sum of the inputs)")        \
    KEY(F_M_LDR, "model.ldr_rank", I64(model.ldr_rank, 0, GM_MODEL_MAX_LDR_RANK), ANY,          \
        W_ALWAYS,                                                                               \
        "GM models: r > 0 adds a learnt displacement of rank r to every GMConv "                \
        "(approximately equivariant); ldr: the displacement rank of the hidden matrix (0 "      \
        "means 1; unstructured takes none)")                                                    \
    KEY(F_M_MOD, "model.modulated", FLAG(model.modulated), ANY, W_ALWAYS,                       \
        "GM models: the reference's modulated layer (a kernel modulated over the group by a "   \
        "learnt position vector) instead of GMConv; excludes ldr_rank")                         \
    KEY(F_M_POOL, "model.pool", CHOICE(model.pool_mode, gm__cfg_pools), ANY, W_ALWAYS,          \
        "deep: GMPool takes the max or the mean over each pooling window")                      \
    KEY(F_M_HIDDEN, "model.hidden", I64(model.hidden, 0, 65536), ANY, W_ALWAYS,                 \
        "plume: channels after the input 1x1 (0: 128); mlp: the hidden width (0: 256)")        \
    KEY(F_M_IMH, "model.image_h", I64(model.image_h, 0, 65536), ANY, W_ALWAYS,                  \
        "cnn, mlp, ldr without a group: the image height (with image_w; 0: from the group)")    \
    KEY(F_M_IMW, "model.image_w", I64(model.image_w, 0, 65536), ANY, W_ALWAYS,                  \
        "the image width, with image_h")                                                        \
    KEY(F_M_REGRESSOR, "model.regressor", FLAG(model.regressor), ANY, W_NONZERO,                \
        "cnn, mlp: predict a (num_classes, H*W) map instead of class scores (plume "            \
        "forecasting)")                                                                         \
    KEY(F_M_NORM, "model.norm", CHOICE(model.norm, gm__cfg_norms), ANY, W_NONZERO,              \
        "deep, cnn: the normalisation after each convolution: default (deep: LayerNorm over "   \
        "(C, |G|); cnn: none) or batch (per channel over the batch and the group, running "     \
        "statistics for evaluation)")                                                           \
    KEY(F_M_MOD_INPLACE, "model.modulated_in_place", FLAG(model.modulated_in_place), ANY,       \
        W_NONZERO,                                                                              \
        "with modulated: the reference's renormalisation of the weights and the position "      \
        "vector in place before each forward, outside differentiation")                         \
    KEY(F_M_CENTER, "model.center", FLAG(model.center), ANY, W_NONZERO,                         \
        "deep on p4:n and p4m:n: a fixed 2x2 mean first, so the model is exactly invariant "    \
        "under quarter turns and flips of the image about its own centre")                      \
    KEY(F_M_STRUCTURE, "model.structure", CHOICE(model.structure, gm__cfg_structures),          \
        IN(.models = GM__MODEL(LDR)), W_ALWAYS,                                                 \
        "ldr: the hidden n x n matrix: toeplitz (Toeplitz-like), tridiag (LDR-TD) or "          \
        "unstructured (dense)")                                                                 \
    KEY(F_DATA, "data", SECTION, ANY, W_ALWAYS, "the data and its split")                       \
    KEY(F_D_SOURCE, "data.source", CHOICE(data.source, gm__cfg_sources),                        \
        IN(.selector = true), W_ALWAYS,                                                         \
        "generated: a set gmcnn makes (data.kind); idx, npy, amat, cifar10, norb: files; "      \
        "plume: forecasting windows of smoke-plume simulations")                                \
    KEY(F_D_BATCH, "data.batch_size", I64(data.batch_size, 1, 1 << 24), ANY, W_ALWAYS,          \
        "samples per training step (global: split across MPI ranks)")                           \
    KEY(F_D_VAL, "data.val_fraction", REAL(data.val_fraction, 0.0, false, 1.0, true),           \
        IN(.sources = GM__CFG_NOT_PLUME), W_OWN,                                                \
        "the share of the training set held out for validation (seeded)")                       \
    KEY(F_D_VALSIZE, "data.val_size", I64(data.val_size, 0, INT64_C(1) << 32),                  \
        IN(.sources = GM__CFG_NOT_PLUME), W_OWN,                                                \
        "instead of val_fraction: exactly this many held out (one of the two in a file; an "    \
        "override replaces the other)")                                                         \
    KEY(F_D_NORM, "data.normalize", FLAG(data.normalize), IN(.sources = GM__CFG_NOT_PLUME),     \
        W_ALWAYS, "standardise each channel by the training set's mean and deviation")          \
    KEY(F_D_IMAGES, "data.images", PATH(GM__S_IMAGES),                                           \
        IN(.sources = GM__SRC(IDX) | GM__SRC(NPY)), W_ALWAYS,                                   \
        "the training images (required)")                                                       \
    KEY(F_D_LABELS, "data.labels", PATH(GM__S_LABELS),                                           \
        IN(.sources = GM__SRC(IDX) | GM__SRC(NPY)), W_ALWAYS,                                   \
        "the training labels (required)")                                                       \
    KEY(F_D_TEST_IMAGES, "data.test_images", PATH(GM__S_TEST_IMAGES),                            \
        IN(.sources = GM__SRC(IDX) | GM__SRC(NPY)), W_ALWAYS,                                   \
        "the test images (with test_labels)")                                                   \
    KEY(F_D_TEST_LABELS, "data.test_labels", PATH(GM__S_TEST_LABELS),                            \
        IN(.sources = GM__SRC(IDX) | GM__SRC(NPY)), W_ALWAYS, "the test labels")                \
    KEY(F_D_TRAIN, "data.train", OWN("a path (amat) or a list of batch files (cifar10)"),       \
        IN(.sources = GM__SRC(AMAT) | GM__SRC(CIFAR10)), W_OWN,                                 \
        "the training set (required)")                                                          \
    KEY(F_D_TEST, "data.test", PATH(GM__S_TEST_IMAGES),                                          \
        IN(.sources = GM__SRC(AMAT) | GM__SRC(CIFAR10)), W_ALWAYS, "the test set")              \
    KEY(F_D_TRAIN_DAT, "data.train_dat", PATH(GM__S_IMAGES), IN(.sources = GM__SRC(NORB)),       \
        W_ALWAYS, "the training images (required)")                                             \
    KEY(F_D_TRAIN_CAT, "data.train_cat", PATH(GM__S_LABELS), IN(.sources = GM__SRC(NORB)),       \
        W_ALWAYS, "the training categories (required)")                                         \
    KEY(F_D_TEST_DAT, "data.test_dat", PATH(GM__S_TEST_IMAGES), IN(.sources = GM__SRC(NORB)),    \
        W_ALWAYS, "the test images (with test_cat)")                                            \
    KEY(F_D_TEST_CAT, "data.test_cat", PATH(GM__S_TEST_LABELS), IN(.sources = GM__SRC(NORB)),    \
        W_ALWAYS, "the test categories")                                                        \
    KEY(F_D_GEN_KIND, "data.kind",                                                              \
        OWN("digits | rotated | back-random | back-image | rot-back-image | rectangles, or "    \
            "noise (= back-random), background-random, background-image, rotated-background "   \
            "(= rot-back-image), fashion (= digits of Fashion-MNIST), fashion-rotated"),        \
        IN(.sources = GM__SRC(GENERATED)), W_OWN,                                               \
        "the generated set (required)")                                                         \
    KEY(F_D_GEN_DIGITS, "data.digits", OWN("mnist | fashion"),                                  \
        IN(.sources = GM__SRC(GENERATED)), W_OWN,                                               \
        "the source images: the 10k real MNIST digits or Fashion-MNIST")                        \
    KEY(F_D_GEN_SEED, "data.seed", U64(data.gen_seed), IN(.sources = GM__SRC(GENERATED)),       \
        W_ALWAYS, "the generator's seed")                                                       \
    KEY(F_D_GEN_NTRAIN, "data.num_train", I64(data.gen_num_train, 1, INT64_C(1) << 32),         \
        IN(.sources = GM__SRC(GENERATED)), W_ALWAYS,                                            \
        "training images, validation included (digit kinds: drawn from the source images)")    \
    KEY(F_D_GEN_NTEST, "data.num_test", I64(data.gen_num_test, 0, INT64_C(1) << 32),            \
        IN(.sources = GM__SRC(GENERATED)), W_ALWAYS, "test images")                             \
    KEY(F_D_GEN_PATH, "data.path", PATH(GM__S_GEN_PATH),                                         \
        IN(.sources = GM__SRC(GENERATED) | GM__SRC(PLUME)), W_ALWAYS,                           \
        "generated: the source images' directory (\"\": the data root); plume: the dataset "    \
        "directory with manifest.json (required)")                                              \
    KEY(F_D_SPLIT, "data.split", CHOICE(data.gen_official, gm__cfg_splits),                     \
        IN(.sources = GM__SRC(GENERATED)), W_ALWAYS,                                            \
        "pooled: num_train + num_test drawn from the source's training images; official "       \
        "(Fashion-MNIST only): the first num_train training and num_test test images")          \
    KEY(F_D_MAXANGLE, "data.max_angle", REAL(data.gen_max_angle, 0.0, true, 180.0, false),      \
        IN(.sources = GM__SRC(GENERATED)), W_NONZERO,                                           \
        "rotated kinds: angles uniform in [-max_angle, max_angle] degrees (0: a full turn)")    \
    KEY(F_D_IN_FRAMES, "data.input_frames", I64(data.forecast.input_frames, 1, 4096),           \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS,                                                \
        "F: frames the model reads (2F channels: in_channels must be 2F)")                      \
    KEY(F_D_IN_OFFSET, "data.input_offset",                                                     \
        I64(data.forecast.input_offset, 0, INT64_C(1) << 31), IN(.sources = GM__SRC(PLUME)),    \
        W_ALWAYS, "window s reads frames s + offset .. s + offset + F - 1")                     \
    KEY(F_D_ROLLOUT, "data.rollout_steps", I64(data.forecast.rollout_steps, 1, 100000),         \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS, "rollout of training and validation")          \
    KEY(F_D_EVAL_STEPS, "data.eval_steps", I64(data.forecast.eval_steps, 1, 100000),            \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS, "rollout of the future and domain tests")      \
    KEY(F_D_TRAIN_RANGE, "data.train_range", RANGE(data.forecast.train),                        \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS,                                                \
        "training windows s, begin <= s < end, of the training simulations")                    \
    KEY(F_D_VAL_RANGE, "data.val_range", RANGE(data.forecast.val),                              \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS, "validation windows")                          \
    KEY(F_D_FUTURE_RANGE, "data.future_range", RANGE(data.forecast.future),                     \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS,                                                \
        "future test: later windows of the training simulations")                               \
    KEY(F_D_DOMAIN_RANGE, "data.domain_range", RANGE(data.forecast.domain),                     \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS,                                                \
        "domain test: windows of the held-out simulations")                                     \
    KEY(F_D_TRAIN_STRIDE, "data.train_stride", I64(data.forecast.train_stride, 1, 1000000),     \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS,                                                \
        "every k-th training window (a smaller budget)")                                        \
    KEY(F_D_EVAL_STRIDE, "data.eval_stride", I64(data.forecast.eval_stride, 1, 1000000),        \
        IN(.sources = GM__SRC(PLUME)), W_ALWAYS,                                                \
        "every k-th validation, future and domain window")                                      \
    KEY(F_TRAINER, "trainer", SECTION, ANY, W_ALWAYS, "the training loop")                      \
    KEY(F_T_EPOCHS, "trainer.max_epochs", I64(fit.epochs, 1, 1000000), ANY, W_ALWAYS,           \
        "epochs")                                                                               \
    ALIAS(F_T_EPOCHS, "trainer.epochs")                                                         \
    KEY(F_T_SMOOTH, "trainer.label_smoothing", REAL(fit.label_smoothing, 0.0, false, 1.0, true), \
        IN(.sources = GM__CFG_NOT_PLUME), W_ALWAYS,                                             \
        "training cross-entropy against (1 - eps) one-hot + eps / classes (validation and "     \
        "test losses stay plain)")                                                              \
    KEY(F_T_SELECT, "trainer.select", CHOICE(fit.select, gm__cfg_selects),                      \
        IN(.sources = GM__CFG_NOT_PLUME), W_ALWAYS,                                             \
        "the epoch kept as best: lowest validation loss, or highest validation accuracy "       \
        "(ties to the lower loss); the schedule and early stopping watch the loss")             \
    KEY(F_OPTIM, "optimizer", SECTION, ANY, W_ALWAYS, "the optimizer")                          \
    KEY(F_O_KIND, "optimizer.kind", CHOICE(fit.optim.kind, gm__cfg_optims),                     \
        IN(.selector = true), W_ALWAYS,                                                         \
        "as PyTorch's SGD, Adam, AdamW; a kind's defaults are PyTorch's, and the values given " \
        "for the keys it shares with another kind are kept")                                    \
    KEY(F_O_LR, "optimizer.lr", REAL(fit.optim.lr, 0.0, false, INFINITY, false), ANY,          \
        W_ALWAYS, "learning rate (the schedule's peak)")                                        \
    KEY(F_O_WD, "optimizer.weight_decay", REAL(fit.optim.weight_decay, 0.0, false, INFINITY,    \
        false), ANY, W_ALWAYS, "weight decay (adamw: decoupled)")                               \
    KEY(F_O_MOM, "optimizer.momentum", REAL(fit.optim.momentum, 0.0, false, INFINITY, false),   \
        IN(.optims = GM__OPTIM(SGD)), W_ALWAYS, "momentum")                                     \
    KEY(F_O_DAMP, "optimizer.dampening", REAL(fit.optim.dampening, -INFINITY, false,            \
        INFINITY, false), IN(.optims = GM__OPTIM(SGD)), W_ALWAYS, "momentum dampening")         \
    KEY(F_O_NEST, "optimizer.nesterov", FLAG(fit.optim.nesterov),                               \
        IN(.optims = GM__OPTIM(SGD)), W_ALWAYS, "Nesterov momentum (needs momentum > 0)")       \
    KEY(F_O_BETAS, "optimizer.betas", PAIR(fit.optim.beta1, fit.optim.beta2, 0.0, false, 1.0,   \
        true), IN(.optims = GM__OPTIM(ADAM) | GM__OPTIM(ADAMW)), W_ALWAYS,                      \
        "[beta1, beta2]: decay of the moment estimates")                                        \
    KEY(F_O_EPS, "optimizer.eps", REAL(fit.optim.eps, 0.0, true, INFINITY, false),              \
        IN(.optims = GM__OPTIM(ADAM) | GM__OPTIM(ADAMW)), W_ALWAYS,                             \
        "added to the root of the second moment")                                               \
    KEY(F_O_CLIP, "optimizer.clip_norm", REAL(fit.clip_norm, 0.0, false, INFINITY, false),     \
        ANY, W_ALWAYS, "clip the gradient's global norm to this (0: off)")                      \
    KEY(F_O_DECAY, "optimizer.decay", CHOICE(fit.optim.decay, gm__cfg_decays), ANY, W_ALWAYS,   \
        "all: weight decay on every parameter; weights: not on parameters of fewer than two "   \
        "dimensions (biases, PReLU slopes, norm scales and shifts)")                            \
    KEY(F_SCHED, "scheduler", SECTION, ANY, W_ALWAYS,                                           \
        "the learning-rate schedule, stepped once an epoch")                                    \
    KEY(F_S_KIND, "scheduler.kind", CHOICE(fit.sched.kind, gm__cfg_scheds),                     \
        IN(.selector = true), W_ALWAYS,                                                         \
        "as PyTorch's ConstantLR (a constant rate), StepLR, CosineAnnealingLR, "                \
        "ReduceLROnPlateau; the values given for the keys kinds share are kept")                \
    KEY(F_S_WARMUP, "scheduler.warmup_epochs", I64(fit.sched.warmup_epochs, 0, 1000000),        \
        IN(.scheds = GM__SCHED(CONSTANT) | GM__SCHED(COSINE)), W_ALWAYS,                        \
        "a linear warm-up from about 0 to lr over this many epochs, the rate then set every "   \
        "step")                                                                                 \
    KEY(F_S_STEP, "scheduler.step_size", I64(fit.sched.step_size, 1, 1000000),                  \
        IN(.scheds = GM__SCHED(STEP)), W_ALWAYS, "epochs between decays")                       \
    KEY(F_S_GAMMA, "scheduler.gamma", REAL(fit.sched.gamma, 0.0, false, INFINITY, false),       \
        IN(.scheds = GM__SCHED(STEP)), W_ALWAYS, "the factor of each decay")                    \
    KEY(F_S_TMAX, "scheduler.t_max", I64(fit.sched.t_max, 1, 1000000),                          \
        IN(.scheds = GM__SCHED(COSINE)), W_ALWAYS,                                              \
        "epochs from lr down to eta_min (not given: trainer.max_epochs)")                       \
    KEY(F_S_ETAMIN, "scheduler.eta_min", REAL(fit.sched.eta_min, 0.0, false, INFINITY, false),  \
        IN(.scheds = GM__SCHED(COSINE)), W_ALWAYS, "the last rate")                             \
    KEY(F_S_MODE, "scheduler.mode", CHOICE(fit.sched.mode, gm__cfg_modes),                      \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS,                                             \
        "whether the watched validation loss should fall or rise")                              \
    KEY(F_S_FACTOR, "scheduler.factor", REAL(fit.sched.factor, 0.0, false, 1.0, true),          \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS, "the factor of each decay")                 \
    KEY(F_S_PATIENCE, "scheduler.patience", I64(fit.sched.patience, 0, 1000000),                \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS,                                             \
        "epochs without improvement before a decay")                                            \
    KEY(F_S_THRESH, "scheduler.threshold", REAL(fit.sched.threshold, 0.0, false, INFINITY,      \
        false), IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS, "what counts as an improvement")    \
    KEY(F_S_THMODE, "scheduler.threshold_mode",                                                 \
        CHOICE(fit.sched.threshold_mode, gm__cfg_threshold_modes),                              \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS, "threshold relative or absolute")           \
    KEY(F_S_COOLDOWN, "scheduler.cooldown", I64(fit.sched.cooldown, 0, 1000000),                \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS, "epochs to wait after a decay")             \
    KEY(F_S_MINLR, "scheduler.min_lr", REAL(fit.sched.min_lr, 0.0, false, INFINITY, false),     \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS, "the rate never falls below this")          \
    KEY(F_S_EPS, "scheduler.eps", REAL(fit.sched.eps, 0.0, false, INFINITY, false),             \
        IN(.scheds = GM__SCHED(PLATEAU)), W_ALWAYS, "decays smaller than this are skipped")     \
    KEY(F_EARLY, "early_stopping", SECTION, ANY, W_ALWAYS, "stopping when validation stalls")   \
    KEY(F_E_PATIENCE, "early_stopping.patience", I64(fit.early_stop_patience, 0, 1000000),      \
        ANY, W_ALWAYS, "epochs without a lower validation loss before stopping (0: off)")       \
    KEY(F_OUTPUT, "output", SECTION, ANY, W_ALWAYS, "where the run's files go")                 \
    KEY(F_OUT_DIR, "output.dir", STR(GM__S_OUTDIR), ANY, W_ALWAYS,                              \
        "the run directory: config, checkpoints, metrics, results.json")                        \
    KEY(F_AUGMENT, "augment", SECTION, IN(.sources = GM__CFG_NOT_PLUME), W_ALWAYS,              \
        "random transforms of training batches, drawn from (seed, epoch)")                      \
    KEY(F_A_ROTATE, "augment.rotate", CHOICE(fit.augment.rotate, gm__cfg_rotates),              \
        IN(.sources = GM__CFG_NOT_PLUME), W_ALWAYS,                                             \
        "none; any: by a uniform angle (bilinear); 90: by 0 to 3 quarter turns (square "        \
        "images)")                                                                              \
    KEY(F_A_MAXANGLE, "augment.max_angle", REAL(fit.augment.max_angle, 0.0, true, 180.0,        \
        false), IN(.sources = GM__CFG_NOT_PLUME), W_NONZERO,                                    \
        "with rotate any: angles in [-max_angle, max_angle] degrees (0: a full turn; an "       \
        "override of rotate to none or 90 drops it)")                                           \
    KEY(F_A_FLIP, "augment.flip", CHOICE(fit.augment.flip, gm__cfg_flips),                      \
        IN(.sources = GM__CFG_NOT_PLUME), W_ALWAYS,                                             \
        "mirror images, each mirror with probability 1/2")                                      \
    KEY(F_A_TRANSLATE, "augment.translate", I64(fit.augment.translate, 0, 65536),               \
        IN(.sources = GM__CFG_NOT_PLUME), W_ALWAYS,                                             \
        "shift by up to this many pixels per axis, zero fill")

#endif
