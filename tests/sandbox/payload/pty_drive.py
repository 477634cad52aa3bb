#!/usr/bin/env python3
"""pty_drive: runs a command on a new pseudo-terminal, as a person at a
terminal would, for the CLI tests (login, root-login, the polkit agent).

    pty_drive.py STEP... -- COMMAND [ARGS...]

Steps, in order:
    expect:TEXT   wait (up to --timeout seconds) until TEXT has appeared
    send:TEXT     type TEXT (Python escapes: \\n, \\x1d for ^])
    sleep:SECONDS
    exit:CODE     wait for the command to end with exit status CODE
Everything the command wrote is copied to stdout. Exit 0 when every step
held, 1 otherwise (saying which step failed on stderr).
"""
import os
import pty
import select
import sys
import time

TIMEOUT = float(os.environ.get("PTY_DRIVE_TIMEOUT", "15"))


def main(argv):
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    steps, command = argv[:split], argv[split + 1:]
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen = b""
    closed = False

    def read_some(deadline):
        nonlocal seen, closed
        while not closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                return
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                closed = True
                return
            seen += data
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return

    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "expect":
            want = arg.encode()
            deadline = time.monotonic() + TIMEOUT
            while want not in seen and not closed and time.monotonic() < deadline:
                read_some(deadline)
            if want not in seen:
                print(f"\npty_drive: '{arg}' did not appear", file=sys.stderr)
                os.kill(pid, 9)
                return 1
        elif kind == "send":
            os.write(master, arg.encode().decode("unicode_escape").encode("latin-1"))
        elif kind == "sleep":
            time.sleep(float(arg))
        elif kind == "exit":
            deadline = time.monotonic() + TIMEOUT
            status = None
            while time.monotonic() < deadline:
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = os.waitstatus_to_exitcode(raw)
                    break
                read_some(min(deadline, time.monotonic() + 0.1))
            if status is None:
                print("\npty_drive: the command did not end", file=sys.stderr)
                os.kill(pid, 9)
                return 1
            if status != int(arg):
                print(f"\npty_drive: the command exited {status}, expected {arg}", file=sys.stderr)
                return 1
            return 0
        else:
            print(f"pty_drive: bad step '{step}'", file=sys.stderr)
            return 2
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return 0


sys.exit(main(sys.argv[1:]))
