#!/usr/bin/env python3
"""browser_test.py: the Cockpit page (cockpit/) in a real browser against the
real service: Debian's chromium, driven by playwright-core (pinned in
tests/browser/package-lock.json), loads the page from cockpit-ws on the
sandbox's loopback. One cockpit-ws per test user, each with --local-session
pointing at a wrapper that runs cockpit-bridge as that user, so every call
the page makes reaches polkitd as that user.

Each scenario acts in the page (tests/browser/page_scenarios.mjs) and this
script checks the service's side on the bus, independently of the page.

Scenarios:
  1  a container that the bus creates, starts, stops and destroys: the open
     page's row follows each step live, without a reload
  2  Create from the page; a bad system path shows the service's own
     message beside the field and leaves nothing; a build's output streams
     into the form (the sandbox's stand-in nix fails it); a bad name is
     caught by the form
  3  Start from the page (running, live), the container page shows every
     property, Stop, Destroy (after a confirmation) removes the row
  4  authorisation: nc-allowed starts; nc-denied sees "Not authorized";
     nc-challenged sees that authentication is required; neither changed
     anything; nc-tenant (delegated) creates and starts a confined
     container from the page
  5  a failed container's row says why (the unit's Result)
  6  Rollback from the row: the service's SystemPath is the first system again
  7  the container page's terminal: nc-allowed runs a command in a root
     shell (OpenShell, through the CLI's root-login on the bridge's pty)

Screenshots of failed scenarios are kept in $BROWSER_SCREENSHOTS (default
BUILD/browser-screenshots); BROWSER_README_SCREENSHOT=FILE takes the README's.
Runs as root (exit 77 otherwise). Needs node, chromium, cockpit-ws and
cockpit-bridge, and tests/browser's node_modules (npm ci); the last line is
"N passed, M failed".
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sandboxlib import U_TENANT, Failed, Tier, probes, spec  # noqa: E402
from sandboxlib.browser import MISSING, PORT, Browser, tools_present  # noqa: E402


def value_is(t, name, prop, want):
    got = t.bus.get(name, prop)
    if got != want:
        raise Failed(f"{prop} of {name} is {got!r}, expected {want!r}")


def body(t):
    b = Browser(t)
    with t.scenario("0  sandbox up, cockpit-ws per user, the installed page"):
        tools_present(t)
        t.up()
        ok = t.make_system("sysok")
        installed = f"{t.dir}/prefix/share/cockpit/nixos-containers"
        t.check(f"the page is installed ({installed})",
                lambda: all(os.path.getsize(f"{installed}/{f}") > 0 for f in ("manifest.json", "index.js", "index.css")))
        b.prepare()
        for user in PORT:
            t.check(f"cockpit-ws serves the installed page to nc-{user} (its manifest, through nc-{user}'s bridge)",
                    b.serves, user)

    with t.scenario("1  what the bus does shows in the open page, live"):
        t.check("the bus creates, starts, stops and destroys b0: the open page's row follows each step, no reload",
                b.page, "follows-busctl", "allowed", "b0", ok)
        t.check("b0 is gone for the service", b.gone, "b0")
        t.check("the bus creates b1 (for scenario 4)", t.bus.call, "Create", "sa{sv}", "b1",
                spec(SystemPath=("s", ok)))

    with t.scenario("2  Create from the page, and its errors"):
        t.check("Create p1 from the form: its row appears", b.page, "create", "allowed", "p1", ok)

        def made_from_form():
            # SystemPath is shown as the store path inside (the sandbox's store is elsewhere).
            inspected = json.loads(t.bus.call("Inspect", "s", "p1")[0])
            want = "/nix/store/" + os.path.basename(ok)
            if inspected["SystemPath"] != want or inspected["PrivateNetwork"] is not True:
                raise Failed(f"SystemPath {inspected['SystemPath']!r} (want {want!r}), "
                             f"PrivateNetwork {inspected['PrivateNetwork']!r}")

        t.check("p1 exists for the service, with that system and a private network", made_from_form)
        t.check("a system path without init: the service's message beside the field",
                b.page, "bad-system-path", "allowed", "p2", MISSING)
        t.check("...and p2 left nothing behind", b.gone, "p2")
        t.check("Create from a configuration: the builder's output streams into the form, then BuildFailed",
                b.page, "build-output", "allowed", "c1", "payload.fail is set")
        t.check("...and c1 left nothing behind", b.gone, "c1")
        t.check("a name with '_': the form says so before any call", b.page, "bad-name", "allowed")
        t.check("...and nothing named web_1 exists", b.gone, "web_1")

    with t.scenario("3  Start, the container page, Stop, Destroy from the page"):
        t.check("Start p1 from the page: the row goes to running live", b.page, "start", "allowed", "p1")
        t.check("p1 is running for the service", probes.state_is, t, "p1", "running")
        t.check("the container page shows p1's properties (a live Leader)", b.page, "details", "allowed", "p1")
        t.check("Stop p1 from the page", b.page, "stop", "allowed", "p1")
        t.check("p1 is stopped for the service", probes.state_is, t, "p1", "stopped")
        t.check("Destroy p1 after the confirmation (cancel first keeps it): the row goes",
                b.page, "destroy", "allowed", "p1")
        t.check("p1 is gone for the service", b.gone, "p1")

    with t.scenario("4  authorisation as Cockpit users expect"):
        t.check("nc-denied's Start of b1: Not authorized, inline", b.page, "start-outcome", "denied", "b1", "denied")
        t.check("...b1 still stopped", probes.state_is, t, "b1", "stopped")
        t.check("nc-challenged's Start of b1: authentication is required, inline",
                b.page, "start-outcome", "challenged", "b1", "challenge")
        t.check("...b1 still stopped", probes.state_is, t, "b1", "stopped")
        t.check("nc-allowed's Start of b1: running", b.page, "start-outcome", "allowed", "b1", "running")
        t.check("b1 is running for the service", probes.state_is, t, "b1", "running")
        t.check("nc-tenant (delegated) creates and starts t1 from the page, private network from the pool",
                b.page, "tenant-create-start", "tenant", "t1", ok)
        t.check("t1 is running, owned by nc-tenant",
                lambda: (probes.state_is(t, "t1", "running"), value_is(t, "t1", "Owner", U_TENANT)))

    with t.scenario("5  a failed container says why"):
        def kill_unit():
            """SIGKILL to its unit's main process (nspawn), as a crash would."""
            unit = t.bus.get("b1", "Unit")
            pid = int(t.sb("systemctl", "show", "-P", "MainPID", unit).stdout.strip() or 0)
            if pid <= 0:
                raise Failed(f"{unit} has no main process")
            t.sb("kill", "-KILL", str(pid))

        t.check("b1's nspawn is killed (SIGKILL)", kill_unit)
        t.check("b1 is failed for the service, UnitResult signal", t.poll, 10000,
                lambda: (probes.state_is(t, "b1", "failed"), value_is(t, "b1", "UnitResult", "signal")))
        t.check("the row of b1 says failed, and why", b.page, "failed-reason", "allowed", "b1", "signal")

    with t.scenario("6  Rollback from the page"):
        ok2 = t.make_system("sysok2")
        t.check("root creates r1 on one system, then updates it to a second (two generations)",
                lambda: (t.bus.call("Create", "sa{sv}", "r1", spec(SystemPath=("s", ok))),
                         t.bus.call("Update", "sa{sv}", "r1", spec(SystemPath=("s", ok2)))))
        t.check("nc-allowed rolls r1 back from its row", b.page, "rollback", "allowed", "r1")
        t.check("r1 runs the first system again, for the service",
                value_is, t, "r1", "SystemPath", "/nix/store/" + os.path.basename(ok))

    with t.scenario("7  the container page's terminal (OpenShell, on a payload that boots systemd)"):
        sysd = subprocess.run([os.path.join(HERE, "payload", "make-systemd-root.sh"), "system",
                               f"{t.dir}/store", "sysd"], capture_output=True, text=True, check=True).stdout.strip()
        t.check(f"systemd payload made ({sysd})", lambda: bool(sysd))
        t.check("root creates s1 on it, with /usr bound read-only", t.bus.call, "Create", "sa{sv}", "s1",
                spec(SystemPath=("s", sysd), BindMounts=("a(ssb)", [["/usr", "/usr", True]]),
                     TimeoutStartSec=("s", "60s")))
        t.check("complete s1's root (merged-usr links, os-release, passwd)", subprocess.run,
                [os.path.join(HERE, "payload", "make-systemd-root.sh"), "root", f"{t.dir}/state/s1"], check=True,
                capture_output=True)
        t.check("root starts s1", t.bus.call, "Start", "s", "s1")
        t.check("nc-allowed's terminal on s1's page runs a command as root inside", b.page, "terminal", "allowed", "s1")

    readme = os.environ.get("BROWSER_README_SCREENSHOT")
    if readme:
        with t.scenario("screenshot"):
            t.check(f"a screenshot for the README ({readme})", b.page, "screenshot", "allowed",
                    env=(f"SCREENSHOT={readme}",))


if __name__ == "__main__":
    Tier("browser").run(body)
