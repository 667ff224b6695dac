"""gmcnn.torch against the library: for every model kind, a tiny model
trained by gmcnn is read by gmcnn.torch.from_file and must give gmcnn's
outputs (evaluation and training mode) and gradients; one SGD step in
PyTorch, gmcnn.torch.save, and the library's model of the new file must
give the module's outputs (C -> Python -> PyTorch -> gmcnn file -> C).

Run by ctest (python_package) with GMCNN_LIBRARY set to the built library;
skipped when PyTorch is not installed. The worst relative errors per kind
are printed at the end (verbose runs also print one line per kind)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import gmcnn
from support import shapes, write_shapes_set

try:
    import torch
    import gmcnn.torch as gt
except ImportError as e:  # pragma: no cover - depends on the machine
    torch = None
    SKIP = f"PyTorch is not installed ({e})"
else:
    SKIP = None

try:
    import onnx
except ImportError:
    onnx = None

TOL = 1e-5       # outputs, relative to the largest output
GRAD_TOL = 1e-4  # gradients, relative to the largest entry of each
RESULTS = {}


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes {a.shape} and {b.shape}")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def grad_errs(params, grads, training=False):
    """Worst relative error of each parameter's gradient against the
    library's, relative to its largest entry, or to 1e-3 of the largest
    entry of all where that is more. In training mode batch norm cancels the
    gradient of the bias of the convolution before it: there both sides'
    gradients, rounding noise, must be small against the largest of all."""
    scale = max(float(np.abs(g).max()) for g in grads.values())
    out = {}
    for name, g in grads.items():
        a = params[name].grad.numpy().astype(np.float64)
        if training and name.endswith("conv.bias") and \
                name[:-len("conv.bias")] + "norm.weight" in grads:
            out[name] = float(max(np.abs(a).max(), np.abs(g).max()) / scale)
        else:
            out[name] = float(np.abs(a - g).max() / max(np.abs(g).max(), 1e-3 * scale, 1e-30))
    return out


def fmt(e):
    return "   -   " if e is None else f"{e:.1e}"


def plume_field(sim, t):
    """(2, 8, 8) smooth velocity field of simulation sim at frame t."""
    a, b = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    ph = 0.3 * t + sim
    return np.stack([np.sin(2 * np.pi * (a + ph) / 8) * np.cos(2 * np.pi * b / 8),
                     np.cos(2 * np.pi * (b - ph) / 8) * (0.5 + 0.1 * sim)]).astype(np.float32)


class Env:
    dir = None

    @classmethod
    def setup(cls):
        if cls.dir is None:
            cls.dir = tempfile.mkdtemp(prefix="gmcnn-torch-")
            write_shapes_set(cls.dir, 90, 30)
            plume = os.path.join(cls.dir, "plume")
            os.mkdir(plume)
            sims = []
            for k in range(3):
                frames = np.stack([plume_field(k, t) for t in range(40)])
                np.save(os.path.join(plume, f"sim_{k:03d}.npy"), frames)
                sims.append({"file": f"sim_{k:03d}.npy", "label": f"k={k}", "held_out": k == 2})
            with open(os.path.join(plume, "manifest.json"), "w") as f:
                json.dump({"format": "gmcnn-plume", "version": 1, "recipe": "test",
                           "steps": 40, "frames": 40, "height": 8, "width": 8, "sims": sims}, f)
        return cls.dir


def classifier_config(name, model):
    d = Env.setup()
    model = dict({"nbr": 1, "num_classes": 3}, **model)
    return {
        "seed": 3, "model": model,
        "data": {"source": "idx", "images": f"{d}/train-images.idx",
                 "labels": f"{d}/train-labels.idx", "batch_size": 16, "normalize": True},
        "trainer": {"max_epochs": 2}, "optimizer": {"lr": 0.01},
        "output": {"dir": os.path.join(d, name)},
    }


def plume_config(name, model):
    d = Env.setup()
    model = dict({"nbr": 1, "in_channels": 4, "out_dim": 2}, **model)
    return {
        "seed": 3, "model": model,
        "data": {"source": "plume", "path": f"{d}/plume", "batch_size": 8, "input_frames": 2,
                 "input_offset": 1, "rollout_steps": 3, "eval_steps": 5,
                 "train_range": [0, 20], "val_range": [20, 26], "future_range": [26, 30],
                 "domain_range": [0, 10], "train_stride": 2},
        "trainer": {"max_epochs": 2}, "optimizer": {"lr": 0.003},
        "output": {"dir": os.path.join(d, name)},
    }


def tearDownModule():
    if RESULTS:
        lines = ["", "gmcnn.torch parity (worst relative errors; round trip: "
                 "C -> torch -> file -> C):"]
        for kind, r in RESULTS.items():
            lines.append(f"  {kind:24s} eval {r['eval']:.1e}  train {fmt(r.get('train'))}  "
                         f"grad {r['grad']:.1e}  round trip {r['round_trip']:.1e}")
        print("\n".join(lines), file=sys.stderr)
    if Env.dir:
        shutil.rmtree(Env.dir, ignore_errors=True)


@unittest.skipIf(SKIP, SKIP)
class Parity(unittest.TestCase):
    """One test per model kind and variant."""

    def check_cli(self, label, net, saved):
        """`gmcnn eval` reads the saved file: a classifier's test accuracy is
        the module's, a forecaster keeps its window protocol."""
        cli = os.environ.get("GMCNN_CLI")
        if not cli:
            return
        d = Env.setup()
        if net.classifier:
            args = ["--images", f"{d}/test-images.idx", "--labels", f"{d}/test-labels.idx"]
        else:
            args = ["--data", f"{d}/plume"]
        out = subprocess.run([cli, "eval", saved] + args, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        if net.classifier:
            x, y = shapes(30, 2)
            with torch.no_grad():
                pred = net(net.standardize(x.astype(np.float32) / 255)).argmax(1).numpy()
            acc = float(out.stdout.split("accuracy ")[1].split("%")[0])
            self.assertAlmostEqual(acc, 100.0 * np.mean(pred == y), places=2)
        else:
            self.assertIn("windows [26, 30) x 5 steps", out.stdout)

    def check_kind(self, label, cfg, train_mode=True, cli=False):
        d = Env.setup()
        result = gmcnn.train(cfg)
        path = os.path.join(result["output_dir"], "best.safetensors")
        net = gt.from_file(path)
        self.assertFalse(net.training)
        ref = gmcnn.load(path)
        rng = np.random.default_rng(11)
        if net.classifier:
            raw, labels = shapes(12, 7)
            raw = raw.astype(np.float32) / 255
            x = net.standardize(torch.from_numpy(raw))
            self.assertIsNotNone(net.norm_mean)
        else:
            raw = np.stack([np.concatenate([plume_field(i % 2, 3 + i), plume_field(i % 2, 4 + i)])
                            for i in range(6)])
            x = torch.from_numpy(raw)
        x3 = x.reshape(x.shape[0], net.in_channels, -1).numpy()
        r = {}

        # evaluation mode: gmcnn.load(...).predict for classifiers, the
        # library's forward for regressors
        with torch.no_grad():
            out = net(x).numpy()
        if net.classifier:
            lib_out = ref.predict(x.numpy(), normalize=False)
            # predict standardises raw inputs itself; standardize does the same
            self.assertLess(rel_err(out, ref.predict(raw)), TOL)
        else:
            lib_out = gt.library_forward(path, x3)["out"].reshape(out.shape)
        r["eval"] = rel_err(out, lib_out)
        self.assertLess(r["eval"], TOL, label)

        # gradients of mean((out - target)^2), evaluation mode
        target = rng.standard_normal(out.shape).astype(np.float32)
        lib_run = gt.library_forward(path, x3, target=target)
        lib_grads = lib_run["grads"]
        self.assertLess(rel_err(out, lib_run["out"].reshape(out.shape)), TOL, label)
        net.zero_grad()
        y = net(x)
        torch.mean((y - torch.from_numpy(target)) ** 2).backward()
        params = dict(net.named_parameters())
        self.assertEqual(sorted(params), sorted(lib_grads), label)
        r["grad"] = max(grad_errs(params, lib_grads).values())
        self.assertLess(r["grad"], GRAD_TOL, label)

        # training mode: batch statistics (without dropout, whose masks
        # come from different generators)
        if train_mode and net.dropout_p == 0:
            net.train()
            with torch.no_grad():
                out_t = net(x).numpy()
            lib_run = gt.library_forward(path, x3, training=True)
            r["train"] = rel_err(out_t, lib_run["out"].reshape(out_t.shape))
            # and the running statistics moved alike
            state = net.state_dict()
            for name, value in lib_run["state"].items():
                r["train"] = max(r["train"], rel_err(state[name].numpy(), value))
            self.assertLess(r["train"], TOL, label)

        # one SGD step in PyTorch, then the way back
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.0)
        opt.zero_grad()
        y = net(x)
        if net.classifier:
            loss = torch.nn.functional.cross_entropy(y, torch.from_numpy(labels.astype(np.int64)))
        else:
            loss = torch.mean((y - torch.from_numpy(target)) ** 2)
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            out2 = net(x).numpy()
        self.assertGreater(rel_err(out2, out), 1e-6, f"{label}: the step changed nothing")
        saved = os.path.join(d, label + "-torch.safetensors")
        gt.save(net, saved)
        if net.classifier:
            back = gmcnn.load(saved).predict(x.numpy(), normalize=False)
        else:
            back = gt.library_forward(saved, x3)["out"].reshape(out2.shape)
        r["round_trip"] = rel_err(out2, back)
        self.assertLess(r["round_trip"], TOL, label)

        # the same names, shapes, dtype and metadata as the source file
        src_t, src_m = gt.read_safetensors(path)
        new_t, new_m = gt.read_safetensors(saved)
        self.assertEqual([n for n in src_t if not n.startswith("optim.")], list(new_t))
        for n, a in new_t.items():
            self.assertEqual(a.shape, src_t[n].shape, n)
            self.assertEqual(a.dtype, np.dtype("<f4"), n)
        for k in ("gmcnn.model", "gmcnn.normalize.mean", "gmcnn.normalize.std",
                  "gmcnn.forecast"):
            self.assertEqual(new_m.get(k), src_m.get(k), k)
        if cli:
            self.check_cli(label, net, saved)
        # and from_file of the saved file is the trained module again
        again = gt.from_file(saved)
        with torch.no_grad():
            self.assertLess(rel_err(again(x).numpy(), out2), TOL)

        RESULTS[label] = r
        print(f"\n  {label}: eval {r['eval']:.1e}, train {fmt(r.get('train'))}, "
              f"grad {r['grad']:.1e}, round trip {r['round_trip']:.1e}", end=" ")
        return net

    # --- the reference GM-CNN classifier --------------------------------------------
    def test_gmcnn_shared(self):
        self.check_kind("gmcnn-shared", classifier_config("gmcnn-shared", {
            "kind": "gmcnn", "spec": "D4xD4", "form": "shared", "dropout": 0.2,
            "blocks": [{"num_layers": 1, "out_channels": 4},
                       {"num_layers": 2, "out_channels": 6}]}), cli=True)

    def test_gmcnn_full_form_ldr(self):
        # kind gmcnn convolves in the shared form whatever model.form says,
        # as gm_model_new does; with an LDR rank of 1
        self.check_kind("gmcnn-full-ldr1", classifier_config("gmcnn-full", {
            "kind": "gmcnn", "spec": "C8xC8", "form": "full", "ldr_rank": 1,
            "blocks": [{"num_layers": 1, "out_channels": 5}]}))

    # --- the deeper GM-CNN ----------------------------------------------------------
    def test_deep_p4m_center_batchnorm(self):
        self.check_kind("deep-p4m-center-bn", classifier_config("deep-p4m", {
            "kind": "deep", "spec": "p4m:8", "norm": "batch", "center": True,
            "blocks": [{"num_layers": 1, "out_channels": 4, "pool": True},
                       {"num_layers": 1, "out_channels": 6}]}))

    def test_deep_p4_shared_layernorm(self):
        self.check_kind("deep-p4-shared", classifier_config("deep-p4", {
            "kind": "deep", "spec": "p4:8", "form": "shared", "pool": "mean",
            "blocks": [{"num_layers": 2, "out_channels": 3, "pool": True}]}))

    def test_deep_cn_full_pooled(self):
        self.check_kind("deep-C8xC8-full", classifier_config("deep-cn", {
            "kind": "deep", "spec": "C8xC8", "form": "full", "dropout": 0.1,
            "blocks": [{"num_layers": 2, "out_channels": 4, "pool": True},
                       {"num_layers": 1, "out_channels": 6, "pool": True},
                       {"num_layers": 1, "out_channels": 6}]}))

    def test_deep_dn_mean_pool_batchnorm(self):
        self.check_kind("deep-D4xD4-bn-mean", classifier_config("deep-dn", {
            "kind": "deep", "spec": "D4xD4", "form": "full", "norm": "batch", "pool": "mean",
            "blocks": [{"num_layers": 1, "out_channels": 4, "pool": True},
                       {"num_layers": 1, "out_channels": 5}]}))

    # --- baselines --------------------------------------------------------------------
    def test_cnn_classifier(self):
        self.check_kind("cnn-bn", classifier_config("cnn", {
            "kind": "cnn", "image_h": 8, "image_w": 8, "norm": "batch",
            "blocks": [{"num_layers": 1, "out_channels": 4, "pool": True},
                       {"num_layers": 2, "out_channels": 6}]}))

    def test_mlp_classifier(self):
        self.check_kind("mlp", classifier_config("mlp", {
            "kind": "mlp", "image_h": 8, "image_w": 8, "hidden": 12, "dropout": 0.1,
            "blocks": [{"num_layers": 2, "out_channels": 10}]}))

    def test_ldr_toeplitz(self):
        self.check_kind("ldr-toeplitz-r2", classifier_config("ldr-t", {
            "kind": "ldr", "image_h": 8, "image_w": 8, "structure": "toeplitz",
            "ldr_rank": 2}))

    def test_ldr_tridiag(self):
        self.check_kind("ldr-tridiag", classifier_config("ldr-td", {
            "kind": "ldr", "image_h": 8, "image_w": 8, "structure": "tridiag"}))

    def test_ldr_unstructured(self):
        self.check_kind("ldr-unstructured", classifier_config("ldr-u", {
            "kind": "ldr", "image_h": 8, "image_w": 8, "structure": "unstructured",
            "dropout": 0.2}))

    # --- regressors -------------------------------------------------------------------
    def test_plume_exact(self):
        self.check_kind("plume-exact", plume_config("plume-exact", {
            "kind": "plume", "spec": "C8xC8", "form": "full", "hidden": 4,
            "blocks": [{"num_layers": 1, "out_channels": 4},
                       {"num_layers": 2, "out_channels": 4}]}), cli=True)

    def test_plume_ldr(self):
        self.check_kind("plume-ldr2", plume_config("plume-ldr", {
            "kind": "plume", "spec": "D4xD4", "form": "shared", "ldr_rank": 2,
            "blocks": [{"num_layers": 1, "out_channels": 5}]}))

    def test_plume_modulated(self):
        self.check_kind("plume-modulated", plume_config("plume-mod", {
            "kind": "plume", "spec": "C8xC8", "form": "full", "modulated": True,
            "blocks": [{"num_layers": 1, "out_channels": 4},
                       {"num_layers": 1, "out_channels": 4}]}))

    def test_plume_modulated_in_place(self):
        self.check_kind("plume-modulated-in-place", plume_config("plume-mod-ip", {
            "kind": "plume", "spec": "C8xC8", "form": "shared", "modulated": True,
            "modulated_in_place": True,
            "blocks": [{"num_layers": 1, "out_channels": 4}]}))

    def test_cnn_regressor(self):
        self.check_kind("cnn-regressor", plume_config("cnn-reg", {
            "kind": "cnn", "spec": "C8xC8", "regressor": True, "dropout": 0.1,
            "blocks": [{"num_layers": 1, "out_channels": 4},
                       {"num_layers": 1, "out_channels": 4}]}))

    def test_mlp_regressor(self):
        self.check_kind("mlp-regressor", plume_config("mlp-reg", {
            "kind": "mlp", "spec": "C8xC8", "regressor": True, "hidden": 16}))


