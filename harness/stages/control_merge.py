"""PURE: a detached run's control.jsonl, rebuilt from its three append-only sources.

1. detached/control.prefix.jsonl: what the control side wrote before the keepers took over
   (run_start, connect, sync, schedule, detach);
2. detached/keeper.jsonl: a byte copy of the steward's control log (wave_start,
   config_start, task_launch, task_running, task_exit, config_end, ..., run_end);
3. detached/attach.jsonl: what attach wrote (collect_error, collected; and, when the
   steward's keeper died, the config_end/run_end it never wrote, marked `"by": "attach"`).

Each of them only grows, so a control side killed at any point loses nothing: the next
attach copies on from where the copy ends and rebuilds the same file. An attach record of
a configuration run goes right after that run's config_end (as `harness run` writes
collect records right after it); the rest at the end, in their own order."""

from __future__ import annotations

import json


def complete_lines(text: str) -> tuple[list[str], int]:
    """The complete lines of `text` and how many characters they take (a torn last line,
    still being written, waits for the next pull)."""
    end = text.rfind("\n") + 1
    return [line for line in text[:end].splitlines() if line.strip()], end


def _record(line: str) -> dict:
    try:
        rec = json.loads(line)
    except ValueError:
        return {}
    return rec if isinstance(rec, dict) else {}


def merge(prefix: str, keeper: str, attach: str) -> str:
    """The control.jsonl text of a detached run (see the module docstring)."""
    keeper_lines = complete_lines(keeper)[0]
    ended = {r.get("config") for r in map(_record, keeper_lines) if r.get("event") == "config_end"}
    by_config: dict[str, list[str]] = {}
    rest: list[str] = []
    for line in complete_lines(attach)[0]:
        config = _record(line).get("config")
        if isinstance(config, str) and config in ended:
            by_config.setdefault(config, []).append(line)
        else:
            rest.append(line)
    out = list(complete_lines(prefix)[0])
    for line in keeper_lines:
        out.append(line)
        rec = _record(line)
        if rec.get("event") == "config_end":
            out += by_config.pop(rec.get("config"), [])
    out += rest
    return "".join(line + "\n" for line in out)
