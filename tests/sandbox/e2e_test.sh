#!/usr/bin/env bash
# e2e_test.sh — the end-to-end tier: the installed service against real
# systemd, dbus-daemon, machined, polkitd and systemd-nspawn, in one sandbox
# (scripts/sandbox/sandbox.sh), driven through the D-Bus API the way busctl
# and gdbus clients call it. Every client runs inside the sandbox.
#
# Scenarios (issue 3, "End-to-end tests"):
#   1  Create from SystemPath; Start replies once ready
#   2  PropertiesChanged carries starting, running, stopping, stopped
#   3  Stop, Restart, Terminate, Reload, Update (a new system reloads, a new
#      command line restarts, new unit limits apply live), Rollback to the
#      previous generation (a reload), Destroy
#   4  Start failures (bad init, timeout) give StartFailed and a consistent state
#   5  20 Start/Stop cycles of the same container
#   6  the service killed while containers run rediscovers them
#   7  AutoStart containers come up when the service starts
#   8  authorization: allowed, denied, challenged users on every privileged verb
#   9  ten concurrent Starts; List stays responsive
#  10  private network (veth, addresses, ping, cleanup; long names)
#  11  bad input leaves nothing; NoSuchContainer; Busy; BuildFailed
#
# Runs as root (exit 77 otherwise, "skipped" for ctest). The last line is
# always "N passed, M failed"; the exit status is non-zero when M > 0.
# Settings: NIXOS_CONTAINERS_BUILD_DIR (see sandbox.sh), E2E_STEP_TIMEOUT.
# Many checks pass single-quoted scripts to sh -c (SC2016) and functions run
# only through check/poll (SC2317).
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin e2e

