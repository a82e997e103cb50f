import math
import random

import pytest

from harness.protocol import stats
from harness.report.figures.verdict import compare


def est(xs):
    return stats.between_runs(xs)


def test_twice_the_throughput_is_a_difference():
    v = compare("fast", est([200, 204, 197]), "slow", est([100, 101, 99]))
    assert v.differs and v.better == "fast"
    assert v.relative == pytest.approx(601 / 300 - 1)
    assert v.low < v.relative < v.high and v.low > 0.05
    assert v.text.startswith("fast is faster than slow by 100 %")
    # Asked the other way round, the same winner and the same advantage.
    w = compare("slow", est([100, 101, 99]), "fast", est([200, 204, 197]))
    assert w.better == "fast" and w.text.startswith("fast is faster than slow by 100 %")


def test_small_difference_inside_the_noise_is_not():
    # 2 % apart, clearly significant with these tight repeats, but under the 5 % floor.
    v = compare("a", est([102.0, 102.1, 101.9]), "b", est([100.0, 100.1, 99.9]))
    assert v.p_value < 0.05 and not v.differs and v.better is None
    assert "indistinguishable" in v.text and "noise floor" in v.text
    # Noisy repeats: a 4 % difference is not significant at all.
    v = compare("a", est([104, 96, 112]), "b", est([100, 92, 108]))
    assert not v.differs and "not significant" in v.text


def test_lower_is_better_names_the_cheaper():
    v = compare("a", est([2.0, 2.02, 1.98]), "b", est([1.0, 1.01, 0.99]), higher_is_better=False,
                better_word="cheaper", quantity="$ per 10⁶ images")
    assert v.better == "b"
    assert v.text.startswith("b is cheaper than a by 50 % in $ per 10⁶ images")
    v = compare("b", est([1.0, 1.01, 0.99]), "a", est([2.0, 2.02, 1.98]), higher_is_better=False,
                better_word="cheaper")
    assert v.better == "b" and "by 50 %" in v.text


def test_one_run_each_gives_no_verdict_between_runs():
    one = est([100.0])
    assert one.se is None and one.method == stats.NO_RUNS_INTERVAL
    v = compare("a", one, "b", est([90.0]))
    assert v.kind == "no interval" and v.better is None and "no verdict" in v.text


def test_aa_rarely_names_a_winner():
    # Identical configurations: 3 repeats each, 5 % CV. With the noise floor, a winner
    # must (almost) never be named; the seed makes the test deterministic.
    rng = random.Random(7)
    wins = 0
    for _ in range(2000):
        a = [rng.gauss(100, 5) for _ in range(3)]
        b = [rng.gauss(100, 5) for _ in range(3)]
        wins += compare("a", est(a), "b", est(b)).differs
    assert wins / 2000 < 0.01


def test_batch_means_widens_for_autocorrelated_steps():
    rng = random.Random(1)
    xs, x = [], 0.0
    for _ in range(400):  # AR(1) with lag-1 correlation 0.7
        x = 0.7 * x + rng.gauss(0, 1)
        xs.append(10 + x)
    naive = stats.interval95(xs).half_width
    bm = stats.batch_means(xs)
    assert bm.n == 20 and "batch means" in bm.method
    assert bm.half_width > 1.5 * naive
    assert stats.lag1_autocorrelation(xs) == pytest.approx(0.7, abs=0.1)
    ess = stats.effective_sample_size(xs)
    assert 50 < ess < 120


def test_batch_means_small_inputs_and_exact_values():
    assert stats.batch_means([]) is None
    few = stats.batch_means([1.0, 2.0, 3.0])
    assert few.se is None and "too few" in few.method
    # 9 values, 3 batches of 3: batch means 2, 5, 8 → se = 3/sqrt(3).
    e = stats.batch_means([1, 2, 3, 4, 5, 6, 7, 8, 9], batches=3)
    assert e.mean == 5 and e.se == pytest.approx(math.sqrt(3)) and e.df == 2
    assert e.half_width == pytest.approx(stats.t975(2) * math.sqrt(3))


def test_between_runs_and_cv():
    e = stats.between_runs([10.0, 12.0, 14.0])
    assert e.mean == 12 and e.n == 3 and e.df == 2
    assert e.se == pytest.approx(2 / math.sqrt(3))
    assert "3 run means" in e.method
    assert stats.coefficient_of_variation([10.0, 12.0, 14.0]) == pytest.approx(2 / 12)
    assert stats.coefficient_of_variation([5.0]) is None
