#!/usr/bin/env python3
"""tenant_test.py: delegation's two tiers (issue 10, its first part) against
the real service, polkitd and nspawn. nc-tenant and nc-tenant2 are
delegated as an admin would, by the example rule we ship: members of the
group "containers" may do every org.nixos.containers.* action on the
containers they created, with host access left to its auth_admin default.

Scenarios:
  1  positive control: the tenant creates, starts, reloads, stops and
     destroys confined, user-namespaced containers: on the host's network,
     and on a private one (pool addresses, a listener on port 80 the host
     reaches, a read-only bind beneath NIXOS_CONTAINERS_CONFINED_BIND_ROOTS);
     Reload runs switch-to-configuration in the container's user namespace
     with no_new_privs; ForwardPorts needs PrivateUsers no (host access)
  2  each host-reaching spec is refused with InteractiveAuthorizationRequired
     naming org.nixos.containers.host-access and the keys, and leaves no
     conf, no root, no object: writable and out-of-list binds,
     capabilities, devices, tun, ExtraFlags, addresses outside the pool,
     host port 22, a build as root (Config); an Update that adds a host
     bind to the tenant's own container changes nothing
  3  ownership, through the shipped example rule
     (polkit/50-nixos-containers-owners.rules.example): nc-tenant2, also in
     the group, can neither start, update nor destroy nc-tenant's container,
     nc-tenant not root's nor nc-tenant2's; the conf records the creator;
     the per-user cap (NIXOS_CONTAINERS_MAX_PER_USER=8) refuses a ninth
  4  root and a user granted host access (nc-allowed) still can
  5  a machine machined has from someone else's unit is left alone: Create
     of its name is refused, Start fails rather than terminate it, Terminate
     ends only the container's own unit
  6  entering a container whose root is the host's is host access (issue
     25, item 2): nc-tenant, granted run, shell, login and manage on two
     of root's containers by a test rule, is refused Run, OpenShell,
     OpenLogin and Reload in the one without a user namespace
     (InteractiveAuthorizationRequired naming host-access and
     PrivateUsers), and runs and reloads in the user-namespaced one
  7  Run slots (issue 25, item 7; NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2,
     NIXOS_CONTAINERS_MAX_RUNS=3): a tenant at its bound gets
     LimitsExceeded while another still runs; with every slot taken,
     root's Run still runs
  (1 also: a real nix-daemon takes each user-namespaced container's root
  for an untrusted user)
  (0 also: the service made the state, runtime, profile and gcroot trees
  0700 when it started)

The test users go through their own bus connections (t.as_user); polkit's
refusals are checked by their exact D-Bus error name and message. Run passes
file descriptors, which the bus agent does not: it goes through
payload/nc-run.c, whose "ERROR NAME: MESSAGE" is read by name too.

Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
the exit status is non-zero when M > 0. Harness: sandboxlib/harness.py.
"""
import os
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import (DBUS_ERR, ERR, SANDBOX, U_ALLOWED, U_TENANT, U_TENANT2, Failed, Tier,  # noqa: E402
                        now_ms, opath, probes, spec)
from sandboxlib.bus import PROPS_IF  # noqa: E402
from sandboxlib.harness import STEP_TIMEOUT  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_ACCESS = "org.nixos.containers.host-access"
IAR = DBUS_ERR + "InteractiveAuthorizationRequired"
M1 = dict(dest="org.freedesktop.machine1", path="/org/freedesktop/machine1", iface="org.freedesktop.machine1.Manager")
M1_MACHINE = "org.freedesktop.machine1.Machine"
SVC = "nixos-containers.service"
ENTER_RULE_TEXT = """\
// tenant_test.py scenario 6: nc-tenant enters two of root's containers.
polkit.addRule(function(action, subject) {
    var allowed = ["org.nixos.containers.run", "org.nixos.containers.shell",
                   "org.nixos.containers.login", "org.nixos.containers.manage"];
    var container = action.lookup("container");
    if (subject.user === "nc-tenant" && allowed.indexOf(action.id) >= 0 &&
        (container === "rhost" || container === "rns"))
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
"""


def want(what, got, wanted):
    """Failed unless got == wanted, naming both."""
    if got != wanted:
        raise Failed(f"{what}: {got!r}, expected {wanted!r}")
    return got


def host_uid(base):
    """A uid_map's host side for uid 0 of a user namespace: a positive integer."""
    if not isinstance(base, int) or base < 1:
        raise Failed(f"uid 0 is host uid {base!r}, expected a positive one")
    return base


