#!/usr/bin/env python3
"""Where the gradient allreduce starts to dominate a data-parallel step (docs/cluster.md).

For each reference configuration of a `make bench` run (model-*-gmcnn.json: parameters and the
seconds of one training step at batch 128 on one machine) and, when given, the scaling rows of
scripts/bench-scaling.sh (scaling.json: parameters and samples/s of 1 rank x 2 threads, at
batch 64): the bytes one step reduces, 8 per parameter plus 2 values (the loss and the correct
count) in double precision, and the smallest number of ranks P at which the allreduce takes more
than SHARE of the step, on links of 10 and 100 Gb/s.

The model: gmcnn's batch size is global, so a rank's compute per step is the measured step time
over P (one machine per rank, each like the benchmark machine); a ring allreduce moves
2 (P - 1) / P of the buffer in and out of every rank, in 2 (P - 1) latency-bound hops of ALPHA
seconds each. Communication and compute do not overlap (gmcnn reduces after the backward pass).
The bandwidth-only column sets ALPHA to 0.
Usage: allreduce_projection.py RESULTS_DIR [SCALING_JSON] [--share 0.2]
"""
import glob
import json
import os
import sys

LINKS = {"10 Gb/s": (10e9 / 8, 25e-6), "100 Gb/s": (100e9 / 8, 3e-6)}  # bytes/s, assumed hop latency


def crossover(step_s, nbytes, bw, alpha, share, pmax=1 << 20):
    for p in range(2, pmax):
        comm = 2 * (p - 1) / p * nbytes / bw + 2 * (p - 1) * alpha
        if comm > share * (step_s / p + comm):
            return p
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    share = 0.2
    if "--share" in sys.argv:
        share = float(sys.argv[sys.argv.index("--share") + 1])
    rows = []
    for path in sorted(glob.glob(os.path.join(args[0], "model-*-gmcnn.json"))):
        for rec in json.load(open(path)):
            if rec.get("suite") == "models":
                rows.append((rec["model"], rec["params"], rec["train_batch"], rec["train_step_s"]))
    if len(args) > 1:
        for cfg, r in json.load(open(args[1])).items():
            rows.append((cfg + ".yaml", r["params"], 64, 64 / r["one"]))
    print(f"| config | parameters | bytes per step | batch | compute s per step (1 machine) | "
          + " | ".join(f"P at {100 * share:.0f}%, {k} (bandwidth only)" for k in LINKS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(LINKS))
    for name, params, batch, step_s in rows:
        nbytes = 8 * (params + 2)
        cells = []
        for bw, alpha in LINKS.values():
            full = crossover(step_s, nbytes, bw, alpha, share)
            bw_only = crossover(step_s, nbytes, bw, 0.0, share)
            cells.append(f"{full} ({bw_only})")
        print(f"| {name} | {params} | {nbytes} | {batch} | {step_s:.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
