"""The whole run's bill, recomputed independently from control.jsonl, and its split."""

import json

import pytest

from harness.prices import load_catalog
from harness.report.figures.analysis import analyze_dir
from tests.support.runfixtures import repeated_run


def _control(root):
    return [json.loads(line) for line in open(root / "control.jsonl")]


def test_bill_equals_hosts_times_price_times_held_seconds(tmp_path):
    root = repeated_run(tmp_path / "run", {"a": [0.1, 0.1], "b": [0.2, 0.2]})
    a = analyze_dir(root)
    # Independently: held from connect t_wall − seconds to the last `collected` t_wall.
    ctl = _control(root)
    conn = next(r for r in ctl if r["event"] == "connect")
    last = max(r["t_wall"] for r in ctl if r["event"] == "collected")
    price = load_catalog().get("c5.xlarge").on_demand_usd_per_hour
    expected = 1 * price * (last - (conn["t_wall"] - conn["seconds"])) / 3600
    assert a.bill.on_demand_usd == pytest.approx(expected, abs=1e-6)
    # The parts add up to the bill: four runs, no idle host (one host), the rest overhead.
    labels = [p.label for p in a.bill.parts]
    assert labels == ["a@1", "b@1", "a@2", "b@2", "idle while other configurations ran",
                      "harness set-up, collection and gaps"]
    assert sum(p.on_demand_usd for p in a.bill.parts) == pytest.approx(a.bill.on_demand_usd, abs=1e-12)
    assert a.bill.part("idle while other configurations ran").host_seconds == 0
    spans = {r["config"]: r["t_wall"] for r in ctl if r["event"] == "config_start"}
    ends = {r["config"]: r["t_wall"] for r in ctl if r["event"] == "config_end"}
    overhead = (last - conn["t_wall"] + conn["seconds"]) - sum(ends[c] - spans[c] for c in spans)
    assert a.bill.part("harness set-up, collection and gaps").host_seconds == pytest.approx(overhead)


def test_idle_hosts_and_the_sixty_second_minimum(tmp_path):
    root = repeated_run(tmp_path / "run", {"a": [0.1], "b": [0.1]})
    # A second host held for the whole run but used by no configuration: all of its
    # time while runs go on is idle; the harness started it, so at least 60 s.
    ctl = _control(root)
    for r in ctl:
        if r["event"] == "connect":
            r["hosts"] = ["h1", "h2"]
    (root / "control.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ctl))
    doc = json.loads((root / "resolved.json").read_text())
    doc["inventory"]["hosts"].append({"name": "h2", "price_per_hour": 1.0, "labels": {"started_by": "harness"}})
    (root / "resolved.json").write_text(json.dumps(doc))
    a = analyze_dir(root)
    h1, h2 = a.bill.holds
    assert h1.held_s == h2.held_s < 60 and h2.billed_s == 60 and h1.billed_s == h1.held_s
    in_runs = sum(p.host_seconds for p in a.bill.parts[:2])
    idle = a.bill.part("idle while other configurations ran")
    assert idle.host_seconds == pytest.approx(in_runs)  # h2 idle during both runs
    price1 = load_catalog().get("c5.xlarge").on_demand_usd_per_hour
    assert a.bill.on_demand_usd == pytest.approx(price1 * h1.held_s / 3600 + 1.0 * 60 / 3600, abs=1e-9)
    assert sum(p.on_demand_usd for p in a.bill.parts) == pytest.approx(a.bill.on_demand_usd, abs=1e-12)
    assert "60-s minimum" in a.bill.parts[-1].inputs