# Descriptions no test above trains: groups without reference supports (the
# word ball), pooling twice, radius 2, one-axis and mixed products, LDR in the
# deep model, rectangles, the MLP's default width, several input channels.
DESCRIPTIONS = {
    "gmcnn-S4-ball": {"kind": "gmcnn", "group": "S4", "radius": 1, "in_channels": 2,
                      "out_dim": 3, "blocks": [{"layers": 1, "channels": 3}]},
    "gmcnn-p4m:4-unlifted": {"kind": "gmcnn", "group": "p4m:4", "radius": 1, "in_channels": 1,
                             "out_dim": 2, "blocks": [{"layers": 1, "channels": 3}]},
    "deep-p4m:8-two-pools": {"kind": "gmcnn_deep", "group": "p4m:8", "radius": 1,
                             "in_channels": 2, "out_dim": 3, "form": "full", "center": True,
                             "norm": "batch",
                             "blocks": [{"layers": 1, "channels": 3, "pool": True},
                                        {"layers": 1, "channels": 4, "pool": True},
                                        {"layers": 1, "channels": 4}]},
    "deep-D6-radius2-mean": {"kind": "gmcnn_deep", "group": "D6", "radius": 2, "in_channels": 1,
                             "out_dim": 2, "form": "full", "pool_mode": "mean",
                             "blocks": [{"layers": 1, "channels": 3, "pool": True},
                                        {"layers": 2, "channels": 3}]},
    "deep-C4xD4-ldr2": {"kind": "gmcnn_deep", "group": "C4xD4", "radius": 1, "in_channels": 1,
                        "out_dim": 2, "form": "shared", "ldr_rank": 2,
                        "blocks": [{"layers": 1, "channels": 3, "pool": True},
                                   {"layers": 1, "channels": 4}]},
    "plume-D4xD4-modulated-shared": {"kind": "plume", "group": "D4xD4", "radius": 1,
                                     "in_channels": 3, "out_dim": 2, "form": "shared",
                                     "modulated": True, "hidden": 5,
                                     "blocks": [{"layers": 2, "channels": 0}]},
    "cnn-4x6": {"kind": "cnn", "image_h": 4, "image_w": 6, "in_channels": 2, "out_dim": 3,
                "norm": "batch", "blocks": [{"layers": 1, "channels": 3, "pool": True},
                                            {"layers": 1, "channels": 3}]},
    "mlp-C12-default-width": {"kind": "mlp", "group": "C12", "in_channels": 1, "out_dim": 2},
    "ldr-tridiag-r2-3x4x2": {"kind": "ldr", "image_h": 3, "image_w": 4, "in_channels": 2,
                             "out_dim": 3, "structure": "tridiag", "ldr_rank": 2},
}


