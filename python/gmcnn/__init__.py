"""gmcnn from Python: group-matrix networks over the C library libgmcnn.

The entry points:

    import gmcnn
    g = gmcnn.Group("p4m:8")              # any group spec; g.order, g.cayley_table(), ...
    result = gmcnn.train("configs/default.yaml", {"trainer.max_epochs": 3},
                         on_epoch=print)   # a whole run; a dict of its numbers
    model = gmcnn.load("runs/default/best.safetensors")
    logits = model.predict(images)        # float32 (N, C, H, W) or (N, |G|) -> (N, classes)
    model.equivariance(images)            # the symmetry defect of every stage
    gmcnn.data.make("rotated", "build/data/mnist10k/images-idx3-ubyte.gz",
                    "build/data/mnist10k/labels-idx1-ubyte.gz")   # generated sets

Arrays go in and out as NumPy arrays; inputs are passed to the library
without copies where their layout allows. Errors raise gmcnn.GmcnnError
with the library's one-line detail; Ctrl-C during training stops it
cleanly (KeyboardInterrupt, the last checkpoint intact). The library runs
without the GIL, so other Python threads go on while it computes.
"""
from ._lib import GmcnnError, lib
from . import data
from .groups import Group, displacement_rank, group_matrix
from .models import Model, load
from .training import train

__all__ = ["GmcnnError", "Group", "Model", "load", "train", "group_matrix", "data",
           "displacement_rank", "set_threads", "build_info", "__version__"]

__version__ = "0.1.0"


def set_threads(n: int) -> None:
    """Threads for the library's parallel regions (OpenMP and BLAS)."""
    if int(n) < 1:
        raise ValueError("set_threads: n must be at least 1")
    lib.gm_set_threads(int(n))


def build_info() -> str:
    """The library's build: version, compiler, BLAS and the kernels in use."""
    return lib.gm_build_info().decode()


def __getattr__(name):
    # gmcnn.torch (PyTorch modules of gmcnn models) imports PyTorch, so it is
    # imported on first use: `import gmcnn` works without PyTorch.
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
