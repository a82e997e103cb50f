"""The recommendation of a run with `repeats: auto` (pure): named by the sequential
comparisons that decided when to stop (harness.report.figures.adaptive), not by the
fixed-sample verdicts — looking after every round and then testing as if the count had
been fixed would spend the error rate twice.

Per quantity (the bases of harness.report.figures.adaptive_run): a configuration is beaten
when a comparison decided another one better beyond the noise floor; the winner is the only
configuration left unbeaten. With several unbeaten, none is named: the report says which of
them are equivalent ("within min_effect of each other") or still undecided, and the tie-break
of harness.report.figures.recommend picks among them."""

from __future__ import annotations

import math
from typing import Optional, Sequence

from harness.report.figures.adaptive_run import TARGET, AdaptiveResult
from harness.report.figures.recommend import TIE_BREAK, Pick, Recommendation
from harness.report.figures.repeats import ConfigGroup
from harness.report.figures.sequential import DIFFERENT, describe

# Per basis name: the quantity's estimate over counted runs on a ConfigGroup, for the value shown.
_ESTIMATE = {
    "throughput": lambda g: g.throughput,
    "time to target": lambda g: g.time_to_target,
    "on-demand $ per 10⁶ images": lambda g: g.usd_per_million.get("on_demand"),
    "spot $ per 10⁶ images": lambda g: g.usd_per_million.get("spot"),
    "on-demand $ to target": lambda g: g.usd_to_target.get("on_demand"),
    "spot $ to target": lambda g: g.usd_to_target.get("spot"),
}


def _tie_break(names: Sequence[str], groups: dict[str, ConfigGroup], order: Sequence[str]) -> str:
    def key(c: str):
        g = groups.get(c)
        rate = g.usd_per_hour if g is not None and g.usd_per_hour is not None else math.inf
        return rate, g.hosts if g is not None else 0, list(order).index(c) if c in order else len(order)
    return min(names, key=key)


def _value(basis: str, g: Optional[ConfigGroup]) -> str:
    e = _ESTIMATE.get(basis, lambda g: None)(g) if g is not None else None
    if e is None:
        return ""
    hw = e.half_width
    return f"{e.mean:.4g}" + ("" if hw is None else f" ± {hw:.4g}") + f" (n = {e.n})"


def pick(result: AdaptiveResult, basis: str, groups: dict[str, ConfigGroup], min_effect: float) -> Pick:
    b = next((x for x in result.bases if x.name == basis), None)
    if b is None:
        return Pick(None, f"no configuration has a value of {basis}")
    comps = result.outcome.comparisons.get(basis, ())
    cands = [c for c in result.order if c in b.values]
    beaten = {(c.b if c.better == c.a else c.a) for c in comps if c.state == DIFFERENT}
    unbeaten = [c for c in cands if c not in beaten]
    word = b.better_word
    if len(cands) == 1:
        text = f"{cands[0]} is the only candidate in {basis}"
        return Pick(cands[0], text, value=_value(basis, groups.get(cands[0])), summary=text)
    if len(unbeaten) == 1:
        w = unbeaten[0]
        wins = [c for c in comps if c.state == DIFFERENT and c.better == w]
        closest = min(wins, key=lambda c: abs(c.ratio or 0)) if wins else None
        text = (describe(closest, basis, better_word=word, min_effect=min_effect) if closest else
                f"{w} is the only configuration no other beats in {basis}")
        others = len(cands) - 1 - (1 if closest else 0)
        if others > 0:
            text += f" (and the {others} other(s) are beaten beyond noise)"
        return Pick(w, text, value=_value(basis, groups.get(w)), summary=text)
    among = [c for c in comps if c.a in unbeaten and c.b in unbeaten]
    same = "; ".join(describe(c, basis, better_word=word, min_effect=min_effect) for c in among)
    tb = _tie_break(unbeaten, groups, result.order)
    summary = f"no winner beyond noise in {basis}: {same}"
    return Pick(None, f"{summary}. Tie-break ({TIE_BREAK}): {tb}", tie_break=tb,
                value=_value(basis, groups.get(tb)), summary=f"{summary}; tie-break ({TIE_BREAK}): {tb}")


def recommend_adaptive(result: AdaptiveResult, groups: Sequence[ConfigGroup], min_effect: float) -> Recommendation:
    by = {g.config: g for g in groups}
    excluded = [f"{g.config}: no counted run ({'; '.join(g.not_counted) or 'none'})" for g in groups if not g.counted]
    target = result.kind == TARGET
    fast = "time to target" if target else "throughput"
    cost = "$ to target" if target else "$ per 10⁶ images"
    basis_text = (f"repeats: auto — decided by the sequential comparisons (docs/metrics.md, "
                  f"\"Adaptive repeats\"): fastest by {fast}, cheapest by {cost}")
    return Recommendation("target" if target else "throughput", basis_text,
                          pick(result, f"on-demand {cost}", by, min_effect),
                          pick(result, f"spot {cost}", by, min_effect),
                          pick(result, fast, by, min_effect), excluded, min_effect)
