"""Acquisition and stopping (harness/search/acquire.py) on a model fitted to a known law."""

import pytest

from harness.report.figures.perf_model import Observation, Point, TypeInfo, fit
from harness.search.acquire import (TrialCost, best_measured, initial_design, learn_overhead, next_wave, score,
                                    stop_reason)
from harness.search.goal import Goal

TYPES = {"a": TypeInfo("a", 2, 100e6, 0.1), "b": TypeInfo("b", 4, 100e6, 0.2)}
PRICES = {"a": 0.1, "b": 0.2}
G = 400_000.0


def step(p):
    c = {"a": 0.4, "b": 0.2}[p.instance_type]
    return c if p.workers == 1 else c + 8 * 2 * (p.workers - 1) / p.workers * G / 100e6 + 0.01 * p.workers


SPACE = [Point(t, "single") for t in TYPES] + [Point(t, "horovod", m) for t in TYPES for m in (2, 3, 4)]


def model(points, wiggle=0.02):
    obs = [Observation(p, step(p) * (1 + w), step(p) * 0 + {"a": 0.4, "b": 0.2}[p.instance_type]
                       if p.workers > 1 else None, G) for p in points for w in (-wiggle, wiggle)]
    return fit(obs, TYPES)


def test_initial_design_is_cheap_and_spans_the_axes():
    d = initial_design(SPACE, PRICES)
    assert [p.key for p in d] == ["a/single-1", "b/single-1", "a/horovod-2"]


def test_scores_rank_unmeasured_points_and_waves_respect_hosts_and_budget():
    m = model(initial_design(SPACE, PRICES))
    best, f = best_measured(m, Goal(), PRICES, SPACE)
    assert best.key == "a/single-1"    # $ per image: one host beats every distributed point here
    s = score(m, Goal(), PRICES, SPACE, f, 0.05, TrialCost(50))
    assert {x.point.key for x in s} == {"b/horovod-2", "b/horovod-3", "b/horovod-4", "a/horovod-3", "a/horovod-4"}
    assert all(x.cost_usd > 0 and 0 <= x.p_better <= 1 for x in s)
    wave = next_wave(s, {"a": 4, "b": 4}, 1.0, width=3)
    assert sum(x.point.hosts for x in wave if x.point.instance_type == "b") <= 4
    assert next_wave(s, {"a": 4, "b": 4}, 0.0, width=3) == []


def test_stops_when_nothing_left_can_beat_the_best_by_min_effect():
    m = model(SPACE[:-1])
    best, f = best_measured(m, Goal(), PRICES, SPACE)
    s = score(m, Goal(), PRICES, SPACE, f, 0.05, TrialCost(50))
    assert [x.point.key for x in s] == ["b/horovod-4"]
    assert stop_reason(s, 0.9, f) is not None
    # A time goal: the 4-worker point on b may well be the fastest: keep going
    t = Goal("time_to_target", 1e5)
    best_t, f_t = best_measured(m, t, PRICES, SPACE)
    st = score(m, t, PRICES, SPACE, f_t, 0.05, TrialCost(50))
    assert stop_reason(st, 0.9, f_t) is None and st[0].ei > 0


def test_overhead_is_learnt_from_trials():
    assert learn_overhead([(40.0, 0.2), (50.0, 0.4), (45.0, 0.1)], 50) == pytest.approx(30.0)  # 30, 30, 40
    assert learn_overhead([], 50) == 30.0
