"""The user's own training script: launched by the harness with the strategy's environment,
its figures read from harness.callback's records or from regular expressions on its output."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.callback import Recorder
from harness.protocol.events import read_events
from harness.protocol.spec import TaskSpec
from harness.report.figures.metrics import compute_metrics
from harness.report.read.rundir import load_run
from harness.worker.script import compile_metrics, match_line, script_env
from tests.support.distributed import records, run, run_leftovers, task_dir

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
ROOT = Path(__file__).resolve().parents[2]


def test_callback_module_does_not_import_tensorflow():
    code = "import sys, harness.callback as c; r = c.Recorder(); print('tensorflow' in sys.modules, r.enabled)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PATH": "/usr/bin:/bin"}).stdout
    assert out.split() == ["False", "False"]   # and without HARNESS_EVENTS it writes nothing


@pytest.mark.slow
def test_recorder_writes_standard_records(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_EVENTS", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("HARNESS_RANK", "3")
    rec = Recorder(log_every=2)
    for loss in (2.0, 1.0, 0.5):
        rec.step(images=32, seconds=0.1, loss=loss, epoch=1)
    rec.epoch(1, train_loss=1.2, val_accuracy=0.5, val_loss=None)
    rec.close()
    out = list(read_events(tmp_path / "events.jsonl"))
    assert [(r["event"], r.get("step"), r.get("steps")) for r in out] == [
        ("step", 2, 2), ("step", 3, 1), ("epoch", None, None)]
    assert out[0]["images"] == 64 and abs(out[0]["seconds"] - 0.2) < 1e-9 and out[0]["loss"] == 1.5
    assert out[0]["data_wait_s"] is None and all(r["source"] == "callback" and r["rank"] == 3 for r in out)
    assert "val_loss" not in out[2] and out[2]["val_accuracy"] == 0.5


def test_regexes_pull_numbers_from_lines():
    pats = compile_metrics({"images_per_s": r"([0-9.]+) images/sec", "loss": r"loss=([0-9.]+)"})
    assert match_line("epoch 2: 1234.5 images/sec loss=0.25 acc=1", pats) == [("images_per_s", 1234.5),
                                                                              ("loss", 0.25)]
    assert match_line("loss=nan-ish", compile_metrics({"loss": r"loss=(\S+)"})) == []
    assert match_line("nothing here", pats) == []


def test_script_environment_names_the_task_and_its_threads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = script_env(TaskSpec(run_id="r", experiment="e", config="c", task_id="worker-1", role="worker", host="h",
                              rank=1, size=2, strategy="horovod", events="events.jsonl",
                              threads={"intra_op": 2, "inter_op": 1},
                              workload={"script": "x.py", "batch_size": 16, "dataset": {"name": "digits"}}))
    assert env["HARNESS_EVENTS"] == str(tmp_path / "events.jsonl") and env["HARNESS_RANK"] == "1"
    assert env["TF_NUM_INTRAOP_THREADS"] == "2" and env["TF_NUM_INTEROP_THREADS"] == "1"
    assert env["HARNESS_BATCH_SIZE"] == "16" and env["HARNESS_DATASET_NAME"] == "digits"
    assert str(ROOT) in env["PYTHONPATH"].split(":")


@pytest.mark.slow
@pytest.mark.horovod
def test_own_keras_script_with_the_callback_under_horovod(tmp_path):
    workload = {"script": str(SCRIPTS / "fit_with_callback.py"), "args": ["3"], "batch_size": 32,
                "warmup_steps": 2, "dataset": {"name": "digits"}}
    res = run(tmp_path, [{"name": "own-hvd", "strategy": "horovod", "workers": 2, "hosts": ["h1", "h2"]}],
              workload=workload, run_id="cb")
    assert res.status == "succeeded", res.reason
    for host, rank in (("h1", 0), ("h2", 1)):
        d = task_dir(res, host, "own-hvd", f"worker-{rank}")
        step = records(d / "events.jsonl", "step")
        assert len(step) == 3 * 21 and all(r["source"] == "callback" and r["rank"] == rank for r in step)
        assert step[-1]["loss"] < step[0]["loss"]
        epochs = records(d / "events.jsonl", "epoch")
        assert [e["epoch"] for e in epochs] == [1, 2, 3] and epochs[-1]["train_loss"] < epochs[0]["train_loss"]
        assert ("val_accuracy" in epochs[-1]) == (rank == 0)
        assert f"rank {rank} of 2 done" in (d / "stdout.log").read_text()   # its output is kept
        exits = records(d / "events.jsonl", "script_exit")
        assert exits[0]["returncode"] == 0
    csv = (Path(res.run_dir) / "results.csv").read_text()
    assert "own-hvd" in csv
    assert not run_leftovers("cb")


@pytest.mark.slow
@pytest.mark.horovod
def test_keras_benchmark_with_horovods_callbacks_on_two_ranks(tmp_path):
    """horovod.tensorflow.keras as users write it (DistributedOptimizer around tf.keras's SGD,
    the broadcast, metric-averaging, warm-up and schedule callbacks, model.fit), 2 ranks
    through the harness: it completes, the callbacks did their work, and the report's
    throughput equals the script's own printed total within its ±."""
    iters = 6
    workload = {"script": str(SCRIPTS / "keras_benchmark.py"), "args": ["--num-iters", str(iters)],
                "batch_size": 32, "metrics": {"images_per_s": r"Iter #\d+: ([0-9.]+) img/sec per worker"},
                "throughput_scope": "per_rank", "warmup_readings": 1}
    res = run(tmp_path, [{"name": "kbench", "strategy": "horovod", "workers": 2, "hosts": ["h1", "h2"],
                          "threads": {"intra_op": 1, "inter_op": 1}}], workload=workload, run_id="kb")
    assert res.status == "succeeded", res.reason
    out, ends = {}, {}
    for host, rank in (("h1", 0), ("h2", 1)):
        out[rank] = (task_dir(res, host, "kbench", f"worker-{rank}") / "stdout.log").read_text()
        assert len(re.findall(rf"Iter #\d+: [0-9.]+ img/sec per worker \(rank {rank}\)", out[rank])) == iters
        ends[rank] = re.search(rf"rank {rank}: done, loss ([0-9.]+), lr (\S+)", out[rank]).groups()
    # MetricAverageCallback: one loss on both ranks, though each trained on its own data
    assert ends[0][0] == ends[1][0]
    # warm-up from 0.01 to 0.02 (0.01 per worker × 2) over 2 epochs, then × 0.5 per epoch from epoch 2
    assert "finished gradual learning rate warmup to 0.02" in out[0]
    assert float(ends[0][1]) == float(ends[1][1]) == pytest.approx(0.02 * 0.5 ** (iters - 1 - 2))
    m_total = re.search(r"Total img/sec on 2 worker\(s\): ([0-9.]+) \+-([0-9.]+)", out[0])
    total, pm = float(m_total.group(1)), float(m_total.group(2))
    (m,) = compute_metrics(load_run(Path(res.run_dir)))
    print(f"script's printed total: {total:.1f} +-{pm:.1f} img/s; report: {m.throughput_images_per_s:.1f} "
          f"± {m.throughput_ci95_half_width_images_per_s:.1f} images/s ({m.throughput_method})")
    assert abs(m.throughput_images_per_s - total) <= pm
    assert "2 of 2" in m.throughput_method


@pytest.mark.slow
def test_own_script_read_through_regular_expressions(tmp_path):
    workload = {"script": str(SCRIPTS / "prints_metrics.py"), "args": ["3"],
                "metrics": {"images_per_s": r"([0-9.]+) images/sec", "loss": r"loss=([0-9.]+)",
                            "accuracy": r"acc=([0-9.]+)"}}
    res = run(tmp_path, [{"name": "own-regex", "hosts": ["h1"], "threads": {"intra_op": 1}}],
              workload=workload, run_id="rx")
    assert res.status == "succeeded", res.reason
    ev = task_dir(res, "h1", "own-regex", "worker-0") / "events.jsonl"
    metrics = records(ev, "metric")
    assert all(m["source"] == "regex" and m["stream"] == "stdout" for m in metrics)
    by = {}
    for m in metrics:
        by.setdefault(m["name"], []).append(m["value"])
    assert sorted(by) == ["accuracy", "images_per_s", "loss"] and all(len(v) == 3 for v in by.values())
    assert by["loss"][-1] < by["loss"][0] and all(v > 0 for v in by["images_per_s"])
    assert records(ev, "script_exit")[0]["regex_matches"] == 9
