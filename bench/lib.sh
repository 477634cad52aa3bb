# shellcheck shell=bash
# lib.sh: what the bench scripts share. Sourced, never run.
#
# A script sets HERE (its own directory), then sources this file, which
# sets REPO, BUILD_DIR (exported as NIXOS_CONTAINERS_BUILD_DIR, default
# REPO/build) and SANDBOX, ends the script unless it runs as root, and gives
# note, now_ms and bench_build.
REPO=$(cd "$HERE/.." && pwd -P)
BUILD_DIR=${NIXOS_CONTAINERS_BUILD_DIR:-$REPO/build}
export NIXOS_CONTAINERS_BUILD_DIR=$BUILD_DIR
# shellcheck disable=SC2034 # used by the scripts that source this
SANDBOX=$REPO/scripts/sandbox/sandbox.sh

[[ $(id -u) == 0 ]] || { echo "bench: must run as root (the sandbox needs it)" >&2; exit 2; }
note() { echo "bench: $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# bench_build TARGET...: configure BUILD_DIR (RelWithDebInfo) when it has no
# build yet, then build the targets.
bench_build() {
    if [[ ! -f $BUILD_DIR/build.ninja ]]; then
        note "configuring $BUILD_DIR"
        cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    note "building $*"
    cmake --build "$BUILD_DIR" --target "$@" >/dev/null
}
