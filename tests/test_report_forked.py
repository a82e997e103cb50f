"""A function run in a forked child: its result comes back; when the child raises or dies,
the function runs again here, so its error is this process's; no child is left behind."""

import os

import pytest

from harness.report.forked import Forked


def test_the_result_comes_from_the_child():
    parent = os.getpid()
    got = Forked(lambda: (os.getpid(), [b"\x89PNG" * 1000] * 100)).result()  # larger than a pipe's buffer
    assert got[0] != parent and got[1] == [b"\x89PNG" * 1000] * 100


def test_a_failing_child_means_the_function_runs_here_and_raises_here():
    calls = []

    def fn():
        calls.append(os.getpid())
        raise ValueError("bad figure")

    job = Forked(fn)
    with pytest.raises(ValueError, match="bad figure"):
        job.result()
    assert calls == [os.getpid()]  # the child's own call was in the child's memory


def test_a_child_that_dies_is_replaced_by_running_here():
    parent = os.getpid()
    got = Forked(lambda: os._exit(3) if os.getpid() != parent else "here").result()
    assert got == "here"


def test_disabled_runs_here_and_close_reaps_an_unwanted_child():
    assert Forked(os.getpid, enabled=False).result() == os.getpid()
    import time

    job = Forked(lambda: time.sleep(60))
    pid = job._pid
    job.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie
