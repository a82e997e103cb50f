"""Figures of the user's own script from the readings its regular expressions took from
its output (`metric` records, source "regex"; harness/worker/script.py), for a
configuration none of whose tasks wrote step records (a script using harness.callback
writes step records and goes through metrics.py's step path instead).

The same ConfigMetrics fields as a built-in model's are filled, each with its method:
  throughput   per task: mean of its images_per_s readings after the first k (warm-up);
               combined by the workload's throughput_scope:
                 total          the figure a rank prints is the whole job's: rank 0's (or
                                the lowest printing rank's) mean
                 per_rank       each printing rank's mean, summed over the ranks that print
                 per_rank_equal as per_rank, and ranks that print nothing are taken to run
                                at the printing ranks' mean rate: workers x that mean
  step time    step_time_s readings, else batch_size / images_per_s per reading
  window       first to last reading of any metric, all tasks (utilization, cost)
  final        the last loss / accuracy / val_loss / val_accuracy reading of rank 0
  to target    the first val_accuracy (else accuracy) reading >= target_accuracy
PURE."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

from harness.protocol import stats

SCOPES = ("per_rank", "per_rank_equal", "total")
DEFAULT_SCOPE = "per_rank"
DEFAULT_WARMUP_READINGS = 1


def readings(task, name: str) -> list[tuple[float, float]]:
    """(t_wall, value) of a task's regex readings of one metric, in file order."""
    out = []
    for r in task.of("metric"):
        v, t = r.get("value"), r.get("t_wall")
        if r.get("name") != name or isinstance(v, bool) or not isinstance(v, (int, float)) or \
                not isinstance(t, (int, float)) or not math.isfinite(v):
            continue
        out.append((float(t), float(v)))
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _int_setting(setting: Callable, task, key: str, default: int) -> tuple[int, str]:
    v, src = setting(task, key)
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v, f"{key} {v} from {src}"
    return default, f"{key} {default} (default)"


def apply(m, tasks: list, setting: Callable, t0: Optional[float]) -> bool:
    """Fill `m` from regex readings; False when there are none (nothing changed).
    `setting(task, key)` -> (value, source) as metrics._setting; t0: config_start t_wall."""
    if not any(t.of("metric") for t in tasks):
        return False
    ordered = sorted(tasks, key=lambda t: (t.rank is None, t.rank if t.rank is not None else 0, t.task_id))
    _throughput(m, ordered, setting)
    _step_time(m, ordered, setting)
    _window(m, ordered)
    _final_and_target(m, ordered, setting, t0)
    m.images_method = ("no step records: the script reports rates, not images; cost per 1M images uses the "
                       "throughput")
    return True


def _throughput(m, tasks: list, setting: Callable) -> None:
    warm, warm_src = _int_setting(setting, tasks[0], "warmup_readings", DEFAULT_WARMUP_READINGS)
    scope, scope_src = setting(tasks[0], "throughput_scope")
    if scope not in SCOPES:
        scope, scope_src = DEFAULT_SCOPE, "default"
    per: list[tuple[object, stats.Interval, int]] = []
    updated = []
    for t in tasks:
        rs = readings(t, "images_per_s")
        kept = [v for _, v in rs[warm:]]
        iv = stats.interval95(kept) if kept else None
        if iv is not None:
            per.append((t, iv, len(rs)))
        tm = next((x for x in m.tasks if x.task_id == t.task_id), None)
        if tm is not None:
            updated.append(dataclasses.replace(
                tm, step_records=len(rs), kept_records=len(kept),
                throughput_images_per_s=iv.mean if iv else None,
                throughput_ci95_half_width_images_per_s=iv.half_width if iv else None))
    if updated:
        byid = {u.task_id: u for u in updated}
        m.tasks = [byid.get(x.task_id, x) for x in m.tasks]
    total = sum(len(readings(t, "images_per_s")) for t in tasks)
    if not per:
        m.throughput_method = (f"no images_per_s readings after the first {warm} ({warm_src}); {total} in all "
                               f"(workload.metrics.images_per_s matched nothing, or only warm-up)")
        return
    workers = m.workers or len(tasks)
    printing = len(per)
    ci = ("±: t(0.975, n-1)·sd/√n over the kept readings of a task; half-widths added across tasks "
          "(conservative)")
    if scope == "total":
        t, iv, n = per[0]
        m.throughput_images_per_s, hw = iv.mean, iv.half_width
        how = (f"scope total ({scope_src}): a printed reading is the whole job's rate; mean of task {t.task_id}'s "
               f"{iv.n} readings after the first {warm} ({warm_src})")
        ci = "±: t(0.975, n-1)·sd/√n over those readings"
    elif scope == "per_rank_equal":
        mean = sum(iv.mean for _, iv, _ in per) / printing
        m.throughput_images_per_s = workers * mean
        hws = [iv.half_width for _, iv, _ in per]
        hw = None if None in hws else workers * sum(hws) / printing
        how = (f"scope per_rank_equal ({scope_src}): a reading is one rank's rate; {printing} of {workers} rank(s) "
               f"printed, the others are taken to run at the same rate: {workers} × mean over printing tasks of "
               f"the mean of each task's readings after the first {warm} ({warm_src})")
        ci = "±: the printing tasks' mean half-width (t(0.975, n-1)·sd/√n) times the rank count"
    else:
        m.throughput_images_per_s = sum(iv.mean for _, iv, _ in per)
        hws = [iv.half_width for _, iv, _ in per]
        hw = None if None in hws else sum(hws)
        how = (f"scope per_rank ({scope_src}): a reading is one rank's rate; sum over the {printing} of {workers} "
               f"rank(s) that printed of the mean of each one's readings after the first {warm} ({warm_src})")
        if printing < workers:
            how += (f"; {workers - printing} rank(s) printed nothing and count 0 (set workload.throughput_scope: "
                    f"per_rank_equal if they run at the same rate)")
    m.throughput_ci95_half_width_images_per_s = hw
    if hw is None:
        ci = "no interval: fewer than 2 readings after warm-up"
    m.throughput_method = f"{how}; {sum(iv.n for _, iv, _ in per)} of {total} readings kept; {ci}"


