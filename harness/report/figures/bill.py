"""The whole run's bill, and how it splits (pure; docs/metrics.md, "Cost model").

Held time: every host the run connected to (control `connect` record) is held from the
start of the connection (its t_wall − seconds) to the end of the last collection (the
last `collected` record; else run_end; else the last control record). Bill = Σ over hosts
of price × held seconds / 3600, per second, as EC2 bills Linux instances; where the
harness started the instance for this run (a `instance_started` control record, or the
inventory label started_by: harness), at least 60 s per start. An `instance_started`
record (written by the first run after `harness hosts start`, harness/stages/instances.py)
also moves that host's start back to the instance's launch (EC2's LaunchTime): launch →
the start of the connection is the instance's boot and set-up, a part of its own.

Split, which adds up to the bill exactly:
- attributable to a run of a configuration: its hosts × its config_start → config_end;
- idle: a held host while runs that do not use it are going on;
- boot and set-up: launch → the start of the connection, for instances this run started;
- harness overhead: every host outside all runs (connecting, syncing, collecting,
  between runs), plus any 60-s minimum top-up."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from harness.prices import Catalog, HostPrice, resolve_host_price
from harness.report.figures.cost import live_prices
from harness.report.read.records import RunData

SECONDS_PER_HOUR = 3600.0
MINIMUM_S = 60.0


def _num(x) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


@dataclass(frozen=True)
class HostHold:
    host: str
    price: HostPrice
    start: float  # t_wall
    end: float
    held_s: float
    billed_s: float  # boot_s + held_s, or the 60-s minimum where the harness started the instance
    started_by_harness: bool
    launch: Optional[float] = None  # EC2's launch time, from this run's instance_started record
    boot_s: float = 0.0  # launch → the start of the connection (0 without a launch time)


@dataclass(frozen=True)
class Span:
    name: str  # the run of a configuration (config or config@k)
    hosts: tuple[str, ...]
    start: float
    end: float


@dataclass
class PartCost:
    label: str
    on_demand_usd: Optional[float]
    spot_usd: Optional[float]
    host_seconds: float
    inputs: str


@dataclass
class RunBill:
    holds: list[HostHold]
    parts: list[PartCost]  # per run of a configuration, then idle, then overhead
    on_demand_usd: Optional[float]
    spot_usd: Optional[float]
    method: str
    notes: list[str] = field(default_factory=list)

    def part(self, label: str) -> Optional[PartCost]:
        return next((p for p in self.parts if p.label == label), None)


def _hold_window(run: RunData) -> tuple[Optional[float], Optional[float], list[str], str]:
    conn = run.control_first("connect")
    if conn is None:
        return None, None, [], "no connect record in control.jsonl"
    t = _num(conn.get("t_wall"))
    secs = _num(conn.get("seconds")) or 0.0
    hosts = [h for h in conn.get("hosts") or [] if isinstance(h, str)]
    ends = [_num(r.get("t_wall")) for r in run.control_of("collected")]
    ends = [e for e in ends if e is not None]
    how = "the last collected record"
    if not ends:
        end = run.control_first("run_end")
        ends = [_num(end.get("t_wall"))] if end else []
        how = "run_end (no collected record)"
    if not ends or ends[0] is None:
        ends = [x for x in (_num(r.get("t_wall")) for r in run.control) if x is not None]
        how = "the last control record (no collected or run_end record: a lower bound)"
    if t is None or not ends:
        return None, None, hosts, "no times in control.jsonl"
    return t - secs, max(ends), hosts, how


def spans(run: RunData) -> list[Span]:
    out = []
    for r in run.control_of("config_start"):
        name = r.get("config")
        t0 = _num(r.get("t_wall"))
        end = run.control_first("config_end", name)
        t1 = _num(end.get("t_wall")) if end else None
        if t1 is None:  # stopped or crashed: up to its last control record
            ts = [_num(x.get("t_wall")) for x in run.control if x.get("config") == name]
            t1 = max([x for x in ts if x is not None], default=t0)
        hosts = tuple(h for h in r.get("hosts") or [] if isinstance(h, str))
        if isinstance(name, str) and t0 is not None:
            out.append(Span(name, hosts, t0, t1))
    return out


def _union(intervals: list[tuple[float, float]]) -> float:
    total, cur = 0.0, None
    for a, b in sorted(intervals):
        if cur is None or a > cur[1]:
            if cur:
                total += cur[1] - cur[0]
            cur = [a, b]
        else:
            cur[1] = max(cur[1], b)
    return total + (cur[1] - cur[0] if cur else 0.0)


def _started_hosts(run: RunData) -> set[str]:
    out = {r.get("host") for r in run.control_of("instance_started")}
    for h in (run.resolved or {}).get("inventory", {}).get("hosts", []) if isinstance(run.resolved, dict) else []:
        if isinstance(h, dict) and (h.get("labels") or {}).get("started_by") == "harness":
            out.add(h.get("name"))
    return {h for h in out if isinstance(h, str)}


def _launches(run: RunData) -> dict[str, float]:
    """host → its instance's launch time, from the instance_started records."""
    out = {}
    for r in run.control_of("instance_started"):
        t = _num(r.get("launch_time"))
        if isinstance(r.get("host"), str) and t is not None:
            out[r["host"]] = t
    return out


