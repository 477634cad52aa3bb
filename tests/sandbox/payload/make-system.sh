#!/usr/bin/env bash
# make-system.sh STORE_DIR NAME [ok|bad-init|slow|stubborn|ping-first|listener|hang-switch]
# make-system.sh --tree DIR [VARIANT]
#
# Builds a "NixOS system" for the sandbox tests with real Nix: a store path
# /nix/store/<hash>-NAME in the sandbox's store, whose path it prints (the
# service binds the store read-only at /nix/store in every container).
# STORE_DIR is that store as the host sees it (ROOT/nix/store, or a link to
# it, such as a sandbox's DIR/store); Nix runs on the host against it as a
# chroot store (store = ROOT), offline. The build's out-link, under
# ROOT/nix/var/nix/gcroots/sandbox-payloads, keeps it through nix-store --gc.
# With --tree, only the source tree is written to DIR (which must not exist):
# what nixpkgs/system.nix builds a system from, and what the sandbox's
# stand-in <nixpkgs/nixos> builds every Config, ConfigFile and Flake from.
#
# The container's root has nothing of its own, so everything the payload runs
# comes from the store path: a static busybox (with one symlink per applet),
# the static notify-init helper (READY=1 from PID 1), and scripts that refer
# to each other by their /nix/store/... paths (@out@ in the tree).
#
# Variants:
#   ok        init records its argv and environment in /var/log/payload.log,
#             traps signal 37 (SIGRTMIN+3: busybox sh knows no name for it),
#             then reports READY=1 and sleeps; on signal 37 it exits 0.
#   bad-init  init exits 1 at once, without READY=1.
#   slow      like ok, but never reports READY=1 (start times out).
#   stubborn  never reports READY=1 and ignores the stop signals (37 and
#             TERM): only SIGKILL ends it.
#   ping-first
#             init's very first action, before anything else, is one ping
#             (busybox ping -c1 -W1) to each of: ${HOST_ADDRESS%/*},
#             ${HOST_ADDRESS6%/*} (ping6), and each address in PING_TARGETS
#             (comma-separated, as ExtraFlags words take no spaces; one with
#             a colon gets ping6); nspawn --setenv passes
#             them to init. Only then does it create /var/log and append one
#             line per target to /var/log/ping-first.log:
#               "ping-first: TARGET ok" or "ping-first: TARGET FAIL rc=N"
#             then "ping-first: done", and behaves like ok.
#   listener  like ok, and before READY=1 starts a persistent TCP listener,
#             busybox "nc -ll -p ${LISTEN_PORT:-80} -e answer", waiting until
#             it listens; each connection gets one line,
#             "listener-answer HOSTNAME PORT", and is closed.
#   hang-switch
#             like ok, but bin/switch-to-configuration, after its lines,
#             appends "switch-to-configuration hangs" and sleeps for an hour
#             (a container's root that made its reload never end).
# bin/switch-to-configuration appends "switch-to-configuration ARGS" and
# "switch-to-configuration ran as host uid BASE, NoNewPrivs N" (uid 0's
# line of its uid_map, its status) to /var/log/switch.log inside the
# container, and exits 0.
#
# NOTIFY_INIT=PATH reuses an already built notify-init; otherwise it is
# compiled here from notify-init.c (gcc -static).
set -euo pipefail

usage() {
    echo "usage: $0 STORE_DIR NAME [ok|bad-init|slow|stubborn|ping-first|listener|hang-switch] | --tree DIR [VARIANT]" >&2
    exit 2
}
[[ $# -ge 2 && $# -le 3 ]] || usage
tree_only=
if [[ $1 == --tree ]]; then
    tree_only=$2 name=tree variant=${3:-ok}
    [[ $tree_only == /* && ! -e $tree_only ]] || { echo "make-system: --tree wants a new absolute DIR" >&2; exit 2; }
else
    store=$1 name=$2 variant=${3:-ok}
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || { echo "make-system: bad NAME '$name'" >&2; exit 2; }
    real=$(realpath -e "$store" 2>/dev/null) && [[ $real == */nix/store ]] ||
        { echo "make-system: STORE_DIR '$store' is not a Nix store (ROOT/nix/store)" >&2; exit 2; }
    nix_root=${real%/nix/store}
fi
case $variant in ok | bad-init | slow | stubborn | ping-first | listener | hang-switch) ;; *) usage ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
busybox=/bin/busybox
# ldd fails on a static binary; a dynamic busybox would not run in the container.
if [[ ! -x $busybox ]] || ldd "$busybox" >/dev/null 2>&1; then
    echo "make-system: $busybox must be a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

