"""harness/aws/ledger_account.py, started.py and status.py's pure parts: an instance's
life split into parts that add up to launch → stop, and the records `hosts start/stop/status`
write."""

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from harness.aws import ledger
from harness.aws.ledger_account import lives, transition_time
from harness.aws.started import arming_address, launch_time, observed_stop, start_records
from harness.aws.status import ledger_lines, rows

L = 1_000_000.0  # launch


def _start(iid="i-1", launch=L, host="h1", autostop=None, t=None):
    return {"event": "instance_started", "t_wall": t or launch + 30, "instance_id": iid, "host": host,
            "instance_type": "c5.xlarge", "launch_time": launch, "launch_time_source": "EC2 LaunchTime",
            "started_by": "me@laptop", "inventory": "/inv.yaml", "autostop": autostop}


def _run(run_id, t0, t1=None, iid="i-1", claims=None):
    out = [{"event": "run_attached", "t_wall": t0 + 1, "t_connect": t0, "instance_id": iid, "host": "h1",
            "run_id": run_id, "run_dir": f"/runs/{run_id}", "claims_launch": claims}]
    if t1 is not None:
        out.append({"event": "run_ended", "t_wall": t1, "instance_id": iid, "host": "h1", "run_id": run_id,
                    "status": "succeeded"})
    return out


def _stop(t, iid="i-1"):
    return {"event": "instance_stopped", "t_wall": t + 5, "instance_id": iid, "stop_time": t, "state": "stopped",
            "how": "EC2: Client.InstanceInitiatedShutdown"}


def _parts(life):
    return [(p.kind, p.start - L, p.end - L) for p in life.parts]


def test_boot_runs_idle_between_and_until_stop_add_up():
    recs = [_start(autostop={"after_s": 600, "action": "stop"}), *_run("r1", L + 100, L + 400, claims=L),
            *_run("r2", L + 1000, L + 1500), _stop(L + 2100)]
    (life,) = lives(recs, now=L + 99999)
    assert _parts(life) == [("boot and set-up", 0, 100), ("run", 100, 400), ("idle between runs", 400, 1000),
                            ("run", 1000, 1500), ("idle until stop", 1500, 2100)]
    assert life.seconds == 2100 == life.end - life.launch
    assert life.claimed_by == {"run_id": "r1", "run_dir": "/runs/r1"}
    assert life.deadline is None and life.idle_since is None  # stopped


def test_still_running_idle_since_and_deadline():
    recs = [_start(autostop={"after_s": 600, "action": "stop"}), *_run("r1", L + 100, L + 400),
            {"event": "autostop_armed", "t_wall": L + 101, "instance_id": "i-1", "after_s": 600}]
    (life,) = lives(recs, now=L + 500)
    assert _parts(life)[-1] == ("idle so far", 400, 500) and life.seconds == 500
    assert life.idle_since == L + 400 and life.deadline == L + 1000 and life.armed_on_host is True
    # A run attached now: busy, no idle clock.
    (busy,) = lives(recs + _run("r2", L + 450), now=L + 500)
    assert busy.attached == ["r2"] and busy.idle_since is None and busy.deadline is None
    assert _parts(busy)[-2:] == [("run", 450, 500), ("idle so far", 500, 500)]


def test_run_without_end_record_is_counted_to_the_next_record_and_said():
    # The control side of r1 was killed: no run_ended; the watchdog stopped the instance.
    recs = [_start(), *_run("r1", L + 60), _stop(L + 900)]
    (life,) = lives(recs, now=L + 5000)
    assert _parts(life) == [("boot and set-up", 0, 60), ("run", 60, 900), ("idle until stop", 900, 900)]
    assert "no run_ended record" in life.parts[1].note and life.seconds == 900


def test_overlapping_runs_merge_and_no_run_at_all():
    recs = [_start(), *_run("a", L + 10, L + 300), *_run("b", L + 200, L + 500), _stop(L + 600)]
    (life,) = lives(recs, now=L + 600)
    assert _parts(life) == [("boot and set-up", 0, 10), ("run", 10, 500), ("idle until stop", 500, 600)]
    assert life.parts[1].label == "run a, b"
    (idle,) = lives([_start(), _stop(L + 300)], now=L + 400)
    assert _parts(idle) == [("idle until stop", 0, 300)] and idle.parts[0].label == "no run → stop"


def test_restart_without_stop_record_and_two_lives():
    recs = [_start(), *_run("r1", L + 10, L + 20), _start(launch=L + 5000), *_run("r2", L + 5100, L + 5200)]
    first, second = lives(recs, now=L + 6000)
    assert first.end == L + 5000 and "no stop record" in first.end_how
    assert second.launch == L + 5000 and second.end is None and [r["run_id"] for r in second.runs] == ["r2"]
    assert ledger.latest_starts(recs)["i-1"]["launch_time"] == L + 5000
    assert ledger.claimed_launches(recs + _run("r3", L + 5300, claims=L + 5000)) == {("i-1", L + 5000)}
    assert ledger.latest_starts(recs + [_stop(L + 5900)]) == {}


