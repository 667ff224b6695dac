#!/bin/sh
# Data-parallel training under mpirun (gmcnn/dist.h): the final parameters
# of `mpirun -np 2`, `-np 3` (uneven shards, an uneven last batch) and `-np 4`
# agree with the single-process run's to a relative 1e-6, as do those of a run
# resumed under mpirun; rank 0 alone writes; a global batch smaller than the
# ranks and a non-finite loss stop every rank with one message naming the
# rank. Tiny generated IDX data, a small GM-CNN without batch normalisation
# or dropout, 2 epochs; a few seconds.
# Usage: tests/mpi/mpi_train.sh GMCNN MPIEXEC PYTHON3
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name="mpi train test"
. "$here/common.sh"
"$gmcnn" data make rectangles --out data --seed 1 --train 200 --test 50 >/dev/null ||
  fail "data make rectangles failed"
cat >config.yaml <<YAML
seed: 3
model:
  kind: gmcnn
  spec: C28xC28
  nbr: 1
  num_classes: 2
  dropout: 0
  blocks: [{num_layers: 1, out_channels: 6}, {num_layers: 1, out_channels: 6}]
data:
  source: idx
  images: data/train-images-idx3-ubyte.gz
  labels: data/train-labels-idx1-ubyte.gz
  test_images: data/t10k-images-idx3-ubyte.gz
  test_labels: data/t10k-labels-idx1-ubyte.gz
  batch_size: 25
optimizer:
  lr: 0.01
trainer:
  max_epochs: 2
output:
  dir: run1
YAML
"$gmcnn" train config.yaml --quiet --threads 1 >one.txt 2>&1 || fail "train failed: $(cat one.txt)"

for np in 2 3 4; do
  GMCNN_DIST_STATS=1 mpirun $np "$gmcnn" train config.yaml --quiet --threads 1 \
    --set output.dir=run$np >np$np.txt 2>&1 || fail "mpirun -np $np train failed: $(cat np$np.txt)"
  # GMCNN_DIST_STATS: every rank's allreduce time, one line each
  [ "$(grep -c "^gmcnn: train: rank [0-9] of $np: allreduce [1-9][0-9]* calls" np$np.txt)" -eq $np ] ||
    fail "mpirun -np $np: not one allreduce line per rank: $(cat np$np.txt)"
  [ "$(grep -c '^outputs in' np$np.txt)" -eq 1 ] ||
    fail "mpirun -np $np: not one report (rank 0 alone reports): $(cat np$np.txt)"
  for f in config.yaml last.safetensors best.safetensors metrics.jsonl metrics.csv results.json; do
    [ -s "run$np/$f" ] || fail "mpirun -np $np wrote no run$np/$f"
  done
  printf 'P=%s last: ' $np
  "$python" "$here/compare_params.py" run1/last.safetensors run$np/last.safetensors 1e-6 ||
    fail "mpirun -np $np: the last parameters differ from the single-process run's"
  printf 'P=%s best: ' $np
  "$python" "$here/compare_params.py" run1/best.safetensors run$np/best.safetensors 1e-6 ||
    fail "mpirun -np $np: the best parameters differ from the single-process run's"
  # the same epochs, the same best epoch
  [ "$(cut -d, -f1 run1/metrics.csv)" = "$(cut -d, -f1 run$np/metrics.csv)" ] ||
    fail "mpirun -np $np: metrics.csv has other epochs"
done

# --resume under mpirun, with another number of ranks than the run that wrote
# the checkpoint: epoch 1 on 2 ranks, then epoch 2 from its checkpoint on 3.
mpirun 2 "$gmcnn" train config.yaml --quiet --threads 1 --set output.dir=res \
  --set trainer.max_epochs=1 >res1.txt 2>&1 || fail "mpirun -np 2 (1 epoch) failed: $(cat res1.txt)"
mpirun 3 "$gmcnn" train config.yaml --quiet --threads 1 --set output.dir=res \
  --resume res/last.safetensors >res2.txt 2>&1 ||
  fail "mpirun -np 3 --resume of a 2-rank checkpoint failed: $(cat res2.txt)"
printf 'P=2, resumed on P=3: '
"$python" "$here/compare_params.py" run1/last.safetensors res/last.safetensors 1e-6 ||
  fail "a run resumed under mpirun with another P differs from the single-process run"

# A global batch smaller than the ranks: one message, from rank 0.
if mpirun 3 "$gmcnn" train config.yaml --quiet --threads 1 --set output.dir=small \
  --set data.batch_size=2 >small.txt 2>&1; then
  fail "mpirun -np 3 with batch size 2 succeeded"
fi
[ "$(grep -c 'batch size 2 is smaller than the 3 ranks' small.txt)" -eq 1 ] ||
  fail "batch size 2 on 3 ranks: not one clear message: $(cat small.txt)"

# A non-finite loss stops every rank, naming the rank, and no checkpoint is
# left half-written.
if mpirun 2 "$gmcnn" train config.yaml --quiet --threads 1 --set output.dir=nan \
  --set optimizer.lr=1e30 >nan.txt 2>&1; then
  fail "mpirun -np 2 with lr 1e30 succeeded"
fi
[ "$(grep -c 'rank [01] of 2: non-finite' nan.txt)" -eq 1 ] ||
  fail "a non-finite loss on 2 ranks: not one message naming the rank: $(cat nan.txt)"
if ls nan | grep -q '\.tmp\.'; then fail "a temporary file was left in nan/: $(ls nan)"; fi

echo "mpi train test: P=2, 3 and 4 agree with one process; resume across P, small batch and" \
  "non-finite loss behave"
