"""PURE: one step of a search — from the trials measured so far, the next wave or the end.
The live search (harness/search/run.py) and the offline benchmark (benchmarks/search.py)
both call `decide`, so the benchmark measures the rule `harness search` applies.

Phases: the initial design (acquire.initial_design, packed into waves); the noise: the
cheapest measured points once more until the repeats give noise_repeats degrees of freedom
(the model's one pooled noise sd sets every interval; before repeats it is a conservative
8 %); then waves chosen
by expected improvement per $ while the unmeasured points' chance of beating the best by
more than min_effect is above 1 − confidence, or until the budget is spent; then the
finalists: measured points whose own chance (acquire.rivals, from the noise between
repeats) keeps the total above the limit are measured again with the best (up to
finalist_runs each), the fewest that bring it under, highest chance first. The runners-up
(measured points within min_effect of the best, or measured again) are compared with the
best by the report's sequential verdicts (different / equivalent / undecided:
harness/report/figures/sequential.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

from harness.report.figures import sequential
from harness.report.figures.perf_model import Model, Observation, Point, fit
from harness.search.acquire import (Scored, TrialCost, best_measured, initial_design, learn_overhead, next_wave,
                                    rivals, score, stop_reason)
from harness.search.goal import Goal
from harness.search.space import Space


@dataclass(frozen=True)
class Trial:
    point: Point
    step_time_s: float
    t_compute_s: Optional[float]
    gradient_bytes: Optional[float]
    seconds: float               # the trial's attributable time (its config run's hosts × span)
    usd: float                   # what measuring it cost
    run: str = ""                # where it was measured (run directory / config run)


@dataclass(frozen=True)
class Settings:
    goal: Goal
    budget_usd: float
    min_effect: float = 0.05
    confidence: float = 0.9
    width: int = 2               # trials per wave at most
    steps_per_trial: int = 50
    finalist_runs: int = 2       # runs of each finalist before the verdict
    host_hours: bool = False     # the budget is in host-hours, not $
    noise_repeats: int = 2       # degrees of freedom of repeats measured before the acquisition


@dataclass
class Decision:
    wave: list[Point]
    phase: str                   # initial | noise | acquire | finalists | done
    reason: str = ""
    model: Optional[Model] = None
    scored: list[Scored] = field(default_factory=list)
    best: Optional[Point] = None
    f_best: float = math.inf
    finalists: list[Point] = field(default_factory=list)
    verdicts: list[sequential.Comparison] = field(default_factory=list)
    chance: float = 0.0          # P(any unmeasured point beats the best by more than min_effect)


def spent(trials: Sequence[Trial], host_hours: bool = False) -> float:
    return sum(t.seconds / 3600.0 if host_hours else t.usd for t in trials)


def cost_prices(space: Space, s: Settings) -> dict[str, float]:
    """What an hour of a host costs in the budget's unit."""
    return {t: 1.0 for t in space.prices} if s.host_hours else space.prices


def _pack(points: Sequence[Point], capacity: dict[str, int], width: int) -> list[Point]:
    free, out = dict(capacity), []
    for p in points:
        if len(out) < width and free.get(p.instance_type, 0) >= p.hosts:
            out.append(p)
            free[p.instance_type] -= p.hosts
    return out


def model_of(space: Space, trials: Sequence[Trial]) -> Model:
    return fit([Observation(t.point, t.step_time_s, t.t_compute_s, t.gradient_bytes) for t in trials], space.types)


def goal_values(space: Space, goal: Goal, trials: Sequence[Trial], p: Point) -> list[float]:
    price = space.prices[p.instance_type]
    return [goal.value(p, t.step_time_s, price) for t in trials if t.point.key == p.key]


