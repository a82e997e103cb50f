"""PURE: the bill of the run's schedule and of the other one, side by side.

The bill is the whole-run cost model (report/figures/bill.py): every host the run connected to is
held from the start of the connection to the last collection, busy or idle, and billed per
second at its $/h (at least 60 s where the harness started the instance). The schedule that
ran (sequential, or waves of configurations on disjoint hosts) is that bill, measured. The
other is estimated from the same records: every host's held time minus the configurations'
share of the schedule that ran plus their share of the other one, where a schedule's share
is Σ over its waves of the longest run (config_start → config_end) in the wave, and the
parallel waves come from the runs' hosts (harness.stages.schedule.group_waves). Runs measured while
sharing one machine (a sandbox) are slower than alone, so an estimate from a parallel
rehearsal overstates the sequential bill there; on separate hosts they do not contend."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from harness.stages.schedule import group_waves
from harness.prices import Catalog
from harness.report.figures.bill import MINIMUM_S, SECONDS_PER_HOUR, RunBill, compute_bill, spans
from harness.report.read.records import RunData


@dataclass(frozen=True)
class ScheduleBill:
    mode: str                              # "sequential" | "parallel"
    measured: bool                         # True: the schedule this run used (= the whole-run bill)
    waves: tuple[tuple[str, ...], ...]
    wall_s: float                          # every host's held seconds under this schedule
    usd: dict                              # pricing → $ or None
    rate_text: dict                        # pricing → the inputs, or why unknown
    method: str


@dataclass
class RunSchedule:
    hosts: list[str]
    durations: dict[str, float]            # run of a configuration → config_start → config_end seconds
    fixed_s: float                         # held time outside the schedule's share (connect, sync, collect, gaps)
    bills: list[ScheduleBill] = field(default_factory=list)


def _share(waves, durations: dict[str, float]) -> float:
    return math.fsum(max(durations[n] for n in w) for w in waves if w)


def _bill(b: RunBill, held_s: float, pricing: str) -> tuple[Optional[float], str]:
    total, parts = 0.0, []
    for h in b.holds:
        p = getattr(h.price, pricing)
        if p.usd_per_hour is None:
            return None, p.reason
        billed = max(held_s + h.boot_s, MINIMUM_S) if h.started_by_harness else held_s + h.boot_s
        total += p.usd_per_hour * billed / SECONDS_PER_HOUR
        parts.append(f"${p.usd_per_hour:g}/h {h.host}")
    return total, f"({' + '.join(parts)}) × {held_s:.1f} s"


def run_schedule(run: RunData, catalog: Catalog, bill: Optional[RunBill] = None) -> Optional[RunSchedule]:
    b = bill or compute_bill(run, catalog)
    if b is None or not b.holds:
        return None
    runs = [s for s in spans(run) if s.end >= s.start]
    if not runs:
        return None
    durations = {s.name: s.end - s.start for s in runs}
    held = b.holds[0].held_s  # every host is held for the same window
    sched = run.control_first("schedule") or {}
    mode = sched.get("mode") if sched.get("mode") in ("sequential", "parallel") else "sequential"
    ran = tuple(t for t in (tuple(n for n in w if n in durations) for w in sched.get("waves") or
                            [[n] for n in durations]) if t)
    fixed = held - _share(ran, durations)
    options = {"sequential": tuple((s.name,) for s in runs),
               "parallel": group_waves([(s.name, set(s.hosts)) for s in runs])}
    rs = RunSchedule(hosts=[h.host for h in b.holds], durations=durations, fixed_s=fixed)
    for m, waves in options.items():
        measured = m == mode
        w = held if measured else fixed + _share(waves, durations)
        usd, text = {}, {}
        for pricing, measured_usd in (("on_demand", b.on_demand_usd), ("spot", b.spot_usd)):
            usd[pricing], text[pricing] = _bill(b, w, pricing)
            if measured:
                usd[pricing] = measured_usd   # the whole-run bill itself
        how = ("measured: the whole-run bill (connect → last collection)" if measured else
               f"estimated: fixed {fixed:.1f} s + " + ("Σ run durations" if m == "sequential"
                                                      else "Σ over waves of the longest run"))
        rs.bills.append(ScheduleBill(m, measured, ran if measured else waves, w, usd, text, how))
    return rs
