#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds the worked example
# against it through pkg-config, shared and static. Usage: scripts/install-check.sh [BUILD-DIR]
set -euo pipefail
build=${1:-build}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c17 examples/equivariant_conv.c $(pkg-config --cflags --libs gmcnn) -lm -o "$prefix/ex-shared"
LD_LIBRARY_PATH="$prefix/lib" "$prefix/ex-shared" >/dev/null
cc -std=c17 examples/equivariant_conv.c $(pkg-config --cflags gmcnn) "$prefix/lib/libgmcnn.a" \
  $(pkg-config --static --libs-only-other --libs-only-l gmcnn | sed 's/-lgmcnn//') -lm -o "$prefix/ex-static"
"$prefix/ex-static" >/dev/null
echo "install check: headers, libgmcnn (shared and static), gmcnn.pc and the gmcnn tool install and link"