class Tenant:
    """The tier's state (payloads, fixtures, buses) and its checks."""

    def __init__(self, t):
        self.t = t
        self.shared = os.path.join(t.dir, "shared")  # NIXOS_CONTAINERS_CONFINED_BIND_ROOTS in the sandbox
        self.mine = os.path.join(self.shared, "mine")
        self.nc_run = os.path.join(t.work, "nc-run")
        self.ok = self.listen = None
        self.tenant = t.as_user(U_TENANT)
        self.tenant2 = t.as_user(U_TENANT2)
        self.sleepers = []

    # ------------------------------------------------------- small reads ---
    def out(self, *argv, uid=0, input=None):
        """stdout of argv inside the sandbox, trailing newlines stripped (as $(...))."""
        return self.t.sb(*argv, uid=uid, input=input).stdout.rstrip("\n")

    def sok(self, **keys):
        """A spec on the ok payload plus keys."""
        return spec(SystemPath=("s", self.ok), **keys)

    def conf(self, name):
        return os.path.join(self.t.dir, "etc-containers", f"{name}.conf")

    def root_of(self, name):
        return os.path.join(self.t.dir, "state", name)

    def leader(self, name):
        pid = self.t.bus.get(name, "Leader")
        if not isinstance(pid, int) or pid <= 0:
            raise Failed(f"{name}'s Leader is {pid!r}")
        return pid

    def uid_map(self, name):
        """The leader's uid_map as (inside, base, count) of its first line."""
        line = self.out("cat", f"/proc/{self.leader(name)}/uid_map")
        fields = line.split()
        if len(fields) != 3:
            raise Failed(f"{name}'s uid_map: {line!r}")
        return tuple(int(f) for f in fields)

    def base(self, name):
        inside, base, _count = self.uid_map(name)
        want(f"{name}'s uid_map maps", inside, 0)
        return host_uid(base)

    # -------------------------------------------------- calls and errors ---
    def created(self, bus, name, a_spec):
        path, = bus.call("Create", "sa{sv}", name, a_spec)
        return want(f"Create {name}'s object", path, opath(name))

    def nothing_left(self, name):
        for what, path in (("conf", self.conf(name)), ("root", self.root_of(name))):
            if os.path.lexists(path):
                raise Failed(f"{name} left its {what} {path}")
        self.t.bus.expect_error("NoSuchContainer", f"'{name}'", "GetContainer", "s", name)

    def refused(self, name, keys, a_spec):
        """The tenant's Create of NAME is refused for host access to KEYS; nothing of NAME exists."""
        self.tenant.expect_error(IAR, f"{HOST_ACCESS} (create '{name}' with {keys})", "Create", "sa{sv}", name,
                                 a_spec)
        self.nothing_left(name)

    def invalid(self, name, part, a_spec):
        """The tenant's Create of NAME is refused as InvalidArgument (PART); nothing of NAME exists."""
        self.tenant.expect_error("InvalidArgument", part, "Create", "sa{sv}", name, a_spec)
        self.nothing_left(name)

    def nc_run_proc(self, uid, *args, out_path=None):
        """nc-run inside the sandbox as uid (0: root), stdin /dev/null. With out_path the command's
        stdout goes to that file, opened here as root (--stdout-fd), so reply and output stay apart."""
        argv = [SANDBOX, "exec", self.t.dir]
        if uid:
            argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        fds, opts = (), []
        if out_path:
            fds = (os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),)
            opts = ["--stdout-fd", str(fds[0])]
        try:
            return subprocess.run([*argv, self.nc_run, *opts, *args], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, pass_fds=fds, timeout=STEP_TIMEOUT)
        finally:
            for fd in fds:
                os.close(fd)

    @staticmethod
    def ran(proc, stderr_too=True):
        """nc-run's reply "ii 0 0" (and nothing on stderr, when the bash tier merged it)."""
        got = proc.stdout + (proc.stderr if stderr_too else "")
        if proc.returncode != 0:
            raise Failed(f"Run failed (exit {proc.returncode}): {got}")
        want("nc-run's reply", got.rstrip("\n"), "ii 0 0")

    @staticmethod
    def run_error(proc, name, part):
        """nc-run's call was refused with exactly the D-Bus error NAME, its message containing PART."""
        found = re.fullmatch(r"ERROR (\S+): (.*)", proc.stderr.strip(), re.S)
        if proc.returncode != 1 or not found or proc.stdout:
            raise Failed(f"expected nc-run's ERROR {name} (exit 1), got exit {proc.returncode}: "
                         f"{proc.stdout}{proc.stderr}")
        want("the Run's error", found[1], name)
        if part not in found[2]:
            raise Failed(f"the message does not contain '{part}': {found[2]}")

    # --------------------------------------------- shared by scenarios ---
    # Confined means user-namespaced: root in the tenant's container is a uid
    # nspawn picked, not the host's root (uid_map "0 BASE 65536", BASE far
    # above 0), on the host's network and on a private one alike.
    def users_of(self, name, mode):
        """NAME's PrivateUsers property is MODE, and its leader's uid_map fits."""
        want(f"{name}'s PrivateUsers", self.t.bus.get(name, "PrivateUsers"), mode)
        inside, base, count = self.uid_map(name)
        self.t.note(f"{name}: PrivateUsers {mode}; the leader's uid_map: {inside} {base} {count}")
        want(f"{name}'s uid_map maps", inside, 0)
        if mode == "pick" and (base < 65536 or count != 65536):
            raise Failed(f"{name}'s uid_map: base {base}, count {count}; expected base >= 65536, count 65536")
        if mode == "no":
            want(f"{name}'s uid_map base", base, 0)

    # The payload's switch-to-configuration logs who ran it. As the host's root
    # it would be a way out: the container's root can mount over its own tree.
    # The host uid is what tells the user namespace. NoNewPrivs 1 holds either
    # way here, as the service's own unit sets NoNewPrivileges (measured: with
    # the spawn's own prctl removed the line still says 1); it shows only that
    # nothing cleared it.
    def switch_lines(self, name):
        path = os.path.join(self.root_of(name), "var", "log", "switch.log")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line.startswith("switch-to-configuration ran")]

    def reload_confined(self, name):
        """The last Reload of NAME ran as its root, a host uid of its range, with no_new_privs."""
        base = self.base(name)
        lines = [line for line in self.switch_lines(name) if line.startswith("switch-to-configuration ran as ")]
        want(f"{name}'s last switch.log line", lines[-1] if lines else None,
             f"switch-to-configuration ran as host uid {base}, NoNewPrivs 1")

    def root_destroys(self, *names):
        for name in names:
            self.t.bus.call("Destroy", "s", name)
            probes.not_listed(self.t, name)

    def read_out(self, path):
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\n")


# ------------------------------------------------------------ scenario 0 ---
class Scenario0(Tenant):
    def service_on_bus(self):
        owner, = self.t.bus.call("GetNameOwner", "s", "org.nixos.Containers", dest="org.freedesktop.DBus",
                                 path="/org/freedesktop/DBus", iface="org.freedesktop.DBus")
        pid, = self.t.bus.call("GetConnectionUnixProcessID", "s", owner, dest="org.freedesktop.DBus",
                               path="/org/freedesktop/DBus", iface="org.freedesktop.DBus")
        want(f"the PID of the name's owner {owner}", pid, probes.service_pid(self.t))

    @staticmethod
    def status_fields(text):
        return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)

    def service_hardened(self):
        """The unit's capability bound (within systemd's own: & 0xfdecffff), seccomp, no_new_privs."""
        pid = probes.service_pid(self.t)
        if pid <= 0:
            raise Failed("the service has no MainPID")
        status = self.status_fields(self.out("cat", f"/proc/{pid}/status"))
        manager = int(self.status_fields(self.out("cat", "/proc/1/status"))["CapBnd"], 16)
        self.t.note(f"CapBnd {status['CapBnd']}, Seccomp {status['Seccomp']}, NoNewPrivs {status['NoNewPrivs']}")
        want("the service's CapBnd", int(status["CapBnd"], 16), manager & 0xFDECFFFF)
        want("the service's Seccomp", status["Seccomp"], "2")
        want("the service's NoNewPrivs", status["NoNewPrivs"], "1")

    def trees_private(self):
        for tree in ("state", "runtime", "profiles", "gcroots"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.t.dir, tree)).st_mode)
            want(f"{tree}'s mode", oct(mode), oct(0o700))

    def nix_daemon_up(self):
        """A real nix-daemon (the sandbox's Nix, as root), before any container starts."""
        with open(os.path.join(self.t.dir, "nix-environment"), encoding="utf-8") as f:
            setenv = [f"--setenv={line}" for line in f.read().splitlines()]
        self.t.sb("systemd-run", "--quiet", "--unit=nix-daemon.service", *setenv, "/usr/bin/nix-daemon")
        return self.t.poll(10000, self.t.sb, "test", "-S", "/nix/var/nix/daemon-socket/socket")

    def scenario_0(self):
        t = self.t
        t.up()
        os.makedirs(os.path.join(self.shared, "web"))
        self.ok = t.make_system("sysok", "ok")
        # Listens on port 80 before it is ready: a user-namespaced root may only
        # when its network namespace lets every uid bind below 1024.
        self.listen = t.make_system("syslisten", "listener")
        t.check("the service is on the bus", self.service_on_bus)
        # The installed unit's hardening holds for the running service (every
        # sandbox tier runs it so): its capability bound lacks what the unit drops
        # (SYS_MODULE 16, SYS_RAWIO 17, SYS_PACCT 20, SYS_TIME 25 and every
        # capability from 32 on: 0xfdecffff), a seccomp filter is on, and it cannot
        # gain privileges. exec_e2e proves a Run still gets the container's bound.
        t.check("the service runs with the unit's capability bound, a seccomp filter and no_new_privs",
                self.service_hardened)
        t.check("the trees a container can plant in are 0700 (the sandbox made them 0755)", self.trees_private)
        t.check("nix-daemon runs in the sandbox (/nix/var/nix/daemon-socket/socket)", self.nix_daemon_up)


