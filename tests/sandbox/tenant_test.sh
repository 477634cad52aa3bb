#!/usr/bin/env bash
# tenant_test.sh — delegation's two tiers (issue 10, its first part) against
# the real service, polkitd and nspawn. nc-tenant and nc-tenant2 are
# delegated as an admin would, by the example rule we ship: members of the
# group "containers" may do every org.nixos.containers.* action on the
# containers they created, with host access left to its auth_admin default.
#
# Scenarios:
#   1  positive control: the tenant creates, starts, reloads, stops and
#      destroys confined, user-namespaced containers: on the host's network,
#      and on a private one (pool addresses, a listener on port 80 the host
#      reaches, a read-only bind beneath NIXOS_CONTAINERS_CONFINED_BIND_ROOTS);
#      Reload runs switch-to-configuration in the container's user namespace
#      with no_new_privs; ForwardPorts needs PrivateUsers no (host access)
#   2  each host-reaching spec is refused with InteractiveAuthorizationRequired
#      naming org.nixos.containers.host-access and the keys, and leaves no
#      conf, no root, no object: writable and out-of-list binds,
#      capabilities, devices, tun, ExtraFlags, addresses outside the pool,
#      host port 22, a build as root (Config); an Update that adds a host
#      bind to the tenant's own container changes nothing
#   3  ownership, through the shipped example rule
#      (polkit/50-nixos-containers-owners.rules.example): nc-tenant2, also in
#      the group, can neither start, update nor destroy nc-tenant's container,
#      nc-tenant not root's nor nc-tenant2's; the conf records the creator;
#      the per-user cap (NIXOS_CONTAINERS_MAX_PER_USER=8) refuses a ninth
#   4  root and a user granted host access (nc-allowed) still can
#   5  a machine machined has from someone else's unit is left alone: Create
#      of its name is refused, Start fails rather than terminate it, Terminate
#      ends only the container's own unit
#   6  entering a container whose root is the host's is host access (issue
#      25, item 2): nc-tenant, granted run, shell, login and manage on two
#      of root's containers by a test rule, is refused Run, OpenShell,
#      OpenLogin and Reload in the one without a user namespace
#      (InteractiveAuthorizationRequired naming host-access and
#      PrivateUsers), and runs and reloads in the user-namespaced one
#   7  Run slots (issue 25, item 7; NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2,
#      NIXOS_CONTAINERS_MAX_RUNS=3): a tenant at its bound gets
#      LimitsExceeded while another still runs; with every slot taken,
#      root's Run still runs
#   (1 also: a real nix-daemon takes each user-namespaced container's root
#   for an untrusted user)
#   (0 also: the service made the state, runtime, profile and gcroot trees
#   0700 when it started)
#
# Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin tenant
BOUNDED_VARS+=(OK SHARED MINE HOST_ACCESS M1_IF NC_RUN)
M1_IF=org.freedesktop.machine1.Manager
HOST_ACCESS=org.nixos.containers.host-access

# tenant_call METHOD GVARIANT_ARGS...: as nc-tenant, through gdbus.
tenant_call() {
    local method=$1
    shift
    as_user "$U_TENANT" gdbus call --system --timeout 60 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.$method" "$@"
}
tenant2_call() {
    local method=$1
    shift
    as_user "$U_TENANT2" gdbus call --system --timeout 60 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.$method" "$@"
}
# refused NAME KEYS SPEC: the tenant's Create of NAME is refused for host
# access to KEYS, and nothing of NAME exists afterwards.
refused() {
    local name=$1 keys=$2 spec=$3
    expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "$HOST_ACCESS (create '$name' with $keys)" \
        "$U_TENANT" -- Create "$name" "$spec" || return 1
    [[ ! -e $DIR/etc-containers/$name.conf && ! -e $(root_of "$name") ]] || { echo "$name left a conf or a root"; return 1; }
    ! mgr GetContainer s "$name" >/dev/null 2>&1 || { echo "$name has an object"; return 1; }
}

invalid() { # NAME MESSAGE-PART SPEC: Create refused as InvalidArgument, nothing left
    local name=$1 part=$2 spec=$3
    expect_error "$ERR.InvalidArgument" "$part" "$U_TENANT" -- Create "$name" "$spec" || return 1
    [[ ! -e $DIR/etc-containers/$name.conf && ! -e $(root_of "$name") ]] || { echo "$name left a conf or a root"; return 1; }
}

# ------------------------------------------------------------------- up ---
scenario "0  sandbox up, payload"
SHARED=$DIR/shared # NIXOS_CONTAINERS_CONFINED_BIND_ROOTS in the sandbox
sandbox_up
mkdir -p "$SHARED/web"
OK=$("$MAKE_SYSTEM" "$DIR/store" sysok ok) || { fail "make-system"; exit 1; }
# Listens on port 80 before it is ready: a user-namespaced root may only
# when its network namespace lets every uid bind below 1024.
LISTEN=$("$MAKE_SYSTEM" "$DIR/store" syslisten listener) || { fail "make-system"; exit 1; }
check "the service is on the bus" in_sb busctl --system status "$BUS_NAME"
# The installed unit's hardening holds for the running service (every
# sandbox tier runs it so): its capability bound lacks what the unit drops
# (SYS_MODULE 16, SYS_RAWIO 17, SYS_PACCT 20, SYS_TIME 25 and every
# capability from 32 on: 0xfdecffff), a seccomp filter is on, and it cannot
# gain privileges. exec_e2e proves a Run still gets the container's bound.
service_hardened() {
    local status manager want
    status=$(in_sb cat "/proc/$(service_pid)/status") || return 1
    # Within the sandbox's systemd's own bound.
    manager=$(in_sb grep CapBnd /proc/1/status | cut -f2) || return 1
    want=$(printf '%016x' $((0x$manager & 0xfdecffff)))
    grep -E '^(CapBnd|Seccomp|NoNewPrivs):' <<<"$status"
    echo "want CapBnd $want (systemd's $manager & fdecffff)"
    grep -qx "CapBnd:	$want" <<<"$status" && grep -qx $'Seccomp:\t2' <<<"$status" &&
        grep -qx $'NoNewPrivs:\t1' <<<"$status"
}
check "the service runs with the unit's capability bound, a seccomp filter and no_new_privs" service_hardened
trees_private() {
    local tree mode
    for tree in state runtime profiles gcroots; do
        mode=$(stat -L -c %a "$DIR/$tree") || return 1
        echo "$tree: $mode"
        [[ $mode == 700 ]] || return 1
    done
}
check "the trees a container can plant in are 0700 (the sandbox made them 0755)" trees_private
# A real nix-daemon (the sandbox's Nix, as root), before any container
# starts: a container gets its socket only when the service binds it.
nix_daemon_up() {
    local -a setenv=()
    mapfile -t setenv < <(sed 's/^/--setenv=/' "$DIR/nix-environment")
    in_sb systemd-run --quiet --unit=nix-daemon.service "${setenv[@]}" /usr/bin/nix-daemon &&
        poll 10000 in_sb test -S /nix/var/nix/daemon-socket/socket
}
check "nix-daemon runs in the sandbox (/nix/var/nix/daemon-socket/socket)" nix_daemon_up

