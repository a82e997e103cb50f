"""results.csv (one row per configuration) and samples.csv (one row per utilization sample),
for pandas users. Column names carry their unit (_s, _usd, _percent, _bytes, _bytes_per_s)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Optional

from harness.report.analysis import RunAnalysis
from harness.report.cost import PRICINGS, ConfigCost
from harness.report.diagnose import Check
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
    cores, gpus = 0, set()
    for s in run.samplers:
        for r in s.samples:
            per_core = r.get("cpu_percent_per_core")
            cores = max(cores, len(per_core) if isinstance(per_core, list) else 0)
            for g in r.get("gpus") if isinstance(r.get("gpus"), list) else []:
                if isinstance(g, dict) and isinstance(g.get("index"), int):
                    gpus.add(g["index"])
    return (["config", "host", "t_wall", "t_mono", "in_training_window", *SAMPLE_FIELDS]
            + [f"tasks_{f}" for f in TASK_FIELDS]
            + [f"cpu{i}_percent" for i in range(cores)]
            + [f"gpu{i}_{f}" for i in sorted(gpus) for f in GPU_FIELDS])


def render_samples_csv(a: RunAnalysis) -> str:
    """One row per `sample` record of every sampler, in run order; in_training_window is 1
    when t_wall lies in the configuration's training window (what the summaries use)."""
    columns = samples_columns(a.run)
    window = {m.config: (m.training_start_t_wall, m.training_end_t_wall) for m in a.metrics}
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for s in a.run.samplers:
        w0, w1 = window.get(s.config, (None, None))
        for r in s.samples:
            t = _number(r.get("t_wall"))
            tm = _number(r.get("t_mono"))
            # Timestamps at full precision (repr: shortest exact form), not 10 digits.
            row: dict[str, Any] = {"config": s.config, "host": s.host,
                                   "t_wall": None if t is None else repr(float(t)),
                                   "t_mono": None if tm is None else repr(float(tm)),
                                   "in_training_window": None if w0 is None or t is None else w0 <= t <= w1}
            for f in SAMPLE_FIELDS:
                row[f] = _number(r.get(f))
            tasks = r.get("tasks") if isinstance(r.get("tasks"), dict) else {}
            for f in TASK_FIELDS:
                row[f"tasks_{f}"] = _number(tasks.get(f))
            per_core = r.get("cpu_percent_per_core")
            for i, v in enumerate(per_core if isinstance(per_core, list) else []):
                row[f"cpu{i}_percent"] = _number(v)
            for g in r.get("gpus") if isinstance(r.get("gpus"), list) else []:
                if isinstance(g, dict) and isinstance(g.get("index"), int):
                    for f in GPU_FIELDS:
                        row[f"gpu{g['index']}_{f}"] = _number(g.get(f))
            w.writerow({k: _csv_value(v) for k, v in row.items()})
    return buf.getvalue()
