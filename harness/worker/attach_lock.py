"""`python -m harness.worker.attach_lock LOCK_FILE OWNER`: hold a detached run's attach lock
on the steward host for as long as the attached control side lives.

Run over the control side's SSH connection (or a pipe, on a local host): prints `locked`
and holds an flock until its stdin ends or goes quiet, or prints `busy <owner>` and exits
5 when another control side holds it. The holder reads heartbeats on stdin: when the
control side dies (even kill -9) its connection closes and stdin ends at once; when its
network is cut, no heartbeat arrives for HEARTBEAT_TIMEOUT_S and the lock is released
anyway, so a vanished laptop never blocks the next attach for long."""

from __future__ import annotations

import fcntl
import os
import select
import sys

from harness.protocol import exits

HEARTBEAT_TIMEOUT_S = 30.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m harness.worker.attach_lock LOCK_FILE OWNER", file=sys.stderr)
        return exits.USAGE
    path, owner = args
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            with open(path + ".owner") as o:
                held_by = o.read().strip()
        except OSError:
            held_by = "unknown"
        print(f"busy {held_by}", flush=True)
        return exits.BUSY
    tmp = f"{path}.owner.tmp"
    with open(tmp, "w") as o:
        o.write(owner)
    os.replace(tmp, path + ".owner")
    print("locked", flush=True)
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([stdin], [], [], HEARTBEAT_TIMEOUT_S)
        if not ready or not os.read(stdin, 4096):
            return exits.OK   # the lock goes with this process


if __name__ == "__main__":
    sys.exit(main())