# ------------------------------------------------------------ scenario 1 ---
scenario "1  positive control: a delegated user's confined container"
check "tenant Create (private network from the pool, a listener on port 80, a read-only bind beneath $SHARED)" \
    tenant_call Create t1 "{'SystemPath': <'$LISTEN'>, 'PrivateNetwork': <true>, 'BindMounts': <[('/data', '$SHARED/web', true)]>}"
check "tenant Start" tenant_call Start t1
check "t1 running" state_is t1 running
# Confined means user-namespaced: root in the tenant's container is a uid
# nspawn picked, not the host's root (uid_map "0 BASE 65536", BASE far
# above 0), on the host's network and on a private one alike.
users_of() { # NAME MODE: its PrivateUsers property is MODE, and its leader's uid_map fits
    local mode leader map inside base count
    mode=$(in_sb busctl get-property "$BUS_NAME" "$(opath "$1")" "$CT_IF" PrivateUsers) || return 1
    leader=$(prop "$1" Leader) || return 1
    map=$(in_sb cat "/proc/$leader/uid_map") || return 1
    echo "$1: PrivateUsers $mode; the leader's uid_map: $map"
    read -r inside base count <<<"$map"
    if [[ $2 == pick ]]; then
        [[ $mode == 's "pick"' ]] && ((inside == 0 && base >= 65536 && count == 65536))
    else
        [[ $mode == 's "no"' ]] && ((inside == 0 && base == 0))
    fi
}
check "t1 (private network) runs in a user namespace nspawn picked (PrivateUsers pick)" users_of t1 pick
# nspawn joins a namespace made outside its user namespace not at all
# (EPERM): its unit starts it inside the one the service prepared.
in_pinned_namespace() { # NAME: the unit's NetworkNamespacePath is the pin, and the leader is in it
    local unit_path leader ns pin
    unit_path=$(in_sb systemctl show -P NetworkNamespacePath "nixos-container@$1.service") || return 1
    leader=$(prop "$1" Leader) || return 1
    ns=$(in_sb stat -L -c %i "/proc/$leader/ns/net") || return 1
    pin=$(in_sb stat -L -c %i "$DIR/runtime/netns/$1") || return 1
    echo "NetworkNamespacePath=$unit_path; the leader's namespace $ns, the pin's $pin"
    [[ $unit_path == "$DIR/runtime/netns/$1" && $ns == "$pin" ]]
}
check "t1's nspawn runs in the namespace pinned at runtime/netns/t1" in_pinned_namespace t1
listener_answers() { # NAME: the host reaches its listener on port 80 at its pool address
    local address answer
    address=$(prop "$1" LocalAddress) || return 1
    answer=$(in_sb busybox nc -w 3 "$address" 80 </dev/null) || { echo "nc $address 80 failed"; return 1; }
    echo "$address:80 answers: $answer"
    [[ $answer == "listener-answer $1 80" ]]
}
check "the host reaches t1's listener on port 80 (its root bound it from inside the user namespace)" listener_answers t1
check "tenant Create of t0 on the host's network (no PrivateUsers given)" tenant_call Create t0 "{'SystemPath': <'$OK'>}"
check "tenant Start t0" tenant_call Start t0
check "t0 runs in a user namespace nspawn picked (PrivateUsers pick)" users_of t0 pick
check "tenant Reload t0" tenant_call Reload t0
# The payload's switch-to-configuration logs who ran it. As the host's root
# it would be a way out: the container's root can mount over its own tree.
# The host uid is what tells the user namespace. NoNewPrivs 1 holds either
# way here, as the service's own unit sets NoNewPrivileges (measured: with
# the spawn's own prctl removed the line still says 1); it shows only that
# nothing cleared it.
reload_confined() { # NAME: the last Reload ran as its root, a host uid of its range, with no_new_privs
    local leader base line
    leader=$(prop "$1" Leader) || return 1
    base=$(in_sb awk '$1 == 0 {print $2}' "/proc/$leader/uid_map") || return 1
    line=$(grep '^switch-to-configuration ran as ' "$(root_of "$1")/var/log/switch.log" | tail -n 1)
    echo "$1: uid 0 is host uid $base; $line"
    [[ $base =~ ^[1-9][0-9]*$ && $line == "switch-to-configuration ran as host uid $base, NoNewPrivs 1" ]]
}
check "... switch-to-configuration ran in t0's user namespace (uid 0 = its host uid), with no_new_privs" reload_confined t0
# Run as the tenant (nc-run passes the descriptors busctl cannot): uid 0 of
# the container's user namespace, with no_new_privs.
NC_RUN=$WORK/nc-run
check "nc-run builds" gcc -O2 -Wall -Werror -o "$NC_RUN" "$HERE/payload/nc-run.c" -lsystemd
run_confined() { # NAME: the tenant's Run of a shell reports uid 0's host uid and NoNewPrivs
    local leader base out printed
    leader=$(prop "$1" Leader) || return 1
    base=$(in_sb awk '$1 == 0 {print $2}' "/proc/$leader/uid_map") || return 1
    # shellcheck disable=SC2016 # expanded by the container's shell
    out=$(as_user "$U_TENANT" "$NC_RUN" --stdout-fd 3 "$1" "$OK/bin/sh" -c \
        'read -r i b c </proc/self/uid_map; while read -r k v; do [ "$k" = NoNewPrivs: ] && n=$v; done </proc/self/status; echo "uid 0 = $b, NoNewPrivs $n"' \
        </dev/null 3>"$WORK/run.out") || { echo "Run failed: $out"; return 1; }
    printed=$(cat "$WORK/run.out")
    echo "$1: reply $out, printed '$printed'; its uid 0 is host uid $base"
    [[ $out == "ii 0 0" && $printed == "uid 0 = $base, NoNewPrivs 1" && $base =~ ^[1-9][0-9]*$ ]]
}
check "tenant Run in t0: uid 0 of its user namespace, with no_new_privs" run_confined t0
check "tenant Run in t1 (private network: its namespace joined before its user namespace)" run_confined t1
# The nix-daemon socket. The daemon trusts uid 0, and a trusted client's
# settings (pre-build-hook...) run as root on the host. The daemon names each
# client it accepts, and whether it trusts it, in its log; a container's root
# is asked for from inside its user namespace (nsenter -U: uid 0 there), with
# the sandbox's nix-store.
socket_probe() { # NAME: 0 socket there, 1 absent, 2 cannot look (the probe must see /nix/store first)
    local leader
    leader=$(prop "$1" Leader) || return 2
    # The container's own view of its files: its leader's root.
    in_sb test -x "/proc/$leader/root/nix/store" || { echo "cannot look into $1"; return 2; }
    in_sb test -S "/proc/$leader/root/nix/var/nix/daemon-socket/socket"
}
socket_in() { socket_probe "$1"; }
socket_not_in() { local rc=0; socket_probe "$1" || rc=$?; ((rc == 1)) || { echo "probe of $1 gave $rc"; return 1; }; }
daemon_accepted() { in_sb journalctl -u nix-daemon.service -o cat --no-pager | grep '^accepted connection from pid '; }
# daemon_view PREFIX...: query the store through the daemon, run under
# PREFIX; prints the daemon's line for that connection.
daemon_view() {
    local before line deadline
    before=$(daemon_accepted | wc -l)
    in_sb "$@" env -i PATH=/usr/bin:/bin NIX_REMOTE=daemon HOME=/nonexistent nix-store -q --hash "$OK" || return 1
    deadline=$(($(now_ms) + 5000))
    until line=$(daemon_accepted | sed -n "$((before + 1))p") && [[ -n $line ]]; do
        (($(now_ms) < deadline)) || { echo "the daemon logged no connection"; return 1; }
        sleep 0.05
    done
    echo "$line"
}
trusted_as_sandbox_root() { # the positive control: the sandbox's root, trusted
    local line
    line=$(daemon_view env) || { echo "$line"; return 1; }
    echo "$line"
    [[ $line == *", user root (trusted)" ]]
}
untrusted_as_root_of() { # NAME: NAME's root reaches the daemon as its host uid, untrusted
    local leader line base user uid
    leader=$(prop "$1" Leader) || return 1
    base=$(in_sb awk '$1 == 0 {print $2}' "/proc/$leader/uid_map") || return 1
    line=$(daemon_view nsenter -t "$leader" -U) || { echo "$line"; return 1; }
    # The user's name, when NSS has one (nspawn registers vu-NAME-0), or uid.
    user=${line##*, user }
    uid=$(in_sb getent passwd "$user" | cut -d: -f3) || uid=$user
    echo "$line: $user is uid $uid; uid 0 of $1 is $base on the host"
    [[ $base =~ ^[1-9][0-9]*$ && $uid == "$base" && $line != *"(trusted)" ]]
}
check "nix-daemon trusts the sandbox's root (the probe can tell)" trusted_as_sandbox_root
check "t0 (user namespace) has the nix-daemon socket" socket_in t0
check "... and nix-daemon takes t0's root for its host uid, not trusted" untrusted_as_root_of t0
# A setuid file the container's root plants where the host sees it: in its
# profiles, an idmapped bind, so the host's uid 0 owns it. The service's
# 0700 tree is all that keeps the host's users out. The sandbox's own
# directory is closed to them too, so it is opened for the walk, and the
# control opens the service's tree once to show the file is then theirs.
setuid_unreachable() {
    local leader per_container probe out rc=0
    leader=$(prop t0 Leader) || return 1
    in_sb nsenter -t "$leader" -U -m -r -w -- "$OK/bin/sh" -c \
        "$OK/bin/cp $OK/bin/busybox /nix/var/nix/profiles/suid-probe && $OK/bin/chmod 4755 /nix/var/nix/profiles/suid-probe" ||
        { echo "t0's root could not plant it"; return 1; }
    per_container=$(in_sb realpath "$DIR/profiles") || return 1
    probe=$per_container/t0/suid-probe
    in_sb stat -c '%u %a %n' "$probe"
    [[ $(in_sb stat -c '%u %a' "$probe") == "0 4755" ]] || { echo "not a root-owned setuid file"; rc=1; }
    in_sb chmod 0711 "$DIR"
    as_user "$U_TENANT" test -x "$(dirname "$per_container")" || { echo "the walk is closed before $per_container"; rc=1; }
    in_sb chmod 0755 "$per_container"
    as_user "$U_TENANT" test -x "$probe" || { echo "control: not reachable even with $per_container open"; rc=1; }
    in_sb chmod 0700 "$per_container"
    if out=$(as_user "$U_TENANT" /usr/bin/env "$probe" 2>&1); then
        echo "it ran: $out"
        rc=1
    else
        echo "with $per_container 0700: $out"
        [[ $out == *"Permission denied"* ]] || rc=1
    fi
    in_sb chmod 0700 "$DIR"
    in_sb rm -f "$probe"
    return "$rc"
}
check "a root-owned setuid file t0's root planted in its profiles is out of the host users' reach" setuid_unreachable
check "t1 (private network, user namespace) has the nix-daemon socket" socket_in t1
check "... and nix-daemon takes t1's root for its host uid, not trusted" untrusted_as_root_of t1
check "tenant Update of t0 to PrivateUsers no -> host-access, unchanged" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" \
    "$HOST_ACCESS (update 't0' with PrivateUsers)" "$U_TENANT" -- Update t0 "{'PrivateUsers': <'no'>}"
check "tenant Create with PrivateUsers identity -> host-access" refused t2 PrivateUsers "{'SystemPath': <'$OK'>, 'PrivateUsers': <'identity'>}"
check "tenant Destroy t0" tenant_call Destroy t0
check "tenant Reload" tenant_call Reload t1
check "... in t1's user namespace, with no_new_privs (its namespaces joined: net before user)" reload_confined t1
check "tenant Update of a confined key (AutoStart)" tenant_call Update t1 "{'AutoStart': <true>}"
check "tenant Stop" tenant_call Stop t1

# ------------------------------------------------------------ scenario 2 ---
scenario "2  every host-reaching spec needs host access"
check "a writable bind of / -> host-access (BindMounts)" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'BindMounts': <[('/host', '/', false)]>}"
check "a read-only bind outside the confined roots -> host-access" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'BindMounts': <[('/etc-host', '/etc', true)]>}"
ln -s /etc "$SHARED/escape"
check "a read-only bind of a link beneath a confined root that points out -> host-access" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'BindMounts': <[('/x', '$SHARED/escape', true)]>}"
check "AdditionalCapabilities CAP_SYS_MODULE -> host-access" refused t2 AdditionalCapabilities "{'SystemPath': <'$OK'>, 'AdditionalCapabilities': <['CAP_SYS_MODULE']>}"
check "AllowedDevices /dev/sda rwm -> host-access" refused t2 AllowedDevices "{'SystemPath': <'$OK'>, 'AllowedDevices': <[('/dev/sda', 'rwm')]>}"
# A tun device needs CAP_NET_ADMIN over the network namespace, which a
# user-namespaced root lacks: EnableTun needs PrivateUsers no.
check "EnableTun in a user namespace -> InvalidArgument, nothing left" \
    invalid t2 "PrivateUsers 'pick' with EnableTun is not supported" "{'SystemPath': <'$OK'>, 'EnableTun': <true>}"