# ------------------------------------------------------------ scenario 1 ---
class Scenario1(Tenant):
    # nspawn joins a namespace made outside its user namespace not at all
    # (EPERM): its unit starts it inside the one the service prepared.
    def in_pinned_namespace(self, name):
        pin = f"{self.t.dir}/runtime/netns/{name}"
        unit_path = self.out("systemctl", "show", "-P", "NetworkNamespacePath", f"nixos-container@{name}.service")
        want("the unit's NetworkNamespacePath", unit_path, pin)
        ns = self.out("stat", "-L", "-c", "%i", f"/proc/{self.leader(name)}/ns/net")
        want("the leader's network namespace (inode)", ns, self.out("stat", "-L", "-c", "%i", pin))

    def listener_answers(self, name):
        """The host reaches NAME's listener on port 80 at its pool address."""
        address = self.t.bus.get(name, "LocalAddress")
        answer = self.out("busybox", "nc", "-w", "3", address, "80", input="")  # nothing to send
        want(f"{address}:80 answers", answer, f"listener-answer {name} 80")

    def build_nc_run(self):
        """nc-run passes the descriptors the bus agent cannot."""
        proc = subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", self.nc_run,
                               os.path.join(HERE, "payload", "nc-run.c"), "-lsystemd"],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise Failed(f"gcc: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")

    def run_confined(self, name):
        """The tenant's Run of a shell reports uid 0's host uid and NoNewPrivs."""
        base = self.base(name)
        out_path = os.path.join(self.t.work, "run.out")
        proc = self.nc_run_proc(
            U_TENANT, name, f"{self.ok}/bin/sh", "-c",
            'read -r i b c </proc/self/uid_map; while read -r k v; do [ "$k" = NoNewPrivs: ] && n=$v; done '
            '</proc/self/status; echo "uid 0 = $b, NoNewPrivs $n"', out_path=out_path)
        self.ran(proc, stderr_too=False)
        want(f"{name}: what the Run printed", self.read_out(out_path), f"uid 0 = {base}, NoNewPrivs 1")

    # The nix-daemon socket. The daemon trusts uid 0, and a trusted client's
    # settings (pre-build-hook...) run as root on the host. The daemon names each
    # client it accepts, and whether it trusts it, in its log; a container's root
    # is asked for from inside its user namespace (nsenter -U: uid 0 there), with
    # the sandbox's nix-store.
    def socket_in(self, name):
        """NAME's own view of its files (its leader's root) has the daemon's socket."""
        root = f"/proc/{self.leader(name)}/root"
        if self.t.sb("test", "-x", f"{root}/nix/store", check=False).returncode != 0:
            raise Failed(f"cannot look into {name}")
        self.t.sb("test", "-S", f"{root}/nix/var/nix/daemon-socket/socket")

    def daemon_accepted(self):
        log = self.out("journalctl", "-u", "nix-daemon.service", "-o", "cat", "--no-pager")
        return [line for line in log.splitlines() if line.startswith("accepted connection from pid ")]

    def daemon_view(self, *prefix):
        """Queries the store through the daemon, under PREFIX: the daemon's line for that connection."""
        before = len(self.daemon_accepted())
        self.t.sb(*prefix, "env", "-i", "PATH=/usr/bin:/bin", "NIX_REMOTE=daemon", "HOME=/nonexistent",
                  "nix-store", "-q", "--hash", self.ok)
        deadline = now_ms() + 5000
        while len(lines := self.daemon_accepted()) <= before:
            if now_ms() >= deadline:
                raise Failed("the daemon logged no connection")
            time.sleep(0.05)
        return lines[before]

    def trusted_as_sandbox_root(self):
        line = self.daemon_view("env")
        self.t.note(line)
        if not line.endswith(", user root (trusted)"):
            raise Failed(f"the daemon's line: {line!r}, expected '..., user root (trusted)'")

    def untrusted_as_root_of(self, name):
        """NAME's root reaches the daemon as its host uid, untrusted."""
        base = self.base(name)
        line = self.daemon_view("nsenter", "-t", str(self.leader(name)), "-U")
        # The user's name, when NSS has one (nspawn registers vu-NAME-0), or uid.
        user = line.rsplit(", user ", 1)[-1]
        entry = self.t.sb("getent", "passwd", user, check=False)
        uid = entry.stdout.split(":")[2] if entry.returncode == 0 else user
        self.t.note(f"{line}: {user} is uid {uid}; uid 0 of {name} is {base} on the host")
        want(f"the uid the daemon took {name}'s root for", uid, str(base))
        if line.endswith("(trusted)"):
            raise Failed(f"the daemon trusts {name}'s root: {line}")

    # A setuid file the container's root plants where the host sees it: in its
    # profiles, an idmapped bind, so the host's uid 0 owns it. The service's
    # 0700 tree is all that keeps the host's users out. The sandbox's own
    # directory is closed to them too, so it is opened for the walk, and the
    # control opens the service's tree once to show the file is then theirs.
    def plant_setuid(self):
        plant = (f"{self.ok}/bin/cp {self.ok}/bin/busybox /nix/var/nix/profiles/suid-probe && "
                 f"{self.ok}/bin/chmod 4755 /nix/var/nix/profiles/suid-probe")
        proc = self.t.sb("nsenter", "-t", str(self.leader("t0")), "-U", "-m", "-r", "-w", "--",
                         f"{self.ok}/bin/sh", "-c", plant, check=False)
        if proc.returncode != 0:
            raise Failed(f"t0's root could not plant it: {proc.stdout}{proc.stderr}")
        per_container = self.out("realpath", f"{self.t.dir}/profiles")
        return per_container, f"{per_container}/t0/suid-probe"

    def setuid_walk(self, per_container, probe):
        problems = []
        owner_mode = self.out("stat", "-c", "%u %a", probe)
        if owner_mode != "0 4755":
            problems.append(f"not a root-owned setuid file: {owner_mode}")
        self.t.sb("chmod", "0711", self.t.dir)
        if self.t.sb("test", "-x", os.path.dirname(per_container), uid=U_TENANT, check=False).returncode != 0:
            problems.append(f"the walk is closed before {per_container}")
        self.t.sb("chmod", "0755", per_container)
        if self.t.sb("test", "-x", probe, uid=U_TENANT, check=False).returncode != 0:
            problems.append(f"control: not reachable even with {per_container} open")
        self.t.sb("chmod", "0700", per_container)
        proc = self.t.sb("/usr/bin/env", probe, uid=U_TENANT, check=False)
        out = proc.stdout + proc.stderr
        if proc.returncode == 0 or "Permission denied" not in out:
            problems.append(f"with {per_container} 0700, exit {proc.returncode}: {out}")
        return problems

    def setuid_unreachable(self):
        per_container, probe = self.plant_setuid()
        try:
            problems = self.setuid_walk(per_container, probe)
        finally:
            self.t.sb("chmod", "0700", per_container)
            self.t.sb("chmod", "0700", self.t.dir)
            self.t.sb("rm", "-f", probe)
        if problems:
            raise Failed("; ".join(problems))

    def update_privateusers_refused(self):
        self.tenant.expect_error(IAR, f"{HOST_ACCESS} (update 't0' with PrivateUsers)", "Update", "sa{sv}", "t0",
                                 spec(PrivateUsers=("s", "no")))
        want("t0's PrivateUsers after the refused Update", self.t.bus.get("t0", "PrivateUsers"), "pick")

    def update_autostart(self):
        self.tenant.call("Update", "sa{sv}", "t1", spec(AutoStart=("b", True)))
        want("t1's AutoStart", self.t.bus.get("t1", "AutoStart"), True)

    def scenario_1a(self):
        t, tenant = self.t, self.tenant
        t.check(f"tenant Create (private network from the pool, a listener on port 80, a read-only bind beneath "
                f"{self.shared})", self.created, tenant, "t1",
                spec(SystemPath=("s", self.listen), PrivateNetwork=("b", True),
                     BindMounts=("a(ssb)", [["/data", f"{self.shared}/web", True]])))
        t.check("tenant Start", tenant.call, "Start", "s", "t1")
        t.check("t1 running", probes.state_is, t, "t1", "running")
        t.check("t1 (private network) runs in a user namespace nspawn picked (PrivateUsers pick)",
                self.users_of, "t1", "pick")
        t.check("t1's nspawn runs in the namespace pinned at runtime/netns/t1", self.in_pinned_namespace, "t1")
        t.check("the host reaches t1's listener on port 80 (its root bound it from inside the user namespace)",
                self.listener_answers, "t1")
        t.check("tenant Create of t0 on the host's network (no PrivateUsers given)", self.created, tenant, "t0",
                self.sok())
        t.check("tenant Start t0", tenant.call, "Start", "s", "t0")
        t.check("t0 runs in a user namespace nspawn picked (PrivateUsers pick)", self.users_of, "t0", "pick")
        t.check("tenant Reload t0", tenant.call, "Reload", "s", "t0")
        t.check("... switch-to-configuration ran in t0's user namespace (uid 0 = its host uid), with no_new_privs",
                self.reload_confined, "t0")
        # Run as the tenant (nc-run passes the descriptors the bus agent cannot):
        # uid 0 of the container's user namespace, with no_new_privs.
        t.check("nc-run builds", self.build_nc_run)
        t.check("tenant Run in t0: uid 0 of its user namespace, with no_new_privs", self.run_confined, "t0")
        t.check("tenant Run in t1 (private network: its namespace joined before its user namespace)",
                self.run_confined, "t1")

    def scenario_1b(self):
        t, tenant = self.t, self.tenant
        t.check("nix-daemon trusts the sandbox's root (the probe can tell)", self.trusted_as_sandbox_root)
        t.check("t0 (user namespace) has the nix-daemon socket", self.socket_in, "t0")
        t.check("... and nix-daemon takes t0's root for its host uid, not trusted", self.untrusted_as_root_of, "t0")
        t.check("a root-owned setuid file t0's root planted in its profiles is out of the host users' reach",
                self.setuid_unreachable)
        t.check("t1 (private network, user namespace) has the nix-daemon socket", self.socket_in, "t1")
        t.check("... and nix-daemon takes t1's root for its host uid, not trusted", self.untrusted_as_root_of, "t1")
        t.check("tenant Update of t0 to PrivateUsers no -> host-access, unchanged", self.update_privateusers_refused)
        t.check("tenant Create with PrivateUsers identity -> host-access", self.refused, "t2", "PrivateUsers",
                self.sok(PrivateUsers=("s", "identity")))
        t.check("tenant Destroy t0", tenant.call, "Destroy", "s", "t0")
        t.check("tenant Reload", tenant.call, "Reload", "s", "t1")
        t.check("... in t1's user namespace, with no_new_privs (its namespaces joined: net before user)",
                self.reload_confined, "t1")
        t.check("tenant Update of a confined key (AutoStart)", self.update_autostart)
        t.check("tenant Stop", tenant.call, "Stop", "s", "t1")


