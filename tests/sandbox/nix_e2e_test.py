#!/usr/bin/env python3
"""nix_e2e_test.py: builds with real Nix (Debian's nix-bin, offline) in the
sandbox: the service's nix-env and nix build against the tests' stand-in
nixpkgs (tests/sandbox/payload/nixpkgs), the store bound at /nix.

  0  sandbox up; the payload is a valid path of the real store, no stand-in
     for Nix anywhere
  1  Config: built, started, rebuilt by Update (a generation per build),
     rolled back (nix-env agrees)
  2  build failures: Nix's own message in BuildFailed, nothing changed
  3  ConfigFile; NixosPath (another <nixpkgs/nixos> for one container); a
     Flake without #attr (nixosConfigurations.container) whose nixpkgs
     input only the pass-through --override-input supplies
  4  a container nixos-container made (profile by nix-env by hand, no
     source in its conf): Update rebuilds it from etc/nixos/configuration.nix
  5  nix-store --gc keeps every running and profiled system (a stopped
     SystemPath one rooted only by the service's own generation links too) and
     collects garbage; Destroy frees a container's systems for the next gc

Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
the exit status is non-zero when M > 0. Harness: sandboxlib/harness.py.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandboxlib import Tier, Failed, probes, spec  # noqa: E402

SVC = "nixos-containers.service"
C1 = "cfg"
LEGACY = "legacy"


class Nix:
    """The tier's helpers (the bash script's functions)."""

    def __init__(self, t):
        self.t = t

    def nix(self, *argv, check=True):
        """A Nix command inside the sandbox, as root, with the sandbox's nix.conf (offline),
        home and cache: what the service's builds run with."""
        with open(os.path.join(self.t.dir, "nix-environment"), encoding="utf-8") as f:
            env = f.read().split()
        return self.t.sb("env", *env, *argv, check=check)

    def create_from(self, name, key, value):
        """Create NAME with one string key: Config, ConfigFile or Flake."""
        return self.t.bus.call("Create", "sa{sv}", name, spec(**{key: ("s", value)}))

    def system_of(self, name):
        return self.t.bus.get(name, "SystemPath")

    def message_of(self, system):
        with open(os.path.join(self.t.dir, "store", system.removeprefix("/nix/store/"), "message"),
                  encoding="utf-8") as f:
            return f.read().rstrip("\n")

    def message_is(self, name, text):
        """NAME's SystemPath is a built system (a store path) whose message is text."""
        system = self.system_of(name)
        if not re.fullmatch(r"/nix/store/.+-nixos-system-.*", system):
            raise Failed(f"SystemPath {system!r} is not a built system")
        got = self.message_of(system)
        if got != text:
            raise Failed(f"message {got!r}, expected {text!r}")

    def system_named(self, name, host):
        system = self.system_of(name)
        if not re.fullmatch(r"/nix/store/.*-nixos-system-" + re.escape(host), system):
            raise Failed(f"SystemPath {system!r}, expected /nix/store/*-nixos-system-{host}")

    def valid_path(self, path):
        self.nix("nix-store", "--check-validity", path)

    def in_store(self, path):
        self.t.sb("test", "-e", path)

    def not_in_store(self, path):
        """Gone from the store, and the probe sees the store."""
        if self.t.sb("test", "-d", "/nix/store", check=False).returncode != 0:
            raise Failed("no /nix/store in the sandbox")
        probes.path_absent(self.t, path)

    def generations_are(self, name, want):
        """The Generations property as [(number, current)...], in that order."""
        got = [(g[0], bool(g[3])) for g in self.t.bus.get(name, "Generations")]
        if got != want:
            raise Failed(f"Generations of {name}: {got}, expected {want}")

    def nix_generations_are(self, profile, want):
        """Nix's own list of the profile's generations, as generations_are reads them."""
        out = self.nix("nix-env", "-p", profile, "--list-generations").stdout
        got = [(int(line.split()[0]), line.split()[-1] == "(current)") for line in out.splitlines() if line.strip()]
        if got != want:
            raise Failed(f"nix-env --list-generations: {got}, expected {want}\n{out}")

    def leader_is(self, name, pid):
        got = self.t.bus.get(name, "Leader")
        if not isinstance(pid, int) or pid <= 0 or got != pid:
            raise Failed(f"Leader {got!r}, expected {pid!r}")

    @staticmethod
    def profile_of(name):
        return f"/nix/var/nix/profiles/per-container/{name}/system"