check "EnableTun with PrivateUsers no -> host-access (EnableTun,PrivateUsers)" refused t2 EnableTun,PrivateUsers "{'SystemPath': <'$OK'>, 'EnableTun': <true>, 'PrivateUsers': <'no'>}"
check "AdditionalCapabilities all -> host-access" refused t2 AdditionalCapabilities "{'SystemPath': <'$OK'>, 'AdditionalCapabilities': <['all']>}"
check "a host interface moved in -> host-access (Interfaces)" refused t2 Interfaces "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'Interfaces': <['eth9']>}"
check "a macvlan on a host interface -> host-access (Macvlans)" refused t2 Macvlans "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'Macvlans': <['eth9']>}"
check "a host bridge -> host-access (HostBridge)" refused t2 HostBridge "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'HostBridge': <'br9'>}"
check "an extra veth -> host-access (ExtraVeths)" refused t2 ExtraVeths "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'ExtraVeths': <{'x0': {'HostBridge': 'br9'}}>}"
# Each ExtraFlags option asks as the key that gives the same (issue 25), so
# a rule granting host access by key cannot be stepped around.
check "ExtraFlags --bind=/:/host:rbind -> host-access (BindMounts)" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--bind=/:/host:rbind']>}"
check "ExtraFlags --load-credential=x:/etc/shadow -> host-access (BindMounts)" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--load-credential=x:/etc/shadow']>}"
check "ExtraFlags --overlay=/etc:/tmp:/etc -> host-access (BindMounts)" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--overlay=/etc:/tmp:/etc']>}"
check "ExtraFlags --bind-user=root -> host-access (BindMounts)" refused t2 BindMounts "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--bind-user=root']>}"
check "ExtraFlags --oom-score-adjust=-1000 -> host-access (ExtraFlags)" refused t2 ExtraFlags "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--oom-score-adjust=-1000']>}"
check "ExtraFlags --resolv-conf=bind-host -> host-access (ExtraFlags)" refused t2 ExtraFlags "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--resolv-conf=bind-host']>}"
check "ConfigFile /etc/shadow (evaluated as root) -> host-access" refused t2 ConfigFile "{'ConfigFile': <'/etc/shadow'>}"
check "ExtraFlags --capability=all -> host-access (AdditionalCapabilities)" refused t2 AdditionalCapabilities "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--capability=all']>}"
confined_flags() { # options that keep the container confined ask for nothing
    tenant_call Create t2 "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--hostname=t2', '--setenv=MARK=1', '--oom-score-adjust=500']>}" >/dev/null || return 1
    tenant_call Destroy t2 >/dev/null
}
check "ExtraFlags --hostname, --setenv, --oom-score-adjust=500: created without host access" confined_flags
check "an address outside the pool -> host-access (HostAddress,LocalAddress)" refused t2 HostAddress,LocalAddress "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'HostAddress': <'192.168.77.1'>, 'LocalAddress': <'192.168.77.2'>}"
# nspawn forwards ports only from outside a user namespace: a forward
# needs PrivateUsers "no", the container's root the host's.
check "ForwardPorts from a private network without PrivateUsers -> InvalidArgument, nothing left" \
    invalid t2 "PrivateUsers 'pick' with ForwardPorts is not supported" "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'ForwardPorts': <[('tcp', uint16 8080, uint16 80)]>}"
