#!/usr/bin/env bash
# Benchmarks gmcnn against its PyTorch peer on the same shapes and prints the
# combined table with the ratios and the performance targets (docs/performance.md).
#
# Usage: scripts/bench.sh [--quick]
#   BENCH_BUILD  Release build directory [build-bench]
#   BENCH_OUT    where the JSON results and report go [$BENCH_BUILD/results]
#   THREADS      threads for both sides [2]
#   BENCH_BATCHES  batches of the kernel suite [1,16,64; --quick: 1,16]
#
# Steps: build the benchmark programs (Release), install python3-torch for
# Debian's /usr/bin/python3 if it is missing, dump the cases and index tables
# for the peer, run the kernel suite on both sides, run every model
# configuration in its own process on both sides (peak memory per process),
# then merge with bench/report.py; last, the data-parallel scaling row
# (scripts/bench-scaling.sh: 1 rank x 2 threads against 2 ranks x 1 thread
# under mpirun; skipped with a message when the build has no MPI).
#
# The peer runs with glibc malloc kept from returning large blocks to the
# kernel (GLIBC_TUNABLES below): PyTorch frees and reallocates its big tensors
# every step, and on a VM each fresh page costs a fault (tens of microseconds
# here), while gmcnn's arenas reuse their memory. Its peak memory is measured
# in separate runs with the default allocator, so that freed blocks do count
# as freed.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
batches=${BENCH_BATCHES:-1,16,64}
if [ "${1:-}" = "--quick" ]; then
  quick=(--quick)
  batches=${BENCH_BATCHES:-1,16}
fi
build=${BENCH_BUILD:-build-bench}
out=${BENCH_OUT:-$build/results}
threads=${THREADS:-2}
py=/usr/bin/python3
peer_malloc="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"

# --- build and dependencies -------------------------------------------------
scripts/setup-deps.sh
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "bench: installing python3-torch for $py" >&2
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-torch >/dev/null; then
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-torch >/dev/null
  fi
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGM_BUILD_TESTS=OFF >/dev/null
if ! log=$(ninja -C "$build" bench_kernels bench_models gmcnn_cli 2>&1); then
  echo "$log" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out/tables"
start=$(date +%s)
"$build/gmcnn" --version >"$out/version.txt"
cat "$out/version.txt"
# The benchmark programs run the kernels the tool selects on this machine
# (the tool re-executes itself under them; the programs take them from here).
choice=$(sed -n 's/^kernels: \([A-Za-z0-9]*\) .*(selected by gmcnn: \(.*\))$/\1|\2/p' \
  "$out/version.txt")
if [ -n "$choice" ]; then
  export OPENBLAS_CORETYPE="${choice%%|*}" GMCNN_BLAS_CHOICE="$choice"
fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench_kernels" --dump "$out/tables" --batches "$batches"
"$build/bench_models" --dump "$out/tables"

# --- kernels ----------------------------------------------------------------
echo
echo "== kernels: gmcnn [$(( $(date +%s) - start ))s]"
"$build/bench_kernels" --threads "$threads" --batches "$batches" \
  --json "$out/kernels-gmcnn.json" "${quick[@]}"
echo
echo "== kernels: PyTorch peer [$(( $(date +%s) - start ))s]"
GLIBC_TUNABLES=$peer_malloc "$py" bench/peer/peer_kernels.py --cases "$out/tables" \
  --threads "$threads" --json "$out/kernels-peer.json" "${quick[@]}"

# --- models: one configuration per process -----------------------------------
echo
echo "== models [$(( $(date +%s) - start ))s]"
for m in $("$build/bench_models" --list); do
  "$build/bench_models" --model "$m" --threads "$threads" --json "$out/model-$m-gmcnn.json" \
    "${quick[@]}"
  GLIBC_TUNABLES=$peer_malloc "$py" bench/peer/peer_models.py --models "$out/tables" \
    --model "$m" --impl gather --train-batch 16 --infer-batch 16 --threads "$threads" \
    --json "$out/model-$m-gather.json" "${quick[@]}"
  "$py" bench/peer/peer_models.py --models "$out/tables" --model "$m" --impl gather \
    --mode memory --threads "$threads" --json "$out/model-$m-gather-memory.json"
  case "$m" in
    mnist-bg-rot | rot-mnist) ;; # dihedral: no conv2d formulation
    *)
      GLIBC_TUNABLES=$peer_malloc "$py" bench/peer/peer_models.py --models "$out/tables" \
        --model "$m" --impl conv2d --threads "$threads" --json "$out/model-$m-conv2d.json" \
        "${quick[@]}"
      ;;
  esac
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/load-end.txt"
echo "bench: $(( $(date +%s) - start ))s"

# --- report -------------------------------------------------------------------
echo
"$py" bench/report.py "$out" --json "$out/report.json" --markdown "$out/report.md" |
  tee "$out/report.txt"

# --- data-parallel scaling -----------------------------------------------------
echo
echo "== data-parallel scaling [$(( $(date +%s) - start ))s]"
scripts/bench-scaling.sh "$build/gmcnn" "$out/scaling" | tee "$out/scaling.txt"
