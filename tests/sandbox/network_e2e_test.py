#!/usr/bin/env python3
"""network_e2e_test.py: container networking end to end (issue 4): the
installed service against real systemd, machined and systemd-nspawn in one
sandbox (scripts/sandbox/sandbox.sh). The sandbox's own network namespace
plays "the host"; every client runs inside it. The service prepares each
container's namespace and links over netlink before nspawn starts; tests
may use ip(8) for their own fixtures (bridges, interfaces to move).

Scenarios:
  1  network ready before init: the ping-first payload's first ping
     succeeds, 5 start/stop runs out of 5
  2  IPv6 only, and IPv4 + IPv6: pings both ways; the Addresses property,
     Inspect, machined's GetMachineAddresses and machinectl status agree
  3  HostBridge: two containers on br0 reach the host and each other
  4  ForwardPorts: tcp (listener payload) and udp, from the sandbox and
     from a client namespace behind it
  5  ExtraVeths: an addressed one and a bridged one; gone after Stop
  6  Interfaces moved in and returned; Macvlans created inside
  7  errors: missing bridge, address in use, missing interface, a port
     forwarded twice; nothing left half-configured
  9  NetworkNamespace joins a namespace the host made (and leaves it to the
     host); CopyResolvConf false leaves etc/resolv.conf alone; LocalMacAddress
     is eth0's MAC
 10  an automatic private network (no address given) is dual-stack: an
     IPv4 pair of 10.233.0.0/16 and a /64 of the ULA pool derived from the
     machine id; pings both ways over both; Update PrivateNetwork false
     drops both pairs
  8  the service killed while a private-network container starts or runs:
     after stopping everything no ve-* link and no namespace pin remain

Values read from the service, machined and systemd (properties, Inspect,
GetMachineAddresses, the unit's ExecStart argv) are typed D-Bus values
(sandboxlib/bus.py); the links, addresses and routes are ip(8)'s JSON.

Runs as root (exit 77 otherwise, "skipped" for ctest). The last line is
always "N passed, M failed"; the exit status is non-zero when M > 0.
Settings: NIXOS_CONTAINERS_BUILD_DIR (see sandbox.sh), E2E_STEP_TIMEOUT.
Harness: sandboxlib/harness.py.
"""
import concurrent.futures
import contextlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import DBUS_ERR, SANDBOX, BusError, Failed, Tier, opath, probes, spec  # noqa: E402

PROPS_IF = "org.freedesktop.DBus.Properties"
MACHINED = probes.MACHINED
SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
PN = {"PrivateNetwork": ("b", True)}


def pairs(**keys):
    """spec() keys with the private network on."""
    return {**PN, **keys}


