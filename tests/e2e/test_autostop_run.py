"""Instances `harness hosts start` started, through whole `harness run`s on an sshd test host
labelled as a moto instance: the first run bills from the launch (boot and set-up its own
part) and carries the instance ledger into its report; a run whose control side is killed
with SIGKILL leaves the host idle, and the host's watchdog then runs the (stand-in)
shutdown, which stops the moto instance as EC2 would; `hosts status` shows it.
Only fakes for: EC2 (moto's server) and the shutdown (tests/support/ec2_shutdown_standin.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.aws import ledger
from harness.pipeline import run_experiment
from harness.protocol.events import read_events
from harness.transport.ssh import SSHOptions
from tests.integration.test_aws_autostop import inventory_for, stop_watchdog
from tests.integration.test_aws_cli import cli
from tests.support.aws_fixtures import aws_env, boto_client, moto_server, run_instance  # noqa: F401
from tests.support.sshd_hosts import write_known_hosts

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

EXPERIMENT = {
    "name": "autostop",
    "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 1,
                 "learning_rate": 0.1, "optimizer": "momentum", "warmup_steps": 2},
    "configurations": [{"name": "one", "hosts": ["h1"], "threads": {"intra_op": 1}}],
    "sample_interval_s": 0.5,
}


def _state(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def _wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_run_bills_from_launch_and_autostop_fires_after_the_control_side_is_killed(aws_env, sshd_hosts, tmp_path,
                                                                                  capsys):
    ec2 = boto_client("ec2", aws_env)
    iid = run_instance(ec2, "c5.xlarge", {"Project": "exp1"})[0]
    ec2.stop_instances(InstanceIds=[iid])
    workdir, marker = tmp_path / "work", tmp_path / "shutdown.json"
    inv, exp = tmp_path / "hosts.yaml", tmp_path / "exp.yaml"
    inv.write_text(yaml.safe_dump({"hosts": [inventory_for(sshd_hosts[0], iid, aws_env, workdir, marker,
                                                           {"after": "20s"})]}))
    exp.write_text(yaml.safe_dump(EXPERIMENT))
    known = write_known_hosts(sshd_hosts, tmp_path / "known_hosts")
    opts = SSHOptions(known_hosts=known, ssh_config=None, harness_known_hosts=tmp_path / "harness_known_hosts")
    try:
        # The run arms the watchdog (not `hosts start`), so it alone decides when idle starts.
        assert cli(["hosts", "start", "--hosts", str(inv), "--yes", "--no-arm"]) == 0
        capsys.readouterr()
        launch = ledger.read()[0][0]["launch_time"]

        # 1. A whole run: billed from the launch, boot and set-up its own part.
        res = run_experiment(str(exp), str(inv), runs_root=str(tmp_path / "runs"), run_id="r1", ssh_options=opts,
                             live_prices="off")
        assert res.status == "succeeded", res.reason
        r1 = tmp_path / "runs" / "r1"
        ctl = list(read_events(r1 / "control.jsonl"))
        started = next(e for e in ctl if e["event"] == "instance_started")
        conn = next(e for e in ctl if e["event"] == "connect")
        assert started["host"] == "h1" and started["instance_id"] == iid and started["launch_time"] == launch
        assert started["first_connection"] == pytest.approx(conn["t_wall"] - conn["seconds"])
        armed = next(e for e in ctl if e["event"] == "autostop_armed")
        assert armed["after_s"] == 20 and armed["watchdog"]["watchdog"] == "started"
        md = (r1 / "report.md").read_text()
        assert "instance boot and set-up (launch → first connection)" in md and "## Instance ledger" in md
        assert "run r1 (this run)" in md
        copy = [json.loads(line) for line in (r1 / "instance_ledger.jsonl").read_text().splitlines()]
        assert [r["event"] for r in copy] == ["instance_started", "run_attached", "autostop_armed", "run_ended"]
        assert copy[1]["claims_launch"] == launch
        # The watchdog counts idle from the run's end: 20 s later it would stop the instance.
        # 2. Start a second run at once (it re-attaches before that), then kill its control side.
        ctl2 = tmp_path / "runs" / "r2" / "control.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "-e", str(exp), "--hosts", str(inv), "--runs-dir",
             str(tmp_path / "runs"), "--run-id", "r2", "--known-hosts", str(known), "--live-prices", "off",
             "--lease", "5", "--connection-grace", "0"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert _wait_for(lambda: ctl2.exists() and '"config_start"' in ctl2.read_text(), 120)
            assert not marker.exists()  # the run is attached: no stop while it lives
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
        killed_at = time.time()
        r2_events = [e["event"] for e in read_events(ctl2)]
        assert "instance_started" not in r2_events and "autostop_armed" in r2_events  # r1 claimed the launch
        # 3. With no control side: the tasks end on their lease (5 s), the SSH session's mark
        # ends with the connection, and after 20 s idle the stand-in stops the instance.
        assert _wait_for(lambda: marker.exists(), 120)
        fired = json.loads(marker.read_text())
        assert fired["action"] == "stop" and fired["t"] > killed_at
        assert _wait_for(lambda: _state(ec2, iid) == "stopped", 10)
    finally:
        stop_watchdog(workdir)
    # 4. hosts status: stopped, and the ledger keeps every second, the killed run's included.
    assert cli(["hosts", "status"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("h1 "))
    assert iid in line and "stopped" in line
    assert "boot and set-up" in out and "run r1" in out and "run r2" in out and "no run_ended record" in out
    assert "idle until stop" in out
    # The run that started the instance has the whole life now (status refreshed its copy).
    events = [json.loads(line)["event"] for line in (tmp_path / "runs" / "r1" / "instance_ledger.jsonl")
              .read_text().splitlines()]
    assert events[-1] == "instance_stopped" and events.count("run_attached") == 2
    assert cli_report(tmp_path / "runs" / "r1") == 0
    md = (tmp_path / "runs" / "r1" / "report.md").read_text()
    assert "idle until stop" in md and "run r2" in md


def cli_report(run_dir: Path) -> int:
    from harness.cli.commands import main

    return main(["report", str(run_dir)])
