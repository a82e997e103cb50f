"""The repeat design's fields (harness/config/repeats.py): repeats: auto with max_repeats,
the early stop's precision in effect, and their one-line refusals."""

import pytest
import yaml

from harness.config.experiment import load_experiment
from harness.errors import ConfigError

BASE = {"name": "r", "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 16, "epochs": 1},
        "configurations": [{"name": "a"}, {"name": "b"}]}


def _load(tmp_path, **extra):
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump({**BASE, **extra}))
    return load_experiment(p)


def test_auto_plans_max_repeats_rounds_and_stops_runs_at_two_percent(tmp_path):
    exp = _load(tmp_path, repeats="auto", max_repeats=4)
    assert exp.adaptive and exp.rounds == 4 and exp.stop_precision == 0.02
    fixed = _load(tmp_path, repeats=3)
    assert not fixed.adaptive and fixed.rounds == 3 and fixed.stop_precision == 0.0
    assert _load(tmp_path, repeats="auto", precision=0).stop_precision == 0.0
    assert _load(tmp_path, repeats=2, precision=0.05).stop_precision == 0.05


def test_a_target_turns_the_automatic_early_stop_off(tmp_path):
    work = {**BASE["workload"], "target_accuracy": 0.9}
    assert _load(tmp_path, repeats="auto", workload=work).stop_precision == 0.0


@pytest.mark.parametrize("extra, words", [
    ({"repeats": 3, "max_repeats": 5}, "max_repeats is the bound of repeats: auto"),
    ({"repeats": "auto", "precision": 0.02, "workload": {**BASE["workload"], "target_accuracy": 0.9}},
     "precision ends a run"),
    ({"repeats": "sometimes"}, "repeats"),
    ({"repeats": "auto", "max_repeats": 1}, "max_repeats"),
])
def test_bad_combinations_are_one_line_errors(tmp_path, extra, words):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, **extra)
    assert words in str(e.value) and "e.yaml" in str(e.value)
