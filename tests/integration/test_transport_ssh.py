"""SSHTransport against real OpenSSH servers (tests/support/sshd_hosts.py); paramiko is not mocked."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from harness.config.inventory import Host
from harness.errors import ConnectError, HostKeyError, TransportError
from harness.transport.ssh import (
    AuthFailed, ConnectRefused, ConnectTimedOut, HostNotFound, SSHOptions, SSHTransport,
)
from harness.sandbox.sshd import descendants
from tests.support.sshd_hosts import (
    _keygen, host_of, ssh_config_entry, start_hosts, stop_hosts, transport_options as options, write_known_hosts,
)

pytestmark = pytest.mark.usefixtures("no_ssh_agent")

HOSTILE = [
    "two words", "it's", 'say "hi"', "a;b", "$(touch /tmp/pwned)", "`id`", "x\ny", "tab\there",
    "back\\slash", "*", "-n", "$HOME", "'; rm -rf / #", "ünïcødé", "",
]


# --- ProxyJump ---

def _socket_owners(port: int) -> set[int]:
    """Pids holding the local 127.0.0.1 TCP socket with source port `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port:
            inodes.add(f[9])
    owners = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in {f"socket:[{i}]" for i in inodes}:
                    owners.add(int(pid))
        except OSError:
            continue
    return owners


def test_proxy_jump_from_ssh_config_goes_through_the_jump_host(sshd_hosts, known_hosts, tmp_path):
    jump, target = sshd_hosts[0], sshd_hosts[1]
    cfg = tmp_path / "ssh_config"
    cfg.write_text(ssh_config_entry("bastion", jump) + ssh_config_entry("gpu1", target, proxy_jump="bastion"))
    opts = SSHOptions(known_hosts=known_hosts, harness_known_hosts=tmp_path / "h", ssh_config=cfg, connect_timeout=3)
    with SSHTransport(Host(name="t", address="gpu1"), opts) as t:
        assert t.via == ["bastion"]
        client_ip, client_port, server_ip, server_port = t.exec("echo $SSH_CONNECTION").stdout.split()
        # The target's peer socket belongs to the jump host's sshd, not to this process.
        owners = _socket_owners(int(client_port))
        assert owners and os.getpid() not in owners
        assert owners <= set(descendants(jump.proc.pid))
        assert int(server_port) == target.port


def test_proxy_jump_really_used_fails_when_jump_forbids_forwarding(sshd_hosts, tmp_path):
    jumps = start_hosts(1, tmp_path / "nofwd", prefix="nofwd", extra_config=("AllowTcpForwarding no",),
                        client_key=sshd_hosts[0].key_path)
    try:
        kh = write_known_hosts(jumps + sshd_hosts, tmp_path / "kh")
        spec = f"{jumps[0].user}@{jumps[0].address}:{jumps[0].port}"
        with pytest.raises(ConnectError) as e:
            SSHTransport(host_of(sshd_hosts[1], proxy_jump=spec), options(tmp_path, kh))
        assert "host h1" in str(e.value) and f"jump host {spec}" in str(e.value)
        assert "could not open a connection" in str(e.value)
    finally:
        stop_hosts(jumps)


def test_jump_host_key_is_verified_too(sshd_hosts, tmp_path):
    kh = write_known_hosts([sshd_hosts[1]], tmp_path / "kh")  # the target only
    spec = f"{sshd_hosts[0].address}:{sshd_hosts[0].port}"
    with pytest.raises(HostKeyError, match=rf"host h1: .*jump host {spec}.* is not known"):
        SSHTransport(host_of(sshd_hosts[1], proxy_jump=spec), options(tmp_path, kh))


def test_inventory_proxy_jump_chain_uses_inventory_key_for_jumps(sshd_hosts, known_hosts, tmp_path):
    # Two hops (h0 then h1) to h2; the jumps have no ssh_config, so the inventory key is used.
    chain = ",".join(f"{h.user}@{h.address}:{h.port}" for h in sshd_hosts[:2])
    with SSHTransport(host_of(sshd_hosts[2], proxy_jump=chain), options(tmp_path, known_hosts)) as t:
        assert len(t.via) == 2
        assert t.exec("echo $SSH_CONNECTION").stdout.split()[3] == str(sshd_hosts[2].port)


# --- connect errors ---

def test_auth_failure_names_host_user_and_key(sshd_hosts, known_hosts, tmp_path):
    stranger = tmp_path / "stranger_key"
    _keygen(stranger, "stranger")
    with pytest.raises(AuthFailed) as e:
        SSHTransport(host_of(sshd_hosts[0], key=str(stranger)), options(tmp_path, known_hosts))
    msg = str(e.value)
    assert "host h0" in msg and f"authentication as {sshd_hosts[0].user!r} failed" in msg
    assert f"{stranger} (rejected)" in msg and "authorized_keys" in msg


def _encrypted_copy(key: Path, dest: Path) -> Path:
    dest.write_bytes(key.read_bytes())
    dest.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "s3cret passphrase", "-f", str(dest)],
                   check=True, capture_output=True)
    return dest


def test_passphrase_protected_key_is_used_through_ssh_agent(sshd_hosts, known_hosts, tmp_path, monkeypatch):
    enc = _encrypted_copy(sshd_hosts[0].key_path, tmp_path / "enc_key")
    host = host_of(sshd_hosts[0], key=str(enc))
    with pytest.raises(AuthFailed, match="passphrase-protected; add it to ssh-agent"):
        SSHTransport(host, options(tmp_path, known_hosts))  # never prompts
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(sshd_hosts[0].key_path)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        with SSHTransport(host, options(tmp_path, known_hosts)) as t:
            assert t.exec("true").ok
    finally:
        agent.terminate()
        agent.wait()


def test_connection_refused_names_host_and_address(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectRefused, match=rf"host dead: cannot connect to 127.0.0.1:{port}: connection refused"):
        SSHTransport(Host(name="dead", address="127.0.0.1", port=port), options(tmp_path))


def test_connect_timeout_when_syn_is_dropped(tmp_path):
    # A listener whose accept queue is full drops further SYNs: the TCP connect hangs.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        start = time.monotonic()
        with pytest.raises(ConnectTimedOut, match=rf"host slow: cannot connect to 127.0.0.1:{port}: timed out after 1 s"):
            SSHTransport(Host(name="slow", address="127.0.0.1", port=port), options(tmp_path, connect_timeout=1))
        assert time.monotonic() - start < 3
    finally:
        filler.close()
        srv.close()


def test_connect_timeout_when_no_ssh_greeting(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        with pytest.raises(ConnectTimedOut, match="no SSH greeting within 1 s"):
            SSHTransport(Host(name="mute", address="127.0.0.1", port=port), options(tmp_path, connect_timeout=1))
    finally:
        srv.close()


def test_dns_failure_names_the_host(tmp_path, monkeypatch):
    # Simulated: a real lookup would send a query to a resolver outside the test ranges.
    def no_such_name(*a, **kw):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "create_connection", no_such_name)
    with pytest.raises(HostNotFound, match=r"host gpu9: .*'gpu9.internal' does not resolve"):
        SSHTransport(Host(name="gpu9", address="gpu9.internal"), options(tmp_path))


# --- commands ---

def test_exec_returns_exit_code_stdout_and_stderr(ssh_transport):
    r = ssh_transport.exec("echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr, r.ok, r.host) == (7, "out\n", "err\n", False, "h0")
    assert ssh_transport.exec("true").ok


def test_exec_feeds_stdin_and_handles_large_output(ssh_transport):
    data = os.urandom(3 * 1024 * 1024)
    r = ssh_transport.exec("wc -c; head -c 2000000 /dev/zero | tr '\\0' x; head -c 100000 /dev/zero | tr '\\0' y >&2", stdin=data)
    assert r.stdout.startswith(f"{len(data)}\n") and r.stdout.count("x") == 2_000_000
    assert r.stderr == "y" * 100_000


def test_exec_timeout_raises_and_the_connection_stays_usable(ssh_transport):
    start = time.monotonic()
    with pytest.raises(TransportError, match="host h0: command timed out after 0.5 s"):
        ssh_transport.exec("sleep 5", timeout=0.5)
    assert time.monotonic() - start < 2
    assert ssh_transport.exec("echo still").stdout == "still\n"


def test_a_connection_lost_mid_command_is_an_error_not_an_empty_success(ssh_transport):
    # A dead link closes the channel with no exit status; paramiko reports -1 as it does
    # for a command killed by a signal. The first must raise, the second must not.
    killed = ssh_transport.exec("kill -KILL $$")
    assert killed.returncode == -1 and not killed.ok
    t = ssh_transport._transports[-1]
    threading.Timer(0.5, lambda: t.sock.shutdown(socket.SHUT_RDWR)).start()
    with pytest.raises(TransportError, match="host h0: connection lost while running a command"):
        ssh_transport.exec("sleep 5; echo done")
    assert ssh_transport.exec("echo back").stdout == "back\n"  # and the next command reconnects


def test_hostile_strings_arrive_verbatim(ssh_transport):
    for s in HOSTILE:
        assert ssh_transport.exec(f"printf '%s' {shlex.quote(s)}").stdout == s, s
    assert not Path("/tmp/pwned").exists()


def test_hostile_paths_for_files(ssh_transport, tmp_path):
    base = tmp_path / "dir with 'quotes'; and $(x)"
    path = f"{base}/sub dir/file \"x\";y.txt"
    ssh_transport.write_file(path, b"payload\n")
    assert ssh_transport.exec(f"cat {shlex.quote(path)}").stdout == "payload\n"
    assert ssh_transport.list_files(str(base)) == [("sub dir/file \"x\";y.txt", 8)]


def test_concurrent_commands_share_the_connection(ssh_transport):
    results = {}

    def run(i):
        results[i] = ssh_transport.exec(f"echo {i}").stdout
    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"{i}\n" for i in range(12)}
    assert ssh_transport.connects == 1


def test_an_eof_sent_late_does_not_drop_the_connection(ssh_transport, monkeypatch):
    """A command that exits before its stdin's EOF is sent (a thread descheduled on a busy
    host): paramiko's shutdown_write would send that EOF after the channel's CLOSE and
    OpenSSH would drop the connection with every command on it. Here each EOF is held back
    until its channel has closed, or 1 s: the connection must survive, unreconnected, and
    a command that reads its stdin to the end still gets all of it and the EOF."""
    transport = ssh_transport._active()
    opened, real_session, real_send = [], ssh_transport._session, transport._send_user_message

    def session():
        opened.append(real_session())
        return opened[-1]

    def late_eof(msg):
        raw = msg.asbytes()
        if raw[:1] == paramiko.common.cMSG_CHANNEL_EOF:
            # the newest channel with that id: the server reuses a closed channel's number
            chan = next(c for c in reversed(opened) if c.remote_chanid == int.from_bytes(raw[1:5], "big"))
            deadline = time.monotonic() + 1
            while not chan.closed and time.monotonic() < deadline:
                time.sleep(0.01)
        return real_send(msg)

    monkeypatch.setattr(ssh_transport, "_session", session)
    monkeypatch.setattr(transport, "_send_user_message", late_eof)
    assert ssh_transport.exec("true").ok
    assert ssh_transport.exec("echo still here").stdout == "still here\n"
    assert ssh_transport.exec("cat", stdin=b"all of it").stdout == "all of it"
    assert ssh_transport.connects == 1 and transport.is_active()


# --- files ---

def test_write_file_creates_parents_and_sets_mode(ssh_transport, tmp_path):
    secret = f"{tmp_path}/a/b/c/secret.env"
    ssh_transport.write_file(secret, b"TOKEN=1\n", mode=0o600)
    assert ssh_transport.exec(f"stat -c %a {shlex.quote(secret)}").stdout.strip() == "600"
    assert ssh_transport.read_file(secret) == b"TOKEN=1\n"
    # Replacing a world-readable file keeps the new mode, and no temp files are left behind.
    public = f"{tmp_path}/a/public.txt"
    ssh_transport.write_file(public, b"x", mode=0o644)
    ssh_transport.write_file(public, b"y", mode=0o600)
    assert ssh_transport.exec(f"stat -c %a {shlex.quote(public)}").stdout.strip() == "600"
    assert ssh_transport.exec(f"ls -A {shlex.quote(str(tmp_path))}/a").stdout.split() == ["b", "public.txt"]


def test_put_get_list_files_roundtrip(ssh_transport, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1_500_000))
    src.chmod(0o750)
    remote = tmp_path / "remote"
    ssh_transport.put(src, f"{remote}/deep/er/blob.bin")
    ssh_transport.write_file(f"{remote}/top.txt", b"hello")
    os.symlink("/etc", remote / "link-to-etc")  # not followed, not listed
    assert ssh_transport.list_files(str(remote)) == [("deep/er/blob.bin", 1_500_000), ("top.txt", 5)]
    assert ssh_transport.exec(f"stat -c %a {remote}/deep/er/blob.bin").stdout.strip() == "750"
    back = tmp_path / "back" / "blob.bin"
    ssh_transport.get(f"{remote}/deep/er/blob.bin", back)
    assert back.read_bytes() == src.read_bytes()
    assert ssh_transport.list_files(str(tmp_path / "missing")) == []


def test_missing_files_raise_transport_errors_naming_host_and_path(ssh_transport, tmp_path):
    with pytest.raises(TransportError, match=rf"host h0: cannot read {tmp_path}/nope"):
        ssh_transport.read_file(f"{tmp_path}/nope")
    with pytest.raises(TransportError, match="host h0: cannot download"):
        ssh_transport.get(f"{tmp_path}/nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_connection_is_reused_for_commands_and_files(sshd_hosts, known_hosts, tmp_path):
    host = sshd_hosts[1]
    before = host.log_text().count("Accepted publickey")
    with SSHTransport(host_of(host), options(tmp_path, known_hosts)) as t:
        for i in range(30):
            assert t.exec(f"echo {i}").stdout == f"{i}\n"
        for i in range(5):
            t.write_file(f"{tmp_path}/f{i}", b"x")
            assert t.read_file(f"{tmp_path}/f{i}") == b"x"
        assert t.connects == 1
    assert host.log_text().count("Accepted publickey") == before + 1


def test_reconnects_once_after_the_connection_dropped(own_host, tmp_path):
    kh = write_known_hosts([own_host], tmp_path / "kh")
    with SSHTransport(host_of(own_host), options(tmp_path, kh)) as t:
        assert t.exec("true").ok
        own_host.restart()  # kills the session's sshd process too
        deadline = time.monotonic() + 5
        while t._transports[-1].is_active() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert t.exec("echo back").stdout == "back\n"
        assert t.connects == 2
