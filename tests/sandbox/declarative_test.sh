#!/usr/bin/env bash
# declarative_test.sh — `nixos-rebuild switch` through the service (issue 26):
# four generations of a NixOS configuration's containers, each evaluated
# through nixos/module.nix (tests/nixos/generations.nix, offline, against the
# vendored nixpkgs lib) into the declarative set the module writes, and
# applied as the module's nixos-containers-declarative unit applies it
# (`nixos-container apply-declarative FILE`), to the real service with real
# systemd, machined, polkitd and nspawn.
#
# Scenarios:
#   1  generation 1: alpha, beta, gamma created and started (AutoStart) as the
#      service's own units, declared; the same set again changes nothing;
#      Update and Destroy over the bus refused (Declarative), Stop and Start
#      work; a caller who is not root may not apply
#   2  generation 2: only alpha's system and a limit change: reloaded (Leader
#      unchanged), the limit set live on its unit
#   3  generation 3: alpha's and gamma's bind change: alpha restarted and sees
#      the new bind; gamma (restartIfChanged = false) keeps running as it was
#   4  generation 4: beta dropped: stopped, gone from List, its root kept
#   5  a broken set (a bad key, a missing system, a name with '_') and an
#      imperative container of a declared name: each named, none of their
#      changes made, the rest applied; the service restarted keeps the
#      declared containers declared
#
# Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin declarative
BOUNDED_VARS+=(REPO NC GEN SYS_A SYS_B BIND_A BIND_B BB)

# ------------------------------------------------------------- helpers ---
# eval_generation N: generation N's declarative set, evaluated from
# tests/nixos/generations.nix, written to $GEN/N.json (where the sandbox
# sees it) and checked to be a set.
eval_generation() {
    local n=$1
    "$REPO/tests/nixos/eval-generation.sh" "$n" "$SYS_A" "$SYS_B" "$BIND_A" "$BIND_B" >"$GEN/$n.json" || return 1
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(sorted(d["Containers"]))' "$GEN/$n.json"
}
# apply FILE EXPECTED...: apply-declarative exits 0 and prints exactly the
# EXPECTED "NAME RESULT" lines, in order (the message after ":" aside).
apply() {
    local file=$1 out rc=0
    shift
    out=$(in_sb "$NC" apply-declarative "$file" 2>&1) || rc=$?
    echo "exit $rc:"
    echo "$out"
    ((rc == 0)) || return 1
    [[ $(cut -d: -f1 <<<"$out") == "$(printf '%s\n' "$@")" ]] || { echo "expected:"; printf '  %s\n' "$@"; return 1; }
}
# apply_failing FILE STDOUT_LINES STDERR_PATTERNS...: exit 1; stdout is those
# "NAME RESULT" lines (one string, newline-separated) and each pattern is a
# line of stderr (grep -E, whole line).
apply_failing() {
    local file=$1 want_out=$2 rc=0 p
    shift 2
    in_sb "$NC" apply-declarative "$file" >"$WORK/apply.out" 2>"$WORK/apply.err" || rc=$?
    echo "exit $rc; stdout:"
    cat "$WORK/apply.out"
    echo "stderr:"
    cat "$WORK/apply.err"
    ((rc == 1)) || return 1
    [[ $(cut -d: -f1 "$WORK/apply.out") == "$want_out" ]] || { echo "stdout lines are not: $want_out"; return 1; }
    for p; do grep -qxE -- "$p" "$WORK/apply.err" || { echo "no stderr line matches: $p"; return 1; }; done
}
leader_of() {
    local l
    l=$(prop "$1" Leader) || return 1
    [[ $l =~ ^[1-9][0-9]*$ ]] || { echo "Leader of $1 is '$l'"; return 1; }
    echo "$l"
}
same_leader() { # NAME LEADER
    local l
    [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "the earlier Leader '$2' is not a PID"; return 1; }
    l=$(prop "$1" Leader) || return 1
    [[ $l == "$2" ]] || { echo "Leader of $1 is '$l', expected $2"; return 1; }
}
new_leader() { # NAME OLD_LEADER
    local l
    l=$(leader_of "$1") || return 1
    [[ $2 =~ ^[1-9][0-9]*$ && $l != "$2" ]] || { echo "Leader of $1 is '$l', was '$2'"; return 1; }
}
# sees NAME FILE TEXT: the running container reads TEXT from FILE.
sees() {
    local l out
    l=$(leader_of "$1") || return 1
    out=$(in_sb nsenter -t "$l" -m -- "$BB/cat" "$2") || return 1
    [[ $out == "$3" ]] || { echo "$1 reads '$out' from $2, expected '$3'"; return 1; }
}
unit_limit() { # NAME PROPERTY VALUE
    local v
    v=$(in_sb systemctl show -P "$2" "nixos-container@$1.service") || return 1
    [[ $v == "$3" ]] || { echo "$2 of nixos-container@$1.service is '$v', expected '$3'"; return 1; }
}
declared() { # NAME
    local d
    d=$(prop "$1" Declarative) || return 1
    [[ $d == true ]] || { echo "Declarative of $1 is '$d'"; return 1; }
}
switches() { # NAME: the lines switch-to-configuration wrote in its root
    local f
    f=$(root_of "$1")/var/log/switch.log
    if [[ -f $f ]]; then grep -c '^switch-to-configuration test$' "$f"; else echo 0; fi
}
switched_once_more() { # NAME BEFORE
    local n
    n=$(switches "$1")
    [[ $n == $(($2 + 1)) ]] || { echo "switch-to-configuration test ran $n times in $1, expected $(($2 + 1))"; return 1; }
}
# The set of generation FILE changed by a python expression on `s` (the
# parsed set), written to OUT.
edited_set() { # FILE OUT EXPRESSION
    python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(s, open(sys.argv[2], "w"))' "$@"
}

