"""Distributed runs through harness.pipeline.run_experiment on local-transport hosts, and
what the tests read from them (tests/e2e/test_distributed.py and the tests built on it)."""

import os
import subprocess
from pathlib import Path

import yaml

from harness.pipeline import run_experiment
from harness.protocol.events import read_events
from tests.support.ports import free_base_port

WORKLOAD = {"model": "mlp", "dataset": {"name": "digits", "validation_split": 0.25}, "batch_size": 32,
            "epochs": 2, "steps_per_epoch": 10, "learning_rate": 0.1, "optimizer": "momentum",
            "warmup_steps": 2, "log_every": 1}
HOSTS = {"hosts": [
    {"name": "h1", "transport": "local", "address": "127.0.0.1", "slots": 1, "instance_type": "c7i.large",
     "labels": {"role": "ps"}},
    {"name": "h2", "transport": "local", "address": "127.0.0.1", "slots": 1, "instance_type": "c7i.large"},
    {"name": "h3", "transport": "local", "address": "127.0.0.1", "slots": 1, "instance_type": "c7i.large"},
    {"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large"},
]}


def write_files(tmp_path: Path, configs: list[dict], workload=WORKLOAD, hosts=HOSTS, **exp):
    doc = {"name": "dist", "workload": workload, "configurations": configs, "sample_interval_s": 0,
           "base_port": free_base_port(), "time_limit_s": 180, **exp}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return str(tmp_path / "exp.yaml"), str(tmp_path / "hosts.yaml")


def run(tmp_path, configs, run_id="r", **kw):
    e, h = write_files(tmp_path, configs, **kw)
    return run_experiment(e, h, runs_root=str(tmp_path / "runs"), run_id=run_id, grace_s=5)


def task_dir(res, host, config, task):
    return Path(res.run_dir) / "hosts" / host / config / task


def records(path: Path, event: str | None = None) -> list[dict]:
    return [r for r in read_events(path) if event is None or r["event"] == event]


def assert_trained(events_file: Path, steps: int, *, epochs: bool = True):
    """The task logged every step and its loss fell (mean of the first 3 vs the last 3)."""
    step = records(events_file, "step")
    assert sum(r["steps"] for r in step) == steps, events_file
    assert all(r["seconds"] > 0 and r["images"] > 0 for r in step)
    first = sum(r["loss"] for r in step[:3]) / 3
    last = sum(r["loss"] for r in step[-3:]) / 3
    assert last < first * 0.8, (events_file, first, last)
    end = records(events_file, "run_end")
    assert end and end[-1]["status"] == "ok", events_file
    if epochs:
        assert len(records(events_file, "epoch")) == WORKLOAD["epochs"]
    return step


def run_leftovers(run_id: str) -> list[int]:
    out = subprocess.run(["sh", "-c", f"grep -l -a -F -x -z HARNESS_RUN_ID={run_id} /proc/[0-9]*/environ "
                          "2>/dev/null | cut -d/ -f3"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]
