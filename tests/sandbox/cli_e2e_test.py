#!/usr/bin/env python3
"""cli_e2e_test.py: the nixos-container CLI (issue 12), installed by
cmake --install, against the real service under real systemd, machined,
polkitd and nspawn.

Scenarios:
  1  the old tool's verbs and output: create (host IP line on stderr, the
     free 10.233 pair, --ensure-unique-name, addresses, ports, auto-start),
     list, status up/down/gone, start, stop, restart, terminate, show-ip,
     show-host-key, run (exit status, signal, stdin), destroy (twice)
  2  what the old tool lacks: list --json, show (--json), watch, exit codes
     per error class, refused flags, a build's output live on stderr
  3  polkit: a denied user; a challenged user with --no-ask-password,
     without a terminal, and at a terminal (the text agent asks)
  4  login and root-login through a pseudo-terminal, on the payload that
     boots real systemd (^]^]^] ends a login); root-login without a
     terminal on stdin: root's shell through Run, piped input its script,
     its status the CLI's, </dev/null at once; run and that shell never
     get the host's terminal (relayed), and what is typed reaches run's
     command
  5  a script written for the old tool runs unchanged
  6  the service stopped: exit 8 and how to start it
  (2 also: -H through ssh and systemd-stdio-bridge, with an ssh that
  only stands in for the network; bash completion of verbs and names)

The CLI is what this tier tests: its stdout, stderr and exit codes are
checked as it prints them; what the tier compares them with (ForwardPorts,
AutoStart, Leader, SystemPath, List, D-Bus errors) it reads over the bus.
What a test user runs (the CLI, the terminal driver) is a copy in WORK, never
the checkout (sandbox_cli_e2e_private_parent runs this tier from a checkout
other users cannot enter).

Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
Harness: sandboxlib/harness.py.
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import (DBUS_ERR, SANDBOX, U_ALLOWED, U_CHALLENGED, U_DENIED, Failed, Tier,  # noqa: E402
                        probes, spec)

HERE = os.path.dirname(os.path.abspath(__file__))
PTY_DRIVE = os.path.join(HERE, "payload", "pty_drive.py")
MAKE_SYSTEMD_ROOT = os.path.join(HERE, "payload", "make-systemd-root.sh")
S = "sd"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICliTestKey root@web"
HOST_IP_LINE = r"host IP is 10\.233\.[0-9]+\.1, container IP is (10\.233\.[0-9]+\.2)"


class Cli:
    """The tier's state and helpers (the bash script's functions)."""

    def __init__(self, t):
        self.t = t
        self.nc = os.path.join(t.dir, "prefix", "bin", "nixos-container")
        self.nc_users = os.path.join(t.work, "nixos-container")
        self.pty_users = os.path.join(t.work, "pty_drive.py")
        self.man = os.path.join(t.dir, "prefix", "share", "man", "man1", "nixos-container.1")
        self.completion = os.path.join(t.dir, "prefix", "share", "bash-completion", "completions", "nixos-container")
        self.ok = self.bb = None
        self.create_err = ""

    def run(self, *argv, uid=0, input=None, env=None, merge=False, timeout=None):
        """argv inside the sandbox as uid; stdin /dev/null unless input; never raises on an exit status."""
        prefix = [SANDBOX, "exec", self.t.dir]
        if uid:
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        return subprocess.run([*prefix, *argv], input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=not merge, stdout=subprocess.PIPE if merge else None,
                              stderr=subprocess.STDOUT if merge else None, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout or 40)

    def cli(self, *args, uid=0, **kwargs):
        """The CLI as root (0) or a test user (its copy in WORK), stdin from /dev/null."""
        return self.run(self.nc_users if uid else self.nc, *args, uid=uid, **kwargs)

    def ok_(self, *args, uid=0):
        p = self.cli(*args, uid=uid)
        if p.returncode != 0:
            raise Failed(f"nixos-container {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def expect_exit(self, want, text, *args):
        """The CLI (as root) exits want and its stderr has text."""
        p = self.cli(*args)
        if p.returncode != want or text not in p.stderr:
            raise Failed(f"exit {p.returncode} (wanted {want}); stdout: {p.stdout[:300]}; stderr: {p.stderr[:300]}"
                         f"\nwanted on stderr: {text}")

    def expect_out(self, want, *args):
        """Exit 0 and stdout is exactly want (one trailing newline aside)."""
        p = self.ok_(*args)
        if p.stdout.rstrip("\n") != want:
            raise Failed(f"stdout {p.stdout!r}, expected {want!r}")


def install_copies(t, c):
    os.chmod(t.work, 0o711)  # the sandbox's DIR is root's alone: the test users run copies
    t.check(f"nixos-container is installed ({c.nc})", lambda: os.path.isfile(c.nc) and os.access(c.nc, os.X_OK))
    t.check("a copy for the test users", subprocess.run, ["install", "-m", "0755", c.nc, c.nc_users], check=True)
    # So is the terminal driver: the checkout may sit where they cannot enter
    # (root's home, 0700; sandbox_cli_e2e_private_parent runs from such a place).
    t.check("the terminal driver, copied for the test users", subprocess.run,
            ["install", "-m", "0644", PTY_DRIVE, c.pty_users], check=True)


def man_has_every_verb(c):
    verbs = c.ok_("_complete", "verbs").stdout.split()
    if not verbs:
        raise Failed("_complete verbs printed no verb")
    with open(c.man, encoding="utf-8") as f:
        man = f.read()
    missing = [v for v in verbs if ".B " + v.replace("-", "\\-") + " " not in man]
    if missing:
        raise Failed(f"missing {missing}")


def scenario0(t, c):
    with t.scenario("0  sandbox up, payloads, the installed CLI"):
        t.up()
        c.ok = t.make_system("sysok")
        c.bb = f"{c.ok}/bin"
        install_copies(t, c)
        t.check("its man page and bash completion are installed",
                lambda: os.path.getsize(c.man) > 0 and os.path.getsize(c.completion) > 0)
        t.check("the man page has every verb", man_has_every_verb, c)


# ------------------------------------------------------------ scenario 1 ---
def create_web(c):
    p = c.cli("create", "web", "--system-path", c.ok)
    c.create_err = p.stderr
    if p.returncode != 0 or p.stdout or not any(re.fullmatch(HOST_IP_LINE, x) for x in p.stderr.splitlines()):
        raise Failed(f"exit {p.returncode}; stdout {p.stdout!r}; stderr {p.stderr!r}")


def show_ip_agrees(t, c):
    """show-ip prints the container IP create announced, which is the service's LocalAddress."""
    ip = c.ok_("show-ip", "web").stdout.rstrip("\n")
    announced = [m.group(1) for x in c.create_err.splitlines() if (m := re.fullmatch(HOST_IP_LINE, x))]
    local = t.bus.get("web", "LocalAddress")
    if announced != [ip] or local != ip:
        raise Failed(f"show-ip: {ip!r}; create announced {announced}; LocalAddress {local!r}")


