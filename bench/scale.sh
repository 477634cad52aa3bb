#!/usr/bin/env bash
# bench/scale.sh — a thousand containers on one host, each figure beside its
# floor, measured in one sandbox (scripts/sandbox/sandbox.sh) in one run.
#
#   bench/scale.sh            (as root; ~15-25 minutes at 1000 on 2 cores)
#
# Every container runs the busybox payload with a private network whose
# addresses come from the pools (IPv4, and IPv6 when the sandbox has it).
# Before each timed storm the script waits until the kernel has torn down the
# previous phase's network namespaces (settle).
#   1. Create SCALE_N containers from 20 clients.
#   2. Start them all from 20 clients; List and GetId sampled meanwhile, the
#      service's PropertiesChanged counted; the CPU time and RSS of the
#      service, machined and dbus-daemon over the storm.
#   3. With all running: List, GetContainer, a property, Inspect (p50/p99,
#      against GetId), `nixos-container run NAME -- true` against a busctl
#      process's GetId, RSS.
#   4. A restart of the service with all running: until it answers, and
#      every container's State right afterwards.
#   5. Stop all from 20 clients.
#   6. The floor: the same units (their command as systemd had it, nspawn
#      making the veth itself) started directly with StartTransientUnit from
#      20 clients, and from 32 (the AutoStart window), the service stopped.
#   7. The AutoStart storm: the service started with SCALE_N AutoStart
#      containers, until all run.
#   8. Stop all, Destroy all, and nothing left: links, netns pins, bind
#      pins, units, machines, mounts.
#   9. The module's template (bench/render-template.py) at the same count,
#      wanted by machines.target, capped at SCALE_TEMPLATE_CAP seconds
#      (default 600): where it stops if it does not finish. SCALE_TEMPLATE=0
#      skips it.
# Prints one table (figure, value, floor, ratio, target, PASS/MISS/info).
# Exit status: 0 when every target is met, 1 when one is missed, 2 on a
# harness failure. Not a test: CI does not run it.
# Settings: SCALE_N (1000), SCALE_CLIENTS (20), SCALE_TEMPLATE,
# SCALE_TEMPLATE_CAP, BENCH_KEEP=1, NIXOS_CONTAINERS_BUILD_DIR, TEMPLATE_MODULE.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
N=${SCALE_N:-1000}
CLIENTS=${SCALE_CLIENTS:-20}
AUTOSTART_WINDOW=32 # half of NIXOS_CONTAINERS_MAX_OPERATIONS' default
TEMPLATE=${SCALE_TEMPLATE:-1}
TEMPLATE_CAP=${SCALE_TEMPLATE_CAP:-600}
MODULE=${TEMPLATE_MODULE:-$REPO/../shared/reference/nixos-containers.nix}
PREFIX=s
T0=$(now_ms)

bench_build nixos-containersd nixos-container nc-scale nc-bench
if ((TEMPLATE)) && [[ ! -x /bin/bash-static ]]; then
    note "installing bash-static (the template's containerInit)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bash-static >/dev/null
fi
bench_dirs nc-scale
if ((TEMPLATE)) && [[ ! -e /nix ]]; then
    mkdir /nix
    MADE_NIX=1
fi

