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

from harness.protocol.constants import WARM_HOT_ENV, WARM_KEEP_ENV, WARM_NAME_ENV
from harness.protocol.spec import TaskSpec

pytestmark = [pytest.mark.slow]   # the zygote imports TensorFlow


def _spawn_zygote(log_path, name, idle=120, until="warm_ready", timeout=180.0, poll=0.2):
    """A real zygote writing to log_path, once it printed `until` (its socket bound:
    warm_listening; its imports done: warm_ready)."""
    zp = subprocess.Popen([sys.executable, "-m", "harness.worker.warm", "--name", name, "--idle", str(idle)],
                          stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    deadline = time.monotonic() + timeout
    try:
        while until not in log_path.read_text():
            assert zp.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(poll)
    except BaseException:
        zp.kill()
        zp.wait(30)
        raise
    return zp


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    d = tmp_path_factory.mktemp("zygote")
    name = f"test-{os.getpid()}"
    p = _spawn_zygote(d / "zygote.log", name)
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


# -- kept children: a training task's process kept for the next run of its key (hot.py) --------

def _train_task(d, steps=6, threads=1):
    from harness.config.experiment import Workload as ConfigWorkload

    d.mkdir(exist_ok=True)
    work = ConfigWorkload(model="mlp", dataset={"name": "digits"}, batch_size=16, epochs=1, steps_per_epoch=steps,
                          warmup_steps=1, log_every=1).model_dump()
    spec = TaskSpec(run_id="warm-test", experiment="e", config="c", strategy="single", task_id="worker-0",
                    role="worker", host="h", rank=0, size=1, workload=work,
                    threads={"intra_op": threads, "inter_op": threads})
    (d / "task.json").write_text(spec.to_json())


def _ran(d):
    recs = _records(d / "events.jsonl")
    start = next(r for r in recs if r["event"] == "run_start")
    built = next(r for r in recs if r["event"] == "phase" and r["name"] == "model_built")
    losses = [r["loss"] for r in recs if r["event"] == "step"]
    return start["pid"], start["warm"], built.get("kept"), losses


def _kept_env(key, keep=True):
    return {WARM_HOT_ENV: key, **({WARM_KEEP_ENV: "1"} if keep else {})}


def test_a_kept_child_serves_the_next_task_of_its_key_from_the_same_initial_weights(zygote, tmp_path):
    name, zp = zygote
    runs = []
    for i, (key, keep) in enumerate([("k1", True), ("k1", True), ("k1", False), ("k1", True)]):
        d = tmp_path / f"t{i}"
        _train_task(d)
        p = _start(d, name, **_kept_env(key, keep))
        assert p.wait(120) == 0, (d / "stderr.log").read_text()
        runs.append(_ran(d))
    (p1, w1, k1, l1), (p2, w2, k2, l2), (p3, w3, k3, l3), (p4, w4, k4, l4) = runs
    # the second and third tasks ran in the first one's process, with its model reset; the
    # third was not kept (no later run), so the fourth is a fresh fork that builds its own
    assert p1 == p2 == p3 != p4
    assert (w1["process_tasks"], w2["process_tasks"], w3["process_tasks"], w4["process_tasks"]) == (1, 2, 3, 1)
    assert (k1, k2, k3, k4) == (None, {"tasks": 2}, {"tasks": 3}, None)
    # the same initial weights and the same shuffled batches: the same losses, step by step
    assert len(l1) == 6 and l2 == pytest.approx(l1, rel=1e-5) and l3 == pytest.approx(l1, rel=1e-5)
    assert l4 == pytest.approx(l1, rel=1e-5)
    assert not os.path.exists(f"/proc/{p3}") or open(f"/proc/{p3}/stat").read().split()[2] == "Z"


def test_another_key_or_a_failed_task_never_reuses_a_kept_process(zygote, tmp_path):
    name, _ = zygote
    d = tmp_path / "a"
    _train_task(d)
    assert _start(d, name, **_kept_env("ka")).wait(120) == 0
    pa = _ran(d)[0]
    d = tmp_path / "b"   # another key (here: other threads) forks its own
    _train_task(d, threads=2)
    assert _start(d, name, **_kept_env("kb")).wait(120) == 0, (d / "stderr.log").read_text()
    assert _ran(d)[0] != pa
    d = tmp_path / "fail"   # a task of key ka that fails: its process is not kept
    _train_task(d, steps=6)
    spec = json.loads((d / "task.json").read_text())
    spec["workload"]["batch_size"] = 100000   # larger than the training set: the task fails
    (d / "task.json").write_text(json.dumps(spec))
    assert _start(d, name, **_kept_env("ka")).wait(120) == 1
    assert _records(d / "events.jsonl")[0]["pid"] == pa
    d = tmp_path / "after"
    _train_task(d)
    assert _start(d, name, **_kept_env("ka")).wait(120) == 0
    assert _ran(d)[0] != pa and _ran(d)[2] is None


def test_sigterm_reaches_a_kept_task_and_the_zygote_ends_its_waiting_children(tmp_path):
    d0 = tmp_path / "z"
    d0.mkdir()
    name = f"test-stop-{os.getpid()}"
    zp = _spawn_zygote(d0 / "zygote.log", name)
    try:
        d = tmp_path / "first"
        _train_task(d)
        assert _start(d, name, **_kept_env("k")).wait(120) == 0
        kept = _ran(d)[0]
        d = tmp_path / "long"
        _train_task(d, steps=100000 // 16)
        spec = json.loads((d / "task.json").read_text())
        spec["workload"]["epochs"] = 1000   # runs until stopped
        (d / "task.json").write_text(json.dumps(spec))
        p = _start(d, name, **_kept_env("k"))
        deadline = time.monotonic() + 60
        while not ((d / "events.jsonl").exists() and '"step"' in (d / "events.jsonl").read_text()):
            assert p.poll() is None and time.monotonic() < deadline, (d / "stderr.log").read_text()
            time.sleep(0.1)
        assert _records(d / "events.jsonl")[0]["pid"] == kept
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == -signal.SIGTERM   # the kept process ended as a cold one would
        d = tmp_path / "again"   # a new kept child, then the zygote's end takes it along
        _train_task(d)
        assert _start(d, name, **_kept_env("k")).wait(120) == 0
        waiting = _ran(d)[0]
        assert os.path.exists(f"/proc/{waiting}")
    finally:
        zp.send_signal(signal.SIGTERM)
        assert zp.wait(30) == 0
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{waiting}") and open(f"/proc/{waiting}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "a kept child outlived its zygote"
        time.sleep(0.05)


def test_a_waiting_kept_child_ends_with_its_zygote_even_a_killed_one(tmp_path):
    # A child forked later (here: busy with a long task) holds no copy of the waiting one's
    # channel, so the zygote's death reaches the waiting one at once.
    d0 = tmp_path / "z"
    d0.mkdir()
    name = f"test-kill-{os.getpid()}"
    zp = _spawn_zygote(d0 / "zygote.log", name)
    busy = None
    try:
        d = tmp_path / "a"
        _train_task(d)
        assert _start(d, name, **_kept_env("ka")).wait(120) == 0
        waiting = _ran(d)[0]
        d = tmp_path / "b"
        _train_task(d, threads=2)
        spec = json.loads((d / "task.json").read_text())
        spec["workload"]["epochs"] = 1000   # runs until stopped
        (d / "task.json").write_text(json.dumps(spec))
        busy = _start(d, name, **_kept_env("kb"))
        deadline = time.monotonic() + 60
        while not ((d / "events.jsonl").exists() and '"step"' in (d / "events.jsonl").read_text()):
            assert busy.poll() is None and time.monotonic() < deadline, (d / "stderr.log").read_text()
            time.sleep(0.1)
        zp.kill()
        zp.wait(10)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{waiting}") and open(f"/proc/{waiting}/stat").read().split()[2] != "Z":
            assert time.monotonic() < deadline, "a waiting kept child outlived its killed zygote"
            time.sleep(0.05)
        assert busy.poll() is None   # the busy one is its stand-in's until that ends
    finally:
        if zp.poll() is None:
            zp.kill()
        if busy is not None and busy.poll() is None:
            busy.kill()
            busy.wait(10)


def test_a_stand_in_stopped_while_the_zygote_imports_leaves_it_serving_the_next(tmp_path):
    # A first run's tasks wait in the zygote's queue during its imports (harness/stages/
    # warm_pool.py, own_run); one stopped there (a failure, max_init_s, --fail-fast) must
    # neither end the zygote nor the stand-ins queued behind it.
    name = f"test-queue-{os.getpid()}"
    zp = _spawn_zygote(tmp_path / "zygote.log", name, idle=60, until="warm_listening", timeout=60, poll=0.02)
    try:
        gone, kept = tmp_path / "gone", tmp_path / "kept"
        _sampler_task(gone)
        _sampler_task(kept)
        first = _start(gone, name)
        second = _start(kept, name)
        time.sleep(0.5)
        assert "warm_ready" not in (tmp_path / "zygote.log").read_text(), "imports done already: nothing queued"
        first.kill()
        first.wait(10)
        samples = kept / "samples.jsonl"
        deadline = time.monotonic() + 180
        while not (samples.exists() and '"sample"' in samples.read_text()):
            assert second.poll() is None and time.monotonic() < deadline, (kept / "stderr.log").read_text()
            time.sleep(0.1)
        assert zp.poll() is None, (tmp_path / "zygote.log").read_text()
        assert json.loads(next(line for line in samples.read_text().splitlines() if '"sampler_start"' in line))
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, (kept / "stderr.log").read_text()
        assert not (gone / "samples.jsonl").exists() or '"sample"' not in (gone / "samples.jsonl").read_text()
    finally:
        zp.send_signal(signal.SIGTERM)
        zp.wait(30)
