# processes.sh: the sandbox's processes, directories and cgroups, and how to
# run a command inside it. Sourced by sandbox.sh, never run.
# shellcheck shell=bash

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
        apt_get update -qq
        apt_get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
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