in_sb() { "$SANDBOX" exec "$DIR" "$@"; }
scale() { in_sb "$BUILD_DIR/bench/nc-scale" "$@"; }
record() { sed "s/^/$1 /" >>"$WORK/figures"; }
fig() { awk -v k="$1 $2" -v f="$3" '$1 " " $2 == k { for (i = 3; i < NF; i++) if ($i == f) print $(i + 1) }' "$WORK/figures" | tail -n 1; }
val() { awk -v k="$1 $2" '$1 " " $2 == k { print $3 }' "$WORK/figures" | tail -n 1; }
pid_of() { in_sb systemctl show -P MainPID "$1"; }
# CPU time (ms) and RSS (kB) of the three daemons, as "NAME cpu_ms X rss_kb Y".
usage() {
    local unit pid
    for unit in nixos-containers systemd-machined dbus; do
        pid=$(pid_of "$unit.service")
        # shellcheck disable=SC2016 # awk's own fields
        in_sb awk -v n="$unit" -v hz="$(getconf CLK_TCK)" 'FNR == 1 && FILENAME ~ /stat$/ { cpu = ($14 + $15) * 1000 / hz }
            /^VmRSS:/ { rss = $2 } END { print n, "cpu_ms", cpu, "rss_kb", rss }' "/proc/$pid/stat" "/proc/$pid/status"
    done
}
# The kernel tears network namespaces down after their last process is gone,
# in a worker that holds the locks a new one needs: a storm that follows the
# stop of 1000 containers would pay for the previous phase. Before each timed
# storm, wait (at most 300 s) until a fresh namespace with a veth pair takes
# under 50 ms three times running.
settle() {
    local t0 ok=0 ms deadline
    t0=$(now_ms)
    deadline=$((t0 + 300000))
    while ((ok < 3 && $(now_ms) < deadline)); do
        # shellcheck disable=SC2016 # run inside
        ms=$(in_sb bash -c 't=${EPOCHREALTIME/./}; unshare -n ip link add name nc0 type veth peer name nc1 &&
            echo $(((${EPOCHREALTIME/./} - t) / 1000))') || { echo "bench: the settle probe failed" >&2; exit 2; }
        if ((ms < 50)); then ok=$((ok + 1)); else ok=0; sleep 1; fi
    done
    echo "settle $1 waited_ms $(($(now_ms) - t0))" >>"$WORK/figures"
}
timed() { # LABEL COMMAND...: "LABEL wall_ms X"
    local t0
    t0=$(now_ms)
    "${@:2}"
    echo "$1 wall_ms $(($(now_ms) - t0))"
}

# --------------------------------------------------------------- sandbox
note "sandbox up in $DIR"
"$SANDBOX" up "$DIR" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 2; }
SYS=$(NOTIFY_INIT=$DIR/payload/notify-init "$REPO/tests/sandbox/payload/make-system.sh" "$DIR/store" scalesys ok)
: >"$WORK/figures"

note "1. create $N from $CLIENTS clients"
scale create "$CLIENTS" "$PREFIX" "$N" "$SYS" | record create

note "2. start $N from $CLIENTS clients"
settle start
usage | record before
scale storm "$CLIENTS" Start "$PREFIX" "$N" | record start || why_failed start 'nixos-container@*'
usage | record after

note "3. reads with $N running"
in_sb "$BUILD_DIR/bench/nc-bench" reads "$(printf '%s%04d' "$PREFIX" $((N / 2)))" 1000 | record reads
usage | record running
run_one() { in_sb "$BUILD_DIR/cli/nixos-container" run "$(printf '%s%04d' "$PREFIX" 1)" -- "$SYS/bin/true"; }
getid_one() { in_sb busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId >/dev/null; }
for ((i = 0; i < 20; i++)); do timed run run_one; timed getid getid_one; done | record exec
scale capture "$PREFIX" "$N" "$WORK/units"

note "4. restart of the service with $N running"
scale restart "$PREFIX" "$N" | record restart
sleep 1
usage | record restarted

note "5. stop $N from $CLIENTS clients"
scale storm "$CLIENTS" Stop "$PREFIX" "$N" | record stop