class Net:
    """The tier's helpers: the container's namespace, links, pins, addresses."""

    def __init__(self, t):
        self.t = t
        self.bus = t.bus
        self.netns_dir = os.path.join(t.dir, "runtime", "netns")  # NIXOS_CONTAINERS_RUNTIME_DIR/netns
        self.last_error = ""

    # ------------------------------------------------------ the service ---
    def prop(self, name, key):
        return self.bus.get(name, key)

    def root_of(self, name):
        return os.path.join(self.t.dir, "state", name)

    def create(self, name, system, **keys):
        """Create with SystemPath plus keys (spec's KEY=(sig, value)); replies the container's path."""
        path, = self.bus.call("Create", "sa{sv}", name, spec(SystemPath=("s", system), **keys))
        if path != opath(name):
            raise Failed(f"Create replied {path!r}, expected {opath(name)!r}")

    def mgr(self, method, name):
        return self.bus.call(method, "s", name)

    def update(self, name, **keys):
        return self.bus.call("Update", "sa{sv}", name, spec(**keys))

    def expect_error(self, want, substring, method, sig, *args):
        """bus.expect_error, keeping the message for the notes and later checks."""
        self.last_error = ""
        self.last_error = self.bus.expect_error(want, substring, method, sig, *args)

    def state_is(self, name, state):
        probes.state_is(self.t, name, state)

    def state_note(self, name):
        """NAME's State for a note: the error's name when the service does not answer."""
        try:
            return self.prop(name, "State")
        except BusError as error:
            return f"({error.name})"

    def leader(self, name):
        pid = self.prop(name, "Leader")
        if not isinstance(pid, int) or pid <= 0:
            raise Failed(f"no leader for {name} ({pid!r})")
        return pid

    # ----------------------------------------------------- the sandbox ---
    def sb(self, *argv, **kwargs):
        return self.t.sb(*argv, **kwargs)

    def ok(self, *argv):
        """argv succeeds in the sandbox (a check)."""
        self.sb(*argv)

    def in_ct(self, name, *argv, check=True):
        """argv (the sandbox's binaries) in NAME's network namespace, through its leader."""
        return self.sb("nsenter", "-t", str(self.leader(name)), "-n", *argv, check=check)

    def ct_ok(self, name, *argv):
        self.in_ct(name, *argv)

    def ipj(self, *argv, ct=None):
        """ip -j ARGV in the sandbox, or in container ct's namespace: parsed."""
        proc = self.in_ct(ct, "ip", "-j", *argv) if ct else self.sb("ip", "-j", *argv)
        return json.loads(proc.stdout.strip() or "[]")

    def link(self, dev, ct=None):
        links = self.ipj("-d", "link", "show", "dev", dev, ct=ct)
        if len(links) != 1:
            raise Failed(f"ip link show dev {dev}: {links}")
        return links[0]

    def addrs(self, dev, ct=None, family=None):
        """dev's addresses, 'ADDR/PREFIX' -> ip's addr_info entry (family 4: IPv4 only)."""
        argv = ["-4"] if family == 4 else []
        links = self.ipj(*argv, "addr", "show", "dev", dev, ct=ct)
        return {f"{a['local']}/{a['prefixlen']}": a for link in links for a in link.get("addr_info", [])}

    def has_addr(self, dev, cidr, ct=None, family="inet"):
        got = self.addrs(dev, ct)
        if cidr not in got or got[cidr]["family"] != family:
            raise Failed(f"{dev} has {sorted(got)}, not {family} {cidr}")
        return got[cidr]

    def route_via(self, dst, dev, gateway=None, ct=None, six=False):
        """A route to dst (or 'default') through dev (and gateway)."""
        routes = self.ipj(*(["-6"] if six else []), "route", "show", dst, ct=ct)
        for r in routes:
            if r.get("dev") == dev and (gateway is None or r.get("gateway") == gateway):
                return
        raise Failed(f"no route to {dst} via {gateway or '-'} dev {dev}: {routes}")

    def link_has(self, dev, **want):
        got = self.link(dev)
        wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
        if wrong:
            raise Failed(f"{dev}: {wrong}, expected {want}")

    def ping4(self, addr):
        self.sb("busybox", "ping", "-c1", "-W2", addr)

    def ping6(self, addr):
        self.sb("busybox", "ping6", "-c1", "-W2", addr)

    # ------------------------------------------------ the payload's log ---
    def rm_ping_log(self, name):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.root_of(name), "var/log/ping-first.log"))

    def first_pings_ok(self, name, *targets):
        """The ping-first payload's log: exactly one "ok" line per target, in order, then "done"."""
        path = os.path.join(self.root_of(name), "var/log/ping-first.log")
        if not os.path.isfile(path):
            raise Failed(f"no {path}")
        with open(path, encoding="utf-8") as log:
            got = log.read().rstrip("\n")
        want = "".join(f"ping-first: {x} ok\n" for x in targets) + "ping-first: done"
        if got != want:
            raise Failed(f"ping-first.log:\n{got}\nexpected:\n{want}")

    # ---------------------------------------- absences, positively probed ---
    def no_ve_links(self):
        left = [n for n in probes.link_names(self.t) if n.startswith(("ve-", "vb-"))]
        if left:
            raise Failed(f"links left: {left}\n{self.sb('ip', '-br', 'link').stdout}")

    def pin_gone(self, name):
        pin = os.path.join(self.netns_dir, name)
        try:
            probes.path_absent(self.t, pin)
        except Failed as why:
            raise Failed(f"{why}\n{self.sb('findmnt', pin, check=False).stdout}") from None

    def net_gone(self, name, hostif=None):
        """Nothing of NAME's network on the sandbox side: no link ve-NAME (name or
        altname) nor hostif, no pin. Every leftover is reported."""
        links = [f"ve-{name}", *([hostif] if hostif else [])]
        errors = []
        for probe, args in ((probes.link_absent, (self.t, *links)), (self.pin_gone, (name,))):
            try:
                probe(*args)
            except Failed as why:
                errors.append(str(why))
        if errors:
            raise Failed("\n".join(errors))

    def pins_empty(self):
        """No file under NETNS_DIR (when it exists), no mount below it in a listing that shows /."""
        files = self.sb("sh", "-c", 'if [ -e "$1" ]; then ls -A "$1"; fi; echo PROBE-OK', "sh",
                        self.netns_dir).stdout.splitlines()
        if not files or files[-1] != "PROBE-OK":
            raise Failed(f"cannot probe {self.netns_dir}: {files}")
        mounts = self.sb("findmnt", "-rn", "-o", "TARGET").stdout.splitlines()
        if "/" not in mounts:
            raise Failed(f"findmnt does not show /: the listing proves nothing: {mounts}")
        left = [f for f in files[:-1] if f] + [m for m in mounts if f"{self.netns_dir}/" in m]
        if left:
            raise Failed(f"left under {self.netns_dir}: {left}")

    def nothing_left(self):
        self.no_ve_links()
        self.pins_empty()

    def removed(self, fn, *args):
        """fn holds once the links' removal is done. A Stop answers when the unit is
        stopped; the release of its links follows in the container's background
        queue (about 16 ms a link), so absence is polled."""
        return self.t.poll(5000, fn, *args)

    def pin_mounted(self, name):
        pin = os.path.join(self.netns_dir, name)
        types = self.sb("findmnt", "-n", "-o", "FSTYPE", pin, check=False).stdout.split()
        if "nsfs" not in types:
            raise Failed(f"no nsfs mount at {pin} (findmnt: {types})")

    # ------------------------------------------------- the nspawn argv ---
    def unit_argv(self, name):
        """The words of the ExecStart argv of NAME's unit, as systemd holds them (typed)."""
        unit, = self.bus.call("GetUnit", "s", f"nixos-container@{name}.service", dest=SYSTEMD[0],
                              path=SYSTEMD[1], iface=SYSTEMD[2])
        execs, = self.bus.call("Get", "ss", "org.freedesktop.systemd1.Service", "ExecStart", dest=SYSTEMD[0],
                               path=unit, iface=PROPS_IF)
        return [word for command in execs for word in command[1]]

    def argv_has(self, name, *words):
        argv = self.unit_argv(name)
        for word in words:
            if word not in argv:
                raise Failed(f"argv lacks {word!r}: {' '.join(argv)}")
        return argv

    # ------------------------------------------------------ addresses ---
    def addrs_prop(self, name):
        return sorted(self.prop(name, "Addresses"))

    def addrs_inspect(self, name):
        return sorted(json.loads(self.mgr("Inspect", name)[0])["Addresses"])

    def addrs_machined(self, name):
        rows, = self.bus.call("GetMachineAddresses", "s", name, dest=MACHINED[0], path=MACHINED[1],
                              iface=MACHINED[2])
        return sorted(str(ipaddress.ip_address(bytes(a))) for _, a in rows)

    def addrs_machinectl(self, name):
        """machinectl status's "Address:" lines (the CLI's text)."""
        out = self.sb("machinectl", "status", name, "--no-pager", "--lines=0").stdout
        got, on = [], False
        for line in out.splitlines():
            first = re.match(r"^\s*Address:\s*(.*)$", line)
            if first:
                on = True
                got.append(first.group(1).strip())
            elif on and re.match(r"^\s*[A-Z][A-Za-z]*: ", line):
                on = False
            elif on:
                got.append(re.sub(r"\s", "", line))
        return sorted(got)

    def addresses_agree(self, name, *must):
        """The property, Inspect, machined and machinectl agree, and hold each of must."""
        seen = {"property": self.addrs_prop(name), "Inspect": self.addrs_inspect(name),
                "machined": self.addrs_machined(name), "machinectl": self.addrs_machinectl(name)}
        listing = "\n".join(f"{k + ':':<11} {v}" for k, v in seen.items())
        if any(v != seen["property"] for v in seen.values()):
            raise Failed(f"they differ:\n{listing}")
        missing = [a for a in must if a not in seen["property"]]
        if missing:
            raise Failed(f"{missing} missing:\n{listing}")

    def planned_agree(self, name, *want):
        p, i = self.addrs_prop(name), self.addrs_inspect(name)
        if not p == i == sorted(want):
            raise Failed(f"property {p}, Inspect {i}, expected {sorted(want)}")

    # -------------------------------------------------- service killed ---
    def start_in_background(self, name):
        """Start NAME on a connection of its own, in a thread: (thread, outcome)."""
        bus = self.t.new_bus()
        bus.unique_name()  # the agent is up before the call goes
        outcome = {}

        def start():
            try:
                outcome["value"] = bus.call("Start", "s", name, timeout=40)
            except BusError as error:
                outcome["error"] = error

        thread = threading.Thread(target=start, daemon=True)
        thread.start()
        return thread, outcome

    @staticmethod
    def in_flight(thread, outcome):
        """The Start's caller saw the service die with its call: the bus's NoReply."""
        thread.join(STEP_JOIN)
        if thread.is_alive():
            raise Failed("the Start has not answered")
        error = outcome.get("error")
        if error is None or error.name != DBUS_ERR + "NoReply":
            raise Failed(f"the Start's answer: {error or outcome.get('value')}, expected {DBUS_ERR}NoReply")

    def stale_network(self, name):
        """What a kill between the network's preparation and the unit's start leaves:
        the namespace pinned at the service's path with eth0 inside, ve-NAME outside."""
        pin = os.path.join(self.netns_dir, name)
        for argv in (("mkdir", "-p", self.netns_dir), ("touch", pin),
                     ("unshare", "-n", "mount", "--bind", "/proc/self/ns/net", pin),
                     ("ip", "link", "add", f"ve-{name}", "type", "veth", "peer", "name", "eth0", "netns", pin),
                     ("ip", "link", "set", f"ve-{name}", "up")):
            self.sb(*argv)
        self.pin_mounted(name)

    def unstale(self, name):
        """Removed by hand when the service left them, so that later checks see only their own leftovers."""
        pin = os.path.join(self.netns_dir, name)
        self.sb("ip", "link", "del", f"ve-{name}", check=False)
        self.sb("umount", pin, check=False)
        self.sb("rm", "-f", pin)


