"""`harness status`: where a detached run is, from the steward's live state (state.json)
and the run directory. PURE: the command (harness/cli/detached.py) fetches, this describes.

Cost so far: every host the run connected to is held from its connection (the `connect`
record's t_wall − seconds, as the report's bill) to the run's end on the hosts (or now),
priced per second at its on-demand $/h by the report's rules (inventory price_per_hour,
the run's prices.json, else the bundled catalog)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from harness.prices import Catalog, parse_live_prices, resolve_host_price

SECONDS_PER_HOUR = 3600.0
# The steward's phases of a configuration run, as status says them.
PHASES = {"starting": "starting", "watching": "running", "terming": "stopping", "sweeping": "stopping (sweep)"}


@dataclass(frozen=True)
class Cost:
    usd: Optional[float]        # None when a host has no price
    host_seconds: float
    how: str


def cost_so_far(control: list[dict], resolved: dict | None, prices_doc, catalog: Catalog,
                end_wall: float) -> Cost:
    conn = next((r for r in control if r.get("event") == "connect"), None)
    if conn is None or not isinstance(conn.get("t_wall"), (int, float)):
        return Cost(None, 0.0, "no connect record yet")
    start = conn["t_wall"] - float(conn.get("seconds") or 0.0)
    held = max(0.0, end_wall - start)
    live = parse_live_prices(prices_doc)[0] if prices_doc is not None else None
    inv_hosts = {h.get("name"): h for h in ((resolved or {}).get("inventory") or {}).get("hosts") or []
                 if isinstance(h, dict)}
    total, sources, missing = 0.0, set(), []
    hosts = [h for h in conn.get("hosts") or [] if isinstance(h, str)]
    for h in hosts:
        inv = inv_hosts.get(h) or {}
        p = resolve_host_price(h, inv.get("instance_type"), inv, live, catalog).on_demand
        if p.usd_per_hour is None:
            missing.append(p.reason)
            continue
        total += p.usd_per_hour * held / SECONDS_PER_HOUR
        sources.add(p.source.split(" of host ")[0].split(":")[0])
    how = f"{len(hosts)} host(s) × {held / 60:.1f} min on demand ({'; '.join(sorted(sources)) or 'no price'})"
    if missing:
        return Cost(None, held * len(hosts), f"{how}; unknown: {'; '.join(missing)}")
    return Cost(total, held * len(hosts), how)


def rate(step: dict | None) -> Optional[float]:
    if step and step.get("event", "step") == "step" and step.get("seconds"):
        return step["images"] / step["seconds"]
    return None


def run_state(flags: dict | None, state: dict | None, reported: dict | None, error: str = "") -> str:
    """One word or phrase for where the run is."""
    if reported:
        return f"reported ({reported.get('status')})"
    if error:
        return f"steward unreachable ({error})"
    state = state or {}
    if state.get("phase") == "ended" or state.get("run_end"):
        end = state.get("run_end") or {}
        return f"ended on the hosts ({end.get('status', 'unknown')}); not collected: harness attach"
    if flags and not flags.get("alive"):
        if not flags.get("ready"):
            return "never started (launch cut short before every host had its files)"
        return "keeper not running: harness attach starts or finishes it"
    return {"joining": "launching", "running": "running"}.get(state.get("phase"), "launching")


def describe(run_id: str, state_text: str, state: dict | None, cost: Cost, now: float | None = None) -> list[str]:
    """The lines of `harness status RUN`."""
    now = time.time() if now is None else now
    lines = [f"run {run_id}: {state_text}"]
    for c in (state or {}).get("configs") or []:
        if c.get("phase") == "waiting":
            continue
        started = c.get("started_wall")
        took = f", {now - started:.0f} s of {c.get('time_limit_s'):g} s limit" if started and c.get("phase") != "ended" \
            else ""
        what = c.get("status") or PHASES.get(c.get("phase"), c.get("phase"))
        reason = f": {c['reason']}" if c.get("reason") else ""
        lines.append(f"  {c.get('name')} ({c.get('strategy')}): {what}{took}{reason}")
        for t in c.get("tasks") or []:
            if t.get("role") == "sampler":
                continue
            step, r = t.get("last_step") or {}, rate(t.get("last_step"))
            bits = [f"    {t.get('host')}/{t.get('task_id')}: {t.get('state')}"]
            if step.get("step") is not None:
                bits.append(f"step {step.get('step')}")
            if r is not None:
                bits.append(f"{r:.0f} images/s")
            if t.get("note"):
                bits.append(f"({t['note']})")
            lines.append("  ".join(bits))
    usd = f"${cost.usd:.4f}" if cost.usd is not None else "unknown"
    lines.append(f"  cost so far: {usd} ({cost.how})")
    return lines


def summary(run_id: str, state_text: str, state: dict | None, cost: Cost) -> str:
    """One line of `harness status` (every run)."""
    active = [c for c in (state or {}).get("configs") or [] if c.get("phase") not in ("waiting", "ended")]
    tasks = [t for c in active for t in c.get("tasks") or [] if t.get("role") != "sampler"]
    steps = [str((t.get("last_step") or {}).get("step", "-")) for t in tasks]
    rates = [rate(t.get("last_step")) for t in tasks]
    total = sum(r for r in rates if r is not None)
    usd = f"${cost.usd:.4f}" if cost.usd is not None else "$?"
    where = ", ".join(c.get("name") for c in active) or "-"
    return (f"{run_id}  {state_text}  config {where}  step {'/'.join(steps) or '-'}  "
            f"{total:.0f} images/s  {usd}")
