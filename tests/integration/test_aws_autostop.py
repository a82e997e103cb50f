"""`harness hosts start --autostop`, `hosts status` and `hosts autostop` against moto's
server, with an sshd test host standing in for the instance: EC2's shutdown behaviour is
set, the ledger records the start, the watchdog is armed over SSH, and when it fires its
stand-in shutdown command (tests/support/ec2_shutdown_standin.py) stops or terminates the
moto instance as EC2 would. What ran only against fakes: EC2 (moto) and the shutdown
itself (the stand-in)."""

import json
import shlex
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.aws import ledger
from tests.integration.test_aws_cli import cli
from tests.support.aws_fixtures import aws_env, boto_client, moto_server, run_instance  # noqa: F401
from tests.support.sshd_hosts import write_known_hosts

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "support" / "ec2_shutdown_standin.py"


def _state(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def _wait_for(pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def inventory_for(test_host, iid, endpoint, workdir, marker, autostop=None, name="h1"):
    """An inventory entry reaching the sshd test host, labelled as the moto instance, whose
    autostop command is the stand-in."""
    entry = {**test_host.inventory_entry(), "name": name, "workdir": str(workdir), "python": sys.executable,
             "instance_type": "c5.xlarge",
             "labels": {"instance_id": iid, "region": "us-east-1", "lifecycle": "on-demand"}}
    command = " ".join(shlex.quote(a) for a in (sys.executable, str(STANDIN), endpoint, iid, str(marker)))
    entry["autostop"] = {**(autostop or {"after": "600s"}), "command": command}
    return entry


def stop_watchdog(workdir):
    from harness.worker import autostop as wd

    root = Path(workdir) / "autostop"
    if (root / "config.json").exists():
        wd.main(["--dir", str(root), "--cancel"])


def test_start_arms_autostop_and_the_instance_terminates_itself(aws_env, sshd_hosts, tmp_path, capsys):
    ec2 = boto_client("ec2", aws_env)
    iid = run_instance(ec2, "c5.xlarge", {"Project": "exp1"})[0]
    ec2.stop_instances(InstanceIds=[iid])
    workdir, marker = tmp_path / "work", tmp_path / "shutdown.json"
    inv = tmp_path / "hosts.yaml"
    inv.write_text(yaml.safe_dump({"hosts": [inventory_for(sshd_hosts[0], iid, aws_env, workdir, marker)]}))
    known = write_known_hosts(sshd_hosts, tmp_path / "known_hosts")
    try:
        rc = cli(["hosts", "start", "--hosts", str(inv), "--yes", "--autostop", "2s", "--autostop-action",
                  "terminate", "--known-hosts", str(known), "--arm-wait", "10"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "h1: autostop terminate after 2s idle (watchdog started" in out
        attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior")
        assert attr["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        records, bad = ledger.read()
        assert bad == [] and [r["event"] for r in records] == ["instance_started", "autostop_armed"]
        start = records[0]
        assert start["autostop"] == {"after_s": 2.0, "action": "terminate"} and start["previous_state"] == "stopped"
        # moto keeps the first launch's LaunchTime (3 s ago here): within the clock slack, it is used.
        assert start["launch_time"] >= start["requested_at"] - 60 and start["running_at"] >= start["requested_at"]
        # The stand-in, never the default `shutdown`: --autostop keeps the inventory's command.
        config = json.loads((workdir / "autostop" / "config.json").read_text())
        assert config["command"].endswith(shlex.quote(str(marker))) and config["after_s"] == 2
        # Nobody attached: after 2 s idle the watchdog runs the stand-in, which terminates it in moto.
        assert _wait_for(lambda: marker.exists())
        assert json.loads(marker.read_text())["action"] == "terminate"
        assert _wait_for(lambda: _state(ec2, iid) == "terminated", 10)
    finally:
        stop_watchdog(workdir)
    assert cli(["hosts", "status"]) == 0
    out = capsys.readouterr().out
    assert iid in out and "terminated" in out and "idle until stop" in out and "no run → stop" in out
    stopped = [r for r in ledger.read()[0] if r["event"] == "instance_stopped"]
    assert len(stopped) == 1 and stopped[0]["state"] == "terminated"
    # Asking again adds nothing.
    assert cli(["hosts", "status"]) == 0
    assert len([r for r in ledger.read()[0] if r["event"] == "instance_stopped"]) == 1


def test_status_lists_running_instances_with_cost_and_deadline(aws_env, sshd_hosts, tmp_path, capsys):
    ec2 = boto_client("ec2", aws_env)
    iid = run_instance(ec2, "c5.xlarge", {"Project": "exp1"})[0]
    ec2.stop_instances(InstanceIds=[iid])
    workdir, marker = tmp_path / "work", tmp_path / "shutdown.json"
    inv = tmp_path / "hosts.yaml"
    inv.write_text(yaml.safe_dump({"hosts": [inventory_for(sshd_hosts[0], iid, aws_env, workdir, marker,
                                                           {"after": "10m"})]}))
    known = write_known_hosts(sshd_hosts, tmp_path / "known_hosts")
    try:
        assert cli(["hosts", "start", "--hosts", str(inv), "--yes", "--known-hosts", str(known)]) == 0
        capsys.readouterr()
        assert cli(["hosts", "status", "--hosts", str(inv), "--known-hosts", str(known)]) == 0
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("h1 "))
        assert iid in line and "running" in line and "c5.xlarge" in line and "UTC" in line and "$0.00" in line
        assert "ago)" in line  # idle since the launch: no run yet
        # moto has no Price List API: the catalog's price, and each row says so.
        assert "h1: $0.17/h × 60 s [catalog catalog-us-east-1.csv" in out, out
        assert "watchdogs on the hosts" in out and "h1: running; idle since" in out
        # Cancel, then nothing fires and the instance keeps running.
        assert cli(["hosts", "autostop", "--hosts", str(inv), "--cancel", "--known-hosts", str(known)]) == 0
        assert "h1: autostop cancelled" in capsys.readouterr().out
        assert _state(ec2, iid) == "running" and not marker.exists()
        # Unreachable host: exit 4 and a line naming it.
        bad = yaml.safe_load(inv.read_text())
        bad["hosts"][0]["port"] = 1
        inv.write_text(yaml.safe_dump(bad))
        assert cli(["hosts", "autostop", "--hosts", str(inv), "--after", "5m", "--known-hosts", str(known)]) == 4
        assert "h1: autostop not armed: not connected" in capsys.readouterr().err
        # `hosts stop` records the stop; status then lists the instance as stopped, idle until the stop.
        assert cli(["hosts", "stop", "--hosts", str(inv), "--yes"]) == 0
        stops = [r for r in ledger.read()[0] if r["event"] == "instance_stopped"]
        assert len(stops) == 1 and stops[0]["how"] == "harness hosts stop" and stops[0]["state"] == "stopped"
        capsys.readouterr()
        assert cli(["hosts", "status", "--offline"]) == 0
        out = capsys.readouterr().out
        assert "stopped (recorded)" in out and "idle until stop" in out and "not asked (--offline)" in out
    finally:
        stop_watchdog(workdir)


def test_autostop_flag_errors(aws_env, tmp_path, capsys):
    inv = tmp_path / "hosts.yaml"
    inv.write_text(yaml.safe_dump({"hosts": [{"name": "h1", "address": "127.0.0.1",
                                              "labels": {"instance_id": "i-1"}}]}))
    assert cli(["hosts", "start", "--hosts", str(inv), "--yes", "--autostop", "soon"]) == 2
    assert "--autostop 'soon'" in capsys.readouterr().err
    assert cli(["hosts", "autostop", "--hosts", str(inv)]) == 2
    assert "no autostop for host(s) h1" in capsys.readouterr().err
    assert cli(["hosts", "status", "--offline"]) == 0
    assert "no instance started by the harness" in capsys.readouterr().out
