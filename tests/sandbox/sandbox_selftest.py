#!/usr/bin/env python3
"""sandbox_selftest.py: proves the sandbox (scripts/sandbox/sandbox.sh) itself,
independently of the service: the bus, machined, polkitd with the three test
identities, and an nspawn container running the test payload as a transient
unit under the sandbox's systemd (READY reached, machine registered, clean
stop), plus the failing payloads, teardown after a crash, and a clean host
afterwards.

By default the sandbox comes up with --no-service; SANDBOX_SELFTEST_SERVICE=1
brings it up with the project's installed service as well and checks that
org.nixos.Containers is on the bus.

Runs as root (exit 77 otherwise, or 1 when CI is set). The last line is
"N passed, M failed". HARNESS_SELFCHECK=pass|fail|abort tests the harness
instead (tests/harness/selfcheck.sh).
"""
import base64
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import U_ALLOWED, U_CHALLENGED, U_DENIED, U_TENANT, Failed, Tier, now_ms, probes  # noqa: E402
from sandboxlib.harness import SANDBOX  # noqa: E402

WITH_SERVICE = os.environ.get("SANDBOX_SELFTEST_SERVICE") == "1"
UP_FLAGS = () if WITH_SERVICE else ("--no-service",)
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
MACHINED = ("org.freedesktop.machine1", "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager")
POLKIT = ("org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
          "org.freedesktop.PolicyKit1.Authority")


def on_bus(t, name):
    """name has an owner on the sandbox's bus."""
    dest, path, iface = DBUS
    t.bus.call("GetNameOwner", "s", name, dest=dest, path=path, iface=iface)


def pkcheck_as(t, uid, action, want):
    """pkcheck of a process of uid's own: 0 authorized, 1 not, 2 a challenge."""
    got = t.sb("sh", "-c", 'exec pkcheck --action-id "$1" --process $$', "sh", action, uid=uid,
               check=False).returncode
    if got != want:
        raise Failed(f"pkcheck as uid {uid} for {action}: exit {got}, expected {want}")


def check_authorization(t, uid, want):
    """CheckAuthorization, asked by root about a process of the test user, as the
    service asks about its callers: (is_authorized, is_challenge)."""
    # The user's process is left running by the shell, and reported once setpriv has switched.
    out = t.sb("sh", "-c", '''setpriv --reuid="$1" --regid="$1" --clear-groups sleep 60 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 500); do
    [ "$(stat -c %u /proc/$pid)" = "$1" ] && [ "$(cat /proc/$pid/comm)" = sleep ] && break
    sleep 0.01
done
echo "$pid $(cut -d' ' -f22 /proc/$pid/stat)"''', "sh", str(uid)).stdout.split()
    pid, start_time = int(out[0]), int(out[1])
    try:
        dest, path, iface = POLKIT
        subject = ["unix-process", {"pid": ["u", pid], "start-time": ["t", start_time], "uid": ["i", uid]}]
        result = t.bus.call("CheckAuthorization", "(sa{sv})sa{ss}us", subject, "org.nixos.containers.manage",
                            {"container": "s-demo", "verb": "start"}, 0, "", dest=dest, path=path, iface=iface)[0]
    finally:
        t.sb("kill", str(pid), check=False)
    if (result[0], result[1]) != want:
        raise Failed(f"(is_authorized, is_challenge) = ({result[0]}, {result[1]}), expected {want}")


