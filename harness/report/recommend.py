"""Which configuration to use: the cheapest that met the goal (on-demand and on spot) and
the fastest, with the reason when nothing qualifies (pure).

Goal: when a target accuracy/RMSE is set and at least one configuration reached it, the
cheapest is the lowest $ to reach the target and the fastest the shortest time to target.
Otherwise (no target, or nobody reached it) configurations are ranked by steady-state
throughput: cheapest = lowest $ per 10⁶ images, fastest = highest images/s. Only
configurations whose status is `succeeded` are considered; the others are listed with why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from harness.report.cost import ConfigCost, CostFigure, fmt_usd
from harness.report.metrics import ConfigMetrics


@dataclass(frozen=True)
class Pick:
    config: Optional[str]  # None when nothing qualifies
    text: str  # the value that decided, or the reason for no pick


@dataclass
class Recommendation:
    basis: str  # "target" or "throughput"
    basis_text: str
    cheapest_on_demand: Pick
    cheapest_spot: Pick
    fastest: Pick
    excluded: list[str] = field(default_factory=list)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _cheapest(cands: list[tuple[ConfigMetrics, ConfigCost]], figure: Callable[[ConfigCost], CostFigure],
              what: str, pricing: str) -> Pick:
    priced = [(m, figure(c)) for m, c in cands if figure(c).usd is not None]
    if not priced:
        reasons = sorted({f"{m.config}: {figure(c).reason}" for m, c in cands})
        return Pick(None, f"no configuration has a {pricing} cost {what} ({'; '.join(reasons) or 'none qualified'})")
    m, fig = min(priced, key=lambda p: p[1].usd)  # min keeps run order among equals
    return Pick(m.config, f"{fmt_usd(fig.usd)} {what} ({fig.inputs})")


def recommend(metrics: Sequence[ConfigMetrics], costs: Sequence[ConfigCost]) -> Recommendation:
    excluded, pairs = [], []
    for m, c in zip(metrics, costs):
        if m.status != "succeeded":
            excluded.append(f"{m.config}: status {m.status}" + (f" ({m.status_reason})" if m.status_reason else ""))
        else:
            pairs.append((m, c))
    targets = sorted({f"{m.target_metric} {'>=' if m.target_metric == 'val_accuracy' else '<='} "
                      f"{_fmt(m.target_value)}" for m in metrics if m.target_metric})
    reached = [(m, c) for m, c in pairs if m.time_to_target_s is not None]

    if reached:
        basis, basis_text = "target", (f"reached the target ({', '.join(targets)}): cheapest by $ to "
                                       f"reach it, fastest by time to reach it")
        fast = min(reached, key=lambda p: p[0].time_to_target_s)[0]
        fastest = Pick(fast.config, f"{_fmt(fast.time_to_target_s)} s to target (epoch {fast.target_epoch})")
        return Recommendation(basis, basis_text,
                              _cheapest(reached, lambda c: c.on_demand.to_target, "to reach the target", "on-demand"),
                              _cheapest(reached, lambda c: c.spot.to_target, "to reach the target", "spot"),
                              fastest, excluded)

    why = (f"no configuration reached the target ({', '.join(targets)})" if targets
           else "no target set")
    basis, basis_text = "throughput", (f"{why}; ranked by steady-state throughput: cheapest by $ per "
                                       f"10⁶ images, fastest by images/s")
    measured = [(m, c) for m, c in pairs if m.throughput_images_per_s]
    if not measured:
        none = Pick(None, "no succeeded configuration has a steady-state throughput"
                    + ("" if pairs else " (none succeeded)"))
        return Recommendation(basis, basis_text, none, none, none, excluded)
    fast = max(measured, key=lambda p: p[0].throughput_images_per_s)[0]
    fastest = Pick(fast.config, f"{_fmt(fast.throughput_images_per_s)} images/s")
    return Recommendation(basis, basis_text,
                          _cheapest(measured, lambda c: c.on_demand.per_million_images, "per 10⁶ images", "on-demand"),
                          _cheapest(measured, lambda c: c.spot.per_million_images, "per 10⁶ images", "spot"),
                          fastest, excluded)
