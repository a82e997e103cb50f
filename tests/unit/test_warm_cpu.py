"""A warm child's CPU mark (harness/worker/warm_cpu.py), written and read back in a real
directory: the sampler takes it only for the same process and only when the child entered
its task since the sampler's previous reading."""

import os
import time

from harness.worker import warm_cpu


def test_the_mark_is_this_process_cpu_and_counts_only_since_the_previous_reading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    warm_cpu.mark()
    t = os.times()
    cpu = warm_cpu.entered(os.getpid(), str(tmp_path), before)
    assert cpu is not None and 0 < cpu <= t.user + t.system
    assert warm_cpu.entered(os.getpid() + 1, str(tmp_path), before) is None      # another process's directory
    assert warm_cpu.entered(os.getpid(), str(tmp_path), before + 60) is None     # entered before that reading
    assert warm_cpu.entered(os.getpid(), str(tmp_path), None) is None            # no previous reading
    assert warm_cpu.entered(os.getpid(), str(tmp_path / "none"), before) is None  # no mark: found late


def test_a_torn_mark_is_no_mark(tmp_path):
    (tmp_path / "warm_cpu.json").write_text('{"pid": 1, "cpu')
    assert warm_cpu.entered(1, str(tmp_path), 0.0) is None