class Payloads:
    def __init__(self, t):
        self.t = t

    def run_container(self, name, system, timeout_start):
        """The payload under the sandbox's systemd, as a transient unit like the ones
        the service creates, but started here by hand."""
        t = self.t
        os.makedirs(f"{t.dir}/state/{name}/usr", exist_ok=True)  # Debian's nspawn wants a /usr
        t.sb("systemd-run", "--quiet", f"--unit=selftest-{name}", "-p", "Type=notify", "-p", "NotifyAccess=all",
             "-p", "Delegate=yes", "-p", "KillMode=mixed", "-p", "Slice=machine.slice",
             "-p", f"TimeoutStartSec={timeout_start}", "-p", "TimeoutStopSec=10s",
             "/usr/bin/systemd-nspawn", "-q", "--keep-unit", "--register=yes", "--notify-ready=yes",
             "--kill-signal=SIGRTMIN+3", "-D", f"{t.dir}/state/{name}", "-M", name,
             f"--bind-ro={t.dir}/store:/nix/store", f"{system}/init", "selftest-arg")

    def start_fails(self, name, system, timeout_start):
        try:
            self.run_container(name, system, timeout_start)
        except Failed:
            return
        raise Failed(f"selftest-{name} started")

    def unit_property(self, name, prop):
        return self.t.sb("systemctl", "show", "-P", prop, f"selftest-{name}.service").stdout.strip()

    def result_is(self, name, want):
        got = self.unit_property(name, "Result")
        if got != want:
            raise Failed(f"Result of selftest-{name} is {got!r}, expected {want!r}")

    def log_has(self, name, text, log="payload.log"):
        path = f"{self.t.dir}/state/{name}/var/log/{log}"
        with open(path, encoding="utf-8", errors="replace") as f:
            content = f.read()
        if text not in content:
            raise Failed(f"{text!r} not in {path}:\n{content}")

    def leader(self, name):
        dest, path, iface = MACHINED
        machine = self.t.bus.call("GetMachine", "s", name, dest=dest, path=path, iface=iface)[0]
        leader = self.t.bus.get(None, "Leader", iface="org.freedesktop.machine1.Machine", path=machine, dest=dest)
        if leader <= 0:
            raise Failed(f"machined's Leader of {name} is {leader}")
        return leader


class AptLock:
    """scripts/sandbox/lib/apt.sh's wait for apt's locks, on a lock file of the test's
    own (the host's apt is left alone): this process holds it, as unattended-upgrades
    would hold apt's."""

    def __init__(self, work):
        self.path = os.path.join(work, "apt-lock")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def waiter(self, wait_s):
        apt_sh = os.path.join(os.path.dirname(SANDBOX), "lib", "apt.sh")
        script = f'set -euo pipefail; source "$1"; APT_LOCKS=("$2"); APT_LOCK_WAIT_S={wait_s}; apt_wait_for_locks'
        return subprocess.Popen(["bash", "-c", script, "bash", apt_sh, self.path], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def release(self):
        fcntl.lockf(self.fd, fcntl.LOCK_UN)


def waits_while_held(lock):
    waiter = lock.waiter(60)
    try:
        time.sleep(3)
        if waiter.poll() is not None:
            raise Failed(f"apt_wait_for_locks returned ({waiter.returncode}) while the lock was held:\n"
                         f"{waiter.stdout.read()}")
        lock.release()
        out, _ = waiter.communicate(timeout=10)
    finally:
        waiter.kill()
    if waiter.returncode != 0:
        raise Failed(f"apt_wait_for_locks: exit {waiter.returncode} once the lock was free:\n{out}")
    said = f"waiting for apt's lock, held by process {os.getpid()} ("
    if said not in out or "the lock is free" not in out:
        raise Failed(f"expected {said!r}, then 'the lock is free', in:\n{out}")


def gives_up_after_the_wait(lock):
    waiter = lock.waiter(2)
    try:
        out, _ = waiter.communicate(timeout=15)
    finally:
        waiter.kill()
    if waiter.returncode == 0 or "still held by process" not in out:
        raise Failed(f"apt_wait_for_locks with the lock held past its 2 s: exit {waiter.returncode}:\n{out}")


COCKPIT_PORT = 9190
MANIFEST = f"http://127.0.0.1:{COCKPIT_PORT}/cockpit/@localhost/nixos-containers/manifest.json"


def descendants(pid):
    """pid's descendants, by /proc's children lists."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:  # gone meanwhile
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


class Cockpit:
    """`sandbox.sh cockpit DIR --port 9190 [--user NAME]`, in the foreground as a user runs it."""

    def __init__(self, t, *flags):
        self.t = t
        self.log = tempfile.NamedTemporaryFile(mode="w+", dir=t.work, prefix="cockpit.", suffix=".log")
        self.proc = subprocess.Popen([SANDBOX, "cockpit", t.dir, "--port", str(COCKPIT_PORT), *flags],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def bridge(self):
        """The pid and uid of the bridge serving the page (there is one)."""
        for pid in descendants(self.proc.pid):
            try:
                with open(f"/proc/{pid}/comm", encoding="ascii") as f:
                    if f.read().strip() != "cockpit-bridge":
                        continue
                with open(f"/proc/{pid}/status", encoding="ascii") as f:
                    uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
                return pid, uid
            except OSError:
                continue
        raise Failed(f"no cockpit-bridge under sandbox.sh cockpit ({self.proc.pid}):\n{self.output()}")

    def serves_manifest(self):
        if self.proc.poll() is not None:
            raise Failed(f"sandbox.sh cockpit exited ({self.proc.returncode}):\n{self.output()}")
        try:
            with urllib.request.urlopen(MANIFEST, timeout=5) as reply:
                manifest = json.load(reply)
        except (OSError, ValueError) as why:  # not listening (yet), an error page, a login page
            raise Failed(f"{MANIFEST}: {why}") from None
        if manifest.get("tools", {}).get("index", {}).get("label") != "NixOS containers":
            raise Failed(f"not the page's manifest: {manifest}")

    def bridge_is(self, uid):
        got = self.bridge()[1]
        if got != uid:
            raise Failed(f"the bridge runs as uid {got}, expected {uid}")

    def stop(self):
        """Ctrl-C, as in a terminal: to the foreground process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def page_came_and_went():
    """What a page does to the session: its WebSocket (/cockpit/socket) opens, the
    bridge's init comes, and the page goes (a closed tab). cockpit-ws ends the
    session some seconds after its last socket closed."""
    with socket.create_connection(("127.0.0.1", COCKPIT_PORT), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /cockpit/socket HTTP/1.1\r\nHost: 127.0.0.1:{COCKPIT_PORT}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: cockpit1\r\n"
                      f"Origin: http://127.0.0.1:{COCKPIT_PORT}\r\n\r\n").encode())
        got = b""
        while b"\r\n\r\n" not in got or b'"init"' not in got:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    if not got.startswith(b"HTTP/1.1 101") or b'"init"' not in got:
        raise Failed(f"no WebSocket with an init message from cockpit-ws: {got[:300]!r}")


