#!/usr/bin/env python3
"""logs_test.py: OpenLogs and `nixos-container logs` against the sandbox's
real journald, systemd, polkitd and nspawn.

  0  sandbox up, payloads (ok, bad-init)
  1  a running container's journal as root: what its console printed, every
     line "TIME IDENTIFIER[PID]: MESSAGE", the stream ends without follow,
     LINES bounds it
  2  follow: a line printed after the call arrives; eight open streams are a
     caller's most, and a closed one frees its place
  3  the container's root prints control sequences: they arrive escaped
  4  a failed start: systemd's lines about the unit are in its logs
  5  delegation: an allowed user, a denied one, a challenged one; a tenant
     reads its own container's logs and not root's, nor those of root's
     destroyed container whose name its new one took
  6  the CLI: logs -n, logs -f, as root and as the tenant
  7  bad input: no such container, too many lines
  8  nothing left

Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import (DBUS_ERR, SANDBOX, U_ALLOWED, U_CHALLENGED, U_DENIED, U_TENANT, Failed,  # noqa: E402
                        Tier, opath, probes, spec)

# nspawn's output is the unit's: its identifier is "container NAME".
LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S[^\[]*(\[\d+\])?: .*")


def body(t):
    nc = f"{t.dir}/prefix/bin/nixos-container"

    def console(name, system, text):
        """The container's root prints text on its console (printf's escapes)."""
        t.sb(nc, "run", name, "--", f"{system}/bin/sh", "-c", f"printf '{text}\\n' >/dev/console")

    def logs(name, lines, bus=None):
        """OpenLogs without follow: the whole stream, which must end."""
        bus = bus or t.bus
        stream = bus.open_stream("OpenLogs", "sub", name, lines, False)
        try:
            text, eof = bus.read_stream(stream, timeout=10)
        finally:
            bus.close_stream(stream)
        if not eof:
            raise Failed(f"the stream did not end without follow; it gave:\n{text}")
        return text

    def has_lines(name, lines, *wanted):
        text = logs(name, lines)
        for want in wanted:
            if want not in text:
                raise Failed(f"{want!r} not in the logs of {name}:\n{text}")
        return text

    with t.scenario("0  sandbox up, payloads"):
        t.up()
        ok = t.make_system("logsok")
        bad = t.make_system("logsbad", "bad-init")

    with t.scenario("1  a running container's journal, as root"):
        t.check("Create and Start lg", lambda: (t.bus.call("Create", "sa{sv}", "lg", spec(SystemPath=("s", ok))),
                                                 t.bus.call("Start", "s", "lg")))
        t.check("its root prints logs-marker-1 on its console", console, "lg", ok, "logs-marker-1")

        def format_and_marker():
            text = has_lines("lg", 100, "logs-marker-1")
            odd = [line for line in text.splitlines() if not LINE.fullmatch(line)]
            if odd:
                raise Failed(f"lines not TIME IDENTIFIER[PID]: MESSAGE: {odd}")
            if "Spawning container lg" not in text:
                raise Failed(f"only the marker, not nspawn's lines:\n{text}")

        t.check("OpenLogs(lg, 100, false): nspawn's lines and the marker, each TIME IDENTIFIER[PID]: MESSAGE, "
                "then the end",
                t.poll, 5000, format_and_marker)

        def exactly(lines):
            got = logs("lg", lines).splitlines()
            if len(got) != lines:
                raise Failed(f"{len(got)} lines for LINES={lines}: {got}")
            if lines == 1 and "logs-marker-1" not in got[0]:
                raise Failed(f"the last entry is not the marker: {got}")

        t.check("OpenLogs(lg, 1, false): exactly the last entry, the marker", exactly, 1)
        t.check("OpenLogs(lg, 0, false): no entry", exactly, 0)

    with t.scenario("2  follow, and the bound on open streams"):
        def follows():
            stream = t.bus.open_stream("OpenLogs", "sub", "lg", 0, True)
            try:
                console("lg", ok, "logs-marker-2")
                text, eof = t.bus.read_stream(stream, until="logs-marker-2", timeout=10)
            finally:
                t.bus.close_stream(stream)
            if "logs-marker-2" not in text or eof:
                raise Failed(f"the followed stream gave {text!r} (ended: {eof})")

        t.check("OpenLogs(lg, 0, true): a line printed after the call arrives, the stream stays open", follows)
        user = t.as_user(U_ALLOWED)
        streams = []

        def ninth_refused():
            for _ in range(8):
                streams.append(user.open_stream("OpenLogs", "sub", "lg", 0, True))
            user.expect_error("LimitsExceeded", "8 per user", "OpenLogs", "sub", "lg", 0, True)

        t.check("eight followed streams of nc-allowed are open; the ninth is LimitsExceeded", ninth_refused)
        t.check("root still opens one (the cap is per caller)", logs, "lg", 1)

        def freed():
            user.close_stream(streams.pop())
            t.poll(3000, lambda: user.close_stream(user.open_stream("OpenLogs", "sub", "lg", 0, True)))

        t.check("one closed: its place is free again (its reader's end gone, the stream ends)", freed)
        while streams:
            user.close_stream(streams.pop())

    with t.scenario("3  control sequences from the container arrive escaped"):
        t.check("its root prints ESC ] 0;owned BEL and a C1 CSI on its console", console, "lg", ok,
                "esc-\\033]0;owned\\007-\\302\\233-end")

        def escaped():
            t.poll(5000, has_lines, "lg", 20, "esc-\\x1b]0;owned\\x07-\\xc2\\x9b-end")
            raw = logs("lg", 50)
            for byte in ("\x1b", "\x07", "\x9b"):
                if byte in raw:
                    raise Failed(f"{byte!r} reached the reader: {raw!r}")

        t.check("the line reads esc-\\x1b]0;owned\\x07-\\xc2\\x9b-end; no ESC, BEL or CSI reaches the reader",
                escaped)

    with t.scenario("4  a failed start's last lines"):
        t.check("Create lgbad (bad-init)", t.bus.call, "Create", "sa{sv}", "lgbad", spec(SystemPath=("s", bad)))
        t.check("Start lgbad: StartFailed", t.bus.expect_error, "StartFailed", "", "Start", "s", "lgbad")
        # The sandbox's systemd logs to its console, not to the journal: on a
        # host, its own lines about the unit ("Failed with result ...") are
        # there too, selected as journalctl -u selects them (UNIT=, _PID=1).
        t.check("OpenLogs(lgbad, 50, false): nspawn's 'failed with error code 1'",
                t.poll, 5000, has_lines, "lgbad", 50, "Container lgbad failed with error code 1.")

    with t.scenario("5  delegation"):
        t.check("nc-allowed reads lg's logs", logs, "lg", 5, t.as_user(U_ALLOWED))
        t.check("nc-denied: AccessDenied", t.as_user(U_DENIED).expect_error, DBUS_ERR + "AccessDenied", "",
                "OpenLogs", "sub", "lg", 5, False)
        t.check("nc-challenged: InteractiveAuthorizationRequired, for action logs",
                t.as_user(U_CHALLENGED).expect_error, DBUS_ERR + "InteractiveAuthorizationRequired",
                "(logs 'lg')", "OpenLogs", "sub", "lg", 5, False)
        tenant = t.as_user(U_TENANT)
        t.check("nc-tenant creates and starts its own lgt",
                lambda: (tenant.call("Create", "sa{sv}", "lgt", spec(SystemPath=("s", ok))),
                         tenant.call("Start", "s", "lgt")))
        t.check("the container's root prints logs-marker-t", console, "lgt", ok, "logs-marker-t")
        t.check("nc-tenant reads lgt's logs (it cannot read the system journal)",
                t.poll, 5000, lambda: "logs-marker-t" in logs("lgt", 20, tenant) or False)
        t.check("root's lgre prints old-owner-secret on its console, then is destroyed",
                lambda: (t.bus.call("Create", "sa{sv}", "lgre", spec(SystemPath=("s", ok))),
                         t.bus.call("Start", "s", "lgre"), console("lgre", ok, "old-owner-secret"),
                         t.poll(5000, has_lines, "lgre", 20, "old-owner-secret"),
                         t.bus.call("Destroy", "s", "lgre")))

        def not_the_predecessors():
            tenant.call("Create", "sa{sv}", "lgre", spec(SystemPath=("s", ok)))
            tenant.call("Start", "s", "lgre")
            console("lgre", ok, "new-owner-line")
            t.poll(5000, lambda: "new-owner-line" in logs("lgre", 1000, tenant) or False)
            text = logs("lgre", 1000, tenant)
            if "old-owner-secret" in text:
                raise Failed(f"the tenant's lgre shows root's earlier lgre:\n{text}")

        t.check("nc-tenant's new lgre (same unit name): its own lines, none of root's earlier lgre",
                not_the_predecessors)
        t.check("nc-tenant cannot read root's lg: InteractiveAuthorizationRequired",
                tenant.expect_error, DBUS_ERR + "InteractiveAuthorizationRequired", "(logs 'lg')",
                "OpenLogs", "sub", "lg", 5, False)
        t.check("through lg's own object too", tenant.expect_error, DBUS_ERR + "InteractiveAuthorizationRequired",
                "(logs 'lg')", "OpenLogs", "ub", 5, False, path=opath("lg"),
                iface="org.nixos.Containers.Container")

    with t.scenario("6  the CLI"):
        def cli_lines():
            out = t.sb(nc, "logs", "lg", "-n", "3").stdout.splitlines()
            if len(out) != 3 or not all(LINE.fullmatch(line) for line in out):
                raise Failed(f"logs lg -n 3 printed {out}")

        t.check("nixos-container logs lg -n 3: three lines", cli_lines)

        def cli_follow():
            follower = subprocess.Popen([SANDBOX, "exec", t.dir, nc, "logs", "lg", "-n", "0", "-f"],
                                        stdout=subprocess.PIPE, text=True)
            try:
                time.sleep(0.5)
                console("lg", ok, "logs-marker-3")
                line = follower.stdout.readline()
                if "logs-marker-3" not in line:
                    raise Failed(f"logs -f printed {line!r}")
            finally:
                follower.kill()
                follower.wait()

        t.check("nixos-container logs lg -f prints a line printed after it started", cli_follow)

        def cli_tenant():
            out = t.sb(nc, "logs", "lgt", uid=U_TENANT, check=False)
            if out.returncode != 0 or "logs-marker-t" not in out.stdout:
                raise Failed(f"exit {out.returncode}: {out.stdout}{out.stderr}")
            refused = t.sb(nc, "--no-ask-password", "logs", "lg", uid=U_TENANT, check=False)
            if refused.returncode == 0 or refused.stdout:
                raise Failed(f"root's lg: exit {refused.returncode}, printed {refused.stdout!r}")

        t.check("as nc-tenant: its own lgt's logs; root's lg refused, nothing printed", cli_tenant)
        t.check("logs lg -n x: a usage error (exit 2)",
                lambda: t.sb(nc, "logs", "lg", "-n", "x", check=False).returncode == 2)

    with t.scenario("7  bad input"):
        t.check("OpenLogs(nosuch): NoSuchContainer", t.bus.expect_error, "NoSuchContainer", "nosuch",
                "OpenLogs", "sub", "nosuch", 5, False)
        t.check("OpenLogs(lg, 100001): InvalidArgument", t.bus.expect_error, "InvalidArgument", "100000",
                "OpenLogs", "sub", "lg", 100001, False)

    with t.scenario("8  nothing left"):
        for name in ("lg", "lgbad", "lgt", "lgre"):
            t.check(f"Destroy {name}", t.bus.call, "Destroy", "s", name)
            t.check(f"{name} not listed", probes.not_listed, t, name)
            t.check(f"no machine {name}", probes.machine_absent, t, name)


if __name__ == "__main__":
    Tier("logs").run(body)