STEP_JOIN = 45


# -------------------------------------------------------------- scenario 0 ---
def s0_up(t, n):
    t.up()
    kinds = (("netping", "ping-first"), ("netlisten", "listener"), ("netslow", "slow"))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        systems = list(pool.map(lambda k: t.make_system(*k), kinds))
    t.pass_(f"payloads: {' '.join(systems)}")

    def on_bus():
        owner, = t.bus.call("GetNameOwner", "s", "org.nixos.Containers", dest=DBUS[0], path=DBUS[1],
                            iface=DBUS[2])
        if not owner.startswith(":"):
            raise Failed(f"owner {owner!r}")

    t.check("service is on the bus", on_bus)
    t.check("no ve-* link and no pin before the first container", n.nothing_left)
    return systems


# -------------------------------------------------------------- scenario 1 ---
def s1_host_end(n, c):
    n.has_addr(f"ve-{c}", "10.40.0.1/32")
    n.route_via("10.40.0.2", f"ve-{c}")


def s1_container_end(n, c):
    n.has_addr("eth0", "10.40.0.2/32", ct=c)
    n.route_via("default", "eth0", gateway="10.40.0.1", ct=c)


def s1_argv(n, c):
    argv = n.argv_has(c, f"--network-namespace-path={n.netns_dir}/{c}")
    if any("--private-network" in word for word in argv):
        raise Failed(f"argv has --private-network: {' '.join(argv)}")


def s1_first_run(t, n, c):
    t.check(f"nspawn got --network-namespace-path={n.netns_dir}/{c} and no --private-network", s1_argv, n, c)
    t.check(f"the namespace is pinned at {n.netns_dir}/{c} (nsfs)", n.pin_mounted, c)
    t.check(f"HostInterface is ve-{c}", equals, n.prop, c, "HostInterface", f"ve-{c}")
    t.check("the host reaches the container: ping 10.40.0.2", n.ping4, "10.40.0.2")
    t.check(f"host end ve-{c} has 10.40.0.1/32 and a route to 10.40.0.2", s1_host_end, n, c)
    t.check("container end is eth0 with 10.40.0.2/32 and a default route via 10.40.0.1", s1_container_end, n, c)


def equals(read, name, key, want):
    got = read(name, key)
    if got != want:
        raise Failed(f"{key} of {name} is {got!r}, expected {want!r}")


def s1_runs(t, n, c):
    for run in range(1, 6):
        n.rm_ping_log(c)
        t0 = time.monotonic()
        t.check(f"run {run}: Start {c}", n.mgr, "Start", c)
        t.note(f"run {run}: Start took {int((time.monotonic() - t0) * 1000)} ms")
        t.check(f"run {run}: init's first action, ping 10.40.0.1, succeeded", n.first_pings_ok, c, "10.40.0.1")
        if run == 1:
            s1_first_run(t, n, c)
        t.check(f"run {run}: Stop {c}", n.mgr, "Stop", c)
        t.check(f"run {run}: after Stop no ve-{c} link and no pin", n.removed, n.net_gone, c)


def s1(t, n, pf):
    c = "pfirst"
    t.check(f"Create {c}: ping-first, PrivateNetwork, HostAddress 10.40.0.1, LocalAddress 10.40.0.2",
            n.create, c, pf, **pairs(HostAddress=("s", "10.40.0.1"), LocalAddress=("s", "10.40.0.2")))
    s1_runs(t, n, c)
    # The Stop answers before the links are deleted (their removal follows in
    # the container's background queue): a Start sent right after its answer
    # must still find a clean host, and have its network at boot.
    t.check(f"Start {c} again", n.mgr, "Start", c)
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    n.rm_ping_log(c)
    t.check("a Start right after the Stop's answer succeeds", n.mgr, "Start", c)
    t.check("its init's first ping, 10.40.0.1, succeeded", n.first_pings_ok, c, "10.40.0.1")
    t.check(f"the host end ve-{c} has 10.40.0.1/32 and a route to 10.40.0.2", s1_host_end, n, c)
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"once the removal is done: no ve-{c} link and no pin", n.removed, n.net_gone, c)
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)


# -------------------------------------------------------------- scenario 2 ---
def no_ipv4(n, c):
    """The listing works (it shows lo's 127.0.0.1) and has no other IPv4 address."""
    links = n.ipj("-4", "addr", "show", ct=c)
    got = [(link.get("ifname"), f"{a['local']}/{a['prefixlen']}") for link in links
           for a in link.get("addr_info", [])]
    if ("lo", "127.0.0.1/8") not in got:
        raise Failed(f"no 127.0.0.1 on lo: the listing proves nothing: {got}")
    others = [g for g in got if g[0] != "lo"]
    if others:
        raise Failed(f"IPv4 addresses: {others}")


def s2_host_end(n, c):
    info = n.has_addr(f"ve-{c}", "fc00::1/128", family="inet6")
    if info.get("tentative"):
        raise Failed(f"fc00::1 on ve-{c} is tentative: {info}")
    n.route_via("fc00::2", f"ve-{c}", six=True)


def s2_pings(t, n, c6, c46):
    t.check(f"{c6}: init's first ping6 fc00::1 succeeded", n.first_pings_ok, c6, "fc00::1")
    t.check(f"{c46}: init's first pings 10.46.0.1 and fc00:46::1 succeeded", n.first_pings_ok, c46, "10.46.0.1",
            "fc00:46::1")
    t.check(f"host -> {c6}: ping6 fc00::2", n.ping6, "fc00::2")
    t.check(f"host -> {c46}: ping 10.46.0.2", n.ping4, "10.46.0.2")
    t.check(f"host -> {c46}: ping6 fc00:46::2", n.ping6, "fc00:46::2")
    t.check(f"{c6} -> host now too (nsenter ping6 fc00::1)", n.ct_ok, c6, "busybox", "ping6", "-c1", "-W2", "fc00::1")
    t.check(f"{c6} has no IPv4 address but loopback's", no_ipv4, n, c6)
    t.check(f"host end ve-{c6} has fc00::1/128 (not tentative) and a route to fc00::2", s2_host_end, n, c6)


def s2(t, n, pf):
    c6, c46 = "only6", "dual"
    t.check(f"Create {c6}: HostAddress6 fc00::1, LocalAddress6 fc00::2", n.create, c6, pf,
            **pairs(HostAddress6=("s", "fc00::1"), LocalAddress6=("s", "fc00::2")))
    t.check(f"Create {c46}: 10.46.0.1/10.46.0.2 and fc00:46::1/fc00:46::2", n.create, c46, pf,
            **pairs(HostAddress=("s", "10.46.0.1"), LocalAddress=("s", "10.46.0.2"),
                    HostAddress6=("s", "fc00:46::1"), LocalAddress6=("s", "fc00:46::2")))
    t.check(f"Start {c6}", n.mgr, "Start", c6)
    t.check(f"Start {c46}", n.mgr, "Start", c46)
    s2_pings(t, n, c6, c46)
    t.check(f"{c6} addresses agree (property, Inspect, GetMachineAddresses, machinectl) and have fc00::2",
            n.addresses_agree, c6, "fc00::2")
    t.check(f"{c46} addresses agree and have 10.46.0.2 and fc00:46::2", n.addresses_agree, c46, "10.46.0.2",
            "fc00:46::2")
    for c in (c6, c46):
        t.note(f"{c}: {' '.join(n.addrs_prop(c))}")
    t.check(f"Stop {c6}", n.mgr, "Stop", c6)
    t.check(f"Stop {c46}", n.mgr, "Stop", c46)
    t.check("no ve-* link, no pin", n.removed, n.nothing_left)
    t.check(f"after Stop, property and Inspect agree on the planned addresses of {c46}", n.planned_agree, c46,
            "10.46.0.2", "fc00:46::2")
    t.check(f"Destroy {c6}", n.mgr, "Destroy", c6)
    t.check(f"Destroy {c46}", n.mgr, "Destroy", c46)


