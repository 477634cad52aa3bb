#!/usr/bin/env bash
# outputs test: the set file, units and host settings our module makes
# (outputs.nix), and the messages of the definitions it refuses.
# Usage: outputs_test.sh LIB_TARBALL
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
nixos_test_setup "$1"
result=$(nix_eval_json "$here/outputs.nix")
report_problems "$result"

# expect_error NEEDLE DEFINITIONS: evaluating the set with DEFINITIONS fails,
# naming NEEDLE.
failures=0
expect_error() {
  local needle=$1 definitions=$2 out
  if out=$(nix_eval_json -E "(import $here/eval.nix { definitions = $definitions; })
      .config.environment.etc.\"nixos-containers/declarative.json\".text" 2>&1); then
    echo "PROBLEM: $definitions evaluated: $out"
    failures=$((failures + 1))
  elif ! grep -qF -- "$needle" <<<"$out"; then
    echo "PROBLEM: $definitions failed without naming '$needle':"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "refused as expected: $definitions: $(grep -F -- "$needle" <<<"$out" | head -1 | sed 's/^ *//')"
  fi
}
expect_error "containers.a.pkgs has no effect" '{ containers.a = { path = "/nix/store/a"; pkgs = { }; }; }'
expect_error "containers.a.path" '{ containers.a.autoStart = true; }'
expect_error "hostPort" '{ containers.a = { path = "/nix/store/a"; privateNetwork = true; forwardPorts = [ { hostPort = 70000; } ]; }; }'
expect_error "privateUsers" '{ containers.a = { path = "/nix/store/a"; privateUsers = "yes"; }; }'
expect_error "localMacAddress" '{ containers.a = { path = "/nix/store/a"; privateNetwork = true; localMacAddress = "nope"; }; }'
expect_error "memoryMax" '{ containers.a = { path = "/nix/store/a"; memoryMax = 512; }; }'
((failures == 0)) || { echo "$failures refusal problem(s)"; exit 1; }
