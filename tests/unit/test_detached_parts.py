"""The pure parts of detached runs: the keepers' plan (steward, port, specs), control.jsonl
rebuilt from its append-only sources, the runs registry, and status's cost so far."""

import json
from pathlib import Path

from harness.config import Experiment, Inventory
from harness.prices import load_catalog
from harness.stages.control_merge import complete_lines, merge
from harness.stages.keeper_plan import KeeperOptions, keeper_port, keeper_specs, plan_hosts
from harness.stages.plan import build_plan
from harness.stages.registry import latest
from harness.stages.run_status import cost_so_far, run_state, summary


def _plan(parallel=False):
    inv = Inventory.model_validate({"hosts": [
        {"name": "a", "address": "10.0.0.1", "labels": {"private_address": "172.16.0.1"}, "instance_type": "c5.xlarge"},
        {"name": "b", "address": "10.0.0.2", "instance_type": "c5.xlarge"}]})
    exp = Experiment.model_validate({
        "name": "e", "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 1},
        "configurations": [{"name": "ps", "strategy": "parameter_server", "workers": 1, "ps": 1,
                            "hosts": ["a", "b"]},
                           {"name": "one", "strategy": "single", "hosts": ["b"]}],
        "sample_interval_s": 1.0})
    return build_plan(exp, inv, "r1", Path("/runs/r1"), parallel=parallel), inv, exp


def test_the_steward_is_the_first_host_and_the_port_follows_every_task_port_on_its_machine():
    plan, inv, exp = _plan()
    assert plan_hosts(plan)[0] == "a"
    used = [p for cp in plan.configs for t in cp.tasks if t.host == "a" for p in t.spec.get("ports") or []]
    assert used and keeper_port(plan, inv, exp.base_port) == max(used) + 1


def test_every_keeper_spec_holds_the_whole_run_and_its_own_host():
    plan, inv, exp = _plan()
    opts = KeeperOptions(lease_s=90, connection_grace_s=60, grace_s=10, keep_going=True, fail_fast=False)
    specs = keeper_specs(plan, inv, Path("/runs/r1"), opts, port=30000, token="t")
    assert set(specs) == {"a", "b"}
    a, b = specs["a"], specs["b"]
    assert a["steward"] == b["steward"] == "a" and a["steward_address"] == "172.16.0.1"   # the hosts' own address
    assert a["host"] == "a" and b["host"] == "b" and a["port"] == 30000 and a["token"] == "t"
    assert [c["name"] for c in a["configs"]] == [cp.name for cp in plan.configs] == [c["name"] for c in b["configs"]]
    assert a["keeper_dir"] == "/tmp/harness/runs/r1/.keeper/a"
    ps = a["configs"][0]
    assert {t["role"] for t in ps["tasks"]} >= {"sampler", "ps", "chief"}
    assert ps["start_record"]["hosts"] == list(plan.configs[0].hosts)
    assert set(ps["start_record"]["instance_types"].values()) == {"c5.xlarge"}
    assert a["keep_going"] is True and a["sweep_config_only"] is False and a["waves"] == [["ps"], ["one"]]
    json.dumps(a)   # it travels as keeper.json


def test_control_jsonl_is_prefix_then_keeper_records_with_each_runs_collection_after_its_end():
    prefix = '{"event": "run_start"}\n{"event": "connect"}\n'
    keeper = ('{"event": "config_start", "config": "a"}\n{"event": "config_end", "config": "a"}\n'
              '{"event": "config_start", "config": "b"}\n{"event": "config_end", "config": "b"}\n'
              '{"event": "run_end"}\n{"event": "torn')
    attach = '{"event": "collected", "config": "b"}\n{"event": "collected", "config": "a"}\n'
    events = [(r["event"], r.get("config")) for r in map(json.loads, merge(prefix, keeper, attach).splitlines())]
    assert events == [("run_start", None), ("connect", None), ("config_start", "a"), ("config_end", "a"),
                      ("collected", "a"), ("config_start", "b"), ("config_end", "b"), ("collected", "b"),
                      ("run_end", None)]
    assert complete_lines('{"a": 1}\n{"b"') == (['{"a": 1}'], 9)


def test_records_attach_wrote_for_a_dead_steward_come_last_in_their_order():
    keeper = '{"event": "config_start", "config": "a"}\n{"event": "keeper_error"}\n'
    attach = ('{"event": "config_end", "config": "a", "by": "attach"}\n{"event": "collected", "config": "a"}\n'
              '{"event": "run_end", "by": "attach"}\n')
    events = [r["event"] for r in map(json.loads, merge("", keeper, attach).splitlines())]
    assert events == ["config_start", "keeper_error", "config_end", "collected", "run_end"]


def test_the_registry_keeps_the_newest_line_of_each_run_and_when_it_was_first_noted():
    lines = [{"run_id": "r1", "state": "detached", "t_wall": 1.0, "run_dir": "/x/r1"},
             {"run_id": "r2", "state": "detached", "t_wall": 2.0},
             {"run_id": "r1", "state": "reported", "t_wall": 3.0, "status": "succeeded"},
             {"state": "junk"}]
    got = latest(lines)
    assert list(got) == ["r1", "r2"]
    assert got["r1"]["state"] == "reported" and got["r1"]["run_dir"] == "/x/r1" and got["r1"]["first_wall"] == 1.0


def test_cost_so_far_is_every_connected_host_from_its_connection_at_its_price():
    control = [{"event": "connect", "t_wall": 1000.0, "seconds": 10.0, "hosts": ["a", "b"]}]
    resolved = {"inventory": {"hosts": [{"name": "a", "price_per_hour": 3.6}, {"name": "b", "instance_type": "nope"}]}}
    c = cost_so_far(control, resolved, None, load_catalog(), end_wall=1990.0)
    assert c.usd is None and "b" in c.how and c.host_seconds == 2000.0
    resolved["inventory"]["hosts"][1] = {"name": "b", "price_per_hour": 1.8}
    c = cost_so_far(control, resolved, None, load_catalog(), end_wall=1990.0)
    assert abs(c.usd - (3.6 + 1.8) * 1000 / 3600) < 1e-9
    assert cost_so_far([], None, None, load_catalog(), 0.0).usd is None


def test_run_state_words():
    assert run_state(None, None, {"status": "failed"}) == "reported (failed)"
    assert run_state(None, None, None, "host a: timed out").startswith("steward unreachable")
    assert run_state({"alive": True}, {"phase": "running"}, None) == "running"
    assert run_state({"alive": False, "ready": False}, None, None).startswith("never started")
    assert "harness attach" in run_state({"alive": False}, {"phase": "ended", "run_end": {"status": "stopped"}}, None)
    state = {"configs": [{"name": "a", "phase": "watching", "tasks": [
        {"role": "worker", "last_step": {"event": "step", "step": 7, "images": 64, "seconds": 0.5}},
        {"role": "sampler"}]}]}
    line = summary("r1", "running", state, cost_so_far([], None, None, load_catalog(), 0.0))
    assert "config a" in line and "step 7" in line and "128 images/s" in line and "$?" in line