# -------------------------------------------------------------- scenario 7 ---
def after_failure(n, c):
    """Stopped, no link, no pin."""
    n.state_is(c, "stopped")
    n.net_gone(c)
    n.nothing_left()


def record_error(t, n, what):
    t.note(f"{what} -> {n.last_error}")


def s7_bridge(t, n, pf):
    c = "badbridge"
    t.check(f"Create {c} with HostBridge nosuchbr0", n.create, c, pf,
            **pairs(HostBridge=("s", "nosuchbr0"), LocalAddress=("s", "10.51.0.2/24")))
    t.check(f"Start {c} -> NetworkSetupFailed naming the bridge", n.expect_error, "NetworkSetupFailed", "nosuchbr0",
            "Start", "s", c)
    record_error(t, n, "missing bridge")
    t.check(f"{c}: stopped, no link, no pin", after_failure, n, c)


def s7_addr_in_use(t, n, pf):
    c = "addrinuse"

    def blocker():
        n.sb("ip", "link", "add", "blk0", "type", "veth", "peer", "name", "blk1")
        n.sb("ip", "addr", "add", "10.44.0.1/24", "dev", "blk0")

    t.check("fixture: 10.44.0.1/24 on blk0 (one end of a veth pair) in the sandbox", blocker)
    t.check(f"Create {c} with HostAddress 10.44.0.1", n.create, c, pf,
            **pairs(HostAddress=("s", "10.44.0.1"), LocalAddress=("s", "10.44.0.2")))
    t.check(f"Start {c} -> NetworkSetupFailed naming 10.44.0.1 and blk0", n.expect_error, "NetworkSetupFailed",
            "10.44.0.1", "Start", "s", c)
    record_error(t, n, "address in use")
    t.check("the message names the interface that has it (blk0)", lambda: "blk0" in n.last_error)
    t.check(f"{c}: stopped, no link, no pin", after_failure, n, c)
    t.check("blk0 keeps its address", n.has_addr, "blk0", "10.44.0.1/24")
    t.check("fixture: address removed from blk0", n.ok, "ip", "addr", "del", "10.44.0.1/24", "dev", "blk0")
    t.check(f"Start {c} now succeeds (nothing stale in the way)", n.mgr, "Start", c)
    t.check(f"{c}: first ping succeeded", n.first_pings_ok, c, "10.44.0.1")
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"{c}: no link, no pin", n.removed, n.net_gone, c)


def s7_no_such_if(t, n, pf):
    c = "nosuchif"
    t.check(f"Create {c} with Interfaces [nosuchif0]", n.create, c, pf,
            **pairs(HostAddress=("s", "10.45.0.1"), LocalAddress=("s", "10.45.0.2"),
                    Interfaces=("as", ["nosuchif0"])))
    t.check(f"Start {c} -> NetworkSetupFailed naming nosuchif0", n.expect_error, "NetworkSetupFailed", "nosuchif0",
            "Start", "s", c)
    record_error(t, n, "missing interface")
    t.check(f"{c}: stopped, no link (its main veth was not left behind), no pin", after_failure, n, c)


def s7_ports(t, n, pf):
    def fwd(proto, port, inner):
        return {"ForwardPorts": ("a(sqq)", [[proto, port, inner]])}

    t.check("Create port1 forwarding tcp 9090", n.create, "port1", pf, **pairs(**fwd("tcp", 9090, 80)))
    t.check("Create port2 forwarding the same tcp 9090 -> InvalidArgument at Create", n.expect_error,
            "InvalidArgument", "9090", "Create", "sa{sv}", "port2",
            spec(SystemPath=("s", pf), **pairs(**fwd("tcp", 9090, 81))))
    record_error(t, n, "tcp 9090 forwarded twice")
    t.check("port2 does not exist", n.expect_error, "NoSuchContainer", "", "GetContainer", "s", "port2")
    t.check("Create port3 forwarding udp 9090 (another protocol) succeeds", n.create, "port3", pf,
            **pairs(**fwd("udp", 9090, 80)))
    t.check("Update port3 to forward tcp 9090 too -> InvalidArgument", n.expect_error, "InvalidArgument", "9090",
            "Update", "sa{sv}", "port3", spec(**fwd("tcp", 9090, 80)))
    record_error(t, n, "Update to a port forwarded elsewhere")


def s7(t, n, pf):
    s7_bridge(t, n, pf)
    s7_addr_in_use(t, n, pf)
    s7_no_such_if(t, n, pf)
    s7_ports(t, n, pf)
    for c in ("badbridge", "addrinuse", "nosuchif", "port1", "port3"):
        t.check(f"Destroy {c}", n.mgr, "Destroy", c)
    n.sb("ip", "link", "del", "blk0", check=False)
    t.check("no ve-* link, no pin", n.nothing_left)


# -------------------------------------------------------------- scenario 3 ---
def bridged_host_end(n, c):
    """Enslaved to br0, up, and no IPv4 address (the module addresses it not)."""
    n.link_has(f"ve-{c}", master="br0", operstate="UP")
    v4 = n.addrs(f"ve-{c}", family=4)
    if v4:
        raise Failed(f"ve-{c} has an IPv4 address: {sorted(v4)}")


def bridge_empty(n):
    """No ve-* link, no pin; br0 is still there, with no ports."""
    n.nothing_left()
    n.link("br0")
    ports = n.ipj("link", "show", "master", "br0")
    if ports:
        raise Failed(f"br0 still has: {[p['ifname'] for p in ports]}")


def s3_fixture(n):
    n.sb("ip", "link", "add", "br0", "type", "bridge")
    n.sb("ip", "addr", "add", "10.50.0.1/24", "dev", "br0")
    n.sb("ip", "link", "set", "br0", "up")


def s3_create(t, n, pf):
    def bridged(addr, targets):
        return pairs(HostBridge=("s", "br0"), LocalAddress=("s", addr),
                     ExtraFlags=("as", [f"--setenv=PING_TARGETS={targets}"]))

    t.check("Create bra: HostBridge br0, LocalAddress 10.50.0.2/24; its init pings 10.50.0.1", n.create, "bra", pf,
            **bridged("10.50.0.2/24", "10.50.0.1"))
    t.check("Create brb: HostBridge br0, LocalAddress 10.50.0.3/24; its init pings 10.50.0.1 and bra", n.create,
            "brb", pf, **bridged("10.50.0.3/24", "10.50.0.1,10.50.0.2"))


