"""`repeats: auto` in real runs on this machine (local host), with an own script doing real
CPU work per image (experiments/scripts/cpu_work.py, no TensorFlow): a pair whose work per
image differs 2× names the lighter one and skips the rounds it no longer needs; an A/A pair
never names a winner; runs end early at their precision and the report says so."""

import json
from pathlib import Path

import pytest
import yaml

from harness.pipeline import run_experiment
from harness.protocol import layout
from harness.protocol.events import read_jsonl
from harness.report.figures.analysis import analyze_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "scripts" / "cpu_work.py"
HOSTS = {"hosts": [{"name": "local", "transport": "local", "instance_type": "c7i.large", "slots": 2}]}


def _run(tmp_path: Path, heavy: str, name: str):
    exp = {"name": name, "sample_interval_s": 0, "repeats": "auto",
           "workload": {"script": str(SCRIPT), "batch_size": 8, "warmup_steps": 5, "log_every": 5,
                        "env": {"STEPS": "1500"}},
           "configurations": [{"name": "a", "env": {"WORK_PER_IMAGE": "1"}},
                              {"name": "b", "env": {"WORK_PER_IMAGE": heavy}}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(HOSTS, sort_keys=False))
    res = run_experiment(str(tmp_path / "e.yaml"), str(tmp_path / "h.yaml"), runs_root=str(tmp_path / "runs"),
                         run_id=name)
    assert res.status == "succeeded", res.reason
    control = read_jsonl(res.run_dir / layout.CONTROL_FILE)[0]
    return res.run_dir, control, analyze_dir(res.run_dir)


def test_a_two_fold_pair_names_the_lighter_and_skips_what_it_does_not_need(tmp_path):
    run, control, a = _run(tmp_path, "2", "two-fold")
    fastest = a.recommendation.fastest
    print(f"verdict: {fastest.summary}; counted runs {[(g.config, g.n) for g in a.groups]}")
    assert fastest.config == "a", fastest.text
    looks = [r for r in control if r["event"] == "adaptive_look"]
    assert looks and looks[-1]["next_round"] == []
    skipped = [r["config"] for r in control if r["event"] == "config_skipped"]
    assert skipped and all(r.split("@")[1] not in ("1", "2") for r in skipped)   # rounds 1-2 always run
    started = [r["config"] for r in control if r["event"] == "config_start"]
    assert not set(skipped) & set(started)
    # runs end at their precision: the script's records say so, and so does the report
    early = [m for m in a.metrics if m.early_stop]
    assert early, [m.config for m in a.metrics]
    report = (run / "report.md").read_text()
    assert "## Adaptive repeats" in report and "The bill of deciding" in report
    assert "the last agrees with this replay" in report


def test_an_a_a_pair_never_names_a_winner(tmp_path):
    run, control, a = _run(tmp_path, "1", "a-a")
    fastest = a.recommendation.fastest
    print(f"verdict: {fastest.summary}")
    assert fastest.config is None and fastest.tie_break in ("a", "b")
    assert a.recommendation.cheapest_on_demand.config is None
    states = {c.state for cs in a.adaptive.outcome.comparisons.values() for c in cs}
    assert "different" not in states, json.dumps(sorted(states))
