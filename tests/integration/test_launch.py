"""Supervision with real processes on the local transport: start order, failure of one
task stops the others, stop requests, time limits, servers stopped after the workers."""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.config.inventory import Host
from harness.protocol.events import EventLog, read_events
from harness.stages.launch import Supervisor
from harness.stages.plan import ConfigPlan, Task
from harness.protocol.spec import TaskSpec

# Stands in for `python -m harness.worker`: a real process whose behaviour the test picks.
FAKE_WORKER = """#!{python}
import json, os, sys, time
spec = json.load(open("task.json"))
b = json.load(open(os.environ["BEHAVIOUR_FILE"]))[spec["task_id"]]
with open("events.jsonl", "a") as fh:
    fh.write(json.dumps({{"event": "step", "step": 1, "images": 8, "seconds": 0.1}}) + "\\n")
if b.get("spawn"):
    import subprocess
    subprocess.Popen(["sleep", "300"])
time.sleep(b.get("sleep", 0))
if b.get("stderr"):
    sys.stderr.write(b["stderr"] + "\\n")
sys.exit(b.get("exit", 0))
"""


def make(tmp_path: Path, behaviours: dict, *, servers=(), time_limit=60.0, groups=None):
    script = tmp_path / "fakepy"
    script.write_text(FAKE_WORKER.format(python=sys.executable))
    script.chmod(0o755)
    (tmp_path / "b.json").write_text(json.dumps(behaviours))
    host = Host(name="local", transport="local", python=str(script), slots=8)
    tasks = []
    for i, tid in enumerate(behaviours):
        tasks.append(Task(config="c", task_id=tid, role="ps" if tid in servers else "worker", index=i,
                          rank=None if tid in servers else i, host="local", task_dir=str(tmp_path / "t" / tid),
                          start_group=(groups or {}).get(tid, 0), finishes=tid not in servers,
                          env={"HARNESS_RUN_ID": f"test-{os.getpid()}-{id(tmp_path)}",
                               "BEHAVIOUR_FILE": str(tmp_path / "b.json")},
                          spec=TaskSpec(run_id=f"test-{os.getpid()}-{id(tmp_path)}", experiment="e", config="c",
                                        strategy="single", task_id=tid, role="worker", host="local")))
    cp = ConfigPlan("c", "single", ("local",), tuple(tasks), time_limit)
    from harness.transport import LocalTransport

    control = EventLog(tmp_path / "control.jsonl")
    stop = threading.Event()
    sup = Supervisor(cp, {"local": LocalTransport()}, {"local": host}, control, stop, poll_interval=0.1, grace_s=3)
    return sup, stop, control


def states(outcome):
    return {s.task.task_id: s.state for s in outcome.tasks}


def test_all_succeed(tmp_path):
    sup, _, control = make(tmp_path, {"a": {"sleep": 0.2}, "b": {"sleep": 0.4}})
    out = sup.run()
    control.close()
    assert out.status == "succeeded" and states(out) == {"a": "succeeded", "b": "succeeded"}
    assert out.leftovers == {}
    exits = [e for e in read_events(tmp_path / "control.jsonl") if e["event"] == "task_exit"]
    assert sorted(e["task_id"] for e in exits) == ["a", "b"] and all(e["returncode"] == 0 for e in exits)
    # The env file is created private: it may carry secrets.
    assert (tmp_path / "t" / "a" / "env.sh").stat().st_mode & 0o077 == 0


def test_one_failure_stops_every_other_task(tmp_path):
    sup, _, control = make(tmp_path, {"bad": {"sleep": 0.3, "exit": 2}, "slow": {"sleep": 120, "spawn": True}})
    t0 = time.monotonic()
    out = sup.run()
    assert time.monotonic() - t0 < 15
    assert out.status == "failed" and "task bad on host local exited 2" in out.reason
    assert states(out) == {"bad": "failed", "slow": "stopped"}
    assert out.leftovers == {}


