"""Turn a RunAnalysis into results.csv, samples.csv, report.md (+ plots/*.png) and
report.html.

The Markdown and HTML come from one list of blocks (blocks.py), so both always show the same
tables. Output depends only on the run's records: no clock, no absolute paths, stable
ordering, so rendering twice gives identical bytes (the PNGs too, see plots.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from harness.errors import UsageError
from harness.prices import load_catalog
from harness.report.write import study_sections
from harness.report.figures.per_type import type_rows
from harness.report.figures.schedule_bill import run_schedule
from harness.report.write import adaptive_sections, comm_sections, connection_sections, instance_sections, sections, warm_sections
from harness.report.figures.analysis import RunAnalysis, analyze
from harness.report.write.blocks import (  # noqa: F401  (fmt_* re-exported for callers and tests)
    NONE, PLOTS_DIR, Block, Bullets, Heading, Image, Para, Table, fmt_num, fmt_share,
    fmt_wall, render_html, render_markdown,
)
from harness.report.write import parquet_file
from harness.report.read.forked import Forked, patience
from harness.report.write.csvfiles import CSV_COLUMNS, render_results_csv, render_samples_csv, write_samples_csv  # noqa: F401
from harness.report.read.rundir import load_run
from harness.report.read.records import resolved_experiment
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.workload_diff import WorkloadDiff


def fmt_throughput(m: ConfigMetrics) -> str:
    if m.throughput_images_per_s is None:
        return NONE
    if m.throughput_ci95_half_width_images_per_s is None:
        return fmt_num(m.throughput_images_per_s)
    return f"{fmt_num(m.throughput_images_per_s)} ± {fmt_num(m.throughput_ci95_half_width_images_per_s, 2)}"


def fmt_time_to_target(m: ConfigMetrics) -> str:
    if m.target_metric is None:
        return "no target"
    if m.time_to_target_s is None:
        return "not reached"
    return f"{fmt_num(m.time_to_target_s)} (epoch {m.target_epoch})"


# --- report content (shared by Markdown and HTML) ----------------------------------------

STARTUP_PARTS = {
    "launch_s": "config_start → task_launch (control.jsonl)",
    "process_start_s": "task_launch → the worker's run_start record",
    "framework_import_s": "phase record framework_import",
    "data_ready_s": "phase record data_ready",
    "model_built_s": "phase record model_built",
    "first_step_s": "seconds of the first step record",
    "other_s": "total minus the parts above",
}

def _summary(metrics: Sequence[ConfigMetrics], diff: WorkloadDiff = WorkloadDiff()) -> Table:
    acc = any(m.final_val_accuracy is not None or m.final_train_accuracy is not None for m in metrics)
    rmse = any(m.final_val_rmse is not None or m.final_train_rmse is not None for m in metrics)
    differs = bool(diff.fields)
    headers = ["Configuration", *(["Workload"] * differs), "Strategy", "Workers", "Status",
               "Throughput (images/s, ± 95 %)",
               "Step time mean / p95 (s)", "Data wait", "Training time (s)", "Start-up (s)",
               "Final val loss"]
    headers += ["Final val accuracy"] * acc + ["Final val RMSE"] * rmse + ["Time to target (s)"]
    rows = []
    for m in metrics:
        row = [m.config, *([diff.text(m.config)] * differs), m.strategy or NONE, fmt_num(m.workers), m.status,
               fmt_throughput(m),
               f"{fmt_num(m.step_time_mean_s)} / {fmt_num(m.step_time_p95_s)}",
               fmt_share(m.data_wait_share), fmt_num(m.training_time_s), fmt_num(m.startup_s),
               fmt_num(m.final_val_loss)]
        row += [fmt_num(m.final_val_accuracy)] * acc + [fmt_num(m.final_val_rmse)] * rmse
        rows.append(row + [fmt_time_to_target(m)])
    return Table(headers, rows)


def _config_blocks(m: ConfigMetrics, extra: Sequence[Block] = (), diff: WorkloadDiff = WorkloadDiff()) -> list[Block]:
    out: list[Block] = [Heading(2, f"Configuration {m.config}")]
    reason = f" ({m.status_reason})" if m.status_reason else ""
    states = ", ".join(f"{k}: {v}" for k, v in m.task_states.items()) or NONE
    facts = [
        ("Strategy", m.strategy or NONE), ("Workers", fmt_num(m.workers)), ("PS", fmt_num(m.ps)),
        ("Hosts", ", ".join(f"{h} ({m.instance_types[h]})" if h in m.instance_types else h
                            for h in m.hosts) or NONE),
        *([("Workload (where configurations differ)", f"{diff.text(m.config)} (from {diff.sources.get(m.config)})")]
          if diff.fields else []),
        ("Status", m.status + reason), ("Task states", states),
        ("Throughput (images/s)", fmt_throughput(m)),
        ("Step time mean / median / p95 / sd (s)",
         " / ".join(fmt_num(x) for x in (m.step_time_mean_s, m.step_time_median_s,
                                         m.step_time_p95_s, m.step_time_sd_s))
         + f" (n = {m.step_time_n})"),
        ("Data-wait share", fmt_share(m.data_wait_share)),
        ("Training time (s)", fmt_num(m.training_time_s)),
        ("Start-up time (s)", fmt_num(m.startup_s)),
        ("Final epoch", fmt_num(m.final_epoch)),
        ("Final train / val loss", f"{fmt_num(m.final_train_loss)} / {fmt_num(m.final_val_loss)}"),
    ]
    if m.final_train_accuracy is not None or m.final_val_accuracy is not None:
        facts.append(("Final train / val accuracy",
                      f"{fmt_num(m.final_train_accuracy)} / {fmt_num(m.final_val_accuracy)}"))
    if m.final_train_rmse is not None or m.final_val_rmse is not None:
        facts.append(("Final train / val RMSE",
                      f"{fmt_num(m.final_train_rmse)} / {fmt_num(m.final_val_rmse)}"))
    target = NONE if m.target_metric is None else \
        f"{m.target_metric} {'>=' if m.target_metric == 'val_accuracy' else '<='} {fmt_num(m.target_value)}"
    facts += [("Target", target), ("Time to target (s)", fmt_time_to_target(m)),
              ("Images (all steps)", fmt_num(m.images_total, 12))]
    out.append(Table(["Figure", "Value"], facts))

    if m.startup:
        out.append(Heading(3, f"Start-up split (task {m.startup.task_id})"))
        out.append(Table(["Part", "Seconds", "Measured as"],
                         [[name, fmt_num(v), STARTUP_PARTS[name]] for name, v in m.startup.parts()]
                         + [["total_s", fmt_num(m.startup.total_s),
                             "config_start → end of the first step record"]]))

    if m.tasks:
        out.append(Heading(3, "Tasks"))
        out.append(Table(
            ["Task", "Host", "Role", "Rank", "State", "Exit code", "run_end", "Step records",
             "Kept after warm-up", "Images kept", "Throughput (images/s)", "Step time mean (s)"],
            [[t.task_id, t.host, t.role or NONE, fmt_num(t.rank), t.state, fmt_num(t.exit_code),
              t.run_end_status or NONE, str(t.step_records), str(t.kept_records),
              str(t.images_kept),
              NONE if t.throughput_images_per_s is None else
              (fmt_num(t.throughput_images_per_s) if t.throughput_ci95_half_width_images_per_s is None
               else f"{fmt_num(t.throughput_images_per_s)} ± "
                    f"{fmt_num(t.throughput_ci95_half_width_images_per_s, 2)}"),
              fmt_num(t.step_time_mean_s)] for t in m.tasks]))

    out.extend(extra)
    out.append(Heading(3, "How each figure was computed"))
    out.append(Bullets([
        f"Throughput: {m.throughput_method}", f"Step time: {m.step_time_method}",
        f"Data-wait share: {m.data_wait_method}", f"Training time: {m.training_time_method}",
        f"Start-up: {m.startup_method}", f"Final figures: {m.final_method}",
        f"Time to target: {m.time_to_target_method}", f"Images: {m.images_method}",
    ]))
    if m.problems:
        out.append(Heading(3, "Problems"))
        out.append(Bullets(m.problems))
    return out


def report_blocks(a: RunAnalysis, run_plots: Sequence[Image] = (),
                  config_plots: dict[str, list[Image]] | None = None,
                  decision: Image | None = None) -> list[Block]:
    run = a.run
    start = run.control_first("run_start") or {}
    end = run.control_first("run_end") or {}
    exp = start.get("experiment") or resolved_experiment(run.resolved).get("name") or NONE
    title = f"Benchmark report: {exp}, run {run.run_id or run.run_dir.name}"
    blocks: list[Block] = [
        Heading(1, title),
        Para(f"Started {fmt_wall(start.get('t_wall'))}, ended {fmt_wall(end.get('t_wall'))}, "
             f"status {end.get('status') or 'unknown (no run_end record)'}; harness "
             f"{start.get('harness_version') or NONE}. Every figure is computed from the raw "
             f"records in this run directory by the formulas in docs/metrics.md; "
             f"`harness report RUN_DIR` rebuilds this report."),
        Heading(2, "Verdict"),
        Para(a.recommendation.headline),
        *([decision] if decision else []),
        *sections.groups_blocks(a),
        *sections.recommendation_blocks(a),
        Heading(2, "Summary"),
        Para("One row per run (a configuration with repeats runs as config@1, config@2, …; "
             "config@warmup is a warm-up run). Throughput ± 95 % within that run: batch means "
             "over consecutive step records (n batches in each run's section)."),
        _summary(a.metrics, a.workload),
        *sections.bill_blocks(a),
        *instance_sections.instance_ledger_blocks(a),
        *sections.cost_summary_blocks(a),
        *study_sections.per_type_blocks(type_rows(a)),
        *study_sections.schedule_blocks(run_schedule(a.run, load_catalog(), a.bill)),
        *warm_sections.warm_blocks(a),
        *adaptive_sections.adaptive_blocks(a),
        *sections.scaling_summary_blocks(a),
        *comm_sections.communication_blocks(a),
        *sections.diagnosis_summary_blocks(a),
        *sections.interruption_blocks(a),
        *connection_sections.connection_blocks(run),
        *sections.instance_facts_blocks(
            run.run_dir, sorted({t for m in a.metrics for t in m.instance_types.values() if t})),
    ]
    if run_plots:
        blocks += [Heading(2, "Plots"), *run_plots]
    config_plots = config_plots or {}
    for m, u, c, sc in a.rows():
        extra = [*sections.utilization_blocks(u), *config_plots.get(m.config, []),
                 *sections.cost_blocks(c), *sections.scaling_blocks(sc),
                 *sections.check_blocks(a.checks_of(m.config))]
        blocks.extend(_config_blocks(m, extra, a.workload))
    if run.problems:
        blocks.append(Heading(2, "Run problems"))
        blocks.append(Bullets([str(p) for p in run.problems]))
    return blocks


# --- entry point -------------------------------------------------------------------------

RESULTS_CSV, SAMPLES_CSV, REPORT_MD, REPORT_HTML = "results.csv", "samples.csv", "report.md", "report.html"
REPORT_FILES = (RESULTS_CSV, SAMPLES_CSV, REPORT_MD, REPORT_HTML, parquet_file.FILE)


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def _child_half(a: RunAnalysis, run_dir: Path, plots: bool, parquet: bool) -> dict[str, list[Image]]:
    """samples.parquet and the per-configuration figures: what a forked child does while
    the parent draws the run's figures and formats samples.csv (about equal halves)."""
    if parquet:
        parquet_file.write_samples_parquet(a, run_dir / parquet_file.FILE)
    if not plots:
        return {}
    from harness.report.write import plots as plotting  # matplotlib only when plots are wanted

    return plotting.config_plots(a)


