#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into corpus/TARGET/.

Seeds are typical inputs in each target's byte format (see the comment at
the top of each fuzz_*.cpp): the module's confs from tests/unit/data, and
typical specs, names, addresses and ports. Re-run after changing a format;
scripts/fuzz.sh never writes here unless FUZZ_MERGE=1.
"""
import pathlib

here = pathlib.Path(__file__).resolve().parent
corpus = here / "corpus"
data = here.parent / "unit" / "data"
SYSTEM = "/nix/store/0000000000000000000000000000000a-nixos-system-fuzz"
KEYS = ["SystemPath", "Config", "ConfigFile", "Flake", "PrivateNetwork", "HostAddress", "LocalAddress",
        "HostAddress6", "LocalAddress6", "HostBridge", "ForwardPorts", "BindMounts", "Tmpfs",
        "AdditionalCapabilities", "AllowedDevices", "EnableTun", "Ephemeral", "AutoStart", "TimeoutStartSec",
        "ExtraVeths", "Interfaces", "Macvlans", "ExtraFlags"]


def write(target, name, content):
    directory = corpus / target
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    (directory / name).write_bytes(content)


def s(text):
    raw = text.encode()
    assert len(raw) < 256
    return bytes([len(raw)]) + raw


def u16(value):
    return bytes([value & 0xFF, value >> 8])


# ---- fuzz_conf: real confs and small variations ----------------------------
for path in sorted(data.glob("*.conf")):
    write("fuzz_conf", path.name, path.read_bytes())
confs = {
    "minimal": f"SYSTEM_PATH={SYSTEM}\n",
    "ports": f"SYSTEM_PATH={SYSTEM}\nPRIVATE_NETWORK=1\nHOST_PORT=8080,8080:80,udp:53,udp:53:5353\n",
    "quotes": "A='x \"y\" $z'\nB=\"it's \\\"q\\\" \\$d \\`t\\`\"\nC=\"back\\\\slash\"\nD=tab\\\there\n",
    "comments": "# comment\n; other\n\n  KEY = value  \nCRLF=yes\r\nLAST=no-newline",
    "later-wins": "A=1\nB=2\nA=3\n",
    "bridge": f"SYSTEM_PATH={SYSTEM}\nPRIVATE_NETWORK=1\nHOST_BRIDGE=br0\nLOCAL_ADDRESS=192.168.1.5/24\n"
              "LOCAL_ADDRESS6=2001:db8::5/64\nINTERFACES=\"eth1 eth2\"\nMACVLANS=enp3s0\n",
    "veths": f"SYSTEM_PATH={SYSTEM}\nPRIVATE_NETWORK=1\n"
             "EXTRA_VETHS=\"ve-a,10.1.0.1,10.1.0.2,fc01::1,fc01::2, ve-b,,,,,br1\"\n",
    "devices": f"SYSTEM_PATH={SYSTEM}\nALLOWED_DEVICES=\"/dev/net/tun:rw /dev/fuse:rwm\"\nENABLE_TUN=1\n"
               "ADDITIONAL_CAPABILITIES=\"CAP_NET_ADMIN all\"\nTMPFS=\"/var /tmp:mode=1777\"\n",
    "flags": f"SYSTEM_PATH={SYSTEM}\nEXTRA_NSPAWN_FLAGS=\"--bind=/a:/b:norbind --bind-ro=/h:/m --bind=/d -U "
             "--setenv=A=B\"\n",
    "timeout": f"FLAKE=github:a/b#web\nTIMEOUT_START_SEC=\"1min 30s\"\nEPHEMERAL=1\nAUTO_START=0\n",
    "config-file": "CONFIG_FILE=\"/etc/nixos/my containers/web.nix\"\nCONFIG_TEXT_FILE=/etc/nixos-containers/w.nix\n",
    "bad-flag": "PRIVATE_NETWORK=yes\n",
    "bad-port": "HOST_PORT=tcp:http:80\n",
    "unterminated": "A=\"open\n",
}
for name, text in confs.items():
    write("fuzz_conf", name + ".conf", text)

# ---- fuzz_names: mode byte (0 name, 1 interface, 2 time span) + value ---------
names = ["web", "my_container-1", "-bad", "a" * 64, "a" * 65, "a/b", "", "wéb"]
interfaces = ["eth0", "br0", "ve-web", "enp3s0f0np0abcd", "enp3s0f0np0abcde", ".", "..", "a:b", "a,b", "e th"]
spans = ["90", "90s", "1min 30s", "1min", "infinity", "1.5h", "2 weeks", "500ms", "3µs", "1y 2M 3w",
         "18446744073709551615us", "1x", "", " 5 s ", "1\t2"]
for i, value in enumerate(names):
    write("fuzz_names", f"name-{i}", b"\x00" + value.encode())
for i, value in enumerate(interfaces):
    write("fuzz_names", f"interface-{i}", b"\x01" + value.encode())
for i, value in enumerate(spans):
    write("fuzz_names", f"timespan-{i}", b"\x02" + value.encode())


# ---- fuzz_network: flags, five options, ports, veths, interfaces, macvlans ---
def network(private, options=("", "", "", "", ""), ports=(), veths=(), interfaces=(), macvlans=()):
    out = bytes([1 if private else 0]) + b"".join(s(o) for o in options)
    out += bytes([len(ports)]) + b"".join(s(p) + u16(h) + u16(c) for p, h, c in ports)
    out += bytes([len(veths)]) + b"".join(s(n) + b"".join(s(o) for o in opts) for n, opts in veths)
    out += bytes([len(interfaces)]) + b"".join(s(i) for i in interfaces)
    out += bytes([len(macvlans)]) + b"".join(s(m) for m in macvlans)
    return out


networks = {
    "host": network(False),
    "veth": network(True, ("10.231.136.1", "10.231.136.2", "", "", "")),
    "prefixes": network(True, ("10.233.7.1/24", "10.233.7.2/32", "fc00::1/128", "fc00::2/64", "")),
    "bridge": network(True, ("", "192.168.1.50/24", "", "2001:db8::50/64", "br0"), interfaces=["eth1", "eth2"],
                      macvlans=["enp3s0"]),
    "ports": network(True, ("10.0.0.1", "10.0.0.2", "", "", ""),
                     ports=[("tcp", 8080, 80), ("udp", 53, 0), ("tcp", 65535, 1)]),
    "dup-port": network(True, ports=[("tcp", 80, 80), ("tcp", 80, 81)]),
    "port-zero": network(True, ports=[("udp", 0, 53)]),
    "bad-proto": network(True, ports=[("sctp", 1, 1)]),
    "veths": network(True, veths=[("ve-a", ("10.1.0.1", "10.1.0.2", "fc01::1", "fc01::2", "")),
                                  ("ve-b", ("", "", "", "", "br1"))]),
    "v4-mapped": network(True, ("::ffff:1.2.3.4", "1.2.3.4/33", "fe80::1%eth0", "::", "")),
    "no-private": network(False, ("10.0.0.1", "", "", "", "")),
    "bridge-and-address": network(True, ("10.0.0.1", "", "", "", "br0")),
}
for name, content in networks.items():
    write("fuzz_network", name, content)

# ---- fuzz_spec_decoder: two a{sv} dictionaries (Create, then Update) ---------
T = {"s": 0, "b": 1, "as": 2, "a(sqq)": 3, "a(ssb)": 4, "a(ss)": 5, "a{sa{ss}}": 6, "i": 7, "q": 8, "d": 9,
     "a{ss}": 10, "ay": 11}


def value(kind, v):
    if kind == "s":
        return s(v)
    if kind == "b":
        return bytes([1 if v else 0])
    if kind == "as":
        return bytes([len(v)]) + b"".join(s(x) for x in v)
    if kind == "a(sqq)":
        return bytes([len(v)]) + b"".join(s(p) + u16(h) + u16(c) for p, h, c in v)
    if kind == "a(ssb)":
        return bytes([len(v)]) + b"".join(s(a) + s(b) + bytes([1 if r else 0]) for a, b, r in v)
    if kind == "a(ss)":
        return bytes([len(v)]) + b"".join(s(a) + s(b) for a, b in v)
    if kind == "a{sa{ss}}":
        return bytes([len(v)]) + b"".join(
            s(n) + bytes([len(f)]) + b"".join(s(k) + s(x) for k, x in f.items()) for n, f in v.items())
    if kind == "i":
        return v.to_bytes(4, "little")
    if kind == "q":
        return u16(v)
    raise ValueError(kind)


def call(entries):
    out = bytes([len(entries)])
    for key, kind, v in entries:
        out += (bytes([KEYS.index(key)]) if key in KEYS else b"\xff" + s(key)) + bytes([T[kind]]) + value(kind, v)
    return out


def spec(create, update=()):
    return call(create) + call(update)


sys_ = ("SystemPath", "s", SYSTEM)
specs = {
    "minimal": spec([sys_]),
    "store-dir-path": spec([("SystemPath", "s", "/nix/store/0000000000000000000000000000000a-nixos-system-fuzz/")]),
    "config": spec([("Config", "s", "{ services.nginx.enable = true; }")]),
    "config-file": spec([("ConfigFile", "s", "/etc/nixos/web.nix")]),
    "flake": spec([("Flake", "s", "github:alice/containers#web")]),
    "veth": spec([sys_, ("PrivateNetwork", "b", True), ("HostAddress", "s", "10.233.1.1"),
                  ("LocalAddress", "s", "10.233.1.2/24"), ("HostAddress6", "s", "fc00::1"),
                  ("LocalAddress6", "s", "fc00::2/64")]),
    "ports": spec([sys_, ("PrivateNetwork", "b", True),
                   ("ForwardPorts", "a(sqq)", [("tcp", 8080, 80), ("udp", 53, 0)])]),
    "bridge": spec([sys_, ("PrivateNetwork", "b", True), ("HostBridge", "s", "br0"),
                    ("Interfaces", "as", ["eth1", "eth2"]), ("Macvlans", "as", ["enp3s0"])]),
    "binds": spec([sys_, ("BindMounts", "a(ssb)", [("/mnt", "/host", True), ("/data", "", False)])]),
    "devices": spec([sys_, ("AllowedDevices", "a(ss)", [("/dev/net/tun", "rw"), ("/dev/fuse", "rwm")]),
                     ("EnableTun", "b", True), ("AdditionalCapabilities", "as", ["CAP_NET_ADMIN", "CAP_MKNOD"])]),
    "tmpfs-timeout": spec([sys_, ("Tmpfs", "as", ["/var", "/tmp:mode=1777"]),
                           ("TimeoutStartSec", "s", "1min 30s"), ("Ephemeral", "b", True),
                           ("AutoStart", "b", True)]),
    "extra-veths": spec([sys_, ("PrivateNetwork", "b", True),
                         ("ExtraVeths", "a{sa{ss}}", {"ve-a": {"HostAddress": "10.1.0.1", "LocalAddress": "10.1.0.2"},
                                                      "ve-b": {"HostBridge": "br1"}})]),
    "flags": spec([sys_, ("ExtraFlags", "as", ["--drop-capability=CAP_SYS_CHROOT", "-U", "--bind=/a:/b:norbind"])]),
    "update-source": spec([sys_, ("AutoStart", "b", True)], [("Flake", "s", "github:a/b")]),
    "update-network": spec([sys_], [("PrivateNetwork", "b", True), ("LocalAddress", "s", "10.0.0.2")]),
    "wrong-type": spec([sys_, ("PrivateNetwork", "s", "yes")]),
    "wrong-port-type": spec([sys_, ("ForwardPorts", "a(ss)", [("tcp", "80")])]),
    "int-for-bool": spec([sys_, ("AutoStart", "i", 1)]),
    "unknown-key": spec([sys_, ("Foo", "s", "bar")]),
    "unknown-veth-field": spec([sys_, ("PrivateNetwork", "b", True),
                                ("ExtraVeths", "a{sa{ss}}", {"ve-a": {"Bogus": "x"}})]),
    "two-sources": spec([sys_, ("Flake", "s", "github:a/b")]),
}
for name, content in specs.items():
    write("fuzz_spec_decoder", name, content)

total = sum(1 for _ in corpus.rglob("*") if _.is_file())
print(f"{total} seeds in {corpus}")
