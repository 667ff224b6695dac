#!/usr/bin/env python3
"""Max relative difference between the parameters of two safetensors files.

For every tensor of REFERENCE that is a parameter (not "optim.*"): max|a - b|
over its elements divided by max|b| (b: the reference); prints the largest
over all tensors with its tensor's name and exits 1 when it exceeds TOL.
Usage: compare_params.py REFERENCE OTHER TOL
"""
import json
import struct
import sys
from array import array


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__" or name.startswith("optim."):
            continue
        code = {"F32": "f", "F64": "d"}[e["dtype"]]
        lo, hi = e["data_offsets"]
        a = array(code)
        a.frombytes(body[lo:hi])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = a
    return out


def main():
    ref, other, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
    if sorted(ref) != sorted(other):
        print(f"tensors differ: {sorted(ref)} vs {sorted(other)}")
        return 1
    worst, where = 0.0, ""
    for name, b in ref.items():
        a = other[name]
        scale = max((abs(v) for v in b), default=0.0) or 1.0
        d = max((abs(x - y) for x, y in zip(a, b)), default=0.0) / scale
        if d > worst or not where:
            worst, where = d, name
    print(f"max relative difference {worst:.3e} ({where}; {len(ref)} tensors)")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
