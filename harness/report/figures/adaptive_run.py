"""Adaptive repeats on a run's records (pure over RunData): the quantities the
recommendation ranks by, with one value per counted repeat, replayed by
harness.report.figures.adaptive.

The run itself (harness/pipeline.py) calls `look_at` after each round to choose the next
one, and the report calls it on the finished run: both see the same values, so every
decision recorded in control.jsonl (`adaptive_look`) is re-derived by the report.

Bases: with a target in the workload, time to target and $ to reach it (on-demand, and
spot where the run has spot prices); otherwise steady-state throughput and $ per 10⁶
images — the quantities harness.report.figures.recommend ranks by. A run that did not
succeed has no value in its round (None: the comparison uses the others)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from harness.report.figures.adaptive import Basis, Outcome, replay
from harness.report.figures.cost import ConfigCost
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.repeats import run_infos
from harness.report.figures.sequential import Design
from harness.report.read.records import RunData, resolved_configurations, resolved_experiment

THROUGHPUT, TARGET = "throughput", "target"


def design_of(run: RunData) -> Optional[Design]:
    """The run's sequential design when it ran with `repeats: auto`, else None."""
    exp = resolved_experiment(run.resolved)
    if exp.get("repeats") != "auto":
        return None
    return Design(max_repeats=int(exp.get("max_repeats") or Design.max_repeats),
                  min_effect=float(exp.get("min_effect", Design.min_effect)))


def _per_round(run: RunData, metrics: Sequence[ConfigMetrics], costs: Sequence[ConfigCost]
               ) -> dict[str, list[Optional[tuple[ConfigMetrics, ConfigCost]]]]:
    """Per configuration, its counted rounds in order: (metrics, cost) of a run that
    succeeded, None for one that ran and did not; rounds that did not run end the list."""
    infos = run_infos(run)
    got: dict[str, dict[int, Optional[tuple]]] = {}
    for m, c in zip(metrics, costs):
        info = infos.get(m.config)
        if info is None or not info.counted or info.repeat < 1 or m.status in ("not run", "skipped"):
            continue
        got.setdefault(info.config, {})[info.repeat] = (m, c) if m.status == "succeeded" else None
    out = {}
    for config, by_round in got.items():
        rows, r = [], 1
        while r in by_round:
            rows.append(by_round[r])
            r += 1
        out[config] = rows
    return out


def _basis(name: str, rows, get: Callable, higher: bool, word: str) -> Optional[Basis]:
    values = {cfg: [None if x is None else get(*x) for x in xs] for cfg, xs in rows.items()}
    if not any(v is not None for xs in values.values() for v in xs):
        return None
    return Basis(name, {c: v for c, v in values.items() if any(x is not None for x in v)}, higher, word)


def bases_of(run: RunData, metrics: Sequence[ConfigMetrics], costs: Sequence[ConfigCost]) -> tuple[str, list[Basis]]:
    """(the recommendation's basis kind, its bases with per-round values)."""
    rows = _per_round(run, metrics, costs)
    def usd(pricing: str, what: str):
        return lambda m, c: getattr(c.of(pricing), what).usd
    if any(m.target_metric for m in metrics):   # the workload (or a configuration) sets a target
        kind, specs = TARGET, [
            ("time to target", lambda m, c: m.time_to_target_s, False, "faster"),
            ("on-demand $ to target", usd("on_demand", "to_target"), False, "cheaper"),
            ("spot $ to target", usd("spot", "to_target"), False, "cheaper")]
    else:
        kind, specs = THROUGHPUT, [
            ("throughput", lambda m, c: m.throughput_images_per_s, True, "faster"),
            ("on-demand $ per 10⁶ images", usd("on_demand", "per_million_images"), False, "cheaper"),
            ("spot $ per 10⁶ images", usd("spot", "per_million_images"), False, "cheaper")]
    bases = [b for b in (_basis(n, rows, g, h, w) for n, g, h, w in specs) if b is not None]
    return kind, bases


@dataclass(frozen=True)
class AdaptiveResult:
    kind: str                  # THROUGHPUT or TARGET: which quantities were compared
    bases: tuple[Basis, ...]
    outcome: Outcome
    order: tuple[str, ...]     # the experiment's configurations, in its order

    def texts(self) -> list[str]:
        return self.outcome.texts(self.bases)


def replay_run(run: RunData, metrics: Sequence[ConfigMetrics], costs: Sequence[ConfigCost],
               design: Design) -> Optional[AdaptiveResult]:
    """The design replayed on the run's counted values; None before any basis has a value."""
    kind, bases = bases_of(run, metrics, costs)
    if not bases:
        return None
    order = tuple(c["name"] for c in resolved_configurations(run.resolved) if c.get("name"))
    order = order or tuple(dict.fromkeys(cfg for b in bases for cfg in b.values))
    known = set(order)
    bases = [Basis(b.name, {c: v for c, v in b.values.items() if c in known}, b.higher_is_better,
                   b.better_word) for b in bases]
    return AdaptiveResult(kind, tuple(bases), replay(bases, design, order), order)


def look_at(run_dir) -> tuple[Optional[AdaptiveResult], Design]:
    """The decision after the rounds a run directory holds so far (the pipeline's look)."""
    from harness.prices import load_catalog
    from harness.report.figures.cost import compute_costs
    from harness.report.figures.metrics import compute_metrics
    from harness.report.read.rundir import load_run

    run = load_run(run_dir)
    design = design_of(run) or Design()
    metrics = compute_metrics(run)
    costs, _ = compute_costs(run, metrics, load_catalog())
    return replay_run(run, metrics, costs, design), design