def service_nix(t):
    env = t.sb("systemctl", "show", "-P", "Environment", SVC).stdout.split()
    bins = [w.removeprefix("NIXOS_CONTAINERS_NIX_BIN_DIR=") for w in env
            if w.startswith("NIXOS_CONTAINERS_NIX_BIN_DIR=")]
    if bins != ["/usr/bin"]:
        raise Failed(f"NIXOS_CONTAINERS_NIX_BIN_DIR is {bins}, expected ['/usr/bin']")
    # Debian's programs, not scripts: each one belongs to nix-bin.
    for program in ("nix", "nix-env", "nix-store"):
        out = subprocess.run(["dpkg", "-S", f"/usr/bin/{program}"], capture_output=True, text=True).stdout
        if f"nix-bin: /usr/bin/{program}" not in out.splitlines():
            raise Failed(f"/usr/bin/{program} is not nix-bin's: {out!r}")
    if os.path.lexists(os.path.join(t.dir, "nix-bin")):
        raise Failed(f"a stand-in directory {t.dir}/nix-bin exists")


def scenario0(t, n):
    with t.scenario("0  sandbox up; the payload is a real store path; no stand-in for Nix"):
        t.up()
        n.ok = t.make_system("nixok")
        t.check("make-system's system is a valid path of the sandbox's store", n.valid_path, n.ok)
        t.check("the store is DIR/nix, bound at /nix in the sandbox", t.sb, "test", "-x", f"{n.ok}/init")
        t.check("the service's nix, nix-env and nix-store are nix-bin's own; no stand-in exists", service_nix, t)


def scenario1(t, n):
    with t.scenario("1  Config: build, start, a generation per build, Rollback"):
        t.check(f"Create {C1} from Config (real nix-env against the stand-in <nixpkgs/nixos>)",
                n.create_from, C1, "Config", 'payload.message = "first";')
        t.check(f"{C1} runs the system Nix built, with the Config's message", n.message_is, C1, "first")
        n.f1 = n.system_of(C1)
        t.check(f"{C1}'s system is a valid store path", n.valid_path, n.f1)
        t.check("Generations: 1, current", n.generations_are, C1, [(1, True)])
        t.check(f"Start {C1}", t.bus.call, "Start", "s", C1)
        t.check(f"{C1} running", probes.state_is, t, C1, "running")
        l1 = t.bus.get(C1, "Leader")
        t.check(f"Update {C1} with a new Config", t.bus.call, "Update", "sa{sv}", C1,
                spec(Config=("s", 'payload.message = "second";')))
        t.check(f"{C1} now has the second system", n.message_is, C1, "second")
        n.f2 = n.system_of(C1)
        t.check("Generations: 1, 2 (current): the profile gained one per build", n.generations_are, C1,
                [(1, False), (2, True)])
        t.check(f"nix-env sees the same generations in {C1}'s profile", n.nix_generations_are, n.profile_of(C1),
                [(1, False), (2, True)])
        t.check(f"Rollback {C1}", t.bus.call, "Rollback", "s", C1)
        t.check("after Rollback: the first system again", n.message_is, C1, "first")
        t.check("after Rollback: generation 1 is current", n.generations_are, C1, [(1, True), (2, False)])
        t.check("after Rollback: nix-env agrees", n.nix_generations_are, n.profile_of(C1), [(1, True), (2, False)])
        t.check(f"after Rollback: {C1} reloaded, not restarted (Leader {l1})", n.leader_is, C1, l1)


def scenario2(t, n):
    with t.scenario("2  build failures carry Nix's own message and change nothing"):
        t.check("Create bad from a Config with an undefined variable -> BuildFailed, Nix's message",
                t.bus.expect_error, "BuildFailed", "undefined variable 'nonsense'", "Create", "sa{sv}", "bad",
                spec(Config=("s", "payload.message = nonsense;")))
        t.check("no container 'bad' is left", probes.not_listed, t, "bad", C1)
        t.check("no profile for 'bad' is left", probes.path_absent, t, f"{t.dir}/profiles/bad")
        failing = spec(Config=("s", "payload.fail = true;"))
        t.check(f"Update {C1} with a Config whose builder fails -> BuildFailed, Nix's message",
                t.bus.expect_error, "BuildFailed", "payload.fail is set", "Update", "sa{sv}", C1, failing)
        t.check("... and Nix's own line about the builder",
                t.bus.expect_error, "BuildFailed", "failed with exit code 1", "Update", "sa{sv}", C1, failing)
        t.check("after the failed Updates: still the first system", n.message_is, C1, "first")
        t.check("after the failed Updates: generations unchanged", n.generations_are, C1, [(1, True), (2, False)])


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