def decide(space: Space, s: Settings, trials: Sequence[Trial]) -> Decision:
    left = s.budget_usd - spent(trials, s.host_hours)
    prices = cost_prices(space, s)
    measured = {t.point.key for t in trials}
    init = [p for p in initial_design(space.points, space.prices) if p.key not in measured]
    if init:
        wave = _pack(init, space.capacity, max(s.width, 1))
        cost = TrialCost(s.steps_per_trial, learn_overhead([(t.seconds / t.point.hosts, t.step_time_s)
                                                            for t in trials], s.steps_per_trial))
        if trials:   # priced by the model once there is one
            m = model_of(space, trials)
            wave = [p for p in wave if _affordable(m, p, prices, cost, left)]
        else:        # before any: twice the default overhead per host, cumulatively
            first, room = [], left
            for p in wave:
                c = p.hosts * prices[p.instance_type] * 2 * cost.overhead_s / 3600.0
                if c <= room:
                    first.append(p)
                    room -= c
            wave = first
        if wave:
            return Decision(wave, "initial", f"initial design: {len(init)} point(s) left")
        if not trials:
            return Decision([], "done", "the budget does not cover the first trial")
    m = model_of(space, trials)
    if s.noise_repeats and _repeat_df(trials) < s.noise_repeats:
        again = _noise_wave(space, trials, s.noise_repeats, s.host_hours, left)
        if again:
            return Decision(again, "noise", f"the noise between repeats, measured where it is cheapest: "
                                            f"{', '.join(p.key for p in again)} again", m)
    best, f_best = best_measured(m, s.goal, space.prices, space.points)
    cost = TrialCost(s.steps_per_trial, learn_overhead([(t.seconds / t.point.hosts, t.step_time_s) for t in trials],
                                                       s.steps_per_trial))
    scored = score(m, s.goal, space.prices, space.points, f_best, s.min_effect, cost, prices)
    chance = sum(x.p_better for x in scored)   # the union bound (docs/search.md: why not a joint chance)
    why = stop_reason(scored, s.confidence, f_best)
    d = Decision([], "acquire", "", m, scored, best, f_best, chance=chance)
    if why is None:
        wave = _believer_wave(space, s, trials, scored, chance, left, cost, prices)
        if wave:
            d.wave = [x.point for x in wave]
            d.reason = "expected improvement per $: " + ", ".join(f"{x.point.key} ({x.score:.3g}/$)" for x in wave)
            return d
        why = "budget: no unmeasured configuration's trial fits in what is left" if scored else \
            "every configuration of the space is measured"
    return _finalists(space, s, trials, d, why, left, cost)


def _believer_wave(space: Space, s: Settings, trials: Sequence[Trial], scored: list[Scored], chance: float,
                   left: float, cost: TrialCost, prices: dict[str, float]) -> list[Scored]:
    """A wave of up to s.width points, one at a time (the "kriging believer" of batch Bayesian
    optimisation, Ginsbourger et al. 2010): after each pick the model is refitted as if the
    point had been measured at its predicted step time, and the next is the best score of that
    model; the wave ends when, so believed, the unmeasured chance is at most 1 − confidence
    (no further point could be needed to stop) or nothing more fits on free hosts or in the
    budget. Without it the second point of a wave was scored as if the first told nothing."""
    free, room, wave = dict(space.capacity), left, []
    believed = list(trials)
    while len(wave) < max(1, s.width):
        got = next_wave(scored, free, room, 1)
        if not got or (wave and chance <= 1 - s.confidence):
            break
        x = got[0]
        wave.append(x)
        free[x.point.instance_type] -= x.point.hosts
        room -= x.cost_usd * x.prediction.high_s / x.prediction.step_time_s
        pr = x.prediction
        believed.append(Trial(x.point, pr.step_time_s, pr.t_compute_s if x.point.workers > 1 else None,
                              next((t.gradient_bytes for t in trials if t.gradient_bytes), None), 0.0, 0.0))
        m = model_of(space, believed)
        _, f = best_measured(m, s.goal, space.prices, space.points)
        scored = [y for y in score(m, s.goal, space.prices, space.points, f, s.min_effect, cost, prices)
                  if all(y.point.key != w.point.key for w in wave)]
        chance = sum(y.p_better for y in scored)
    return wave


def _repeat_df(trials: Sequence[Trial]) -> int:
    n: dict[str, int] = {}
    for t in trials:
        n[t.point.key] = n.get(t.point.key, 0) + 1
    return sum(v - 1 for v in n.values())


