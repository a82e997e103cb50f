import math
import random

import pytest

from harness.report.figures.adaptive import Basis, replay
from harness.report.figures.sequential import (DIFFERENT, EQUIVALENT, UNDECIDED, Comparison, Design,
                                              describe, look)


def run_rounds(a, b, design=Design(), higher_is_better=True):
    """Look after every round, as the scheduler would, until the comparison is final."""
    c = Comparison("a", "b", higher_is_better=higher_is_better)
    for r in range(1, min(len(a), len(b), design.max_repeats) + 1):
        c = look(c, a[:r], b[:r], design, r)
        if c.final:
            break
    return c


def test_one_run_each_is_no_look():
    c = look(Comparison("a", "b"), [100.0], [50.0], Design(), 1)
    assert c.open and c.looks == 0 and c.ratio is None
    assert "no look yet" in describe(c)


def test_twice_the_throughput_is_decided_after_two_runs_each():
    c = run_rounds([200.0, 204.0, 197.0], [100.0, 101.0, 99.0])
    assert (c.state, c.better, c.final) == (DIFFERENT, "a", True)
    assert (c.n_a, c.n_b, c.round, c.looks) == (2, 2, 2, 1)
    assert c.low < c.ratio < c.high and c.low > 0.05
    assert c.ratio == pytest.approx(math.sqrt(200 * 204) / math.sqrt(100 * 101) - 1)
    text = describe(c, "throughput")
    assert text.startswith("a is faster than b by 101 % in throughput (96 % sequential interval, look 1:")
    assert "decided after 2 runs each" in text
    # The other way round: the same winner.
    d = run_rounds([100.0, 101.0], [200.0, 204.0])
    assert d.better == "b" and describe(d).startswith("b is faster than a by 101 %")


def test_lower_is_better_names_the_cheaper():
    c = run_rounds([2.0, 2.02], [1.0, 1.01], higher_is_better=False)
    assert c.better == "b"
    assert describe(c, "$ per 10⁶ images", better_word="cheaper").startswith(
        "b is cheaper than a by 50 % in $ per 10⁶ images")


def test_identical_configurations_come_out_equivalent_within_min_effect():
    c = run_rounds([100, 101, 99, 100.5, 99.5, 100], [100.2, 99.8, 100.4, 99.6, 100, 100.1])
    assert c.state == EQUIVALENT and c.better is None and c.final
    assert -0.05 < c.low < c.ratio < c.high < 0.05
    assert "are within 5 % of each other in throughput" in describe(c, "throughput")
    assert "90 % sequential interval" in describe(c)


def test_a_difference_at_the_floor_ends_undecided_at_max_repeats():
    noise = [1.0, 1.03, 0.97, 1.02, 0.98, 1.0]
    a, b = [105 * x for x in noise], [100 * x for x in reversed(noise)]
    c = run_rounds(a, b, Design(futility=0))
    assert c.state == UNDECIDED and c.open and c.n_a == 6 and c.looks == 5
    bases = [Basis("throughput", {"a": a, "b": b})]
    out = replay(bases, Design(futility=0))
    c = out.comparisons["throughput"][0]
    assert c.final and c.reason == "undecided at max_repeats" and c.low < 0.05 < c.high
    assert [s.state for s in out.configs] == ["max_repeats", "max_repeats"] and out.finished
    assert "undecided after 6 runs each" in out.texts(bases)[0]


def test_hopeless_noise_stops_early_as_futile():
    a, b = [100.0, 130.0, 80.0, 120.0], [110.0, 90.0, 125.0, 100.0]
    c = run_rounds(a, b)
    assert c.state == UNDECIDED and c.final and c.round == 2
    assert c.reason.startswith("futile") and c.chance < 0.10
    # Without futility stopping the same data keeps going.
    assert run_rounds(a, b, Design(futility=0)).open


def test_decisions_are_final():
    c = run_rounds([200.0, 204.0], [100.0, 101.0])
    assert look(c, [200.0, 204.0, 100.0], [100.0, 101.0, 300.0], Design(), 3) is c


def test_a_failed_run_gives_no_new_look():
    c = look(Comparison("a", "b"), [100.0, 104.0], [90.0, 93.0], Design(futility=0), 2)
    assert c.looks == 1
    assert look(c, [100.0, 104.0, None], [90.0, 93.0, 91.0], Design(futility=0), 3).looks == 2
    assert look(c, [100.0, 104.0, None], [90.0, 93.0, None], Design(futility=0), 3) is c


def test_runs_without_any_spread_give_no_interval_and_no_verdict():
    # Identical (quantised or copied) values say nothing about the noise: never a winner.
    c = run_rounds([320.0] * 6, [160.0] * 6, Design(futility=0))
    assert c.open and c.looks == 0 and c.state == UNDECIDED


def test_bad_values_and_designs_are_refused():
    with pytest.raises(ValueError, match="positive"):
        look(Comparison("a", "b"), [100.0, 0.0], [1.0, 2.0], Design(), 2)
    with pytest.raises(ValueError, match="max_repeats"):
        Design(max_repeats=1)
    with pytest.raises(ValueError, match="min_effect"):
        Design(min_effect=0)
    with pytest.raises(ValueError, match="floor"):
        Design(floor=-0.01)


# --- error rates by simulation: seeded, so deterministic, and able to fail --------------

def _trials(ratio, cv, n=300, seed=3, design=Design()):
    """Outcomes of n simulated pairs (log-normal run-to-run noise, CV cv, A = ratio × B)."""
    rng = random.Random(seed)
    s = math.sqrt(math.log1p(cv * cv))
    out = []
    for _ in range(n):
        a = [ratio * 100 * math.exp(rng.gauss(0, s)) for _ in range(design.max_repeats)]
        b = [100 * math.exp(rng.gauss(0, s)) for _ in range(design.max_repeats)]
        o = replay([Basis("throughput", {"a": a, "b": b})], design)
        out.append((o.comparisons["throughput"][0], o.rounds))
    return out


def test_aa_at_low_noise_never_names_a_winner():
    # Without the min_effect floor about 5 % of these would name one.
    for cv in (0.02, 0.03):
        assert [c for c, _ in _trials(1.0, cv, seed=11) if c.state == DIFFERENT] == []


def test_aa_false_winner_rate_stays_below_the_bound_at_high_noise():
    # Measured ~2-3 % at CV 20 % (benchmarks/adaptive_repeats.py); the goal is 5 %.
    wrong = sum(c.state == DIFFERENT for c, _ in _trials(1.0, 0.20, seed=5))
    assert wrong / 300 < 0.06


def test_a_true_difference_at_the_floor_is_rarely_called_and_equivalence_needs_the_floor():
    # A 5 % difference is not beyond the 5 % floor: "different" ≤ ~3 %, "equivalent" ≤ ~5 %.
    out = _trials(1.05, 0.03, seed=7)
    assert sum(c.state == DIFFERENT for c, _ in out) / 300 < 0.07
    assert sum(c.state == EQUIVALENT for c, _ in out) / 300 < 0.09
    # 15 % apart is never "equivalent within 5 %".
    assert not any(c.state == EQUIVALENT for c, _ in _trials(1.15, 0.03, seed=8))


def test_twice_the_throughput_is_found_after_two_runs_at_moderate_noise():
    out = _trials(2.0, 0.05, seed=9)
    assert all(c.state == DIFFERENT and c.better == "a" for c, _ in out)
    assert sum(r == 2 for _, r in out) / 300 > 0.85
