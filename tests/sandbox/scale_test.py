#!/usr/bin/env python3
"""scale_test.py: what bench/scale.sh (a thousand containers) found, at a
scale CI can afford, against the real dbus-daemon, systemd, machined and
nspawn of the sandbox.

Scenarios:
  1  every running container's nspawn holds a connection of root to the
     system bus: with 300 such connections held (more than dbus-daemon's
     default of 256 per user), a container still starts, registers with
     machined and runs, under the shipped nixos-containers-limits.conf
  2  the control: the same bus without that file (reloaded) refuses one of
     300 connections of root; with as many held as it admits, a Start (by a
     user polkit allows, whose connection is not root's) fails where
     nspawn registers with machined ("No buffer space available"), which
     is what the 223rd container of a host saw

The connections are held by hold_bus_connections.py inside the sandbox; its
report ("held N", "refused at I: WHY", "held N, refused: WHY") is parsed and
its numbers compared.

Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
the exit status is non-zero when M > 0. Harness: sandboxlib/harness.py.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import SANDBOX, U_ALLOWED, Failed, Tier, probes, spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOLD = os.path.join(HERE, "hold_bus_connections.py")
MACHINED = dict(dest="org.freedesktop.machine1", path="/org/freedesktop/machine1",
                iface="org.freedesktop.machine1.Manager")
HELD = 300
DEFAULT_PER_USER = 256  # dbus-daemon's max_connections_per_user without the shipped file
REFUSED_REGISTER = "Failed to register machine: No buffer space available"


class Holder:
    """hold_bus_connections.py COUNT 120 in the sandbox, as root: its report in WORK, its PID there."""

    def __init__(self, t, count):
        self.t = t
        self.out = os.path.join(t.work, f"holder.{count}.out")
        self.pidfile = os.path.join(t.work, f"holder.{count}.pid")
        with open(self.out, "wb") as report:
            self.proc = subprocess.Popen([SANDBOX, "exec", t.dir, "sh", "-c", 'echo $$ >"$0"; exec "$@"',
                                          self.pidfile, "python3", HOLD, str(count), "120"],
                                         stdin=subprocess.DEVNULL, stdout=report, stderr=subprocess.STDOUT)

    def report(self):
        with open(self.out, encoding="utf-8", errors="replace") as f:
            return f.read()

    def says(self, pattern):
        """The report's first line matching pattern (a regular expression), as its match."""
        for line in self.report().splitlines():
            match = re.fullmatch(pattern, line)
            if match:
                return match
        raise Failed(f"the holder said: {self.report()!r}")

    def release(self):
        """The holder ended inside the sandbox (its connections closed), and its client here."""
        if self.proc.poll() is None and os.path.exists(self.pidfile):
            with open(self.pidfile, encoding="utf-8") as f:
                self.t.sb("kill", f.read().strip(), check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def sandbox(*argv, env=None):
    proc = subprocess.run([SANDBOX, *argv], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise Failed(f"sandbox.sh {argv[0]}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")


def limit_of(path, name):
    """The value of <limit name=NAME> in a bus configuration file, as a number."""
    values = [int(e.text) for e in ElementTree.parse(path).getroot().iter("limit") if e.get("name") == name]
    if len(values) != 1:
        raise Failed(f"{path}: {len(values)} limits {name}")
    return values[0]


def shipped_limits(t):
    per_user = limit_of(f"{t.dir}/bus/system.d/nixos-containers-limits.conf", "max_connections_per_user")
    t.note(f"max_connections_per_user {per_user}")
    if per_user <= HELD:
        raise Failed(f"max_connections_per_user is {per_user}: not above the {HELD} connections held here")


def file_absent(path):
    if os.path.lexists(path):
        raise Failed(f"{path} is there")


def create(t, name, system):
    t.bus.call("Create", "sa{sv}", name, spec(SystemPath=("s", system)))


def holds_all(t, holder):
    held = int(holder.says(r"held (\d+)").group(1))
    if held != HELD:
        raise Failed(f"the holder holds {held}, expected {HELD}")


def started_and_registered(t, name):
    """Start answers, State is running, and machined has the machine, with our Leader."""
    t.bus.call("Start", "s", name)
    probes.state_is(t, name, "running")
    path = t.bus.call("GetMachine", "s", name, **MACHINED)[0]
    theirs = t.bus.call("Get", "ss", "org.freedesktop.machine1.Machine", "Leader", dest=MACHINED["dest"],
                        path=path, iface="org.freedesktop.DBus.Properties")[0]
    ours = t.bus.get(name, "Leader")
    t.note(f"machined's {path}: Leader {theirs}; ours {ours}")
    if not isinstance(theirs, int) or theirs <= 0 or theirs != ours:
        raise Failed(f"machined's Leader {theirs!r}, the service's {ours!r}")


def refused_before_limit(t, holder):
    at = int(holder.says(r"refused at (\d+): .+").group(1))
    t.note(f"refused at {at}")
    if not 1 < at <= DEFAULT_PER_USER + 1:
        raise Failed(f"refused at connection {at}, expected at most the {DEFAULT_PER_USER + 1}th")


def held_to_limit(t, holder):
    held = int(holder.says(r"held (\d+), refused: .+").group(1))
    t.note(f"held {held}")
    if not 0 < held <= DEFAULT_PER_USER:
        raise Failed(f"held {held}, expected 1..{DEFAULT_PER_USER}")


def start_refused_by_the_bus(t, name):
    # StartFailed names the unit (docs/api.md); the unit's own journal says why.
    message = t.as_user(U_ALLOWED).expect_error("StartFailed", f"nixos-container@{name}.service", "Start", "s", name,
                                                timeout=30)
    t.note(f"Start: StartFailed: {message}")
    journal = t.sb("journalctl", "-u", f"nixos-container@{name}.service", "--no-pager").stdout
    if REFUSED_REGISTER not in journal:
        raise Failed(f"the unit's journal does not say '{REFUSED_REGISTER}':\n{journal[-3000:]}")


def scenario_0(t, state):
    t.up()
    state["system"] = t.make_system("scale")
    t.check("the shipped limits are in the sandbox's bus configuration", shipped_limits, t)
    t.check("create c1", create, t, "c1", state["system"])


def scenario_1(t, _state):
    holder = Holder(t, HELD)
    try:
        t.check(f"the bus admits {HELD} connections of root", t.poll, 30000, holds_all, t, holder)
        t.check("c1 starts, running, registered with machined", started_and_registered, t, "c1")
    finally:
        holder.release()
    t.check("stop c1", t.bus.call, "Stop", "s", "c1")


def scenario_2(t, state):
    # dbus-daemon takes its limits at start only: a sandbox of its own.
    t.bus.close()
    t.check("the sandbox down", sandbox, "down", t.dir)
    t.check("the sandbox up again without nixos-containers-limits.conf", sandbox, "up", t.dir,
            env={"SANDBOX_BUS_LIMITS": "0"})
    t.check("the limits file is not in the bus configuration", file_absent,
            f"{t.dir}/bus/system.d/nixos-containers-limits.conf")
    state["system"] = t.make_system("scale")
    t.check("create c2", create, t, "c2", state["system"])  # root's agent connects before the bus is full
    t.as_user(U_ALLOWED).unique_name()
    holder = Holder(t, HELD)
    try:
        t.check(f"the bus refuses a connection of root before the {HELD}th", t.poll, 30000, refused_before_limit,
                t, holder)
    finally:
        holder.release()  # it has exited; hold the most the bus now admits, then start
    holder = Holder(t, "fill")
    try:
        t.check("root's connections held up to the bus's limit", t.poll, 30000, held_to_limit, t, holder)
        t.check("a Start then fails at nspawn's machine registration", start_refused_by_the_bus, t, "c2")
    finally:
        holder.release()


SCENARIOS = (
    ("0  sandbox up, payload, a container", scenario_0),
    (f"1  {HELD} connections of root held: a container still starts and registers", scenario_1),
    ("2  control: without the shipped limits, root's 257th connection and a Start are refused", scenario_2),
)


def body(t):
    state = {}
    for title, scenario in SCENARIOS:
        with t.scenario(title):
            scenario(t, state)


if __name__ == "__main__":
    Tier("scale").run(body)