check "ForwardPorts with PrivateUsers no -> host-access (PrivateUsers)" refused t2 PrivateUsers "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'PrivateUsers': <'no'>, 'ForwardPorts': <[('tcp', uint16 8080, uint16 80)]>}"
check "a pool address with a prefix (10.233.9.1/1 routes half of IPv4) -> host-access (HostAddress)" refused t2 HostAddress "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'HostAddress': <'10.233.9.1/1'>, 'LocalAddress': <'10.233.9.2'>}"
steal_address() { # t1's pool address, for a container of the tenant's: InvalidArgument, nothing left
    local taken
    taken=$(prop t1 LocalAddress) || return 1
    invalid t2 "LocalAddress $taken is already the LocalAddress of container 't1'" \
        "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'HostAddress': <'10.233.250.1'>, 'LocalAddress': <'$taken'>}"
}
check "another container's pool address -> InvalidArgument naming it, nothing left" steal_address
check "host port 22 -> host-access (ForwardPorts,PrivateUsers)" refused t2 ForwardPorts,PrivateUsers "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'PrivateUsers': <'no'>, 'ForwardPorts': <[('tcp', uint16 22, uint16 22)]>}"
check "a build as root (Config) -> host-access" refused t2 Config "{'Config': <'{ }'>}"
check "several at once are named together" refused t2 BindMounts,AdditionalCapabilities "{'SystemPath': <'$OK'>, 'BindMounts': <[('/host', '/', false)]>, 'AdditionalCapabilities': <['CAP_SYS_MODULE']>}"
update_refused() {
    expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "$HOST_ACCESS (update 't1' with BindMounts)" \
        "$U_TENANT" -- Update t1 "{'BindMounts': <[('/host', '/', false)]>}" || return 1
    local binds
    binds=$(in_sb busctl get-property "$BUS_NAME" "$(opath t1)" "$CT_IF" BindMounts) || return 1
    echo "t1's BindMounts after the refused Update: $binds"
    [[ $binds == 'a(ssb) 1 "/data" "'"$SHARED"'/web" true' ]] && ! has -F 'host' "$DIR/etc-containers/t1.conf"
}
check "an Update adding a host bind to the tenant's container -> host-access, nothing changed" update_refused

