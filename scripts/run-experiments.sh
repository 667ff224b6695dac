#!/usr/bin/env bash
# Reproducible experiment runner: for each default dataset, the reference
# GM-CNN classifier (exact, and with LDR rank 1 and 2), a plain CNN of about
# the same parameter count and an MLP, over several seeds; writes a markdown
# table of mean ± std test accuracy (best-validation model), parameter counts
# and seconds per epoch.
#
#   scripts/run-experiments.sh [GMCNN] [OUT.md]
#
# Budget (environment, defaults in brackets): TRAIN [2000] digits for
# training+validation, TEST [1000], EPOCHS [4], CHANNELS [32] per GM-CNN
# block, RADIUS [1], SEEDS ["1 2 3"], DATASETS [all six]. Needs the default
# data (make data).
set -euo pipefail
cd "$(dirname "$0")/.."
gmcnn=${1:-build/gmcnn}
# LAUNCH: a launcher for every training run, e.g. LAUNCH="mpirun -np 2" for
# data-parallel training (docs/cluster.md); none by default.
read -r -a launch <<<"${LAUNCH:-}"
out=${2:-build/experiments.md}
TRAIN=${TRAIN:-2000} TEST=${TEST:-1000} EPOCHS=${EPOCHS:-4}
CHANNELS=${CHANNELS:-32} RADIUS=${RADIUS:-1} SEEDS=${SEEDS:-"1 2 3"}
datasets="${DATASETS:-mnist-rot-10k mnist-noise-10k mnist-bg-rot-10k rectangles fashion fashion-rot}"
models="gm-exact gm-ldr1 gm-ldr2 cnn mlp"
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT

model_sets() { # model -> --set arguments
    local blocks="[{num_layers: 1, out_channels: $CHANNELS}, {num_layers: 1, out_channels: $CHANNELS}]"
    case $1 in
    gm-exact) echo "model.kind=gmcnn|model.nbr=$RADIUS|model.blocks=$blocks" ;;
    gm-ldr1) echo "model.kind=gmcnn|model.nbr=$RADIUS|model.blocks=$blocks|model.ldr_rank=1" ;;
    gm-ldr2) echo "model.kind=gmcnn|model.nbr=$RADIUS|model.blocks=$blocks|model.ldr_rank=2" ;;
    cnn) echo "model.kind=cnn|model.blocks=[{num_layers: 1, out_channels: 8, pool: true}, {num_layers: 1, out_channels: 16, pool: true}]" ;;
    mlp) echo "model.kind=mlp|model.blocks=[{num_layers: 1, out_channels: 16}]" ;;
    esac
}

echo "| dataset | model | parameters | test accuracy % (mean ± std) | s / epoch |" > "$runs/table"
echo "|---|---|---|---|---|" >> "$runs/table"
for ds in $datasets; do
    for model in $models; do
        accs="" secs="" params=""
        for seed in $SEEDS; do
            args=(--set "seed=$seed" --set "data.seed=$seed" --set "data.num_train=$TRAIN"
                  --set "data.num_test=$TEST" --set "trainer.max_epochs=$EPOCHS"
                  --set "output.dir=$runs/$ds-$model-$seed" --quiet)
            IFS='|' read -ra sets <<< "$(model_sets "$model")"
            for s in "${sets[@]}"; do args+=(--set "$s"); done
            log=$(${launch[@]+"${launch[@]}"} "$gmcnn" train "configs/$ds.yaml" "${args[@]}")
            accs+=" $(awk '/^test \(best\)/ {sub("%", "", $6); print $6}' <<< "$log")"
            secs+=" $(awk '/^trained to epoch/ {for (i = 1; i <= NF; i++) if ($i == "in") {t = $(i + 1); sub("s;", "", t); print t / '"$EPOCHS"'}}' <<< "$log")"
            params=$(awk '/^parameters/ {print $2}' <<< "$log")
        done
        row=$(awk -v a="$accs" -v s="$secs" 'BEGIN {
            n = split(a, x, " "); split(s, t, " "); m = 0; q = 0; ts = 0
            for (i = 1; i <= n; i++) { m += x[i]; ts += t[i] }
            m /= n; for (i = 1; i <= n; i++) q += (x[i] - m) ^ 2
            printf "%.2f ± %.2f | %.2f", m, (n > 1 ? sqrt(q / (n - 1)) : 0), ts / n }')
        echo "| $ds | $model | $params | $row |" | tee -a "$runs/table"
    done
done
{
    echo "Budget: TRAIN=$TRAIN TEST=$TEST EPOCHS=$EPOCHS CHANNELS=$CHANNELS RADIUS=$RADIUS SEEDS=\"$SEEDS\""
    echo
    cat "$runs/table"
} > "$out"
echo "wrote $out"
