"""harness/worker/autostop.py, the host-side idle watchdog, as real detached processes,
armed through harness/transport/autostop.py's commands over a local transport and over
real sshd hosts. The shutdown command is always a stand-in that writes a file: nothing
here shuts a machine down."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.protocol import layout
from harness.stages.instances import arm_one
from harness.transport import autostop as cmds
from harness.transport.local import LocalTransport
from harness.worker import autostop as watchdog
from tests.support.sshd_hosts import host_of, transport_options

POLL_S = 0.2


def _arm(tr, workdir, after_s, run_id=None, python=sys.executable):
    stand_in = f"echo \"$(date +%s.%N)\" > {workdir}/SHUTDOWN"
    cmd, tar = cmds.arm(python, str(workdir), after_s, stand_in, armed_by="test", run_id=run_id, poll_s=POLL_S)
    res = tr.exec(cmd, stdin=tar, timeout=60)
    assert res.ok, res.stderr
    return cmds.parse_json_line(res.stdout.splitlines()[0])


def _wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _state(workdir):
    try:
        return json.loads((Path(workdir) / "autostop" / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _stop_watchdog(workdir):
    root = Path(workdir) / "autostop"
    if (root / "config.json").exists():
        watchdog.main(["--dir", str(root), "--cancel"])
    pid = (root / "watchdog.pid").read_text().strip() if (root / "watchdog.pid").exists() else ""
    if pid and watchdog.start_ticks(int(pid)) is not None:
        _wait_for(lambda: watchdog.start_ticks(int(pid)) is None, 5)


@pytest.fixture
def workdir(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    yield d
    _stop_watchdog(d)


def test_layout_names_match_the_protocol():
    assert (watchdog.RUNS_DIR, watchdog.PID_FILE, watchdog.EXIT_CODE_FILE, watchdog.LEASE_FILE) == \
        ("runs", layout.PID_FILE, layout.EXIT_CODE_FILE, layout.LEASE_FILE)
    assert layout.remote_task_dir("/w", "r", "c", "t").startswith("/w/runs/")
    assert layout.autostop_dir("/w") == "/w/autostop"


def test_decide_is_pure():
    assert watchdog.decide(100.0, ["task"], 10.0, 30.0) == (100.0, 130.0, False)
    assert watchdog.decide(100.0, [], 10.0, 30.0) == (10.0, 40.0, True)
    assert watchdog.decide(100.0, [], 90.0, 30.0) == (90.0, 120.0, False)


def test_fires_once_idle_and_only_once(workdir):
    said = _arm(LocalTransport("l"), workdir, 1.0)
    assert said["watchdog"] == "started"
    assert _wait_for(lambda: (workdir / "SHUTDOWN").exists())
    fired = json.loads((workdir / "autostop" / "fired.json").read_text())
    assert fired["returncode"] == 0 and fired["t"] >= fired["deadline"] and "SHUTDOWN" in fired["command"]
    assert _wait_for(lambda: not watchdog.status(str(workdir / "autostop"))["watchdog_alive"])


def test_an_attached_run_and_a_running_task_keep_it_busy(workdir):
    # The attached "run" is a process that stays alive; the marker holds its pid.
    holder = subprocess.Popen(["sleep", "60"])
    task_dir = Path(layout.remote_task_dir(str(workdir), "run1", "cfg", "t0"))
    task_dir.mkdir(parents=True)
    task = subprocess.Popen(["sleep", "60"])
    (task_dir / layout.PID_FILE).write_text(str(task.pid))
    try:
        root = workdir / "autostop"
        _arm(LocalTransport("l"), workdir, 1.0)
        watchdog.attach(str(root), "run1", holder.pid)
        assert _wait_for(lambda: len(_state(workdir).get("busy", [])) == 2)
        busy = _state(workdir)["busy"]
        assert busy[0].startswith("run run1 attached") and busy[1].startswith("task run1/cfg/t0")
        time.sleep(1.5)
        assert not (workdir / "SHUTDOWN").exists()
        holder.kill()
        holder.wait()
        (task_dir / layout.EXIT_CODE_FILE).write_text("0")  # the task ended
        assert _wait_for(lambda: _state(workdir).get("busy") == [])
        idle_since = _state(workdir)["idle_since"]
        assert _wait_for(lambda: (workdir / "SHUTDOWN").exists())
        fired_at = float((workdir / "SHUTDOWN").read_text())
        assert fired_at >= idle_since + 1.0
    finally:
        for p in (holder, task):
            p.kill()
            p.wait()


def test_a_silent_attached_run_stops_counting_after_hold_s(tmp_path):
    """A half-open connection (the laptop's lid closed) keeps the session process alive:
    the mark then counts only while the run renews a lease, or for hold_s after attaching."""
    holder = subprocess.Popen(["sleep", "60"])
    try:
        root, work = tmp_path / "autostop", tmp_path
        root.mkdir()
        watchdog.attach(str(root), "r9", holder.pid)
        now = time.time()
        assert watchdog.busy_reasons(str(root), str(work), hold_s=600, now=now) == [
            f"run r9 attached (pid {holder.pid})"]
        assert watchdog.busy_reasons(str(root), str(work), hold_s=600, now=now + 601) == []
        lease = Path(layout.remote_task_dir(str(work), "r9", "c", "t")) / layout.LEASE_FILE
        lease.parent.mkdir(parents=True)
        lease.touch()
        os.utime(lease, (now + 500, now + 500))  # the supervisor renewed a lease later
        assert len(watchdog.busy_reasons(str(root), str(work), hold_s=600, now=now + 601)) == 1
    finally:
        holder.kill()
        holder.wait()


def test_rearming_keeps_one_watchdog_and_cancel_stops_it(workdir):
    tr = LocalTransport("l")
    first = _arm(tr, workdir, 600)
    again = _arm(tr, workdir, 900)
    assert first["watchdog"] == "started" and again == {"watchdog": "running", "pid": first["pid"]}
    assert _wait_for(lambda: _state(workdir).get("after_s") == 900)
    res = tr.exec(cmds.cancel(sys.executable, str(workdir)))
    assert res.ok and cmds.parse_json_line(res.stdout) == {"cancelled": True}
    assert _wait_for(lambda: _state(workdir).get("stopped") == "cancelled")
    assert not (workdir / "SHUTDOWN").exists()
    # Commands on a host with no watchdog installed do nothing and say so.
    other = workdir / "none"
    assert cmds.parse_json_line(tr.exec(cmds.status(sys.executable, str(other))).stdout) == {}
    assert tr.exec(cmds.detach(sys.executable, str(other), "r")).ok


def test_failing_shutdown_command_is_recorded_and_retried_later(workdir):
    cmd, tar = cmds.arm(sys.executable, str(workdir), 1.0, "exit 3", armed_by="test", poll_s=POLL_S)
    assert LocalTransport("l").exec(cmd, stdin=tar).ok
    fired = workdir / "autostop" / "fired.json"
    assert _wait_for(lambda: fired.exists())
    doc = json.loads(fired.read_text())
    assert doc["returncode"] == 3 and watchdog.status(str(workdir / "autostop"))["watchdog_alive"]


def test_over_ssh_the_run_is_attached_through_its_session(sshd_hosts, known_hosts, tmp_path):
    """The run's mark holds the pid of its SSH session's process on the host: closing the
    connection (the control side gone) ends the mark, and the stand-in fires."""
    from harness.transport.ssh import SSHTransport

    th = sshd_hosts[0]
    workdir = tmp_path / "ssh-work"
    h = host_of(th, workdir=str(workdir), python=sys.executable)
    tr = SSHTransport(h, transport_options(tmp_path, known_hosts))
    try:
        said = arm_one(tr, h, 1.0, f"touch {workdir}/SHUTDOWN", armed_by="test", run_id="run-ssh")
        assert said["watchdog"] == "started"
        marker = json.loads((workdir / "autostop" / "attached" / "run-ssh.json").read_text())
        comm = Path(f"/proc/{marker['pid']}/comm").read_text().strip()
        assert comm.startswith("sshd"), comm  # the connection's own process, not a shell
        assert _wait_for(lambda: any(b.startswith("run run-ssh") for b in _state(workdir).get("busy", [])))
        time.sleep(1.5)
        assert not (workdir / "SHUTDOWN").exists()
    finally:
        tr.close()
    try:
        assert _wait_for(lambda: (workdir / "SHUTDOWN").exists())
    finally:
        _stop_watchdog(workdir)


def test_fires_after_the_control_process_is_killed(tmp_path):
    """kill -9 of the process that armed and attached (a local host: the marker holds the
    control process itself): the watchdog outlives it and fires."""
    workdir = tmp_path / "w"
    code = (f"import sys, time; sys.path.insert(0, {str(Path.cwd())!r})\n"
            "from harness.transport import autostop as c\n"
            "from harness.transport.local import LocalTransport\n"
            f"cmd, tar = c.arm(sys.executable, {str(workdir)!r}, 1.0, 'touch {workdir}/SHUTDOWN', armed_by='t', "
            f"run_id='r', poll_s={POLL_S})\n"
            "assert LocalTransport('l').exec(cmd, stdin=tar).ok\n"
            "print('armed', flush=True)\n"
            "time.sleep(600)\n")
    control = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert control.stdout.readline().strip() == "armed"
        assert _wait_for(lambda: any(b.startswith("run r attached") for b in _state(workdir).get("busy", [])))
        time.sleep(1.5)
        assert not (workdir / "SHUTDOWN").exists()
        os.kill(control.pid, signal.SIGKILL)
        control.wait()
        assert _wait_for(lambda: (workdir / "SHUTDOWN").exists())
    finally:
        if control.poll() is None:
            control.kill()
        _stop_watchdog(workdir)
