"""A spot interruption mid-run → checkpoint → `--resume`, end to end on this machine: real
TensorFlow training, the worker's IMDS watcher against a local IMDSv2 stand-in (token flow,
404 until the test flips the notice on), and the final step count equal to the planned one."""

import json
import threading
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.pipeline import run_experiment
from harness.protocol.events import read_jsonl
from tests.support.aws_fixtures import FakeImds

EPOCHS, STEPS_PER_EPOCH = 8, 25
PLANNED = EPOCHS * STEPS_PER_EPOCH

EXPERIMENT = f"""
name: spot
spot_watch: true
spot_watch_interval_s: 0.05
sample_interval_s: 0
workload:
  model: mlp
  dataset: {{name: digits, validation_split: 0.25}}
  batch_size: 16
  epochs: {EPOCHS}
  steps_per_epoch: {STEPS_PER_EPOCH}
  learning_rate: 0.1
  optimizer: momentum
  warmup_steps: 1
configurations:
  - name: one
    threads: {{intra_op: 1, inter_op: 1, omp: 1}}
"""
HOSTS = """
hosts:
  - {name: local, transport: local, instance_type: c7i.large, slots: 2, labels: {lifecycle: spot},
     price_per_hour: 0.1, spot_price_per_hour: 0.04}
"""


def _events(run: Path) -> list[dict]:
    return read_jsonl(run / "hosts" / "local" / "one" / "worker-0" / "events.jsonl")[0]


def _steps(events):
    return [e["step"] for e in events if e["event"] == "step"]


@pytest.mark.slow
def test_interruption_checkpoints_and_resume_reaches_the_planned_steps(tmp_path, monkeypatch):
    (tmp_path / "e.yaml").write_text(EXPERIMENT)
    (tmp_path / "h.yaml").write_text(HOSTS)
    e, h, runs = str(tmp_path / "e.yaml"), str(tmp_path / "h.yaml"), tmp_path / "runs"
    with FakeImds(notice_after=10 ** 9) as imds:
        monkeypatch.setenv("HARNESS_IMDS_URL", imds.url)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=run_experiment(e, h, runs_root=str(runs), run_id="r1")))
        t.start()
        events_file = runs / "r1" / "hosts" / "local" / "one" / "worker-0" / "events.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (events_file.exists() and '"event": "step"' in events_file.read_text()):
            time.sleep(0.01)
        imds.notice_after = 0   # the notice appears at the next GET
        t.join(180)
        assert not t.is_alive()
        assert imds.token_puts >= 1 and imds.unauthorized == 0
    r1 = result["r"]
    assert r1.status == "interrupted", r1.reason
    assert "spot interruption" in r1.reason
    ev1 = _events(r1.run_dir)
    spot = [x for x in ev1 if x["event"] == "spot_interruption"]
    assert len(spot) == 1 and spot[0]["action"] == "terminate" and 0 < spot[0]["step"] < PLANNED
    ckpt = [x for x in ev1 if x["event"] == "checkpoint"][-1]
    assert ckpt["step"] == spot[0]["step"] and ckpt["reason"] == "spot_interruption"
    assert (r1.run_dir / "hosts" / "local" / "one" / "worker-0" / (ckpt["path"] + ".index")).is_file()
    assert [x for x in ev1 if x["event"] == "run_end"][-1]["status"] == "interrupted"
    assert (r1.run_dir / "hosts" / "local" / "one" / "worker-0" / "exit_code").read_text().strip() == "75"
    control1 = read_jsonl(r1.run_dir / "control.jsonl")[0]
    assert [x["status"] for x in control1 if x["event"] == "config_end"] == ["interrupted"]
    report = (r1.run_dir / "report.md").read_text()
    assert "Spot interruptions" in report and "lost" in report

    # Resume through the command line, from the interrupted run's own copies of its files.
    rc = main(["run", "--resume", str(r1.run_dir), "--runs-dir", str(runs), "--run-id", "r2"])
    assert rc == 0
    r2 = runs / "r2"
    ev2 = _events(r2)
    start = next(x for x in ev2 if x["event"] == "run_start")
    assert start["resumed_from"] == {"run_id": "r1", "checkpoint_path": str(
        (r1.run_dir / "hosts" / "local" / "one" / "worker-0").resolve() / ckpt["path"]), "step": ckpt["step"]}
    restored = next(x for x in ev2 if x["event"] == "phase" and x["name"] == "checkpoint_restored")
    assert restored["remaining_steps"] == PLANNED - ckpt["step"]
    s1, s2 = _steps(ev1), _steps(ev2)
    assert s2[0] == ckpt["step"] + 1 and s2[-1] == PLANNED and s2 == sorted(s2)
    assert len(s1) + len(s2) >= PLANNED
    assert len(set(s1[: s1.index(ckpt["step"]) + 1]) | set(s2)) == PLANNED   # every planned step, once
    control2 = read_jsonl(r2 / "control.jsonl")[0]
    assert next(x for x in control2 if x["event"] == "run_start")["resumed_from"] == "r1"
    res = next(x for x in control2 if x["event"] == "resume")
    assert res["from_run"] == "r1" and res["configs"]["one"]["from_step"] == ckpt["step"]
    assert res["configs"]["one"]["planned_steps"] == PLANNED
    assert [x["status"] for x in control2 if x["event"] == "config_end"] == ["succeeded"]

    # Nothing left to resume once it succeeded.
    assert main(["run", "--resume", str(r2), "--runs-dir", str(runs), "--run-id", "r3"]) != 0



