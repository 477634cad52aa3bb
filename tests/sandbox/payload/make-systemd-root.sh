#!/usr/bin/env bash
# make-systemd-root.sh system STORE_DIR NAME | root ROOT
#
# The second sandbox payload: a container that boots real systemd. Debian's
# own systemd and dbus come from the host's /usr, which the container spec
# binds read-only at /usr (BindMounts /usr /usr ro).
#   system: adds the "system" NAME to the Nix store at STORE_DIR (ROOT/nix/store,
#           or a link to it, such as a sandbox's DIR/store), rooted under
#           ROOT/nix/var/nix/gcroots/sandbox-payloads. Its init is a link to
#           /usr/lib/systemd/systemd (resolved inside the container). Prints
#           its store path, /nix/store/<hash>-NAME.
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
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || { echo "make-systemd-root: bad NAME '$name'" >&2; exit 2; }
    real=$(realpath -e "$store" 2>/dev/null) && [[ $real == */nix/store ]] ||
        { echo "make-systemd-root: STORE_DIR '$store' is not a Nix store (ROOT/nix/store)" >&2; exit 2; }
    nix_root=${real%/nix/store}
    work=$(mktemp -d "${TMPDIR:-/tmp}/make-systemd-root.XXXXXX")
    trap 'rm -rf --one-file-system "$work"' EXIT
    mkdir "$work/$name"
    ln -s /usr/lib/systemd/systemd "$work/$name/init"
    echo x86_64-linux >"$work/$name/system"
    chmod -R a+rX "$work/$name"
    # Nothing in it names itself: nix-store --add makes it a store path
    # (offline, against the store under nix_root, as make-system.sh does).
    config=$'substituters =\nbuild-users-group ='
    [[ -z $nix_root ]] || config+=$'\n'"store = $nix_root"
    out=$(NIX_CONFIG=$config nix-store --add "$work/$name") || exit 1
    roots=$nix_root/nix/var/nix/gcroots/sandbox-payloads
    mkdir -p "$roots"
    ln -sfn "$out" "$roots/$name"
    echo "$out"
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
