"""A function run in a forked child: its result comes back; when the child raises or dies,
the function runs again here, so its error is this process's; a child that overruns its
time is killed; no child is left behind; a process with other threads, or with a runtime
such as TensorFlow loaded, does not fork. The forking cases run in a fresh interpreter
(tests/support/fresh_process.py), single-threaded as `harness report` is."""

import os
import threading

from harness.report.read.forked import Forked
from tests.support.fresh_process import run_fresh


def test_the_result_comes_from_the_child_and_failures_run_here():
    out = run_fresh("""
        import os, time
        import pytest
        from harness.report.read.forked import Forked

        parent = os.getpid()
        pid, data = Forked(lambda: (os.getpid(), [b"PNG" * 1000] * 100)).result()  # > a pipe's buffer
        assert pid != parent and data == [b"PNG" * 1000] * 100

        calls = []
        def fails():
            calls.append(os.getpid())
            raise ValueError("bad figure")
        with pytest.raises(ValueError, match="bad figure"):
            Forked(fails).result()
        assert calls == [parent]  # the child's own call was in the child's memory

        assert Forked(lambda: os._exit(3) if os.getpid() != parent else "here").result() == "here"

        job = Forked(lambda: time.sleep(60))
        child = job._pid
        assert child is not None
        job.close()
        with pytest.raises(ChildProcessError):
            os.waitpid(child, os.WNOHANG)  # reaped: no zombie

        # a child that overruns its time is killed and reaped, and the work is done here
        job = Forked(lambda: time.sleep(60) if os.getpid() != parent else "done here")
        child, start = job._pid, time.monotonic()
        assert child is not None and job.result(timeout=0.5) == "done here"
        assert time.monotonic() - start < 30
        with pytest.raises(ChildProcessError):
            os.waitpid(child, os.WNOHANG)
        # within its time, a slow child's result is taken
        assert Forked(lambda: (time.sleep(0.3), os.getpid())[1]).result(timeout=60) != parent
        print("ok")
    """)
    assert out.strip() == "ok"


def test_a_process_with_a_fork_unsafe_runtime_loaded_runs_here():
    """TensorFlow's native threads are invisible to threading; a child forked from a process
    that used it hung for ever (in a garbage-collected function joining a data thread)."""
    out = run_fresh("""
        import os, sys, types
        from harness.report.read.forked import FORK_UNSAFE, Forked, can_fork

        assert can_fork() and "tensorflow" in FORK_UNSAFE
        for name in FORK_UNSAFE:
            sys.modules[name] = types.ModuleType(name)  # as if loaded
            job = Forked(os.getpid)
            assert not can_fork() and job._pid is None and job.result() == os.getpid()
            del sys.modules[name]
        print("ok")
    """)
    assert out.strip() == "ok"


def test_disabled_or_threaded_runs_here():
    assert Forked(os.getpid, enabled=False).result() == os.getpid()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        job = Forked(os.getpid)
        assert job._pid is None and job.result() == os.getpid()
    finally:
        stop.set()
        other.join()
