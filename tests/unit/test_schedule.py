"""Repeats run interleaved (or in a seeded shuffle), every repeat in its own directories."""

from pathlib import Path

import pytest

from harness.config import load_experiment, load_inventory
from harness.stages.plan import build_plan
from harness.stages.schedule import schedule, split_unit_name

ROOT = Path(__file__).resolve().parents[2]


def names(units):
    return [u.name for u in units]


def test_one_run_each_keeps_the_configuration_names():
    assert names(schedule(["a", "b"], {}, 1)) == ["a", "b"]


def test_repeats_interleave():
    us = schedule(["a", "b"], {}, 3)
    assert names(us) == ["a@1", "b@1", "a@2", "b@2", "a@3", "b@3"]
    assert [u.config for u in us] == ["a", "b"] * 3 and all(u.counted for u in us)


def test_shuffled_rounds_are_seeded_and_complete():
    one = schedule(["a", "b", "c"], {}, 4, "shuffled", seed=3)
    assert one == schedule(["a", "b", "c"], {}, 4, "shuffled", seed=3)
    for r in range(4):
        assert sorted(u.config for u in one[3 * r:3 * r + 3]) == ["a", "b", "c"]
        assert {u.repeat for u in one[3 * r:3 * r + 3]} == {r + 1}
    orders = {tuple(u.config for u in schedule(["a", "b", "c"], {}, 4, "shuffled", seed=s)) for s in range(6)}
    assert len(orders) > 1


def test_warmup_run_once_per_host_not_counted():
    us = schedule(["a", "b", "c"], {"a": ["h1"], "b": ["h1", "h2"], "c": ["h2"]}, 2, warmup_run=True)
    assert names(us)[:2] == ["a@warmup", "b@warmup"]  # b warms h2; c's host is then warm
    assert [u.counted for u in us[:2]] == [False, False] and us[0].repeat == 0
    assert len(us) == 2 + 6
    assert split_unit_name("a@warmup") == ("a", 0) and split_unit_name("a-b@12") == ("a-b", 12)
    assert split_unit_name("plain") == ("plain", None)


def test_bad_arguments():
    with pytest.raises(ValueError):
        schedule(["a"], {}, 0)
    with pytest.raises(ValueError):
        schedule(["a"], {}, 2, "random")


def test_plan_records_the_order_and_gives_each_repeat_its_directories(tmp_path):
    exp = load_experiment(ROOT / "experiments" / "default.yaml").model_copy(
        update={"repeats": 2, "warmup_run": True, "order": "shuffled", "order_seed": 5})
    inv = load_inventory(ROOT / "hosts" / "local.yaml")
    plan = build_plan(exp, inv, "r1", tmp_path / "r1")
    units = plan.schedule["units"]
    assert units == [cp.name for cp in plan.configs] and plan.schedule["order"] == "shuffled"
    assert len(units) == 1 + 2 * len(exp.configurations)  # one host: one warm-up run
    dirs = set()
    for cp in plan.configs:
        assert cp.name.startswith(cp.config + "@")
        for t in cp.tasks:
            assert t.config == cp.name and f"/{cp.name}/" in t.task_dir
            dirs.add(t.task_dir)
            if t.role != "sampler":
                assert t.spec["repeat"] == cp.repeat and t.spec["config"] == cp.name
    assert len(dirs) == sum(len(cp.tasks) for cp in plan.configs)
    assert plan.to_json()["schedule"]["units"] == units
    assert build_plan(exp, inv, "r1", tmp_path / "r1") == plan
