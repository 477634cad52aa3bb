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
#   sandbox.sh cockpit DIR [--port N]  the Cockpit page on the host's 127.0.0.1:N (9090)
#
# Layout: systemd runs as PID 1 of private PID/mount/net/UTS/IPC namespaces,
# in pure cgroup2 mode on a cgroup subtree of its own, with a minimal unit set
# (see write_units). Inside: dbus-daemon on /run/dbus/system_bus_socket,
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
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- checks ---

# Validate a working directory and print its canonical form. A failed
# $(...) upstream must never turn into "/" or "" here: refuse both, refuse
# relative paths and refuse top-level directories such as /tmp or /var, whose
# contents `down` would otherwise remove.
checked_dir() {
    local d=${1:-}
    [[ -n $d ]] || die "empty working directory"
    [[ $d == /* ]] || die "working directory must be absolute: '$d'"
    d=$(realpath -m -- "$d") || die "cannot resolve '$1'"
    [[ $d != / ]] || die "refusing / as working directory"
    [[ $d == /*/* ]] || die "refusing top-level directory '$d' as working directory"
    [[ $d != *[[:space:]:]* ]] || die "working directory must not contain spaces or colons: '$d'"
    printf '%s\n' "$d"
}

# Install what the sandbox needs, only for what is missing, without
# recommends (they pull libnss-mymachines, which rewrites nsswitch.conf).
ensure_packages() {
    local -a pkgs=()
    local bin pkg
    while read -r bin pkg; do
        [[ -e $bin ]] || command -v "$bin" >/dev/null 2>&1 || pkgs+=("$pkg")
    done <<'EOF'
/usr/bin/systemd-nspawn systemd-container
/lib/systemd/systemd-machined systemd
/bin/busybox busybox-static
/usr/lib/polkit-1/polkitd polkitd
/usr/bin/pkaction polkitd
/usr/bin/dbus-daemon dbus-daemon
/usr/bin/gdbus libglib2.0-bin
/usr/bin/xmllint libxml2-utils
/usr/bin/gcc gcc
/usr/lib/x86_64-linux-gnu/libc.a libc6-dev
/usr/bin/nsenter util-linux
/usr/bin/nix-build nix-bin
EOF
    if ((${#pkgs[@]})); then
        note "installing: ${pkgs[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
}

# Where the host's cgroup2 hierarchy is: "hybrid" (v1 controllers plus
# cgroup2 at /sys/fs/cgroup/unified) or "unified" (cgroup2 at /sys/fs/cgroup).
cgroup_mode() {
    if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
        echo unified
    elif [[ -d /sys/fs/cgroup/unified && $(stat -fc %T /sys/fs/cgroup/unified) == cgroup2fs ]]; then
        echo hybrid
    else
        die "no cgroup2 hierarchy on this host (need /sys/fs/cgroup or /sys/fs/cgroup/unified as cgroup2)"
    fi
}
cgroup_root() {
    if [[ $(cgroup_mode) == hybrid ]]; then echo /sys/fs/cgroup/unified; else echo /sys/fs/cgroup; fi
}

# Field 22 of /proc/PID/stat: start time in clock ticks since boot. Together
# with the PID it names one process for good: PIDs get reused, this pair not.
start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) } # the command name may contain spaces and parentheses
    # shellcheck disable=SC2086
    set -- $stat
    echo "${20}"
}

