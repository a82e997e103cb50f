"""The per-machine instance ledger: what `harness hosts start` started, which runs used each
instance, when it stopped. One JSONL file, `instances.jsonl`, in the harness state
directory ($HARNESS_STATE_DIR, else $XDG_STATE_HOME/harness, else ~/.local/state/harness):
never in the repository, and kept across runs (a run directory gets a copy of its
instances' records, `instance_ledger.jsonl`, so its report is re-derivable from it alone).

Records (each has `event` and `t_wall`, the control machine's clock when written):
- instance_started  instance_id, host, inventory, region, instance_type, lifecycle,
                    launch_time (EC2's LaunchTime, epoch s), launch_time_source,
                    requested_at, running_at, started_by (user@machine), autostop {after_s, action} | null
- autostop_armed / autostop_not_armed   instance_id, host, by, after_s, action | error
- run_attached      instance_id, host, run_id, run_dir, t_connect, claims_launch (launch_time | null)
- run_ended         instance_id, host, run_id, status
- instance_stopped  instance_id, state (stopped | terminated), stop_time, how

Writers append whole lines under an exclusive flock, so concurrent runs and `hosts`
commands on one machine interleave records, never bytes. A run learns of the ledger by
its hosts' labels.instance_id (as `hosts discover` writes them)."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional

from harness.errors import HarnessError
from harness.protocol import events

STATE_ENV = "HARNESS_STATE_DIR"
LEDGER_FILE = "instances.jsonl"


class LedgerError(HarnessError):
    """The ledger cannot be read or written."""


def state_dir() -> Path:
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state") / "harness"


def ledger_path() -> Path:
    return state_dir() / LEDGER_FILE


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def record(event: str, **fields) -> dict:
    return {"event": event, "t_wall": time.time(), **fields}


@contextlib.contextmanager
def locked(path: Optional[Path] = None) -> Iterator["Ledger"]:
    """The ledger under an exclusive lock: read, decide and append as one step."""
    path = Path(path or ledger_path())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")
    except OSError as e:
        raise LedgerError(f"instance ledger {path}: {e.strerror or e}; set {STATE_ENV} to a writable folder") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield Ledger(path, fh)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Ledger:
    def __init__(self, path: Path, fh):
        self.path, self._fh = path, fh

    def records(self) -> tuple[list[dict], list[int]]:
        self._fh.seek(0)
        return parse_lines(self._fh)

    def append(self, records: Iterable[dict]) -> None:
        text = "".join(json.dumps(r, sort_keys=False) + "\n" for r in records)
        if text:
            self._fh.seek(0, os.SEEK_END)
            self._fh.write(text)
            self._fh.flush()
            os.fsync(self._fh.fileno())


def parse_lines(lines: Iterable[str]) -> tuple[list[dict], list[int]]:
    """Records, and the 1-based numbers of lines that did not parse or name no event
    (reported, not fatal)."""
    return events.parse_lines(lines, accept=lambda rec: isinstance(rec.get("event"), str))


def read(path: Optional[Path] = None) -> tuple[list[dict], list[int]]:
    path = Path(path or ledger_path())
    if not path.exists():
        return [], []
    with locked(path) as led:
        return led.records()


def append(records: Iterable[dict], path: Optional[Path] = None) -> None:
    with locked(path) as led:
        led.append(records)


def latest_starts(records: Iterable[dict]) -> dict[str, dict]:
    """instance id → its newest instance_started record, unless a stop came after it."""
    out: dict[str, dict] = {}
    for r in records:
        iid = r.get("instance_id")
        if not isinstance(iid, str):
            continue
        if r["event"] == "instance_started":
            out[iid] = r
        elif r["event"] == "instance_stopped" and iid in out:
            del out[iid]
    return out


def claimed_launches(records: Iterable[dict]) -> set[tuple[str, float]]:
    """(instance id, launch_time) pairs a run has already claimed (billed from launch)."""
    return {(r.get("instance_id"), r.get("claims_launch")) for r in records
            if r["event"] == "run_attached" and r.get("claims_launch") is not None}


def records_for_copy(records: Iterable[dict], instance_ids: set[str], since: float) -> list[dict]:
    """The ledger records of these instances from `since` (their earliest launch) on."""
    return [r for r in records if r.get("instance_id") in instance_ids
            and isinstance(r.get("t_wall"), (int, float)) and r["t_wall"] >= since - 1.0]
