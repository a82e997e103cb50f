"""PURE: what a planned run can cost at most (`harness run --dry-run`), before anything ran.

Every host the run connects to is held from connection to the last collection (the whole-run
bill, harness/report/figures/bill.py), so the bound is Σ over waves of the longest time limit
in the wave × Σ of the connected hosts' on-demand $/h. With `repeats: auto` the plan holds
every round up to max_repeats: this bound is the design's worst case; a decided comparison
skips the rounds it no longer needs (the fewest is 2 counted runs per configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.prices import Catalog, resolve_host_price


@dataclass(frozen=True)
class WorstCase:
    runs: int            # configuration runs planned (warm-up runs included)
    counted: int
    held_s: float        # upper bound of every host's held seconds
    usd: Optional[float]  # on-demand, None when a host has no price
    why_no_price: str
    fewest_counted: Optional[int]  # with repeats: auto, the fewest counted runs that can decide


def worst_case(plan, inv, catalog: Catalog) -> WorstCase:
    by_name = {cp.name: cp for cp in plan.configs}
    held = sum(max(by_name[n].time_limit_s for n in w) for w in plan.wave_list() if w)
    hosts = sorted({h for cp in plan.configs for h in cp.hosts})
    total, why = 0.0, ""
    for name in hosts:
        h = inv.host(name)
        p = resolve_host_price(name, h.instance_type, h.model_dump(), None, catalog).on_demand
        if p.usd_per_hour is None:
            total, why = None, p.reason
            break
        total += p.usd_per_hour * held / 3600.0
    counted = sum(1 for cp in plan.configs if cp.counted)
    configs = len({cp.config for cp in plan.configs})
    fewest = 2 * configs if plan.schedule.get("repeats") == "auto" else None
    return WorstCase(len(plan.configs), counted, held, total, why, fewest)


def describe(w: WorstCase) -> str:
    usd = f"${w.usd:.4f} on-demand" if w.usd is not None else f"$ unknown ({w.why_no_price})"
    text = (f"worst case: {w.runs} run(s), {w.counted} counted, every one to its time limit: "
            f"≤ {w.held_s:.0f} s on every host, ≤ {usd}")
    if w.fewest_counted is not None:
        text += (f"; repeats: auto stops each configuration once its comparisons are decided "
                 f"(at least 2 counted runs each: {w.fewest_counted})")
    return text
