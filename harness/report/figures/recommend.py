"""Which configuration to use (pure): the fastest and the cheapest (on-demand and spot),
each named only when it beats every other configuration beyond noise (harness.report.
verdict); otherwise the report says which ones are indistinguishable and falls back to a
stated tie-break: lower on-demand $/h, then fewer hosts, then run order.

Goal: when a target accuracy/RMSE is set and at least one configuration reached it in
every counted run, fastest = shortest time to target, cheapest = lowest $ to reach it.
Otherwise configurations are ranked by steady-state throughput: fastest = most images/s,
cheapest = lowest $ per 10⁶ images — unless they differ in the work per image or step
(batch size, model, script args, optimizer: workload_diff.py), where throughput compares
different work and no ranking is made. Only counted runs (succeeded, not warm-up) count."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from harness.report.figures.cost import fmt_usd
from harness.report.figures.repeats import ConfigGroup
from harness.protocol.stats import Estimate
from harness.report.figures.verdict import DEFAULT_MIN_EFFECT, Verdict, compare

TIE_BREAK = "lower on-demand $/h, then fewer hosts, then run order"
NO_RUNS_HINT = "1 run each: no interval between runs (set repeats: 3 or --repeats 3 for one)"


@dataclass(frozen=True)
class Pick:
    config: Optional[str]  # the winner beyond noise; None when there is none
    text: str  # the verdict, or why there is no winner
    tie_break: Optional[str] = None  # without a winner: the tie-break's choice
    verdicts: tuple[Verdict, ...] = ()
    value: str = ""  # the winner's (or tie-break choice's) figure
    summary: str = ""  # one sentence for the report's opening line

    @property
    def choice(self) -> Optional[str]:
        return self.config or self.tie_break


@dataclass
class Recommendation:
    basis: str  # "target" or "throughput"
    basis_text: str
    cheapest_on_demand: Pick
    cheapest_spot: Pick
    fastest: Pick
    excluded: list[str] = field(default_factory=list)
    min_effect: float = DEFAULT_MIN_EFFECT

    @property
    def headline(self) -> str:
        """The one sentence a report opens with."""
        f, c = self.fastest, self.cheapest_on_demand
        fs = f.summary or f.text
        if f.config and c.config and f.config == c.config:
            return f"{fs}; it is also the cheapest on-demand."
        if not f.config and not c.config and f.tie_break and f.tie_break == c.tie_break:
            return f"{fs}. On-demand cost: no winner beyond noise either (same tie-break)."
        return f"{fs}. On-demand cost: {c.summary or c.text}."


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _interval(e: Estimate, unit: str, fmt=_fmt) -> str:
    hw = e.half_width
    return f"{fmt(e.mean)}{unit}" + ("" if hw is None else f" ± {fmt(hw)}{unit}") + f" (n = {e.n})"


def pick_best(cands: Sequence[tuple[ConfigGroup, Estimate]], *, higher_is_better: bool, better_word: str,
              quantity: str, min_effect: float, fmt: Callable[[Estimate], str]) -> Pick:
    """The best by mean; it wins only if its verdict against every other candidate is a
    difference. Otherwise the candidates indistinguishable from it go to the tie-break."""
    if not cands:
        return Pick(None, "no candidate")
    order = {id(g): i for i, (g, _) in enumerate(cands)}
    best_g, best = (max if higher_is_better else min)(cands, key=lambda p: p[1].mean)
    if len(cands) == 1:
        text = f"{best_g.config} is the only candidate ({fmt(best)})"
        return Pick(best_g.config, text, value=fmt(best), summary=text)
    verdicts = [compare(best_g.config, best, g.config, e, higher_is_better=higher_is_better,
                        better_word=better_word, quantity=quantity, min_effect=min_effect)
                for g, e in cands if g is not best_g]
    if all(v.differs for v in verdicts):
        closest = min(verdicts, key=lambda v: abs(v.relative))
        more = f" (and than the {len(verdicts) - 1} other(s))" if len(verdicts) > 1 else ""
        return Pick(best_g.config, closest.text + more, verdicts=tuple(verdicts), value=fmt(best),
                    summary=closest.text + more)
    tied = [best_g] + [g for (g, _), v in zip([c for c in cands if c[0] is not best_g], verdicts)
                       if not v.differs]
    tb = min(tied, key=lambda g: (g.usd_per_hour if g.usd_per_hour is not None else math.inf,
                                  g.hosts, order[id(g)]))
    same = "; ".join(v.text for v in verdicts if not v.differs)
    value = fmt(dict((g.config, e) for g, e in cands)[tb.config])
    undecided = [v for v in verdicts if not v.differs]
    if len(undecided) == 1 and undecided[0].kind != "no interval":
        summary = undecided[0].text
    elif all(v.kind == "no interval" for v in undecided):
        summary = (f"No verdict on {quantity} between {', '.join(g.config for g in tied)}: "
                   f"{NO_RUNS_HINT}")
    else:
        summary = f"{', '.join(g.config for g in tied)} are indistinguishable here in {quantity}"
    summary += f"; tie-break ({TIE_BREAK}): {tb.config}"
    return Pick(None, f"no winner beyond noise: {same}. Tie-break ({TIE_BREAK}): {tb.config}",
                tie_break=tb.config, verdicts=tuple(verdicts), value=value, summary=summary)


def recommend(groups: Sequence[ConfigGroup], min_effect: float = DEFAULT_MIN_EFFECT,
              work_fields: Sequence[str] = ()) -> Recommendation:
    """`work_fields`: the workload fields that change the work per image or step and differ
    between the configurations (WorkloadDiff.work_fields): then only a target ranks them."""
    excluded = [f"{g.config}: no counted run ({'; '.join(g.not_counted) or 'none'})"
                for g in groups if not g.counted]
    live = [g for g in groups if g.counted]
    targets_set = any(m.target_metric for g in groups for m in g.metrics)
    reached = [g for g in live if g.time_to_target is not None
               and all(m.time_to_target_s is not None for m in g.metrics)]
    kw = dict(min_effect=min_effect)
    if reached:
        basis_text = ("reached the target in every counted run: fastest by time to target, "
                      "cheapest by $ to reach it")
        fastest = pick_best([(g, g.time_to_target) for g in reached], higher_is_better=False,
                            better_word="faster", quantity="time to target",
                            fmt=lambda e: _interval(e, " s") + " to target", **kw)
        cheap = _cheapest(reached, lambda g: g.usd_to_target, "to target", "to reach the target", kw)
        return Recommendation("target", basis_text, cheap["on_demand"], cheap["spot"], fastest,
                              excluded, min_effect)
    why = ("no configuration reached the target in every counted run" if targets_set else "no target set")
    if work_fields:
        what = ", ".join(work_fields)
        refused = Pick(None, f"not ranked: {why}, and the configurations differ in {what}, so images/s and $ per "
                             f"10⁶ images compare different work (a bigger batch always wins them); the goal must "
                             f"be time or $ to a target" + ("" if targets_set else
                                                             " (set workload.target_accuracy or target_rmse)"))
        return Recommendation("none", f"{why}; the configurations differ in {what}: not ranked by throughput",
                              refused, refused, refused, excluded, min_effect)
    basis_text = (f"{why}; ranked by steady-state throughput: fastest by images/s, cheapest by $ per "
                  f"10⁶ images")
    measured = [g for g in live if g.throughput is not None]
    if not measured:
        none = Pick(None, "no counted run has a steady-state throughput" + ("" if live else " (none succeeded)"))
        return Recommendation("throughput", basis_text, none, none, none, excluded, min_effect)
    fastest = pick_best([(g, g.throughput) for g in measured], higher_is_better=True, better_word="faster",
                        quantity="throughput", fmt=lambda e: _interval(e, " images/s"), **kw)
    cheap = _cheapest(measured, lambda g: g.usd_per_million, "per 10⁶ images", "per 10⁶ images", kw)
    return Recommendation("throughput", basis_text, cheap["on_demand"], cheap["spot"], fastest,
                          excluded, min_effect)


def _cheapest(groups: Sequence[ConfigGroup], usd_of, quantity: str, per: str, kw: dict) -> dict[str, Pick]:
    """The cheapest configuration at each pricing (on-demand, spot) by the $ figure usd_of gives."""
    cheap = {}
    for pricing in ("on_demand", "spot"):
        name = pricing.replace("_", "-")
        cands = [(g, usd_of(g)[pricing]) for g in groups if usd_of(g).get(pricing)]
        cheap[pricing] = (pick_best(cands, higher_is_better=False, better_word="cheaper",
                                    quantity=f"{name} $ {quantity}", fmt=lambda e: _interval(e, "", fmt_usd) + f" {per}", **kw)
                          if cands else Pick(None, f"no configuration has a {name} price"))
    return cheap
