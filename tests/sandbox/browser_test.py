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
     page's row follows each step live, without a reload; the theme follows
     Cockpit's shell style live (PatternFly 6's dark theme)
  2  Create from the modal (a port, a limit, AutoStart; the pool's
     addresses); a bad system path shows the service's own message beside
     the field, tied to it, wrapped on a phone, and leaves nothing; a
     build's output streams into the form (the sandbox's stand-in nix fails
     it); a bad name is caught by the form
  3  Start, Stop, Destroy from the list (toasts; Destroy's modal: heading,
     focus on Cancel, Enter twice keeps it); Stop during a Start that never
     ends cancels it
  4  authorisation: nc-allowed starts; nc-denied sees "Not authorized" and
     nc-challenged that a password is needed (before the click when the
     service has GetPermissions); neither changed anything; nc-tenant
     (delegated) creates and starts a confined container, sees "mine" by
     default, the owner column, the filters
  5  a failed container's row says why (the unit's Result), on a phone too
  6  Rollback from the row: the service's SystemPath is the first system
     again; Edit sends Update only the changed keys
  7  axe-core (WCAG 2.1 A/AA) on the list and the Create, Edit and Destroy
     modals at 1280 and 390 px, light and dark, as nc-allowed, nc-tenant and
     nc-denied; no horizontal overflow

Screenshots of failed scenarios are kept in $BROWSER_SCREENSHOTS (default
BUILD/browser-screenshots); BROWSER_README_SCREENSHOTS=DIR takes the README's
(DIR/cockpit-desktop-light.png, cockpit-desktop-dark.png, cockpit-phone.png).
Runs as root (exit 77 otherwise). Needs node, chromium, cockpit-ws and
cockpit-bridge, and tests/browser's node_modules (npm ci); the last line is
"N passed, M failed".
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sandboxlib import U_DENIED, U_TENANT, Failed, Tier, probes, spec  # noqa: E402
from sandboxlib.bus import BusError  # noqa: E402
from sandboxlib.browser import MISSING, PORT, Browser, tools_present  # noqa: E402


def value_is(t, name, prop, want):
    got = t.bus.get(name, prop)
    if got != want:
        raise Failed(f"{prop} of {name} is {got!r}, expected {want!r}")


def service_has(t, what):
    """Whether the service has GetPermissions / SpecKeys yet (branch svc-api): the page
    degrades without them, and the scenarios check whichever the service offers."""
    try:
        if what == "GetPermissions":
            t.bus.call("GetPermissions", "s", "")
        else:
            t.bus.call("Get", "ss", "org.nixos.Containers", "SpecKeys", path="/org/nixos/Containers",
                       iface="org.freedesktop.DBus.Properties")
        return True
    except BusError as error:
        if error.name in ("org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownProperty",
                          "org.freedesktop.DBus.Error.InvalidArgs"):
            return False
        raise


def required(present, why):
    if not present:
        raise Failed(why)


