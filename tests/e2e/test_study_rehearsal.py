"""The smallest study's rehearsal end to end from its README command (as root, on sandbox
hosts standing in for the example inventory); the other studies are dry-run in test_studies.py."""

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.sandbox import netns, sshd

ROOT = Path(__file__).resolve().parents[2]
STUDY = "cnn-threads-on-c3-xlarge"


def _unavailable():
    if os.geteuid() != 0:
        return "needs root: network namespaces (CI runs the suite as root)"
    return netns.netns_unavailable_reason() or sshd.available()


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.netns
@pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))
def test_smallest_study_rehearsal_runs_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_SANDBOX_DIR", str(tmp_path / "sandbox"))
    rc = main(["sandbox", "rehearse", "--like", str(ROOT / "hosts" / "examples" / f"{STUDY}.yaml"),
               "-e", str(ROOT / "experiments" / "studies" / "rehearsal" / f"{STUDY}.yaml"),
               "--runs-dir", str(tmp_path / "runs"), "--run-id", "c3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    run = tmp_path / "runs" / "c3"
    assert (run / "report.md").is_file()
    # the inventory the run used stands in for the c3.xlarge, priced from the catalog
    inv = (run / "inventory.yaml").read_text()
    assert "c3-xlarge" in inv and "c3.xlarge" in inv and "stands_in_for" in inv
    for cfg in ("threads-intra_op1", "threads-intra_op2", "threads-intra_op4"):
        assert f"| {cfg} | single |" in out
    assert "## Schedule and bill" in out and "$0.21/h" in (run / "report.md").read_text()
    # the sandbox is gone again
    assert not any((p / "state.json").exists() for p in tmp_path.iterdir() if p.name.startswith("sandbox-rehearse-"))