# A Stop answers once the unit is stopped; the host's links go after, in the
# background. nspawn's own veths of the floor take the same names.
links_gone() { # LABEL: until no container link is left (at most 300 s); the wait is a figure
    local t0
    t0=$(now_ms)
    while in_sb ip -o link show | grep -qE ' (ve|vb)-'; do
        (($(now_ms) - t0 < 300000)) || { echo "bench: links still there 300 s after $1" >&2; exit 2; }
        sleep 0.2
    done
    echo "links $1 gone_ms $(($(now_ms) - t0))" >>"$WORK/figures"
}
# why_failed LABEL PATTERN: the journal of one failed unit, when a storm had failures.
why_failed() {
    local unit
    unit=$(in_sb systemctl list-units --all --state=failed --no-legend --plain "$2" | awk 'NR == 1 { print $1 }')
    [[ -z $unit ]] || { note "$1: $unit failed:"; in_sb journalctl -u "$unit" --no-pager -n 8 >&2; }
}
links_gone stop
note "6. the floor: the same units started directly ($CLIENTS, then $AUTOSTART_WINDOW at a time)"
in_sb systemctl stop nixos-containers.service
settle floor
scale direct "$CLIENTS" "$WORK/units" | record floor || why_failed floor 'nc-floor@*'
links_gone floor
settle floorwindow
scale direct "$AUTOSTART_WINDOW" "$WORK/units" | record floorwindow || why_failed floorwindow 'nc-floor@*'
links_gone floorwindow

note "7. AutoStart storm: the service started with $N AutoStart containers"
settle autostart
scale autostart "$PREFIX" "$N" | record autostart || why_failed autostart 'nixos-container@*'

note "8. stop all, destroy all"
scale storm "$CLIENTS" Stop "$PREFIX" "$N" | record stop2
scale storm "$CLIENTS" Destroy "$PREFIX" "$N" | record destroy
leftovers() {
    in_sb ip -o link show | grep -cE ' (ve|vb)-' || true
    find "$DIR/runtime" -mindepth 2 -maxdepth 2 2>/dev/null | wc -l
    in_sb systemctl list-units --all --no-legend --plain 'nixos-container@*' 'nc-floor@*' | wc -l
    in_sb machinectl list --no-legend | wc -l
    # Pins are mounts beneath runtime/netns and runtime/binds (themselves mounted once).
    in_sb findmnt -rn -o TARGET | grep -c "^$DIR/runtime/[^/]*/" || true
}
mapfile -t left < <(leftovers)
echo "left links ${left[0]} runtime ${left[1]} units ${left[2]} machines ${left[3]} mounts ${left[4]}" >>"$WORK/figures"

# ------------------------------------------------------------- template
if ((TEMPLATE)); then
    note "9. the module's template at $N (capped at ${TEMPLATE_CAP}s)"
    settle template
    TMPL=$DIR/tmpl
    mkdir -p "$TMPL/containers" "$TMPL/etc-containers" "$TMPL/nix/store" "$TMPL/nix/var/nix/db" \
        "$TMPL/nix/var/nix/daemon-socket" "$TMPL/nix/var/nix/profiles/per-container" \
        "$TMPL/nix/var/nix/gcroots/per-container"
    python3 "$HERE/render-template.py" "$MODULE" "$DIR/store" "$DIR/units" "$TMPL/containers" \
        "$TMPL/etc-containers" >/dev/null
    printf '[Unit]\nDescription=Containers (the module'"'"'s machines.target)\n' >"$DIR/units/machines.target"
    mkdir -p "$DIR/units/machines.target.wants"
    for ((i = 0; i < N; i++)); do
        n=$(printf 't%04d' "$i")
        # The module's own pool is 10.233.N (256 at most): past it, 10.234+.
        printf 'SYSTEM_PATH=%s\nPRIVATE_NETWORK=1\nHOST_ADDRESS=10.%d.%d.1\nLOCAL_ADDRESS=10.%d.%d.2\nINTERFACES=""\nMACVLANS=""\nAUTO_START=1\nEXTRA_NSPAWN_FLAGS=""\n' \
            "$SYS" $((240 + i / 256)) $((i % 256)) $((240 + i / 256)) $((i % 256)) >"$TMPL/etc-containers/$n.conf"
        mkdir -p "$TMPL/containers/$n/usr"
        ln -sfn ../container@.service "$DIR/units/machines.target.wants/container@$n.service"
    done
    in_sb mount --bind "$TMPL/nix" /nix
    in_sb mount --bind "$DIR/store" /nix/store
    in_sb systemctl daemon-reload
    # shellcheck disable=SC2016 # run inside
    in_sb bash -c '
        n=$1 cap=$2
        active() { systemctl list-units --state=active --no-legend --plain "container@t*" | wc -l; }
        t0=${EPOCHREALTIME/./}
        systemctl start --no-block machines.target
        deadline=$((t0 + cap * 1000000))
        up=0
        while ((${EPOCHREALTIME/./} < deadline)); do
            up=$(active)
            ((up < n)) || break
            sleep 0.2
        done
        echo "template all_us $((${EPOCHREALTIME/./} - t0)) running $up"
        systemctl list-units --state=failed --no-legend --plain "container@t*" | wc -l | sed "s/^/template failed /"
        systemctl stop machines.target "container@t*"
    ' scale "$N" "$TEMPLATE_CAP" >>"$WORK/figures" || note "template run ended with an error"
