#!/usr/bin/env python3
"""declarative_test.py: `nixos-rebuild switch` through the service (issue 26):
four generations of a NixOS configuration's containers, each evaluated
through nixos/module.nix (tests/nixos/generations.nix, offline, against the
vendored nixpkgs lib) into the declarative set the module writes, and
applied as the module's nixos-containers-declarative unit applies it
(`nixos-container apply-declarative FILE`), to the real service with real
systemd, machined, polkitd and nspawn.

Scenarios:
  1  generation 1: alpha, beta, gamma created and started (AutoStart) as the
     service's own units, declared; the same set again changes nothing;
     Update and Destroy over the bus refused (Declarative), Stop and Start
     work; a caller who is not root may not apply
  2  generation 2: only alpha's system and a limit change: reloaded (Leader
     unchanged), the limit set live on its unit
  3  generation 3: alpha's and gamma's bind change: alpha restarted and sees
     the new bind; gamma (restartIfChanged = false) keeps running as it was
  4  generation 4: beta dropped: stopped, gone from List, its root kept
  5  a broken set (a bad key, a missing system, a name with '_') and an
     imperative container of a declared name: each named, none of their
     changes made, the rest applied; the service restarted keeps the
     declared containers declared

Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
Harness: sandboxlib/harness.py.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import DBUS_ERR, ERR, REPO, U_TENANT, Failed, Tier, probes, spec  # noqa: E402

EVAL_GENERATION = os.path.join(REPO, "tests", "nixos", "eval-generation.sh")


class Decl:
    """The tier's state and its helpers (the bash script's functions)."""

    def __init__(self, t):
        self.t = t
        self.nc = os.path.join(t.dir, "prefix", "bin", "nixos-container")
        self.gen = os.path.join(t.dir, "generations")
        self.bind_a = os.path.join(t.dir, "srv-a")
        self.bind_b = os.path.join(t.dir, "srv-b")
        self.sys_a = self.sys_b = self.bb = None

    def conf(self, name):
        return os.path.join(self.t.dir, "etc-containers", f"{name}.conf")

    def root_of(self, name):
        return os.path.join(self.t.dir, "state", name)

    def eval_generation(self, n):
        """Generation n's declarative set, from tests/nixos/generations.nix, in GEN/n.json: a set."""
        out = subprocess.run([EVAL_GENERATION, str(n), self.sys_a, self.sys_b, self.bind_a, self.bind_b],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise Failed(f"eval-generation.sh {n}: exit {out.returncode}\n{out.stderr}")
        containers = json.loads(out.stdout)["Containers"]
        if not isinstance(containers, dict) or not containers:
            raise Failed(f"generation {n}'s Containers is not a non-empty set: {containers!r}")
        with open(os.path.join(self.gen, f"{n}.json"), "w", encoding="utf-8") as f:
            f.write(out.stdout)
        return sorted(containers)

    def apply(self, file, *expected):
        """apply-declarative exits 0, writes nothing on stderr, and prints exactly the
        EXPECTED "NAME RESULT" lines, in order (the message after ":" aside)."""
        p = self.t.sb(self.nc, "apply-declarative", file, check=False)
        lines = [line.split(":")[0] for line in p.stdout.splitlines()]
        if p.returncode != 0 or p.stderr or lines != list(expected):
            raise Failed(f"exit {p.returncode}; stdout:\n{p.stdout}stderr:\n{p.stderr}expected: {list(expected)}")

    def apply_failing(self, file, want_out, *patterns):
        """Exit 1; stdout is exactly those "NAME RESULT" lines; each pattern is a whole line of stderr."""
        p = self.t.sb(self.nc, "apply-declarative", file, check=False)
        report = f"exit {p.returncode}; stdout:\n{p.stdout}stderr:\n{p.stderr}"
        if p.returncode != 1:
            raise Failed(report)
        if [line.split(":")[0] for line in p.stdout.splitlines()] != list(want_out):
            raise Failed(f"{report}stdout lines are not: {list(want_out)}")
        for pattern in patterns:
            if not any(re.fullmatch(pattern, line) for line in p.stderr.splitlines()):
                raise Failed(f"{report}no stderr line matches: {pattern}")

    def leader_of(self, name):
        leader = self.t.bus.get(name, "Leader")
        if not isinstance(leader, int) or leader <= 0:
            raise Failed(f"Leader of {name} is {leader!r}")
        return leader

    def same_leader(self, name, leader):
        if not isinstance(leader, int) or leader <= 0:
            raise Failed(f"the earlier Leader {leader!r} is not a PID")
        got = self.t.bus.get(name, "Leader")
        if got != leader:
            raise Failed(f"Leader of {name} is {got!r}, expected {leader}")

    def new_leader(self, name, old):
        got = self.leader_of(name)
        if not isinstance(old, int) or old <= 0 or got == old:
            raise Failed(f"Leader of {name} is {got}, was {old!r}")

    def sees(self, name, path, text):
        """The running container reads text from path."""
        out = self.t.sb("nsenter", "-t", str(self.leader_of(name)), "-m", "--", f"{self.bb}/cat", path).stdout
        if out.rstrip("\n") != text:
            raise Failed(f"{name} reads {out!r} from {path}, expected {text!r}")

    def unit_limit(self, name, prop, value):
        got = self.t.sb("systemctl", "show", "-P", prop, f"nixos-container@{name}.service").stdout.strip()
        if got != value:
            raise Failed(f"{prop} of nixos-container@{name}.service is {got!r}, expected {value!r}")

    def declared(self, name):
        got = self.t.bus.get(name, "Declarative")
        if got is not True:
            raise Failed(f"Declarative of {name} is {got!r}, expected True")

    def switches(self, name):
        """The lines switch-to-configuration wrote in its root."""
        path = os.path.join(self.root_of(name), "var", "log", "switch.log")
        if not os.path.isfile(path):
            return 0
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f.read().splitlines() if line == "switch-to-configuration test")

    def switched_once_more(self, name, before):
        n = self.switches(name)
        if n != before + 1:
            raise Failed(f"switch-to-configuration test ran {n} times in {name}, expected {before + 1}")

    def prop_is(self, name, prop, want):
        got = self.t.bus.get(name, prop)
        if got != want:
            raise Failed(f"{prop} of {name} is {got!r}, expected {want!r}")

    def all_running(self, *names):
        for name in names:
            probes.state_is(self.t, name, "running")


