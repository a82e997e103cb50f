"""`harness search` end to end on this machine: a one-host space (thread settings of the
digits MLP, goal time to target), every trial a real run; then --resume with more budget."""

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main

pytestmark = [pytest.mark.slow]

EXPERIMENT = {
    "name": "search-e2e",
    "workload": {"model": "mlp", "dataset": {"name": "digits", "validation_split": 0.25}, "batch_size": 32,
                 "epochs": 1, "steps_per_epoch": 20, "learning_rate": 0.1, "optimizer": "momentum",
                 "warmup_steps": 3},
    "search": {"instance_types": ["c7i.large"], "strategies": ["single"], "workers": [1], "threads": [1, 2],
               "goal": "time_to_target", "target_images": 20000, "wave": 1},
    "time_limit_s": 300,
}
HOSTS = {"hosts": [{"name": "local", "transport": "local", "instance_type": "c7i.large", "slots": 2}]}


def test_a_local_search_ends_within_its_budget_and_resume_adds_budget(tmp_path, capsys):
    exp, hosts = tmp_path / "e.yaml", tmp_path / "h.yaml"
    exp.write_text(yaml.safe_dump(EXPERIMENT))
    hosts.write_text(yaml.safe_dump(HOSTS))
    budget = 0.02   # host-hours: 72 s, enough for the first trial, not for both
    rc = main(["search", "--hosts", str(hosts), "-e", str(exp), "--host-hours", str(budget),
               "--runs-dir", str(tmp_path / "runs"), "--search-id", "s"])
    assert rc == 0, capsys.readouterr().err
    d = tmp_path / "runs" / "s"
    state = json.loads((d / "search.json").read_text())
    used = sum(t["seconds"] for t in state["trials"]) / 3600
    assert state["trials"] and used <= budget * 1.5, used   # a trial may overrun its prediction
    first = {t["point"]["threads"] for t in state["trials"]}
    report = (d / "search.md").read_text()
    assert "## Recommendation" in report and (d / "space.png").is_file()
    for w in state["waves"]:   # each trial a normal run with its own report
        assert (Path(w["run"]) / "report.md").is_file()
    rc = main(["search", "--hosts", str(hosts), "-e", str(exp), "--host-hours", "0.1", "--resume", str(d)])
    assert rc == 0
    state = json.loads((d / "search.json").read_text())
    assert {t["point"]["threads"] for t in state["trials"]} >= first and state["budget"] == pytest.approx(0.12)
    assert "the search spent" in (d / "search.md").read_text()


def test_a_batch_size_axis_runs_each_point_with_its_own_batch(tmp_path, capsys):
    exp = {**EXPERIMENT, "name": "search-batch-e2e",
           "workload": {**EXPERIMENT["workload"], "target_accuracy": 0.5},
           "search": {**EXPERIMENT["search"], "threads": [1], "batch_sizes": [16, 32]}}
    e, hosts = tmp_path / "e.yaml", tmp_path / "h.yaml"
    e.write_text(yaml.safe_dump(exp))
    hosts.write_text(yaml.safe_dump(HOSTS))
    rc = main(["search", "--hosts", str(hosts), "-e", str(e), "--host-hours", "0.05",
               "--runs-dir", str(tmp_path / "runs"), "--search-id", "b"])
    assert rc == 0, capsys.readouterr().err
    d = tmp_path / "runs" / "b"
    state = json.loads((d / "search.json").read_text())
    assert {t["point"]["batch"] for t in state["trials"]} == {16, 32}   # 2 points: the whole space
    for w in state["waves"]:
        wave = yaml.safe_load((d / "waves" / f"{w['wave']}.yaml").read_text())
        for c in wave["configurations"]:   # the point's batch as the configuration's own workload
            assert c["workload"] == {"batch_size": int(c["name"].rsplit("-b", 1)[1])}
        assert (Path(w["run"]) / "report.md").is_file()
    assert "single-1-t1-b16" in (d / "search.md").read_text()
