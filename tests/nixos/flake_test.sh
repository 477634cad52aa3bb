#!/usr/bin/env bash
# flake test: flake.nix and package.nix evaluated with a stand-in nixpkgs
# (flake-outputs.nix); the real build and the VM test need nixpkgs.
# Usage: flake_test.sh LIB_TARBALL
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
nixos_test_setup "$1"
result=$(nix_eval_json "$here/flake-outputs.nix")
report_problems "$result"
