#!/usr/bin/env python3
"""exec_e2e_test.py: into the container (issue 11): Run through the D-Bus
API against real systemd, machined, polkitd and nspawn, on both sandbox
payloads: the busybox one (no systemd inside) and one that boots real
systemd (Debian's, from the host's /usr bound read-only).

Scenarios:
  1  Run on the busybox payload: exit status, signal, stdin, 100 MB of
     stdout intact (sha256), User, Environment, WorkingDirectory,
     NotRunning / NoSuchContainer / InvalidArgument
  2  the caller killed: the command is killed, nothing left in the
     container's cgroup; Run does not make Stop busy
  3  authorization: allowed, denied, challenged users on Run
  4  the systemd payload boots; Run works there too (exit 3, stdin, user)
  4b MachinePath, Timestamp and OSRelease from machined; GetHostKey read
     beneath the root (a link out of it is not followed)
  4c OpenShell and OpenLogin on the systemd payload: id's output comes back
     on the PTY (root, alice, the container object), root's login shell
     takes input, a getty prints its login prompt; NoSystemBus on the
     busybox payload; NotRunning, NoSuchContainer, InvalidArgument; the
     allowed, denied and challenged users on both actions
  5  benchmark (printed, not checked): Run of true against
     systemd-run -M --wait --pipe and nsenter; 100 MB through Run vs cat
  6  a Reload whose switch-to-configuration never ends (issue 25, item 5):
     Stop and Terminate answer at once and the Reload answers that it was
     cancelled; with NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC=2 the Reload
     answers ReloadFailed after 2 s; nothing of the switch is left
  7  long work (issue 25, item 6): while two Destroys remove trees of
     50,000 files each (E2E_TREE_FILES), GetHostKey of another container
     answers at once

Run, OpenShell and OpenLogin pass file descriptors: they go through the C
clients payload/nc-run.c and payload/nc-pty.c (built here), whose replies
("ii STATUS SIGNAL", "ERROR NAME: MESSAGE") are parsed and compared exactly;
every other call and every value read from the service or machined goes
through sandboxlib's Bus, typed.

Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
the exit status is non-zero when M > 0. Harness: sandboxlib/harness.py.
"""
import hashlib
import multiprocessing
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import (DBUS_ERR, ERR, SANDBOX, U_ALLOWED, U_CHALLENGED, U_DENIED,  # noqa: E402
                        BusError, Failed, Tier, now_ms, probes, spec)
from sandboxlib.harness import STEP_TIMEOUT  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PAYLOAD = os.path.join(HERE, "payload")
MACHINED = dict(dest="org.freedesktop.machine1", path="/org/freedesktop/machine1",
                iface="org.freedesktop.machine1.Manager")
MACHINE_IF = "org.freedesktop.machine1.Machine"
C, S = "bb", "sd"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForTheSandboxTest root@bb"
BENCH_N = int(os.environ.get("EXEC_BENCH_N", "30"))
FILES = int(os.environ.get("E2E_TREE_FILES", "50000"))


# ------------------------------------------------------------- plumbing ---
def prefix(t, uid=0):
    """argv's prefix that runs a command inside the sandbox (as uid): t.sb's, for Popen and descriptors."""
    argv = [SANDBOX, "exec", t.dir]
    if uid:
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return argv


def sbx(t, argv, uid=0, stdin=b"", fds=(), timeout=None):
    """argv inside the sandbox, bytes in and out, with the descriptors fds kept open (same numbers)."""
    return subprocess.run([*prefix(t, uid), *argv], input=stdin, capture_output=True, pass_fds=fds,
                          timeout=timeout or STEP_TIMEOUT, check=False)


def text(data, limit=2000):
    return data.decode(errors="replace").replace("\r", "")[:limit]


def root_of(t, name):
    return os.path.join(t.dir, "state", name)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def error_name(data):
    """NAME of the line "ERROR NAME: MESSAGE" nc-run and nc-pty print for a failed call, or None."""
    for line in text(data, 100000).splitlines():
        if line.startswith("ERROR "):
            return line[len("ERROR "):].split(":", 1)[0]
    return None


class Async:
    """One call on a connection of its own (connected now), in a thread from start(); wait() reads its outcome."""

    def __init__(self, t, method, sig, *args, timeout=30):
        self.bus = t.new_bus()
        self.bus.unique_name()  # connected before the call is due
        self.outcome = self.answered = None
        self.thread = threading.Thread(target=self._run, args=(method, sig, args, timeout), daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self, method, sig, args, timeout):
        try:
            self.outcome = ("ok", self.bus.call(method, sig, *args, timeout=timeout))
        except BusError as error:
            self.outcome = ("error", error)
        self.answered = now_ms()

    def wait(self, seconds):
        self.thread.join(seconds)
        if self.thread.is_alive():
            raise Failed(f"no answer within {seconds} s")
        return self.outcome


