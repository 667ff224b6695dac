#!/bin/sh
# The fully static gmcnn tool (make static; cmake/static.cmake): no program
# interpreter and no shared library, and its commands work: --version, group
# info, gm rank (LAPACK), data make, train from a YAML config (checkpoints,
# metric logs, the PNG plot, results.json), predict. A few seconds.
# Usage: tests/static/smoke.sh PATH-OF-THE-STATIC-gmcnn
set -eu
gmcnn=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "static smoke test: $*" >&2
  exit 1
}

# Static: ldd says so, and there is no program interpreter (ld.so).
lddout=$(ldd "$gmcnn" 2>&1 || true)
case $lddout in
  *"not a dynamic executable"*) ;;
  *) fail "ldd $gmcnn does not say 'not a dynamic executable':
$lddout" ;;
esac
if readelf -l "$gmcnn" | grep -q INTERP; then fail "$gmcnn has a program interpreter"; fi
if readelf -d "$gmcnn" 2>/dev/null | grep -q NEEDED; then fail "$gmcnn needs shared libraries"; fi

cd "$tmp"
"$gmcnn" --version >version.txt || fail "--version failed"
grep -q '^gmcnn [0-9]' version.txt || fail "--version printed: $(cat version.txt)"
"$gmcnn" group info p4m:8 >group.txt || fail "group info p4m:8 failed"
grep -Eq '^order +512$' group.txt || fail "group info p4m:8 printed: $(cat group.txt)"

awk 'BEGIN { for (i = 0; i < 8; i++) for (j = 0; j < 8; j++)
             printf "%d%s", (j - i + 8) % 8, j < 7 ? " " : "\n" }' >c8.txt
"$gmcnn" gm rank c8.txt --group C8 >rank.txt || fail "gm rank failed"
grep -Eq '^displacement rank +0 ' rank.txt || fail "gm rank printed: $(cat rank.txt)"

"$gmcnn" data make rectangles --out data --seed 1 --train 200 --test 50 >/dev/null ||
  fail "data make rectangles failed"
cat >config.yaml <<YAML
seed: 1
model:
  kind: gmcnn
  spec: C28xC28
  nbr: 1
  num_classes: 2
  blocks: [{num_layers: 1, out_channels: 4}]
data:
  source: idx
  images: data/train-images-idx3-ubyte.gz
  labels: data/train-labels-idx1-ubyte.gz
  test_images: data/t10k-images-idx3-ubyte.gz
  test_labels: data/t10k-labels-idx1-ubyte.gz
  batch_size: 20
trainer:
  max_epochs: 2
output:
  dir: run
YAML
"$gmcnn" train config.yaml --quiet --threads 2 >train.txt 2>&1 || fail "train failed: $(cat train.txt)"
for f in config.yaml last.safetensors best.safetensors metrics.jsonl metrics.csv metrics.png results.json; do
  [ -s "run/$f" ] || fail "train wrote no run/$f"
done
[ "$(head -c 8 run/metrics.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
  fail "run/metrics.png is not a PNG"

"$gmcnn" predict run/best.safetensors data/t10k-images-idx3-ubyte.gz --top 1 >pred.txt ||
  fail "predict failed"
[ "$(wc -l <pred.txt)" -eq 50 ] || fail "predict printed $(wc -l <pred.txt) lines, not 50"

echo "static smoke test: $gmcnn ($(wc -c <"$gmcnn") bytes) is static; --version, group info," \
  "gm rank, data make, train (config, plot) and predict work"
