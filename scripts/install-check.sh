#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds the worked example
# against it, shared and static, through pkg-config and through CMake's
# find_package(gmcnn) (gmcnn::gmcnn, gmcnn::gmcnn_static); each program runs.
# Usage: scripts/install-check.sh [BUILD-DIR]
set -euo pipefail
build=${1:-build}
example=$PWD/examples/equivariant_conv.c
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null

# pkg-config
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c17 "$example" $(pkg-config --cflags --libs gmcnn) -lm -o "$prefix/ex-shared"
LD_LIBRARY_PATH="$prefix/lib" "$prefix/ex-shared" >/dev/null
static_libs=$(pkg-config --static --libs gmcnn | sed 's/-lgmcnn//')
cc -std=c17 "$example" $(pkg-config --cflags gmcnn) "$prefix/lib/libgmcnn.a" $static_libs -lm \
  -o "$prefix/ex-static"
"$prefix/ex-static" >/dev/null
# The data-parallel layer too (an MPI build links MPI: gmcnn.pc names it).
cat >"$prefix/dist.c" <<'C'
#include <stdio.h>
#include <gmcnn/gmcnn.h>
int main(void) {
    if (gm_dist_init(NULL, NULL) != GM_OK) return 1;
    printf("rank %d of %d\n", gm_dist_rank(), gm_dist_size());
    gm_dist_finalize();
    return 0;
}
C
cc -std=c17 "$prefix/dist.c" $(pkg-config --cflags gmcnn) "$prefix/lib/libgmcnn.a" $static_libs \
  -lm -o "$prefix/dist-static"
[ "$("$prefix/dist-static")" = "rank 0 of 1" ] || {
  echo "install check: a static consumer of gm_dist_* did not run as one rank" >&2
  exit 1
}

# find_package: a consumer project that knows only the prefix.
consumer=$prefix/consumer
mkdir -p "$consumer"
cat >"$consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(gmcnn_consumer LANGUAGES C)
set(CMAKE_C_STANDARD 17)
find_package(gmcnn 0.1 REQUIRED)
# The example calls libm itself.
add_executable(ex_shared ${EXAMPLE})
target_link_libraries(ex_shared PRIVATE gmcnn::gmcnn m)
add_executable(ex_static ${EXAMPLE})
target_link_libraries(ex_static PRIVATE gmcnn::gmcnn_static m)
file(WRITE ${CMAKE_BINARY_DIR}/gmcnn_dir.txt "${gmcnn_DIR}")
CMAKE
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if ! cmake -S "$consumer" -B "$consumer/build" "${generator[@]}" -DEXAMPLE="$example" \
     -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$consumer/log" 2>&1 ||
   ! cmake --build "$consumer/build" >>"$consumer/log" 2>&1; then
  cat "$consumer/log" >&2
  echo "install check: the find_package consumer did not build" >&2
  exit 1
fi
found=$(cat "$consumer/build/gmcnn_dir.txt")
if [ "$(realpath "$found")" != "$(realpath "$prefix/lib/cmake/gmcnn")" ]; then
  echo "install check: find_package found gmcnn in $found, not in the scratch prefix" >&2
  exit 1
fi
# The shared consumer runs against the installed libgmcnn.so (by its RUNPATH),
# the static one needs no libgmcnn.so at all.
if ! ldd "$consumer/build/ex_shared" | grep -q "=> $prefix/lib/libgmcnn\.so"; then
  ldd "$consumer/build/ex_shared" >&2
  echo "install check: ex_shared does not load the installed libgmcnn.so" >&2
  exit 1
fi
if ldd "$consumer/build/ex_static" | grep -q libgmcnn; then
  echo "install check: ex_static loads libgmcnn.so" >&2
  exit 1
fi
"$consumer/build/ex_shared" >/dev/null
"$consumer/build/ex_static" >/dev/null
echo "install check: headers, libgmcnn (shared and static), gmcnn.pc, the CMake package and the gmcnn tool install and link"