# ------------------------------------------------------------------- up ---
scenario "0  sandbox up, payloads, four generations evaluated"
sandbox_up
NC=$DIR/prefix/bin/nixos-container
SYS_A=$("$MAKE_SYSTEM" "$DIR/store" decl-a ok) || { fail "make-system"; exit 1; }
SYS_B=$("$MAKE_SYSTEM" "$DIR/store" decl-b ok) || { fail "make-system"; exit 1; }
BB=$SYS_A/bin
BIND_A=$DIR/srv-a BIND_B=$DIR/srv-b GEN=$DIR/generations
mkdir -p "$BIND_A" "$BIND_B" "$GEN"
echo A >"$BIND_A/marker"
echo B >"$BIND_B/marker"
pass "payloads: $SYS_A $SYS_B"
for n in 1 2 3 4; do
    check "generation $n evaluated through nixos/module.nix" eval_generation "$n" || exit 1
done
LIST_WITNESS=''

# ------------------------------------------------------------ scenario 1 ---
scenario "1  generation 1: created, started, declared"
check "apply generation 1: alpha, beta, gamma created" apply "$GEN/1.json" "alpha created" "beta created" "gamma created"
for c in alpha beta gamma; do
    check "$c is running" state_is $c running
    check "$c is declared" declared $c
    check "$c runs as the service's own unit nixos-container@$c.service" unit_state "nixos-container@$c.service" active
done
check "no nixpkgs template unit container@alpha.service" sh -c '! "$1" exec "$2" systemctl cat container@alpha.service >/dev/null 2>&1' sh "$SANDBOX" "$DIR"
check "alpha's conf is marked DECLARATIVE=1" grep -qx 'DECLARATIVE=1' "$DIR/etc-containers/alpha.conf"
check "alpha's unit has MemoryMax=512M" unit_limit alpha MemoryMax 536870912
check "alpha sees bind A at /mnt/data" sees alpha /mnt/data/marker A
check "alpha has its private network: host address 10.231.7.1" sh -c '[ "$1" = 10.231.7.1 ]' sh "$(prop alpha HostAddress)"
A1=$(leader_of alpha) B1=$(leader_of beta) G1=$(leader_of gamma)
check "apply generation 1 again: nothing changes" apply "$GEN/1.json" "alpha unchanged" "beta unchanged" "gamma unchanged"
check "alpha not restarted by the same set" same_leader alpha "$A1"
check "Update of declared alpha is refused (Declarative)" expect_error "$ERR.Declarative" "is declarative" -- Update alpha "{'AutoStart': <false>}"
check "Destroy of declared beta is refused (Declarative)" expect_error "$ERR.Declarative" "is declarative" -- Destroy beta
check "Stop of declared beta works" mgr Stop s beta
check "beta is stopped" state_is beta stopped
check "apply generation 1 again starts AutoStart beta" apply "$GEN/1.json" "alpha unchanged" "beta started" "gamma unchanged"
check "beta is running again" state_is beta running
B1=$(leader_of beta)
# A tenant of the shipped owners' rule (group "containers": what it owns)
# does not own the host's set: polkit's default, "no", answers.
check "a delegated user may not apply (AccessDenied)" expect_error "$DBUS_ERR.AccessDenied" "org.nixos.containers.apply-declarative" "$U_TENANT" -- ApplyDeclarative "'{\"Containers\": {}}'"
all_running() { local c; for c; do state_is "$c" running || return 1; done; }
check "after the refusal all three still run" all_running alpha beta gamma

# ------------------------------------------------------------ scenario 2 ---
scenario "2  generation 2: a new system reloads, a limit is set live"
S2=$(switches alpha)
check "apply generation 2: alpha reloaded" apply "$GEN/2.json" "alpha reloaded" "beta unchanged" "gamma unchanged"
check "alpha not restarted (Leader $A1 kept)" same_leader alpha "$A1"
check "alpha's switch-to-configuration test ran once more" switched_once_more alpha "$S2"
check "alpha's SystemPath is system B" sh -c '[ "$1" = "$2" ]' sh "$(prop alpha SystemPath)" "$SYS_B"
check "alpha's unit has MemoryMax=256M, set live" unit_limit alpha MemoryMax 268435456
untouched() { same_leader beta "$B1" && same_leader gamma "$G1"; }
BOUNDED_VARS+=(B1 G1 A3 DELTA_CONF)
check "beta and gamma untouched" untouched