def s3(t, n, pf):
    t.check("fixture: bridge br0 with 10.50.0.1/24 in the sandbox (ip)", s3_fixture, n)
    s3_create(t, n, pf)
    t.check("Start bra", n.mgr, "Start", "bra")
    t.check("Start brb", n.mgr, "Start", "brb")
    t.check("bra: init's first ping, the bridge's 10.50.0.1, succeeded", n.first_pings_ok, "bra", "10.50.0.1")
    t.check("brb: init's first pings, 10.50.0.1 and bra's 10.50.0.2, succeeded", n.first_pings_ok, "brb",
            "10.50.0.1", "10.50.0.2")
    t.check("ve-bra: enslaved to br0, up, no IPv4 address", bridged_host_end, n, "bra")
    t.check("ve-brb: enslaved to br0, up, no IPv4 address", bridged_host_end, n, "brb")
    t.check("bra's eth0 has 10.50.0.2/24 (the prefix given)", n.has_addr, "eth0", "10.50.0.2/24", ct="bra")
    t.check("host -> bra: ping 10.50.0.2", n.ping4, "10.50.0.2")
    t.check("host -> brb: ping 10.50.0.3", n.ping4, "10.50.0.3")
    t.check("bra -> brb: ping 10.50.0.3 in bra's namespace", n.ct_ok, "bra", "busybox", "ping", "-c1", "-W2",
            "10.50.0.3")
    t.check("brb -> bra: ping 10.50.0.2 in brb's namespace", n.ct_ok, "brb", "busybox", "ping", "-c1", "-W2",
            "10.50.0.2")
    t.check("addresses agree for bra and have 10.50.0.2", n.addresses_agree, "bra", "10.50.0.2")
    t.check("Stop bra", n.mgr, "Stop", "bra")
    t.check("Stop brb", n.mgr, "Stop", "brb")
    t.check("no ve-* link, no pin; br0 is still there, with no ports", n.removed, bridge_empty, n)
    for c in ("bra", "brb"):
        t.check(f"Destroy {c}", n.mgr, "Destroy", c)


# -------------------------------------------------------------- scenario 4 ---
# What nspawn 252's --port needs here: --private-network next to
# --network-namespace-path (without it: "Cannot use --port= without private
# networking"); its DNAT then answers on every local address of the host but
# 127.0.0.0/8 (its OUTPUT rule skips loopback: 127.0.0.1:8080 is refused),
# and a client in another namespace reaches it only with ip_forward=1 on
# the host, which nspawn does not set.
UDP_SERVER = """
import os, socket
print(os.getpid(), flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 81))
while True:
    d, a = s.recvfrom(100)
    s.sendto(b"udp-answer " + d, a)
"""
UDP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"hello", (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(100)[0].decode())
"""


def nc_answer(n, ip, port, netns=None):
    argv = ["timeout", "5", "busybox", "nc", "-w", "3", ip, str(port)]
    proc = n.sb(*(["ip", "netns", "exec", netns] if netns else []), *argv, check=False, input="")
    return (proc.stdout + proc.stderr).rstrip("\n")


def answer_is(n, ip, port, netns=None):
    """A TCP client gets the listener's line."""
    got = nc_answer(n, ip, port, netns)
    if got != "listener-answer fwd 80":
        raise Failed(f"got: {got!r}")


def no_answer(n, ip, port):
    got = nc_answer(n, ip, port)
    if got == "listener-answer fwd 80":
        raise Failed(f"got: {got!r}")


def udp_answer(n, ip, port):
    proc = n.sb("timeout", "5", "python3", "-c", UDP_CLIENT, ip, str(port), check=False)
    got = (proc.stdout + proc.stderr).rstrip("\n")
    if got != "udp-answer hello":
        raise Failed(f"got: {got!r}")


def client_ns(n):
    """A client namespace fwdclient 192.0.2.2 behind the sandbox's cl0 192.0.2.1; ip_forward=1."""
    for argv in (("ip", "netns", "add", "fwdclient"),
                 ("ip", "link", "add", "cl0", "type", "veth", "peer", "name", "cl1", "netns", "fwdclient"),
                 ("ip", "addr", "add", "192.0.2.1/24", "dev", "cl0"), ("ip", "link", "set", "cl0", "up"),
                 ("ip", "-n", "fwdclient", "addr", "add", "192.0.2.2/24", "dev", "cl1"),
                 ("ip", "-n", "fwdclient", "link", "set", "cl1", "up"),
                 ("ip", "-n", "fwdclient", "link", "set", "lo", "up"),
                 ("sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward")):
        n.sb(*argv)


def payload_log_has(n, c, line):
    path = os.path.join(n.root_of(c), "var/log/payload.log")
    with open(path, encoding="utf-8") as log:
        lines = log.read().splitlines()
    if line not in lines:
        raise Failed(f"{path} has no line {line!r}:\n" + "\n".join(lines[-20:]))


def s4_tcp(t, n, c):
    t.check("nspawn got --network-namespace-path, --private-network and the three --port words", n.argv_has, c,
            f"--network-namespace-path={n.netns_dir}/{c}", "--private-network", "--port=tcp:8080:80",
            "--port=udp:8081:81", "--port=tcp:8082:8082")
    t.check("init got HOST_PORT=tcp:8080:80,udp:8081:81,tcp:8082:8082", payload_log_has, n, c,
            "  HOST_PORT=tcp:8080:80,udp:8081:81,tcp:8082:8082")
    t.check("the listener answers directly on 10.41.0.2:80", answer_is, n, "10.41.0.2", 80)
    t.check("forwarded: a client on the sandbox gets the answer on the host end's 10.41.0.1:8080", answer_is, n,
            "10.41.0.1", 8080)
    # A second local address of the sandbox, and a client namespace behind it
    # (the client is remote as far as the sandbox is concerned).
    t.check("fixture: client namespace fwdclient 192.0.2.2 behind the sandbox's cl0 192.0.2.1; ip_forward=1",
            client_ns, n)
    t.check("forwarded: a client on the sandbox gets the answer on another local address, 192.0.2.1:8080",
            answer_is, n, "192.0.2.1", 8080)
    t.check("forwarded: a client in another namespace gets the answer on 192.0.2.1:8080 (PREROUTING DNAT)",
            answer_is, n, "192.0.2.1", 8080, "fwdclient")
    lo_out = nc_answer(n, "127.0.0.1", 8080)
    t.note(f"127.0.0.1:8080 from the sandbox: '{lo_out or '<nothing>'}' (nspawn's DNAT leaves 127.0.0.0/8 alone)")


