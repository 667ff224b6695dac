#!/bin/sh
# Plume recipes under mpirun (gmcnn/dist.h): `mpirun -np 2` and `-np 3` of
# `gmcnn data make plume-scale` (38 simulations, three grid sizes: uneven
# shares) write .npy files byte-identical to the single-process run's, and
# manifests that agree with its manifest except the per-simulation "seconds";
# a failure on one rank stops every rank with one message naming the rank,
# and the other ranks start no further simulation once they hear of it.
# Then a small forecaster trained under mpirun agrees with one process's
# (parameters and validation RMSE). 5 and 40 steps; a few seconds.
# Usage: tests/mpi/mpi_plume.sh GMCNN MPIEXEC PYTHON3
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name="mpi plume test"
. "$here/common.sh"
recipe=plume-scale
"$gmcnn" data make $recipe --out p1 --steps 5 --threads 1 >one.txt 2>&1 ||
  fail "data make $recipe failed: $(cat one.txt)"
n=$(ls p1/sim_*.npy | wc -l)
[ "$n" -eq 38 ] || fail "the single-process run wrote $n simulations, not 38"
# the manifest without "seconds"
strip() { grep -v '"seconds":' "$1"; }
strip p1/manifest.json >m1.txt

for np in 2 3; do
  mpirun $np "$gmcnn" data make $recipe --out p$np --steps 5 --threads 1 >np$np.txt 2>&1 ||
    fail "mpirun -np $np data make failed: $(cat np$np.txt)"
  [ "$(grep -c "^plume-scale: 38 sims x 5 steps in p$np on $np ranks" np$np.txt)" -eq 1 ] ||
    fail "mpirun -np $np: not one report (rank 0 alone reports): $(cat np$np.txt)"
  for f in p1/sim_*.npy; do
    cmp -s "$f" "p$np/${f#p1/}" || fail "mpirun -np $np: ${f#p1/} differs from the single-process file"
  done
  [ "$(ls p$np | wc -l)" -eq "$(ls p1 | wc -l)" ] || fail "mpirun -np $np: other files than one process"
  strip p$np/manifest.json >m$np.txt
  cmp -s m1.txt m$np.txt || fail "mpirun -np $np: the manifest differs: $(diff m1.txt m$np.txt)"
  # every simulation's seconds, from the rank that ran it
  "$python" - p$np/manifest.json <<'PY' || fail "mpirun -np $np: a simulation without its seconds"
import json, sys
sims = json.load(open(sys.argv[1]))["sims"]
sys.exit(0 if len(sims) == 38 and all(s["seconds"] > 0 for s in sims) else 1)
PY
  echo "P=$np: $n .npy files identical to P=1, manifest equal but for seconds"
done

# A failure on one rank stops every rank: one message, from rank 0, naming
# the failing rank, and no manifest. sim_000.npy, a directory here, cannot be
# written; its simulation, the smallest grid, is the last of the order, dealt
# to rank 1 of 2.
mkdir -p bad/sim_000.npy
if mpirun 2 "$gmcnn" data make $recipe --out bad --steps 5 --threads 1 >bad.txt 2>&1; then
  fail "mpirun -np 2 with an unwritable sim_000.npy succeeded"
fi
[ "$(grep -c '^gmcnn: data make: rank' bad.txt)" -eq 1 ] &&
  grep -q '^gmcnn: data make: rank 1 of 2: .*sim_000.npy' bad.txt ||
  fail "a failure on rank 1: not one message naming it: $(cat bad.txt)"
[ ! -e bad/manifest.json ] || fail "a failed run wrote a manifest"
echo "a failure on one rank: $(grep '^gmcnn: data make: rank' bad.txt)"

# The other ranks stop early: sim_036.npy, the first simulation dealt to rank
# 1 of 2 (the second largest grid), cannot be written; rank 0, with 19
# simulations of its own, starts no more once it hears of that (at most the
# one or two it is running then; 40 steps each).
mkdir -p early/sim_036.npy
if mpirun 2 "$gmcnn" data make $recipe --out early --steps 40 --threads 1 >early.txt 2>&1; then
  fail "mpirun -np 2 with an unwritable sim_036.npy succeeded"
fi
grep -q '^gmcnn: data make: rank 1 of 2: .*sim_036.npy' early.txt ||
  fail "a failure on rank 1: no message naming it: $(cat early.txt)"
written=$(ls early | grep -c '^sim_.*npy$' || true)
[ "$written" -le 10 ] ||
  fail "rank 0 went on after rank 1 had failed: $((written - 1)) simulations written"
echo "rank 0 stopped after $((written - 1)) of its 19 simulations"


# Forecasting trained under mpirun: the training windows and the validation
# windows are sharded across the ranks (each rank rolls out its share of the
# validation windows; the squared errors are summed), and the parameters and
# the validation RMSE of every epoch agree with one process's.
"$gmcnn" data make plume-translation --out tr --steps 40 --threads 1 >tr.txt 2>&1 ||
  fail "data make plume-translation failed: $(cat tr.txt)"
cat >plume.yaml <<YAML
seed: 5
model: {kind: plume, spec: C64xC64, nbr: 1, in_channels: 4, out_dim: 2, hidden: 4,
        form: full, blocks: [{num_layers: 1, out_channels: 4}]}
data: {source: plume, path: tr, batch_size: 8, input_frames: 2, input_offset: 1,
       rollout_steps: 2, eval_steps: 3, train_range: [0, 16], val_range: [16, 27],
       future_range: [27, 30], domain_range: [0, 5], train_stride: 4}
trainer: {max_epochs: 2}
optimizer: {lr: 0.01}
output: {dir: fc1}
YAML
"$gmcnn" train plume.yaml --quiet --threads 1 >fc1.txt 2>&1 || fail "plume train failed: $(cat fc1.txt)"
for np in 2 3; do
  mpirun $np "$gmcnn" train plume.yaml --quiet --threads 1 --set output.dir=fc$np >fc$np.txt 2>&1 ||
    fail "mpirun -np $np plume train failed: $(cat fc$np.txt)"
  printf 'forecasting, P=%s last: ' $np
  "$python" "$here/compare_params.py" fc1/last.safetensors fc$np/last.safetensors 1e-5 ||
    fail "mpirun -np $np: the forecaster's parameters differ from the single-process run's"
  "$python" - fc1/metrics.jsonl fc$np/metrics.jsonl <<'PY' ||
import json, sys
a, b = ([json.loads(l)["val_loss"] for l in open(p) if l.strip()] for p in sys.argv[1:])
ok = len(a) == len(b) and all(abs(x - y) <= 1e-5 * abs(x) for x, y in zip(a, b))
print("validation RMSE per epoch:", a, "against", b)
sys.exit(0 if ok else 1)
PY
    fail "mpirun -np $np: the validation RMSE differs from the single-process run's"
done