def write_report(run_dir: str | Path, *, plots: bool = True, fork: bool = True) -> list[Path]:
    """Load the raw records, compute every figure and (re)write the report files; returns
    REPORT_FILES in that order, then the plots written under plots/. With `fork` (and more
    than one core) samples.parquet and the per-configuration figures are made in a forked
    child meanwhile (forked.py): the same bytes, in about half the wall time on two cores."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory; pass a runs/<run-id> directory")
    a = analyze(load_run(run_dir))
    parquet = parquet_file.import_pyarrow()  # before the fork, like matplotlib: the child inherits both
    run_plots: list[Image] = []
    decision = None
    if plots:
        from harness.report.write import plots as plotting

        plotting.import_matplotlib()
    child = Forked(lambda: _child_half(a, run_dir, plots, parquet), enabled=fork)
    try:
        start = time.monotonic()
        if plots:
            run_plots, decision = plotting.run_plots(a), plotting.decision(a)
        write_samples_csv(a, run_dir / SAMPLES_CSV)
        config_plots = child.result(timeout=patience(time.monotonic() - start))
    finally:
        child.close()
    blocks = report_blocks(a, run_plots, config_plots, decision)
    for name, text in ((RESULTS_CSV, render_results_csv(a)), (REPORT_MD, render_markdown(blocks)),
                       (REPORT_HTML, render_html(blocks))):
        _write(run_dir / name, text)
    paths = [run_dir / name for name in REPORT_FILES if parquet or name != parquet_file.FILE]
    images = [*([decision] if decision else []), *run_plots, *(p for ps in config_plots.values() for p in ps)]
    plot_dir = run_dir / PLOTS_DIR
    if images:
        plot_dir.mkdir(exist_ok=True)
    wanted = {p.name for p in images}
    for old in sorted(plot_dir.glob("*.png")) if plot_dir.is_dir() else []:
        if old.name not in wanted:  # a plot of an earlier rendering that no longer applies
            old.unlink()
    paths += [_write(plot_dir / p.name, p.png) for p in images]
    return paths
