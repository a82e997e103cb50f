"""Report blocks for study runs: the per-instance-type table and the bill of the sequential
and the parallel schedule side by side (figures from per_type.py and schedule.py)."""

from __future__ import annotations

from typing import Optional, Sequence

from harness.report.write.blocks import NONE, Block, Bullets, Heading, Para, Table
from harness.report.figures.cost import fmt_usd
from harness.report.figures.per_type import TypeRow
from harness.report.figures.schedule_bill import RunSchedule


def _pm(x: Optional[float], hw: Optional[float], digits: int = 1) -> str:
    if x is None:
        return NONE
    return f"{x:.{digits}f} ± {hw:.{digits}f}" if hw is not None else f"{x:.{digits}f} (no interval)"


def _s(x: Optional[float], why: str = "") -> str:
    return f"{x:.1f}" if x is not None else (f"n/a ({why})" if why else NONE)


def _usd_h(x: Optional[float]) -> str:
    return f"${x:g}/h" if x is not None else "n/a"


def _verdict(r: TypeRow) -> str:
    parts = []
    for v, best in ((r.speed_verdict, "fastest"), (r.cost_verdict, "cheapest per image")):
        if v is not None:
            parts.append(v.text)
    if r.no_verdict:
        return r.no_verdict
    if r.speed_verdict is None and r.seconds_per_image is not None:
        parts.insert(0, "fastest")
    if r.cost_verdict is None and r.on_demand_per_h and r.seconds_per_image is not None:
        parts.append("cheapest per image")
    return "; ".join(parts) or "no verdict (no step times)"


def per_type_blocks(rows: Sequence[TypeRow]) -> list[Block]:
    if not rows:
        return []
    table = Table(
        ["Instance type", "Configuration", "GPU", "Init (s): connect → first step", "Training (s)", "images/s",
         "$/h on-demand", "$/h spot", "$ to target (on-demand)", "Time to target (s)", "images per $ (on-demand)",
         "GPU util %", "Verdict"],
        [[r.instance_type, r.config + (f" ({r.workload})" if r.workload else ""), (r.gpu or "none") + f" ({r.gpu_source})",
          f"{r.init_s:.1f} ({r.init_split})" if r.init_s is not None else NONE,
          _s(r.training_s), _pm(r.images_per_s, r.images_per_s_hw),
          _usd_h(r.on_demand_per_h), _usd_h(r.spot_per_h),
          fmt_usd(r.usd_to_target) if r.usd_to_target is not None else f"n/a ({r.to_target_reason})",
          _s(r.time_to_target_s, "not reached"), _pm(r.images_per_usd, r.images_per_usd_hw, 0),
          f"{r.gpu_util_percent:.0f}" if r.gpu_util_percent is not None else f"n/a ({r.gpu_util_reason})",
          _verdict(r)] for r in rows])
    return [Heading(2, "Per instance type"),
            Para("One row per instance type (a configuration whose hosts share one type). Init: the run's SSH "
                 "connect (all hosts at once) + config_start → the first step's end, split into its parts (s); training: first step start → last step end; "
                 "images/s: warm-up excluded, ± 95 % batch-means interval; images per $ = images/s × 3600 / "
                 "on-demand $/h (same interval, scaled); $ to target = on-demand $/h × the configuration's hosts × "
                 "time to target. Init, training and time to target are single runs here: no interval. Verdicts: "
                 "Welch test on seconds per image against the fastest type, and on on-demand $ per image against "
                 "the cheapest (docs/metrics.md, Verdicts)."),
            table]


def schedule_blocks(rs: Optional[RunSchedule]) -> list[Block]:
    if rs is None or not rs.bills:
        return []
    rows = []
    for b in rs.bills:
        rows.append([b.mode + (" (this run)" if b.measured else ""), " | ".join(", ".join(w) for w in b.waves),
                     f"{b.wall_s:.1f}", f"{len(rs.hosts) * b.wall_s / 3600:.4f}",
                     fmt_usd(b.usd["on_demand"]) if b.usd["on_demand"] is not None else "n/a",
                     fmt_usd(b.usd["spot"]) if b.usd["spot"] is not None else "n/a",
                     b.method])
    inputs = [f"on-demand: {b.rate_text['on_demand']}; spot: {b.rate_text['spot']} ({b.mode})" for b in rs.bills]
    return [Heading(2, "Schedule and bill"),
            Para(f"The whole-run bill (every host the run connected to, {', '.join(rs.hosts)}, held "
                 f"from the connection to the last collection, busy or idle) for the schedule that ran, and "
                 f"the other schedule estimated from the same records: the fixed part ({rs.fixed_s:.1f} s: "
                 f"connect, sync, collection, gaps) plus the runs' durations (config_start → config_end) "
                 f"summed, or per wave the longest (docs/metrics.md, Schedule and bill)."),
            Table(["Schedule", "Waves", "Wall (s)", "Host-hours", "Bill on-demand", "Bill spot", "How"], rows),
            Bullets(inputs + [f"{n}: {d:.1f} s" for n, d in rs.durations.items()])]
