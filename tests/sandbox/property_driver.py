#!/usr/bin/env python3
"""property_driver.py: "accepted means startable" (issue 16), run inside the sandbox.

Generates container specs from the spec keys (the Container interface's
properties, read from the live service's introspection), valid-looking and
edge-case, with a seeded random.Random: every key alone, keys in pairs, then
random sets of keys, with edge names, addresses at the edges of their ranges,
binds and tmpfs at odd paths, and the values validation must refuse.

For each spec:
  - Create either answers an object path or an org.nixos.Containers.Error.*;
    a spec the generator knows to be bad must be refused, one it knows to be
    good must be accepted (so the run cannot pass by refusing everything);
  - every accepted spec must Start to State running, with a Leader, registered
    with machined under its name, and the payload must see what the spec asked
    for: its binds (the host directory's marker file, read-only when asked),
    its tmpfs, its addresses (both ends) and a ping to it, its moved and
    macvlan interfaces, its extra veths, /dev/net/tun, its --setenv;
  - then Stop and Destroy.

Usage: property_driver.py SEED CASES SYSTEM_PATH FIXTURE_DIR WITNESS
(WITNESS: an existing container, whose object gives the spec keys)
Prints one "PASS: ..." or "FAIL: ..." line per check, and at the end
"property: seed S, C specs, A accepted, N started, R refused".
"""
import json
import os
import posixpath
import ipaddress
import random
import re
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib.bus import opath  # noqa: E402
from sandboxlib.bus_agent import Agent  # noqa: E402  (Gio, typed values; this driver runs inside the sandbox)

BUS = "org.nixos.Containers"
MGR = "/org/nixos/Containers"
MGR_IF = "org.nixos.Containers"
CT_IF = "org.nixos.Containers.Container"
ERR = "org.nixos.Containers.Error."
# Container properties that are not spec keys.
# Create's doc lists the spec keys ("  Key sig: ..." or "  Key sig, Other sig: ..."),
# as tests/unit/spec_keys_test.cpp holds the registry to it.
MANAGER_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "interfaces",
                           "org.nixos.Containers.xml")
# Where the service mounts things itself (validation.cpp's kReservedMounts).
RESERVED = ["/nix/store", "/nix/var/nix/db", "/nix/var/nix/daemon-socket", "/nix/var/nix/profiles",
            "/nix/var/nix/gcroots"]
BRIDGE, BRIDGE_NET = "br-prop", "10.233.7"
MOVED, MV_PARENT = "dprop0", "dprop1"

OK, BAD, ANY = "ok", "bad", "any"


def run(*argv, timeout=90):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).strip()


AGENT = Agent()


def call(path, iface, method, sig="", *args, dest=BUS):
    """The reply, typed: {"ok": True, "value": [...]} or {"ok": False, "error": name, "message": text}."""
    return AGENT.call({"dest": dest, "path": path, "iface": iface, "method": method, "sig": sig, "args": list(args),
                       "timeout": 90})


def shown(reply):
    """A reply as a FAIL line's detail."""
    return json.dumps(reply["value"]) if reply["ok"] else "%s: %s" % (reply["error"], reply["message"])


def prop(name, key):
    reply = call(opath(name), "org.freedesktop.DBus.Properties", "Get", "ss", CT_IF, key)
    return reply["value"][0] if reply["ok"] else None


