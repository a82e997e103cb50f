"""Warm starts: a zygote per (host, environment) that has paid for the interpreter and the
imports once (TensorFlow, tf-keras, numpy, the harness's training code and, where asked,
Horovod) and forks one child per task. A task started with `--warm NAME` asks the zygote
for a child and becomes its stand-in: it passes its stdout/stderr, working directory and
environment, forwards SIGTERM/SIGINT/SIGHUP, and exits as the child did. No zygote there
(not started yet, gone, idle timeout) and the task runs cold, as always.

Why fork after the imports is sound: no TensorFlow op has run in the zygote, so no thread
pool, device or CUDA context exists yet; each child sets its threads and builds its model
and data from scratch, exactly as a cold process would after its imports. What a warm
child shares with the zygote's earlier children is only that imported code (recorded in
its run_start as `warm`). The zygote belongs to its run: it carries the run's id (the
leftover check finds it), it exits after `idle_s` with no task, and the run stops it at
its end. Only a process of the zygote's own user may connect (SO_PEERCRED).

Kept children (harness/worker/warm_child.py, hot.py): a child whose training task left its
built model and traced step for a later run of the same configuration (the task's key,
WARM_HOT_ENV) waits after the task instead of exiting; a task of that key is handed to it
rather than to a fresh fork, and its weights are reset to their initial values there. Its
exit code still reaches the stand-in through the zygote; the zygote's end ends it."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
import time

from harness.protocol.constants import WARM_HOT_ENV


def address(name: str) -> str:
    """An abstract Unix socket (Linux): no path length limit, no file left behind; each
    network namespace has its own, like each host."""
    return "\0harness-warm-" + name


# -- the client: a task's stand-in ------------------------------------------------------------

def run_warm(name: str, task: str) -> int | None:
    """Run `task` in a child of zygote `name`; its exit code, or None when there is no zygote
    to ask (the caller then runs the task itself, cold)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(address(name))   # a starting zygote accepts once its imports are done
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        return None
    request = json.dumps({"task": task, "cwd": os.getcwd(), "env": dict(os.environ)})   # task: as given, from cwd
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(s, [request.encode() + b"\n"], [0, 1, 2])
    replies = s.makefile("rb")
    try:
        first = replies.readline()
    except OSError:   # reset: the zygote went away with our request queued
        first = b""
    if not first:
        s.close()
        return None   # the zygote went away before it forked: nothing runs, so run cold
    child = json.loads(first)["pid"]

    def forward(signum, frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        last = replies.readline()
    except OSError:
        last = b""
    if not last:
        print(f"harness.worker: the warm zygote {name} ended while task {task} ran (child {child})",
              file=sys.stderr)
        return 1
    status = json.loads(last)
    if status.get("signal"):   # end as the child did, so the exit status reads the same
        signal.signal(status["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), status["signal"])
    return int(status.get("exit", 1))


# -- the zygote -----------------------------------------------------------------------------

def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _imports(extra: tuple[str, ...] = ()) -> list[str]:
    """What a cold task would import before its first line of training; `extra`: what its
    strategy imports besides (harness.strategies.base.Strategy.warm_imports), when installed."""
    import importlib

    done = []
    import numpy  # noqa: F401
    import tensorflow  # noqa: F401
    import tf_keras  # noqa: F401

    import harness.worker.datasets  # noqa: F401
    import harness.worker.entry  # noqa: F401
    import harness.worker.train  # noqa: F401   (the training code: the loop, strategies' base, calibration)
    import models  # noqa: F401
    done += ["numpy", "tensorflow", "tf_keras", "harness.worker.entry", "harness.worker.train",
             "harness.worker.datasets", "models"]
    try:
        import sklearn.datasets  # noqa: F401   (the bundled datasets' loader)
        done.append("sklearn.datasets")
    except ImportError:
        pass
    for name in extra:
        try:
            importlib.import_module(name)
            done.append(name)
        except ImportError:
            pass
    return done


def serve(name: str, idle_s: float = 90.0, imports: tuple[str, ...] = ()) -> int:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address(name))
    listener.listen(64)   # bound before the imports: a task that comes early waits for them
    # For a zygote started in its first run's window (harness/stages/warm_pool.py, own_run):
    # from now on that run's tasks reach it rather than running cold.
    print(json.dumps({"event": "warm_listening", "name": name, "pid": os.getpid()}), flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda s, f: stopping.append(s))
    signal.signal(signal.SIGINT, lambda s, f: stopping.append(s))
    t0 = time.time()
    imported = _imports(imports)
    ready = time.time()
    print(json.dumps({"event": "warm_ready", "name": name, "pid": os.getpid(), "import_s": round(ready - t0, 3),
                      "imports": imported}), flush=True)
    children: dict[int, _Child] = {}
    served, last_active = 0, time.monotonic()
    while not stopping:
        _reap(children)
        if any(c.conn is not None for c in children.values()):
            last_active = time.monotonic()
        elif time.monotonic() - last_active > idle_s:
            break
        ctls = {c.ctl: pid for pid, c in children.items() if c.ctl is not None}
        r, _, _ = select.select([listener, *ctls], [], [], 0.2)
        for s in r:
            if s is not listener:
                _on_done(children[ctls[s]])
        if listener not in r:
            continue
        conn, _ = listener.accept()
        if _peer_uid(conn) != os.getuid():
            conn.close()
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            while msg and not msg.endswith(b"\n"):   # a large environment may come in pieces
                more = conn.recv(1 << 20)
                if not more:
                    break
                msg += more
            request = json.loads(msg)
        except (OSError, ValueError):
            conn.close()
            continue
        served += 1
        info = {"zygote_pid": os.getpid(), "zygote_started_wall": t0, "zygote_ready_wall": ready,
                "import_s": round(ready - t0, 3), "task_number": served, "shared": imported}
        pid = _to_kept(children, request, fds, conn, info)
        if pid is None:
            ours, theirs = socket.socketpair()
            from harness.worker import warm_child   # imported by the zygote only, not by stand-ins

            pid = os.fork()
            if pid == 0:
                ours.close()
                for c in children.values():   # the others' sockets: a copy here would keep them open
                    for sock in (c.ctl, c.conn):
                        if sock is not None:
                            sock.close()
                warm_child.run(listener, theirs, conn, fds, request, {**info, "process_tasks": 1})   # never returns
            theirs.close()
            children[pid] = _Child(ours, conn, request["env"].get(WARM_HOT_ENV) or "")
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except OSError:
            # Its stand-in is gone (it was stopped while its request waited in the queue,
            # e.g. during the imports): the child sees that too and ends (warm_child._Watch).
            pass
        last_active = time.monotonic()
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)   # kept ones too: nothing warm outlives its zygote
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while children and time.monotonic() < deadline:
        _reap(children)
        time.sleep(0.1)
    return 0


class _Child:
    """A plain class, not a dataclass: this module is also every warm task's stand-in, a fresh
    interpreter whose imports are start-up time."""

    def __init__(self, ctl: socket.socket, conn: socket.socket, key: str) -> None:
        self.ctl: socket.socket | None = ctl     # our end of its pair: "done" comes in, the next task goes out
        self.conn: socket.socket | None = conn   # the stand-in it serves now; None while it waits, kept
        self.key = key                           # the kept-state key it waits with (harness/worker/hot.py)
        self.tasks = 1


def _to_kept(children: dict[int, "_Child"], request: dict, fds: list[int], conn: socket.socket,
             info: dict) -> int | None:
    """Hand the task to a child waiting with the state of the same key; its pid, or None (fork)."""
    key = request["env"].get(WARM_HOT_ENV)
    for pid, c in children.items():
        if not key or c.conn is not None or c.ctl is None or c.key != key:
            continue
        handed = json.dumps({"request": request, "info": {**info, "process_tasks": c.tasks + 1}}).encode()
        try:
            socket.send_fds(c.ctl, [handed + b"\n"], [*fds[:3], conn.fileno()])
        except OSError:
            continue
        c.conn, c.tasks = conn, c.tasks + 1
        return pid
    return None


def _on_done(c: "_Child") -> None:
    """A child's task ended and it stays, kept: pass the exit code to that task's stand-in."""
    line = b""
    try:
        while not line.endswith(b"\n"):
            more = c.ctl.recv(4096)
            if not more:
                break
            line += more
    except OSError:
        line = b""
    if not line.endswith(b"\n"):   # it is going: its exit status comes by _reap
        c.ctl.close()
        c.ctl = None
        return
    done = json.loads(line)
    if c.conn is not None:
        try:
            c.conn.sendall(json.dumps({"exit": int(done.get("done", 1))}).encode() + b"\n")
        except OSError:
            pass
        c.conn.close()
    c.conn = None


def _reap(children: dict[int, "_Child"]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        c = children.pop(pid, None)
        if c is None:
            continue
        if c.ctl is not None:
            c.ctl.close()
        if c.conn is None:
            continue   # it waited, kept: no task of it to report
        reply = ({"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"exit": os.WEXITSTATUS(status)})
        try:
            c.conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        c.conn.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m harness.worker.warm")
    ap.add_argument("--name", required=True)
    ap.add_argument("--idle", type=float, default=90.0, help="exit after this many seconds with no task")
    ap.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                    help="also import this module (its strategy's; may repeat)")
    args = ap.parse_args(argv)
    return serve(args.name, args.idle, tuple(args.imports))


if __name__ == "__main__":
    sys.exit(main())
