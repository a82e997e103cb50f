"""A warm zygote's child (harness/worker/warm.py forks it): it becomes the task it was asked
for (the stand-in's output, directory and environment) and runs it. It dies with its
stand-in: the stand-in is what the harness signals and kills (a SIGKILL of its session, an
expired lease).

When the task was told a later run of the same configuration comes to this host
(WARM_KEEP_ENV) and left a kept state (harness/worker/hot.py), the child does not exit: it
gives the stand-in's files back (stdio onto /dev/null, directory /), tells the zygote the
task's exit code (the zygote passes it to the stand-in), and waits for the zygote to hand it
the next task of the same key, with that task's files and stand-in. It stays a child of the
zygote with the zygote's /proc environment, so the run's sweeps and its end find and stop
it like the zygote; a zygote that goes away (EOF) ends it."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading

from harness.protocol.constants import WARM_ENV, WARM_HOT_ENV, WARM_KEEP_ENV
from harness.worker import warm_cpu


def run(listener: socket.socket, ctl: socket.socket, conn: socket.socket, fds: list[int], request: dict,
        info: dict) -> None:
    """In the forked child: serve tasks until one is not kept; never returns."""
    code = 1
    try:
        listener.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        while True:
            watch = _become(conn, fds, request, info)
            code = _run_task(request["task"])
            if not _stays(code, request):
                break
            nxt = _hand_back(ctl, conn, watch, code)
            if nxt is None:
                code = 0   # the zygote is gone: nothing to serve (its task already ended well)
                break
            conn, fds, request, info = nxt
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _become(conn: socket.socket, fds: list[int], request: dict, info: dict) -> "_Watch":
    for i, fd in enumerate(fds[:3]):
        os.dup2(fd, i)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[WARM_ENV] = json.dumps(info)
    warm_cpu.mark()   # the sampler's baseline: a kept process has earlier tasks' CPU behind it
    return _Watch(conn)


def _run_task(task: str) -> int:
    try:
        from harness.worker.entry import run_file

        return run_file(task)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except BaseException:   # noqa: BLE001  (report it as a cold task would, then end)
        import traceback

        traceback.print_exc()
        return 1


def _stays(code: int, request: dict) -> bool:
    from harness.worker import hot

    return code == 0 and hot.holds(request["env"].get(WARM_HOT_ENV)) and request["env"].get(WARM_KEEP_ENV) == "1"


def _hand_back(ctl: socket.socket, conn: socket.socket, watch: "_Watch", code: int):
    """The task is over: give back its files, report, and wait for the next task:
    (conn, fds, request, info), or None when the zygote is gone."""
    sys.stdout.flush()
    sys.stderr.flush()
    watch.stop()
    null = os.open(os.devnull, os.O_RDWR)
    for i in range(3):
        os.dup2(null, i)
    os.close(null)
    os.chdir("/")
    conn.close()
    try:
        ctl.sendall(json.dumps({"done": code}).encode() + b"\n")
        msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
        while msg and not msg.endswith(b"\n"):
            more = ctl.recv(1 << 20)
            if not more:
                break
            msg += more
    except OSError:
        return None
    if not msg or len(fds) != 4:
        for fd in fds:
            os.close(fd)
        return None
    handed = json.loads(msg)
    return socket.socket(fileno=fds[3]), fds[:3], handed["request"], handed["info"]


class _Watch:
    """Ends the process when its stand-in goes (EOF on the stand-in's connection), until stopped."""

    def __init__(self, conn: socket.socket):
        self._r, self._w = os.pipe()
        self._thread = threading.Thread(target=self._watch, args=(conn,), daemon=True, name="warm-stand-in")
        self._thread.start()

    def _watch(self, conn: socket.socket) -> None:
        while True:
            ready, _, _ = select.select([conn, self._r], [], [])
            if self._r in ready:
                return
            try:
                if conn.recv(1):
                    continue
            except OSError:
                pass
            os._exit(137)

    def stop(self) -> None:
        os.write(self._w, b"x")
        self._thread.join()
        os.close(self._r)
        os.close(self._w)
