#!/bin/sh
# Every function and object the public headers declare is defined by the
# shared library, whatever parts the build left out (cmake/features.cmake):
# the headers are one API, and a part left out is a stand-in returning GM_ERR_UNSUPPORTED, not a gap.
# Usage: check_api.sh LIBGMCNN.SO INCLUDE-DIR
set -eu
lib=$1
inc=$2
[ -f "$lib" ] || { echo "check_api: no library $lib (build it first)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Declarations start at column 0; the name is the first gm_ identifier
# followed by '('. Function-pointer typedefs, inline functions and macros
# are not symbols.
grep -hE '^[A-Za-z_]' "$inc"/*.h | grep -vE '^(typedef|static|#)' |
  grep -oE '\bgm_[a-z0-9_]+\(' | sed 's/($//' >"$tmp/declared"
grep -hE '^extern ' "$inc"/*.h | grep -oE '\bgm_[a-z0-9_]+\[' | sed 's/\[$//' >>"$tmp/declared"
sort -u "$tmp/declared" -o "$tmp/declared"
nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u >"$tmp/defined"
missing=$(comm -23 "$tmp/declared" "$tmp/defined")
if [ -n "$missing" ]; then
  echo "check_api: declared in $inc but not defined by $lib:" >&2
  echo "$missing" >&2
  exit 1
fi
echo "check_api: all $(wc -l <"$tmp/declared") functions and objects of the public headers are defined by $(basename "$lib")"