fi

# ----------------------------------------------------------------- table
ROW_FORMAT='%-52s %14s  %-30s %8s  %-20s %s\n'
sec() { awk -v v="$1" 'BEGIN { printf "%.1f s", v / 1000000 }'; }
usage_fig() { awk -v p="$1" -v n="$2" -v f="$3" '$1 == p && $2 == n { for (i = 3; i < NF; i++) if ($i == f) print $(i + 1) }' "$WORK/figures" | tail -n 1; }

echo
table_header floor
printf '%s\n' "$(printf '%.0s-' {1..140})"
v=$(val create create_all)
row "create $N from $CLIENTS clients (failed: $(val create create_failures))" "$(sec "$v")" \
    "per call p50 $(ms "$(fig create create_call p50)")" "" "0 failed" "$(le "$(val create create_failures)" 0)"
v=$(val start storm_all) b=$(val floor direct_start_all)
row "start $N from $CLIENTS clients (failed: $(val start storm_failures))" "$(sec "$v")" \
    "direct units $(sec "$b")" "$(ratio "$v" "$b")" "<= 1.05x" "$(le "$v" "$(awk -v b="$b" 'BEGIN { print b * 1.05 }')")"
f=$(($(val start storm_failures) + $(val start sampled_failures)))
row "  calls of the start storm (and its sampler's) that failed" "$f" "" "" "0" "$(le "$f" 0)"
f=$(($(val floor direct_start_failures) + $(val floorwindow direct_start_failures)))
row "the floor's units that failed to start" "$f" "" "" "0" "$(le "$f" 0)"
v=$(val autostart autostart_all) b=$(val floorwindow direct_start_all)
row "AutoStart storm, $N (running: $(val autostart autostart_running))" "$(sec "$v")" \
    "direct units, $AUTOSTART_WINDOW at a time $(sec "$b")" "$(ratio "$v" "$b")" "<= 1.05x" \
    "$(le "$v" "$(awk -v b="$b" 'BEGIN { print b * 1.05 }')")"
row "  containers running after the AutoStart storm" "$(val autostart autostart_running)" "" "" "$N" \
    "$([[ $(val autostart autostart_running) == "$N" ]] && echo 1 || echo 0)"
if ((TEMPLATE)); then
    v=$(awk '$1 == "template" && $2 == "all_us" { print $3 }' "$WORK/figures")
    up=$(awk '$1 == "template" && $2 == "all_us" { print $5 }' "$WORK/figures")
    row "module's template, $N wanted ($up running, $(val template failed) failed)" "$(sec "${v:-0}")" \
        "AutoStart storm $(sec "$(val autostart autostart_all)")" "$(ratio "${v:-0}" "$(val autostart autostart_all)")" \
        "- (cap ${TEMPLATE_CAP}s)" -
fi
v=$(fig reads list p50) v99=$(fig reads list p99) b=$(fig reads getid_list p50)
row "List of $N idle (p50; p99 $(ms "$v99"))" "$(ms "$v")" "GetId $(ms "$b")" "$(ratio "$v" "$b")" "p99 <= 5 ms" \
    "$(le "$v99" 5000)"
