"""One comparison of two configurations over repeats, looked at after every round (pure):
a group-sequential test on the log-ratio that keeps its error rates however often it looks
(docs/metrics.md, "Adaptive repeats").

Per run the value is ln(x); d = mean ln x_A − mean ln x_B (the log of the ratio of
geometric means), se = s·√(1/n_A + 1/n_B) with s² pooled over the two configurations and
df = n_A + n_B − 2 (Student's two-sample t: the interleaved schedule keeps n_A = n_B, where
the statistic equals Welch's; pooling buys the df that let 2 runs each decide a large
difference). m = ln(1 + min_effect).

Looks happen at information t = I / I_max, I = 1 / (1/n_A + 1/n_B), I_max = max_repeats / 2
(t = n / max_repeats on the interleaved schedule). Each kind of decision owns an error
budget, spent over the looks by α·t^ρ (Kim & DeMets 1987); the boundary of each look comes
from the spending increments with the correlation between looks accounted for
(harness.report.figures.boundaries) and is used as the nominal level p_k of a Student t at
the look's df (Jennison & Turnbull's significance-level approach):
- different: the interval d ± t(1 − p_k, df)·se lies beyond ±floor (default min_effect,
  the noise floor of every verdict in the report): a winner is named only when the whole
  interval says it is ahead by more than the floor.
- equivalent: d ± t(1 − q_k, df)·se lies inside ±m (two one-sided tests, each with budget
  α_e over all looks): the two are within min_effect of each other.
- futile: no look still to come has a 10 % chance to decide, projected from the difference
  so far with an optimistic noise (the lower 90 % confidence bound of σ): the comparison
  stops undecided. Stopping without a decision cannot add a wrong one.
Decisions are final; each look's boundary depends only on this comparison's own
information, so dropping or stopping other configurations does not change its error rates.

t statistics from 2–6 runs are less correlated between looks than the z statistics the
boundaries assume, so the realized error is about a fifth above the budget; the budget for
"different" is 4 % (both directions) so that a winner whose true advantage is at most the
floor is named in ≤ 2.5 % of experiments and an A/A pair in < 5 % however noisy
(benchmarks/adaptive_repeats.py measures both, on simulated and recorded noise)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Optional, Sequence

from harness.report.figures.boundaries import nominal_levels
from harness.protocol.stats import normal_cdf, normal_quantile, t_quantile

DIFFERENT, EQUIVALENT, UNDECIDED = "different", "equivalent", "undecided"


@dataclass(frozen=True)
class Design:
    max_repeats: int = 6
    min_effect: float = 0.05  # f: the noise floor and the equivalence margin, relative
    alpha_different: float = 0.04  # budget over all looks, both directions (see above)
    alpha_equivalent: float = 0.05  # budget over all looks, each one-sided test
    # ρ = 1 spends the "different" budget evenly, so a large difference can be called at
    # the first look (2 runs each); ρ = 3 keeps the equivalence budget for the late looks,
    # the only ones with intervals narrow enough to fit inside ±min_effect.
    rho_different: float = 1.0
    rho_equivalent: float = 3.0
    futility: float = 0.10  # stop undecided when no look can decide with this chance; 0 = never
    floor: Optional[float] = None  # "different" needs the interval beyond ±floor; None = min_effect

    def __post_init__(self):
        if self.max_repeats < 2:
            raise ValueError("max_repeats must be >= 2: a between-run interval needs 2 runs")
        if not 0 < self.min_effect < 1:
            raise ValueError(f"min_effect must be in (0, 1), got {self.min_effect}")
        for a in (self.alpha_different, self.alpha_equivalent):
            if not 0 < a < 1:
                raise ValueError(f"an error rate must be in (0, 1), got {a}")
        if self.floor is not None and not 0 <= self.floor < 1:
            raise ValueError(f"floor must be in [0, 1), got {self.floor}")
        if not 0 <= self.futility < 1:
            raise ValueError(f"futility must be in [0, 1), got {self.futility}")

    @property
    def margin(self) -> float:
        """m = ln(1 + min_effect): the equivalence margin on the log scale."""
        return math.log1p(self.min_effect)

    @property
    def floor_log(self) -> float:
        return math.log1p(self.min_effect if self.floor is None else self.floor)

    def information(self, n_a: int, n_b: int) -> float:
        """t: this look's share of the information at max_repeats runs each (0..1)."""
        if n_a < 1 or n_b < 1:
            return 0.0
        return min(1.0, (1.0 / (1.0 / n_a + 1.0 / n_b)) / (self.max_repeats / 2.0))

    def levels(self, infos: tuple[float, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """One-sided nominal levels of each look at information `infos`: for "different"
        (per direction, budget α_d / 2) and for "equivalent" (per bound, budget α_e)."""
        cap = [min(t, 1.0) for t in infos]
        return (nominal_levels(infos, tuple(self.alpha_different / 2 * t ** self.rho_different for t in cap)),
                nominal_levels(infos, tuple(self.alpha_equivalent * t ** self.rho_equivalent for t in cap)))


@dataclass(frozen=True)
class Comparison:
    """The state of A against B after some look: open, or final with its decision."""
    a: str
    b: str
    state: str = UNDECIDED  # different | equivalent | undecided
    final: bool = False
    higher_is_better: bool = True  # throughput: yes; seconds and dollars: no
    better: Optional[str] = None  # only when different
    ratio: Optional[float] = None  # geometric-mean A/B − 1
    low: Optional[float] = None  # the decision's interval of A/B − 1 (see `level`)
    high: Optional[float] = None
    level: str = ""
    n_a: int = 0
    n_b: int = 0
    looks: int = 0
    round: int = 0  # the round of the last look (or of the decision)
    infos: tuple[float, ...] = ()  # information at each look so far
    chance: Optional[float] = None  # projected chance that a later look decides
    reason: str = ""  # why undecided and final: futile, max_repeats, not needed

    @property
    def open(self) -> bool:
        return not self.final


def _logs(xs: Sequence[Optional[float]]) -> list[float]:
    out = []
    for x in xs:
        if x is None:
            continue
        if not x > 0 or math.isinf(x):
            raise ValueError(f"a relative comparison needs positive finite values, got {x!r}")
        out.append(math.log(x))
    return out


def _pooled(la: list[float], lb: list[float]) -> tuple[float, float, int]:
    """(d, s, df) of two samples of log values, s pooled."""
    ma, mb = math.fsum(la) / len(la), math.fsum(lb) / len(lb)
    ss = math.fsum((x - ma) ** 2 for x in la) + math.fsum((x - mb) ** 2 for x in lb)
    df = len(la) + len(lb) - 2
    return ma - mb, math.sqrt(ss / df), df


@functools.lru_cache(maxsize=256)
def _chi2_upper(p: float, df: int) -> float:
    """The p-quantile of chi-square(df), Wilson–Hilferty (a few % at df 2: enough for a
    projection that only decides when to give up)."""
    z = normal_quantile(p)
    c = 2.0 / (9.0 * df)
    return df * max(1.0 - c + z * math.sqrt(c), 1e-6) ** 3


def _interval(d: float, hw: float) -> tuple[float, float]:
    return math.expm1(d - hw), math.expm1(d + hw)


def _crit(p: float, df: int) -> float:
    return math.inf if p <= 0 else t_quantile(1.0 - p, df)


def look(c: Comparison, a_values: Sequence[Optional[float]], b_values: Sequence[Optional[float]],
         design: Design, round_: int) -> Comparison:
    """The comparison after one more look at all values so far (None = a run without a
    value). A final comparison is returned unchanged; a look without new information (n
    did not grow), with fewer than 2 values on a side or with no spread at all keeps it open."""
    if c.final:
        return c
    la, lb = _logs(a_values), _logs(b_values)
    t = design.information(len(la), len(lb))
    if len(la) < 2 or len(lb) < 2 or (c.infos and t <= c.infos[-1]):
        return c
    d, s, df = _pooled(la, lb)
    if s == 0:
        return c  # no spread at all between runs (quantised or copied values): no noise estimate yet
    se = s * math.sqrt(1.0 / len(la) + 1.0 / len(lb))
    infos = c.infos + (t,)
    p_diff, p_eq = design.levels(infos)
    cd, ce = _crit(p_diff[-1], df), _crit(p_eq[-1], df)
    fl, m = design.floor_log, design.margin
    done = dict(ratio=math.expm1(d), n_a=len(la), n_b=len(lb), looks=c.looks + 1, round=round_,
                infos=infos)
    diff_level = _level(design.alpha_different, c.looks + 1)
    if d - cd * se > fl or d + cd * se < -fl:
        lo, hi = _interval(d, cd * se)
        a_wins = (d > 0) == c.higher_is_better
        return replace(c, state=DIFFERENT, final=True, better=c.a if a_wins else c.b,
                       low=lo, high=hi, level=diff_level, **done)
    if -m < d - ce * se and d + ce * se < m:
        lo, hi = _interval(d, ce * se)
        return replace(c, state=EQUIVALENT, final=True, low=lo, high=hi,
                       level=_level(2 * design.alpha_equivalent, c.looks + 1), **done)
    lo, hi = _interval(d, cd * se) if not math.isinf(cd) else (None, None)
    chance, reason = None, ""
    if design.futility > 0:
        chance = _chance_later(d, s, df, len(la), len(lb), infos, design)
        if chance < design.futility:
            reason = (f"futile: projected chance to decide by {design.max_repeats} runs each is "
                      f"{100 * chance:.0f} % (< {100 * design.futility:.0f} %)")
    return replace(c, low=lo, high=hi, level=diff_level, chance=chance, final=bool(reason),
                   reason=reason, **done)


def _level(alpha: float, looks: int) -> str:
    return f"{100 * (1 - alpha):.0f} % sequential interval, look {looks}"


def _chance_later(d: float, s: float, df: int, n_a: int, n_b: int, infos: tuple[float, ...],
                  design: Design) -> float:
    """The largest chance, over the looks still to come (both configurations running to
    max_repeats), that a look decides: future runs drawn around the current means with
    σ = the lower 90 % confidence bound of s (optimistic noise, so giving up is cautious)."""
    sigma = s * math.sqrt(df / _chi2_upper(0.90, df))
    future: list[tuple[int, int]] = []
    for k in range(1, design.max_repeats - min(n_a, n_b) + 1):
        na, nb = min(n_a + k, design.max_repeats), min(n_b + k, design.max_repeats)
        if design.information(na, nb) > (design.information(*future[-1]) if future else infos[-1]):
            future.append((na, nb))
    if not future:
        return 0.0
    p_diff, p_eq = design.levels(infos + tuple(design.information(na, nb) for na, nb in future))
    fl, m, best = design.floor_log, design.margin, 0.0
    for j, (na, nb) in enumerate(future, start=len(infos)):
        df_k = na + nb - 2
        cd, ce = _crit(p_diff[j], df_k), _crit(p_eq[j], df_k)
        se_k = sigma * math.sqrt(1.0 / na + 1.0 / nb)
        # d at that look: the current mean difference plus the future runs' share of noise.
        spread = sigma * math.sqrt((na - n_a) / na ** 2 + (nb - n_b) / nb ** 2)
        if spread == 0:
            continue
        edge = fl + cd * se_k
        p_d = 0.0 if math.isinf(edge) else (1 - normal_cdf((edge - d) / spread)) + normal_cdf((-edge - d) / spread)
        half = m - ce * se_k
        p_e = (normal_cdf((half - d) / spread) - normal_cdf((-half - d) / spread)) if half > 0 else 0.0
        best = max(best, p_d + p_e)
    return best


def at_max_repeats(c: Comparison) -> Comparison:
    """Close an open comparison: the runs are spent (its last interval stands)."""
    return c if c.final else replace(c, final=True, reason="undecided at max_repeats")


def not_needed(c: Comparison, why: str) -> Comparison:
    """Close an open comparison the recommendation no longer depends on."""
    return c if c.final else replace(c, final=True, reason=f"not needed: {why}")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}" if abs(x) >= 0.095 else f"{100 * x:.1f}"


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + _pct(abs(x))


def describe(c: Comparison, quantity: str = "", *, better_word: str = "faster",
             min_effect: float = 0.05) -> str:
    """The comparison in one sentence, as the report prints it."""
    what = f" in {quantity}" if quantity else ""
    runs = f"{c.n_a} and {c.n_b} runs" if c.n_a != c.n_b else f"{c.n_a} runs each"
    if c.ratio is None or c.low is None or c.high is None:
        return f"{c.a} vs {c.b}{what}: no look yet (needs 2 runs each)"
    if c.state == DIFFERENT:
        a_wins = c.better == c.a
        lose = c.b if a_wins else c.a
        # winner/loser − 1, then the advantage as a positive share as harness.report.figures.
        # verdict states it: winner/loser − 1 (higher is better) or 1 − winner/loser.
        r, lo, hi = (c.ratio, c.low, c.high) if a_wins else (
            1 / (1 + c.ratio) - 1, 1 / (1 + c.high) - 1, 1 / (1 + c.low) - 1)
        if not c.higher_is_better:
            r, lo, hi = -r, -hi, -lo
        return (f"{c.better} is {better_word} than {lose} by {_pct(r)} %{what} "
                f"({c.level}: {_pct(lo)}–{_pct(hi)} %; decided after {runs})")
    interval = f"{c.level}: {_signed(c.low)} … {_signed(c.high)} %"
    if c.state == EQUIVALENT:
        return (f"{c.a} and {c.b} are within {100 * min_effect:g} % of each other{what} "
                f"(difference {_signed(c.ratio)} %, {interval}; after {runs})")
    state = "undecided so far" if c.open else "undecided"
    why = f"; {c.reason}" if c.reason else ""
    return (f"{c.a} vs {c.b}{what}: {state} after {runs} (difference {_signed(c.ratio)} %, "
            f"{interval}{why})")