def scenario0(t, d):
    with t.scenario("0  sandbox up, payloads, four generations evaluated"):
        t.up()
        d.sys_a = t.make_system("decl-a")
        d.sys_b = t.make_system("decl-b")
        d.bb = f"{d.sys_a}/bin"
        for path in (d.bind_a, d.bind_b, d.gen):
            os.makedirs(path, exist_ok=True)
        for path, text in ((d.bind_a, "A\n"), (d.bind_b, "B\n")):
            with open(os.path.join(path, "marker"), "w", encoding="utf-8") as f:
                f.write(text)
        t.pass_(f"payloads: {d.sys_a} {d.sys_b}")
        for n in (1, 2, 3, 4):
            if not t.check(f"generation {n} evaluated through nixos/module.nix", d.eval_generation, n):
                sys.exit(1)


def no_template_unit(t):
    """systemctl cat finds the service's own unit, and no nixpkgs template unit container@alpha."""
    t.sb("systemctl", "cat", "nixos-container@alpha.service")
    p = t.sb("systemctl", "cat", "container@alpha.service", check=False)
    if p.returncode == 0:
        raise Failed(f"systemctl cat container@alpha.service found it:\n{p.stdout}")


def conf_has_line(path, line):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if line not in lines:
        raise Failed(f"{path} has no line {line!r}: {lines}")


