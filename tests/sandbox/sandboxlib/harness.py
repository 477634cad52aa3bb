"""harness.py: what the sandbox tiers share.

A tier is a Python script on the host, as root:

    from sandboxlib import Tier
    t = Tier("regr")              # root check (exit 77), DIR and WORK, teardown
    with t.scenario("0  sandbox up"):
        t.up()
        t.check("service answers", lambda: t.bus.call("List"))
    t.finish()                    # down, check-host, wall times, "N passed, M failed"

The namespace plumbing stays in scripts/sandbox/sandbox.sh (up, down, exec,
check-host); the assertions are Python, on typed D-Bus values read through a
bus agent inside the sandbox (bus.py). Output is the bash tiers': PASS/FAIL
lines, "=== scenario" headers with their wall times, and the last line
"N passed, M failed"; the exit status is non-zero when a check failed or the
tier aborted (an exception outside a check fails it, by name).

A check is a callable: it passes when it returns anything but False, and
fails when it returns False or raises (Failed carries the reason; any other
exception is a failure too, with its traceback's last line). Each check is
bounded by STEP_TIMEOUT (E2E_STEP_TIMEOUT, default 40 s).

HARNESS_SELFCHECK=pass|fail|abort runs the harness itself, without root or a
sandbox (tests/harness/selfcheck.sh): one true check, plus a deliberately
false one (fail) or an exception outside any check (abort).

Not root: exit 77 (ctest: skipped), unless CI is set: then exit 1.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from .bus import Bus, BusError
from .failed import Failed

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(HERE))
SANDBOX = os.path.join(REPO, "scripts", "sandbox", "sandbox.sh")
MAKE_SYSTEM = os.path.join(HERE, "payload", "make-system.sh")
STEP_TIMEOUT = float(os.environ.get("E2E_STEP_TIMEOUT", "40"))
# The test users the sandbox's polkit rules know (scripts/sandbox).
U_ALLOWED, U_DENIED, U_CHALLENGED, U_TENANT, U_TENANT2 = 61001, 61002, 61003, 61004, 61005


class StepTimeout(Exception):
    pass


def now_ms():
    return time.monotonic_ns() // 1_000_000


def _alarm(_signum, _frame):
    raise StepTimeout(f"no answer within {STEP_TIMEOUT:g} s (E2E_STEP_TIMEOUT)")


class Tier:
    def __init__(self, name):
        self.name = name
        self.passed = self.failed = 0
        self.summary = []
        self.t_start = now_ms()
        self.dir = self.work = None
        self._agents = {}
        self.selfcheck = os.environ.get("HARNESS_SELFCHECK", "")
        self._scenario = None
        signal.signal(signal.SIGALRM, _alarm)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
        if self.selfcheck:
            self._run_selfcheck()  # does not return
        if os.geteuid() != 0:
            if os.environ.get("CI"):
                print(f"{name}: FAIL: needs root; CI is set, so a skipped tier is a failure", file=sys.stderr)
                sys.exit(1)
            print(f"{name}: SKIP: needs root", file=sys.stderr)
            sys.exit(77)
        self.dir = tempfile.mkdtemp(prefix=f"nc-{name}.", dir="/tmp")
        self.work = tempfile.mkdtemp(prefix=f"nc-{name}-work.", dir="/tmp")
        os.environ.update(DIR=self.dir, SANDBOX=SANDBOX, WORK=self.work)
        self.bus = Bus(SANDBOX, self.dir, 0)

    # ------------------------------------------------------------ checks ---
    def pass_(self, desc):
        self.passed += 1
        print(f"PASS: {desc}", flush=True)

    def fail(self, desc, why=""):
        self.failed += 1
        print(f"FAIL: {desc}", flush=True)
        for line in str(why).strip().splitlines()[-25:]:
            print(f"    | {line}", flush=True)

    def note(self, text):
        print(f"      {text}", flush=True)

    def check(self, desc, fn, *args, timeout=None, **kwargs):
        """PASS when fn(*args) returns anything but False within the step timeout."""
        signal.setitimer(signal.ITIMER_REAL, timeout or STEP_TIMEOUT)
        try:
            result = fn(*args, **kwargs)
        except Failed as why:
            self.fail(desc, why)
            return False
        except (StepTimeout, BusError, subprocess.SubprocessError, OSError, AssertionError, ValueError,
                KeyError, IndexError, TypeError) as why:
            self.fail(desc, f"{type(why).__name__}: {why}")
            return False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if result is False:
            self.fail(desc, "the check returned False")
            return False
        self.pass_(desc)
        return True

    def poll(self, ms, fn, *args, **kwargs):
        """fn(*args) until it passes; at the deadline its last failure is raised."""
        deadline = now_ms() + ms
        while True:
            try:
                if fn(*args, **kwargs) is not False:
                    return True
                last = Failed("the probe returned False")
            except (Failed, BusError, subprocess.SubprocessError) as why:
                last = why
            if now_ms() >= deadline:
                raise Failed(f"not within {ms} ms: {last}")
            time.sleep(0.05)

    @contextlib.contextmanager
    def scenario(self, title):
        """Times a scenario; an exception escaping it fails it by name, and ends the tier."""
        self._scenario = (title, now_ms(), self.passed, self.failed)
        print(f"\n=== scenario {title}", flush=True)
        try:
            yield
        except BaseException as error:
            if not isinstance(error, SystemExit) or error.code not in (0, None):
                self.fail(f"scenario '{title}' aborted ({_why(error)})", traceback.format_exc())
            self._end_scenario()
            self.finish(aborted=True)
        self._end_scenario()

    def _end_scenario(self):
        if not self._scenario:
            return
        title, t0, p0, f0 = self._scenario
        ms = now_ms() - t0
        print(f"--- scenario wall time: {ms} ms", flush=True)
        self.summary.append(f"{title:<58} {ms:6d} ms  {self.passed - p0:3d} passed {self.failed - f0:3d} failed")
        self._scenario = None

    def finish(self, aborted=False):
        """Teardown, even after a failure: agents, sandbox down, check-host. Exits."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        for agent in [self.bus, *self._agents.values()] if self.dir else []:
            agent.close()
        self._agents = {}
        if self.dir and not self.selfcheck:
            if self.failed and os.path.exists(os.path.join(self.dir, "pid")):
                print("\n---- journal (service and containers), last 80 lines")
                out = self.sb("journalctl", "--no-pager", "-u", "nixos-containers", "-u", "nixos-container@*",
                              check=False).stdout
                print("\n".join(out.splitlines()[-80:]))
            print()
            self.check("sandbox down", self.sandbox, "down", self.dir, timeout=120)
            self.check("host unchanged (check-host)", self.sandbox, "check-host", self.dir, timeout=120)
            with contextlib.suppress(OSError):
                os.rmdir(self.dir)
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
        print("\n---- scenario wall times")
        print("\n".join(self.summary))
        print(f"total: {now_ms() - self.t_start} ms")
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        os._exit(1 if self.failed or aborted else 0)

    def run(self, body):
        """Runs body(self); whatever escapes it aborts the tier (a failure), then finish."""
        try:
            body(self)
        except SystemExit as error:
            if error.code not in (0, None):
                self.fail(f"{self.name} aborted ({_why(error)})")
                self.finish(aborted=True)
        except BaseException as error:  # noqa: BLE001 - every escape is a failure, reported
            self.fail(f"{self.name} aborted ({_why(error)})", traceback.format_exc())
            self.finish(aborted=True)
        self.finish()

    # ---------------------------------------------------------- sandbox ---
    def sandbox(self, *argv, timeout=None):
        """scripts/sandbox/sandbox.sh ARGV on the host; its stdout, or Failed with its output."""
        proc = subprocess.run([SANDBOX, *argv], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise Failed(f"sandbox.sh {argv[0]}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def up(self, *flags, desc="up", fatal=True):
        """Scenario 0's first half in every tier: the sandbox comes up (sandbox.sh up FLAGS),
        or the tier ends (fatal) or goes on with a failure."""
        try:
            out = self.sandbox("up", *flags, self.dir, timeout=90)
        except (Failed, subprocess.TimeoutExpired) as why:
            self.fail(desc, why)
            if fatal:
                self.finish(aborted=True)
            return False
        took = next((w for w in out.split("\n") if "up in" in w), "up")
        self.pass_(f"{desc}: {took.strip()}")
        os.environ["NOTIFY_INIT"] = os.path.join(self.dir, "payload", "notify-init")
        return True

    def sb(self, *argv, check=True, input=None, timeout=None, uid=0):
        """argv inside the sandbox (as uid); check=True raises Failed on a non-zero exit."""
        prefix = [SANDBOX, "exec", self.dir]
        if uid:
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        # Without input, stdin is /dev/null: never the tier's own.
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, input=input,
                              stdin=subprocess.DEVNULL if input is None else None, timeout=timeout or STEP_TIMEOUT)
        if check and proc.returncode != 0:
            raise Failed(f"{' '.join(argv)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc

    def make_system(self, name, kind="ok"):
        """A payload system (tests/sandbox/payload/make-system.sh) in DIR/store: its path."""
        out = subprocess.run([MAKE_SYSTEM, os.path.join(self.dir, "store"), name, kind], capture_output=True,
                             text=True, check=True, timeout=120)
        return out.stdout.strip()

    def as_user(self, uid):
        """The bus as test user uid: one connection kept for the tier."""
        if uid not in self._agents:
            self._agents[uid] = Bus(SANDBOX, self.dir, uid)
        return self._agents[uid]

    def new_bus(self, uid=0):
        """A connection of its own (for a call in a thread while the tier goes on); closed at finish."""
        bus = Bus(SANDBOX, self.dir, uid)
        self._agents[("own", len(self._agents))] = bus
        return bus

    # ------------------------------------------------------ self-check ---
    def _run_selfcheck(self):
        if self.selfcheck not in ("pass", "fail", "abort"):
            print("HARNESS_SELFCHECK must be pass, fail or abort", file=sys.stderr)
            sys.exit(2)
        self.work = tempfile.mkdtemp(prefix=f"nc-selfcheck-{self.name}.", dir="/tmp")
        print(f"{self.name}: harness self-check ({self.selfcheck}): harness.py's check and finish, no sandbox")

        def body(t):
            with t.scenario(f"harness self-check ({t.selfcheck})"):
                t.check("harness self-check: a true check", lambda: True)
                if t.selfcheck == "fail":
                    t.check("harness self-check: a deliberately false check", lambda: False)
            if t.selfcheck == "abort":
                print("harness self-check: exit 3 outside any scenario")
                sys.exit(3)

        self.run(body)


def _why(error):
    if isinstance(error, SystemExit):
        return f"exit {error.code}"
    return f"{type(error).__name__}: {error}"
