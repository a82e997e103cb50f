"""Group-sequential boundaries from an error-spending function (pure, no numpy).

A one-sided test looks at a statistic Z_k = S(I_k) / √I_k at increasing information
I_1 < I_2 < …, where S is a Brownian motion under the null. The boundary c_k is set so that
the chance of crossing first at look k is exactly the spending increment α(t_k) − α(t_{k−1})
(Lan & DeMets 1983), which accounts for the correlation between looks: the later
boundaries are lower than Bonferroni's. The crossing chances are computed by recursive
numerical integration of the density of S on the continuation region (Armitage, McPherson
& Rowe 1969; Jennison & Turnbull 2000, ch. 19): Simpson's rule on a grid below the
boundary, a Gaussian step between looks.

The caller converts c_k into a nominal level 1 − Φ(c_k) and uses the Student-t quantile
of that level at the look's degrees of freedom (the "significance level approach",
Jennison & Turnbull §3.8), since the variance is estimated from few runs."""

from __future__ import annotations

import functools
import math
from typing import Sequence

from harness.protocol.stats import normal_cdf

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_POINTS = 121  # grid points per look (odd, for Simpson); ~1e-4 relative on the crossing chance
_LOW = 8.0  # the grid starts this many standard deviations below 0


def _simpson(lo: float, hi: float, n: int) -> tuple[list[float], list[float]]:
    """Points and Simpson weights on [lo, hi] with n (odd) points."""
    h = (hi - lo) / (n - 1)
    xs = [lo + i * h for i in range(n)]
    ws = [h / 3.0 * (1 if i in (0, n - 1) else 4 if i % 2 else 2) for i in range(n)]
    return xs, ws


def _cross(xs: Sequence[float], mass: Sequence[float], b: float, sd: float) -> float:
    """P(S_next > b and no earlier crossing): Σ mass_j · P(step > b − x_j)."""
    return math.fsum(m * (1.0 - normal_cdf((b - x) / sd)) for x, m in zip(xs, mass))


@functools.lru_cache(maxsize=256)
def upper_boundaries(infos: tuple[float, ...], spent: tuple[float, ...]) -> tuple[float, ...]:
    """The z boundaries c_k for looks at information `infos` (strictly increasing, any
    scale) with cumulative one-sided error `spent` by each look (non-decreasing, < 1).
    A look that spends nothing gets c = inf."""
    if len(infos) != len(spent) or not infos:
        raise ValueError("one cumulative error per look is needed")
    if any(b <= a for a, b in zip(infos, infos[1:])) or infos[0] <= 0:
        raise ValueError(f"information must increase strictly from > 0, got {infos}")
    if spent[0] < 0 or spent[-1] >= 1 or any(b < a for a, b in zip(spent, spent[1:])):
        raise ValueError(f"cumulative error must be non-decreasing in [0, 1), got {spent}")
    out: list[float] = []
    xs: list[float] = [0.0]  # the distribution of S before the first look: a point mass at 0
    mass: list[float] = [1.0]
    prev_info, prev_spent = 0.0, 0.0
    for info, cum in zip(infos, spent):
        sd = math.sqrt(info - prev_info)
        alpha = cum - prev_spent
        prev_info, prev_spent = info, cum
        if alpha <= 0:
            b = math.inf
        else:
            # The chance of crossing falls as b rises: bisect on the z scale.
            lo, hi = -10.0, 40.0
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                if _cross(xs, mass, mid * math.sqrt(info), sd) > alpha:
                    lo = mid
                else:
                    hi = mid
                if hi - lo < 1e-9:
                    break
            b = 0.5 * (lo + hi)
        out.append(b)
        top = min(b, _LOW) * math.sqrt(info)
        grid, ws = _simpson(-_LOW * math.sqrt(info), top, _POINTS)
        # The density of S at this look on the continuation region, times Simpson weights.
        mass = [w * math.fsum(m * math.exp(-0.5 * ((g - x) / sd) ** 2) for x, m in zip(xs, mass))
                / (sd * _SQRT_2PI) for g, w in zip(grid, ws)]
        xs = grid
    return tuple(out)


def nominal_levels(infos: Sequence[float], spent: Sequence[float]) -> tuple[float, ...]:
    """The one-sided nominal level 1 − Φ(c_k) of each look (0 where nothing is spent)."""
    return tuple(0.0 if math.isinf(c) else 1.0 - normal_cdf(c)
                 for c in upper_boundaries(tuple(infos), tuple(spent)))
