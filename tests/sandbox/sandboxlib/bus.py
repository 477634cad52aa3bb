"""bus.py: the tiers' D-Bus client, typed, through bus_agent.py inside the sandbox.

    bus = tier.bus                      # root; tier.as_user(uid) for a test user
    path, = bus.call("Create", "sa{sv}", "c1", spec(SystemPath=("s", system)))
    bus.get("c1", "State")              # 'running'
    bus.expect_error("NoSuchContainer", "no container", "Start", "s", "nosuch")

A failed call raises BusError with the D-Bus error's name and message.
"""
import json
import os
import subprocess

from .failed import Failed

BUS_NAME = "org.nixos.Containers"
MGR_PATH = "/org/nixos/Containers"
MGR_IF = "org.nixos.Containers"
CT_IF = "org.nixos.Containers.Container"
ERR = "org.nixos.Containers.Error."
DBUS_ERR = "org.freedesktop.DBus.Error."
PROPS_IF = "org.freedesktop.DBus.Properties"
AGENT_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bus_agent.py")


class BusError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def opath(name):
    """The container's object path: name escaped as sd_bus_path_encode does."""
    out = []
    for i, ch in enumerate(name.encode()):
        c = chr(ch)
        if ("a" <= c.lower() <= "z") or (c.isdigit() and i > 0):
            out.append(c)
        else:
            out.append(f"_{ch:02x}")
    return f"{MGR_PATH}/container/{''.join(out)}"


def spec(**keys):
    """An a{sv} spec from KEY=(signature, value) pairs."""
    return {key: list(sig_value) for key, sig_value in keys.items()}


class Bus:
    """One connection to the sandbox's system bus as uid, kept open."""

    def __init__(self, sandbox, sandbox_dir, uid):
        self.sandbox = sandbox
        self.sandbox_dir = sandbox_dir
        self.uid = uid
        self._proc = None

    def _agent(self):
        if self._proc is None or self._proc.poll() is not None:
            with open(AGENT_SOURCE, encoding="utf-8") as source:
                code = source.read()
            argv = [self.sandbox, "exec", self.sandbox_dir]
            if self.uid:
                argv += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
            argv += ["/usr/bin/python3", "-c", code]  # Debian's, with python3-gi
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                          bufsize=1)
        return self._proc

    def request(self, **request):
        proc = self._agent()
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BaseException:
            # A step timeout mid-request: its late reply must not answer the next one.
            self.close(kill=True)
            raise
        if not line:
            self.close()
            raise BusError("agent", f"the bus agent (uid {self.uid}) ended")
        return json.loads(line)

    def close(self, kill=False):
        if self._proc is not None:
            try:
                if kill:
                    self._proc.kill()
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    @staticmethod
    def _call(method, sig, args, path, iface, dest, timeout, interactive):
        return {"dest": dest, "path": path, "iface": iface, "method": method, "sig": sig, "args": list(args),
                "timeout": timeout, "interactive": interactive}

    def call(self, method, sig="", *args, path=MGR_PATH, iface=MGR_IF, dest=BUS_NAME, timeout=30,
             interactive=False):
        """The method's out arguments as a list; raises BusError."""
        reply = self.request(op="call", **self._call(method, sig, args, path, iface, dest, timeout, interactive))
        if not reply["ok"]:
            raise BusError(reply["error"], reply["message"])
        return reply["value"]

    def calls(self, calls):
        """Several calls at once; each a dict of call()'s arguments. Replies in order, each
        {"ok": True, "value": [...]} or {"ok": False, "error": name, "message": text}."""
        packed = []
        for c in calls:
            c = dict(c)
            packed.append(self._call(c.pop("method"), c.pop("sig", ""), c.pop("args", ()),
                                     c.pop("path", MGR_PATH), c.pop("iface", MGR_IF), c.pop("dest", BUS_NAME),
                                     c.pop("timeout", 30), c.pop("interactive", False)))
        return self.request(op="calls", calls=packed)["replies"]

    def get(self, name, prop, iface=CT_IF, path=None, dest=BUS_NAME):
        """A property of the container NAME (or of path, on dest)."""
        return self.call("Get", "ss", iface, prop, path=path or opath(name), iface=PROPS_IF, dest=dest)[0]

    def props(self, name, iface=CT_IF, path=None):
        return self.call("GetAll", "s", iface, path=path or opath(name), iface=PROPS_IF)[0]

    def expect_error(self, want, substring, method, sig="", *args, **kwargs):
        """The call must fail with error `want` (a short name is taken as
        org.nixos.Containers.Error.NAME) and a message containing substring."""
        if "." not in want:
            want = ERR + want
        try:
            out = self.call(method, sig, *args, **kwargs)
        except BusError as error:
            if error.name != want:
                raise Failed(f"expected {want}, got {error.name}: {error.message}") from None
            if substring and substring not in error.message:
                raise Failed(f"the message does not contain '{substring}': {error.message}") from None
            return error.message
        raise Failed(f"expected {want}, the call succeeded: {out}")

    def subscribe(self, **match):
        """Keeps the signals matching sender/path/iface/member from now on."""
        self.request(op="subscribe", **match)

    def signals(self):
        """The kept signals since the last call, in order of arrival."""
        return self.request(op="signals")["signals"]

    def open_stream(self, method, sig="", *args, path=MGR_PATH, iface=MGR_IF, dest=BUS_NAME, timeout=30,
                    interactive=False):
        """A call answering with a descriptor (OpenLogs): the agent keeps it; its stream number."""
        reply = self.request(op="open", **self._call(method, sig, args, path, iface, dest, timeout, interactive))
        if not reply["ok"]:
            raise BusError(reply["error"], reply["message"])
        return reply["stream"]

    def read_stream(self, stream, until=None, timeout=5):
        """(text, eof): what the stream gave until `until` was seen, its end, or the timeout."""
        reply = self.request(op="read", stream=stream, until=until, timeout=timeout)
        return reply["text"], reply["eof"]

    def close_stream(self, stream):
        self.request(op="close", stream=stream)

    def unique_name(self):
        return self.request(op="unique")["value"]
