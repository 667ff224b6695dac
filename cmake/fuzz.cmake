# libFuzzer build of the parsers (-DGM_FUZZ=ON -DCMAKE_C_COMPILER=clang).
# Everything that links gm_warnings (the library among it) is compiled with
# libFuzzer's coverage instrumentation and ASan + UBSan; UBSan aborts on the
# first report, so undefined behaviour counts as a crash. Each fuzz/fuzz_*.c
# becomes an executable of that name that links libFuzzer's main. Build them
# with the `fuzz` target; scripts/fuzz.sh builds and runs them.

if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "GM_FUZZ needs clang (libFuzzer): configure with -DCMAKE_C_COMPILER=clang")
endif()

# -O1 after the build type's flags: fast enough to fuzz, still easy to debug.
target_compile_options(gm_warnings INTERFACE
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
  -fno-omit-frame-pointer -g -O1)
target_link_options(gm_warnings INTERFACE -fsanitize=address,undefined)

add_subdirectory(fuzz)
