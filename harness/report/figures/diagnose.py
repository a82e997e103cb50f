"""Diagnoses: named rules with fixed thresholds, each reporting the evidence it used, a
severity (the estimated share of time or money the cause costs) and an action.

A rule is one `Rule` object (its name and a function from a configuration's figures to
checks); a check is `triggered`, `ok`, or `not evaluated` (with the reason: the data it
needs is not in this run). The rules themselves live in rules_samples.py (on the
samplers' samples) and rules_steps.py (on step records, calibration and start-up), run
by rules.py; thresholds are their constants and docs/metrics.md ("Diagnoses") gives each
formula."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from harness.prices import Catalog
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.scaling import Scaling
from harness.report.figures.utilization import ConfigUtilization
from harness.report.read.records import RunData

TRIGGERED, OK, NOT_EVALUATED = "triggered", "ok", "not evaluated"
MINOR_SEVERITY = 0.05   # a triggered diagnosis costing less is listed as minor, never first
MIN_POINTS = 3          # samples in the window a rule on samples needs


@dataclass(frozen=True)
class Check:
    config: str
    name: str
    host: Optional[str]
    status: str  # TRIGGERED / OK / NOT_EVALUATED
    evidence: str
    threshold: str
    severity: Optional[float] = None   # share of time or money, 0..1; None: not estimable
    severity_basis: str = ""           # how the severity was computed
    action: str = ""                   # what to change, and its estimated effect

    @property
    def triggered(self) -> bool:
        return self.status == TRIGGERED

    @property
    def minor(self) -> bool:
        return self.triggered and self.severity is not None and self.severity < MINOR_SEVERITY

    @property
    def claimed(self) -> bool:
        """Triggered and not minor: a cause the report names."""
        return self.triggered and not self.minor


@dataclass
class HostWindow:
    """One host's samples inside the configuration's training window, as arrays (NaN: no
    reading), for the rules that look at points rather than means."""
    host: str
    cores: Optional[float]        # the machine's, or the host's cgroup CPU limit
    t: np.ndarray
    cpu: np.ndarray
    iowait: np.ndarray
    tasks_cpu: np.ndarray
    gpu: np.ndarray               # mean over the GPUs per sample
    gpu_mem_share: np.ndarray     # Σ used / Σ total over the GPUs per sample
    gpu_mem_per_gpu: dict = field(default_factory=dict)   # index -> used/total per sample
    swap_in: Optional[np.ndarray] = None
    major_faults: Optional[np.ndarray] = None
    cpu_limit: Optional[float] = None   # cores of a cgroup quota: then `cpu` is the group's share of it
    mem_used: Optional[np.ndarray] = None   # bytes: the group's under a memory limit, else the machine's
    sched_run: Optional[np.ndarray] = None   # s the tasks' threads ran since the previous reading (NaN: none)
    sched_wait: Optional[np.ndarray] = None  # s they waited, runnable, for a CPU, likewise

    @property
    def cpu_basis(self) -> str:
        return (f"of its cgroup's CPU limit of {self.cpu_limit:g} cores" if self.cpu_limit
                else f"of the machine's {self.cores:g} cores" if self.cores else "of the machine")

    @property
    def has_gpus(self) -> bool:
        return bool((~np.isnan(self.gpu)).any())


@dataclass
class RuleInput:
    run: RunData
    m: ConfigMetrics
    u: ConfigUtilization
    sc: Scaling
    windows: list[HostWindow]
    catalog: Optional[Catalog] = None    # prices, for actions that name a cheaper instance type
    facts: Any = None                    # instance facts (memory), same use


@dataclass(frozen=True)
class Rule:
    name: str
    evaluate: Callable[[RuleInput], list[Check]]


def _col(c, name: str) -> np.ndarray:
    try:
        return c.col(name)
    except KeyError:
        return np.full(c.n, np.nan)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def host_windows(run: RunData, m: ConfigMetrics) -> list[HostWindow]:
    out = []
    w0, w1 = m.training_start_t_wall, m.training_end_t_wall
    for s in run.samplers_of(m.config):
        c = s.cols
        t = c.col("t_wall")
        inside = (~np.isnan(t)) & (t >= w0) & (t <= w1) if w0 is not None else np.zeros(c.n, dtype=bool)
        used = np.zeros(c.n)
        total = np.zeros(c.n)
        per_gpu = {}
        for i, f in sorted(c.gpu_first.items()):
            u_i, t_i = f["mem_used_bytes"], f["mem_total_bytes"]
            per_gpu[i] = (u_i / t_i)[inside]
            used, total = used + u_i, total + t_i
        share = np.divide(used, total, out=np.full(c.n, np.nan), where=total > 0) if c.gpu_first \
            else np.full(c.n, np.nan)
        start = s.first("sampler_start") or {}
        cores = start.get("cores")
        cores = cores if isinstance(cores, int) and not isinstance(cores, bool) and cores > 0 else None
        cpu = _col(c, "cpu_percent")
        # Under a CPU quota (a container) the host is its group: its CPU is the quota's share
        # (harness/worker/cgroup_limits.py); the machine's % would call a saturated quota idle.
        limit = start.get("cpu_limit_cores")
        group = _col(c, "cgroup_cpu_percent")
        if _number(limit) and limit > 0 and (~np.isnan(group[inside])).any():
            cores, cpu = float(limit), group
        else:
            limit = None
        out.append(HostWindow(
            host=s.host, cores=cores, cpu_limit=limit,
            t=t[inside], cpu=cpu[inside], iowait=_col(c, "cpu_iowait_percent")[inside],
            tasks_cpu=_col(c, "tasks.cpu_percent")[inside], gpu=c.gpu_mean_util[inside],
            gpu_mem_share=share[inside], gpu_mem_per_gpu=per_gpu,
            mem_used=(_col(c, "cgroup_mem_used_bytes") if start.get("memory_limit_bytes")
                      else _col(c, "mem_used_bytes"))[inside],
            swap_in=_col(c, "mem_swap_in_bytes_per_s")[inside],
            major_faults=_col(c, "mem_major_faults_per_s")[inside],
            sched_run=_col(c, "tasks.sched_run_s")[inside], sched_wait=_col(c, "tasks.sched_wait_s")[inside]))
    return out


def rank(checks: Sequence[Check]) -> list[Check]:
    """The triggered checks, largest severity first; those without one after, in rule order."""
    hits = [c for c in checks if c.triggered]
    return sorted(hits, key=lambda c: (c.severity is None, -(c.severity or 0.0)))


def first_diagnosis(checks: Sequence[Check]) -> Optional[Check]:
    """The report's first diagnosis: the claimed (not minor) check of largest severity."""
    return next((c for c in rank(checks) if c.claimed), None)


def fmt_share(x: Optional[float]) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f} %"