def inspected(t, name):
    return json.loads(t.bus.call("Inspect", "s", name)[0])


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
        t.check("the theme follows the shell's style live (storage from another frame, prefers-color-scheme)",
                b.page, "theme", "allowed")
        t.check("the bus creates b1 (for scenario 4)", t.bus.call, "Create", "sa{sv}", "b1",
                spec(SystemPath=("s", ok)))

    with t.scenario("2  Create from the page, and its errors"):
        t.check("Create p1 from the modal (MemoryMax 256M, AutoStart, a port row added then removed): its row, a toast, "
                "focus back",
                b.page, "create", "allowed", "p1", ok)

        def made_from_form():
            # SystemPath is shown as the store path inside (the sandbox's store is elsewhere).
            got = inspected(t, "p1")
            want = {"SystemPath": "/nix/store/" + os.path.basename(ok), "PrivateNetwork": True,
                    "ForwardPorts": [], "MemoryMax": "256M", "AutoStart": True}
            wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
            if wrong:
                raise Failed(f"p1 has {wrong}, expected {want}")
            # The address fields were left empty, so not sent: the pool gave the pair.
            for key in ("HostAddress", "LocalAddress"):
                if not str(got.get(key, "")).startswith("10.233."):
                    raise Failed(f"p1 has {key} {got.get(key)!r}, not the pool's")

        t.check("p1 exists for the service, with that system, limit and AutoStart, no port, the pool's addresses",
                made_from_form)
        t.check("a system path without init (phone): the service's message beside the field, tied, wrapped",
                b.page, "bad-system-path", "allowed", "p2", MISSING)
        t.check("...and p2 left nothing behind", b.gone, "p2")
        t.check("Create from a configuration: the builder's output streams into the form, then BuildFailed",
                b.page, "build-output", "allowed", "c1", "payload.fail is set")
        t.check("...and c1 left nothing behind", b.gone, "c1")
        t.check("a name with '_': the form says so before any call", b.page, "bad-name", "allowed")
        t.check("...and nothing named web_1 exists", b.gone, "web_1")

    with t.scenario("3  Start, Stop, Destroy from the list; Stop during a Start"):
        t.check("Start p1 from the page: the row goes to running live, a toast", b.page, "start", "allowed", "p1")
        t.check("p1 is running for the service", probes.state_is, t, "p1", "running")
        t.check("Stop p1 from the page", b.page, "stop", "allowed", "p1")
        t.check("p1 is stopped for the service", probes.state_is, t, "p1", "stopped")
        t.check("Destroy p1 (phone, dark): the modal's heading, focus on Cancel, Enter twice keeps it; confirm removes it",
                b.page, "destroy", "allowed", "p1")
        t.check("p1 is gone for the service", b.gone, "p1")
        slow = t.make_system("sysslow", "slow")
        t.check("root creates w1 on a payload that never reports READY (TimeoutStartSec 60s)", t.bus.call, "Create",
                "sa{sv}", "w1", spec(SystemPath=("s", slow), TimeoutStartSec=("s", "60s")))
        t.check("Start w1 from the page, then Stop while it starts: Stop was enabled, the Start answered",
                b.page, "stop-during-start", "allowed", "w1")
        t.check("w1 is stopped for the service, its unit inactive",
                lambda: (probes.state_is(t, "w1", "stopped"), probes.machine_absent(t, "w1")))
        t.check("Destroy w1", t.bus.call, "Destroy", "s", "w1")

    with t.scenario("4  authorisation as Cockpit users expect"):
        # The service on main has GetPermissions (svc-api): the page must refuse in advance.
        permissions = service_has(t, "GetPermissions")
        t.check("the service answers GetPermissions", required, permissions,
                "no GetPermissions: the refusals in advance go untested")
        how = "refused" if permissions else "click"
        if permissions:
            def denied_in_advance():
                answers = t.as_user(U_DENIED).call("GetPermissions", "s", "b1")[0]
                if answers.get("Start") != "no":
                    raise Failed(f"GetPermissions tells nc-denied {answers}")

            t.check("the service tells nc-denied in advance that Start of b1 is refused", denied_in_advance)
        t.check(f"nc-denied's Start of b1: Not authorized ({how})", b.page, "start-outcome", "denied", "b1", "denied",
                how)
        t.check("...b1 still stopped", probes.state_is, t, "b1", "stopped")
        t.check(f"nc-challenged's Start of b1: a password is needed ({how})",
                b.page, "start-outcome", "challenged", "b1", "challenge", how)
        t.check("...b1 still stopped", probes.state_is, t, "b1", "stopped")
        t.check("nc-allowed's Start of b1: running", b.page, "start-outcome", "allowed", "b1", "running")
        t.check("b1 is running for the service", probes.state_is, t, "b1", "running")
        t.check("nc-tenant (delegated) creates and starts t1 from the page, private network from the pool; "
                "'mine' by default, owners named, b1's buttons refused when the service says, the filters",
                b.page, "tenant-create-start", "tenant", "t1", ok, "b1", "yes" if permissions else "no")
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
        generations = t.bus.get("r1", "Generations")
        effects = service_has(t, "SpecKeys")
        t.check("the service has SpecKeys", required, effects, "no SpecKeys: the Edit modal's effects go untested")
        t.check(f"nc-allowed edits r1: MemoryMax 300M and AutoStart, prefilled form, effects shown: {effects}",
                b.page, "edit", "allowed", "r1", "300M", "yes" if effects else "no")
        t.check("r1 has MemoryMax 300M and AutoStart for the service",
                lambda: (value_is(t, "r1", "MemoryMax", "300M"), value_is(t, "r1", "AutoStart", True)))
        t.check("...and only those changed: the same system, no new generation, the same network",
                lambda: (value_is(t, "r1", "SystemPath", "/nix/store/" + os.path.basename(ok)),
                         value_is(t, "r1", "Generations", generations),
                         value_is(t, "r1", "PrivateNetwork", False)))

    with t.scenario("7  axe-core clean at both widths, light and dark, as allowed, tenant and denied"):
        t.check("nc-allowed: the list, Create, Edit r1 and Destroy r1's dialog, 1280 and 390 px, light and dark",
                b.page, "a11y", "allowed", "r1", "r1", "all")
        t.check("nc-tenant: the list, Create, Edit t1 and Destroy t1's dialog, phone dark and desktop light",
                b.page, "a11y", "tenant", "t1", "t1", "dark-phone,light-desktop")
        t.check("nc-denied: the list, Create (or why not) and Edit r1, desktop dark and phone light",
                b.page, "a11y", "denied", "r1", "", "dark-desktop,light-phone")
        t.check("r1 and t1 are still there", lambda: (inspected(t, "r1"), inspected(t, "t1")))

    readme = os.environ.get("BROWSER_README_SCREENSHOTS")
    if readme:
        with t.scenario("screenshots for the README"):
            t.check("root creates and starts web1 with a private network and port 8080 forwarded (for the picture)",
                    lambda: (t.bus.call("Create", "sa{sv}", "web1",
                                        spec(SystemPath=("s", ok), PrivateNetwork=("b", True),
                                             ForwardPorts=("a(sqq)", [["tcp", 8080, 80]]))),
                             t.bus.call("Start", "s", "web1")))
            shots = f"{t.work}/readme-shots"
            os.makedirs(shots, exist_ok=True)
            os.chmod(shots, 0o777)
            t.check(f"the README's screenshots ({readme})", b.page, "screenshots", "allowed", shots)
            os.makedirs(readme, exist_ok=True)
            for name in ("cockpit-desktop-light.png", "cockpit-desktop-dark.png", "cockpit-phone.png"):
                shutil.copy(f"{shots}/{name}", f"{readme}/{name}")


if __name__ == "__main__":
    Tier("browser").run(body)
