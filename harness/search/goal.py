"""PURE: what a search minimises, from a point's step time (docs/search.md, "Goals").

    usd_per_1m_images   hosts × $/h ÷ 3600 × 10⁶ ÷ throughput
    time_to_target      target_images ÷ throughput            (s)
    usd_to_target       hosts × $/h ÷ 3600 × time_to_target
throughput = workers × batch ÷ step time (images/s, steady state, warm-up excluded).
A deadline (seconds, on time_to_target, or on 10⁶ images for the $-per-image goal) and a $
cap (on usd_to_target, or on $ per 10⁶ images) are constraints: a point that breaks one is
not a candidate for the best.

Every goal is increasing in the step time, so a step-time quantile maps to the same goal
quantile; the expected improvement is integrated over the step time's log-normal."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from harness.report.figures.perf_model import Point

GOALS = ("usd_per_1m_images", "time_to_target", "usd_to_target")
UNITS = {"usd_per_1m_images": "$ per 10⁶ images", "time_to_target": "s to target", "usd_to_target": "$ to target"}


@dataclass(frozen=True)
class Goal:
    kind: str = "usd_per_1m_images"
    target_images: Optional[float] = None     # *_to_target: images processed until the target
    deadline_s: Optional[float] = None
    usd_cap: Optional[float] = None

    def __post_init__(self):
        if self.kind not in GOALS:
            raise ValueError(f"goal {self.kind!r}: expected one of {', '.join(GOALS)}")
        if self.kind != "usd_per_1m_images" and not self.target_images:
            raise ValueError(f"goal {self.kind}: needs target_images (images processed until the target)")

    @property
    def unit(self) -> str:
        return UNITS[self.kind]

    def images(self) -> float:
        return 1e6 if self.kind == "usd_per_1m_images" else float(self.target_images)

    def seconds(self, p: Point, step_s: float) -> float:
        """Time for the goal's images at this step time."""
        return self.images() * step_s / (p.workers * p.batch)

    def dollars(self, p: Point, step_s: float, usd_per_host_hour: float) -> float:
        return p.hosts * usd_per_host_hour / 3600.0 * self.seconds(p, step_s)

    def value(self, p: Point, step_s: float, usd_per_host_hour: float) -> float:
        if self.kind == "time_to_target":
            return self.seconds(p, step_s)
        return self.dollars(p, step_s, usd_per_host_hour)

    def feasible(self, p: Point, step_s: float, usd_per_host_hour: float) -> bool:
        if self.deadline_s is not None and self.seconds(p, step_s) > self.deadline_s:
            return False
        return self.usd_cap is None or self.dollars(p, step_s, usd_per_host_hour) <= self.usd_cap

    def max_step_s(self, p: Point, usd_per_host_hour: float) -> float:
        """The longest step time that meets the constraints (inf without any)."""
        lim = math.inf
        per_step = self.images() / (p.workers * p.batch)
        if self.deadline_s is not None:
            lim = min(lim, self.deadline_s / per_step)
        if self.usd_cap is not None and usd_per_host_hour > 0:
            lim = min(lim, self.usd_cap / (p.hosts * usd_per_host_hour / 3600.0 * per_step))
        return lim

    def describe(self) -> str:
        if self.kind == "usd_per_1m_images":
            out = "minimum on-demand $ per 10⁶ images"
        else:
            what = "time" if self.kind == "time_to_target" else "on-demand $"
            out = f"minimum {what} to {self.target_images:g} images (the target)"
        if self.deadline_s is not None:
            out += f", within {self.deadline_s:g} s"
        if self.usd_cap is not None:
            out += f", at most ${self.usd_cap:g}"
        return out
