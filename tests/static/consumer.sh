#!/bin/sh
# A program of one's own linked -static against gmcnn through pkg-config
# alone: `cc -static prog.c $(pkg-config --static --cflags --libs gmcnn)`,
# with the gmcnn.pc and libgmcnn.a of the static build (no MPI there: Debian's
# OpenMPI has no static archives). The program (examples/equivariant_conv.c)
# must link, be static and run.
# Usage: tests/static/consumer.sh STATIC-BUILD-DIR
set -eu
build=$(realpath "$1")
root=$(realpath "$(dirname "$0")/../..")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "static consumer test: $*" >&2
  exit 1
}
[ -f "$build/libgmcnn.a" ] || fail "$build/libgmcnn.a missing (ninja -C $build gmcnn_static)"
# the installed layout the relocatable gmcnn.pc expects: <prefix>/lib/pkgconfig
mkdir -p "$tmp/lib/pkgconfig"
ln -s "$root/include" "$tmp/include"
ln -s "$build/libgmcnn.a" "$tmp/lib/libgmcnn.a"
cp "$build/gmcnn.pc" "$tmp/lib/pkgconfig/"
flags=$(PKG_CONFIG_PATH="$tmp/lib/pkgconfig" pkg-config --static --cflags --libs gmcnn) ||
  fail "pkg-config --static gmcnn failed"
# shellcheck disable=SC2086
cc -std=c17 -static "$root/examples/equivariant_conv.c" $flags -o "$tmp/ex" 2>"$tmp/link.txt" ||
  fail "cc -static \$(pkg-config --static --cflags --libs gmcnn) failed:
$(grep -v 'dlopen' "$tmp/link.txt")"
if readelf -d "$tmp/ex" 2>/dev/null | grep -q NEEDED; then fail "the program needs shared libraries"; fi
"$tmp/ex" >"$tmp/out.txt" || fail "the program failed: $(cat "$tmp/out.txt")"
echo "static consumer test: cc -static \$(pkg-config --static --cflags --libs gmcnn) links a" \
  "program that runs"
