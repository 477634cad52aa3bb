# lib.sh: what the sandbox test scripts share. Sourced, never run.
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
as_user() { # UID CMD...: run CMD inside the sandbox as that test user
    local uid=$1
    shift
    in_sb setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}
# A Nix command inside the sandbox, as root, with the sandbox's nix.conf
# (offline), home and cache: what the service's builds run with.
# shellcheck disable=SC2046 # one NAME=value per line, none with spaces
in_sb_nix() { in_sb env $(cat "$DIR/nix-environment") "$@"; }
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
# expect_error ERROR SUBSTRING [UID] -- METHOD GVARIANT_ARGS...: a manager
# call through gdbus (which names the D-Bus error and, without -i, does not
# allow interactive authorization) must fail with ERROR and a message
# containing SUBSTRING ("" for any). EXPECT_AT="PATH INTERFACE" calls
# another object instead.
expect_error() {
    local want=$1 sub=$2 uid=0 out rc=0 at_path=$MGR_PATH at_if=$MGR_IF
    [[ -z ${EXPECT_AT:-} ]] || read -r at_path at_if <<<"$EXPECT_AT"
    shift 2
    if [[ $1 != -- ]]; then uid=$1; shift; fi
    shift # --
    local method=$1
    shift
    local -a cmd=(gdbus call --system --timeout 30 -d "$BUS_NAME" -o "$at_path" -m "$at_if.$method" "$@")
    if ((uid == 0)); then out=$(in_sb "${cmd[@]}" 2>&1) || rc=$?; else out=$(as_user "$uid" "${cmd[@]}" 2>&1) || rc=$?; fi
    echo "$out"
    ((rc != 0)) || { echo "expected $want, the call succeeded"; return 1; }
    grep -qF "GDBus.Error:$want:" <<<"$out" || { echo "expected $want"; return 1; }
    [[ -z $sub ]] || grep -qF -- "$sub" <<<"$out" || { echo "message does not contain '$sub'"; return 1; }
}
root_of() { echo "$DIR/state/$1"; }
# The profile's generations, as nix-env keeps them.
generations_are() { # NAME "N:CURRENT ...": the Generations property, in that order
    local out got
    out=$(in_sb busctl --json=short get-property "$BUS_NAME" "$(opath "$1")" "$CT_IF" Generations) || return 1
    got=$(python3 -c 'import json, sys
print(" ".join("%d:%d" % (g[0], 1 if g[3] else 0) for g in json.loads(sys.argv[1])["data"]))' "$out") || return 1
    echo "Generations: $got"
    [[ $got == "$2" ]]
}

service_pid() { in_sb systemctl show -P MainPID nixos-containers.service; }
service_answers() { mgr List >/dev/null; }

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

# ------------------------------------------------- absence, positively ---
# "X is absent" counts only when the probe is shown to work: the listing
# command succeeded and it lists an item known to be there. Each listing
# below prints one name per line and fails otherwise.
# absent_from WHAT ITEM LISTING: ITEM is not a line of LISTING (the output
# of a listing that succeeded).
absent_from() {
    ! grep -qxF -- "$2" <<<"$3" || { echo "$2 is still in $1:"; printf '  %s\n' "$3"; return 1; }
}
# machined's machines (ListMachines), which must include its own ".host".
machine_names() {
    in_sb busctl --json=short call org.freedesktop.machine1 /org/freedesktop/machine1 \
        org.freedesktop.machine1.Manager ListMachines |
        python3 -c 'import json, sys
names = [m[0] for m in json.load(sys.stdin)["data"][0]]
print("\n".join(names))
sys.exit(0 if ".host" in names else "ListMachines does not show .host")'
}
machine_absent() { # NAME
    local l
    l=$(machine_names) || { echo "cannot list machines (machined): $l"; return 1; }
    absent_from "machined's machines" "$1" "$l"
}
# Every link name and altname in the sandbox's namespace, which must include lo.
link_names() {
    in_sb ip -j link show | python3 -c 'import json, sys
names = [n for l in json.load(sys.stdin) for n in [l["ifname"], *l.get("altnames", [])]]
print("\n".join(names))
sys.exit(0 if "lo" in names else "ip link does not show lo")'
}
link_absent() { # NAME...: no link has any of these names or altnames
    local l n
    l=$(link_names) || { echo "cannot list the sandbox's links: $l"; return 1; }
    for n; do absent_from "the sandbox's links" "$n" "$l" || return 1; done
}
# Loaded units, which must include dbus.service (the sandbox's bus).
unit_names() {
    local l
    l=$(in_sb systemctl list-units --all --no-legend --plain --full) || return 1
    l=$(awk '{print $1}' <<<"$l")
    grep -qxF dbus.service <<<"$l" || { echo "systemctl list-units does not show dbus.service"; return 1; }
    echo "$l"
}
unit_absent() { # NAME: no unit nixos-container@NAME.service loaded at all
    local l
    l=$(unit_names) || { echo "cannot list units: $l"; return 1; }
    absent_from "the loaded units" "nixos-container@$1.service" "$l"
}
# unit_state UNIT STATE...: the unit's ActiveState, read by a systemctl that
# answered, is one of STATE.
unit_state() {
    local s w u=$1
    shift
    if ! s=$(in_sb systemctl show -P ActiveState "$u") || [[ -z $s ]]; then echo "cannot read ActiveState of $u"; return 1; fi
    for w; do [[ $s == "$w" ]] && return 0; done
    echo "$u is $s, expected one of: $*"
    return 1
}
# The names List gives. With LIST_WITNESS set (a container the script keeps
# for this), List must show it.
container_names() {
    local l
    l=$(in_sb busctl --json=short --timeout=30 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" List |
        python3 -c 'import json, sys
print("\n".join(r[0] for r in json.load(sys.stdin)["data"][0]))') || return 1
    [[ -z $LIST_WITNESS ]] || grep -qxF -- "$LIST_WITNESS" <<<"$l" || { echo "List does not show the witness $LIST_WITNESS"; return 1; }
    echo "$l"
}
not_listed() { # NAME
    local l
    l=$(container_names) || { echo "cannot read List: $l"; return 1; }
    absent_from List "$1" "$l"
}
# path_absent PATH: no PATH inside the sandbox (and the probe ran there).
path_absent() {
    local out
    out=$(in_sb sh -c 'if [ -e "$1" ]; then echo present; else echo absent; fi' sh "$1")
    case $out in
        absent) return 0 ;;
        present) echo "$1 exists in the sandbox"; return 1 ;;
        *) echo "cannot probe $1 in the sandbox: '$out'"; return 1 ;;
    esac
}

# A container's addresses as a sorted, space-separated list: as its
# Addresses property, and as Inspect's "Addresses".
addresses_prop() {
    in_sb busctl --json=short get-property "$BUS_NAME" "$(opath "$1")" "$CT_IF" Addresses |
        python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["data"])))'
}
addresses_inspect() {
    in_sb busctl --json=short call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" Inspect s "$1" |
        python3 -c 'import json,sys; print(" ".join(sorted(json.loads(json.load(sys.stdin)["data"][0])["Addresses"])))'
}
