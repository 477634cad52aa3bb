#!/usr/bin/env python3
"""probes_selfcheck.py: tests/sandbox/sandboxlib/probes.py's absence checks are
positive. With the probe broken (every command in the sandbox fails, the bus
answers nothing) each must fail rather than report the item absent; a listing
that worked but lacks its known item (machined without .host, ip without lo,
List without the witness) proves nothing either; and the controls, where the
listing works and shows its known item, pass. Seconds, no root, no sandbox.
The last line is "N passed, M failed".
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sandbox"))
from sandboxlib import BusError, Failed, probes  # noqa: E402

passed = failed = 0


class FakeBus:
    def __init__(self, replies):
        self.replies = replies

    def call(self, method, *_args, **_kwargs):
        reply = self.replies.get(method)
        if reply is None:
            raise BusError("org.freedesktop.DBus.Error.ServiceUnknown", "no bus behind this probe")
        return reply


class FakeTier:
    """A sandbox whose commands answer `outputs` (argv[0] -> stdout), or fail."""

    def __init__(self, outputs=None, replies=None):
        self.outputs = outputs or {}
        self.bus = FakeBus(replies or {})

    def sb(self, *argv, check=True, **_kwargs):
        out = self.outputs.get(argv[0])
        if out is None:
            if check:
                raise Failed(f"{argv[0]}: exit 1 (no sandbox)")
            return subprocess.CompletedProcess(argv, 1, "", "no sandbox")
        return subprocess.CompletedProcess(argv, 0, out, "")


def expect(desc, want_pass, fn, *args):
    global passed, failed
    try:
        fn(*args)
        ok = want_pass
        why = "passed"
    except Failed as error:
        ok = not want_pass
        why = f"failed: {error}"
    if ok:
        passed += 1
        print(f"PASS: probes.py: {desc} ({why})")
    else:
        failed += 1
        print(f"FAIL: probes.py: {desc} ({why})")


broken = FakeTier()
expect("machine_absent fails when machined does not answer", False, probes.machine_absent, broken, "nosuch")
expect("link_absent fails when ip cannot run", False, probes.link_absent, broken, "ve-nosuch")
expect("unit_absent fails when systemctl cannot run", False, probes.unit_absent, broken, "nosuch")
expect("not_listed fails when List does not answer", False, probes.not_listed, broken, "nosuch")
expect("path_absent fails when the probe cannot run", False, probes.path_absent, broken, "/nonexistent")

empty = FakeTier(outputs={"ip": "[]", "systemctl": "", "sh": "absent\n"},
                 replies={"ListMachines": [[]], "List": [[]]})
expect("machine_absent fails when ListMachines lacks .host", False, probes.machine_absent, empty, "nosuch")
expect("link_absent fails when ip link lacks lo", False, probes.link_absent, empty, "ve-nosuch")
expect("unit_absent fails when the units lack dbus.service", False, probes.unit_absent, empty, "nosuch")
expect("not_listed fails when List lacks the witness", False, probes.not_listed, empty, "nosuch", "witness")

working = FakeTier(outputs={"ip": '[{"ifname": "lo"}, {"ifname": "ve-x", "altnames": ["ve-long"]}]',
                            "systemctl": "dbus.service loaded active running D-Bus\n", "sh": "absent\n"},
                   replies={"ListMachines": [[[".host", "host", "", "/m"]]],
                            "List": [[["witness", "stopped", False, "/o"]]]})
expect("the control: machine_absent passes when machined shows .host only", True, probes.machine_absent, working,
       "nosuch")
expect("the control: link_absent passes for a link not there", True, probes.link_absent, working, "ve-nosuch")
expect("link_absent fails for an altname that is there", False, probes.link_absent, working, "ve-long")
expect("the control: unit_absent passes", True, probes.unit_absent, working, "nosuch")
expect("the control: not_listed passes when List shows the witness", True, probes.not_listed, working, "nosuch",
       "witness")
expect("not_listed fails for a listed name", False, probes.not_listed, working, "witness", "witness")
expect("the control: path_absent passes when the probe says absent", True, probes.path_absent, working, "/x")
expect("path_absent fails when the probe says present", False, probes.path_absent,
       FakeTier(outputs={"sh": "present\n"}), "/x")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
