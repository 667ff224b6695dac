#!/usr/bin/env bash
# Installs the Debian packages gmcnn needs to build and test, quietly, and
# only those missing. Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(
  gcc make cmake ninja-build pkg-config
  libopenblas-openmp-dev liblapacke-dev
  libcriterion-dev libjansson-dev libyaml-dev zlib1g-dev libcairo2-dev libfftw3-dev
  # the Python package's tests (python/tests): NumPy, and PyTorch and ONNX for
  # gmcnn.torch (its tests are skipped where these are missing)
  python3-numpy python3-torch python3-onnx
  # the static gmcnn (make static): libgfortran.a, which OpenBLAS's archive
  # needs; the other archives come with the -dev packages above
  libgfortran-12-dev
  # data-parallel training (GM_MPI, docs/cluster.md) and its test: OpenMPI
  libopenmpi-dev openmpi-bin
  # the fuzz build (make test-fuzz): clang, libFuzzer and the sanitizer
  # runtimes, and clang's OpenMP
  clang libclang-rt-14-dev libomp-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
