"""PURE: the bill of the run's schedule and of the other one, side by side.

Billing model for a whole run: every host the run connected to is rented for the run's whole
wall time (connect → run_end: started before the run, stopped after it), busy or idle,
pro rata per second at its on-demand or spot $/h (harness.prices). So
  bill = Σ_hosts $/h × wall_s / 3600.
The schedule that ran is measured: wall_s = the connect seconds + run_start → run_end. The
other one is estimated from the same records: the fixed part (wall minus the configurations'
share of the schedule that ran) plus, sequentially, the sum of the configurations' durations
(config_start → config_end), or, in parallel, the sum over waves of the longest duration in
the wave; waves come from the configurations' hosts (harness.plan.group_waves). Durations
measured while configurations shared one machine (a sandbox) are longer than alone, so an
estimate from a parallel rehearsal overstates the sequential bill there; on separate hosts
they do not contend."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from harness.plan import group_waves
from harness.prices import Catalog, HostPrice, resolve_host_price
from harness.report.cost import PRICINGS, combined_rate, live_prices
from harness.report.load import RunData


@dataclass(frozen=True)
class ScheduleBill:
    mode: str                              # "sequential" | "parallel"
    measured: bool                         # True: the schedule this run used
    waves: tuple[tuple[str, ...], ...]
    wall_s: Optional[float]
    usd: dict                              # pricing → $ or None
    rate_text: dict                        # pricing → "5 hosts × …" or the reason it is unknown
    method: str


@dataclass
class RunSchedule:
    hosts: list[str]
    host_prices: list[HostPrice]
    durations: dict[str, float]            # configuration → config_start → config_end seconds
    fixed_s: Optional[float]               # connect, sync, report: the part no schedule changes
    bills: list[ScheduleBill] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _t(r: Optional[dict]) -> Optional[float]:
    v = r.get("t_wall") if r else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _span(waves, durations: dict[str, float]) -> float:
    return math.fsum(max(durations[n] for n in w) for w in waves if w)


def run_schedule(run: RunData, catalog: Catalog) -> Optional[RunSchedule]:
    connect = run.control_first("connect") or {}
    start, end = _t(run.control_first("run_start")), _t(run.control_first("run_end"))
    hosts = [h for h in connect.get("hosts") or [] if isinstance(h, str)]
    if start is None or end is None or not hosts:
        return None
    durations, config_hosts = {}, {}
    for cs in run.control_of("config_start"):
        name = cs.get("config")
        t0, t1 = _t(cs), _t(run.control_first("config_end", name))
        if name and t0 is not None and t1 is not None:
            durations[name] = t1 - t0
            config_hosts[name] = set(cs.get("hosts") or [])
    if not durations:
        return None
    sched = run.control_first("schedule") or {}
    mode = sched.get("mode") if sched.get("mode") in ("sequential", "parallel") else "sequential"
    ran = [tuple(n for n in w if n in durations) for w in sched.get("waves") or [[n] for n in durations]]
    ran = tuple(w for w in ran if w)
    connect_s = connect.get("seconds") if isinstance(connect.get("seconds"), (int, float)) else 0.0
    wall = connect_s + (end - start)
    fixed = wall - _span(ran, durations)
    order = list(durations)
    seq = tuple((n,) for n in order)
    par = group_waves([(n, config_hosts[n]) for n in order])
    live, notes = live_prices(run)
    types = {}
    for cs in run.control_of("config_start"):
        types.update({h: t for h, t in (cs.get("instance_types") or {}).items() if isinstance(t, str)})
    prices = [resolve_host_price(h, types.get(h), run.inventory_host(h), live, catalog) for h in hosts]
    rs = RunSchedule(hosts=hosts, host_prices=prices, durations=durations, fixed_s=fixed, notes=notes)
    for m, waves in (("sequential", seq), ("parallel", par)):
        measured = m == mode
        w = wall if measured else fixed + _span(waves, durations)
        usd, rate_text = {}, {}
        for pricing in PRICINGS:
            rate = combined_rate(prices, pricing)
            usd[pricing] = rate.usd_per_hour * w / 3600.0 if rate.usd_per_hour is not None else None
            rate_text[pricing] = f"{rate.text} × {w:.1f} s" if rate.usd_per_hour is not None else rate.reason
        how = ("measured: connect + run_start → run_end" if measured else
               f"estimated: fixed {fixed:.1f} s + " + ("Σ configuration durations" if m == "sequential"
                                                      else "Σ over waves of the longest configuration"))
        rs.bills.append(ScheduleBill(m, measured, waves if not measured else ran, w, usd, rate_text, how))
    return rs
