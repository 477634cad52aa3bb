"""browser.py: what the browser tiers share: one cockpit-ws per test user on
the sandbox's loopback, each with --local-session pointing at a wrapper that
runs cockpit-bridge as that user (so every call the page makes reaches polkitd
as that user), and a scenario file of tests/browser run in chromium against it."""
import contextlib
import os
import shutil
import subprocess

from .bus import BusError
from .failed import Failed
from .harness import REPO, U_ALLOWED, U_CHALLENGED, U_DENIED, U_TENANT

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
BUILD_DIR = os.environ.get("NIXOS_CONTAINERS_BUILD_DIR", os.path.join(REPO, "build"))
SCREENSHOTS = os.environ.get("BROWSER_SCREENSHOTS", os.path.join(BUILD_DIR, "browser-screenshots"))
# Ports on the sandbox's own loopback, one cockpit-ws per user.
PORT = {"allowed": 9091, "denied": 9092, "challenged": 9093, "tenant": 9094}
USER_ID = {"allowed": U_ALLOWED, "denied": U_DENIED, "challenged": U_CHALLENGED, "tenant": U_TENANT}
MISSING = "/nix/store/00000000000000000000000000000000-missing-system"


class Browser:
    """`scenarios`: the file of tests/browser whose scenarios page() runs."""

    def __init__(self, t, scenarios="page_scenarios.mjs"):
        self.t = t
        self.scenarios = scenarios

    @contextlib.contextmanager
    def cockpit_ws(self, user):
        """A cockpit-ws of its own serving `user`, as a fresh login would (a local
        session ends once no page has been connected for a while, and cannot log in again)."""
        t, unit = self.t, f"nc-cockpit-{user}"
        t.sb("systemd-run", "--quiet", "--collect", f"--unit={unit}", "/usr/lib/cockpit/cockpit-ws",
             "--address=127.0.0.1", f"--port={PORT[user]}", f"--local-session={t.work}/bridge-{user}")
        try:
            manifest = f"http://127.0.0.1:{PORT[user]}/cockpit/@localhost/nixos-containers/manifest.json"
            try:
                t.poll(10000, t.sb, "curl", "-sf", "-o", "/dev/null", manifest)
            except Failed as why:
                raise Failed(f"cockpit-ws for nc-{user} does not serve the page's manifest: {why}") from None
            yield
        finally:
            t.sb("systemctl", "stop", unit)

    def serves(self, user):
        with self.cockpit_ws(user):
            pass

    def page(self, scenario, user, *args, env=()):
        """The scenario in chromium, as `user`'s Cockpit."""
        with self.cockpit_ws(user):
            self.t.sb("env", f"HOME={self.t.work}/browser-home", f"SCREENSHOT_DIR={SCREENSHOTS}", *env, "node",
                      os.path.join(BROWSER_DIR, self.scenarios), scenario, str(PORT[user]), *args)

    def gone(self, name):
        """No object, no conf, no root."""
        t = self.t
        try:
            t.bus.call("GetContainer", "s", name)
            raise Failed(f"{name} still has an object")
        except BusError as error:
            if error.name != "org.nixos.Containers.Error.NoSuchContainer":
                raise
        for path in (f"{t.dir}/etc-containers/{name}.conf", f"{t.dir}/state/{name}"):
            if os.path.lexists(path):
                raise Failed(f"{name} left {path}")

    def prepare(self):
        """The sandbox's DIR is root's alone: the bridges, which serve the page as their
        users, read a copy of what was installed, and run a copy of the CLI."""
        t = self.t
        installed = f"{t.dir}/prefix/share/cockpit/nixos-containers"
        os.chmod(t.work, 0o711)
        for sub in ("share/cockpit", "bin", "browser-home"):
            os.makedirs(f"{t.work}/{sub}", exist_ok=True)
        shutil.copytree(installed, f"{t.work}/share/cockpit/nixos-containers")
        shutil.copy(f"{t.dir}/prefix/bin/nixos-container", f"{t.work}/bin/nixos-container")
        subprocess.run(["chmod", "-R", "a+rX", f"{t.work}/share", f"{t.work}/bin"], check=True)
        for user, uid in USER_ID.items():
            home = f"{t.work}/home-{user}"
            os.makedirs(home, exist_ok=True)
            os.chown(home, uid, uid)
            with open(f"{t.work}/bridge-{user}", "w", encoding="utf-8") as bridge:
                bridge.write(f"""#!/bin/sh
# cockpit-ws's local session for nc-{user}: its bridge, as that user.
exec setpriv --reuid={uid} --regid={uid} --init-groups env -i HOME={home} \\
    PATH={t.work}/bin:/usr/bin:/bin XDG_DATA_DIRS={t.work}/share:/usr/share /usr/bin/cockpit-bridge
""")
            os.chmod(f"{t.work}/bridge-{user}", 0o755)


def tools_present(t):
    for tool in ("node", "/usr/bin/chromium", "/usr/lib/cockpit/cockpit-ws", "/usr/bin/cockpit-bridge"):
        if shutil.which(tool) is None:
            t.fail(f"{tool} is missing (scripts/install-deps.sh installs it)")
            t.finish(aborted=True)
    # playwright-core 1.64 (tests/browser/package-lock.json) needs Node.js 20 or newer;
    # Debian 12's own nodejs is 18: say so, rather than fail inside playwright.
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        t.fail(f"Node.js {version} is too old: playwright-core 1.64 needs 20 or newer")
        t.finish(aborted=True)
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        t.fail("playwright-core is missing: (cd tests/browser && npm ci)")
        t.finish(aborted=True)
