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

# bench_dirs PREFIX: WORK (/tmp/PREFIX-work.*, the script's outputs) and DIR
# (/tmp/PREFIX.*, its sandbox), fresh and checked (a failed mktemp must never
# leave an empty path), and the EXIT trap (bench_finish) that takes the
# sandbox down, checks the host and removes both. A script that made /nix
# sets MADE_NIX=1, and it is removed too. BENCH_KEEP=1 leaves the sandbox up.
MADE_NIX=0
bench_dirs() {
    WORK=$(mktemp -d "/tmp/$1-work.XXXXXX")
    [[ $WORK == /tmp/"$1"-work.?* && -d $WORK ]] || { echo "bench: bad mktemp result '$WORK'" >&2; exit 2; }
    DIR=$(mktemp -d "/tmp/$1.XXXXXX")
    [[ $DIR == /tmp/"$1".?* && -d $DIR ]] || { echo "bench: bad mktemp result '$DIR'" >&2; exit 2; }
    trap bench_finish EXIT
    trap 'exit 130' INT TERM
}
bench_finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [[ ${BENCH_KEEP:-} == 1 ]]; then
        note "sandbox left up: $SANDBOX shell $DIR; then: $SANDBOX down $DIR"
    else
        "$SANDBOX" down "$DIR" >&2 || rc=2
        # With DIR: other sandboxes that are up (a test run) are not ours.
        "$SANDBOX" check-host "$DIR" >&2 || rc=2
        rmdir "$DIR" 2>/dev/null
        if ((MADE_NIX)); then rmdir /nix || { note "/nix is not empty: left in place"; rc=2; }; fi
    fi
    rm -rf --one-file-system "$WORK"
    note "total $(($(now_ms) - T0)) ms"
    exit "$rc"
}

# Table cells: microseconds as ms, kB as MB, A/B as a ratio, A <= B as 1/0.
ms() { awk -v v="$1" 'BEGIN { printf "%.3f ms", v / 1000 }'; }
mb() { awk -v v="$1" 'BEGIN { printf "%.1f MB", v / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }

# The table: ROW_FORMAT (a printf format of six %s: figure, value, baseline,
# ratio, target, result) set by the script; row's last argument is 1 (PASS),
# - (info) or anything else (MISS, counted in misses).
misses=0
row() { # FIGURE VALUE BASELINE RATIO TARGET OK
    local verdict
    case $6 in
        1) verdict=PASS ;;
        -) verdict=info ;;
        *) verdict=MISS misses=$((misses + 1)) ;;
    esac
    # shellcheck disable=SC2059 # the script's own format
    printf "$ROW_FORMAT" "$1" "$2" "$3" "$4" "$5" "$verdict"
}
table_header() { # BASELINE-COLUMN-NAME
    # shellcheck disable=SC2059 # the script's own format
    printf "$ROW_FORMAT" figure value "$1" ratio target result
}
