# apt.sh: apt-get that waits for apt's locks. Sourced by scripts/demo.sh,
# scripts/install-deps.sh and sandbox.sh.
# shellcheck shell=bash
#
# On a fresh Debian machine unattended-upgrades (or apt-daily) holds apt's
# locks for minutes after boot, and a plain apt-get fails at once.
# -o DPkg::Lock::Timeout makes apt-get install wait for dpkg's lock, but
# apt-get update ignores it for the lists lock (apt 2.6, Debian 12: it fails
# at once), and the wait it prints is easy to miss: so wait here, with a
# message, for every lock apt takes, then let apt wait too for the race.

APT_LOCK_WAIT_S=${APT_LOCK_WAIT_S:-600}
APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)

# "PID (COMMAND)" of a process holding one of apt's locks, or nothing. apt's
# locks are fcntl locks: /proc/locks lists them by MAJOR:MINOR:INODE.
apt_lock_holder() {
    local lock dev ino major minor key pid
    for lock in "${APT_LOCKS[@]}"; do
        [[ -e $lock ]] || continue
        read -r dev ino < <(stat -c '%d %i' "$lock")
        major=$((((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff)))
        minor=$(((dev & 0xff) | ((dev >> 12) & ~0xff)))
        key=$(printf '%02x:%02x:%s' "$major" "$minor" "$ino")
        # Lines of waiters ("1: -> POSIX ...") are not holders.
        pid=$(awk -v key="$key" '$2 != "->" && $6 == key { print $5; exit }' /proc/locks)
        if [[ -n $pid ]]; then
            echo "$pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?'))"
            return 0
        fi
    done
}

# Wait until no process holds apt's locks; false after APT_LOCK_WAIT_S.
apt_wait_for_locks() {
    local deadline=$((SECONDS + APT_LOCK_WAIT_S)) holder said=
    while holder=$(apt_lock_holder) && [[ -n $holder ]]; do
        if [[ $holder != "$said" ]]; then
            echo "apt: waiting for apt's lock, held by process $holder" \
                "(on a fresh machine: unattended-upgrades; up to $((deadline - SECONDS)) s more)" >&2
            said=$holder
        fi
        if ((SECONDS >= deadline)); then
            echo "apt: apt's lock is still held by process $holder after ${APT_LOCK_WAIT_S} s" >&2
            return 1
        fi
        sleep 2
    done
    [[ -z $said ]] || echo "apt: the lock is free" >&2
    return 0
}

# apt_get ARGS...: apt-get ARGS, once apt's locks are free. Should another apt
# take a lock between the wait and apt-get (apt-get then fails at once with
# "Could not get lock"), it waits again, within the same overall time.
apt_get() {
    local deadline=$((SECONDS + APT_LOCK_WAIT_S)) err rc
    err=$(mktemp)
    while :; do
        APT_LOCK_WAIT_S=$((deadline - SECONDS)) apt_wait_for_locks || { rm -f "$err"; return 1; }
        # apt-get's stderr goes through tee so that it is both shown and read
        # ("|| true": the callers' set -e must not end them here).
        rc=0
        {
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$((deadline - SECONDS)) "$@" 2>&1 1>&3 |
                tee "$err" >&2
            rc=${PIPESTATUS[0]}
        } 3>&1 || true
        if ((rc == 0)) || ! grep -q 'Could not get lock' "$err" || ((SECONDS >= deadline)); then
            rm -f "$err"
            return "$rc"
        fi
    done
}
