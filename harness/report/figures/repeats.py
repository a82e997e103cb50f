"""Configurations over their repeats (pure): which runs of a configuration count, and
its figures as a mean over them with a t-interval over the per-run values (n = counted
runs), or, with one run, the within-run interval and "1 run: no interval between runs".

A run's figures are those of harness.report.figures.metrics (one ConfigMetrics per run, named as
in the run directory); warm-up runs (warmup_run) and runs that did not succeed are shown
but not counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from harness.protocol import stats
from harness.report.figures.cost import ConfigCost
from harness.report.read.records import RunData, plan_configs
from harness.report.figures.metrics import ConfigMetrics
from harness.protocol.stats import Estimate
from harness.stages.schedule import split_unit_name


@dataclass(frozen=True)
class RunInfo:
    name: str  # the run's name in the run directory (config, or config@k)
    config: str
    repeat: int  # 0 for a warm-up run
    counted: bool


@dataclass
class ConfigGroup:
    config: str
    runs: list[RunInfo]  # every run, in run order
    counted: list[str]  # runs that count: not warm-up, succeeded
    metrics: list[ConfigMetrics]  # of the counted runs
    costs: list[ConfigCost]  # of the counted runs
    usd_per_hour: Optional[float]  # on-demand, all hosts of the configuration
    hosts: int
    throughput: Optional[Estimate] = None  # images/s
    throughput_cv: Optional[float] = None  # across counted runs
    time_to_target: Optional[Estimate] = None  # s
    startup: Optional[Estimate] = None  # s
    usd_per_million: dict[str, Optional[Estimate]] = field(default_factory=dict)  # by pricing
    usd_to_target: dict[str, Optional[Estimate]] = field(default_factory=dict)
    not_counted: list[str] = field(default_factory=list)  # "name: why"

    @property
    def n(self) -> int:
        return len(self.counted)


def run_infos(run: RunData) -> dict[str, RunInfo]:
    """Per run name: its configuration, repeat and whether it counts, from plan.json, else
    the config_start records, else the name (config@k)."""
    out: dict[str, RunInfo] = {}
    for cp in plan_configs(run.plan):
        name = cp.get("name")
        if isinstance(name, str) and name:
            base, rep = split_unit_name(name)
            out[name] = RunInfo(name, str(cp.get("config") or base),
                                int(cp.get("repeat", rep if rep is not None else 1)),
                                bool(cp.get("counted", rep != 0)))
    for r in run.control_of("config_start"):
        name = r.get("config")
        if isinstance(name, str) and name not in out:
            base, rep = split_unit_name(name)
            out[name] = RunInfo(name, str(r.get("configuration") or base),
                                int(r.get("repeat", rep if rep is not None else 1)),
                                bool(r.get("counted", rep != 0)))
    for name in run.config_names():
        if name not in out:
            base, rep = split_unit_name(name)
            out[name] = RunInfo(name, base, rep if rep is not None else 1, rep != 0)
    return out


def over_runs(values: Sequence[float], single: Optional[Estimate], what: str) -> Optional[Estimate]:
    """The estimate over counted runs: between runs when there are 2 or more values; one
    value keeps its within-run interval (if any) and says there is none between runs."""
    if len(values) >= 2:
        return stats.between_runs(values, what)
    if not values:
        return None
    if single is not None and single.se is not None:
        return Estimate(values[0], single.se, single.df, single.n,
                        f"{stats.NO_RUNS_INTERVAL}; {single.method}")
    return stats.between_runs(values, what)


def _scaled_single(m: ConfigMetrics, value: Optional[float]) -> Optional[Estimate]:
    """A figure inversely proportional to throughput ($ per 10⁶ images) keeps the
    throughput's relative within-run error."""
    e = m.throughput_estimate
    if value is None or e is None or e.se is None or not e.mean:
        return None
    return Estimate(value, value * e.se / e.mean, e.df, e.n, e.method)


def _collect(pairs, get: Callable) -> list[float]:
    return [v for v in (get(m, c) for m, c in pairs) if v is not None]


def compute_groups(run: RunData, metrics: Sequence[ConfigMetrics],
                   costs: Sequence[ConfigCost]) -> list[ConfigGroup]:
    infos = run_infos(run)
    by_config: dict[str, list[tuple[ConfigMetrics, ConfigCost]]] = {}
    for m, c in zip(metrics, costs):
        by_config.setdefault(infos[m.config].config if m.config in infos else m.config, []).append((m, c))
    groups = []
    for config, pairs in by_config.items():
        runs = [infos.get(m.config) or RunInfo(m.config, config, 1, True) for m, _ in pairs]
        counted, not_counted = [], []
        for (m, c), info in zip(pairs, runs):
            if not info.counted:
                not_counted.append(f"{m.config}: warm-up run (kept, not counted)")
            elif m.status != "succeeded":
                not_counted.append(f"{m.config}: status {m.status}")
            else:
                counted.append((m, c))
        first = counted[0] if counted else pairs[0]
        g = ConfigGroup(config, runs, [m.config for m, _ in counted], [m for m, _ in counted],
                        [c for _, c in counted], first[1].on_demand.rate.usd_per_hour,
                        len(first[0].hosts), not_counted=not_counted)
        single = counted[0][0] if len(counted) == 1 else None
        thr = _collect(counted, lambda m, c: m.throughput_images_per_s)
        g.throughput = over_runs(thr, single.throughput_estimate if single else None, "run")
        g.throughput_cv = stats.coefficient_of_variation(thr)
        g.time_to_target = over_runs(_collect(counted, lambda m, c: m.time_to_target_s), None, "run")
        g.startup = over_runs(_collect(counted, lambda m, c: m.startup_s), None, "run")
        for pricing in ("on_demand", "spot"):
            per_m = _collect(counted, lambda m, c: c.of(pricing).per_million_images.usd)
            g.usd_per_million[pricing] = over_runs(
                per_m, _scaled_single(single, per_m[0]) if single and per_m else None, "run")
            g.usd_to_target[pricing] = over_runs(
                _collect(counted, lambda m, c: c.of(pricing).to_target.usd), None, "run")
        groups.append(g)
    return groups
