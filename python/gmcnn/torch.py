"""gmcnn models as PyTorch modules, and the way back.

    import gmcnn.torch
    net = gmcnn.torch.from_file("runs/default/best.safetensors")   # torch.nn.Module
    logits = net(x)            # float32 (N, C, H, W) or (N, |G|), standardised inputs
    net.train(); ...           # train further with any torch optimizer
    gmcnn.torch.save(net, "tuned.safetensors")   # a gmcnn model file again

from_file reads a gmcnn model file (safetensors with the model description
under the metadata key "gmcnn.model") with its own small reader and builds
a module whose forward is gmcnn's forward: the same layers in the same
order, parameters as nn.Parameters under gmcnn's names (so that
module.state_dict() keys are the names of the file), batch normalisation's
running statistics as buffers, train()/eval() switching dropout and batch
statistics as gmcnn's training and evaluation modes do. The structural
index tables (group convolution gathers, pooling onto subgroups, lifting
images to p4/p4m, the 2x2 centring mean) are built by the library through
ctypes (gm_nbhd_reference_new, gm_gmat_plan_new, gm_subgroup_stride2_new,
gm_gmat_plan_pool_new, gm_gmat_plan_lift_new, ...), as gm_model_new builds
them, and the module's parameter list is checked against the model the
library loads from the same file, name by name and shape by shape.

Inputs are what gmcnn's models read after standardisation: use
module.standardize(x) (the file's "gmcnn.normalize.*" statistics) first, as
gmcnn.Model.predict(x) does by itself; float32 (N, C, H, W), (N, C, |G|),
or for one channel (N, H, W) or (N, |G|) (|G| the model's input_size).
Classifiers return (N, classes) logits; regressors (plume, CNN/MLP with
regressor) (N, out, H, W) for (N, C, H, W) inputs and (N, out, |G|)
otherwise. library_forward runs the library's own forward pass on the
same file (outputs, state, gradients) for comparisons.

save writes a module built by from_file back as a gmcnn model file: the
same description, the parameters and running statistics under their names
as F32, and the source file's "gmcnn.normalize.mean/std" and
"gmcnn.forecast" metadata. gmcnn.load, `gmcnn eval` and the other readers of
the library accept it.

Differences that stay: dropout masks come from torch's generator, not
gmcnn's; where several entries share a maximum, max pooling passes the
gradient to the entry torch picks; floating-point sums run in another order
(outputs agree to about 1e-6 relative).
"""
import ctypes
import json
import os
import struct
import tempfile

import numpy as np

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError as _e:  # pragma: no cover - depends on the machine
    raise ImportError("gmcnn.torch needs PyTorch (import torch failed: %s)" % _e) from _e

from . import _lib
from ._lib import GmcnnError, SavedModel, check, lib

__all__ = ["from_file", "save", "build", "library_forward", "read_safetensors",
           "write_safetensors", "GmcnnModule", "KINDS"]

# Model kinds, in the order of gm_model_kind (include/gmcnn/nn.h).
KINDS = ("gmcnn", "plume", "gmcnn_deep", "cnn", "mlp", "ldr")

MODEL_META_KEY = "gmcnn.model"
CARRIED_META_KEYS = ("gmcnn.normalize.mean", "gmcnn.normalize.std", "gmcnn.forecast")
OPTIM_PREFIX = "optim."

# Constants of src/nn (nn_internal.h, ops): LayerNorm and batch norm eps,
# batch norm momentum, the default MLP width, the plume width, the modulated
# layer's normalisation guard.
LN_EPS = 1e-5
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
MLP_WIDTH = 256
PLUME_WIDTH = 128
ROW_NORM_EPS = 1e-12

# --- the library functions this module needs ---------------------------------
# (name: (restype, argtypes)); "status" is a gm_status checked by check().
# Names already in _lib._FUNCTIONS are left as _lib.py declares them.

c_int64, c_int32, c_void_p, c_bool = ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p, ctypes.c_bool
P = ctypes.POINTER


class CTensor(ctypes.Structure):
    """gm_tensor of include/gmcnn/tensor.h (gm_real = float)."""
    _fields_ = [("ndim", ctypes.c_int), ("shape", c_int64 * 4), ("numel", c_int64),
                ("data", P(ctypes.c_float)), ("grad", P(ctypes.c_float)),
                ("requires_grad", c_bool), ("arena", c_void_p)]


