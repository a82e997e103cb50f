"""`harness run` end to end on this machine: real TensorFlow training, real processes,
the report, its reproduction from raw files, and Ctrl-C of the control process."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

EXPERIMENT = """
name: e2e
workload:
  model: mlp
  dataset: {{name: digits, validation_split: 0.25}}
  batch_size: 32
  epochs: {epochs}
  learning_rate: 0.1
  optimizer: momentum
  target_accuracy: 0.5
  warmup_steps: 3
configurations:
  - name: one-thread
    threads: {{intra_op: 1, inter_op: 1, omp: 1}}
  - name: two-threads
    threads: {{intra_op: 2, inter_op: 1}}
"""
HOSTS = """
hosts:
  - {name: local, transport: local, instance_type: c7i.large, slots: 2}
"""


def files(tmp_path, epochs=2):
    (tmp_path / "e.yaml").write_text(EXPERIMENT.format(epochs=epochs))
    (tmp_path / "h.yaml").write_text(HOSTS)
    return str(tmp_path / "e.yaml"), str(tmp_path / "h.yaml")


def test_run_trains_reports_and_report_reproduces(tmp_path, capsys):
    e, h = files(tmp_path)
    rc = main(["run", "-e", e, "--hosts", h, "--runs-dir", str(tmp_path / "runs"), "--run-id", "r1"])
    assert rc == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "r1"
    rows = list(csv.DictReader(open(run / "results.csv")))
    assert [r["config"] for r in rows] == ["one-thread", "two-threads"]
    for r in rows:
        assert r["status"] == "succeeded"
        assert float(r["throughput_images_per_s"]) > 0
        assert float(r["startup_s"]) > 0
        assert float(r["final_val_accuracy"]) > 0.5   # real learning on real digits
    for cfg in ("one-thread", "two-threads"):
        task = run / "hosts" / "local" / cfg / "worker-0"
        assert (task / "exit_code").read_text().strip() == "0"
        assert not (task / "env.sh").exists()
        # The loss really fell between the first and last step records.
        import json

        steps = [json.loads(l) for l in open(task / "events.jsonl") if '"step"' in l and '"event": "step"' in l]
        assert steps[-1]["loss"] < steps[0]["loss"]
    # One contract: every task got exactly the spec plan.json holds for it (written once by bind).
    plan = json.loads((run / "plan.json").read_text())
    for cp in plan["configs"]:
        for t in cp["tasks"]:
            shipped = json.loads((run / "hosts" / t["host"] / cp["name"] / t["task_id"] / "task.json").read_text())
            assert shipped == t["spec"] and shipped["spec_version"] >= 1
    before = {p: (run / p).read_bytes() for p in ("results.csv", "report.md", "report.html")}
    for p in before:
        (run / p).unlink()
    assert main(["report", str(run)]) == 0
    assert {p: (run / p).read_bytes() for p in before} == before


def test_ctrl_c_stops_everything_and_keeps_a_partial_report(tmp_path):
    e, h = files(tmp_path, epochs=500)
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "-e", e, "--hosts", h, "--runs-dir", str(runs),
                             "--run-id", "r2", "--grace", "5"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    events = runs / "r2" / "hosts" / "local" / "one-thread" / "worker-0" / "events.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (events.exists() and '"event": "step"' in events.read_text()):
        time.sleep(0.2)
    assert events.exists(), "training never started"
    pid = int((events.parent / "pid").read_text())
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 20
    # Nothing of the run is left: not the task's session, not anything carrying its id.
    left = subprocess.run(["sh", "-c", f"ps -e -o pid=,sid=,stat= | awk '$2 == {pid} && $3 !~ /^Z/'"],
                          capture_output=True, text=True).stdout
    assert left.strip() == ""
    run = runs / "r2"
    assert "stopped" in (run / "report.md").read_text()
    rows = {r["config"]: r for r in csv.DictReader(open(run / "results.csv"))}
    assert rows["one-thread"]["status"] == "stopped" and rows["two-threads"]["status"] == "not run"
    assert "stopping every task" in err
