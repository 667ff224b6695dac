"""PyTorch peer of bench_kernels: the same cases (DIR/cases.json and index
tables written by `bench_kernels --dump DIR`), the same timing protocol, JSON
records with the same keys.

    /usr/bin/python3 bench/peer/peer_kernels.py --cases DIR [--json FILE]
        [--quick] [--min-time S] [--max-gb G] [--gather-max-batch B]
        [--only SUBSTR]

Backward times are those of torch.autograd.grad(y, inputs, dy) with dy given
(dx, dW and db, as gmcnn computes). The gather formulation is skipped, and
recorded as such, above --gather-max-batch (its time grows linearly with
the batch; the batches below show it) and where its gathered tensor and
gradient would exceed --max-gb.
"""
import argparse
import json
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peer_common as pc  # noqa: E402


def flops_fwd(case):
    return float(case["flops_fwd"])


def is_full(case):
    return case["op"] in ("gmconv_full", "ldr1_full", "ldr4_full")


def make_inputs(case, n_in, k, gen):
    b, ci, co, r = case["batch"], case["cin"], case["cout"], case["rank"]
    x = torch.randn(b, ci, n_in, generator=gen).requires_grad_()
    if case["op"] == "gmpool_max":
        return {"x": x}
    full = is_full(case)
    fan = ci * k if full else k
    shape = (co, ci, k) if full else (co, k)
    w = pc.kaiming_(torch.empty(shape), fan).requires_grad_()
    bias = (0.1 * torch.randn(co, generator=gen)).requires_grad_()
    us = [pc.kaiming_(torch.empty(shape), fan).requires_grad_() for _ in range(r)]
    vs = [torch.randn(n_in, generator=gen).requires_grad_() for _ in range(r)]
    return {"x": x, "w": w, "b": bias, "us": us, "vs": vs}


def gather_forward(case, table):
    op = case["op"]
    if op == "gmconv_full":
        return lambda t: pc.gmconv_full_gather(t["x"], table, t["w"], t["b"])
    if op == "gmconv_shared":
        return lambda t: pc.gmconv_shared_gather(t["x"], table, t["w"], t["b"])
    if op.startswith("ldr") and is_full(case):
        return lambda t: pc.ldr_full_gather(t["x"], table, t["w"], t["b"], t["us"], t["vs"])
    if op.startswith("ldr"):
        return lambda t: pc.ldr_shared_gather(t["x"], table, t["w"], t["b"], t["us"], t["vs"])
    return lambda t: pc.gmpool_max_gather(t["x"], table)


def conv2d_forward(case, n, k):
    """The conv2d (circular padding) formulation on C_n x C_n; weights are
    reshaped views of the same parameters, so the gradient flows to them."""
    op, side = case["op"], int(round(k ** 0.5))
    if op == "gmconv_full":
        return lambda t: pc.gmconv_full_conv2d(
            t["x"], n, t["w"].reshape(t["w"].shape[0], t["w"].shape[1], side, side), t["b"])
    if op == "gmconv_shared":
        return lambda t: pc.gmconv_shared_conv2d(
            t["x"], n, t["w"].reshape(t["w"].shape[0], 1, side, side), t["b"])
    if op.startswith("ldr") and is_full(case):
        def full4(w):
            return w.reshape(w.shape[0], w.shape[1], side, side)
        return lambda t: pc.ldr_full_conv2d(t["x"], n, full4(t["w"]), t["b"],
                                            [full4(u) for u in t["us"]], t["vs"])
    if op.startswith("ldr"):
        return lambda t: pc.ldr_shared_conv2d(
            t["x"], n, t["w"].reshape(-1, 1, side, side), t["b"],
            [u.reshape(-1, 1, side, side) for u in t["us"]], t["vs"])
    return lambda t: pc.gmpool_max_pool2d(t["x"], n)


def leaves(t):
    out = [t["x"]]
    for name in ("w", "b"):
        if name in t:
            out.append(t[name])
    out += t.get("us", []) + t.get("vs", [])
    return out


