#!/usr/bin/env bash
# sandbox_selftest.sh — proves the sandbox harness itself, independently of
# the service: the bus, machined, polkitd with the three test identities, and
# an nspawn container running the test payload as a transient unit under the
# sandbox's systemd (READY reached, machine registered, clean stop), plus the
# failing payloads, teardown after a crash, and a clean host afterwards.
#
# By default the sandbox comes up with --no-service; SANDBOX_SELFTEST_SERVICE=1
# brings it up with the project's installed service as well and checks that
# org.nixos.Containers is on the bus.
#
# Runs as root (exit 77 otherwise, or 1 when CI is set: a skip is a failure
# there). The last line is always "N passed, N failed"; the exit status is
# non-zero when anything failed.
#
# HARNESS_SELFCHECK=pass|fail|abort tests this script's own helpers and
# EXIT trap instead, without root or a sandbox: one true check, plus (fail)
# one deliberately false check or (abort) an exit 3; tests/harness/
# selfcheck.sh expects exit 0 for pass and non-zero for the other two.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
SANDBOX=$REPO/scripts/sandbox/sandbox.sh
MAKE_SYSTEM=$HERE/payload/make-system.sh
STEP_TIMEOUT=${SANDBOX_SELFTEST_STEP_TIMEOUT:-30}

SELFCHECK=${HARNESS_SELFCHECK:-}
case $SELFCHECK in '' | pass | fail | abort) ;; *) echo "HARNESS_SELFCHECK must be pass, fail or abort" >&2; exit 2 ;; esac
# 77 means "skipped" to ctest (SKIP_RETURN_CODE) when not run as root.
if [[ -z $SELFCHECK && $(id -u) != 0 ]]; then
    [[ -z ${CI:-} ]] || { echo "sandbox_selftest: FAIL: needs root; CI is set, so a skipped tier is a failure" >&2; exit 1; }
    echo "sandbox_selftest: SKIP: needs root" >&2
    exit 77
fi

# A fresh working directory; validate it before anything may remove it.
DIR=$(mktemp -d /tmp/nc-sandbox-selftest.XXXXXX)
export DIR SANDBOX
[[ $DIR == /tmp/nc-sandbox-selftest.?* && -d $DIR ]] || { echo "sandbox_selftest: bad mktemp result '$DIR'" >&2; exit 1; }
LOG=$DIR.log # outputs of failed steps are shown from here

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# check DESCRIPTION CMD...: run CMD with a bounded time, PASS on success,
# FAIL with its output otherwise.
# Shell functions cannot run under timeout(1) directly: hand them to a bash
# that gets every function definition.
bounded() { # SECONDS CMD...
    local t=$1
    shift
    if declare -F "$1" >/dev/null; then
        timeout "$t" bash -c "set -euo pipefail; $(declare -f); \"\$@\"" bounded "$@"
    else
        timeout "$t" "$@"
    fi
}
check() {
    local desc=$1
    shift
    if bounded "$STEP_TIMEOUT" "$@" >"$LOG" 2>&1; then
        pass "$desc"
    else
        fail "$desc (exit $?): $*"
        sed 's/^/    | /' "$LOG" | tail -n 25
    fi
}

# Inside the sandbox (all its namespaces).
in_sb() { "$SANDBOX" exec "$DIR" "$@"; }

# poll DEADLINE_MS CMD...: retry CMD until it succeeds or time runs out.
poll() {
    local deadline=$(($(now_ms) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.02
    done
}

finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if ((rc != 0)); then fail "self-test aborted (exit $rc)"; fi
    # Teardown even on failure; then the host must be as we found it.
    if [[ -z $SELFCHECK ]]; then
        check "down" "$SANDBOX" down "$DIR"
        check "down again (nothing up) is fine" "$SANDBOX" down "$DIR"
        check "host unchanged (check-host)" "$SANDBOX" check-host "$DIR"
    fi
    rmdir "$DIR" 2>/dev/null
    rm -f "$LOG"
    echo "$passed passed, $failed failed"
    # An EXIT trap that ends without `exit` leaves the script's status as it
    # was before the trap: the failures would not fail the script.
    ((failed == 0))
    exit $?
}
trap finish EXIT
trap 'exit 130' INT TERM

if [[ -n $SELFCHECK ]]; then
    echo "sandbox_selftest: harness self-check ($SELFCHECK): check and the EXIT trap, no sandbox"
    check "harness self-check: a true check" true
    case $SELFCHECK in
        fail) check "harness self-check: a deliberately false check" false ;;
        abort) echo "harness self-check: exit 3"; exit 3 ;;
    esac
    exit 0
