#!/usr/bin/env bash
# make-systemd-root.sh system STORE_DIR NAME | root ROOT
#
# The second sandbox payload: a container that boots real systemd. Debian's
# own systemd and dbus come from the host's /usr, which the container spec
# binds read-only at /usr (BindMounts /usr /usr ro).
#   system: makes the "system" STORE_DIR/<hash>-NAME, whose init is a link to
#           /usr/lib/systemd/systemd (resolved inside the container), and
#           prints its path as the container sees it: /nix/store/<hash>-NAME.
#   root:   prepares a container's ROOT before its first Start with the
#           merged-usr links bin, sbin, lib and lib64, an etc/os-release,
#           passwd and group for root and the test user alice (uid 1234),
#           an empty machine-id, and PAM's "login" and "other" services
#           (machined's shells run with PAMName=login, as on NixOS): account
#           and session allowed, password authentication refused (nobody
#           logs in by password here; the tests only reach the prompt).
set -euo pipefail
usage() { echo "usage: $0 system STORE_DIR NAME | root ROOT" >&2; exit 2; }
absolute() { [[ $1 == /* && $1 != / ]] || { echo "make-systemd-root: '$1' must be an absolute path other than /" >&2; exit 2; }; }
[[ $# -ge 2 ]] || usage
[[ -x /usr/lib/systemd/systemd ]] || { echo "make-systemd-root: no /usr/lib/systemd/systemd on the host" >&2; exit 1; }
case $1 in
system)
    [[ $# -eq 3 ]] || usage
    store=$2 name=$3
    absolute "$store"
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || { echo "make-systemd-root: bad NAME '$name'" >&2; exit 2; }
    # 32 characters of nix's base32 alphabet (no e, o, t, u).
    hash=$(printf '%s\n' "nixos-containers-sandbox-systemd:$name" | sha256sum | cut -c1-32 | tr 'e' 'g')
    out=$store/$hash-$name
    mkdir -p "$store"
    rm -rf --one-file-system "${out:?}"
    mkdir "$out"
    ln -s /usr/lib/systemd/systemd "$out/init"
    echo x86_64-linux >"$out/system"
    chmod -R a+rX "$out"
    echo "/nix/store/$hash-$name"
    ;;
root)
    [[ $# -eq 2 ]] || usage
    root=$2
    absolute "$root"
    # Before the first Start (which makes the rest and keeps what is here).
    [[ ! -L $root && ! -L $root/etc && ! -L $root/usr ]] || { echo "make-systemd-root: links in $root" >&2; exit 1; }
    mkdir -p "$root/etc" "$root/usr"
    for link in bin sbin lib lib64; do
        rm -f "$root/$link"
        ln -s "usr/$link" "$root/$link"
    done
    printf 'NAME="NixOS containers sandbox (systemd)"\nID=debian\nPRETTY_NAME="sandbox systemd payload"\n' >"$root/etc/os-release"
    printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1234:alice:/:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\nalice:x:1234:\n' >"$root/etc/group"
    : >"$root/etc/machine-id"
    mkdir -p "$root/etc/pam.d"
    for service in login other; do
        printf 'auth required pam_deny.so\naccount required pam_permit.so\npassword required pam_deny.so\nsession required pam_permit.so\n' >"$root/etc/pam.d/$service"
    done
    chmod 0644 "$root/etc/os-release" "$root/etc/passwd" "$root/etc/group" "$root/etc/machine-id" "$root/etc/pam.d/"*
    ;;
*) usage ;;
esac
