# lib.sh: the bash harness of the browser tier (browser_test.sh), which drives
# the page from Node and the sandbox from here; the other sandbox tiers are
# Python on sandboxlib/. Sourced, never run.
#
# A script sets HERE, then sources this file and calls
#   sandbox_test_begin NAME   # root check (exit 77), DIR and WORK, traps
# Its scenarios use check/poll/scenario and the bus helpers below; the EXIT
# trap tears the sandbox down, runs check-host, prints the scenario wall
# times and ends with the line "N passed, M failed"; the exit status is
# non-zero when a check failed or the script aborted.
#
# HARNESS_SELFCHECK=pass|fail|abort makes sandbox_test_begin test this file
# instead of running the script: no root, no sandbox; one true check, plus
# (fail) one deliberately false check, or (abort) an exit 3 outside any
# scenario, then the real EXIT trap. tests/harness/selfcheck.sh expects exit
# 0 for pass and non-zero for the other two.
#
# Not root: exit 77 (ctest: skipped), unless CI is set: then a skip is a
# failure (exit 1), as in scripts/test.sh.
# Functions run only through check/poll (SC2317); checks pass single-quoted
# scripts to sh -c (SC2016); the names it defines are for the scripts (SC2034).
# shellcheck shell=bash disable=SC2016,SC2317,SC2034

REPO=$(cd "$HERE/../.." && pwd -P)
SANDBOX=$REPO/scripts/sandbox/sandbox.sh
MAKE_SYSTEM=$HERE/payload/make-system.sh
STEP_TIMEOUT=${E2E_STEP_TIMEOUT:-40}
BUS_NAME=org.nixos.Containers
MGR_PATH=/org/nixos/Containers
MGR_IF=org.nixos.Containers
CT_IF=org.nixos.Containers.Container
ERR=org.nixos.Containers.Error
DBUS_ERR=org.freedesktop.DBus.Error
U_ALLOWED=61001 U_DENIED=61002 U_CHALLENGED=61003 U_TENANT=61004 U_TENANT2=61005
# Variables a function run by `bounded` sees; scripts may append theirs.
BOUNDED_VARS=(DIR SANDBOX WORK BUS_NAME MGR_PATH MGR_IF CT_IF ERR DBUS_ERR U_ALLOWED U_DENIED U_CHALLENGED U_TENANT U_TENANT2 LIST_WITNESS)
# A container kept through a script, which List must show (see container_names).
LIST_WITNESS=''

passed=0 failed=0
declare -a SUMMARY=()
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
note() { echo "      $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# grep -q under pipefail: it may leave early and SIGPIPE its writer.
has() { grep "$@" >/dev/null; }

# sandbox_test_begin NAME: every script's start. Validates its working
# directories before anything uses them: a failed mktemp must never leave
# an empty path that later commands would treat as "/".
sandbox_test_begin() {
    TEST_NAME=$1
    [[ -z ${HARNESS_SELFCHECK:-} ]] || harness_selfcheck # does not return
    if [[ $(id -u) != 0 ]]; then
        [[ -z ${CI:-} ]] || { echo "$TEST_NAME: FAIL: needs root; CI is set, so a skipped tier is a failure" >&2; exit 1; }
        echo "$TEST_NAME: SKIP: needs root" >&2
        exit 77
    fi
    DIR=$(mktemp -d "/tmp/nc-$TEST_NAME.XXXXXX")
    [[ $DIR == /tmp/nc-"$TEST_NAME".?* && -d $DIR ]] || { echo "$TEST_NAME: bad mktemp result '$DIR'" >&2; exit 1; }
    WORK=$(mktemp -d "/tmp/nc-$TEST_NAME-work.XXXXXX") # outputs and logs, outside the sandbox dir
    [[ $WORK == /tmp/nc-"$TEST_NAME"-work.?* && -d $WORK ]] || { echo "$TEST_NAME: bad mktemp result '$WORK'" >&2; exit 1; }
    LOG=$WORK/step.log
    export DIR SANDBOX WORK
    T_START=$(now_ms)
    trap sandbox_test_finish EXIT
    trap 'exit 130' INT TERM
}

# The self-check of this harness (see the top of the file): the real check,
# scenario and EXIT trap, without a sandbox.
SELFCHECK=''
harness_selfcheck() {
    SELFCHECK=$HARNESS_SELFCHECK DIR=''
    case $SELFCHECK in pass | fail | abort) ;; *) echo "HARNESS_SELFCHECK must be pass, fail or abort" >&2; exit 2 ;; esac
    WORK=$(mktemp -d "/tmp/nc-selfcheck-$TEST_NAME.XXXXXX")
    [[ $WORK == /tmp/nc-selfcheck-"$TEST_NAME".?* && -d $WORK ]] || { echo "$TEST_NAME: bad mktemp result '$WORK'" >&2; exit 1; }
    LOG=$WORK/step.log
    T_START=$(now_ms)
    trap sandbox_test_finish EXIT
    trap 'exit 130' INT TERM
    echo "$TEST_NAME: harness self-check ($SELFCHECK): lib.sh's check and EXIT trap, no sandbox"
    scenario "harness self-check ($SELFCHECK)"
    check "harness self-check: a true check" true
    case $SELFCHECK in
        fail) check "harness self-check: a deliberately false check" false ;;
        abort)
            end_scenario
            echo "harness self-check: exit 3 outside any scenario"
            exit 3
            ;;
    esac
    exit 0
}

