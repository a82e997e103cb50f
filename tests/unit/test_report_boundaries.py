import math

import pytest

from harness.report.figures.boundaries import nominal_levels, upper_boundaries
from harness.protocol.stats import normal_cdf, normal_quantile


def _five_looks():
    return tuple(k / 5 for k in range(1, 6))


def test_obrien_fleming_type_spending_gives_the_published_boundaries():
    # Lan–DeMets O'Brien–Fleming-type spending, one-sided 0.025, 5 equally spaced looks:
    # 4.877, 3.357, 2.680, 2.290, 2.031 (Jennison & Turnbull 2000; gsDesign sfLDOF).
    ts = _five_looks()
    spent = tuple(2 - 2 * normal_cdf(normal_quantile(1 - 0.0125) / math.sqrt(t)) for t in ts)
    assert upper_boundaries(ts, spent) == pytest.approx((4.877, 3.357, 2.680, 2.290, 2.031), abs=2e-3)


def test_pocock_type_spending_gives_the_published_boundaries():
    # Lan–DeMets Pocock-type α·ln(1 + (e − 1)t), one-sided 0.025, 5 looks: 2.438 … 2.386.
    ts = _five_looks()
    spent = tuple(0.025 * math.log(1 + (math.e - 1) * t) for t in ts)
    assert upper_boundaries(ts, spent) == pytest.approx((2.438, 2.427, 2.410, 2.397, 2.386), abs=2e-3)


def test_one_look_is_the_plain_quantile_and_later_looks_are_below_bonferroni():
    assert upper_boundaries((1.0,), (0.025,))[0] == pytest.approx(1.95996, abs=1e-4)
    ts = tuple(n / 6 for n in range(2, 7))
    spent = tuple(0.025 * t for t in ts)
    levels = nominal_levels(ts, spent)
    increments = [b - a for a, b in zip((0.0,) + spent, spent)]
    assert levels[0] == pytest.approx(increments[0], rel=1e-6)
    # Correlated looks: each later nominal level exceeds its bare increment, the sum exceeds α.
    assert all(lv > inc for lv, inc in zip(levels[1:], increments[1:]))
    assert sum(levels) > 0.025


def test_a_look_that_spends_nothing_never_rejects():
    c = upper_boundaries((0.5, 1.0), (0.0, 0.025))
    assert math.isinf(c[0]) and c[1] == pytest.approx(1.95996, abs=1e-3)
    assert nominal_levels((0.5, 1.0), (0.0, 0.025))[0] == 0.0


@pytest.mark.parametrize("infos,spent", [((0.5, 0.5), (0.01, 0.02)), ((0.5, 1.0), (0.02, 0.01)),
                                         ((0.5,), (0.01, 0.02)), ((0.0, 1.0), (0.01, 0.02))])
def test_bad_schedules_are_refused(infos, spent):
    with pytest.raises(ValueError):
        upper_boundaries(infos, spent)
