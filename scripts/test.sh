#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. installs what is missing (Debian 12, as root);
#   2. builds twice: RelWithDebInfo (with the benchmarks), and ASan+UBSan;
#   3. runs every tier under CTest in both builds:
#      unit (core, fakes), netlink (real kernel, throwaway namespaces),
#      bus (the real binary on a private dbus-daemon with fake peers),
#      sandbox (the real binary under real systemd, machined, polkitd and
#      nspawn, in private namespaces; release build only, it is the slowest),
#      chaos (a 2-minute seeded run with the service SIGKILLed, invariants checked);
#   4. a libFuzzer smoke run of every fuzz target (clang build, ASan+UBSan).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

"$repo/scripts/install-deps.sh"

echo "==> build (RelWithDebInfo)"
"$repo/scripts/build.sh" release
echo "==> build (ASan + UBSan)"
"$repo/scripts/build.sh" asan
# The benchmarks are outside the default build: compiled here so they
# cannot rot unseen (bench/run.sh runs them).
echo "==> build the benchmarks"
cmake --build "$repo/build" --target nc-bench startup-bench netlink_bench

status=0
echo "==> tests: ASan + UBSan build (unit, netlink, bus)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$repo/build-asan" --output-on-failure -LE sandbox || status=1
echo "==> tests: release build (all tiers, sandbox and chaos included)"
ctest --test-dir "$repo/build" --output-on-failure || status=1
echo "==> fuzz smoke run (15 s per target; scripts/fuzz.sh N runs longer)"
"$repo/scripts/fuzz.sh" 15 || status=1

"$repo/scripts/sandbox/sandbox.sh" check-host || status=1
exit "$status"
