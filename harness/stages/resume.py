"""PURE: where an interrupted run resumes, and what the interruption cost.

The input is the chief's `checkpoint` events of the interrupted run ({"step", "path"},
plus "t_wall" when known; see docs/events.md). Steps are counted over the whole run, so
a checkpoint at step s means steps 1..s are done and s+1..planned remain."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

SECONDS_PER_HOUR = 3600.0


def _valid_step(v: Any) -> Optional[int]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or v != int(v):
        return None
    return int(v)


def resume_plan(planned_steps: int, checkpoints: Sequence[Mapping[str, Any]]) -> dict:
    """{"from_checkpoint": path or None, "from_step": steps already done,
    "remaining_steps": steps to run, "planned_steps", "done": nothing left, "reason": why,
    "ignored": [why each unusable checkpoint record was skipped]}.

    The latest usable checkpoint (highest step, the later record on a tie) wins; a record
    without a path, or with a step beyond the plan, is not usable."""
    if isinstance(planned_steps, bool) or not isinstance(planned_steps, int) or planned_steps < 1:
        raise ValueError(f"planned_steps must be a positive integer, got {planned_steps!r}")
    best: Optional[tuple[int, int, str]] = None
    ignored = []
    for i, c in enumerate(checkpoints):
        step, path = _valid_step(c.get("step")), c.get("path")
        if step is None:
            ignored.append(f"checkpoint record {i}: step {c.get('step')!r} is not a step count")
        elif not path:
            ignored.append(f"checkpoint record {i} (step {step}): no path")
        elif step > planned_steps:
            ignored.append(f"checkpoint record {i}: step {step} is beyond the {planned_steps} planned")
        elif best is None or (step, i) >= best[:2]:
            best = (step, i, str(path))
    if best is None:
        return {"from_checkpoint": None, "from_step": 0, "remaining_steps": planned_steps,
                "planned_steps": planned_steps, "done": False, "ignored": ignored,
                "reason": "no usable checkpoint: start again from step 0"}
    step, _, path = best
    remaining = planned_steps - step
    return {"from_checkpoint": path, "from_step": step, "remaining_steps": remaining,
            "planned_steps": planned_steps, "done": remaining == 0, "ignored": ignored,
            "reason": (f"all {planned_steps} planned steps were checkpointed; nothing to resume" if remaining == 0
                       else f"resume from {path} (step {step}); {remaining} of {planned_steps} steps remain")}


def interruption_cost(interrupted_at: float, last_checkpoint_at: Optional[float], hosts: int,
                      usd_per_hour: Optional[float], started_at: Optional[float] = None) -> dict:
    """Work lost to an interruption: the seconds since the last checkpoint (or since the
    start when there was none) × hosts × $/h per host. Times are Unix seconds.

    Returns {"lost_seconds", "hosts", "usd_per_hour", "usd" (None when the price is unknown),
    "inputs" (the formula with its numbers), "reason"}."""
    since = last_checkpoint_at if last_checkpoint_at is not None else started_at
    if since is None:
        raise ValueError("need last_checkpoint_at or started_at to know what was lost")
    if hosts < 0:
        raise ValueError("hosts must be >= 0")
    lost = max(0.0, float(interrupted_at) - float(since))
    what = "last checkpoint" if last_checkpoint_at is not None else "start (no checkpoint yet)"
    if usd_per_hour is None:
        return {"lost_seconds": lost, "hosts": hosts, "usd_per_hour": None, "usd": None, "inputs": "",
                "reason": f"{lost:.1f} s lost since the {what}; no hourly price known"}
    usd = lost / SECONDS_PER_HOUR * hosts * usd_per_hour
    return {"lost_seconds": lost, "hosts": hosts, "usd_per_hour": usd_per_hour, "usd": usd,
            "inputs": f"{lost:.1f} s since the {what} × {hosts} host(s) × ${usd_per_hour:g}/h",
            "reason": ""}