# ------------------------------------------------------------ scenario 3 ---
scenario "3  ownership: a delegated user manages what it created, nothing else"
check "t1's conf records its creator (OWNER_UID=$U_TENANT)" grep -qx "OWNER_UID=$U_TENANT" "$DIR/etc-containers/t1.conf"
owner_is() { [[ $(in_sb busctl get-property "$BUS_NAME" "$(opath "$1")" "$CT_IF" Owner) == "u $2" ]]; }
check "t1's Owner property is $U_TENANT" owner_is t1 "$U_TENANT"
# The owner rule does not answer for another member: the action's default
# (auth_admin) does, and nothing changes.
other_refused() {
    local verb=$1 method=$2
    shift 2
    expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "($verb 't1')" "$U_TENANT2" -- "$method" t1 "$@" || return 1
}
check "nc-tenant2 cannot Start nc-tenant's t1" other_refused start Start
check "nc-tenant2 cannot Update t1" other_refused update Update "{'AutoStart': <false>}"
check "nc-tenant2 cannot Destroy t1" other_refused destroy Destroy
check "t1 is still there, stopped, AutoStart still set" sh -c "test -e '$DIR/etc-containers/t1.conf' && grep -qx 'AUTO_START=1' '$DIR/etc-containers/t1.conf'"
check "root creates r0 (owned by root)" mgr Create 'sa{sv}' r0 1 SystemPath s "$OK"
check "r0's Owner property is 0" owner_is r0 0
check "nc-tenant cannot Start root's r0" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "(start 'r0')" "$U_TENANT" -- Start r0
check "nc-tenant cannot Update root's r0" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "(update 'r0')" "$U_TENANT" -- Update r0 "{'AutoStart': <true>}"
check "nc-tenant cannot Destroy root's r0" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "(destroy 'r0')" "$U_TENANT" -- Destroy r0
check "nc-tenant2 creates its own t2" tenant2_call Create t2 "{'SystemPath': <'$OK'>}"
check "nc-tenant2 starts t2" tenant2_call Start t2
check "nc-tenant cannot Stop nc-tenant2's t2" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "(stop 't2')" "$U_TENANT" -- Stop t2
check "t2 still running" state_is t2 running
# NIXOS_CONTAINERS_MAX_PER_USER=8 in the sandbox: t1 and seven more.
fill_to_cap() {
    local i
    for i in 3 4 5 6 7 8 9; do tenant_call Create "c$i" "{'SystemPath': <'$OK'>}" >/dev/null || return 1; done
    expect_error "$ERR.LimitsExceeded" "uid $U_TENANT owns 8 containers" "$U_TENANT" -- Create c10 "{'SystemPath': <'$OK'>}" || return 1
    [[ ! -e $DIR/etc-containers/c10.conf ]] || { echo "c10 left a conf"; return 1; }
    for i in 3 4 5 6 7 8 9; do tenant_call Destroy "c$i" >/dev/null || return 1; done
}
check "the ninth Create of one user is refused with LimitsExceeded, nothing left" fill_to_cap
check "root is not capped, and stops and destroys anyone's (t2, r0)" sh -c "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s t2 && $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s r0"