# ------------------------------------------------------------- helpers ---
leader_positive() {
    local l
    l=$(prop "$1" Leader) || return 1
    [[ $l =~ ^[1-9][0-9]*$ ]] || { echo "Leader of $1 is '$l'"; return 1; }
}
# machine_absent, unit_absent, not_listed, link_absent: lib.sh (positive probes).
machine_listed() {
    local l
    l=$(machine_names) || { echo "cannot list machines: $l"; return 1; }
    grep -qxF "$1" <<<"$l" || { echo "machine $1 not in machined's list:"; echo "$l"; return 1; }
}
machined_leader() { in_sb machinectl show "$1" -p Leader --value; }
conf_of() { echo "$DIR/etc-containers/$1.conf"; }
listed() {
    local l
    l=$(container_names) || { echo "cannot read List: $l"; return 1; }
    grep -qxF "$1" <<<"$l" || { echo "$1 not in List"; return 1; }
}
# same_leader NAME LEADER: LEADER is a PID (so that two empty or zero reads
# never agree) and NAME's Leader property is still it.
same_leader() {
    local l
    [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "the earlier Leader '$2' is not a PID"; return 1; }
    l=$(prop "$1" Leader) || return 1
    [[ $l == "$2" ]] || { echo "Leader '$l', expected $2"; return 1; }
}
unit_inactive() { unit_state "nixos-container@$1.service" inactive; }
# The container's object is gone: the manager's object answers, the
# container's path is an unknown object.
object_gone() {
    local out
    in_sb busctl introspect "$BUS_NAME" "$MGR_PATH" >/dev/null || { echo "the manager object does not answer"; return 1; }
    if out=$(in_sb gdbus call --system -d "$BUS_NAME" -o "$(opath "$1")" -m org.freedesktop.DBus.Properties.Get "'$CT_IF'" "'State'" 2>&1); then
        echo "the object answers: $out"
        return 1
    fi
    grep -qE 'GDBus.Error:org.freedesktop.DBus.Error.Unknown(Object|Interface|Method|Property):' <<<"$out" || { echo "not an unknown-object error: $out"; return 1; }
}
# create NAME SYSTEM [KEY TYPE VALUE]...: Create with SystemPath plus extras.
create() {
    local name=$1 sys=$2
    shift 2
    mgr Create 'sa{sv}' "$name" $((1 + $# / 3)) SystemPath s "$sys" "$@"
}
create_ok() { # as create, and the reply is the object path
    local out
    out=$(create "$@") || { echo "$out"; return 1; }
    [[ $out == "o \"$(opath "$1")\"" ]] || { echo "Create replied '$out', expected o \"$(opath "$1")\""; return 1; }
}
# poll DEADLINE_MS CMD...: retry until CMD succeeds or time runs out
# (the last attempt's output is shown on failure).
# Kill the service with SIGKILL and wait until a new instance (Restart=
# on-failure) answers on the bus.
kill_service() {
    local old new
    old=$(service_pid)
    [[ $old =~ ^[1-9][0-9]*$ ]] || { echo "service not running (MainPID '$old')"; return 1; }
    in_sb systemctl kill -s KILL nixos-containers.service || return 1
    # shellcheck disable=SC2317
    restarted() {
        local p
        p=$(service_pid) && [[ $p =~ ^[1-9][0-9]*$ && $p != "$old" ]] && service_answers
    }
    poll 15000 restarted || { echo "service did not come back"; in_sb systemctl status --no-pager nixos-containers.service; return 1; }
    new=$(service_pid)
    echo "service pid $old -> $new"
}
count_lines() { if [[ -f $1 ]]; then grep -c "$2" "$1"; else echo 0; fi; }
no_ve_links() {
    local l
    l=$(link_names) || { echo "cannot list the sandbox's links: $l"; return 1; }
    ! grep -E '^ve-' <<<"$l" || { echo "ve-* links remain (above)"; return 1; }
}


# ------------------------------------------------------------------- up ---
scenario "0  sandbox up, payloads"
sandbox_up
# The payloads in parallel (each copies busybox and links its applets).
mk_pids=()
for spec in "sysok ok" "sysok2 ok" "sysbad bad-init" "sysslow slow" "sysstubborn stubborn"; do
    # shellcheck disable=SC2086
    "$MAKE_SYSTEM" "$DIR/store" $spec >"$WORK/mk.${spec%% *}" 2>&1 &
    mk_pids+=($!)
done
for p in "${mk_pids[@]}"; do wait "$p" || { fail "make-system"; cat "$WORK"/mk.*; exit 1; }; done
OK=$(cat "$WORK/mk.sysok") OK2=$(cat "$WORK/mk.sysok2") BAD=$(cat "$WORK/mk.sysbad") SLOW=$(cat "$WORK/mk.sysslow")
STUBBORN=$(cat "$WORK/mk.sysstubborn")
pass "payloads: $OK $OK2 $BAD $SLOW"
check "service is on the bus" in_sb busctl --system status "$BUS_NAME"
# A container kept until the end: List must show it wherever an absence
# from List is checked (container_names), so an empty List proves nothing.
check "Create the List witness 'witness'" create_ok witness "$OK"
LIST_WITNESS=witness
check "machined lists .host (the machine listing works)" machine_names

# ------------------------------------------------------------ scenario 1 ---
scenario "1  Create from SystemPath; Start replies once ready"
C=alpha
check "Create $C from SystemPath replies its object path" create_ok $C "$OK"
check "$C.conf written with SYSTEM_PATH" grep -qxF "SYSTEM_PATH=$OK" "$(conf_of $C)"
check "$C is stopped after Create" state_is $C stopped
check "List has $C" listed $C
# shellcheck disable=SC2317
start_then_look() { # the assertions right after Start returns, no waiting
    local name=$1 out
    mgr Start s "$name" || return 1
    out=$(prop "$name" State)
    [[ $out == running ]] || { echo "State right after Start: '$out'"; return 1; }
    leader_positive "$name" || return 1
    machine_listed "$name" || return 1
    [[ -s $(root_of "$name")/var/log/payload.log ]] || { echo "no payload.log in $(root_of "$name")"; return 1; }
    grep -q '^payload: ready' "$(root_of "$name")/var/log/payload.log" || { echo "payload did not say ready"; return 1; }
}
check "Start $C: right after the reply State=running, Leader>0, machine listed, payload.log says ready" start_then_look $C
# shellcheck disable=SC2317
leader_agrees() {
    local a b
    a=$(prop "$1" Leader) && b=$(machined_leader "$1") || return 1
    [[ $a =~ ^[1-9][0-9]*$ ]] || { echo "Leader '$a' is not a PID"; return 1; }
    [[ $a == "$b" ]] || { echo "Leader '$a', machined '$b'"; return 1; }
}
check "Leader property equals machined's Leader (a PID)" leader_agrees $C
check "Unit property is nixos-container@$C.service" sh -c "[ \"\$1\" = nixos-container@$C.service ]" sh "$(prop $C Unit)"
check "unit nixos-container@$C.service is active" in_sb systemctl is-active "nixos-container@$C.service"
check "machinectl list inside shows $C" sh -c "$SANDBOX exec $DIR machinectl list --no-pager | grep -w $C"

# ------------------------------------------------------------ scenario 2 ---
scenario "2  live PropertiesChanged: starting running stopping stopped"
C=live
check "Create $C" create_ok $C "$OK"
MON_PID_FILE=$WORK/mon.pid MON_LOG=$WORK/mon.log
export MON_LOG # read by functions that check() runs in a child bash
# The monitor runs inside the sandbox; its PID (in there) goes to a file so
# that it can be stopped by id. timeout bounds it in any case.
"$SANDBOX" exec "$DIR" sh -c 'echo $$ >"$1"; exec timeout 60 busctl monitor --json=short --match="$2"' sh "$MON_PID_FILE" \
    "type=signal,interface=org.freedesktop.DBus.Properties,member=PropertiesChanged,path=$(opath $C)" >"$MON_LOG" 2>&1 &
MON_BG=$!
# shellcheck disable=SC2317
monitor_ready() { grep -q 'Monitoring bus message stream' "$MON_LOG"; }
check "busctl monitor is listening" poll 5000 monitor_ready
check "Start $C" mgr Start s $C
check "Stop $C" mgr Stop s $C
# shellcheck disable=SC2317
states_seen() { grep -o '"State":{"type":"s","data":"[a-z]*"}' "$MON_LOG" | sed 's/.*"data":"\([a-z]*\)"}/\1/' | tr '\n' ' ' | sed 's/ $//'; }
# shellcheck disable=SC2317
saw_all() { [[ $(states_seen) == "starting running stopping stopped" ]] || { echo "seen: '$(states_seen)'"; return 1; }; }
# The signals may trail the method replies by a moment: wait (bounded).
check "monitor saw State starting, running, stopping, stopped in order" poll 5000 saw_all
# shellcheck disable=SC2317
saw_leader() { grep -qE '"Leader":\{"type":"u","data":[1-9]' "$MON_LOG" || { echo "no Leader>0 in PropertiesChanged"; return 1; }; }
check "monitor saw Leader change to a PID" saw_leader
[[ -s $MON_PID_FILE ]] && in_sb kill "$(cat "$MON_PID_FILE")" 2>/dev/null
wait "$MON_BG" 2>/dev/null
echo "      states seen: $(states_seen)"

# ------------------------------------------------------------ scenario 3 ---
scenario "3  Stop, Restart, Terminate, Reload, Update, Destroy"
C=alpha
check "Stop $C" mgr Stop s $C
check "$C stopped" state_is $C stopped
check "$C Leader is 0" sh -c "[ \"\$1\" = 0 ]" sh "$(prop $C Leader)"
check "$C not a machine after Stop" machine_absent $C
check "unit of $C is inactive after Stop" unit_inactive $C
check "payload saw the stop signal" grep -q 'got signal 37' "$(root_of $C)/var/log/payload.log"
check "Stop of a stopped container succeeds" mgr Stop s $C
check "Start $C again" mgr Start s $C
L1=$(prop $C Leader)
check "Restart $C" mgr Restart s $C
L2=$(prop $C Leader)
check "after Restart: running" state_is $C running
check "after Restart: Leader changed ($L1 -> $L2)" sh -c '[ -n "$1" ] && [ "$1" != 0 ] && [ -n "$2" ] && [ "$2" != 0 ] && [ "$1" != "$2" ]' sh "$L1" "$L2"
check "after Restart: machined agrees on the Leader" leader_agrees $C
check "Terminate $C" mgr Terminate s $C
check "after Terminate: stopped" state_is $C stopped
check "after Terminate: no machine" machine_absent $C
check "after Terminate: unit inactive" unit_inactive $C
check "Start $C after Terminate" mgr Start s $C
SWLOG=$(root_of $C)/var/log/switch.log
n0=$(count_lines "$SWLOG" '^switch-to-configuration test$')
check "Reload $C" mgr Reload s $C
check "Reload ran switch-to-configuration test inside" sh -c '[ "$(grep -c "^switch-to-configuration test$" "$1")" -eq $(($2 + 1)) ]' sh "$SWLOG" "$n0"
check "Reload of the stopped 'live' gives NotRunning" expect_error "$ERR.NotRunning" "" -- Reload live
L1=$(prop $C Leader)
n1=$(count_lines "$SWLOG" '^switch-to-configuration test$')
check "Update $C SystemPath -> second system while running" mgr Update 'sa{sv}' $C 1 SystemPath s "$OK2"
check "Update: SystemPath property is the new system" sh -c '[ "$1" = "$2" ]' sh "$(prop $C SystemPath)" "$OK2"
check "Update: conf has the new SYSTEM_PATH" grep -qxF "SYSTEM_PATH=$OK2" "$(conf_of $C)"
check "Update SystemPath: switch-to-configuration test ran (reload)" sh -c '[ "$(grep -c "^switch-to-configuration test$" "$1")" -eq $(($2 + 1)) ]' sh "$SWLOG" "$n1"
check "Update SystemPath: not restarted (Leader $L1 kept)" same_leader $C "$L1"
check "Update SystemPath: still running" state_is $C running
check "Update $C TimeoutStartSec=30s MemoryMax=64M while running" mgr Update 'sa{sv}' $C 2 TimeoutStartSec s 30s MemoryMax s 64M
L2=$(prop $C Leader)
check "Update TimeoutStartSec: restarted (Leader $L1 -> $L2)" sh -c 'expr "$1" : "[1-9][0-9]*$" && expr "$2" : "[1-9][0-9]*$" && [ "$1" != "$2" ]' sh "$L1" "$L2"
check "Update TimeoutStartSec: running" state_is $C running
check "Update TimeoutStartSec: property is 30s" sh -c '[ "$1" = 30s ]' sh "$(prop $C TimeoutStartSec)"
check "Update TimeoutStartSec: unit has the new start timeout" sh -c "$SANDBOX exec $DIR systemctl show -P TimeoutStartUSec nixos-container@$C.service | grep -qx 30s"
check "Update MemoryMax: property is 64M" sh -c '[ "$1" = 64M ]' sh "$(prop $C MemoryMax)"
check "Update MemoryMax: unit has MemoryMax=64M in bytes" sh -c "$SANDBOX exec $DIR systemctl show -P MemoryMax nixos-container@$C.service | grep -qx 67108864"
check "Update MemoryMax: conf has MEMORY_MAX=64M" grep -qxF "MEMORY_MAX=64M" "$(conf_of $C)"
# The unit's limits change live: SetUnitProperties on the running unit, no
# restart, no reload.
L3=$(prop $C Leader)
n3=$(count_lines "$SWLOG" '^switch-to-configuration test$')
unit_has() { # NAME PROPERTY VALUE: systemd's value of the container's unit
    local got
    got=$(in_sb systemctl show -P "$2" "$(prop "$1" Unit)") || return 1
    echo "$2 is '$got'"
    [[ $got == "$3" ]]
}
check "Update $C MemoryMax=32M CPUWeight=50 TasksMax=300 while running" \
    mgr Update 'sa{sv}' $C 3 MemoryMax s 32M CPUWeight s 50 TasksMax s 300
check "live limits: the unit's MemoryMax is 33554432" unit_has $C MemoryMax 33554432
check "live limits: the unit's CPUWeight is 50" unit_has $C CPUWeight 50
check "live limits: the unit's TasksMax is 300" unit_has $C TasksMax 300
kept_running() { same_leader "$1" "$2" && state_is "$1" running; }
check "live limits: not restarted (Leader $L3 kept), still running" kept_running $C "$L3"
check "live limits: no reload (switch-to-configuration did not run)" sh -c '[ "$(grep -c "^switch-to-configuration test$" "$1")" -eq "$2" ]' sh "$SWLOG" "$n3"
check "live limits: the conf has CPU_WEIGHT=50 and TASKS_MAX=300" sh -c 'grep -qxF CPU_WEIGHT=50 "$1" && grep -qxF TASKS_MAX=300 "$1"' sh "$(conf_of $C)"
# The cgroup's own files, where this host's cgroup2 hierarchy has the
# controllers (a hybrid host keeps memory and cpu in v1: systemd then
# records the values and the kernel has no file to show them in).
CG=$(in_sb systemctl show -P ControlGroup "$(prop $C Unit)")
if in_sb grep -qw memory "/sys/fs/cgroup$CG/../cgroup.subtree_control" 2>/dev/null; then
    check "live limits: the cgroup's memory.max is 33554432" in_sb grep -qx 33554432 "/sys/fs/cgroup$CG/memory.max"
    check "live limits: the cgroup's cpu.weight is 50" in_sb grep -qx 50 "/sys/fs/cgroup$CG/cpu.weight"
else
    note "NOT CHECKED: memory.max and cpu.weight (no memory controller in this host's cgroup2 hierarchy)"
fi
check "Update $C CPUWeight='' (back to systemd's default, live)" mgr Update 'sa{sv}' $C 1 CPUWeight s ""
check "live limits: the unit's CPUWeight is [not set]" unit_has $C CPUWeight "[not set]"
check "live limits: still not restarted (Leader $L3)" same_leader $C "$L3"
check "Generations: 1 (the first system), 2 (the second, current)" generations_are $C "1:0 2:1"
L4=$(prop $C Leader)
n4=$(count_lines "$SWLOG" '^switch-to-configuration test$')
check "Rollback $C while running" mgr Rollback s $C
check "after Rollback: generation 1 is current" generations_are $C "1:1 2:0"
check "after Rollback: SystemPath is the first system again" sh -c '[ "$1" = "$2" ]' sh "$(prop $C SystemPath)" "$OK"
check "after Rollback: the conf has SYSTEM_PATH of the first system" grep -qxF "SYSTEM_PATH=$OK" "$(conf_of $C)"
check "after Rollback: switch-to-configuration test ran (a reload), Leader $L4 kept" sh -c \
    '[ "$(grep -c "^switch-to-configuration test$" "$1")" -eq $(($2 + 1)) ]' sh "$SWLOG" "$n4"
check "after Rollback: not restarted" kept_running $C "$L4"
check "a second Rollback: InvalidArgument, nothing older than generation 1" \
    expect_error "$ERR.InvalidArgument" "no generation older than the current one (1)" -- Rollback "$C"
check "Destroy $C (running)" mgr Destroy s $C
check "Destroy: no conf" test ! -e "$(conf_of $C)"
check "Destroy: no root directory" test ! -e "$(root_of $C)"
check "Destroy: no profile" test ! -e "$DIR/profiles/$C"
check "Destroy: no gcroots" test ! -e "$DIR/gcroots/$C"
check "Destroy: no unit in systemctl list-units --all" unit_absent $C
check "Destroy: no machine" machine_absent $C
check "Destroy: not in List" not_listed $C
check "Destroy: object gone (an unknown object to the bus)" object_gone $C
check "Destroy: NoSuchContainer afterwards" expect_error "$ERR.NoSuchContainer" "" -- Start "$C"
check "Destroy of the stopped container 'live'" mgr Destroy s live
check "'live' gone" not_listed live
# Issue 25 item 12: a root that cannot be removed (an immutable directory,
# as a container's root without a user namespace can make) forgets nothing:
# the container stays listed with why, and a second Destroy finishes.
C=stuck
check "Create $C" create_ok $C "$OK"
check "Start $C" mgr Start s $C
check "Stop $C" mgr Stop s $C
mkdir -p "$(root_of $C)/var/kept" && echo x >"$(root_of $C)/var/kept/file"
check "chattr +i a directory in $C's root" chattr +i "$(root_of $C)/var/kept"
check "Destroy $C: IOError, not destroyed, naming the root" \
    expect_error "$ERR.IOError" "container '$C' was not destroyed: cannot remove '$(root_of $C)" -- Destroy "$C"
check "after the failed Destroy: still listed, stopped" state_is $C stopped
check "after the failed Destroy: the conf is kept" test -e "$(conf_of $C)"
# shellcheck disable=SC2317
last_error_says() { in_sb busctl call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" Inspect s "$1" | grep -qF "$2"; }
check "after the failed Destroy: Inspect's LastError says why" last_error_says $C "Operation not permitted"
check "chattr -i" chattr -i "$(root_of $C)/var/kept"
check "a second Destroy of $C completes" mgr Destroy s $C
check "$C gone: not listed, no conf, no root" sh -c '! echo "$2" | grep -qF "\"$1\"" && [ ! -e "$3" ] && [ ! -e "$4" ]' \
    sh $C "$(mgr List)" "$(conf_of $C)" "$(root_of $C)"

# ------------------------------------------------------------ scenario 4 ---
scenario "4  Start failures: bad init, timeout"
C=badinit
check "Create $C (bad-init payload)" create_ok $C "$BAD"
check "Start $C -> StartFailed naming the unit result exit-code" expect_error "$ERR.StartFailed" "exit-code" -- Start $C
check "$C State failed" state_is $C failed
check "$C no machine" machine_absent $C
check "Stop after the failure succeeds" mgr Stop s $C
check "$C stopped after Stop" state_is $C stopped
check "unit of $C not left failed (inactive)" unit_inactive $C
check "Start $C again -> StartFailed again (consistent)" expect_error "$ERR.StartFailed" "exit-code" -- Start $C
check "Destroy $C (failed)" mgr Destroy s $C
check "$C gone, nothing left" sh -c '[ ! -e "$1" ] && [ ! -e "$2" ]' sh "$(conf_of $C)" "$(root_of $C)"
C=slowstart
check "Create $C (slow payload, TimeoutStartSec 2s)" create_ok $C "$SLOW" TimeoutStartSec s 2s
t0=$(now_ms)
check "Start $C -> StartFailed mentioning timeout" expect_error "$ERR.StartFailed" "timeout" -- Start $C
echo "      slow Start failed after $(($(now_ms) - t0)) ms (TimeoutStartSec=2s)"
check "$C State failed" state_is $C failed
check "$C no machine" poll 5000 machine_absent $C
check "Stop after the timeout succeeds" mgr Stop s $C
check "$C stopped" state_is $C stopped
check "Destroy $C" mgr Destroy s $C
# Issue 25: a payload that is never ready and ignores the halt: Start
# answers within TimeoutStartSec plus a few seconds, not after systemd's
# stop timeout (90 s) on top.
C=stubborn
check "Create $C (stubborn payload: no READY=1, ignores SIGTERM and the halt; TimeoutStartSec 2s)" create_ok $C "$STUBBORN" TimeoutStartSec s 2s
t0=$(now_ms)
check "Start $C -> StartFailed mentioning timeout" expect_error "$ERR.StartFailed" "timeout" -- Start $C
STUBBORN_MS=$(($(now_ms) - t0))
check "... answered within TimeoutStartSec + 5 s ($STUBBORN_MS ms)" test "$STUBBORN_MS" -lt 7000
check "$C no machine" poll 5000 machine_absent $C
check "Destroy $C" mgr Destroy s $C

# ------------------------------------------------------------ scenario 5 ---
scenario "5  20 Start/Stop cycles of one container"
C=cycler
check "Create $C" create_ok $C "$OK"
# shellcheck disable=SC2317
one_cycle() {
    local name=$1 s
    machine_absent "$name" || { echo "stale machine before Start"; return 1; }
    mgr Start s "$name" || return 1
    s=$(prop "$name" State)
    [[ $s == running ]] || { echo "after Start: State '$s'"; return 1; }
    leader_positive "$name" || return 1
    machine_listed "$name" || return 1
    mgr Stop s "$name" || return 1
    s=$(prop "$name" State)
    [[ $s == stopped ]] || { echo "after Stop: State '$s'"; return 1; }
    machine_absent "$name" || return 1
}
t0=$(now_ms)
for i in $(seq 1 20); do
    check "cycle $i: Start running (machine listed), Stop stopped (machine gone)" one_cycle $C
done
echo "      20 cycles in $(($(now_ms) - t0)) ms"
check "payload was started 20 times (+0 before)" sh -c '[ "$(grep -c "^payload: ready" "$1")" -eq 20 ]' sh "$(root_of $C)/var/log/payload.log"
check "Destroy $C" mgr Destroy s $C

# ------------------------------------------------------------ scenario 8 ---
scenario "8  authorization: allowed, denied, challenged"
C=authz
SPEC="{'SystemPath': <'$OK'>}"
# busctl as a challenged user, interactive authorization explicitly off:
# must fail and ask for authentication.
# shellcheck disable=SC2317
busctl_challenged() {
    local out
    if out=$(as_user "$U_CHALLENGED" busctl --allow-interactive-authorization=no --timeout=30 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" "$@" 2>&1); then
        echo "call succeeded: $out"
        return 1
    fi
    echo "$out"
    grep -qi 'authenticat' <<<"$out"
}
as_allowed() { as_user "$U_ALLOWED" busctl --timeout=30 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" "$@"; }
check "nc-denied Create -> AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_DENIED" -- Create $C "$SPEC"
check "nc-challenged Create -> InteractiveAuthorizationRequired" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "" "$U_CHALLENGED" -- Create $C "$SPEC"
check "nc-challenged busctl --allow-interactive-authorization=no Create fails" busctl_challenged Create 'sa{sv}' $C 1 SystemPath s "$OK"
# shellcheck disable=SC2317
nothing_of() { [[ ! -e $(conf_of "$1") && ! -e $(root_of "$1") ]] || { echo "conf or root of $1 exists"; return 1; }; not_listed "$1"; }
check "after refused Creates: no conf, not listed, no root" nothing_of $C
check "nc-allowed Create" as_allowed Create 'sa{sv}' $C 1 SystemPath s "$OK"
check "$C exists, stopped" state_is $C stopped
check "nc-denied Start -> AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_DENIED" -- Start $C
check "nc-challenged Start -> InteractiveAuthorizationRequired" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "" "$U_CHALLENGED" -- Start $C
check "nc-challenged busctl --allow-interactive-authorization=no Start fails" busctl_challenged Start s $C
check "after refused Starts: still stopped" state_is $C stopped
check "after refused Starts: no machine" machine_absent $C
# shellcheck disable=SC2317
expect_ct_error() { EXPECT_AT="$(opath "$1") $CT_IF"; shift; expect_error "$@"; } # NAME, then as expect_error
check "nc-denied Start on the container object -> AccessDenied" \
    expect_ct_error $C "$DBUS_ERR.AccessDenied" "" "$U_DENIED" -- Start
check "still stopped" state_is $C stopped
check "nc-allowed Start" as_allowed Start s $C
check "$C running" state_is $C running
L1=$(prop $C Leader)
SUM1=$(md5sum <"$(conf_of $C)")
SW1=$(count_lines "$(root_of $C)/var/log/switch.log" .)
for verb in Stop Restart Terminate Reload Destroy; do
    check "nc-denied $verb -> AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_DENIED" -- $verb $C
    check "nc-challenged $verb -> InteractiveAuthorizationRequired" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "" "$U_CHALLENGED" -- $verb $C
done
check "nc-denied Update -> AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_DENIED" -- Update $C "{'TimeoutStartSec': <'5s'>}"
check "nc-challenged Update -> InteractiveAuthorizationRequired" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "" "$U_CHALLENGED" -- Update $C "{'TimeoutStartSec': <'5s'>}"
check "nc-challenged busctl --allow-interactive-authorization=no Stop fails" busctl_challenged Stop s $C
check "after refused verbs: still running" state_is $C running
check "after refused verbs: same Leader ($L1)" same_leader $C "$L1"
check "after refused verbs: conf unchanged" sh -c '[ "$1" = "$(md5sum <"$2")" ]' sh "$SUM1" "$(conf_of $C)"
check "after refused verbs: no Reload ran" sh -c '[ "$1" = "$(grep -c . "$2" 2>/dev/null || echo 0)" ]' sh "$SW1" "$(root_of $C)/var/log/switch.log"
check "nc-denied List works" as_user $U_DENIED busctl call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" List
check "nc-denied Inspect works" as_user $U_DENIED busctl call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" Inspect s $C
check "nc-denied GetContainer works" as_user $U_DENIED busctl call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" GetContainer s $C
check "nc-denied get-property State works (running)" sh -c "$SANDBOX exec $DIR setpriv --reuid=$U_DENIED --regid=$U_DENIED --clear-groups busctl get-property $BUS_NAME $(opath $C) $CT_IF State | grep -qx 's \"running\"'"
check "nc-allowed Reload" as_allowed Reload s $C
check "nc-allowed Stop" as_allowed Stop s $C
check "$C stopped" state_is $C stopped
check "nc-denied Destroy (stopped) -> AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_DENIED" -- Destroy $C
check "conf still there" test -e "$(conf_of $C)"
check "nc-allowed Destroy" as_allowed Destroy s $C
check "$C gone" sh -c '[ ! -e "$1" ] && [ ! -e "$2" ]' sh "$(conf_of $C)" "$(root_of $C)"
# Issue 25 item 14: polkitd gone (its unit masked, so no activation brings it
# back): every caller but root is denied, and the service's journal says so
# once, with what to do; polkitd back, callers are asked about again.
polkit_warnings() { in_sb journalctl --no-pager -o cat -u nixos-containers.service | grep -c "polkitd is not running"; }
W0=$(polkit_warnings)
# shellcheck disable=SC2317
warned_once_more() { # WARNINGS_BEFORE
    local n
    n=$(polkit_warnings)
    [[ $n == $(($1 + 1)) ]] || { echo "$((n - $1)) warnings since polkitd went"; return 1; }
    in_sb journalctl --no-pager -o cat -u nixos-containers.service | grep "polkitd is not running" | tail -n 1 |
        grep -qF "start it with 'systemctl start polkit.service'" || { echo "the warning does not say what to do"; return 1; }
}
check "mask --runtime and stop polkit.service" in_sb sh -c 'systemctl mask --runtime polkit.service && systemctl stop polkit.service'
check "without polkitd: nc-allowed Stop witness -> AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_ALLOWED" -- Stop witness
check "without polkitd: again AccessDenied" expect_error "$DBUS_ERR.AccessDenied" "" "$U_ALLOWED" -- Stop witness
check "the service's journal says once that polkitd is not running, and what to do" poll 5000 warned_once_more "$W0"
check "unmask and start polkit.service" in_sb sh -c 'systemctl unmask --runtime polkit.service && systemctl start polkit.service'
check "with polkitd back: nc-allowed Stop witness works" as_allowed Stop s witness

# ----------------------------------------------------------- scenario 11 ---
scenario "11 bad input leaves nothing; NoSuchContainer; Busy; BuildFailed"
# shellcheck disable=SC2317
snapshot() { ls -A "$DIR/etc-containers" "$DIR/state" "$DIR/profiles" "$DIR/gcroots"; mgr List; }
snapshot >"$WORK/before" 2>&1
check "Create 'a/b' -> InvalidArgument \"contains '/'\"" expect_error "$ERR.InvalidArgument" "contains '/'" -- Create 'a/b' "$SPEC"
check "Create '' -> InvalidArgument" expect_error "$ERR.InvalidArgument" "" -- Create '' "$SPEC"
check "Create '..' -> InvalidArgument" expect_error "$ERR.InvalidArgument" "" -- Create '..' "$SPEC"
check "Create without a system source -> InvalidArgument" expect_error "$ERR.InvalidArgument" "" -- Create badspec "{'AutoStart': <false>}"
check "Create with an unknown key -> InvalidArgument" expect_error "$ERR.InvalidArgument" "" -- Create badspec "{'SystemPath': <'$OK'>, 'NoSuchKey': <1>}"
check "Create with a mistyped value -> InvalidArgument" expect_error "$ERR.InvalidArgument" "" -- Create badspec "{'SystemPath': <'$OK'>, 'PrivateNetwork': <'yes'>}"
check "Create from a Config whose build fails -> BuildFailed, the builder's message" \
    expect_error "$ERR.BuildFailed" "payload.fail is set" -- Create built "{'Config': <'payload.fail = true;'>}"
# shellcheck disable=SC2317
unchanged() { snapshot >"$WORK/after" 2>&1; diff -u "$WORK/before" "$WORK/after"; }
check "nothing left behind by the refused Creates (conf, state, profiles, gcroots, List)" unchanged
for verb in Start Stop Inspect GetContainer Destroy; do
    check "$verb of an unknown container -> NoSuchContainer" expect_error "$ERR.NoSuchContainer" "" -- $verb nosuchcontainer
done
check "Create dup" create_ok dup "$OK"
check "Create dup again -> AlreadyExists" expect_error "$ERR.AlreadyExists" "" -- Create dup "$SPEC"
check "Destroy dup" mgr Destroy s dup
C=busyslow
check "Create $C (slow payload, TimeoutStartSec 4s)" create_ok $C "$SLOW" TimeoutStartSec s 4s
"$SANDBOX" exec "$DIR" gdbus call --system --timeout 30 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.Start" $C >"$WORK/busy1.out" 2>&1 &
BG=$!
check "$C is starting" poll 3000 state_is $C starting
check "a second Start meanwhile -> Busy" expect_error "$ERR.Busy" "" -- Start $C
wait $BG
check "the first Start ends in StartFailed (timeout)" grep -q "GDBus.Error:$ERR.StartFailed:.*timeout" "$WORK/busy1.out"
check "Stop $C" mgr Stop s $C
check "Destroy $C" mgr Destroy s $C
# As systemctl stop: a Stop while the container starts cancels the start
# instead of answering Busy until TimeoutStartSec.
C=stopslow
check "Create $C (slow payload, TimeoutStartSec 60s)" create_ok $C "$SLOW" TimeoutStartSec s 60s
"$SANDBOX" exec "$DIR" gdbus call --system --timeout 90 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.Start" $C >"$WORK/stopslow.out" 2>&1 &
BG=$!
check "$C is starting" poll 3000 state_is $C starting
check "$C's machine is registered" poll 3000 machine_listed $C
# The payload's init traps the stop signal once its shell runs; before that
# the kernel drops it (a namespace's init has no default action), and the
# stop would wait for TimeoutStopSec, as it would with systemctl.
payload_waits() { grep -q "environment:" "$(root_of "$1")/var/log/payload.log" 2>/dev/null; }
check "$C's payload runs (its trap is set)" poll 5000 payload_waits $C
sleep 0.3
t0=$(now_ms)
check "Stop while $C starts" mgr Stop s $C
note "Stop returned after $(($(now_ms) - t0)) ms (TimeoutStartSec=60s)"
wait $BG
check "the Start ends in StartFailed, cancelled by the stop" grep -q "GDBus.Error:$ERR.StartFailed:.*cancelled by a stop" "$WORK/stopslow.out"
check "$C is stopped" state_is $C stopped
check "$C's machine is gone" machine_absent $C
check "$C's unit is gone" poll 5000 unit_absent $C
check "Destroy $C" mgr Destroy s $C

# ------------------------------------------------------------ scenario 9 ---
scenario "9  ten concurrent Starts; List stays responsive"
CONC=()
for i in 0 1 2 3 4 5 6 7 8 9; do CONC+=("conc$i"); done
for c in "${CONC[@]}"; do check "Create $c" create_ok "$c" "$OK"; done
t0=$(now_ms)
declare -a START_BG=()
for c in "${CONC[@]}"; do
    { "$SANDBOX" exec "$DIR" busctl --timeout=60 call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" Start s "$c" >"$WORK/start.$c" 2>&1; echo $? >"$WORK/rc.$c"; } &
    START_BG+=($!)
done
# List, back to back, from inside the sandbox while the Starts run (so that
# the timing is busctl's and the service's, not nsenter's); it stops when
# the marker file goes away, and after 60 s at most.
: >"$WORK/starts.running"
# shellcheck disable=SC2016 # expanded by the inner bash
"$SANDBOX" exec "$DIR" bash -c '
    end=$((SECONDS + 60))
    while [[ -e $1 ]] && ((SECONDS < end)); do
        t0=$(date +%s%N)
        if busctl --timeout=5 call org.nixos.Containers /org/nixos/Containers org.nixos.Containers List >/dev/null 2>&1; then r=ok; else r=FAIL; fi
        echo "$r $((($(date +%s%N) - t0) / 1000000))"
    done' bash "$WORK/starts.running" >"$WORK/list.latency" 2>&1 &
LIST_BG=$!
for p in "${START_BG[@]}"; do wait "$p"; done
rm -f "$WORK/starts.running"
wait "$LIST_BG"
ln=$(grep -c . "$WORK/list.latency") lfail=$(grep -vc '^ok ' "$WORK/list.latency")
lmax=$(awk 'BEGIN{m=0} {if ($2 > m) m = $2} END{print m}' "$WORK/list.latency")
lmean=$(awk '{s += $2; n++} END{print n ? int(s / n) : 0}' "$WORK/list.latency")
echo "      10 concurrent Starts done in $(($(now_ms) - t0)) ms; $ln List calls meanwhile (inside the sandbox), max $lmax ms, mean $lmean ms"
check "List answered every time during the Starts ($ln calls, $lfail failed)" test "$ln" -gt 0 -a "$lfail" -eq 0
check "List latency during the Starts stays under 1 s (max $lmax ms)" test "$lmax" -lt 1000
for c in "${CONC[@]}"; do
    # shellcheck disable=SC2317
    conc_ok() { [[ $(cat "$WORK/rc.$1") == 0 ]] || { cat "$WORK/start.$1"; return 1; }; state_is "$1" running && machine_listed "$1"; }
    check "$c: Start replied ok, running, machine listed" conc_ok "$c"
done

# ------------------------------------------------------------ scenario 6 ---
scenario "6  service killed while containers run"
declare -A LEADER=()
for c in "${CONC[@]}"; do LEADER[$c]=$(prop "$c" Leader); done
check "kill -9 the service; it comes back (Restart=on-failure) and answers" kill_service
mgr List >"$WORK/list.after" 2>&1
for c in "${CONC[@]}"; do
    # shellcheck disable=SC2317
    rediscovered() { # NAME LEADER
        grep -qF "\"$1\" \"running\"" "$WORK/list.after" || { echo "List: $(cat "$WORK/list.after")"; return 1; }
        local l m
        l=$(prop "$1" Leader) m=$(machined_leader "$1")
        [[ $2 =~ ^[1-9][0-9]*$ && $l == "$2" && $m == "$2" ]] || { echo "Leader property '$l', machined '$m', before the kill '$2'"; return 1; }
    }
    check "$c rediscovered: List says running, Leader ${LEADER[$c]} kept" rediscovered "$c" "${LEADER[$c]}"
done
# shellcheck disable=SC2317
stop_all() { # concurrently, as a client with many containers would
    local c rc=0
    local -a pids=()
    for c in "$@"; do mgr Stop s "$c" >"$WORK/stop.$c" 2>&1 & pids+=($!); done
    for c in "${pids[@]}"; do wait "$c" || rc=1; done
    for c in "$@"; do state_is "$c" stopped || rc=1; machine_absent "$c" || rc=1; done
    ((rc == 0)) || cat "$WORK"/stop.*
    return $rc
}
check "Stop works on every rediscovered container (all stopped, no machines)" stop_all "${CONC[@]}"
for c in "${CONC[@]}"; do mgr Destroy s "$c" >"$LOG" 2>&1 || { fail "Destroy $c"; cat "$LOG"; }; done
# shellcheck disable=SC2317
none_listed() { local c; for c; do not_listed "$c" || return 1; done; }
check "the ten are destroyed (none in List)" none_listed "${CONC[@]}"

# ------------------------------------------------------------ scenario 7 ---
scenario "7  AutoStart on service start"
C=auto
check "Create $C with AutoStart" create_ok $C "$OK" AutoStart b true
check "$C is stopped after Create" state_is $C stopped
check "AutoStart property true" sh -c '[ "$1" = true ]' sh "$(prop $C AutoStart)"
check "$C no machine yet" machine_absent $C
check "kill -9 the service; it comes back" kill_service
check "$C comes up running" poll 20000 state_is $C running
check "$C machine listed" machine_listed $C
check "$C Leader>0" leader_positive $C
check "Stop $C" mgr Stop s $C
check "Destroy $C" mgr Destroy s $C
# Issue 25 item 11: a conf made read-only (chmod 0444) is no declarative
# conf: after a restart of the service, the container is still imperative
# and starts under its own unit.
# Issue 25 item 13: a conf cut short (no last newline) is listed, saying
# why; Start refuses it naming the problem, Destroy removes it.
C=ro-conf
check "Create $C" create_ok $C "$OK"
check "chmod 0444 $C.conf" chmod 0444 "$(conf_of $C)"
printf 'SYSTEM_PATH=%s' "${OK%-*}" >"$(conf_of cut-conf)"
check "kill -9 the service; it comes back" kill_service
check "$C is not declarative" sh -c '[ "$1" = false ]' sh "$(prop $C Declarative)"
check "Start $C works" mgr Start s $C
check "$C running under nixos-container@$C.service" sh -c '[ "$1" = nixos-container@$2.service ]' sh "$(prop $C Unit)" $C
check "Stop $C" mgr Stop s $C
check "Destroy $C" mgr Destroy s $C
check "cut-conf is listed" listed cut-conf
# shellcheck disable=SC2317
broken_says() { local b; b=$(prop "$1" Broken) || return 1; [[ $b == *"$2"* ]] || { echo "Broken is '$b'"; return 1; }; }
check "cut-conf's Broken property names the file" broken_says cut-conf "/etc-containers/cut-conf.conf"
check "cut-conf's Broken property says its last line has no newline" broken_says cut-conf "its last line has no newline"
check "Start cut-conf: InvalidArgument naming the broken conf" \
    expect_error "$ERR.InvalidArgument" "has a broken conf" -- Start cut-conf
check "Destroy cut-conf" mgr Destroy s cut-conf
check "cut-conf gone: not listed, no conf" sh -c '! echo "$1" | grep -qF "\"cut-conf\"" && [ ! -e "$2" ]' \
    sh "$(mgr List)" "$(conf_of cut-conf)"

# ----------------------------------------------------------- scenario 10 ---
scenario "10 private network: veth, addresses, ping, cleanup"
C=netc
# shellcheck disable=SC2317
addresses_agree() {
    local a b
    a=$(addresses_prop "$1") && b=$(addresses_inspect "$1") || return 1
    [[ $a == "$b" ]] || { echo "property: '$a', Inspect: '$b'"; return 1; }
    echo "both: '$a'"
}
check "Create $C with PrivateNetwork" create_ok $C "$OK" PrivateNetwork b true
HA=$(prop $C HostAddress) LA=$(prop $C LocalAddress)
check "automatic addresses 10.233.N.1 / 10.233.N.2 ($HA / $LA)" sh -c '
    h=${1%/*} l=${2%/*}
    case $h in 10.233.*.1) ;; *) exit 1 ;; esac
    [ "${h%.1}" = "${l%.2}" ] && [ "$l" = "${h%.1}.2" ]' sh "$HA" "$LA"
check "Start $C" mgr Start s $C
check "$C running" state_is $C running
IFACE=$(prop $C HostInterface)
check "HostInterface is set ('$IFACE')" test -n "$IFACE"
check "host link $IFACE exists in the sandbox's namespace" in_sb ip link show dev "$IFACE"
check "ping -c1 -W2 ${LA%/*} from the container's host" in_sb busybox ping -c1 -W2 "${LA%/*}"
check "Addresses property has ${LA%/*}" sh -c "$SANDBOX exec $DIR busctl get-property $BUS_NAME $(opath $C) $CT_IF Addresses | grep -qF '\"${LA%/*}\"'"
check "Inspect's Addresses and the Addresses property agree while running" addresses_agree $C
check "Stop $C" mgr Stop s $C
check "no ve-* link left after Stop, once their removal is done (ip -br link)" poll 5000 no_ve_links
check "Inspect's Addresses and the Addresses property agree after Stop" addresses_agree $C
echo "      Addresses after Stop: $(addresses_prop $C)"
check "Destroy $C" mgr Destroy s $C
# Two 40-character names sharing a 30-character prefix: their veth names
# (15 bytes at most) must still differ.
P=n30-prefix-abcdefghijklmnopqrs
LN1=${P}aaaaaaaaa1 LN2=${P}bbbbbbbbb2
check "names: prefix ${#P}, names ${#LN1} and ${#LN2} characters" sh -c '[ "$1" = 30 ] && [ "$2" = 40 ] && [ "$3" = 40 ]' sh "${#P}" "${#LN1}" "${#LN2}"
check "Create $LN1 with PrivateNetwork" create_ok "$LN1" "$OK" PrivateNetwork b true
check "Create $LN2 with PrivateNetwork" create_ok "$LN2" "$OK" PrivateNetwork b true
check "Start $LN1" mgr Start s "$LN1"
check "Start $LN2" mgr Start s "$LN2"
# shellcheck disable=SC2317
both_running() { state_is "$1" running && state_is "$2" running; }
check "both running at once" both_running "$LN1" "$LN2"
I1=$(prop "$LN1" HostInterface) I2=$(prop "$LN2" HostInterface)
check "distinct host interfaces ('$I1', '$I2'), each at most 15 bytes" sh -c '[ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ] && [ ${#1} -le 15 ] && [ ${#2} -le 15 ]' sh "$I1" "$I2"
check "both host links exist" sh -c "$SANDBOX exec $DIR ip link show dev '$I1' && $SANDBOX exec $DIR ip link show dev '$I2'"
check "altname ve-$LN1 names the first link" sh -c "$SANDBOX exec $DIR ip link show dev '$I1' | grep -qF 'altname ve-$LN1'"
check "ping the first ($(prop "$LN1" LocalAddress))" in_sb busybox ping -c1 -W2 "$(prop "$LN1" LocalAddress | cut -d/ -f1)"
check "ping the second ($(prop "$LN2" LocalAddress))" in_sb busybox ping -c1 -W2 "$(prop "$LN2" LocalAddress | cut -d/ -f1)"
check "Stop $LN1" mgr Stop s "$LN1"
check "Stop $LN2" mgr Stop s "$LN2"
check "no ve-* link left, once their removal is done" poll 5000 no_ve_links
check "Destroy $LN1" mgr Destroy s "$LN1"
check "Destroy $LN2" mgr Destroy s "$LN2"
check "Destroy the List witness" mgr Destroy s witness
LIST_WITNESS=''
left_in() { local l; l=$(ls -A "$@") || { echo "ls failed: $l"; return 1; }; l=$(grep -v ":$" <<<"$l" | grep .) || return 0; echo "left: $l"; return 1; }
check "nothing left in etc-containers and state" left_in "$DIR/etc-containers" "$DIR/state"
