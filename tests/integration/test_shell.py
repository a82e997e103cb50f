"""The shell commands the harness sends, run for real through /bin/sh."""

import os
import subprocess
import time

from harness.transport import shell

HOSTILE = "a b'c\"d;e $(touch /tmp/pwned-harness) `x` \n f"


def sh(cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=30)


def test_env_file_round_trips_hostile_values(tmp_path):
    (tmp_path / "env.sh").write_bytes(shell.env_file({"SECRET": HOSTILE, "B": "2"}))
    out = sh(f". {shell.q(str(tmp_path / 'env.sh'))}; printf '%s' \"$SECRET\"")
    assert out.stdout == HOSTILE
    assert not os.path.exists("/tmp/pwned-harness")


def test_env_file_rejects_bad_names():
    import pytest

    with pytest.raises(ValueError):
        shell.env_file({"A;rm": "x"})


def test_start_poll_and_exit_code_in_a_hostile_directory(tmp_path):
    d = tmp_path / "dir with 'quotes'; and $(x)"
    d.mkdir()
    (d / "env.sh").write_bytes(shell.env_file({"GREETING": HOSTILE}))
    res = sh(shell.start_command(str(d), ["/bin/sh", "-c", 'printf "%s" "$GREETING"; exit 3']))
    pid = int(res.stdout.strip())
    for _ in range(100):
        if (d / "exit_code").exists():
            break
        time.sleep(0.05)
    status = shell.parse_poll(sh(shell.poll_command([("w-0", str(d), pid)])).stdout)["w-0"]
    assert status.state == "exited" and status.returncode == 3
    assert (d / "stdout.log").read_text() == HOSTILE


def test_running_task_is_its_own_session_and_stops_with_its_group(tmp_path):
    (tmp_path / "env.sh").write_bytes(b"")
    # A child that spawns a grandchild: both must go with one signal to the group.
    pid = int(sh(shell.start_command(str(tmp_path), ["/bin/sh", "-c", "sleep 60 & sleep 60"])).stdout)
    assert os.getsid(pid) == pid
    st = shell.parse_poll(sh(shell.poll_command([("t", str(tmp_path), pid)])).stdout)["t"]
    assert st.state == "running"
    sh(shell.signal_command([pid], "KILL"))
    for _ in range(100):
        if not shell.parse_pids(sh(shell.leftovers_command("no-such-run", [pid])).stdout):
            break
        time.sleep(0.05)
    assert shell.parse_pids(sh(shell.leftovers_command("no-such-run", [pid])).stdout) == []
    st = shell.parse_poll(sh(shell.poll_command([("t", str(tmp_path), pid)])).stdout)["t"]
    assert st.state == "gone"


def test_leftovers_finds_processes_by_run_marker(tmp_path):
    env = {**os.environ, "HARNESS_RUN_ID": "run-xyz"}
    p = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    try:
        found = shell.parse_pids(sh(shell.leftovers_command("run-xyz", [])).stdout)
        assert p.pid in found
        assert p.pid not in shell.parse_pids(sh(shell.leftovers_command("run-other", [])).stdout)
    finally:
        p.kill()
        p.wait()


def test_parse_poll_reads_last_step_record():
    line = 'w\trunning\t{"event": "step", "step": 7, "images": 64, "seconds": 0.5}\n'
    st = shell.parse_poll(line)["w"]
    assert st.state == "running" and st.last_step["step"] == 7
    assert shell.parse_poll("w\texited \t\n")["w"].returncode is None


def test_watchdog_kills_a_task_whose_lease_is_not_renewed(tmp_path):
    (tmp_path / "env.sh").write_bytes(b"")
    pid = int(sh(shell.start_command(str(tmp_path), ["sleep", "60"], lease_s=2)).stdout)
    for _ in range(200):   # lease 2 s, checked every second: gone within a few seconds
        if not shell.parse_pids(sh(shell.leftovers_command("no-such-run", [pid])).stdout):
            break
        time.sleep(0.05)
    assert shell.parse_pids(sh(shell.leftovers_command("no-such-run", [pid])).stdout) == []
    assert "no lease renewal" in (tmp_path / "lease_expired").read_text()


def test_polling_renews_the_lease(tmp_path):
    (tmp_path / "env.sh").write_bytes(b"")
    pid = int(sh(shell.start_command(str(tmp_path), ["sleep", "60"], lease_s=2)).stdout)
    try:
        for _ in range(8):
            assert shell.parse_poll(sh(shell.poll_command([("t", str(tmp_path), pid)])).stdout)["t"].state == "running"
            time.sleep(0.5)
    finally:
        sh(shell.signal_command([pid], "KILL"))


def test_leftovers_scoped_to_one_configuration(tmp_path):
    # parallel configurations on one machine: sweeping one must not find the other's tasks
    env = {**os.environ, "HARNESS_RUN_ID": "run-par", "HARNESS_CONFIG": "cfg-a"}
    p = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    try:
        assert p.pid in shell.parse_pids(sh(shell.leftovers_command("run-par", [], "cfg-a")).stdout)
        assert p.pid not in shell.parse_pids(sh(shell.leftovers_command("run-par", [], "cfg-b")).stdout)
        assert p.pid in shell.parse_pids(sh(shell.leftovers_command("run-par", [])).stdout)
    finally:
        p.kill()
        p.wait()
