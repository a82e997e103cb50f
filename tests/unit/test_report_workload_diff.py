"""harness/report/figures/workload_diff.py (with the recommendation, the verdicts and the
tables): the report shows what configurations train differently, reads each
configuration's own workload, and does not rank different work by throughput."""

import csv

from harness.report.figures.analysis import analyze_dir
from harness.report.figures.metrics import _setting
from harness.report.figures.workload_diff import shown, workload_diff
from harness.report.read.records import RunData, TaskData, resolved_workload
from harness.report.read.rundir import load_run
from harness.report.write.render import write_report
from tests.support.runfixtures import repeated_run

STEPS = {"b32": [0.100, 0.101, 0.099], "b64": [0.150, 0.152, 0.149]}


def test_different_batch_sizes_are_shown_and_not_ranked_by_throughput(tmp_path):
    root = repeated_run(tmp_path / "run", STEPS, workloads={"b64": {"batch_size": 64}})
    a = analyze_dir(root)
    assert a.workload.fields == ("batch_size",) and a.workload.work_fields == ("batch_size",)
    assert a.workload.text("b64") == "batch_size 64" and a.workload.text("b32@2") == "batch_size 32"
    r = a.recommendation
    assert r.basis == "none" and r.fastest.config is None and r.fastest.tie_break is None
    assert r.fastest.text.startswith("not ranked: no target set, and the configurations differ in batch_size, so "
                                     "images/s and $ per 10⁶ images compare different work")
    assert "set workload.target_accuracy" in r.fastest.text and r.cheapest_on_demand.config is None
    (v,) = a.verdicts   # the throughput verdict is still shown, saying what differs
    assert v.text.endswith("; different work: batch_size 32 vs 64")
    write_report(root, plots=False, fork=False)
    md = (root / "report.md").read_text()
    assert "| Configuration | Workload | Runs counted |" in md and "| b64 | batch_size 64 |" in md
    assert "| b64@1 | batch_size 64 | single |" in md   # the summary, one row per run
    assert "they differ in batch_size" in md
    rows = list(csv.DictReader(open(root / "results.csv")))
    assert [(x["config"], x["workload"]) for x in rows[:2]] == [("b32@1", "batch_size 32"), ("b64@1", "batch_size 64")]


def test_with_a_target_reached_different_work_is_ranked_by_time_to_target(tmp_path):
    a = analyze_dir(repeated_run(tmp_path / "run", STEPS, workloads={"b64": {"batch_size": 64}},
                                 target_accuracy=0.4))
    r = a.recommendation
    assert r.basis == "target" and r.fastest.config == "b32"   # shorter steps, same epoch: sooner at the target


def test_a_difference_that_keeps_the_work_still_ranks_by_throughput(tmp_path):
    a = analyze_dir(repeated_run(tmp_path / "run", STEPS, workloads={"b64": {"learning_rate": 0.5}}))
    assert a.workload.fields == ("learning_rate",) and a.workload.work_fields == ()
    assert a.recommendation.basis == "throughput" and a.recommendation.fastest.config == "b32"
    (v,) = a.verdicts
    assert v.text.endswith("; different workload: learning_rate 0.01 vs 0.5")


def test_the_same_workload_adds_nothing(tmp_path):
    a = analyze_dir(repeated_run(tmp_path / "run", STEPS))
    assert a.workload.fields == () and a.workload.text("b32") == "" and a.workload.note("b32", "b64") == ""
    assert "different" not in a.verdicts[0].text
    write_report(tmp_path / "run", plots=False, fork=False)
    assert "| Workload |" not in (tmp_path / "run" / "report.md").read_text()


def test_without_task_specs_the_configurations_resolved_workload_counts(tmp_path):
    resolved = {"experiment": {"workload": {"batch_size": 32, "warmup_steps": 5, "args": []},
                               "configurations": [{"name": "a", "workload": {}},
                                                  {"name": "b", "workload": {"warmup_steps": 2, "args": ["-x"]}}]}}
    assert resolved_workload(resolved, "b@3") == {"batch_size": 32, "warmup_steps": 2, "args": ["-x"]}
    assert resolved_workload(resolved, "a")["warmup_steps"] == 5 and resolved_workload(None, "a") == {}
    run = RunData(run_dir=tmp_path, resolved=resolved,
                  tasks=[TaskData(config="b@1", task_id="w", host="h"), TaskData(config="a@1", task_id="w", host="h")])
    assert _setting(run, run.tasks[0], "warmup_steps") == (2, "resolved.json")
    assert _setting(run, run.tasks[1], "warmup_steps") == (5, "resolved.json")
    run.control = [{"event": "config_start", "config": "a@1"}, {"event": "config_start", "config": "b@1"}]
    d = workload_diff(run)
    assert d.fields == ("args", "warmup_steps") and d.work_fields == ("args",)
    assert d.text("b") == 'args "-x", warmup_steps 2' and d.sources["b@1"] == "resolved.json"
    assert d.note("a@1", "b@1") == '; different work: args "" vs "-x", warmup_steps 5 vs 2'
    assert shown(0.1) == "0.1" and shown(None) == "n/a"


def test_a_run_directory_reads_its_configurations_specs(tmp_path):
    root = repeated_run(tmp_path / "run", STEPS, workloads={"b64": {"batch_size": 64}})
    d = workload_diff(load_run(root))
    assert d.values["b64@3"] == {"batch_size": 64} and d.sources["b64@3"].startswith("worker-0")


def test_per_instance_type_rows_of_different_work_get_no_per_image_verdict(tmp_path):
    from harness.report.figures.per_type import type_rows

    for workloads, verdicts in (({"b64": {"batch_size": 64}}, False), ({"b64": {"learning_rate": 0.5}}, True)):
        a = analyze_dir(repeated_run(tmp_path / str(verdicts), STEPS, workloads=workloads))
        for m in a.metrics:   # the same runs, as if each configuration ran on its own instance type
            m.instance_types = {h: ("c5.xlarge" if m.config.startswith("b32") else "c5.2xlarge") for h in m.hosts}
        rows = type_rows(a)
        assert {r.config for r in rows} == {n for n in (m.config for m in a.metrics)}
        assert any(r.speed_verdict for r in rows) is verdicts
        if not verdicts:
            assert rows[0].workload == "batch_size 32"
            assert {r.no_verdict for r in rows} == {"no per-image verdict: the rows differ in batch_size "
                                                    "(compare $ to target)"}