def s4_udp(t, n, c):
    """busybox has no UDP server applet, so a python3 echo server runs in the
    container's namespace (the listener side is what matters for DNAT)."""
    server = subprocess.Popen([SANDBOX, "exec", t.dir, "nsenter", "-t", str(n.leader(c)), "-n", "timeout", "15",
                               "python3", "-c", UDP_SERVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    pid = server.stdout.readline().strip()

    def udp_listening():
        out = n.in_ct(c, "ss", "-Hlun", "sport = :81").stdout
        if "81" not in out:
            raise Failed(f"ss: {out!r}")

    try:
        t.check(f"udp echo server listens on 81 in {c}'s namespace", t.poll, 5000, udp_listening)
        t.check("forwarded udp: 10.41.0.1:8081 answers", udp_answer, n, "10.41.0.1", 8081)
        t.check("forwarded udp: 192.0.2.1:8081 answers", udp_answer, n, "192.0.2.1", 8081)
    finally:
        if pid.isdigit():
            n.sb("kill", pid, check=False)
        server.terminate()
        server.wait()


def s4(t, n, listen):
    c = "fwd"
    ports = [["tcp", 8080, 80], ["udp", 8081, 81], ["tcp", 8082, 0]]
    t.check(f"Create {c}: listener payload, 10.41.0.1/10.41.0.2, tcp 8080->80, udp 8081->81, tcp 8082->(0: same)",
            n.create, c, listen, **pairs(HostAddress=("s", "10.41.0.1"), LocalAddress=("s", "10.41.0.2"),
                                         ForwardPorts=("a(sqq)", ports)))
    t.check(f"Start {c}", n.mgr, "Start", c)
    s4_tcp(t, n, c)
    s4_udp(t, n, c)
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check("after Stop 10.41.0.1:8080 no longer answers", no_answer, n, "10.41.0.1", 8080)
    t.check("no ve-* link, no pin", n.removed, n.nothing_left)
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)
    n.sb("ip", "netns", "del", "fwdclient", check=False)
    n.sb("ip", "link", "del", "cl0", check=False)
    n.sb("sh", "-c", "echo 0 >/proc/sys/net/ipv4/ip_forward", check=False)


# -------------------------------------------------------------- scenario 5 ---
def xv_host(n):
    n.has_addr("xv0", "10.60.0.1/32")
    n.has_addr("xv0", "fc00:60::1/128", family="inet6")
    n.link_has("xb0", master="br0")


def xv_inside(n, c):
    n.has_addr("xv0", "10.60.0.2/32", ct=c)
    n.has_addr("xb0", "10.50.0.9/24", ct=c)


def s5(t, n, pf):
    c = "xv"
    veths = {"xv0": {"HostAddress": "10.60.0.1", "LocalAddress": "10.60.0.2", "HostAddress6": "fc00:60::1",
                     "LocalAddress6": "fc00:60::2"},
             "xb0": {"HostBridge": "br0", "LocalAddress": "10.50.0.9/24"}}
    t.check(f"Create {c}: main 10.42.0.1/.2; xv0 10.60.0.1/.2 + fc00:60::1/::2; xb0 on br0 as 10.50.0.9/24",
            n.create, c, pf, **pairs(HostAddress=("s", "10.42.0.1"), LocalAddress=("s", "10.42.0.2"),
                                     ExtraVeths=("a{sa{ss}}", veths),
                                     ExtraFlags=("as", ["--setenv=PING_TARGETS=10.60.0.1,fc00:60::1,10.50.0.1"])))
    t.check(f"Start {c}", n.mgr, "Start", c)
    t.check("init's first pings over all three veths succeeded", n.first_pings_ok, c, "10.42.0.1", "10.60.0.1",
            "fc00:60::1", "10.50.0.1")
    t.check("host ends: xv0 has 10.60.0.1/32 and fc00:60::1/128; xb0 is enslaved to br0", xv_host, n)
    t.check("container ends: xv0 has 10.60.0.2/32, xb0 10.50.0.9/24", xv_inside, n, c)
    t.check("host -> 10.60.0.2", n.ping4, "10.60.0.2")
    t.check("host -> fc00:60::2", n.ping6, "fc00:60::2")
    t.check("host -> 10.50.0.9 (through br0)", n.ping4, "10.50.0.9")
    t.check("addresses agree and have every veth's", n.addresses_agree, c, "10.42.0.2", "10.60.0.2", "fc00:60::2",
            "10.50.0.9")
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"after Stop: no xv0, no xb0, no ve-{c}", n.removed, probes.link_absent, t, "xv0", "xb0", f"ve-{c}")
    t.check("no ve-* link, no pin, br0 has no ports", n.removed, bridge_empty, n)
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)
    n.sb("ip", "link", "del", "br0", check=False)


# -------------------------------------------------------------- scenario 6 ---
def s6_fixture(n):
    for argv in (("ip", "link", "add", "xif0", "type", "veth", "peer", "name", "xif0p"),
                 ("ip", "addr", "add", "10.70.0.1/24", "dev", "xif0p"), ("ip", "link", "set", "xif0p", "up"),
                 ("ip", "link", "add", "mvp0", "type", "veth", "peer", "name", "mvp1"),
                 ("ip", "link", "set", "mvp0", "up")):
        n.sb(*argv)


def is_macvlan(n, c):
    kind = n.link("mv-mvp0", ct=c).get("linkinfo", {}).get("info_kind")
    if kind != "macvlan":
        raise Failed(f"mv-mvp0 is a {kind!r}, expected a macvlan")


def use_moved(n, c):
    """The moved xif0 carries traffic (address set inside by the test)."""
    n.in_ct(c, "ip", "addr", "add", "10.70.0.2/24", "dev", "xif0")
    n.in_ct(c, "ip", "link", "set", "xif0", "up")
    n.ping4("10.70.0.2")


def xif_back(n):
    n.link_has("xif0", link="xif0p")


def mv_gone(n):
    probes.link_absent(n.t, "mv-mvp0")
    n.link("mvp0")


def s6(t, n, pf):
    c = "mover"
    t.check("fixture: veth pair xif0/xif0p (10.70.0.1/24 on xif0p); veth mvp0/mvp1 as a macvlan parent",
            s6_fixture, n)
    t.check(f"Create {c} with Interfaces [xif0], Macvlans [mvp0]", n.create, c, pf,
            **pairs(HostAddress=("s", "10.43.0.1"), LocalAddress=("s", "10.43.0.2"), Interfaces=("as", ["xif0"]),
                    Macvlans=("as", ["mvp0"])))
    t.check(f"Start {c}", n.mgr, "Start", c)
    t.check("init's first ping succeeded", n.first_pings_ok, c, "10.43.0.1")
    t.check("xif0 is gone from the sandbox", probes.link_absent, t, "xif0")
    t.check("xif0 is inside (nsenter -n ip link)", n.ct_ok, c, "ip", "link", "show", "dev", "xif0")
    t.check("mv-mvp0 (macvlan) is inside", is_macvlan, n, c)
    t.check("the moved xif0 carries traffic (address set inside by the test; host pings 10.70.0.2)", use_moved, n, c)
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check("xif0 is back in the sandbox, still paired with xif0p", n.removed, xif_back, n)
    t.check("no mv-mvp0 in the sandbox; mvp0 still there", n.removed, mv_gone, n)
    t.check("no ve-* link, no pin", n.removed, n.nothing_left)
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)
    n.sb("ip", "link", "del", "xif0", check=False)
    n.sb("ip", "link", "del", "mvp0", check=False)