fi

# ------------------------------------------------------------------ up ---
up_args=(--no-service)
[[ ${SANDBOX_SELFTEST_SERVICE:-} == 1 ]] && up_args=()
if timeout 60 "$SANDBOX" up "${up_args[@]}" "$DIR" >"$LOG" 2>&1; then
    pass "up ${up_args[*]}: $(grep -o 'up in [0-9]* ms' "$LOG")"
else
    fail "up ${up_args[*]}"
    sed 's/^/    | /' "$LOG" | tail -n 60
    exit 1
fi

# ----------------------------------------------------------------- bus ---
check "system bus answers inside" in_sb busctl --system call org.freedesktop.DBus / org.freedesktop.DBus GetId
check "host reaches the bus at DIR/run-dbus/system_bus_socket" \
    env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$DIR/run-dbus/system_bus_socket" \
    busctl --system call org.freedesktop.DBus / org.freedesktop.DBus GetId
check "systemd1 is on the sandbox bus" in_sb busctl --system status org.freedesktop.systemd1
check "the project's bus policy is included" test -f "$DIR/bus/system.d/org.nixos.Containers.conf"
if [[ ${SANDBOX_SELFTEST_SERVICE:-} == 1 ]]; then
    check "org.nixos.Containers is on the bus" in_sb busctl --system status org.nixos.Containers
    check "nixos-containers.service is active" in_sb systemctl is-active nixos-containers.service
fi

# ------------------------------------------------------------ machined ---
check "machined is on the bus" in_sb busctl --system status org.freedesktop.machine1
check "machinectl list works" in_sb machinectl list --no-pager

# -------------------------------------------------------------- polkit ---
check "polkitd is on the bus" in_sb busctl --system status org.freedesktop.PolicyKit1
for action in create manage update destroy; do
    check "pkaction knows org.nixos.containers.$action" in_sb pkaction --action-id "org.nixos.containers.$action"
done
check "test users exist inside" in_sb sh -c 'getent passwd nc-allowed nc-denied nc-challenged | wc -l | grep -qx 3'
# Positive: getent works here (it finds root), and finds no nc-allowed.
check "test users do not exist on the host" sh -c 'getent passwd root >/dev/null && { getent passwd nc-allowed; [ $? = 2 ]; }'

# The three identities through pkcheck (exit 0 authorized, 1 not authorized,
# 2 authorization needs authentication, i.e. a challenge), each checking
# itself, as a client process of theirs would be checked.
# shellcheck disable=SC2016 # expanded by the inner shell
pkcheck_as() { # USER UID EXPECTED_EXIT ACTION
    local rc=0
    in_sb setpriv --reuid="$2" --regid="$2" --clear-groups \
        sh -c 'exec pkcheck --action-id "$1" --process $$' sh "$4" >/dev/null 2>&1 || rc=$?
    [[ $rc == "$3" ]] || { echo "pkcheck as $1 for $4: exit $rc, expected $3"; return 1; }
}
for action in org.nixos.containers.create org.nixos.containers.destroy; do
    check "pkcheck: nc-allowed is authorized for $action" pkcheck_as nc-allowed 61001 0 "$action"
    check "pkcheck: nc-denied is not authorized for $action" pkcheck_as nc-denied 61002 1 "$action"
    check "pkcheck: nc-challenged gets a challenge for $action" pkcheck_as nc-challenged 61003 2 "$action"
done
check "pkcheck: nc-allowed gets nothing outside org.nixos.containers.*" pkcheck_as nc-allowed 61001 2 org.freedesktop.machine1.shell

