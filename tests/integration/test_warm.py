"""The warm zygote (harness/worker/warm.py) for real: a task asked through it runs in a fork
with the task's output files, directory and environment, its exit code and its signals
pass through the stand-in, a killed stand-in takes its child along, and without a zygote
the task runs cold."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.protocol.constants import WARM_NAME_ENV
from harness.protocol.spec import TaskSpec

pytestmark = [pytest.mark.slow]   # the zygote imports TensorFlow


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    d = tmp_path_factory.mktemp("zygote")
    name = f"test-{os.getpid()}"
    log = open(d / "zygote.log", "w")
    p = subprocess.Popen([sys.executable, "-m", "harness.worker.warm", "--name", name, "--idle", "120"],
                         stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    deadline = time.monotonic() + 180
    while "warm_ready" not in (d / "zygote.log").read_text():
        assert p.poll() is None and time.monotonic() < deadline, (d / "zygote.log").read_text()
        time.sleep(0.2)
    yield name, p
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0


def _sampler_task(d, run_id="warm-test"):
    d.mkdir(exist_ok=True)
    spec = TaskSpec(role="sampler", strategy="sampler", experiment="e", run_id=run_id, config="c",
                    task_id="sampler", host="h", events="samples.jsonl", interval_s=0.2)
    (d / "task.json").write_text(spec.to_json())


def _start(d, name, **env):
    out, err = open(d / "stdout.log", "w"), open(d / "stderr.log", "w")
    return subprocess.Popen([sys.executable, "-m", "harness.worker", "--task", "task.json"], cwd=d,
                            stdout=out, stderr=err, env={**os.environ, WARM_NAME_ENV: name, "MY_MARK": "task", **env})


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_task_runs_in_a_fork_and_sigterm_passes_through(zygote, tmp_path):
    name, zp = zygote
    d = tmp_path / "t"
    _sampler_task(d)
    p = _start(d, name)
    samples = d / "samples.jsonl"
    deadline = time.monotonic() + 60
    while not (samples.exists() and '"sample"' in samples.read_text()):
        assert p.poll() is None and time.monotonic() < deadline, (d / "stderr.log").read_text()
        time.sleep(0.1)
    # the sampler runs as a child of the zygote, not of the stand-in
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(zp.pid)], capture_output=True, text=True).stdout
    assert children.split(), "no child of the zygote"
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, (d / "stderr.log").read_text()
    kinds = [r["event"] for r in _records(samples)]
    assert kinds[0] == "sampler_start" and kinds[-1] == "sampler_end"   # it stopped the way it does on SIGTERM


def test_a_bad_task_file_ends_with_its_one_line_and_exit_2(zygote, tmp_path):
    name, _ = zygote
    d = tmp_path / "bad"
    d.mkdir()
    (d / "task.json").write_text('{"spec_version": 999}')
    p = _start(d, name)
    assert p.wait(60) == 2
    err = (d / "stderr.log").read_text().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harness.worker: task.json:")


def test_a_killed_stand_in_takes_its_child_along(zygote, tmp_path):
    name, zp = zygote
    d = tmp_path / "k"
    _sampler_task(d)
    p = _start(d, name)
    deadline = time.monotonic() + 60
    while not subprocess.run(["ps", "-o", "pid=", "--ppid", str(zp.pid)], capture_output=True, text=True).stdout.split():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    child = int(subprocess.run(["ps", "-o", "pid=", "--ppid", str(zp.pid)], capture_output=True,
                               text=True).stdout.split()[0])
    p.kill()
    p.wait(10)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and open(f"/proc/{child}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "the child outlived its stand-in"
        time.sleep(0.05)


def test_without_a_zygote_the_task_runs_cold(tmp_path):
    d = tmp_path / "cold"
    d.mkdir()
    (d / "task.json").write_text('{"spec_version": 999}')
    p = _start(d, "no-such-zygote-here")
    assert p.wait(60) == 2 and (d / "stderr.log").read_text().startswith("harness.worker: task.json:")
