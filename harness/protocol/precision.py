"""Early stop within a run (both sides): a run whose steady-state throughput is already
measured to `precision` ends, instead of running out its planned steps.

The interval is the report's own (harness/report/figures/metrics.py): batch means over the
per-step seconds of each step record whose first step is past warm-up, t-interval over
≈ √n batches; its half-width relative to the mean is the throughput's relative half-width
(delta method). The run stops at the first step record where that is ≤ precision and at
least `min_steps` kept steps ran. A stopped run writes a `precision_reached` phase record;
the report marks it and says which figures it then lacks (time to target, final accuracy).

Looking after every record and stopping at the first narrow interval is optional stopping:
the interval at the stop is a little optimistic. `min_steps` (and the ≥ 4 records batch
means needs) bound how early that can happen; the between-run comparison that decides a
recommendation uses one value per run and its own sequential design (docs/metrics.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from harness.protocol.stats import batch_means

PRECISION_ENV, MIN_STEPS_ENV, WARMUP_ENV = "HARNESS_PRECISION", "HARNESS_MIN_STEPS", "HARNESS_WARMUP_STEPS"
PHASE = "precision_reached"


@dataclass
class PrecisionStop:
    precision: float        # relative half-width of the 95 % interval to stop at
    min_steps: int          # kept (post-warm-up) steps before any stop
    warmup_steps: int       # steps whose records are left out (first step index ≤ this)
    kept_steps: int = 0
    per_step_s: list = None  # type: ignore[assignment]
    relative: Optional[float] = None
    stopped: bool = False   # set by the loop that stopped here

    def __post_init__(self) -> None:
        if not 0 < self.precision < 1:
            raise ValueError(f"precision {self.precision}: give a share between 0 and 1 (0.02 = ±2 %)")
        self.per_step_s = []

    @classmethod
    def from_env(cls, env=None) -> Optional["PrecisionStop"]:
        """The stop a script is told about (harness/worker/script.py), or None."""
        env = os.environ if env is None else env
        try:
            p = float(env.get(PRECISION_ENV, "") or 0)
        except ValueError:
            return None
        if not 0 < p < 1:
            return None
        return cls(p, int(env.get(MIN_STEPS_ENV) or 0), int(env.get(WARMUP_ENV) or 0))

    def env(self) -> dict[str, str]:
        return {PRECISION_ENV: repr(self.precision), MIN_STEPS_ENV: str(self.min_steps),
                WARMUP_ENV: str(self.warmup_steps)}

    def add(self, last_step: int, steps: int, seconds: float) -> bool:
        """One step record (its last step index, its step count, its seconds); True once the
        run may stop."""
        if steps <= 0 or last_step - steps + 1 <= self.warmup_steps:
            return False
        self.kept_steps += steps
        self.per_step_s.append(seconds / steps)
        if self.kept_steps < self.min_steps:
            return False
        est = batch_means(self.per_step_s)
        if est is None or est.half_width is None or est.mean <= 0:
            return False
        self.relative = est.half_width / est.mean
        return self.relative <= self.precision

    def record(self) -> dict:
        """The `phase` record's fields when the run stops here."""
        return {"name": PHASE, "seconds": 0.0, "relative_half_width": self.relative, "precision": self.precision,
                "kept_steps": self.kept_steps, "records": len(self.per_step_s), "min_steps": self.min_steps}