# --------------------------------------------------------------- the tier ---
class Exec:
    """The tier's helpers: the Run and terminal clients, the payload systems."""

    def __init__(self, t):
        self.t = t
        self.nc_run = os.path.join(t.work, "nc-run")
        self.nc_pty = os.path.join(t.work, "nc-pty")
        self.ok = self.sysd = self.hang = None
        self.b = None  # the busybox payload's bin

    # ----------------------------------------------------------- Run ---
    def run_cmd(self, name, *words, opts=(), uid=0, stdin=b"", out=os.devnull, timeout=None):
        """Run through nc-run, the command's stdout into the file out; nc-run's CompletedProcess."""
        with open(out, "wb") as sink:
            fd = sink.fileno()
            return sbx(self.t, [self.nc_run, "--stdout-fd", str(fd), *opts, name, *words], uid=uid, stdin=stdin,
                       fds=(fd,), timeout=timeout)

    @staticmethod
    def reply(proc):
        """Run's reply (STATUS, SIGNAL), from nc-run's "ii STATUS SIGNAL"."""
        words = text(proc.stdout).split()
        if proc.returncode != 0 or len(words) != 3 or words[0] != "ii":
            raise Failed(f"Run failed (nc-run exit {proc.returncode}): {text(proc.stdout)}{text(proc.stderr)}")
        return int(words[1]), int(words[2])

    def expect_run(self, name, want, *words, opts=()):
        out = os.path.join(self.t.work, "run.out")
        got = self.reply(self.run_cmd(name, *words, opts=opts, out=out))
        if got != want:
            raise Failed(f"Run replied {got}, expected {want}; stdout: {text(read(out), 500)}")

    def expect_stdout(self, name, want, *words, opts=(), stdin=b""):
        """Run answers (0, 0) and the command's stdout, without its last newlines, is want."""
        out = os.path.join(self.t.work, "run.out")
        got = self.reply(self.run_cmd(name, *words, opts=opts, stdin=stdin, out=out))
        stdout = read(out).decode(errors="replace").rstrip("\n")
        if got != (0, 0):
            raise Failed(f"Run replied {got}, expected (0, 0); stdout: {stdout[:500]}")
        if stdout != want:
            raise Failed(f"stdout {stdout[:300]!r}, expected {want!r}")

    def expect_run_error(self, want, uid, name, *words, opts=()):
        """Run as uid, without interactive authorization, fails with the D-Bus error want."""
        proc = self.run_cmd(name, *words, opts=("--no-interactive", *opts), uid=uid)
        got = error_name(proc.stderr)
        if proc.returncode != 1 or got != want:
            raise Failed(f"expected {want} (nc-run exit 1), got exit {proc.returncode}, error {got}: "
                         f"{text(proc.stdout)}{text(proc.stderr)}")

    # ------------------------------------------------------- cgroups ---
    def payload_cg(self, name):
        """The container's payload cgroup directory, as seen in the sandbox."""
        leader = self.t.bus.get(name, "Leader")
        if not isinstance(leader, int) or leader <= 0:
            raise Failed(f"no Leader for {name}: {leader!r}")
        cgroup = self.t.sb("sed", "-n", "s/^0:://p", f"/proc/{leader}/cgroup").stdout.strip()
        if "/payload" not in cgroup:
            raise Failed(f"leader cgroup {cgroup!r} has no payload")
        return f"/sys/fs/cgroup{cgroup.split('/payload')[0]}/payload"

    def procs_matching(self, cgroup, needle):
        """"PID CMDLINE" of each process in the cgroup tree whose command line contains needle."""
        script = '''find "$1" -name cgroup.procs | while read -r f; do
            while read -r p; do
                c=$(tr "\\0" " " <"/proc/$p/cmdline" 2>/dev/null) || continue
                case $c in *"$2"*) echo "$p $c" ;; esac
            done <"$f"
        done'''
        return self.t.sb("sh", "-c", script, "sh", cgroup, needle).stdout.splitlines()

    def run_cgroups(self, cgroup):
        return self.t.sb("find", cgroup, "-mindepth", "1", "-type", "d", "-name",
                         "nixos-containers-run-*").stdout.split()

    # ------------------------------------------------------- terminal ---
    def pty_has(self, uid, want, *args):
        """nc-pty as uid sees want on the terminal."""
        proc = sbx(self.t, [self.nc_pty, "--timeout", "15000", "--expect", want, *args], uid=uid)
        seen = text(proc.stdout)
        if proc.returncode == 0 and want in seen:
            return True
        units = self.run_cmd(S, "/bin/sh", "-c", 'journalctl --no-pager -n 30 -u "container-shell@*" '
                             '-u "container-getty@*" 2>&1', out=os.path.join(self.t.work, "pty.journal"))
        raise Failed(f"nc-pty exit {proc.returncode}, {want!r} not seen; terminal:\n{seen}\n{text(proc.stderr)}\n"
                     f"the container's shell and getty units ({units.returncode}):\n"
                     f"{text(read(os.path.join(self.t.work, 'pty.journal')), 3000)}")

    def pty_error(self, want, uid, *args):
        """nc-pty as uid, without interactive authorization: the call fails with the D-Bus error want."""
        proc = sbx(self.t, [self.nc_pty, "--no-interactive", "--timeout", "2000", *args], uid=uid)
        got = error_name(proc.stderr)
        if proc.returncode != 1 or got != want:
            raise Failed(f"expected {want} (exit 1), nc-pty exited {proc.returncode} with error {got}: "
                         f"{text(proc.stdout)}{text(proc.stderr)}")

    def getty_units(self, count):
        """count container-getty@ units run in the systemd payload."""
        out = os.path.join(self.t.work, "units.out")
        proc = self.run_cmd(S, "/bin/sh", "-c", 'systemctl list-units --no-legend --plain --state=running '
                            '"container-getty@*" | wc -l', out=out)
        self.reply(proc)
        running = int(read(out).decode().strip())
        if running != count:
            raise Failed(f"container-getty units running in {S}: {running}, expected {count}")


# ------------------------------------------------------------- scenarios ---
def scenario_0(t, x):
    t.up()
    x.ok = t.make_system("sysok")
    x.b = f"{x.ok}/bin"
    t.pass_(f"payload: {x.ok}")
    t.check("service is on the bus", lambda: t.bus.call(
        "GetNameOwner", "s", "org.nixos.Containers", dest="org.freedesktop.DBus", path="/org/freedesktop/DBus",
        iface="org.freedesktop.DBus")[0].startswith(":"))
    os.chmod(t.work, 0o711)  # the clients, runnable by the test users too
    for tool, path in (("nc-run", x.nc_run), ("nc-pty", x.nc_pty)):
        t.check(f"{tool} builds", build, tool, path)


