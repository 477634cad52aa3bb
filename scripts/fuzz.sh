#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz, built with clang, ASan and UBSan in
# build-fuzz/ and run for a bounded time each.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 15; CI: 15 s per target)
#   FUZZ_MERGE=1 scripts/fuzz.sh 600       also merges new interesting inputs
#                                          into tests/fuzz/corpus (on demand)
# Each target runs on a copy of its corpus, so CI never grows the repo. A
# crash fails the run; its input stays in build-fuzz/artifacts/. The last
# line is exactly "N passed, M failed".
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-15}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
dir=$repo/build-fuzz
# Every target has its seed corpus, named after it: the targets are those.
targets=()
for seeds in "$repo"/tests/fuzz/corpus/*/; do
  targets+=("$(basename "$seeds")")
done

# libFuzzer ships in libclang-rt-14-dev on Debian 12.
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "clang and libclang-rt-14-dev are needed (run as root to install them)" >&2
    exit 1
  fi
  # apt_get: apt-get that waits for apt's locks (unattended-upgrades on a fresh machine).
  # shellcheck source-path=SCRIPTDIR source=sandbox/lib/apt.sh
  source "$repo/scripts/sandbox/lib/apt.sh"
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi

echo "==> build (clang, libFuzzer, ASan + UBSan) in $dir"
cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNIXOS_CONTAINERS_FUZZ=ON -DNIXOS_CONTAINERS_TESTS=OFF -DNIXOS_CONTAINERS_COCKPIT=OFF >/dev/null
cmake --build "$dir" --target fuzz

artifacts=$dir/artifacts
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
for target in "${targets[@]}"; do
  seeds=$repo/tests/fuzz/corpus/$target
  work=$dir/corpus-run/$target
  rm -rf "$work"
  mkdir -p "$work"
  cp -r "$seeds/." "$work/"
  log=$dir/$target.log
  rm -f "$artifacts/$target"-*  # only this run's crashes are reported
  echo "==> $target (${seconds}s)"
  if "$dir/tests/fuzz/$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "$work" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "    ok: ${runs:-?} execs, ${rate:-?} exec/s, corpus $(find "$work" -type f | wc -l) inputs"
    passed=$((passed + 1))
    if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
      # Adds only inputs that bring new coverage to the repo's corpus.
      "$dir/tests/fuzz/$target" -merge=1 "$seeds" "$work" >>"$log" 2>&1
      echo "    merged into $seeds ($(find "$seeds" -type f | wc -l) inputs)"
    fi
  else
    failed=$((failed + 1))
    echo "    FAILED; log: $log"
    grep -E 'FUZZ FINDING|ERROR:|SUMMARY:|runtime error' -A3 "$log" | head -20 | sed 's/^/    /'
    for crash in "$artifacts/$target"-*; do
      [[ -e $crash ]] && echo "    artifact: $crash"
    done
  fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
