"""Small, dependency-free statistics for the report and the hosts: mean, sample sd,
percentiles, the Student-t quantile, a 95 % interval and batch means. Pure Python so
`harness report` stays light and the numbers do not depend on which numpy/scipy a machine
has; in the protocol because a training task stops at the report's own steady-state
interval (`precision`, harness/protocol/precision.py)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional, Sequence


def mean(xs: Sequence[float]) -> Optional[float]:
    """Arithmetic mean; None for no data."""
    if not xs:
        return None
    return math.fsum(xs) / len(xs)


def sample_sd(xs: Sequence[float]) -> Optional[float]:
    """Sample standard deviation (divisor n - 1); None when n < 2."""
    n = len(xs)
    if n < 2:
        return None
    m = math.fsum(xs) / n
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (n - 1))


def percentile(xs: Sequence[float], q: float) -> Optional[float]:
    """q-th percentile (0..100) by linear interpolation between order statistics at
    position (n - 1) * q / 100 (Hyndman & Fan type 7, numpy's default); None for no data."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    if not xs:
        return None
    return percentile_of_sorted(sorted(xs), q)


def percentile_of_sorted(s: Sequence[float], q: float) -> float:
    """percentile() of values already in ascending order (several percentiles, one sort)."""
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(xs: Sequence[float]) -> Optional[float]:
    return percentile(xs, 50.0)


# --- Student t -------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function, evaluated with the modified
    Lentz method: 1 / (1 + d1 / (1 + d2 / (1 + ...))) with
    d(2m+1) = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)),  d(2m) = m(b-m)x / ((a+2m-1)(a+2m))."""
    tiny = 1e-300
    f, c, d = tiny, tiny, 0.0
    for i in range(0, 20000):
        if i == 0:
            num = 1.0
        else:
            m = i // 2
            if i % 2:
                num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            else:
                num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        delta = c * d
        f *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    # f began as `tiny` standing in for a zero leading term b0; it is negligible in the result.
    return f


def betainc_regularized(a: float, b: float, x: float, y: Optional[float] = None) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1.
    Pass y = 1 - x when the caller knows it more precisely than 1 - x would give."""
    if not (a > 0 and b > 0):
        raise ValueError("betainc needs a > 0 and b > 0")
    y = 1.0 - x if y is None else y
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log(y))
    # The fraction converges fast only below the mean of the beta distribution; above it,
    # use the symmetry I_x(a, b) = 1 - I_(1-x)(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


