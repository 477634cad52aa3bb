#!/usr/bin/env bash
# bench/nix-build.sh — Create from Config with real Nix, against the same
# build run by hand (issue 14's benchmark).
#
#   bench/nix-build.sh [ROUNDS]      (as root; default 15 rounds, ~1 minute)
#
# In one sandbox (scripts/sandbox/sandbox.sh, Debian's nix-bin offline, the
# tests' stand-in nixpkgs), the driver (bench/nc_bench.cpp, "build") times
# from one process, in alternating order:
#   hand     nix-env -p PROFILE -I nixos-config=FILE -f DIR/nixpkgs/nixos --set -A system
#            (what nixos-container create runs), spawned and waited for;
#   service  Create NAME {Config: TEXT} over one open bus connection, until the
#            reply (the service writes the module file, runs the same nix-env,
#            checks the result, writes the conf).
# Every build is of a configuration not built before (its message names the
# round and the side), so neither side gets the other's store paths. Prints
# the medians and what the service adds (the median of each round's
# difference), against the target: at most 5% or 20 ms, whichever is larger.
# Exit status: 0 when met, 1 when missed, 2 on a harness
# failure. Not a test: CI does not run it.
set -euo pipefail

ROUNDS=${1:-15}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
bench_build nixos-containersd nc-bench
BENCH=$BUILD_DIR/bench/nc-bench

DIR=$(mktemp -d /tmp/nc-bench-nix.XXXXXX)
[[ $DIR == /tmp/nc-bench-nix.?* && -d $DIR ]] || { echo "bench: bad mktemp result '$DIR'" >&2; exit 2; }
finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    "$SANDBOX" down "$DIR" >&2 || rc=2
    "$SANDBOX" check-host "$DIR" >&2 || rc=2
    rmdir "$DIR" 2>/dev/null
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

note "sandbox up in $DIR"
"$SANDBOX" up "$DIR" >"$DIR.up.log" 2>&1 || { cat "$DIR.up.log" >&2; rm -f "$DIR.up.log"; exit 2; }
rm -f "$DIR.up.log"

# The driver times both sides from one process inside the sandbox, with
# the sandbox's Nix settings in its environment: nix-env by hand (spawned),
# and Create over one open bus connection (a client's case).
# shellcheck disable=SC2046 # NAME=value lines without spaces
"$SANDBOX" exec "$DIR" env $(cat "$DIR/nix-environment") "$BENCH" build "$DIR/nixpkgs/nixos" "$ROUNDS" \
    >"$DIR/figures" || { cat "$DIR/figures" >&2; exit 2; }

python3 - "$DIR/figures" <<'PY'
import sys
fig = {}
for line in open(sys.argv[1]):
    words = line.split()
    side = words[1]
    fields = dict(zip(words[2::2], words[3::2]))
    fig.setdefault(side, {}).update({k: float(v) / 1000 for k, v in fields.items() if k != "n"})
    if "n" in fields:
        fig[side]["n"] = int(fields["n"])
hand, service, paired = fig["hand"], fig["service"], fig["added"]
# The figure: the median of each round's difference (its two builds ran back
# to back, so the machine's slow and fast moments cancel out).
added = paired["p50"]
allowed = max(0.05 * hand["p50"], 20.0)
print(f"rounds: {hand['n']} per side, alternating, timed in one process")
print(f"nix-env by hand  (min/p50/p99): {hand['min']:.1f} / {hand['p50']:.1f} / {hand['p99']:.1f} ms")
print(f"service Create   (min/p50/p99): {service['min']:.1f} / {service['p50']:.1f} / {service['p99']:.1f} ms")
print(f"added by the service, per round (p50): {added:+.1f} ms "
      f"({(hand['p50'] + added) / hand['p50']:.3f}x the hand's p50); "
      f"p50 against p50: {service['p50'] - hand['p50']:+.1f} ms; allowed {allowed:.1f} ms: "
      + ("PASS" if added <= allowed else "MISS"))
sys.exit(0 if added <= allowed else 1)
PY