# ---- value pools: (value, expectation) ------------------------------------
def pools(fx):
    h = [fx + "/h%d" % i for i in range(4)]
    return {
        "PrivateNetwork": [(True, OK), (False, OK)],
        "AutoStart": [(True, OK), (False, OK)],
        "EnableTun": [(True, OK), (False, OK)],
        "Ephemeral": [(True, OK), (False, OK)],
        # Addresses come in pairs (see addresses()); alone they are these.
        "HostAddress": [("10.232.0.1", ANY), ("10.232.0.1/24", ANY), ("127.0.0.1", BAD), ("0.0.0.0", BAD),
                        ("224.0.0.1", BAD), ("10.232.0.300", BAD)],
        "LocalAddress": [("10.232.0.2", ANY), ("10.232.0.2/32", ANY), ("255.255.255.255", BAD)],
        "HostAddress6": [("fc00:232::1", ANY), ("::1", BAD), ("ff02::1", BAD)],
        "LocalAddress6": [("fc00:232::2/64", ANY), ("::", BAD), ("fc00::zz", BAD)],
        "HostBridge": [(BRIDGE, ANY), ("br-prop-name-too-long", BAD)],
        "ForwardPorts": [([("tcp", 8080, 80)], OK), ([("udp", 1, 1)], OK), ([("tcp", 65535, 0)], OK),
                         ([("tcp", 80, 80), ("udp", 80, 80)], OK), ([("tcp", 0, 80)], BAD),
                         ([("sctp", 1, 1)], BAD), ([("tcp", 81, 80), ("tcp", 81, 90)], BAD)],
        "Interfaces": [([MOVED], OK), (["no/such"], BAD)],
        "Macvlans": [([MV_PARENT], OK), (["abcdefghijklmn"], BAD)],
        "BindMounts": [([("/srv/data", h[0], False)], OK), ([("/mnt/odd-name.x+y", h[1], True)], OK),
                       ([("/a", h[2], False)], OK), ([("/var/lib/deep/er/path", h[3], True)], OK),
                       ([("/srv/trailing/", h[0], False)], OK), ([("//srv//double", h[1], True)], OK),
                       ([("/opt/" + "l" * 120, h[2], False)], OK), ([("/etc/prop.conf", fx + "/f0", True)], OK),
                       ([("/tmp/in-tmp", h[3], False)], OK),
                       ([("/srv/one", h[0], False), ("/srv/two", h[1], True)], OK),
                       ([("/nix/store", "/srv", False)], BAD), ([("/nix", h[0], True)], BAD),
                       ([("/nix/var/nix/profiles/x", h[0], True)], BAD), ([("/", h[0], True)], BAD),
                       ([("rel", h[0], True)], BAD), ([("/a:b", h[0], True)], BAD), ([("/x/../y", h[0], True)], BAD),
                       ([("/srv/same", h[0], False), ("/srv/same/", h[1], True)], BAD)],
        "Tmpfs": [(["/srv/t"], OK), (["/var/cache:mode=0755"], OK), (["/tmp"], OK), (["/run/x:size=1m"], OK),
                  (["/mnt/t:mode=1777,size=10%"], OK), (["/srv/t1", "/srv/t1/t2"], OK),
                  (["/"], BAD), (["/nix/store"], BAD), (["/nix"], BAD), (["rel"], BAD), (["/a/../b"], BAD),
                  (["/srv/t", "/srv/t/"], BAD)],
        "AdditionalCapabilities": [(["CAP_NET_ADMIN"], OK), (["CAP_SYS_TIME", "CAP_SYS_MODULE"], OK),
                                   (["all"], OK), (["CAP_NOPE"], BAD)],
        "AllowedDevices": [([("/dev/fuse", "rwm")], OK), ([("/dev/null", "r")], OK), ([("/dev/fuse", "x")], BAD),
                           ([("/etc/passwd", "r")], BAD)],
        # A user namespace: each container its own picked range, or the host's uids.
        # Not with EnableTun, nor with ForwardPorts on a private network: ANY.
        "PrivateUsers": [("no", OK), ("pick", ANY), ("identity", ANY), ("maybe", BAD), ("-1", BAD), ("", BAD)],
        "TimeoutStartSec": [("90", OK), ("1min 30s", OK), ("infinity", OK), ("5s", OK), ("soon", BAD)],
        "MemoryMax": [("", OK), ("64M", OK), ("1G", OK), ("infinity", OK), ("268435456", OK), ("0", BAD),
                      ("64MB", BAD), ("lots", BAD)],
        "LocalMacAddress": [("02:12:34:56:78:9a", ANY), ("01:00:5e:00:00:01", BAD), ("02-00-00-00-00-01", BAD),
                            ("zz:00:00:00:00:01", BAD)],
        "NixFlags": [(["--show-trace"], BAD)],  # next to SystemPath: no build to pass them to
        "CopyResolvConf": [(True, OK), (False, OK)],
        # A namespace to join: only refusals (the sandbox test of the key is e2e's).
        "NetworkNamespace": [("/no/such/netns", BAD), ("run/netns/x", BAD)],
        # What a build evaluates: refused next to SystemPath.
        "NixosPath": [("/tmp", BAD)],
        "MemoryHigh": [("", OK), ("48M", OK), ("infinity", OK), ("0", BAD), ("high", BAD)],
        "CPUWeight": [("", OK), ("1", OK), ("100", OK), ("10000", OK), ("0", BAD), ("10001", BAD), ("x", BAD)],
        "CPUQuota": [("", OK), ("50%", OK), ("200%", OK), ("1%", OK), ("0%", BAD), ("50", BAD), ("2.5%", BAD)],
        "TasksMax": [("", OK), ("64", OK), ("infinity", OK), ("0", BAD), ("10%", BAD)],
        "IOWeight": [("", OK), ("1", OK), ("500", OK), ("0", BAD), ("-1", BAD)],
        "ExtraVeths": [({"vx-prop": {"HostAddress": "10.234.0.1", "LocalAddress": "10.234.0.2"}}, ANY),
                       ({"vx-prop2": {"HostBridge": BRIDGE}}, ANY),
                       ({"vx-same": {"HostAddress": "10.234.1.1", "LocalAddress": "10.234.1.1"}}, BAD),
                       ({"vx-0123456789abcdef": {}}, BAD)],
        "ExtraFlags": [(["--setenv=PROP_MARK=yes"], OK), (["--quiet"], OK), (["--resolv-conf=off"], OK),
                       (["--timezone=off"], OK), (["--no-new-privileges=yes"], OK),
                       (["--drop-capability=CAP_SYS_CHROOT"], OK), (["--rlimit=RLIMIT_NOFILE=4096"], OK),
                       (["--capability=CAP_NET_ADMIN"], OK), (["--bind-ro=%s:/srv/flagbind:norbind" % h[1]], OK),
                       (["--machin=other"], BAD), (["--machine=x"], BAD), (["-M"], BAD), (["--user"], BAD),
                       (["--priv=1"], BAD), (["--frob"], BAD), (["--help"], BAD), (["-a"], BAD),
                       (["--network-veth"], BAD), (["--slice=a.slice"], BAD), (["--setenv=PATH=/x"], BAD),
                       (["--settings=override"], BAD), (["--console=passive"], BAD),
                       (["--tmpfs=/"], BAD), (["--bind=/a:/nix/store:norbind"], BAD), (["--quie"], BAD)],
        # The sources other than SystemPath need a builder, which the sandbox
        # does not run: only their refusals are generated.
        "Config": [("{ }", BAD)],  # next to SystemPath: mutually exclusive
        "Flake": [("path:/nonexistent#x", BAD)],
        "ConfigFile": [(fx + "/missing.nix", BAD)],
        "SystemPath": [("/usr", BAD)],
    }