def scenario1(t, d):
    g1 = os.path.join(d.gen, "1.json")
    with t.scenario("1  generation 1: created, started, declared"):
        t.check("apply generation 1: alpha, beta, gamma created", d.apply, g1,
                "alpha created", "beta created", "gamma created")
        for c in ("alpha", "beta", "gamma"):
            t.check(f"{c} is running", probes.state_is, t, c, "running")
            t.check(f"{c} is declared", d.declared, c)
            t.check(f"{c} runs as the service's own unit nixos-container@{c}.service",
                    probes.unit_state, t, f"nixos-container@{c}.service", "active")
        t.check("no nixpkgs template unit container@alpha.service", no_template_unit, t)
        t.check("alpha's conf is marked DECLARATIVE=1", conf_has_line, d.conf("alpha"), "DECLARATIVE=1")
        t.check("alpha's unit has MemoryMax=512M", d.unit_limit, "alpha", "MemoryMax", "536870912")
        t.check("alpha sees bind A at /mnt/data", d.sees, "alpha", "/mnt/data/marker", "A")
        t.check("alpha has its private network: host address 10.231.7.1",
                d.prop_is, "alpha", "HostAddress", "10.231.7.1")
        d.a1, d.b1, d.g1 = (d.leader_of(c) for c in ("alpha", "beta", "gamma"))
        t.check("apply generation 1 again: nothing changes", d.apply, g1,
                "alpha unchanged", "beta unchanged", "gamma unchanged")
        t.check("alpha not restarted by the same set", d.same_leader, "alpha", d.a1)
        t.check("Update of declared alpha is refused (Declarative)", t.bus.expect_error, "Declarative",
                "is declarative", "Update", "sa{sv}", "alpha", spec(AutoStart=("b", False)))
        t.check("Destroy of declared beta is refused (Declarative)", t.bus.expect_error, "Declarative",
                "is declarative", "Destroy", "s", "beta")
        t.check("Stop of declared beta works", t.bus.call, "Stop", "s", "beta")
        t.check("beta is stopped", probes.state_is, t, "beta", "stopped")
        t.check("apply generation 1 again starts AutoStart beta", d.apply, g1,
                "alpha unchanged", "beta started", "gamma unchanged")
        t.check("beta is running again", probes.state_is, t, "beta", "running")
        d.b1 = d.leader_of("beta")
        # A tenant of the shipped owners' rule (group "containers": what it owns)
        # does not own the host's set: polkit's default, "no", answers.
        t.check("a delegated user may not apply (AccessDenied)", t.as_user(U_TENANT).expect_error,
                DBUS_ERR + "AccessDenied", "org.nixos.containers.apply-declarative",
                "ApplyDeclarative", "s", '{"Containers": {}}')
        t.check("after the refusal all three still run", d.all_running, "alpha", "beta", "gamma")


def scenario2(t, d):
    with t.scenario("2  generation 2: a new system reloads, a limit is set live"):
        s2 = d.switches("alpha")
        t.check("apply generation 2: alpha reloaded", d.apply, os.path.join(d.gen, "2.json"),
                "alpha reloaded", "beta unchanged", "gamma unchanged")
        t.check(f"alpha not restarted (Leader {d.a1} kept)", d.same_leader, "alpha", d.a1)
        t.check("alpha's switch-to-configuration test ran once more", d.switched_once_more, "alpha", s2)
        t.check("alpha's SystemPath is system B", d.prop_is, "alpha", "SystemPath", d.sys_b)
        t.check("alpha's unit has MemoryMax=256M, set live", d.unit_limit, "alpha", "MemoryMax", "268435456")
        t.check("beta and gamma untouched", lambda: (d.same_leader("beta", d.b1), d.same_leader("gamma", d.g1)))


def saved_bind_b(t, d):
    binds = t.bus.get("gamma", "BindMounts")
    if not any(b[0] == "/mnt/data" and b[1] == d.bind_b for b in binds):
        raise Failed(f"gamma's BindMounts {binds} have no (/mnt/data, {d.bind_b}, ...)")


def scenario3(t, d):
    with t.scenario("3  generation 3: a bind restarts; restartIfChanged = false does not"):
        t.check("apply generation 3: alpha restarted, gamma's restart pending", d.apply,
                os.path.join(d.gen, "3.json"), "alpha restarted", "beta unchanged", "gamma restart-pending")
        t.check("alpha restarted (a new Leader)", d.new_leader, "alpha", d.a1)
        t.check("alpha is running", probes.state_is, t, "alpha", "running")
        t.check("alpha sees bind B at /mnt/data", d.sees, "alpha", "/mnt/data/marker", "B")
        t.check("alpha keeps MemoryMax=256M on its new unit", d.unit_limit, "alpha", "MemoryMax", "268435456")
        t.check(f"gamma not restarted (Leader {d.g1} kept)", d.same_leader, "gamma", d.g1)
        t.check("gamma still sees bind A until its next start", d.sees, "gamma", "/mnt/data/marker", "A")
        t.check("gamma's saved BindMounts name bind B", saved_bind_b, t, d)


def absent(path):
    if os.path.lexists(path):
        raise Failed(f"{path} exists")


def is_dir(path):
    if not os.path.isdir(path):
        raise Failed(f"{path} is not a directory")


