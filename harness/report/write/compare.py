"""`harness compare RUN_A RUN_B …`: configurations of several runs side by side (Markdown).

Rebuilt from each run's raw records (like `harness report`), without plots. Two tables: a
long one with one row per (configuration, run) and the deciding figures, and a pivot of
throughput per configuration with one column per run and its change against the first run
that has the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from harness.errors import UsageError
from harness.prices import Catalog, load_catalog
from harness.report.figures.analysis import RunAnalysis, analyze
from harness.report.write.blocks import NONE, Block, Heading, Para, Table, fmt_num, fmt_share, render_markdown
from harness.report.figures.cost import fmt_usd
from harness.report.figures.diagnose import rank
from harness.report.read.rundir import load_run
from harness.report.figures.verdict import compare


def run_label(a: RunAnalysis) -> str:
    return a.run.run_id or a.run.run_dir.name


def _labels(analyses: Sequence[RunAnalysis]) -> list[str]:
    """Run ids, made unique with the directory when two runs share one (copied runs)."""
    labels = [run_label(a) for a in analyses]
    return [f"{lab} ({a.run.run_dir})" if labels.count(lab) > 1 else lab
            for lab, a in zip(labels, analyses)]


def _throughput(m) -> str:
    if m.throughput_images_per_s is None:
        return NONE
    hw = m.throughput_ci95_half_width_images_per_s
    return fmt_num(m.throughput_images_per_s) + ("" if hw is None else f" ± {fmt_num(hw, 2)}")


def _to_target(m) -> str:
    if m.target_metric is None:
        return "no target"
    return "not reached" if m.time_to_target_s is None else fmt_num(m.time_to_target_s)


def compare_blocks(analyses: Sequence[RunAnalysis]) -> list[Block]:
    labels = _labels(analyses)
    order: list[str] = []  # configuration names in first-seen order across runs
    for a in analyses:
        order += [m.config for m in a.metrics if m.config not in order]

    long_rows = []
    for name in order:
        for label, a in zip(labels, analyses):
            for m, _u, c, sc in a.rows():
                if m.config != name:
                    continue
                types = ", ".join(sorted({hp.instance_type or "?" for hp in c.host_prices})) or NONE
                long_rows.append([
                    name, label, m.strategy or NONE, fmt_num(m.workers), types, m.status,
                    _throughput(m), fmt_num(m.step_time_mean_s), fmt_num(m.startup_s),
                    fmt_num(m.training_time_s), _to_target(m),
                    f"{fmt_usd(c.on_demand.per_million_images.usd)} / {fmt_usd(c.spot.per_million_images.usd)}",
                    f"{fmt_usd(c.on_demand.to_target.usd)} / {fmt_usd(c.spot.to_target.usd)}",
                    fmt_share(sc.efficiency),
                    ", ".join(f"{k.name}" + (f"@{k.host}" if k.host else "")
                              for k in rank(a.checks_of(name))) or NONE])

    # Per configuration (over its counted runs) and run: the throughput with its interval,
    # and the verdict against the first run that has it (harness/report/figures/verdict.py).
    configs: list[str] = []
    for a in analyses:
        configs += [g.config for g in a.groups if g.config not in configs]
    pivot_rows, verdict_rows = [], []
    for name in configs:
        row, ref = [name], None
        for label, a in zip(labels, analyses):
            g = next((x for x in a.groups if x.config == name), None)
            e = g.throughput if g else None
            if g is None:
                row.append("not in run")
                continue
            cell = NONE if e is None else (fmt_num(e.mean) + ("" if e.half_width is None else
                                                             f" ± {fmt_num(e.half_width, 2)}") + f" (n = {e.n})")
            if e is not None and e.mean > 0 and ref is not None:
                v = compare(f"{name} in {label}", e, f"{name} in {ref[0]}", ref[1], quantity="throughput",
                            min_effect=a.min_effect)
                cell += f" ({(e.mean / ref[1].mean - 1) * 100:+.1f} %)"
                verdict_rows.append([name, f"{label} vs {ref[0]}", v.text, v.method])
            if ref is None and e is not None and e.mean > 0:
                ref = (label, e)
            row.append(cell)
        pivot_rows.append(row)

    return [
        Heading(1, f"Comparison of {len(analyses)} run(s)"),
        Para("Runs: " + "; ".join(f"{lab}: {a.run.run_dir.name}, "
                                  f"{len(a.metrics)} configuration run(s), recommendation "
                                  f"{a.recommendation.cheapest_on_demand.config or 'no winner'} (cheapest "
                                  f"on-demand), {a.recommendation.fastest.config or 'no winner'} (fastest)"
                                  for lab, a in zip(labels, analyses))
             + ". Costs are on-demand / spot. Every figure is recomputed from each run's raw "
               "records (docs/metrics.md)."),
        Heading(2, "Throughput (images/s) per configuration and run"),
        Para("Mean over each run's counted repeats ± 95 % interval (n = repeats; with one repeat, "
             "the within-run interval). In brackets: change against the first run (left to right) "
             "that has the configuration; the verdicts below say whether it is beyond noise."),
        Table(["Configuration", *labels], pivot_rows),
        *([Heading(2, "Verdicts"), Table(["Configuration", "Runs", "Verdict", "Test"], verdict_rows)]
          if verdict_rows else []),
        Heading(2, "All figures"),
        Table(["Configuration", "Run", "Strategy", "Workers", "Instance types", "Status",
               "Throughput (images/s)", "Step time mean (s)", "Start-up (s)", "Training time (s)",
               "Time to target (s)", "$ per 10⁶ images", "$ to target", "Scaling efficiency",
               "Diagnoses"], long_rows),
    ]


def compare_runs(run_dirs: Sequence[str | Path], catalog: Optional[Catalog] = None) -> str:
    """The comparison as Markdown text; a missing run directory is a usage error."""
    if not run_dirs:
        raise UsageError("harness compare needs at least one run directory")
    missing = [str(d) for d in run_dirs if not (Path(d) / "control.jsonl").is_file()]
    if missing:
        raise UsageError(f"not a run directory (no control.jsonl): {', '.join(missing)}; "
                         f"pass runs/<run-id> directories")
    catalog = catalog or load_catalog()
    return render_markdown(compare_blocks([analyze(load_run(d), catalog) for d in run_dirs]))
