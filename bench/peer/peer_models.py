"""PyTorch peer of bench_models: the reference GM-CNN classifier of the reference
(blocks of shared GMConv + LayerNorm + one shared PReLU, 1x1 residual where
the channels change, global max over G, dropout, linear), trained with AdamW
on random data; inference at batch 1 and --infer-batch; peak resident
memory. One
configuration per process (the memory high-water mark is per process).

    /usr/bin/python3 bench/peer/peer_models.py --models DIR --model NAME
        [--impl gather|conv2d] [--mode time|memory] [--json FILE]
        [--train-batch B] [--infer-batch B] [--quick]

DIR holds models.json and the index tables (`bench_models --dump DIR`).
--impl gather is the prototype's layer (x[..., index] gathered to
(B, C, K, |G|), then einsum); --impl conv2d (C_n x C_n only) sums the
channels and runs conv2d with circular padding.

--mode memory reports the peak resident memory (VmHWM) of a training step at
--memory-batch; where the gathered tensor of the widest layer would exceed
--max-gb GiB, it is extrapolated linearly from steps at two smaller batches
(recorded as "extrapolated_from"). Run it without the GLIBC_TUNABLES of the
timing runs, so that freed blocks count as freed.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peer_common as pc  # noqa: E402


def gather_gib(cfg, table, batch, width=120):
    """GiB of the largest gathered tensor of a step: (B, width, K, |G|)."""
    k, n = table.shape
    return 4.0 * batch * width * k * n / 2**30


class GMConvShared(nn.Module):
    def __init__(self, table, cout, impl, side):
        super().__init__()
        k = table.shape[0]
        self.register_buffer("table", table)
        self.impl, self.side = impl, side
        self.weight = nn.Parameter(pc.kaiming_(torch.empty(cout, k), k))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        if self.impl == "gather":
            return pc.gmconv_shared_gather(x, self.table, self.weight, self.bias)
        kk = int(round(self.weight.shape[1] ** 0.5))
        return pc.gmconv_shared_conv2d(x, self.side, self.weight.reshape(-1, 1, kk, kk),
                                       self.bias)


class GMCNN(nn.Module):
    def __init__(self, cfg, table, impl, width=120, nblocks=2):
        super().__init__()
        side = pc.parse_torus(cfg["group"])
        self.convs = nn.ModuleList()
        self.res = nn.ModuleList()
        cin = cfg["in_channels"]
        for _ in range(nblocks):
            self.convs.append(GMConvShared(table, width, impl, side))
            self.res.append(nn.Conv1d(cin, width, 1) if cin != width else nn.Identity())
            cin = width
        self.prelu = nn.PReLU(1, 0.25)  # one slope shared by every layer
        self.dropout = nn.Dropout(cfg["dropout"])
        self.out = nn.Linear(width, cfg["classes"])

    def forward(self, x):
        for conv, res in zip(self.convs, self.res):
            y = conv(x)
            y = self.prelu(F.layer_norm(y, y.shape[1:], eps=1e-5))
            x = y + res(x)
        return self.out(self.dropout(x.amax(dim=2)))


def train_steps(model, opt, cfg, n, batch, proto, gen):
    x = torch.randn(batch, cfg["in_channels"], n, generator=gen)
    labels = torch.randint(0, cfg["classes"], (batch,), generator=gen)
    model.train()

    def run():
        t0 = pc.now()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return (pc.now() - t0,)

    (t,), reps = pc.measure(proto, run)
    return t, reps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--impl", choices=["gather", "conv2d"], default="gather")
    ap.add_argument("--mode", choices=["time", "memory"], default="time")
    ap.add_argument("--json")
    ap.add_argument("--train-batch", type=int, default=128)
    ap.add_argument("--infer-batch", type=int, default=128)
    ap.add_argument("--memory-batch", type=int, default=128)
    ap.add_argument("--max-gb", type=float, default=6.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--min-time", type=float, default=1.5)
    ap.add_argument("--threads", type=int, default=pc.THREADS)
    a = ap.parse_args()
    pc.setup(a.threads)
    base_kib = pc.vm_kib("VmHWM")
    with open(os.path.join(a.models, "models.json")) as f:
        cfgs = {c["name"]: c for c in json.load(f)}
    cfg = cfgs[a.model]
    if a.impl == "conv2d" and pc.parse_torus(cfg["group"]) is None:
        print(f"{a.model}: conv2d applies to C_n x C_n only", file=sys.stderr)
        return 2
    table = pc.load_table(a.models, cfg["table"])
    n = table.shape[1]
    model = GMCNN(cfg, table, a.impl)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=0.004, weight_decay=0.0153,
                            betas=(0.9, 0.999))
    gen = torch.Generator().manual_seed(42)
    rec = {"suite": "models", "impl": "torch-" + a.impl, "key": a.model, "model": a.model,
           "group": cfg["group"], "t": cfg["t"], "params": params, "base_mib": base_kib / 1024.0,
           "malloc": os.environ.get("GLIBC_TUNABLES", "default")}

    if a.mode == "memory":
        # One training step at --memory-batch (the peak comes in the first
        # step). Where the gathered tensors would exceed --max-gb, two steps
        # at the largest power-of-two batch that fits and at half of it, the
        # larger last (VmHWM only grows), extrapolated linearly.
        one = pc.Protocol(0, 1, 1, 0.0)
        b = a.memory_batch
        if a.impl == "conv2d" or gather_gib(cfg, table, b) <= a.max_gb:
            train_steps(model, opt, cfg, n, b, one, gen)
            peak_kib = pc.vm_kib("VmHWM")
        else:
            b2 = b
            while b2 > 2 and gather_gib(cfg, table, b2) > a.max_gb:
                b2 //= 2
            b1 = b2 // 2
            train_steps(model, opt, cfg, n, b1, one, gen)
            h1 = pc.vm_kib("VmHWM")
            train_steps(model, opt, cfg, n, b2, one, gen)
            h2 = pc.vm_kib("VmHWM")
            peak_kib = h2 + (h2 - h1) / (b2 - b1) * (b - b2)
            rec.update(extrapolated_from=[b1, b2], peak_measured_mib=h2 / 1024.0)
        rec.update(suite="models-memory", memory_batch=b, peak_train_mib=peak_kib / 1024.0)
        extra = f" (extrapolated from B={rec['extrapolated_from']})" \
            if "extrapolated_from" in rec else ""
        print(f"{a.model:13s} {rec['impl']:13s} peak training memory at B={b}: "
              f"{rec['peak_train_mib']:7.1f} MiB (process base {rec['base_mib']:.1f} MiB){extra}",
              flush=True)
        pc.write_json(a.json, [pc.machine_record(a.threads), rec])
        return 0

    train = pc.Protocol(1, 3, 50, a.min_time, 4.0)
    infer = pc.Protocol(2, 10, 200, min(a.min_time, 0.5), 3.0)
    if a.quick:
        train = pc.Protocol(1, 2, 5, 0.1, 1.0)
        infer = pc.Protocol(1, 3, 20, 0.1, 1.0)
    t, reps = train_steps(model, opt, cfg, n, a.train_batch, train, gen)
    rec.update(train_batch=a.train_batch, train_step_s=t, train_img_s=a.train_batch / t,
               train_reps=reps)
    model.eval()
    lat = {}
    with torch.no_grad():
        for b in (1, a.infer_batch):
            xi = torch.randn(b, cfg["in_channels"], n, generator=gen)
            (ti,), r = pc.measure(infer, lambda: (pc.timed(model, xi),))
            lat[b] = (ti, r)
    rec.update(infer_b1_s=lat[1][0], infer_b1_reps=lat[1][1], infer_batch=a.infer_batch,
               infer_img_s=a.infer_batch / lat[a.infer_batch][0],
               infer_reps=lat[a.infer_batch][1])
    print(f"{a.model:13s} {rec['impl']:13s} params {params:6d} | train B={a.train_batch} "
          f"{rec['train_img_s']:8.1f} img/s | infer B=1 {rec['infer_b1_s'] * 1e3:7.3f} ms, "
          f"B={a.infer_batch} {rec['infer_img_s']:8.1f} img/s", flush=True)
    pc.write_json(a.json, [pc.machine_record(a.threads), rec])
    return 0


if __name__ == "__main__":
    sys.exit(main())
