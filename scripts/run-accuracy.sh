#!/usr/bin/env bash
# The accuracy tables of docs/results.md: every row is a config of configs/
# with overrides, trained for several seeds; each run writes its own
# results.json. Resumable: a run with results.json is skipped, a run with a
# checkpoint continues from it (bit for bit what an uninterrupted run gives),
# so the script can be stopped and started again at any time.
#
#   scripts/run-accuracy.sh [GMCNN] [OUT.md]          run (or resume) every row
#   TABLES="rot fashion-small" scripts/run-accuracy.sh  only these tables
#   ROWS=p4m-center scripts/run-accuracy.sh            only this row
#   REPORT=1 scripts/run-accuracy.sh                   only rewrite OUT.md from
#                                                      the runs so far
#
# Runs go to runs/accuracy/<row>/seed<S>/ (RUNS overrides the directory);
# THREADS [2] threads per run. OUT.md [build/accuracy.md] gets one table per
# group of rows: parameters, test accuracy of the best-validation model (mean
# ± sample std over the finished seeds, and their count), best epoch,
# epochs, training seconds. Needs the default data (make data).
set -euo pipefail
cd "$(dirname "$0")/.."
gmcnn=${1:-build/gmcnn}
# LAUNCH: a launcher for every training run, e.g. LAUNCH="mpirun -np 2" for
# data-parallel training (docs/cluster.md); none by default.
read -r -a launch <<<"${LAUNCH:-}"
out=${2:-build/accuracy.md}
runs=${RUNS:-runs/accuracy}
threads=${THREADS:-2}

