#!/usr/bin/env bash
# property_test.sh — "accepted means startable" (issue 16) in one sandbox:
# specs generated from the spec keys (property_driver.py), each one that
# Create accepts must Start to running with the payload seeing its network,
# binds and tmpfs; each one it refuses must carry an org.nixos.Containers
# error name. The driver prints one PASS/FAIL line per check.
#
# Settings: PROPERTY_SEED (default: a random seed, printed), PROPERTY_CASES
# (default 80). CTest runs PROPERTY_SEED=1 with the CI-sized case count; a
# longer run on demand:
#   PROPERTY_SEED=$RANDOM PROPERTY_CASES=400 tests/sandbox/property_test.sh
# and a failure replays with the seed its FAIL line prints.
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
SEED=${PROPERTY_SEED:-$((RANDOM * 32768 + RANDOM))}
CASES=${PROPERTY_CASES:-80}
[[ $SEED =~ ^[0-9]+$ && $CASES =~ ^[0-9]+$ ]] || { echo "PROPERTY_SEED and PROPERTY_CASES must be numbers" >&2; exit 2; }
echo "property: PROPERTY_SEED=$SEED PROPERTY_CASES=$CASES (replay: PROPERTY_SEED=$SEED PROPERTY_CASES=$CASES $0)"
sandbox_test_begin property

scenario "0  sandbox up, payload, fixtures"
sandbox_up
SYS=$("$MAKE_SYSTEM" "$DIR/store" propok ok) || { fail "payload"; exit 1; }
FX=$DIR/prop-fixtures
mkdir -p "$FX" && for i in 0 1 2 3; do mkdir -p "$FX/h$i" && echo "h$i" >"$FX/h$i/marker"; done
echo prop-file >"$FX/f0"
fixtures() {
    set -e
    in_sb ip link add br-prop type bridge
    in_sb ip addr add 10.233.7.1/24 dev br-prop
    in_sb ip link set br-prop up
    in_sb ip link add dprop0 type veth peer name dprop0p
    in_sb ip link add dprop1 type veth peer name dprop1p
    in_sb ip link set dprop1 up
}
check "fixtures: bridge br-prop (10.233.7.1/24), veths dprop0 (to move), dprop1 (a macvlan parent)" fixtures
# A container kept through the run: its object gives the driver the spec keys.
check "witness container (its object lists the spec keys)" mgr Create 'sa{sv}' prop-witness 1 SystemPath s "$SYS"

scenario "1  $CASES generated specs, seed $SEED: accepted => startable"
timeout $((CASES * 20 + 120)) "$SANDBOX" exec "$DIR" python3 "$HERE/property_driver.py" "$SEED" "$CASES" "$SYS" "$FX" prop-witness \
    >"$WORK/driver.out" 2>&1
rc=$?
cat "$WORK/driver.out"
counts=$(grep '^property-counts: ' "$WORK/driver.out" | tail -n1)
if [[ $counts =~ ^property-counts:\ ([0-9]+)\ ([0-9]+)$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
fi
if ((rc != 0)) || [[ -z $counts ]]; then fail "the driver ended with exit $rc before its summary"; fi
started=$(grep -o '[0-9]* started' "$WORK/driver.out" | tail -n1)
echo "property: seed $SEED: ${started:-0 started} of $CASES generated specs"

scenario "2  nothing left"
check "witness: Destroy" mgr Destroy s prop-witness
leftovers() {
    local l
    l=$(container_names) || { echo "cannot read List: $l"; return 1; }
    [[ -z $l ]] || { echo "containers left: $l"; return 1; }
    no_machines
}
no_machines() {
    local l
    l=$(machine_names) || { echo "cannot list machines: $l"; return 1; }
    [[ $l == .host ]] || { echo "machines left: $l"; return 1; }
}
check "no container and no machine left" leftovers