@unittest.skipIf(SKIP, SKIP)
class Descriptions(unittest.TestCase):
    """Modules built from descriptions with random parameters, saved, read by
    the library: outputs and gradients agree, in both modes."""

    def test_untrained_descriptions(self):
        d = Env.setup()
        g = torch.Generator().manual_seed(5)
        worst = {}
        for label, desc in DESCRIPTIONS.items():
            with self.subTest(label):
                net = gt.build(json.dumps(desc))
                with torch.no_grad():
                    for name, p in net.named_parameters():
                        u = torch.rand(p.shape, generator=g) * 2 - 1
                        if name.endswith("layer.a") or name.endswith("layer.b"):
                            p.copy_(0.3 * u)  # keeps the Krylov powers bounded
                        else:
                            p.copy_(u / max(p[0].numel(), 1) ** 0.5)
                    for name, b in net.named_buffers():
                        if name.endswith("running_var"):
                            b.copy_(0.5 + torch.rand(b.shape, generator=g))
                        elif name.endswith("running_mean"):
                            b.copy_(torch.rand(b.shape, generator=g) - 0.5)
                path = os.path.join(d, label + ".safetensors")
                gt.save(net, path)
                net = gt.from_file(path)
                x = torch.randn(3, net.in_channels, net.input_size, generator=g)
                target = torch.randn(net(x).shape, generator=g)
                old = gt.GMConv.GATHER_LIMIT
                if label.startswith("deep-p4m"):
                    gt.GMConv.GATHER_LIMIT = 0  # the full form's loop over the support
                try:
                    for training in (False, True):
                        net.train(training)
                        net.zero_grad()
                        y = net(x)
                        torch.mean((y - target) ** 2).backward()
                        ref = gt.library_forward(path, x.numpy(), training=training,
                                                 target=target.numpy())
                        e = rel_err(y.detach().numpy(), ref["out"].reshape(y.shape))
                        self.assertLess(e, TOL)
                        worst[label] = max(worst.get(label, 0.0), e)
                        params = dict(net.named_parameters())
                        self.assertEqual(sorted(params), sorted(ref["grads"]))
                        for name, e in grad_errs(params, ref["grads"], training).items():
                            self.assertLess(e, GRAD_TOL, name)
                            worst[label] = max(worst.get(label, 0.0), e)
                finally:
                    gt.GMConv.GATHER_LIMIT = old
        print("\n  worst relative error (outputs, gradients; both modes): " +
              ", ".join(f"{k} {v:.1e}" for k, v in worst.items()), end=" ")


