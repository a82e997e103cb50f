"""results.csv (one row per configuration) and samples.csv (one row per utilization sample),
for pandas users. Column names carry their unit (_s, _usd, _percent, _bytes, _bytes_per_s)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Optional

import numpy as np

from harness.report.analysis import RunAnalysis
from harness.report.cost import PRICINGS, ConfigCost
from harness.report.diagnose import Check
from harness.report.columns import Column, fmt_cells
from harness.report.load import RunData
from harness.report.metrics import ConfigMetrics
from harness.report.scaling import Scaling
from harness.report.utilization import ConfigUtilization, summary

BASE_COLUMNS = (
    "config", "strategy", "workers", "ps", "hosts", "status", "tasks", "task_states",
    "throughput_images_per_s", "throughput_ci95_half_width_images_per_s",
    "step_time_n", "step_time_mean_s", "step_time_median_s", "step_time_p95_s", "step_time_sd_s",
    "data_wait_share", "training_time_s", "startup_s", "startup_launch_s",
    "startup_process_start_s", "startup_framework_import_s", "startup_data_ready_s",
    "startup_model_built_s", "startup_first_step_s", "startup_other_s",
    "final_epoch", "final_train_loss", "final_val_loss", "final_train_accuracy",
    "final_val_accuracy", "final_train_rmse", "final_val_rmse",
    "target_metric", "target_value", "time_to_target_s", "target_epoch",
    "images_total", "problems",
)
UTIL_COLUMNS = (
    "util_cpu_mean_percent", "util_cpu_p95_percent", "util_gpu_mean_percent", "util_gpu_p95_percent",
    "util_mem_used_peak_bytes", "util_net_sent_mean_bytes_per_s", "util_net_recv_mean_bytes_per_s",
    "util_disk_read_mean_bytes_per_s", "util_disk_write_mean_bytes_per_s", "util_tasks_rss_peak_bytes",
)
COST_FIGURES = ("billed", "startup", "training", "per_epoch", "per_1m_images", "per_1m_images_end_to_end",
                "to_target")
COST_COLUMNS = ("instance_types", "price_on_demand_usd_per_h", "price_spot_usd_per_h", "billed_wall_s") + tuple(
    f"cost_{fig}_{pricing}_usd" for fig in COST_FIGURES for pricing in PRICINGS)
SCALING_COLUMNS = ("scaling_baseline", "scaling_efficiency", "communication_share",
                   "model_flop_utilization", "diagnoses")
CSV_COLUMNS = BASE_COLUMNS + UTIL_COLUMNS + COST_COLUMNS + SCALING_COLUMNS


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return format(v, ".10g")  # enough digits to re-derive, no float noise
    return str(v)


def _base_row(m: ConfigMetrics) -> dict[str, Any]:
    s = m.startup
    row: dict[str, Any] = {
        "config": m.config, "strategy": m.strategy, "workers": m.workers, "ps": m.ps,
        "hosts": ";".join(m.hosts), "status": m.status, "tasks": len(m.tasks),
        "task_states": ";".join(f"{k}={v}" for k, v in m.task_states.items()),
        "startup_s": m.startup_s, "problems": len(m.problems),
    }
    for part, value in (s.parts() if s else []):
        row[f"startup_{part}"] = value
    for col in BASE_COLUMNS:
        if col not in row and hasattr(m, col):
            row[col] = getattr(m, col)
    return row


def _cost_row(c: ConfigCost) -> dict[str, Any]:
    row: dict[str, Any] = {
        "instance_types": ";".join(f"{hp.host}={hp.instance_type or ''}" for hp in c.host_prices),
        "price_on_demand_usd_per_h": c.on_demand.rate.usd_per_hour,
        "price_spot_usd_per_h": c.spot.rate.usd_per_hour,
        "billed_wall_s": c.billed_wall_s,
    }
    for pricing in PRICINGS:
        for fig, value in c.of(pricing).figures():
            row[f"cost_{fig}_{pricing}_usd"] = value.usd
    return row


def _scaling_row(sc: Scaling, checks: list[Check]) -> dict[str, Any]:
    return {"scaling_baseline": sc.baseline, "scaling_efficiency": sc.efficiency,
            "communication_share": sc.communication_share, "model_flop_utilization": sc.mfu,
            "diagnoses": ";".join(f"{c.name}@{c.host}" if c.host else c.name
                                  for c in checks if c.triggered)}


def csv_row(m: ConfigMetrics, u: ConfigUtilization, c: ConfigCost, sc: Scaling,
            checks: list[Check]) -> dict[str, str]:
    row = {**_base_row(m), **summary(u), **_cost_row(c), **_scaling_row(sc, checks)}
    return {col: _csv_value(row.get(col)) for col in CSV_COLUMNS}


def render_results_csv(a: RunAnalysis) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for m, u, c, sc in a.rows():
        w.writerow(csv_row(m, u, c, sc, a.checks_of(m.config)))
    return buf.getvalue()


# --- samples.csv ---------------------------------------------------------------------------

SAMPLE_FIELDS = ("cpu_percent", "load1", "mem_used_bytes", "mem_available_bytes",
                 "net_sent_bytes_per_s", "net_recv_bytes_per_s", "disk_read_bytes_per_s",
                 "disk_write_bytes_per_s")
TASK_FIELDS = ("cpu_percent", "rss_bytes", "processes")
GPU_FIELDS = ("util_percent", "mem_used_bytes", "mem_total_bytes", "power_w", "temperature_c",
              "sm_clock_mhz")


def _number(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if math.isfinite(v) else None


def samples_columns(run: RunData) -> list[str]:
    """Fixed columns, then one per core and six per GPU up to the most any sample has."""
    cores = max((s.cols.cores for s in run.samplers), default=0)
    gpus = set()
    for s in run.samplers:
        gpus.update(s.cols.gpu_csv_indices)
    return (["config", "host", "t_wall", "t_mono", "in_training_window", *SAMPLE_FIELDS]
            + [f"tasks_{f}" for f in TASK_FIELDS]
            + [f"cpu{i}_percent" for i in range(cores)]
            + [f"gpu{i}_{f}" for i in sorted(gpus) for f in GPU_FIELDS])


def _text(value: str) -> str:
    """A text cell as csv.writer quotes it (QUOTE_MINIMAL)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([value, ""])
    return buf.getvalue()[:-2]


