"""The bill of deciding (pure): what the run's decision cost, split by what the money went
to, beside an estimate of the fixed design (`repeats: 3` + one warm-up run per host) from
the same records.

Measured (the whole-run bill's parts, harness/report/figures/bill.py): each configuration
run's host-seconds and $, split into start-up (its startup_s share of the run) and the rest
(training, its end and collection); warm-up runs; counted runs beyond each configuration's
first two (the repeats the decision needed); runs that ended early at their precision; and
the time outside runs (connect, sync, zygotes, idle hosts).

Fixed design, estimated: the same outside-run time, one warm-up run per host (the cost of
the first run on it here), and 3 counted runs per configuration at the mean cost of its
counted runs here — a run that stopped early at its precision scaled up to its planned steps
when its task spec says how many (built-in models: epochs × steps_per_epoch); a script's
runs are taken at their own length, and the estimate then says it is a lower bound."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from harness.report.figures.bill import RunBill
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.repeats import run_infos
from harness.report.read.records import RunData

FIXED_REPEATS = 3


@dataclass(frozen=True)
class BillLine:
    label: str
    host_seconds: float
    usd: Optional[float]   # on-demand


@dataclass
class DecidingBill:
    lines: list[BillLine]
    total: BillLine
    fixed: BillLine             # the fixed design's estimate
    fixed_method: str
    lower_bound: bool = False   # the fixed estimate could not scale early-stopped script runs
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> Optional[float]:
        if self.total.usd is not None and self.fixed.usd:
            return self.total.usd / self.fixed.usd
        return self.total.host_seconds / self.fixed.host_seconds if self.fixed.host_seconds else None


def _planned_images(run: RunData, name: str, m: ConfigMetrics) -> Optional[int]:
    """Images the run would have trained to its planned end: epochs × steps_per_epoch ×
    batch_size per training task (built-in models; a script's plan is its own)."""
    total = 0
    for t in run.tasks_of(name):
        w = (t.spec or {}).get("workload") or {}
        e, s, b = w.get("epochs"), w.get("steps_per_epoch"), w.get("batch_size")
        if not (w.get("model") and all(isinstance(x, int) for x in (e, s, b))):
            return None
        if any(x.task_id == t.task_id and x.step_records for x in m.tasks):
            total += e * s * b
    return total or None


def _add(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a + b


# a subset of the lines above it, counted whole (start-up and training): not of "training" alone
EARLY = "of the runs above, those stopped early at precision (whole runs)"


def deciding_bill(run: RunData, bill: Optional[RunBill], metrics: Sequence[ConfigMetrics]) -> Optional[DecidingBill]:
    if bill is None:
        return None
    infos = run_infos(run)
    by_name = {m.config: m for m in metrics}
    parts = {p.label: p for p in bill.parts}
    sums: dict[str, list] = {k: [0.0, 0.0] for k in
                             ("start-up", "training and collection", "warm-up runs", "repeats beyond 2 per configuration",
                              EARLY, "outside runs (connect, sync, idle)")}
    usd_known = True
    full_cost: dict[str, list[tuple[float, Optional[float]]]] = {}
    first_on_host: dict[str, tuple[float, Optional[float]]] = {}
    lower = False
    for name, m in by_name.items():
        p = parts.get(name)
        info = infos.get(name)
        if p is None or info is None:
            continue
        hs, usd = p.host_seconds, p.on_demand_usd
        usd_known &= usd is not None
        dur = hs / max(1, len(m.hosts))
        share = min(1.0, (m.startup_s or 0.0) / dur) if dur > 0 else 0.0
        if not info.counted:
            key = "warm-up runs"
            sums[key][0] += hs
            sums[key][1] += usd or 0.0
        else:
            for key, f in (("start-up", share), ("training and collection", 1 - share)):
                sums[key][0] += hs * f
                sums[key][1] += (usd or 0.0) * f
            if info.repeat > 2:
                sums["repeats beyond 2 per configuration"][0] += hs
                sums["repeats beyond 2 per configuration"][1] += usd or 0.0
        if m.early_stop:
            sums[EARLY][0] += hs
            sums[EARLY][1] += usd or 0.0
        for h in m.hosts:
            first_on_host.setdefault(h, (hs / max(1, len(m.hosts)), None if usd is None else usd / max(1, len(m.hosts))))
        if info.counted and m.status == "succeeded":
            scale = 1.0
            if m.early_stop:
                planned = _planned_images(run, name, m)
                if planned and m.images_total:
                    scale = 1.0 + (1 - share) * (planned / m.images_total - 1)
                else:
                    lower = True
            full_cost.setdefault(info.config, []).append((hs * scale, None if usd is None else usd * scale))
    for p in bill.parts:   # every part that is not a configuration run: idle, boot, set-up and gaps
        if p.label not in by_name:
            sums["outside runs (connect, sync, idle)"][0] += p.host_seconds
            sums["outside runs (connect, sync, idle)"][1] += p.on_demand_usd or 0.0
            usd_known &= p.on_demand_usd is not None
    lines = [BillLine(k, v[0], v[1] if usd_known else None) for k, v in sums.items() if v[0] > 0]
    total = BillLine("this run (measured)", sum(p.host_seconds for p in bill.parts), bill.on_demand_usd)
    outside = sums["outside runs (connect, sync, idle)"]
    fx_s, fx_usd = outside[0], outside[1] if usd_known else None
    for h, (s, u) in first_on_host.items():
        fx_s, fx_usd = fx_s + s, _add(fx_usd, u)
    for cfg, costs in full_cost.items():
        fx_s += FIXED_REPEATS * math.fsum(c[0] for c in costs) / len(costs)
        us = [c[1] for c in costs]
        fx_usd = _add(fx_usd, None if any(u is None for u in us) else FIXED_REPEATS * math.fsum(us) / len(us))
    method = (f"the same time outside runs + one warm-up run per host (its first run here) + {FIXED_REPEATS} "
              f"counted runs per configuration at the mean of its counted runs here"
              + ("; runs stopped early scaled to their planned steps" if not lower else
                 "; a script's runs stopped early taken at their own length: a lower bound"))
    return DecidingBill(lines, total, BillLine(f"fixed design (repeats: {FIXED_REPEATS} + warm-up), estimated",
                                               fx_s, fx_usd), method, lower)

