"""Pure functions from RunData to one ConfigMetrics per configuration.

Every figure carries a `*_method` string saying how it was computed from which records, so
a reader can redo the arithmetic from the raw JSONL; the formulas are in docs/metrics.md.
Units are in the field names (`_s` seconds, `_images_per_s`); shares are fractions 0..1."""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import numpy as np

from harness.report.figures import script_metrics
from harness.protocol import stats
from harness.report.read.records import RunData, TaskData, resolved_configurations, resolved_workload
from harness.report.figures.metric_types import (ConfigMetrics, StartupSplit, TaskMetrics,  # importable from here
                                                mark_early_stop)

# The experiment's own default (harness.config.experiment.Workload.warmup_steps); used only
# when neither task.json nor resolved.json says, and the report says so.
DEFAULT_WARMUP_STEPS = 5
PHASES = ("framework_import", "data_ready", "model_built")


# --- helpers -----------------------------------------------------------------------------

def _num(value: Any) -> Optional[float]:
    """A finite number from a record field, else None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _setting(run: RunData, task: Optional[TaskData], key: str) -> tuple[Any, str]:
    """A workload setting and where it came from: the task's spec (task.json, what the
    worker was actually told, or the plan's copy) first, then the run's resolved.json (the
    task's configuration's workload: the experiment's with the configuration's own fields)."""
    spec = task.spec if task is not None and isinstance(task.spec, dict) else {}
    src = task.spec_source if task is not None else ""
    own = resolved_workload(run.resolved, task.config) if task is not None else \
        resolved_workload(run.resolved, "")
    for where, d in ((src, spec.get("workload")), (src, spec), ("resolved.json", own)):
        if isinstance(d, dict) and key in d and d[key] is not None:
            return d[key], where
    return None, ""


class _Steps(NamedTuple):
    """Well-formed step records of one task (or several, concatenated), in file order, as
    arrays: thousands of records per task, so no object per record."""
    first: np.ndarray  # int64: index of the first step each record covers, step - steps + 1
    steps: np.ndarray  # int64
    images: np.ndarray  # float64
    seconds: np.ndarray  # float64, > 0
    data_wait_s: np.ndarray  # float64, NaN = none recorded
    t_wall: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.first)

    def where(self, mask: np.ndarray) -> "_Steps":
        return _Steps(*(a[mask] for a in self))

    @staticmethod
    def concat(parts: list["_Steps"]) -> "_Steps":
        if not parts:
            return _Steps(np.zeros(0, dtype=np.int64), np.ones(0, dtype=np.int64), *(np.zeros(0) for _ in range(4)))
        return _Steps(*(np.concatenate(cols) for cols in zip(*parts)))

    def per_step_s(self) -> list[float]:
        return (self.seconds / self.steps).tolist()  # float / int, as Python divides them


def _steps(task: TaskData) -> tuple[_Steps, int]:
    """Well-formed step records in file order, and how many were malformed: `step` and
    `steps` integers, steps >= 1, finite images, seconds > 0 and t_wall (load.StepColumns)."""
    c = task.steps
    ok = c.well_formed
    out = _Steps(c.step[ok] - c.steps[ok] + 1, c.steps[ok], c.images[ok], c.seconds[ok], c.data_wait_s[ok],
                 c.t_wall[ok])
    return out, c.n - len(out)


def _task_state(run: RunData, task: TaskData) -> tuple[str, str, Optional[int]]:
    exits = [r for r in run.control_of("task_exit", task.config) if r.get("task_id") == task.task_id]
    if exits:
        rec = exits[-1]
        rc = rec.get("returncode")
        return (str(rec.get("state") or "unknown"), "task_exit record in control.jsonl",
                rc if isinstance(rc, int) else None)
    if task.exit_code is not None:
        return ("succeeded" if task.exit_code == 0 else "failed", "exit_code file", task.exit_code)
    return "unknown", "no task_exit record and no exit_code file", None


def _reference_task(tasks: list[TaskData]) -> Optional[TaskData]:
    """The task whose epoch records speak for the model: the chief, else rank 0, else the
    lowest rank with epoch records."""
    for t in tasks:
        if t.role == "chief":
            return t
    for t in tasks:
        if t.rank == 0:
            return t
    with_epochs = [t for t in tasks if t.of("epoch")]
    return with_epochs[0] if with_epochs else (tasks[0] if tasks else None)


# --- per-task ----------------------------------------------------------------------------

def _task_metrics(run: RunData, task: TaskData, warmup: int,
                  problems: list[str]) -> tuple[TaskMetrics, _Steps, _Steps]:
    steps, malformed = _steps(task)
    if malformed:
        problems.append(f"task {task.task_id}: {malformed} malformed step record(s) ignored")
    kept = steps.where(steps.first > warmup)
    images = sum(kept.images.tolist())  # Python's left-to-right sum: the same digits as always
    seconds = math.fsum(kept.seconds.tolist())
    thr = images / seconds if len(kept) and seconds > 0 else None
    # Consecutive steps are autocorrelated: the interval is over batch means, not steps.
    iv = stats.batch_means(kept.per_step_s())
    hw, est = None, None
    if thr is not None and iv is not None and iv.se is not None and iv.mean > 0:
        rel = iv.se / iv.mean  # delta method: 1/x keeps relative error
        est = stats.Estimate(thr, thr * rel, iv.df, iv.n, iv.method)
        hw = est.half_width
    state, state_method, rc = _task_state(run, task)
    end = task.first("run_end")
    last = task.events[-1] if task.events else None
    return (TaskMetrics(
        task_id=task.task_id, host=task.host, role=task.role, rank=task.rank, state=state,
        state_method=state_method, exit_code=rc,
        run_end_status=str(end.get("status")) if end else None, warmup_steps=warmup,
        step_records=len(steps), kept_records=len(kept), images_kept=int(images),
        seconds_kept_s=seconds, throughput_images_per_s=thr,
        throughput_ci95_half_width_images_per_s=hw,
        step_time_mean_s=iv.mean if iv else None,
        last_record_t_wall=_num(last.get("t_wall")) if last else None,
        throughput_estimate=est), steps, kept)


# --- per-configuration -------------------------------------------------------------------

def _describe_config(run: RunData, name: str) -> dict:
    start = run.control_first("config_start", name) or {}
    conf = next((c for c in resolved_configurations(run.resolved) if c.get("name") == name), {})
    hosts = start.get("hosts")
    types = start.get("instance_types")
    end = run.control_first("config_end", name)
    if end:
        status, reason = str(end.get("status") or "unknown"), str(end.get("reason") or "")
    elif not start and not any(t.events for t in run.tasks_of(name)):
        # Planned but never started: an earlier configuration failed or the run was stopped.
        status, reason = "not run", "no config_start record in control.jsonl"
    else:
        status, reason = "unknown", "no config_end record in control.jsonl"
    return dict(
        strategy=start.get("strategy", conf.get("strategy")),
        workers=start.get("workers", conf.get("workers")),
        ps=start.get("ps", conf.get("ps")),
        hosts=sorted({t.host for t in run.tasks_of(name)}) if not isinstance(hosts, list) else list(hosts),
        instance_types=dict(types) if isinstance(types, dict) else {},
        status=status, status_reason=reason)


def _throughput(m: ConfigMetrics, per_task: list[TaskMetrics]) -> None:
    contributing = [t for t in per_task if t.throughput_images_per_s is not None]
    warmups = sorted({t.warmup_steps for t in per_task})
    kept = sum(t.kept_records for t in per_task)
    total = sum(t.step_records for t in per_task)
    if not contributing:
        m.throughput_method = (f"no step records after warm-up (first step index > "
                               f"{'/'.join(map(str, warmups)) or '?'}); {total} step record(s) in all")
        return
    m.throughput_images_per_s = sum(t.throughput_images_per_s for t in contributing)
    ests = [t.throughput_estimate for t in contributing]
    if all(e is not None for e in ests):
        df = min(e.df for e in ests)
        k = min(e.n for e in ests)
        est = stats.Estimate(m.throughput_images_per_s, sum(e.se for e in ests), df, k,
                             f"within this run: {ests[0].method}" if len(ests) == 1 else
                             f"within this run: batch means per task, ≥ {k} batches (df {df})")
        m.throughput_estimate = est
        m.throughput_ci95_half_width_images_per_s = est.half_width
        ci = ("±: per task, batch means of the per-record step times (seconds/steps): "
              "t(0.975, k-1)·sd/√k over k ≈ √n batches of consecutive records (steps are "
              "autocorrelated, so single steps are not independent samples), relative to "
              "their mean, times the task's throughput (delta method); standard errors added "
              "across tasks (conservative: synchronous workers' errors are correlated); "
              "within one run only, not between runs")
    else:
        ci = "no interval: a task has too few records after warm-up for batch means (≥ 4)"
    m.throughput_method = (
        f"sum over {len(contributing)} task(s) of sum(images)/sum(seconds) over step records "
        f"whose first step index (step - steps + 1) > warm-up {'/'.join(map(str, warmups))}; "
        f"{kept} of {total} records kept; {ci}")


def _step_times(m: ConfigMetrics, kept: _Steps) -> None:
    xs = kept.per_step_s()
    m.step_time_n = len(xs)
    m.step_time_samples_s = xs
    m.step_time_mean_s = stats.mean(xs)
    ordered = np.sort(np.asarray(xs, dtype=float)).tolist()  # one sort for both percentiles
    m.step_time_median_s = stats.percentile_of_sorted(ordered, 50.0) if xs else None
    m.step_time_p95_s = stats.percentile_of_sorted(ordered, 95) if xs else None
    m.step_time_sd_s = stats.sample_sd(xs)
    m.step_time_method = (f"per-record seconds/steps of the {len(xs)} step records after warm-up, "
                          f"pooled over tasks; median and p95 by linear interpolation")
    waits = kept.where(~np.isnan(kept.data_wait_s))
    denom = math.fsum(waits.seconds.tolist())
    if len(waits) and denom > 0:
        m.data_wait_share = math.fsum(waits.data_wait_s.tolist()) / denom
        m.data_wait_method = (f"sum(data_wait_s)/sum(seconds) over {len(waits)} step records "
                              f"after warm-up, all tasks")
    else:
        m.data_wait_method = "no step records with data_wait_s after warm-up"


def _training_time(m: ConfigMetrics, all_steps: _Steps) -> None:
    if not len(all_steps):
        m.training_time_method = "no step records"
        return
    start = float((all_steps.t_wall - all_steps.seconds).min())
    end = float(all_steps.t_wall.max())
    m.training_time_s = end - start
    m.training_start_t_wall, m.training_end_t_wall = start, end
    m.training_time_method = ("earliest step start (step record t_wall - seconds) to latest "
                              "step end (step record t_wall), all tasks, warm-up included")


def _startup(run: RunData, m: ConfigMetrics, tasks: list[TaskData],
             steps_by_task: dict[str, _Steps]) -> None:
    start = run.control_first("config_start", m.config)
    t0 = _num(start.get("t_wall")) if start else None
    if t0 is None:
        m.startup_method = "no config_start record in control.jsonl"
        return
    firsts = [(_first_record(steps_by_task[t.task_id]), t) for t in tasks if _any(steps_by_task.get(t.task_id))]
    if not firsts:
        m.startup_method = "no task reached its first step record"
        return
    first, task = max(firsts, key=lambda p: p[0].t_wall)  # max keeps the first of equals
    total = first.t_wall - t0
    launch = next((r for r in run.control_of("task_launch", m.config)
                   if r.get("task_id") == task.task_id), None)
    t_launch = _num(launch.get("t_wall")) if launch else None
    begin = task.first("run_start")
    t_begin = _num(begin.get("t_wall")) if begin else None
    phase = {}
    for r in task.of("phase"):
        if r.get("name") in PHASES and r["name"] not in phase:
            phase[r["name"]] = _num(r.get("seconds"))
    launch_s = t_launch - t0 if t_launch is not None else None
    process_s = t_begin - t_launch if t_begin is not None and t_launch is not None else None
    known = [launch_s, process_s, *(phase.get(p) for p in PHASES), first.seconds]
    missing = [name for name, v in zip(("launch", "process start", *PHASES), known) if v is None]
    never = [t.task_id for t in tasks if not _any(steps_by_task.get(t.task_id))]
    method = (f"config_start t_wall to the end (t_wall) of the first step record of task "
              f"{task.task_id}, the last of {len(firsts)} task(s) to finish one; split: launch = "
              f"task_launch - config_start, process start = worker run_start - task_launch, "
              f"phases from phase records, first step = that record's seconds "
              f"({first.steps} step(s)); other = total - parts")
    if missing:
        method += f"; unknown parts: {', '.join(missing)}"
    if never:
        method += f"; task(s) that never logged a step are not included: {', '.join(never)}"
    m.startup = StartupSplit(
        total_s=total, task_id=task.task_id, launch_s=launch_s, process_start_s=process_s,
        framework_import_s=phase.get("framework_import"), data_ready_s=phase.get("data_ready"),
        model_built_s=phase.get("model_built"), first_step_s=first.seconds,
        other_s=total - math.fsum(v for v in known if v is not None), method=method)
    m.startup_method = method


class _Record(NamedTuple):
    t_wall: float
    seconds: float
    steps: int


def _first_record(st: _Steps) -> _Record:
    return _Record(float(st.t_wall[0]), float(st.seconds[0]), int(st.steps[0]))


def _any(st: Optional[_Steps]) -> bool:
    return st is not None and len(st) > 0


def _final_and_target(run: RunData, m: ConfigMetrics, tasks: list[TaskData]) -> None:
    ref = _reference_task(tasks)
    epochs = [r for r in ref.of("epoch")] if ref else []
    if ref is not None and not epochs:
        others = [t for t in tasks if t.of("epoch")]
        if others:
            m.problems.append(f"task {ref.task_id} (rank 0/chief) has no epoch records; "
                              f"final figures taken from task {others[0].task_id}")
            ref, epochs = others[0], others[0].of("epoch")
    if epochs:
        last = epochs[-1]
        m.final_epoch = last.get("epoch") if isinstance(last.get("epoch"), int) else None
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "train_rmse", "val_rmse"):
            setattr(m, f"final_{key}", _num(last.get(key)))
        m.final_method = f"last epoch record of task {ref.task_id} (role {ref.role}, rank {ref.rank})"
    else:
        m.final_method = "no epoch records"

    acc, acc_src = _setting(run, ref, "target_accuracy")
    rmse, rmse_src = _setting(run, ref, "target_rmse")
    if _num(acc) is not None:
        m.target_metric, m.target_value, src, better = "val_accuracy", float(acc), acc_src, (lambda v, t: v >= t)
    elif _num(rmse) is not None:
        m.target_metric, m.target_value, src, better = "val_rmse", float(rmse), rmse_src, (lambda v, t: v <= t)
    else:
        m.time_to_target_method = "no target set (workload target_accuracy / target_rmse)"
        return
    op = ">=" if m.target_metric == "val_accuracy" else "<="
    start = run.control_first("config_start", m.config)
    t0 = _num(start.get("t_wall")) if start else None
    values = [(r, _num(r.get(m.target_metric))) for r in epochs]
    values = [(r, v) for r, v in values if v is not None]
    hit = next(((r, v) for r, v in values if better(v, m.target_value)), None)
    if hit and t0 is not None and _num(hit[0].get("t_wall")) is not None:
        m.time_to_target_s = hit[0]["t_wall"] - t0
        m.target_epoch = hit[0].get("epoch")
        m.time_to_target_method = (f"config_start t_wall to the t_wall of the first epoch record "
                                   f"with {m.target_metric} {op} {_fmt(m.target_value)} (target from {src})")
    elif hit:
        m.time_to_target_method = "target reached but no config_start record to measure from"
    elif not values:
        m.time_to_target_method = (f"not reached: no epoch record has {m.target_metric} "
                                   f"(target {op} {_fmt(m.target_value)})")
    else:
        best = (max if op == ">=" else min)(v for _, v in values)
        m.time_to_target_method = (f"not reached: best {m.target_metric} {_fmt(best)} in "
                                   f"{len(values)} epoch(s) (target {op} {_fmt(m.target_value)})")


def config_metrics(run: RunData, name: str) -> ConfigMetrics:
    """All figures for one configuration; missing records give None plus a method saying why."""
    tasks = run.tasks_of(name)
    m = ConfigMetrics(config=name, tasks=[], **_describe_config(run, name))
    if not tasks:
        m.problems.append("no tasks found for this configuration (no plan entry, launch "
                          "record or host directory)")
    steps_by_task: dict[str, _Steps] = {}
    all_kept: list[_Steps] = []
    for task in tasks:
        value, _src = _setting(run, task, "warmup_steps")
        warmup = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
        if warmup is None:
            warmup = DEFAULT_WARMUP_STEPS
            m.problems.append(f"task {task.task_id}: warmup_steps not found in task.json, "
                              f"plan.json or resolved.json; assumed {DEFAULT_WARMUP_STEPS}")
        tm, steps, kept = _task_metrics(run, task, warmup, m.problems)
        m.tasks.append(tm)
        steps_by_task[task.task_id] = steps
        all_kept.append(kept)
        m.problems.extend(str(p) for p in task.problems)
        if tm.state != "succeeded":
            rc = "" if tm.exit_code is None else f", exit code {tm.exit_code}"
            note = ""
            if tm.run_end_status == "ok":  # training finished; the exit was lost on the way back
                note = "; its own events end with run_end status ok"
            m.problems.append(f"task {task.task_id} on {task.host}: {tm.state}{rc} "
                              f"({tm.state_method}){note}")
        if task.events and tm.run_end_status is None:
            m.problems.append(f"task {task.task_id} on {task.host}: no run_end record; its events "
                              f"stop at t_wall {_fmt(tm.last_record_t_wall or 0)} after "
                              f"{tm.step_records} step record(s) (host died or process killed?)")
        elif tm.run_end_status not in (None, "ok"):
            m.problems.append(f"task {task.task_id}: run_end status {tm.run_end_status}")
        if task.events_found and tm.step_records and not tm.kept_records:
            m.problems.append(f"task {task.task_id}: all {tm.step_records} step record(s) are "
                              f"warm-up (first step index <= {warmup}); no throughput from it")
    _throughput(m, m.tasks)
    _step_times(m, _Steps.concat(all_kept))
    _training_time(m, _Steps.concat(list(steps_by_task.values())))
    _startup(run, m, tasks, steps_by_task)
    _final_and_target(run, m, tasks)
    mark_early_stop(m, tasks)
    m.images_total = int(sum(_Steps.concat(list(steps_by_task.values())).images.tolist()))
    m.images_method = "sum of images over all step records of all tasks, warm-up included"
    if not any(map(_any, steps_by_task.values())):
        # The user's own script reporting through regular expressions: the same figures
        # from its readings (harness/report/figures/script_metrics.py).
        start = run.control_first("config_start", name)
        if script_metrics.apply(m, tasks, lambda t, key: _setting(run, t, key),
                                _num(start.get("t_wall")) if start else None):
            m.problems = [p for p in m.problems if "warmup_steps not found" not in p]
    return m


def compute_metrics(run: RunData) -> list[ConfigMetrics]:
    return [config_metrics(run, name) for name in run.config_names()]