NETWORK_KEYS = {"HostAddress", "LocalAddress", "HostAddress6", "LocalAddress6", "HostBridge", "ForwardPorts",
                "ExtraVeths", "Interfaces", "Macvlans"}


def norm(path):
    p = re.sub("/+", "/", posixpath.normpath(re.sub("/+", "/", path)))
    return p


def mount_points(spec):
    out = []
    for m, _, _ in spec.get("BindMounts", []):
        out.append(m)
    for t in spec.get("Tmpfs", []):
        out.append(t.split(":")[0])
    for f in spec.get("ExtraFlags", []):
        mm = re.match(r"--bind(-ro)?=[^:]*:([^:]*):", f)
        if mm:
            out.append(mm.group(2))
    return out


def judge(spec, parts):
    """The spec's expectation from its parts', and the rules that combine keys."""
    if BAD in parts:
        return BAD
    if any(k in spec for k in NETWORK_KEYS) and not spec.get("PrivateNetwork"):
        return BAD
    if spec.get("HostBridge") and (spec.get("HostAddress") or spec.get("HostAddress6")):
        return BAD
    points = [norm(p) for p in mount_points(spec) if p.startswith("/")]
    if len(points) != len(set(points)):
        return BAD
    # A bind under a tmpfs, or the other way round: nspawn's order decides.
    return ANY if ANY in parts else OK


