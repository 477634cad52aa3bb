#!/usr/bin/env bash
# parse test: what cannot be built or run here (no nixpkgs, no binary cache)
# must at least parse. Usage: parse_test.sh FILE...
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
nix_scratch_setup
status=0
for file in "$@"; do
  if out=$(nix-instantiate --parse "$file" 2>&1 >/dev/null); then
    echo "parses: $file"
  else
    echo "PROBLEM: $file does not parse:"
    echo "$out"
    status=1
  fi
done
exit "$status"