@unittest.skipIf(SKIP, SKIP)
class Files(unittest.TestCase):
    def test_unknown_kind_is_not_implemented(self):
        with self.assertRaises(NotImplementedError):
            gt.build('{"kind": "transformer", "in_channels": 1, "out_dim": 2}')

    def test_a_checkpoint_reads_without_its_optimizer_state(self):
        r = gmcnn.train(classifier_config("ckpt", {
            "kind": "gmcnn", "spec": "C8xC8", "blocks": [{"num_layers": 1, "out_channels": 3}]}))
        last = os.path.join(r["output_dir"], "last.safetensors")
        tensors, _ = gt.read_safetensors(last)
        self.assertTrue(any(n.startswith("optim.") for n in tensors))
        net = gt.from_file(last)
        x = torch.randn(3, 64)
        with torch.no_grad():
            self.assertLess(rel_err(net(x).numpy(),
                                    gmcnn.load(last).predict(x.numpy(), normalize=False)), TOL)

    def test_bad_inputs(self):
        r = gmcnn.train(classifier_config("bad", {
            "kind": "gmcnn", "spec": "C8xC8", "blocks": [{"num_layers": 1, "out_channels": 3}]}))
        net = gt.from_file(os.path.join(r["output_dir"], "best.safetensors"))
        with self.assertRaises(ValueError):
            net(torch.zeros(2, 1, 7, 7))
        with self.assertRaises(TypeError):
            gt.save(torch.nn.Linear(2, 2), os.path.join(Env.setup(), "x.safetensors"))
        with self.assertRaises(gmcnn.GmcnnError):
            gt.from_file(os.path.join(Env.setup(), "missing.safetensors"))

    @unittest.skipIf(onnx is None, "python3-onnx is not installed")
    def test_onnx_export(self):
        for name, model in (("onnx-gmcnn", {"kind": "gmcnn", "spec": "D4xD4", "blocks": [
                                {"num_layers": 1, "out_channels": 4},
                                {"num_layers": 1, "out_channels": 6}]}),
                            ("onnx-deep", {"kind": "deep", "spec": "p4m:8", "norm": "batch",
                                           "center": True, "blocks": [
                                {"num_layers": 1, "out_channels": 4, "pool": True},
                                {"num_layers": 1, "out_channels": 4}]}),
                            ("onnx-cnn", {"kind": "cnn", "image_h": 8, "image_w": 8,
                                          "blocks": [{"num_layers": 1, "out_channels": 4,
                                                      "pool": True}]})):
            r = gmcnn.train(classifier_config(name, model))
            net = gt.from_file(os.path.join(r["output_dir"], "best.safetensors"))
            out = os.path.join(Env.setup(), name + ".onnx")
            torch.onnx.export(net, torch.zeros(2, 1, 8, 8), out, input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": {0: "n"}},
                              opset_version=13)
            m = onnx.load(out)
            onnx.checker.check_model(m)
            self.assertEqual(m.graph.output[0].name, "logits")


if __name__ == "__main__":
    unittest.main()
