"""harness/stages/load.py: resume points from an earlier run's collected files, MPI ranks included."""

import json
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.stages.load import resume_points


def _run(d: Path, tasks: list[dict], status: str, files: dict[str, list[dict]], epochs=4):
    d.mkdir(parents=True)
    (d / "plan.json").write_text(json.dumps({"run_id": d.name, "configs": [{"name": "c", "tasks": tasks}]}))
    (d / "resolved.json").write_text(json.dumps({"experiment": {"workload": {"epochs": epochs}}}))
    (d / "control.jsonl").write_text(json.dumps({"event": "config_end", "config": "c", "status": status}) + "\n")
    for rel, records in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_mpi_ranks_events_give_the_resume_point(tmp_path):
    tasks = [{"task_id": "mpirun", "host": "a", "role": "launcher", "task_dir": "/w/runs/r/c/mpirun"},
             {"task_id": "mpi-host-1", "host": "b", "role": "mpi_host", "task_dir": "/w/runs/r/c/mpi-host-1"}]
    ready = {"event": "phase", "name": "data_ready", "steps_per_epoch": 10}
    _run(tmp_path / "r", tasks, "failed", {
        "hosts/a/c/mpirun/events.jsonl": [{"event": "mpirun", "argv": []}],
        "hosts/a/c/mpirun/events-rank0.jsonl": [ready, {"event": "checkpoint", "path": "checkpoints/ckpt-2",
                                                        "step": 20}],
        "hosts/b/c/mpi-host-1/events-rank1.jsonl": [ready]})
    c = resume_points(tmp_path / "r")["configs"]["c"]
    assert (c["from_step"], c["planned_steps"], c["remaining_steps"]) == (20, 40, 20)
    assert c["checkpoint_path"] == "/w/runs/r/c/mpirun/checkpoints/ckpt-2" and c["checkpoint_host"] == "a"


def test_succeeded_configs_are_not_resumed_and_a_non_run_is_refused(tmp_path):
    _run(tmp_path / "ok", [{"task_id": "w", "host": "a", "role": "worker", "task_dir": "/t"}], "succeeded", {})
    assert resume_points(tmp_path / "ok")["configs"] == {}
    with pytest.raises(UsageError, match="not a run directory"):
        resume_points(tmp_path / "nothing")


def test_a_configurations_own_epochs_plan_its_resume(tmp_path):
    # the experiment says 4 epochs; this configuration's own workload said 2 (its task.json)
    tasks = [{"task_id": "w", "host": "a", "role": "worker", "task_dir": "/t",
              "spec": {"workload": {"epochs": 2, "batch_size": 8}}}]
    ready = {"event": "phase", "name": "data_ready", "steps_per_epoch": 10}
    _run(tmp_path / "r", tasks, "failed", {"hosts/a/c/w/events.jsonl": [
        ready, {"event": "checkpoint", "path": "/t/checkpoints/ckpt-1", "step": 5}]}, epochs=4)
    c = resume_points(tmp_path / "r")["configs"]["c"]
    assert (c["from_step"], c["planned_steps"], c["remaining_steps"]) == (5, 20, 15)
