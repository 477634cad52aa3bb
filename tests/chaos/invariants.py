#!/usr/bin/env python3
"""invariants.py: the chaos run's invariant checks, run inside the sandbox
(by chaos_driver after every restart of the service and at the end).

  invariants.py --config-dir D --state-dir D --runtime-dir D [--settle SECONDS] [--when TEXT]

Prints one "PASS: [invN ...] ..." or "FAIL: [invN ...] ..." line per check
(details indented below a FAIL) and exits 1 when any failed.

  inv1  every container List shows has CONFIG_DIR/NAME.conf, and every conf
        on disk is listed (no stray NAME.conf.* temporaries either)
  inv2  every running container has exactly one unit (active) and one
        machined machine, whose unit is the container's unit; nothing is
        half-registered (a machine without an active unit or the reverse)
  inv3  nothing is left over of a container that is not running: no veth
        host link (ve-NAME, or the hashed name with altname ve-NAME), no
        netns pin RUNTIME_DIR/netns/NAME, no mount under its root or pin, no
        loaded unit other than a failed one, no machine
  inv4  once settled (no starting/stopping anywhere, bounded poll): every
        container's State equals what its unit's ActiveState maps to, and
        running <=> machined knows the machine
"""
import argparse
import json
import os
import subprocess
import sys
import time

BUS = "org.nixos.Containers"
PATH = "/org/nixos/Containers"
IFACE = "org.nixos.Containers"
CT_IFACE = "org.nixos.Containers.Container"
UNIT_PREFIX = "nixos-container@"

passed = 0
failed = 0


def report(ok, what, details=()):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS: {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL: {what}", flush=True)
        for d in details:
            print(f"    {d}", flush=True)


def busctl_json(*args):
    out = subprocess.run(["busctl", "--json=short", "--timeout=10", *args], capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise RuntimeError(f"busctl {' '.join(args)}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def state_from_unit(active):
    # service/core/container_state.cpp stateFromUnit
    return {"active": "running", "reloading": "running", "activating": "starting",
            "deactivating": "stopping", "failed": "failed"}.get(active, "stopped")


def snapshot():
    snap = {}
    listed = busctl_json("call", BUS, PATH, IFACE, "List")["data"][0]
    snap["list"] = {name: {"state": state, "declarative": decl, "path": path}
                    for name, state, decl, path in listed}
    for name, c in snap["list"].items():
        props = busctl_json("call", BUS, c["path"], "org.freedesktop.DBus.Properties", "GetAll", "s", CT_IFACE)["data"][0]
        c["props"] = {k: v["data"] for k, v in props.items()}
    units = busctl_json("call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager", "ListUnitsByPatterns", "asas", "0", "1",
                        UNIT_PREFIX + "*")["data"][0]
    # name, description, load, active, sub, following, path, job id, job type, job path
    snap["units"] = {u[0]: {"load": u[2], "active": u[3], "sub": u[4], "job": u[8]} for u in units}
    machines = busctl_json("call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                           "org.freedesktop.machine1.Manager", "ListMachines")["data"][0]
    snap["machines"] = {}
    for name, klass, service, mpath in machines:
        if klass != "container":
            continue
        entry = snap["machines"].setdefault(name, [])
        try:
            unit = busctl_json("get-property", "org.freedesktop.machine1", mpath,
                               "org.freedesktop.machine1.Machine", "Unit")["data"]
            leader = busctl_json("get-property", "org.freedesktop.machine1", mpath,
                                 "org.freedesktop.machine1.Machine", "Leader")["data"]
        except RuntimeError:
            unit, leader = "?", 0
        entry.append({"unit": unit, "leader": leader, "service": service})
    links = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    snap["links"] = [{"name": l["ifname"], "altnames": l.get("altnames", []),
                      "kind": l.get("linkinfo", {}).get("info_kind", "")} for l in links]
    with open("/proc/self/mountinfo") as f:
        snap["mounts"] = [line.split()[4] for line in f]
    return snap


def unsettled(snap):
    """Reasons the world is not settled yet (empty when it is)."""
    why = []
    for name, c in snap["list"].items():
        unit = c["props"].get("Unit") or f"{UNIT_PREFIX}{name}.service"
        u = snap["units"].get(unit)
        active = u["active"] if u else "inactive"
        if c["state"] in ("starting", "stopping"):
            why.append(f"{name}: State {c['state']}")
        if active in ("activating", "deactivating", "reloading") or (u and u["job"]):
            why.append(f"{name}: unit {unit} {active} job '{u['job'] if u else ''}'")
        if c["state"] != state_from_unit(active):
            why.append(f"{name}: State {c['state']} but unit {unit} is {active}")
    return why


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config-dir", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--runtime-dir", required=True)
    ap.add_argument("--settle", type=float, default=30)
    ap.add_argument("--when", default="check")
    a = ap.parse_args()
    when = a.when

    # Settle: a bounded poll until nothing is in flight and the states agree.
    deadline = time.monotonic() + a.settle
    t0 = time.monotonic()
    while True:
        try:
            snap = snapshot()
            why = unsettled(snap)
        except (RuntimeError, subprocess.SubprocessError, json.JSONDecodeError, KeyError) as e:
            snap, why = None, [f"snapshot failed: {e}"]
        if not why or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if snap is None:
        report(False, f"[inv*] {when}: cannot take a snapshot of the world", why)
        return 1
    settled_in = time.monotonic() - t0
    listed = snap["list"]
    running = {n for n, c in listed.items() if c["state"] == "running"}
    print(f"     {when}: {len(listed)} containers ({len(running)} running: {', '.join(sorted(running)) or '-'}); "
          f"settled in {settled_in:.1f} s" + ("" if not why else " (NOT settled)"), flush=True)

    # inv1: List <=> confs on disk.
    confs, stray = set(), []
    for f in os.listdir(a.config_dir):
        if f.endswith(".conf"):
            confs.add(f[:-len(".conf")])
        else:
            stray.append(f)
    details = [f"listed but no conf: {n}" for n in sorted(set(listed) - confs)]
    details += [f"conf on disk but not listed: {n}.conf" for n in sorted(confs - set(listed))]
    details += [f"stray file in the config dir: {f}" for f in sorted(stray)]
    report(not details, f"[inv1 list=disk] {when}: List and {a.config_dir} agree ({len(listed)} containers)", details)

    # inv2: running => exactly one active unit and one machine; nothing half-registered.
    details = []
    for name in sorted(running):
        c = listed[name]
        unit = c["props"].get("Unit")
        ms = snap["machines"].get(name, [])
        u = snap["units"].get(unit)
        if not u or u["active"] != "active":
            details.append(f"{name}: running but unit {unit} is {u['active'] if u else 'not loaded'}")
        others = [un for un in snap["units"] if un != unit and un.startswith(f"{UNIT_PREFIX}{name}.")]
        if others:
            details.append(f"{name}: more units: {others}")
        if len(ms) != 1:
            details.append(f"{name}: running with {len(ms)} machines: {ms}")
        elif ms[0]["unit"] != unit:
            details.append(f"{name}: machine's unit {ms[0]['unit']} != container's unit {unit}")
        elif c["props"].get("Leader") != ms[0]["leader"]:
            details.append(f"{name}: Leader {c['props'].get('Leader')} != machined's {ms[0]['leader']}")
    # Half-registered, for any name: an active unit without a machine or a machine without an active unit.
    for unit, u in snap["units"].items():
        name = unit[len(UNIT_PREFIX):-len(".service")]
        if u["active"] == "active" and name not in snap["machines"]:
            details.append(f"half-registered: unit {unit} active, no machine {name}")
    for name, ms in snap["machines"].items():
        unit = f"{UNIT_PREFIX}{name}.service"
        u = snap["units"].get(unit)
        if not u or u["active"] not in ("active", "reloading"):
            details.append(f"half-registered: machine {name} ({ms}), unit {unit} {u['active'] if u else 'not loaded'}")
    report(not details, f"[inv2 one unit+machine] {when}: {len(running)} running, each with one unit and one machine",
           details)

    # inv3: nothing left of containers that are not running (listed or not).
    details = []
    netns_dir = os.path.join(a.runtime_dir, "netns")
    pins = set(os.listdir(netns_dir)) if os.path.isdir(netns_dir) else set()
    for p in sorted(pins - running):
        details.append(f"netns pin {netns_dir}/{p} of a container that is not running")
    for l in snap["links"]:
        names = [l["name"], *l["altnames"]]
        if l["kind"] != "veth" and not any(n.startswith("ve-") for n in names):
            continue
        owners = [n[3:] for n in names if n.startswith("ve-")]
        if not any(o in running for o in owners):
            details.append(f"link {l['name']} (kind {l['kind'] or '?'}, altnames {l['altnames']}) "
                           f"of no running container")
    for mnt in snap["mounts"]:
        for prefix in (netns_dir + "/", a.state_dir.rstrip("/") + "/"):
            if mnt.startswith(prefix):
                owner = mnt[len(prefix):].split("/")[0]
                if owner not in running:
                    details.append(f"mount {mnt} of {owner}, not running")
    for unit, u in snap["units"].items():
        name = unit[len(UNIT_PREFIX):-len(".service")]
        if name in running:
            continue
        if u["active"] == "inactive":
            continue
        if u["active"] == "failed" and listed.get(name, {}).get("state") == "failed":
            continue  # a failed unit stays loaded until reset; State says failed
        details.append(f"unit {unit} {u['load']}/{u['active']}/{u['sub']} of {name}, not running")
    for name, ms in snap["machines"].items():
        if name not in running:
            details.append(f"machine {name} {ms} of a container that is not running")
    for name, c in listed.items():
        if name in running:
            continue
        hostif = c["props"].get("HostInterface") or ""
        if hostif and any(l["name"] == hostif for l in snap["links"]):
            details.append(f"{name} ({c['state']}): its HostInterface {hostif} exists")
    report(not details, f"[inv3 no leftovers] {when}: no link, pin, mount, unit or machine of a container "
           f"that is not running", details)

    # inv4: State agrees with systemd and machined, once settled.
    details = list(why)
    for name, c in listed.items():
        present = name in snap["machines"]
        if (c["state"] == "running") != present:
            details.append(f"{name}: State {c['state']} but machined {'has' if present else 'has no'} machine")
    report(not details, f"[inv4 state=world] {when}: every State matches its unit and machined "
           f"(settled within {a.settle:.0f} s)", details)
    return 1 if failed else 0


if __name__ == "__main__":
    # An exception (a changed signature, a missing directory) must show as a
    # failed check, not only as a traceback and exit 1: chaos_driver counts
    # FAIL: lines and also fails a checker that exits 1 without one.
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 -- every failure of the checker is reported
        import traceback
        report(False, "[inv*] the invariant checker crashed; invariants 1-4 are unchecked",
               traceback.format_exc().splitlines())
        sys.exit(1)
