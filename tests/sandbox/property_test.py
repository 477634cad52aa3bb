#!/usr/bin/env python3
"""property_test.py: "accepted means startable" (issue 16) in one sandbox:
specs generated from the spec keys (property_driver.py), each one that
Create accepts must Start to running with the payload seeing its network,
binds and tmpfs; each one it refuses must carry an org.nixos.Containers
error name. The driver prints one PASS/FAIL line per check.

Settings: PROPERTY_SEED (default: a random seed, printed), PROPERTY_CASES
(default 80). CTest runs PROPERTY_SEED=1 with the CI-sized case count; a
longer run on demand:
  PROPERTY_SEED=$RANDOM PROPERTY_CASES=400 tests/sandbox/property_test.py
and a failure replays with the seed its FAIL line prints.
"""
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sandboxlib import SANDBOX, Failed, Tier, probes, spec  # noqa: E402

WITNESS = "prop-witness"


def settings():
    seed = os.environ.get("PROPERTY_SEED") or str(random.randrange(2**30))
    cases = os.environ.get("PROPERTY_CASES") or "80"
    if not (seed.isdigit() and cases.isdigit()):
        print("PROPERTY_SEED and PROPERTY_CASES must be numbers", file=sys.stderr)
        sys.exit(2)
    return int(seed), int(cases)


def body(t, seed, cases):
    fixtures_dir = os.path.join(t.dir, "prop-fixtures")

    with t.scenario("0  sandbox up, payload, fixtures"):
        t.up()
        system = t.make_system("propok")
        for i in range(4):
            os.makedirs(f"{fixtures_dir}/h{i}", exist_ok=True)
            with open(f"{fixtures_dir}/h{i}/marker", "w", encoding="utf-8") as marker:
                marker.write(f"h{i}\n")
        with open(f"{fixtures_dir}/f0", "w", encoding="utf-8") as file:
            file.write("prop-file\n")

        def fixtures():
            for argv in (("ip", "link", "add", "br-prop", "type", "bridge"),
                         ("ip", "addr", "add", "10.233.7.1/24", "dev", "br-prop"),
                         ("ip", "link", "set", "br-prop", "up"),
                         ("ip", "link", "add", "dprop0", "type", "veth", "peer", "name", "dprop0p"),
                         ("ip", "link", "add", "dprop1", "type", "veth", "peer", "name", "dprop1p"),
                         ("ip", "link", "set", "dprop1", "up")):
                t.sb(*argv)

        t.check("fixtures: bridge br-prop (10.233.7.1/24), veths dprop0 (to move), dprop1 (a macvlan parent)",
                fixtures)
        # A container kept through the run: its object gives the driver the spec keys.
        t.check("witness container (its object lists the spec keys)",
                t.bus.call, "Create", "sa{sv}", WITNESS, spec(SystemPath=("s", system)))

    with t.scenario(f"1  {cases} generated specs, seed {seed}: accepted => startable"):
        driver = subprocess.run(
            [SANDBOX, "exec", t.dir, "/usr/bin/python3", os.path.join(HERE, "property_driver.py"), str(seed),
             str(cases), system, fixtures_dir, WITNESS],
            capture_output=True, text=True, timeout=cases * 20 + 120)
        out = driver.stdout + driver.stderr
        print(out, end="", flush=True)
        counts = re.findall(r"^property-counts: (\d+) (\d+)$", out, re.M)
        if counts:
            t.passed += int(counts[-1][0])
            t.failed += int(counts[-1][1])
        if driver.returncode != 0 or not counts:
            t.fail(f"the driver ended with exit {driver.returncode} before its summary")
        started = re.findall(r"(\d+) started", out)
        print(f"property: seed {seed}: {started[-1] if started else 0} started of {cases} generated specs")

    with t.scenario("2  nothing left"):
        t.check("witness: Destroy", t.bus.call, "Destroy", "s", WITNESS)

        def leftovers():
            names = probes.container_names(t)
            if names:
                raise Failed(f"containers left: {names}")
            machines = probes.machine_names(t)
            if machines != [".host"]:
                raise Failed(f"machines left: {machines}")

        t.check("no container and no machine left", leftovers)


if __name__ == "__main__":
    SEED, CASES = settings()
    print(f"property: PROPERTY_SEED={SEED} PROPERTY_CASES={CASES} "
          f"(replay: PROPERTY_SEED={SEED} PROPERTY_CASES={CASES} {sys.argv[0]})", flush=True)
    Tier("property").run(lambda t: body(t, SEED, CASES))
