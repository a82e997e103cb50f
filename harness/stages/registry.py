"""The detached runs this machine knows: runs/registry.jsonl, one line per change (detached,
attached, reported, ...), the newest line of a run saying where it is. Appended only, so
two commands at once never lose each other's lines; `latest` is the pure reading."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.protocol import layout
from harness.protocol.events import read_jsonl


def note(runs_root: Path, run_id: str, state: str, **fields) -> None:
    """Append a line: `state` is detached | attached | reported | stopped."""
    path = Path(runs_root) / layout.REGISTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"run_id": run_id, "state": state, "t_wall": time.time(), **fields})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def latest(records: list[dict]) -> dict[str, dict]:
    """PURE: {run_id: its newest line, with `first_wall` (when the machine first noted it) and
    every field any of its lines had}, in the order runs were first noted."""
    out: dict[str, dict] = {}
    for r in records:
        rid = r.get("run_id")
        if not isinstance(rid, str) or not rid:
            continue
        prev = out.get(rid)
        first = prev["first_wall"] if prev else r.get("t_wall")
        out[rid] = {**(prev or {}), **r, "first_wall": first}
    return out


def known(runs_root: Path) -> dict[str, dict]:
    path = Path(runs_root) / layout.REGISTRY_FILE
    return latest(read_jsonl(path)[0]) if path.exists() else {}
