"""`harness sandbox up --loopback`: sshd hosts on 127.0.0.1 ports, no root, no shaping.
Runs as any user (only needs Debian's openssh-server)."""

import contextlib
import io
import os
import shutil
import subprocess
import sys

import pytest

from harness.cli.sandbox import main as sandbox_cli
from harness.config import load_inventory
from harness.sandbox import load_state, sshd
from harness.transport.ssh import SSHOptions, SSHTransport

pytestmark = pytest.mark.skipif(sshd.available() is not None, reason=f"{sshd.available()}")


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = sandbox_cli(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_loopback_sandbox_up_ssh_faults_down(tmp_path):
    d, inv_path = tmp_path / "sb", tmp_path / "hosts" / "sandbox.yaml"
    rc, out, err = cli("up", "--hosts", "2", "--loopback", "--dir", str(d), "--out", str(inv_path))
    assert rc == 0, err
    assert "loopback hosts" in out and "links not shaped" in out
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("harness run "))
    assert f"--hosts {inv_path}" in command and f"--known-hosts {d / 'known_hosts'}" in command
    try:
        inv = load_inventory(inv_path)
        opts = SSHOptions(known_hosts=d / "known_hosts", ssh_config=None, harness_known_hosts=tmp_path / "hk")
        homes = set()
        for h in inv.hosts:
            assert h.address == "127.0.0.1" and h.python == sys.executable
            assert h.labels == {"sandbox": "1", "network_interface": "lo"}
            tr = SSHTransport(h, opts)  # verified against the written known_hosts
            try:
                homes.add(tr.exec("echo $HOME").stdout.strip())
            finally:
                tr.close()
        assert len(homes) == 2  # each host has its own HOME

        rc, out, _ = cli("status", "--dir", str(d))
        assert rc == 0 and "alive" in out and "DEAD" not in out
        rc, _, err = cli("fault", "sb0", "cut", "--dir", str(d))
        assert rc == 2 and "network-namespace sandbox" in err
        old = load_state(d).host("sb1").sshd_pid
        assert cli("fault", "sb1", "kill-sshd", "--dir", str(d))[0] == 0
        rc, out, _ = cli("status", "--dir", str(d))
        assert rc == 1 and "DEAD" in out
        rc, out, _ = cli("fault", "sb1", "restore", "--dir", str(d))
        assert rc == 0 and "sshd restarted" in out
        assert load_state(d).host("sb1").sshd_pid != old
    finally:
        pids = [(h.sshd_pid, h.sshd_config) for h in load_state(d).hosts]
        rc, out, _ = cli("down", "--dir", str(d))
    assert rc == 0 and "removed sshd sb0" in out and "removed file" in out
    assert not any(sshd.is_ours(pid, cfg) for pid, cfg in pids)
    assert not inv_path.exists() and not d.exists()
    assert cli("down", "--dir", str(d))[1].strip() == "nothing to remove"


def test_loopback_refuses_bandwidth_and_explains(tmp_path):
    rc, _, err = cli("up", "--hosts", "2", "--loopback", "--bandwidth", "100mbit", "--dir", str(tmp_path / "sb"))
    assert rc == 2 and "--bandwidth cannot be used with --loopback" in err and "share" in err
    assert not (tmp_path / "sb").exists()


def _as_unprivileged() -> list[str] | None:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_without_root_up_says_so_and_suggests_loopback(tmp_path):
    prefix = _as_unprivileged()
    if prefix is None:
        pytest.skip("running as root and setpriv is missing: cannot try as an unprivileged user")
    os.chmod(tmp_path, 0o777)
    r = subprocess.run([*prefix, sys.executable, "-m", "harness.cli.sandbox", "up", "--hosts", "2",
                        "--dir", str(tmp_path / "sb"), "--out", str(tmp_path / "inv.yaml")],
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       env={**os.environ, "HOME": str(tmp_path)})
    assert r.returncode == 2, r.stderr
    assert "needs root" in r.stderr and "--loopback" in r.stderr
    assert not (tmp_path / "inv.yaml").exists()
