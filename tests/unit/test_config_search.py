"""The search: section of an experiment (harness/config/search.py) through load_experiment:
errors name the field."""

import pytest
import yaml

from harness.config import load_experiment
from harness.errors import ConfigError

BASE = {"name": "s", "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 1},
        "search": {"instance_types": ["c5.large"], "strategies": ["single", "horovod"], "workers": [4, 1, 2, 2]}}


def load(tmp_path, **search):
    data = {**BASE, "search": {**BASE["search"], **search}}
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_experiment(p)


def test_a_search_section_stands_in_for_configurations(tmp_path):
    e = load(tmp_path)
    assert e.configurations == [] and e.search.workers == [1, 2, 4] and e.search.goal == "usd_per_1m_images"


@pytest.mark.parametrize("field, value, message", [
    ("workers", [0], "search.workers: worker counts must be between 1 and"),
    ("goal", "fastest", "search.goal: Input should be"),
    ("strategies", ["ring"], "search.strategies: unknown strategy 'ring'"),
    ("confidence", 1.5, "search.confidence"),
    ("batch_sizes", [0, 64], "search.batch_sizes: batch sizes must be between 1 and"),
])
def test_bad_fields_are_named(tmp_path, field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load(tmp_path, **{field: value})


def test_without_configurations_or_search_it_is_refused(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump({k: v for k, v in BASE.items() if k != "search"}))
    with pytest.raises(ConfigError, match="configurations: .*search: section"):
        load_experiment(p)


def test_a_batch_axis_needs_a_goal_to_a_target(tmp_path):
    with pytest.raises(ConfigError, match="usd_per_1m_images with batch_sizes: .*bigger batch always wins"):
        load(tmp_path, batch_sizes=[32, 64])


def test_a_batch_axis_needs_the_workloads_target_for_the_waves_reports(tmp_path):
    with pytest.raises(ConfigError, match="search.batch_sizes: .*set workload.target_accuracy"):
        load(tmp_path, batch_sizes=[32, 64], goal="time_to_target", target_images=1e5)
    data = {**BASE, "workload": {**BASE["workload"], "target_accuracy": 0.5},
            "search": {**BASE["search"], "batch_sizes": [64, 32, 64], "goal": "time_to_target", "target_images": 1e5}}
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(data))
    e = load_experiment(p)
    assert e.search.batch_sizes == [32, 64] and e.search.batch_axis


def test_one_batch_size_is_no_axis(tmp_path):
    e = load(tmp_path, batch_sizes=[64])
    assert e.search.batch_sizes == [64] and not e.search.batch_axis
