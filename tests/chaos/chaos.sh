#!/usr/bin/env bash
# chaos.sh — the bounded, Jepsen-style chaos run of issue 5.
#
# Brings a sandbox up (scripts/sandbox/sandbox.sh), builds two "ok" payload
# systems, and runs chaos_driver inside it: 8 clients issue random Create,
# Start, Stop, Restart, Reload, Update and Destroy calls on six names (two of
# 40 characters, three with PrivateNetwork) while the service is SIGKILLed at
# random moments (6-16 s apart) and started again. After every restart and at
# the end the invariants (invariants.py, and replies in the driver) are
# checked. Teardown and check-host always run (trap).
#
# Settings:
#   CHAOS_SECONDS   how long the clients run (default 120)
#   CHAOS_SEED      the seed (default: random; printed). Same seed => same
#                   operations per client and the same kill schedule; the
#                   timing, so the interleaving, differs between runs.
#   CHAOS_CLIENTS   number of clients (default 8)
#   CHAOS_KEEP=1    leave the sandbox up for a post-mortem (then: sandbox.sh down DIR)
#   CHAOS_OUT=DIR   keep the history, the driver's output and the journal there
#                   (without it they are kept only when the run fails)
#   NIXOS_CONTAINERS_BUILD_DIR  the build tree (default REPO/build); the driver
#                   is BUILD/tests/chaos/chaos_driver
#
# Runs as root (exit 77 otherwise, or 1 when CI is set: a skip is a failure
# there). The last line is "N passed, M failed"; the exit status is non-zero
# when M > 0 or the script aborted.
#
# HARNESS_SELFCHECK=MODE tests this script and the driver's bookkeeping
# instead, in seconds, without root or a sandbox (tests/harness/selfcheck.sh):
#   pass          a true check, and the driver (no clients, 0 s) with a checker
#                 that passes and an injected call answered with a catalogue
#                 error: exit 0
#   fail          a true check and a deliberately false one: exit non-zero
#   abort         a true check, then exit 3: exit non-zero
#   checker-crash the driver with a checker that dies of an exception (exit 1,
#                 a traceback, no FAIL: line): exit non-zero
#   unnamed       the driver with an injected call answered with
#                 org.freedesktop.DBus.Error.Failed (invariant 5): exit non-zero
# finish and the helpers run through the trap and drive (SC2317).
# shellcheck disable=SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
SANDBOX=$REPO/scripts/sandbox/sandbox.sh
MAKE_SYSTEM=$REPO/tests/sandbox/payload/make-system.sh
BUILD=${NIXOS_CONTAINERS_BUILD_DIR:-$REPO/build}
DRIVER=$BUILD/tests/chaos/chaos_driver
SECONDS_RUN=${CHAOS_SECONDS:-120}
SEED=${CHAOS_SEED:-$(( ($(od -An -N4 -tu4 /dev/urandom) % 1000000000) + 1 ))}
CLIENTS=${CHAOS_CLIENTS:-8}

SELFCHECK=${HARNESS_SELFCHECK:-}
case $SELFCHECK in '' | pass | fail | abort | checker-crash | unnamed) ;;
*) echo "HARNESS_SELFCHECK must be pass, fail, abort, checker-crash or unnamed" >&2; exit 2 ;;
esac
if [[ -z $SELFCHECK && $(id -u) != 0 ]]; then
    [[ -z ${CI:-} ]] || { echo "chaos: FAIL: needs root; CI is set, so a skipped tier is a failure" >&2; exit 1; }
    echo "chaos: SKIP: needs root" >&2
    exit 77
fi
[[ $SECONDS_RUN =~ ^[0-9]+$ && $SEED =~ ^[0-9]+$ && $CLIENTS =~ ^[1-9][0-9]*$ ]] ||
    { echo "chaos: CHAOS_SECONDS, CHAOS_SEED and CHAOS_CLIENTS must be numbers" >&2; exit 2; }
[[ -x $DRIVER ]] || { echo "chaos: no driver at $DRIVER (cmake --build $BUILD --target chaos_driver)" >&2; exit 1; }

if [[ -n $SELFCHECK ]]; then
    DIR=''
    OUT=$(mktemp -d /tmp/nc-chaos-selfcheck.XXXXXX)
    [[ $OUT == /tmp/nc-chaos-selfcheck.?* && -d $OUT ]] || { echo "chaos: bad mktemp result '$OUT'" >&2; exit 1; }
else
    DIR=$(mktemp -d /tmp/nc-chaos.XXXXXX)
    [[ $DIR == /tmp/nc-chaos.?* && -d $DIR ]] || { echo "chaos: bad mktemp result '$DIR'" >&2; exit 1; }
    OUT=${CHAOS_OUT:-$(mktemp -d /tmp/nc-chaos-out.XXXXXX)}
    mkdir -p "$OUT"
fi

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
in_sb() { "$SANDBOX" exec "$DIR" "$@"; }

finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    # The script ends with `exit 0`: any other status is an abort.
    ((rc == 0)) || fail "chaos.sh aborted (exit $rc)"
    if [[ -n $SELFCHECK ]]; then
        rm -rf --one-file-system "$OUT"
        echo "$passed passed, $failed failed"
        ((failed == 0))
        exit $?
    fi
    if [[ -f $DIR/pid ]]; then
        in_sb journalctl --no-pager -u nixos-containers -u 'nixos-container@*' >"$OUT/journal.txt" 2>&1
        if ((failed > 0)); then
            echo
            echo "---- journal (service and containers), last 60 lines; all of it in $OUT/journal.txt"
            tail -n 60 "$OUT/journal.txt"
        fi
    fi
    if [[ ${CHAOS_KEEP:-} == 1 ]]; then
        echo "chaos: CHAOS_KEEP=1: sandbox left up in $DIR ($SANDBOX down $DIR)"
    else
        if "$SANDBOX" down "$DIR" >"$OUT/down.log" 2>&1; then pass "sandbox down"; else fail "sandbox down"; sed 's/^/    | /' "$OUT/down.log"; fi
        if "$SANDBOX" check-host "$DIR" >"$OUT/check-host.log" 2>&1; then
            pass "host unchanged (check-host)"
        else
            fail "host unchanged (check-host)"
            sed 's/^/    | /' "$OUT/check-host.log"
        fi
        rmdir "$DIR" 2>/dev/null
    fi
    echo
    # The history is kept where it helps: after a failure, or where the caller asked for it.
    if ((failed == 0)) && [[ -z ${CHAOS_OUT:-} && $OUT == /tmp/nc-chaos-out.?* ]]; then
        rm -rf --one-file-system "$OUT"
        echo "chaos: seed $SEED, $SECONDS_RUN s; green, output removed (CHAOS_OUT=DIR keeps it)"
    else
        echo "chaos: seed $SEED, $SECONDS_RUN s; history in $OUT/history.txt, driver output in $OUT/driver.log"
    fi
    echo "chaos: replay: CHAOS_SEED=$SEED CHAOS_SECONDS=$SECONDS_RUN $0"
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit $?
}
trap finish EXIT
trap 'exit 130' INT TERM

# drive CMD...: runs the driver as CMD, shows its output but the history,
# and adds its closing "chaos-driver: N passed, M failed" to the counts.
# A driver that exits non-zero without a failed check, or gives no summary,
# is a failure.
drive() {
    local drc=0 line p f
    "$@" >"$OUT/driver.log" 2>&1 || drc=$?
    awk '/^---- history/{skip=1} /^---- outcomes/{skip=0} !skip' "$OUT/driver.log"
    line=$(grep -E '^chaos-driver: [0-9]+ passed, [0-9]+ failed$' "$OUT/driver.log" | tail -n 1)
    if [[ -z $line ]]; then
        fail "chaos driver finished (exit $drc, no summary line)"
        tail -n 30 "$OUT/driver.log" | sed 's/^/    | /'
    else
        read -r _ p _ f _ <<<"$line"
        passed=$((passed + p)) failed=$((failed + f))
        ((drc == 0 || f > 0)) || fail "chaos driver exit $drc with no failed check"
        ((drc != 0 || f == 0)) || fail "chaos driver exit 0 with $f failed checks"
    fi
}

if [[ -n $SELFCHECK ]]; then
    echo "chaos: harness self-check ($SELFCHECK): chaos.sh and chaos_driver's bookkeeping, no sandbox"
    pass "harness self-check: a true check"
    # The driver without clients for 0 s: a checkpoint "at the end", i.e.
    # invariant 5 over the injected calls, then the checker.
    selfcheck_driver() { # CHECKER [INJECTED_OUTCOME]
        local -a inject=()
        [[ -z ${2:-} ]] || inject=(--inject-outcome "$2")
        drive "$DRIVER" --seed 1 --seconds 0 --clients 0 --system-a /nonexistent/a --system-b /nonexistent/b \
            --checker "$1" "${inject[@]}" --history "$OUT/history.txt"
    }
    ok_checker="python3 -c 'print(\"PASS: [selfcheck] a checker that passes\")'"
    case $SELFCHECK in
        pass) selfcheck_driver "$ok_checker" org.nixos.Containers.Error.Busy ;;
        fail) fail "harness self-check: a deliberately false check" ;;
        abort) echo "harness self-check: exit 3"; exit 3 ;;
        checker-crash)
            selfcheck_driver "python3 -c 'raise ValueError(\"the List signature changed\")'" ;;
        unnamed) selfcheck_driver "$ok_checker" org.freedesktop.DBus.Error.Failed ;;
    esac
    exit 0
fi

echo "chaos: seed $SEED, $SECONDS_RUN s, $CLIENTS clients, sandbox $DIR, output $OUT"
if timeout 90 "$SANDBOX" up "$DIR" >"$OUT/up.log" 2>&1; then
    pass "sandbox up: $(grep -o 'up in [0-9]* ms' "$OUT/up.log")"
else
    fail "sandbox up"
    sed 's/^/    | /' "$OUT/up.log" | tail -n 40
    exit 1
fi
export NOTIFY_INIT=$DIR/payload/notify-init
if ! SYS_A=$("$MAKE_SYSTEM" "$DIR/store" chaosa ok 2>"$OUT/mk.a") ||
    ! SYS_B=$("$MAKE_SYSTEM" "$DIR/store" chaosb ok 2>"$OUT/mk.b"); then
    fail "payload systems"
    cat "$OUT/mk.a" "$OUT/mk.b"
    exit 1
fi
pass "payload systems $SYS_A, $SYS_B"

CHECKER="python3 $HERE/invariants.py --config-dir $DIR/etc-containers --state-dir $DIR/state --runtime-dir $DIR/runtime --settle 30"
drive in_sb "$DRIVER" --seed "$SEED" --seconds "$SECONDS_RUN" --clients "$CLIENTS" \
    --system-a "$SYS_A" --system-b "$SYS_B" --checker "$CHECKER" --history "$OUT/history.txt"
echo "chaos: history excerpt (first and last 15 calls; all in $OUT/history.txt):"
grep -v '^#' "$OUT/history.txt" 2>/dev/null | head -n 15 | sed 's/^/  /'
echo "  ..."
grep -v '^#' "$OUT/history.txt" 2>/dev/null | tail -n 15 | sed 's/^/  /'
exit 0
