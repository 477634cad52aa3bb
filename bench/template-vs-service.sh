#!/usr/bin/env bash
# bench/template-vs-service.sh — the service against what users have today:
# the NixOS module's container@.service template, side by side, in one
# sandbox, on the same busybox payloads and the same .conf files.
#
#   bench/template-vs-service.sh        (as root; ~5-8 minutes)
#
# The template is rendered from the reference module
# (TEMPLATE_MODULE, default REPO/../shared/reference/nixos-containers.nix) by
# bench/render-template.py into real unit files and scripts inside the
# sandbox: its preStart, start script and postStart, run by systemd. The
# service is the one scripts/sandbox/sandbox.sh installs.
#
# Figures (medians of BENCH_CYCLES alternating cycles, default 15; the order
# of the two sides alternates from cycle to cycle):
#   start, call to ready, of a container with a private network (veth,
#     addresses): with a payload that needs the network at boot (it pings
#     the host first: ping-first) and with one that does not ("ok"); and,
#     for information, of a container without a private network;
#   stop, call to gone (private network, the "ok" payload);
#   restart (the same container);
#   boot storm: 100 containers with a private network: the service started
#     with 100 AutoStart confs, until all 100 units are active, against
#     systemd starting 100 template instances wanted by machines.target at
#     once (BENCH_STORM_ROUNDS alternating rounds, default 3).
# Timed inside the sandbox, as a user would: busctl call against systemctl.
# Each step starts from a quiet system (0.2 s pause before it).
#
# Exit status: 0 when every target is met, 1 when one is missed, 2 on a
# harness failure. Not a test: CI does not run it.
# Settings: NIXOS_CONTAINERS_BUILD_DIR, BENCH_CYCLES, BENCH_STORM_N (100),
# BENCH_STORM_ROUNDS, BENCH_KEEP=1 (leave the sandbox up), TEMPLATE_MODULE.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
MODULE=${TEMPLATE_MODULE:-$REPO/../shared/reference/nixos-containers.nix}
CYCLES=${BENCH_CYCLES:-15}
STORM_N=${BENCH_STORM_N:-100}
STORM_ROUNDS=${BENCH_STORM_ROUNDS:-3}

[[ -f $MODULE ]] || { echo "bench: no module at $MODULE (set TEMPLATE_MODULE)" >&2; exit 2; }
T0=$(now_ms)

# ------------------------------------------------------------------ build
bench_build nixos-containersd
# The template's containerInit runs bash inside the container: a static one.
if [[ ! -x /bin/bash-static ]]; then
    note "installing bash-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bash-static >/dev/null
fi

bench_dirs nc-tvs
# The template names /nix/... paths: the sandbox gets a directory bound at
# /nix, in its own mount namespace only. The host needs the mount point;
# an empty /nix made here is removed again.
if [[ ! -e /nix ]]; then
    mkdir /nix
    MADE_NIX=1
fi

in_sb() { "$SANDBOX" exec "$DIR" "$@"; }
mgr() { in_sb busctl --timeout=120 call org.nixos.Containers /org/nixos/Containers org.nixos.Containers "$@"; }

# --------------------------------------------------------------- sandbox
note "sandbox up in $DIR"
"$SANDBOX" up "$DIR" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 2; }
export NOTIFY_INIT=$DIR/payload/notify-init
SYS_OK=$("$REPO/tests/sandbox/payload/make-system.sh" "$DIR/store" tvsok ok)
SYS_PING=$("$REPO/tests/sandbox/payload/make-system.sh" "$DIR/store" tvsping ping-first)

TMPL=$DIR/tmpl
mkdir -p "$TMPL/containers" "$TMPL/etc-containers" "$TMPL/nix/store" \
    "$TMPL/nix/var/nix/db" "$TMPL/nix/var/nix/daemon-socket" \
    "$TMPL/nix/var/nix/profiles/per-container" "$TMPL/nix/var/nix/gcroots/per-container"
note "rendering the template from $MODULE"
python3 "$HERE/render-template.py" "$MODULE" "$DIR/store" "$DIR/units" "$TMPL/containers" "$TMPL/etc-containers" >/dev/null
printf '[Unit]\nDescription=Containers (the module'"'"'s machines.target)\n' >"$DIR/units/machines.target"
mkdir -p "$DIR/units/machines.target.wants"
in_sb mount --bind "$TMPL/nix" /nix
in_sb mount --bind "$DIR/store" /nix/store
in_sb systemctl daemon-reload

