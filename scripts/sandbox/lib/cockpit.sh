# cockpit.sh: `sandbox.sh cockpit`, the page on the host's loopback. Sourced
# by sandbox.sh.
# shellcheck shell=bash

# cockpit DIR [--port N]: the Cockpit page of the sandbox's service. cockpit-ws
# listens on the host's loopback (it keeps the host's network namespace) and
# runs its bridge inside the sandbox's mount and PID namespaces, as root: the
# bridge sees the sandbox's bus and the page installed in DIR/prefix. In the
# foreground until Ctrl-C; `down` ends it too (its PID namespace goes).
cmd_cockpit() {
    [[ $# -ge 1 ]] || usage
    local dir pid port=9090 bridge
    dir=$(checked_dir "$1")
    shift
    while (($#)); do
        case $1 in
        --port)
            [[ $# -ge 2 ]] || usage
            port=$2
            shift 2
            ;;
        *) usage ;;
        esac
    done
    if [[ ! $port =~ ^[0-9]{1,5}$ ]] || ((port == 0 || port > 65535)); then
        die "bad port '$port'"
    fi
    [[ -x /usr/lib/cockpit/cockpit-ws && -x /usr/bin/cockpit-bridge ]] ||
        die "cockpit-ws and cockpit-bridge are not installed (scripts/install-deps.sh installs them)"
    [[ -s $dir/prefix/share/cockpit/nixos-containers/manifest.json ]] ||
        die "the page is not installed in $dir/prefix (sandbox.sh up installs the build there)"
    pid=$(sandbox_pid "$dir")
    bridge=$dir/cockpit-bridge-session
    cat >"$bridge" <<EOS
#!/bin/sh
# cockpit-ws's local session (sandbox.sh cockpit): the bridge, with the installed page and CLI.
exec env -i HOME=/root PATH=$dir/prefix/bin:/usr/bin:/bin XDG_DATA_DIRS=$dir/prefix/share:/usr/share /usr/bin/cockpit-bridge
EOS
    chmod 0700 "$bridge"
    note "the Cockpit page: http://127.0.0.1:$port/cockpit/@localhost/nixos-containers/index.html (Ctrl-C ends it)"
    env -u DBUS_SYSTEM_BUS_ADDRESS -u DBUS_SESSION_BUS_ADDRESS nsenter -t "$pid" -m -p \
        /usr/lib/cockpit/cockpit-ws --address=127.0.0.1 --port="$port" --local-session="$bridge"
}