def _sampler_cells(s, columns: list[str], window: tuple) -> list[list[str]]:
    """Each column's text for every sample of one sampler (columns.fmt_cells)."""
    c = s.cols
    n = c.n
    blank = [""] * n
    t = c.col("t_wall")
    w0, w1 = window
    if w0 is None:
        in_win = blank
    else:
        flags = np.where(np.isnan(t), -1, (t >= w0) & (t <= w1))
        in_win = [("" if f < 0 else "1" if f else "0") for f in flags.tolist()]
    by_name = {"config": [_text(s.config)] * n, "host": [_text(s.host)] * n,
               "in_training_window": in_win}
    for name in ("t_wall", "t_mono"):  # full precision (repr: shortest exact form), not 10 digits
        by_name[name] = ["" if v != v else repr(v) for v in c.col(name).tolist()]
    for name in SAMPLE_FIELDS:
        by_name[name] = fmt_cells(c.scalars[name])
    for f in TASK_FIELDS:
        by_name[f"tasks_{f}"] = fmt_cells(c.scalars[f"tasks.{f}"])
    for i in range(c.cores):
        by_name[f"cpu{i}_percent"] = fmt_cells(Column(c.per_core.values[:, i], c.per_core.is_int[:, i]))
    for name, col in c.gpu_csv.items():
        by_name[name] = fmt_cells(col)
    return [by_name.get(name, blank) for name in columns]


def render_samples_csv(a: RunAnalysis) -> str:
    """One row per `sample` record of every sampler, in run order; in_training_window is 1
    when t_wall lies in the configuration's training window (what the summaries use).
    Built column by column (each value formatted as csv.DictWriter would print it)."""
    columns = samples_columns(a.run)
    window = {m.config: (m.training_start_t_wall, m.training_end_t_wall) for m in a.metrics}
    parts = [",".join(_text(c) for c in columns) + "\n"]
    for s in a.run.samplers:
        if not s.cols.n:
            continue
        cells = _sampler_cells(s, columns, window.get(s.config, (None, None)))
        parts.append("\n".join(map(",".join, zip(*cells))) + "\n")
    return "".join(parts)