def run_exits(c, want, *command, input=None):
    p = c.cli("run", "web", "--", *command, input=input)
    if p.returncode != want:
        raise Failed(f"exit {p.returncode}, expected {want}\n{p.stdout}{p.stderr}")
    return p


def run_stdin(c):
    out = run_exits(c, 0, f"{c.bb}/cat", input="hello-cli\n").stdout
    if out.rstrip("\n") != "hello-cli":
        raise Failed(f"stdout {out!r}")


def addresses(c):
    p = c.ok_("create", "addr", "--system-path", c.ok, "--host-address", "10.250.0.1", "--local-address", "10.250.0.2")
    if "host IP is 10.250.0.1, container IP is 10.250.0.2" not in p.stderr.splitlines():
        raise Failed(f"stderr {p.stderr!r}")
    c.expect_out("10.250.0.2", "show-ip", "addr")


def ports_and_autostart(t, c):
    c.ok_("create", "pf", "--system-path", c.ok, "--port", "8080:80,udp:5353", "--auto-start")
    ports, auto = t.bus.get("pf", "ForwardPorts"), t.bus.get("pf", "AutoStart")
    if ports != [["tcp", 8080, 80], ["udp", 5353, 5353]] or auto is not True:
        raise Failed(f"ForwardPorts: {ports}; AutoStart: {auto!r}")