# One .conf, the module's format, for both sides: CONF NAME SYSTEM [NET_INDEX] [autostart]
write_conf() {
    local name=$1 system=$2 net=${3:-} auto=${4:-} side text
    text="SYSTEM_PATH=$system"$'\n'
    if [[ -n $net ]]; then
        text+="PRIVATE_NETWORK=1"$'\n'"HOST_ADDRESS=10.${net}.1"$'\n'"LOCAL_ADDRESS=10.${net}.2"$'\n'
    fi
    text+='INTERFACES=""'$'\n''MACVLANS=""'$'\n'
    [[ -z $auto ]] || text+="AUTO_START=1"$'\n'
    text+='EXTRA_NSPAWN_FLAGS=""'$'\n'
    for side in s t; do
        if [[ $side == s ]]; then
            printf '%s' "$text" >"$DIR/etc-containers/s$name.conf"
        else
            printf '%s' "$text" >"$TMPL/etc-containers/t$name.conf"
            # Debian's nspawn wants a usr directory in the root (NixOS's
            # nspawn does not); the module's start script makes the rest.
            mkdir -p "$TMPL/containers/t$name/usr"
        fi
    done
}
# a: no network; b: network, needed at boot; c: network, not needed at boot.
write_conf a "$SYS_OK"
write_conf b "$SYS_PING" 231.1
write_conf c "$SYS_OK" 231.2
# The template's addresses must not collide with the service's: same conf,
# other subnet for the t side.
sed -i 's/10\.231\./10.232./' "$TMPL/etc-containers/"t*.conf
in_sb systemctl restart nixos-containers.service
mgr List >/dev/null

# ---------------------------------------------------------------- cycles
# Runs inside the sandbox: prints "FIGURE SIDE MICROSECONDS" lines.
# shellcheck disable=SC2016 # the script is for the sandbox's bash
CYCLE_SCRIPT='
set -euo pipefail
cycles=$1
svc() { busctl --timeout=120 call org.nixos.Containers /org/nixos/Containers org.nixos.Containers "$1" s "s$2" >/dev/null; }
tpl() { systemctl "$(tr "[:upper:]" "[:lower:]" <<<"$1")" "container@t$2.service"; }
timed() { # FIGURE SIDE CMD...
    local figure=$1 side=$2 t0 t1
    shift 2
    sleep 0.2
    t0=${EPOCHREALTIME/./}
    "$@" || { echo "bench: $side: $* failed" >&2; return 1; }
    t1=${EPOCHREALTIME/./}
    echo "$figure $side $((t1 - t0))"
}
plain() { sleep 0.2; "$@"; }
side() { # SIDE: one cycle of every figure
    local who=$1 call
    if [[ $who == service ]]; then call=svc; else call=tpl; fi
    timed start_nonet "$who" "$call" Start a
    plain "$call" Stop a
    timed start_net "$who" "$call" Start b
    plain "$call" Stop b
    timed start_net_unneeded "$who" "$call" Start c
    timed stop "$who" "$call" Stop c
    plain "$call" Start c
    timed restart "$who" "$call" Restart c
    plain "$call" Stop c
}
for ((i = 0; i < cycles; i++)); do
    if ((i % 2 == 0)); then side service; side template; else side template; side service; fi
    echo "bench: cycle $((i + 1))/$cycles" >&2
done
'
note "$CYCLES alternating cycles (start, stop, restart)"
in_sb bash -c "$CYCLE_SCRIPT" bench "$CYCLES" >"$WORK/figures"

# Did the payload that needs the network at boot have it? (ping-first logs.)
pings() { grep -c "ping-first: 10\.$1\.1 ok" "$2" 2>/dev/null || true; }
PING_S=$(pings 231.1 "$DIR/state/sb/var/log/ping-first.log")
PING_T=$(pings 232.1 "$TMPL/containers/tb/var/log/ping-first.log")

# ------------------------------------------------------------ boot storm
note "boot storm: $STORM_N containers, $STORM_ROUNDS alternating rounds"
storm_name() { printf 'w%03d' "$1"; }
for ((i = 0; i < STORM_N; i++)); do
    n=$(storm_name "$i")
    write_conf "$n" "$SYS_OK" "240.$i" autostart
    sed -i 's/10\.240\./10.241./' "$TMPL/etc-containers/t$n.conf"
    ln -sfn ../container@.service "$DIR/units/machines.target.wants/container@t$n.service"
done
in_sb systemctl daemon-reload

# shellcheck disable=SC2016
STORM_SCRIPT='
set -euo pipefail
side=$1 n=$2
active() { systemctl list-units --state=active --no-legend --plain "$1" | wc -l; }
failed() { systemctl list-units --state=failed --no-legend --plain "$1" | wc -l; }
if [[ $side == service ]]; then pattern="nixos-container@sw*"; else pattern="container@tw*"; fi
[[ $(active "$pattern") == 0 ]] || { echo "bench: storm: $side containers already running" >&2; exit 1; }
if [[ $side == service ]]; then systemctl stop nixos-containers.service; fi
sleep 0.5
t0=${EPOCHREALTIME/./}
if [[ $side == service ]]; then
    systemctl start nixos-containers.service