# The same through CheckAuthorization, called by root about a process of the
# test user, exactly as the service asks about its callers. The reply is
# (is_authorized, is_challenge, details).
# shellcheck disable=SC2016 # expanded by the inner shell
check_authorization() { # USER UID EXPECTED("true false" etc.)
    in_sb bash -c '
        setpriv --reuid="$2" --regid="$2" --clear-groups sleep 60 &
        pid=$!
        # Wait until the child is the test user (setpriv has switched).
        for _ in $(seq 500); do
            [[ $(stat -c %u /proc/$pid) == "$2" && $(cat /proc/$pid/comm) == sleep ]] && break
            sleep 0.01
        done
        stat=$(cat /proc/$pid/stat); stat=${stat##*) }; set -- "$@" $stat
        st=${23} # field 22 of /proc/PID/stat (our 3 arguments come first)
        out=$(busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
            org.freedesktop.PolicyKit1.Authority CheckAuthorization "(sa{sv})sa{ss}us" \
            unix-process 3 pid u "$pid" start-time t "$st" uid i "$2" \
            org.nixos.containers.manage 2 container s-demo verb start 0 "")
        kill $pid
        echo "$out"
        [[ $out == "(bba{ss}) $3 "* ]]
    ' sh "$1" "$2" "$3"
}
check "CheckAuthorization: nc-allowed -> authorized" check_authorization nc-allowed 61001 "true false"
check "CheckAuthorization: nc-denied -> not authorized, no challenge" check_authorization nc-denied 61002 "false false"
check "CheckAuthorization: nc-challenged -> challenge" check_authorization nc-challenged 61003 "false true"

# ------------------------------------------------------------- payload ---
# The payload under the sandbox's systemd, as a transient unit like the ones
# the service creates, but started here by hand.
NOTIFY_INIT=$DIR/payload/notify-init
export NOTIFY_INIT
run_container() { # NAME SYSTEM_PATH TIMEOUT_START
    mkdir -p "$DIR/state/$1/usr" # Debian's nspawn wants a /usr
    in_sb systemd-run --quiet --unit="selftest-$1" \
        -p Type=notify -p NotifyAccess=all -p Delegate=yes -p KillMode=mixed \
        -p Slice=machine.slice -p TimeoutStartSec="$3" -p TimeoutStopSec=10s \
        /usr/bin/systemd-nspawn -q --keep-unit --register=yes --notify-ready=yes \
        --kill-signal=SIGRTMIN+3 -D "$DIR/state/$1" -M "$1" \
        --bind-ro="$DIR/store:/nix/store" "$2/init" selftest-arg
}
# machined's machines, one per line; fails unless the listing worked and
# shows machined's own ".host" (so an absence below means something).
machine_names() {
    in_sb busctl --json=short call org.freedesktop.machine1 /org/freedesktop/machine1 \
        org.freedesktop.machine1.Manager ListMachines |
        python3 -c 'import json, sys
names = [m[0] for m in json.load(sys.stdin)["data"][0]]
print("\n".join(names))
sys.exit(0 if ".host" in names else "ListMachines does not show .host")'
}
machine_listed() {
    local names
    names=$(machine_names) || { echo "cannot list machines"; return 1; }
    grep -qxF "$1" <<<"$names" || { echo "machine $1 is not listed: $names"; return 1; }
}
machine_gone() {
    local names
    names=$(machine_names) || { echo "cannot list machines"; return 1; }
    ! grep -qxF "$1" <<<"$names" || { echo "machine $1 is still listed"; return 1; }
}
# The unit's ActiveState, through a systemctl that must answer.
unit_active_state() { in_sb systemctl show -P ActiveState "selftest-$1.service"; }
unit_not_failed() {
    local s
    if ! s=$(unit_active_state "$1") || [[ -z $s ]]; then echo "cannot read the ActiveState of selftest-$1.service"; return 1; fi
    [[ $s != failed ]] || { echo "selftest-$1.service is failed"; return 1; }
}
unit_result() { in_sb systemctl show -P Result "selftest-$1.service"; }

ok_path=$("$MAKE_SYSTEM" "$DIR/store" sysok ok)
bad_path=$("$MAKE_SYSTEM" "$DIR/store" sysbad bad-init)
slow_path=$("$MAKE_SYSTEM" "$DIR/store" sysslow slow)

t0=$(now_ms)
check "payload ok: start reaches READY (systemd-run returns)" run_container ok "$ok_path" 20s
echo "      start to READY: $(($(now_ms) - t0)) ms"
check "payload ok: unit is active" in_sb systemctl is-active selftest-ok.service
check "payload ok: machine 'ok' in machinectl list" machine_listed ok
check "payload ok: machined knows its leader" in_sb sh -c 'machinectl show ok -p Leader --value | grep -qE "^[1-9][0-9]*$"'
check "payload ok: payload.log recorded argv" grep -q 'argv: .*selftest-arg' "$DIR/state/ok/var/log/payload.log"
check "payload ok: payload.log recorded the environment (NOTIFY_SOCKET)" grep -q '^  NOTIFY_SOCKET=' "$DIR/state/ok/var/log/payload.log"
check "payload ok: payload.log says ready" grep -q '^payload: ready' "$DIR/state/ok/var/log/payload.log"
# Into the container's namespaces through machined's leader, as
# nixos-container does for Reload (the payload has no bus of its own).
# shellcheck disable=SC2016 # expanded by the inner shell
check "payload ok: switch-to-configuration runs inside" \
    in_sb sh -c 'nsenter -t "$(machinectl show ok -p Leader --value)" -a "$1" test' sh "$ok_path/bin/switch-to-configuration"
check "payload ok: switch.log recorded the call" grep -qx 'switch-to-configuration test' "$DIR/state/ok/var/log/switch.log"
t0=$(now_ms)
check "payload ok: stop" in_sb systemctl stop selftest-ok.service
echo "      stop: $(($(now_ms) - t0)) ms"
check "payload ok: stopped by its trap of signal 37" grep -q 'got signal 37, exiting 0' "$DIR/state/ok/var/log/payload.log"
# A unit that failed stays loaded as failed; a clean stop unloads it.
check "payload ok: unit did not fail" unit_not_failed ok
check "payload ok: machine gone" poll 5000 machine_gone ok

if bounded "$STEP_TIMEOUT" run_container bad "$bad_path" 20s >"$LOG" 2>&1; then
    fail "payload bad-init: start fails"
else
    pass "payload bad-init: start fails"
fi
check "payload bad-init: unit result names the failure" sh -c "$SANDBOX exec $DIR systemctl show -P Result selftest-bad.service | grep -qx exit-code"
check "payload bad-init: machine gone" poll 5000 machine_gone bad
in_sb systemctl reset-failed selftest-bad.service >/dev/null 2>&1 || true

t0=$(now_ms)
if bounded "$STEP_TIMEOUT" run_container slow "$slow_path" 2s >"$LOG" 2>&1; then
    fail "payload slow: start times out"
else
    pass "payload slow: start times out ($(($(now_ms) - t0)) ms, TimeoutStartSec=2s)"
fi
check "payload slow: unit result is timeout" sh -c "$SANDBOX exec $DIR systemctl show -P Result selftest-slow.service | grep -qx timeout"
check "payload slow: machine gone" poll 5000 machine_gone slow
check "payload slow: it was started and stopped by its trap" \
    grep -q 'got signal 37' "$DIR/state/slow/var/log/payload.log"
in_sb systemctl reset-failed selftest-slow.service >/dev/null 2>&1 || true

# ------------------------------------------------- crash and bring-up again ---
# A killed sandbox (its PID 1 SIGKILLed behind our back, with a container
# running) must tear down and come up again cleanly.
check "payload ok: starts again" run_container ok "$ok_path" 20s
read -r sbpid _ <"$DIR/pid"
kill -KILL "$sbpid"
check "down after a crash" "$SANDBOX" down "$DIR"
check "host unchanged after the crash" "$SANDBOX" check-host "$DIR"
if timeout 60 "$SANDBOX" up "${up_args[@]}" "$DIR" >"$LOG" 2>&1; then
    pass "up again after the crash: $(grep -o 'up in [0-9]* ms' "$LOG")"
else
    fail "up again after the crash"
    sed 's/^/    | /' "$LOG" | tail -n 40
fi
check "bus answers after the second bring-up" in_sb busctl --system call org.freedesktop.DBus / org.freedesktop.DBus GetId
