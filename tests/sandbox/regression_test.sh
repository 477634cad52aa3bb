#!/usr/bin/env bash
# regression_test.sh — focused scenarios for bugs the chaos run
# (tests/chaos/chaos.sh) found, one scenario per bug, in one sandbox.
#
#   R1  a private-network container whose unit stopped while the service was
#       down (killed in the middle of its Stop, or it powered off by itself):
#       the restarted service must release its host side (netns pin and the
#       veth host end, hashed name with altname ve-NAME for a long name).
#       Found by the chaos run, seed 7 (tests/chaos/FINDINGS.md, F1).
#
# Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
# the exit status is non-zero when M > 0.
# shellcheck disable=SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
SANDBOX=$REPO/scripts/sandbox/sandbox.sh
MAKE_SYSTEM=$HERE/payload/make-system.sh
BUS_NAME=org.nixos.Containers
MGR_PATH=/org/nixos/Containers
MGR_IF=org.nixos.Containers
SVC=nixos-containers.service

[[ $(id -u) == 0 ]] || { echo "regression_test: SKIP: needs root" >&2; exit 77; }

DIR=$(mktemp -d /tmp/nc-regr.XXXXXX)
[[ $DIR == /tmp/nc-regr.?* && -d $DIR ]] || { echo "regression_test: bad mktemp result '$DIR'" >&2; exit 1; }
WORK=$(mktemp -d /tmp/nc-regr-work.XXXXXX)
LOG=$WORK/step.log
NETNS_DIR=$DIR/runtime/netns

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
check() { # DESCRIPTION CMD...
    local desc=$1 rc=0
    shift
    # Functions run as they are (poll bounds itself); commands under timeout.
    if declare -F "$1" >/dev/null; then "$@" >"$LOG" 2>&1 || rc=$?; else timeout 60 "$@" >"$LOG" 2>&1 || rc=$?; fi
    if ((rc == 0)); then pass "$desc"; else fail "$desc (exit $rc): $*"; sed 's/^/    | /' "$LOG" | tail -n 25; fi
    return $rc
}
poll() { # DEADLINE_MS CMD...
    local deadline=$(($(now_ms) + $1))
    shift
    until "$@" >"$WORK/poll.out" 2>&1; do
        if (($(now_ms) >= deadline)); then cat "$WORK/poll.out"; return 1; fi
        sleep 0.05
    done
}
in_sb() { "$SANDBOX" exec "$DIR" "$@"; }
mgr() { in_sb busctl --timeout=30 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" "$@"; }
opath() {
    local n=$1 out='' c i
    for ((i = 0; i < ${#n}; i++)); do
        c=${n:i:1}
        if [[ $c == [A-Za-z0-9] ]]; then out+=$c; else out+=$(printf '_%02x' "'$c"); fi
    done
    echo "$MGR_PATH/container/$out"
}
prop() {
    local out
    out=$(in_sb busctl get-property "$BUS_NAME" "$(opath "$1")" "$MGR_IF.Container" "$2") || return 1
    out=${out#* }
    out=${out#\"}
    out=${out%\"}
    echo "$out"
}
state_is() { local s; s=$(prop "$1" State) || return 1; [[ $s == "$2" ]] || { echo "State of $1 is '$s', expected '$2'"; return 1; }; }
service_pid() { in_sb systemctl show -P MainPID "$SVC"; }
answers() { mgr List >/dev/null; }
# A link whose name or altname is NAME.
link_exists() { in_sb ip -o link show dev "$1" >/dev/null 2>&1; }
pin_exists() { in_sb test -e "$NETNS_DIR/$1"; }
net_present() { # NAME HOSTIF: the pin and the veth host end are there
    pin_exists "$1" || { echo "no pin $NETNS_DIR/$1"; return 1; }
    link_exists "$2" || { echo "no link $2"; return 1; }
    link_exists "ve-$1" || { echo "no link or altname ve-$1"; return 1; }
}
net_gone() { # NAME HOSTIF: every leftover is reported
    local rc=0
    if pin_exists "$1"; then echo "pin $NETNS_DIR/$1 left"; in_sb findmnt "$NETNS_DIR/$1"; rc=1; fi
    if link_exists "$2"; then echo "link $2 left"; in_sb ip link show dev "$2"; rc=1; fi
    if link_exists "ve-$1"; then echo "link or altname ve-$1 left"; rc=1; fi
    return $rc
}

finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    ((rc == 0 || rc == 1)) || fail "regression_test aborted (exit $rc)"
    if ((failed > 0)) && [[ -f $DIR/pid ]]; then
        echo "---- journal (service and containers), last 60 lines"
        in_sb journalctl --no-pager -u nixos-containers -u 'nixos-container@*' 2>/dev/null | tail -n 60
    fi
    if "$SANDBOX" down "$DIR" >"$LOG" 2>&1; then pass "sandbox down"; else fail "sandbox down"; sed 's/^/    | /' "$LOG"; fi
    if "$SANDBOX" check-host "$DIR" >"$LOG" 2>&1; then pass "host unchanged (check-host)"; else fail "check-host"; sed 's/^/    | /' "$LOG"; fi
    rmdir "$DIR" 2>/dev/null
    rm -rf --one-file-system "$WORK"
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit $?
}
trap finish EXIT
trap 'exit 130' INT TERM

if timeout 90 "$SANDBOX" up "$DIR" >"$LOG" 2>&1; then
    pass "sandbox up"
else
    fail "sandbox up"
    sed 's/^/    | /' "$LOG" | tail -n 40
    exit 1
fi
export NOTIFY_INIT=$DIR/payload/notify-init
SYS=$("$MAKE_SYSTEM" "$DIR/store" regrok ok) || { fail "payload"; exit 1; }

# ------------------------------------------------------------------ R1 ---
# The service killed between the container's unit stopping and its
# afterStopped() releasing the network (the chaos run hit it with a kill 11 ms
# into a Stop). Reproduced deterministically: kill the service, keep it down
# (stop cancels the pending auto-restart), stop the container's unit
# ourselves, start the service again.
echo "=== R1: unit stopped while the service was down: its network is released on restart"
for C in rg-net rg-long-name-netw-0123456789abcdefghijkl; do
    if ! mgr Create 'sa{sv}' "$C" 2 SystemPath s "$SYS" PrivateNetwork b true >"$LOG" 2>&1 ||
        ! mgr Start s "$C" >>"$LOG" 2>&1; then
        fail "R1 $C: Create + Start"
        sed 's/^/    | /' "$LOG"
        continue
    fi
    HOSTIF=$(prop "$C" HostInterface)
    check "R1 $C: running with pin and host end $HOSTIF" net_present "$C" "$HOSTIF"
    old=$(service_pid)
    in_sb systemctl kill -s KILL "$SVC"
    in_sb systemctl stop "$SVC" # no auto-restart while we stop the container
    check "R1 $C: its unit stops while the service is down" in_sb systemctl stop "nixos-container@$C.service"
    in_sb systemctl reset-failed "$SVC" 2>/dev/null
    in_sb systemctl start "$SVC"
    restarted() { local p; p=$(service_pid) && [[ $p =~ ^[1-9][0-9]*$ && $p != "$old" ]] && answers; }
    check "R1 $C: the service is back" poll 15000 restarted
    check "R1 $C: State is stopped" poll 5000 state_is "$C" stopped
    check "R1 $C: no pin and no veth host end ($HOSTIF, altname ve-$C) left after the restart" poll 5000 net_gone "$C" "$HOSTIF"
    # Whatever the restart did, Destroy leaves nothing.
    mgr Destroy s "$C" >/dev/null 2>&1
    check "R1 $C: nothing left after Destroy" net_gone "$C" "$HOSTIF"
done
