# shellcheck shell=bash
# Sourced by the tests/nixos scripts: an offline Nix for evaluation only.
#   nix_scratch_setup              Nix with a scratch store, state and config
#   nixos_test_setup LIB_TARBALL   that, and nixpkgs' lib unpacked there
#   nix_eval_json FILE ARGS...     nix-instantiate --eval --strict --json
# Nix gets a scratch store, state and config (nothing is built or written to
# /nix, and no user's or host's nix.conf applies), so the tests run as any user.
set -euo pipefail

# A scratch store, state, log and config for Nix, removed on exit.
nix_scratch_setup() {
  if ! command -v nix-instantiate >/dev/null; then
    echo "FAIL: nix-instantiate not found (Debian: apt-get install nix-bin)" >&2
    exit 1
  fi
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/nc-nixos-test.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/store" "$scratch/state" "$scratch/log" "$scratch/conf" "$scratch/home"
  export NIX_STORE_DIR=$scratch/store NIX_STATE_DIR=$scratch/state NIX_LOG_DIR=$scratch/log
  export NIX_CONF_DIR=$scratch/conf HOME=$scratch/home XDG_CACHE_HOME=$scratch/home/.cache
  export NIX_CONFIG="build-users-group ="
  unset NIX_PATH NIX_REMOTE
}

nixos_test_setup() {
  local tarball=$1
  nix_scratch_setup
  tar -xzf "$tarball" -C "$scratch"
  export NIXOS_CONTAINERS_NIXPKGS_LIB=$scratch/nixpkgs-lib/lib
  [[ -f $NIXOS_CONTAINERS_NIXPKGS_LIB/default.nix ]] || { echo "FAIL: no lib in $tarball" >&2; exit 1; }
}

nix_eval_json() {
  nix-instantiate --eval --strict --json "$@"
}

# report_problems JSON: prints { problems, report } of a test's .nix; fails
# when problems is not empty.
report_problems() {
  python3 -c '
import json, sys
result = json.loads(sys.argv[1])
for line in result["report"]:
    print(line)
for problem in result["problems"]:
    print("PROBLEM: " + problem)
print(str(len(result["problems"])) + " problem(s)")
sys.exit(1 if result["problems"] else 0)
' "$1"
}