def test_transition_time_from_ec2_and_moto_reasons():
    t = datetime(2026, 11, 22, 8, 0, 5, tzinfo=timezone.utc).timestamp()
    assert transition_time("User initiated (2026-11-22 08:00:05 GMT)") == t
    assert transition_time("User initiated (2026-11-22 08:00:05 UTC)") == t
    assert transition_time("") is None and transition_time(None) is None


def test_launch_time_rule():
    when = datetime.fromtimestamp(L, timezone.utc)
    assert launch_time({"LaunchTime": when}, L - 5) == (L, "EC2 LaunchTime")
    t, why = launch_time({"LaunchTime": when}, L + 3600)  # not updated by this start (moto does this)
    assert t == L + 3600 and "predates the request by 3600 s" in why
    assert launch_time({}, L)[0] == L


def test_start_records_skip_already_running_and_carry_autostop():
    targets = [SimpleNamespace(host="a", instance_id="i-a", instance_type="c5.xlarge", lifecycle="on-demand"),
               SimpleNamespace(host="b", instance_id="i-b", instance_type=None, lifecycle="spot")]
    change = SimpleNamespace(instances={"i-a": {"LaunchTime": datetime.fromtimestamp(L, timezone.utc),
                                                "InstanceType": "c5.xlarge"}, "i-b": {}},
                             previous={"i-a": "stopped", "i-b": "running"}, requested_at=L - 1, settled_at=L + 40)
    recs, notes = start_records(targets, change, "us-east-1", "/inv.yaml",
                                {"a": SimpleNamespace(after_s=600.0, action="terminate")})
    assert [r["instance_id"] for r in recs] == ["i-a"] and "already running" in notes[0]
    r = recs[0]
    assert (r["launch_time"], r["running_at"], r["autostop"]) == (L, L + 40, {"after_s": 600.0, "action": "terminate"})
    assert "@" in r["started_by"] and r["event"] == "instance_started"


def test_observed_stop_and_arming_address():
    start = _start()
    assert observed_stop(start, {"State": {"Name": "running"}}, L + 100) is None
    r = observed_stop(start, {"State": {"Name": "stopped"}, "StateTransitionReason":
                              "User initiated (1970-01-12 13:47:00 GMT)",
                              "StateReason": {"Code": "Client.InstanceInitiatedShutdown"}}, L + 9999)
    assert r["stop_time"] == transition_time("(1970-01-12 13:47:00 GMT)") and "shut itself down" in r["how"]
    gone = observed_stop(start, None, L + 50)
    assert gone["state"] == "gone" and gone["stop_time"] == L + 50
    inst = {"PublicIpAddress": "54.80.1.2", "PrivateIpAddress": "10.0.0.5"}
    assert arming_address("3.90.4.5", inst) == ("54.80.1.2", "address 3.90.4.5 is stale (public IPs "
                                                                    "change on start); using 54.80.1.2")
    for kept in ("10.0.0.5", "127.0.0.1", "gpu-a.example.com", "54.80.1.2", "203.0.113.9"):
        assert arming_address(kept, inst) == (kept, None)


def test_status_rows_and_ledger_lines():
    recs = [_start(autostop={"after_s": 600, "action": "stop"}), *_run("r1", L + 100, L + 400)]
    (life,) = lives(recs, now=L + 500)
    (row,) = rows([life], {"i-1": {"State": {"Name": "running"}}}, lambda t: (0.17, "catalog x"), L + 500)
    assert row.state == "running" and row.usd_so_far == pytest.approx(0.17 * 500 / 3600)
    assert "NOT armed" in row.deadline and "1.7 min ago" in row.idle_since
    (short,) = rows(lives([_start()], now=L + 10), {}, lambda t: (0.17, "c"), L + 10)
    assert short.usd_so_far == pytest.approx(0.17 * 60 / 3600) and short.deadline == "no autostop"
    lines = ledger_lines(life, 0.17)
    assert "boot and set-up" in lines[1] and "run r1" in lines[2] and "idle so far" in lines[3]
    assert lines[-1].split()[1] == "500"


def test_ledger_file_appends_and_reads_with_damage(tmp_path):
    path = tmp_path / "state" / "instances.jsonl"
    ledger.append([_start()], path)
    with open(path, "a") as fh:
        fh.write('{"torn": \n')
    ledger.append(_run("r1", L + 1), path)
    recs, bad = ledger.read(path)
    assert [r["event"] for r in recs] == ["instance_started", "run_attached"] and bad == [2]
    copy = ledger.records_for_copy(recs + [_start(iid="i-other")], {"i-1"}, L)
    assert [r["instance_id"] for r in copy] == ["i-1", "i-1"]


def test_state_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "s"))
    assert ledger.ledger_path() == tmp_path / "s" / "instances.jsonl"
    monkeypatch.delenv("HARNESS_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "x"))
    assert ledger.state_dir() == tmp_path / "x" / "harness"
