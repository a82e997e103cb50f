"""`harness hosts …` (harness/cli/hosts.py) end to end against moto's server, and the
promise that credentials never appear in outputs or logs."""

import argparse
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from harness.cli import hosts as cli_hosts
from harness.config.inventory import Inventory
from harness.errors import HarnessError, report_error
from tests.support.aws_fixtures import (  # noqa: F401
    FAKE_KEY_ID, FAKE_SECRET, aws_env, boto_client, closed_port_url, moto_server, no_credentials, run_instance,
)

REPO = Path(__file__).resolve().parents[2]


def cli(argv: list[str]) -> int:
    """What harness/cli/commands.py's main does once `hosts` is registered."""
    ap = argparse.ArgumentParser(prog="harness")
    sub = ap.add_subparsers(dest="command", required=True)
    cli_hosts.register(sub)
    args = ap.parse_args(argv)
    try:
        return cli_hosts.run(args)
    except HarnessError as e:
        return report_error(e)


def test_discover_prints_an_inventory(aws_env, tmp_path, capsys):
    ec2 = boto_client("ec2", aws_env)
    gpu = run_instance(ec2, "g4dn.xlarge", {"Project": "exp1", "Name": "gpu-a"}, spot=True)[0]
    run_instance(ec2, "c5.xlarge", {"Project": "exp1", "Name": "cpu-a"})
    assert cli(["hosts", "discover", "--region", "us-east-1", "--tag", "Project=exp1", "--user", "ec2-user"]) == 0
    out, err = capsys.readouterr()
    doc = yaml.safe_load(out)
    inv = Inventory.model_validate(doc)
    assert [h.name for h in inv.hosts] == ["cpu-a", "gpu-a"] and inv.hosts[0].user == "ec2-user"
    assert inv.host("gpu-a").labels["instance_id"] == gpu and inv.host("gpu-a").gpus == 1
    assert "harness: note: host(s) cpu-a, gpu-a: launched with key pair 'exp1'; pass --key-dir" in err

    target = tmp_path / "ec2.yaml"
    assert cli(["hosts", "discover", "--tag", "Project=exp1", "--filter", "Name=instance-type,Values=g4dn.xlarge",
                "--out", str(target)]) == 0
    assert [h["name"] for h in yaml.safe_load(target.read_text())["hosts"]] == ["gpu-a"]
    assert cli(["hosts", "discover", "--tag", "Project"]) == 2
    assert "--tag 'Project': expected Key=Value" in capsys.readouterr().err


def test_start_stop_and_prices_from_an_inventory(aws_env, tmp_path, capsys, monkeypatch):
    ec2 = boto_client("ec2", aws_env)
    run_instance(ec2, "c5.xlarge", {"Project": "exp1", "Name": "cpu-a"})
    inv = tmp_path / "ec2.yaml"
    assert cli(["hosts", "discover", "--tag", "Project=exp1", "--out", str(inv)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert cli(["hosts", "stop", "--hosts", str(inv)]) == 2  # nobody to ask, no --yes
    assert "pass --yes to confirm" in capsys.readouterr().err
    assert cli(["hosts", "stop", "--hosts", str(inv), "--yes"]) == 0
    assert "cpu-a (i-" in capsys.readouterr().out
    assert cli(["hosts", "start", "--hosts", str(inv), "--yes", "--hours", "2"]) == 0
    out = capsys.readouterr().out
    assert "estimated cost for 2 h" in out and "): running" in out

    # prices: moto has spot history but no Price List API (HTTP 500) → spot only, and why
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert cli(["hosts", "prices", "--hosts", str(inv), "--run-dir", str(run_dir)]) == 0
    out, err = capsys.readouterr()
    assert "c5.xlarge" in out and "spot = the cheapest AZ's latest price" in out
    assert "note: on-demand prices (Price List API):" in err
    doc = json.loads((run_dir / "prices.json").read_text())
    assert doc["spot"]["c5.xlarge"] > 0 and doc["source"] == "aws price list api + describe_spot_price_history"


def test_other_hosts_commands_can_join(capsys):
    ap = argparse.ArgumentParser(prog="harness")
    hosts = cli_hosts.register(ap.add_subparsers(dest="command", required=True))
    hosts.add_parser("extra").set_defaults(hosts_handler=lambda args: print("extra ran") or 0)
    assert cli_hosts.run(ap.parse_args(["hosts", "extra"])) == 0
    assert capsys.readouterr().out == "extra ran\n"


def test_prices_without_credentials_say_why(no_credentials, capsys):
    assert cli(["hosts", "prices", "-t", "g4dn.xlarge"]) == 1
    err = capsys.readouterr().err
    assert "live prices unavailable: no AWS credentials found" in err and "bundled catalog" in err
    assert cli(["hosts", "prices"]) == 2


def test_credentials_never_appear_in_outputs_or_logs(aws_env, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    dead = closed_port_url()
    assert cli(["hosts", "discover", "--tag", "Project=exp1", "--endpoint-url", dead]) == 1
    assert cli(["hosts", "prices", "-t", "c5.xlarge", "--endpoint-url", dead]) == 1
    out, err = capsys.readouterr()
    assert "EC2 DescribeInstances in us-east-1: AWS endpoint unreachable" in err
    assert "live prices unavailable" in err
    logs = caplog.text
    assert "Sending http request" in logs and "[redacted]" in logs  # botocore's signed requests were logged
    for secret in (FAKE_SECRET, FAKE_KEY_ID):
        assert secret not in out and secret not in err and secret not in logs


def test_credentials_never_appear_on_a_real_stderr_with_debug_logging(aws_env):
    # A separate process with botocore's DEBUG logging (which prints signed request headers)
    # going to stderr: the redacting filter must clean it.
    code = textwrap.dedent("""
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        from tests.integration.test_aws_cli import cli
        sys.exit(cli(["hosts", "discover", "--tag", "Project=none", "--region", "us-east-1"]))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ), timeout=60)
    assert r.returncode == 1, r.stderr
    assert "no instances in us-east-1 match tag:Project=none" in r.stderr
    assert "Sending http request" in r.stderr and "[redacted]" in r.stderr  # the logs really were there
    assert FAKE_SECRET not in r.stdout + r.stderr and FAKE_KEY_ID not in r.stdout + r.stderr
