"""The report's "Adaptive repeats" section (a run with `repeats: auto`): what the sequential
design decided per configuration and per comparison, the looks recorded during the run
beside the report's own replay of them, the runs it skipped or stopped early, and the bill
of deciding beside the fixed design's (harness/report/figures/deciding_bill.py)."""

from __future__ import annotations

from harness.report.figures.analysis import RunAnalysis
from harness.report.figures.deciding_bill import deciding_bill
from harness.report.write.blocks import NONE, Block, Bullets, Heading, Para, Table


def _usd(x) -> str:
    return NONE if x is None else f"${x:.4f}"


def adaptive_blocks(a: RunAnalysis) -> list[Block]:
    res = a.adaptive
    if res is None:
        return []
    d = res.outcome.design
    out: list[Block] = [
        Heading(2, "Adaptive repeats"),
        Para(f"repeats: auto, at most {d.max_repeats} counted runs per configuration, min_effect "
             f"{100 * d.min_effect:g} %. After each round every comparison the recommendation needs "
             f"({', '.join(b.name for b in res.bases)}) is looked at with a group-sequential test on the "
             f"log-ratio of the per-run values (α spent over the looks, so looking after every round keeps "
             f"the error rates: a false winner ≤ 2.5 %, docs/metrics.md \"Adaptive repeats\"). A "
             f"configuration runs again only while one of its comparisons is open; one beaten on every "
             f"quantity is dropped. Replayed here from the runs' records."),
        Table(["Configuration", "Counted runs", "State", "Why"],
              [[c.config, str(c.runs), c.state, c.why] for c in res.outcome.configs]),
        Bullets(res.texts()),
    ]
    looks = a.run.control_of("adaptive_look")
    if looks:
        last = looks[-1]
        states = {k: v for k, v in (last.get("states") or {}).items() if isinstance(v, dict)}
        recorded = {k: v.get("state") for k, v in states.items()}
        replayed = {c.config: c.state for c in res.outcome.configs}
        # The last look came before the last round when runs were counted after it (a run that
        # reaches max_repeats has no look after its final round): then it is not comparable.
        later = any(c.runs != states.get(c.config, {}).get("runs") for c in res.outcome.configs if c.config in states)
        if later:
            verdict = ("came before the final round (a round that reaches max_repeats has no look after it); "
                       "the replay above includes that round, so the two are not compared.")
        elif recorded == replayed or not recorded:
            verdict = "agrees with this replay."
        else:
            verdict = (f"differs from this replay: recorded {recorded}, replayed {replayed} (a run's records "
                       f"changed after the look, e.g. a late collection).")
        out.append(Para(f"{len(looks)} look(s) recorded during the run (control.jsonl `adaptive_look`); the last "
                        + verdict))
    skipped = a.run.skipped_runs()
    early = [m for m in a.metrics if m.early_stop]
    if skipped or early:
        out.append(Para(f"{len(skipped)} planned run(s) skipped as not needed"
                        + (f" ({', '.join(sorted(skipped))})" if skipped else "")
                        + f"; {len(early)} run(s) ended early at their precision"
                        + (": " + "; ".join(f"{m.config}: {m.early_stop}" for m in early) if early else "") + "."))
    bill = deciding_bill(a.run, a.bill, a.metrics)
    if bill is not None:
        rows = [[ln.label, f"{ln.host_seconds:.1f}", _usd(ln.usd)] for ln in bill.lines]
        rows += [[f"**{bill.total.label}**", f"{bill.total.host_seconds:.1f}", _usd(bill.total.usd)],
                 [bill.fixed.label, f"{bill.fixed.host_seconds:.1f}", _usd(bill.fixed.usd)]]
        ratio = bill.ratio
        out += [Heading(3, "The bill of deciding"),
                Table(["Part", "Host-seconds", "On-demand $"], rows),
                Para(f"Fixed design: {bill.fixed_method}."
                     + (f" This run cost {100 * ratio:.0f} % of it" + (" (at most: the estimate is a lower bound)"
                                                                       if bill.lower_bound else "") + "."
                        if ratio is not None else ""))]
    return out
