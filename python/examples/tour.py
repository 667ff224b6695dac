"""A tour of gmcnn from Python, in the order a notebook would take it: a
group and its group matrices, a small rotation-equivariant model trained
from a config written as a dict, the saved model predicting and measured for
symmetry, and the same model in PyTorch, trained one step further and saved
back as a gmcnn file.

    PYTHONPATH=python /usr/bin/python3 python/examples/tour.py [DIR]

The test suite runs it (ctest python_example); its assertions are the
claims the text makes. DIR (default: a new temporary
directory) receives the data and the run's files."""
import os
import struct
import sys
import tempfile

import numpy as np

import gmcnn

# --- 1. A group and a group matrix ---------------------------------------------
g = gmcnn.Group("p4m:8")  # the 8x8 torus with the rotations and reflections of the square
print(g, "generators", [g.element_name(v) for v in g.generators])
rng = np.random.default_rng(0)
m = gmcnn.group_matrix(g, rng.standard_normal(g.order))
print("displacement rank of a group matrix:", gmcnn.displacement_rank(g, m))
assert gmcnn.displacement_rank(g, m) == 0
print("and of a random matrix:", gmcnn.displacement_rank(g, rng.standard_normal(m.shape)))

# --- 2. Data and a training run ----------------------------------------------------
out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gmcnn-tour-")


def shapes(n, seed):
    """A bar, a diagonal or a small square on noise: classes that no rotation
    or reflection turns into one another."""
    r = np.random.default_rng(seed)
    x = (r.random((n, 8, 8)) * 70).astype(np.uint8)
    y = (np.arange(n) % 3).astype(np.uint8)
    for i, c in enumerate(y):
        if c == 0:
            x[i, 3, 1:7] = 220
        elif c == 1:
            x[i, np.arange(1, 7), np.arange(1, 7)] = 220
        else:
            x[i, 3:5, 3:5] = 220
    return x, y


def write_idx(path, a):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, a.ndim) + struct.pack(">" + "I" * a.ndim, *a.shape))
        f.write(a.tobytes())


for name, n, seed in (("train", 240, 1), ("test", 90, 2)):
    x, y = shapes(n, seed)
    write_idx(os.path.join(out, f"{name}-images.idx"), x)
    write_idx(os.path.join(out, f"{name}-labels.idx"), y)

config = {
    "seed": 1,
    "model": {"kind": "deep", "spec": "p4m:8", "nbr": 1, "num_classes": 3, "norm": "batch",
              "blocks": [{"num_layers": 1, "out_channels": 6, "pool": True}]},
    "data": {"source": "idx", "images": f"{out}/train-images.idx",
             "labels": f"{out}/train-labels.idx", "test_images": f"{out}/test-images.idx",
             "test_labels": f"{out}/test-labels.idx", "batch_size": 16, "normalize": True},
    "trainer": {"max_epochs": 5},
    "optimizer": {"lr": 0.01},
    "output": {"dir": f"{out}/run"},
}
result = gmcnn.train(config, on_epoch=lambda r: print(f"epoch {r['epoch']}: validation "
                                                      f"accuracy {r['val_accuracy']:.1f}%"))
print(f"{result['parameters']} parameters, test accuracy {result['test_accuracy']:.1f}%")
assert result["test_accuracy"] > 80.0

# --- 3. The saved model --------------------------------------------------------------
model = gmcnn.load(f"{out}/run/best.safetensors")
x, y = shapes(6, 3)
images = x.astype(np.float32) / 255.0  # as the training loader scales U8 pixels
p = model.predict(images, probabilities=True)
print("predicted", p.argmax(1), "true", y)
turned = np.rot90(images, 1, axes=(1, 2)).copy()
change = float(np.abs(model.predict(turned, probabilities=True) - p).max())
print("largest change of a probability under a quarter turn:", change)
assert change < 1e-5
print("equivariance defect, end to end:", model.equivariance(images)["end_to_end"])

# --- 4. In PyTorch and back -----------------------------------------------------------
try:
    import torch
except ImportError:
    print("PyTorch is not installed: the last step is skipped")
    sys.exit(0)
module = gmcnn.torch.from_file(f"{out}/run/best.safetensors")
module.eval()
xs = module.standardize(images)  # the file's statistics, as model.predict applies them
with torch.no_grad():
    diff = float((module(xs) - torch.from_numpy(model.predict(images)).float()).abs().max())
    print("PyTorch and gmcnn logits differ by at most", diff)
    assert diff < 1e-4
module.train()
opt = torch.optim.SGD(module.parameters(), lr=0.01)
loss = torch.nn.functional.cross_entropy(module(xs), torch.from_numpy(y.astype(np.int64)))
loss.backward()
opt.step()
gmcnn.torch.save(module, f"{out}/tuned.safetensors")
module.eval()
with torch.no_grad():
    again = gmcnn.load(f"{out}/tuned.safetensors").predict(images)
    diff = float(np.abs(module(xs).numpy() - again).max())
    print("after a PyTorch step, saved and reloaded by gmcnn: difference", diff)
    assert diff < 1e-4