_TORCH_FUNCTIONS = {
    "gm_error_clear": (None, []),
    "gm_group_kind_of": (ctypes.c_int, [c_void_p]),
    "gm_group_param": (c_int64, [c_void_p]),
    "gm_group_wallpaper_points": (c_int64, [c_void_p]),
    "gm_group_factor": (c_void_p, [c_void_p, ctypes.c_int]),
    "gm_group_mul": (c_int32, [c_void_p, c_int32, c_int32]),
    "gm_group_cyclic_new": ("status", [c_int64, P(c_void_p)]),
    "gm_group_dihedral_new": ("status", [c_int64, P(c_void_p)]),
    "gm_group_p4_new": ("status", [c_int64, P(c_void_p)]),
    "gm_group_p4m_new": ("status", [c_int64, P(c_void_p)]),
    "gm_group_product_new": ("status", [c_void_p, c_void_p, P(c_void_p)]),
    "gm_subgroup_generated_new": ("status", [c_void_p, c_int64, P(c_int32), P(c_void_p)]),
    "gm_subgroup_stride2_new": ("status", [c_void_p, P(c_void_p)]),
    "gm_subgroup_as_group": ("status", [c_void_p, P(c_void_p)]),
    "gm_subgroup_free": (None, [c_void_p]),
    "gm_subgroup_order": (c_int64, [c_void_p]),
    "gm_subgroup_elements": (P(c_int32), [c_void_p]),
    "gm_nbhd_new": ("status", [c_int64, c_int64, P(c_int32), P(c_void_p)]),
    "gm_nbhd_ball_new": ("status", [c_void_p, c_int64, P(c_int32), c_int64, P(c_void_p)]),
    "gm_gmat_plan_pool_new": ("status", [c_void_p, P(c_void_p)]),
    "gm_gmat_plan_lift_new": ("status", [c_void_p, c_void_p, P(c_void_p)]),
    "gm_gmat_plan_input_size": (c_int64, [c_void_p]),
    # running a loaded model directly (reference outputs of regressors, gradients)
    "gm_ctx_new": ("status", [ctypes.c_size_t, ctypes.c_uint64, P(c_void_p)]),
    "gm_ctx_free": (None, [c_void_p]),
    "gm_ctx_arena": (c_void_p, [c_void_p]),
    "gm_ctx_set_grad": (c_bool, [c_void_p, c_bool]),
    "gm_ctx_set_training": (c_bool, [c_void_p, c_bool]),
    "gm_ctx_reset": (None, [c_void_p]),
    "gm_ctx_backward": ("status", [c_void_p, P(CTensor)]),
    "gm_tensor_new3": ("status", [c_void_p, c_int64, c_int64, c_int64, P(P(CTensor))]),
    "gm_model_forward": ("status", [c_void_p, c_void_p, P(CTensor), P(P(CTensor))]),
    "gm_model_param_count": (c_int64, [c_void_p]),
    "gm_model_param_name": (ctypes.c_char_p, [c_void_p, c_int64]),
    "gm_model_param": (P(CTensor), [c_void_p, c_int64]),
    "gm_model_zero_grad": ("status", [c_void_p]),
    "gm_op_mse": ("status", [c_void_p, P(CTensor), P(CTensor), P(P(CTensor))]),
}

for _name, _sig in _TORCH_FUNCTIONS.items():
    if _name in _lib._FUNCTIONS:  # declared there already
        continue
    _f = getattr(lib, _name)
    _f.restype = ctypes.c_int if _sig[0] == "status" else _sig[0]
    _f.argtypes = _sig[1]

if lib.gm_run_sizeof(b"gm_tensor") != ctypes.sizeof(CTensor):
    raise ImportError(f"gmcnn.torch: the library's gm_tensor has "
                      f"{lib.gm_run_sizeof(b'gm_tensor')} bytes, this package's "
                      f"{ctypes.sizeof(CTensor)}: package and library do not match")

_GM_ERR_UNSUPPORTED = -11
_GROUP_CYCLIC, _GROUP_DIHEDRAL, _GROUP_PRODUCT = 0, 1, 2


# --- safetensors ---------------------------------------------------------------

_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: an ordered dict name ->
    numpy array (in data order) and the "__metadata__" dict (or {})."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"safetensors '{path}': {len(blob)} bytes, no header size")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8 or hlen > 100_000_000:
        raise ValueError(f"safetensors '{path}': header of {hlen} bytes does not fit the file")
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"safetensors '{path}': the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"safetensors '{path}': the header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + hlen:]
    entries = []
    for name, e in header.items():
        try:
            dtype, shape, (b, end) = e["dtype"], [int(s) for s in e["shape"]], e["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"safetensors '{path}' tensor '{name}': malformed entry") from None
        if dtype not in _DTYPES:
            raise ValueError(f"safetensors '{path}' tensor '{name}': dtype {dtype} not read")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        size = count * np.dtype(_DTYPES[dtype]).itemsize
        if not (0 <= b <= end <= len(data)) or end - b != size:
            raise ValueError(f"safetensors '{path}' tensor '{name}': data_offsets [{b}, {end}) "
                             f"do not match {dtype} {tuple(shape)} in {len(data)} data bytes")
        arr = np.frombuffer(data[b:end], dtype=_DTYPES[dtype]).reshape(shape)
        entries.append((b, name, arr))
    entries.sort(key=lambda t: t[0])
    return {name: arr for _, name, arr in entries}, meta


def write_safetensors(path, tensors, metadata):
    """Writes (name, float32 array) pairs and string metadata as a
    safetensors file laid out as gmcnn's writer lays it out (metadata first,
    data in the given order, the header padded with spaces to a multiple of
    8), atomically: a temporary in the same directory, fsync, rename."""
    path = os.fspath(path)
    header = {"__metadata__": dict(metadata)} if metadata else {}
    offset, blobs = 0, []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype="<f4")
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in blobs:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- index tables from the library -------------------------------------------------

def _ptr_out():
    return ctypes.c_void_p()


class _Owned:
    """Library objects made while building a model, freed together."""

    def __init__(self):
        self._objs = []

    def add(self, ptr, free):
        self._objs.append((ptr, free))
        return ptr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for ptr, free in reversed(self._objs):
            free(ptr)
        self._objs.clear()
        return False


def _new(owned, fn, free, *args):
    out = _ptr_out()
    check(fn(*args, ctypes.byref(out)))
    return owned.add(out, free)


def _int32s(values):
    values = list(values)
    return (c_int32 * max(len(values), 1))(*values), len(values)


def _plan_table(plan):
    """(rows, cols) int64 array of a plan's table (gm_gmat_plan_table)."""
    rows, cols = lib.gm_gmat_plan_support_size(plan), lib.gm_gmat_plan_order(plan)
    table = np.ctypeslib.as_array(lib.gm_gmat_plan_table(plan), shape=(rows, cols))
    return table.astype(np.int64)


def _group_gens(g):
    n = lib.gm_group_ngens(g)
    gens = lib.gm_group_gens(g)
    return [gens[i] for i in range(n)]


