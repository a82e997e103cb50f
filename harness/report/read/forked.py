"""Run one function in a forked child process while this one goes on, and take its result.

The report draws its per-configuration figures this way while the parent draws the run's
figures and writes the CSV files: drawing is CPU-bound Python (threads would share one
core), and a fork inherits the loaded run without copying or pickling it. The child sends
its result back pickled through a pipe; the figures are the same bytes either way.

Where fork is unavailable or fails, or the child dies or raises, the function simply runs
again in this process when its result is asked for, so its errors surface here as usual.
Only a process with one thread forks: a lock another thread holds at the fork (a progress
display writing to stdout, a logging handler) would stay held forever in the child. Nor does
a process that has loaded a library whose native threads a child cannot do without: a test
session or notebook that trained with TensorFlow, say, whose forked child hung for ever in
a garbage-collected function joining a data thread that only the parent has. And a child
that overruns the time its caller gives it is killed and its work done here."""

from __future__ import annotations

import os
import pickle
import select
import sys
import threading
import time
from typing import Callable, Generic, Optional, TypeVar

T = TypeVar("T")

# Their runtimes keep native threads (threading does not see them) that a child can block on.
FORK_UNSAFE = ("tensorflow", "torch", "jax")


def can_fork() -> bool:
    """Whether this process may fork a worker: it can, there is a second core for it (on
    one, the two would only take turns), no other thread runs, and no library with
    fork-unsafe native threads is loaded (the harness's control side never loads one; a
    caller's own process may have)."""
    return (hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1
            and not any(name in sys.modules for name in FORK_UNSAFE))


def patience(own_seconds: float) -> float:
    """How long to wait for a child given a share of the work like the one this process
    just did in own_seconds: four times as long and a minute more for a busy machine.
    Past that the child is taken for hung; its work is then done here, only later."""
    return 60.0 + 4.0 * own_seconds


class Forked(Generic[T]):
    """fn() running in a child; result() waits for it. Call close() (or result()) in a
    finally: a child nobody waits for would stay a zombie in a long-lived process."""

    def __init__(self, fn: Callable[[], T], enabled: bool = True):
        self._fn = fn
        self._pid: Optional[int] = None
        self._read: Optional[int] = None
        if enabled and can_fork():
            self._start()

    def _start(self) -> None:
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: never returns into the caller's code
            status = 1
            try:
                os.close(r)
                data = pickle.dumps(self._fn(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(w, "wb") as fh:
                    fh.write(data)
                status = 0
            except BaseException:  # the parent runs fn itself and sees the error there
                pass
            finally:
                os._exit(status)  # no atexit handlers, no flushing the parent's buffers
        os.close(w)
        self._pid, self._read = pid, r

    def result(self, timeout: Optional[float] = None) -> T:
        """The child's result; fn() run here if the child failed, or has not finished
        within `timeout` seconds (it is killed)."""
        if self._pid is None:
            return self._fn()
        data = self._read_all(timeout)
        if data is None:
            self.close()
            return self._fn()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                return pickle.loads(data)
            except Exception:
                pass
        return self._fn()

    def _read_all(self, timeout: Optional[float]) -> Optional[bytes]:
        """Everything the child writes, up to its end of the pipe closing; None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = []
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._read], [], [], left)[0]:
                    return None
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                os.close(self._read)
                self._read = None
                return b"".join(chunks)
            chunks.append(chunk)

    def close(self) -> None:
        """Stop and reap a child whose result is no longer wanted (the caller failed)."""
        if self._pid is None:
            return
        import signal

        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self._pid, 0)
        self._pid = None
        if self._read is not None:
            os.close(self._read)
            self._read = None
