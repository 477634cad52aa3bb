#!/usr/bin/env bash
# from_private_parent.sh SCRIPT: runs the sandbox tier SCRIPT (a file of
# tests/sandbox) from a checkout whose parent directory no other user may
# enter (0700, as root's home is on Debian, where a root following the
# Quick start clones the repository). The checkout and the build tree are
# bound beneath a fresh 0700 directory in a private mount namespace, and the
# tier runs from there: anything it hands a test user straight from the
# checkout or the build tree fails, as it would for that root.
# Exit status and output are the tier's (77 when not root).
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "from_private_parent: needs root" >&2; exit 77; }
script=${1:?usage: from_private_parent.sh SCRIPT}
[[ $script =~ ^[a-z_0-9]+\.(sh|py)$ ]] || { echo "from_private_parent: bad SCRIPT '$script'" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
build=$(cd "${NIXOS_CONTAINERS_BUILD_DIR:?NIXOS_CONTAINERS_BUILD_DIR is not set}" && pwd -P)
parent=$(mktemp -d /tmp/nc-private-parent.XXXXXX)
[[ $parent == /tmp/nc-private-parent.?* && -d $parent ]] || { echo "bad mktemp result '$parent'" >&2; exit 1; }
# Only empty mount points are left once the namespace is gone: rmdir, never rm -r.
trap 'rmdir "$parent/checkout" "$parent/build" "$parent" 2>/dev/null || true' EXIT
chmod 0700 "$parent"
mkdir "$parent/checkout" "$parent/build"
rc=0
unshare --mount --propagation private bash -c '
    set -e
    mount --bind "$1" "$2/checkout"
    mount --bind "$3" "$2/build"
    NIXOS_CONTAINERS_BUILD_DIR=$2/build exec "$2/checkout/tests/sandbox/$4"' \
    from_private_parent "$repo" "$parent" "$build" "$script" || rc=$?
exit "$rc"
