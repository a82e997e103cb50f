"""The new report files: results.csv columns, samples.csv, plots beside report.md, the HTML
embedding them, determinism, `harness compare`, and what the control side imports."""

import csv
import io
import re
import subprocess
import sys

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.report.write.compare import compare_runs
from harness.report.write.render import CSV_COLUMNS, REPORT_FILES, write_report
from tests.support.runfixtures import standard_run
from tests.support.gpu_runs import DAMAGED_SAMPLER_LINES, gpu_run


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    root = gpu_run(tmp_path_factory.mktemp("o") / "gpu")
    return root, write_report(root)


def _rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_results_csv_new_columns(gpu):
    root, _ = gpu
    rows = {r["config"]: r for r in _rows(root / "results.csv")}
    assert tuple(rows["single"].keys()) == CSV_COLUMNS
    s, h, o = rows["single"], rows["hvd2"], rows["odd"]
    # 0.526 x (4.28 - 1.0 first step) / 3600 and 0.2 x 10 / 3600, 10 significant digits
    assert float(s["cost_training_on_demand_usd"]) == pytest.approx(0.526 * 3.28 / 3600, rel=1e-9)
    assert float(s["cost_to_target_spot_usd"]) == pytest.approx(0.2 * 10 / 3600, rel=1e-9)
    assert (s["price_on_demand_usd_per_h"], s["price_spot_usd_per_h"], s["billed_wall_s"]) == ("0.526", "0.2", "11")
    assert s["util_gpu_mean_percent"] == "45" and s["model_flop_utilization"] == "0.01234567901"
    assert (h["scaling_baseline"], h["scaling_efficiency"]) == ("single", "0.72")
    assert h["instance_types"] == "g1=g4dn.xlarge;g2=g4dn.xlarge"
    # ranked by severity: low GPU and batch size on g2 35 %, input-bound 22.2 %, straggler 10 %
    assert h["diagnoses"] == "low GPU utilization@g2;batch size@g2;input-bound;straggler host@g2"
    # unknown price: empty cells, not zeros
    assert o["cost_training_on_demand_usd"] == "" and o["price_on_demand_usd_per_h"] == ""
    assert o["diagnoses"] == "memory pressure@g3"


def test_samples_csv_one_row_per_sample(gpu):
    root, _ = gpu
    rows = _rows(root / "samples.csv")
    # single 6 + hvd2 2 x 6 + odd 3
    assert len(rows) == 21
    assert list(rows[0])[:5] == ["config", "host", "t_wall", "t_mono", "in_training_window"]
    assert {"cpu0_percent", "cpu1_percent", "gpu0_util_percent", "gpu0_sm_clock_mhz",
            "tasks_rss_bytes"} <= set(rows[0])
    single = [r for r in rows if r["config"] == "single"]
    # window [1004.0, 1008.28]: 1001.5 and 1009.5 are outside
    assert [(r["t_wall"], r["in_training_window"]) for r in single] == [
        ("1001.5", "0"), ("1004.5", "1"), ("1005.5", "1"), ("1006.5", "1"), ("1007.5", "1"), ("1009.5", "0")]
    assert single[1]["gpu0_util_percent"] == "30" and single[1]["cpu_percent"] == "20"
    odd = [r for r in rows if r["config"] == "odd"]
    assert all(r["gpu0_util_percent"] == "" for r in odd)  # no GPU on that host: empty


def test_samples_csv_of_a_run_with_a_dead_host(tmp_path):
    root = standard_run(tmp_path / "run")
    write_report(root)
    rows = _rows(root / "samples.csv")
    assert [(r["config"], r["host"]) for r in rows].count(("two", "h2")) == 3  # torn 4th line skipped
    assert not any(r["config"] == "gone" for r in rows)


