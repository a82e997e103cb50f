"""RunOptions: one frozen object per run, built once from the flags (harness/cli/run.py)."""

import dataclasses
from pathlib import Path

import pytest

from harness.cli.commands import _parser
from harness.cli.run import DEFAULT_EXPERIMENT, DEFAULT_HOSTS, options
from harness.errors import UsageError
from harness.stages.options import RunOptions


def test_frozen_with_typed_resume_and_checked_live_prices():
    o = RunOptions("e.yaml", "h.yaml", resume="runs/old")
    assert o.resume == Path("runs/old") and o.run_dir_root == Path("runs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.grace_s = 1.0
    with pytest.raises(ValueError, match="live_prices"):
        RunOptions("e.yaml", "h.yaml", live_prices="sometimes")


def test_flags_become_one_options_object():
    args = _parser().parse_args(["run", "-e", "x.yaml", "--hosts", "y.yaml", "--grace", "3", "--lease", "30", "--connection-grace", "20",
                                 "--parallel", "--fail-fast", "--repeats", "4", "--keep-going",
                                 "--live-prices", "off", "--upload-to", "s3://b/p", "--known-hosts", "kh"])
    o = options(args)
    assert (o.experiment, o.hosts, o.grace_s, o.lease_s, o.parallel, o.fail_fast, o.repeats, o.keep_going,
            o.live_prices, o.upload_to) == ("x.yaml", "y.yaml", 3.0, 30.0, True, True, 4, True, "off", "s3://b/p")
    assert str(o.ssh_options.known_hosts) == "kh" and o.connection_grace_s == 20.0


def test_a_lease_that_a_blip_would_outlast_is_refused():
    with pytest.raises(UsageError, match="--lease \\(60 s\\) must exceed --connection-grace \\(60 s\\)"):
        RunOptions("e.yaml", "h.yaml", lease_s=60, connection_grace_s=60)
    assert RunOptions("e.yaml", "h.yaml", lease_s=10, connection_grace_s=0).lease_s == 10


def test_defaults_and_a_resumed_runs_own_copies():
    o = options(_parser().parse_args(["run"]))
    assert (o.experiment, o.hosts, o.parallel, o.ssh_options, o.resume) == (DEFAULT_EXPERIMENT, DEFAULT_HOSTS,
                                                                          None, None, None)
    o = options(_parser().parse_args(["run", "--resume", "runs/r1", "--sequential"]))
    assert (o.experiment, o.hosts, o.parallel) == ("runs/r1/experiment.yaml", "runs/r1/inventory.yaml", False)