def says(cockpit, text):
    if text not in cockpit.output():
        raise Failed(f"{text!r} not in its output:\n{cockpit.output()}")


def cockpit_user_and_restart(t):
    """--user nc-tenant: the page through that user's bridge; and once the session ends
    (no page connected for cockpit-ws's 15 s), a new one serves the page again."""
    cockpit = Cockpit(t, "--user", "nc-tenant")
    try:
        t.check("cockpit --user nc-tenant: the page's manifest is served",
                t.poll, 15000, lambda: cockpit.serves_manifest() or True)
        t.check("cockpit --user nc-tenant: the bridge runs as nc-tenant", cockpit.bridge_is, U_TENANT)
        first = cockpit.bridge()[0]
        t.check("cockpit: a page connects (WebSocket, init) and goes", page_came_and_went)
        t0 = now_ms()

        def new_session():
            pid = cockpit.bridge()[0]
            if pid == first:
                raise Failed("still the first session's bridge")
            cockpit.serves_manifest()

        t.check("cockpit: after the session ended, a new one serves the page", t.poll, 60000, new_session,
                timeout=70)
        t.note(f"the first session ended and a new one served the page after {now_ms() - t0} ms")
        t.check("cockpit: the new session's bridge runs as nc-tenant too", cockpit.bridge_is, U_TENANT)
        t.check("cockpit: it says what happened", says, cockpit, "the session ended")
        users_files = [f for f in os.listdir("/tmp") if f.startswith("nixos-containers-cockpit.")]
        tree = [cockpit.proc.pid, *descendants(cockpit.proc.pid)]
    finally:
        cockpit.stop()

    def all_gone():
        alive = [pid for pid in tree if os.path.exists(f"/proc/{pid}")]
        if alive:
            raise Failed(f"still running after Ctrl-C: {alive}")

    t.check("cockpit: Ctrl-C ends cockpit-ws and its bridge", t.poll, 5000, all_gone)
    t.check("cockpit --user: there was a copy of the page for the user", lambda: len(users_files) > 0)

    def copies_gone():
        left = [f for f in users_files if os.path.exists(f"/tmp/{f}")]
        if left:
            raise Failed(f"left behind: {left}")

    t.check("cockpit: Ctrl-C removes the user's copy of the page", copies_gone)


def cockpit_as_root(t):
    cockpit = Cockpit(t)
    try:
        t.check("cockpit (no --user): the page's manifest is served",
                t.poll, 15000, lambda: cockpit.serves_manifest() or True)
        t.check("cockpit (no --user): the bridge runs as root", cockpit.bridge_is, 0)
    finally:
        cockpit.stop()