def switches(t, name):
    path = os.path.join(t.dir, "state", name, "var", "log", "switch.log")
    if not os.path.isfile(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines().count("switch-to-configuration test")


def reloaded_in_place(t, c):
    """reload: switch-to-configuration test inside, the same Leader."""
    before, n0 = t.bus.get("web", "Leader"), switches(t, "web")
    c.ok_("reload", "web")
    after, n1 = t.bus.get("web", "Leader"), switches(t, "web")
    if not (isinstance(before, int) and before > 0 and before == after and n1 == n0 + 1):
        raise Failed(f"Leader {before} -> {after}; switch.log: {n0} -> {n1}")


def gone(c):
    p = c.cli("status", "web")
    if p.stdout.rstrip("\n") != "gone" or p.returncode != 3:
        raise Failed(f"stdout {p.stdout!r}, exit {p.returncode}")


def scenario1_web(t, c):
    t.check("create web: 'host IP is 10.233.N.1, container IP is 10.233.N.2' on stderr, nothing on stdout",
            create_web, c)
    t.check("list prints one name a line", c.expect_out, "web", "list")
    t.check("status web: down", c.expect_out, "down", "status", "web")
    t.check("start web", c.ok_, "start", "web")
    t.check("status web: up", c.expect_out, "up", "status", "web")
    t.check("show-ip web prints the container's address", show_ip_agrees, t, c)
    t.check("run web -- sh -c 'exit 3' exits 3", run_exits, c, 3, f"{c.bb}/sh", "-c", "exit 3")
    t.check("run killed by SIGKILL exits 137 (128+9)", run_exits, c, 137, f"{c.bb}/sh", "-c", "kill -9 $$")
    t.check("run passes stdin and stdout through", run_stdin, c)
    ssh = os.path.join(t.dir, "state", "web", "etc", "ssh")
    os.makedirs(ssh, exist_ok=True)
    with open(os.path.join(ssh, "ssh_host_ed25519_key.pub"), "w", encoding="utf-8") as f:
        f.write(KEY + "\n")
    t.check("show-host-key web prints the key", c.expect_out, KEY, "show-host-key", "web")


def scenario1(t, c):
    with t.scenario("1  the old tool's verbs and output"):
        scenario1_web(t, c)
        t.check("create web again: exit 5 (name in use), the service's message", c.expect_exit, 5, "web",
                "create", "web", "--system-path", c.ok)
        t.check("create web --ensure-unique-name prints web-0", c.expect_out, "web-0", "create", "web",
                "--ensure-unique-name", "--system-path", c.ok)
        t.check("--host-address/--local-address are the container's pair", addresses, c)
        t.check("--port and --auto-start become ForwardPorts and AutoStart", ports_and_autostart, t, c)
        t.check("stop web", c.ok_, "stop", "web")
        t.check("status web: down after stop", c.expect_out, "down", "status", "web")
        t.check("restart web", c.ok_, "restart", "web")
        t.check("status web: up after restart", c.expect_out, "up", "status", "web")
        t.check("reload web: switch-to-configuration test ran, same Leader", reloaded_in_place, t, c)
        t.check("terminate web", c.ok_, "terminate", "web")
        t.check("status web: down after terminate", c.expect_out, "down", "status", "web")
        t.check("destroy web", c.ok_, "destroy", "web")
        t.check("status web: gone (exit 3)", gone, c)
        t.check("destroy of what is not there: exit 0, as the old tool", c.ok_, "destroy", "web")


# ------------------------------------------------------------ scenario 2 ---
def list_json(t, c):
    """list --json: the service's List rows (name, state, declarative, object), all three stopped."""
    rows = json.loads(c.ok_("list", "--json").stdout)
    names = sorted(r["name"] for r in rows)
    if names != ["addr", "pf", "web-0"] or any(r["state"] != "stopped" for r in rows):
        raise Failed(f"rows {rows}")
    want = sorted(({"name": r[0], "state": r[1], "declarative": r[2], "object": r[3]} for r in t.bus.call("List")[0]),
                  key=lambda r: r["name"])
    if sorted(rows, key=lambda r: r["name"]) != want:
        raise Failed(f"list --json {rows}\nList over the bus {want}")


def show_json(c):
    d = json.loads(c.ok_("show", "addr", "--json").stdout)
    if "10.250.0.2" not in json.dumps(d):
        raise Failed(f"no 10.250.0.2 in {d}")


def show_text(c):
    out = c.ok_("show", "addr").stdout
    if not any(re.match(r"[A-Za-z]+: ", x) for x in out.splitlines()) or "10.250.0.2" not in out:
        raise Failed(out[:2000])


def watch_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def in_order(lines, *wanted):
    """Each wanted line appears, after the one before it."""
    at = 0
    for want in wanted:
        if want not in lines[at:]:
            raise Failed(f"no line {want!r} after line {at} of the watch output: {lines}")
        at += lines[at:].index(want) + 1


def watch_states(t, c):
    out = os.path.join(t.work, "watch.out")
    with open(out, "w", encoding="utf-8") as f:
        watch = subprocess.Popen([SANDBOX, "exec", t.dir, c.nc, "watch"], stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        c.ok_("start", "addr")
        c.ok_("stop", "addr")
        t.poll(5000, lambda: in_order(watch_lines(out), "addr starting", "addr running", "addr stopped"))
    finally:
        watch.kill()
        watch.wait()


FAKE_SSH = ('#!/bin/sh\necho "ssh $*" >>{work}/fake-ssh/calls\n'
            'while [ "$1" != -- ]; do shift; done\nshift 2\nexec "$@"\n')


def remote_host(t, c):
    # sd-bus reaches HOST as busctl -H does: "ssh -xT -- HOST
    # systemd-stdio-bridge". This ssh stands in for the network only: it logs
    # the host it was asked for and runs the bridge here.
    os.makedirs(os.path.join(t.work, "fake-ssh"), exist_ok=True)
    ssh = os.path.join(t.work, "fake-ssh", "ssh")
    with open(ssh, "w", encoding="utf-8") as f:
        f.write(FAKE_SSH.format(work=t.work))
    os.chmod(ssh, 0o755)
    p = c.run("env", f"PATH={t.work}/fake-ssh:/usr/bin:/bin", c.nc, "-H", "root@far.example", "list")
    calls = watch_lines(os.path.join(t.work, "fake-ssh", "calls")) if p.returncode == 0 else []
    if p.returncode != 0 or "addr" not in p.stdout.splitlines() or \
            not any("-- root@far.example systemd-stdio-bridge" in x for x in calls):
        raise Failed(f"exit {p.returncode}; list over -H: {p.stdout!r} {p.stderr!r}; ssh calls: {calls}")


COMPLETE = 'source "$1"; COMP_WORDS=({words}); COMP_CWORD={cword}; _nixos_container; echo "${{COMPREPLY[*]}}"'


def completion(t, c):
    def complete(words, cword):
        p = c.run("env", f"PATH={t.dir}/prefix/bin:/usr/bin:/bin", "bash", "-c",
                  COMPLETE.format(words=words, cword=cword), "complete", c.completion)
        if p.returncode != 0:
            raise Failed(f"completion of {words}: exit {p.returncode}\n{p.stderr}")
        return p.stdout.rstrip("\n")

    verbs, names = complete("nixos-container st", 1), complete("nixos-container start ad", 2)
    command = complete("nixos-container run addr -- nixos-contai", 4)
    if verbs != "start stop status" or names != "addr" or command != "nixos-container":
        raise Failed(f"verbs for 'st': {verbs!r}; names for 'start ad': {names!r}; "
                     f"a command after 'run addr --': {command!r}")


def verb_help(c, verb, has, has_not):
    """VERB --help is its own: its usage line, its flags, its exit statuses."""
    out = c.ok_(verb, "--help").stdout
    lines = out.splitlines()
    if not (lines and lines[0].startswith(f"Usage: nixos-container [OPTIONS] {verb}") and has in out
            and has_not not in out and "Verbs:" not in lines and "Exit status:" in lines):
        raise Failed(out)


def build_output(t, c):
    p = c.cli("create", "flk", "--flake", "/nonexistent/flake", "--impure", "--option", "cores", "1")
    # Nix's own line comes to stderr as it is printed (BuildOutput), then
    # the service's BuildFailed message.
    if p.returncode != 1 or "error: getting status of '/nonexistent/flake'" not in p.stderr:
        raise Failed(f"exit {p.returncode}; stderr:\n{p.stderr}")
    status = c.cli("status", "flk")
    if status.returncode == 0:
        raise Failed(f"status flk: exit 0, {status.stdout!r}")
    probes.not_listed(t, "flk", "addr")


FLAKE = """{
  inputs.nixpkgs.url = "path:DIR/no-such-nixpkgs";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.container = nixpkgs.lib.nixosSystem { modules = [ { payload.message = "cli flake"; } ]; };
  };
}
"""


def flake_attribute(t, c):
    flake = os.path.join(t.work, "flake")
    os.makedirs(flake, exist_ok=True)
    # Its nixpkgs input does not exist: only --override-input makes it build.
    with open(os.path.join(flake, "flake.nix"), "w", encoding="utf-8") as f:
        f.write(FLAKE.replace("DIR", t.dir))
    c.ok_("create", "flk", "--flake", flake, "--override-input", "nixpkgs", f"path:{t.dir}/nixpkgs",
          "--option", "cores", "1")
    system = t.bus.get("flk", "SystemPath")
    with open(os.path.join(t.dir, "store", system.removeprefix("/nix/store/"), "message"), encoding="utf-8") as f:
        message = f.read().rstrip("\n")
    if message != "cli flake":
        raise Failed(f"SystemPath {system}: message {message!r}")
    c.ok_("destroy", "flk")


def scenario2_read(t, c):
    t.check("list --json: name, state, declarative, object", list_json, t, c)
    t.check("show addr --json has its address", show_json, c)
    t.check("show addr: one 'key: value' a line", show_text, c)
    t.check("watch prints state changes live (starting, running, stopped)", watch_states, t, c)
    t.check("-H USER@HOST reaches the service through ssh and systemd-stdio-bridge", remote_host, t, c)
    t.check("bash completion: verbs, container names from the service, a command after run NAME --",
            completion, t, c)


def scenario2_errors(t, c):
    x = c.expect_exit
    t.check("update of a --system-path container without a source: exit 5, says why", x, 5,
            "no source to rebuild from", "update", "addr")
    t.check("start nosuch: exit 3 (no such container)", x, 3, "nosuch", "start", "nosuch")
    t.check("an unknown verb: exit 2", x, 2, "unknown action 'frobnicate'", "frobnicate", "x")
    t.check("no verb: exit 2", x, 2, "no action specified")
    t.check("create --help: create's usage and flags, not the global help", verb_help, c, "create",
            "--config-file FILE", "--json")
    t.check("list --help: list's usage and --json", verb_help, c, "list", "--json", "--config-file")
    t.check("root-login --help: the shell's status without a terminal, 0 at one; not run's", verb_help, c,
            "root-login", "root-login: without a terminal on stdin, the shell's status", "run: the command's")
    t.check("a verb without its name: exit 2", x, 2, "no container name specified", "start")
    t.check("--host-address without --local-address: exit 2", x, 2, "--local-address is required",
            "create", "x", "--system-path", c.ok, "--host-address", "10.1.1.1")
    t.check("a Nix pass-through flag without a build: the service refuses it (exit 5)", x, 5,
            "NixFlags are passed to a build", "create", "x", "--system-path", c.ok, "--impure")
    t.check("a pass-through flag that only nix build takes, with --config: exit 5, says so", x, 5,
            "NixFlags '--impure' is a flag of `nix build`", "create", "x", "--config", "{ }", "--impure")
    t.check("--nixos-path is carried as NixosPath: with --system-path the service refuses it (exit 5)", x, 5,
            "NixosPath is what a Config or ConfigFile is built with", "create", "x", "--system-path", c.ok,
            "--nixos-path", "/tmp")
    t.check("a bad name: exit 5 (invalid argument), the service's message", x, 5, "name",
            "create", "a/b", "--system-path", c.ok)


def scenario2(t, c):
    with t.scenario("2  beyond the old tool: JSON, show, watch, exit codes, build output"):
        scenario2_read(t, c)
        scenario2_errors(t, c)
        t.check("a failed build: Nix's output on stderr, exit 1, no container left", build_output, t, c)
        t.check("a flake without #attr builds nixosConfigurations.container, as the old tool; "
                "the pass-through flags reach nix build", flake_attribute, t, c)


# ------------------------------------------------------------ scenario 3 ---
def denied(c):
    p = c.cli("start", "addr", uid=U_DENIED)
    if p.returncode != 4:
        raise Failed(f"exit {p.returncode}\n{p.stderr}")


def challenged(c, *flags):
    """As nc-challenged, without a terminal: exit 4, and what to do in a CLI user's words."""
    p = c.cli(*flags, "start", "addr", uid=U_CHALLENGED)
    err = p.stderr
    if not (p.returncode == 4 and "must authenticate for org.nixos.containers.manage (start 'addr')" in err
            and "run nixos-container at a terminal, without --no-ask-password" in err
            and "ask an administrator" in err and "interactive authorization" not in err):
        raise Failed(f"exit {p.returncode}\n{err}")


def service_on_the_flag(t, interactive, says, says_not):
    """The service's own refusal, over the bus as nc-challenged."""
    message = t.as_user(U_CHALLENGED).expect_error(DBUS_ERR + "InteractiveAuthorizationRequired", says,
                                                   "Start", "s", "addr", interactive=interactive)
    if says_not in message:
        raise Failed(f"the message says {says_not!r}: {message}")


def agent_asks(c):
    # At a terminal the CLI starts pkttyagent, which asks for the password
    # polkit wants; nobody types it here, so the session is ended.
    p = c.run("/usr/bin/python3", c.pty_users, "expect:AUTHENTICATING FOR org.nixos.containers.manage",
              "expect:Password:", "--", c.nc_users, "start", "addr", uid=U_CHALLENGED, env={"PTY_DRIVE_TIMEOUT": "15"})
    if p.returncode != 0:
        raise Failed(f"pty_drive: exit {p.returncode}\n{p.stdout}{p.stderr}")


def no_agent_asked(c):
    p = c.run("/usr/bin/python3", c.pty_users, "exit:4", "--", c.nc_users, "--no-ask-password", "start", "addr",
              uid=U_CHALLENGED, env={"PTY_DRIVE_TIMEOUT": "10"})
    if p.returncode != 0 or "AUTHENTICATING" in p.stdout:
        raise Failed(f"pty_drive: exit {p.returncode}\n{p.stdout}{p.stderr}")


def scenario3(t, c):
    with t.scenario("3  polkit: denied, challenged, the text agent"):
        t.check("nc-denied start: exit 4", denied, c)
        t.check("nc-allowed start and stop work",
                lambda: (c.ok_("start", "addr", uid=U_ALLOWED), c.ok_("stop", "addr", uid=U_ALLOWED)))
        t.check("nc-challenged with --no-ask-password: exit 4", challenged, c, "--no-ask-password")
        t.check("nc-challenged without a terminal (no agent to ask): exit 4", challenged, c)
        t.check("the service names the interactive flag only to a call without it", service_on_the_flag, t, False,
                "call with interactive authorization allowed", "no polkit authentication agent")
        t.check("with the flag and no agent, the service says no agent was there to ask", service_on_the_flag, t,
                True, "no polkit authentication agent was there to ask", "call with interactive authorization")
        t.check("nc-challenged at a terminal: the text agent asks for authentication", agent_asks, c)
        t.check("nc-challenged at a terminal with --no-ask-password: exit 4, no agent", no_agent_asked, c)


# ------------------------------------------------------------ scenario 4 ---
def pty_drive(c, *steps_and_command):
    """The terminal driver as root (each step held: exit 0)."""
    p = c.run("/usr/bin/python3", PTY_DRIVE, *steps_and_command)
    if p.returncode != 0:
        raise Failed(f"pty_drive: exit {p.returncode}\n{p.stdout}{p.stderr}")


def piped(c, verb, text, want, status=0, within=30):
    """VERB (login or root-login) with text piped in (None: </dev/null) exits status within `within`
    seconds; its output has want."""
    began = time.monotonic()
    p = c.run("timeout", "30", c.nc, verb, S, input=text, merge=True)
    took = time.monotonic() - began
    out = p.stdout.replace("\r", "")
    if p.returncode != status or want not in out or took > within:
        raise Failed(f"exit {p.returncode} (wanted {status}) after {took:.1f} s; output: {out[:600]}")


TTY_PROBE = "for f in 0 1 2; do test -t $f && echo ON-TTY-$f; done; echo TTYS-PROBED"


def no_terminal_inside(c, *steps_and_command):
    """At a terminal: the steps hold, and the command inside had no terminal on 0, 1 or 2."""
    p = c.run("/usr/bin/python3", PTY_DRIVE, "expect:TTYS-PROBED", *steps_and_command)
    if p.returncode != 0 or "ON-TTY-" in p.stdout:
        raise Failed(f"pty_drive: exit {p.returncode}\n{p.stdout}{p.stderr}")


def pipe_tier(t, c):
    """root-login without a terminal on stdin: root's login shell through Run, its status the CLI's."""
    t.check(f"root-login {S} </dev/null: ends at once (exit 0, under 5 s)",
            piped, c, "root-login", None, "", 0, 5)
    t.check(f"echo 'exit 5' | root-login {S}: the piped lines reach the shell, and its status is the CLI's (5)",
            piped, c, "root-login", "echo PIPED-$((2 + 3))\nexit 5\n", "PIPED-5", 5)
    t.check(f"root-login {S}: a last line without a newline still runs",
            piped, c, "root-login", "echo LAST-$((3 + 4))", "LAST-7")
    t.check(f"root-login {S}: root's shell (its passwd's), as root in root's home",
            piped, c, "root-login", "echo AS-$(id -u)-$HOME-$SHELL", "AS-0-/root-/bin/sh")
    t.check(f"root-login {S}: a shell killed by SIGKILL: 137 (128+9)",
            piped, c, "root-login", "kill -9 $$\n", "", 137)
    t.check(f"root-login {S} piped, output to a terminal: the shell has no terminal of the host's",
            no_terminal_inside, c, "exit:0", "--", "/bin/sh", "-c", f"echo '{TTY_PROBE}' | {c.nc} root-login {S}")


def make_systemd_payload(t):
    out = subprocess.run([MAKE_SYSTEMD_ROOT, "system", os.path.join(t.dir, "store"), "sysd"], capture_output=True,
                         text=True, check=True, timeout=120)
    return out.stdout.strip()


def scenario4(t, c):
    with t.scenario("4  login and root-login at a terminal (the systemd payload)"):
        sysd = make_systemd_payload(t)
        t.check(f"create {S} (systemd payload, /usr bound read-only)", t.bus.call, "Create", "sa{sv}", S,
                spec(SystemPath=("s", sysd), BindMounts=("a(ssb)", [["/usr", "/usr", True]])))
        t.check(f"complete {S}'s root", subprocess.run, [MAKE_SYSTEMD_ROOT, "root", os.path.join(t.dir, "state", S)],
                check=True, capture_output=True)
        t.check(f"start {S}", c.ok_, "start", S)
        t.check(f"login {S}: a login prompt; ^]^]^] ends the session (exit 0)", pty_drive, c,
                "expect:login:", r"send:\x1d\x1d\x1d", "exit:0", "--", c.nc, "login", S)
        t.check(f"root-login {S}: a root shell; exit ends it (exit 0)", pty_drive, c,
                "expect:# ", r"send:id\n", "expect:uid=0(root)", r"send:exit\n", "exit:0", "--", c.nc, "root-login", S)
        pipe_tier(t, c)
        t.check(f"login {S} </dev/null: end of input ends the session, no hang (exit 0)",
                piped, c, "login", None, "login:")
        t.check(f"run on {S} at a terminal: output shown, the command has no terminal of the host's",
                no_terminal_inside, c, "exit:0", "--", c.nc, "run", S, "--", "/bin/sh", "-c", TTY_PROBE)
        t.check(f"run on {S} at a terminal: what is typed reaches the command", pty_drive, c,
                r"send:typed-line\n", "expect:GOT-typed-line", "exit:3", "--", c.nc, "run", S, "--", "/bin/sh", "-c",
                "read line; echo GOT-$line; exit 3")
        t.check("start addr (busybox payload)", c.ok_, "start", "addr")
        t.check("login on the busybox payload: exit 7, the service says why", c.expect_exit, 7, "system bus",
                "login", "addr")
        t.check(f"stop {S}", c.ok_, "stop", S)


# ------------------------------------------------------------ scenario 5 ---
OLD_SCRIPT = r"""#!/bin/sh
# As people wrote them for the Perl nixos-container.
set -e
name=$(nixos-container create oldstyle --ensure-unique-name --system-path "$1" 2>"$2")
grep -q "^host IP is .*, container IP is " "$2"
nixos-container start "$name"
[ "$(nixos-container status "$name")" = up ]
ip=$(nixos-container show-ip "$name")
case $ip in 10.233.*.2) ;; *) echo "show-ip printed '$ip'"; exit 1 ;; esac
out=$(nixos-container run "$name" -- "$3/echo" hello from "$name")
[ "$out" = "hello from $name" ]
if nixos-container run "$name" -- "$3/false"; then echo "run did not fail"; exit 1; fi
nixos-container stop "$name"
[ "$(nixos-container status "$name")" = down ]
nixos-container destroy "$name"
[ "$(nixos-container status "$name" || true)" = gone ]
echo "old script done: $name $ip"
"""


def old_script(t, c):
    script = os.path.join(t.work, "old-script.sh")
    with open(script, "w", encoding="utf-8") as f:
        f.write(OLD_SCRIPT)
    os.chmod(script, 0o755)
    p = c.run("env", f"PATH={t.dir}/prefix/bin:/usr/bin:/bin", "sh", script, c.ok,
              os.path.join(t.work, "old-create.err"), c.bb)
    if p.returncode != 0 or not re.search(r"^old script done: oldstyle\S* 10\.233\.", p.stdout, re.M):
        raise Failed(f"exit {p.returncode}\n{p.stdout}{p.stderr}")


def scenario5(t, c):
    with t.scenario("5  a script written for the old tool runs unchanged"):
        t.check("the old-style script (create, start, show-ip, run, stop, destroy)", old_script, t, c)


# ------------------------------------------------------------ scenario 6 ---
def service_stopped(c, *args, uid=0):
    p = c.cli(*args, uid=uid)
    err = p.stderr
    if not (p.returncode == 8 and "nixos-containers service is not running" in err
            and "systemctl start nixos-containers" in err and ".service files" not in err):
        raise Failed(f"exit {p.returncode}; stderr: {err}")


def scenario6(t, c):
    with t.scenario("6  the service stopped: every verb says so, and how to start it"):
        t.check("systemctl stop nixos-containers", t.sb, "systemctl", "stop", "nixos-containers.service")
        t.check("list with the service stopped: exit 8, says it is not running and how to start it",
                service_stopped, c, "list")
        t.check("status addr with the service stopped: exit 8, the same", service_stopped, c, "status", "addr")
        t.check("a user's start with the service stopped: exit 8, the same", service_stopped, c, "start", "addr",
                uid=U_ALLOWED)
        t.check("systemctl start nixos-containers", t.sb, "systemctl", "start", "nixos-containers.service")
        t.check("the service answers again", t.poll, 20000, t.bus.call, "List")
    for name in ("addr", "pf", "web-0", S):
        c.cli("destroy", name)


def body(t):
    c = Cli(t)
    scenario0(t, c)
    scenario1(t, c)
    scenario2(t, c)
    scenario3(t, c)
    scenario4(t, c)
    scenario5(t, c)
    scenario6(t, c)


if __name__ == "__main__":
    Tier("cli").run(body)
