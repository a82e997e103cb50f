"""Structured JSONL event logs, shared by the control side and the worker (no TensorFlow).

Every record carries `event`, `t_wall` (Unix seconds) and `t_mono` (monotonic seconds of
the writing process). Lines are flushed as they are written so a killed process keeps
every record it wrote. The schema is documented in docs/events.md."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator


class EventLog:
    def __init__(self, path: str | os.PathLike, **common: Any):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._common = common
        # Line-buffered append: each record reaches the file when written.
        self._fh = open(self.path, "a", buffering=1, encoding="utf-8")

    def emit(self, event: str, **fields: Any) -> dict:
        record = {"event": event, "t_wall": time.time(), "t_mono": time.monotonic()}
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
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_events(path: str | os.PathLike) -> Iterator[dict]:
    """Yield records; a torn last line (process killed mid-write) is skipped, not fatal."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
