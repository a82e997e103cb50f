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
    ("batch_sizes", [64], "search.batch_sizes"),
])
def test_bad_fields_are_named(tmp_path, field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load(tmp_path, **{field: value})


def test_without_configurations_or_search_it_is_refused(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump({k: v for k, v in BASE.items() if k != "search"}))
    with pytest.raises(ConfigError, match="configurations: .*search: section"):
        load_experiment(p)
