# down.sh: `sandbox.sh down` and `check-host`. Sourced by sandbox.sh.
# shellcheck shell=bash

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