# -------------------------------------------------------------- scenario 9 ---
def s9_refused(t, n, okn):
    def refused(desc, message, **keys):
        t.check(desc, n.expect_error, "InvalidArgument", message, "Create", "sa{sv}", "nsx",
                spec(SystemPath=("s", okn), **keys))

    blue, none = ("s", "/run/netns/nc-blue"), ("s", "/run/netns/nc-none")
    refused("NetworkNamespace with PrivateNetwork: InvalidArgument",
            "NetworkNamespace and PrivateNetwork are mutually exclusive", PrivateNetwork=("b", True),
            NetworkNamespace=blue)
    refused("NetworkNamespace that does not exist: InvalidArgument",
            "NetworkNamespace '/run/netns/nc-none' does not exist", NetworkNamespace=none)
    # Issue 25: accepted means startable; what is no network namespace is refused.
    refused("NetworkNamespace a mount namespace (/proc/1/ns/mnt): InvalidArgument",
            "NetworkNamespace '/proc/1/ns/mnt' is a namespace, but not a network namespace",
            NetworkNamespace=("s", "/proc/1/ns/mnt"))
    refused("NetworkNamespace /dev/null: InvalidArgument", "NetworkNamespace '/dev/null' is not a namespace",
            NetworkNamespace=("s", "/dev/null"))
    refused("NetworkNamespace / (a directory): InvalidArgument", "NetworkNamespace '/' is not a namespace",
            NetworkNamespace=("s", "/"))
    refused("PrivateUsers 4294901761 (its range past 2^32): InvalidArgument",
            "PrivateUsers '4294901761' is no base uid systemd-nspawn accepts", PrivateUsers=("s", "4294901761"))

    def nsx_gone():
        conf = os.path.join(t.dir, "etc-containers", "nsx.conf")
        if os.path.lexists(conf):
            raise Failed(f"{conf} exists")
        probes.not_listed(t, "nsx")

    t.check("nothing of nsx left", nsx_gone)


def pool_off(n, system):
    """A private network from the pool turned off: the pool pair goes with it."""
    n.create("poolx", system, **PN)
    host = n.prop("poolx", "HostAddress")
    if not host.startswith("10.233."):
        raise Failed(f"HostAddress {host!r}")
    n.update("poolx", PrivateNetwork=("b", False))
    kept = {k: n.prop("poolx", k) for k in ("HostAddress", "LocalAddress", "HostAddress6", "LocalAddress6")}
    if any(v != "" for v in kept.values()):
        raise Failed(f"addresses kept: {kept}")
    for method in ("Start", "Stop", "Destroy"):
        n.mgr(method, "poolx")


def same_netns(n, c):
    """The container's network namespace is nc-blue's."""
    inside = n.sb("stat", "-L", "-c", "%i", f"/proc/{n.leader(c)}/ns/net").stdout.strip()
    blue = n.sb("stat", "-L", "-c", "%i", "/run/netns/nc-blue").stdout.strip()
    if not inside or inside != blue:
        raise Failed(f"the container's netns inode {inside}, nc-blue's {blue}")


def conf_has(n, c, *lines):
    path = os.path.join(n.t.dir, "etc-containers", f"{c}.conf")
    with open(path, encoding="utf-8") as conf:
        got = conf.read().splitlines()
    missing = [line for line in lines if line not in got]
    if missing:
        raise Failed(f"{path} lacks {missing}")


def resolv_absent(n, c):
    path = os.path.join(n.root_of(c), "etc", "resolv.conf")
    if os.path.lexists(path):
        raise Failed(f"{path} exists")
    if not os.path.isdir(n.root_of(c)):
        raise Failed(f"no root {n.root_of(c)}: the probe proves nothing")


def s9_joiner(t, n, okn):
    c = "joiner"
    t.check(f"Create {c} with NetworkNamespace /run/netns/nc-blue, CopyResolvConf false", n.create, c, okn,
            NetworkNamespace=("s", "/run/netns/nc-blue"), CopyResolvConf=("b", False))
    t.check(f"Start {c}", n.mgr, "Start", c)
    t.check("blue0, of nc-blue, is the container's (nsenter -n ip link)", n.ct_ok, c, "ip", "link", "show", "dev",
            "blue0")
    t.check("the container's network namespace is nc-blue itself", same_netns, n, c)
    t.check("CopyResolvConf false: no etc/resolv.conf in its root", resolv_absent, n, c)
    t.check("the conf has NETWORK_NAMESPACE_PATH and COPY_RESOLV_CONF=0", conf_has, n, c,
            "NETWORK_NAMESPACE_PATH=/run/netns/nc-blue", "COPY_RESOLV_CONF=0")
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check("blue0 is still in nc-blue (the namespace is the host's, not the container's)", n.ok, "ip", "-n",
            "nc-blue", "link", "show", "dev", "blue0")
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)
    n.sb("ip", "netns", "del", "nc-blue", check=False)


def s9_mac(t, n, okn):
    c, mac = "macc", "02:12:34:56:78:9a"
    t.check(f"Create {c} with a private network and LocalMacAddress {mac}", n.create, c, okn,
            **pairs(LocalMacAddress=("s", mac)))
    t.check(f"Start {c}", n.mgr, "Start", c)

    def mac_is():
        got = n.link("eth0", ct=c).get("address")
        if got != mac:
            raise Failed(f"eth0's MAC is {got!r}, expected {mac}")

    t.check(f"the container's eth0 has MAC {mac}", mac_is)
    t.check("a multicast LocalMacAddress: InvalidArgument", n.expect_error, "InvalidArgument",
            "is a multicast address", "Update", "sa{sv}", c, spec(LocalMacAddress=("s", "01:00:5e:00:00:01")))
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)


def s9(t, n):
    okn = t.make_system("netok", "ok")

    def fixture():
        n.sb("ip", "netns", "add", "nc-blue")
        n.sb("ip", "-n", "nc-blue", "link", "add", "blue0", "type", "veth", "peer", "name", "blue1")

    t.check("fixture: network namespace nc-blue holding a veth pair blue0/blue1", fixture)
    s9_refused(t, n, okn)
    t.check("Update PrivateNetwork false of a pool container: its pool pair goes, it starts", pool_off, n, okn)
    s9_joiner(t, n, okn)
    s9_mac(t, n, okn)


# ------------------------------------------------------------- scenario 10 ---
def s10_pairs(h4, l4, h6, l6):
    """A 10.233 /30 pair, and SUBNET::1/SUBNET::2 of a ULA /64."""
    m = re.fullmatch(r"10\.233\.([0-9]+)\.([0-9]+)", h4)
    if not m or l4 != f"10.233.{m.group(1)}.{int(m.group(2)) + 1}":
        raise Failed(f"IPv4 pair {h4!r} {l4!r}")
    if not re.fullmatch(r"fd[0-9a-f]{2}(:[0-9a-f]{0,4}){2,4}::1", h6) or l6 != h6[:-1] + "2":
        raise Failed(f"IPv6 pair {h6!r} {l6!r}")


def s10(t, n, pf):
    c = "auto46"
    t.check(f"Create {c}: PrivateNetwork, no address", n.create, c, pf, **PN)
    h4, l4, h6, l6 = (n.prop(c, k) for k in ("HostAddress", "LocalAddress", "HostAddress6", "LocalAddress6"))
    t.note(f"{c}: {h4} / {l4}, {h6} / {l6}")
    t.check(f"{c} got an IPv4 pair of 10.233.0.0/16 and an fd00::/8 ::1/::2 pair", s10_pairs, h4, l4, h6, l6)
    t.check(f"Start {c}", n.mgr, "Start", c)
    t.check(f"{c}: init's first pings, {h4} and {h6}, succeeded", n.first_pings_ok, c, h4, h6)
    t.check(f"{c} -> host end over IPv6: ping6 {h6}", n.ct_ok, c, "busybox", "ping6", "-c1", "-W2", h6)
    t.check(f"host -> {c} over IPv6: ping6 {l6}", n.ping6, l6)
    t.check(f"host -> {c} over IPv4: ping {l4}", n.ping4, l4)
    t.check(f"{c} addresses agree and have {l4} and {l6}", n.addresses_agree, c, l4, l6)
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"{c}: no link, no pin", n.removed, n.net_gone, c)
    t.check(f"Destroy {c}", n.mgr, "Destroy", c)


