"""bus_agent.py: one D-Bus client connection inside the sandbox, for the tiers.

Run inside the sandbox (as root or, through setpriv, as a test user) with its
source passed to `python3 -c`, so that a user who cannot read the checkout
can still run it. It reads one JSON request per line on stdin and writes one
JSON reply per line on stdout, so the tier on the host reads typed values
(numbers as numbers, arrays as lists, D-Bus error names as names), never
busctl's text.

Requests:
  {"op": "call", "dest", "path", "iface", "method", "sig", "args",
   "timeout": seconds, "interactive": bool}
      -> {"ok": true, "value": [...out args...]}
       | {"ok": false, "error": "org.x.Error.Name", "message": "..."}
  {"op": "calls", "calls": [call, ...]}: the calls at once, concurrently,
      -> {"ok": true, "replies": [reply, ...]} in the order given
  {"op": "subscribe", "sender", "path", "iface", "member"} (each optional)
      -> {"ok": true}; matching signals are kept from now on
  {"op": "signals"} -> {"ok": true, "signals": [{"path", "iface", "member",
      "value"}...]}, and forgets them
  {"op": "unique"} -> {"ok": true, "value": ":1.42"}
  {"op": "open", ...a call whose reply's first value is a descriptor ("h")}
      -> {"ok": true, "stream": N}: the agent keeps the descriptor as stream N
  {"op": "read", "stream": N, "until": "text" or null, "timeout": seconds}
      -> {"ok": true, "text": "...", "eof": bool}: what came until the text
         was seen, the end of the stream, or the timeout
  {"op": "close", "stream": N} -> {"ok": true}

Arguments are JSON values shaped as the signature says; a "v" is a pair
[signature, value].
"""
import json
import os
import select
import sys
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def split_types(sig):
    """The complete types of a signature, in order: "sa{sv}(ii)" -> ["s", "a{sv}", "(ii)"]."""
    types, i = [], 0
    while i < len(sig):
        j = i
        while sig[j] == "a":
            j += 1
        if sig[j] in "({":
            depth = 0
            while True:
                depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(sig[j], 0)
                j += 1
                if depth == 0:
                    break
        else:
            j += 1
        types.append(sig[i:j])
        i = j
    return types


def _prepare(sig, value):
    """value, shaped for GLib.Variant(sig, ...): a "v" becomes a Variant of its [signature, value]."""
    if sig == "v":
        inner_sig, inner = value
        return GLib.Variant(inner_sig, _prepare(inner_sig, inner))
    if sig.startswith("a{"):
        key_sig, value_sig = split_types(sig[2:-1])
        return {_prepare(key_sig, k): _prepare(value_sig, v) for k, v in value.items()}
    if sig == "ay" and isinstance(value, str):
        return value.encode()
    if sig.startswith("a"):
        return [_prepare(sig[1:], v) for v in value]
    if sig.startswith("("):
        return tuple(_prepare(t, v) for t, v in zip(split_types(sig[1:-1]), value, strict=True))
    return value


def to_json(value):
    if isinstance(value, GLib.Variant):
        return to_json(value.unpack())
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return list(value)
    return value


def error_reply(error):
    name = Gio.DBusError.get_remote_error(error) if Gio.DBusError.is_remote_error(error) else None
    message = error.message
    if name:
        # strip_remote_error() changes the GError, not this copy of its text.
        message = message.removeprefix(f"GDBus.Error:{name}: ")
    elif error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT):
        name = "org.freedesktop.DBus.Error.Timeout"
    return {"ok": False, "error": name or "local:" + str(error.code), "message": message}


class Agent:
    def __init__(self):
        self.bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        self.loop = GLib.MainLoop()
        self.signals = []
        self.streams = {}

    def _params(self, request):
        sig = request.get("sig", "")
        if not sig:
            return None
        return GLib.Variant("(" + sig + ")", _prepare("(" + sig + ")", request.get("args", [])))

    def _flags(self, request):
        if request.get("interactive"):
            return Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
        return Gio.DBusCallFlags.NONE

    def call(self, request):
        try:
            reply = self.bus.call_sync(request["dest"], request["path"], request["iface"], request["method"],
                                       self._params(request), None, self._flags(request),
                                       int(request.get("timeout", 30) * 1000), None)
        except GLib.Error as error:
            return error_reply(error)
        return {"ok": True, "value": to_json(reply)}

    def calls(self, request):
        calls = request["calls"]
        replies = [None] * len(calls)
        pending = [len(calls)]
        loop = GLib.MainLoop()

        def finished(bus, result, index):
            try:
                replies[index] = {"ok": True, "value": to_json(bus.call_finish(result))}
            except GLib.Error as error:
                replies[index] = error_reply(error)
            pending[0] -= 1
            if pending[0] == 0:
                loop.quit()

        for index, call in enumerate(calls):
            self.bus.call(call["dest"], call["path"], call["iface"], call["method"], self._params(call), None,
                          self._flags(call), int(call.get("timeout", 30) * 1000), None, finished, index)
        if calls:
            loop.run()
        return {"ok": True, "replies": replies}

    def open_stream(self, request):
        try:
            reply, fds = self.bus.call_with_unix_fd_list_sync(
                request["dest"], request["path"], request["iface"], request["method"], self._params(request), None,
                self._flags(request), int(request.get("timeout", 30) * 1000), None, None)
        except GLib.Error as error:
            return error_reply(error)
        fd = fds.get(reply.unpack()[0])
        self.streams[fd] = b""
        return {"ok": True, "stream": fd}

    def read_stream(self, request):
        fd = request["stream"]
        until = request.get("until")
        deadline = time.monotonic() + request.get("timeout", 5)
        data, eof = self.streams[fd], False
        while not (until and until.encode() in data):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                eof = True
                break
            data += chunk
        self.streams[fd] = b""
        return {"ok": True, "text": data.decode(errors="replace"), "eof": eof}

    def close_stream(self, request):
        os.close(request["stream"])
        del self.streams[request["stream"]]
        return {"ok": True}

    def subscribe(self, request):
        def kept(_bus, _sender, path, iface, member, params):
            self.signals.append({"path": path, "iface": iface, "member": member, "value": to_json(params)})

        self.bus.signal_subscribe(request.get("sender"), request.get("iface"), request.get("member"),
                                  request.get("path"), None, Gio.DBusSignalFlags.NONE, kept)
        # A round trip: the match rule is in place when this answers.
        self.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
                           None, None, Gio.DBusCallFlags.NONE, 10000, None)
        return {"ok": True}

    def drain(self, _request):
        context = GLib.MainContext.default()
        while context.pending():
            context.iteration(False)
        signals, self.signals = self.signals, []
        return {"ok": True, "signals": signals}

    def serve(self):
        ops = {"call": self.call, "calls": self.calls, "subscribe": self.subscribe, "signals": self.drain,
               "unique": lambda _r: {"ok": True, "value": self.bus.get_unique_name()},
               "open": self.open_stream, "read": self.read_stream, "close": self.close_stream}
        for line in sys.stdin:
            request = json.loads(line)
            handler = ops.get(request.get("op"))
            reply = handler(request) if handler else {"ok": False, "error": "agent", "message": "unknown op"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    Agent().serve()
