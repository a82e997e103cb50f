"""harness.aws.lifecycle: targets from an inventory, the cost estimate, the confirmation,
and start/stop with waiters against moto's server."""

import io

import pytest

from harness.aws.lifecycle import (
    Target, catalog_lookup, confirm, estimate_cost, live_lookup, run_action, targets_from_hosts,
)
from harness.aws.session import AwsSettings
from harness.config.inventory import Inventory
from harness.errors import HarnessError, UsageError
from harness.prices import load_catalog
from tests.support.aws_fixtures import aws_env, boto_client, moto_server, run_instance  # noqa: F401


def _state(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def _inventory(ids_types):
    return Inventory.model_validate({"hosts": [
        {"name": f"h{i}", "address": "203.0.113.9", "instance_type": t,
         "labels": {"instance_id": iid, "region": "us-east-1", "lifecycle": "on-demand"}}
        for i, (iid, t) in enumerate(ids_types)] + [{"name": "plain", "address": "198.51.100.1"}]})


def test_targets_estimate_and_lookups():
    inv = _inventory([("i-1", "g4dn.xlarge"), ("i-2", "c5.xlarge")])
    targets, notes = targets_from_hosts(inv.hosts)
    assert [t.instance_id for t in targets] == ["i-1", "i-2"]
    assert notes == ["host plain: no labels.instance_id; not an EC2 instance the harness knows, skipped"]
    assert [t.host for t in targets_from_hosts(inv.hosts, ["h1"])[0]] == ["h1"]
    assert [t.host for t in targets_from_hosts([h.model_dump() for h in inv.hosts], ["instance_id=i-1"])[0]] == ["h0"]

    lookup = live_lookup({"on_demand": {"g4dn.xlarge": 0.5}, "as_of": "2026-11-22"}, catalog_lookup(load_catalog()))
    est = estimate_cost(targets, 2.0, lookup)
    c5 = load_catalog().get("c5.xlarge").on_demand_usd_per_hour
    assert est.usd == pytest.approx(2 * (0.5 + c5)) and est.usd_per_hour == pytest.approx(0.5 + c5)
    assert "$0.5/h × 2 h = $1.00 [live price list, as of 2026-11-22]" in est.lines[0]
    assert "catalog catalog-us-east-1.csv" in est.lines[1]
    spot = estimate_cost([Target("s", "i-3", "zz.unknown", None, "spot"),
                          Target("t", "i-4", "g4dn.xlarge", None, "spot")], 1, lookup)
    assert est.usd is not None and spot.usd is None and "price unknown" in spot.lines[0]
    assert "spot: billed at the spot price, at most this" in spot.lines[1]


def test_confirm():
    assert confirm("start?", True, interactive=False)
    assert confirm("start?", False, input_fn=lambda q: "y", interactive=True)
    assert not confirm("start?", False, input_fn=lambda q: "", interactive=True)
    with pytest.raises(UsageError, match="pass --yes"):
        confirm("start 2 instance(s)?", False, interactive=False)


def test_stop_then_start_against_moto(aws_env):
    ec2 = boto_client("ec2", aws_env)
    g = run_instance(ec2, "g4dn.xlarge", {"Project": "exp1"})[0]
    c = run_instance(ec2, "c5.xlarge", {"Project": "exp1"})[0]
    inv = _inventory([(g, "g4dn.xlarge"), (c, "c5.xlarge")])
    settings = AwsSettings(region="us-east-1")
    lookup = catalog_lookup(load_catalog())

    out = io.StringIO()
    assert run_action("stop", inv.hosts, settings, lookup=lookup, input_fn=lambda q: "no", interactive=True,
                      out=out) == {}
    assert "nothing done" in out.getvalue() and _state(ec2, g) == "running"

    out = io.StringIO()
    states = run_action("stop", inv.hosts, settings, lookup=lookup, yes=True, out=out, waiter_delay_s=0.2)
    assert states == {g: "stopped", c: "stopped"}
    assert _state(ec2, g) == _state(ec2, c) == "stopped"
    assert "stopping 2 instance(s); saves" in out.getvalue()

    out = io.StringIO()
    asked = []
    states = run_action("start", inv.hosts, settings, lookup=lookup, hours=3, select=["h0"], out=out,
                        input_fn=lambda q: asked.append(q) or "y", interactive=True, waiter_delay_s=0.2)
    assert states == {g: "running"} and _state(ec2, c) == "stopped"
    text = out.getvalue()
    assert asked == ["start 1 instance(s)? [y/N] "]
    assert "estimated cost for 3 h" in text and "total ≈ $" in text and "run `harness hosts discover` again" in text


def test_errors_name_the_instance_and_region(aws_env):
    inv = _inventory([("i-0123456789abcdef0", "c5.xlarge")])
    with pytest.raises(HarnessError, match=r"EC2 start_instances in us-east-1: StartInstances: InvalidInstanceID"):
        run_action("start", inv.hosts, AwsSettings(region="us-east-1"), lookup=lambda t: (None, ""), yes=True,
                   out=io.StringIO())
    with pytest.raises(HarnessError, match="no host of the inventory has labels.instance_id"):
        run_action("stop", inv.hosts[1:], AwsSettings(), lookup=lambda t: (None, ""), yes=True, out=io.StringIO())
