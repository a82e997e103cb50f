import csv
import io
import re
import shutil
from datetime import datetime

import pytest

from harness.errors import UsageError
from harness.report.write.render import CSV_COLUMNS, REPORT_FILES, fmt_num, write_report
from tests.support.fresh_process import run_fresh
from tests.support.runfixtures import WORKLOAD, RunDir, standard_run


@pytest.fixture
def run_dir(tmp_path):
    return standard_run(tmp_path / "run")


def _read(paths):
    return {p.name: p.read_bytes() for p in paths}


def test_writes_the_report_files_and_plots(run_dir):
    paths = write_report(run_dir)
    n = len(REPORT_FILES)
    assert [p.name for p in paths[:n]] == list(REPORT_FILES)
    assert all(p.parent == run_dir and p.stat().st_size > 0 for p in paths[:n])
    # then the plots, beside report.md under plots/
    assert {p.name for p in paths[n:]} >= {"throughput.png", "scaling.png", "cost.png", "step-time.png"}
    assert all(p.parent == run_dir / "plots" and p.read_bytes()[:4] == b"\x89PNG" for p in paths[n:])


def test_the_same_bytes_with_or_without_the_forked_child(run_dir, tmp_path):
    """The child (forked.py) makes samples.parquet and the per-configuration figures; in
    this process instead (one core, no fork) every file is the same. The forking report
    runs in a fresh single-threaded interpreter (this session may have threads)."""
    copy = tmp_path / "one-process"
    shutil.copytree(run_dir, copy)
    out = run_fresh(f"""
        import os
        from harness.report.read import forked
        from harness.report.read.rundir import load_run
        from harness.report.write.render import write_report
        load_run({str(run_dir)!r})  # the caches first (prewarm.py may fork for them)
        starts = []
        start = forked.Forked._start
        forked.Forked._start = lambda self: (starts.append(1), start(self))
        write_report({str(run_dir)!r})
        print(len(starts), os.cpu_count())
    """)
    forks, cores = map(int, out.split())
    assert forks == (1 if cores > 1 else 0)
    forked = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()
              and not p.name.endswith(".cache")}
    write_report(copy, fork=False)
    here = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()
            and not p.name.endswith(".cache")}
    assert here == forked


def test_rendering_is_deterministic_and_independent_of_location(run_dir, tmp_path):
    first = _read(write_report(run_dir))
    second = _read(write_report(run_dir))  # the report files now exist: they must not matter
    assert first == second  # PNGs included: no matplotlib version/date metadata in them
    copy = tmp_path / "elsewhere" / "copied-run"
    shutil.copytree(run_dir, copy)
    for name in REPORT_FILES:
        (copy / name).unlink()
    shutil.rmtree(copy / "plots")
    assert _read(write_report(copy)) == first
    # Only the run's own timestamps (1970 here), never the time of rendering. The price
    # catalog's date ("as of 2026-11") and the embedded PNGs are data, not the clock.
    text = first["report.md"].decode() + first["report.html"].decode()
    text = re.sub(r"as of \d{4}-\d{2}|data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert str(datetime.now().year) not in text
    assert "1970-01-01 00:01:39 UTC" in text


def test_csv_one_row_per_config_with_units(run_dir):
    write_report(run_dir)
    rows = list(csv.DictReader(io.StringIO((run_dir / "results.csv").read_text())))
    assert [r["config"] for r in rows] == ["one", "two", "gone"]
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    # every measured quantity names its unit (or is a count/share/label)
    for col in CSV_COLUMNS:
        assert re.search(r"(_s|_images_per_s|_share|_n|_loss|_accuracy|_rmse|_value|_epoch|_total"
                         r"|_percent|_bytes|_bytes_per_s|_usd|_usd_per_h)$", col) \
            or col in ("config", "strategy", "workers", "ps", "hosts", "status", "tasks",
                       "task_states", "target_metric", "problems", "instance_types", "workload",
                       "scaling_baseline", "scaling_efficiency", "model_flop_utilization",
                       "diagnoses"), col
    one, two, gone = rows
    assert float(one["throughput_images_per_s"]) == pytest.approx(80.0)
    assert float(one["throughput_ci95_half_width_images_per_s"]) == pytest.approx(127.0620, abs=1e-4)
    assert float(one["startup_s"]) == pytest.approx(8.5)
    assert float(one["startup_process_start_s"]) == pytest.approx(1.5)
    assert float(one["time_to_target_s"]) == pytest.approx(12.3)
    assert float(two["throughput_images_per_s"]) == pytest.approx(234.6666667)
    assert two["task_states"] == "lost=1;succeeded=1" and two["hosts"] == "h1;h2"
    assert two["time_to_target_s"] == "" and two["problems"] == "3"
    assert gone["throughput_images_per_s"] == "" and gone["images_total"] == "0"


def test_markdown_has_summary_details_methods_and_problems(run_dir):
    write_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert md.startswith("# Benchmark report: exp, run run-1\n")
    assert "| one | single | 1 | succeeded | 80 ± 127 | 0.4 / 0.485 | 10.7 % | 6.8 | 8.5 | 0.9 | 0.65 | 12.3 (epoch 2) |" in md
    assert "| two | horovod | 2 | failed | 234.7 |" in md
    assert "### Start-up split (task w1)" in md
    assert "| process_start_s | 1.1 | task_launch → the worker's run_start record |" in md
    assert "- Time to target: not reached: best val_accuracy 0.45 in 2 epoch(s) (target >= 0.5)" in md
    assert "- hosts/h2/two/w1/events.jsonl: last line (line 11) is incomplete" in md
    assert "- hosts/h3/gone/w0: task directory is missing" in md


def test_html_is_self_contained_and_escaped(tmp_path):
    r = RunDir(tmp_path)
    r.resolved(WORKLOAD, [])
    r.control("run_start", 1.0, run_id="r<1>", experiment="a<b>&c", harness_version="0.1.0")
    r.control("config_start", 2.0, config="c", strategy="single", workers=1, ps=0,
              hosts=["h1"], instance_types={})
    r.control("config_end", 3.0, config="c", status="failed",
              reason='<script>alert("x")</script> | pipe')
    write_report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<title>Benchmark report: a&lt;b&gt;&amp;c, run r&lt;1&gt;</title>" in page
    # nothing fetched from anywhere: the only src= are embedded PNG data URIs
    assert not re.search(r"href=|https?://|@import|src=\"(?!data:image/png;base64,)", page)
    md = (tmp_path / "report.md").read_text()
    assert "\\| pipe" in md  # a pipe inside a cell does not split the Markdown table


def test_missing_run_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such run directory"):
        write_report(tmp_path / "missing")


def test_number_format():
    assert [fmt_num(x) for x in (None, 0.0, 80.0, 234.6667, 0.08164966, 12345.6, 9999.7, 3, "n/a")] == \
        ["—", "0", "80", "234.7", "0.08165", "12346", "10000", "3", "n/a"]
