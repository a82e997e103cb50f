"""Configurations that differ in their workload, end to end on this machine: a batch-size
sweep trains for real (an MLP on digits), each configuration's task is told its own batch
size, its step records carry that many images per step, and the report shows the
difference and ranks by time to the target."""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = [pytest.mark.slow]

EXPERIMENT = """
name: workloads
workload:
  model: mlp
  dataset: {name: digits, validation_split: 0.25}
  batch_size: 32
  epochs: 1
  learning_rate: 0.1
  optimizer: momentum
  target_accuracy: 0.5
  warmup_steps: 3
configurations:
  - name: b
    threads: {intra_op: 1, inter_op: 1}
    workload: {batch_size: [16, 64]}
"""
HOSTS = """
hosts:
  - {name: local, transport: local, instance_type: c7i.large, slots: 2}
"""


def _images_per_step(events: Path) -> Counter:
    steps = [json.loads(line) for line in events.read_text().splitlines()]
    return Counter(r["images"] / r["steps"] for r in steps if r.get("event") == "step")


def test_two_batch_sizes_train_as_told_and_the_report_shows_it(tmp_path, capsys):
    (tmp_path / "e.yaml").write_text(EXPERIMENT)
    (tmp_path / "h.yaml").write_text(HOSTS)
    rc = main(["run", "-e", str(tmp_path / "e.yaml"), "--hosts", str(tmp_path / "h.yaml"),
               "--runs-dir", str(tmp_path / "runs"), "--run-id", "r1"])
    assert rc == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "r1"
    for config, batch in (("b-batch_size16", 16), ("b-batch_size64", 64)):
        task = run / "hosts" / "local" / config / "worker-0"
        assert json.loads((task / "task.json").read_text())["workload"]["batch_size"] == batch
        per_step = _images_per_step(task / "events.jsonl")
        assert set(per_step) == {float(batch)} and sum(per_step.values()) >= 1344 // batch  # one epoch
    rows = {r["config"]: r for r in csv.DictReader(open(run / "results.csv"))}
    assert rows["b-batch_size16"]["workload"] == "batch_size 16" and rows["b-batch_size64"]["workload"] == "batch_size 64"
    assert all(r["status"] == "succeeded" and r["time_to_target_s"] for r in rows.values())
    md = (run / "report.md").read_text()
    assert "| Configuration | Workload |" in md and "different work: batch_size 16 vs 64" in md
    assert "fastest by time to target" in md   # ranked by the target, never by images/s
