#!/usr/bin/env bash
# options test: our containers.<name> options against the reference module's
# (options.nix). Usage: options_test.sh LIB_TARBALL REFERENCE_MODULE
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/common.sh"
nixos_test_setup "$1"
result=$(nix_eval_json "$here/options.nix" --arg reference "$(realpath "$2")")
report_problems "$result"
