"""PURE: an instance's life from the ledger (harness/aws/ledger.py), split so every second
from its launch to its stop (or to now) is in exactly one part, none silently dropped:

  boot and set-up   launch → the first run's connection (EC2's LaunchTime; control clock after)
  run <id>          a run's connection → its run_ended record (the run bills this itself)
  idle between runs the gaps between runs
  idle until stop   the last run's end (or the launch, with no run) → the stop
  idle so far       the same, for an instance still running (`now` closes it)

Runs that overlap on one instance are merged into one part naming both. A run with no
run_ended record (its control side was killed) is counted to the next record of the
instance (the next run, the stop, or now) and says so."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

SECONDS_PER_HOUR = 3600.0
# "User initiated (2017-09-22 19:19:12 GMT)" (EC2), "... UTC)" (moto)
_REASON_TIME = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:GMT|UTC)\)")


def transition_time(reason: Optional[str]) -> Optional[float]:
    """The time in an EC2 StateTransitionReason, as epoch seconds; None when it has none."""
    m = _REASON_TIME.search(reason or "")
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Part:
    kind: str  # boot and set-up | run | idle between runs | idle until stop | idle so far
    start: float
    end: float
    label: str
    note: str = ""

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class Life:
    instance_id: str
    host: str
    instance_type: Optional[str]
    lifecycle: str
    launch: float
    launch_source: str
    end: Optional[float]  # the stop; None: still running at `now`
    end_how: str
    started_by: str
    inventory: str
    autostop: Optional[dict]  # {"after_s", "action"} or None
    armed: list[dict] = field(default_factory=list)  # autostop_armed / autostop_not_armed records
    parts: list[Part] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # run_attached records, with "t_end" added
    idle_since: Optional[float] = None  # running and no run attached: since when
    attached: list[str] = field(default_factory=list)  # runs attached now (no end record)
    claimed_by: Optional[dict] = None  # the run billed from launch (run_id, run_dir)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.parts)

    @property
    def deadline(self) -> Optional[float]:
        if self.end is not None or self.idle_since is None or not self.autostop:
            return None
        return self.idle_since + float(self.autostop["after_s"])

    @property
    def armed_on_host(self) -> Optional[bool]:
        last = self.armed[-1] if self.armed else None
        return None if last is None else last["event"] == "autostop_armed"


def lives(records: Iterable[dict], now: float) -> list[Life]:
    """Every instance start in the ledger, oldest first, each split into parts."""
    recs = [r for r in records if isinstance(r.get("instance_id"), str)]
    out: list[Life] = []
    for i, start in enumerate(recs):
        if start["event"] != "instance_started" or not _num(start.get("launch_time")):
            continue
        iid, launch = start["instance_id"], float(start["launch_time"])
        later = [r for r in recs[i + 1:] if r["instance_id"] == iid]
        nxt = next((r for r in later if r["event"] == "instance_started"), None)
        mine = later[:later.index(nxt)] if nxt else later
        stop = next((r for r in mine if r["event"] == "instance_stopped"), None)
        if stop is not None:
            end, how = float(stop.get("stop_time") or stop["t_wall"]), stop.get("how") or "stopped"
            mine = mine[:mine.index(stop)]
        elif nxt is not None:
            end = float(nxt["launch_time"])
            how = "started again with no stop record: counted to the next launch (the stop time is unknown)"
        else:
            end, how = None, "still running"
        life = Life(iid, start.get("host") or "?", start.get("instance_type"), start.get("lifecycle") or "on-demand",
                    launch, start.get("launch_time_source") or "EC2 LaunchTime", end, how,
                    start.get("started_by") or "?", start.get("inventory") or "?", start.get("autostop"),
                    armed=[r for r in mine if r["event"] in ("autostop_armed", "autostop_not_armed")])
        _split(life, mine, now)
        out.append(life)
    return out


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _split(life: Life, mine: list[dict], now: float) -> None:
    close = life.end if life.end is not None else max(now, life.launch)
    ended = {r.get("run_id"): float(r["t_wall"]) for r in mine if r["event"] == "run_ended"}
    attached = [r for r in mine if r["event"] == "run_attached"]
    marks = sorted(float(r.get("t_connect") or r["t_wall"]) for r in attached)
    runs = []
    for r in attached:
        t0 = max(life.launch, min(close, float(r.get("t_connect") or r["t_wall"])))
        if r.get("run_id") in ended:
            t1, note = min(close, ended[r["run_id"]]), ""
        else:
            t1 = min([m for m in marks if m > t0] + [close])
            note = "no run_ended record (control side gone?): counted to the next record of the instance"
            if life.end is None and t1 == close:
                life.attached.append(str(r.get("run_id")))
        runs.append({**r, "t_start": t0, "t_end": t1, "note": note})
        if r.get("claims_launch") is not None and life.claimed_by is None:
            life.claimed_by = {"run_id": r.get("run_id"), "run_dir": r.get("run_dir")}
    life.runs = runs
    # Merge overlapping runs; what lies between is idle.
    merged: list[list] = []
    for r in sorted(runs, key=lambda r: r["t_start"]):
        if merged and r["t_start"] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], r["t_end"])
            merged[-1][2].append(r)
        else:
            merged.append([r["t_start"], r["t_end"], [r]])
    parts, cursor = [], life.launch
    for k, (a, b, group) in enumerate(merged):
        if a > cursor or k == 0:
            kind = "boot and set-up" if k == 0 else "idle between runs"
            label = "launch → first connection" if k == 0 else "idle between runs"
            parts.append(Part(kind, cursor, a, label))
        names = ", ".join(str(r.get("run_id")) for r in group)
        notes = "; ".join(r["note"] for r in group if r["note"])
        parts.append(Part("run", a, b, f"run {names}", notes))
        cursor = max(cursor, b)
    if life.end is not None:
        parts.append(Part("idle until stop", cursor, close, "no run → stop" if not merged else "last run → stop",
                          life.end_how))
    else:
        parts.append(Part("idle so far", cursor, close, "no run yet" if not merged else "last run → now"))
        life.idle_since = None if life.attached else cursor
    life.parts = [p for p in parts if p.seconds > 0 or p.kind in ("idle so far", "idle until stop")]


Lookup = Callable[[str], tuple[Optional[float], str]]


def usd(seconds: float, price: Optional[float]) -> Optional[float]:
    return None if price is None else price * seconds / SECONDS_PER_HOUR
