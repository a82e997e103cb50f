"""PURE summary of a Horovod timeline (HOROVOD_TIMELINE, Chrome trace JSON written by rank 0).

The file is a JSON array of trace events. Each tensor is a "process" (pid) named by a
`process_name` metadata record; its activities are B/E pairs, nested: a top-level
NEGOTIATE_ALLREDUCE (ranks agreeing the tensor is ready everywhere, so it includes waiting
for the slowest rank), then ALLREDUCE with its parts inside (MEMCPY_IN_FUSION_BUFFER,
GLOO_ALLREDUCE or MPI_ALLREDUCE, MEMCPY_OUT_FUSION_BUFFER). Timestamps are microseconds.

Tensors are fused and reduced together, so per-tensor durations overlap: the `*_s`
totals are the wall time during which at least one tensor was in that state (union of
intervals); `*_tensor_sum_s` adds them up per tensor. Steps are counted as the most
ALLREDUCE activities any one tensor had (every gradient is reduced once per step).
A timeline cut off by a killed process (no closing bracket, torn last record) is read
up to its last complete record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _records(text: str) -> list[dict]:
    try:
        data = json.loads(text)
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    except json.JSONDecodeError:
        pass
    dec = json.JSONDecoder()
    out: list[dict] = []
    i = text.find("[") + 1
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            break
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            break  # torn last record
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _union_s(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total / 1e6


def timeline_summary(path: str | Path, only: str | None = None) -> dict[str, Any]:
    """Totals and per-step figures of a Horovod timeline; see the module docstring.
    `only`: count only tensors whose name contains it (e.g. "gradient_tape": the gradient
    all-reduces, not the harness's barriers, evaluation sums or the initial broadcast)."""
    p = Path(path)
    try:
        records = _records(p.read_text(encoding="utf-8", errors="replace"))
    except OSError as e:
        return {"path": str(p), "error": f"cannot read: {e.strerror}"}
    names: dict[Any, str] = {}
    stacks: dict[Any, list[tuple[str, float]]] = {}
    top: dict[str, list[tuple[float, float]]] = {}       # top-level activity -> intervals
    activities: dict[str, dict[str, float]] = {}         # every activity: count, total seconds
    per_tensor_allreduce: dict[Any, int] = {}
    first = last = None
    open_at_end = 0
    seen: dict[tuple, int] = {}
    by_step: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for r in records:
        ph, pid, ts = r.get("ph"), r.get("pid"), r.get("ts")
        if ph == "M":
            if r.get("name") == "process_name" and isinstance(r.get("args"), dict) and "name" in r["args"]:
                names[pid] = str(r["args"]["name"])
            continue
        if not isinstance(ts, (int, float)):
            continue
        if only is not None and only not in names.get(pid, ""):
            continue
        first = ts if first is None else min(first, ts)
        last = ts if last is None else max(last, ts)
        if ph == "B":
            stacks.setdefault(pid, []).append((str(r.get("name", "?")), float(ts)))
        elif ph == "E" and stacks.get(pid):
            name, start = stacks[pid].pop()
            a = activities.setdefault(name, {"count": 0, "total_s": 0.0})
            a["count"] += 1
            a["total_s"] += (ts - start) / 1e6
            if not stacks[pid]:  # a top-level activity of this tensor
                top.setdefault(name, []).append((start, float(ts)))
                # The k-th top-level activity of a kind of every tensor belongs to step k.
                kind = "negotiation" if name.startswith("NEGOTIATE_") else name.lower()
                k = seen.get((pid, kind), 0)
                seen[(pid, kind)] = k + 1
                by_step.setdefault(kind, {}).setdefault(k, []).append((start, float(ts)))
                if name == "ALLREDUCE":
                    per_tensor_allreduce[pid] = per_tensor_allreduce.get(pid, 0) + 1
    open_at_end = sum(len(s) for s in stacks.values())

    negotiation = [iv for n, ivs in top.items() if n.startswith("NEGOTIATE_") for iv in ivs]
    allreduce = top.get("ALLREDUCE", [])
    comm = [iv for ivs in top.values() for iv in ivs]
    steps = max(per_tensor_allreduce.values()) if per_tensor_allreduce else 0
    out: dict[str, Any] = {
        "path": str(p),
        "records": len(records),
        "tensors": len({pid for pid in names if pid != 0}) or len(stacks),
        "steps": steps,
        "span_s": (last - first) / 1e6 if first is not None else 0.0,
        "allreduce_s": _union_s(allreduce),
        "negotiation_s": _union_s(negotiation),
        "communication_s": _union_s(comm),
        "allreduce_tensor_sum_s": sum(b - a for a, b in allreduce) / 1e6,
        "negotiation_tensor_sum_s": sum(b - a for a, b in negotiation) / 1e6,
        "activities": {k: {"count": int(v["count"]), "total_s": v["total_s"]} for k, v in sorted(activities.items())},
        "unfinished_activities": open_at_end,
        "method": ("union over tensors of top-level timeline intervals (ALLREDUCE; NEGOTIATE_*; all "
                   "top-level activities for communication_s), rank 0's view; steps = most ALLREDUCEs of "
                   "any one tensor; per-step = total / steps"),
    }
    # Per step (k-th activity of each tensor): union over tensors, in step order; a
    # caller can leave out warm-up steps (step 1 waits for every rank's tracing).
    for kind in ("negotiation", "allreduce"):
        steps_of = by_step.get(kind, {})
        out[f"{kind}_by_step_s"] = [_union_s(steps_of[k]) for k in sorted(steps_of)]
    for key in ("allreduce_s", "negotiation_s", "communication_s"):
        out[f"{key[:-2]}_per_step_s"] = out[key] / steps if steps else None
    return out