v=$(fig start sampled_list p50) v99=$(fig start sampled_list p99) b=$(fig start sampled_getid p99)
row "List during the start storm (p50; p99 $(ms "$v99"))" "$(ms "$v")" "GetId p99 $(ms "$b")" \
    "$(ratio "$v99" "$b")" "p99 <= 20 ms" "$(le "$v99" 20000)"
# (Their targets against GetId are bench/run.sh's.)
for op in getcontainer property inspect; do
    v=$(fig reads "$op" p50) b=$(fig reads "getid_$op" p50)
    row "$op with $N running (p50; p99 $(ms "$(fig reads "$op" p99)"))" "$(ms "$v")" "GetId $(ms "$b")" \
        "$(ratio "$v" "$b")" "-" -
done
v=$(awk '$1 == "exec" && $2 == "run" { print $4 }' "$WORK/figures" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
b=$(awk '$1 == "exec" && $2 == "getid" { print $4 }' "$WORK/figures" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
row "nixos-container run NAME -- true, $N running (p50)" "$v ms" "busctl GetId process $b ms" "$(ratio "$v" "$b")" "-" -
s=$(val start properties_changed) t=$(val start storm_all)
row "PropertiesChanged during the start storm" "$s" "" "" "-" -
row "  per second" "$(awk -v s="$s" -v t="$t" 'BEGIN { printf "%.0f/s", s / (t / 1000000) }')" "" "" "-" -
for unit in nixos-containers systemd-machined dbus; do
    c0=$(usage_fig before "$unit" cpu_ms) c1=$(usage_fig after "$unit" cpu_ms)
    row "$unit: CPU during the start storm" "$((c1 - c0)) ms" "storm $(sec "$(val start storm_all)")" "" "-" -
    r=$(usage_fig running "$unit" rss_kb)
    if [[ $unit == nixos-containers ]]; then
        row "$unit: RSS with $N running" "$(mb "$r")" "machined $(mb "$(usage_fig running systemd-machined rss_kb)")" \
            "$(ratio "$r" "$(usage_fig running systemd-machined rss_kb)")" "<= 30 MB" "$(le "$r" 30720)"
    else
        row "$unit: RSS with $N running" "$(mb "$r")" "" "" "-" -
    fi
done
v=$(val restart restart_answers)
row "restart with $N running: until it answers" "$(ms "$v")" "" "" "<= 1 s" "$(le "$v" 1000000)"
row "  running right afterwards" "$(val restart restart_running) of $N" "" "" "all" \
    "$([[ $(val restart restart_running) == "$N" ]] && echo 1 || echo 0)"
row "  RSS after the restart" "$(mb "$(usage_fig restarted nixos-containers rss_kb)")" "" "" "-" -
v=$(val stop storm_all) b=$(val floor direct_stop_all)
row "stop $N from $CLIENTS clients (failed: $(val stop storm_failures))" "$(sec "$v")" "direct units $(sec "$b")" \
    "$(ratio "$v" "$b")" "-" -
row "  the host's links all gone, after the stop's last answer" "$(ms "$(($(fig links stop gone_ms) * 1000))")" "" "" "-" -
v=$(val destroy storm_all)
row "destroy $N from $CLIENTS clients (failed: $(val destroy storm_failures))" "$(sec "$v")" "" "" "0 failed" \
    "$(le "$(val destroy storm_failures)" 0)"
l=$(awk '$1 == "left" { print $3 + $5 + $7 + $9 + $11 }' "$WORK/figures")
row "left behind: $(awk '$1 == "left" { $1 = ""; print }' "$WORK/figures")" "$l" "" "" "nothing" "$(le "$l" 0)"
echo
echo "waited for the kernel to settle before each storm (ms): $(awk '$1 == "settle" { printf "%s %s  ", $2, $4 }' "$WORK/figures")"
echo "$N containers, busybox payload, private network each; $CLIENTS clients; $(nproc) CPUs; $(free -g | awk '/^Mem:/ { print $2 }') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
((misses == 0)) || { echo "$misses target(s) missed"; false; }