# ------------------------------------------------------------ scenario 2 ---
def net(**keys):
    """A private network's spec keys plus keys."""
    return dict(PrivateNetwork=("b", True), **keys)


def flags(*words):
    return dict(ExtraFlags=("as", list(words)))


FWD = "a(sqq)"
# Each: (description, the keys the refusal names, spec keys besides SystemPath).
REFUSED_BINDS = [
    ("a writable bind of / -> host-access (BindMounts)", "BindMounts",
     dict(BindMounts=("a(ssb)", [["/host", "/", False]]))),
    ("a read-only bind outside the confined roots -> host-access", "BindMounts",
     dict(BindMounts=("a(ssb)", [["/etc-host", "/etc", True]]))),
]
REFUSED_CAPS_DEVICES = [
    ("AdditionalCapabilities CAP_SYS_MODULE -> host-access", "AdditionalCapabilities",
     dict(AdditionalCapabilities=("as", ["CAP_SYS_MODULE"]))),
    ("AllowedDevices /dev/sda rwm -> host-access", "AllowedDevices",
     dict(AllowedDevices=("a(ss)", [["/dev/sda", "rwm"]]))),
]
REFUSED_TUN_NET_FLAGS = [
    ("EnableTun with PrivateUsers no -> host-access (EnableTun,PrivateUsers)", "EnableTun,PrivateUsers",
     dict(EnableTun=("b", True), PrivateUsers=("s", "no"))),
    ("AdditionalCapabilities all -> host-access", "AdditionalCapabilities",
     dict(AdditionalCapabilities=("as", ["all"]))),
    ("a host interface moved in -> host-access (Interfaces)", "Interfaces", net(Interfaces=("as", ["eth9"]))),
    ("a macvlan on a host interface -> host-access (Macvlans)", "Macvlans", net(Macvlans=("as", ["eth9"]))),
    ("a host bridge -> host-access (HostBridge)", "HostBridge", net(HostBridge=("s", "br9"))),
    ("an extra veth -> host-access (ExtraVeths)", "ExtraVeths",
     net(ExtraVeths=("a{sa{ss}}", {"x0": {"HostBridge": "br9"}}))),
    # Each ExtraFlags option asks as the key that gives the same (issue 25), so
    # a rule granting host access by key cannot be stepped around.
    ("ExtraFlags --bind=/:/host:rbind -> host-access (BindMounts)", "BindMounts", flags("--bind=/:/host:rbind")),
    ("ExtraFlags --load-credential=x:/etc/shadow -> host-access (BindMounts)", "BindMounts",
     flags("--load-credential=x:/etc/shadow")),
    ("ExtraFlags --overlay=/etc:/tmp:/etc -> host-access (BindMounts)", "BindMounts",
     flags("--overlay=/etc:/tmp:/etc")),
    ("ExtraFlags --bind-user=root -> host-access (BindMounts)", "BindMounts", flags("--bind-user=root")),
    ("ExtraFlags --oom-score-adjust=-1000 -> host-access (ExtraFlags)", "ExtraFlags",
     flags("--oom-score-adjust=-1000")),
    ("ExtraFlags --resolv-conf=bind-host -> host-access (ExtraFlags)", "ExtraFlags", flags("--resolv-conf=bind-host")),
]
REFUSED_OUT_OF_POOL = [
    ("an address outside the pool -> host-access (HostAddress,LocalAddress)", "HostAddress,LocalAddress",
     net(HostAddress=("s", "192.168.77.1"), LocalAddress=("s", "192.168.77.2"))),
]
REFUSED_FORWARD_PREFIX = [
    ("ForwardPorts with PrivateUsers no -> host-access (PrivateUsers)", "PrivateUsers",
     net(PrivateUsers=("s", "no"), ForwardPorts=(FWD, [["tcp", 8080, 80]]))),
    ("a pool address with a prefix (10.233.9.1/1 routes half of IPv4) -> host-access (HostAddress)", "HostAddress",
     net(HostAddress=("s", "10.233.9.1/1"), LocalAddress=("s", "10.233.9.2"))),
]
REFUSED_PORT_22 = [
    ("host port 22 -> host-access (ForwardPorts,PrivateUsers)", "ForwardPorts,PrivateUsers",
     net(PrivateUsers=("s", "no"), ForwardPorts=(FWD, [["tcp", 22, 22]]))),
]