def test_kill_minus_9_of_a_worker_is_a_failure(tmp_path):
    sup, _, _ = make(tmp_path, {"victim": {"sleep": 120}, "other": {"sleep": 120}})

    def assassin():
        pidfile = tmp_path / "t" / "victim" / "pid"
        for _ in range(200):
            if pidfile.exists():
                break
            time.sleep(0.05)
        time.sleep(0.5)
        leader = int(pidfile.read_text())
        # The python child of the task's shell: kill -9 it, as an OOM killer would.
        # The task's process, not the lease watchdog (a subshell, also a child of the leader).
        kids = [int(p) for p in os.popen(f"pgrep -P {leader}").read().split()]
        kids = [k for k in kids if not open(f"/proc/{k}/cmdline", "rb").read().startswith(b"/bin/sh")]
        os.kill(kids[0], signal.SIGKILL)

    threading.Thread(target=assassin, daemon=True).start()
    out = sup.run()
    assert out.status == "failed"
    victim = next(s for s in out.tasks if s.task.task_id == "victim")
    assert victim.returncode == 137
    assert states(out)["other"] == "stopped" and out.leftovers == {}


def test_stop_request_stops_everything(tmp_path):
    sup, stop, _ = make(tmp_path, {"a": {"sleep": 120, "spawn": True}})
    threading.Timer(1.0, stop.set).start()
    out = sup.run()
    assert out.status == "stopped" and states(out) == {"a": "stopped"} and out.leftovers == {}


def test_time_limit(tmp_path):
    sup, _, _ = make(tmp_path, {"a": {"sleep": 120}}, time_limit=1.0)
    out = sup.run()
    assert out.status == "timeout" and out.leftovers == {}


def test_servers_start_first_and_are_stopped_when_workers_finish(tmp_path):
    sup, _, control = make(tmp_path, {"ps-0": {"sleep": 300}, "chief": {"sleep": 0.3}},
                           servers=("ps-0",), groups={"ps-0": 0, "chief": 1})
    out = sup.run()
    control.close()
    assert out.status == "succeeded"
    assert states(out) == {"ps-0": "stopped", "chief": "succeeded"}
    launches = [e["task_id"] for e in read_events(tmp_path / "control.jsonl") if e["event"] == "task_launch"]
    assert launches == ["ps-0", "chief"]
    assert out.leftovers == {}


def test_unstartable_task_fails_cleanly(tmp_path):
    sup, _, _ = make(tmp_path, {"a": {}})
    sup.hosts["local"] = Host(name="local", transport="local", python="/nonexistent/python")
    out = sup.run()
    assert out.status == "failed" and "exited 127" in out.reason


def _host_dataset_error(tmp_path) -> str:
    """The line the worker prints when the host's dataset is wrong, for a long path."""
    from harness.protocol.workload import Dataset
    from harness.worker.datasets import load_dataset

    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 20)
    deep.mkdir(parents=True)
    try:
        load_dataset(Dataset(name="cifar10", path=str(deep)), 0)
    except Exception as e:  # what harness.worker.train prints on stderr
        return f"harness.worker: {type(e).__name__}: {e}"
    raise AssertionError("an empty folder loaded as CIFAR-10")


def test_a_long_host_error_is_cut_at_a_word_never_mid_word(tmp_path):
    line = _host_dataset_error(tmp_path)
    assert len(line) > 600 and "data_batch_1 not found" in line

    def error_of(stderr: str, d: Path) -> str:
        # One failing task per run: a second one could be stopped (no error) by the first's failure.
        d.mkdir()
        sup, _, control = make(d, {"a": {"exit": 1, "stderr": stderr}})
        sup.run()
        control.close()
        return next(e["error"] for e in read_events(d / "control.jsonl") if e["event"] == "task_exit")

    assert error_of("short: kept whole", tmp_path / "short") == "short: kept whole"
    cut = error_of(line, tmp_path / "long")
    assert cut.endswith(" …") and len(cut) <= 502
    kept = cut[:-2]
    assert line.startswith(kept) and line[len(kept)] in " /;,:"
