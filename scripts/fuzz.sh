#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c, clang with ASan + UBSan) in
# build-fuzz/ and runs each for a bounded time from its seed corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default: 20 s each, every target
#
# Each target starts from a scratch copy of fuzz/corpus/<name>/ (so nothing is
# written into the repository) with fuzz/<name>.dict where there is one,
# -timeout=10 per input and -rss_limit_mb=2048. Prints the executions per
# target; exits 1 when any target crashed, leaked, hung, ran out of memory or
# hit undefined behaviour, after printing the report and the path of the
# input that did it (kept under build-fuzz/fuzz-crashes/). Logs go to
# build-fuzz/fuzz-logs/. Environment: FUZZ_BUILD (build directory),
# JOBS (build jobs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
[ $# -gt 0 ] && shift
case $seconds in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
build=${FUZZ_BUILD:-build-fuzz}
jobs=${JOBS:-2}

start=$SECONDS
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DGM_FUZZ=ON -DGM_BUILD_TESTS=OFF >/dev/null
fi
if ! ninja -C "$build" -j "$jobs" fuzz >"$build/fuzz-build.log" 2>&1; then
  tail -n 80 "$build/fuzz-build.log" >&2
  echo "fuzz: build failed" >&2
  exit 1
fi
built=$((SECONDS - start))

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    targets+=("${t#fuzz_}")
  done
fi

logs="$build/fuzz-logs"
crashes="$build/fuzz-crashes"
mkdir -p "$logs" "$crashes"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gmcnn-fuzz-corpus.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# UBSan reports abort (the code is also built with -fno-sanitize-recover);
# libFuzzer finds leaks itself at the end of every input that allocated.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=()
printf 'fuzz: %d s per target, build %d s\n' "$seconds" "$built"
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target fuzz_$t in $build/fuzz" >&2; exit 2; }
  corpus="$scratch/$t"
  mkdir -p "$corpus"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$corpus/"
  seeds=$(find "$corpus" -type f | wc -l)
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  mkdir -p "$crashes/$t"
  log="$logs/$t.log"
  rc=0
  # -max_total_time is checked between inputs and -timeout bounds one input;
  # the outer timeout only catches a run that stops answering altogether.
  timeout -k 10 $((seconds + 120)) "$bin" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/$t/" \
    "${dict[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  units=$(find "$corpus" -type f | wc -l)
  verdict=ok
  if [ "$rc" -ne 0 ]; then
    if grep -q 'ERROR: libFuzzer: timeout' "$log"; then verdict="TIMEOUT (one input ran over 10 s)"
    elif grep -q 'ERROR: LeakSanitizer' "$log"; then verdict="LEAK"
    elif grep -q 'runtime error:' "$log"; then verdict="UNDEFINED BEHAVIOUR"
    elif grep -q 'ERROR: AddressSanitizer' "$log"; then verdict="MEMORY ERROR"
    elif grep -q 'out-of-memory' "$log"; then verdict="OUT OF MEMORY (over 2048 MB)"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then verdict="HUNG (killed after $((seconds + 120)) s)"
    else verdict="CRASH (exit status $rc)"
    fi
  fi
  printf 'fuzz: %-19s %9s execs  corpus %d -> %d  %s\n' "fuzz_$t" "${execs:-?}" "$seeds" \
    "$units" "$verdict"
  if [ "$verdict" != ok ]; then
    failed+=("fuzz_$t")
    # The report: from the first sanitizer or libFuzzer error line on.
    awk '/^==[0-9]+==ERROR|runtime error:|^ALARM:|ERROR: libFuzzer/ { on = 1 } on && n < 60 { print; n++ }' \
      "$log" | sed 's/^/    /' >&2
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$unit" ]; then
      echo "fuzz: input that did it: $unit" >&2
      echo "fuzz: reproduce with: $bin $unit" >&2
    fi
    echo "fuzz: full log: $log" >&2
  fi
done

printf 'fuzz: %d targets in %d s (build included)\n' "${#targets[@]}" $((SECONDS - start))
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
