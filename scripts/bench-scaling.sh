#!/usr/bin/env bash
# Data-parallel scaling on one machine (docs/performance.md, "Data-parallel
# scaling"): training samples/s of 1 rank x 2 OpenMP threads against 2 ranks x
# 1 thread (mpirun) on configs/default.yaml and configs/rot-p4m.yaml at a small
# data size, and the share of the training time spent in the gradient
# allreduce (GMCNN_DIST_STATS). Target: 2 x 1 within 10% of 1 x 2. The two
# layouts alternate (A B A B), each run's last epoch counts, the better of the
# two runs per layout is reported, and the load average is printed, since other
# jobs on the machine slow both sides.
#
# Usage: scripts/bench-scaling.sh GMCNN OUT_DIR   (called by scripts/bench.sh)
#   SCALING_TRAIN   training + validation samples [1600]; SCALING_EPOCHS [2]
#   SCALING_REPS    runs per layout [2]
set -euo pipefail
gmcnn=$1
out=$2
ntrain=${SCALING_TRAIN:-1600}
epochs=${SCALING_EPOCHS:-2}
reps=${SCALING_REPS:-2}
py=/usr/bin/python3
if ! command -v mpirun >/dev/null || ! ldd "$gmcnn" 2>/dev/null | grep -q 'libmpi'; then
  echo "scaling: skipped ($gmcnn is built without MPI, or no mpirun; -DGM_MPI=ON, scripts/setup-deps.sh)"
  exit 0
fi
mkdir -p "$out"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/load-start.txt"
# The models without augmentation and with max pooling, as first measured
# (configs/rot-p4m.yaml now trains with random rotations and mean pooling).
common=(--quiet --set data.num_train="$ntrain" --set data.num_test=200
        --set trainer.max_epochs="$epochs" --set augment.rotate=none --set model.pool=max)
for cfg in default rot-p4m; do
  for rep in $(seq 1 "$reps"); do
    OMP_NUM_THREADS=2 "$gmcnn" train "configs/$cfg.yaml" "${common[@]}" --threads 2 \
      --set output.dir="$out/$cfg-1x2-$rep" >"$out/$cfg-1x2-$rep.txt" 2>&1
    GMCNN_DIST_STATS=1 mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 \
      -x OMP_NUM_THREADS=1 "$gmcnn" train "configs/$cfg.yaml" "${common[@]}" --threads 1 \
      --set output.dir="$out/$cfg-2x1-$rep" >"$out/$cfg-2x1-$rep.txt" 2>&1
  done
  "$gmcnn" info "$out/$cfg-1x2-1/last.safetensors" >"$out/$cfg-info.txt"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/load-end.txt"

"$py" - "$out" "$reps" <<'PY'
import json, re, sys
out, reps = sys.argv[1], int(sys.argv[2])
print("| config | parameters | 1 rank x 2 threads (samples/s) | 2 ranks x 1 thread (samples/s) "
      "| 2x1 / 1x2 | target >= 0.90 | allreduce share | allreduce per call |")
print("|---|---|---|---|---|---|---|---|")
rows = {}
for cfg in ("default", "rot-p4m"):
    def last(layout, rep):
        with open(f"{out}/{cfg}-{layout}-{rep}/metrics.jsonl") as f:
            recs = [json.loads(l) for l in f if l.strip()]
        return recs[-1]["samples_per_s"], sum(r["seconds"] for r in recs)
    one = max(last("1x2", r)[0] for r in range(1, reps + 1))
    two, best = 0.0, None
    for r in range(1, reps + 1):
        sps, train_s = last("2x1", r)
        if sps > two:
            two, best = sps, (r, train_s)
    r, train_s = best
    text = open(f"{out}/{cfg}-2x1-{r}.txt").read()
    m = re.search(r"rank 0 of 2: allreduce (\d+) calls, (\d+) doubles, ([0-9.]+) s", text)
    calls, secs = int(m.group(1)), float(m.group(3))
    params = int(re.search(r"total (\d+) trained", open(f"{out}/{cfg}-info.txt").read()).group(1))
    ratio = two / one
    rows[cfg] = dict(params=params, one=one, two=two, ratio=ratio, share=secs / train_s,
                     per_call_ms=1e3 * secs / calls)
    print(f"| {cfg} | {params} | {one:.1f} | {two:.1f} | {ratio:.2f} | "
          f"{'pass' if ratio >= 0.9 else 'FAIL'} | {100 * secs / train_s:.1f}% | "
          f"{1e3 * secs / calls:.2f} ms |")
json.dump(rows, open(f"{out}/scaling.json", "w"), indent=1)
PY