# ------------------------------------------------------------ scenario 4 ---
scenario "4  root, and a user granted host access, still can"
check "root creates with a writable bind" mgr Create 'sa{sv}' r1 2 SystemPath s "$OK" BindMounts 'a(ssb)' 1 /host "$SHARED" false
granted() {
    as_user "$U_ALLOWED" gdbus call --system --timeout 60 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.Create" a1 \
        "{'SystemPath': <'$OK'>, 'EnableTun': <true>, 'PrivateUsers': <'no'>, 'BindMounts': <[('/host', '$SHARED', false)]>}"
}
check "nc-allowed (granted host access) creates with tun and a writable bind" granted
check "tenant Destroy of its container" tenant_call Destroy t1
check "root Destroy r1, a1" sh -c "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s r1 && $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s a1"
# ----------------------------------------------------------- scenario 4b ---
scenario "4b a confined bind is what was checked, when nspawn mounts it"
# Issue 25: a tenant who can write beneath a confined root makes a checked
# directory a link to / between Create and Start. (The swap is done as root
# here: what matters is what the service hands nspawn, not who renamed.)
MINE=$SHARED/mine
mkdir -p "$MINE/d" && echo tenant-data >"$MINE/d/marker"
check "tenant Create t3 with a read-only bind of $MINE/d" \
    tenant_call Create t3 "{'SystemPath': <'$OK'>, 'BindMounts': <[('/mnt', '$MINE/d', true)]>}"
mv "$MINE/d" "$MINE/d.checked" && ln -s / "$MINE/d"
swapped_start_refused() {
    expect_error "$ERR.StartFailed" "BindMounts host path '$MINE/d' is reached through the link $MINE/d beneath the confined root" \
        "$U_TENANT" -- Start t3 || return 1
    state_is t3 stopped || return 1
    [[ ! -e $DIR/runtime/binds/t3 ]] || { echo "pins left in runtime/binds/t3"; return 1; }
}
check "Start after d became a link to /: StartFailed naming the link, stopped, no pin left" swapped_start_refused
rm "$MINE/d" && mv "$MINE/d.checked" "$MINE/d"
check "tenant Start t3 with d a directory again" tenant_call Start t3
sees_marker() { # what t3's root sees at /mnt: the checked directory
    local leader
    leader=$(prop t3 Leader) || return 1
    [[ $(in_sb cat "/proc/$leader/root/mnt/marker") == tenant-data ]] || return 1
    [[ ! -e /proc/$leader/root/mnt/etc/passwd ]] || { echo "the host's / is visible at /mnt"; return 1; }
}
check "t3 sees the checked directory at /mnt" sees_marker
pinned_in_runtime() { in_sb findmnt -n "$DIR/runtime/binds/t3/0" >/dev/null; }
check "... through the service's pin at runtime/binds/t3/0" pinned_in_runtime
mv "$MINE/d" "$MINE/d.checked" && ln -s / "$MINE/d"
check "d swapped for a link to / while t3 runs: t3 still sees the checked directory" sees_marker
rm "$MINE/d" && mv "$MINE/d.checked" "$MINE/d"
pins_gone() { tenant_call Stop t3 >/dev/null && [[ ! -e $DIR/runtime/binds/t3 ]] && ! in_sb findmnt -n "$DIR/runtime/binds/t3/0" >/dev/null; }
check "tenant Stop t3: its pins are unmounted and removed" pins_gone
check "tenant Destroy t3" tenant_call Destroy t3
confined_link_refused() { # a link beneath the root is never confined, even one that stays inside
    ln -s d "$MINE/inside"
    refused t3 BindMounts "{'SystemPath': <'$OK'>, 'BindMounts': <[('/mnt', '$MINE/inside', true)]>}"
}
check "a read-only bind through a link beneath a confined root that stays inside -> host-access" confined_link_refused
# Issue 25: a tenant's container gets the admin's tenant limits (defaults:
# TasksMax 4096, MemoryMax 4G) when its spec says none, on its real unit,
# and cannot raise them without host access.
tenant_limits_applied() {
    local tasks memory unit
    tenant_call Create t4 "{'SystemPath': <'$OK'>}" >/dev/null || return 1
    tasks=$(prop t4 TasksMax) && memory=$(prop t4 MemoryMax) || return 1
    [[ $tasks == 4096 && $memory == 4G ]] || { echo "TasksMax '$tasks', MemoryMax '$memory'"; return 1; }
    tenant_call Start t4 >/dev/null || return 1
    unit=$(in_sb systemctl show -P TasksMax -P MemoryMax nixos-container@t4.service | tr '\n' ' ') || return 1
    echo "unit: $unit"
    [[ $unit == "4096 4294967296 " || $unit == "4294967296 4096 " ]] || return 1
    tenant_call Destroy t4 >/dev/null
}
check "a tenant's container without limits gets TasksMax 4096 and MemoryMax 4G, on its unit" tenant_limits_applied
check "TasksMax infinity -> host-access (TasksMax)" refused t4 TasksMax "{'SystemPath': <'$OK'>, 'TasksMax': <'infinity'>}"
check "MemoryMax 8G -> host-access (MemoryMax)" refused t4 MemoryMax "{'SystemPath': <'$OK'>, 'MemoryMax': <'8G'>}"