class Scenario2(Tenant):
    def refuse_all(self, specs):
        for desc, keys, extra in specs:
            self.t.check(desc, self.refused, "t2", keys, self.sok(**extra))

    def confined_flags(self):
        """Options that keep the container confined ask for nothing."""
        self.created(self.tenant, "t2", self.sok(**flags("--hostname=t2", "--setenv=MARK=1",
                                                          "--oom-score-adjust=500")))
        self.tenant.call("Destroy", "s", "t2")

    def steal_address(self):
        """t1's pool address, for a container of the tenant's: InvalidArgument, nothing left."""
        taken = self.t.bus.get("t1", "LocalAddress")
        self.invalid("t2", f"LocalAddress {taken} is already the LocalAddress of container 't1'",
                     self.sok(**net(HostAddress=("s", "10.233.250.1"), LocalAddress=("s", taken))))

    def update_refused(self):
        self.tenant.expect_error(IAR, f"{HOST_ACCESS} (update 't1' with BindMounts)", "Update", "sa{sv}", "t1",
                                 spec(BindMounts=("a(ssb)", [["/host", "/", False]])))
        binds = self.t.bus.get("t1", "BindMounts")
        want("t1's BindMounts after the refused Update", binds, [["/data", f"{self.shared}/web", True]])
        with open(self.conf("t1"), encoding="utf-8") as f:
            if "host" in f.read():
                raise Failed("t1's conf names 'host'")

    def scenario_2a(self):
        t = self.t
        self.refuse_all(REFUSED_BINDS)
        os.symlink("/etc", os.path.join(self.shared, "escape"))
        t.check("a read-only bind of a link beneath a confined root that points out -> host-access", self.refused,
                "t2", "BindMounts", self.sok(BindMounts=("a(ssb)", [["/x", f"{self.shared}/escape", True]])))
        self.refuse_all(REFUSED_CAPS_DEVICES)
        # A tun device needs CAP_NET_ADMIN over the network namespace, which a
        # user-namespaced root lacks: EnableTun needs PrivateUsers no.
        t.check("EnableTun in a user namespace -> InvalidArgument, nothing left", self.invalid, "t2",
                "PrivateUsers 'pick' with EnableTun is not supported", self.sok(EnableTun=("b", True)))
        self.refuse_all(REFUSED_TUN_NET_FLAGS)
        t.check("ConfigFile /etc/shadow (evaluated as root) -> host-access", self.refused, "t2", "ConfigFile",
                spec(ConfigFile=("s", "/etc/shadow")))
        t.check("ExtraFlags --capability=all -> host-access (AdditionalCapabilities)", self.refused, "t2",
                "AdditionalCapabilities", self.sok(**flags("--capability=all")))
        t.check("ExtraFlags --hostname, --setenv, --oom-score-adjust=500: created without host access",
                self.confined_flags)

    def scenario_2b(self):
        t = self.t
        self.refuse_all(REFUSED_OUT_OF_POOL)
        # nspawn forwards ports only from outside a user namespace: a forward
        # needs PrivateUsers "no", the container's root the host's.
        t.check("ForwardPorts from a private network without PrivateUsers -> InvalidArgument, nothing left",
                self.invalid, "t2", "PrivateUsers 'pick' with ForwardPorts is not supported",
                self.sok(**net(ForwardPorts=(FWD, [["tcp", 8080, 80]]))))
        self.refuse_all(REFUSED_FORWARD_PREFIX)
        t.check("another container's pool address -> InvalidArgument naming it, nothing left", self.steal_address)
        self.refuse_all(REFUSED_PORT_22)
        t.check("a build as root (Config) -> host-access", self.refused, "t2", "Config", spec(Config=("s", "{ }")))
        t.check("several at once are named together", self.refused, "t2", "BindMounts,AdditionalCapabilities",
                self.sok(BindMounts=("a(ssb)", [["/host", "/", False]]),
                         AdditionalCapabilities=("as", ["CAP_SYS_MODULE"])))
        t.check("an Update adding a host bind to the tenant's container -> host-access, nothing changed",
                self.update_refused)


