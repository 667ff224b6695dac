"""The PyTorch peer of gmcnn's benchmarks: shared pieces.

Layers are written the straightforward way, as the authors' PyTorch
prototype does: the input is gathered through the index table to
(B, C, K, |G|) and contracted with the kernel by einsum. On C_n x C_n the same
layers also exist as conv2d with circular padding (the fastest thing a
PyTorch user could write). Index tables come from gmcnn's own plans (written
by `bench_kernels --dump` / `bench_models --dump` as int32 .npy), so both
sides compute the same function.

Timing protocol (as bench/bench_util.h): `warmup` untimed runs, then timed
runs until at least `min_reps` runs and `min_time` seconds, or `max_reps`,
or `max_time` seconds (after at least one timed run); the reported time is
the median run.

Run with Debian's /usr/bin/python3 (python3-torch 1.13).
"""
import json
import math
import os
import platform
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

THREADS = 2


def setup(threads=THREADS):
    torch.set_num_threads(threads)
    torch.manual_seed(42)


class Protocol:
    def __init__(self, warmup=1, min_reps=3, max_reps=50, min_time=0.3, max_time=0.0):
        self.warmup, self.min_reps, self.max_reps, self.min_time, self.max_time = (
            warmup, min_reps, max_reps, min_time, max_time)

    def more(self, done, spent):
        if done >= self.max_reps:
            return False
        if done >= 1 and self.max_time > 0 and spent >= self.max_time:
            return False
        return done < self.min_reps or spent < self.min_time


def measure(proto, run):
    """run() returns a tuple of part times; returns (medians, reps)."""
    samples = []
    spent = 0.0
    i = 0
    while i < proto.warmup or proto.more(len(samples), spent):
        parts = run()
        if i >= proto.warmup:
            samples.append(parts)
            spent += sum(parts)
        i += 1
    meds = tuple(statistics.median(s[k] for s in samples) for k in range(len(samples[0])))
    return meds, len(samples)


def now():
    return time.perf_counter()


def vm_kib(key):
    """A Vm... line of /proc/self/status in KiB (VmHWM: peak resident)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def blas_library():
    try:
        return os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        return "unknown"


def machine_record(threads=THREADS):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "suite": "machine", "impl": "torch", "cpu": cpu, "threads": threads,
        "torch": torch.__version__, "python": platform.python_version(),
        "blas": blas_library(), "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "loadavg1": os.getloadavg()[0],
    }


def write_json(path, records):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def load_table(directory, name):
    return torch.from_numpy(np.load(os.path.join(directory, name)).astype(np.int64))


def parse_torus(spec):
    """'C28xC28' -> 28; None when the group is not C_n x C_n."""
    parts = spec.split("x")
    if len(parts) == 2 and all(p.startswith("C") for p in parts) and parts[0] == parts[1]:
        return int(parts[0][1:])
    return None


def kaiming_(w, fan_in):
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        w.uniform_(-bound, bound)
    return w


# --- layers, functional ------------------------------------------------------
# x (B, I, n); table (K, n) long: T[k][g] = index(g s_k^-1).

def gather(x, table):
    """x[b, i, T[k][g]] as (B, I, K, n): the prototype's x[..., index_matrix]."""
    return x[:, :, table]


def gmconv_full_gather(x, table, w, b):
    """y[b,o,g] = b[o] + sum_{i,k} w[o,i,k] x[b,i,T[k][g]]."""
    return torch.einsum("oik,bikn->bon", w, gather(x, table)) + b[None, :, None]


def gmconv_shared_gather(x, table, w, b):
    """y[b,o,g] = b[o] + sum_k w[o,k] sum_i x[b,i,T[k][g]] (the prototype's einsum)."""
    return torch.einsum("ok,bikn->bon", w, gather(x, table)) + b[None, :, None]


def ldr_shared_gather(x, table, w, b, us, vs):
    """conv_w(x) + sum_r v_r * conv_{u_r}(x), one gather shared by all kernels."""
    xg = gather(x, table)
    y = torch.einsum("ok,bikn->bon", w, xg) + b[None, :, None]
    for u, v in zip(us, vs):
        y = y + v[None, None, :] * torch.einsum("ok,bikn->bon", u, xg)
    return y


def ldr_full_gather(x, table, w, b, us, vs):
    """The full form: kernels (O, I, K)."""
    xg = gather(x, table)
    y = torch.einsum("oik,bikn->bon", w, xg) + b[None, :, None]
    for u, v in zip(us, vs):
        y = y + v[None, None, :] * torch.einsum("oik,bikn->bon", u, xg)
    return y


def gmpool_max_gather(x, table):
    """y[b,c,j] = max_r x[b,c,T[r][j]]."""
    return gather(x, table).max(dim=2)[0]


# On C_n x C_n with the radius-t support, GMConv is circular cross-correlation
# with the flipped (2t+1)^2 kernel; the flip does not change the cost, so the
# kernel is used as a plain conv2d weight.

def gmconv_full_conv2d(x, n, w4, b):
    """x (B, I, n*n), w4 (O, I, k, k)."""
    bsz, ci, _ = x.shape
    p = w4.shape[-1] // 2
    img = F.pad(x.reshape(bsz, ci, n, n), (p, p, p, p), mode="circular")
    return F.conv2d(img, w4, b).reshape(bsz, w4.shape[0], n * n)


def gmconv_shared_conv2d(x, n, w4, b):
    """Channel sum, then one input channel: w4 (O, 1, k, k)."""
    return gmconv_full_conv2d(x.sum(dim=1, keepdim=True), n, w4, b)


def ldr_shared_conv2d(x, n, w4, b, us4, vs):
    s = x.sum(dim=1, keepdim=True)
    y = gmconv_full_conv2d(s, n, w4, b)
    for u, v in zip(us4, vs):
        y = y + v[None, None, :] * gmconv_full_conv2d(s, n, u, None)
    return y


def ldr_full_conv2d(x, n, w4, b, us4, vs):
    y = gmconv_full_conv2d(x, n, w4, b)
    for u, v in zip(us4, vs):
        y = y + v[None, None, :] * gmconv_full_conv2d(x, n, u, None)
    return y


def gmpool_max_pool2d(x, n):
    bsz, c, _ = x.shape
    return F.max_pool2d(x.reshape(bsz, c, n, n), 2).reshape(bsz, c, (n // 2) ** 2)


def timed(f, *args):
    """Seconds taken by f(*args)."""
    t0 = now()
    f(*args)
    return now() - t0