# ------------------------------------------------------------ scenario 3 ---
scenario "3  generation 3: a bind restarts; restartIfChanged = false does not"
check "apply generation 3: alpha restarted, gamma's restart pending" apply "$GEN/3.json" "alpha restarted" "beta unchanged" "gamma restart-pending"
check "alpha restarted (a new Leader)" new_leader alpha "$A1"
check "alpha is running" state_is alpha running
check "alpha sees bind B at /mnt/data" sees alpha /mnt/data/marker B
check "alpha keeps MemoryMax=256M on its new unit" unit_limit alpha MemoryMax 268435456
check "gamma not restarted (Leader $G1 kept)" same_leader gamma "$G1"
check "gamma still sees bind A until its next start" sees gamma /mnt/data/marker A
saved_bind_b() { in_sb busctl get-property "$BUS_NAME" "$(opath gamma)" "$CT_IF" BindMounts | grep -F "$BIND_B"; }
check "gamma's saved BindMounts name bind B" saved_bind_b

# ------------------------------------------------------------ scenario 4 ---
scenario "4  generation 4: beta dropped"
LIST_WITNESS=alpha
check "apply generation 4: beta removed" apply "$GEN/4.json" "beta removed" "alpha unchanged" "gamma unchanged"
check "beta is not listed" not_listed beta
check "beta's machine is gone" machine_absent beta
check "beta's unit is gone" unit_absent beta
check "beta's conf is gone" test ! -e "$DIR/etc-containers/beta.conf"
check "beta's root is kept" test -d "$(root_of beta)"
others_untouched() { state_is alpha running && same_leader gamma "$G1"; }
check "alpha and gamma untouched" others_untouched

# ------------------------------------------------------------ scenario 5 ---
scenario "5  a broken set and a taken name change nothing of theirs"
check "Create imperative 'delta' over the bus" mgr Create 'sa{sv}' delta 1 SystemPath s "$SYS_A"
DELTA_CONF=$(cat "$DIR/etc-containers/delta.conf")
A3=$(leader_of alpha)
edited_set "$GEN/4.json" "$GEN/broken.json" '
s["Containers"]["alpha"]["Spec"]["MemoryMax"] = "lots"
s["Containers"]["bad_name"] = {"Spec": {"SystemPath": sys.argv[4]}}
s["Containers"]["ghost"] = {"Spec": {"SystemPath": "/nix/store/00000000000000000000000000000000-missing"}}
s["Containers"]["delta"] = {"Spec": {"SystemPath": sys.argv[4]}}
s["Containers"]["epsilon"] = {"Spec": {"SystemPath": sys.argv[4]}}' "$SYS_A"
check "apply the broken set: each bad container named, epsilon created" apply_failing "$GEN/broken.json" \
    "epsilon created
gamma unchanged" \
    "alpha failed: $ERR\.InvalidArgument: .*MemoryMax.*" \
    "bad_name failed: $ERR\.InvalidArgument: .*bad_name.*'_'.*" \
    "delta failed: $ERR\.AlreadyExists: container 'delta' exists and was not declared.*" \
    "ghost failed: $ERR\.InvalidArgument: .*missing.*"
alpha_unchanged() { same_leader alpha "$A3" && unit_limit alpha MemoryMax 268435456; }
check "alpha unchanged: same Leader, MemoryMax still 256M" alpha_unchanged
delta_untouched() { [[ $(cat "$DIR/etc-containers/delta.conf") == "$DELTA_CONF" && $(prop delta Declarative) == false ]]; }
check "delta's conf unchanged and not declared" delta_untouched
left_nothing() { not_listed ghost && not_listed bad_name && [[ ! -e $DIR/etc-containers/ghost.conf ]]; }
check "ghost and bad_name left nothing" left_nothing
check "epsilon is declared" declared epsilon
kill_service() {
    local old
    old=$(service_pid)
    [[ $old =~ ^[1-9][0-9]*$ ]] || { echo "service not running (MainPID '$old')"; return 1; }
    in_sb systemctl kill -s KILL nixos-containers.service || return 1
    back() { local p; p=$(service_pid) && [[ $p =~ ^[1-9][0-9]*$ && $p != "$old" ]] && service_answers; }
    poll 15000 back
}
check "kill -9 the service; it comes back" kill_service
still_declared() { declared alpha && state_is alpha running; }
check "after the restart alpha is still declared and running" still_declared
echo '{"Containers": {}}' >"$GEN/empty.json"
LIST_WITNESS="delta"
check "an empty set removes every declared container, not delta" apply "$GEN/empty.json" "alpha removed" "epsilon removed" "gamma removed"
check "alpha, epsilon and gamma are gone" sh -c 'for c in alpha epsilon gamma; do [ ! -e "$1/$c.conf" ] || exit 1; done' sh "$DIR/etc-containers"
check "delta stays" state_is delta stopped
