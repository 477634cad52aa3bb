#!/usr/bin/env bash
# tenant_test.sh — delegation's two tiers (issue 10, its first part) against
# the real service, polkitd and nspawn. nc-tenant is delegated as an admin
# would ("may do every org.nixos.containers.* action"), with host access
# left to its auth_admin default.
#
# Scenarios:
#   1  positive control: the tenant creates, starts, reloads, stops and
#      destroys a confined container (pool addresses, a high port, a
#      read-only bind beneath NIXOS_CONTAINERS_CONFINED_BIND_ROOTS)
#   2  each host-reaching spec is refused with InteractiveAuthorizationRequired
#      naming org.nixos.containers.host-access and the keys, and leaves no
#      conf, no root, no object: writable and out-of-list binds,
#      capabilities, devices, tun, ExtraFlags, addresses outside the pool,
#      host port 22, a build as root (Config); an Update that adds a host
#      bind to the tenant's own container changes nothing
#   3  root and a user granted host access (nc-allowed) still can
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
BOUNDED_VARS+=(OK SHARED HOST_ACCESS)
HOST_ACCESS=org.nixos.containers.host-access

# tenant_call METHOD GVARIANT_ARGS...: as nc-tenant, through gdbus.
tenant_call() {
    local method=$1
    shift
    as_user "$U_TENANT" gdbus call --system --timeout 60 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.$method" "$@"
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

# ------------------------------------------------------------------- up ---
scenario "0  sandbox up, payload"
SHARED=$DIR/shared # NIXOS_CONTAINERS_CONFINED_BIND_ROOTS in the sandbox
sandbox_up
mkdir -p "$SHARED/web"
OK=$("$MAKE_SYSTEM" "$DIR/store" sysok ok) || { fail "make-system"; exit 1; }
check "the service is on the bus" in_sb busctl --system status "$BUS_NAME"
trees_private() {
    local tree mode
    for tree in state runtime profiles gcroots; do
        mode=$(stat -c %a "$DIR/$tree") || return 1
        echo "$tree: $mode"
        [[ $mode == 700 ]] || return 1
    done
}
check "the trees a container can plant in are 0700 (the sandbox made them 0755)" trees_private

# ------------------------------------------------------------ scenario 1 ---
scenario "1  positive control: a delegated user's confined container"
check "tenant Create (private network from the pool, port 8080, a read-only bind beneath $SHARED)" \
    tenant_call Create t1 "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'ForwardPorts': <[('tcp', uint16 8080, uint16 80)]>, 'BindMounts': <[('/data', '$SHARED/web', true)]>}"
check "tenant Start" tenant_call Start t1
check "t1 running" state_is t1 running
check "tenant Reload" tenant_call Reload t1
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
check "EnableTun -> host-access" refused t2 EnableTun "{'SystemPath': <'$OK'>, 'EnableTun': <true>}"
check "ExtraFlags --capability=all -> host-access" refused t2 ExtraFlags "{'SystemPath': <'$OK'>, 'ExtraFlags': <['--capability=all']>}"
check "an address outside the pool -> host-access (HostAddress,LocalAddress)" refused t2 HostAddress,LocalAddress "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'HostAddress': <'192.168.77.1'>, 'LocalAddress': <'192.168.77.2'>}"
check "host port 22 -> host-access (ForwardPorts)" refused t2 ForwardPorts "{'SystemPath': <'$OK'>, 'PrivateNetwork': <true>, 'ForwardPorts': <[('tcp', uint16 22, uint16 22)]>}"
check "a build as root (Config) -> host-access" refused t2 Config "{'Config': <'{ }'>}"
check "several at once are named together" refused t2 BindMounts,EnableTun "{'SystemPath': <'$OK'>, 'BindMounts': <[('/host', '/', false)]>, 'EnableTun': <true>}"
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
scenario "3  root, and a user granted host access, still can"
check "root creates with a writable bind" mgr Create 'sa{sv}' r1 2 SystemPath s "$OK" BindMounts 'a(ssb)' 1 /host "$SHARED" false
granted() {
    as_user "$U_ALLOWED" gdbus call --system --timeout 60 -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.Create" a1 \
        "{'SystemPath': <'$OK'>, 'EnableTun': <true>, 'BindMounts': <[('/host', '$SHARED', false)]>}"
}
check "nc-allowed (granted host access) creates with tun and a writable bind" granted
check "tenant Destroy of its container" tenant_call Destroy t1
check "root Destroy r1, a1" sh -c "$SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s r1 && $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Destroy s a1"
exit 0
