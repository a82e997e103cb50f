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


def test_instance_started_bills_from_launch_with_boot_as_its_own_part(tmp_path):
    from harness.report.write.render import write_report

    root = repeated_run(tmp_path / "run", {"a": [0.1]})
    ctl = _control(root)
    conn = next(r for r in ctl if r["event"] == "connect")
    first = conn["t_wall"] - conn["seconds"]
    launch = first - 95.5  # `hosts start` launched h1 95.5 s before the run connected
    ctl.insert(ctl.index(conn) + 1, {"event": "instance_started", "t_wall": conn["t_wall"], "host": "h1",
                                     "instance_id": "i-1", "launch_time": launch, "first_connection": first})
    (root / "control.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ctl))
    a = analyze_dir(root)
    (h1,) = a.bill.holds
    assert h1.launch == launch and h1.boot_s == pytest.approx(95.5) and h1.started_by_harness
    assert h1.billed_s == pytest.approx(h1.held_s + 95.5)  # past the 60-s minimum: no top-up
    boot = a.bill.part("instance boot and set-up (launch → first connection)")
    price = load_catalog().get("c5.xlarge").on_demand_usd_per_hour
    assert boot.host_seconds == pytest.approx(95.5) and boot.on_demand_usd == pytest.approx(price * 95.5 / 3600)
    assert sum(p.on_demand_usd for p in a.bill.parts) == pytest.approx(a.bill.on_demand_usd, abs=1e-12)
    assert a.bill.on_demand_usd == pytest.approx(price * (h1.held_s + 95.5) / 3600)
    assert "from the instance's launch for h1" in a.bill.method
    # The instance's ledger copy: shown in the report, boot + this run + idle so far.
    run_id = a.run.run_id or root.name
    recs = [{"event": "instance_started", "t_wall": first - 1, "instance_id": "i-1", "host": "h1",
             "instance_type": "c5.xlarge", "launch_time": launch},
            {"event": "run_attached", "t_wall": first, "t_connect": first, "instance_id": "i-1", "host": "h1",
             "run_id": run_id, "claims_launch": launch},
            {"event": "run_ended", "t_wall": first + 30, "instance_id": "i-1", "run_id": run_id},
            {"event": "instance_stopped", "t_wall": first + 700, "stop_time": first + 690, "instance_id": "i-1",
             "how": "EC2: Client.InstanceInitiatedShutdown"}]
    (root / "instance_ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    write_report(root)
    md = (root / "report.md").read_text()
    assert "## Instance ledger" in md and "boot and set-up" in md and "idle until stop" in md
    assert f"run {run_id} (this run)" in md and "| total |" in md.replace("h1 | total", "| total")
    assert "instance boot and set-up (launch → first connection)" in md
