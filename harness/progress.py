"""What the user sees while a configuration runs: plain lines (rich display: see issue 3)."""

from __future__ import annotations

import sys
import time

from harness.launch import TaskState
from harness.plan import ConfigPlan


class LineProgress:
    """A line when a task changes state, and a progress line per task every `every` s."""

    def __init__(self, stream=None, every: float = 5.0):
        self.stream = stream or sys.stdout
        self.every = every
        self._last_state: dict[tuple, str] = {}
        self._last_print = 0.0

    def __call__(self, cp: ConfigPlan, states: list[TaskState]) -> None:
        now = time.monotonic()
        periodic = now - self._last_print >= self.every
        for s in states:
            key = (cp.name, s.task.task_id, s.task.host)
            changed = self._last_state.get(key) != s.state
            if changed or (periodic and s.state == "running" and s.last_step):
                self._last_state[key] = s.state
                print(f"[{cp.name}] {s.task.host}/{s.task.task_id}: {self.describe(s)}", file=self.stream, flush=True)
        if periodic:
            self._last_print = now

    @staticmethod
    def describe(s: TaskState) -> str:
        text = s.state
        if s.returncode is not None and s.state != "succeeded":
            text += f" (exit {s.returncode})"
        step = s.last_step
        if step and step.get("seconds"):
            text += f"  step {step.get('step')}  epoch {step.get('epoch')}  " \
                    f"{step['images'] / step['seconds']:.0f} images/s  loss {step.get('loss', float('nan')):.4f}"
        if s.error and s.state in ("failed", "lost"):
            text += f"  {s.error}"
        return text
