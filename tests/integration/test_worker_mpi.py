"""The MPI launcher task (harness/worker/mpi.py) under a real mpirun: a rank that exits 75
(checkpointed on a spot notice) makes the launcher task end 'interrupted' with exit 75."""

import json
import os

import pytest

from harness.protocol import exits
from harness.protocol.spec import TaskSpec
from harness.worker import mpi
from harness.worker.train import run_task


def test_a_rank_exiting_75_makes_the_launcher_interrupted_not_failed(tmp_path, monkeypatch):
    try:
        mpi.find_mpirun()
    except RuntimeError:
        pytest.skip("no mpirun here")
    rank = tmp_path / "rank"   # stands in for the rank's interpreter: it ends as a checkpointed rank does
    rank.write_text(f"#!/bin/sh\nexit {exits.INTERRUPTED}\n")
    rank.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    slot = {"host": "h", "hostname": "0-h", "rank": 0, "size": 1, "local_rank": 0, "local_size": 1,
            "cross_rank": 0, "cross_size": 1}
    spec = TaskSpec(run_id="r", experiment="e", role="launcher", strategy="horovod", config="mpi", task_id="mpirun",
                    host="h", events="events.jsonl",
                    cluster={"contexts": [{"host": "h", "address": "localhost", "ranks": 1, "wdir": str(tmp_path),
                                           "python": str(rank)}],
                             "slots": [slot], "env_names": [], "ssh": {}})
    assert run_task(spec) == exits.INTERRUPTED
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["returncode"] for e in events if e["event"] == "mpirun_exit"] == [exits.INTERRUPTED]
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "interrupted"
