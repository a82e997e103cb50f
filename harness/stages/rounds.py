"""Adaptive repeats (`repeats: auto`) during a run: which planned runs a round still needs."""

from __future__ import annotations

import threading
import time
from typing import Callable


class Rounds:
    """Before a round's first run, the decision after the rounds so far (`look`: the report's
    harness/report/figures/adaptive_run.look_at on the run directory) says which
    configurations it runs.
    The plan holds every round up to max_repeats; a run the decision does not need is
    skipped, with the reason in control.jsonl (`adaptive_look`, `config_skipped`)."""

    def __init__(self, plan, control, look: Callable):
        self.control, self.look = control, look
        self.configs = tuple(dict.fromkeys(cp.config for cp in plan.configs))
        self.decided: dict[int, tuple[str, ...]] = {}
        self.why: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()   # runs of one wave ask from their own threads

    def skip(self, cp) -> str | None:
        if not cp.counted or cp.repeat < 2:
            return None
        r = cp.repeat - 1   # the round just ended
        with self._lock:
            done = [k for k in self.decided if k < r and not self.decided[k]]
            if done:   # decided already: later rounds need no new look
                r = done[0]
            elif r not in self.decided:
                self._look(r)
        if cp.config in self.decided[r]:
            return None
        return self.why[r].get(cp.config) or f"not needed after round {r}"

    def _look(self, r: int) -> None:
        t0 = time.monotonic()
        result, design = self.look()
        if result is None:   # no counted value at all yet: every configuration goes on
            self.decided[r], self.why[r] = tuple(self.configs), {}
            self.control.emit("adaptive_look", round=r, next_round=list(self.configs), reason="no counted value yet",
                              seconds=round(time.monotonic() - t0, 3))
            return
        out = result.outcome
        self.decided[r] = out.next_round
        self.why[r] = {c.config: c.why for c in out.configs}
        self.control.emit("adaptive_look", round=r, rounds_replayed=out.rounds, next_round=list(out.next_round),
                          states={c.config: {"state": c.state, "runs": c.runs, "why": c.why} for c in out.configs},
                          comparisons=result.texts(), max_repeats=design.max_repeats, min_effect=design.min_effect,
                          seconds=round(time.monotonic() - t0, 3))
