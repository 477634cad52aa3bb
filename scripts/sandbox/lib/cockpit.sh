# cockpit.sh: `sandbox.sh cockpit`, the page on the host's loopback. Sourced
# by sandbox.sh.
# shellcheck shell=bash

# cockpit DIR [--port N] [--user NAME]: the Cockpit page of the sandbox's
# service. cockpit-ws listens on the host's loopback (it keeps the host's
# network namespace) and runs its bridge inside the sandbox's mount and PID
# namespaces, as root or as the sandbox's user NAME (nc-tenant, nc-allowed...):
# the bridge sees the sandbox's bus, the page and the CLI, and polkitd judges
# the page's calls as that user's. In the foreground until Ctrl-C; `down` ends
# it too (its PID namespace goes).
#
# cockpit-ws --local-session has one session, made at its start: once no page
# has been connected for a while (15 s) it ends it, bridge and all, and then
# offers a login page that cannot work here (no PAM login into the sandbox).
# So a session that ended is replaced by a new cockpit-ws on the same port,
# and reloading the page reconnects.
cmd_cockpit() {
    [[ $# -ge 1 ]] || usage
    local dir pid port=9090 user=root uid bridge share
    dir=$(checked_dir "$1")
    shift
    while (($#)); do
        case $1 in
        --port | --user)
            [[ $# -ge 2 ]] || usage
            if [[ $1 == --port ]]; then port=$2; else user=$2; fi
            shift 2
            ;;
        *) usage ;;
        esac
    done
    if [[ ! $port =~ ^[0-9]{1,5}$ ]] || ((port == 0 || port > 65535)); then
        die "bad port '$port'"
    fi
    [[ $user =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad user name '$user'"
    [[ -x /usr/lib/cockpit/cockpit-ws && -x /usr/bin/cockpit-bridge ]] ||
        die "cockpit-ws and cockpit-bridge are not installed (scripts/install-deps.sh installs them)"
    [[ -s $dir/prefix/share/cockpit/nixos-containers/manifest.json ]] ||
        die "the page is not installed in $dir/prefix (sandbox.sh up installs the build there)"
    pid=$(sandbox_pid "$dir")
    if ! uid=$(in_sandbox "$pid" id -u "$user" 2>/dev/null); then
        local entry names=root
        for entry in "${TEST_USERS[@]}"; do names+=" ${entry%% *}"; done
        die "no user '$user' in the sandbox (its users: $names)"
    fi
    trap cockpit_cleanup EXIT
    trap 'exit 130' INT TERM
    share=$dir/prefix/share
    if [[ $uid != 0 ]]; then
        COCKPIT_USER_FILES=$(mktemp -d /tmp/nixos-containers-cockpit.XXXXXX)
        cockpit_user_files "$dir" "$uid" "$COCKPIT_USER_FILES"
        share=$COCKPIT_USER_FILES/share
    fi
    bridge=$dir/cockpit-bridge-session
    write_cockpit_bridge "$bridge" "$uid" "$share"
    note "the Cockpit page: http://127.0.0.1:$port/cockpit/@localhost/nixos-containers/index.html" \
        "(its bridge runs as $user; Ctrl-C ends it)"
    serve_cockpit "$dir" "$pid" "$port" "$bridge"
}

COCKPIT_WS_LAUNCHER='' COCKPIT_USER_FILES=''
cockpit_cleanup() {
    local ws
    if [[ -n $COCKPIT_WS_LAUNCHER ]]; then
        # The loop's cockpit-ws runs in the background, where Ctrl-C does not reach it.
        ws=$(cat "/proc/$COCKPIT_WS_LAUNCHER/task/$COCKPIT_WS_LAUNCHER/children" 2>/dev/null) || true
        kill "$COCKPIT_WS_LAUNCHER" ${ws:+"${ws%% *}"} 2>/dev/null || true
    fi
    [[ -z $COCKPIT_USER_FILES ]] || rm -rf "$COCKPIT_USER_FILES"
}

# DIR is root's alone (0700): a user's bridge reads a copy of the page and
# runs a copy of the CLI, in TOP (removed when sandbox.sh cockpit ends), and
# has a home there.
cockpit_user_files() {
    local dir=$1 uid=$2 top=$3
    mkdir -p "$top/share/cockpit" "$top/bin" "$top/home"
    cp -r "$dir/prefix/share/cockpit/nixos-containers" "$top/share/cockpit/"
    cp "$dir/prefix/bin/nixos-container" "$top/bin/"
    chmod -R a+rX "$top/share" "$top/bin"
    chmod 0711 "$top"
    chown "$uid:$uid" "$top/home"
    chmod 0700 "$top/home"
}

# The bridge cockpit-ws runs for its local session, inside the sandbox.
write_cockpit_bridge() {
    local bridge=$1 uid=$2 share=$3 run_as='' env=HOME=/root bin
    bin=${share%/share}/bin
    if [[ $uid != 0 ]]; then
        # As tests/sandbox/sandboxlib/browser.py's bridges: the user's uid, its
        # group (each test user has one of the same id) and its other groups.
        run_as="setpriv --reuid=$uid --regid=$uid --init-groups "
        # The bridge takes HOME from passwd (the test users' is /nonexistent):
        # a runtime directory of the user's own, or it warns it has none.
        env="HOME=${share%/share}/home XDG_RUNTIME_DIR=${share%/share}/home"
    fi
    cat >"$bridge" <<EOS
#!/bin/sh
# cockpit-ws's local session (sandbox.sh cockpit): the bridge, with the installed page and CLI.
exec ${run_as}env -i $env PATH=$bin:/usr/bin:/bin XDG_DATA_DIRS=$share:/usr/share /usr/bin/cockpit-bridge
EOS
    chmod 0700 "$bridge"
}

# cockpit-ws until Ctrl-C, a new one each time its session ends.
serve_cockpit() {
    local dir=$1 pid=$2 port=$3 bridge=$4 ended rc
    while :; do
        env -u DBUS_SYSTEM_BUS_ADDRESS -u DBUS_SESSION_BUS_ADDRESS nsenter -t "$pid" -m -p \
            /usr/lib/cockpit/cockpit-ws --address=127.0.0.1 --port="$port" --local-session="$bridge" &
        COCKPIT_WS_LAUNCHER=$!
        ended=$(watch_cockpit_session "$COCKPIT_WS_LAUNCHER")
        rc=0
        wait "$COCKPIT_WS_LAUNCHER" || rc=$?
        COCKPIT_WS_LAUNCHER=
        [[ $ended == session ]] || return "$rc"
        sandbox_pid "$dir" >/dev/null
        note "the session ended (no page was open for a while): a new one is up; reload the page"
    done
}

# Prints "session" once cockpit-ws (nsenter's child) has no bridge left, after
# ending that cockpit-ws; "exited" when cockpit-ws or nsenter exited first.
watch_cockpit_session() {
    local launcher=$1 ws='' had_bridge=no children
    while kill -0 "$launcher" 2>/dev/null; do
        [[ -n $ws ]] || ws=$(cat "/proc/$launcher/task/$launcher/children" 2>/dev/null) || true
        ws=${ws%% *}
        if [[ -n $ws ]]; then
            children=$(cat /proc/"$ws"/task/*/children 2>/dev/null) || true
            if [[ -n ${children// /} ]]; then
                had_bridge=yes
            elif [[ $had_bridge == yes ]] && kill -0 "$ws" 2>/dev/null; then
                kill "$ws" 2>/dev/null || true
                echo session
                return 0
            fi
        fi
        sleep 0.5
    done
    echo exited
}