P4M_PLAIN="model.pool=max;augment.rotate=none;trainer.label_smoothing=0;trainer.max_epochs=12"
# table|row|config|seeds|overrides separated by ';'
ROW_SPECS=(
  # The small budget: 6,400 Fashion-MNIST training images (1,600 validation,
  # 2,000 test, all from the training file), 10 epochs, no augmentation.
  "fashion-small|gm-c28-22k|configs/fashion-small.yaml|1 2 3|data.split=pooled;data.num_train=8000;data.num_test=2000;data.val_size=1600;trainer.max_epochs=10;scheduler.warmup_epochs=0;trainer.label_smoothing=0;augment.flip=none;augment.translate=0;model.blocks=[{num_layers: 2, out_channels: 12, pool: true}, {num_layers: 2, out_channels: 24, pool: true}, {num_layers: 2, out_channels: 26}]"
  # Full Fashion-MNIST: 55,000 training, 5,000 validation, the 10,000 test images.
  "fashion|gm-c28-49k|configs/fashion-small.yaml|1|"
  "fashion|gm-c28-49k-12ep|configs/fashion-small.yaml|1|trainer.max_epochs=12"
  # Rotated digits (8,000 of the 10k digits for training and validation, 2,000 test).
  # configs/rot-p4m.yaml is the best recipe found (p4m-best); the other rows
  # take the plain recipe first: max pooling, no augmentation, no label
  # smoothing, 12 epochs (P4M_PLAIN).
  "rot|p4m-center|configs/rot-p4m.yaml|42|$P4M_PLAIN"
  "rot|p4m-center-aug|configs/rot-p4m.yaml|42|$P4M_PLAIN;augment.rotate=any"
  "rot|p4m-uncentred|configs/rot-p4m.yaml|42|$P4M_PLAIN;model.center=false;trainer.max_epochs=20"
  "rot|cnn|configs/rot-cnn.yaml|1 2 3|"
  "rot|cnn-aug|configs/rot-cnn.yaml|1|augment.rotate=any"
  # Rotated Fashion-MNIST at the rotated digits' protocol (8,000 training
  # images of the training file, each rotated by a seeded uniform angle,
  # 1,600 of them validating; 2,000 test images), the same two models.
  "rot-fashion|fashion-rot-p4m|configs/rot-p4m.yaml|42|$P4M_PLAIN;data.kind=fashion-rotated"
  "rot-fashion|fashion-rot-cnn|configs/rot-cnn.yaml|1|data.kind=fashion-rotated"
  # The p4m model trained longer on randomly rotated copies, label smoothing.
  "rot|p4m-center-aug-20ep|configs/rot-p4m.yaml|42|$P4M_PLAIN;augment.rotate=any;trainer.max_epochs=20;trainer.label_smoothing=0.1"
  # Regularised without augmentation: dropout 0.3, weight decay 5e-4 on
  # weights only, label smoothing, 20 epochs.
  "rot|p4m-center-reg|configs/rot-p4m.yaml|42|$P4M_PLAIN;model.dropout=0.3;optimizer.weight_decay=0.0005;optimizer.decay=weights;trainer.label_smoothing=0.1;trainer.max_epochs=20"
  # Mean instead of max pooling in the GMPool stages, then with random
  # rotations and label smoothing for 20 epochs, and as shipped (30 epochs).
  "rot|p4m-center-mean|configs/rot-p4m.yaml|42|model.pool=mean;augment.rotate=none;trainer.label_smoothing=0;trainer.max_epochs=12"
  "rot|p4m-center-mean-aug-20ep|configs/rot-p4m.yaml|42|trainer.max_epochs=20"
  "rot|p4m-best|configs/rot-p4m.yaml|42 1 2|"
  # The best recipe with a second layer before the first pooling.
  "rot|p4m-deep|configs/rot-p4m.yaml|42 1|model.blocks=[{num_layers: 2, out_channels: 8, pool: true}, {num_layers: 2, out_channels: 12, pool: true}, {num_layers: 2, out_channels: 24}]"
  # The shipped recipe at the main job's widths, and the CNN matched to it:
  # accuracy against parameters on the rotated digits.
  "rot|p4m-36k|configs/rot-p4m.yaml|42 1|model.blocks=[{num_layers: 1, out_channels: 6, pool: true}, {num_layers: 2, out_channels: 8, pool: true}, {num_layers: 2, out_channels: 16}]"
  "rot|cnn-36k|configs/rot-cnn.yaml|1 2 3|model.blocks=[{num_layers: 2, out_channels: 16, pool: true}, {num_layers: 2, out_channels: 29, pool: true}, {num_layers: 2, out_channels: 36}]"
  # The other families on the rotated digits: the reference GM-CNN (channel-
  # shared GMConv on D14xD14, exact, LDR rank 1, modulated; its own recipe,
  # 30 of its 60 epochs), the single-hidden-layer structured-matrix
  # baselines and the dense hidden layer (an MLP).
  "rot|ref-gm-exact|configs/mnist-rot-10k.yaml|1|trainer.max_epochs=30"
  "rot|ref-gm-ldr1|configs/mnist-rot-10k.yaml|1|trainer.max_epochs=30;model.ldr_rank=1"
  "rot|ref-gm-modulated|configs/mnist-rot-10k.yaml|1|trainer.max_epochs=30;model.modulated=true"
  "rot|rot-ldr-td-r1|configs/baseline-ldr-td.yaml|1|data.kind=rotated"
  "rot|rot-toeplitz-r4|configs/baseline-toeplitz.yaml|1|data.kind=rotated"
  "rot|rot-unstructured|configs/baseline-unstructured.yaml|1|data.kind=rotated"
  # Noise digits: the structured-matrix baselines and a GM network 11x smaller.
  "noise|gm-tiny|configs/noise-gm-tiny.yaml|1 2 3|"
  # The same network with max instead of mean pooling (the config before
  # mean pooling was chosen on validation accuracy).
  "noise|gm-tiny-max|configs/noise-gm-tiny.yaml|1 2 3|model.pool=max"
  "noise|ldr-td-r1|configs/baseline-ldr-td.yaml|1 2 3|"
  "noise|toeplitz-r4|configs/baseline-toeplitz.yaml|1|"
  "noise|unstructured|configs/baseline-unstructured.yaml|1|"
  # Rotated digits on image backgrounds, the same models.
  "bg-rot|bg-gm-p4|configs/bg-rot-gm-tiny.yaml|1|"
  "bg-rot|bg-gm-tiny|configs/noise-gm-tiny.yaml|1|data.kind=rot-back-image;model.pool=max"
  "bg-rot|bg-gm-c28-4k|configs/noise-gm-tiny.yaml|1|data.kind=rot-back-image;model.pool=max;model.blocks=[{num_layers: 1, out_channels: 8, pool: true}, {num_layers: 1, out_channels: 16, pool: true}, {num_layers: 1, out_channels: 16}]"
  "bg-rot|bg-ldr-td-r1|configs/baseline-ldr-td.yaml|1|data.kind=rot-back-image"
  "bg-rot|bg-toeplitz-r4|configs/baseline-toeplitz.yaml|1|data.kind=rot-back-image"
  "bg-rot|bg-unstructured|configs/baseline-unstructured.yaml|1|data.kind=rot-back-image"
  # Digits rotated within +-45 degrees: orientation carries information.
  "partial|partial-p4-exact|configs/partial-p4.yaml|1 2 3|"
  "partial|partial-p4-ldr1|configs/partial-p4.yaml|1|model.ldr_rank=1"
  "partial|partial-cnn|configs/partial-cnn.yaml|1 2 3|"
  # Parameter-matched pairs: the LDR model narrowed to the CNN's size, the
  # CNN widened to the LDR model's.
  "partial|partial-p4-ldr1-27k|configs/partial-p4.yaml|1 2 3|model.ldr_rank=1;model.blocks=[{num_layers: 1, out_channels: 6, pool: true}, {num_layers: 2, out_channels: 8, pool: true}, {num_layers: 2, out_channels: 10}]"
  "partial|partial-cnn-54k|configs/partial-cnn.yaml|1|model.blocks=[{num_layers: 2, out_channels: 20, pool: true}, {num_layers: 2, out_channels: 32, pool: true}, {num_layers: 2, out_channels: 48}]"
  # Last: the most expensive row.
  "rot|p4m-ldr1|configs/rot-p4m.yaml|1|$P4M_PLAIN;model.ldr_rank=1"
)