# The scripts name the system by its store path, which only the build knows.
inside=@out@
work=$(mktemp -d "${TMPDIR:-/tmp}/make-system.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
# The directory's name is the source's name in the store.
tmp=$work/$name-$variant-src
mkdir "$tmp"
mkdir "$tmp/bin"
cp "$busybox" "$tmp/bin/busybox"
for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$tmp/bin/$applet"
done
if [[ -n ${NOTIFY_INIT:-} ]]; then
    cp "$NOTIFY_INIT" "$tmp/bin/notify-init"
else
    gcc -static -O2 -o "$tmp/bin/notify-init" "$here/notify-init.c"
fi
echo x86_64-linux >"$tmp/system"

# Variant-specific lines run just before READY=1 (none for ok, slow, bad-init:
# their payload.sh stays byte for byte what it was).
pre_ready=
if [[ $variant == listener ]]; then
    pre_ready="port=\${LISTEN_PORT:-80}
nc -ll -p \"\$port\" -e $inside/bin/answer &
echo \"payload: listener pid \$! on tcp port \$port\" >>\"\$log\"
i=0
until netstat -ltn 2>/dev/null | grep -q \":\$port \"; do
    i=\$((i + 1))
    [ \$i -lt 200 ] || { echo \"payload: listener not listening\" >>\"\$log\"; break; }
    usleep 10000
done
"
    # answer: one line per connection, naming the container and the port.
    printf '#!%s/bin/sh\necho "listener-answer $(%s/bin/hostname) ${LISTEN_PORT:-80}"\n' \
        "$inside" "$inside" >"$tmp/bin/answer"
    chmod 0755 "$tmp/bin/answer"
fi

# The payload's main script: run by busybox sh as the child of notify-init.
cat >"$tmp/payload.sh" <<SCRIPT
# Sandbox test payload ($variant): records what it sees, then waits for the
# stop signal.
PATH=$inside/bin
export PATH
mkdir -p /var/log
log=/var/log/payload.log
{
    echo "payload: start variant=$variant pid=\$\$ ppid=\$PPID"
    echo "payload: argv: \$0 \$*"
    echo "payload: environment:"
    env | sort | sed 's/^/  /'
} >>"\$log"
stopping() {
    echo "payload: got signal 37, exiting 0" >>"\$log"
    [ -n "\$sleeper" ] && kill "\$sleeper" 2>/dev/null
    exit 0
}
sleeper=
trap stopping 37
trap 'echo "payload: got SIGTERM, exiting 0" >>"\$log"; exit 0' TERM
${pre_ready}if [ "\${PAYLOAD_NO_READY:-}" != 1 ]; then
    echo "payload: ready" >>"\$log"
    kill -USR1 1    # notify-init (PID 1) sends READY=1 now
fi
while :; do
    sleep 3600 &
    sleeper=\$!
    wait "\$sleeper"
done
SCRIPT

case $variant in
ok | listener | hang-switch)
    printf '#!%s/bin/sh\nexec %s/bin/notify-init --on-usr1 %s/bin/sh %s/payload.sh "$@"\n' \
        "$inside" "$inside" "$inside" "$inside" >"$tmp/init"
    ;;
slow)
    # No notify-init: nothing ever sends READY=1. PID 1 is the shell itself,
    # so its trap still makes the stop clean.
    printf '#!%s/bin/sh\nPAYLOAD_NO_READY=1 exec %s/bin/sh %s/payload.sh "$@"\n' \
        "$inside" "$inside" "$inside" >"$tmp/init"
    ;;
stubborn)
    printf '#!%s/bin/sh\ntrap "" 37 TERM\nwhile :; do %s/bin/sleep 3600; done\n' \
        "$inside" "$inside" >"$tmp/init"
    ;;
ping-first)
    # Nothing before the pings: no PATH, no mkdir, no logging. The results
    # are kept in a variable and written once the pings are done.
    cat >"$tmp/init" <<INIT
#!$inside/bin/sh
r=
IFS=' ,'
for t in \${HOST_ADDRESS%/*} \${HOST_ADDRESS6%/*} \${PING_TARGETS:-}; do
    case \$t in *:*) p=ping6 ;; *) p=ping ;; esac
    if $inside/bin/\$p -c1 -W1 "\$t" >/dev/null 2>&1; then
        r="\$r
ping-first: \$t ok"
    else
        r="\$r
ping-first: \$t FAIL rc=\$?"
    fi
done
unset IFS
$inside/bin/mkdir -p /var/log
{ [ -z "\$r" ] || echo "\${r#?}"; echo "ping-first: done"; } >>/var/log/ping-first.log
exec $inside/bin/notify-init --on-usr1 $inside/bin/sh $inside/payload.sh "\$@"
INIT
    ;;
bad-init)
    printf '#!%s/bin/sh\n%s/bin/mkdir -p /var/log\necho "payload: bad-init exits 1" >>/var/log/payload.log\nexit 1\n' \
        "$inside" "$inside" >"$tmp/init"
    ;;
esac
chmod 0755 "$tmp/init"

cat >"$tmp/bin/switch-to-configuration" <<SWITCH
#!$inside/bin/sh
$inside/bin/mkdir -p /var/log
echo "switch-to-configuration \$*" >>/var/log/switch.log
# Who runs it: uid 0 maps to the host's uid BASE, and no_new_privs.
read -r inner base count </proc/self/uid_map
while read -r key value; do [ "\$key" = NoNewPrivs: ] && nnp=\$value; done </proc/self/status
echo "switch-to-configuration ran as host uid \$base, NoNewPrivs \$nnp" >>/var/log/switch.log
SWITCH
if [[ $variant == hang-switch ]]; then
    printf 'echo "switch-to-configuration hangs" >>/var/log/switch.log\n%s/bin/sleep 3600\n' "$inside" \
        >>"$tmp/bin/switch-to-configuration"
fi
echo "exit 0" >>"$tmp/bin/switch-to-configuration"
chmod 0755 "$tmp/bin/switch-to-configuration"

chmod -R a+rX "$tmp"
if [[ -n $tree_only ]]; then
    mv "$tmp" "$tree_only"
    exit 0
fi

# Offline, single-user, against the store under nix_root (a chroot store
# unless it is the host's own /nix).
config=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group =\nsandbox = true'
[[ -z $nix_root ]] || config+=$'\n'"store = $nix_root"
roots=$nix_root/nix/var/nix/gcroots/sandbox-payloads
mkdir -p "$roots"
NIX_CONFIG=$config nix-build --quiet "$here/nixpkgs/system.nix" --argstr name "$name" --arg src "$tmp" \
    --out-link "$roots/$name" >"$work/out" 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
out=$(cat "$work/out")
[[ $out == /nix/store/*-"$name" && -x $nix_root$out/init ]] ||
    { cat "$work/log" >&2; echo "make-system: nix-build gave no system with an init: '$out'" >&2; exit 1; }
echo "$out"
