"""The Python package against the library and the tool: groups, training
from a dict and from the tool giving the same model, prediction agreeing
with evaluation, equivariance, errors as exceptions, Ctrl-C.

Run by ctest (python_package) with GMCNN_LIBRARY set to the built library
and GMCNN_CLI to the built tool."""
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest

import numpy as np

import gmcnn
from support import shapes, write_idx, write_shapes_set


class Env:
    dir = None

    @classmethod
    def setup(cls):
        if cls.dir is None:
            cls.dir = tempfile.mkdtemp(prefix="gmcnn-py-")
            write_shapes_set(cls.dir, 150, 60)
        return cls.dir


def config(out, epochs=3):
    d = Env.setup()
    return {
        "seed": 5,
        "model": {"kind": "deep", "spec": "p4m:8", "nbr": 1, "num_classes": 3, "norm": "batch",
                  "blocks": [{"num_layers": 1, "out_channels": 4, "pool": True}]},
        "data": {"source": "idx", "images": f"{d}/train-images.idx",
                 "labels": f"{d}/train-labels.idx", "test_images": f"{d}/test-images.idx",
                 "test_labels": f"{d}/test-labels.idx", "batch_size": 16, "normalize": True},
        "trainer": {"max_epochs": epochs},
        "optimizer": {"lr": 0.01},
        "output": {"dir": os.path.join(d, out)},
    }


def tearDownModule():
    if Env.dir:
        shutil.rmtree(Env.dir, ignore_errors=True)


class Groups(unittest.TestCase):
    def test_cayley_table_is_a_group_law(self):
        g = gmcnn.Group("D4")
        t = g.cayley_table()
        self.assertEqual(t.shape, (8, 8))
        for a in range(8):
            self.assertEqual(sorted(t[a]), list(range(8)))  # a Latin square
            self.assertEqual(t[a, g.inverse(a)], 0)
        for a in range(8):
            for b in range(8):
                for c in range(8):
                    self.assertEqual(t[t[a, b], c], t[a, t[b, c]])
        self.assertEqual(g.element_name(1), "r")
        self.assertFalse(g.is_abelian)

    def test_group_matrices_have_displacement_rank_zero(self):
        g = gmcnn.Group("C4xC4")
        rng = np.random.default_rng(3)
        m = gmcnn.group_matrix(g, rng.standard_normal(16))
        self.assertEqual(gmcnn.displacement_rank(g, m), 0)
        self.assertGreater(gmcnn.displacement_rank(g, rng.standard_normal((16, 16))), 0)
        # float32 rounding is not displacement rank at float32's precision
        m32 = m.astype(np.float32).astype(np.float64) + 1e-9 * rng.standard_normal((16, 16))
        self.assertEqual(gmcnn.displacement_rank(g, m32, np.finfo(np.float32).eps), 0)

    def test_convolution_table_gathers_g_times_s_inverse(self):
        g = gmcnn.Group("C5")
        t = g.convolution_table(1)  # the support -1, 0, 1 of C5
        self.assertEqual(t.shape, (3, 5))
        for k, s in enumerate((-1, 0, 1)):
            self.assertEqual(list(t[k]), [(x - s) % 5 for x in range(5)])

    def test_errors_carry_the_detail(self):
        with self.assertRaises(gmcnn.GmcnnError) as cm:
            gmcnn.Group("D0")
        self.assertEqual(cm.exception.status, "GM_ERR_GROUP_SPEC")
        self.assertIn("group spec 'D0' at column 2", str(cm.exception))
        with self.assertRaises(ValueError):
            gmcnn.Group("C3").element_name(3)