# ------------------------------------------------------------ scenario 5 ---
scenario "5  a machine this service did not start is left alone"
# foreign NAME UNIT: a machine NAME registered with machined by its own
# service UNIT (as another nspawn or a VM manager would), led by a sleep.
foreign() {
    local name=$1 unit=$2 pid
    in_sb systemd-run --quiet --unit="$unit" sleep 600 || return 1
    pid=$(in_sb systemctl show -P MainPID "$unit") || return 1
    in_sb busctl call org.freedesktop.machine1 /org/freedesktop/machine1 "$M1_IF" RegisterMachine sayssus \
        "$name" 0 foreign container "$pid" /
}
# still_foreign NAME UNIT: machined still has NAME, in UNIT.
still_foreign() {
    local path unit
    path=$(in_sb busctl call org.freedesktop.machine1 /org/freedesktop/machine1 "$M1_IF" GetMachine s "$1" | cut -d'"' -f2) || return 1
    unit=$(in_sb busctl get-property org.freedesktop.machine1 "$path" org.freedesktop.machine1.Machine Unit) || return 1
    echo "machine $1: $unit"
    [[ $unit == "s \"$2\"" ]]
}
create_refused() {
    expect_error "$ERR.AlreadyExists" "that this service did not start runs (unit 'foreign-b.service')" \
        -- Create fw2 "{'SystemPath': <'$OK'>}" || return 1
    [[ ! -e $DIR/etc-containers/fw2.conf ]] || { echo "fw2 left a conf"; return 1; }
}
foreign_cleanup() {
    in_sb systemctl stop foreign-a.service foreign-b.service && mgr Destroy s fw
}
check "root creates fw (the name is free)" mgr Create 'sa{sv}' fw 1 SystemPath s "$OK"
check "machine fw registered by foreign-a.service" foreign fw foreign-a.service
check "machine fw2 registered by foreign-b.service" foreign fw2 foreign-b.service
check "Create of fw2 -> AlreadyExists naming foreign-b.service, nothing left" create_refused
check "Start of fw -> StartFailed naming foreign-a.service" expect_error "$ERR.StartFailed" "did not start runs (unit 'foreign-a.service')" -- Start fw
check "machine fw still runs in foreign-a.service" still_foreign fw foreign-a.service
check "Terminate of fw answers" mgr Terminate s fw
check "machine fw still runs in foreign-a.service after the Terminate" still_foreign fw foreign-a.service
check "fw is stopped" state_is fw stopped
check "cleanup: the foreign units stop, root destroys fw" foreign_cleanup

