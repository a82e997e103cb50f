"""Hand-written run directories for the report tests (layout and fields: docs/events.md).

`standard_run` is the shared fixture; its numbers are chosen so every metric can be worked
out by hand, and tests/test_report_metrics.py shows that arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

WORKLOAD = {"model": "mlp", "batch_size": 32, "epochs": 3, "warmup_steps": 3,
            "log_every": 2, "target_accuracy": 0.5}


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


class TaskDir:
    def __init__(self, run: "RunDir", config: str, task_id: str, host: str, role: str, rank: int):
        self.config, self.task_id, self.host, self.role, self.rank = config, task_id, host, role, rank
        self.path = run.root / "hosts" / host / config / task_id
        self.path.mkdir(parents=True, exist_ok=True)
        self.events = self.path / "events.jsonl"

    def task_json(self, workload: Optional[dict] = None) -> "TaskDir":
        spec = {"config": self.config, "task_id": self.task_id, "role": self.role,
                "rank": self.rank, "host": self.host, "workload": workload or WORKLOAD}
        (self.path / "task.json").write_text(json.dumps(spec), encoding="utf-8")
        return self

    def event(self, event: str, t_wall: float, **fields: Any) -> "TaskDir":
        rec = {"event": event, "t_wall": t_wall, "t_mono": t_wall - 90.0, "config": self.config,
               "task_id": self.task_id, "role": self.role, "rank": self.rank, "host": self.host}
        rec.update(fields)
        _append(self.events, rec)
        return self

    def step(self, t_wall: float, step: int, seconds: float, *, steps: int = 2, images: int = 64,
             data_wait_s: float = 0.0, epoch: int = 1) -> "TaskDir":
        return self.event("step", t_wall, step=step, steps=steps, epoch=epoch, images=images,
                          seconds=seconds, data_wait_s=data_wait_s, loss=1.0)

    def epoch(self, t_wall: float, epoch: int, **fields: Any) -> "TaskDir":
        return self.event("epoch", t_wall, epoch=epoch, **fields)

    def startup(self, run_start: float, import_s: float, data_s: float, model_s: float) -> "TaskDir":
        """run_start then the three phase records, back to back."""
        self.event("run_start", run_start, pid=1234, process_start_wall=run_start - 0.1,
                   versions={"python": "3.11"}, host_facts={"cores_logical": 2}, threads={})
        t = run_start + import_s
        self.event("phase", t, name="framework_import", seconds=import_s)
        self.event("phase", t + data_s, name="data_ready", seconds=data_s)
        return self.event("phase", t + data_s + model_s, name="model_built", seconds=model_s)

    def torn(self, text: str) -> "TaskDir":
        """A last line cut off mid-write (no newline), as a killed process leaves it."""
        with open(self.events, "a", encoding="utf-8") as fh:
            fh.write(text)
        return self

    def exit_code(self, code: int) -> "TaskDir":
        (self.path / "exit_code").write_text(f"{code}\n", encoding="utf-8")
        return self


class RunDir:
    def __init__(self, root: Path, run_id: str = "run-1"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.plan_tasks: list[dict] = []

    def control(self, event: str, t_wall: float, **fields: Any) -> "RunDir":
        _append(self.root / "control.jsonl", {"event": event, "t_wall": t_wall,
                                              "t_mono": t_wall - 50.0, **fields})
        return self

    def resolved(self, workload: dict, configurations: list[dict], name: str = "exp") -> "RunDir":
        doc = {"experiment": {"name": name, "workload": workload, "configurations": configurations},
               "inventory": {"hosts": []}}
        (self.root / "resolved.json").write_text(json.dumps(doc), encoding="utf-8")
        return self

    def plan_task(self, config: str, task_id: str, host: str, role: str = "worker", rank: int = 0) -> None:
        spec = {"config": config, "task_id": task_id, "role": role, "rank": rank, "host": host,
                "workload": WORKLOAD}
        self.plan_tasks.append({"config": config, "task_id": task_id, "role": role, "index": rank,
                                "rank": rank, "host": host, "env": [], "spec": spec})

    def write_plan(self) -> "RunDir":
        """plan.json as harness.plan.Plan.to_json writes it: tasks grouped by configuration."""
        configs: dict[str, list[dict]] = {}
        for t in self.plan_tasks:
            configs.setdefault(t["config"], []).append(t)
        doc = {"run_id": self.run_id, "experiment": "exp",
               "configs": [{"name": name, "strategy": "single", "hosts": sorted({t["host"] for t in ts}),
                            "tasks": ts, "time_limit_s": 3600} for name, ts in configs.items()]}
        (self.root / "plan.json").write_text(json.dumps(doc), encoding="utf-8")
        return self

    def task(self, config: str, task_id: str, host: str, role: str = "worker", rank: int = 0) -> TaskDir:
        self.plan_task(config, task_id, host, role, rank)
        return TaskDir(self, config, task_id, host, role, rank)


def standard_run(root: Path) -> Path:
    """Three configurations, workload warm-up 3 steps, log_every 2, 64 images per record,
    target val_accuracy 0.5:
      one  - 1 task, healthy, reaches the target in epoch 2;
      two  - 2 tasks; w1 on h2 dies mid-run (torn last line, no run_end, no exit_code),
             the target is never reached;
      gone - 1 task whose host returned nothing (no directory at all)."""
    run = RunDir(root)
    run.resolved(WORKLOAD, [
        {"name": "one", "strategy": "single", "workers": 1, "ps": 0},
        {"name": "two", "strategy": "horovod", "workers": 2, "ps": 0},
        {"name": "gone", "strategy": "single", "workers": 1, "ps": 0},
    ])
    run.control("run_start", 99.0, run_id="run-1", experiment="exp", inventory="local",
                harness_version="0.1.0")

    # --- one ---
    run.control("config_start", 100.0, config="one", strategy="single", workers=1, ps=0,
                hosts=["h1"], instance_types={"h1": "c5.xlarge"})
    run.control("task_launch", 100.5, config="one", task_id="w0", host="h1", role="worker", rank=0)
    t = run.task("one", "w0", "h1", "worker", 0).task_json()
    t.startup(102.0, 3.0, 1.0, 0.5)  # phases end at 105.0, 106.0, 106.5
    t.step(108.5, 2, 2.0, data_wait_s=0.5)            # steps 1-2: warm-up
    t.step(109.5, 4, 1.0, data_wait_s=0.1)            # steps 3-4: warm-up (first = 3 <= 3)
    t.epoch(110.0, 1, steps=4, images=128, seconds=3.0, train_loss=1.5, val_loss=1.6,
            train_accuracy=0.40, val_accuracy=0.35)
    t.step(110.8, 6, 0.8, data_wait_s=0.2, epoch=2)   # kept from here on
    t.step(111.8, 8, 1.0, data_wait_s=0.0, epoch=2)
    t.epoch(112.3, 2, steps=4, images=128, seconds=1.8, train_loss=1.0, val_loss=1.1,
            train_accuracy=0.60, val_accuracy=0.55)
    t.step(112.9, 10, 0.6, data_wait_s=0.1, epoch=3)
    t.step(113.3, 11, 0.4, steps=1, images=32, data_wait_s=0.0, epoch=3)
    t.epoch(113.8, 3, steps=3, images=96, seconds=1.0, train_loss=0.8, val_loss=0.9,
            train_accuracy=0.70, val_accuracy=0.65)
    t.event("run_end", 114.0, status="ok", steps=11, images=352, seconds=6.8)
    t.exit_code(0)
    run.control("task_exit", 114.5, config="one", task_id="w0", host="h1", returncode=0,
                state="succeeded")
    run.control("config_end", 115.0, config="one", status="succeeded", reason="")

    # --- two ---
    run.control("config_start", 200.0, config="two", strategy="horovod", workers=2, ps=0,
                hosts=["h1", "h2"], instance_types={"h1": "c5.xlarge", "h2": "c5.xlarge"})
    run.control("task_launch", 200.2, config="two", task_id="w0", host="h1", role="worker", rank=0)
    run.control("task_launch", 200.4, config="two", task_id="w1", host="h2", role="worker", rank=1)
    a = run.task("two", "w0", "h1", "worker", 0).task_json()
    a.startup(201.0, 2.0, 1.0, 1.0)  # phases end at 203, 204, 205
    a.step(206.5, 2, 1.5)
    a.step(207.0, 4, 0.5)
    a.step(207.5, 6, 0.5, data_wait_s=0.05)
    a.step(208.1, 8, 0.6, data_wait_s=0.05)
    a.epoch(208.5, 1, train_loss=2.0, val_loss=2.1, train_accuracy=0.25, val_accuracy=0.30)
    a.step(208.9, 10, 0.4, data_wait_s=0.05, epoch=2)
    a.step(209.4, 12, 0.5, data_wait_s=0.05, epoch=2)
    a.epoch(209.9, 2, train_loss=1.8, val_loss=1.9, train_accuracy=0.42, val_accuracy=0.45)
    a.event("run_end", 210.0, status="ok", steps=12, images=384, seconds=4.4)
    a.exit_code(0)
    b = run.task("two", "w1", "h2", "worker", 1).task_json()
    b.startup(201.5, 2.5, 1.0, 1.0)  # phases end at 204, 205, 206
    b.step(207.0, 2, 1.0)
    b.step(207.6, 4, 0.6)
    b.step(208.1, 6, 0.5, data_wait_s=0.1)
    b.step(208.8, 8, 0.7, data_wait_s=0.1)
    b.epoch(209.2, 1, train_loss=2.0, val_loss=2.2, train_accuracy=0.26, val_accuracy=0.31)
    b.step(209.8, 10, 0.6, data_wait_s=0.1, epoch=2)
    b.torn('{"event": "step", "t_wall": 210.4, "step": 12, "ste')
    run.control("task_exit", 210.1, config="two", task_id="w0", host="h1", returncode=0,
                state="succeeded")
    run.control("task_exit", 215.0, config="two", task_id="w1", host="h2", returncode=None,
                state="lost")
    run.control("config_end", 215.0, config="two", status="failed", reason="task w1 on h2 lost")

    # --- gone ---
    run.control("config_start", 300.0, config="gone", strategy="single", workers=1, ps=0,
                hosts=["h3"], instance_types={"h3": "c5.xlarge"})
    run.control("task_launch", 300.5, config="gone", task_id="w0", host="h3", role="worker", rank=0)
    run.plan_task("gone", "w0", "h3", "worker", 0)
    run.control("task_exit", 330.0, config="gone", task_id="w0", host="h3", returncode=None,
                state="lost")
    run.control("config_end", 330.0, config="gone", status="failed", reason="host h3 unreachable")
    run.control("run_end", 331.0, status="failed")
    run.write_plan()
    return run.root