# ------------------------------------------------------------ scenario 3 ---
class Scenario3(Tenant):
    def conf_lines(self, name):
        with open(self.conf(name), encoding="utf-8") as f:
            return f.read().splitlines()

    def conf_has(self, name, line):
        if line not in self.conf_lines(name):
            raise Failed(f"{self.conf(name)} has no line {line}")

    def owner_is(self, name, uid):
        want(f"{name}'s Owner", self.t.bus.get(name, "Owner"), uid)

    # The owner rule does not answer for another member: the action's default
    # (auth_admin) does, and nothing changes.
    def other_refused(self, bus, verb, method, name, *changes):
        sig = "sa{sv}" if changes else "s"
        bus.expect_error(IAR, f"({verb} '{name}')", method, sig, name, *changes)

    def permissions_are(self, bus, name, want):
        got = dict(bus.call("GetPermissions", "s", name)[0])
        for method, word in want.items():
            if got.get(method) != word:
                raise Failed(f"GetPermissions of {name}: {method} is {got.get(method)!r}, expected {word!r} ({got})")

    def t1_kept(self):
        self.conf_has("t1", "AUTO_START=1")
        probes.state_is(self.t, "t1", "stopped")
        want("t1's AutoStart", self.t.bus.get("t1", "AutoStart"), True)

    # NIXOS_CONTAINERS_MAX_PER_USER=8 in the sandbox: t1 and seven more.
    def fill_to_cap(self):
        names = [f"c{i}" for i in range(3, 10)]
        for name in names:
            self.created(self.tenant, name, self.sok())
        self.tenant.expect_error("LimitsExceeded", f"uid {U_TENANT} owns 8 containers", "Create", "sa{sv}", "c10",
                                 self.sok())
        self.nothing_left("c10")
        for name in names:
            self.tenant.call("Destroy", "s", name)

    def scenario_3(self):
        t, tenant, tenant2 = self.t, self.tenant, self.tenant2
        t.check(f"t1's conf records its creator (OWNER_UID={U_TENANT})", self.conf_has, "t1", f"OWNER_UID={U_TENANT}")
        t.check(f"t1's Owner property is {U_TENANT}", self.owner_is, "t1", U_TENANT)
        t.check("nc-tenant2 cannot Start nc-tenant's t1", self.other_refused, tenant2, "start", "Start", "t1")
        t.check("nc-tenant2 cannot Update t1", self.other_refused, tenant2, "update", "Update", "t1",
                spec(AutoStart=("b", False)))
        t.check("nc-tenant2 cannot Destroy t1", self.other_refused, tenant2, "destroy", "Destroy", "t1")
        t.check("t1 is still there, stopped, AutoStart still set", self.t1_kept)
        t.check("root creates r0 (owned by root)", self.created, t.bus, "r0", self.sok())
        t.check("r0's Owner property is 0", self.owner_is, "r0", 0)
        t.check("nc-tenant cannot Start root's r0", self.other_refused, tenant, "start", "Start", "r0")
        t.check("nc-tenant cannot Update root's r0", self.other_refused, tenant, "update", "Update", "r0",
                spec(AutoStart=("b", True)))
        t.check("nc-tenant cannot Destroy root's r0", self.other_refused, tenant, "destroy", "Destroy", "r0")
        t.check("nc-tenant's GetPermissions: Start, Update, Destroy yes on its own t1", self.permissions_are, tenant,
                "t1", {"Start": "yes", "Update": "yes", "Destroy": "yes"})
        # Root's container: the owners' rule does not answer, the policy's
        # default (auth_admin) does: a password would be asked, never a yes.
        t.check("nc-tenant's GetPermissions on root's r0: Start, Update, Destroy challenge (not yes)",
                self.permissions_are, tenant, "r0", {"Start": "challenge", "Update": "challenge",
                                                     "Destroy": "challenge"})
        t.check("nc-tenant2's GetPermissions on nc-tenant's t1: Start challenge", self.permissions_are, tenant2,
                "t1", {"Start": "challenge"})
        t.check("nc-tenant2 creates its own t2", self.created, tenant2, "t2", self.sok())
        t.check("nc-tenant2 starts t2", tenant2.call, "Start", "s", "t2")
        t.check("nc-tenant cannot Stop nc-tenant2's t2", self.other_refused, tenant, "stop", "Stop", "t2")
        t.check("t2 still running", probes.state_is, t, "t2", "running")
        t.check("the ninth Create of one user is refused with LimitsExceeded, nothing left", self.fill_to_cap)
        t.check("root is not capped, and stops and destroys anyone's (t2, r0)", self.root_destroys, "t2", "r0")


# ------------------------------------------------------------ scenario 4 ---
class Scenario4(Tenant):
    def scenario_4(self):
        t = self.t
        t.check("root creates with a writable bind", self.created, t.bus, "r1",
                self.sok(BindMounts=("a(ssb)", [["/host", self.shared, False]])))
        t.check("nc-allowed (granted host access) creates with tun and a writable bind", self.created,
                t.as_user(U_ALLOWED), "a1", self.sok(EnableTun=("b", True), PrivateUsers=("s", "no"),
                                                     BindMounts=("a(ssb)", [["/host", self.shared, False]])))
        t.check("tenant Destroy of its container", self.tenant.call, "Destroy", "s", "t1")
        t.check("root Destroy r1, a1", self.root_destroys, "r1", "a1")


# ----------------------------------------------------------- scenario 4b ---
class Scenario4b(Tenant):
    def swap(self, to_link):
        """MINE/d becomes a link to / (the checked directory kept aside), or the directory again."""
        d = os.path.join(self.mine, "d")
        if to_link:
            os.rename(d, f"{d}.checked")
            os.symlink("/", d)
        else:
            os.remove(d)
            os.rename(f"{d}.checked", d)

    def swapped_start_refused(self):
        d = os.path.join(self.mine, "d")
        self.tenant.expect_error("StartFailed", f"BindMounts host path '{d}' is reached through the link {d} "
                                 "beneath the confined root", "Start", "s", "t3")
        probes.state_is(self.t, "t3", "stopped")
        probes.path_absent(self.t, f"{self.t.dir}/runtime/binds/t3")

    def sees_marker(self):
        """What t3's root sees at /mnt: the checked directory, not the host's /."""
        root = f"/proc/{self.leader('t3')}/root"
        want("t3's /mnt/marker", self.out("cat", f"{root}/mnt/marker"), "tenant-data")
        probes.path_absent(self.t, f"{root}/mnt/etc/passwd")

    def pinned_in_runtime(self):
        self.t.sb("findmnt", "-n", f"{self.t.dir}/runtime/binds/t3/0")

    def pins_gone(self):
        self.tenant.call("Stop", "s", "t3")
        probes.path_absent(self.t, f"{self.t.dir}/runtime/binds/t3")
        proc = self.t.sb("findmnt", "-n", f"{self.t.dir}/runtime/binds/t3/0", check=False)
        if proc.returncode != 1 or proc.stdout:
            raise Failed(f"findmnt of the pin: exit {proc.returncode}, {proc.stdout!r}; expected exit 1, nothing")

    def confined_link_refused(self):
        """A link beneath the root is never confined, even one that stays inside."""
        os.symlink("d", os.path.join(self.mine, "inside"))
        self.refused("t3", "BindMounts", self.sok(BindMounts=("a(ssb)", [["/mnt", f"{self.mine}/inside", True]])))

    # Issue 25: a tenant's container gets the admin's tenant limits (defaults:
    # TasksMax 4096, MemoryMax 4G) when its spec says none, on its real unit,
    # and cannot raise them without host access.
    def tenant_limits_applied(self):
        self.created(self.tenant, "t4", self.sok())
        want("t4's TasksMax, MemoryMax", (self.t.bus.get("t4", "TasksMax"), self.t.bus.get("t4", "MemoryMax")),
             ("4096", "4G"))
        self.tenant.call("Start", "s", "t4")
        unit = self.out("systemctl", "show", "-p", "TasksMax", "-p", "MemoryMax", "nixos-container@t4.service")
        want("the unit's limits", dict(line.split("=", 1) for line in unit.splitlines()),
             {"TasksMax": "4096", "MemoryMax": "4294967296"})
        self.tenant.call("Destroy", "s", "t4")

    def scenario_4b(self):
        t, tenant = self.t, self.tenant
        # Issue 25: a tenant who can write beneath a confined root makes a checked
        # directory a link to / between Create and Start. (The swap is done as root
        # here: what matters is what the service hands nspawn, not who renamed.)
        os.makedirs(os.path.join(self.mine, "d"))
        with open(os.path.join(self.mine, "d", "marker"), "w", encoding="utf-8") as f:
            f.write("tenant-data\n")
        t.check(f"tenant Create t3 with a read-only bind of {self.mine}/d", self.created, tenant, "t3",
                self.sok(BindMounts=("a(ssb)", [["/mnt", f"{self.mine}/d", True]])))
        self.swap(to_link=True)
        t.check("Start after d became a link to /: StartFailed naming the link, stopped, no pin left",
                self.swapped_start_refused)
        self.swap(to_link=False)
        t.check("tenant Start t3 with d a directory again", tenant.call, "Start", "s", "t3")
        t.check("t3 sees the checked directory at /mnt", self.sees_marker)
        t.check("... through the service's pin at runtime/binds/t3/0", self.pinned_in_runtime)
        self.swap(to_link=True)
        t.check("d swapped for a link to / while t3 runs: t3 still sees the checked directory", self.sees_marker)
        self.swap(to_link=False)
        t.check("tenant Stop t3: its pins are unmounted and removed", self.pins_gone)
        t.check("tenant Destroy t3", tenant.call, "Destroy", "s", "t3")
        t.check("a read-only bind through a link beneath a confined root that stays inside -> host-access",
                self.confined_link_refused)
        t.check("a tenant's container without limits gets TasksMax 4096 and MemoryMax 4G, on its unit",
                self.tenant_limits_applied)
        t.check("TasksMax infinity -> host-access (TasksMax)", self.refused, "t4", "TasksMax",
                self.sok(TasksMax=("s", "infinity")))
        t.check("MemoryMax 8G -> host-access (MemoryMax)", self.refused, "t4", "MemoryMax",
                self.sok(MemoryMax=("s", "8G")))


