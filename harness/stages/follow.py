"""Stages 6-7 of a detached run, on the control side: follow the steward and collect.

Every second, one round trip to the steward (shell.keeper_follow_command) brings its
keeper's liveness, its live state (the table) and the new part of its control log, which
is appended byte for byte to detached/keeper.jsonl; control.jsonl is rebuilt from its
sources (control_merge.py). Each configuration run the steward has ended is collected as
`harness run` collects it (collect_config), and its `collected` record goes to
detached/attach.jsonl. Killed at any point, the next attach goes on from the files."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from harness.protocol import layout
from harness.protocol.events import EventLog, read_jsonl
from harness.stages.collect import collect_config
from harness.stages.control_merge import complete_lines, merge
from harness.stages.detach import DetachInfo
from harness.stages.launch import TaskState
from harness.stages.plan import Plan
from harness.transport import shell
from harness.transport.base import Transport


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


@dataclass
class Pulled:
    alive: bool = False
    ready: bool = False
    state: dict | None = None
    new: list[dict] = field(default_factory=list)
    error: str = ""                   # the steward could not be reached this time


class Follower:
    def __init__(self, run_dir: Path, info: DetachInfo, transports: dict[str, Transport]):
        self.run_dir, self.info, self.transports = Path(run_dir), info, transports
        d = self.run_dir / layout.DETACHED_DIR
        d.mkdir(exist_ok=True)
        self.mirror, self.attach_file = d / layout.KEEPER_MIRROR_FILE, d / layout.ATTACH_RECORDS_FILE
        self.prefix = d / layout.PREFIX_FILE
        self.offset = self.mirror.stat().st_size if self.mirror.exists() else 0
        self.records = read_jsonl(self.mirror)[0] if self.mirror.exists() else []
        self.attach_log = EventLog(self.attach_file)
        self.state: dict | None = None

    # -- the steward's files -----------------------------------------------------------
    def pull(self) -> Pulled:
        tr = self.transports.get(self.info.steward)
        if tr is None:
            return Pulled(error=f"host {self.info.steward} (the steward) is not connected")
        try:
            res = tr.exec(shell.keeper_follow_command(self.info.steward_dir, self.offset), timeout=60)
        except HarnessError as e:
            return Pulled(error=str(e))
        flags, state, log = shell.parse_follow(res.stdout)
        out = Pulled(alive=flags.get("alive", False), ready=flags.get("ready", False))
        try:
            out.state = json.loads(state) if state else None
        except ValueError:
            out.state = None
        self.state = out.state or self.state
        lines, used = complete_lines(log)
        if lines:
            data = log[:used].encode("utf-8")
            with open(self.mirror, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self.offset += len(data)
            for line in lines:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    out.new.append(rec)
            self.records += out.new
            self.rebuild()
        return out

    def rebuild(self) -> None:
        """control.jsonl from its sources, replaced in one step."""
        text = merge(_text(self.prefix), _text(self.mirror), _text(self.attach_file))
        tmp = self.run_dir / (layout.CONTROL_FILE + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.run_dir / layout.CONTROL_FILE)

    # -- what the records say ------------------------------------------------------------
    def of(self, event: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == event]

    def attach_records(self) -> list[dict]:
        return read_jsonl(self.attach_file)[0] if self.attach_file.exists() else []

    def run_end(self) -> dict | None:
        ends = self.of("run_end") + [r for r in self.attach_records() if r.get("event") == "run_end"]
        return ends[0] if ends else None

    def ended_configs(self) -> list[dict]:
        return self.of("config_end") + [r for r in self.attach_records() if r.get("event") == "config_end"]

    def collected(self) -> set[str]:
        return {r.get("config") for r in self.attach_records() if r.get("event") == "collected"}

    # -- collection ------------------------------------------------------------------------
    def collect_ended(self, plan: Plan, unreachable: set[str]) -> list[str]:
        """Collect every configuration run that ended and is not collected yet."""
        done, by_name = self.collected(), {cp.name: cp for cp in plan.configs}
        names = []
        for end in self.ended_configs():
            name = end.get("config")
            if name in done or name not in by_name:
                continue
            t0 = time.monotonic()
            _drop_partial_files(self.run_dir, by_name[name])
            result = collect_config(by_name[name], self.transports, self.run_dir, unreachable)
            for key, why in result.errors.items():
                self.attach_log.emit("collect_error", config=name, task=key, error=why)
            took = time.monotonic() - t0
            # The hosts are the run's until its end on the hosts plus the collection itself;
            # the wait until someone attached is not the run's (docs/events.md, `collected`).
            ended = end.get("t_wall") if isinstance(end.get("t_wall"), (int, float)) else time.time() - took
            self.attach_log.emit("collected", config=name, t_wall=ended + took, at_wall=time.time(),
                                 seconds=round(took, 3), detached=True)
            names.append(name)
            done.add(name)
        if names:
            self.rebuild()
        return names

    def finish_for_a_dead_steward(self, why: str) -> None:
        """The steward's keeper is gone without run_end: write the records it never wrote, so
        the run can be collected and reported (what ran is on the hosts)."""
        ended = {r.get("config") for r in self.ended_configs()}
        hosts = {r.get("config"): r.get("hosts") or [] for r in self.of("config_start")}
        for name in [r.get("config") for r in self.of("config_start")]:
            if name not in ended:
                self.attach_log.emit("config_end", config=name, status="failed", reason=why,
                                     leftovers={h: [-1] for h in hosts.get(name, [])}, by="attach")
        first = next((r for r in self.ended_configs() if r.get("status") != "succeeded"), None)
        reason = f"{first.get('config')}: {first.get('reason')}" if first else why
        self.attach_log.emit("run_end", status="failed", reason=reason, by="attach")
        self.rebuild()

    def close(self) -> None:
        self.attach_log.close()


def _drop_partial_files(run_dir: Path, cp) -> None:
    """Files an earlier attach was killed while it copied (`.<name>.part<pid>-<thread>`)."""
    for t in cp.tasks:
        d = layout.local_task_dir(run_dir, t.host, t.config, t.task_id)
        for p in d.rglob(".*.part*") if d.is_dir() else []:
            p.unlink(missing_ok=True)


def first_wave_running(f: Follower, plan: Plan) -> bool:
    """Every task of the first wave's configuration runs has run (or the wave already ended)."""
    waves = plan.wave_list()
    if not waves:
        return True
    if f.run_end() is not None:
        return True
    running = {(r.get("config"), r.get("host"), r.get("task_id")) for r in f.of("task_running")}
    ended = {r.get("config") for r in f.ended_configs()}
    by_name = {cp.name: cp for cp in plan.configs}
    return all(name in ended or all((name, t.host, t.task_id) in running for t in by_name[name].tasks)
               for name in waves[0])


