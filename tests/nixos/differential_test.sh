#!/usr/bin/env bash
# differential test: the reference module and ours, given the same
# containers (definitions.nix), must mean the same to the service. For
# each container, declarative-inspect reads the reference's conf and our
# set file into specs, which must agree on every key such a conf carries;
# differential.nix compares the rest with the reference's unit.
# Usage: differential_test.sh LIB_TARBALL REFERENCE_MODULE DECLARATIVE_INSPECT
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
nixos_test_setup "$1"
reference=$(realpath "$2") inspect=$3

result=$(nix_eval_json "$here/differential.nix" --arg reference "$reference")
python3 - "$result" "$scratch" "$inspect" <<'PY'
import json, os, subprocess, sys

result, scratch, inspect = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
# What the reference's conf carries (its unit has the rest).
conf_keys = ["SystemPath", "PrivateNetwork", "HostBridge", "ForwardPorts", "HostAddress", "HostAddress6",
             "LocalAddress", "LocalAddress6", "Interfaces", "Macvlans", "AutoStart", "BindMounts", "ExtraFlags"]
for line in result["report"]:
    print(line)
problems = list(result["problems"])

def run(*args):
    out = subprocess.run([inspect, *args], capture_output=True, text=True)
    if out.returncode != 0:
        problems.append(f"declarative-inspect {' '.join(args)} exited {out.returncode}: {out.stderr.strip()}")
        return None
    return json.loads(out.stdout)

set_file = os.path.join(scratch, "declarative.json")
with open(set_file, "w") as f:
    f.write(result["set"])
os.makedirs(os.path.join(scratch, "confs"))
for name, text in sorted(result["confs"].items()):
    conf_file = os.path.join(scratch, "confs", name + ".conf")
    with open(conf_file, "w") as f:
        f.write(text)
    theirs, ours = run("conf", conf_file), run("set", set_file, name)
    if theirs is None or ours is None:
        continue
    for key in conf_keys:
        if key not in theirs or key not in ours:
            problems.append(f"{name}: {key} missing from declarative-inspect's output")
        elif theirs[key] != ours[key]:
            problems.append(f"{name}: {key}: the reference's conf {json.dumps(theirs[key])}, ours {json.dumps(ours[key])}")
    print(f"{name}: {sum(theirs.get(k) == ours.get(k) for k in conf_keys)}/{len(conf_keys)} conf keys agree")

# Our whole set, every option used: each container read back by the service
# as written (a null hostPath, written "", reads as the mount point).
full_file = os.path.join(scratch, "full.json")
with open(full_file, "w") as f:
    f.write(result["fullSet"])
for name, entry in sorted(json.loads(result["fullSet"])["Containers"].items()):
    read = run("set", full_file, name)
    if read is None:
        continue
    written = entry["Spec"]
    for bind in written["BindMounts"]:
        bind["HostPath"] = bind["HostPath"] or bind["MountPoint"]
    wrong = [key for key in written if read.get(key) != written[key]]
    for key in wrong:
        problems.append(f"{name}: {key} written {json.dumps(written[key])}, read {json.dumps(read.get(key))}")
    print(f"{name}: {len(written) - len(wrong)}/{len(written)} keys of our set read back as written")

for problem in problems:
    print("PROBLEM: " + problem)
print(f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY
