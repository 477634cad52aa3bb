#!/usr/bin/env bash
# sandbox.sh — real systemd, dbus-daemon, machined, polkitd and the project's
# service (org.nixos.Containers), in private namespaces, for the end-to-end
# tests and the demo.
#
#   sandbox.sh up [--no-service] DIR   bring the sandbox up, rooted at DIR
#   sandbox.sh down DIR                tear it down, remove DIR's contents
#   sandbox.sh exec DIR CMD...         run CMD inside (all namespaces)
#   sandbox.sh shell DIR               interactive shell inside
#   sandbox.sh check-host [DIR]        verify the host is as we found it
#   sandbox.sh cockpit DIR [--port N] [--user NAME]
#                                      the Cockpit page on the host's 127.0.0.1:N (9090),
#                                      its bridge as root or as the sandbox's user NAME
#
# Layout: systemd runs as PID 1 of private PID/mount/net/UTS/IPC namespaces,
# in pure cgroup2 mode on a cgroup subtree of its own, with a minimal unit set
# (see write_units in lib/files.sh). Inside: dbus-daemon on /run/dbus/system_bus_socket,
# journald (volatile), systemd-machined, polkitd and nixos-containers.service,
# started from the project's installed unit (cmake --install BUILD --prefix
# DIR/prefix) through multi-user.target, as its [Install] section asks. The
# service is also D-Bus-activatable through its installed activation file.
#
# --no-service (used by the harness self-test while the service may not build)
# skips the install and the service, and takes the bus policy and polkit
# actions straight from the repository's dbus/ and polkit/ sources.
#
# Settings: NIXOS_CONTAINERS_BUILD_DIR (default: REPO/build).
# Why things are done as they are: ../../../shared/notes/sandbox-recipes.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
BUILD_DIR=${NIXOS_CONTAINERS_BUILD_DIR:-$REPO/build}
MARKER=.nixos-containers-sandbox
BUS_NAMES=(org.freedesktop.machine1 org.freedesktop.PolicyKit1)
SERVICE_BUS_NAME=org.nixos.Containers
UP_TIMEOUT_MS=${SANDBOX_UP_TIMEOUT_MS:-15000}
DOWN_TIMEOUT_MS=${SANDBOX_DOWN_TIMEOUT_MS:-10000}
# Test identities: name uid (each has a group of the same name and gid).
TEST_USERS=("nc-allowed 61001" "nc-denied 61002" "nc-challenged 61003" "nc-tenant 61004" "nc-tenant2 61005")
# The group polkit/50-nixos-containers-owners.rules.example delegates to.
DELEGATES_GROUP="containers 61100 nc-tenant,nc-tenant2"

die() { echo "sandbox: error: $*" >&2; exit 1; }
note() { echo "sandbox: $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The jobs, one file each (scripts/sandbox/lib).
# shellcheck source=lib/apt.sh
source "$SCRIPT_DIR/lib/apt.sh"
# shellcheck source=lib/processes.sh
source "$SCRIPT_DIR/lib/processes.sh"
# shellcheck source=lib/files.sh
source "$SCRIPT_DIR/lib/files.sh"
# shellcheck source=lib/up.sh
source "$SCRIPT_DIR/lib/up.sh"
# shellcheck source=lib/down.sh
source "$SCRIPT_DIR/lib/down.sh"
# shellcheck source=lib/cockpit.sh
source "$SCRIPT_DIR/lib/cockpit.sh"

cmd_exec() {
    [[ $# -ge 2 ]] || usage
    local dir pid
    dir=$(checked_dir "$1")
    shift
    pid=$(sandbox_pid "$dir")
    in_sandbox "$pid" "$@"
}

cmd_shell() {
    [[ $# -eq 1 ]] || usage
    local dir pid
    dir=$(checked_dir "$1")
    pid=$(sandbox_pid "$dir")
    echo "sandbox: shell in $dir (systemctl, busctl, machinectl, journalctl work here; exit to leave)" >&2
    in_sandbox "$pid" env PS1='[sandbox \w]# ' SANDBOX_DIR="$dir" /bin/bash --norc -i
}

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || usage
    shift
    case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    shell) cmd_shell "$@" ;;
    check-host) cmd_check_host "$@" ;;
    cockpit) cmd_cockpit "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
