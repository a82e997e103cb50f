"""Is configuration X really faster (cheaper, more efficient) than Y? One pure function
answers every comparison the report makes, the same way (docs/metrics.md, "Verdicts").

The difference is relative: d = ln(mean_X / mean_Y), with standard error
sqrt((se_X/mean_X)² + (se_Y/mean_Y)²) (delta method) and Welch–Satterthwaite degrees of
freedom; its 95 % interval is exp(d ± t·se) − 1. A difference counts only when it is
significant (p < alpha) AND the whole interval lies beyond the noise floor (a minimum
effect, as criterion does with its noise threshold): an A/A comparison then almost never
names a winner. Without an interval on either side there is no verdict, only the
difference and the reason."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from harness.protocol.stats import Estimate, t_cdf, t975

# Measured on this kind of machine (2 shared cores): identical configurations run in
# turn differ by up to a few percent between repeats (docs/metrics.md). Differences
# smaller than this are called noise unless an experiment sets `min_effect`.
DEFAULT_MIN_EFFECT = 0.05
ALPHA = 0.05


@dataclass(frozen=True)
class Verdict:
    a: str  # the two names compared, in the order asked
    b: str
    kind: str  # "difference" | "indistinguishable" | "no interval"
    better: Optional[str]  # the winner; only when kind == "difference"
    relative: float  # mean_a / mean_b - 1
    low: Optional[float]  # 95 % interval of `relative`
    high: Optional[float]
    p_value: Optional[float]
    min_effect: float
    method: str
    text: str

    @property
    def differs(self) -> bool:
        return self.kind == "difference"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}" if abs(x) >= 0.095 else f"{100 * x:.1f}"


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + _pct(abs(x))


def compare(a_name: str, a: Estimate, b_name: str, b: Estimate, *, higher_is_better: bool = True,
            better_word: str = "faster", worse_word: str = "slower", quantity: str = "",
            min_effect: float = DEFAULT_MIN_EFFECT, alpha: float = ALPHA) -> Verdict:
    """The verdict on a against b. `better_word` reads "X is <better_word> by 12 %"; for a
    quantity where lower is better (seconds, dollars) pass higher_is_better=False."""
    if a.mean <= 0 or b.mean <= 0:
        raise ValueError("relative comparisons need positive means")
    rel = a.mean / b.mean - 1
    basis = (f"{a_name}: n = {a.n}, {a.method}; {b_name}: n = {b.n}, {b.method}")
    what = f" in {quantity}" if quantity else ""
    if a.se is None or b.se is None or a.df is None or b.df is None:
        missing = a_name if a.se is None or a.df is None else b_name
        text = (f"{a_name} vs {b_name}{what}: difference {_signed(rel)} %, no verdict "
                f"({missing} has no interval)")
        return Verdict(a_name, b_name, "no interval", None, rel, None, None, None, min_effect,
                       f"no interval ({basis})", text)
    ra, rb = a.se / a.mean, b.se / b.mean
    se = math.sqrt(ra ** 2 + rb ** 2)
    d = math.log(a.mean / b.mean)
    if se == 0:
        df, p = math.inf, (1.0 if d == 0 else 0.0)
        lo = hi = rel
    else:
        # Welch–Satterthwaite on the relative variances.
        df = se ** 4 / ((ra ** 4 / a.df if ra else 0.0) + (rb ** 4 / b.df if rb else 0.0))
        p = 2 * (1 - t_cdf(abs(d) / se, df))
        hw = t975(df) * se
        lo, hi = math.exp(d - hw) - 1, math.exp(d + hw) - 1
    method = (f"Welch t-test on ln(mean ratio), delta-method errors, df {df:.3g}, p = {p:.2g}; "
              f"counts when p < {alpha:g} and the whole 95 % interval is beyond the "
              f"{_pct(min_effect)} % noise floor ({basis})")
    # Beyond the floor on the ratio scale in both directions: above +f, or below 1/(1+f) - 1.
    below = 1 / (1 + min_effect) - 1
    beyond_up, beyond_down = lo > min_effect, hi < below
    interval = f"95 % interval {_signed(lo)} … {_signed(hi)} %"
    if p < alpha and (beyond_up or beyond_down):
        a_wins = beyond_up == higher_is_better
        win, lose = (a_name, b_name) if a_wins else (b_name, a_name)
        # The winner's advantage as a positive share: higher is better → winner/loser − 1;
        # lower is better (seconds, dollars) → 1 − winner/loser.
        inv = lambda x: 1 / (1 + x) - 1  # noqa: E731  a/b − 1 → b/a − 1
        if higher_is_better:
            w_rel, w_lo, w_hi = (rel, lo, hi) if a_wins else (inv(rel), inv(hi), inv(lo))
        else:
            w_rel, w_lo, w_hi = (-rel, -hi, -lo) if a_wins else (-inv(rel), -inv(lo), -inv(hi))
        text = (f"{win} is {better_word} than {lose} by {_pct(w_rel)} %{what} "
                f"(95 % interval {_pct(w_lo)}–{_pct(w_hi)} %)")
        return Verdict(a_name, b_name, "difference", win, rel, lo, hi, p, min_effect, method, text)
    why = ("not significant" if p >= alpha else
           f"significant, but not beyond the {_pct(min_effect)} % noise floor")
    text = (f"{a_name} and {b_name} are indistinguishable here{what} "
            f"(difference {_signed(rel)} %, {interval}; {why})")
    return Verdict(a_name, b_name, "indistinguishable", None, rel, lo, hi, p, min_effect, method, text)
