"""The tables a study's rehearsal prints (`harness sandbox rehearse`): the run's summary,
cost per configuration, the per-instance-type table when the run compares types, and the
bill of the sequential and parallel schedules, as Markdown from the run directory alone."""

from __future__ import annotations

from pathlib import Path

from harness.prices import load_catalog
from harness.report.write import study_sections
from harness.report.figures.analysis import analyze_dir
from harness.report.write.blocks import Heading, Table, render_markdown
from harness.report.figures.cost import fmt_usd
from harness.report.figures.per_type import type_rows
from harness.report.write.render import _summary
from harness.report.figures.schedule_bill import run_schedule


def study_tables(run_dir: str | Path) -> str:
    catalog = load_catalog()
    a = analyze_dir(run_dir, catalog)
    cost = Table(["Configuration", "Hosts", "Rate on-demand", "Billed on-demand", "Billed spot", "To target on-demand"],
                 [[c.config, str(len(c.host_prices)), c.on_demand.rate.text or "n/a",
                   fmt_usd(c.on_demand.billed.usd), fmt_usd(c.spot.billed.usd),
                   fmt_usd(c.on_demand.to_target.usd)] for c in a.costs])
    blocks = [Heading(2, f"Study run {Path(run_dir).name}"), _summary(a.metrics), cost,
              *study_sections.per_type_blocks(type_rows(a)),
              *study_sections.schedule_blocks(run_schedule(a.run, catalog, a.bill))]
    return render_markdown(blocks)