def scenario4(t, d):
    with t.scenario("4  generation 4: beta dropped"):
        t.check("apply generation 4: beta removed", d.apply, os.path.join(d.gen, "4.json"),
                "beta removed", "alpha unchanged", "gamma unchanged")
        t.check("beta is not listed", probes.not_listed, t, "beta", "alpha")
        t.check("beta's machine is gone", probes.machine_absent, t, "beta")
        t.check("beta's unit is gone", probes.unit_absent, t, "beta")
        t.check("beta's conf is gone", absent, d.conf("beta"))
        t.check("beta's root is kept", is_dir, d.root_of("beta"))
        t.check("alpha and gamma untouched",
                lambda: (probes.state_is(t, "alpha", "running"), d.same_leader("gamma", d.g1)))


def write_broken_set(d):
    with open(os.path.join(d.gen, "4.json"), encoding="utf-8") as f:
        s = json.load(f)
    s["Containers"]["alpha"]["Spec"]["MemoryMax"] = "lots"
    s["Containers"]["bad_name"] = {"Spec": {"SystemPath": d.sys_a}}
    s["Containers"]["ghost"] = {"Spec": {"SystemPath": "/nix/store/00000000000000000000000000000000-missing"}}
    s["Containers"]["delta"] = {"Spec": {"SystemPath": d.sys_a}}
    s["Containers"]["epsilon"] = {"Spec": {"SystemPath": d.sys_a}}
    path = os.path.join(d.gen, "broken.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(s, f)
    return path


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def scenario5_broken(t, d):
    e = re.escape(ERR)
    t.check("Create imperative 'delta' over the bus", t.bus.call, "Create", "sa{sv}", "delta",
            spec(SystemPath=("s", d.sys_a)))
    delta_conf = read(d.conf("delta"))
    a3 = d.leader_of("alpha")
    t.check("apply the broken set: each bad container named, epsilon created", d.apply_failing,
            write_broken_set(d), ["epsilon created", "gamma unchanged"],
            f"alpha failed: {e}InvalidArgument: .*MemoryMax.*",
            f"bad_name failed: {e}InvalidArgument: .*bad_name.*'_'.*",
            f"delta failed: {e}AlreadyExists: container 'delta' exists and was not declared.*",
            f"ghost failed: {e}InvalidArgument: .*missing.*")
    t.check("alpha unchanged: same Leader, MemoryMax still 256M",
            lambda: (d.same_leader("alpha", a3), d.unit_limit("alpha", "MemoryMax", "268435456")))

    def delta_untouched():
        if read(d.conf("delta")) != delta_conf:
            raise Failed(f"delta's conf changed:\n{read(d.conf('delta'))}\nwas:\n{delta_conf}")
        d.prop_is("delta", "Declarative", False)

    t.check("delta's conf unchanged and not declared", delta_untouched)
    t.check("ghost and bad_name left nothing", lambda: (probes.not_listed(t, "ghost", "alpha"),
                                                        probes.not_listed(t, "bad_name", "alpha"),
                                                        absent(d.conf("ghost"))))
    t.check("epsilon is declared", d.declared, "epsilon")


def scenario5(t, d):
    with t.scenario("5  a broken set and a taken name change nothing of theirs"):
        scenario5_broken(t, d)
        t.check("kill -9 the service; it comes back", probes.kill_service, t)
        t.check("after the restart alpha is still declared and running",
                lambda: (d.declared("alpha"), probes.state_is(t, "alpha", "running")))
        empty = os.path.join(d.gen, "empty.json")
        with open(empty, "w", encoding="utf-8") as f:
            f.write('{"Containers": {}}\n')
        t.check("an empty set removes every declared container, not delta", d.apply, empty,
                "alpha removed", "epsilon removed", "gamma removed")
        t.check("alpha, epsilon and gamma are gone", lambda: [absent(d.conf(c)) for c in ("alpha", "epsilon", "gamma")])
        t.check("delta stays", probes.state_is, t, "delta", "stopped")
        t.check("delta is still listed", lambda: probes.container_names(t, "delta"))


def body(t):
    d = Decl(t)
    scenario0(t, d)
    scenario1(t, d)
    scenario2(t, d)
    scenario3(t, d)
    scenario4(t, d)
    scenario5(t, d)


if __name__ == "__main__":
    Tier("declarative").run(body)
