#!/usr/bin/env bash
# eval-generation.sh N SYSTEM_A SYSTEM_B BIND_A BIND_B: generation N's
# declarative set, the text nixos/module.nix writes to
# /etc/nixos-containers/declarative.json (generations.nix), evaluated offline
# against the vendored nixpkgs lib with a scratch Nix (nothing written to
# /nix). For the sandbox tier's declarative_test.py.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
(($# == 5)) || { echo "usage: $0 N SYSTEM_A SYSTEM_B BIND_A BIND_B" >&2; exit 2; }
nixos_test_setup "$here/../../../shared/vendor/nixpkgs-lib-de42d442.tar.gz"
nix_eval_json "$here/generations.nix" --argstr systemA "$2" --argstr systemB "$3" \
  --argstr bindA "$4" --argstr bindB "$5" -A "gen$1" |
  python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))'
