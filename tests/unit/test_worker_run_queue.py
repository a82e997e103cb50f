"""The task processes' time on and waiting for a CPU (harness/worker/run_queue.py): the
arithmetic of two readings, the reading schedule, and real readings of processes that share
one core."""

import os
import subprocess
import sys
import time

import pytest

from harness.worker import run_queue

LINUX = pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task"), reason="needs Linux /proc")


def test_since_counts_new_threads_whole_and_drops_ended_ones():
    before = {1: (100, 10), 2: (50, 5)}
    assert run_queue.since(before, {1: (160, 30), 2: (50, 5), 3: (40, 4)}) == (60 + 40, 20 + 4)
    assert run_queue.since(before, {1: (130, 10)}) == (30, 0)         # thread 2 ended
    assert run_queue.since(before, {1: (90, 10)}) == (0, 0)           # a reused id: never negative
    assert run_queue.since(None, {1: (5, 1)}) is None                  # no baseline yet
    assert run_queue.since(before, None) is None                       # no reading
    assert run_queue.since({}, {7: (9, 2)}) == (9, 2)                  # a fresh process


def test_a_missing_process_has_no_reading():
    assert run_queue.thread_times(2 ** 22 + 12345) is None


@LINUX
def test_readings_come_every_period_and_a_late_found_process_has_none_at_first():
    q = run_queue.RunQueue(every_s=0.2)
    q.add(os.getpid(), born_boot_s=0.0)          # started long ago: no baseline yet
    first = q.read(time.monotonic())
    assert first["sched_run_s"] is None and first["sched_wait_s"] is None
    assert q.read(time.monotonic()) is None       # not due yet
    time.sleep(0.25)
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    second = q.read(time.monotonic())
    assert second["sched_run_s"] >= 0.04 and second["sched_wait_s"] >= 0 and second["sched_span_s"] >= 0.25


@LINUX
def test_busy_processes_on_one_core_wait_for_it():
    """Two busy loops pinned to one core each wait about half of the time; together they
    wait about one core's worth of the span and run another. (Pinning makes the sharing
    exact on a machine of any size.)"""
    code = "import os, time\nos.sched_setaffinity(0, {0})\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    try:
        time.sleep(0.4)
        before = {p.pid: run_queue.thread_times(p.pid) for p in procs}
        t0 = time.monotonic()
        time.sleep(0.8)
        got = [run_queue.since(before[p.pid], run_queue.thread_times(p.pid)) for p in procs]
        span = time.monotonic() - t0
    finally:
        for p in procs:
            p.wait()
    run, wait = sum(g[0] for g in got) / 1e9, sum(g[1] for g in got) / 1e9
    assert 0.5 * span < wait < 1.5 * span and 0.5 * span < run < 1.5 * span
