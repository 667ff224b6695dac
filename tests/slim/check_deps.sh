#!/bin/sh
# A build without some optional parts (cmake/features.cmake) needs none of
# their libraries: not as a NEEDED entry of libgmcnn.so, not among the
# libraries it loads (ldd), not by a program linked with libgmcnn.a, and no
# object of either library refers to one of their symbols.
# Usage: check_deps.sh LIBGMCNN.SO LIBGMCNN.A PROGRAM PART...
#   PART: plot (cairo), config (libyaml), fft (FFTW), rank (LAPACKE)
set -eu
so=$1
a=$2
prog=$3
shift 3
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
readelf -d "$so" | grep NEEDED >"$tmp/needed"
ldd "$so" >"$tmp/ldd-so"
ldd "$prog" >"$tmp/ldd-prog"
nm -D --undefined-only "$so" | awk '{print $NF}' >"$tmp/undef"
nm -u "$a" 2>/dev/null | awk 'NF {print $NF}' >>"$tmp/undef"
for part in "$@"; do
  case $part in
    plot) lib=libcairo syms='^cairo_' ;;
    config) lib=libyaml syms='^yaml_' ;;
    fft) lib=libfftw3 syms='^fftw' ;;
    rank) lib=liblapacke syms='^LAPACKE_|^dgesdd' ;;
    *) echo "check_deps: unknown part '$part'" >&2; exit 2 ;;
  esac
  for f in needed ldd-so ldd-prog; do
    if grep -q "$lib" "$tmp/$f"; then
      echo "check_deps: without $part, $lib appears in $f:" >&2
      grep "$lib" "$tmp/$f" >&2
      fail=1
    fi
  done
  if grep -qE "$syms" "$tmp/undef"; then
    echo "check_deps: without $part, the library still refers to:" >&2
    grep -E "$syms" "$tmp/undef" | sort -u >&2
    fail=1
  fi
done
[ $fail -eq 0 ] || exit 1
echo "check_deps: without $*: $(basename "$so"), $(basename "$a") and $(basename "$prog") need none of their libraries"
echo "check_deps: libgmcnn.so needs:" $(sed 's/.*\[\(.*\)\]/\1/' "$tmp/needed")