def _fake_run(d: Path, run_id: str, status: str, task_dir: str, events: list[dict], control_extra=()):
    d.mkdir(parents=True)
    (d / "plan.json").write_text(json.dumps({"run_id": run_id, "configs": [
        {"name": "one", "tasks": [{"task_id": "worker-0", "host": "gpu1", "role": "worker", "task_dir": task_dir},
                                  {"task_id": "sampler", "host": "gpu1", "role": "sampler", "task_dir": "/x"}]}]}))
    (d / "resolved.json").write_text(json.dumps({"experiment": {"workload": {"epochs": 4}}}))
    ctl = [*control_extra, {"event": "config_end", "config": "one", "status": status}]
    (d / "control.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ctl))
    ev = d / "hosts" / "gpu1" / "one" / "worker-0" / "events.jsonl"
    ev.parent.mkdir(parents=True)
    ev.write_text("".join(json.dumps(r) + "\n" for r in events))


def test_resume_points_on_ssh_hosts_and_a_second_resume(tmp_path):
    from harness.pipeline import resume_points

    data = {"event": "phase", "name": "data_ready", "steps_per_epoch": 10}
    _fake_run(tmp_path / "a", "a", "interrupted", "/srv/h/runs/a/one/worker-0",
              [data, {"event": "checkpoint", "path": "checkpoints/ckpt-1", "step": 10},
               {"event": "checkpoint", "path": "checkpoints/spot-step17", "step": 17}])
    one = resume_points(tmp_path / "a")["configs"]["one"]
    # The path on the host, from the old plan's task directory (checkpoints stay there).
    assert one["checkpoint_path"] == "/srv/h/runs/a/one/worker-0/checkpoints/spot-step17"
    assert (one["from_step"], one["remaining_steps"], one["planned_steps"], one["checkpoint_host"]) == (17, 23, 40, "gpu1")
    # Resumed run b failed before training or before any checkpoint: a's point still holds.
    _fake_run(tmp_path / "b", "b", "failed", "/srv/h/runs/b/one/worker-0", [],
              [{"event": "resume", "from_run": "a", "configs": {"one": one}}])
    assert resume_points(tmp_path / "b")["configs"]["one"]["checkpoint_path"] == one["checkpoint_path"]
    _fake_run(tmp_path / "c", "c", "succeeded", "/t", [data])
    assert resume_points(tmp_path / "c")["configs"] == {}
