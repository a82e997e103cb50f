"""Structured JSONL event logs: the one writer and the one reader, used on both sides.

Every record carries `event`, `t_wall` (Unix seconds) and `t_mono` (monotonic seconds of
the writing process); the first record an EventLog writes also carries `schema_version`.
Lines are flushed as they are written so a killed process keeps every record it wrote.
The records are documented in docs/events.md; RECORD_TYPES below lists the fields each
kind always has, which tests check against real runs."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from harness.protocol.parts import Part

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RecordType:
    event: str
    file: str                  # "events" (a task), "samples" (the sampler), "control"
    fields: tuple[str, ...]    # always present besides event, t_wall, t_mono


RECORD_TYPES: tuple[RecordType, ...] = (
    RecordType("run_start", "events", ("pid", "process_start_wall", "versions", "host_facts")),
    RecordType("phase", "events", ("name", "seconds")),
    RecordType("step", "events", ("step", "steps", "epoch", "images", "seconds", "loss")),
    RecordType("epoch", "events", ("epoch", "steps", "images", "seconds", "train_loss")),
    RecordType("checkpoint", "events", ("path", "step")),
    RecordType("spot_interruption", "events", ("action", "time", "step", "checkpoint")),
    RecordType("server_start", "events", ("kind",)),
    RecordType("run_end", "events", ("status",)),
    RecordType("sampler_start", "samples", ("pid", "interval_s")),
    RecordType("sample", "samples", ("dt_s", "cpu_percent", "mem_used_bytes")),
    RecordType("sampler_end", "samples", ("samples", "cpu_s", "wall_s")),
    RecordType("run_start", "control", ("run_id", "experiment", "harness_version")),
    RecordType("config_start", "control", ("config", "strategy", "hosts")),
    RecordType("task_launch", "control", ("config", "task_id", "host", "role")),
    RecordType("task_exit", "control", ("config", "task_id", "host", "returncode", "state")),
    RecordType("config_end", "control", ("config", "status", "reason")),
    RecordType("adaptive_look", "control", ("round", "next_round")),
    RecordType("config_skipped", "control", ("config", "configuration", "repeat", "reason")),
    RecordType("live_rule", "control", ("config", "rule", "reason")),
    RecordType("run_end", "control", ("status",)),
)


def missing_fields(record: dict, file: str) -> list[str]:
    """The fields RECORD_TYPES promises for this record's kind that it lacks ([] when it
    has them all or its kind is not listed)."""
    for rt in RECORD_TYPES:
        if rt.event == record.get("event") and rt.file == file:
            return [f for f in rt.fields if f not in record]
    return []


class EventLog:
    def __init__(self, path: str | os.PathLike, **common: Any):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._common = common
        self._first = True
        # Line-buffered append: each record reaches the file when written.
        self._fh = open(self.path, "a", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()  # configurations running in parallel share the control log

    def emit(self, event: str, **fields: Any) -> dict:
        with self._lock:
            record = {"event": event, "t_wall": time.time(), "t_mono": time.monotonic()}
            if self._first:
                record["schema_version"] = SCHEMA_VERSION
                self._first = False
            record.update(self._common)
            record.update(fields)
            self._fh.write(json.dumps(record, default=_jsonable, sort_keys=False) + "\n")
            self._fh.flush()
        return record

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Part):   # a TaskSpec's typed parts: their JSON form
        return value.to_dict()
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):  # read-only mappings (a TaskSpec's parts)
        return {k: value[k] for k in value.keys()}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_jsonl(path: str | os.PathLike) -> tuple[list[dict], list[int]]:
    """Records of a JSONL file and the 1-based numbers of lines that did not parse (a torn
    last line when a process is killed mid-write, or damage): those are skipped, not fatal."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_lines(fh)


def parse_lines(lines: Iterable[str],
                accept: Callable[[dict], bool] = lambda rec: True) -> tuple[list[dict], list[int]]:
    """JSONL lines into records, and the 1-based numbers of lines that did not parse or that
    `accept` refuses (skipped, not fatal); blank lines are neither."""
    records: list[dict] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if isinstance(rec, dict) and accept(rec):
            records.append(rec)
        else:
            bad.append(number)
    return records, bad


def read_events(path: str | os.PathLike) -> Iterator[dict]:
    """The records of a JSONL file, damaged lines skipped (see read_jsonl)."""
    yield from read_jsonl(path)[0]
