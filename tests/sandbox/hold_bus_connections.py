#!/usr/bin/env python3
"""hold_bus_connections.py COUNT|fill SECONDS: open COUNT connections (fill: as
many as the bus admits) to the system bus as this uid (SASL EXTERNAL, then Hello, as every client does), hold them
for SECONDS, then close them. Each running systemd-nspawn holds one such
connection of root for its whole life, so this is what COUNT running
containers cost the bus, without the containers.

Prints "held N" once all N are connected (Hello answered), or "refused at
I: WHY" and exits 1 at the first connection the bus refuses; with fill,
"held N, refused: WHY" once the bus refuses one, and holds the N. Needs no D-Bus
binding: the Hello call is marshalled here (little-endian, no body).
"""
import os
import socket
import struct
import sys
import time

BUS = "/run/dbus/system_bus_socket"


def pad(buf, boundary):
    return buf + b"\0" * (-len(buf) % boundary)


def hello_message(serial):
    fields = b""
    for code, signature, value in (
        (1, b"o", b"/org/freedesktop/DBus"),
        (2, b"s", b"org.freedesktop.DBus"),
        (3, b"s", b"Hello"),
        (6, b"s", b"org.freedesktop.DBus"),
    ):
        fields = pad(fields, 8)
        field = struct.pack("<BB", code, len(signature)) + signature + b"\0"
        field = pad(field, 4) + struct.pack("<I", len(value)) + value + b"\0"
        fields += field
    header = struct.pack("<cBBBII", b"l", 1, 0, 1, 0, serial) + struct.pack("<I", len(fields)) + fields
    return pad(header, 8)


def read_line(sock):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during authentication")
        data += chunk
    return data


def connect():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(BUS)
    uid = str(os.getuid()).encode().hex().encode()
    sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
    answer = read_line(sock)
    if not answer.startswith(b"OK"):
        raise ConnectionError("authentication: " + answer.decode(errors="replace").strip())
    sock.sendall(b"BEGIN\r\n" + hello_message(1))
    reply = sock.recv(4096)
    # A method return (type 2) names us; an error (3) or a close is a refusal.
    if len(reply) < 2 or reply[1] != 2:
        raise ConnectionError("Hello not answered" if not reply else f"Hello answered with message type {reply[1]}")
    return sock


def main():
    fill = sys.argv[1] == "fill"
    count, seconds = 100000 if fill else int(sys.argv[1]), float(sys.argv[2])
    held = []
    for i in range(count):
        try:
            held.append(connect())
        except (OSError, ConnectionError) as error:
            if not fill:
                print(f"refused at {i + 1}: {error}", flush=True)
                return 1
            print(f"held {len(held)}, refused: {error}", flush=True)
            break
    else:
        print(f"held {len(held)}", flush=True)
    time.sleep(seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
