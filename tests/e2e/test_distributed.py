"""Distributed strategies end to end through harness.pipeline.run_experiment: real
TensorFlow training of a tiny model on real data, every process started, supervised and
stopped by the harness, on local-transport hosts (different names, this machine)."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from harness.pipeline import run_experiment
from harness.report.figures.horovod_timeline import timeline_summary
from tests.support.distributed import WORKLOAD, assert_trained, records, run, run_leftovers, task_dir, write_files

pytestmark = [pytest.mark.slow]

@pytest.mark.horovod
def test_horovod_gloo_two_ranks_on_two_hosts_with_timeline(tmp_path):
    res = run(tmp_path, [{"name": "hvd", "strategy": "horovod", "workers": 2, "hosts": ["h1", "h2"],
                          "horovod_timeline": True}], run_id="gloo")
    assert res.status == "succeeded", res.reason
    r0, r1 = task_dir(res, "h1", "hvd", "worker-0"), task_dir(res, "h2", "hvd", "worker-1")
    steps = 2 * 10
    assert_trained(r0 / "events.jsonl", steps)
    assert_trained(r1 / "events.jsonl", steps)
    # Only rank 0 evaluates and checkpoints.
    assert "val_accuracy" in records(r0 / "events.jsonl", "epoch")[-1]
    assert "val_accuracy" not in records(r1 / "events.jsonl", "epoch")[-1]
    assert records(r0 / "events.jsonl", "checkpoint") and not (r1 / "checkpoints").exists()
    ready = records(r1 / "events.jsonl", "phase")
    assert any(p["name"] == "distribution_ready" and p["size"] == 2 and p["rank"] == 1 for p in ready)
    rdv = task_dir(res, "h1", "hvd", "rendezvous") / "events.jsonl"
    assert [r["kind"] for r in records(rdv, "server_start")] == ["horovod_rendezvous"]
    # The timeline is rank 0's, collected with its task.
    tl = timeline_summary(r0 / "horovod_timeline.json")
    assert tl["steps"] == steps and tl["allreduce_s"] > 0 and tl["negotiation_s"] > 0
    assert not (r1 / "horovod_timeline.json").exists()
    # Both ranks calibrated (local steps, no all-reduce) before training, and the loss of
    # the first training step is that of untrained weights: calibration left no trace.
    for r in (r0, r1):
        cal = records(r / "events.jsonl", "calibration")
        assert len(cal) == 1 and len(cal[0]["step_seconds"]) == 10 and cal[0]["gradient_bytes"] > 0
    first_loss = records(r0 / "events.jsonl", "step")[0]["loss"]
    assert first_loss > 1.8   # about ln(10) = 2.3 or more for 10 classes before any update
    assert not run_leftovers("gloo")


@pytest.mark.horovod
def test_horovod_mpi_two_ranks_on_the_local_host(tmp_path):
    res = run(tmp_path, [{"name": "mpi", "strategy": "horovod", "launcher": "mpi", "workers": 2,
                          "hosts": ["local"]}], run_id="mpi")
    assert res.status == "succeeded", res.reason
    d = task_dir(res, "local", "mpi", "mpirun")
    assert_trained(d / "events-rank0.jsonl", 20)
    assert_trained(d / "events-rank1.jsonl", 20, epochs=True)
    assert {r["rank"] for r in records(d / "events-rank1.jsonl")} == {1}
    launcher = records(d / "events.jsonl")
    mpirun = next(r for r in launcher if r["event"] == "mpirun")
    assert "--allow-run-as-root" in mpirun["argv"] and mpirun["ranks"] == 2
    assert launcher[-1]["event"] == "run_end" and launcher[-1]["returncode"] == 0
    assert (d / "hostfile").read_text() == "localhost slots=2\n"
    assert not records(d / "events.jsonl", "step")   # the launcher itself trains nothing
    assert not run_leftovers("mpi")


def test_parameter_server_one_ps_two_workers_and_chief_on_three_hosts(tmp_path):
    res = run(tmp_path, [{"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 2,
                          "hosts": ["h1", "h2", "h3"], "ps_hosts": ["role=ps"]}], run_id="ps")
    assert res.status == "succeeded", res.reason
    chief = task_dir(res, "h2", "ps", "chief") / "events.jsonl"
    step = assert_trained(chief, 20)
    assert all(r["data_wait_s"] is None and r["workers"] == 2 for r in step)
    assert records(chief, "epoch")[-1]["val_accuracy"] > 0.5
    assert records(chief, "checkpoint")
    for host, task in (("h1", "ps-0"), ("h2", "worker-0"), ("h3", "worker-1")):
        ev = records(task_dir(res, host, "ps", task) / "events.jsonl")
        # Workers calibrate (local steps, no ps) before their server starts.
        expected = ["run_start", "phase"] + (["calibration"] if task.startswith("worker") else []) + ["server_start"]
        assert [r["event"] for r in ev][:len(expected)] == expected, task
        assert ev[-1]["event"] == "run_end", task   # stopped by the harness once the chief was done
    states = {r["task_id"]: r["state"] for r in records(Path(res.run_dir) / "control.jsonl", "task_exit")}
    assert states["chief"] == "succeeded" and states["ps-0"] in ("stopped", "succeeded")
    assert not run_leftovers("ps")


def test_multi_worker_mirrored_two_workers(tmp_path):
    res = run(tmp_path, [{"name": "mw", "strategy": "mirrored", "workers": 2, "hosts": ["h2", "h3"]}],
              run_id="mw")
    assert res.status == "succeeded", res.reason
    w0, w1 = task_dir(res, "h2", "mw", "worker-0"), task_dir(res, "h3", "mw", "worker-1")
    assert_trained(w0 / "events.jsonl", 20)
    assert_trained(w1 / "events.jsonl", 20)
    # Evaluation is collective; the chief records it.
    assert records(w0 / "events.jsonl", "epoch")[-1]["val_accuracy"] > 0.5
    assert "val_accuracy" not in records(w1 / "events.jsonl", "epoch")[-1]
    assert not list(w1.glob("checkpoints*"))
    assert not run_leftovers("mw")


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,comm="], capture_output=True, text=True).stdout
    return [int(p) for p, s, comm in (line.split(None, 2) for line in out.splitlines())
            if int(s) == sid and comm.startswith("python")]


def test_killing_a_parameter_server_worker_stops_everything(tmp_path):
    long = {**WORKLOAD, "epochs": 500}
    result = {}
    e, h = write_files(tmp_path, [{"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 2,
                                   "hosts": ["h1", "h2", "h3"], "ps_hosts": ["role=ps"]}], workload=long)
    t = threading.Thread(target=lambda: result.update(res=run_experiment(
        e, h, runs_root=str(tmp_path / "runs"), run_id="kill", grace_s=5)))
    t.start()
    chief = tmp_path / "runs" / "kill" / "hosts" / "h2" / "ps" / "chief" / "events.jsonl"
    victim = tmp_path / "runs" / "kill" / "hosts" / "h3" / "ps" / "worker-1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if chief.exists() and len(records(chief, "step")) >= 5:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the chief never logged steps")
    pids = _session_pids(int((victim / "pid").read_text()))
    assert pids
    os.kill(pids[0], signal.SIGKILL)
    t.join(timeout=120)
    assert not t.is_alive()
    res = result["res"]
    assert res.status == "failed" and "worker-1" in res.reason, res.reason
    assert res.leftovers == {}
    exits = {r["task_id"]: r for r in records(Path(res.run_dir) / "control.jsonl", "task_exit")}
    assert exits["worker-1"]["state"] == "failed"
    assert exits["chief"]["state"] == "stopped"
    assert not run_leftovers("kill")
