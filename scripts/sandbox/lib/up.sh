# up.sh: `sandbox.sh up`, and how it waits and explains a failure. Sourced by
# sandbox.sh.
# shellcheck shell=bash

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
