"""Keepers of a detached run as real processes on this machine (two "hosts" in two keeper
directories, a real TCP link on loopback, real task processes started with the task
shell's lease watchdog): they start the tasks in order, write the control records, stop
every task on the first failure and sweep, and a member whose steward is gone stops its
tasks once the lease runs out. The tasks are small shell-free Python loops, not TensorFlow."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.protocol import layout
from harness.protocol.events import read_events
from harness.protocol.task_shell import leftovers_command, parse_pids
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TASK = r"""
import json, os, sys, time
behave, steps = os.environ["BEHAVE"], int(os.environ.get("STEPS", "1000000"))
with open("events.jsonl", "a") as fh:
    for i in range(1, steps + 1):
        fh.write(json.dumps({"event": "step", "step": i, "images": 32, "seconds": 0.05}) + "\n"); fh.flush()
        time.sleep(0.05)
        if behave == "fail" and i == 20:
            print("ValueError: injected failure", file=sys.stderr); sys.exit(1)
"""


def _setup(tmp: Path, run_id: str, behaviours: dict, lease_s=20.0, grace=60.0) -> dict:
    """Two keepers (h0 steward, h1 member), one configuration run: a worker on each host."""
    tasks = []
    for host, (behave, steps) in behaviours.items():
        d = tmp / host / "cfg" / "worker"
        d.mkdir(parents=True)
        (d / layout.ENV_FILE).write_text(f"export HARNESS_RUN_ID={run_id}\nexport HARNESS_CONFIG=cfg\n"
                                         f"export BEHAVE={behave}\nexport STEPS={steps}\n")
        tasks.append({"task_id": "worker", "host": host, "role": "worker", "rank": len(tasks), "start_group": 0,
                      "finishes": True, "critical": True, "task_dir": str(d), "events": "events.jsonl"})
    spec = {"keeper_version": 1, "run_id": run_id, "steward": "h0", "steward_address": "127.0.0.1",
            "port": free_port(), "token": "t0k3n", "hosts": list(behaviours), "lease_s": lease_s,
            "connection_grace_s": grace, "grace_s": 3.0, "poll_s": 0.3, "parallel": False, "keep_going": False,
            "fail_fast": False, "sweep_config_only": False, "waves": [["cfg"]],
            "worker_argv": [sys.executable, "-c", TASK],
            "configs": [{"name": "cfg", "time_limit_s": 600, "tasks": tasks,
                         "start_record": {"strategy": "single", "hosts": list(behaviours)}}]}
    dirs = {}
    for host in behaviours:
        kd = tmp / "keeper" / host
        kd.mkdir(parents=True)
        (kd / layout.KEEPER_SPEC_FILE).write_text(json.dumps({**spec, "host": host}))
        dirs[host] = kd
    return dirs


def _start(kd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HARNESS_RUN_ID", None)
    return subprocess.Popen([sys.executable, "-m", "harness.worker.keeper", "--dir", str(kd)], env=env,
                            stdout=open(kd / layout.KEEPER_OUT_FILE, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def _run_pids(run_id: str) -> list[int]:
    out = subprocess.run(["/bin/sh", "-c", leftovers_command(run_id, [])], capture_output=True, text=True).stdout
    return parse_pids(out)


def _control(kd: Path) -> list[dict]:
    p = kd / layout.KEEPER_LOG_FILE
    return list(read_events(p)) if p.exists() else []


def test_keepers_run_a_configuration_to_success(tmp_path):
    run_id = f"keep-ok-{os.getpid()}"
    dirs = _setup(tmp_path, run_id, {"h0": ("ok", 40), "h1": ("ok", 60)})
    procs = [_start(dirs["h1"]), _start(dirs["h0"])]
    try:
        assert all(p.wait(120) == 0 for p in procs), [(d / layout.KEEPER_OUT_FILE).read_text() for d in dirs.values()]
        recs = _control(dirs["h0"])
        kinds = [r["event"] for r in recs]
        assert kinds[0] == "keepers_joined" and kinds[-1] == "run_end"
        assert recs[-1]["status"] == "succeeded"
        assert kinds.count("task_running") == 2 and kinds.count("task_exit") == 2
        end = next(r for r in recs if r["event"] == "config_end")
        assert end["status"] == "succeeded" and end["leftovers"] == {}
        state = json.loads((dirs["h0"] / layout.KEEPER_STATE_FILE).read_text())
        assert state["phase"] == "ended" and state["run_end"]["status"] == "succeeded"
        assert _run_pids(run_id) == []
        # a finished keeper is not started again
        again = _start(dirs["h0"])
        assert again.wait(30) == 0 and "already ran" in (dirs["h0"] / layout.KEEPER_OUT_FILE).read_text()
    finally:
        for p in procs:
            p.kill()


def test_the_first_failure_stops_the_other_host_and_nothing_is_left(tmp_path):
    run_id = f"keep-fail-{os.getpid()}"
    dirs = _setup(tmp_path, run_id, {"h0": ("ok", 1000000), "h1": ("fail", 1000000)})
    procs = [_start(dirs["h1"]), _start(dirs["h0"])]
    try:
        assert all(p.wait(120) == 0 for p in procs)
        recs = _control(dirs["h0"])
        end = next(r for r in recs if r["event"] == "config_end")
        assert end["status"] == "failed"
        assert end["reason"] == "task worker on host h1 exited 1: ValueError: injected failure"
        exits = {r["host"]: r["state"] for r in recs if r["event"] == "task_exit"}
        assert exits == {"h1": "failed", "h0": "stopped"}
        assert _run_pids(run_id) == []
    finally:
        for p in procs:
            p.kill()


def test_a_member_whose_steward_dies_stops_its_tasks_after_the_lease(tmp_path):
    run_id = f"keep-lost-{os.getpid()}"
    dirs = _setup(tmp_path, run_id, {"h0": ("ok", 1000000), "h1": ("ok", 1000000)}, lease_s=6.0, grace=5.0)
    member, steward = _start(dirs["h1"]), _start(dirs["h0"])
    try:
        assert _wait(lambda: sum(r["event"] == "task_running" for r in _control(dirs["h0"])) == 2, 60)
        t0 = time.monotonic()
        os.killpg(steward.pid, signal.SIGKILL)
        assert member.wait(60) == 3
        took = time.monotonic() - t0
        state = json.loads((dirs["h1"] / layout.KEEPER_STATE_FILE).read_text())
        assert "no answer from the steward" in state["why"]
        # the steward host's task stops too: nobody renews its lease any more (here the
        # member's sweep may get there first: both "hosts" share this machine's processes)
        assert _wait(lambda: _run_pids(run_id) == [], 30)
        print(f"member stopped its tasks {took:.1f} s after the steward was killed (lease 6 s)")
    finally:
        for p in (member, steward):
            p.kill()


def test_a_keeper_killed_with_kill_9_stops_renewing_and_its_task_stops_itself(tmp_path):
    run_id = f"keep-lease-{os.getpid()}"
    dirs = _setup(tmp_path, run_id, {"h0": ("ok", 1000000)}, lease_s=5.0, grace=5.0)
    steward = _start(dirs["h0"])
    try:
        assert _wait(lambda: any(r["event"] == "task_running" for r in _control(dirs["h0"])), 60)
        time.sleep(8)   # longer than the lease: the keeper renews it
        worker = tmp_path / "h0" / "cfg" / "worker"
        assert not (worker / layout.LEASE_EXPIRED_FILE).exists() and _run_pids(run_id)
        os.killpg(steward.pid, signal.SIGKILL)
        assert _wait(lambda: (worker / layout.LEASE_EXPIRED_FILE).exists(), 30)
        assert _wait(lambda: _run_pids(run_id) == [], 30)
    finally:
        steward.kill()


def _lock_command(path: Path, owner: str) -> str:
    from harness.transport.shell import attach_lock_command

    return attach_lock_command(str(path), owner, sys.executable, str(ROOT))


def test_the_attach_lock_is_refused_while_held_and_goes_with_its_holder_even_on_kill_9(tmp_path):
    from harness.transport.local import LocalTransport

    lock, tr = tmp_path / "attach.lock", LocalTransport("h0")
    first = tr.hold(_lock_command(lock, "alice@laptop pid 1"))
    assert first.first_line == "locked" and first.send(b".")
    second = tr.hold(_lock_command(lock, "bob@desk pid 2"))
    assert second.first_line == "busy alice@laptop pid 1"
    second.close()
    first.close()
    third = tr.hold(_lock_command(lock, "carol"))
    assert third.first_line == "locked"
    third.close()
    # a control side killed with SIGKILL: its pipe (over SSH: its connection) closes, the lock goes
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from harness.transport.local import LocalTransport\n"
        "h = LocalTransport('h0').hold(%r)\n"
        "print(h.first_line, flush=True); time.sleep(600)") % (str(ROOT), _lock_command(lock, "dave"))],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    assert _wait(lambda: (lambda h: (h.close(), h.first_line)[1])(tr.hold(_lock_command(lock, "erin"))) == "locked",
                 30)
