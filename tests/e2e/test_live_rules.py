"""Live rules in whole runs through harness.pipeline.run_experiment on this machine: a
configuration whose loss turns NaN (an absurd learning rate) and one that never reaches its
first step (a user's script sleeping before training) are stopped early, with the reason in
control.jsonl and the report; the next configuration still runs."""

import json
from pathlib import Path

import pytest
import yaml

from harness.pipeline import run_experiment

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 200, "warmup_steps": 2,
            "log_every": 1, "optimizer": "sgd"}


def _run(tmp_path, doc):
    (tmp_path / "e.yaml").write_text(yaml.safe_dump({"name": "live", "sample_interval_s": 0.5, **doc}))
    return run_experiment(str(tmp_path / "e.yaml"), str(ROOT / "hosts" / "local.yaml"),
                          runs_root=str(tmp_path / "runs"), run_id="live", grace_s=5)


def _control(res) -> list[dict]:
    return [json.loads(l) for l in (Path(res.run_dir) / "control.jsonl").read_text().splitlines()]


def test_a_nan_loss_stops_its_configuration_and_the_next_one_runs(tmp_path):
    res = _run(tmp_path, {"repeats": 2, "workload": {**WORKLOAD, "learning_rate": 100.0},
                          "configurations": [{"name": "diverges"}]})
    control = _control(res)
    end = {r["config"]: r for r in control if r["event"] == "config_end"}
    # the first repeat stopped early did not end the run: the second ran (and diverged too)
    for name in ("diverges@1", "diverges@2"):
        assert end[name]["status"] == "stopped_early" and end[name]["reason_code"] == "nan_loss", end
    live = [r for r in control if r["event"] == "live_rule"]
    assert [r["rule"] for r in live] == ["nan_loss", "nan_loss"] and live[0]["config"] == "diverges@1"
    steps = [json.loads(l) for l in (Path(res.run_dir) / "hosts/local/diverges@1/worker-0/events.jsonl")
             .read_text().splitlines() if '"event": "step"' in l]
    assert len(steps) < 200 * 10   # stopped long before its 200 epochs
    assert res.status == "stopped_early"
    assert "stopped early (nan_loss)" in (Path(res.run_dir) / "report.md").read_text()


def test_no_first_step_within_max_init_stops_the_configuration(tmp_path):
    res = _run(tmp_path, {"max_init_s": 5, "time_limit_s": 120, "workload": {
        "script": str(ROOT / "tests" / "scripts" / "slow_start.py"), "env": {"SLOW_START_S": "100"}},
        "configurations": [{"name": "slow"}]})
    end = next(r for r in _control(res) if r["event"] == "config_end")
    assert end["status"] == "stopped_early" and end["reason_code"] == "max_init", end
    report = (Path(res.run_dir) / "report.md").read_text()
    assert "max initialization time" in report and "stopped by the supervisor" in report


def test_a_detached_run_applies_the_same_live_rules_on_the_hosts(tmp_path):
    # The steward on the hosts supervises a detached run (harness/worker/keeper_steward.py):
    # the NaN loss stops each repeat early there, with the same records as attached.
    import os
    import subprocess
    import sys

    (tmp_path / "e.yaml").write_text(yaml.safe_dump({
        "name": "live", "sample_interval_s": 0.5, "repeats": 2,
        "workload": {**WORKLOAD, "learning_rate": 100.0}, "configurations": [{"name": "diverges"}]}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_USE_LEGACY_KERAS": "1"}

    def harness(*args):
        return subprocess.run([sys.executable, "-m", "harness", *args, "--runs-dir", "runs"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)

    started = harness("run", "-e", "e.yaml", "--hosts", str(ROOT / "hosts" / "local.yaml"), "--run-id", "det",
                      "--detach")
    assert started.returncode == 0 and "detached" in started.stdout, started.stdout + started.stderr
    attached = harness("attach", "det")
    assert "stopped early (nan_loss)" in attached.stderr, attached.stdout[-2000:] + attached.stderr[-2000:]
    control = [json.loads(l) for l in (tmp_path / "runs" / "det" / "control.jsonl").read_text().splitlines()]
    end = {r["config"]: r for r in control if r["event"] == "config_end"}
    for name in ("diverges@1", "diverges@2"):
        assert end[name]["status"] == "stopped_early" and end[name]["reason_code"] == "nan_loss", end
    assert [r["rule"] for r in control if r["event"] == "live_rule"] == ["nan_loss", "nan_loss"]
    assert "stopped early (nan_loss)" in (tmp_path / "runs" / "det" / "report.md").read_text()