# ------------------------------------------------------------ scenario 5 ---
class Scenario5(Tenant):
    def foreign(self, name, unit):
        """A machine NAME registered with machined by its own service UNIT (as another
        nspawn or a VM manager would), led by a sleep."""
        self.t.sb("systemd-run", "--quiet", f"--unit={unit}", "sleep", "600")
        pid = int(self.out("systemctl", "show", "-P", "MainPID", unit))
        if pid <= 0:
            raise Failed(f"{unit} has no MainPID")
        self.t.bus.call("RegisterMachine", "sayssus", name, [], "foreign", "container", pid, "/", **M1)

    def still_foreign(self, name, unit):
        """machined still has NAME, in UNIT."""
        path, = self.t.bus.call("GetMachine", "s", name, **M1)
        got, = self.t.bus.call("Get", "ss", M1_MACHINE, "Unit", dest=M1["dest"], path=path, iface=PROPS_IF)
        want(f"machine {name}'s Unit", got, unit)

    def create_refused(self):
        self.t.bus.expect_error("AlreadyExists", "that this service did not start runs (unit 'foreign-b.service')",
                                "Create", "sa{sv}", "fw2", self.sok())
        if os.path.lexists(self.conf("fw2")):
            raise Failed("fw2 left a conf")

    def foreign_cleanup(self):
        self.t.sb("systemctl", "stop", "foreign-a.service", "foreign-b.service")
        self.t.bus.call("Destroy", "s", "fw")

    def scenario_5(self):
        t = self.t
        t.check("root creates fw (the name is free)", self.created, t.bus, "fw", self.sok())
        t.check("machine fw registered by foreign-a.service", self.foreign, "fw", "foreign-a.service")
        t.check("machine fw2 registered by foreign-b.service", self.foreign, "fw2", "foreign-b.service")
        t.check("Create of fw2 -> AlreadyExists naming foreign-b.service, nothing left", self.create_refused)
        t.check("Start of fw -> StartFailed naming foreign-a.service", t.bus.expect_error, "StartFailed",
                "did not start runs (unit 'foreign-a.service')", "Start", "s", "fw")
        t.check("machine fw still runs in foreign-a.service", self.still_foreign, "fw", "foreign-a.service")
        t.check("Terminate of fw answers", t.bus.call, "Terminate", "s", "fw")
        t.check("machine fw still runs in foreign-a.service after the Terminate", self.still_foreign, "fw",
                "foreign-a.service")
        t.check("fw is stopped", probes.state_is, t, "fw", "stopped")
        t.check("cleanup: the foreign units stop, root destroys fw", self.foreign_cleanup)


# ------------------------------------------------------------ scenario 6 ---
class Scenario6(Tenant):
    def tenant_runs(self, name):
        """The tenant's Run of a shell prints uid 0's host uid: that of NAME's user namespace."""
        out_path = os.path.join(self.t.work, "enter.out")
        proc = self.nc_run_proc(U_TENANT, "--no-interactive", name, f"{self.ok}/bin/sh", "-c",
                                'read -r i b c </proc/self/uid_map; echo "uid 0 = $b"', out_path=out_path)
        self.ran(proc)
        want(f"{name}: what the Run printed", self.read_out(out_path), f"uid 0 = {self.base(name)}")

    def root_runs_as_host_root(self):
        out_path = os.path.join(self.t.work, "enter.out")
        self.ran(self.nc_run_proc(0, "rhost", f"{self.ok}/bin/cat", "/proc/self/uid_map", out_path=out_path))
        want("root's Run in rhost: its uid_map", self.read_out(out_path).split(), ["0", "0", "4294967295"])

    def tenant_run_refused(self, name):
        proc = self.nc_run_proc(U_TENANT, "--no-interactive", name, f"{self.ok}/bin/id")
        self.run_error(proc, IAR, f"{HOST_ACCESS} (run '{name}' with PrivateUsers)")

    def reload_refused(self):
        before = len(self.switch_lines("rhost"))
        self.tenant.expect_error(IAR, f"{HOST_ACCESS} (reload 'rhost' with PrivateUsers)", "Reload", "s", "rhost")
        want("switch-to-configuration runs in rhost after the refused Reload", len(self.switch_lines("rhost")),
             before)

    def root_pair(self, method, a_spec=None):
        if method == "Create":
            self.created(self.t.bus, "rhost", self.sok())
            self.created(self.t.bus, "rns", self.sok(PrivateUsers=("s", "pick")))
        else:
            for name in ("rhost", "rns"):
                self.t.bus.call(method, "s", name)

    def scenario_6a(self):
        t = self.t
        # A rule as an admin might write it: nc-tenant may run commands, shells and
        # logins in, and manage, two of root's containers. Host access stays with
        # its default. polkitd reloads its rules when the directory changes.
        with open(self.enter_rule, "w", encoding="utf-8") as f:
            f.write(ENTER_RULE_TEXT)
        os.chmod(self.enter_rule, 0o644)
        t.check("root creates rhost (PrivateUsers no, root's default) and rns (PrivateUsers pick)",
                self.root_pair, "Create")
        t.check("root starts both", self.root_pair, "Start")
        t.check("rhost runs without a user namespace (PrivateUsers no)", self.users_of, "rhost", "no")
        t.check("rns runs in a user namespace nspawn picked (PrivateUsers pick)", self.users_of, "rns", "pick")
        t.check("the rule is loaded: the tenant's Run in rns runs, as a uid of rns's user namespace",
                t.poll, 10000, self.tenant_runs, "rns")
        t.check("control: a Run in rhost is the host's root (uid_map 0 0 4294967295)", self.root_runs_as_host_root)

    def scenario_6b(self):
        t, tenant = self.t, self.tenant
        t.check("the tenant's Run in rhost -> host-access (PrivateUsers)", self.tenant_run_refused, "rhost")
        t.check("the tenant's OpenShell in rhost -> host-access (PrivateUsers)", tenant.expect_error, IAR,
                f"{HOST_ACCESS} (shell 'rhost' with PrivateUsers)", "OpenShell", "sssasas", "rhost", "",
                f"{self.ok}/bin/sh", [], [])
        t.check("the tenant's OpenLogin in rhost -> host-access (PrivateUsers)", tenant.expect_error, IAR,
                f"{HOST_ACCESS} (login 'rhost' with PrivateUsers)", "OpenLogin", "s", "rhost")
        t.check("the tenant's Reload of rhost -> host-access (PrivateUsers), switch-to-configuration not run",
                self.reload_refused)
        # Past polkit, a payload without systemd has no bus for machined's terminal.
        t.check("the tenant's OpenLogin in rns passes polkit (NoSystemBus: the payload has no systemd)",
                tenant.expect_error, "NoSystemBus", "", "OpenLogin", "s", "rns")
        t.check("the tenant's Reload of rns", tenant.call, "Reload", "s", "rns")
        t.check("... ran in rns's user namespace", self.reload_confined, "rns")
        t.check("the tenant stops rhost (manage does not enter)", tenant.call, "Stop", "s", "rhost")
        os.remove(self.enter_rule)
        t.check("cleanup: root destroys rhost and rns", self.root_destroys, "rhost", "rns")