class Training(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.epochs = []
        cls.result = gmcnn.train(config("py"), on_epoch=cls.epochs.append)
        cls.model = gmcnn.load(cls.result["output_dir"] + "/best.safetensors")

    def test_result_and_progress(self):
        r = self.result
        self.assertEqual([e["epoch"] for e in self.epochs], [1, 2, 3])
        self.assertEqual(r["epochs"], 3)
        self.assertEqual(r["n_test"], 60)
        self.assertGreater(r["test_accuracy"], 60.0)  # three separable shapes
        self.assertIsNone(r["rmse_future"])
        self.assertEqual(r["parameters"], self.model.parameters)

    def test_the_tool_trains_the_same_model(self):
        d = Env.setup()
        cfg = config("cli")
        path = os.path.join(d, "cli.yaml")
        with open(path, "w") as f:
            f.write(gmcnn.training._yaml_value(cfg))
        out = subprocess.run([os.environ["GMCNN_CLI"], "train", path, "--quiet"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        other = gmcnn.load(os.path.join(d, "cli", "best.safetensors"))
        x, _ = shapes(20, 9)
        a = self.model.predict(x.astype(np.float32) / 255)
        b = other.predict(x.astype(np.float32) / 255)
        self.assertTrue(np.array_equal(a, b))

    def test_predict_agrees_with_evaluate(self):
        d = Env.setup()
        ev = self.model.evaluate(f"{d}/test-images.idx", f"{d}/test-labels.idx")
        self.assertAlmostEqual(ev["accuracy"], self.result["test_accuracy"], places=9)
        x, y = shapes(60, 2)
        logits = self.model.predict(x.astype(np.float32) / 255)
        self.assertEqual(logits.shape, (60, 3))
        acc = 100.0 * np.mean(logits.argmax(1) == y)
        self.assertAlmostEqual(acc, ev["accuracy"], places=9)
        p = self.model.predict(x.astype(np.float32) / 255, probabilities=True)
        self.assertTrue(np.allclose(p.sum(1), 1.0))
        z = logits - logits.max(1, keepdims=True)
        self.assertTrue(np.allclose(p, np.exp(z) / np.exp(z).sum(1, keepdims=True)))
        self.assertEqual(ev["confusion"].sum(), 60)
        # the model's kept predictor: the same numbers call after call, one
        # image at a time or all at once, and after a failed call
        with self.assertRaises(gmcnn.GmcnnError):
            self.model.predict(np.zeros((2, 1, 7, 7), np.float32))
        xs = x.astype(np.float32) / 255
        self.assertTrue(np.array_equal(self.model.predict(xs), logits))
        ones = np.concatenate([self.model.predict(xs[i:i + 1], batch=1) for i in range(60)])
        self.assertTrue(np.allclose(ones, logits, atol=1e-5))

    def test_the_p4m_model_is_invariant(self):
        x, _ = shapes(8, 4)
        x = x.astype(np.float32) / 255
        rep = self.model.equivariance(x)
        self.assertLess(rep["end_to_end"], 1e-4)
        a = self.model.predict(x)
        for k in (1, 2, 3):
            b = self.model.predict(np.rot90(x, k, axes=(1, 2)).copy())
            self.assertTrue(np.allclose(a, b, atol=1e-4), k)

    def test_bad_inputs_raise(self):
        with self.assertRaises(ValueError):
            self.model.predict(np.zeros((2, 3, 4, 5, 6), np.float32))
        with self.assertRaises(gmcnn.GmcnnError):
            self.model.predict(np.zeros((2, 1, 7, 7), np.float32))
        with self.assertRaises(ValueError):
            self.model.predict(np.full((1, 8, 8), np.nan, np.float32))
        with self.assertRaises(gmcnn.GmcnnError) as cm:
            gmcnn.load(os.path.join(Env.setup(), "none.safetensors"))
        self.assertEqual(cm.exception.status, "GM_ERR_IO")
        with self.assertRaises(gmcnn.GmcnnError) as cm:
            gmcnn.train(config("bad"), {"trainer.max_epochs": -1})
        self.assertIn("trainer.max_epochs", str(cm.exception))


class Data(unittest.TestCase):
    def test_generated_sets_and_idx_round_trip(self):
        d = Env.setup()
        x8, y = shapes(40, 7)
        x = np.zeros((40, 28, 28), np.uint8)  # the generators take 28x28 digits
        x[:, 10:18, 10:18] = x8
        write_idx(os.path.join(d, "src-images.idx"), x)
        write_idx(os.path.join(d, "src-labels.idx"), y)
        self.assertTrue(np.array_equal(gmcnn.data.read_idx(os.path.join(d, "src-images.idx")), x))
        sets = gmcnn.data.make("rotated", os.path.join(d, "src-images.idx"),
                               os.path.join(d, "src-labels.idx"), ntrain=30, ntest=10, seed=3)
        tr, tl, te, tel = sets
        self.assertEqual((tr.shape, tl.shape, te.shape, tel.shape),
                         ((30, 28, 28), (30,), (10, 28, 28), (10,)))
        self.assertEqual(tr.dtype, np.uint8)
        again = gmcnn.data.make("rotated", os.path.join(d, "src-images.idx"),
                                os.path.join(d, "src-labels.idx"), ntrain=30, ntest=10, seed=3)
        self.assertTrue(all(np.array_equal(a, b) for a, b in zip(sets, again)))
        r = gmcnn.data.make("rectangles", ntrain=5, ntest=2)
        self.assertEqual(r[0].shape, (5, 28, 28))
        with self.assertRaises(gmcnn.GmcnnError) as cm:
            gmcnn.data.make("rotated", os.path.join(d, "none.idx"), os.path.join(d, "none.idx"))
        self.assertIn("none.idx", str(cm.exception))
        with self.assertRaises(ValueError):
            gmcnn.data.make("spirals")

    def test_plume_simulations_do_not_depend_on_threads(self):
        d = Env.setup()
        a = gmcnn.data.plume("translation", os.path.join(d, "p1"), steps=3, threads=1)
        b = gmcnn.data.plume("translation", os.path.join(d, "p2"), steps=3, threads=2)
        for name in ("sim_000.npy", "sim_007.npy"):
            x, y = np.load(os.path.join(a, name)), np.load(os.path.join(b, name))
            self.assertEqual(x.shape[1:], (2, 64, 64))
            self.assertTrue(np.array_equal(x, y))


class Interrupts(unittest.TestCase):
    def test_ctrl_c_stops_cleanly_and_the_run_resumes(self):
        def on_step(epoch, step, steps, loss):
            if epoch == 2 and step == 1:
                os.kill(os.getpid(), signal.SIGINT)

        cfg = config("intr")
        with self.assertRaises(KeyboardInterrupt) as cm:
            gmcnn.train(cfg, on_step=on_step)
        self.assertIn("the checkpoint holds epoch 1", str(cm.exception))
        out = cfg["output"]["dir"]
        r = gmcnn.train(cfg, resume=out + "/last.safetensors")
        ref = gmcnn.train(config("intr-ref"))
        self.assertEqual(r["epochs"], 3)
        self.assertEqual(r["epochs_run"], 2)
        self.assertEqual(r["test_accuracy"], ref["test_accuracy"])

    def test_callback_exceptions_stop_the_run(self):
        def boom(record):
            raise RuntimeError("stop here")

        with self.assertRaises(RuntimeError):
            gmcnn.train(config("boom"), on_epoch=boom)

    def test_other_threads_run_during_training(self):
        ticks = []
        done = threading.Event()

        def tick():
            while not done.is_set():
                ticks.append(1)
                done.wait(0.001)

        t = threading.Thread(target=tick)
        t.start()
        try:
            gmcnn.train(config("gil", epochs=2))
        finally:
            done.set()
            t.join()
        self.assertGreater(len(ticks), 10)


if __name__ == "__main__":
    unittest.main()