# Above this many degrees of freedom lgamma(a + b) - lgamma(a) loses digits to cancellation;
# the Cornish-Fisher series around the normal quantile is exact to double precision there.
_LARGE_DF = 1e5


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom (df may be fractional):
    P(|T| > |t|) = I_x(df/2, 1/2) with x = df / (df + t^2), equivalently
    P(|T| < |t|) = I_y(1/2, df/2) with y = t^2 / (df + t^2); the smaller one is computed."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if math.isinf(df):
        return normal_cdf(t)
    t2 = t * t
    x, y = df / (df + t2), t2 / (df + t2)
    if x < y:
        tail = 0.5 * betainc_regularized(df / 2.0, 0.5, x, y)
    else:
        tail = 0.5 - 0.5 * betainc_regularized(0.5, df / 2.0, y, x)
    return 1.0 - tail if t >= 0 else tail


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _bisect_upper(cdf, p: float) -> float:
    """Solve cdf(x) = p for x > 0 where cdf is increasing and cdf(0) = 0.5 < p."""
    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cdf(mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-14 * hi:
            break
    return 0.5 * (lo + hi)


def normal_quantile(p: float) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -normal_quantile(1.0 - p)
    return _bisect_upper(normal_cdf, p)


@functools.lru_cache(maxsize=4096)  # pure, and a report asks for the same few df many times
def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df degrees of freedom, found by bisection on the
    exact CDF above (so any df, integer or not, to ~1e-12 relative); df = inf is the normal."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if math.isinf(df):
        return normal_quantile(p)
    if df > _LARGE_DF:
        return _t_quantile_cornish_fisher(p, df)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    return _bisect_upper(lambda t: t_cdf(t, df), p)


def _t_quantile_cornish_fisher(p: float, df: float) -> float:
    """Expansion of the t quantile in powers of 1/df around the normal quantile z
    (Abramowitz & Stegun 26.7.5); the neglected term is O(z^11 / df^5)."""
    z = normal_quantile(p)
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t975(df: float) -> float:
    """Two-sided 95 % critical value: the 0.975 quantile of t(df)."""
    return t_quantile(0.975, df)


# --- intervals ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A mean with its 95 % confidence half-width (None when n < 2)."""
    mean: float
    half_width: Optional[float]
    n: int
    sd: Optional[float]

    @property
    def relative_half_width(self) -> Optional[float]:
        if self.half_width is None or self.mean == 0:
            return None
        return self.half_width / abs(self.mean)


def interval95(xs: Sequence[float]) -> Optional[Interval]:
    """Mean of xs ± t(0.975, n - 1) * sd / sqrt(n); None for no data."""
    m = mean(xs)
    if m is None:
        return None
    n = len(xs)
    sd = sample_sd(xs)
    hw = None if sd is None else t975(n - 1) * sd / math.sqrt(n)
    return Interval(mean=m, half_width=hw, n=n, sd=sd)


def coefficient_of_variation(xs: Sequence[float]) -> Optional[float]:
    """sd / |mean| (sample sd); None when n < 2 or the mean is 0."""
    m, sd = mean(xs), sample_sd(xs)
    if m is None or sd is None or m == 0:
        return None
    return sd / abs(m)


# --- estimates: a mean, its standard error and degrees of freedom, and how ----------------

@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error `se` and the degrees of freedom of its t-interval.
    `se` is None when there is no interval (one run, or too few steps); `n` is how many
    independent values the interval is over (repeats, or batches inside one run) and
    `method` says which, in words a report can print beside the interval."""
    mean: float
    se: Optional[float]
    df: Optional[float]
    n: int
    method: str

    @property
    def half_width(self) -> Optional[float]:
        if self.se is None or self.df is None or self.df <= 0:
            return None
        return t975(self.df) * self.se

    @property
    def low(self) -> Optional[float]:
        hw = self.half_width
        return None if hw is None else self.mean - hw

    @property
    def high(self) -> Optional[float]:
        hw = self.half_width
        return None if hw is None else self.mean + hw

    def scaled(self, factor: float, method: Optional[str] = None) -> "Estimate":
        """The same estimate times a constant (e.g. per-step seconds → images/s via a
        known ratio)."""
        return Estimate(self.mean * factor, None if self.se is None else self.se * abs(factor),
                        self.df, self.n, method or self.method)


NO_RUNS_INTERVAL = "1 run: no interval between runs"


def between_runs(values: Sequence[float], what: str = "run") -> Optional[Estimate]:
    """Mean over independent runs (one value per repeat) with its t-interval over n =
    len(values) values; one value gives the mean and no interval, and says so."""
    m = mean(values)
    if m is None:
        return None
    n = len(values)
    if n < 2:
        return Estimate(m, None, None, 1, NO_RUNS_INTERVAL)
    sd = sample_sd(values)
    return Estimate(m, sd / math.sqrt(n), n - 1, n, f"t-interval over {n} {what} means (df {n - 1})")


def lag1_autocorrelation(xs: Sequence[float]) -> Optional[float]:
    """Sample lag-1 autocorrelation sum((x_i - m)(x_{i+1} - m)) / sum((x_i - m)^2); None for
    n < 3 or a constant series."""
    n = len(xs)
    if n < 3:
        return None
    m = math.fsum(xs) / n
    den = math.fsum((x - m) ** 2 for x in xs)
    if den == 0:
        return None
    return math.fsum((xs[i] - m) * (xs[i + 1] - m) for i in range(n - 1)) / den


def effective_sample_size(xs: Sequence[float]) -> Optional[float]:
    """n (1 - r) / (1 + r) with r the lag-1 autocorrelation (an AR(1) approximation),
    capped to [1, n]; None when r is undefined."""
    r = lag1_autocorrelation(xs)
    if r is None:
        return None
    r = max(min(r, 0.99), -0.99)
    return max(1.0, min(float(len(xs)), len(xs) * (1 - r) / (1 + r)))


def batch_count(n: int) -> int:
    """How many batches batch means uses for n values: about sqrt(n), between 2 and 30, and
    at least 2 values per batch; 0 when n < 4 (too few for any interval)."""
    if n < 4:
        return 0
    return max(2, min(30, int(math.sqrt(n)), n // 2))


def batch_means(xs: Sequence[float], batches: Optional[int] = None) -> Optional[Estimate]:
    """Mean of a time series with a t-interval over the means of `batches` consecutive,
    equal-sized batches (the first n mod k values are dropped so all batches are equal).
    Consecutive steps are correlated; means of long enough batches nearly are not, so the
    interval does not pretend every step is an independent sample."""
    m = mean(xs)
    if m is None:
        return None
    k = batches if batches is not None else batch_count(len(xs))
    if k < 2 or len(xs) < 2 * k:
        return Estimate(m, None, None, len(xs), f"{len(xs)} step value(s): too few for batch means")
    size = len(xs) // k
    tail = list(xs)[len(xs) - size * k:]
    bm = [math.fsum(tail[i * size:(i + 1) * size]) / size for i in range(k)]
    sd = sample_sd(bm)
    return Estimate(m, sd / math.sqrt(k), k - 1, k,
                    f"batch means: t-interval over {k} batches of {size} consecutive steps (df {k - 1})")