FLAKE_NIX = """{
  inputs.nixpkgs.url = "path:DIR/no-such-nixpkgs";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.container = nixpkgs.lib.nixosSystem {
      modules = [ ({ ... }: { payload.message = "from the flake"; }) ];
    };
    nixosConfigurations.other = nixpkgs.lib.nixosSystem {
      modules = [ { payload.message = "the other one"; } ];
    };
  };
}
"""


def scenario3_file_and_nixos_path(t, n):
    nixdir = os.path.join(t.work, "nix")
    write(f"{nixdir}/file.nix", '{ config, lib, pkgs, ... }: {\n  networking.hostName = "fromfile";\n'
                                '  payload.message = "from a file";\n}\n')
    t.check("Create file from ConfigFile", n.create_from, "file", "ConfigFile", f"{nixdir}/file.nix")
    t.check("file runs nixos-system-fromfile, with the file's message", n.message_is, "file", "from a file")
    # NixosPath: another <nixpkgs/nixos> for this container alone (nixos-container
    # --nixos-path), here one that adds a module naming the system.
    write(f"{nixdir}/other-nixos/default.nix",
          '{ configuration ? <nixos-config>, system ? "x86_64-linux" }:\n'
          f'import {t.dir}/nixpkgs/nixos/eval.nix '
          '{ modules = [ configuration { networking.hostName = "othernixos"; } ]; }\n')
    t.check("Create alt from Config with NixosPath (nix-env -f that directory)", t.bus.call, "Create", "sa{sv}",
            "alt", spec(Config=("s", 'payload.message = "alt";'), NixosPath=("s", f"{nixdir}/other-nixos")))
    t.check("alt was built by the NixosPath's nixos (nixos-system-othernixos, not -alt)",
            n.system_named, "alt", "othernixos")
    t.check("Destroy alt", t.bus.call, "Destroy", "s", "alt")


def scenario3(t, n):
    with t.scenario("3  ConfigFile; a Flake (nixosConfigurations.container, --override-input)"):
        scenario3_file_and_nixos_path(t, n)
        flake = os.path.join(t.work, "nix", "flake")
        # Its nixpkgs input does not exist: only the pass-through flag makes it build.
        write(f"{flake}/flake.nix", FLAKE_NIX.replace("DIR", t.dir))
        flags = ("as", ["--override-input", "nixpkgs", f"path:{t.dir}/nixpkgs"])
        t.check("Create flk from Flake without NixFlags -> BuildFailed, Nix names the missing input",
                t.bus.expect_error, "BuildFailed", "no-such-nixpkgs", "Create", "sa{sv}", "flk",
                spec(Flake=("s", flake)))
        t.check("Create flk from Flake without #attr, NixFlags --override-input nixpkgs path:DIR/nixpkgs",
                t.bus.call, "Create", "sa{sv}", "flk", spec(Flake=("s", flake), NixFlags=flags))
        t.check("flk built nixosConfigurations.container", n.message_is, "flk", "from the flake")
        t.check("Generations of flk: 1, current (nix build --profile)", n.generations_are, "flk", [(1, True)])
        t.check("Create flk2 from Flake #other", t.bus.call, "Create", "sa{sv}", "flk2",
                spec(Flake=("s", f"{flake}#other"), NixFlags=flags))
        t.check("flk2 built nixosConfigurations.other", n.message_is, "flk2", "the other one")


def legacy_by_hand(t, n, config):
    """nixos-container create's way: the profile by nix-env, the module in the container's
    etc/nixos, a conf that names no source; then a service restart."""
    t.sb("mkdir", "-p", "-m", "0700", f"/nix/var/nix/profiles/per-container/{LEGACY}")
    n.nix("nix-env", "-p", n.profile_of(LEGACY), "-I", f"nixos-config={config}", "-f", f"{t.dir}/nixpkgs/nixos",
          "--set", "-A", "system")
    write(f"{t.dir}/etc-containers/{LEGACY}.conf",
          "PRIVATE_NETWORK=0\nHOST_ADDRESS=\nLOCAL_ADDRESS=\nHOST_BRIDGE=\nHOST_PORT=\nAUTO_START=0\n")
    t.sb("systemctl", "restart", SVC)
    t.poll(10000, t.bus.call, "List")


def same_system(n, name, want):
    got = n.system_of(name)
    if got != want:
        raise Failed(f"SystemPath of {name} is {got!r}, expected {want!r}")


