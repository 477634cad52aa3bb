#!/usr/bin/env bash
# demo.sh — the README's main command: on a fresh Debian 12, as root,
# install what is needed, build the project, bring up the sandbox (real
# systemd, dbus, machined, polkitd and our service, in private namespaces;
# see scripts/sandbox/sandbox.sh) and walk a container through its life
# through the D-Bus API: Create, Start, look at it, Reload, a second one
# built from a Config by real Nix, Stop, Destroy.
#
#   scripts/demo.sh [--keep] [--no-build] [--dir DIR]
#     --keep      leave the sandbox up at the end and print how to get a shell
#     --no-build  use the existing build directory as it is
#     --dir DIR   sandbox working directory (default: a fresh mktemp dir)
#   NIXOS_CONTAINERS_BUILD_DIR  build directory (default: REPO/build)
#
# Every busctl line is printed before it runs, exactly as you would type it
# in the sandbox's shell (scripts/sandbox/sandbox.sh shell DIR).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SANDBOX=$REPO/scripts/sandbox/sandbox.sh
MAKE_SYSTEM=$REPO/tests/sandbox/payload/make-system.sh
BUILD_DIR=${NIXOS_CONTAINERS_BUILD_DIR:-$REPO/build}
export NIXOS_CONTAINERS_BUILD_DIR=$BUILD_DIR
KEEP=0 BUILD=1 DIR=
NAME=demo
BUS=(org.nixos.Containers /org/nixos/Containers org.nixos.Containers)

while (($#)); do
    case $1 in
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    --dir) DIR=${2:?--dir needs a directory}; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ $(id -u) == 0 ]] || { echo "demo: run as root (it builds namespaces and runs systemd)" >&2; exit 1; }