def build(tool, path):
    gcc = subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", path, f"{PAYLOAD}/{tool}.c", "-lsystemd"],
                         capture_output=True, text=True, check=False)
    if gcc.returncode != 0:
        raise Failed(f"gcc exit {gcc.returncode}\n{gcc.stdout}{gcc.stderr}")
    os.chmod(path, 0o755)


def create(t, name, system, **more):
    t.bus.call("Create", "sa{sv}", name, spec(SystemPath=("s", system), **more))


def scenario_1(t, x):
    b = x.b
    t.check(f"Create and Start {C}", lambda: (create(t, C, x.ok), t.bus.call("Start", "s", C)))
    t.check("Run sh -c 'exit 3' answers exit status 3", x.expect_run, C, (3, 0), f"{b}/sh", "-c", "exit 3")
    t.check("Run kill -TERM $$ answers signal 15", x.expect_run, C, (0, 15), f"{b}/sh", "-c", "kill -TERM $$")
    t.check(f"Run true by name, through PATH (Environment PATH={b})", x.expect_run, C, (0, 0), "true",
            opts=("--env", f"PATH={b}"))
    t.check("a missing program exits 127", x.expect_run, C, (127, 0), "/nonexistent/prog")
    t.check("stdin passes through", x.expect_stdout, C, "got:hello-stdin", f"{b}/sh", "-c",
            'read x; echo "got:$x"', stdin=b"hello-stdin\n")
    t.check("stderr passes through", stderr_through, x, b)
    t.check("it runs in the container's root (sees /etc/machine-id, not the host's files)", x.expect_stdout, C,
            "in-root", f"{b}/sh", "-c", f"test -e /etc/machine-id && ! test -e {REPO}/README.md && echo in-root")
    t.check("it runs in the container's PID namespace (PID 1 is the container's init)", x.expect_stdout, C,
            "notify-init", f"{b}/sh", "-c", "tr '\\0' '\\n' </proc/1/cmdline | head -n1 | sed 's,.*/,,'")
    t.check("it has the container's hostname", x.expect_stdout, C, C, f"{b}/hostname")
    t.check("it runs under no_new_privs and the container's capability bound", caps_confined, t, x)
    write(f"{root_of(t, C)}/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1234:alice:/home/alice:/bin/sh\n")
    write(f"{root_of(t, C)}/etc/group", "root:x:0:\nalice:x:1234:\nwheel:x:10:alice\n")
    t.check("User=alice runs as uid 1234, gid 1234, groups 1234 10", x.expect_stdout, C, "1234 1234 1234 10",
            f"{b}/sh", "-c", "echo $(id -u) $(id -g) $(id -G)", opts=("--user", "alice"))
    t.check("User=alice gets HOME, USER and an Environment entry", x.expect_stdout, C, "/home/alice alice bar",
            f"{b}/sh", "-c", "echo $HOME $USER $FOO", opts=("--user", "alice", "--env", "FOO=bar"))
    t.check("WorkingDirectory=/etc", x.expect_stdout, C, "/etc", f"{b}/pwd", opts=("--cwd", "/etc"))
    for desc, opts in (("User=nosuchuser", ("--user", "nosuchuser")), ("relative WorkingDirectory", ("--cwd", "etc")),
                       ("unknown option", ("--raw-option", "Bogus"))):
        t.check(f"{desc} -> InvalidArgument", x.expect_run_error, ERR + "InvalidArgument", 0, C, f"{b}/true",
                opts=opts)
    t.check("NoSuchContainer", x.expect_run_error, ERR + "NoSuchContainer", 0, "nosuch", f"{b}/true")
    scenario_1_big(t, x)
    t.check("no run cgroup is left behind", no_run_cgroup, x, C)
    t.check(f"Stop {C}", t.bus.call, "Stop", "s", C)
    t.check(f"Run on the stopped {C} -> NotRunning", x.expect_run_error, ERR + "NotRunning", 0, C, f"{b}/true")
    t.check(f"Start {C} again", t.bus.call, "Start", "s", C)


def stderr_through(x, b):
    err = x.run_cmd(C, f"{b}/sh", "-c", "echo to-stderr >&2")
    if x.reply(err) != (0, 0):
        raise Failed(f"Run replied {x.reply(err)}, expected (0, 0)")
    if "to-stderr" not in text(err.stderr).splitlines():
        raise Failed(f"stderr: {text(err.stderr)!r}")


def caps_confined(t, x):
    leader = t.bus.get(C, "Leader")
    bound = [line.split("\t")[1] for line in t.sb("grep", "CapBnd", f"/proc/{leader}/status").stdout.splitlines()]
    out = os.path.join(t.work, "caps.out")
    x.reply(x.run_cmd(C, f"{x.b}/grep", "-E", "CapBnd|NoNewPrivs", "/proc/self/status", out=out))
    lines = read(out).decode().splitlines()
    t.note(f"leader CapBnd {bound}; the command's: {lines}")
    if len(bound) != 1 or f"CapBnd:\t{bound[0]}" not in lines or "NoNewPrivs:\t1" not in lines:
        raise Failed(f"the leader's CapBnd {bound}; the command's status lines {lines}")


def scenario_1_big(t, x):
    big = f"{root_of(t, C)}/big"
    with open(big, "wb") as f:
        f.write(os.urandom(100_000_000))
    want = sha256_of(big)

    def big_intact():
        out = os.path.join(t.work, "big.out")
        got = x.reply(x.run_cmd(C, f"{x.b}/cat", "/big", out=out))
        if got != (0, 0):
            raise Failed(f"Run replied {got}")
        digest, size = sha256_of(out), os.path.getsize(out)
        os.unlink(out)
        if digest != want:
            raise Failed(f"sha256 {digest}, expected {want} ({size} bytes)")

    t.check("100 MB over stdout arrive intact (sha256)", big_intact)
    t.check("100 MB over stdout through a pipe arrive intact (sha256)", big_through_pipe, t, x, want)


