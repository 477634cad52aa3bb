#!/usr/bin/env bash
# options test: our containers.<name> options against the reference module's
# (options.nix). Usage: options_test.sh LIB_TARBALL REFERENCE_MODULE
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
nixos_test_setup "$1"
result=$(nix_eval_json "$here/options.nix" --arg reference "$(realpath "$2")")
report_problems "$result"

# The test must be able to fail: a copy of our module without tmpfs and
# with another default for timeoutStartSec must give exactly those two
# problems.
mkdir -p "$scratch/sabotaged/nixos"
python3 - "$here/../../nixos/module.nix" "$scratch/sabotaged/nixos/module.nix" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
without_tmpfs, removed = re.subn(r"\n      tmpfs = mkOption \{.*?\n      \};\n", "\n", text, count=1, flags=re.S)
other_default = without_tmpfs.replace('default = "1min";', 'default = "90s";', 1)
assert removed == 1 and other_default != without_tmpfs, "the sabotage no longer applies to nixos/module.nix"
open(sys.argv[2], "w").write(other_default)
PY
sabotaged=$(nix_eval_json "$here/options.nix" --arg reference "$(realpath "$2")" \
  --arg module "$scratch/sabotaged/nixos/module.nix" -A problems)
python3 - "$sabotaged" <<'PY'
import json, sys
problems = json.loads(sys.argv[1])
expected = ['containers.<name>.timeoutStartSec: ours is {"default":"90s","type":"string"}, expected {"default":"1min","type":"string"}',
            'containers.<name>.tmpfs: missing in ours (the reference has {"default":[],"type":"list of string"})']
if sorted(problems) != expected:
    print("PROBLEM: the sabotaged module (no tmpfs, timeoutStartSec 90s) gave", json.dumps(problems, indent=1))
    sys.exit(1)
print("self-check: a module without tmpfs and with timeoutStartSec \"90s\" gives exactly those 2 problems")
PY
