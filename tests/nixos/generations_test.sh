#!/usr/bin/env bash
# generations test: generations.nix, called as the sandbox test calls it,
# gives four set files that differ from one another only as described, and
# the service's reader (declarative-inspect) parses every container of each
# (keys and types; values are validated when the service applies them).
# Usage: generations_test.sh LIB_TARBALL DECLARATIVE_INSPECT
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
nixos_test_setup "$1"
inspect=$2
args=(--argstr systemA /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-system-a
      --argstr systemB /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-system-b
      --argstr bindA /srv/bind-a --argstr bindB /srv/bind-b)
for gen in gen1 gen2 gen3 gen4; do
  nix_eval_json "$here/generations.nix" "${args[@]}" -A "$gen" >"$scratch/$gen.json"
done
python3 - "$scratch" "$inspect" <<'PY'
import json, subprocess, sys
d, inspect = sys.argv[1], sys.argv[2]
gens = [json.loads(json.loads(open(f"{d}/gen{i}.json").read())) for i in range(1, 5)]
A, B = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-system-a", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-system-b"

def flat(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flat(v, f"{prefix}/{k}"))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(flat(v, f"{prefix}/{i}"))
        return out
    return {prefix: value}

def diff(a, b):
    fa, fb = flat(a), flat(b)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}

problems = []
def expect(what, want, got):
    if want != got:
        problems.append(f"{what}:\n  expected {want}\n  got      {got}")
    else:
        print(f"ok: {what}")

g1 = gens[0]["Containers"]
expect("gen1 names", ["alpha", "beta", "gamma"], sorted(g1))
expect("gen1 alpha", {"SystemPath": A, "PrivateNetwork": True, "HostAddress": "10.231.7.1",
       "LocalAddress": "10.231.7.2", "AutoStart": True, "MemoryMax": "512M",
       "BindMounts": [{"MountPoint": "/mnt/data", "HostPath": "/srv/bind-a", "ReadOnly": True}]},
       {k: g1["alpha"]["Spec"][k] for k in ["SystemPath", "PrivateNetwork", "HostAddress", "LocalAddress",
                                            "AutoStart", "MemoryMax", "BindMounts"]})
expect("gen1 beta", {"SystemPath": A, "AutoStart": True, "PrivateNetwork": False, "BindMounts": []},
       {k: g1["beta"]["Spec"][k] for k in ["SystemPath", "AutoStart", "PrivateNetwork", "BindMounts"]})
expect("gen1 gamma", {"RestartIfChanged": False, "SystemPath": A, "AutoStart": True,
       "BindMounts": [{"MountPoint": "/mnt/data", "HostPath": "/srv/bind-a", "ReadOnly": True}]},
       {"RestartIfChanged": g1["gamma"]["RestartIfChanged"],
        **{k: g1["gamma"]["Spec"][k] for k in ["SystemPath", "AutoStart", "BindMounts"]}})
expect("restartIfChanged of alpha and beta", [True, True],
       [g1["alpha"]["RestartIfChanged"], g1["beta"]["RestartIfChanged"]])
expect("gen1 -> gen2", {"/Containers/alpha/Spec/SystemPath": (A, B),
                        "/Containers/alpha/Spec/MemoryMax": ("512M", "256M")}, diff(gens[0], gens[1]))
expect("gen2 -> gen3", {"/Containers/alpha/Spec/BindMounts/0/HostPath": ("/srv/bind-a", "/srv/bind-b"),
                        "/Containers/gamma/Spec/BindMounts/0/HostPath": ("/srv/bind-a", "/srv/bind-b")},
       diff(gens[1], gens[2]))
expect("gen3 -> gen4: beta gone, the rest the same", ({k: v for k, v in gens[2]["Containers"].items() if k != "beta"}),
       gens[3]["Containers"])
for i, gen in enumerate(gens, 1):
    path = f"{d}/gen{i}.set"
    with open(path, "w") as f:
        f.write(json.dumps(gen))
    for name in sorted(gen["Containers"]):
        out = subprocess.run([inspect, "set", path, name], capture_output=True, text=True)
        if out.returncode != 0:
            problems.append(f"gen{i}: the service's reader cannot parse {name}: {out.stderr.strip()}")
    print(f"ok: gen{i}: the service's reader parses its {len(gen['Containers'])} containers")
for p in problems:
    print("PROBLEM: " + p)
print(f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY
