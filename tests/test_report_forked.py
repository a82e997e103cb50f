"""A function run in a forked child: its result comes back; when the child raises or dies,
the function runs again here, so its error is this process's; no child is left behind; a
process with other threads does not fork. The forking cases run in a fresh interpreter
(tests/fresh_process.py), single-threaded as `harness report` is."""

import os
import threading

from harness.report.forked import Forked
from tests.fresh_process import run_fresh


def test_the_result_comes_from_the_child_and_failures_run_here():
    out = run_fresh("""
        import os, time
        import pytest
        from harness.report.forked import Forked

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
