#!/usr/bin/env bash
# selfcheck.sh — tests of the test harnesses themselves, in seconds, without
# root or a sandbox. Each bash harness runs in its self-check mode
# (HARNESS_SELFCHECK, see each script's header) through its real check
# helpers and EXIT trap:
#   pass   one true check                       -> must exit 0
#   fail   one true and one deliberately false  -> must exit non-zero, print
#                                                  the FAIL line and "1 passed, 1 failed"
#   abort  an exit 3 after a true check          -> must exit non-zero
# harness.py is checked through each sandbox tier (tests/sandbox/*_test.py,
# sandbox_selftest.py); chaos.sh also runs
# chaos_driver with a checker that dies of an exception and with a call
# answered by an error outside the catalogue. The Python tiers' absence
# probes must fail when their probe is broken (probes_selfcheck.py).
# scripts/ctest_summary.py (the no-skip rule of scripts/test.sh) gets a
# skipped test and an empty tier.
# A harness that swallows a failure makes this script fail.
#
# NIXOS_CONTAINERS_BUILD_DIR: the build tree holding chaos_driver (default
# REPO/build). The last line is "N passed, M failed".
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
export NIXOS_CONTAINERS_BUILD_DIR=${NIXOS_CONTAINERS_BUILD_DIR:-$REPO/build}
WORK=$(mktemp -d /tmp/nc-harness-selfcheck.XXXXXX)
[[ $WORK == /tmp/nc-harness-selfcheck.?* && -d $WORK ]] || { echo "selfcheck: bad mktemp result '$WORK'" >&2; exit 1; }
trap 'rm -rf --one-file-system "$WORK"' EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect SCRIPT MODE WANT LAST_LINE_REGEX [REQUIRED_LINE_REGEX...]: runs SCRIPT
# with HARNESS_SELFCHECK=MODE; WANT is zero or nonzero (its exit status).
expect() {
    local script=$1 mode=$2 want=$3 last_re=$4 rc=0 out last re problems=()
    shift 4
    out=$(HARNESS_SELFCHECK=$mode timeout 60 "$script" 2>&1) || rc=$?
    last=$(tail -n 1 <<<"$out")
    if [[ $want == zero ]]; then
        ((rc == 0)) || problems+=("exit $rc, expected 0")
    else
        ((rc != 0)) || problems+=("exit 0: the harness swallowed its failure")
    fi
    [[ $last =~ $last_re ]] || problems+=("last line '$last' does not match /$last_re/")
    for re in "$@"; do
        grep -qE -- "$re" <<<"$out" || problems+=("no line matches /$re/")
    done
    local what="${script#"$REPO"/} HARNESS_SELFCHECK=$mode: exit ${want}"
    if ((${#problems[@]} == 0)); then
        pass "$what (exit $rc; '$last')"
    else
        fail "$what"
        printf '    - %s\n' "${problems[@]}"
        tail -n 30 <<<"$out" | sed 's/^/    | /'
    fi
}

false_check='^FAIL: harness self-check: a deliberately false check'
# Every sandbox script (a new one is checked without being listed here).
cd "$REPO" || exit 1
for script in tests/sandbox/*_test.py tests/sandbox/sandbox_selftest.py tests/chaos/chaos.sh; do
    expect "$REPO/$script" pass zero '^1 passed, 0 failed$|^[0-9]+ passed, 0 failed$' '^PASS: harness self-check: a true check'
    expect "$REPO/$script" fail nonzero '^1 passed, 1 failed$' "$false_check"
    expect "$REPO/$script" abort nonzero '^1 passed, 1 failed$' '^FAIL: .*aborted \(exit 3\)'
done
# The chaos driver's own bookkeeping (needs the build's chaos_driver).
expect "$REPO/tests/chaos/chaos.sh" pass zero '^3 passed, 0 failed$' '^PASS: \[inv5 replies\] at the end: 1 calls' \
    '^PASS: \[selfcheck\] a checker that passes'
expect "$REPO/tests/chaos/chaos.sh" checker-crash nonzero '^[0-9]+ passed, [1-9][0-9]* failed$' \
    '^FAIL: at the end: invariant checker ended with status 256 after 0 PASS and 0 FAIL lines' 'ValueError'
expect "$REPO/tests/chaos/chaos.sh" unnamed nonzero '^[0-9]+ passed, [1-9][0-9]* failed$' \
    '^FAIL: \[inv5 replies\]' 'error outside the catalogue: .*org\.freedesktop\.DBus\.Error\.Failed'

# The Python tiers' probes (tests/sandbox/sandboxlib/probes.py), the same way.
if out=$(timeout 60 "$REPO/tests/harness/probes_selfcheck.py" 2>&1); then
    pass "probes.py: $(tail -n 1 <<<"$out")"
else
    fail "probes.py's absence checks (tests/harness/probes_selfcheck.py)"
    grep -v '^PASS' <<<"$out" | tail -n 30 | sed 's/^/    | /'
fi

# scripts/ctest_summary.py: a skipped test, a disabled one and a tier that ran
# nothing each fail the summary, by name; a clean run passes.
summary() { # JUNIT_CASES TIERS: the summary of a made-up run
    cat >"$WORK/junit.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="made-up">
$1
</testsuite>
XML
    cat >"$WORK/tests.json" <<'JSON'
{"kind": "ctestInfo", "tests": [
 {"name": "u1", "properties": [{"name": "LABELS", "value": ["unit"]}]},
 {"name": "b1", "properties": [{"name": "LABELS", "value": ["bus"]}]},
 {"name": "c1", "properties": [{"name": "LABELS", "value": ["chaos", "sandbox"]}]}]}
JSON
    python3 "$REPO/scripts/ctest_summary.py" --junit "$WORK/junit.xml" --tests "$WORK/tests.json" \
        --run made-up --tiers "$2" 2>&1
}
expect_summary() { # DESCRIPTION WANT JUNIT_CASES TIERS [REQUIRED_LINE_REGEX...]
    local desc=$1 want=$2 cases=$3 tiers=$4 rc=0 out re problems=()
    shift 4
    out=$(summary "$cases" "$tiers") || rc=$?
    if [[ $want == zero ]]; then ((rc == 0)) || problems+=("exit $rc, expected 0"); else ((rc != 0)) || problems+=("exit 0"); fi
    for re in "$@"; do grep -qE -- "$re" <<<"$out" || problems+=("no line matches /$re/"); done
    if ((${#problems[@]} == 0)); then pass "ctest_summary.py: $desc"; else
        fail "ctest_summary.py: $desc"
        printf '    - %s\n' "${problems[@]}"
        tail -n 60 <<<"$out" | sed 's/^/    | /'
    fi
}
run='<testcase name="u1" status="run"/>'
expect_summary "a clean run passes" zero "$run"'<testcase name="b1" status="run"/><testcase name="c1" status="run"/>' unit,bus,chaos \
    '^made-up unit: 1 passed, 0 failed, 0 skipped$' '^made-up bus: 1 passed, 0 failed, 0 skipped$'
expect_summary "a skipped gtest (SKIP_REGULAR_EXPRESSION) fails, by name" nonzero \
    "$run"'<testcase name="b1" status="notrun"><skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/></testcase>' unit,bus \
    '^made-up bus: 0 passed, 0 failed, 1 skipped$' '^made-up: FAIL: bus: b1 was skipped'
expect_summary "a tier skipped by exit 77 fails, by name" nonzero \
    "$run"'<testcase name="c1" status="notrun"><skipped message="SKIP_RETURN_CODE=77"/></testcase>' unit,chaos \
    '^made-up: FAIL: chaos: c1 was skipped' '^made-up: FAIL: chaos: the tier ran zero tests'
expect_summary "a disabled test fails, by name" nonzero "$run"'<testcase name="b1" status="disabled"/>' unit \
    '^made-up: FAIL: bus: b1 was skipped'
expect_summary "an expected tier that ran nothing fails, by name" nonzero "$run" unit,bus \
    '^made-up bus: 0 passed, 0 failed, 0 skipped$' '^made-up: FAIL: bus: the tier ran zero tests'

echo "$passed passed, $failed failed"
((failed == 0))
