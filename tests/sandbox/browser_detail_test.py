#!/usr/bin/env python3
"""browser_detail_test.py: the Cockpit page's container page (cockpit/src/detail)
in a real browser against the real service, systemd and journald: Debian's
chromium, driven by playwright-core, loads the page from one cockpit-ws per test
user (sandboxlib/browser.py). The scenarios (tests/browser/detail_scenarios.mjs)
act in the page, at 1280 and 390 px, light and dark, axe-core clean on every tab;
this script checks the service's (and systemd's) side itself, on the bus.

Scenarios:
  0  sandbox up, payloads, cockpit-ws per user, the installed page
  1  header and tabs (breadcrumb, state, verbs, Edit, keyboard, routes), the
     overview, network, mounts and limits in words; empty sections say None;
     a tenant's own container shows its owner by name
  2  a failed start: the overview opens on the unit's result in words and its
     last log lines
  3  the Logs tab: earlier and live lines through the service (OpenLogs by the
     CLI), Pause/Follow, the stream ends with its tab; a tenant reads its own
     container's lines; a denied user sees the refusal
  4  usage: memory and tasks as systemd reports them for the unit, graphs with
     points after a few samples
  5  generations: the table; a denied user's switch leaves it; nc-allowed
     switches from generation 3 to 1 (SwitchGeneration) after a confirmation, and
     the table keeps its focus while another container comes and goes; a
     declarative container's Edit and switch are disabled, saying why
  6  the terminal (xterm.js on a pty): output, Ctrl-C, arrows, resize, Disconnect;
     a denied user is refused

Failure screenshots in $BROWSER_SCREENSHOTS (default BUILD/browser-screenshots);
BROWSER_DETAIL_SCREENSHOTS=DIR keeps every scenario's last screen there too.
Runs as root (exit 77 otherwise); needs what browser_test.py needs. The last line
is "N passed, M failed".
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# A scenario runs one browser through several tabs, widths and themes: longer than a bus step.
os.environ.setdefault("E2E_STEP_TIMEOUT", "240")
sys.path.insert(0, HERE)
from sandboxlib import DBUS_ERR, U_DENIED, U_TENANT, Failed, Tier, probes, spec  # noqa: E402
from sandboxlib.browser import BROWSER_DIR, PORT, SCREENSHOTS, Browser, tools_present  # noqa: E402

SCENARIOS = "detail_scenarios.mjs"


def body(t):
    b = Browser(t, SCENARIOS)
    nc = f"{t.dir}/prefix/bin/nixos-container"

    def page(scenario, user, *args):
        """The scenario in chromium as `user`'s Cockpit; what it printed, shown in the tier's output."""
        # BROWSER_DETAIL_SCREENSHOTS=DIR keeps each scenario's last screen, to look at.
        keep = os.environ.get("BROWSER_DETAIL_SCREENSHOTS")
        shot = (f"SCREENSHOT={keep}/{scenario}-{user}.png",) if keep else ()
        with b.cockpit_ws(user):
            out = t.sb("env", f"HOME={t.work}/browser-home", f"SCREENSHOT_DIR={SCREENSHOTS}", *shot, "node",
                       os.path.join(BROWSER_DIR, SCENARIOS), scenario, str(PORT[user]), *args).stdout
        for line in out.splitlines():
            print(f"      | {line}")
        return out

    def console(name, system, text):
        t.sb(nc, "run", name, "--", f"{system}/bin/sh", "-c", f"printf '{text}\\n' >/dev/console")

    def value_is(name, prop, want):
        got = t.bus.get(name, prop)
        if got != want:
            raise Failed(f"{prop} of {name} is {got!r}, expected {want!r}")

    def inside(path):
        return "/nix/store/" + os.path.basename(path)

    with t.scenario("0  sandbox up, payloads, cockpit-ws per user"):
        tools_present(t)
        t.up()
        ok = t.make_system("detok")
        ok2 = t.make_system("detok2")
        bad = t.make_system("detbad", "bad-init")
        b.prepare()
        host_data = f"{t.work}/host-data"
        os.makedirs(host_data, exist_ok=True)
        for user in ("allowed", "denied", "tenant"):
            t.check(f"cockpit-ws serves the installed page to nc-{user}", b.serves, user)
        t.check("root creates d1 (ports, a bind mount, tmpfs, limits, private network) on one system, "
                "updates it to a second, starts it",
                lambda: (t.bus.call("Create", "sa{sv}", "d1", spec(
                    SystemPath=("s", ok), PrivateNetwork=("b", True), ForwardPorts=("a(sqq)", [["tcp", 8080, 80]]),
                    BindMounts=("a(ssb)", [["/data", host_data, True]]), Tmpfs=("as", ["/scratch"]),
                    MemoryMax=("s", "512M"), TasksMax=("s", "200"))),
                    t.bus.call("Update", "sa{sv}", "d1", spec(SystemPath=("s", ok2))),
                    t.bus.call("Start", "s", "d1")))
        t.check("d1 is running for the service", probes.state_is, t, "d1", "running")

    with t.scenario("1  header, tabs and the sections"):
        t.check("d1's page: header, tabs by mouse and keys, overview/network/mounts/limits in words, "
                "both widths, dark, axe-clean",
                page, "sections", "allowed", "d1", inside(ok2), str(t.bus.get("d1", "Timestamp")), host_data)

        def d1_as_shown():
            want = {"ForwardPorts": [["tcp", 8080, 80]], "BindMounts": [["/data", host_data, True]],
                    "Tmpfs": ["/scratch"], "MemoryMax": "512M", "TasksMax": "200", "Owner": 0}
            for prop, expected in want.items():
                value_is("d1", prop, expected)

        t.check("...the service has what the page showed (ports, mounts, limits, owner)", d1_as_shown)
        t.check("root creates dn with nothing but a system (stopped)", t.bus.call, "Create", "sa{sv}", "dn",
                spec(SystemPath=("s", ok)))
        t.check("dn's mounts and limits say None; stopped: Started at —", page, "sections-none", "allowed", "dn")
        t.check("...dn has no mounts nor limits for the service",
                lambda: (value_is("dn", "BindMounts", []), value_is("dn", "Tmpfs", []), value_is("dn", "MemoryMax", "")))
        tenant = t.as_user(U_TENANT)
        t.check("nc-tenant creates and starts its own dt", lambda: (
            tenant.call("Create", "sa{sv}", "dt", spec(SystemPath=("s", ok))), tenant.call("Start", "s", "dt")))
        t.check("nc-tenant's page of dt: its owner by name, axe-clean", page, "owner", "tenant", "dt",
                rf"^nc-tenant \({U_TENANT}\)$")
        t.check("...dt's Owner is nc-tenant for the service", value_is, "dt", "Owner", U_TENANT)

    with t.scenario("2  a failed container's overview"):
        t.check("root creates df (an init that fails); Start is StartFailed",
                lambda: (t.bus.call("Create", "sa{sv}", "df", spec(SystemPath=("s", bad))),
                         t.bus.expect_error("StartFailed", "", "Start", "s", "df")))
        def failed_with_result():
            probes.state_is(t, "df", "failed")
            if not t.bus.get("df", "UnitResult"):
                raise Failed("df is failed without a UnitResult")

        t.check("df is failed for the service, with a UnitResult", t.poll, 10000, failed_with_result)
        t.check("df's overview: the result in words in a danger alert, the unit's last lines first",
                lambda: page("failed-overview", "allowed", "df", t.bus.get("df", "UnitResult"),
                             "Container df failed with error code 1."))

    with t.scenario("3  the Logs tab"):
        t.check("d1's root prints detail-marker-1 on its console", console, "d1", ok2, "detail-marker-1")
        t.check("d1's Logs tab: detail-marker-1, then detail-marker-2 live, Pause/Follow, ends with its tab",
                page, "logs", "allowed", "d1", nc, ok2, "detail-marker-1", "detail-marker-2")

        def in_journal():
            stream = t.bus.open_stream("OpenLogs", "sub", "d1", 50, False)
            try:
                text, _ = t.bus.read_stream(stream, timeout=10)
            finally:
                t.bus.close_stream(stream)
            if "detail-marker-2" not in text:
                raise Failed(f"the service's stream of d1 lacks detail-marker-2:\n{text}")

        t.check("...the service's own stream has detail-marker-2", in_journal)
        t.check("dt's root prints tenant-marker on its console", console, "dt", ok, "tenant-marker")
        t.check("nc-tenant's Logs tab of its dt: its lines (no journal access of its own)",
                page, "logs", "tenant", "dt", nc, ok, "tenant-marker", "tenant-marker-live")
        t.check("nc-denied's Logs tab of d1: the service's refusal, in words",
                page, "logs-denied", "denied", "d1", "[Nn]ot authori[sz]ed|denied")
        t.check("...OpenLogs is AccessDenied for nc-denied on the bus", t.as_user(U_DENIED).expect_error,
                DBUS_ERR + "AccessDenied", "", "OpenLogs", "sub", "d1", 5, False)

    with t.scenario("4  usage"):
        out = {}
        t.check("d1's Usage tab: CPU, memory, tasks; graphs with points after three samples",
                lambda: out.setdefault("page", page("usage", "allowed", "d1")))

        def matches_systemd():
            shown = dict(re.findall(r"(\w+)=(\S+)", next(line for line in out["page"].splitlines()
                                                        if line.startswith("USAGE "))))
            unit = t.bus.get("d1", "Unit")
            path = t.sb("busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager", "GetUnit", "s", unit).stdout.split('"')[1]

            def prop(name):
                return int(t.sb("busctl", "get-property", "org.freedesktop.systemd1", path,
                                "org.freedesktop.systemd1.Service", name).stdout.split()[1])

            memory, tasks, cpu = prop("MemoryCurrent"), prop("TasksCurrent"), prop("CPUUsageNSec")
            print(f"      | systemd: MemoryCurrent={memory} TasksCurrent={tasks} CPUUsageNSec={cpu}")
            unset = 2**64 - 1
            for key, value in (("memory", memory), ("tasks", tasks)):
                # The sandbox may have no memory or pids controller: then systemd says unset, and so must the page.
                if value == unset:
                    if shown[key] != "unset":
                        raise Failed(f"{key} shown {shown[key]}, systemd has none")
                    continue
                tolerance = max(value // 4, 4 << 20) if key == "memory" else 2
                if not 0 < int(shown[key]) or abs(int(shown[key]) - value) > tolerance:
                    raise Failed(f"{key} shown {shown[key]}, systemd {value}")
            if cpu == unset:
                if shown["cpu"] != "unset":
                    raise Failed(f"CPU shown as {shown['cpu']}, systemd's CPUUsageNSec is unset")
            elif not 0 < int(shown["nsec"]) <= cpu or cpu - int(shown["nsec"]) > 10**9:
                raise Failed(f"CPUUsageNSec shown {shown['nsec']}, systemd {cpu} (an idle container: within 1 s)")

        t.check("...CPU time, memory and tasks match systemd's for d1's unit (busctl get-property), unset alike",
                matches_systemd)

    with t.scenario("5  generations"):
        def current_is(want):
            got = [g[3] for g in t.bus.get("d1", "Generations")]
            if got != want:
                raise Failed(f"d1's generations' current flags are {got}, expected {want}")

        ok3 = t.make_system("detok3")
        t.check("root updates d1 to a third system: three generations, the third current",
                lambda: (t.bus.call("Update", "sa{sv}", "d1", spec(SystemPath=("s", ok3))),
                         current_is([False, False, True])))
        t.check("nc-denied's switch of d1 to generation 1 is disabled before any click, saying why",
                page, "generations-denied", "denied", "d1", "1")
        t.check("...d1 still on the third system", value_is, "d1", "SystemPath", inside(ok3))
        t.check("nc-allowed's generations of d1 keep their focus while gx comes and goes; "
                "d1 switched from 3 to generation 1 (SwitchGeneration; cancel first keeps it)",
                page, "generations", "allowed", "d1", "3", "1", ok)
        t.check("...gx is gone for the service", b.gone, "gx")
        t.check("...d1 runs the first system for the service",
                lambda: (value_is("d1", "SystemPath", inside(ok)), current_is([True, False, False])))

        def declared(system):
            t.bus.call("ApplyDeclarative", "s", json.dumps({"Containers": {"dd": {"Spec": {"SystemPath": system}}}}))

        t.check("root declares dd on one system, then on a second (ApplyDeclarative twice)",
                lambda: (declared(ok), declared(ok2)))
        def two_generations():
            value_is("dd", "Declarative", True)
            value_is("dd", "SystemPath", inside(ok2))
            if len(t.bus.get("dd", "Generations")) != 2:
                raise Failed(f"dd's generations: {t.bus.get('dd', 'Generations')}")

        t.check("...dd is declarative, with two generations, for the service", two_generations)
        t.check("dd's page: Edit and the switch to generation 1 disabled, saying why", page, "declarative",
                "allowed", "dd", "1")
        t.check("...and the service refuses dd's Update (Declarative)", t.bus.expect_error, "Declarative", "",
                "Update", "sa{sv}", "dd", spec(SystemPath=("s", ok)))

    with t.scenario("6  the terminal"):
        sysd = subprocess.run([os.path.join(HERE, "payload", "make-systemd-root.sh"), "system",
                               f"{t.dir}/store", "detsysd"], capture_output=True, text=True, check=True).stdout.strip()
        t.check("root creates s1 on a payload that boots systemd, /usr bound read-only", t.bus.call, "Create",
                "sa{sv}", "s1", spec(SystemPath=("s", sysd), BindMounts=("a(ssb)", [["/usr", "/usr", True]]),
                                     TimeoutStartSec=("s", "60s")))
        t.check("complete s1's root and start it",
                lambda: (subprocess.run([os.path.join(HERE, "payload", "make-systemd-root.sh"), "root",
                                         f"{t.dir}/state/s1"], check=True, capture_output=True),
                         t.bus.call("Start", "s", "s1")))
        t.check("nc-allowed's terminal on s1: output, Ctrl-C ends sleep 30, arrows edit, the pty follows "
                "a resize, Disconnect", page, "terminal", "allowed", "s1")
        def no_root_login():
            left = t.sb("pgrep", "-af", "root-login s1", check=False).stdout.strip()
            if left:
                raise Failed(f"still running: {left}")

        t.check("...no root-login left for s1", no_root_login)
        t.check("nc-denied's terminal on s1: Connect disabled before any click, saying why (GetPermissions)",
                page, "terminal-denied", "denied", "s1")
        t.check("...OpenShell is AccessDenied for nc-denied on the bus", t.as_user(U_DENIED).expect_error,
                DBUS_ERR + "AccessDenied", "", "OpenShell", "sssasas", "s1", "", "", [], [])


if __name__ == "__main__":
    Tier("browser-detail").run(body)
