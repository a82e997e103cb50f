"""PURE: which configurations to measure next, and when to stop (docs/search.md,
"Acquisition" and "Stopping").

Score of an unmeasured point = expected improvement of the goal over the best measured
feasible value f*, E[max(0, f* − g(y))·1{y meets the constraints}] with y the step time's
log-normal predictive (perf_model), divided by the predicted $ of measuring it (its hosts ×
$/h × the trial's predicted duration: a fixed overhead learnt from the trials so far plus
the trial's steps × the predicted step time). A wave takes the best scores whose hosts are
free at once (per instance type, the inventory's hosts), within what is left of the budget.

Stop when the chance that any other point beats the best by more than min_effect is at
most 1 − confidence (a union bound): Σ over unmeasured points of P(g(y) < f*·(1 −
min_effect), feasible) from the model's predictive, plus Σ over measured ones of the same
chance from their runs and the best's (`rivals`: the noise between repeats, /√runs each).
While the unmeasured part alone is above the limit the acquisition measures new points;
when only the measured part keeps the sum above it, the rivals that do are measured again
(decide.py, the finalists); or stop when no point's measurement fits in the budget."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from harness.report.figures.perf_model import Model, Point, Prediction, predict
from harness.protocol.stats import normal_cdf
from harness.search.goal import Goal

_Z, _W = np.polynomial.hermite_e.hermegauss(32)
_W = _W / _W.sum()


@dataclass(frozen=True)
class Scored:
    point: Point
    prediction: Prediction
    value: float                 # goal at the predicted step time
    value_low: float             # at the 90 % interval's ends
    value_high: float
    p_feasible: float
    ei: float                    # in goal units
    cost_usd: float              # predicted $ of measuring it once
    p_better: float              # P(beats f* by more than min_effect, and feasible)

    @property
    def score(self) -> float:
        return self.ei / self.cost_usd if self.cost_usd > 0 else self.ei


@dataclass(frozen=True)
class TrialCost:
    steps: int                   # steps a trial runs (warm-up + counted + calibration)
    overhead_s: float = 30.0     # start-up, sync and collection of one trial (learnt: `learn_overhead`)

    def seconds(self, step_s: float) -> float:
        return self.overhead_s + self.steps * step_s

    def usd(self, p: Point, step_s: float, usd_per_host_hour: float) -> float:
        return p.hosts * usd_per_host_hour / 3600.0 * self.seconds(step_s)


def learn_overhead(trials: Sequence[tuple[float, float]], steps: int, default: float = 30.0) -> float:
    """Median of (trial seconds − steps × its step time) over (seconds, step) pairs."""
    xs = sorted(max(0.0, s - steps * y) for s, y in trials if s and y)
    return xs[len(xs) // 2] if xs else default


def best_measured(model: Model, goal: Goal, prices: Mapping[str, float],
                  points: Sequence[Point]) -> tuple[Optional[Point], float]:
    """The measured feasible point with the lowest goal (geometric mean of its runs)."""
    best, f = None, math.inf
    for p in points:
        runs = model.measured.get(p.key)
        if not runs:
            continue
        y = math.exp(sum(math.log(v) for v in runs) / len(runs))
        price = prices[p.instance_type]
        if goal.feasible(p, y, price) and goal.value(p, y, price) < f:
            best, f = p, goal.value(p, y, price)
    return best, f


def score(model: Model, goal: Goal, prices: Mapping[str, float], candidates: Sequence[Point],
          f_best: float, min_effect: float, cost: TrialCost,
          cost_prices: Optional[Mapping[str, float]] = None) -> list[Scored]:
    """cost_prices: an hour of a host in the budget's unit (default: prices, $)."""
    cost_prices = cost_prices or prices
    out = []
    for p in candidates:
        if model.measured.get(p.key):
            continue
        try:
            pr = predict(model, p)
        except ValueError:
            continue    # not predictable yet (no gradient bytes): the initial design covers it
        price = prices[p.instance_type]
        k = goal.value(p, 1.0, price)            # goal = k × step time
        y_max = goal.max_step_s(p, price)
        ys = pr.step_time_s * np.exp(pr.log_sd * _Z)
        ok = ys <= y_max
        ref = f_best if math.isfinite(f_best) else float(k * ys.max())
        ei = float((_W * np.maximum(0.0, ref - k * ys) * ok).sum())
        p_feas = normal_cdf((math.log(y_max) - math.log(pr.step_time_s)) / pr.log_sd) if math.isfinite(y_max) \
            else 1.0
        if math.isfinite(f_best):
            lim = min(f_best * (1 - min_effect) / k, y_max)
            p_better = normal_cdf((math.log(lim) - math.log(pr.step_time_s)) / pr.log_sd)
        else:
            p_better = p_feas
        out.append(Scored(p, pr, k * pr.step_time_s, k * pr.low_s, k * pr.high_s, p_feas, ei,
                          cost.usd(p, pr.step_time_s, cost_prices[p.instance_type]), p_better))
    return sorted(out, key=lambda s: -s.score)


