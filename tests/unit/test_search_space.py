"""The space of a search (harness/search/space.py): points from the axes and the
inventory, type facts, configurations on disjoint hosts, one-line errors."""

import pytest

from harness.config.inventory import Inventory
from harness.config.search import SearchSpec
from harness.errors import ConfigError
from harness.prices import load_catalog
from harness.prices.facts import load_facts
from harness.search.space import assign, build, config_name

INV = Inventory.model_validate({"hosts": [
    *({"name": f"a{i}", "address": f"10.0.0.{i}", "instance_type": "c5.large", "labels": {"rate": "100mbit"}}
      for i in range(3)),
    *({"name": f"b{i}", "address": f"10.0.1.{i}", "instance_type": "c5.xlarge"} for i in range(5))]})


def spec(**kw):
    base = dict(instance_types=["c5.large", "c5.xlarge"], strategies=["single", "horovod", "parameter_server"],
                workers=[1, 2, 4])
    return SearchSpec(**{**base, **kw})


def test_points_follow_the_axes_and_the_inventory():
    s = build(spec(), INV, 32, load_facts(), load_catalog())
    keys = {p.key for p in s.points}
    assert "c5.large/single-1" in keys and "c5.xlarge/parameter_server-4" in keys
    assert "c5.large/horovod-4" not in keys and any("needs 4 hosts of c5.large" in x for x in s.skipped)
    assert "c5.large/horovod-1" not in keys     # distributed strategies take 2 or more workers
    assert s.types["c5.large"].link_bits_per_s == 100e6           # the inventory's rate label
    assert s.types["c5.xlarge"].link_bits_per_s == 10e9           # "Up to 10 Gigabit" (instance facts)
    assert s.prices == {"c5.large": 0.085, "c5.xlarge": 0.17} and s.capacity == {"c5.large": 3, "c5.xlarge": 5}


def test_a_wave_gets_disjoint_hosts_and_ps_on_hosts_of_their_own():
    s = build(spec(), INV, 32, load_facts(), load_catalog())
    ps = next(p for p in s.points if p.key == "c5.xlarge/parameter_server-2")
    hv = next(p for p in s.points if p.key == "c5.xlarge/horovod-2")
    a, b = assign([ps, hv], s.hosts)
    assert a == {"name": config_name(ps), "strategy": "parameter_server", "workers": 2, "ps": 1,
                 "hosts": ["b0", "b1", "b2"], "ps_hosts": ["b2"], "threads": {"intra_op": 1, "inter_op": 2, "omp": 1}}
    assert b["hosts"] == ["b3", "b4"]
    with pytest.raises(ValueError, match="not enough free hosts"):
        assign([ps, hv, hv], s.hosts)


def test_bad_spaces_are_one_line_errors_naming_the_field():
    with pytest.raises(ConfigError, match=r"search.instance_types: m5.large not in the inventory"):
        build(spec(instance_types=["m5.large"]), INV, 32, load_facts(), load_catalog())
    with pytest.raises(ValueError, match="unknown strategy 'ring'"):
        spec(strategies=["ring"])
    with pytest.raises(ValueError, match="needs target_images"):
        spec(goal="time_to_target")
    with pytest.raises(ValueError, match="extra"):
        spec(batch=3)


def test_a_batch_axis_makes_points_whose_configurations_override_the_batch():
    s = build(spec(strategies=["single"], workers=[1], threads=[1, 2], batch_sizes=[32, 64], goal="time_to_target",
                   target_images=1e5), INV, 32, load_facts(), load_catalog())
    keys = sorted(p.key for p in s.points if p.instance_type == "c5.large")
    assert keys == ["c5.large/single-1-t1-b32", "c5.large/single-1-t1-b64", "c5.large/single-1-t2-b32",
                    "c5.large/single-1-t2-b64"]
    p = next(p for p in s.points if p.key == "c5.large/single-1-t2-b64")
    (c,) = assign([p], s.hosts)
    assert c["workload"] == {"batch_size": 64} and c["name"] == "c5.large-single-1-t2-b64"
    one = build(spec(strategies=["single"], workers=[1], batch_sizes=[64]), INV, 32, load_facts(), load_catalog())
    assert {p.batch for p in one.points} == {64} and "workload" not in assign([one.points[0]], one.hosts)[0]