# -------------------------------------------------------------- scenario 8 ---
def s8_running(t, n, pf):
    """(a) running."""
    c = "krun"
    t.check(f"Create {c} (PrivateNetwork, automatic addresses)", n.create, c, pf, **PN)
    t.check(f"Start {c}", n.mgr, "Start", c)
    kif, kla = n.prop(c, "HostInterface"), n.prop(c, "LocalAddress").split("/")[0]
    t.check(f"kill -9 the service while {c} runs; it comes back", probes.kill_service, n.t)

    def still_up():
        n.state_is(c, "running")
        n.ping4(kla)

    t.check(f"{c} rediscovered running; the host still reaches {kla}", still_up)
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"{c}: no link ({kif}, ve-{c}), no pin", n.removed, n.net_gone, c, kif)


def s8_slow_spec():
    return pairs(TimeoutStartSec=("s", "30s"))


def s8_starting(t, n, slow):
    """(b) starting: the slow payload never reports ready."""
    c = "kslow"
    t.check(f"Create {c} (slow payload, PrivateNetwork, TimeoutStartSec 30s)", n.create, c, slow, **s8_slow_spec())
    thread, outcome = n.start_in_background(c)
    t.check(f"{c} is starting", t.poll, 5000, n.state_is, c, "starting")

    def prepared():
        n.pin_mounted(c)
        n.link(f"ve-{c}")

    t.check(f"{c}'s network is there while it starts (pin and ve-{c})", t.poll, 3000, prepared)
    t.check(f"kill -9 the service while {c} starts; it comes back", probes.kill_service, n.t)
    t.check("the kill landed during the Start: it got NoReply", n.in_flight, thread, outcome)
    t.note(f"{c} after the restart: State={n.state_note(c)}")
    t.check(f"Stop {c}", n.mgr, "Stop", c)
    t.check(f"{c} stopped", n.state_is, c, "stopped")
    t.check(f"{c}: no link, no pin", n.removed, n.net_gone, c)


def s8_early(t, n, slow):
    """(c) killed early in a Start, at two moments: as soon as the service has
    the call (State starting), and 30 ms later (systemd's default start limit,
    5 starts in 10 s, caps the kills a scenario can make). The slow payload
    keeps the Start in flight however late the kill lands, so its NoReply
    shows that the kill landed during the call."""
    c = "kearly"

    def stopped_clean():
        n.state_is(c, "stopped")
        n.net_gone(c)

    t.check(f"Create {c} (slow payload, PrivateNetwork, TimeoutStartSec 30s)", n.create, c, slow, **s8_slow_spec())
    for delay in ("0", "0.03"):
        thread, outcome = n.start_in_background(c)
        t.check(f"delay {delay}: the service has the Start ({c} starting)", t.poll, 5000, n.state_is, c, "starting")
        time.sleep(float(delay))
        t.check(f"kill -9 the service {delay}s after {c} started starting; it comes back",
                probes.kill_service, n.t)
        t.check(f"delay {delay}: the kill landed during the Start: it got NoReply", n.in_flight, thread, outcome)
        t.note(f"delay {delay}: State={n.state_note(c)}")
        t.check(f"delay {delay}: Stop {c}", n.mgr, "Stop", c)
        t.check(f"delay {delay}: {c} stopped, no link, no pin", n.removed, stopped_clean)


def start_first_ping(n, c):
    """Its automatic network is dual-stack when the host has IPv6."""
    h6 = n.prop(c, "HostAddress6")
    n.mgr("Start", c)
    n.first_pings_ok(c, n.prop(c, "HostAddress").split("/")[0], *([h6] if h6 else []))


def s8_stale(t, n, pf):
    """(d) what a kill between the network's preparation and the unit's start
    leaves, made by hand (the window is too short to hit by timing)."""
    c = "kstale"
    t.check(f"Create {c} (PrivateNetwork)", n.create, c, pf, **PN)
    t.check(f"fixture: a stale network for stopped {c} (pin with eth0 inside, ve-{c} outside)", n.stale_network, c)
    t.check(f"Stop {c} (stopped, with a stale network)", n.mgr, "Stop", c)
    t.check(f"after that Stop: no ve-{c}, no pin", n.removed, n.net_gone, c)
    n.unstale(c)
    t.check(f"fixture: a stale network for {c} again", n.stale_network, c)
    n.rm_ping_log(c)
    t.check(f"Start {c} over the stale network: it starts and its first ping succeeds", start_first_ping, n, c)
    t.check(f"Stop {c}", n.mgr, "Stop", c)


def leftover_links(t):
    """Only lo (and the test's own fixtures, all deleted by now)."""
    left = [name for name in probes.link_names(t) if name != "lo"]
    if left:
        raise Failed(f"links left: {left}")


def s8(t, n, pf, slow):
    s8_running(t, n, pf)
    s8_starting(t, n, slow)
    s8_early(t, n, slow)
    s8_stale(t, n, pf)
    for c in ("krun", "kslow", "kearly", "kstale"):
        t.check(f"Destroy {c}", n.mgr, "Destroy", c)
    c = "kdead"
    t.check(f"Create {c} (PrivateNetwork), never started", n.create, c, pf, **PN)
    t.check(f"fixture: a stale network for {c}", n.stale_network, c)
    t.check(f"Destroy {c} (stopped, with a stale network)", n.mgr, "Destroy", c)
    t.check(f"after that Destroy: no ve-{c}, no pin", n.net_gone, c)
    n.unstale(c)
    t.check(f"at the end: no ve-* link, nothing under {n.netns_dir}", n.nothing_left)
    t.check("at the end: the sandbox has no link but lo", leftover_links, t)


def body(t):
    n = Net(t)
    with t.scenario("0  sandbox up, payloads"):
        pf, listen, slow = s0_up(t, n)
    with t.scenario("1  network ready before init: first ping, 5 of 5 runs"):
        s1(t, n, pf)
    with t.scenario("2  IPv6 only; IPv4 + IPv6"):
        s2(t, n, pf)
    with t.scenario("7  errors: precise, nothing half-configured"):
        s7(t, n, pf)
    with t.scenario("3  HostBridge: two containers on br0"):
        s3(t, n, pf)
    with t.scenario("4  ForwardPorts: tcp and udp"):
        s4(t, n, listen)
    with t.scenario("5  ExtraVeths: addressed and bridged"):
        s5(t, n, pf)
    with t.scenario("6  Interfaces moved in and back; Macvlans"):
        s6(t, n, pf)
    with t.scenario("9  NetworkNamespace: a namespace of the host's joined; CopyResolvConf off"):
        s9(t, n)
    with t.scenario("10 automatic private network: an IPv4 pair and an IPv6 /64 from the pools"):
        s10(t, n, pf)
    with t.scenario("8  the service killed while containers start or run"):
        s8(t, n, pf, slow)


if __name__ == "__main__":
    Tier("net-e2e").run(body)