def task_states(plan: Plan, state: dict | None) -> list[tuple]:
    """(ConfigPlan, [TaskState]) of every configuration run the steward has started, for the
    live table (harness/cli/progress.py) — the same table `harness run` shows."""
    if not state:
        return []
    by_name = {cp.name: cp for cp in plan.configs}
    out = []
    for c in state.get("configs") or []:
        cp = by_name.get(c.get("name"))
        if cp is None or c.get("phase") == "waiting":
            continue
        views = {(v.get("host"), v.get("task_id")): v for v in c.get("tasks") or []}
        states = []
        for t in cp.tasks:
            v = views.get((t.host, t.task_id), {})
            states.append(TaskState(t, pid=v.get("pid"), state=v.get("state") or "pending",
                                    returncode=v.get("returncode"), last_step=v.get("last_step"),
                                    error=v.get("error") or "", note=v.get("note") or ""))
        out.append((cp, states))
    return out


def follow(f: Follower, plan: Plan, *, progress: Callable, stop: threading.Event, unreachable: set[str],
           until: Callable[[Follower], bool], on_outage: Callable[[str], None] = lambda why: None,
           interval: float = 1.0) -> str:
    """Pull, show and collect until `until(f)` holds ('done'), the user detaches ('detached'),
    or the steward's keeper is gone without having started ('not_started') or without
    run_end ('steward_lost')."""
    while True:
        got = f.pull()
        if got.error:
            on_outage(got.error)
        else:
            for cp, states in task_states(plan, got.state or f.state):
                progress(cp, states)
            f.collect_ended(plan, unreachable)
            if until(f):
                return "done"
            if not got.alive and f.run_end() is None:
                # The log was read after the liveness check: nothing more will come.
                return "steward_lost" if f.records else "not_started"
        if stop.wait(interval):
            return "detached"