else
    systemctl start --no-block machines.target
fi
deadline=$((t0 + 300000000))
while :; do
    up=$(active "$pattern")
    ((up < n)) || break
    bad=$(failed "$pattern")
    ((bad == 0)) || { echo "bench: storm: $side: $bad failed units" >&2; systemctl list-units --state=failed --no-pager >&2; exit 1; }
    ((${EPOCHREALTIME/./} < deadline)) || { echo "bench: storm: $side: only $up of $n running" >&2; exit 1; }
    sleep 0.05
done
t1=${EPOCHREALTIME/./}
echo "storm $side $((t1 - t0))"
'
# Everything of a side stopped, and its links gone, before the next round.
storm_stop() {
    local side=$1 i deadline
    if [[ $side == service ]]; then
        for ((i = 0; i < STORM_N; i++)); do echo "s$(storm_name "$i")"; done |
            in_sb xargs -P 8 -I{} busctl --timeout=120 call org.nixos.Containers /org/nixos/Containers \
                org.nixos.Containers Stop s {} >/dev/null
    else
        # A target once active stays active: stop it, so the next round's
        # start of machines.target starts its wanted units again.
        in_sb systemctl stop machines.target 'container@tw*'
    fi
    deadline=$(($(now_ms) + 60000))
    while in_sb ip -o link show | grep -qE ' ve-[st]w[0-9]'; do
        (($(now_ms) < deadline)) || { note "storm: links of the $side side still there after 60 s"; return 1; }
        sleep 0.1
    done
}
for ((r = 0; r < STORM_ROUNDS; r++)); do
    if ((r % 2 == 0)); then order="service template"; else order="template service"; fi
    for side in $order; do
        in_sb bash -c "$STORM_SCRIPT" bench "$side" "$STORM_N" >>"$WORK/figures"
        storm_stop "$side"
    done
    note "storm round $((r + 1))/$STORM_ROUNDS: $(tail -n 2 "$WORK/figures" | tr '\n' ' ')"
done

# -------------------------------------------------- nothing left behind
leftovers() {
    in_sb ip -o link show | grep -E ' v[eb]-' || true
    find "$DIR/runtime" -path '*/netns/*' 2>/dev/null || true
}
sleep 1
LEFT=$(leftovers)
[[ -z $LEFT ]] || { note "left behind after the runs:"; echo "$LEFT" >&2; exit 2; }

# ----------------------------------------------------------------- table
median() { # FIGURE SIDE: median in microseconds
    awk -v f="$1" -v s="$2" '$1 == f && $2 == s { print $3 }' "$WORK/figures" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
count() { awk -v f="$1" -v s="$2" '$1 == f && $2 == s' "$WORK/figures" | wc -l; }
misses=0
printf '%-46s %12s %12s %8s %8s  %s\n' figure service template ratio target result
printf '%s\n' "$(printf '%.0s-' {1..100})"
row() { # LABEL FIGURE TARGET(ratio or -)
    local s t ratio verdict
    s=$(median "$2" service) t=$(median "$2" template)
    ratio=$(awk -v a="$s" -v b="$t" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    if [[ $3 == - ]]; then
        verdict=info
    elif awk -v r="$ratio" -v m="$3" 'BEGIN { exit !(r <= m) }'; then
        verdict=PASS
    else
        verdict=MISS misses=$((misses + 1))
    fi
    printf '%-46s %9.1f ms %9.1f ms %7sx %8s  %s\n' "$1 (n $(count "$2" service))" \
        "$(awk -v v="$s" 'BEGIN { print v / 1000 }')" "$(awk -v v="$t" 'BEGIN { print v / 1000 }')" \
        "$ratio" "$([[ $3 == - ]] && echo - || echo "<= $3x")" "$verdict"
}
row "start, network needed at boot" start_net 0.5
row "start, network not needed at boot" start_net_unneeded 0.5
row "start, no private network" start_nonet -
row "stop (private network)" stop 1.0
row "restart (private network)" restart 0.7
row "boot storm: $STORM_N AutoStart, to all running" storm 1.0
echo
echo "network at boot (ping-first reached the host): service $PING_S of $CYCLES, template $PING_T of $CYCLES"
echo "$(nproc) CPUs; $CYCLES cycles; $STORM_ROUNDS storm rounds; $(date -u +%F); module $MODULE"
((misses == 0)) || { echo "$misses target(s) missed"; exit 1; }
