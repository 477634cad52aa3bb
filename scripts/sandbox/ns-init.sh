#!/usr/bin/env bash
# ns-init.sh DIR CGROUP CGMODE — the first process of the sandbox.
#
# sandbox.sh runs this as PID 1 of fresh PID, mount, network, UTS and IPC
# namespaces (unshare --mount-proc gave it its own /proc). It shapes the
# private mount namespace so that systemd, run as PID 1 next, sees a small,
# safe world, then execs systemd. Every mount below happens in the private
# namespace only: the host's mount table never changes.
#   DIR     the sandbox's working directory (validated by sandbox.sh)
#   CGROUP  name of the cgroup2 directory sandbox.sh created for us
#   CGMODE  "hybrid" (cgroup2 at /sys/fs/cgroup/unified) or "unified"
set -euo pipefail
dir=$1 cg=$2 cgmode=$3
[[ $dir == /?* && -f $dir/.nixos-containers-sandbox ]] || { echo "ns-init: bad DIR '$dir'" >&2; exit 1; }
[[ $cg =~ ^ncsandbox-[0-9a-f]+$ ]] || { echo "ns-init: bad cgroup name '$cg'" >&2; exit 1; }

# A fresh /run first: systemd needs its own, and the steps below need a
# scratch directory that is not on the host's /run.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run

# cgroups. /sys/fs/cgroup on a hybrid host is a tmpfs whose superblock is
# shared with the host: systemd would remount it (read-only, for everyone) and
# mount cgroup v1 controllers the host never mounted, for the whole kernel.
# Show it only the host's cgroup2 hierarchy, at /sys/fs/cgroup itself, so it
# runs in pure unified mode (as on NixOS) and touches no v1 hierarchy.
if [[ $cgmode == hybrid ]]; then
    mkdir /run/cg-old
    mount --move /sys/fs/cgroup /run/cg-old
    mount --move /run/cg-old/unified /sys/fs/cgroup
    umount -R /run/cg-old
    rmdir /run/cg-old
fi
# Our own subtree (created by sandbox.sh): systemd makes init.scope,
# system.slice, machine.slice... below it, and teardown removes it all.
echo $$ >"/sys/fs/cgroup/$cg/cgroup.procs"

# /proc/sys is not namespaced, except net: keep the rest read-only.
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
# That overmount leaves no proc mount "fully visible", and the kernel then
# refuses a user namespace its own procfs: nspawn --private-users (the
# PrivateUsers key) could not start. A second, clean, read-write proc mount
# that nothing uses restores it (shared/notes/sandbox-recipes.md). Nothing
# may write through it: its /proc/sys is the host's.
mkdir -p /run/proc-visible
mount -t proc -o nosuid,nodev,noexec proc /run/proc-visible

# The system bus socket lives in a host directory, so that the host can
# reach the sandbox's bus at DIR/run-dbus/system_bus_socket.
mkdir -p /run/dbus
mount --bind "$dir/run-dbus" /run/dbus

# The sandbox's Nix: its store and database are DIR/nix (sandbox.sh made the
# mount point /nix on the host if it had none).
mount --bind "$dir/nix" /nix

# Nothing may write to the host's console.
mount --bind "$dir/console.log" /dev/console

# Test identities (nc-allowed, nc-denied, nc-challenged, nc-tenant, nc-tenant2):
# copies of the host's passwd and group with those users and the group
# "containers" added; the host's /etc is untouched.
mount --bind "$dir/etc/passwd" /etc/passwd
mount --bind "$dir/etc/group" /etc/group

# polkitd has no options for its directories: give it ours.
mount --bind "$dir/polkit/actions" /usr/share/polkit-1/actions
mount --bind "$dir/polkit/usr-rules.d" /usr/share/polkit-1/rules.d
mount --bind "$dir/polkit/etc-rules.d" /etc/polkit-1/rules.d

# journald: volatile storage (the host has /var/log/journal), no reading of
# the host's kernel log, no wall messages to the host's terminals.
mount --bind "$dir/etc/journald.conf" /etc/systemd/journald.conf

hostname ncsandbox

# Only our unit directory; no generators (the host's would read the host's
# fstab, crypttab, ...). container= tells systemd it is not the host's init.
export container=nixos-containers-sandbox
export SYSTEMD_UNIT_PATH=$dir/units
export SYSTEMD_GENERATOR_PATH=$dir/empty
export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=$dir/empty
exec /lib/systemd/systemd --system --log-target=console --log-color=no --show-status=false