def scenario4(t, n):
    with t.scenario("4  a container nixos-container made: Update rebuilds its configuration.nix"):
        config = os.path.join(t.dir, "state", LEGACY, "etc", "nixos", "configuration.nix")
        write(config, '{ ... }: { payload.message = "old tool"; }\n')
        t.check("nixos-container's way by hand: nix-env -p ... --set -A system, the conf, a service restart",
                legacy_by_hand, t, n, config)
        lsys = t.sb("readlink", "-f", n.profile_of(LEGACY)).stdout.strip()
        t.check(f"the service lists {LEGACY}, running what its profile points at", same_system, n, LEGACY, lsys)
        write(config, '{ ... }: { payload.message = "old tool, updated"; }\n')
        t.check(f"Update {LEGACY} naming no key rebuilds it from etc/nixos/configuration.nix",
                t.bus.call, "Update", "sa{sv}", LEGACY, {})
        t.check(f"{LEGACY} has the updated system", n.message_is, LEGACY, "old tool, updated")
        t.check(f"Generations of {LEGACY}: 1 (by hand), 2 (the service's build, current)",
                n.generations_are, LEGACY, [(1, False), (2, True)])


def scenario5_gc(t, n):
    write(os.path.join(t.work, "garbage", "file"), "nobody roots this\n")
    g1 = n.nix("nix-store", "--add", os.path.join(t.work, "garbage")).stdout.strip()
    t.check(f"an unrooted path was added: {g1}", n.valid_path, g1)
    # A stopped SystemPath container: nix-env did not make its profile, and no
    # process runs from its system (the gc keeps what running processes use),
    # so only the service's own generation links root it. Its payload's own
    # root goes.
    sp = t.make_system("gcsys")
    root = os.path.join(t.dir, "nix", "var", "nix", "gcroots", "sandbox-payloads", "gcsys")
    if os.path.lexists(root):
        os.unlink(root)
    t.check(f"Create sp from SystemPath {sp} (a path nothing else roots), not started",
            t.bus.call, "Create", "sa{sv}", "sp", spec(SystemPath=("s", sp)))
    t.check("nix-store --gc", n.nix, "nix-store", "--gc")
    t.check("the unrooted path is collected (the gc did collect)", n.not_in_store, g1)
    t.check(f"{C1}'s running system survives: valid", n.valid_path, n.f1)
    t.check(f"{C1}'s running system survives: its init is there", n.in_store, f"{n.f1}/init")
    t.check(f"{C1} still running", probes.state_is, t, C1, "running")
    t.check(f"{C1}'s other generation survives", n.valid_path, n.f2)
    t.check("the Flake's system survives", lambda: n.valid_path(n.system_of("flk")))
    t.check("stopped sp's system survives, rooted by the service's own generation links", n.valid_path, sp)
    t.check("... and sp starts from it", t.bus.call, "Start", "s", "sp")


def nothing_listed(t):
    names = probes.container_names(t)
    if names:
        raise Failed(f"List shows {names}, expected none")


def scenario5(t, n):
    with t.scenario("5  nix-store --gc keeps what runs and what profiles hold; Destroy frees"):
        scenario5_gc(t, n)
        g2 = n.system_of("file")
        t.check("Destroy file", t.bus.call, "Destroy", "s", "file")
        t.check(f"Destroy {C1} (running)", t.bus.call, "Destroy", "s", C1)
        t.check(f"after Destroy: {C1}'s profile is gone", probes.path_absent, t, f"{t.dir}/profiles/{C1}")
        t.check("nix-store --gc", n.nix, "nix-store", "--gc")
        t.check("Destroy freed file's system", n.not_in_store, g2)
        t.check(f"Destroy freed {C1}'s first system", n.not_in_store, n.f1)
        t.check(f"Destroy freed {C1}'s second system", n.not_in_store, n.f2)
        t.check("the Flake's system is still kept by its profile", lambda: n.valid_path(n.system_of("flk")))
        for name in ("flk", "flk2", LEGACY, "sp"):
            t.check(f"Destroy {name}", t.bus.call, "Destroy", "s", name)
        t.check("nothing is listed after the Destroys", nothing_listed, t)


def body(t):
    n = Nix(t)
    scenario0(t, n)
    scenario1(t, n)
    scenario2(t, n)
    scenario3(t, n)
    scenario4(t, n)
    scenario5(t, n)


if __name__ == "__main__":
    Tier("nix").run(body)