# True when PID is still the process started at START and has not exited:
# a zombie counts as gone. (A killed sandbox init stays a zombie until
# unshare reaps it, and unshare itself, orphaned once `up` returned, until
# the host's init reaps it, which can take a second.)
alive() {
    same_process "$1" "$2" && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# True when PID is still the process started at START (zombie or not).
same_process() {
    local st
    [[ $1 =~ ^[0-9]+$ && $1 -gt 1 ]] || return 1
    st=$(start_time "$1") || return 1
    [[ $st == "$2" ]]
}

# The sandbox's PID 1 (host PID), checked against its recorded start time.
sandbox_pid() {
    local dir=$1 pid st
    [[ -f $dir/pid ]] || die "no sandbox in $dir (no $dir/pid)"
    read -r pid st <"$dir/pid"
    alive "$pid" "$st" || die "sandbox in $dir is not running (pid $pid gone or reused)"
    echo "$pid"
}

# What check-host compares: the host's cgroup mounts (and their options),
# the listing of /sys/fs/cgroup, and the controllers of the cgroup2 root
# (a controller bound to a new v1 hierarchy vanishes from there).
host_snapshot() {
    findmnt -R -n -o TARGET,FSTYPE,OPTIONS /sys/fs/cgroup
    echo "--- ls /sys/fs/cgroup"
    ls -A /sys/fs/cgroup
    echo "--- cgroup2 controllers"
    cat "$(cgroup_root)/cgroup.controllers"
}

# ------------------------------------------------------------------- run ---

# Run a command inside every namespace of the sandbox. Inside, the bus is at
# the standard path, so a host DBUS_SYSTEM_BUS_ADDRESS must not leak in.
in_sandbox() {
    local pid=$1
    shift
    env -u DBUS_SYSTEM_BUS_ADDRESS -u DBUS_SESSION_BUS_ADDRESS nsenter -t "$pid" -a "$@"
}

# --------------------------------------------------------------- files ---

write_bus_config() {
    local dir=$1
    mkdir -p "$dir/bus/system.d" "$dir/bus/services" "$dir/run-dbus"
    # Modelled on Debian's /usr/share/dbus-1/system.conf, minus the host's
    # include and service directories. (No "--" inside XML comments.)
    cat >"$dir/bus/system.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <user>messagebus</user>
  <!-- Needed even though systemd passes the socket in. -->
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$dir/bus/services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <includedir>$dir/bus/system.d</includedir>
</busconfig>
EOF
    # Policies of everything that owns a name in here. systemd1 is needed
    # too: the service talks to the sandbox's systemd over the bus.
    local f
    for f in org.freedesktop.systemd1 org.freedesktop.machine1 org.freedesktop.PolicyKit1; do
        cp "/usr/share/dbus-1/system.d/$f.conf" "$dir/bus/system.d/"
    done
    # Activation files: systemd starts the unit (SystemdService=); Exec= is
    # only a fallback dbus-daemon never uses with --systemd-activation.
    printf '[D-BUS Service]\nName=org.freedesktop.machine1\nExec=/bin/false\nUser=root\nSystemdService=systemd-machined.service\n' \
        >"$dir/bus/services/org.freedesktop.machine1.service"
    printf '[D-BUS Service]\nName=org.freedesktop.PolicyKit1\nExec=/bin/false\nUser=root\nSystemdService=polkit.service\n' \
        >"$dir/bus/services/org.freedesktop.PolicyKit1.service"
}

write_polkit() {
    local dir=$1 with_service=$2 f
    mkdir -p "$dir/polkit/actions" "$dir/polkit/usr-rules.d" "$dir/polkit/etc-rules.d"
    cp /usr/share/polkit-1/actions/*.policy "$dir/polkit/actions/"
    cp -a /usr/share/polkit-1/rules.d/. "$dir/polkit/usr-rules.d/"
    cp -a /etc/polkit-1/rules.d/. "$dir/polkit/etc-rules.d/" 2>/dev/null || true
    local -a policies
    if [[ $with_service == yes ]]; then
        policies=("$dir/prefix/share/polkit-1/actions/"*.policy)
    else
        policies=("$REPO/polkit/"*.policy)
    fi
    for f in "${policies[@]}"; do
        # polkitd silently drops an invalid policy file: validate it here.
        xmllint --noout --dtdvalid /usr/share/polkit-1/policyconfig-1.dtd "$f" ||
            die "invalid polkit policy $f"
        cp "$f" "$dir/polkit/actions/"
    done
    # Test rules, decided by user name (these users exist only in here).
    # uid 0 is always authorized, so tests of denial use these users.
    cat >"$dir/polkit/etc-rules.d/10-nixos-containers-sandbox.rules" <<'EOF'
// nixos-containers sandbox: test identities (see scripts/sandbox/sandbox.sh).
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.nixos.containers.") !== 0)
        return polkit.Result.NOT_HANDLED;
    if (subject.user === "nc-allowed")
        return polkit.Result.YES;
    if (subject.user === "nc-challenged")
        return polkit.Result.AUTH_ADMIN_KEEP;
    if (subject.user === "nc-denied")
        return polkit.Result.NO;
    // nc-tenant and nc-tenant2 are delegated by the shipped example rule
    // (members of "containers" manage what they created), installed below.
    return polkit.Result.NOT_HANDLED;
});
EOF
    cp "$REPO/polkit/50-nixos-containers-owners.rules.example" "$dir/polkit/etc-rules.d/50-nixos-containers-owners.rules"
    # polkitd skips unreadable rules silently, which fails open.
    chmod 0644 "$dir/polkit/etc-rules.d/"*.rules
    chmod 0755 "$dir/polkit" "$dir/polkit/"*
}

write_identities() {
    local dir=$1 entry name uid
    mkdir -p "$dir/etc"
    cp /etc/passwd "$dir/etc/passwd"
    cp /etc/group "$dir/etc/group"
    for entry in "${TEST_USERS[@]}"; do
        read -r name uid <<<"$entry"
        printf '%s:x:%s:%s:sandbox test user:/nonexistent:/usr/sbin/nologin\n' "$name" "$uid" "$uid" >>"$dir/etc/passwd"
        printf '%s:x:%s:\n' "$name" "$uid" >>"$dir/etc/group"
    done
    local members
    read -r name uid members <<<"$DELEGATES_GROUP"
    # The host's group of that name, if any, is not the sandbox's.
    sed -i "/^$name:/d" "$dir/etc/group"
    printf '%s:x:%s:%s\n' "$name" "$uid" "$members" >>"$dir/etc/group"
    chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
    printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\nForwardToConsole=no\nForwardToWall=no\n' \
        >"$dir/etc/journald.conf"
}

# The minimal unit set systemd runs from (SYSTEMD_UNIT_PATH=DIR/units).
write_units() {
    local dir=$1 with_service=$2 u=$1/units
    mkdir -p "$u"
    printf '[Unit]\nDescription=Sandbox sysinit (empty)\n' >"$u/sysinit.target"
    printf '[Unit]\nDescription=Sockets\nWants=dbus.socket systemd-journald.socket\n' >"$u/sockets.target"
    printf '[Unit]\nDescription=Basic system\nRequires=sysinit.target\nWants=sockets.target\nAfter=sysinit.target sockets.target\n' >"$u/basic.target"
    printf '[Unit]\nDescription=Shutdown\nDefaultDependencies=no\n' >"$u/shutdown.target"
    printf '[Unit]\nDescription=Sandbox multi-user system\nRequires=basic.target\nAfter=basic.target\nWants=dbus.service systemd-journald.service systemd-machined.service polkit.service\n' >"$u/multi-user.target"
    ln -sfn multi-user.target "$u/default.target"
    printf '[Unit]\nDescription=Virtual Machine and Container Slice\n' >"$u/machine.slice"

    cat >"$u/systemd-journald.socket" <<'EOF'
[Unit]
Description=Journal sockets
DefaultDependencies=no
Before=sockets.target
[Socket]
Service=systemd-journald.service
ListenStream=/run/systemd/journal/stdout
ListenDatagram=/run/systemd/journal/socket
SocketMode=0666
PassCredentials=yes
PassSecurity=yes
ReceiveBuffer=8M
EOF
    cat >"$u/systemd-journald.service" <<'EOF'
[Unit]
Description=Journal (volatile, see the bound journald.conf)
DefaultDependencies=no
Requires=systemd-journald.socket
After=systemd-journald.socket
[Service]
Type=notify
Sockets=systemd-journald.socket
ExecStart=/lib/systemd/systemd-journald
StandardOutput=null
Restart=always
RestartSec=0
EOF
    cat >"$u/dbus.socket" <<'EOF'
[Unit]
Description=D-Bus system bus socket
DefaultDependencies=no
Before=sockets.target
[Socket]
ListenStream=/run/dbus/system_bus_socket
SocketMode=0666
EOF
    cat >"$u/dbus.service" <<EOF
[Unit]
Description=D-Bus system bus (sandbox configuration)
Requires=dbus.socket
After=systemd-journald.socket
[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/dbus-daemon --config-file=$dir/bus/system.conf --address=systemd: --nofork --nopidfile --systemd-activation
EOF
    cat >"$u/systemd-machined.service" <<'EOF'
[Unit]
Description=Virtual machine and container registration
Requires=dbus.socket
After=dbus.socket
[Service]
Type=dbus
BusName=org.freedesktop.machine1
ExecStart=/lib/systemd/systemd-machined
EOF
    cat >"$u/polkit.service" <<'EOF'
[Unit]
Description=Authorization manager (sandbox rules)
Requires=dbus.socket
After=dbus.socket
[Service]
Type=dbus
BusName=org.freedesktop.PolicyKit1
ExecStart=/usr/lib/polkit-1/polkitd
EOF

    [[ $with_service == yes ]] || return 0
    # The project's own unit, as installed, enabled the way its [Install]
    # section says (WantedBy=multi-user.target).
    cp "$dir/prefix/lib/systemd/system/nixos-containers.service" "$u/"
    mkdir -p "$u/multi-user.target.wants" "$u/nixos-containers.service.d"
    ln -sfn ../nixos-containers.service "$u/multi-user.target.wants/nixos-containers.service"
    # The drop-in: settings point everything into DIR. The installed unit
    # is used as it is; only if its ExecStart= does not name the daemon
    # installed under DIR/prefix (an install that bakes in the configure-time
    # prefix) is ExecStart= replaced, and that is said.
    local exec_override=
    if ! grep -qxF "ExecStart=$dir/prefix/libexec/nixos-containersd" "$u/nixos-containers.service"; then
        note "installed unit's ExecStart= is not $dir/prefix/libexec/nixos-containersd: overriding it in the drop-in"
        exec_override="ExecStart=
ExecStart=$dir/prefix/libexec/nixos-containersd"
    fi
    cat >"$u/nixos-containers.service.d/sandbox.conf" <<EOF
# Written by scripts/sandbox/sandbox.sh for the sandbox in $dir.
[Service]
$exec_override
Environment=NIXOS_CONTAINERS_CONFIG_DIR=$dir/etc-containers
Environment=NIXOS_CONTAINERS_STATE_DIR=$dir/state
Environment=NIXOS_CONTAINERS_RUNTIME_DIR=$dir/runtime
# The store, profiles and gcroots are the defaults: /nix is DIR/nix here.
Environment=NIXOS_CONTAINERS_NSPAWN=/usr/bin/systemd-nspawn
# Debian's real Nix, offline (DIR/nix-conf/nix.conf), against the tests'
# stand-in nixpkgs (tests/sandbox/payload/nixpkgs).
Environment=NIXOS_CONTAINERS_NIX_BIN_DIR=/usr/bin
Environment=NIXOS_CONTAINERS_NIXOS_PATH=$dir/nixpkgs/nixos
$(nix_environment "$dir" | sed 's/^/Environment=/')
Environment=NIXOS_CONTAINERS_RESOLV_CONF=$dir/resolv.conf
# Not the host's /etc/systemd/system: its units are not the sandbox's.
Environment=NIXOS_CONTAINERS_DECLARATIVE_UNIT_DIRS=$dir/declarative-units
# Read-only binds from here keep a container confined (tests/sandbox/tenant_test.sh).
Environment=NIXOS_CONTAINERS_CONFINED_BIND_ROOTS=$dir/shared
Environment=NIXOS_CONTAINERS_MAX_PER_USER=8
EOF
}

# Nix in the sandbox is Debian's nix-bin, single-user and offline, with its
# store in DIR/nix, which ns-init.sh binds at /nix. Builds run sandboxed, as
# root (no build users), and never reach for a binary cache.
write_nix() {
    local dir=$1
    mkdir -p "$dir/nix/store" "$dir/nix/var/nix/gcroots" "$dir/nix-conf" "$dir/nix-home" "$dir/nix-cache"
    printf '%s\n' "experimental-features = nix-command flakes" "substituters =" "build-users-group =" \
        "sandbox = true" >"$dir/nix-conf/nix.conf"
    # For Nix commands the tests run in the sandbox: env $(cat DIR/nix-environment) nix ...
    nix_environment "$dir" >"$dir/nix-environment"
    # The host-side names the tests use for the store, profiles and gcroots.
    ln -sfn nix/store "$dir/store"
    ln -sfn nix/var/nix/profiles/per-container "$dir/profiles"
    ln -sfn nix/var/nix/gcroots/per-container "$dir/gcroots"
    # The stand-in <nixpkgs/nixos>; write_nixpkgs_payload completes it.
    cp -r "$REPO/tests/sandbox/payload/nixpkgs" "$dir/nixpkgs"
}

# The system the stand-in builds: the ok payload (needs notify-init built).
write_nixpkgs_payload() {
    local dir=$1
    NOTIFY_INIT=$dir/payload/notify-init "$REPO/tests/sandbox/payload/make-system.sh" --tree "$dir/nixpkgs/payload" ok
}

# What a Nix command in the sandbox needs in its environment: the sandbox's
# nix.conf, and a home and cache of its own rather than the host's /root.
nix_environment() {
    local dir=$1
    printf '%s\n' "NIX_CONF_DIR=$dir/nix-conf" "HOME=$dir/nix-home" "XDG_CACHE_HOME=$dir/nix-cache"
}

# Names this sandbox's cgroup and its claim on /nix: two sandboxes never share.
sandbox_key() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# The bind at /nix needs a mount point on the host. When the host has none,
# the first sandbox makes an empty /nix and the last one down removes it:
# each sandbox up holds a claim, under a lock.
NIX_CLAIMS=/run/nixos-containers-sandbox
claim_nix_mount_point() {
    local key=$1
    mkdir -p "$NIX_CLAIMS"
    (
        flock 9
        mkdir -p "$NIX_CLAIMS/claims"
        if [[ ! -e /nix ]]; then
            mkdir -m 0755 /nix
            : >"$NIX_CLAIMS/made-nix"
        fi
        [[ -d /nix && ! -L /nix ]] || die "/nix on the host is not a directory"
        : >"$NIX_CLAIMS/claims/$key"
    ) 9>"$NIX_CLAIMS/lock"
}
release_nix_mount_point() {
    local key=$1
    [[ -d $NIX_CLAIMS/claims ]] || return 0
    (
        flock 9
        rm -f "$NIX_CLAIMS/claims/$key"
        if [[ -z $(ls -A "$NIX_CLAIMS/claims") ]]; then
            if [[ -f $NIX_CLAIMS/made-nix ]]; then rmdir /nix && rm -f "$NIX_CLAIMS/made-nix"; fi
            rmdir "$NIX_CLAIMS/claims" && rm -f "$NIX_CLAIMS/lock" && rmdir "$NIX_CLAIMS"
        fi
    ) 9>"$NIX_CLAIMS/lock"
}

install_project() {
    local dir=$1 f
    [[ -f $BUILD_DIR/cmake_install.cmake ]] ||
        die "no configured build in $BUILD_DIR (cmake -S $REPO -B $BUILD_DIR -G Ninja && cmake --build $BUILD_DIR), or set NIXOS_CONTAINERS_BUILD_DIR"
    cmake --install "$BUILD_DIR" --prefix "$dir/prefix" >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; die "cmake --install failed"; }
    local -a missing=()
    for f in libexec/nixos-containersd lib/systemd/system/nixos-containers.service \
        share/dbus-1/system-services/org.nixos.Containers.service \
        share/dbus-1/system.d/org.nixos.Containers.conf share/dbus-1/system.d/nixos-containers-limits.conf \
        share/polkit-1/actions/org.nixos.containers.policy bin/nixos-container \
        share/man/man1/nixos-container.1 share/bash-completion/completions/nixos-container; do
        [[ -e $dir/prefix/$f ]] || missing+=("$f")
    done
    ((${#missing[@]} == 0)) || die "cmake --install did not produce: ${missing[*]} (under $dir/prefix)"
}

# ------------------------------------------------------------ commands ---

cmd_up() {
    local with_service=yes
    if [[ ${1:-} == --no-service ]]; then
        with_service=no
        shift
    fi
    [[ $# -eq 1 ]] || usage
    local dir t0 cgmode cgroot cg key
    dir=$(checked_dir "$1")
    t0=$(now_ms)
    [[ $(id -u) == 0 ]] || die "must run as root"

    mkdir -p "$dir"
    if [[ -f $dir/pid ]]; then
        local pid st
        read -r pid st <"$dir/pid"
        alive "$pid" "$st" && die "a sandbox is already up in $dir (pid $pid); run: $0 down $dir"
        note "stale sandbox state in $dir: cleaning it first"
        cmd_down "$dir" >/dev/null
    fi
    # Never take over a directory that has other things in it: down removes
    # everything in DIR, so DIR must be empty or one of ours.
    if [[ ! -f $dir/$MARKER && -n $(ls -A "$dir") ]]; then
        die "$dir is not empty and not a sandbox directory"
    fi
    touch "$dir/$MARKER"
    # From here on, a failure tears down what was built.
    # SANDBOX_KEEP_ON_FAILURE=1 leaves it up for a post-mortem (shell, down).
    trap 'rc=$?; if ((rc)) && [[ ${SANDBOX_KEEP_ON_FAILURE:-} != 1 ]]; then note "bring-up failed, tearing down"; cmd_down "$dir" >/dev/null 2>&1 || true; fi' EXIT
    trap 'exit 130' INT TERM # so that the EXIT trap runs on ^C and kill too

    ensure_packages
    cgmode=$(cgroup_mode)
    cgroot=$(cgroup_root)
    host_snapshot >"$dir/host.snapshot"

    [[ $with_service == no ]] || install_project "$dir"
    write_bus_config "$dir"
    if [[ $with_service == yes ]]; then
        cp "$dir/prefix/share/dbus-1/system-services/org.nixos.Containers.service" "$dir/bus/services/"
        cp "$dir/prefix/share/dbus-1/system.d/org.nixos.Containers.conf" \
            "$dir/prefix/share/dbus-1/system.d/nixos-containers-limits.conf" "$dir/bus/system.d/"
    else
        cp "$REPO/dbus/org.nixos.Containers.conf" "$REPO/dbus/nixos-containers-limits.conf" "$dir/bus/system.d/"
    fi
    # SANDBOX_BUS_LIMITS=0: dbus-daemon's own limits, for the test that shows
    # what the shipped ones change.
    [[ ${SANDBOX_BUS_LIMITS:-1} != 0 ]] || rm "$dir/bus/system.d/nixos-containers-limits.conf"
    xmllint --noout "$dir/bus/system.d/"*.conf "$dir/bus/system.conf" || die "malformed bus configuration"
    write_polkit "$dir" "$with_service"
    write_identities "$dir"
    write_units "$dir" "$with_service"
    mkdir -p "$dir/empty" "$dir/etc-containers" "$dir/state" "$dir/runtime" "$dir/payload" \
        "$dir/declarative-units" "$dir/shared"
    write_nix "$dir"
    if [[ -f /etc/resolv.conf ]]; then cp /etc/resolv.conf "$dir/resolv.conf"; else : >"$dir/resolv.conf"; fi
    : >"$dir/console.log"
    # The payloads' READY=1 helper (tests/sandbox/payload/make-system.sh uses
    # it). gcc -static takes ~0.3 s: build it while systemd boots.
    gcc -static -O2 -o "$dir/payload/notify-init" "$REPO/tests/sandbox/payload/notify-init.c" \
        >"$dir/payload/gcc.log" 2>&1 &
    local gcc_pid=$!
    cp "$SCRIPT_DIR/ns-init.sh" "$dir/ns-init.sh"

    # Our cgroup2 subtree, named after DIR so that two sandboxes never share.
    key=$(sandbox_key "$dir")
    cg=ncsandbox-$key
    [[ ! -d $cgroot/$cg ]] || rmdir "$cgroot/$cg" 2>/dev/null || die "stale cgroup $cgroot/$cg is busy"
    mkdir "$cgroot/$cg"
    echo "$cgroot/$cg" >"$dir/cgroup"
    claim_nix_mount_point "$key"

    # setsid: no controlling terminal, own session; env -i: nothing of the
    # caller's environment (e.g. DBUS_SYSTEM_BUS_ADDRESS) leaks in.
    setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        unshare --pid --fork --mount --propagation private --mount-proc --uts --ipc --net \
        /bin/bash "$dir/ns-init.sh" "$dir" "$cg" "$cgmode" \
        </dev/null >"$dir/sandbox.log" 2>&1 &
    local ushare=$! ushare_st child='' child_st deadline
    ushare_st=$(start_time "$ushare") || die "unshare died at once: $(cat "$dir/sandbox.log")"
    echo "$ushare $ushare_st" >"$dir/unshare.pid"

    # unshare --fork: its only child is the namespace's PID 1.
    deadline=$(($(now_ms) + 5000))
    while [[ -z $child ]]; do
        child=$(cat "/proc/$ushare/task/$ushare/children" 2>/dev/null || true)
        child=${child%% *}
        if [[ -z $child ]]; then
            alive "$ushare" "$ushare_st" || die "sandbox init exited: $(cat "$dir/sandbox.log")"
            (($(now_ms) < deadline)) || die "sandbox init did not appear within 5 s"
            sleep 0.005
        fi
    done
    child_st=$(start_time "$child") || die "sandbox init exited: $(cat "$dir/sandbox.log")"
    # It must be PID 1 of a new PID namespace ("NSpid: <host pid> 1").
    grep -qE "^NSpid:[[:space:]]+${child}[[:space:]]+1\$" "/proc/$child/status" ||
        die "process $child is not the sandbox's PID 1"
    echo "$child $child_st" >"$dir/pid"

    wait_until_up "$dir" "$child" "$with_service" "$t0"
    check_polkit "$dir" "$child" "$with_service"
    wait "$gcc_pid" || { cat "$dir/payload/gcc.log" >&2; die "cannot build notify-init"; }
    write_nixpkgs_payload "$dir"
    trap - EXIT INT TERM
    echo "sandbox: up in $(($(now_ms) - t0)) ms: pid $child, bus socket $dir/run-dbus/system_bus_socket"
    echo "sandbox: shell inside: $0 shell $dir"
}

# Print what is known about a failed bring-up: manager state, failed units
# and their journals.
explain_failure() {
    local dir=$1 pid=$2 unit
    echo "---- sandbox init output ($dir/sandbox.log, $dir/console.log)" >&2
    tail -n 40 "$dir/sandbox.log" "$dir/console.log" >&2 || true
    alive "$pid" "$(awk '{print $2}' "$dir/pid")" || return 0
    echo "---- units" >&2
    in_sandbox "$pid" systemctl list-units --all --no-pager --plain >&2 || true
    for unit in dbus.service systemd-machined.service polkit.service nixos-containers.service systemd-journald.service; do
        [[ -f $dir/units/$unit ]] || continue
        echo "---- $unit" >&2
        in_sandbox "$pid" systemctl status --no-pager --lines=0 "$unit" >&2 || true
        in_sandbox "$pid" journalctl --no-pager -n 30 -u "$unit" >&2 || true
    done
}

wait_until_up() {
    local dir=$1 pid=$2 with_service=$3 t0=$4 deadline names state
    local -a want=("${BUS_NAMES[@]}")
    [[ $with_service == yes ]] && want+=("$SERVICE_BUS_NAME")
    deadline=$((t0 + UP_TIMEOUT_MS))
    while :; do
        alive "$pid" "$(awk '{print $2}' "$dir/pid")" ||
            { explain_failure "$dir" "$pid"; die "sandbox PID 1 exited during bring-up"; }
        # systemd itself answers on its private socket even before the bus.
        state=$(in_sandbox "$pid" systemctl is-system-running 2>/dev/null || true)
        if [[ $state == running || $state == degraded ]]; then
            names=$(in_sandbox "$pid" busctl --system list --acquired --no-legend 2>/dev/null | awk '{print $1}' || true)
            local missing=() n
            for n in "${want[@]}"; do grep -qxF "$n" <<<"$names" || missing+=("$n"); done
            ((${#missing[@]} == 0)) && return 0
            # The manager finished starting: a name still missing now will
            # not come (its unit failed or was not started).
            if [[ $state == degraded ]] || (($(now_ms) > deadline)); then
                explain_failure "$dir" "$pid"
                die "not on the sandbox's bus: ${missing[*]} (system state: $state)"
            fi
        fi
        if (($(now_ms) > deadline)); then
            explain_failure "$dir" "$pid"
            die "sandbox did not come up within ${UP_TIMEOUT_MS} ms (system state: ${state:-unknown})"
        fi
        sleep 0.01
    done
}

# polkitd drops invalid policies and unreadable rules without a word: check
# that every action we installed is known and every rules file was loaded.
check_polkit() {
    local dir=$1 pid=$2 with_service=$3 f id nrules log known
    local -a policies=("$dir/polkit/actions/"org.nixos.containers*.policy)
    known=$(in_sandbox "$pid" pkaction) || { explain_failure "$dir" "$pid"; die "pkaction failed inside the sandbox"; }
    for f in "${policies[@]}"; do
        for id in $(xmllint --xpath '//action/@id' "$f" | sed 's/ id="\([^"]*\)"/\1\n/g'); do
            grep -qxF "$id" <<<"$known" ||
                { explain_failure "$dir" "$pid"; die "polkit does not know action $id (from $f)"; }
        done
    done
    # And one through the documented interface, as the brief asks.
    in_sandbox "$pid" pkaction --action-id org.nixos.containers.create >/dev/null ||
        die "pkaction --action-id org.nixos.containers.create failed inside the sandbox"
    nrules=$(find "$dir/polkit/etc-rules.d" "$dir/polkit/usr-rules.d" -name '*.rules' | wc -l)
    # polkitd logs this line once it has loaded every rules directory.
    local deadline=$(($(now_ms) + 3000))
    while :; do
        log=$(in_sandbox "$pid" journalctl --no-pager -o cat -u polkit.service 2>/dev/null || true)
        grep -q "Finished loading, compiling and executing $nrules rules" <<<"$log" && break
        if (($(now_ms) > deadline)); then
            echo "$log" >&2
            die "polkitd did not report loading $nrules rules files (see its log above)"
        fi
        sleep 0.01
    done
    # (Without logind it always says "Error getting login monitor": harmless.)
    if grep -iE 'error.*(script|\.rules)' <<<"$log" >&2; then
        die "polkitd reported an error loading rules (above)"
    fi
    return 0
}

cmd_down() {
    [[ $# -eq 1 ]] || usage
    local dir t0 pid st deadline cgdir m
    dir=$(checked_dir "$1")
    t0=$(now_ms)
    if [[ ! -d $dir ]]; then
        echo "sandbox: nothing in $dir; down in $(($(now_ms) - t0)) ms"
        return 0
    fi
    [[ -f $dir/$MARKER || -z $(ls -A "$dir") ]] || die "$dir is not a sandbox directory; not touching it"
    [[ $(id -u) == 0 ]] || die "must run as root"

    # 1. Kill the namespace's PID 1: the kernel then kills every process of
    #    the PID namespace. Only if it is still the process we started.
    if [[ -f $dir/pid ]]; then
        read -r pid st <"$dir/pid"
        if alive "$pid" "$st"; then
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$(($(now_ms) + DOWN_TIMEOUT_MS))
            # It stays a zombie until unshare reaps it.
            while alive "$pid" "$st"; do
                (($(now_ms) < deadline)) || die "sandbox PID 1 ($pid) did not die"
                sleep 0.005
            done
        fi
    fi
    # unshare exits once its child is gone; it is ours, so make sure.
    if [[ -f $dir/unshare.pid ]]; then
        read -r pid st <"$dir/unshare.pid"
        deadline=$(($(now_ms) + DOWN_TIMEOUT_MS))
        while alive "$pid" "$st"; do
            (($(now_ms) < deadline - DOWN_TIMEOUT_MS / 2)) || kill -KILL "$pid" 2>/dev/null || true
            (($(now_ms) < deadline)) || die "unshare ($pid) did not exit"
            sleep 0.005
        done
    fi

    # 2. Our cgroup subtree, depth-first. Processes that entered the sandbox
    #    with nsenter die with the PID namespace, but the kernel frees their
    #    cgroups a moment later: retry until the deadline.
    if [[ -f $dir/cgroup ]]; then
        cgdir=$(cat "$dir/cgroup")
        [[ $cgdir =~ ^/sys/fs/cgroup(/unified)?/ncsandbox-[0-9a-f]+$ ]] || die "bad cgroup path in $dir/cgroup: '$cgdir'"
        deadline=$(($(now_ms) + DOWN_TIMEOUT_MS))
        while [[ -d $cgdir ]]; do
            # Anything still in there was started by this sandbox.
            if [[ -e $cgdir/cgroup.kill ]]; then echo 1 >"$cgdir/cgroup.kill" 2>/dev/null || true; fi
            find "$cgdir" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [[ -d $cgdir ]] || break
            (($(now_ms) < deadline)) || die "cannot remove cgroup $cgdir: $(find "$cgdir" -name cgroup.procs -exec cat {} + | tr '\n' ' ')"
            sleep 0.005
        done
    fi

    # 3. Mounts: all of ours lived in the dead namespace; anything under DIR
    #    in the host's table is not ours to leave behind either.
    while read -r m; do
        if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1' | sort -r)

    # The namespace that bound DIR/nix at /nix is gone: give up the claim.
    release_nix_mount_point "$(sandbox_key "$dir")"

    # 4. Compare the host against the snapshot from `up`, then empty DIR.
    local check_rc=0
    check_host "$dir" || check_rc=$?
    [[ -d $dir ]] && find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
    echo "sandbox: down in $(($(now_ms) - t0)) ms"
    return "$check_rc"
}

# Everything the sandbox may have left on the host. With DIR: compare with
# the snapshot `up` took, and look for this sandbox's cgroup and mounts.
check_host() {
    local dir=${1:-} bad=0 cgroot opts l
    opts=$(findmnt -n -o OPTIONS /sys/fs/cgroup) || { echo "check-host: /sys/fs/cgroup is not mounted" >&2; return 1; }
    if [[ ,$opts, != *,rw,* ]]; then
        echo "check-host: /sys/fs/cgroup is no longer read-write: $opts" >&2
        bad=1
    fi
    cgroot=$(cgroup_root)
    for l in "$cgroot"/ncsandbox-*; do
        [[ -e $l ]] || continue
        # Another sandbox that is up is not a leftover.
        if [[ -n $dir && $l != "$(cat "$dir/cgroup" 2>/dev/null)" ]]; then continue; fi
        if [[ -n $dir && -f $dir/pid ]] && alive "$(awk '{print $1}' "$dir/pid")" "$(awk '{print $2}' "$dir/pid")"; then continue; fi
        echo "check-host: leftover cgroup $l" >&2
        bad=1
    done
    for l in /sys/class/net/ve-* /sys/class/net/vb-*; do
        [[ -e $l ]] || continue
        echo "check-host: leftover link ${l##*/} on the host" >&2
        bad=1
    done
    if [[ -f $NIX_CLAIMS/made-nix && -z $(ls -A "$NIX_CLAIMS/claims" 2>/dev/null) ]]; then
        echo "check-host: /nix, made for the sandboxes' Nix, outlived the last of them" >&2
        bad=1
    fi
    if [[ -n $dir && -e $NIX_CLAIMS/claims/$(sandbox_key "$dir") ]] &&
        ! { [[ -f $dir/pid ]] && alive "$(awk '{print $1}' "$dir/pid")" "$(awk '{print $2}' "$dir/pid")"; }; then
        echo "check-host: $dir is down but still holds a claim on /nix" >&2
        bad=1
    fi
    if [[ -n $dir ]]; then
        if findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1 || $0 == d' | grep -q .; then
            echo "check-host: mounts left under $dir:" >&2
            findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1' >&2
            bad=1
        fi
        if [[ -f $dir/host.snapshot ]] && ! diff -u "$dir/host.snapshot" <(host_snapshot) >&2; then
            echo "check-host: the host's cgroup mounts changed since the sandbox came up (diff above)" >&2
            bad=1
        fi
    fi
    if ((bad)); then
        echo "check-host: FAILED" >&2
        return 1
    fi
    echo "check-host: ok"
}

cmd_check_host() {
    [[ $# -le 1 ]] || usage
    if [[ $# -eq 1 ]]; then
        check_host "$(checked_dir "$1")"
    else
        check_host
    fi
}

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
