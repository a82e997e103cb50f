"""How long the run's task processes ran and how long they waited, runnable, for a CPU: the
scheduler's own account per thread (/proc/PID/task/TID/schedstat: time on a CPU, time
waiting on a run queue), read by the utilization sampler. The wait is the direct cost of
sharing cores: a task that waits for a core is not computing (the "shared cores"
diagnosis, docs/metrics.md). Linux only; elsewhere no reading.

Reading every thread costs about 11 µs of CPU per thread here (0.67 ms for 61), and a
training process has tens to hundreds of threads, so the counters are read every
READ_EVERY_S, not at every sample: they are cumulative, so the sums over a window stay
exact and only the window's edges are coarser."""

from __future__ import annotations

import os
import time
from typing import Optional

READ_EVERY_S = 2.0
Threads = dict[int, tuple[int, int]]   # thread id -> (ns on a CPU, ns waiting for one)


def thread_times(pid: int) -> Optional[Threads]:
    """Per thread of `pid`: (ns it ran, ns it waited runnable for a CPU), from the first two
    fields of /proc/PID/task/TID/schedstat (kept whenever CONFIG_SCHED_INFO is set, as on
    stock distribution kernels); None where that cannot be read. Per thread, because the
    process's own file is its main thread's alone, and a training process computes in its
    pool threads."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    out: Threads = {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fh:
                f = fh.read().split()
            out[int(tid)] = (int(f[0]), int(f[1]))
        except (OSError, ValueError, IndexError):
            continue   # a thread that ended meanwhile
    return out or None


def since(before: Optional[Threads], now: Optional[Threads]) -> Optional[tuple[int, int]]:
    """(ns run, ns waited) since `before`: a thread that is new since `before` started after
    it (a process's threads are only ever added), so all its time is new; a thread that
    ended in between takes its last part with it (lost, never negative). None without a
    baseline or a reading."""
    if before is None or now is None:
        return None
    run = wait = 0
    for tid, (r, w) in now.items():
        r0, w0 = before.get(tid, (0, 0))
        if r >= r0 and w >= w0:
            run, wait = run + r - r0, wait + w - w0
    return run, wait


class RunQueue:
    """The task processes' threads between readings. A process added with a start time
    after the previous reading is counted whole (`fresh`); an older one (found late, or a
    kept warm child entering a task) gets its baseline at the next reading, which then has
    no value (a partial sum would understate the sharing)."""

    def __init__(self, every_s: float = READ_EVERY_S) -> None:
        self._every_s = every_s
        self._threads: dict[int, Optional[Threads]] = {}
        self._next = 0.0
        self.last_boot_s: Optional[float] = _boot_s()
        self._last_mono = time.monotonic()

    def add(self, pid: int, born_boot_s: Optional[float]) -> None:
        fresh = born_boot_s is not None and self.last_boot_s is not None and born_boot_s >= self.last_boot_s - 0.02
        self._threads[pid] = {} if fresh else None

    def drop(self, pid: int) -> None:
        self._threads.pop(pid, None)

    def read(self, now_mono: float) -> Optional[dict]:
        """Every `every_s`: {"sched_run_s", "sched_wait_s", "sched_span_s"} summed over the
        processes since the previous reading (null sums when one had no baseline or cannot
        be read); None between readings."""
        if now_mono < self._next:
            return None
        self._next = now_mono + self._every_s
        run = wait = 0
        whole = True
        for pid in list(self._threads):
            cur = thread_times(pid)
            got = since(self._threads[pid], cur)
            if got is None:
                whole = False
            else:
                run, wait = run + got[0], wait + got[1]
            self._threads[pid] = cur
        mono = time.monotonic()
        span, self._last_mono = mono - self._last_mono, mono
        self.last_boot_s = _boot_s()
        return {"sched_run_s": run / 1e9 if whole else None, "sched_wait_s": wait / 1e9 if whole else None,
                "sched_span_s": span}


def _boot_s() -> Optional[float]:
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return None