def cockpit_unknown_user(t):
    proc = subprocess.run([SANDBOX, "cockpit", t.dir, "--port", str(COCKPIT_PORT), "--user", "nc-nobody"],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode == 0 or "no user 'nc-nobody' in the sandbox" not in proc.stderr:
        raise Failed(f"exit {proc.returncode}: {proc.stderr}")


def body(t):
    with t.scenario("0  up" + (" with the service" if WITH_SERVICE else " --no-service")):
        t.up(*UP_FLAGS, desc=f"up {' '.join(UP_FLAGS)}".strip())

    with t.scenario("1  the bus, machined and polkitd"):
        dest, path, iface = DBUS
        t.check("system bus answers inside", t.bus.call, "GetId", dest=dest, path=path, iface=iface)

        def host_reaches_bus():
            env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={t.dir}/run-dbus/system_bus_socket")
            subprocess.run(["busctl", "--system", "call", *DBUS, "GetId"], env=env, check=True, capture_output=True,
                           timeout=10)

        t.check("host reaches the bus at DIR/run-dbus/system_bus_socket", host_reaches_bus)
        t.check("systemd1 is on the sandbox bus", on_bus, t, "org.freedesktop.systemd1")
        t.check("the project's bus policy is included",
                lambda: os.path.getsize(f"{t.dir}/bus/system.d/org.nixos.Containers.conf") > 0)
        if WITH_SERVICE:
            t.check("org.nixos.Containers is on the bus", on_bus, t, "org.nixos.Containers")
            t.check("nixos-containers.service is active", probes.unit_state, t, "nixos-containers.service", "active")
        t.check("machined is on the bus", on_bus, t, "org.freedesktop.machine1")
        t.check("machinectl list works", t.sb, "machinectl", "list", "--no-pager")
        t.check("polkitd is on the bus", on_bus, t, "org.freedesktop.PolicyKit1")
        for action in ("create", "manage", "update", "destroy", "logs"):
            t.check(f"pkaction knows org.nixos.containers.{action}",
                    t.sb, "pkaction", "--action-id", f"org.nixos.containers.{action}")
        t.check("test users exist inside", lambda: len(t.sb("getent", "passwd", "nc-allowed", "nc-denied",
                                                              "nc-challenged").stdout.splitlines()) == 3)

        def not_on_host():
            # Positive: getent works here (it finds root), and finds no nc-allowed.
            subprocess.run(["getent", "passwd", "root"], check=True, capture_output=True)
            got = subprocess.run(["getent", "passwd", "nc-allowed"], capture_output=True).returncode
            if got != 2:
                raise Failed(f"getent passwd nc-allowed on the host: exit {got}, expected 2 (not found)")

        t.check("test users do not exist on the host", not_on_host)
        for action in ("org.nixos.containers.create", "org.nixos.containers.destroy"):
            t.check(f"pkcheck: nc-allowed is authorized for {action}", pkcheck_as, t, U_ALLOWED, action, 0)
            t.check(f"pkcheck: nc-denied is not authorized for {action}", pkcheck_as, t, U_DENIED, action, 1)
            t.check(f"pkcheck: nc-challenged gets a challenge for {action}", pkcheck_as, t, U_CHALLENGED, action, 2)
        t.check("pkcheck: nc-allowed gets nothing outside org.nixos.containers.*",
                pkcheck_as, t, U_ALLOWED, "org.freedesktop.machine1.shell", 2)
        t.check("CheckAuthorization: nc-allowed -> authorized", check_authorization, t, U_ALLOWED, (True, False))
        t.check("CheckAuthorization: nc-denied -> not authorized, no challenge",
                check_authorization, t, U_DENIED, (False, False))
        t.check("CheckAuthorization: nc-challenged -> challenge", check_authorization, t, U_CHALLENGED, (False, True))

    p = Payloads(t)
    with t.scenario("2  the payloads under the sandbox's systemd"):
        ok, bad, slow = t.make_system("sysok"), t.make_system("sysbad", "bad-init"), t.make_system("sysslow", "slow")
        t0 = now_ms()
        t.check("payload ok: start reaches READY (systemd-run returns)", p.run_container, "ok", ok, "20s")
        t.note(f"start to READY: {now_ms() - t0} ms")
        t.check("payload ok: unit is active", probes.unit_state, t, "selftest-ok.service", "active")
        t.check("payload ok: machine 'ok' in machined's list", lambda: "ok" in probes.machine_names(t))
        t.check("payload ok: machined knows its leader", p.leader, "ok")
        t.check("payload ok: payload.log recorded argv", p.log_has, "ok", "selftest-arg")
        t.check("payload ok: payload.log recorded the environment (NOTIFY_SOCKET)", p.log_has, "ok",
                "\n  NOTIFY_SOCKET=")
        t.check("payload ok: payload.log says ready", p.log_has, "ok", "\npayload: ready")
        # Into the container's namespaces through machined's leader, as
        # nixos-container does for Reload (the payload has no bus of its own).
        t.check("payload ok: switch-to-configuration runs inside",
                lambda: t.sb("nsenter", "-t", str(p.leader("ok")), "-a", f"{ok}/bin/switch-to-configuration", "test"))
        t.check("payload ok: switch.log recorded the call", p.log_has, "ok", "switch-to-configuration test\n",
                log="switch.log")
        t0 = now_ms()
        t.check("payload ok: stop", t.sb, "systemctl", "stop", "selftest-ok.service")
        t.note(f"stop: {now_ms() - t0} ms")
        t.check("payload ok: stopped by its trap of signal 37", p.log_has, "ok", "got signal 37, exiting 0")
        # A unit that failed stays loaded as failed; a clean stop unloads it.
        t.check("payload ok: unit did not fail",
                lambda: p.unit_property("ok", "ActiveState") not in ("failed", ""))
        t.check("payload ok: machine gone", t.poll, 5000, probes.machine_absent, t, "ok")

        t.check("payload bad-init: start fails", p.start_fails, "bad", bad, "20s")
        t.check("payload bad-init: unit result names the failure", p.result_is, "bad", "exit-code")
        t.check("payload bad-init: machine gone", t.poll, 5000, probes.machine_absent, t, "bad")
        t.sb("systemctl", "reset-failed", "selftest-bad.service", check=False)

        t0 = now_ms()
        t.check("payload slow: start times out (TimeoutStartSec=2s)", p.start_fails, "slow", slow, "2s")
        t.note(f"timed out after {now_ms() - t0} ms")
        t.check("payload slow: unit result is timeout", p.result_is, "slow", "timeout")
        t.check("payload slow: machine gone", t.poll, 5000, probes.machine_absent, t, "slow")
        t.check("payload slow: it was started and stopped by its trap", p.log_has, "slow", "got signal 37")
        t.sb("systemctl", "reset-failed", "selftest-slow.service", check=False)

    # A killed sandbox (its PID 1 SIGKILLed behind our back, with a container
    # running) must tear down and come up again cleanly.
    with t.scenario("3  crash and bring-up again"):
        t.check("payload ok: starts again", p.run_container, "ok", ok, "20s")
        with open(f"{t.dir}/pid", encoding="utf-8") as f:
            os.kill(int(f.read().split()[0]), signal.SIGKILL)
        t.bus.close(kill=True)  # its agent went with the sandbox
        t.check("down after a crash", t.sandbox, "down", t.dir, timeout=120)
        t.check("host unchanged after the crash", t.sandbox, "check-host", t.dir, timeout=120)
        t.up(*UP_FLAGS, desc="up again after the crash", fatal=False)
        dest, path, iface = DBUS
        t.check("bus answers after the second bring-up", t.bus.call, "GetId", dest=dest, path=path, iface=iface)

    with t.scenario("4  apt waits for apt's lock (scripts/sandbox/lib/apt.sh)"):
        t.check("apt_wait_for_locks waits, saying who holds the lock, until it is free",
                waits_while_held, AptLock(t.work), timeout=30)
        t.check("apt_wait_for_locks gives up after APT_LOCK_WAIT_S, saying so",
                gives_up_after_the_wait, AptLock(t.work), timeout=30)

    if WITH_SERVICE:
        with t.scenario("5  sandbox.sh cockpit: --user, and a new session when one ends"):
            cockpit_user_and_restart(t)
            cockpit_as_root(t)
            t.check("cockpit --user with a user the sandbox does not have: a clear error",
                    cockpit_unknown_user, t)

    with t.scenario("6  down twice"):
        t.bus.close()
        t.check("down", t.sandbox, "down", t.dir, timeout=120)
        t.check("down again (nothing up) is fine", t.sandbox, "down", t.dir, timeout=120)


if __name__ == "__main__":
    Tier("sandbox-selftest").run(body)
