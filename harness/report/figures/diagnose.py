"""Diagnoses: named checks with fixed thresholds, each reporting the evidence it used.

A check is `triggered`, `ok`, or `not evaluated` (with the reason: the data it needs is not
in this run). Thresholds are the constants below; docs/metrics.md gives each formula."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from harness.report import stats
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.scaling import Scaling
from harness.report.figures.utilization import ConfigUtilization, fmt_t

STRAGGLER_SPREAD_SHARE = 0.20        # (max − min) per-task mean step time / median
INPUT_BOUND_DATA_WAIT_SHARE = 0.20   # data_wait_s / seconds over kept step records
LOW_GPU_UTIL_PERCENT = 50.0          # mean GPU utilization in the training window
CPU_SATURATION_PERCENT = 90.0        # mean host CPU % in the training window
COMMUNICATION_BOUND_SHARE = 0.50     # communication share (scaling.py)
MEMORY_PRESSURE_AVAILABLE_SHARE = 0.10  # available / total memory at any sample

TRIGGERED, OK, NOT_EVALUATED = "triggered", "ok", "not evaluated"


@dataclass(frozen=True)
class Check:
    config: str
    name: str
    host: Optional[str]
    status: str  # TRIGGERED / OK / NOT_EVALUATED
    evidence: str
    threshold: str

    @property
    def triggered(self) -> bool:
        return self.status == TRIGGERED


def _s(x: float) -> str:
    return f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def straggler(m: ConfigMetrics) -> Check:
    threshold = f"spread > {_pct(STRAGGLER_SPREAD_SHARE)} of the median"
    tasks = [t for t in m.tasks if t.step_time_mean_s is not None]
    if len(tasks) < 2:
        return Check(m.config, "straggler host", None, NOT_EVALUATED,
                     f"{len(tasks)} task(s) with step times after warm-up; needs 2 or more", threshold)
    means = [t.step_time_mean_s for t in tasks]
    med = stats.median(means)
    spread = max(means) - min(means)
    slow = max(tasks, key=lambda t: t.step_time_mean_s)
    share = spread / med if med else 0.0
    listed = ", ".join(f"{t.task_id} ({t.host}) {_s(t.step_time_mean_s)} s" for t in tasks)
    evidence = (f"per-task mean step time: {listed}; spread max − min = {_s(spread)} s = "
                f"{_pct(share)} of the median {_s(med)} s; slowest {slow.task_id} on {slow.host}")
    return Check(m.config, "straggler host", slow.host,
                 TRIGGERED if share > STRAGGLER_SPREAD_SHARE else OK, evidence, threshold)


def input_bound(m: ConfigMetrics) -> Check:
    threshold = f"data-wait share > {_pct(INPUT_BOUND_DATA_WAIT_SHARE)}"
    if m.data_wait_share is None:
        return Check(m.config, "input-bound", None, NOT_EVALUATED, m.data_wait_method, threshold)
    return Check(m.config, "input-bound", None,
                 TRIGGERED if m.data_wait_share > INPUT_BOUND_DATA_WAIT_SHARE else OK,
                 f"data-wait share {_pct(m.data_wait_share)} ({m.data_wait_method})", threshold)


def low_gpu(u: ConfigUtilization) -> list[Check]:
    threshold = f"mean GPU utilization < {LOW_GPU_UTIL_PERCENT:g} % on a GPU host"
    gpu_hosts = [h for h in u.hosts if h.has_gpus]
    if not gpu_hosts:
        reasons = "; ".join(f"{h.host}: {h.nvml_reason or 'no GPU samples'}" for h in u.hosts) \
            or "no sampler records"
        return [Check(u.config, "low GPU utilization", None, NOT_EVALUATED,
                      f"no GPU utilization samples ({reasons})", threshold)]
    out = []
    for h in gpu_hosts:
        per_gpu = ", ".join(f"GPU {g.index} {_s(g.util_percent.mean)} %" for g in h.gpus
                            if g.util_percent.mean is not None)
        mean = h.gpu_util_percent.mean
        if mean is None:
            out.append(Check(u.config, "low GPU utilization", h.host, NOT_EVALUATED,
                             f"no GPU samples inside the training window ({h.method})", threshold))
            continue
        out.append(Check(u.config, "low GPU utilization", h.host,
                         TRIGGERED if mean < LOW_GPU_UTIL_PERCENT else OK,
                         f"mean {_s(mean)} % over {h.gpu_util_percent.n} samples ({per_gpu})", threshold))
    return out


def cpu_saturation(u: ConfigUtilization) -> list[Check]:
    threshold = f"mean host CPU > {CPU_SATURATION_PERCENT:g} %"
    out = []
    for h in u.hosts:
        c = h.cpu_percent
        if c.mean is None:
            out.append(Check(u.config, "CPU saturation", h.host, NOT_EVALUATED,
                             f"no CPU samples in the training window ({h.method})", threshold))
            continue
        out.append(Check(u.config, "CPU saturation", h.host,
                         TRIGGERED if c.mean > CPU_SATURATION_PERCENT else OK,
                         f"host CPU mean {_s(c.mean)} %, p95 {_s(c.p95)} % of all "
                         f"{h.cores if h.cores else '?'} cores over {c.n} samples{_cpu_blame(h)}",
                         threshold))
    if not u.hosts:
        out.append(Check(u.config, "CPU saturation", None, NOT_EVALUATED, "no sampler records", threshold))
    return out


def _cpu_blame(h) -> str:
    """Who used the CPU: the run's training tasks (the sampler's `tasks` CPU %, in % of one
    core summed over their processes) against the whole host (% of all cores)."""
    c, t = h.cpu_percent.mean, h.tasks_cpu_percent.mean
    if c is None or t is None or not h.cores:
        return ""
    host_cores = c / 100 * h.cores
    task_cores = t / 100
    other = max(0.0, host_cores - task_cores)
    text = (f"; the training tasks used {task_cores:.2g} of {h.cores} cores ({100 * task_cores / h.cores:.0f} % "
            f"of the host), other processes used {other:.2g} cores ({100 * other / h.cores:.0f} % of the host)")
    if c > CPU_SATURATION_PERCENT and other > task_cores:
        text += ": a noisy neighbour, not the workload"
    return text


def communication_bound(sc: Scaling) -> Check:
    threshold = f"communication share > {_pct(COMMUNICATION_BOUND_SHARE)}"
    c = sc.communication
    if c is None:
        return Check(sc.config, "communication-bound", None, NOT_EVALUATED,
                     sc.communication_reason or "no communication share", threshold)
    return Check(sc.config, "communication-bound", None,
                 TRIGGERED if c.value > COMMUNICATION_BOUND_SHARE else OK,
                 f"communication share {_pct(c.value)} = {c.inputs} ({c.method})", threshold)


def memory_pressure(u: ConfigUtilization) -> list[Check]:
    threshold = f"available memory < {_pct(MEMORY_PRESSURE_AVAILABLE_SHARE)} of total at any sample"
    out = []
    for h in u.hosts:
        if h.mem_available_min_share is None:
            why = "no memory_total_bytes in sampler_start" if not h.memory_total_bytes \
                else "no mem_available_bytes in the samples"
            out.append(Check(u.config, "memory pressure", h.host, NOT_EVALUATED, why, threshold))
            continue
        share = h.mem_available_min_share
        out.append(Check(u.config, "memory pressure", h.host,
                         TRIGGERED if share < MEMORY_PRESSURE_AVAILABLE_SHARE else OK,
                         f"lowest available {_pct(share)} of {h.memory_total_bytes:.0f} bytes at "
                         f"t_wall {fmt_t(h.mem_available_min_t_wall)} (all {h.samples_total} samples "
                         f"of the configuration)", threshold))
    if not u.hosts:
        out.append(Check(u.config, "memory pressure", None, NOT_EVALUATED, "no sampler records", threshold))
    return out


def diagnose(m: ConfigMetrics, u: ConfigUtilization, sc: Scaling) -> list[Check]:
    return [straggler(m), input_bound(m), *low_gpu(u), *cpu_saturation(u),
            communication_bound(sc), *memory_pressure(u)]


def compute_checks(metrics: Sequence[ConfigMetrics], utilization: Sequence[ConfigUtilization],
                   scaling: Sequence[Scaling]) -> list[Check]:
    return [c for m, u, sc in zip(metrics, utilization, scaling) for c in diagnose(m, u, sc)]
