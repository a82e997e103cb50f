import math

import pytest

from harness.protocol import stats


@pytest.mark.parametrize("df, expected", [
    (1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042),
    (100, 1.984), (1000, 1.962), (10**6, 1.960), (math.inf, 1.960),
])
def test_t975_matches_published_table(df, expected):
    assert round(stats.t975(df), 3) == expected


@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995, 0.9995])
def test_t_quantile_closed_forms(p):
    # df = 1 is the Cauchy distribution: tan(pi (p - 1/2)).
    assert stats.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
    # df = 2: (2p - 1) / sqrt(2 p (1 - p)).
    assert stats.t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)


def test_t_quantile_symmetry_and_more_digits():
    assert stats.t_quantile(0.025, 7) == pytest.approx(-stats.t_quantile(0.975, 7), rel=1e-12)
    assert stats.t_quantile(0.5, 4) == 0.0
    # More digits from standard tables.
    assert stats.t975(4) == pytest.approx(2.776445105, abs=1e-8)
    assert stats.t975(20) == pytest.approx(2.085963447, abs=1e-8)
    assert stats.t_quantile(0.995, 9) == pytest.approx(3.249835542, abs=1e-8)
    assert stats.normal_quantile(0.975) == pytest.approx(1.959963985, abs=1e-8)
    # Across the switch to the large-df series the quantile stays continuous.
    assert stats.t975(99_999) == pytest.approx(stats.t975(100_001), abs=1e-8)
    # Fractional df (as Welch's test produces) lies between its integer neighbours.
    assert stats.t975(3) < stats.t975(2.5) < stats.t975(2)


def test_t_cdf_inverts_quantile():
    for df in (1, 3.5, 12, 250):
        for p in (0.55, 0.8, 0.975, 0.999):
            assert stats.t_cdf(stats.t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_betainc_known_values():
    # I_x(1, 1) = x; I_x(2, 1) = x^2; I_0.5(a, a) = 0.5 by symmetry.
    assert stats.betainc_regularized(1, 1, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert stats.betainc_regularized(2, 1, 0.3) == pytest.approx(0.09, abs=1e-14)
    assert stats.betainc_regularized(7.5, 7.5, 0.5) == pytest.approx(0.5, abs=1e-14)


def test_bad_arguments():
    with pytest.raises(ValueError):
        stats.t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        stats.t_quantile(0.9, 0)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_mean_sd_percentiles():
    xs = [3, 1, 4, 1, 5, 9, 2, 6]
    assert stats.mean(xs) == 31 / 8
    # squared deviations from 3.875: 0.765625 + 8.265625 + 0.015625 + 8.265625 + 1.265625
    #   + 26.265625 + 3.515625 + 4.515625 = 52.875; / 7 = 7.553571; sqrt = 2.748376
    assert stats.sample_sd(xs) == pytest.approx(math.sqrt(52.875 / 7))
    # sorted 1 1 2 3 4 5 6 9; p50 at position 3.5 -> (3 + 4)/2; p95 at 6.65 -> 6 + 0.65*3
    assert stats.median(xs) == 3.5
    assert stats.percentile(xs, 95) == pytest.approx(7.95)
    assert stats.percentile(xs, 0) == 1 and stats.percentile(xs, 100) == 9
    assert stats.mean([]) is None and stats.sample_sd([1.0]) is None
    assert stats.percentile([], 50) is None and stats.percentile([2.5], 95) == 2.5


def test_interval95():
    # mean 0.4, sd = sqrt(0.02/3) = 0.0816497, n = 4, t(3) = 3.182446
    # half-width = 3.182446 * 0.0816497 / 2 = 0.1299228
    iv = stats.interval95([0.4, 0.5, 0.3, 0.4])
    assert iv.mean == pytest.approx(0.4)
    assert iv.half_width == pytest.approx(0.1299228, abs=1e-6)
    assert iv.relative_half_width == pytest.approx(0.324807, abs=1e-6)
    one = stats.interval95([2.0])
    assert one.n == 1 and one.half_width is None and one.relative_half_width is None
    assert stats.interval95([]) is None