def _usd(prices: dict[str, HostPrice], host_seconds: dict[str, float], pricing: str) -> Optional[float]:
    total = 0.0
    for h, s in host_seconds.items():
        p = getattr(prices[h], pricing).usd_per_hour
        if p is None:
            return None
        total += p * s / SECONDS_PER_HOUR
    return total


def compute_bill(run: RunData, catalog: Catalog) -> Optional[RunBill]:
    start, end, hosts, how = _hold_window(run)
    if start is None or not hosts:
        return None
    live, _ = live_prices(run)
    types = {}
    for r in run.control_of("config_start"):
        for h, t in (r.get("instance_types") or {}).items():
            if isinstance(t, str) and t:
                types.setdefault(h, t)
    prices = {h: resolve_host_price(h, types.get(h), run.inventory_host(h), live, catalog) for h in hosts}
    started = _started_hosts(run)
    launches = _launches(run)
    holds = []
    for h in hosts:
        held = max(0.0, end - start)
        boot = max(0.0, start - launches[h]) if h in launches else 0.0
        billed = max(held + boot, MINIMUM_S) if h in started else held + boot
        holds.append(HostHold(h, prices[h], start, end, held, billed, h in started, launches.get(h), boot))
    sp = [s for s in spans(run) if s.end >= s.start]
    parts = []
    busy: dict[str, list[tuple[float, float]]] = {h: [] for h in hosts}
    for s in sp:
        on = [h for h in s.hosts if h in prices]
        secs = {h: s.end - s.start for h in on}
        for h in on:
            busy[h].append((max(s.start, start), min(s.end, end)))
        parts.append(PartCost(s.name, _usd(prices, secs, "on_demand"), _usd(prices, secs, "spot"),
                              sum(secs.values()),
                              f"{len(on)} host(s) × {s.end - s.start:.6g} s (config_start → config_end)"))
    all_runs = [(max(s.start, start), min(s.end, end)) for s in sp]
    in_runs = _union(all_runs)
    idle = {h: max(0.0, in_runs - _union(busy[h])) for h in hosts}
    over = {h: hold.billed_s - hold.boot_s - in_runs for h, hold in zip(hosts, holds)}
    parts.append(PartCost("idle while other configurations ran", _usd(prices, idle, "on_demand"),
                          _usd(prices, idle, "spot"), sum(idle.values()),
                          "; ".join(f"{h} {s:.6g} s" for h, s in idle.items())))
    boot = {hold.host: hold.boot_s for hold in holds if hold.launch is not None}
    if boot:
        parts.append(PartCost("instance boot and set-up (launch → first connection)",
                              _usd(prices, boot, "on_demand"), _usd(prices, boot, "spot"), sum(boot.values()),
                              "; ".join(f"{h} {s:.6g} s (instance_started launch_time → connect t_wall − seconds)"
                                        for h, s in boot.items())))
    parts.append(PartCost("harness set-up, collection and gaps", _usd(prices, over, "on_demand"),
                          _usd(prices, over, "spot"), sum(over.values()),
                          "; ".join(f"{h} {s:.6g} s" for h, s in over.items())
                          + (" (incl. the 60-s minimum)" if started else "")))
    billed = {h.host: h.billed_s for h in holds}
    method = (f"{len(hosts)} held host(s) × their price × held seconds: from the start of the "
              f"connection (connect t_wall − seconds) to {how}; per-second billing"
              + (f"; from the instance's launch for {', '.join(sorted(boot))} (instance_started)" if boot else "")
              + (f", at least 60 s for the instance(s) the harness started ({', '.join(sorted(started))})"
                 if started else ""))
    return RunBill(holds, parts, _usd(prices, billed, "on_demand"), _usd(prices, billed, "spot"), method)
