"""Distributed strategies end to end through harness.pipeline.run_experiment: real
TensorFlow training of a tiny model on real data, every process started, supervised and
stopped by the harness, on local-transport hosts (different names, this machine)."""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.protocol.events import read_events
from harness.pipeline import run_experiment
from harness.report.figures.horovod_timeline import timeline_summary

pytestmark = [pytest.mark.slow]

WORKLOAD = {"model": "mlp", "dataset": {"name": "digits", "validation_split": 0.25}, "batch_size": 32,
            "epochs": 2, "steps_per_epoch": 10, "learning_rate": 0.1, "optimizer": "momentum",
            "warmup_steps": 2, "log_every": 1}
HOSTS = {"hosts": [
    {"name": "h1", "transport": "local", "address": "127.0.0.1", "slots": 1, "instance_type": "c7i.large",
     "labels": {"role": "ps"}},
    {"name": "h2", "transport": "local", "address": "127.0.0.1", "slots": 1, "instance_type": "c7i.large"},
    {"name": "h3", "transport": "local", "address": "127.0.0.1", "slots": 1, "instance_type": "c7i.large"},
    {"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large"},
]}


def free_base_port() -> int:
    """A base port with a few free ports above it (other test runs may share the machine)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base > 60000:
            continue
        ok = True
        for p in range(base, base + 8):
            with socket.socket() as s:
                try:
                    s.bind(("", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def write_files(tmp_path: Path, configs: list[dict], workload=WORKLOAD, hosts=HOSTS, **exp):
    doc = {"name": "dist", "workload": workload, "configurations": configs, "sample_interval_s": 0,
           "base_port": free_base_port(), "time_limit_s": 180, **exp}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return str(tmp_path / "exp.yaml"), str(tmp_path / "hosts.yaml")


def run(tmp_path, configs, run_id="r", **kw):
    e, h = write_files(tmp_path, configs, **kw)
    return run_experiment(e, h, runs_root=str(tmp_path / "runs"), run_id=run_id, grace_s=5)


def task_dir(res, host, config, task):
    return Path(res.run_dir) / "hosts" / host / config / task


def records(path: Path, event: str | None = None) -> list[dict]:
    return [r for r in read_events(path) if event is None or r["event"] == event]


def assert_trained(events_file: Path, steps: int, *, epochs: bool = True):
    """The task logged every step and its loss fell (mean of the first 3 vs the last 3)."""
    step = records(events_file, "step")
    assert sum(r["steps"] for r in step) == steps, events_file
    assert all(r["seconds"] > 0 and r["images"] > 0 for r in step)
    first = sum(r["loss"] for r in step[:3]) / 3
    last = sum(r["loss"] for r in step[-3:]) / 3
    assert last < first * 0.8, (events_file, first, last)
    end = records(events_file, "run_end")
    assert end and end[-1]["status"] == "ok", events_file
    if epochs:
        assert len(records(events_file, "epoch")) == WORKLOAD["epochs"]
    return step


def run_leftovers(run_id: str) -> list[int]:
    out = subprocess.run(["sh", "-c", f"grep -l -a -F -x -z HARNESS_RUN_ID={run_id} /proc/[0-9]*/environ "
                          "2>/dev/null | cut -d/ -f3"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


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
