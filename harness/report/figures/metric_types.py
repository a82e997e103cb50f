"""The records the metrics produce (metrics.py computes them): one ConfigMetrics per
configuration, a TaskMetrics per task, the start-up split. Units are in the field names
(`_s` seconds, `_images_per_s`); shares are fractions 0..1; every figure has a `*_method`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from harness.protocol.precision import PHASE as PRECISION_PHASE

from harness.protocol import stats


@dataclass(frozen=True)
class StartupSplit:
    """config_start → the latest first-step end across the configuration's tasks, split
    along the task whose first step ended last. Parts are None when a record is missing;
    `other_s` is what the known parts do not explain (total minus their sum)."""
    total_s: float
    task_id: str
    launch_s: Optional[float]
    process_start_s: Optional[float]
    framework_import_s: Optional[float]
    data_ready_s: Optional[float]
    model_built_s: Optional[float]
    first_step_s: Optional[float]
    other_s: float
    method: str

    def parts(self) -> list[tuple[str, Optional[float]]]:
        return [("launch_s", self.launch_s), ("process_start_s", self.process_start_s),
                ("framework_import_s", self.framework_import_s),
                ("data_ready_s", self.data_ready_s), ("model_built_s", self.model_built_s),
                ("first_step_s", self.first_step_s), ("other_s", self.other_s)]


@dataclass(frozen=True)
class TaskMetrics:
    task_id: str
    host: str
    role: Optional[str]
    rank: Optional[int]
    state: str  # succeeded / failed / stopped / lost / unknown
    state_method: str
    exit_code: Optional[int]
    run_end_status: Optional[str]
    warmup_steps: int
    step_records: int
    kept_records: int
    images_kept: int
    seconds_kept_s: float
    throughput_images_per_s: Optional[float]
    throughput_ci95_half_width_images_per_s: Optional[float]
    step_time_mean_s: Optional[float]
    last_record_t_wall: Optional[float]
    # The within-run interval of the throughput: batch means over the step records.
    throughput_estimate: Optional[stats.Estimate] = None


@dataclass
class ConfigMetrics:
    config: str
    strategy: Optional[str]
    workers: Optional[int]
    ps: Optional[int]
    hosts: list[str]
    instance_types: dict[str, str]
    status: str
    status_reason: str
    tasks: list[TaskMetrics]

    throughput_images_per_s: Optional[float] = None
    throughput_ci95_half_width_images_per_s: Optional[float] = None
    throughput_estimate: Optional[stats.Estimate] = None  # within this run (batch means)
    throughput_method: str = ""

    step_time_n: int = 0
    step_time_mean_s: Optional[float] = None
    step_time_median_s: Optional[float] = None
    step_time_p95_s: Optional[float] = None
    step_time_sd_s: Optional[float] = None
    step_time_samples_s: list[float] = field(default_factory=list)  # per-record seconds/steps, kept
    step_time_method: str = ""

    data_wait_share: Optional[float] = None
    data_wait_method: str = ""

    training_time_s: Optional[float] = None
    training_start_t_wall: Optional[float] = None  # first step start; the training window
    training_end_t_wall: Optional[float] = None  # last step end
    training_time_method: str = ""

    startup: Optional[StartupSplit] = None
    startup_method: str = ""
    early_stop: str = ""  # the run ended at its precision (harness/protocol/precision.py); "" if not

    final_epoch: Optional[int] = None
    final_train_loss: Optional[float] = None
    final_val_loss: Optional[float] = None
    final_train_accuracy: Optional[float] = None
    final_val_accuracy: Optional[float] = None
    final_train_rmse: Optional[float] = None
    final_val_rmse: Optional[float] = None
    final_method: str = ""

    target_metric: Optional[str] = None  # "val_accuracy" (>=) or "val_rmse" (<=)
    target_value: Optional[float] = None
    time_to_target_s: Optional[float] = None
    target_epoch: Optional[int] = None
    time_to_target_method: str = ""

    images_total: int = 0
    images_method: str = ""

    problems: list[str] = field(default_factory=list)

    @property
    def startup_s(self) -> Optional[float]:
        return self.startup.total_s if self.startup else None

    @property
    def task_states(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks:
            out[t.state] = out.get(t.state, 0) + 1
        return dict(sorted(out.items()))


def mark_early_stop(m: "ConfigMetrics", tasks) -> None:
    """A run that ended at its precision: say so, and why its end-of-run figures are missing."""
    rec = next((e for t in tasks for e in t.of("phase") if e.get("name") == PRECISION_PHASE), None)
    if rec is None:
        return
    rel, kept = rec.get("relative_half_width"), rec.get("kept_steps")
    rel_text = f"±{100 * rel:.2g} %" if isinstance(rel, (int, float)) else "± ?"
    m.early_stop = (f"stopped early at precision: throughput {rel_text} (95 %, batch means) after {kept} kept "
                    f"steps, within precision {rec.get('precision')}")
    why = "not measured: the run stopped early at its precision (no full run)"
    if m.final_epoch is None or m.final_method == "no epoch records":
        m.final_method = why
    if m.time_to_target_s is None:
        m.time_to_target_method = f"{why}; {m.time_to_target_method}"
