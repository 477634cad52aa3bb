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
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin regr
SVC=nixos-containers.service
NETNS_DIR=$DIR/runtime/netns
# `old` is the service's PID before a kill, read by `restarted` under check.
old=''
BOUNDED_VARS+=(SVC NETNS_DIR old)

restarted() { local p; p=$(service_pid) && [[ $p =~ ^[1-9][0-9]*$ && $p != "$old" ]] && service_answers; }
# A link whose name or altname is NAME.
link_exists() { in_sb ip -o link show dev "$1" >/dev/null 2>&1; }
pin_exists() { in_sb test -e "$NETNS_DIR/$1"; }
net_present() { # NAME HOSTIF: the pin and the veth host end are there
    pin_exists "$1" || { echo "no pin $NETNS_DIR/$1"; return 1; }
    link_exists "$2" || { echo "no link $2"; return 1; }
    link_exists "ve-$1" || { echo "no link or altname ve-$1"; return 1; }
}
net_gone() { # NAME HOSTIF: every leftover is reported (positive probes, lib.sh)
    local rc=0
    path_absent "$NETNS_DIR/$1" || { in_sb findmnt "$NETNS_DIR/$1"; rc=1; }
    link_absent "$2" "ve-$1" || rc=1
    return $rc
}
# After Destroy: no conf, no root, and the network released.
destroyed() { # NAME HOSTIF
    local rc=0
    [[ ! -e $DIR/etc-containers/$1.conf ]] || { echo "conf $DIR/etc-containers/$1.conf left"; rc=1; }
    [[ ! -e $(root_of "$1") ]] || { echo "root $(root_of "$1") left"; rc=1; }
    net_gone "$1" "$2" || rc=1
    return $rc
}


scenario "0  sandbox up, payload"
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
scenario "R1 unit stopped while the service was down: its network is released on restart"
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
    check "R1 $C: the service is back" poll 15000 restarted
    check "R1 $C: State is stopped" poll 5000 state_is "$C" stopped
    check "R1 $C: no pin and no veth host end ($HOSTIF, altname ve-$C) left after the restart" poll 5000 net_gone "$C" "$HOSTIF"
    # Whatever the restart did, Destroy succeeds and leaves nothing.
    check "R1 $C: Destroy" mgr Destroy s "$C"
    check "R1 $C: nothing left after Destroy (conf, root, pin, host end)" destroyed "$C" "$HOSTIF"
done
