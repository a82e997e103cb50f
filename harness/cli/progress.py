"""What the user sees while a configuration runs: a live table on a terminal (rich),
plain lines otherwise (logs, CI). Both read only the supervisor's task states."""

from __future__ import annotations

import sys
import threading
import time

from harness.stages.launch import TaskState
from harness.stages.plan import ConfigPlan


def _rate(step: dict | None) -> float | None:
    if step and step.get("event", "step") == "step" and step.get("seconds"):
        return step["images"] / step["seconds"]
    return None


def host_utilization(states: list[TaskState]) -> dict[str, tuple[float | None, float | None]]:
    """host -> (CPU %, mean GPU util %) from the newest sample of that host's sampler."""
    out = {}
    for s in states:
        if s.task.role == "sampler" and s.last_step:
            gpus = [g.get("util_percent") for g in s.last_step.get("gpus") or [] if g.get("util_percent") is not None]
            out[s.task.host] = (s.last_step.get("cpu_percent"), sum(gpus) / len(gpus) if gpus else None)
    return out


def describe(s: TaskState) -> str:
    text = s.state
    if s.returncode is not None and s.state != "succeeded":
        text += f" (exit {s.returncode})"
    step, rate = s.last_step, _rate(s.last_step)
    if rate is not None:
        text += f"  step {step.get('step')}  epoch {step.get('epoch')}  {rate:.0f} images/s  " \
                f"loss {step.get('loss', float('nan')):.4f}"
    if s.error and s.state in ("failed", "lost"):
        text += f"  {s.error}"
    if s.note and s.state == "running":
        text += f"  ({s.note})"
    return text


class LineProgress:
    """A line when a task changes state, and a progress line per task every `every` s."""

    def __init__(self, stream=None, every: float = 5.0):
        self.stream = stream or sys.stdout
        self.every = every
        self._last_state: dict[tuple, str] = {}
        self._last_print = 0.0
        self._lock = threading.Lock()  # configurations of a wave report from their own threads

    def __call__(self, cp: ConfigPlan, states: list[TaskState]) -> None:
        with self._lock:
            self._call(cp, states)

    def _call(self, cp: ConfigPlan, states: list[TaskState]) -> None:
        now = time.monotonic()
        periodic = now - self._last_print >= self.every
        for s in states:
            if s.task.role == "sampler" and s.state in ("running", "stopped"):
                continue
            key = (cp.name, s.task.task_id, s.task.host)
            changed = self._last_state.get(key) != s.state
            if changed or (periodic and s.state == "running" and _rate(s.last_step) is not None):
                self._last_state[key] = s.state
                print(f"[{cp.name}] {s.task.host}/{s.task.task_id}: {describe(s)}", file=self.stream, flush=True)
        if periodic:
            self._last_print = now

    def close(self) -> None:
        pass


class LiveTable:
    """One row per task, updated in place: host, role, state, step, images/s, CPU %, GPU %."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.live.start()
        self._tables: dict[str, object] = {}   # every configuration so far, finished ones final
        self._lock = threading.Lock()  # every running configuration of a wave shows at once

    def __call__(self, cp: ConfigPlan, states: list[TaskState]) -> None:
        with self._lock:
            self._call(cp, states)

    def _call(self, cp: ConfigPlan, states: list[TaskState]) -> None:
        from rich.console import Group
        from rich.table import Table

        util = host_utilization(states)
        table = Table(title=f"{cp.name} ({cp.strategy})", expand=False)
        for col in ("host", "task", "role", "state", "step", "epoch", "images/s", "loss", "CPU %", "GPU %"):
            table.add_column(col, justify="right" if col in ("step", "epoch", "images/s", "loss", "CPU %", "GPU %") else "left")
        colour = {"running": "cyan", "succeeded": "green", "failed": "red", "lost": "red", "stopped": "yellow"}
        for s in states:
            if s.task.role == "sampler":
                continue
            step, rate = s.last_step or {}, _rate(s.last_step)
            cpu, gpu = util.get(s.task.host, (None, None))
            table.add_row(s.task.host, s.task.task_id, s.task.role,
                          f"[{colour.get(s.state, 'white')}]{s.state}[/]" + (f" ({s.returncode})" if s.state == "failed" else ""),
                          str(step.get("step", "")), str(step.get("epoch", "")),
                          f"{rate:.0f}" if rate is not None else "",
                          f"{step['loss']:.4f}" if isinstance(step.get("loss"), (int, float)) else "",
                          f"{cpu:.0f}" if cpu is not None else "", f"{gpu:.0f}" if gpu is not None else "")
        self._tables[cp.name] = table
        self.live.update(Group(*self._tables.values()))

    def close(self) -> None:
        self.live.stop()


def make_progress(stream=None):
    stream = stream or sys.stdout
    return LiveTable() if stream.isatty() else LineProgress(stream)