# ------------------------------------------------------------ scenario 7 ---
class Scenario7(Tenant):
    def bounds_env(self, on):
        """The service restarted with or without the low bounds."""
        if on:
            with open(self.run_bounds, "w", encoding="utf-8") as f:
                f.write("[Service]\nEnvironment=NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2\n"
                        "Environment=NIXOS_CONTAINERS_MAX_RUNS=3\n")
        else:
            os.remove(self.run_bounds)
        self.t.sb("systemctl", "daemon-reload")
        self.t.sb("systemctl", "restart", SVC)
        self.t.poll(10000, self.t.bus.call, "List")
        env = self.out("systemctl", "show", "-P", "Environment", SVC).split()
        for var in ("NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2", "NIXOS_CONTAINERS_MAX_RUNS=3"):
            if (var in env) != on:
                raise Failed(f"the service's Environment {'lacks' if on else 'still has'} {var}: {env}")

    def own_up(self, bus, name):
        self.created(bus, name, self.sok())
        bus.call("Start", "s", name)

    def sleeper(self, uid, name):
        """A Run of sleep 8 in NAME as uid, in the background; its client's output kept."""
        out = open(os.path.join(self.t.work, f"sleeper-{len(self.sleepers) + 1}.out"), "w", encoding="utf-8")
        argv = [SANDBOX, "exec", self.t.dir, "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                self.nc_run, "--no-interactive", name, f"{self.ok}/bin/sleep", "8"]
        self.sleepers.append((subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                               stderr=subprocess.STDOUT), out))

    def sleeping(self, n):
        """N of the payload's "sleep 8" run in the sandbox (pgrep: 1 = none)."""
        proc = self.t.sb("pgrep", "-c", "-f", f"^{self.ok}/bin/sleep 8$", check=False)
        if proc.returncode > 1:
            raise Failed(f"pgrep: exit {proc.returncode}: {proc.stderr}")
        want("the sleeps running", int(proc.stdout.strip() or 0), n)

    def run_answer(self, uid, name):
        """The reply or error of a Run of true in NAME as UID."""
        opts = ["--no-interactive"] if uid else []
        return self.nc_run_proc(uid, *opts, name, f"{self.ok}/bin/true")

    def run_limited(self, uid, name, message):
        self.run_error(self.run_answer(uid, name), ERR + "LimitsExceeded", message)

    def run_runs(self, uid, name):
        self.ran(self.run_answer(uid, name))

    def sleeps_ended(self):
        """The sleepers' Runs ended, each with "ii 0 0"; then nc-tenant runs again."""
        for proc, out in self.sleepers:
            proc.wait(timeout=30)
            out.close()
            with open(out.name, encoding="utf-8") as f:
                want(f"{out.name}: the sleeper's client", (proc.returncode, f.read().rstrip("\n")), (0, "ii 0 0"))
        self.sleepers = []
        self.run_runs(U_TENANT, "t7")

    def scenario_7a(self):
        t = self.t
        t.check("the service restarted with NIXOS_CONTAINERS_MAX_RUNS_PER_USER=2, NIXOS_CONTAINERS_MAX_RUNS=3",
                self.bounds_env, True)
        t.check("nc-tenant creates and starts t7", self.own_up, self.tenant, "t7")
        t.check("nc-tenant2 creates and starts t8", self.own_up, self.tenant2, "t8")
        t.check("root creates and starts r7", self.own_up, t.bus, "r7")
        self.sleeper(U_TENANT, "t7")
        self.sleeper(U_TENANT, "t7")
        t.check("nc-tenant holds two Runs (sleep 8 in t7)", t.poll, 10000, self.sleeping, 2)
        t.check("nc-tenant's third Run -> LimitsExceeded (its bound, 2)", self.run_limited, U_TENANT, "t7",
                f"uid {U_TENANT} has 2 commands running")
        t.check("nc-tenant2's Run in t8 still runs (the bound is per user)", self.run_runs, U_TENANT2, "t8")
        self.sleeper(U_TENANT2, "t8")
        t.check("nc-tenant2 holds a Run: three of users' in all", t.poll, 10000, self.sleeping, 3)

    def scenario_7b(self):
        t = self.t
        t.check("nc-tenant2's second Run -> LimitsExceeded (three in all)", self.run_limited, U_TENANT2, "t8",
                "3 commands are running")
        t.check("root's Run in r7 runs all the same", self.run_runs, 0, "r7")
        t.check("root's Run in nc-tenant's t7 too", self.run_runs, 0, "t7")
        t.check("the sleeps ended; nc-tenant runs again", self.sleeps_ended)
        t.check("the service restarted without the low bounds", self.bounds_env, False)
        t.check("cleanup: t7, t8, r7 destroyed", self.root_destroys, "t7", "t8", "r7")


class TenantTier(Scenario0, Scenario1, Scenario2, Scenario3, Scenario4, Scenario4b, Scenario5, Scenario6,
                 Scenario7):
    def __init__(self, t):
        super().__init__(t)
        self.enter_rule = os.path.join(t.dir, "polkit", "etc-rules.d", "20-nixos-containers-tenant-enters.rules")
        # Low bounds for scenario 7: two commands per user, three of users in all.
        self.run_bounds = os.path.join(t.dir, "units", "nixos-containers.service.d", "zz-run-bounds.conf")


def body(t):
    c = TenantTier(t)
    with t.scenario("0  sandbox up, payload"):
        c.scenario_0()
    with t.scenario("1  positive control: a delegated user's confined container"):
        c.scenario_1a()
        c.scenario_1b()
    with t.scenario("2  every host-reaching spec needs host access"):
        c.scenario_2a()
        c.scenario_2b()
    with t.scenario("3  ownership: a delegated user manages what it created, nothing else"):
        c.scenario_3()
    with t.scenario("4  root, and a user granted host access, still can"):
        c.scenario_4()
    with t.scenario("4b a confined bind is what was checked, when nspawn mounts it"):
        c.scenario_4b()
    with t.scenario("5  a machine this service did not start is left alone"):
        c.scenario_5()
    with t.scenario("6  entering a container without a user namespace is host access"):
        c.scenario_6a()
        c.scenario_6b()
    with t.scenario("7  Run slots: per user, never root's (issue 25, item 7)"):
        c.scenario_7a()
        c.scenario_7b()


if __name__ == "__main__":
    Tier("tenant").run(body)