# ------------------------------------------------------------ scenario 6 ---
scenario "6  entering a container without a user namespace is host access"
# A rule as an admin might write it: nc-tenant may run commands, shells and
# logins in, and manage, two of root's containers. Host access stays with
# its default. polkitd reloads its rules when the directory changes.
ENTER_RULE=$DIR/polkit/etc-rules.d/20-nixos-containers-tenant-enters.rules
cat >"$ENTER_RULE" <<'EOF'
// tenant_test.sh scenario 6: nc-tenant enters two of root's containers.
polkit.addRule(function(action, subject) {
    var allowed = ["org.nixos.containers.run", "org.nixos.containers.shell",
                   "org.nixos.containers.login", "org.nixos.containers.manage"];
    var container = action.lookup("container");
    if (subject.user === "nc-tenant" && allowed.indexOf(action.id) >= 0 &&
        (container === "rhost" || container === "rns"))
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
EOF
chmod 0644 "$ENTER_RULE"
check "root creates rhost (PrivateUsers no, root's default) and rns (PrivateUsers pick)" sh -c \
    "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Create 'sa{sv}' rhost 1 SystemPath s '$OK' &&
     $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Create 'sa{sv}' rns 2 SystemPath s '$OK' PrivateUsers s pick"
check "root starts both" sh -c "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Start s rhost &&
     $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Start s rns"
check "rhost runs without a user namespace (PrivateUsers no)" users_of rhost no
check "rns runs in a user namespace nspawn picked (PrivateUsers pick)" users_of rns pick
# tenant_runs NAME: the tenant's Run of a shell prints uid 0's host uid.
tenant_runs() {
    local out printed
    # shellcheck disable=SC2016 # expanded by the container's shell
    out=$(as_user "$U_TENANT" "$NC_RUN" --no-interactive --stdout-fd 3 "$1" "$OK/bin/sh" -c \
        'read -r i b c </proc/self/uid_map; echo "uid 0 = $b"' </dev/null 3>"$WORK/enter.out" 2>&1) || { echo "Run failed: $out"; return 1; }
    printed=$(cat "$WORK/enter.out")
    echo "$1: reply $out, printed '$printed'"
    [[ $out == "ii 0 0" && $printed =~ ^"uid 0 = "[1-9][0-9]*$ ]]
}
check "the rule is loaded: the tenant's Run in rns runs, as a uid of rns's user namespace" poll 10000 tenant_runs rns
root_runs_as_host_root() {
    local out printed
    out=$(in_sb "$NC_RUN" --stdout-fd 3 rhost "$OK/bin/cat" /proc/self/uid_map </dev/null 3>"$WORK/enter.out" 2>&1) ||
        { echo "Run failed: $out"; return 1; }
    printed=$(cat "$WORK/enter.out")
    echo "root's Run in rhost: uid_map '$printed'"
    read -r -a map <<<"$printed"
    [[ ${map[0]} == 0 && ${map[1]} == 0 && ${map[2]} == 4294967295 ]]
}
check "control: a Run in rhost is the host's root (uid_map 0 0 4294967295)" root_runs_as_host_root
tenant_run_refused() {
    local out rc=0
    out=$(as_user "$U_TENANT" "$NC_RUN" --no-interactive "$1" "$OK/bin/id" </dev/null 2>&1) || rc=$?
    echo "rc $rc: $out"
    ((rc != 0)) && [[ $out == *"ERROR $DBUS_ERR.InteractiveAuthorizationRequired: "*"$HOST_ACCESS (run '$1' with PrivateUsers)"* ]]
}
check "the tenant's Run in rhost -> host-access (PrivateUsers)" tenant_run_refused rhost
check "the tenant's OpenShell in rhost -> host-access (PrivateUsers)" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" \
    "$HOST_ACCESS (shell 'rhost' with PrivateUsers)" "$U_TENANT" -- OpenShell rhost '' "$OK/bin/sh" '[]' '[]'
check "the tenant's OpenLogin in rhost -> host-access (PrivateUsers)" expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" \
    "$HOST_ACCESS (login 'rhost' with PrivateUsers)" "$U_TENANT" -- OpenLogin rhost
switch_runs() { grep -c '^switch-to-configuration ran' "$(root_of "$1")/var/log/switch.log" 2>/dev/null || true; }
reload_refused() {
    local before after
    before=$(switch_runs rhost)
    expect_error "$DBUS_ERR.InteractiveAuthorizationRequired" "$HOST_ACCESS (reload 'rhost' with PrivateUsers)" \
        "$U_TENANT" -- Reload rhost || return 1
    after=$(switch_runs rhost)
    echo "switch-to-configuration runs in rhost: ${before:-0} before, ${after:-0} after"
    [[ ${before:-0} == "${after:-0}" ]]
}
check "the tenant's Reload of rhost -> host-access (PrivateUsers), switch-to-configuration not run" reload_refused
# Past polkit, a payload without systemd has no bus for machined's terminal.
check "the tenant's OpenLogin in rns passes polkit (NoSystemBus: the payload has no systemd)" \
    expect_error "$ERR.NoSystemBus" "" "$U_TENANT" -- OpenLogin rns
check "the tenant's Reload of rns" tenant_call Reload rns
check "... ran in rns's user namespace" reload_confined rns
check "the tenant stops rhost (manage does not enter)" tenant_call Stop rhost
rm -f "$ENTER_RULE"
check "cleanup: root destroys rhost and rns" sh -c "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s rhost &&
     $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s rns"

# ------------------------------------------------------------ scenario 7 ---
scenario "7  Run slots: per user, never root's (issue 25, item 7)"
# Low bounds for this scenario: two commands per user, three of users in all.
RUN_BOUNDS=$DIR/units/nixos-containers.service.d/zz-run-bounds.conf
BOUNDED_VARS+=(RUN_BOUNDS)
bounds_env() { # on|off: the service restarted with or without the low bounds
    if [[ $1 == on ]]; then
        printf '[Service]\nEnvironment=NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2\nEnvironment=NIXOS_CONTAINERS_MAX_RUNS=3\n' >"$RUN_BOUNDS"
    else
        rm -f "$RUN_BOUNDS"
    fi
    in_sb systemctl daemon-reload && in_sb systemctl restart nixos-containers.service && poll 10000 service_answers
}
check "the service restarted with NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2, NIXOS_CONTAINERS_MAX_RUNS=3" bounds_env on
own_up() { # METHOD-CALLER NAME: create and start NAME as that caller
    "$1" Create "$2" "{'SystemPath': <'$OK'>}" && "$1" Start "$2"
}
check "nc-tenant creates and starts t7" own_up tenant_call t7
check "nc-tenant2 creates and starts t8" own_up tenant2_call t8
check "root creates and starts r7" sh -c "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Create 'sa{sv}' r7 1 SystemPath s '$OK' >/dev/null &&
     $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Start s r7"
# sleepers N: N of the payload's "sleep 8" run in the sandbox (pgrep: 1 = none).
sleepers() {
    local n rc=0
    n=$(in_sb pgrep -c -f "^$OK/bin/sleep 8\$") || rc=$?
    ((rc <= 1)) || return 1
    echo "${n:-0} sleeping; the Runs' clients said:"
    cat "$WORK"/sleeper-*.out 2>/dev/null
    [[ ${n:-0} == "$1" ]]
}
SLEEPERS=()
for i in 1 2; do
    as_user "$U_TENANT" "$NC_RUN" --no-interactive t7 "$OK/bin/sleep" 8 </dev/null >"$WORK/sleeper-$i.out" 2>&1 &
    SLEEPERS+=($!)
done
check "nc-tenant holds two Runs (sleep 8 in t7)" poll 10000 sleepers 2
# run_answer UID NAME: the reply or error of a Run of true in NAME as UID.
run_answer() {
    if (($1 == 0)); then
        in_sb "$NC_RUN" "$2" "$OK/bin/true" </dev/null 2>&1
    else
        as_user "$1" "$NC_RUN" --no-interactive "$2" "$OK/bin/true" </dev/null 2>&1
    fi
}
run_limited() { # UID NAME MESSAGE: the Run is refused with LimitsExceeded and MESSAGE
    local out
    out=$(run_answer "$1" "$2") && { echo "it ran: $out"; return 1; }
    echo "$out"
    [[ $out == *"ERROR $ERR.LimitsExceeded: "*"$3"* ]]
}
run_runs() { # UID NAME: the Run of true answers "ii 0 0"
    local out
    out=$(run_answer "$1" "$2") || { echo "refused: $out"; return 1; }
    echo "$out"
    [[ $out == "ii 0 0" ]]
}
check "nc-tenant's third Run -> LimitsExceeded (its bound, 2)" run_limited "$U_TENANT" t7 "uid $U_TENANT has 2 commands running"
check "nc-tenant2's Run in t8 still runs (the bound is per user)" run_runs "$U_TENANT2" t8
as_user "$U_TENANT2" "$NC_RUN" --no-interactive t8 "$OK/bin/sleep" 8 </dev/null >"$WORK/sleeper-3.out" 2>&1 &
SLEEPERS+=($!)
check "nc-tenant2 holds a Run: three of users' in all" poll 10000 sleepers 3
check "nc-tenant2's second Run -> LimitsExceeded (three in all)" run_limited "$U_TENANT2" t8 "3 commands are running"
check "root's Run in r7 runs all the same" run_runs 0 r7
check "root's Run in nc-tenant's t7 too" run_runs 0 t7
wait "${SLEEPERS[@]}"
check "the sleeps ended; nc-tenant runs again" run_runs "$U_TENANT" t7
check "the service restarted without the low bounds" bounds_env off
check "cleanup: t7, t8, r7 destroyed" sh -c "for c in t7 t8 r7; do $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s \$c || exit 1; done"
exit 0