def _step_time(m, tasks: list, setting: Callable) -> None:
    warm, _ = _int_setting(setting, tasks[0], "warmup_readings", DEFAULT_WARMUP_READINGS)
    xs = [v for t in tasks for _, v in readings(t, "step_time_s")[warm:]]
    how = f"step_time_s readings after the first {warm} of each task, pooled"
    if not xs:
        batch, src = setting(tasks[0], "batch_size")
        if isinstance(batch, int) and batch > 0:
            xs = [batch / v for t in tasks for _, v in readings(t, "images_per_s")[warm:] if v > 0]
            how = (f"batch_size {batch} ({src}) / each images_per_s reading after the first {warm}, pooled over "
                   f"tasks (a reading's rate is taken as one rank's)")
    if not xs:
        m.step_time_method = "no step records, no step_time_s readings, and no batch_size to derive them"
        return
    m.step_time_n, m.step_time_samples_s = len(xs), xs
    m.step_time_mean_s, m.step_time_median_s = stats.mean(xs), stats.median(xs)
    m.step_time_p95_s, m.step_time_sd_s = stats.percentile(xs, 95), stats.sample_sd(xs)
    m.step_time_method = how + "; median and p95 by linear interpolation"
    m.data_wait_method = "not known for a script reporting by regular expressions"


def _window(m, tasks: list) -> None:
    ts = [r["t_wall"] for t in tasks for r in t.of("metric") if isinstance(r.get("t_wall"), (int, float))]
    if len(ts) < 2:
        m.training_time_method = "fewer than 2 regex readings: no training window"
        return
    m.training_start_t_wall, m.training_end_t_wall = min(ts), max(ts)
    m.training_time_s = m.training_end_t_wall - m.training_start_t_wall
    m.training_time_method = ("first to last regex reading (t_wall, when the line was printed) of any metric, "
                              "all tasks, warm-up included; the work before the first printed line is outside it")


def _final_and_target(m, tasks: list, setting: Callable, t0: Optional[float]) -> None:
    ref = next((t for t in tasks if any(readings(t, k) for k in ("loss", "accuracy", "val_loss", "val_accuracy"))),
               None)
    if ref is not None:
        for name, attr in (("loss", "final_train_loss"), ("accuracy", "final_train_accuracy"),
                           ("val_loss", "final_val_loss"), ("val_accuracy", "final_val_accuracy")):
            rs = readings(ref, name)
            if rs:
                setattr(m, attr, rs[-1][1])
        m.final_method = f"last regex reading of each of loss/accuracy/val_loss/val_accuracy of task {ref.task_id}"
    target, src = setting(tasks[0], "target_accuracy")
    if not isinstance(target, (int, float)) or isinstance(target, bool):
        return
    m.target_metric, m.target_value = "val_accuracy", float(target)
    rs = readings(ref, "val_accuracy") if ref else []
    name = "val_accuracy"
    if not rs and ref is not None:
        rs, name = readings(ref, "accuracy"), "accuracy"
    hit = next(((t, v) for t, v in rs if v >= target), None)
    if hit and t0 is not None:
        m.time_to_target_s = hit[0] - t0
        m.time_to_target_method = (f"config_start t_wall to the first {name} regex reading >= {_fmt(target)} "
                                   f"(target from {src})")
    elif rs:
        m.time_to_target_method = (f"not reached: best {name} reading {_fmt(max(v for _, v in rs))} "
                                   f"(target >= {_fmt(target)})")
    else:
        m.time_to_target_method = "no accuracy readings (workload.metrics accuracy / val_accuracy)"