class Generator:
    def __init__(self, seed, fx, keys):
        self.r = random.Random(seed)
        self.pools = pools(fx)
        missing = [k for k in keys if k not in self.pools]
        if missing:
            raise SystemExit("property: the generator knows no values for the spec keys %s" % missing)
        self.keys = [k for k in keys if k != "SystemPath"]
        self.sigs = keys
        self.n = 0

    def name(self):
        self.n += 1
        r = self.r.random()
        edge = [("a", OK), ("x" * 64, OK), ("9lives", OK), ("a--b", OK), ("Upper-Case", OK),
                ("a_b", BAD), ("trail-", BAD), ("-lead", BAD), ("y" * 65, BAD), ("a.b", BAD)]
        if r < 0.15:
            return self.r.choice(edge)
        return ("p%d" % self.n, OK)

    def addresses(self, spec, parts):
        """HostAddress and LocalAddress (or the IPv6 pair) chosen together."""
        pairs4 = [(("10.231.0.1", "10.231.0.2"), OK), (("10.231.0.1/24", "10.231.0.2/24"), OK),
                  (("1.0.0.1", "1.0.0.2"), OK), (("223.255.255.253", "223.255.255.254"), OK),
                  (("10.231.0.1/32", "10.231.0.2/32"), OK), (("10.231.0.0/31", "10.231.0.1/31"), ANY),
                  (("240.0.0.1", "240.0.0.2"), ANY), (("10.231.0.1", "10.231.0.1"), BAD),
                  (("10.231.0.1", "10.231.0.1/24"), BAD), (("127.0.0.1", "10.0.0.2"), BAD)]
        pairs6 = [(("fc00:1::1", "fc00:1::2"), OK), (("fc00:1::1/64", "fc00:1::2/64"), OK),
                  (("2001:db8::1", "2001:db8:0:0::2"), OK), (("fe80::1", "fe80::2"), ANY),
                  (("fc00::1", "fc00:0::1"), BAD), (("::1", "fc00::2"), BAD), (("ff02::1", "fc00::2"), BAD)]
        (h, l), e = self.r.choice(pairs4 if self.r.random() < 0.6 else pairs6)
        six = ":" in h
        spec["HostAddress6" if six else "HostAddress"] = h
        spec["LocalAddress6" if six else "LocalAddress"] = l
        spec["PrivateNetwork"] = True
        parts.append(e)

    def spec(self, keys, p_good):
        spec, parts = {}, []
        for k in keys:
            if k in spec:
                continue  # set with its pair by addresses(): its expectation stands
            if k in ("HostAddress", "LocalAddress") and self.r.random() < 0.7:
                self.addresses(spec, parts)
                continue
            good = [c for c in self.pools[k] if c[1] != BAD]
            v, e = self.r.choice(good if good and self.r.random() < p_good else self.pools[k])
            spec[k] = v
            parts.append(e)
        if any(k in spec for k in NETWORK_KEYS) and "PrivateNetwork" not in spec and self.r.random() < 0.9:
            spec["PrivateNetwork"] = True
        if spec.get("HostBridge") == BRIDGE and "LocalAddress" not in spec and self.r.random() < 0.8:
            spec["LocalAddress"] = BRIDGE_NET + ".%d/24" % self.r.randint(2, 254)
        return spec, parts

    def cases(self, count):
        plan = [[k] for k in self.keys]  # every key alone
        pairs = [[a, b] for i, a in enumerate(self.keys) for b in self.keys[i + 1:]]
        self.r.shuffle(pairs)
        plan += pairs[: max(0, count // 2 - len(plan))]
        while len(plan) < count:
            plan.append(self.r.sample(self.keys, self.r.randint(3, 6)))
        for keys in plan[:count]:
            name, ne = self.name()
            # Alone and in pairs, any value; in larger sets mostly good ones,
            # or nearly every set would be refused.
            spec, parts = self.spec(keys, 0.5 if len(keys) <= 2 else 0.9)
            yield name, spec, judge(spec, parts + [ne])


# ---- the checks of a running container -------------------------------------
class Run:
    def __init__(self, seed):
        self.seed = seed
        self.passed = self.failed = 0
        self.accepted = self.started = self.refused = 0

    def ok(self, what):
        self.passed += 1
        print("PASS: " + what, flush=True)

    def bad(self, what, detail=""):
        self.failed += 1
        print("FAIL: %s [seed %d]" % (what, self.seed), flush=True)
        if detail:
            for line in detail.splitlines()[-15:]:
                print("    | " + line, flush=True)

    def check(self, what, good, detail=""):
        (self.ok if good else lambda w: self.bad(w, detail))(what)
        return good


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as error:
        return "unreadable: %s" % error


def mountinfo(leader):
    """Mount point -> (options, fstype) of the topmost mount, as the leader sees them."""
    out = {}
    for line in read("/proc/%d/mountinfo" % leader).splitlines():
        fields = line.split(" ")
        if len(fields) < 10 or "-" not in fields:
            continue
        dash = fields.index("-")
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        out[point] = (fields[5], fields[dash + 1])
    return out


def in_ct(leader, ns, *cmd):
    return run("nsenter", "-t", str(leader), "-" + ns, "--", *cmd)


def has_addr(out, addr):
    # Compared as addresses: ip(8) prints 2001:db8::2 for a given 2001:db8:0:0::2.
    want = ipaddress.ip_address(addr.split("/")[0])
    for shown in re.findall(r"inet6? ([0-9a-fA-F.:]+)/", out):
        try:
            if ipaddress.ip_address(shown) == want:
                return True
        except ValueError:
            continue
    return False


def verify(run_, label, name, spec, fx):
    leader = prop(name, "Leader")
    if not run_.check(label + ": Leader is a PID", isinstance(leader, int) and leader > 0, str(leader)):
        return
    reply = call("/org/freedesktop/machine1", "org.freedesktop.machine1.Manager", "GetMachine", "s", name,
                 dest="org.freedesktop.machine1")
    run_.check(label + ": machined knows the machine by its name", reply["ok"], shown(reply))
    mounts = mountinfo(leader)
    root = "/proc/%d/root" % leader  # the container's root, from outside
    for m, h, ro in spec.get("BindMounts", []):
        p = norm(m)
        top = mounts.get(p)
        if h.endswith("/f0"):
            seen = read(root + p) == "prop-file\n"
        else:
            seen = os.path.exists(root + p + "/marker") and read(root + p + "/marker") == read(h + "/marker")
        good = top is not None and seen and (not ro or "ro" in top[0].split(","))
        run_.check("%s: bind %s sees %s%s" % (label, p, h, " read-only" if ro else ""), good,
                   "mount: %s, content seen: %s" % (top, seen))
    for f in spec.get("ExtraFlags", []):
        mm = re.match(r"--bind(-ro)?=([^:]*):([^:]*):", f)
        if mm:
            seen = read(root + mm.group(3) + "/marker") == read(mm.group(2) + "/marker")
            run_.check("%s: ExtraFlags bind %s sees %s" % (label, mm.group(3), mm.group(2)), seen, "")
        if f.startswith("--setenv="):
            env = open("/proc/%d/environ" % leader, "rb").read().decode(errors="replace").split("\0")
            run_.check(label + ": the payload has " + f[9:], f[9:] in env, " ".join(env))
    for t in spec.get("Tmpfs", []):
        p = norm(t.split(":")[0])
        top = mounts.get(p)
        run_.check("%s: tmpfs at %s" % (label, p), top is not None and top[1] == "tmpfs", str(top))
    if spec.get("EnableTun"):
        try:
            tun, why = stat.S_ISCHR(os.stat(root + "/dev/net/tun").st_mode), "not a character device"
        except OSError as error:
            tun, why = False, str(error)
        run_.check(label + ": /dev/net/tun", tun, why)
    if not spec.get("PrivateNetwork"):
        return
    _, inside = in_ct(leader, "n", "ip", "-o", "addr")
    _, host = run("ip", "-o", "addr")
    local, hosta = spec.get("LocalAddress"), spec.get("HostAddress")
    if not any(spec.get(k) for k in ("LocalAddress", "HostAddress", "LocalAddress6", "HostAddress6", "HostBridge")):
        addrs = prop(name, "Addresses") or []  # allocated by the service
        local = next((a for a in addrs if "." in a), None)
    for key in ("LocalAddress", "LocalAddress6"):
        if spec.get(key):
            run_.check("%s: the container has its %s %s" % (label, key, spec[key]), has_addr(inside, spec[key]), inside)
    for key in ("HostAddress", "HostAddress6"):
        if spec.get(key):
            run_.check("%s: the host end has %s %s" % (label, key, spec[key]), has_addr(host, spec[key]), host)
    # Reachable from the sandbox: through its own host end, through the
    # bridge when the address is in the bridge's subnet, or allocated.
    on_bridge = spec.get("HostBridge") == BRIDGE and (local or "").startswith(BRIDGE_NET + ".")
    if local and (hosta or on_bridge or not spec.get("LocalAddress")):
        target = local.split("/")[0]
        rc, out = run("busybox", "ping", "-c1", "-W2", target)
        run_.check("%s: ping %s" % (label, target), rc == 0, out)
    for i in spec.get("Interfaces", []):
        rc, out = in_ct(leader, "n", "ip", "link", "show", i)
        run_.check("%s: interface %s moved in" % (label, i), rc == 0, out)
    for m in spec.get("Macvlans", []):
        rc, out = in_ct(leader, "n", "ip", "link", "show", "mv-" + m)
        run_.check("%s: macvlan mv-%s inside" % (label, m), rc == 0, out)
    for v, o in spec.get("ExtraVeths", {}).items():
        rc, out = in_ct(leader, "n", "ip", "link", "show", v)
        run_.check("%s: extra veth %s inside" % (label, v), rc == 0, out)
        if o.get("LocalAddress"):
            run_.check("%s: extra veth %s has %s" % (label, v, o["LocalAddress"]), has_addr(inside, o["LocalAddress"]),
                       inside)


def documented_spec_keys():
    """The keys Create's doc lists, from the interface file."""
    with open(MANAGER_XML, encoding="utf-8") as f:
        xml = f.read()
    start = xml.index('<method name="Create">')
    doc = xml[start:xml.index("</method>", start)]
    keys = set()
    for line in re.findall(r"\n\s+(\w+ [a-z(){}]+(?:, \w+ [a-z(){}]+)*):", doc):
        keys.update(name for name, _ in re.findall(r"(\w+) ([a-z(){}]+)", line))
    return keys


def spec_keys(witness):
    """The spec keys and their D-Bus types: the Container interface's
    properties that Create's doc lists as keys (the others are the
    container's live state), as the live service introspects them on
    WITNESS's object."""
    documented = documented_spec_keys()
    reply = call(opath(witness), "org.freedesktop.DBus.Introspectable", "Introspect")
    if not reply["ok"]:
        raise SystemExit("property: cannot introspect %s: %s" % (opath(witness), shown(reply)))
    keys = {}
    for iface in ET.fromstring(reply["value"][0]).iter("interface"):
        if iface.get("name") == CT_IF:
            for p in iface.iter("property"):
                if p.get("name") in documented:
                    keys[p.get("name")] = p.get("type")
    if not keys:
        raise SystemExit("property: no spec keys in the introspection of %s" % opath(witness))
    return keys


def main():
    seed, count, system, fx, witness = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    keys = spec_keys(witness)
    print("property: seed %d, %d specs over %d spec keys: %s" % (seed, count, len(keys), " ".join(sorted(keys))),
          flush=True)
    gen = Generator(seed, fx, keys)
    r = Run(seed)
    t0 = time.time()
    for i, (name, spec, expect) in enumerate(gen.cases(count)):
        full = dict(spec)
        if not any(k in full for k in ("Config", "ConfigFile", "Flake", "SystemPath")) or "Config" in full \
                or "Flake" in full:
            full.setdefault("SystemPath", system)
        label = "#%d %s %s" % (i, name, json.dumps(spec, separators=(",", ":")))
        created = call(MGR, MGR_IF, "Create", "sa{sv}", name, {k: [keys[k], v] for k, v in full.items()})
        out = shown(created)
        if not created["ok"]:
            named = created["error"].startswith(ERR)
            r.refused += 1
            if expect == OK:
                r.bad(label + ": a good spec was refused", out)
            else:
                r.check(label + ": refused with a named error", named, out)
            continue
        r.accepted += 1
        if not r.check(label + ": accepted (expected %s)" % expect, expect != BAD, out):
            call(MGR, MGR_IF, "Destroy", "s", name)
            continue
        started = call(MGR, MGR_IF, "Start", "s", name)
        journal = "" if started["ok"] else run("journalctl", "--no-pager", "-n", "15", "-u",
                                               "nixos-container@%s.service" % name)[1]
        if r.check(label + ": Start", started["ok"], shown(started) + "\n" + journal if journal else ""):
            r.started += 1
            state = prop(name, "State")
            if r.check(label + ": State running", state == "running", str(state)):
                verify(r, label, name, spec, fx)
            stopped = call(MGR, MGR_IF, "Stop", "s", name)
            r.check(label + ": Stop", stopped["ok"], shown(stopped))
        destroyed = call(MGR, MGR_IF, "Destroy", "s", name)
        r.check(label + ": Destroy", destroyed["ok"], shown(destroyed))
    print("property: seed %d, %d specs, %d accepted, %d started, %d refused, %.1f s"
          % (seed, count, r.accepted, r.started, r.refused, time.time() - t0), flush=True)
    print("property-counts: %d %d" % (r.passed, r.failed), flush=True)


if __name__ == "__main__":
    main()
