#!/usr/bin/env bash
# scale_test.sh — what bench/scale.sh (a thousand containers) found, at a
# scale CI can afford, against the real dbus-daemon, systemd, machined and
# nspawn of the sandbox.
#
# Scenarios:
#   1  every running container's nspawn holds a connection of root to the
#      system bus: with 300 such connections held (more than dbus-daemon's
#      default of 256 per user), a container still starts, registers with
#      machined and runs, under the shipped nixos-containers-limits.conf
#   2  the control: the same bus without that file (reloaded) refuses one of
#      300 connections of root; with as many held as it admits, a Start (by a
#      user polkit allows, whose connection is not root's) fails where
#      nspawn registers with machined ("No buffer space available"), which
#      is what the 223rd container of a host saw
#
# Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin scale
HOLD=$HERE/hold_bus_connections.py
BOUNDED_VARS+=(HOLD HOLDER_OUT U_ALLOWED BUS_NAME MGR_PATH MGR_IF)
HOLDER_PID=''
HOLDER_OUT=''

# hold COUNT: COUNT connections of root held in the sandbox (for at most 120
# s), until release; HOLDER_OUT gets the holder's report.
hold() {
    HOLDER_OUT=$WORK/holder.$1.out
    in_sb python3 "$HOLD" "$1" 120 >"$HOLDER_OUT" 2>&1 &
    HOLDER_PID=$!
}
release() {
    [[ -z $HOLDER_PID ]] || { kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null; }
    HOLDER_PID=''
}
holder_says() { # PATTERN: the holder's report matches (grep -E) within 30 s
    poll 30000 grep -E -- "$1" "$HOLDER_OUT" || { echo "holder said:"; cat "$HOLDER_OUT"; return 1; }
}
started_and_registered() { # NAME
    mgr Start s "$1" || return 1
    state_is "$1" running || return 1
    in_sb machinectl show "$1" -p Leader
}
start_refused_by_the_bus() { # NAME
    local out
    if out=$(as_user "$U_ALLOWED" busctl --timeout=30 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" Start s "$1" 2>&1); then
        echo "Start succeeded: $out"
        return 1
    fi
    echo "$out"
    in_sb journalctl -u "nixos-container@$1.service" --no-pager | grep 'Failed to register machine: No buffer space available'
}

scenario "0  sandbox up, payload, a container"
sandbox_up
SYS=$("$MAKE_SYSTEM" "$DIR/store" scale ok) || { fail "make-system"; exit 1; }
check "the shipped limits are in the sandbox's bus configuration" \
    grep -q max_connections_per_user "$DIR/bus/system.d/nixos-containers-limits.conf"
check "create c1" mgr Create 'sa{sv}' c1 1 SystemPath s "$SYS"

scenario "1  300 connections of root held: a container still starts and registers"
hold 300
check "the bus admits 300 connections of root" holder_says '^held 300$'
check "c1 starts, running, registered with machined" started_and_registered c1
release
check "stop c1" mgr Stop s c1

scenario "2  control: without the shipped limits, root's 257th connection and a Start are refused"
# dbus-daemon takes its limits at start only: a sandbox of its own.
check "the sandbox down" "$SANDBOX" down "$DIR"
check "the sandbox up again without nixos-containers-limits.conf" \
    env SANDBOX_BUS_LIMITS=0 timeout 60 "$SANDBOX" up "$DIR"
check "the limits file is not in the bus configuration" test ! -e "$DIR/bus/system.d/nixos-containers-limits.conf"
SYS=$("$MAKE_SYSTEM" "$DIR/store" scale ok) || { fail "make-system"; exit 1; }
check "create c2" mgr Create 'sa{sv}' c2 1 SystemPath s "$SYS"
hold 300
check "the bus refuses a connection of root before the 300th" holder_says '^refused at [0-9]+: '
# The holder has exited; hold the most the bus now admits, then start.
release
hold fill
check "root's connections held up to the bus's limit" holder_says '^held [0-9]+, refused: '
check "a Start then fails at nspawn's machine registration" start_refused_by_the_bus c2
release
