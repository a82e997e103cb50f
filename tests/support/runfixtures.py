"""Hand-written run directories for the report tests (layout and fields: docs/events.md).

`standard_run` is the shared fixture; its numbers are chosen so every metric can be worked
out by hand, and tests/unit/test_report_metrics.py shows that arithmetic."""

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

    def startup(self, run_start: float, import_s: float, data_s: float, model_s: float,
                **model_fields: Any) -> "TaskDir":
        """run_start then the three phase records, back to back; `model_fields` go into the
        model_built record (e.g. flops_per_example)."""
        self.event("run_start", run_start, pid=1234, process_start_wall=run_start - 0.1,
                   versions={"python": "3.11"}, host_facts={"cores_logical": 2}, threads={})
        t = run_start + import_s
        self.event("phase", t, name="framework_import", seconds=import_s)
        self.event("phase", t + data_s, name="data_ready", seconds=data_s)
        return self.event("phase", t + data_s + model_s, name="model_built", seconds=model_s,
                          **model_fields)

    def torn(self, text: str) -> "TaskDir":
        """A last line cut off mid-write (no newline), as a killed process leaves it."""
        with open(self.events, "a", encoding="utf-8") as fh:
            fh.write(text)
        return self

    def exit_code(self, code: int) -> "TaskDir":
        (self.path / "exit_code").write_text(f"{code}\n", encoding="utf-8")
        return self


class SamplerDir:
    """hosts/<host>/<config>/sampler/samples.jsonl as the utilization sampler writes it."""

    def __init__(self, run: "RunDir", config: str, host: str):
        self.config, self.host = config, host
        self.path = run.root / "hosts" / host / config / "sampler"
        self.path.mkdir(parents=True, exist_ok=True)
        self.samples = self.path / "samples.jsonl"

    def record(self, event: str, t_wall: float, **fields: Any) -> "SamplerDir":
        _append(self.samples, {"event": event, "t_wall": t_wall, "t_mono": t_wall - 90.0, **fields})
        return self

    def start(self, t_wall: float, *, interval_s: float = 1.0, memory_total_bytes: float = 8e9,
              cores: int = 4, gpus: Optional[list] = None, nvml_reason: Optional[str] = None) -> "SamplerDir":
        return self.record("sampler_start", t_wall, interval_s=interval_s, nvml=bool(gpus),
                           nvml_reason=None if gpus else (nvml_reason or "NVML library not found"),
                           cores=cores, memory_total_bytes=memory_total_bytes, gpus=gpus or [])

    def sample(self, t_wall: float, cpu: Optional[float], *, mem_used: float = 2e9,
               mem_available: float = 6e9, net: float = 1000.0, disk: float = 0.0,
               task_cpu: Optional[float] = None, task_rss: Optional[float] = 5e8,
               gpu_util: Optional[list] = None, sched: Optional[tuple] = None,
               processes: int = 1) -> "SamplerDir":
        """One sample; network sent = received = `net`, disk read = write = `disk`;
        gpu_util is one utilization per GPU (index = position); sched = the tasks' (run,
        wait) seconds of a run-queue reading."""
        gpus = [{"index": i, "util_percent": u, "mem_used_bytes": 1e9, "mem_total_bytes": 16e9,
                 "power_w": 50.0, "temperature_c": 60, "sm_clock_mhz": 1500}
                for i, u in enumerate(gpu_util or [])]
        return self.record("sample", t_wall, cpu_percent=cpu,
                           cpu_percent_per_core=None if cpu is None else [cpu, cpu],
                           load1=1.0, mem_used_bytes=mem_used, mem_available_bytes=mem_available,
                           net_sent_bytes_per_s=net, net_recv_bytes_per_s=net,
                           disk_read_bytes_per_s=disk, disk_write_bytes_per_s=disk,
                           tasks={"cpu_percent": task_cpu if task_cpu is not None else cpu,
                                  "rss_bytes": task_rss, "processes": processes,
                                  **({} if sched is None else {"sched_run_s": sched[0], "sched_wait_s": sched[1],
                                                                "sched_span_s": 2.0})},
                           gpus=gpus)

    def end(self, t_wall: float, cpu_seconds: float, wall_seconds: float) -> "SamplerDir":
        return self.record("sampler_end", t_wall, cpu_seconds=cpu_seconds, wall_seconds=wall_seconds)

    def torn(self, text: str) -> "SamplerDir":
        with open(self.samples, "a", encoding="utf-8") as fh:
            fh.write(text)
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

    def resolved(self, workload: dict, configurations: list[dict], name: str = "exp",
                 hosts: Optional[list[dict]] = None) -> "RunDir":
        doc = {"experiment": {"name": name, "workload": workload, "configurations": configurations},
               "inventory": {"hosts": hosts or []}}
        (self.root / "resolved.json").write_text(json.dumps(doc), encoding="utf-8")
        return self

    def plan_task(self, config: str, task_id: str, host: str, role: str = "worker", rank: int = 0) -> None:
        spec = {"config": config, "task_id": task_id, "role": role, "rank": rank, "host": host,
                "workload": WORKLOAD}
        self.plan_tasks.append({"config": config, "task_id": task_id, "role": role, "index": rank,
                                "rank": rank, "host": host, "env": [], "spec": spec})

    def write_plan(self) -> "RunDir":
        """plan.json as harness.stages.plan.Plan.to_json writes it: tasks grouped by configuration."""
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

    def plan_sampler(self, config: str, host: str) -> None:
        """The plan's sampler entry (harness.stages.plan._sampler_tasks): role sampler, no rank."""
        spec = {"config": config, "task_id": "sampler", "role": "sampler", "rank": None,
                "host": host, "events": "samples.jsonl", "interval_s": 1.0}
        self.plan_tasks.append({"config": config, "task_id": "sampler", "role": "sampler", "index": 0,
                                "rank": None, "host": host, "env": [], "spec": spec})

    def sampler(self, config: str, host: str) -> SamplerDir:
        self.plan_sampler(config, host)
        return SamplerDir(self, config, host)

    def prices_json(self, doc: dict) -> "RunDir":
        (self.root / "prices.json").write_text(json.dumps(doc), encoding="utf-8")
        return self


def standard_run(root: Path) -> Path:
    """Three configurations, workload warm-up 3 steps, log_every 2, 64 images per record,
    target val_accuracy 0.5:
      one  - 1 task, healthy, reaches the target in epoch 2;
      two  - 2 tasks; w1 on h2 dies mid-run (torn last line, no run_end, no exit_code),
             the target is never reached;
      gone - 1 task whose host returned nothing (no directory at all).
    Each configuration also has a utilization sampler per host (role "sampler"), which must
    never count as a training task: one/h1 samples throughout; two/h2's samples stop early
    with the host (torn last line, no sampler_end); gone/h3's sampler left no directory."""
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
    run.control("task_launch", 100.2, config="one", task_id="sampler", host="h1", role="sampler", rank=None)
    run.control("task_launch", 100.5, config="one", task_id="w0", host="h1", role="worker", rank=0)
    s = run.sampler("one", "h1").start(100.3)
    # training window [106.5, 113.3]: the samples at 106 and 114 fall outside it
    s.sample(106.0, 5.0)
    for t, cpu in zip(range(107, 114), (50, 60, 70, 80, 90, 100, 40)):
        s.sample(float(t), float(cpu), task_rss=4e8 + 1e8 * (t - 107))
    s.sample(114.0, 5.0, mem_available=0.5e9)  # after training: still counts for memory pressure
    s.end(114.6, cpu_seconds=0.028, wall_seconds=14.3)
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
    run.control("task_exit", 114.7, config="one", task_id="sampler", host="h1", returncode=-15,
                state="stopped")
    run.control("config_end", 115.0, config="one", status="succeeded", reason="")

    # --- two ---
    run.control("config_start", 200.0, config="two", strategy="horovod", workers=2, ps=0,
                hosts=["h1", "h2"], instance_types={"h1": "c5.xlarge", "h2": "c5.xlarge"})
    run.control("task_launch", 200.1, config="two", task_id="sampler", host="h1", role="sampler", rank=None)
    run.control("task_launch", 200.1, config="two", task_id="sampler", host="h2", role="sampler", rank=None)
    run.control("task_launch", 200.2, config="two", task_id="w0", host="h1", role="worker", rank=0)
    s1 = run.sampler("two", "h1").start(200.15)
    for t in range(201, 212):
        s1.sample(float(t), 50.0)
    s1.end(212.0, cpu_seconds=0.02, wall_seconds=11.85)
    # h2 dies: its samples stop at 207.0 although training (window [205.0, 209.8]) goes on
    s2 = run.sampler("two", "h2").start(200.15)
    for t, cpu in ((205.0, 30.0), (206.0, 40.0), (207.0, 50.0)):
        s2.sample(t, cpu)
    s2.torn('{"event": "sample", "t_wall": 208.0, "cpu_')
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
    run.control("task_exit", 215.0, config="two", task_id="sampler", host="h2", returncode=None,
                state="lost")
    run.control("task_exit", 215.0, config="two", task_id="sampler", host="h1", returncode=-15,
                state="stopped")
    run.control("config_end", 215.0, config="two", status="failed", reason="task w1 on h2 lost")

    # --- gone ---
    run.control("config_start", 300.0, config="gone", strategy="single", workers=1, ps=0,
                hosts=["h3"], instance_types={"h3": "c5.xlarge"})
    run.control("task_launch", 300.5, config="gone", task_id="w0", host="h3", role="worker", rank=0)
    run.plan_sampler("gone", "h3")
    run.plan_task("gone", "w0", "h3", "worker", 0)
    run.control("task_exit", 330.0, config="gone", task_id="w0", host="h3", returncode=None,
                state="lost")
    run.control("config_end", 330.0, config="gone", status="failed", reason="host h3 unreachable")
    run.control("run_end", 331.0, status="failed")
    run.write_plan()
    return run.root


def repeated_run(root: Path, step_seconds: dict[str, list[float]], *, steps: int = 24,
                 host: str = "h1", instance_type: str = "c5.xlarge", warmup_run: bool = False,
                 min_effect: Optional[float] = None, workloads: Optional[dict[str, dict]] = None,
                 target_accuracy: Optional[float] = None) -> Path:
    """Configurations run as repeats, interleaved (a@1 b@1 a@2 b@2 …), as harness.stages.plan
    plans them with `repeats`: step_seconds[config][r] is the per-step time of its run r+1
    (each record ±1 % around it, deterministically). One host, held from the connection
    (t = 10) to the last collection; every run takes 5 s of start-up, its steps, 1 s to
    stop and 0.5 s to collect. With warmup_run, config@warmup runs first, 3x slower.
    workloads[config]: that configuration's own workload fields (resolved.json and its task.json);
    every run ends with one epoch record at val_accuracy 0.5, target_accuracy is the experiment's."""
    run = RunDir(root, "rep-run")
    configs = list(step_seconds)
    repeats = len(next(iter(step_seconds.values())))
    units = [(c, 0, False, step_seconds[c][0] * 3) for c in configs[:1]] if warmup_run else []
    units += [(c, r + 1, True, step_seconds[c][r]) for r in range(repeats) for c in configs]
    exp_extra = {"repeats": repeats, "warmup_run": warmup_run}
    if min_effect is not None:
        exp_extra["min_effect"] = min_effect
    wl = {**WORKLOAD, "warmup_steps": 2, "log_every": 1, "target_accuracy": target_accuracy}
    own = workloads or {}
    doc = {"experiment": {"name": "rep", "workload": wl, **exp_extra,
                          "configurations": [{"name": c, "strategy": "single", "workload": own.get(c, {})}
                                             for c in configs]},
           "inventory": {"hosts": [{"name": host, "instance_type": instance_type}]}}
    (run.root / "resolved.json").write_text(json.dumps(doc), encoding="utf-8")
    run.control("run_start", 9.0, run_id="rep-run", experiment="rep")
    run.control("connect", 10.0, hosts=[host], seconds=1.0)
    t = 12.0
    plan_configs = []
    for c, r, counted, sec in units:
        name = f"{c}@{'warmup' if r == 0 else r}"
        run.control("config_start", t, config=name, strategy="single", workers=1, ps=0, hosts=[host],
                    instance_types={host: instance_type}, configuration=c, repeat=r, counted=counted)
        task = run.task(name, "worker-0", host)
        task.task_json({**wl, **own.get(c, {})})
        run.plan_tasks[-1]["spec"]["workload"] = {**wl, **own.get(c, {})}   # plan.json's copy = task.json
        task.event("run_start", t + 1.0, pid=1)
        ts = t + 5.0
        for i in range(1, steps + 1):
            s = sec * (1 + 0.01 * ((i * 7) % 3 - 1))  # -1 %, 0, +1 %
            ts += s
            task.step(ts, i, s, steps=1, images=32)
        task.epoch(ts + 0.1, 1, val_accuracy=0.5)
        task.event("run_end", ts + 0.2, status="ok")
        task.exit_code(0)
        run.control("task_exit", ts + 0.5, config=name, task_id="worker-0", state="succeeded", returncode=0)
        run.control("config_end", ts + 1.0, config=name, status="succeeded", reason="")
        run.control("collected", ts + 1.5, config=name)
        plan_configs.append({"name": name, "config": c, "repeat": r, "counted": counted, "strategy": "single",
                             "hosts": [host], "time_limit_s": 3600,
                             "tasks": [t_ for t_ in run.plan_tasks if t_["config"] == name]})
        t = ts + 1.5
    run.control("run_end", t + 0.5, status="succeeded", reason="")
    (run.root / "plan.json").write_text(json.dumps({"run_id": "rep-run", "experiment": "rep",
                                                    "configs": plan_configs, "schedule": exp_extra}),
                                        encoding="utf-8")
    return run.root