def next_wave(scored: Sequence[Scored], capacity: Mapping[str, int], budget_left_usd: float,
              width: int, cost_high: bool = True) -> list[Scored]:
    """Best scores first, as many as fit at once on free hosts and in the budget (each
    priced at its interval's slow end when cost_high). decide.py takes them one at a time
    (the believer's wave)."""
    free = dict(capacity)
    left = budget_left_usd
    wave = []
    for s in scored:
        if len(wave) >= width:
            break
        need = s.point.hosts
        c = s.cost_usd * (s.prediction.high_s / s.prediction.step_time_s if cost_high else 1.0)
        if free.get(s.point.instance_type, 0) >= need and c <= left and s.ei > 0:
            wave.append(s)
            free[s.point.instance_type] -= need
            left -= c
    return wave


def rivals(model: Model, goal: Goal, prices: Mapping[str, float], points: Sequence[Point], best: Point,
           f_best: float, min_effect: float) -> list[tuple[Point, float]]:
    """Measured points other than the best, each with the chance that it truly beats the best
    by more than min_effect: ln(its goal ÷ the best's) is known to sd = noise·√(1/n + 1/n_best)
    (n runs each; the model's noise between repeats). Highest chance first."""
    n_best = len(model.measured.get(best.key, [])) or 1
    out = []
    for p in points:
        runs = model.measured.get(p.key)
        if not runs or p.key == best.key:
            continue
        y = math.exp(sum(math.log(v) for v in runs) / len(runs))
        price = prices[p.instance_type]
        if not goal.feasible(p, y, price):
            continue
        sd = model.noise * math.sqrt(1 / len(runs) + 1 / n_best)
        d = math.log(goal.value(p, y, price) / f_best)
        out.append((p, normal_cdf((math.log(1 - min_effect) - d) / sd)))
    return sorted(out, key=lambda x: -x[1])


def stop_reason(scored: Sequence[Scored], confidence: float, f_best: float) -> Optional[str]:
    if not math.isfinite(f_best):
        return None if scored else "no configuration meets the constraints and none is left to measure"
    if not scored:
        return "every configuration of the space is measured"
    chance = sum(s.p_better for s in scored)
    if chance <= 1 - confidence:
        return (f"the best is known within min_effect: the chance that any of the {len(scored)} unmeasured "
                f"configurations beats it by more is {chance:.1%} (≤ {1 - confidence:.0%})")
    return None


def initial_design(candidates: Sequence[Point], prices: Mapping[str, float]) -> list[Point]:
    """Cheap and informative first trials, Ernest's small runs: the single process on every
    type (compute per type), and each distributed strategy at its fewest workers on the
    type with the cheapest host (its communication). Larger sizes are left to the
    acquisition, which pays for them only where they may win (on the recorded grid, also
    measuring the most workers up front cost 31 % of the grid's bill instead of 9 %, for
    the same picks: benchmarks/search.py)."""
    out: list[Point] = []
    types = sorted({p.instance_type for p in candidates}, key=lambda t: prices[t])
    for t in types:
        one = [p for p in candidates if p.instance_type == t and p.workers == 1]
        if one:
            out.append(min(one, key=lambda p: (p.kind != "single", p.threads or 0)))
    for strategy in sorted({p.strategy for p in candidates if p.workers > 1}):
        for t in types:
            pts = [p for p in candidates if p.instance_type == t and p.strategy == strategy and p.workers > 1]
            if pts:
                out.append(min(pts, key=lambda p: (p.workers, p.threads or 0)))
                break
    return out