def _noise_wave(space: Space, trials: Sequence[Trial], df: int, host_hours: bool, left: float) -> list[Point]:
    """The cheapest measured points (by their measured cost), once more each, enough for df
    degrees of freedom between repeats: the model's noise (its intervals, the rivals'
    chance) is one relative sd pooled over the space, so it is measured where that is cheapest."""
    cost: dict[str, list[float]] = {}
    pts = {}
    for t in trials:
        cost.setdefault(t.point.key, []).append(t.seconds / 3600.0 if host_hours else t.usd)
        pts[t.point.key] = t.point
    need = df - _repeat_df(trials)
    order = sorted(cost, key=lambda k: sum(cost[k]) / len(cost[k]))
    out, room = [], left
    for k in order[:max(0, need)]:
        c = sum(cost[k]) / len(cost[k])
        if c <= room:
            out.append(pts[k])
            room -= c
    return _pack(out, space.capacity, max(1, len(out)))


def _affordable(m: Model, p: Point, prices: dict[str, float], cost: TrialCost, left: float) -> bool:
    from harness.report.figures.perf_model import predict

    try:
        pr = predict(m, p)
    except ValueError:
        return cost.usd(p, 1.0, prices[p.instance_type]) <= left
    return cost.usd(p, pr.high_s, prices[p.instance_type]) <= left


def _finalists(space: Space, s: Settings, trials: Sequence[Trial], d: Decision, why: str, left: float,
               cost: TrialCost) -> Decision:
    d.reason = why
    if d.best is None:
        d.phase = "done"
        return d
    fin = []
    for p in space.points:
        vals = goal_values(space, s.goal, trials, p)
        if vals and p.key != d.best.key:
            g = math.exp(sum(math.log(v) for v in vals) / len(vals))
            # within min_effect of the best now, or measured again as a finalist before
            if g <= d.f_best * (1 + s.min_effect) or len(vals) >= s.finalist_runs > 1:
                fin.append(p)
    d.finalists = fin
    # the measured rivals' share of the chance that the best is beaten by more than min_effect
    limit, unmeasured = 1 - s.confidence, d.chance
    rv = rivals(d.model, s.goal, space.prices, space.points, d.best, d.f_best, s.min_effect)
    total = unmeasured + sum(c for _, c in rv)
    again = []
    for p, c in rv:
        if unmeasured > limit:   # stopped by the budget, not by the rule: the runners-up within min_effect
            again = [q for q in fin if q in {r for r, _ in rv}]
            break
        if total - sum(c2 for q, c2 in rv if q in again) <= limit:
            break
        again.append(p)
    d.reason = f"{why}; measured rivals {sum(c for _, c in rv):.1%} (their runs' noise), in all {total:.1%}"
    need = [p for p in ([d.best, *again] if again else []) if len(goal_values(space, s.goal, trials, p)) < s.finalist_runs]
    prices = cost_prices(space, s)
    need = [p for p in need if cost.usd(p, _mean_step(trials, p), prices[p.instance_type]) <= left]
    if need:
        d.wave, d.phase = _pack(need, space.capacity, max(s.width, 1)), "finalists"
        d.reason += f" (> {limit:.0%}): measured again: {', '.join(p.key for p in need)}"
        return d
    design = sequential.Design(max_repeats=max(2, s.finalist_runs), min_effect=s.min_effect)
    best_vals = goal_values(space, s.goal, trials, d.best)
    d.verdicts = [_verdict(d.best.key, best_vals, p.key, goal_values(space, s.goal, trials, p), design) for p in fin]
    d.phase = "done"
    return d


def _verdict(best: str, best_vals: list, key: str, vals: list, design: sequential.Design) -> sequential.Comparison:
    """The sequential verdict of `key` against the best; with fewer than 2 runs on a side
    there is no look: the comparison then carries the run counts and says why."""
    c = sequential.look(sequential.Comparison(best, key, higher_is_better=False), best_vals, vals, design, 1)
    if c.looks:
        return c
    return replace(c, n_a=len(best_vals), n_b=len(vals),
                   reason="no between-run comparison: it needs 2 runs on each side")


def _mean_step(trials: Sequence[Trial], p: Point) -> float:
    ys = [t.step_time_s for t in trials if t.point.key == p.key]
    return sum(ys) / len(ys) if ys else 1.0
