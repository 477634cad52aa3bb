#!/usr/bin/env python3
"""regression_test.py: focused scenarios for bugs the chaos run
(tests/chaos/chaos.sh) found, one scenario per bug, in one sandbox.

  R1  a private-network container whose unit stopped while the service was
      down (killed in the middle of its Stop, or it powered off by itself):
      the restarted service must release its host side (netns pin and the
      veth host end, hashed name with altname ve-NAME for a long name).
      Found by the chaos run, seed 7 (tests/chaos/FINDINGS.md, F1).

Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
the exit status is non-zero when M > 0. Harness: sandboxlib/harness.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import Failed, Tier, probes, spec  # noqa: E402

SVC = "nixos-containers.service"


def body(t):
    netns_dir = os.path.join(t.dir, "runtime", "netns")

    def link_exists(name):
        return t.sb("ip", "-o", "link", "show", "dev", name, check=False).returncode == 0

    def net_present(name, hostif):
        if t.sb("test", "-e", f"{netns_dir}/{name}", check=False).returncode != 0:
            raise Failed(f"no pin {netns_dir}/{name}")
        for link in (hostif, f"ve-{name}"):
            if not link_exists(link):
                raise Failed(f"no link or altname {link}")

    def net_gone(name, hostif):
        probes.path_absent(t, f"{netns_dir}/{name}")
        probes.link_absent(t, hostif, f"ve-{name}")

    def destroyed(name, hostif):
        for what, path in (("conf", f"{t.dir}/etc-containers/{name}.conf"), ("root", f"{t.dir}/state/{name}")):
            if os.path.lexists(path):
                raise Failed(f"{what} {path} left")
        net_gone(name, hostif)

    def restarted(old):
        pid = probes.service_pid(t)
        if pid in (0, old):
            raise Failed(f"MainPID is {pid} (before the kill: {old})")
        t.bus.call("List")

    with t.scenario("0  sandbox up, payload"):
        t.up()
        system = t.make_system("regrok")

    # The service killed between the container's unit stopping and its
    # afterStopped() releasing the network (the chaos run hit it with a kill 11 ms
    # into a Stop). Reproduced deterministically: kill the service, keep it down
    # (stop cancels the pending auto-restart), stop the container's unit
    # ourselves, start the service again.
    with t.scenario("R1 unit stopped while the service was down: its network is released on restart"):
        for name in ("rg-net", "rg-long-name-netw-0123456789abcdefghijkl"):
            if not t.check(f"R1 {name}: Create + Start", lambda n=name: (
                    t.bus.call("Create", "sa{sv}", n, spec(SystemPath=("s", system), PrivateNetwork=("b", True))),
                    t.bus.call("Start", "s", n))):
                continue
            hostif = t.bus.get(name, "HostInterface")
            t.check(f"R1 {name}: running with pin and host end {hostif}", net_present, name, hostif)
            old = probes.service_pid(t)
            t.sb("systemctl", "kill", "-s", "KILL", SVC)
            t.sb("systemctl", "stop", SVC)  # no auto-restart while we stop the container
            t.check(f"R1 {name}: its unit stops while the service is down",
                    t.sb, "systemctl", "stop", f"nixos-container@{name}.service")
            t.sb("systemctl", "reset-failed", SVC, check=False)
            t.sb("systemctl", "start", SVC)
            t.check(f"R1 {name}: the service is back", t.poll, 15000, restarted, old)
            t.check(f"R1 {name}: State is stopped", t.poll, 5000, probes.state_is, t, name, "stopped")
            t.check(f"R1 {name}: no pin and no veth host end ({hostif}, altname ve-{name}) left after the restart",
                    t.poll, 5000, net_gone, name, hostif)
            # Whatever the restart did, Destroy succeeds and leaves nothing.
            t.check(f"R1 {name}: Destroy", t.bus.call, "Destroy", "s", name)
            t.check(f"R1 {name}: nothing left after Destroy (conf, root, pin, host end)", destroyed, name, hostif)


if __name__ == "__main__":
    Tier("regr").run(body)
