"""results.csv (one row per configuration) and samples.csv (one row per utilization sample),
for pandas users. Column names carry their unit (_s, _usd, _percent, _bytes, _bytes_per_s)."""

from __future__ import annotations

import csv
import io
from itertools import repeat
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.report.figures.analysis import RunAnalysis
from harness.report.figures.cost import PRICINGS, ConfigCost
from harness.report.figures.diagnose import Check, rank
from harness.report.read.columns import CSV_SAMPLE_FIELDS, GPU_FIELDS, TASK_SCALARS, fmt_cells
from harness.report.read.records import RunData
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.scaling import Scaling
from harness.report.figures.utilization import ConfigUtilization, summary

BASE_COLUMNS = (
    "config", "workload", "strategy", "workers", "ps", "hosts", "status", "tasks", "task_states",
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
            "diagnoses": ";".join(f"{c.name}@{c.host}" if c.host else c.name for c in rank(checks))}


def csv_row(m: ConfigMetrics, u: ConfigUtilization, c: ConfigCost, sc: Scaling,
            checks: list[Check]) -> dict[str, str]:
    row = {**_base_row(m), **summary(u), **_cost_row(c), **_scaling_row(sc, checks)}
    return {col: _csv_value(row.get(col)) for col in CSV_COLUMNS}


def render_results_csv(a: RunAnalysis) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for m, u, c, sc in a.rows():
        w.writerow({**csv_row(m, u, c, sc, a.checks_of(m.config)), "workload": a.workload.text(m.config)})
    return buf.getvalue()


# --- samples.csv ---------------------------------------------------------------------------

def _header_cores(run: RunData) -> int:
    """The per-core columns: as many as the most any sample has."""
    return max((s.cols.cores for s in run.samplers), default=0)


def samples_columns(run: RunData) -> list[str]:
    """Fixed columns, then one per core and six per GPU up to the most any sample has."""
    gpus = set()
    for s in run.samplers:
        gpus.update(s.cols.gpu_csv_indices)
    return (["config", "host", "t_wall", "t_mono", "in_training_window", *CSV_SAMPLE_FIELDS]
            + [f"tasks_{f}" for f in TASK_SCALARS]
            + [f"cpu{i}_percent" for i in range(_header_cores(run))]
            + [f"gpu{i}_{f}" for i in sorted(gpus) for f in GPU_FIELDS])


def _text(value: str) -> str:
    """A text cell as csv.writer quotes it (QUOTE_MINIMAL)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([value, ""])
    return buf.getvalue()[:-2]


def _window_cells(s, window: tuple) -> list[str]:
    """",<in_training_window>," per sample: 1 when t_wall lies in the window, 0 when not,
    blank without a window or a t_wall."""
    n = s.cols.n
    if window[0] is None:
        return [",,"] * n
    t = s.cols.col("t_wall")
    flags = np.where(np.isnan(t), 0, np.where((t >= window[0]) & (t <= window[1]), 2, 1))
    return np.array([",,", ",0,", ",1,"], dtype=object)[flags].tolist()


def _gpu_suffix(s, gpu_columns: list[str]) -> list[str]:
    """",<gpu cells>" per sample for the header's GPU columns ("" without any)."""
    if not gpu_columns:
        return [""] * s.cols.n
    own = s.cols.gpu_csv_columns()
    if gpu_columns[:len(own)] == own:  # the file's own cells (cached with it), then blanks for the rest
        pad = "," * (len(gpu_columns) - len(own))
        if not own:
            return [pad] * s.cols.n
        return [f",{row}{pad}" for row in s.cols.gpu_csv_text()]
    blank = [""] * s.cols.n
    cells = [fmt_cells(s.cols.gpu_csv[name]) if name in s.cols.gpu_csv else blank for name in gpu_columns]
    return ["," + row for row in map(",".join, zip(*cells))]


def samples_csv_parts(a: RunAnalysis) -> Iterator[str]:
    """samples.csv piece by piece: the header, then each sampler's rows.

    One row per `sample` record of every sampler, in run order; in_training_window is 1
    when t_wall lies in the configuration's training window (what the summaries use).
    Each row is the sampler's own text (SampleColumns.csv_text: formatted once per file and
    cached with its columns), padded to the header's cores, with the window flag and GPU
    cells; each value as csv.DictWriter would print it (_csv_value)."""
    columns = samples_columns(a.run)
    cores = _header_cores(a.run)
    gpu_columns = [c for c in columns if c.startswith("gpu")]
    window = {m.config: (m.training_start_t_wall, m.training_end_t_wall) for m in a.metrics}
    yield ",".join(_text(c) for c in columns) + "\n"
    for s in a.run.samplers:
        if not s.cols.n:
            continue
        head, tail = s.cols.csv_text()
        rows = zip(repeat(f"{_text(s.config)},{_text(s.host)},"), head,
                   _window_cells(s, window.get(s.config, (None, None))), tail,
                   repeat("," * (cores - s.cols.cores)), _gpu_suffix(s, gpu_columns))
        yield "\n".join(map("".join, rows)) + "\n"


def render_samples_csv(a: RunAnalysis) -> str:
    return "".join(samples_csv_parts(a))


def write_samples_csv(a: RunAnalysis, path: Path) -> Path:
    """samples.csv written sampler by sampler: a large run's text is never whole in memory."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for part in samples_csv_parts(a):
            fh.write(part)
    return path
