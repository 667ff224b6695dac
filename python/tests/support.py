"""Data the Python tests share: small IDX files of shapes no rotation or
reflection mixes."""
import os
import struct

import numpy as np


def write_idx(path, a):
    """a (uint8) as an uncompressed IDX file."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, a.ndim))
        f.write(struct.pack(">" + "I" * a.ndim, *a.shape))
        f.write(np.ascontiguousarray(a, dtype=np.uint8).tobytes())


def shapes(n, seed):
    """n 8x8 images of three classes that no rotation or reflection mixes: a
    bar, a diagonal, a square, on noise; labels i % 3."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 8, 8)) * 70).astype(np.uint8)
    y = np.arange(n) % 3
    for i in range(n):
        if y[i] == 0:
            x[i, 3, 1:7] = 220
        elif y[i] == 1:
            x[i, np.arange(1, 7), np.arange(1, 7)] = 220
        else:
            x[i, 3:5, 3:5] = 220
    return x, y.astype(np.uint8)


def write_shapes_set(directory, ntrain, ntest):
    """train-images.idx, train-labels.idx, test-images.idx and
    test-labels.idx of shapes (seeds 1 and 2) in directory."""
    for name, n, seed in (("train", ntrain, 1), ("test", ntest, 2)):
        x, y = shapes(n, seed)
        write_idx(os.path.join(directory, f"{name}-images.idx"), x)
        write_idx(os.path.join(directory, f"{name}-labels.idx"), y)