class _Level:
    """A domain the features live on (gm__nn_level of src/nn/nn_internal.h):
    the input group, or after each GMPool the stride-2 subgroup as a group;
    `shape` the same group built from C_n/D_n factors (for reference
    supports), or None."""

    def __init__(self, group, shape):
        self.group, self.shape = group, shape
        self.conv = None      # (K, |G|) convolution table
        self.lift = None      # (K, |G|) lifting table from the torus (level 0 of p4/p4m)
        self.center = None    # (4, n*n) table of the centring 2x2 mean
        self.pool = None      # (R, |next|) pooling table onto the next level


class _Domains:
    """The levels of a GM model, made by the library's constructors in the
    order gm_model_new makes them (src/nn/nn_gm_models.c)."""

    def __init__(self, owned, spec, radius, kind):
        self.owned, self.radius = owned, radius
        g = _new(owned, lib.gm_group_from_spec, lib.gm_group_free, spec.encode())
        self.order = lib.gm_group_order(g)
        self.positions = self.order
        lv = _Level(g, g)
        self.levels = [lv]
        if lib.gm_group_wallpaper_points(g) > 0 and kind == "gmcnn_deep":
            side = lib.gm_group_param(g)
            self.positions = side * side
            self._lift(lv)
        self._support(lv)

    def _support(self, lv):
        nb = None
        if lv.shape:
            out = _ptr_out()
            st = lib.gm_nbhd_reference_new(lv.shape, self.radius, ctypes.byref(out))
            if st == 0:
                nb = self.owned.add(out, lib.gm_nbhd_free)
            elif st != _GM_ERR_UNSUPPORTED:
                check(st)
            else:
                lib.gm_error_clear()
        if nb is None:
            gens, ng = _int32s(_group_gens(lv.group))
            nb = _new(self.owned, lib.gm_nbhd_ball_new, lib.gm_nbhd_free, lv.group, ng, gens,
                      self.radius)
        plan = _new(self.owned, lib.gm_gmat_plan_new, lib.gm_gmat_plan_free, lv.group, nb)
        lv.conv = _plan_table(plan)

    def _lift(self, lv):
        g = lv.group
        h = lib.gm_group_factor(g, 1)
        n, t = lib.gm_group_param(g), self.radius
        gens, ng = _int32s(s * n * n for s in _group_gens(h))
        elems, k = _int32s((da % n) * n + (db % n) for da in range(-t, t + 1)
                           for db in range(-t, t + 1))
        points = _new(self.owned, lib.gm_subgroup_generated_new, lib.gm_subgroup_free, g, ng,
                      gens)
        support = _new(self.owned, lib.gm_nbhd_new, lib.gm_nbhd_free, lib.gm_group_order(g), k,
                       elems)
        plan = _new(self.owned, lib.gm_gmat_plan_lift_new, lib.gm_gmat_plan_free, points,
                    support)
        lv.lift = _plan_table(plan)

    def center(self):
        """The centring 2x2 mean's table on the torus C_n x C_n of level 0."""
        lv = self.levels[0]
        n = lib.gm_group_param(lv.group)
        if lv.lift is None:
            raise ValueError("model description: center applies to images lifted to p4:n or "
                             "p4m:n")
        if n % 2:
            raise ValueError(f"model description: center needs an even torus side, not {n}")
        cn = _new(self.owned, lib.gm_group_cyclic_new, lib.gm_group_free, n)
        torus = _new(self.owned, lib.gm_group_product_new, lib.gm_group_free, cn, cn)
        elems, k = _int32s([0, n, 1, n + 1])
        s = _new(self.owned, lib.gm_nbhd_new, lib.gm_nbhd_free, n * n, k, elems)
        plan = _new(self.owned, lib.gm_gmat_plan_new, lib.gm_gmat_plan_free, torus, s)
        lv.center = _plan_table(plan)
        return lv.center

    def _halve(self, g):
        """C_n -> C_{n/2}, D_n -> D_{n/2}, p4(m):n -> p4(m):(n/2), factor by factor."""
        n = lib.gm_group_param(g)
        points = lib.gm_group_wallpaper_points(g)
        if points > 0:
            fn = lib.gm_group_p4m_new if points == 8 else lib.gm_group_p4_new
            return _new(self.owned, fn, lib.gm_group_free, n // 2)
        kind = lib.gm_group_kind_of(g)
        if kind == _GROUP_CYCLIC:
            return _new(self.owned, lib.gm_group_cyclic_new, lib.gm_group_free, n // 2)
        if kind == _GROUP_DIHEDRAL:
            return _new(self.owned, lib.gm_group_dihedral_new, lib.gm_group_free, n // 2)
        if kind == _GROUP_PRODUCT:
            a = self._halve(lib.gm_group_factor(g, 0))
            b = self._halve(lib.gm_group_factor(g, 1))
            return _new(self.owned, lib.gm_group_product_new, lib.gm_group_free, a, b)
        raise GmcnnError("GM_ERR_UNSUPPORTED", "no stride-2 structure for "
                         + lib.gm_group_name(g).decode())

    @staticmethod
    def _same_group(group, shape):
        n = lib.gm_group_order(group)
        if lib.gm_group_order(shape) != n:
            return False
        for s in _group_gens(shape):
            for a in range(n):
                if lib.gm_group_mul(group, a, s) != lib.gm_group_mul(shape, a, s):
                    return False
        return True

    def pool(self, block):
        """Level l+1 below the last level: its group, the pooling table."""
        lv = self.levels[-1]
        if not lv.shape:
            raise GmcnnError("GM_ERR_UNSUPPORTED", f"model: blocks[{block}].pool: the features "
                             f"live on {lib.gm_group_name(lv.group).decode()}, which has no "
                             "stride-2 subgroup")
        ks = _new(self.owned, lib.gm_subgroup_stride2_new, lib.gm_subgroup_free, lv.shape)
        shape = self._halve(lv.shape)
        elems = lib.gm_subgroup_elements(ks)
        gens, ng = _int32s(elems[s] for s in _group_gens(shape))
        sub = _new(self.owned, lib.gm_subgroup_generated_new, lib.gm_subgroup_free, lv.group, ng,
                   gens)
        group = _new(self.owned, lib.gm_subgroup_as_group, lib.gm_group_free, sub)
        plan = _new(self.owned, lib.gm_gmat_plan_pool_new, lib.gm_gmat_plan_free, sub)
        lv.pool = _plan_table(plan)
        nx = _Level(group, shape if self._same_group(group, shape) else None)
        self.levels.append(nx)
        self._support(nx)
        return lv.pool


def _baseline_image(desc, owned):
    """(H, W) of a baseline: image_h x image_w, or the factors of a product
    group, or one row of |G| pixels (gm__nn_image_size)."""
    h, w = int(desc.get("image_h", 0)), int(desc.get("image_w", 0))
    if h:
        return h, w
    spec = desc.get("group")
    if not spec:
        raise ValueError("model description: a baseline needs image_h and image_w, or a group")
    g = _new(owned, lib.gm_group_from_spec, lib.gm_group_free, spec.encode())
    if lib.gm_group_kind_of(g) == _GROUP_PRODUCT:
        return (lib.gm_group_order(lib.gm_group_factor(g, 0)),
                lib.gm_group_order(lib.gm_group_factor(g, 1)))
    return 1, lib.gm_group_order(g)


# --- layers --------------------------------------------------------------------------

def _param(*shape):
    return nn.Parameter(torch.zeros(*shape, dtype=torch.float32))


def _gather(x, table):
    """x (B, C, n_in), table (K, n_out) -> (B, C, K, n_out): x[b, c, T[k][g]]."""
    k, n = table.shape
    return x.index_select(-1, table.reshape(-1)).reshape(x.shape[0], x.shape[1], k, n)


def _row_normalize(t):
    rows = t.reshape(t.shape[0], -1)
    return (rows / (rows.norm(dim=1, keepdim=True) + ROW_NORM_EPS)).reshape(t.shape)


class GMConv(nn.Module):
    """The GM convolution layer of src/nn/nn_gmconv.c on one index table T
    (K, n_out): with conv_w x (full: w (O, I, K), y[o,g] = sum_i,k
    w[o,i,k] x[i,T[k][g]]; shared: w (O, K), the channels summed first)
      exact:     y = conv_c x + b
      LDR (r):   y = conv_c x + b + sum_rho v_rho (.) conv_{u_rho} x
      modulated: y = (e/|e|) (.) conv_{w/|w_o|} x + b
    (in_place: w and e are normalised in place before each forward, outside
    autograd, as the reference does)."""

    # Gathered values above which the full form loops over the support.
    GATHER_LIMIT = 1 << 25

    def __init__(self, table, form, cin, cout, rank=0, modulated=False, in_place=False):
        super().__init__()
        table = torch.as_tensor(table, dtype=torch.long)
        self.register_buffer("table", table, persistent=False)
        k, n = table.shape
        self.form, self.rank, self.modulated, self.in_place = form, rank, modulated, in_place
        self.in_channels, self.out_channels = cin, cout
        wshape = (cout, cin, k) if form == "full" else (cout, k)
        self.weight = _param(*wshape)
        self.bias = _param(cout)
        self._renormed = None
        if modulated:
            self.e = _param(1, n)
        elif rank:
            self.u = nn.ParameterList([_param(*wshape) for _ in range(rank)])
            self.v = nn.ParameterList([_param(n) for _ in range(rank)])

    def conv(self, x, w):
        t = self.table
        if self.form == "shared":
            xg = x.sum(1, keepdim=True)
            return torch.matmul(w, _gather(xg, t)[:, 0])        # (O, K) @ (B, K, n)
        b, i = x.shape[0], x.shape[1]
        k, n = t.shape
        if torch.jit.is_tracing() or b * i * k * n <= self.GATHER_LIMIT:
            xg = _gather(x, t).reshape(b, i * k, n)
            return torch.matmul(w.reshape(w.shape[0], i * k), xg)
        y = None
        for j in range(k):
            term = torch.matmul(w[:, :, j], x.index_select(-1, t[j]))
            y = term if y is None else y + term
        return y

    def forward(self, x):
        if self.modulated:
            if self.in_place:
                # Renormalised in place when they changed since the last
                # time (the library does it before every forward; again on
                # unit rows it changes at most the last bit), so that an
                # autoregressive rollout can call the module several times
                # before one backward pass.
                if self._renormed != (self.weight._version, self.e._version):
                    with torch.no_grad():
                        self.weight.copy_(_row_normalize(self.weight))
                        self.e.copy_(_row_normalize(self.e))
                    self._renormed = (self.weight._version, self.e._version)
                w, e = self.weight, self.e
            else:
                w, e = _row_normalize(self.weight), _row_normalize(self.e)
            return self.conv(x, w) * e.reshape(-1) + self.bias[:, None]
        y = self.conv(x, self.weight) + self.bias[:, None]
        for r in range(self.rank):
            y = y + self.conv(x, self.u[r]) * self.v[r]
        return y


class PReLU(nn.Module):
    """x if x >= 0 else a x, a shared (1) or per channel (C)."""

    def __init__(self, n=1):
        super().__init__()
        self.weight = _param(n)

    def forward(self, x):
        return F.prelu(x, self.weight)


class BatchNorm(nn.Module):
    """gm_op_batchnorm: per channel over the batch and every position;
    training mode: batch statistics (biased variance), running statistics
    moved by momentum 0.1 (unbiased variance); evaluation: the running ones."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = _param(c)
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, BN_MOMENTUM, BN_EPS)


class Dense(nn.Module):
    """A linear layer (B, I) -> (B, O), or a 1x1 convolution (B, I, n) ->
    (B, O, n), weight (O, I) and bias (O) as gmcnn stores them."""

    def __init__(self, cout, cin):
        super().__init__()
        self.weight = _param(cout, cin)
        self.bias = _param(cout)

    def forward(self, x):
        if x.dim() == 2:
            return F.linear(x, self.weight, self.bias)
        return torch.matmul(self.weight, x) + self.bias[:, None]


def _layernorm(x, eps=LN_EPS):
    """Each sample over all its (C, n) values, biased variance, no affine."""
    dims = tuple(range(1, x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = (x - mean).pow(2).mean(dims, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps)


def _pool(x, table, mode):
    g = _gather(x, table)
    return g.max(dim=2).values if mode == "max" else g.mean(dim=2)


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList()


class _Layer(nn.Module):
    pass


class GmcnnModule(nn.Module):
    """A gmcnn model as a torch module (see the module documentation).
    Attributes: kind, description (the parsed description), input_size (values
    per channel: |G|, or n*n for a lifting p4/p4m model, or H*W),
    in_channels, classifier (True for (N, classes) outputs), norm_mean /
    norm_std (numpy arrays or None)."""

    def __init__(self, desc, desc_json):
        super().__init__()
        self.description = desc
        self.kind = desc["kind"]
        self.in_channels = int(desc["in_channels"])
        self.out_dim = int(desc["out_dim"])
        self.dropout_p = float(desc.get("dropout", 0.0))
        self._desc_json = desc_json
        self._meta = {}
        self._names = []
        self.norm_mean = self.norm_std = None
        self.image_hw = None

    def _baseline_init(self, desc, owned):
        """The image a model without a group layer reads (gm__nn_image_size)."""
        self.image_hw = _baseline_image(desc, owned)
        self.input_size = self.image_hw[0] * self.image_hw[1]

    # inputs and outputs

    def standardize(self, x):
        """(x - mean[c]) / std[c] with the file's statistics (std 0 read as
        1), as gmcnn.Model.predict applies them, channels on axis 1 of
        (N, C, H, W) inputs (one channel otherwise); x as a float32 tensor
        unchanged without statistics."""
        x = torch.as_tensor(x, dtype=torch.float32)
        if self.norm_mean is None:
            return x
        c = x.shape[1] if x.dim() == 4 else 1
        if c != len(self.norm_mean):
            raise ValueError(f"inputs have {c} channels but the model's standardisation "
                             f"{len(self.norm_mean)}")
        mean = torch.as_tensor(self.norm_mean, dtype=torch.float64, device=x.device)
        std = torch.as_tensor(np.where(self.norm_std > 0, self.norm_std, 1.0), device=x.device)
        view = (1, c, 1, 1) if x.dim() == 4 else (1,) * x.dim()
        return ((x.double() - mean.reshape(view)) / std.reshape(view)).float()

    def _flatten(self, x):
        """(N, C, P) from (N, C, H, W), (N, C, P), (N, H, W) or (N, P)."""
        if x.dim() == 2:
            x = x[:, None, :]
        elif x.dim() == 3 and not (x.shape[1] == self.in_channels
                                   and x.shape[2] == self.input_size):
            x = x[:, None, :, :]
        if x.dim() == 4:
            x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        if torch.jit.is_tracing():  # sizes are traced values: checked by the first run
            return x
        if x.dim() != 3 or x.shape[1] != self.in_channels or x.shape[2] != self.input_size:
            raise ValueError(f"{self.kind} model input of shape {tuple(x.shape)}: expected "
                             f"(N, {self.in_channels}, H, W) with H*W = {self.input_size}, "
                             f"(N, {self.in_channels}, {self.input_size}), or for one "
                             f"channel (N, H, W) or (N, {self.input_size})")
        return x

    def forward(self, x):
        shape = x.shape
        y = self._forward(self._flatten(x))
        if not self.classifier and len(shape) == 4:
            y = y.reshape(y.shape[0], y.shape[1], shape[2], shape[3])
        return y

    def extra_repr(self):
        return f"kind={self.kind!r}, input_size={self.input_size}"


class GMClassifier(GmcnnModule):
    """GM_MODEL_GMCNN (shared-form convolutions, LayerNorm + one shared PReLU,
    1x1 residuals where channels change, global max, dropout, linear) and
    GM_MODEL_GMCNN_DEEP (desc form, LayerNorm or batch norm, a PReLU per
    layer, GMPool onto stride-2 subgroups, on p4/p4m lifting the image)."""

    def __init__(self, desc, desc_json, owned):
        super().__init__(desc, desc_json)
        deep = self.kind == "gmcnn_deep"
        form = desc.get("form", "full") if deep else "shared"
        self.batch_norm = desc.get("norm", "default") == "batch"
        self.pool_mode = desc.get("pool_mode", "max")
        rank, modulated = int(desc.get("ldr_rank", 0)), bool(desc.get("modulated", False))
        in_place = bool(desc.get("modulated_in_place", False))
        dom = _Domains(owned, desc["group"], int(desc.get("radius", 0)), self.kind)
        self.input_size = dom.positions
        if desc.get("center", False):
            self.register_buffer("center_table", torch.as_tensor(dom.center()),
                                 persistent=False)
        else:
            self.center_table = None
        self.classifier = True
        self.blocks = nn.ModuleList()
        cin, level = self.in_channels, 0
        for bi, bd in enumerate(desc.get("blocks", [])):
            cout = int(bd.get("channels", 0))
            blk = _Block()
            blk.lifts = bi == 0 and dom.levels[0].lift is not None
            blk.pool = bool(bd.get("pool", False))
            for li in range(int(bd.get("layers", 0))):
                table = dom.levels[0].lift if li == 0 and blk.lifts else dom.levels[level].conv
                layer = _Layer()
                layer.conv = GMConv(table, form, cin if li == 0 else cout, cout, rank, modulated,
                                    in_place)
                if deep and self.batch_norm:
                    layer.norm = BatchNorm(cout)
                if deep:
                    layer.prelu = PReLU()
                blk.layers.append(layer)
            blk.residual = Dense(cout, cin) if cin != cout and not blk.lifts else None
            if blk.pool:
                blk.register_buffer("pool_table", torch.as_tensor(dom.pool(bi)),
                                    persistent=False)
                level += 1
            self.blocks.append(blk)
            cin = cout
        self.prelu = None if deep else PReLU()
        self.fc = Dense(self.out_dim, cin)
        self.dropout = nn.Dropout(self.dropout_p)

    def _forward(self, x):
        if self.center_table is not None:
            x = _gather(x, self.center_table).sum(2) * 0.25
        for blk in self.blocks:
            res = None if blk.lifts else x
            if blk.residual is not None:
                res = blk.residual(res)
            for layer in blk.layers:
                y = layer.conv(x)
                prelu = self.prelu if self.prelu is not None else layer.prelu
                x = prelu(layer.norm(y) if self.batch_norm else _layernorm(y))
            if res is not None:
                x = x + res
            if blk.pool:
                x = _pool(x, blk.pool_table, self.pool_mode)
        g = x.max(dim=-1).values
        return self.fc(self.dropout(g))


class PlumeRegressor(GmcnnModule):
    """GM_MODEL_PLUME: 1x1 in (the skip path), blocks of PReLU(GMConv) whose
    output is added to the skip, 1x1 out; the first convolution reads the raw
    input."""

    def __init__(self, desc, desc_json, owned):
        super().__init__(desc, desc_json)
        blocks = desc.get("blocks", [])
        c = int(desc.get("hidden", 0)) or (int(blocks[0].get("channels", 0)) if blocks else 0) \
            or PLUME_WIDTH
        form = desc.get("form", "full")
        rank, modulated = int(desc.get("ldr_rank", 0)), bool(desc.get("modulated", False))
        in_place = bool(desc.get("modulated_in_place", False))
        dom = _Domains(owned, desc["group"], int(desc.get("radius", 0)), self.kind)
        self.input_size = dom.positions
        self.classifier = False
        self.input = Dense(c, self.in_channels)
        self.blocks = nn.ModuleList()
        cin = self.in_channels
        for bd in blocks:
            blk = _Block()
            for _ in range(int(bd.get("layers", 0))):
                layer = _Layer()
                layer.conv = GMConv(dom.levels[0].conv, form, cin, c, rank, modulated, in_place)
                layer.prelu = PReLU()
                blk.layers.append(layer)
                cin = c
            self.blocks.append(blk)
        self.output = Dense(self.out_dim, c)

    def _forward(self, x):
        skip = self.input(x)
        for blk in self.blocks:
            for layer in blk.layers:
                x = layer.prelu(layer.conv(x))
            x = skip = x + skip
        return self.output(skip)


class CNNBaseline(GmcnnModule):
    """GM_MODEL_CNN: zero-padded 3x3 convolutions (+ batch norm) + ReLU, 2x2
    max pooling per pooled block; global mean, dropout, linear (classifier)
    or residual blocks where channels match, dropout, 1x1 out (regressor)."""

    def __init__(self, desc, desc_json, owned):
        super().__init__(desc, desc_json)
        self._baseline_init(desc, owned)
        self.regressor = bool(desc.get("regressor", False))
        self.classifier = not self.regressor
        self.batch_norm = desc.get("norm", "default") == "batch"
        self.blocks = nn.ModuleList()
        cin = self.in_channels
        for bd in desc.get("blocks", []):
            blk = _Block()
            cout = int(bd.get("channels", 0))
            blk.in_channels, blk.out_channels = cin, cout
            blk.pool = bool(bd.get("pool", False))
            for _ in range(int(bd.get("layers", 0))):
                layer = _Layer()
                layer.conv = nn.Module()
                layer.conv.weight = _param(cout, cin, 3, 3)
                layer.conv.bias = _param(cout)
                if self.batch_norm:
                    layer.norm = BatchNorm(cout)
                blk.layers.append(layer)
                cin = cout
            self.blocks.append(blk)
        head = Dense(self.out_dim, cin)
        if self.regressor:
            self.output = head
        else:
            self.fc = head
        self.dropout = nn.Dropout(self.dropout_p)

    def _forward(self, x):
        b = x.shape[0]
        x = x.reshape(b, x.shape[1], *self.image_hw)
        for blk in self.blocks:
            res = x
            for layer in blk.layers:
                y = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding=1)
                if self.batch_norm:
                    y = layer.norm(y)
                x = F.relu(y)
            if self.regressor and blk.in_channels == blk.out_channels:
                x = x + res
            if blk.pool:
                x = F.max_pool2d(x, 2)
        flat = x.reshape(b, x.shape[1], -1)
        if self.regressor:
            return self.output(self.dropout(flat))
        return self.fc(self.dropout(flat.mean(-1)))


class MLPBaseline(GmcnnModule):
    """GM_MODEL_MLP: the flattened input through linear + ReLU layers,
    dropout, linear to the classes (or to out_dim * H * W for a regressor)."""

    def __init__(self, desc, desc_json, owned):
        super().__init__(desc, desc_json)
        self._baseline_init(desc, owned)
        self.regressor = bool(desc.get("regressor", False))
        self.classifier = not self.regressor
        hidden = int(desc.get("hidden", 0)) or MLP_WIDTH
        blocks = desc.get("blocks", []) or [{}]
        self.blocks = nn.ModuleList()
        cin = self.in_channels * self.input_size
        for bd in blocks:
            blk = _Block()
            cout = int(bd.get("channels", 0)) or hidden
            for _ in range(int(bd.get("layers", 0)) or 1):
                layer = _Layer()
                layer.linear = Dense(cout, cin)
                blk.layers.append(layer)
                cin = cout
            self.blocks.append(blk)
        nout = self.out_dim * self.input_size if self.regressor else self.out_dim
        if self.regressor:
            self.output = Dense(nout, cin)
        else:
            self.fc = Dense(nout, cin)
        self.dropout = nn.Dropout(self.dropout_p)

    def _forward(self, x):
        b = x.shape[0]
        x = x.reshape(b, -1)
        for blk in self.blocks:
            for layer in blk.layers:
                x = F.relu(layer.linear(x))
        x = self.dropout(x)
        if self.regressor:
            return self.output(x).reshape(b, self.out_dim, self.input_size)
        return self.fc(x)


def _f_circulant(v, f):
    """Z_f(v) for rows v (r, n): (r, n, n) with [a][b] = v[a-b] (a >= b),
    f v[n+a-b] (a < b)."""
    n = v.shape[-1]
    a = torch.arange(n, device=v.device)[:, None]
    b = torch.arange(n, device=v.device)[None, :]
    idx = (a - b) % n
    sign = torch.where(a >= b, 1.0, float(f)).to(v.dtype)
    return v[:, idx] * sign


def _tridiag_dense(t):
    """The n x n operator of rows (sub, diag, sup) (3, n), corners wrapping."""
    n = t.shape[1]
    i = torch.arange(n, device=t.device)
    m = torch.zeros(n, n, dtype=t.dtype, device=t.device)
    m = m.index_put((i, (i - 1) % n), t[0], accumulate=True)
    m = m.index_put((i, i), t[1], accumulate=True)
    return m.index_put((i, (i + 1) % n), t[2], accumulate=True)


def _krylov(a, v):
    """K(A, v_i) for rows v (r, n): (r, n, n) whose column k is A^k v_i."""
    cols = [v]
    for _ in range(v.shape[1] - 1):
        cols.append(torch.matmul(cols[-1], a.t()))
    return torch.stack(cols, dim=2)


class LDRBaseline(GmcnnModule):
    """GM_MODEL_LDR: x -> M x + bias -> ReLU -> dropout -> linear, M the
    Toeplitz-like 1/2 sum_i Z_1(g_i) Z_-1(J h_i), the LDR-TD sum_i K(A, g_i)
    K(B^T, h_i)^T, or dense (desc structure)."""

    def __init__(self, desc, desc_json, owned):
        super().__init__(desc, desc_json)
        self._baseline_init(desc, owned)
        self.classifier = True
        self.structure = desc.get("structure", "toeplitz")
        n = self.in_channels * self.input_size
        r = int(desc.get("ldr_rank", 0)) or 1
        self.layer = nn.Module()
        if self.structure == "unstructured":
            self.layer.weight = _param(n, n)
        else:
            self.layer.g = _param(r, n)
            self.layer.h = _param(r, n)
            if self.structure == "tridiag":
                self.layer.a = _param(3, n)
                self.layer.b = _param(3, n)
        self.layer.bias = _param(n)
        self.fc = Dense(self.out_dim, n)
        self.dropout = nn.Dropout(self.dropout_p)

    def matrix(self):
        """The hidden n x n matrix M."""
        lay = self.layer
        if self.structure == "unstructured":
            return lay.weight
        if self.structure == "toeplitz":
            zg = _f_circulant(lay.g, 1.0)
            zh = _f_circulant(torch.flip(lay.h, dims=[1]), -1.0)
            return 0.5 * torch.matmul(zg, zh).sum(0)
        ka = _krylov(_tridiag_dense(lay.a), lay.g)
        kb = _krylov(_tridiag_dense(lay.b).t(), lay.h)
        return torch.matmul(ka, kb.transpose(1, 2)).sum(0)

    def _forward(self, x):
        flat = x.reshape(x.shape[0], -1)
        y = F.relu(F.linear(flat, self.matrix(), self.layer.bias))
        return self.fc(self.dropout(y))


_BUILDERS = {"gmcnn": GMClassifier, "gmcnn_deep": GMClassifier, "plume": PlumeRegressor,
             "cnn": CNNBaseline, "mlp": MLPBaseline, "ldr": LDRBaseline}


# --- files -----------------------------------------------------------------------------

def _library_params(path):
    """[(name, shape)] of the model the library loads from path, in its order."""
    s = ctypes.POINTER(SavedModel)()
    check(lib.gm_saved_model_open(os.fspath(path).encode(), ctypes.byref(s)))
    try:
        m = s.contents.model
        out = []
        for i in range(lib.gm_model_param_count(m)):
            t = lib.gm_model_param(m, i).contents
            out.append((lib.gm_model_param_name(m, i).decode(), tuple(t.shape[:t.ndim])))
        return out
    finally:
        lib.gm_saved_model_close(s)


def build(desc_json):
    """An uninitialised module (zero parameters) for a model description
    (the JSON text of the "gmcnn.model" metadata)."""
    desc = json.loads(desc_json)
    if not isinstance(desc, dict):
        raise ValueError("model description: expected a JSON object")
    desc.setdefault("kind", "gmcnn")
    kind = desc["kind"]
    if kind not in _BUILDERS:
        raise NotImplementedError(f"gmcnn.torch: model kind {kind!r} is not supported")
    with _Owned() as owned:
        return _BUILDERS[kind](desc, desc_json, owned)


def from_file(path) -> "GmcnnModule":
    """The gmcnn model file at path (a run's best.safetensors or
    last.safetensors, or a file save wrote) as a torch module in evaluation
    mode, its parameters and running statistics those of the file."""
    path = os.fspath(path)
    # The library reads the file first: its checks (and its errors, as
    # GmcnnError) come before anything here.
    expected = _library_params(path)
    tensors, meta = read_safetensors(path)
    if MODEL_META_KEY not in meta:
        raise ValueError(f"model file '{path}': no \"{MODEL_META_KEY}\" metadata")
    module = build(meta[MODEL_META_KEY])
    state = module.state_dict()
    names = list(state)
    mine = [(n, tuple(state[n].shape)) for n in names]
    if sorted(mine) != sorted(expected):
        missing = sorted(set(expected) - set(mine))
        extra = sorted(set(mine) - set(expected))
        raise RuntimeError(f"gmcnn.torch: the {module.kind} module's parameters differ from the "
                           f"library's model of '{path}': library only {missing[:4]}, module "
                           f"only {extra[:4]}")
    for name in tensors:
        if not name.startswith(OPTIM_PREFIX) and name not in state:
            raise ValueError(f"model file '{path}' tensor '{name}': not a parameter")
    with torch.no_grad():
        for name in names:
            arr = tensors[name]
            if tuple(arr.shape) != tuple(state[name].shape):
                raise ValueError(f"model file '{path}' tensor '{name}': shape {arr.shape}, the "
                                 f"parameter has {tuple(state[name].shape)}")
            state[name].copy_(torch.from_numpy(np.array(arr, dtype=np.float32)))
    module._names = [n for n, _ in expected]
    module._meta = {k: meta[k] for k in CARRIED_META_KEYS if k in meta}
    if "gmcnn.normalize.mean" in meta and "gmcnn.normalize.std" in meta:
        module.norm_mean = np.array(json.loads(meta["gmcnn.normalize.mean"]), dtype=np.float64)
        module.norm_std = np.array(json.loads(meta["gmcnn.normalize.std"]), dtype=np.float64)
    module.source_path = path
    return module.eval()


def save(module, path):
    """Writes a module from from_file as a gmcnn model file at path
    (atomically): its description, its parameters and running statistics as
    F32 under gmcnn's names, and the source file's standardisation and
    forecasting metadata."""
    if not isinstance(module, GmcnnModule):
        raise TypeError("gmcnn.torch.save: the module must come from gmcnn.torch.from_file")
    state = module.state_dict()
    names = module._names or list(state)
    if sorted(names) != sorted(state):
        raise ValueError("gmcnn.torch.save: the module's parameters were renamed or removed")
    tensors = []
    for name in names:
        t = state[name].detach().to("cpu", torch.float32).contiguous().numpy()
        if not np.all(np.isfinite(t)):
            raise ValueError(f"gmcnn.torch.save: parameter '{name}' holds non-finite values")
        tensors.append((name, t))
    meta = {MODEL_META_KEY: module._desc_json}
    meta.update(module._meta)
    write_safetensors(path, tensors, meta)


# --- the library's own forward, for comparisons ----------------------------------------

def library_forward(path, x, training=False, target=None, seed=0):
    """Runs the model the library loads from path on x (float32 (N, C, P),
    already standardised) with gm_model_forward, for comparisons: a dict
    with "out" (the output as the library shapes it), "state" ({name:
    array} of every parameter and running statistic after the forward:
    training mode updates batch norm's running statistics, the in-place
    modulated layer renormalises) and, with target (as many values as the
    output), "grads": the gradients of mean((out - target)^2) by name.
    training=True is gmcnn's training mode (batch statistics; dropout from
    the library's generator seeded with seed)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"library_forward: x of shape {x.shape}, expected (N, C, P)")
    s = ctypes.POINTER(SavedModel)()
    check(lib.gm_saved_model_open(os.fspath(path).encode(), ctypes.byref(s)))
    ctx = ctypes.c_void_p()
    try:
        m = s.contents.model
        check(lib.gm_ctx_new(0, seed, ctypes.byref(ctx)))
        lib.gm_ctx_set_training(ctx, bool(training))
        lib.gm_ctx_set_grad(ctx, target is not None)
        arena = lib.gm_ctx_arena(ctx)
        xt = P(CTensor)()
        check(lib.gm_tensor_new3(arena, x.shape[0], x.shape[1], x.shape[2], ctypes.byref(xt)))
        ctypes.memmove(xt.contents.data, x.ctypes.data, x.nbytes)
        out = P(CTensor)()
        check(lib.gm_model_forward(m, ctx, xt, ctypes.byref(out)))
        o = out.contents
        shape = tuple(o.shape[:o.ndim])
        res = {"out": np.ctypeslib.as_array(o.data, shape=shape).copy()}
        if target is not None:
            tgt = np.ascontiguousarray(target, dtype=np.float32).reshape(shape)
            tt = P(CTensor)()
            check(lib.gm_tensor_new3(arena, 1, 1, tgt.size, ctypes.byref(tt)))
            tt.contents.ndim = o.ndim
            for d in range(o.ndim):
                tt.contents.shape[d] = o.shape[d]
            ctypes.memmove(tt.contents.data, tgt.ctypes.data, tgt.nbytes)
            loss = P(CTensor)()
            check(lib.gm_model_zero_grad(m))
            check(lib.gm_op_mse(ctx, out, tt, ctypes.byref(loss)))
            check(lib.gm_ctx_backward(ctx, loss))
        res["state"], grads = {}, {}
        for i in range(lib.gm_model_param_count(m)):
            t = lib.gm_model_param(m, i).contents
            name, shape = lib.gm_model_param_name(m, i).decode(), tuple(t.shape[:t.ndim])
            res["state"][name] = np.ctypeslib.as_array(t.data, shape=shape).copy()
            if target is not None and t.requires_grad and t.grad:
                grads[name] = np.ctypeslib.as_array(t.grad, shape=shape).copy()
        if target is not None:
            res["grads"] = grads
        return res
    finally:
        if ctx:
            lib.gm_ctx_free(ctx)
        lib.gm_saved_model_close(s)
