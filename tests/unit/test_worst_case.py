"""`harness run --dry-run`'s worst case (harness/stages/worst_case.py): every planned run to
its time limit on every connected host, and with repeats: auto every round to max_repeats."""

import yaml

from harness.pipeline import load_and_plan
from harness.prices import load_catalog
from harness.stages.options import RunOptions
from harness.stages.worst_case import describe, worst_case


def _plan(tmp_path, **extra):
    exp = {"name": "w", "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 16, "epochs": 1},
           "configurations": [{"name": "a"}, {"name": "b"}], "time_limit_s": 100, **extra}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(
        {"hosts": [{"name": "local", "transport": "local", "instance_type": "c5.xlarge"}]}))
    _, inv, plan = load_and_plan(RunOptions(str(tmp_path / "e.yaml"), str(tmp_path / "h.yaml")), "dry")
    return worst_case(plan, inv, load_catalog())


def test_auto_plans_every_round_and_says_the_fewest(tmp_path):
    w = _plan(tmp_path, repeats="auto", max_repeats=4)
    assert (w.runs, w.counted, w.fewest_counted) == (8, 8, 4)
    assert w.held_s == 800 and w.usd is not None and w.usd > 0
    text = describe(w)
    assert "8 run(s)" in text and "at least 2 counted runs each: 4" in text


def test_fixed_repeats_with_a_warm_up_run(tmp_path):
    w = _plan(tmp_path, repeats=3, warmup_run=True)
    assert (w.runs, w.counted, w.fewest_counted) == (7, 6, None) and w.held_s == 700
