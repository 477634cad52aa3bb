#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. installs what is missing (Debian 12, as root);
#   2. builds twice: RelWithDebInfo (with the benchmarks), and ASan+UBSan;
#   3. runs the harness tier first (tests/harness: every bash harness with a
#      deliberately false check must fail; seconds): if a harness swallows a
#      failure, nothing else is run, since no result could be trusted;
#   4. runs every other tier under CTest in both builds:
#      unit (core, fakes), netlink (real kernel, throwaway namespaces),
#      bus (the real binary on a private dbus-daemon with fake peers),
#      sandbox (the real binary under real systemd, machined, polkitd and
#      nspawn, in private namespaces; release build only, it is the slowest),
#      browser (the Cockpit page in Debian's chromium, against the same sandbox;
#      release build only),
#      chaos (a 2-minute seeded run with the service SIGKILLed, invariants checked);
#   5. a libFuzzer smoke run of every fuzz target (clang build, ASan+UBSan).
#
# No silent skips: a skipped or disabled test, or an expected tier that ran
# zero tests, is a failure here, named (scripts/ctest_summary.py). The end is
# one line per tier, "RUN TIER: N passed, N failed, N skipped", and the
# closing line "N passed, N failed, N skipped" over everything.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

"$repo/scripts/install-deps.sh"

status=0
tiers_file=$(mktemp /tmp/nc-test-tiers.XXXXXX)
trap 'rm -f "$tiers_file"' EXIT
total_passed=0 total_failed=0 total_skipped=0
# count RUN TIER PASSED FAILED SKIPPED: a tier's line, and the total.
count() {
  echo "$1 $2: $3 passed, $4 failed, $5 skipped" >>"$tiers_file"
  total_passed=$((total_passed + $3)) total_failed=$((total_failed + $4)) total_skipped=$((total_skipped + $5))
}
# ctest_run RUN TIERS BUILD_DIR SELECTION...: ctest with SELECTION (-L/-LE),
# then its per-tier summary; every tier of TIERS (comma-separated) must run.
ctest_run() {
  local run=$1 tiers=$2 dir=$3 rc=0 p f s
  shift 3
  local junit=$dir/ctest-$run.junit.xml tests=$dir/ctest-$run.tests.json counts=$dir/ctest-$run.counts
  rm -f "$junit" "$tests" "$counts"
  ctest --test-dir "$dir" --output-on-failure --output-junit "$junit" "$@" || rc=1
  ctest --test-dir "$dir" --show-only=json-v1 "$@" >"$tests" || rc=1
  python3 "$repo/scripts/ctest_summary.py" --junit "$junit" --tests "$tests" --run "$run" \
    --tiers "$tiers" --counts "$counts" | tee -a "$tiers_file" || rc=1
  if read -r p f s <"$counts"; then
    total_passed=$((total_passed + p)) total_failed=$((total_failed + f)) total_skipped=$((total_skipped + s))
  else
    count "$run" "(no results)" 0 1 0
    rc=1
  fi
  return "$rc"
}
summary() {
  echo
  echo "==> summary"
  cat "$tiers_file"
  echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
}

echo "==> build (RelWithDebInfo)"
"$repo/scripts/build.sh" release
echo "==> tests: the harnesses themselves (release build)"
if ! ctest_run harness harness "$repo/build" -L harness; then
  echo "A test harness swallows failures (above): no other tier's result could be trusted." >&2
  summary
  exit 1
fi
echo "==> build (ASan + UBSan)"
"$repo/scripts/build.sh" asan
# The benchmarks are outside the default build: compiled here so they
# cannot rot unseen (bench/run.sh runs them).
echo "==> build the benchmarks"
cmake --build "$repo/build" --target nc-bench startup-bench netlink_bench

echo "==> tests: ASan + UBSan build (unit, netlink, bus)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest_run asan unit,netlink,bus "$repo/build-asan" -LE 'sandbox|browser|harness|nixos' || status=1
echo "==> the browser tier's playwright-core, as pinned (tests/browser/package-lock.json)"
(cd "$repo/tests/browser" && npm ci --no-audit --no-fund --loglevel=error) || status=1
echo "==> tests: release build (all tiers, sandbox, browser and chaos included)"
ctest_run release unit,netlink,bus,nixos,sandbox,browser,chaos "$repo/build" -LE harness || status=1
echo "==> fuzz smoke run (15 s per target; scripts/fuzz.sh N runs longer)"
fuzz_log=$(mktemp /tmp/nc-test-fuzz.XXXXXX)
"$repo/scripts/fuzz.sh" 15 2>&1 | tee "$fuzz_log" || status=1
if [[ $(tail -n 1 "$fuzz_log") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] && ((BASH_REMATCH[1] > 0)); then
  count fuzz fuzz "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" 0
else
  count fuzz "fuzz (no summary line, or zero targets)" 0 1 0
  status=1
fi
rm -f "$fuzz_log"

if "$repo/scripts/sandbox/sandbox.sh" check-host; then count host check-host 1 0 0; else count host check-host 0 1 0; status=1; fi
summary
((total_failed == 0 && total_skipped == 0)) || status=1
exit "$status"