def time_case(fwd, inputs, proto):
    ins = leaves(inputs)
    dy = None

    def run():
        nonlocal dy
        t0 = pc.now()
        y = fwd(inputs)
        t1 = pc.now()
        if dy is None:
            dy = torch.randn_like(y)
        t2 = pc.now()
        torch.autograd.grad(y, ins, dy)
        t3 = pc.now()
        return (t1 - t0, t3 - t2)

    (tf, tb), reps = pc.measure(proto, run)
    return tf, tb, reps


def gather_bytes(case, k, n_out):
    """Bytes of the gathered tensor and of what its backward materialises."""
    c = case["cin"]
    size = 4.0 * case["batch"] * c * k * n_out
    factor = 3.0 if is_full(case) else 2.0
    return size * factor


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--max-gb", type=float, default=6.0)
    ap.add_argument("--gather-max-batch", type=int, default=16)
    ap.add_argument("--only")
    ap.add_argument("--threads", type=int, default=pc.THREADS)
    a = ap.parse_args()
    pc.setup(a.threads)
    proto = pc.Protocol(1, 3, 50, a.min_time, 3.0)
    if a.quick:
        proto = pc.Protocol(1, 2, 50, 0.05, 1.0)
    with open(os.path.join(a.cases, "cases.json")) as f:
        cases = json.load(f)
    records = [pc.machine_record(a.threads)]
    gen = torch.Generator().manual_seed(42)
    print(f"torch {torch.__version__}, {a.threads} threads, BLAS {pc.blas_library()}")
    print(f"{'case':48s} {'impl':13s} | {'fwd ms':>10s} {'bwd ms':>10s} | {'GFLOP/s f+b':>11s}")
    for case in cases:
        if a.only and a.only not in case["key"]:
            continue
        table = pc.load_table(a.cases, case["table"])
        k, n_out = table.shape
        # a convolution plan maps G to G; a pooling plan covers G once
        n_in = k * n_out if case["op"] == "gmpool_max" else n_out
        inputs = make_inputs(case, n_in, k, gen)
        impls = [("torch-gather", gather_forward(case, table))]
        side = pc.parse_torus(case["group"])
        if side is not None:
            impls.append(("torch-conv2d", conv2d_forward(case, side, k)))
        ff = flops_fwd(case)
        base = {"suite": "kernels", "key": case["key"], "op": case["op"],
                "group": case["group"], "t": case["t"], "K": k, "N": n_out,
                "cin": case["cin"], "cout": case["cout"], "batch": case["batch"]}
        for impl, fwd in impls:
            why = None
            if impl == "torch-gather" and case["batch"] > a.gather_max_batch:
                why = f"batch above {a.gather_max_batch} (time; the gather scales with the batch)"
            elif impl == "torch-gather" and gather_bytes(case, k, n_out) > a.max_gb * 2**30:
                gb = gather_bytes(case, k, n_out) / 2**30
                why = f"the gather needs ~{gb:.1f} GiB > {a.max_gb} GiB"
            if why:
                for p in ("fwd", "bwd"):
                    records.append(dict(base, impl=impl, **{"pass": p}, skipped=why))
                print(f"{case['key']:48s} {impl:13s} | skipped: {why}")
                continue
            tf, tb, reps = time_case(fwd, inputs, proto)
            byt = 4.0 * case["batch"] * case["cin"] * (n_in + n_out) if ff == 0 else 0
            for p, t, fl in (("fwd", tf, ff), ("bwd", tb, 2 * ff)):
                r = dict(base, impl=impl, **{"pass": p}, time_s=t, flops=fl, reps=reps)
                if fl > 0:
                    r["gflops"] = fl / t * 1e-9
                if byt > 0:
                    r["gbps"] = byt / t * 1e-9
                records.append(r)
            rate = 3 * ff / (tf + tb) * 1e-9 if ff > 0 else float("nan")
            print(f"{case['key']:48s} {impl:13s} | {tf * 1e3:10.3f} {tb * 1e3:10.3f} | "
                  f"{rate:11.1f}", flush=True)
    pc.write_json(a.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
