"""The sampler sees every training process of a run in every sample of its training window,
through harness.pipeline.run_experiment on local-transport hosts: a single process run cold,
forked from the warm zygote (a repeat) and kept from that repeat (the next one: its process
is older than the sample interval, its CPU before the task is not counted), and a parameter-server configuration (a chief,
two workers and a ps on three hosts of this machine). A missing process fails the test; so
does a sample whose task CPU has no reading while every process in it started after the
previous sample."""

import json
from pathlib import Path

import pytest

from tests.support.distributed import WORKLOAD, run

pytestmark = [pytest.mark.slow]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _windows(config_dir: Path) -> dict[int, tuple[float, float]]:
    """Per training process (a task with step records; its pid from run_start): first step
    start, last step end."""
    out = {}
    for events in sorted(config_dir.glob("*/events*.jsonl")):
        recs = _lines(events)
        steps = [r for r in recs if r.get("event") == "step"]
        if steps:
            pid = next(r["pid"] for r in recs if r.get("event") == "run_start")
            out[pid] = (min(r["t_wall"] - r["seconds"] for r in steps), max(r["t_wall"] for r in steps))
    return out


def assert_every_sample_sees_the_training(run_dir: Path, config: str) -> int:
    """Every sample (of every host's sampler) whose time lies in a training process's window
    lists that process (all hosts here share this machine's process table) and has a CPU
    reading; returns how many samples were checked."""
    dirs = sorted(Path(run_dir, "hosts").glob(f"*/{config}"))
    windows = {k: w for d in dirs for k, w in _windows(d).items()}
    assert windows, f"no step records in {config}"
    checked = 0
    for d in dirs:
        samples = [r for r in _lines(d / "sampler" / "samples.jsonl") if r["event"] == "sample"]
        for s in samples:
            t = s["t_wall"]
            training = [k for k, (a, b) in windows.items() if a <= t <= b]
            if not training:
                continue
            checked += 1
            missing = set(training) - set(s["tasks"]["pids"])
            assert not missing, (d, t, s["tasks"], missing)
            assert s["tasks"]["cpu_percent"] is not None, (d, t, s["tasks"])
    assert checked, f"no sample inside a training window of {config}"
    return checked


def test_single_cold_and_warm_training_is_in_every_sample_of_its_window(tmp_path):
    res = run(tmp_path, [{"name": "one", "threads": {"intra_op": 1, "inter_op": 1}}], run_id="cover1",
              workload={**WORKLOAD, "model": "cifar10_cnn", "epochs": 10, "steps_per_epoch": None}, repeats=3, sample_interval_s=0.5,
              hosts={"hosts": [{"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large"}]})
    assert res.status == "succeeded", res.reason
    run_dir = Path(res.run_dir)
    def warm(unit):
        return next(json.loads(l) for l in (run_dir / f"hosts/local/{unit}/worker-0/events.jsonl").read_text()
                    .splitlines() if '"run_start"' in l).get("warm") or {}

    # the first run is a fresh child of a zygote started in its window, the repeats its kept process
    assert warm("one@1").get("own_zygote") and warm("one@1")["process_tasks"] == 1, \
        "the first run was not a zygote's fresh child: the test would not cover fresh warm children"
    assert [warm(u).get("process_tasks") for u in ("one@2", "one@3")] == [2, 3], \
        "the repeats were not kept: the test would not cover kept ones"
    for config in ("one@1", "one@2", "one@3"):
        assert assert_every_sample_sees_the_training(run_dir, config) >= 3


def test_parameter_server_training_is_in_every_sample_of_its_window(tmp_path):
    res = run(tmp_path, [{"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 2,
                          "hosts": ["h1", "h2", "h3"]}], run_id="cover2",
              workload={**WORKLOAD, "model": "cifar10_cnn", "epochs": 3, "steps_per_epoch": 30}, sample_interval_s=0.5)
    assert res.status == "succeeded", res.reason
    assert assert_every_sample_sees_the_training(Path(res.run_dir), "ps") >= 3