want() { # table row -> 0 if selected
    [[ -z ${TABLES:-} || " $TABLES " == *" $1 "* ]] && [[ -z ${ROWS:-} || " $ROWS " == *" $2 "* ]]
}

run_one() { # row config seed overrides
    local dir="$runs/$1/seed$3" args=()
    [[ -f $dir/results.json ]] && return 0
    args=(--set "seed=$3" --set "output.dir=$dir" --quiet --threads "$threads")
    IFS=';' read -ra sets <<< "$4"
    for s in "${sets[@]}"; do [[ -n $s ]] && args+=(--set "$s"); done
    [[ -f $dir/last.safetensors ]] && args+=(--resume "$dir/last.safetensors")
    mkdir -p "$dir"
    echo "== $1 seed $3 ($(date +%H:%M:%S))"
    ${launch[@]+"${launch[@]}"} "$gmcnn" train "$2" "${args[@]}" > "$dir/train.log" 2>&1 ||
        { echo "   failed, see $dir/train.log"; return 0; }
    tail -n 4 "$dir/train.log" | sed 's/^/   /'
}

if [[ -z ${REPORT:-} ]]; then
    for spec in "${ROW_SPECS[@]}"; do
        IFS='|' read -r table row config seeds overrides <<< "$spec"
        want "$table" "$row" || continue
        for seed in $seeds; do run_one "$row" "$config" "$seed" "$overrides"; done
    done
fi

# One markdown table per group of rows, from the results.json files.
/usr/bin/python3 - "$runs" "$out" "${ROW_SPECS[@]}" <<'EOF'
import json, os, statistics, sys
runs, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
tables = {}
for spec in specs:
    table, row, config, seeds, _ = spec.split('|', 4)
    res = []
    for s in seeds.split():
        p = os.path.join(runs, row, 'seed' + s, 'results.json')
        if os.path.exists(p):
            with open(p) as f:
                res.append(json.load(f))
    tables.setdefault(table, []).append((row, config, len(seeds.split()), res))
lines = []
for table, rows in tables.items():
    lines += [f'### {table}', '',
              '| model | config | parameters | test accuracy % | seeds | best epoch | epochs | training s |',
              '|---|---|---|---|---|---|---|---|']
    for row, config, nseeds, res in rows:
        if not res:
            lines.append(f'| {row} | {config} | | not run | 0/{nseeds} | | | |')
            continue
        acc = [r['test_accuracy'] for r in res]
        sd = f' ± {statistics.stdev(acc):.2f}' if len(acc) > 1 else ''
        best = '/'.join(str(r['best_epoch']) for r in res)
        secs = statistics.mean(r['train_seconds'] for r in res)
        lines.append(f"| {row} | {config} | {res[0]['parameters']:,} | "
                     f"{statistics.mean(acc):.2f}{sd} | {len(res)}/{nseeds} | {best} | "
                     f"{res[0]['epochs_run']} | {secs:.0f} |")
    lines.append('')
os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
with open(out, 'w') as f:
    f.write('\n'.join(lines))
print('wrote', out)
EOF