# Shell functions cannot run under timeout(1) directly: hand them to a bash
# that gets every function definition and the variables they use.
bounded() { # SECONDS CMD...
    local t=$1
    shift
    if declare -F "$1" >/dev/null; then
        timeout "$t" bash -c "set -uo pipefail; $(declare -p "${BOUNDED_VARS[@]}" 2>/dev/null); $(declare -f); \"\$@\"" bounded "$@"
    else
        timeout "$t" "$@"
    fi
}
# check DESCRIPTION CMD...: PASS when CMD succeeds within the step timeout,
# FAIL with its output otherwise.
check() {
    local desc=$1 rc=0
    shift
    bounded "$STEP_TIMEOUT" "$@" >"$LOG" 2>&1 || rc=$?
    if ((rc == 0)); then
        pass "$desc"
    else
        fail "$desc (exit $rc): $*"
        sed 's/^/    | /' "$LOG" | tail -n 25
    fi
    return $rc
}
# poll MILLISECONDS CMD...: until CMD succeeds, or its last output at the deadline.
poll() {
    local deadline=$(($(now_ms) + $1))
    shift
    until "$@" >"$WORK/poll.out" 2>&1; do
        if (($(now_ms) >= deadline)); then cat "$WORK/poll.out"; return 1; fi
        sleep 0.05
    done
}

# Scenario bookkeeping: wall time of each.
SCEN_NAME='' SCEN_T0=0 SCEN_F0=0 SCEN_P0=0
scenario() {
    end_scenario
    SCEN_NAME=$1 SCEN_T0=$(now_ms) SCEN_F0=$failed SCEN_P0=$passed
    echo
    echo "=== scenario $1"
}
end_scenario() {
    [[ -n $SCEN_NAME ]] || return 0
    local ms=$(($(now_ms) - SCEN_T0)) p=$((passed - SCEN_P0)) f=$((failed - SCEN_F0))
    echo "--- scenario wall time: $ms ms"
    SUMMARY+=("$(printf '%-58s %6d ms  %3d passed %3d failed' "$SCEN_NAME" "$ms" "$p" "$f")")
    SCEN_NAME=''
}

sandbox_test_finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    # An abort fails the run, inside a scenario or not.
    if ((rc != 0)); then
        if [[ -n $SCEN_NAME ]]; then fail "scenario '$SCEN_NAME' aborted (exit $rc)"; else fail "$TEST_NAME aborted (exit $rc)"; fi
    fi
    end_scenario
    if [[ -z $SELFCHECK ]]; then
        if ((failed > 0)) && [[ -f $DIR/pid ]]; then
            echo
            echo "---- journal (service and containers), last 80 lines"
            "$SANDBOX" exec "$DIR" journalctl --no-pager -u nixos-containers -u 'nixos-container@*' 2>/dev/null | tail -n 80
        fi
        echo
        check "sandbox down" "$SANDBOX" down "$DIR"
        check "host unchanged (check-host)" "$SANDBOX" check-host "$DIR"
        rmdir "$DIR" 2>/dev/null
    fi
    rm -rf --one-file-system "$WORK"
    echo
    echo "---- scenario wall times"
    printf '%s\n' "${SUMMARY[@]}"
    echo "total: $(($(now_ms) - T_START)) ms"
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit $?
}

# ----------------------------------------------------------- bus helpers ---
in_sb() { "$SANDBOX" exec "$DIR" "$@"; }
# Manager method through busctl, as root. "--" ends busctl's options, so
# that arguments such as ExtraFlags' "--setenv=..." are taken as words.
mgr() { in_sb busctl --timeout=30 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" -- "$@"; }
# The object path: NAME escaped as sd_bus_path_encode does (bytes outside
# [A-Za-z0-9] become _xx, and so does a leading digit).
opath() {
    local n=$1 out='' c i
    for ((i = 0; i < ${#n}; i++)); do
        c=${n:i:1}
        if [[ $c == [A-Za-z] || ($c == [0-9] && i -gt 0) ]]; then out+=$c; else out+=$(printf '_%02x' "'$c"); fi
    done
    echo "$MGR_PATH/container/$out"
}
# prop NAME PROPERTY: the value, without busctl's type prefix and quotes.
prop() {
    local out
    out=$(in_sb busctl get-property "$BUS_NAME" "$(opath "$1")" "$CT_IF" "$2") || return 1
    out=${out#* }
    out=${out#\"}
    out=${out%\"}
    echo "$out"
}
state_is() { # NAME STATE
    local s
    s=$(prop "$1" State) || return 1
    [[ $s == "$2" ]] || { echo "State of $1 is '$s', expected '$2'"; return 1; }
}
root_of() { echo "$DIR/state/$1"; }

# sandbox_up: scenario 0's first half, the same in every script: the sandbox
# comes up (or the script ends), and payloads can be made.
sandbox_up() {
    if timeout 60 "$SANDBOX" up "$DIR" >"$LOG" 2>&1; then
        pass "up: $(grep -o 'up in [0-9]* ms' "$LOG")"
    else
        fail "up"
        sed 's/^/    | /' "$LOG" | tail -n 60
        exit 1
    fi
    export NOTIFY_INIT=$DIR/payload/notify-init
}
