"""Turn ConfigMetrics into results.csv, report.md and report.html.

The Markdown and HTML come from one list of blocks (headings, paragraphs, tables, lists),
so both always show the same tables. Output depends only on the run's records: no clock,
no absolute paths, stable ordering, so rendering twice gives identical bytes."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from harness.errors import UsageError
from harness.report.load import RunData, load_run, resolved_experiment
from harness.report.metrics import ConfigMetrics, compute_metrics

NONE = "—"


# --- document blocks ---------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


Block = Union[Heading, Para, Table, Bullets]


# --- number formatting -------------------------------------------------------------------

def fmt_num(x: Optional[float], digits: int = 4) -> str:
    """`digits` significant digits for humans; a plain integer once the value has more
    integer digits than that (so never an exponent like 1.235e+04)."""
    if x is None:
        return NONE
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)  # a hand-edited record may carry a string; show it as it is
    if abs(x) >= 10 ** digits - 0.5:  # .4g would round 9999.7 up to '1e+04'
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def fmt_share(x: Optional[float]) -> str:
    return NONE if x is None else f"{100 * x:.1f} %"


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


def fmt_wall(t: Any) -> str:
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return NONE
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- results.csv -------------------------------------------------------------------------

CSV_COLUMNS = (
    "config", "strategy", "workers", "ps", "hosts", "status", "tasks", "task_states",
    "throughput_images_per_s", "throughput_ci95_half_width_images_per_s",
    "step_time_n", "step_time_mean_s", "step_time_median_s", "step_time_p95_s", "step_time_sd_s",
    "data_wait_share", "training_time_s", "startup_s", "startup_launch_s",
    "startup_process_start_s", "startup_framework_import_s", "startup_data_ready_s",
    "startup_model_built_s", "startup_first_step_s", "startup_other_s",
    "final_epoch", "final_train_loss", "final_val_loss", "final_train_accuracy",
    "final_val_accuracy", "final_train_rmse", "final_val_rmse",
    "target_metric", "target_value", "time_to_target_s", "target_epoch",
    "images_total", "problems",
)


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return format(v, ".10g")  # enough digits to re-derive, no float noise
    return str(v)


def csv_row(m: ConfigMetrics) -> dict[str, str]:
    s = m.startup
    row: dict[str, Any] = {
        "config": m.config, "strategy": m.strategy, "workers": m.workers, "ps": m.ps,
        "hosts": ";".join(m.hosts), "status": m.status, "tasks": len(m.tasks),
        "task_states": ";".join(f"{k}={v}" for k, v in m.task_states.items()),
        "startup_s": m.startup_s, "problems": len(m.problems),
    }
    for part, value in (s.parts() if s else []):
        row[f"startup_{part}"] = value
    for col in CSV_COLUMNS:
        if col not in row and hasattr(m, col):
            row[col] = getattr(m, col)
    return {col: _csv_value(row.get(col)) for col in CSV_COLUMNS}


def render_csv(metrics: Sequence[ConfigMetrics]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for m in metrics:
        w.writerow(csv_row(m))
    return buf.getvalue()


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

def _summary(metrics: Sequence[ConfigMetrics]) -> Table:
    acc = any(m.final_val_accuracy is not None or m.final_train_accuracy is not None for m in metrics)
    rmse = any(m.final_val_rmse is not None or m.final_train_rmse is not None for m in metrics)
    headers = ["Configuration", "Strategy", "Workers", "Status", "Throughput (images/s, ± 95 %)",
               "Step time mean / p95 (s)", "Data wait", "Training time (s)", "Start-up (s)",
               "Final val loss"]
    headers += ["Final val accuracy"] * acc + ["Final val RMSE"] * rmse + ["Time to target (s)"]
    rows = []
    for m in metrics:
        row = [m.config, m.strategy or NONE, fmt_num(m.workers), m.status, fmt_throughput(m),
               f"{fmt_num(m.step_time_mean_s)} / {fmt_num(m.step_time_p95_s)}",
               fmt_share(m.data_wait_share), fmt_num(m.training_time_s), fmt_num(m.startup_s),
               fmt_num(m.final_val_loss)]
        row += [fmt_num(m.final_val_accuracy)] * acc + [fmt_num(m.final_val_rmse)] * rmse
        rows.append(row + [fmt_time_to_target(m)])
    return Table(headers, rows)


def _config_blocks(m: ConfigMetrics) -> list[Block]:
    out: list[Block] = [Heading(2, f"Configuration {m.config}")]
    reason = f" ({m.status_reason})" if m.status_reason else ""
    states = ", ".join(f"{k}: {v}" for k, v in m.task_states.items()) or NONE
    facts = [
        ("Strategy", m.strategy or NONE), ("Workers", fmt_num(m.workers)), ("PS", fmt_num(m.ps)),
        ("Hosts", ", ".join(f"{h} ({m.instance_types[h]})" if h in m.instance_types else h
                            for h in m.hosts) or NONE),
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


def report_blocks(run: RunData, metrics: Sequence[ConfigMetrics]) -> list[Block]:
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
        Heading(2, "Summary"),
        _summary(metrics),
    ]
    for m in metrics:
        blocks.extend(_config_blocks(m))
    if run.problems:
        blocks.append(Heading(2, "Run problems"))
        blocks.append(Bullets([str(p) for p in run.problems]))
    return blocks


# --- Markdown ----------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            parts.append("\n".join(lines))
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {_md_cell(i)}" for i in b.items))
    return "\n\n".join(parts) + "\n"


# --- HTML --------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 80em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
li { margin: 0.2em 0; }
""".strip()


def render_html(blocks: Sequence[Block]) -> str:
    e = html.escape
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "Report")
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Table):
            rows = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr>"]
            rows += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows]
            body.append("<table>\n" + "\n".join(rows) + "\n</table>")
        elif isinstance(b, Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{e(i)}</li>" for i in b.items) + "\n</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{e(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# --- entry point -------------------------------------------------------------------------

REPORT_FILES = ("results.csv", "report.md", "report.html")


def write_report(run_dir: str | Path) -> list[Path]:
    """Load the raw records, compute every figure and (re)write the report files."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory; pass a runs/<run-id> directory")
    run = load_run(run_dir)
    metrics = compute_metrics(run)
    blocks = report_blocks(run, metrics)
    texts = (render_csv(metrics), render_markdown(blocks), render_html(blocks))
    paths = []
    for name, text in zip(REPORT_FILES, texts):
        path = run_dir / name
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        paths.append(path)
    return paths
