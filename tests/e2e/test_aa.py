"""A/A on this machine, end to end: two IDENTICAL configurations, 3 repeats each,
interleaved after a warm-up run, real TensorFlow training. The report must call them
indistinguishable and name no winner (docs/metrics.md, Verdicts). Kept tiny for CI
(2 cores): an MLP on the bundled digits, one short epoch per run."""

import json

import pytest

from harness.cli import main
from harness.report.figures.analysis import analyze_dir

EXPERIMENT = """
name: aa
workload:
  model: mlp
  dataset: {name: digits, validation_split: 0.25}
  batch_size: 32
  epochs: 1
  steps_per_epoch: 30
  learning_rate: 0.1
  optimizer: momentum
  warmup_steps: 5
configurations:
  - name: a
    threads: {intra_op: 1, inter_op: 1, omp: 1}
  - name: b
    threads: {intra_op: 1, inter_op: 1, omp: 1}
repeats: 3
warmup_run: true
"""
HOSTS = """
hosts:
  - {name: local, transport: local, instance_type: c7i.large, slots: 2}
"""


@pytest.mark.slow  # trains with TensorFlow, twice per configuration
def test_identical_configurations_are_indistinguishable(tmp_path, capsys):
    (tmp_path / "e.yaml").write_text(EXPERIMENT)
    (tmp_path / "h.yaml").write_text(HOSTS)
    rc = main(["run", "-e", str(tmp_path / "e.yaml"), "--hosts", str(tmp_path / "h.yaml"),
               "--runs-dir", str(tmp_path / "runs"), "--run-id", "aa"])
    assert rc == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "aa"
    plan = json.loads((run / "plan.json").read_text())
    assert plan["schedule"]["units"] == ["a@warmup", "a@1", "b@1", "a@2", "b@2", "a@3", "b@3"]
    for unit in plan["schedule"]["units"]:  # every repeat's raw files are kept
        assert (run / "hosts" / "local" / unit / "worker-0" / "events.jsonl").is_file()
    a = analyze_dir(run)
    ga, gb = a.groups
    assert (ga.n, gb.n) == (3, 3) and ga.not_counted == ["a@warmup: warm-up run (kept, not counted)"]
    (v,) = a.verdicts
    figures = (f"A/A: a {ga.throughput.mean:.1f} ± {ga.throughput.half_width:.1f} images/s "
               f"(CV {100 * ga.throughput_cv:.1f} %), b {gb.throughput.mean:.1f} ± "
               f"{gb.throughput.half_width:.1f} (CV {100 * gb.throughput_cv:.1f} %); {v.text}; p = {v.p_value:.2g}")
    print(figures)
    assert not v.differs, figures
    assert v.text.startswith("a and b are indistinguishable here"), figures
    r = a.recommendation
    assert r.fastest.config is None and r.cheapest_on_demand.config is None, r.headline
    md = (run / "report.md").read_text()
    assert "indistinguishable" in md.split("## Verdict", 1)[1].split("##", 1)[0]
