"""probes.py: what the sandbox holds, read so that "absent" means absent.

"X is absent" counts only when the probe is shown to work: each listing
below must succeed and must list an item known to be there (machined's
".host", the link "lo", the unit dbus.service, List's witness), or it
raises Failed instead of returning a list that proves nothing.
"""
import json

from .bus import BusError
from .failed import Failed

MACHINED = ("org.freedesktop.machine1", "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager")


def machine_names(t):
    try:
        machines = t.bus.call("ListMachines", dest=MACHINED[0], path=MACHINED[1], iface=MACHINED[2])[0]
    except BusError as error:
        raise Failed(f"cannot list machines (machined): {error}") from None
    names = [m[0] for m in machines]
    if ".host" not in names:
        raise Failed(f"ListMachines does not show .host: {names}")
    return names


def link_names(t):
    """Every link name and altname in the sandbox's network namespace."""
    links = json.loads(t.sb("ip", "-j", "link", "show").stdout)
    names = [n for link in links for n in [link["ifname"], *link.get("altnames", [])]]
    if "lo" not in names:
        raise Failed("ip link does not show lo")
    return names


def unit_names(t):
    out = t.sb("systemctl", "list-units", "--all", "--no-legend", "--plain", "--full").stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    if "dbus.service" not in names:
        raise Failed("systemctl list-units does not show dbus.service")
    return names


def container_names(t, witness=None):
    """The names List gives; with a witness (a container the tier keeps), List must show it."""
    try:
        names = [row[0] for row in t.bus.call("List")[0]]
    except BusError as error:
        raise Failed(f"cannot read List: {error}") from None
    if witness and witness not in names:
        raise Failed(f"List does not show the witness {witness}: {names}")
    return names


def _absent(what, item, names):
    if item in names:
        raise Failed(f"{item} is still in {what}: {names}")


def machine_absent(t, name):
    _absent("machined's machines", name, machine_names(t))


def link_absent(t, *names):
    links = link_names(t)
    for name in names:
        _absent("the sandbox's links", name, links)


def unit_absent(t, name):
    _absent("the loaded units", f"nixos-container@{name}.service", unit_names(t))


def not_listed(t, name, witness=None):
    _absent("List", name, container_names(t, witness))


def path_absent(t, path):
    """No path inside the sandbox (and the probe ran there)."""
    out = t.sb("sh", "-c", 'if [ -e "$1" ]; then echo present; else echo absent; fi', "sh", path).stdout.strip()
    if out == "present":
        raise Failed(f"{path} exists in the sandbox")
    if out != "absent":
        raise Failed(f"cannot probe {path} in the sandbox: {out!r}")


def unit_state(t, unit, *states):
    """The unit's ActiveState, read by a systemctl that answered, is one of states."""
    out = t.sb("systemctl", "show", "-P", "ActiveState", unit).stdout.strip()
    if not out:
        raise Failed(f"cannot read ActiveState of {unit}")
    if out not in states:
        raise Failed(f"{unit} is {out}, expected one of: {' '.join(states)}")


def state_is(t, name, state):
    got = t.bus.get(name, "State")
    if got != state:
        raise Failed(f"State of {name} is {got!r}, expected {state!r}")


def service_pid(t):
    return int(t.sb("systemctl", "show", "-P", "MainPID", "nixos-containers.service").stdout.strip() or 0)



def kill_service(t, within_ms=15000):
    """SIGKILL the service; a new instance (Restart=on-failure) answers on the bus within within_ms."""
    old = service_pid(t)
    if old <= 0:
        raise Failed(f"service not running (MainPID {old})")
    t.sb("systemctl", "kill", "-s", "KILL", "nixos-containers.service")

    def restarted():
        pid = service_pid(t)
        if pid in (0, old):
            raise Failed(f"MainPID is {pid} (before the kill: {old})")
        t.bus.call("List")

    try:
        t.poll(within_ms, restarted)
    except Failed as why:
        status = t.sb("systemctl", "status", "--no-pager", "nixos-containers.service", check=False).stdout
        raise Failed(f"the service did not come back: {why}\n{status}") from None
    t.note(f"service pid {old} -> {service_pid(t)}")
