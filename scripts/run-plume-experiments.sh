#!/usr/bin/env bash
# Plume forecasting experiments (the reference protocol): for each smoke-plume dataset, the GM
# plume regressor with exact GMConv, LDR ranks 1, 2, 4 and the modulated layer
# (differentiated through its normalisation), the reference's own model
# (configs/plume-reference.yaml: its in-place renormalisation), a CNN and an
# MLP regressor, over several seeds; writes a
# markdown table of the test RMSE (future and domain, best-validation model,
# mean ± sample std over seeds), parameter counts and training time, with the
# persistence forecast (repeat the last input frame) on the same windows as a
# floor every model must beat.
#
#   scripts/run-plume-experiments.sh [GMCNN] [OUT.md]
#
# Needs the datasets under build/plume/ (`gmcnn data make plume-translation
# --out build/plume/translation`, likewise rotation and scale). Budget
# (environment, defaults in brackets): EPOCHS [2], TRAIN_STRIDE [16] (every
# k-th training window), EVAL_STRIDE [10] (every k-th val/test window), BATCH
# [8], SEEDS ["1 2 3"], DATASETS ["translation rotation scale"], MODELS [all
# eight], JOBS [2] runs at a time with THREADS [1] threads each.
set -euo pipefail
cd "$(dirname "$0")/.."
gmcnn=$(realpath "${1:-build/gmcnn}")
# LAUNCH: a launcher for every training run, e.g. LAUNCH="mpirun -np 2" for
# data-parallel training (docs/cluster.md); none by default.
LAUNCH=${LAUNCH:-}
out=${2:-build/plume-experiments.md}
EPOCHS=${EPOCHS:-2} TRAIN_STRIDE=${TRAIN_STRIDE:-16} EVAL_STRIDE=${EVAL_STRIDE:-10}
BATCH=${BATCH:-8} SEEDS=${SEEDS:-"1 2 3"} JOBS=${JOBS:-2} THREADS=${THREADS:-1}
DATASETS=${DATASETS:-"translation rotation scale"}
MODELS=${MODELS:-"exact ldr1 ldr2 ldr4 modulated reference cnn mlp"}
python=/usr/bin/python3
runs=${RUNS_DIR:-$(mktemp -d)}
mkdir -p "$runs"

for ds in $DATASETS; do
    [ -f "build/plume/$ds/manifest.json" ] || {
        echo "run-plume-experiments: build/plume/$ds/manifest.json missing;" \
             "run: $gmcnn data make plume-$ds --out build/plume/$ds" >&2
        exit 1
    }
done

# One line per run: dataset model seed. Finished runs (results.json present)
# are skipped and interrupted ones resume from their checkpoint, so a sweep
# can be stopped and started again at any time.
for ds in $DATASETS; do
    for model in $MODELS; do
        for seed in $SEEDS; do echo "$ds $model $seed"; done
    done
done > "$runs/jobs"

run_one() {
    local ds=$1 model=$2 seed=$3 dir="$runs/$1-$2-$3" launch resume=()
    read -r -a launch <<<"$LAUNCH"
    [ -f "$dir/results.json" ] && return 0
    # an interrupted run continues from its last epoch's checkpoint
    [ -f "$dir/last.safetensors" ] && resume=(--resume "$dir/last.safetensors")
    OMP_NUM_THREADS=$THREADS ${launch[@]+"${launch[@]}"} "$gmcnn" train "configs/plume-$model.yaml" --quiet \
        ${resume[@]+"${resume[@]}"} \
        --set "seed=$seed" --set "data.path=build/plume/$ds" \
        --set "trainer.max_epochs=$EPOCHS" --set "data.train_stride=$TRAIN_STRIDE" \
        --set "data.eval_stride=$EVAL_STRIDE" --set "data.batch_size=$BATCH" \
        --set "output.dir=$dir" > "$runs/$ds-$model-$seed.log" 2>&1 ||
        { echo "failed: $ds $model $seed (see $runs/$ds-$model-$seed.log)" >&2; return 1; }
    echo "done: $ds $model $seed" >&2
}
export -f run_one
export runs gmcnn LAUNCH THREADS EPOCHS TRAIN_STRIDE EVAL_STRIDE BATCH
xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ < "$runs/jobs"

"$python" - "$runs" "$out" "$EVAL_STRIDE" "$DATASETS" "$MODELS" "$SEEDS" <<'EOF'
import json, math, statistics, sys
import numpy as np
runs, out, eval_stride = sys.argv[1], sys.argv[2], int(sys.argv[3])
datasets, models, seeds = sys.argv[4].split(), sys.argv[5].split(), sys.argv[6].split()

def persistence(ds):
    """RMSE of repeating the last input frame, the reference protocol windows at eval_stride."""
    man = json.load(open(f"build/plume/{ds}/manifest.json"))
    res = {}
    for split, (b, e), held in (("future", (200, 250), False), ("domain", (0, 100), True)):
        errs = []
        for sim in man["sims"]:
            if sim["held_out"] != held:
                continue
            v = np.load(f"build/plume/{ds}/{sim['file']}").astype(np.float64)
            for s in range(b, e, eval_stride):
                last = v[s + 11]
                errs.append(np.mean([np.mean((v[s + 12 + t] - last) ** 2) for t in range(20)]))
        res[split] = math.sqrt(np.mean(errs))
    return res

def stat(xs):
    m = statistics.mean(xs)
    return f"{m:.3f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.3f}"

lines = ["| dataset | model | parameters | RMSE future | RMSE domain | training s |",
         "|---|---|---|---|---|---|"]
for ds in datasets:
    p = persistence(ds)
    lines.append(f"| {ds} | persistence | 0 | {p['future']:.3f} | {p['domain']:.3f} | 0 |")
    for model in models:
        r = [json.load(open(f"{runs}/{ds}-{model}-{s}/results.json")) for s in seeds]
        lines.append(f"| {ds} | {model} | {r[0]['params']:,} | "
                     f"{stat([x['rmse_future'] for x in r])} | {stat([x['rmse_domain'] for x in r])} | "
                     f"{statistics.mean(x['seconds'] for x in r):.0f} |")
    print("\n".join(lines[-len(models) - 1:]), flush=True)
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"wrote {out}")
EOF