bold() { if [[ -t 1 ]]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
# Print a command the way a newcomer would type it, then run it.
show() { >&2 printf '%s%s\n' "${PROMPT:-$ }" "$(printf '%q ' "$@" | sed 's/ $//')"; }
run() { show "$@"; "$@"; }
# Run inside the sandbox, printing the command as typed in its shell.
inside() {
    PROMPT='[sandbox]# ' show "$@"
    "$SANDBOX" exec "$DIR" "$@"
}

# apt_get: apt-get that waits for apt's locks (unattended-upgrades on a fresh machine).
# shellcheck source-path=SCRIPTDIR source=sandbox/lib/apt.sh
source "$REPO/scripts/sandbox/lib/apt.sh"

# -------------------------------------------------------------- packages ---
bold "Packages (only the missing ones, without recommends)"
PKGS=(cmake ninja-build g++ pkg-config libsystemd-dev libnl-3-dev libnl-route-3-dev
    libsdbus-c++-dev libsdbus-c++-bin nlohmann-json3-dev libgtest-dev
    systemd-container busybox-static polkitd dbus-daemon libglib2.0-bin libxml2-utils
    gcc libc6-dev)
# The build bundles the Cockpit page with Node.js and npm: Debian's, unless a node is there.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PKGS+=(nodejs npm)
fi
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    show apt-get update -qq
    apt_get update -qq
    show apt-get install -y --no-install-recommends "${missing[@]}"
    apt_get install -y --no-install-recommends "${missing[@]}"
else
    echo "all present: ${PKGS[*]}"
fi

# ----------------------------------------------------------------- build ---
if ((BUILD)); then
    bold "Build"
    cd "$REPO"
    run cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
    # Only what the demo runs and the sandbox installs (cmake --install copies
    # files, it builds nothing): the service, the CLI and its man page, and the
    # Cockpit page. The tests, which the demo never runs, are two thirds of a
    # full build (cold, -j2: 645 s for these targets, 2176 s for everything);
    # scripts/test.sh builds them later in this same directory, with the same
    # flags, so nothing built here is built twice.
    targets=(nixos-containersd nixos-container nixos_container_man)
    grep -q '^NIXOS_CONTAINERS_COCKPIT:BOOL=OFF$' "$BUILD_DIR/CMakeCache.txt" || targets+=(cockpit-page)
    run cmake --build "$BUILD_DIR" --target "${targets[@]}"
fi

# --------------------------------------------------------------- sandbox ---
if [[ -z $DIR ]]; then
    DIR=$(mktemp -d /tmp/nixos-containers-demo.XXXXXX)
    [[ $DIR == /tmp/nixos-containers-demo.?* && -d $DIR ]] || { echo "demo: mktemp failed" >&2; exit 1; }
fi
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    if ((KEEP)) && ((rc == 0)); then
        bold "The sandbox stays up (--keep)"
        echo "Shell inside it:     $SANDBOX shell $DIR"
        echo "Bus from the host:   DBUS_SYSTEM_BUS_ADDRESS=unix:path=$DIR/run-dbus/system_bus_socket busctl --system ..."
        echo "The Cockpit page:    $SANDBOX cockpit $DIR   (then http://127.0.0.1:9090/cockpit/@localhost/nixos-containers/index.html)"
        echo "Tear it down:        $SANDBOX down $DIR"
        exit 0
    fi
    if ((rc != 0)); then
        echo
        echo "demo: a step failed (exit $rc). The service's log:" >&2
        "$SANDBOX" exec "$DIR" journalctl --no-pager -n 40 -u nixos-containers.service >&2 2>/dev/null || true
    fi
    bold "Teardown"
    "$SANDBOX" down "$DIR" || rc=1
    rmdir "$DIR" 2>/dev/null || true
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

bold "Sandbox: systemd as PID 1 of private namespaces, with dbus, machined, polkitd and our service"
run "$SANDBOX" up "$DIR"
inside systemctl --no-pager status nixos-containers.service --lines=3

bold "A NixOS system to run (a small one: busybox and a READY=1 helper, built by the sandbox's real Nix)"
SYSTEM=$(NOTIFY_INIT=$DIR/payload/notify-init "$MAKE_SYSTEM" "$DIR/store" "$NAME")
echo "$SYSTEM   (on the host: $DIR/store/${SYSTEM#/nix/store/})"
run ls "$DIR/store/${SYSTEM#/nix/store/}"

# ------------------------------------------------------------- lifecycle ---
bold "Create"
created=$(inside busctl call "${BUS[@]}" Create 'sa{sv}' "$NAME" 2 SystemPath s "$SYSTEM" PrivateNetwork b false)
echo "$created"
OBJ=$(sed -n 's/^o "\(.*\)"$/\1/p' <<<"$created")
[[ -n $OBJ ]] || { echo "demo: Create returned no object path" >&2; exit 1; }
inside busctl call "${BUS[@]}" List

bold "Start (replies once the container reported READY=1)"
inside busctl --timeout=120 call "${BUS[@]}" Start s "$NAME"

bold "Look at it"
inside busctl introspect org.nixos.Containers "$OBJ" org.nixos.Containers.Container
inside busctl get-property org.nixos.Containers "$OBJ" org.nixos.Containers.Container State Leader Unit RootDirectory
inside machinectl list
root=$("$SANDBOX" exec "$DIR" busctl get-property org.nixos.Containers "$OBJ" org.nixos.Containers.Container RootDirectory | sed -n 's/^s "\(.*\)"$/\1/p')
[[ -n $root ]] || root=$DIR/state/$NAME
echo "The container's own output (its root is $root on the host):"
run cat "$root/var/log/payload.log"

bold "The same container through the nixos-container CLI (a client of the bus, installed beside the service)"
NC=$DIR/prefix/bin/nixos-container
inside "$NC" list
inside "$NC" status "$NAME"
inside "$NC" run "$NAME" -- "$SYSTEM/bin/sh" -c 'echo "hello from inside $(hostname)"'
inside "$NC" show "$NAME"

bold "Reload (runs SYSTEM/bin/switch-to-configuration test inside)"
inside busctl --timeout=120 call "${BUS[@]}" Reload s "$NAME"
run cat "$root/var/log/switch.log"

bold "Build from a Config with real Nix (nix-env against the tests' offline stand-in for <nixpkgs/nixos>)"
inside busctl --timeout=120 call "${BUS[@]}" Create 'sa{sv}' "${NAME}nix" 1 Config s 'payload.message = "built by Nix";'
BUILT=$("$SANDBOX" exec "$DIR" busctl get-property org.nixos.Containers "${OBJ}nix" org.nixos.Containers.Container SystemPath | sed -n 's/^s "\(.*\)"$/\1/p')
echo "$BUILT"
run cat "$DIR/store/${BUILT#/nix/store/}/message"
inside busctl get-property org.nixos.Containers "${OBJ}nix" org.nixos.Containers.Container Generations
inside busctl --timeout=120 call "${BUS[@]}" Destroy s "${NAME}nix"

bold "Stop (SIGRTMIN+3 to the container's init; it traps it and exits)"
inside busctl --timeout=120 call "${BUS[@]}" Stop s "$NAME"
inside busctl get-property org.nixos.Containers "$OBJ" org.nixos.Containers.Container State
run tail -n 1 "$root/var/log/payload.log"

if ((KEEP)); then
    bold "Start it again, to leave it running (--keep)"
    inside busctl --timeout=120 call "${BUS[@]}" Start s "$NAME"
    exit 0
fi

bold "Destroy (conf, root, profile and gcroot removed)"
inside busctl --timeout=120 call "${BUS[@]}" Destroy s "$NAME"
inside busctl call "${BUS[@]}" List
run ls -A "$DIR/state" "$DIR/etc-containers"
