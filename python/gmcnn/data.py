"""Data: gmcnn's generated image sets, its file readers, and the smoke-plume
simulations, as NumPy arrays."""
import ctypes
import os

import numpy as np

from ._lib import check, lib

__all__ = ["make", "read_idx", "plume"]

_DTYPES = {0: np.float32, 1: np.float64, 2: np.uint8, 3: np.int32, 4: np.int64}
_KINDS = ("digits", "rotated", "back-random", "back-image", "rot-back-image", "rectangles")


class _Array(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_int64 * 8), ("data", ctypes.c_void_p)]


class _MakeSpec(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("source_images", ctypes.c_char_p), ("source_labels", ctypes.c_char_p),
                ("backgrounds", ctypes.c_char_p), ("ntrain", ctypes.c_int64),
                ("ntest", ctypes.c_int64), ("max_angle", ctypes.c_double),
                ("test_images", ctypes.c_char_p), ("test_labels", ctypes.c_char_p)]


_P = ctypes.POINTER
lib.gm_array_free.argtypes = [_P(_Array)]
lib.gm_array_free.restype = None
lib.gm_idx_read.argtypes = [ctypes.c_char_p, _P(_Array)]
lib.gm_idx_read.restype = ctypes.c_int
lib.gm_dataset_make.argtypes = [_P(_MakeSpec)] + [_P(_Array)] * 4
lib.gm_dataset_make.restype = ctypes.c_int
lib.gm_plume_recipe_parse.argtypes = [ctypes.c_char_p, _P(ctypes.c_int)]
lib.gm_plume_recipe_parse.restype = ctypes.c_int
lib.gm_plume_generate.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int,
                                  ctypes.c_void_p, ctypes.c_void_p]
lib.gm_plume_generate.restype = ctypes.c_int


def _take(a):
    """The C array's contents as a NumPy array (one copy), then freed."""
    try:
        shape = tuple(a.shape[i] for i in range(a.ndim))
        dtype = np.dtype(_DTYPES[a.dtype])
        n = int(np.prod(shape)) if shape else 1
        if n == 0:
            return np.zeros(shape, dtype)
        buf = (ctypes.c_char * (n * dtype.itemsize)).from_address(a.data)
        return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
    finally:
        lib.gm_array_free(ctypes.byref(a))


def read_idx(path) -> np.ndarray:
    """An IDX file (plain or gzip), in its stored dtype and shape."""
    a = _Array()
    check(lib.gm_idx_read(os.fspath(path).encode(), ctypes.byref(a)))
    return _take(a)


def _enc(p):
    return os.fspath(p).encode() if p is not None else None


def make(kind, source_images=None, source_labels=None, *, backgrounds=None, ntrain=8000,
         ntest=2000, seed=42, max_angle=0.0, test_images=None, test_labels=None):
    """A generated image set as `gmcnn data make` makes it (the same bytes
    for the same arguments): kind is one of digits, rotated, back-random,
    back-image, rot-back-image, rectangles; the digit kinds draw from
    source_images / source_labels (IDX, e.g. build/data/mnist10k/...), the
    back-image kinds take backgrounds from `backgrounds`. Returns
    (train_images, train_labels, test_images, test_labels) as uint8 arrays."""
    if kind not in _KINDS:
        raise ValueError(f"make: unknown kind {kind!r}; one of {', '.join(_KINDS)}")
    spec = _MakeSpec(kind=_KINDS.index(kind), seed=seed, source_images=_enc(source_images),
                     source_labels=_enc(source_labels), backgrounds=_enc(backgrounds),
                     ntrain=ntrain, ntest=ntest, max_angle=max_angle,
                     test_images=_enc(test_images), test_labels=_enc(test_labels))
    out = [_Array() for _ in range(4)]
    check(lib.gm_dataset_make(ctypes.byref(spec), *[ctypes.byref(a) for a in out]))
    return tuple(_take(a) for a in out)


def plume(recipe, directory, steps=310, threads=0):
    """Simulates a smoke-plume dataset (recipe translation, rotation or scale)
    into `directory` (manifest.json + sim_NNN.npy, each (frames, 2, H, W)
    float32 velocities), as `gmcnn data make plume-<recipe>` does with its
    default of 310 steps; threads 0 = all cores (the bytes do not depend on
    it). Returns the directory."""
    r = ctypes.c_int()
    check(lib.gm_plume_recipe_parse(recipe.encode(), ctypes.byref(r)))
    check(lib.gm_plume_generate(r.value, _enc(directory), int(steps), int(threads), None, None))
    return os.fspath(directory)
