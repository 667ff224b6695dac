#!/usr/bin/python3
"""An independent safetensors reader and writer, for checking gmcnn's files.

Uses only json, struct and numpy (plus the safetensors package for the *-lib
modes, when it is installed). Exit status 0 means the check passed; anything
else prints the reason.

  safetensors_check.py read FILE EXPECT.json
      Parses FILE strictly from the format's definition and compares it with
      EXPECT.json: {"metadata": {k: v} | null,
                    "tensors": [{"name", "dtype", "shape", "values"}, ...]}
      (tensors in data order, values flattened in C order). Also checks the
      conventions of gmcnn's writer: the data region starts at a multiple of
      8, the header is padded with spaces only, "__metadata__" comes first.
  safetensors_check.py write FILE
      Writes the fixed file described by expected_tensors() and
      EXPECTED_METADATA, laid out the way another writer might: pretty JSON
      with spaces, keys in an order that differs from the data order, a U8
      tensor that leaves the next one unaligned, escapes in names.
  safetensors_check.py read-lib FILE EXPECT.json
  safetensors_check.py write-lib FILE
      The same with the safetensors package (exit status 3 when it is missing).
"""

import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}
MAX_HEADER = 100_000_000

EXPECTED_METADATA = {"format": "np", "note": "\u00fcn\u00efcode \"quoted\"\n\\ done"}


def expected_tensors():
    """(name, array) pairs in the data order of the 'write' file."""
    return [
        ("bytes", np.array([0, 128, 255], dtype=np.uint8)),
        ("w4d", ((np.arange(24, dtype=np.float64) - 7.5) * 0.25).astype("<f4").reshape(2, 3, 2, 2)),
        ("scalar", np.array(-0.0025, dtype="<f8")),
        ("ints", np.array([-2**31, -1, 0, 7, 2**31 - 1], dtype="<i4")),
        ("big", np.array([[-2**63, -1], [1, 2**63 - 1]], dtype="<i8")),
        ("empty", np.zeros((0, 3), dtype="<f4")),
        ("name \"q\" \u00e9/\u2603", np.array([1.5], dtype="<f4")),
    ]


def fail(msg):
    print("safetensors_check: " + msg)
    sys.exit(1)


def no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            fail("duplicate key %r in the header" % k)
        seen[k] = v
    return seen


def parse(path, gmcnn_conventions):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER or 8 + n > len(blob):
        fail("header size %d out of range (file %d bytes)" % (n, len(blob)))
    raw = blob[8:8 + n]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("header is not UTF-8: %s" % e)
    header = json.loads(text, object_pairs_hook=no_duplicates)
    if not isinstance(header, dict):
        fail("header is not an object")
    if gmcnn_conventions:
        if (8 + n) % 8 != 0:
            fail("data starts at %d, not a multiple of 8" % (8 + n))
        end = len(text.rstrip(" "))
        if text[end:] != " " * (len(text) - end) or not text[:end].endswith("}"):
            fail("header padding is not spaces after the object")
        keys = list(header.keys())
        if "__metadata__" in header and keys[0] != "__metadata__":
            fail("__metadata__ is not the first key")
    meta = header.pop("__metadata__", None)
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            fail("__metadata__ is not an object of strings")
    data = blob[8 + n:]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info.keys()) != {"dtype", "shape", "data_offsets"}:
            fail("tensor %r: entry keys %r" % (name, info))
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            fail("tensor %r: dtype %r" % (name, dtype))
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            fail("tensor %r: shape %r" % (name, shape))
        if len(offs) != 2 or not all(isinstance(o, int) for o in offs):
            fail("tensor %r: data_offsets %r" % (name, offs))
        b, e = offs
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(DTYPES[dtype]).itemsize
        if not 0 <= b <= e <= len(data) or e - b != size:
            fail("tensor %r: data_offsets [%d, %d) for %s %r (data %d bytes)"
                 % (name, b, e, dtype, shape, len(data)))
        arr = np.frombuffer(data[b:e], dtype=DTYPES[dtype]).reshape(shape)
        entries.append((b, e, name, dtype, arr))
    entries.sort(key=lambda t: (t[0], t[1], t[2]))
    pos = 0
    for b, e, name, _, _ in entries:
        if b != pos:
            fail("tensor %r starts at %d, expected %d (gap or overlap)" % (name, b, pos))
        pos = e
    if pos != len(data):
        fail("tensors cover %d of %d data bytes" % (pos, len(data)))
    return meta, [(name, dtype, arr) for _, _, name, dtype, arr in entries]


def compare(meta, tensors, expect_path):
    with open(expect_path, "r", encoding="utf-8") as f:
        want = json.load(f)
    if meta != want["metadata"]:
        fail("metadata %r, expected %r" % (meta, want["metadata"]))
    got_names = [t[0] for t in tensors]
    want_names = [t["name"] for t in want["tensors"]]
    if sorted(got_names) != sorted(want_names):
        fail("tensors %r, expected %r" % (got_names, want_names))
    by_name = {t[0]: t for t in tensors}
    for w in want["tensors"]:
        name, dtype, arr = by_name[w["name"]]
        if dtype != w["dtype"] or list(arr.shape) != w["shape"]:
            fail("tensor %r: %s %r, expected %s %r"
                 % (name, dtype, list(arr.shape), w["dtype"], w["shape"]))
        ref = np.array(w["values"], dtype=DTYPES[dtype]).reshape(w["shape"])
        if not np.array_equal(arr, ref):
            fail("tensor %r: values %r, expected %r" % (name, arr.ravel()[:8], ref.ravel()[:8]))
    print("ok: %d tensors, %d metadata entries" % (len(tensors), len(meta or {})))


def write(path):
    tensors = expected_tensors()
    offsets, pos = {}, 0
    for name, arr in tensors:
        offsets[name] = (pos, pos + arr.nbytes)
        pos += arr.nbytes
    inv = {v: k for k, v in DTYPES.items()}
    inv["|u1"] = "U8"
    header = {}
    # Keys in reverse data order with the metadata last: readers must not
    # rely on either.
    for name, arr in reversed(tensors):
        header[name] = {"dtype": inv[arr.dtype.str], "shape": list(arr.shape),
                        "data_offsets": list(offsets[name])}
    header["__metadata__"] = EXPECTED_METADATA
    text = json.dumps(header, indent=1).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, arr in tensors:
            f.write(arr.tobytes(order="C"))
    print("wrote %s" % path)


def lib():
    try:
        import safetensors.numpy as stnp
        from safetensors import safe_open
    except ImportError:
        print("safetensors package not installed")
        sys.exit(3)
    return stnp, safe_open


def main(argv):
    if len(argv) == 4 and argv[1] == "read":
        meta, tensors = parse(argv[2], True)
        compare(meta, tensors, argv[3])
    elif len(argv) == 3 and argv[1] == "write":
        write(argv[2])
    elif len(argv) == 4 and argv[1] == "read-lib":
        stnp, safe_open = lib()
        loaded = stnp.load_file(argv[2])
        with safe_open(argv[2], framework="numpy") as f:
            meta = f.metadata()
        inv = {np.dtype(v).str: k for k, v in DTYPES.items()}
        tensors = [(k, inv[v.dtype.str], v) for k, v in loaded.items()]
        compare(meta, tensors, argv[3])
    elif len(argv) == 3 and argv[1] == "write-lib":
        stnp, _ = lib()
        stnp.save_file({k: np.ascontiguousarray(v) for k, v in expected_tensors()}, argv[2],
                       metadata=EXPECTED_METADATA)
        print("wrote %s" % argv[2])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
