# files.sh: the files a sandbox runs on (bus and polkit configuration, test
# identities, units, Nix, the installed project). Sourced by sandbox.sh.
# shellcheck shell=bash

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
# Read-only binds from here keep a container confined (tests/sandbox/tenant_test.py).
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
