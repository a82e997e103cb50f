"""The utilization sampler and the run's task processes: a task that starts after the
sampler, tasks that share a core (their wait for it, from the scheduler), and a warm
zygote's children counted by their task directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from statistics import median

import pytest

from tests.support.sampler_procs import child as _child, env_for as _env, records as _records
from tests.support.sampler_procs import start_sampler as _start_sampler
from tests.support.sampler_procs import stop as _stop, wait_for as _wait_for


@pytest.fixture
def run_id() -> str:
    # Unique: other tests kill leftover processes by run id, and a shared id would mix runs.
    return f"test-sampler-{uuid.uuid4().hex[:10]}"


def test_a_task_started_after_the_sampler_is_read_from_its_first_sample(tmp_path, run_id):
    """Seen by the very next sample (the table is looked at every sample), and its CPU time
    since it started is that sample's reading: not a silent 0."""
    proc = _start_sampler(tmp_path, run_id, interval_s=0.5)
    child = None
    try:
        _wait_for(lambda: len(_records(tmp_path, "sample")) >= 2)
        child = _child(run_id, "c/worker-0", "while True: pass")
        seen = _wait_for(lambda: [r["tasks"] for r in _records(tmp_path, "sample") if r["tasks"]["processes"]])
        first = seen[0]
        assert first["unmeasured"] == 0 and first["cpu_percent"] is not None and first["cpu_percent"] > 0, seen
    finally:
        if child is not None:
            child.kill()
            child.wait()
        _stop(proc)


def test_tasks_that_share_a_core_record_their_wait_for_it(tmp_path, run_id):
    """Two task processes pinned to one core: each runs about half the time and waits the
    other half, so over a reading they wait about as long as they run, together about one
    core's worth of its span. Read from the scheduler, not inferred."""
    pinned = "import os\nos.sched_setaffinity(0, {0})\nwhile True: pass"
    children = [_child(run_id, f"c/worker-{i}", pinned) for i in range(2)]
    proc = None
    try:
        proc = _start_sampler(tmp_path, run_id, interval_s=0.25)
        readings = _wait_for(lambda: len(s := [r["tasks"] for r in _records(tmp_path, "sample")
                                               if r["tasks"]["processes"] == 2 and "sched_wait_s" in r["tasks"]
                                               and r["tasks"]["sched_wait_s"] is not None]) >= 2 and s,
                             timeout=20)
        for x in readings:
            assert 0.5 < x["sched_wait_s"] / x["sched_run_s"] < 2.0, readings
            assert 0.5 * x["sched_span_s"] < x["sched_run_s"] < 1.5 * x["sched_span_s"], readings
        everything = [r["tasks"] for r in _records(tmp_path, "sample")]
        assert sum("sched_span_s" in t for t in everything) < len(everything)   # not at every sample
    finally:
        for c in children:
            c.kill()
            c.wait()
        if proc is not None:
            _stop(proc)


ZYGOTE = textwrap.dedent('''
    import os, sys, time
    # The warm zygote's children keep the zygote's exec-time environment; each moves into
    # its task's directory (harness/worker/warm.py).
    for d in sys.argv[1:]:
        if os.fork() == 0:
            os.chdir(d)
            while True:
                pass
    time.sleep(60)
''')


def test_warm_children_count_by_their_task_directory_and_the_zygote_does_not(tmp_path, run_id):
    cfg = tmp_path / "runs" / "cfg"
    home, other = cfg / "sampler", tmp_path / "runs" / "other-cfg" / "worker-0"
    for d in (home, cfg / "worker-0", other, tmp_path / "warm"):
        d.mkdir(parents=True)
    env = _env(run_id, "", HARNESS_WARM_ZYGOTE="1")
    del env["HARNESS_TASK"]
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(cfg / "worker-0"), str(other)],
                              env=env, cwd=tmp_path / "warm", start_new_session=True)
    proc = _start_sampler(home, run_id, config="cfg", task_scan_s=0.2)
    try:
        samples = _wait_for(lambda: len(s := _records(home, "sample")) >= 6 and s)
        tasks = [r["tasks"] for r in samples[2:]]
        assert all(t["processes"] == 1 for t in tasks), tasks   # our child; not the zygote, not the other's
        assert median(t["cpu_percent"] for t in tasks) > 10
    finally:
        os.killpg(zygote.pid, signal.SIGKILL)
        zygote.wait()
        _stop(proc)