def test_markdown_references_the_png_files_and_html_embeds_them(gpu):
    root, paths = gpu
    md = (root / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\((plots/[^)]+\.png)\)", md)
    assert refs == ["plots/decision.png", "plots/throughput.png", "plots/scaling.png", "plots/cost.png",
                    "plots/step-time.png", "plots/type_target.png", "plots/utilization-single.png",
                    "plots/gpu-single.png", "plots/utilization-hvd2.png", "plots/gpu-hvd2.png",
                    "plots/utilization-odd.png"]
    assert sorted(str(p.relative_to(root)) for p in paths[len(REPORT_FILES):]) == sorted(refs)
    html = (root / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(refs)
    import base64
    assert [base64.b64decode(e) for e in embedded] == [(root / r).read_bytes() for r in refs]
    # the same tables in both
    assert html.count("<table>") == len(re.findall(r"^\|---", md, flags=re.M))
    for heading in ("## Recommendation", "## Cost (on-demand / spot)", "## Diagnoses",
                    "## Scaling, communication and model-FLOP utilization", "### Utilization"):
        assert heading in md


def test_markdown_tables_are_stable_and_plots_optional(tmp_path):
    root = gpu_run(tmp_path / "run")
    first = {p.name: p.read_bytes() for p in write_report(root)}
    again = {p.name: p.read_bytes() for p in write_report(root)}
    assert first == again  # tables, CSVs and (with the same matplotlib) the PNG bytes
    assert b"\x89PNG" == first["cost.png"][:4] and b"Software" not in first["cost.png"]
    paths = write_report(root, plots=False)
    assert [p.name for p in paths] == ["results.csv", "samples.csv", "report.md", "report.html", "samples.parquet"]
    assert not list((root / "plots").glob("*.png"))  # stale plots are removed
    md = (root / "report.md").read_text()
    assert "![" not in md and (root / "results.csv").read_bytes() == first["results.csv"]


def test_compare_runs_side_by_side(tmp_path, gpu, capsys):
    other = standard_run(tmp_path / "std")
    text = compare_runs([gpu[0], other])
    assert text.startswith("# Comparison of 2 run(s)\n")
    assert "| Configuration | gpu-run | run-1 |" in text
    assert "| single | 100 ± 0 (n = 2) | not in run |" in text
    assert ("| hvd2 | gpu-run | horovod | 2 | g4dn.xlarge | succeeded | 144 ± 0 | 0.45 | 5.2 | 6.4 | 8 | "
            "$2.03 / $0.6902 | $0.002338 / $0.0007951 | 72.0 % | low GPU utilization@g2, batch size@g2, input-bound, straggler host@g2 |") in text
    # the same run twice: the change is shown against the first
    twice = compare_runs([gpu[0], gpu[0]])
    assert "| single | 100 ± 0 (n = 2) | 100 ± 0 (n = 2) (+0.0 %) |" in twice
    # and a verdict says the change is no difference
    assert "## Verdicts" in twice and "are indistinguishable here in throughput (difference +0.0 %" in twice
    out = tmp_path / "cmp.md"
    assert main(["compare", str(gpu[0]), str(other), "--out", str(out)]) == 0
    assert out.read_text() == text and capsys.readouterr().out == text
    with pytest.raises(UsageError, match="not a run directory"):
        compare_runs([tmp_path / "nothing"])
    assert main(["compare", str(tmp_path / "nothing")]) != 0


def test_control_side_imports_neither_tensorflow_nor_matplotlib_until_plotting(gpu):
    code = ("import sys\n"
            "from harness.report.write.render import write_report\n"
            "from harness.report.write.compare import compare_runs\n"
            f"compare_runs([{str(gpu[0])!r}])\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported before plotting'\n"
            f"write_report({str(gpu[0])!r})\n"
            "assert 'tensorflow' not in sys.modules\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_damaged_sampler_records_never_stop_the_report(tmp_path):
    root = gpu_run(tmp_path / "run")
    samples = root / "hosts" / "g1" / "single" / "sampler" / "samples.jsonl"
    with open(samples, "a", encoding="utf-8") as fh:
        fh.write(DAMAGED_SAMPLER_LINES)
        fh.write('[1, 2]\n')
    paths = write_report(root)
    assert (root / "report.html").is_file() and len(paths) == 16  # 5 report files, 11 plots
    rows = {r["config"]: r for r in _rows(root / "results.csv")}
    # the unusable values are left out: CPU over the window is still 20 30 40 50 -> 35
    assert rows["single"]["util_cpu_mean_percent"] == "35"
    md = (root / "report.md").read_text()
    assert "g1: hosts/g1/single/sampler/samples.jsonl: last line (line 12) is incomplete" in md