def big_through_pipe(t, x, want):
    """The command's stdout is a pipe read here; every byte is hashed until the last writer closes it."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([*prefix(t), x.nc_run, "--stdout-fd", str(write_end), C, f"{x.b}/cat", "/big"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            pass_fds=(write_end,))
    os.close(write_end)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(read_end, "rb") as pipe:
            for block in iter(lambda: pipe.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        out, err = proc.communicate(timeout=STEP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = x.reply(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    if got != (0, 0) or digest.hexdigest() != want:
        raise Failed(f"Run replied {got}; through a pipe: sha256 {digest.hexdigest()} ({size} bytes), expected {want}")


def no_run_cgroup(x, name):
    left = x.run_cgroups(x.payload_cg(name))
    if left:
        raise Failed(f"left: {left}")


# ------------------------------------------------------------ scenario 2 ---
def wait_started(path, proc, ms=10000):
    deadline = now_ms() + ms
    while now_ms() < deadline:
        if os.path.exists(path) and b"started" in read(path):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise Failed(f"the command did not start (its client: exit {proc.poll()})")


def killed_caller(t, x, name, b):
    """The caller of a Run killed: its command goes, and nothing is left in the container's cgroup."""
    cgroup = x.payload_cg(name)
    out, pidfile = os.path.join(t.work, "kill.out"), os.path.join(t.work, "kill.pid")
    for path in (out, pidfile):
        if os.path.exists(path):
            os.unlink(path)
    with open(out, "wb") as sink:
        fd = sink.fileno()
        # The Run's client writes its own PID (in the sandbox) to pidfile, then becomes nc-run.
        proc = subprocess.Popen([*prefix(t), "sh", "-c", 'echo $$ >"$0"; exec "$@"', pidfile, x.nc_run,
                                 "--stdout-fd", str(fd), name, f"{b}/sh", "-c", f"echo started; exec {b}/sleep 4242"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(fd,))
    try:
        wait_started(out, proc)
        running = x.procs_matching(cgroup, "sleep 4242")
        if not running:
            raise Failed(f"the probe does not see the running command in {cgroup}")
        t.note(f"running: {running}")
        if not x.run_cgroups(cgroup):
            raise Failed(f"the command has no cgroup of its own under {cgroup}")
        t.sb("kill", "-KILL", read(pidfile).decode().strip())
        proc.wait(timeout=STEP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t0 = now_ms()
    t.poll(5000, nothing_left, x, cgroup, "sleep 4242")
    t.note(f"gone after {now_ms() - t0} ms")


def nothing_left(x, cgroup, needle):
    procs, cgroups = x.procs_matching(cgroup, needle), x.run_cgroups(cgroup)
    if procs or cgroups:
        raise Failed(f"still there: {procs} {cgroups}")


def stop_while_running(t, x, name, b):
    out, reply = os.path.join(t.work, "stop.out"), os.path.join(t.work, "stop.reply")
    if os.path.exists(out):
        os.unlink(out)
    with open(out, "wb") as sink, open(reply, "wb") as answer:
        fd = sink.fileno()
        proc = subprocess.Popen([*prefix(t), x.nc_run, "--stdout-fd", str(fd), name, f"{b}/sh", "-c",
                                 f"echo started; exec {b}/sleep 4243"], stdin=subprocess.DEVNULL, stdout=answer,
                                stderr=subprocess.STDOUT, pass_fds=(fd,))
    try:
        wait_started(out, proc)
        try:
            t.bus.call("Stop", "s", name)
        except BusError as error:
            raise Failed(f"Stop failed while a command ran: {error}") from None
        proc.wait(timeout=STEP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t.note(f"Run's reply: {text(read(reply)).strip()}")


def scenario_2(t, x):
    t.check("killing the caller kills the command; no process or cgroup left in the container's cgroup",
            killed_caller, t, x, C, x.b)
    t.check("the container still runs", probes.state_is, t, C, "running")
    t.check("Stop while a Run is in flight is not Busy", stop_while_running, t, x, C, x.b)
    t.check(f"{C} stopped", probes.state_is, t, C, "stopped")
    t.check(f"Start {C} again", t.bus.call, "Start", "s", C)


# ------------------------------------------------------------ scenario 3 ---
def reply_is(x, proc, want):
    got = x.reply(proc)
    if got != want:
        raise Failed(f"Run replied {got}, expected {want}")


def scenario_3(t, x):
    b = x.b
    t.check("nc-allowed Run works", lambda: reply_is(x, x.run_cmd(C, f"{b}/sh", "-c", "exit 4", uid=U_ALLOWED), (4, 0)))
    t.check("nc-denied Run -> AccessDenied", x.expect_run_error, DBUS_ERR + "AccessDenied", U_DENIED, C, f"{b}/true")
    t.check("nc-challenged Run -> InteractiveAuthorizationRequired", x.expect_run_error,
            DBUS_ERR + "InteractiveAuthorizationRequired", U_CHALLENGED, C, f"{b}/true")
    t.check("nc-denied Run on a missing container -> NoSuchContainer first", x.expect_run_error,
            ERR + "NoSuchContainer", U_DENIED, "nosuch", f"{b}/true")
    t.check("Run on the container object", lambda: reply_is(
        x, x.run_cmd(C, f"{b}/sh", "-c", "exit 5", opts=("--object",)), (5, 0)))


# ------------------------------------------------------------ scenario 4 ---
def make_systemd_root(*argv):
    return subprocess.run([f"{PAYLOAD}/make-systemd-root.sh", *argv], capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()


def sd_start(t):
    t0 = now_ms()
    t.bus.call("Start", "s", S)
    t.note(f"Start (systemd payload) took {now_ms() - t0} ms")


def systemd_run_baseline(t):
    proc = t.sb("systemd-run", "-q", "-M", S, "--wait", "--pipe", "sh", "-c", "echo RUN-OK; exit 3",
                check=False, input="")
    t.note(f"{proc.stdout.strip()} rc={proc.returncode}")
    if proc.stdout.strip() != "RUN-OK" or proc.returncode != 3:
        raise Failed(f"stdout {proc.stdout!r}, exit {proc.returncode}; expected 'RUN-OK', exit 3\n{proc.stderr}")


def scenario_4(t, x):
    x.sysd = make_systemd_root("system", f"{t.dir}/store", "sysd")
    t.check(f"systemd payload made ({x.sysd})", t.sb, "test", "-d", x.sysd or "/nonexistent")
    t.check(f"Create {S} with /usr bound read-only", create, t, S, x.sysd,
            BindMounts=("a(ssb)", [["/usr", "/usr", True]]), TimeoutStartSec=("s", "60s"))
    t.check(f"complete {S}'s root (merged-usr links, os-release, passwd)", make_systemd_root, "root", root_of(t, S))
    t.check(f"Start {S} (systemd boots; READY)", sd_start, t)
    t.check(f"the init of {S} is systemd (sd_booted: /run/systemd/system)", x.expect_stdout, S, "systemd",
            "/bin/sh", "-c", "test -d /run/systemd/system && echo systemd")
    t.check(f"the systemd of {S} runs on cgroup v2, as the host (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY)",
            x.expect_stdout, S, "cgroup2fs", "/usr/bin/stat", "-fc", "%T", "/sys/fs/cgroup")
    t.check(f"Run sh -c 'exit 3' on {S} answers 3", x.expect_run, S, (3, 0), "/bin/sh", "-c", "exit 3")
    t.check(f"stdin passes through on {S}", x.expect_stdout, S, "got:hello-sd", "/bin/sh", "-c",
            'read x; echo "got:$x"', stdin=b"hello-sd\n")
    t.check(f"User=alice on {S} runs as 1234", x.expect_stdout, S, "1234", "id", "-u", opts=("--user", "alice"))
    t.check(f"killing the caller kills the command on {S} too", killed_caller, t, x, S, "/usr/bin")
    t.check(f"systemd-run -M {S} --wait --pipe reaches it (the baseline works)", systemd_run_baseline, t)


# ----------------------------------------------------------- scenario 4b ---
def machine_path_agrees(t):
    ours = t.bus.get(S, "MachinePath")
    theirs = t.bus.call("GetMachine", "s", S, **MACHINED)[0]
    t.note(f"MachinePath {ours!r}, machined's {theirs!r}")
    if not ours.startswith("/org/freedesktop/machine1/machine/") or ours != theirs:
        raise Failed(f"MachinePath {ours!r}, machined's object {theirs!r}")


def timestamp_agrees(t):
    ours, path = t.bus.get(S, "Timestamp"), t.bus.get(S, "MachinePath")
    theirs = t.bus.call("Get", "ss", MACHINE_IF, "Timestamp", dest=MACHINED["dest"], path=path,
                        iface="org.freedesktop.DBus.Properties")[0]
    t.note(f"Timestamp {ours}, machined's {theirs}")
    if not isinstance(ours, int) or ours < 10 or ours != theirs:
        raise Failed(f"Timestamp {ours!r}, machined's {theirs!r}")


def os_release_id(t, name, want):
    release = t.bus.get(name, "OSRelease")
    if release.get("ID") != want:
        raise Failed(f"OSRelease of {name}: {release}, expected ID {want!r}")


def fifo_os_release(t, x):
    """Issue 25: a FIFO as os-release, planted by the container's root, must neither hold Start nor make
    machined (which would read it, for the whole host) wait: the service reads it itself, not blocking."""
    create(t, "fifo", x.ok)
    fifo = f"{root_of(t, 'fifo')}/etc/os-release"
    os.makedirs(os.path.dirname(fifo), exist_ok=True)
    if os.path.lexists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    began = now_ms()
    t.bus.call("Start", "s", "fifo")
    ms = now_ms() - began
    t.note(f"Start answered in {ms} ms")
    if ms >= 5000:
        raise Failed(f"Start answered in {ms} ms, expected under 5000")
    time.sleep(0.5)  # the os-release read follows the start
    try:
        t.bus.call("GetMachine", "s", "fifo", timeout=4, **MACHINED)
        # (Not machinectl list: it asks machined for every machine's os-release itself, and machined
        # would wait on the FIFO for that client.)
        machines = [m[0] for m in t.bus.call("ListMachines", timeout=4, **MACHINED)[0]]
    except BusError as error:
        raise Failed(f"machined did not answer: {error}") from None
    if "fifo" not in machines:
        raise Failed(f"ListMachines: {machines}")
    release = t.bus.get("fifo", "OSRelease")
    t.note(f"OSRelease: {release}")
    if release != {}:
        raise Failed(f"OSRelease {release}, expected no entries")


def host_key_is(t, uid, name, key):
    got = t.as_user(uid).call("GetHostKey", "s", name)[0]
    if got != key:
        raise Failed(f"GetHostKey: {got!r}, expected {key!r}")


def scenario_4b(t, x):
    t.check(f"MachinePath of {S} is machined's object for it", machine_path_agrees, t)
    t.check(f"Timestamp of {S} is machined's", timestamp_agrees, t)
    t.check(f"OSRelease of {S} is its os-release (ID debian)", t.poll, 5000, os_release_id, t, S, "debian")
    t.check("a FIFO as os-release: Start answers at once, machined keeps answering, OSRelease empty",
            fifo_os_release, t, x)
    # Whatever happened, nothing may stay blocked on the FIFO.
    subprocess.run(["timeout", "2", "sh", "-c", f"echo ID=x >'{root_of(t, 'fifo')}/etc/os-release'"],
                   capture_output=True, check=False)
    t.check("the FIFO container stops and is destroyed", lambda: (t.bus.call("Stop", "s", "fifo"),
                                                                 t.bus.call("Destroy", "s", "fifo")))
    pub = f"{root_of(t, C)}/etc/ssh/ssh_host_ed25519_key.pub"
    write(pub, KEY)
    t.check(f"GetHostKey of {C} (any caller: nc-denied)", host_key_is, t, U_DENIED, C, KEY)
    os.unlink(pub)
    write(f"{t.work}/host-secret", "the host secret\n", 0o644)
    os.symlink(f"{t.work}/host-secret", pub)
    t.check("a host key that links out of the root is not followed (IOError)", t.bus.expect_error, "IOError", "",
            "GetHostKey", "s", C)
    t.check("GetHostKey of a container without one -> IOError", t.bus.expect_error, "IOError", "",
            "GetHostKey", "s", S)
    t.check("GetHostKey of nosuch -> NoSuchContainer", t.bus.expect_error, "NoSuchContainer", "",
            "GetHostKey", "s", "nosuch")


# ----------------------------------------------------------- scenario 4c ---
def getty_follows_master(t, x):
    """A getty runs while its caller holds the master, and ends when it lets go."""
    t.poll(10000, x.getty_units, 0)
    proc = subprocess.Popen([*prefix(t), x.nc_pty, "--timeout", "4000", "login", S], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t.poll(4000, x.getty_units, 1)
        _, err = proc.communicate(timeout=STEP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise Failed(f"nc-pty login exited {proc.returncode}: {text(err)}")
    t.poll(10000, x.getty_units, 0)


def scenario_4c(t, x):
    pty_has, pty_error = x.pty_has, x.pty_error
    t.check(f"OpenShell id as root on {S}: the output comes back on the PTY", pty_has, 0, "uid=0(root)",
            "shell", S, "root", "/usr/bin/id")
    t.check(f"OpenShell id as alice on {S} runs as alice", pty_has, 0, "uid=1234(alice)", "shell", S, "alice",
            "/usr/bin/id")
    t.check("OpenShell through the container object", pty_has, 0, "OBJ-OK", "--object", "shell", S, "", "/bin/sh",
            "sh", "-c", "echo OBJ-OK")
    t.check("root login (OpenShell as root, the login shell) takes input", pty_has, 0, "SHELL-42", "--send",
            "echo SHELL-$((6*7))\nexit\n", "shell", S, "root", "")
    t.check(f"OpenLogin on {S} reaches a login prompt", pty_has, 0, "login:", "login", S)
    t.check("OpenLogin through the container object", pty_has, 0, "login:", "--object", "login", S)
    t.check("OpenShell on the busybox payload -> NoSystemBus", pty_error, ERR + "NoSystemBus", 0, "shell", C, "root",
            "/bin/sh")
    t.check("OpenLogin on the busybox payload -> NoSystemBus", pty_error, ERR + "NoSystemBus", 0, "login", C)
    t.check("OpenShell with a relative program -> InvalidArgument", pty_error, ERR + "InvalidArgument", 0, "shell",
            S, "root", "bin/sh")
    t.check("OpenShell as a user that is not a name -> InvalidArgument", pty_error, ERR + "InvalidArgument", 0,
            "shell", S, "a:b", "/bin/sh")
    t.check("OpenShell on nosuch -> NoSuchContainer", pty_error, ERR + "NoSuchContainer", 0, "shell", "nosuch",
            "root", "/bin/sh")
    t.check("OpenLogin on nosuch -> NoSuchContainer", pty_error, ERR + "NoSuchContainer", 0, "login", "nosuch")
    t.check("nc-allowed OpenShell works", pty_has, U_ALLOWED, "uid=0(root)", "shell", S, "root", "/usr/bin/id")
    t.check("nc-allowed OpenLogin works", pty_has, U_ALLOWED, "login:", "login", S)
    for user, uid, error in (("nc-denied", U_DENIED, "AccessDenied"),
                             ("nc-challenged", U_CHALLENGED, "InteractiveAuthorizationRequired")):
        t.check(f"{user} OpenShell -> {error}", pty_error, DBUS_ERR + error, uid, "shell", S, "root", "/usr/bin/id")
        t.check(f"{user} OpenLogin -> {error}", pty_error, DBUS_ERR + error, uid, "login", S)
    t.check("a getty runs while the caller holds the PTY, and ends when it closes it", getty_follows_master, t, x)


# ------------------------------------------------------------ scenario 5 ---
BENCH = r'''
n=$1 ct=$2 leader=$3 bb=$4 ncrun=$5
ms() { echo $(( $(date +%s%N) / 1000 )); }
t=$(ms); for ((i = 0; i < n; i++)); do "$ncrun" "$ct" /bin/true >/dev/null || exit 1; done
echo "Run true (nc-run, systemd payload):          $(( ($(ms) - t) / n )) us per call"
t=$(ms); for ((i = 0; i < n; i++)); do systemd-run -q -M "$ct" --wait --pipe true </dev/null || exit 1; done
echo "systemd-run -M --wait --pipe true:          $(( ($(ms) - t) / n )) us per call"
t=$(ms); for ((i = 0; i < n; i++)); do nsenter -t "$leader" -m -u -i -n -p -- /bin/true || exit 1; done
echo "nsenter -t LEADER -m -u -i -n -p true:       $(( ($(ms) - t) / n )) us per call"
t=$(ms); for ((i = 0; i < n; i++)); do "$ncrun" bb "$bb/true" >/dev/null || exit 1; done
echo "Run true (nc-run, busybox payload):         $(( ($(ms) - t) / n )) us per call"
r=$("$ncrun" --repeat "$n" "$ct" /bin/true 2>&1 >/dev/null) || exit 1
echo "Run true over one connection (systemd payload): ${r#nc-run: }"
r=$("$ncrun" --repeat "$n" bb "$bb/true" 2>&1 >/dev/null) || exit 1
echo "Run true over one connection (busybox payload): ${r#nc-run: }"
t=$(ms); for ((i = 0; i < n; i++)); do
    busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId >/dev/null || exit 1
done
echo "busctl GetId (one busctl process, no Run):  $(( ($(ms) - t) / n )) us per call"
'''


def bench(t, x):
    leader = t.bus.get(S, "Leader")
    out = t.sb("bash", "-c", BENCH, "bench", str(BENCH_N), S, str(leader), x.b, x.nc_run, input="").stdout
    for line in out.splitlines():
        t.note(line)


def throughput(t, x):
    t0 = now_ms()
    reply_is(x, x.run_cmd(C, f"{x.b}/cat", "/big"), (0, 0))
    t1 = now_ms()
    subprocess.run(f"cat '{root_of(t, C)}/big' | cat >/dev/null", shell=True, check=True)
    t2 = now_ms()
    t.note(f"100 MB over Run's stdout: {t1 - t0} ms ({100000 // (t1 - t0 + 1)} MB/s); cat | cat: {t2 - t1} ms")


def machine_gone(t, name):
    """MachinePath /, Timestamp 0, OSRelease empty."""
    got = (t.bus.get(name, "MachinePath"), t.bus.get(name, "Timestamp"), t.bus.get(name, "OSRelease"))
    t.note(f"MachinePath, Timestamp, OSRelease: {got}")
    want = ("/", 0, {})
    if got != want:
        raise Failed(f"MachinePath, Timestamp, OSRelease {got}, expected {want}")


def scenario_5(t, x):
    t.check(f"latency of true, {BENCH_N} calls each", bench, t, x)
    t.check("throughput of 100 MB", throughput, t, x)
    os.unlink(f"{root_of(t, C)}/big")
    t.check(f"Stop {S}", t.bus.call, "Stop", "s", S)
    t.check(f"Stop {C}", t.bus.call, "Stop", "s", C)
    t.check(f"the stopped {S}: MachinePath /, Timestamp 0, OSRelease empty", machine_gone, t, S)
    t.check(f"OpenShell on the stopped {S} -> NotRunning", x.pty_error, ERR + "NotRunning", 0, "shell", S, "root",
            "/usr/bin/id")
    t.check(f"OpenLogin on the stopped {S} -> NotRunning", x.pty_error, ERR + "NotRunning", 0, "login", S)


# ------------------------------------------------------------ scenario 6 ---
# A container's root can make its switch-to-configuration anything; this payload's sleeps for an hour. A Stop
# or Terminate kills it; a Reload has a timeout (NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC).
def switch_hangs(t):
    try:
        log = read(f"{root_of(t, 'hang')}/var/log/switch.log").decode(errors="replace")
    except FileNotFoundError:
        raise Failed("switch-to-configuration did not start (no switch.log)") from None
    if not any(line.startswith("switch-to-configuration hangs") for line in log.splitlines()):
        raise Failed(f"switch.log: {log!r}")


def expect_reload_failed(outcome, substring):
    kind, value = outcome
    if kind != "error" or value.name != ERR + "ReloadFailed" or substring not in value.message:
        raise Failed(f"the Reload answered {kind}: {value}; expected {ERR}ReloadFailed saying '{substring}'")


def stop_ends_reload(t, verb):
    """A Reload hangs; verb answers within 5 s, the Reload answers ReloadFailed saying verb cancelled it,
    and hang is stopped."""
    log = f"{root_of(t, 'hang')}/var/log/switch.log"
    if os.path.exists(log):
        os.unlink(log)
    reload = Async(t, "Reload", "s", "hang", timeout=120).start()
    t.poll(10000, switch_hangs, t)
    t0 = now_ms()
    try:
        t.bus.call(verb, "s", "hang")
    except BusError as error:
        raise Failed(f"{verb} failed while the Reload hung: {error}") from None
    ms = now_ms() - t0
    outcome = reload.wait(STEP_TIMEOUT / 2)
    t.note(f"{verb} answered in {ms} ms; the Reload's reply: {outcome[0]}: {outcome[1]}")
    if ms >= 5000:
        raise Failed(f"{verb} answered in {ms} ms, expected under 5000")
    expect_reload_failed(outcome, f"cancelled by a {verb.lower()}")
    probes.state_is(t, "hang", "stopped")


def hang_processes(t, x):
    """No sleep of the switch left anywhere in the sandbox (pgrep: 1 = none)."""
    proc = t.sb("pgrep", "-a", "-f", f"{x.hang}/bin/sleep 3600", check=False)
    if proc.returncode != 1:
        raise Failed(f"pgrep exit {proc.returncode}: {proc.stdout}{proc.stderr}")


def service_env(t, value):
    """The service restarted with the reload timeout value (empty: the default, the drop-in removed)."""
    dropin = f"{t.dir}/units/nixos-containers.service.d/zz-reload-timeout.conf"
    if value:
        write(dropin, f"[Service]\nEnvironment=NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC={value}\n")
    elif os.path.exists(dropin):
        os.unlink(dropin)
    t.sb("systemctl", "daemon-reload")
    t.sb("systemctl", "restart", "nixos-containers.service")
    t.poll(10000, t.bus.call, "List")


def reload_times_out(t):
    t0 = now_ms()
    try:
        outcome = ("ok", t.bus.call("Reload", "s", "hang", timeout=60))
    except BusError as error:
        outcome = ("error", error)
    ms = now_ms() - t0
    t.note(f"Reload answered in {ms} ms: {outcome[0]}: {outcome[1]}")
    if not 2000 <= ms < 6000:
        raise Failed(f"the Reload answered after {ms} ms, expected 2000-6000")
    expect_reload_failed(outcome, "timed out after 2 s")


def scenario_6(t, x):
    x.hang = t.make_system("syshang", "hang-switch")
    t.check("Create and Start hang (its switch-to-configuration sleeps)",
            lambda: (create(t, "hang", x.hang), t.bus.call("Start", "s", "hang")))
    t.check("Stop during a Reload that hangs: Stop answers at once, the Reload says it was cancelled",
            stop_ends_reload, t, "Stop")
    t.check("... and the switch's sleep is gone", hang_processes, t, x)
    t.check("Start hang again", t.bus.call, "Start", "s", "hang")
    t.check("Terminate during a Reload that hangs: the same", stop_ends_reload, t, "Terminate")
    t.check("... and the switch's sleep is gone", hang_processes, t, x)
    # The timeout, set low for the service through a drop-in, then removed.
    t.check("the service restarted with NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC=2", service_env, t, "2")
    t.check("Start hang", t.bus.call, "Start", "s", "hang")
    t.check("a Reload that hangs answers ReloadFailed (timed out after 2 s)", reload_times_out, t)
    t.check("... its sleep is gone", hang_processes, t, x)
    t.check("... hang still runs, and is not busy: Stop", t.bus.call, "Stop", "s", "hang", timeout=30)
    t.check("the service restarted without the drop-in", service_env, t, "")
    t.check("Destroy hang", t.bus.call, "Destroy", "s", "hang")


# ------------------------------------------------------------ scenario 7 ---
# Two Destroys of large trees run on the worker's long lane; GetHostKey of another container (the short lane)
# answers at once meanwhile.
def fill_tree(top, count):
    """count empty files beneath top."""
    for d in range(count // 1000 + 1):
        os.makedirs(f"{top}/{d}", exist_ok=True)
        for f in range(min(1000, count - d * 1000)):
            os.close(os.open(f"{top}/{d}/{f}", os.O_CREAT | os.O_WRONLY, 0o644))


def fill_both(t):
    fork = multiprocessing.get_context("fork")  # two processes, as two writers: no GIL between them
    fillers = [fork.Process(target=fill_tree, args=(f"{root_of(t, n)}/many", FILES)) for n in ("big1", "big2")]
    for filler in fillers:
        filler.start()
    for filler in fillers:
        filler.join()
    if any(filler.exitcode != 0 for filler in fillers):
        raise Failed(f"a filler failed: exit {[filler.exitcode for filler in fillers]}")
    for name in ("big1", "big2"):
        count = sum(len(files) for _, _, files in os.walk(f"{root_of(t, name)}/many"))
        if count != FILES:
            raise Failed(f"{name} has {count} files, expected {FILES}")


def host_key_while_destroying(t):
    destroys = [Async(t, "Destroy", "s", name) for name in ("big1", "big2")]
    t0 = now_ms()
    for destroy in destroys:
        destroy.start()
    time.sleep(0.2)  # both removals under way
    worst = 0
    for _ in range(3):
        t1 = now_ms()
        t.bus.call("GetHostKey", "s", "key")
        worst = max(worst, now_ms() - t1)
        time.sleep(0.05)
    last = now_ms() - t0
    outcomes = [d.wait(STEP_TIMEOUT / 2) for d in destroys]
    if any(kind != "ok" for kind, _ in outcomes):
        raise Failed(f"a Destroy failed: {outcomes}")
    end1, end2 = (d.answered - t0 for d in destroys)
    t.note(f"Destroys of {FILES} files each answered after {end1} and {end2} ms; three GetHostKey calls until "
           f"{last} ms: at worst {worst} ms")
    if worst >= 500:
        raise Failed(f"GetHostKey waited for the removals ({worst} ms)")
    # It tells only when both removals outlasted the calls.
    if not (end1 > last and end2 > last):
        raise Failed("the removals ended before the calls did (raise E2E_TREE_FILES)")


def gone(path):
    if os.path.lexists(path):
        raise Failed(f"{path} is still there")


def scenario_7(t, x):
    t.check("root creates key, big1, big2", lambda: [create(t, n, x.ok) for n in ("key", "big1", "big2")])
    write(f"{root_of(t, 'key')}/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAkey key")
    t.check(f"big1 and big2 get {FILES} files each", fill_both, t, timeout=120)
    t.check("GetHostKey of key answers at once while two Destroys remove large trees", host_key_while_destroying, t)
    t.check("big1 and big2 are gone", lambda: [gone(root_of(t, n)) for n in ("big1", "big2")])
    t.check("cleanup: Destroy key", t.bus.call, "Destroy", "s", "key")


SCENARIOS = (
    ("0  sandbox up, payloads", scenario_0),
    ("1  Run on the busybox payload", scenario_1),
    ("2  the caller killed: its command is killed", scenario_2),
    ("3  authorization on Run", scenario_3),
    ("4  the systemd payload: a container that boots real systemd", scenario_4),
    ("4b machined's properties and the host key", scenario_4b),
    ("4c OpenShell and OpenLogin: a terminal in the container", scenario_4c),
    ("5  benchmark (printed)", scenario_5),
    ("6  a Reload that never ends (issue 25, item 5)", scenario_6),
    ("7  long work does not starve short work (issue 25, item 6)", scenario_7),
)


def body(t):
    x = Exec(t)
    for title, scenario in SCENARIOS:
        with t.scenario(title):
            scenario(t, x)


if __name__ == "__main__":
    Tier("exec").run(body)
