"""SSHTransport against real OpenSSH servers (tests/sshd_hosts.py); paramiko is not mocked."""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paramiko
import pytest

from harness.config.inventory import Host
from harness.errors import ConnectError, HostKeyError, TransportError
from harness.transport.ssh import (
    AuthFailed, ConnectRefused, ConnectTimedOut, HostNotFound, SSHOptions, SSHTransport, Target,
    load_ssh_config, resolve_target,
)
from harness.sandbox.sshd import descendants
from tests.sshd_hosts import (
    _alive, _keygen, ssh_config_entry, start_hosts, stop_hosts, write_known_hosts,
)

HOSTILE = [
    "two words", "it's", 'say "hi"', "a;b", "$(touch /tmp/pwned)", "`id`", "x\ny", "tab\there",
    "back\\slash", "*", "-n", "$HOME", "'; rm -rf / #", "ünïcødé", "",
]


@pytest.fixture(autouse=True)
def _no_agent(monkeypatch):
    # Tests decide for themselves whether an ssh-agent is there.
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def known_hosts(sshd_hosts, tmp_path) -> Path:
    return write_known_hosts(sshd_hosts, tmp_path / "known_hosts")


def options(tmp_path: Path, known_hosts: Path | None = None, **kw) -> SSHOptions:
    kh = known_hosts or (tmp_path / "empty_known_hosts")
    kw.setdefault("connect_timeout", 3)
    return SSHOptions(known_hosts=kh, harness_known_hosts=tmp_path / "harness" / "known_hosts",
                      ssh_config=None, **kw)


def host_of(test_host, **kw) -> Host:
    return Host(**{**test_host.inventory_entry(), **kw})


@pytest.fixture
def tr(sshd_hosts, known_hosts, tmp_path):
    t = SSHTransport(host_of(sshd_hosts[0]), options(tmp_path, known_hosts))
    yield t
    t.close()


@pytest.fixture
def own_host(tmp_path):
    """A host this test may restart or re-key."""
    hosts = start_hosts(1, tmp_path / "own", prefix="own")
    yield hosts[0]
    stop_hosts(hosts)


def ssh_keygen_fingerprint(pub: str, tmp_path: Path) -> str:
    p = tmp_path / "fp.pub"
    p.write_text(pub + "\n")
    return subprocess.run(["ssh-keygen", "-lf", str(p)], capture_output=True, text=True, check=True).stdout.split()[1]


# --- host keys ---

def test_known_hosts_entry_is_accepted(tr):
    assert tr.exec("echo ok").stdout == "ok\n"


def test_hashed_known_hosts_entry_is_accepted(sshd_hosts, known_hosts, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
    assert "|1|" in known_hosts.read_text() and "127.0.0.1" not in known_hosts.read_text()
    with SSHTransport(host_of(sshd_hosts[1]), options(tmp_path, known_hosts)) as t:
        assert t.exec("true").ok


def test_unknown_host_key_is_rejected_with_what_to_do(sshd_hosts, tmp_path):
    with pytest.raises(HostKeyError) as e:
        SSHTransport(host_of(sshd_hosts[0]), options(tmp_path))
    msg = str(e.value)
    assert "host h0" in msg and f"127.0.0.1:{sshd_hosts[0].port}" in msg
    assert "not known" in msg and "ssh-keyscan" in msg and "trust-on-first-use" in msg
    assert ssh_keygen_fingerprint(sshd_hosts[0].host_key_pub, tmp_path) in msg
    assert not (tmp_path / "harness" / "known_hosts").exists()


def test_trust_on_first_use_records_then_accepts(sshd_hosts, tmp_path):
    with SSHTransport(host_of(sshd_hosts[2]), options(tmp_path, trust_on_first_use=True)) as t:
        assert t.exec("true").ok
    recorded = (tmp_path / "harness" / "known_hosts").read_text()
    assert recorded == sshd_hosts[2].known_hosts_line + "\n"
    # The recorded key is trusted from now on, also without TOFU.
    with SSHTransport(host_of(sshd_hosts[2]), options(tmp_path)) as t:
        assert t.exec("true").ok
    assert (tmp_path / "harness" / "known_hosts").read_text() == recorded


def test_changed_host_key_is_refused_even_with_tofu(own_host, tmp_path):
    opts = options(tmp_path, trust_on_first_use=True)
    with SSHTransport(host_of(own_host), opts) as t:
        assert t.exec("true").ok
    own_host.restart(new_host_key=True)  # same address and port, new identity
    with pytest.raises(HostKeyError) as e:
        SSHTransport(host_of(own_host), opts)
    msg = str(e.value)
    harness_file = tmp_path / "harness" / "known_hosts"
    assert "host own0" in msg and "HAS CHANGED" in msg
    assert ssh_keygen_fingerprint(own_host.host_key_pub, tmp_path) in msg
    assert f"{harness_file}:1" in msg and "ssh-keygen -R" in msg
    assert harness_file.read_text().count("\n") == 1  # the new key was not recorded


def test_changed_key_names_the_users_known_hosts_line(own_host, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("# comment\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBa5mKwX0Vn7c3qQm8vOUmYQ3e1n2lWpXJ7Y2lZk9s1a\n"
                  + own_host.known_hosts_line + "\n")
    own_host.restart(new_host_key=True)
    with pytest.raises(HostKeyError, match=rf"{kh}:3"):
        SSHTransport(host_of(own_host), options(tmp_path, kh))


def test_revoked_key_is_refused(sshd_hosts, tmp_path):
    kh = tmp_path / "kh"
    kh.write_text(f"@revoked {sshd_hosts[0].known_hosts_line}\n{sshd_hosts[0].known_hosts_line}\n")
    with pytest.raises(HostKeyError, match=rf"host h0: .*marked @revoked at {kh}:1"):
        SSHTransport(host_of(sshd_hosts[0]), options(tmp_path, kh))


def test_tofu_from_parallel_connections_records_each_host_once(sshd_hosts, tmp_path):
    from harness.transport.fanout import fan_out
    opts = options(tmp_path, trust_on_first_use=True)
    twice = {f"{h.name}-{i}": host_of(h) for h in sshd_hosts for i in range(2)}  # two connections per host at once
    out = fan_out(twice, lambda h: SSHTransport(h, opts).close())
    assert all(o.ok for o in out.values()), out
    lines = (tmp_path / "harness" / "known_hosts").read_text().splitlines()
    assert sorted(lines) == sorted(h.known_hosts_line for h in sshd_hosts)


def test_insecure_mode_connects_and_warns_every_time(sshd_hosts, tmp_path, capfd):
    opts = options(tmp_path, insecure_no_host_key_check=True)
    for _ in range(2):
        with SSHTransport(host_of(sshd_hosts[0]), opts) as t:
            assert t.exec("echo ok").stdout == "ok\n"
    err = capfd.readouterr().err
    assert err.count("WARNING") == 2 and "host h0" in err and "NOT verifying" in err
    assert not (tmp_path / "harness" / "known_hosts").exists()


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

def test_exec_returns_exit_code_stdout_and_stderr(tr):
    r = tr.exec("echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr, r.ok, r.host) == (7, "out\n", "err\n", False, "h0")
    assert tr.exec("true").ok


def test_exec_feeds_stdin_and_handles_large_output(tr):
    data = os.urandom(3 * 1024 * 1024)
    r = tr.exec("wc -c; head -c 2000000 /dev/zero | tr '\\0' x; head -c 100000 /dev/zero | tr '\\0' y >&2", stdin=data)
    assert r.stdout.startswith(f"{len(data)}\n") and r.stdout.count("x") == 2_000_000
    assert r.stderr == "y" * 100_000


def test_exec_timeout_raises_and_the_connection_stays_usable(tr):
    start = time.monotonic()
    with pytest.raises(TransportError, match="host h0: command timed out after 0.5 s"):
        tr.exec("sleep 5", timeout=0.5)
    assert time.monotonic() - start < 2
    assert tr.exec("echo still").stdout == "still\n"


def test_hostile_strings_arrive_verbatim(tr):
    for s in HOSTILE:
        assert tr.exec(f"printf '%s' {shlex.quote(s)}").stdout == s, s
    assert not Path("/tmp/pwned").exists()


def test_hostile_paths_for_files(tr, tmp_path):
    base = tmp_path / "dir with 'quotes'; and $(x)"
    path = f"{base}/sub dir/file \"x\";y.txt"
    tr.write_file(path, b"payload\n")
    assert tr.exec(f"cat {shlex.quote(path)}").stdout == "payload\n"
    assert tr.list_files(str(base)) == [("sub dir/file \"x\";y.txt", 8)]


def test_concurrent_commands_share_the_connection(tr):
    results = {}

    def run(i):
        results[i] = tr.exec(f"echo {i}").stdout
    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"{i}\n" for i in range(12)}
    assert tr.connects == 1


def test_an_eof_sent_late_does_not_drop_the_connection(tr, monkeypatch):
    """A command that exits before its stdin's EOF is sent (a thread descheduled on a busy
    host): paramiko's shutdown_write would send that EOF after the channel's CLOSE and
    OpenSSH would drop the connection with every command on it. Here each EOF is held back
    until its channel has closed, or 1 s: the connection must survive, unreconnected, and
    a command that reads its stdin to the end still gets all of it and the EOF."""
    transport = tr._active()
    opened, real_session, real_send = [], tr._session, transport._send_user_message

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

    monkeypatch.setattr(tr, "_session", session)
    monkeypatch.setattr(transport, "_send_user_message", late_eof)
    assert tr.exec("true").ok
    assert tr.exec("echo still here").stdout == "still here\n"
    assert tr.exec("cat", stdin=b"all of it").stdout == "all of it"
    assert tr.connects == 1 and transport.is_active()


# --- files ---

def test_write_file_creates_parents_and_sets_mode(tr, tmp_path):
    secret = f"{tmp_path}/a/b/c/secret.env"
    tr.write_file(secret, b"TOKEN=1\n", mode=0o600)
    assert tr.exec(f"stat -c %a {shlex.quote(secret)}").stdout.strip() == "600"
    assert tr.read_file(secret) == b"TOKEN=1\n"
    # Replacing a world-readable file keeps the new mode, and no temp files are left behind.
    public = f"{tmp_path}/a/public.txt"
    tr.write_file(public, b"x", mode=0o644)
    tr.write_file(public, b"y", mode=0o600)
    assert tr.exec(f"stat -c %a {shlex.quote(public)}").stdout.strip() == "600"
    assert tr.exec(f"ls -A {shlex.quote(str(tmp_path))}/a").stdout.split() == ["b", "public.txt"]


def test_put_get_list_files_roundtrip(tr, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1_500_000))
    src.chmod(0o750)
    remote = tmp_path / "remote"
    tr.put(src, f"{remote}/deep/er/blob.bin")
    tr.write_file(f"{remote}/top.txt", b"hello")
    os.symlink("/etc", remote / "link-to-etc")  # not followed, not listed
    assert tr.list_files(str(remote)) == [("deep/er/blob.bin", 1_500_000), ("top.txt", 5)]
    assert tr.exec(f"stat -c %a {remote}/deep/er/blob.bin").stdout.strip() == "750"
    back = tmp_path / "back" / "blob.bin"
    tr.get(f"{remote}/deep/er/blob.bin", back)
    assert back.read_bytes() == src.read_bytes()
    assert tr.list_files(str(tmp_path / "missing")) == []


def test_missing_files_raise_transport_errors_naming_host_and_path(tr, tmp_path):
    with pytest.raises(TransportError, match=rf"host h0: cannot read {tmp_path}/nope"):
        tr.read_file(f"{tmp_path}/nope")
    with pytest.raises(TransportError, match="host h0: cannot download"):
        tr.get(f"{tmp_path}/nope", tmp_path / "out")
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


# --- target resolution (pure) ---

SSH_CONFIG = """
Host bastion
  HostName 203.0.113.5
  User ec2-user
  IdentityFile ~/.ssh/bastion.pem
Host inner-bastion
  HostName 10.0.0.2
  ProxyJump bastion
Host gpu-*
  User ubuntu
  Port 2222
  IdentityFile /keys/gpu.pem
  ProxyJump bastion
Host gpu-1
  HostName 10.0.1.11
Host direct
  HostName 10.0.2.2
  HostKeyAlias direct-alias
  IdentitiesOnly yes
"""


def test_resolve_target_honours_ssh_config():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    t = resolve_target(Host(name="g", address="gpu-1"), cfg, local_user="me")
    assert (t.hostname, t.port, t.user, t.key_files) == ("10.0.1.11", 2222, "ubuntu", ("/keys/gpu.pem",))
    (j,) = t.proxy_jumps
    assert (j.hostname, j.port, j.user, j.alias) == ("203.0.113.5", 22, "ec2-user", "bastion")
    assert j.key_files == (os.path.expanduser("~/.ssh/bastion.pem"),)
    assert t.known_hosts_name == "[10.0.1.11]:2222" and j.known_hosts_name == "203.0.113.5"


def test_resolve_target_inventory_fields_win():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    h = Host(name="g", address="gpu-1", user="root", port=22, key="/inv/key", proxy_jump="none")
    t = resolve_target(h, cfg, local_user="me")
    assert (t.hostname, t.port, t.user, t.proxy_jumps) == ("10.0.1.11", 22, "root", ())
    assert t.key_files == ("/inv/key", "/keys/gpu.pem")


def test_resolve_target_jump_chains_and_specs():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    h = Host(name="g", address="10.9.9.9", proxy_jump="inner-bastion,admin@10.0.3.3:2200,[fd00::1]:23", key="/k")
    t = resolve_target(h, cfg, local_user="me")
    hops = [(j.hostname, j.port, j.user) for j in t.proxy_jumps]
    # The first jump's own ProxyJump (bastion) comes first, as with `ssh -J`.
    assert hops == [("203.0.113.5", 22, "ec2-user"), ("10.0.0.2", 22, "me"), ("10.0.3.3", 2200, "admin"),
                    ("fd00::1", 23, "me")]
    assert all(j.key_files[-1] == "/k" for j in t.proxy_jumps)  # inventory key as a fallback
    assert (t.hostname, t.port, t.user) == ("10.9.9.9", 22, "me")


def test_resolve_target_plain_address_and_aliases():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    t = resolve_target(Host(name="d", address="direct"), cfg, local_user="me")
    assert t.known_hosts_name == "direct-alias" and t.identities_only and t.hostname == "10.0.2.2"
    assert resolve_target(Host(name="x", address="198.18.0.10"), None, local_user="me") == Target(
        hostname="198.18.0.10", port=22, user="me", alias="198.18.0.10")


def test_load_ssh_config_missing_file_is_empty(tmp_path):
    assert load_ssh_config(tmp_path / "none").lookup("x")["hostname"] == "x"


# --- hosts in network namespaces (root only) ---

@pytest.mark.root
@pytest.mark.netns
def test_namespace_hosts_have_their_own_addresses(netns_lab, tmp_path):
    from harness.transport.fanout import fan_out
    kh = write_known_hosts(netns_lab.hosts, tmp_path / "kh")  # port 22: plain "198.18.x.y" names
    opts = options(tmp_path, kh)
    gateway = str(netns_lab.subnet.network_address + 1)

    def where(host):
        with SSHTransport(host, opts) as t:
            return t.exec("echo $SSH_CONNECTION").stdout.split()

    hosts = [Host(**h.inventory_entry()) for h in netns_lab.hosts[:2]]
    out = fan_out(hosts, where)
    for h in hosts:
        client_ip, _, server_ip, server_port = out[h.name].value
        assert (client_ip, server_ip, server_port) == (gateway, h.address, "22")
    assert netns_lab.subnet.subnet_of(ipaddress.ip_network("198.18.0.0/15"))


@pytest.mark.root
@pytest.mark.netns
def test_private_namespace_host_is_reachable_only_through_its_jump(netns_lab, tmp_path):
    jump = netns_lab.hosts[0]
    private = netns_lab.add_private_host(jump)
    kh = write_known_hosts([jump, private], tmp_path / "kh")
    with pytest.raises(ConnectError, match=rf"host {private.name}: cannot connect to {private.address}:22"):
        SSHTransport(host_of(private), options(tmp_path, kh, connect_timeout=1))
    with SSHTransport(host_of(private, proxy_jump=f"{jump.user}@{jump.address}"), options(tmp_path, kh)) as t:
        client_ip, _, server_ip, _ = t.exec("echo $SSH_CONNECTION").stdout.split()
        assert (client_ip, server_ip) == (jump.address, private.address)


@pytest.mark.root
@pytest.mark.netns
def test_stale_namespaces_of_a_dead_run_are_removed():
    from tests.netns_hosts import NETNS_PREFIX, netns_unavailable_reason, remove_stale_netns
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now belongs to no process: a "crashed" owner
    tag = f"{NETNS_PREFIX}{dead.pid:x}"
    subprocess.run(["ip", "netns", "add", f"{tag}-0"], check=True)
    subprocess.run(["ip", "link", "add", f"{tag}-br", "type", "bridge"], check=True)
    removed = remove_stale_netns()
    assert f"{tag}-0" in removed and f"{tag}-br" in removed
    assert f"{tag}-" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"{tag}-" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_test_hosts_die_with_a_killed_test_process(tmp_path):
    script = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).parent.parent)!r});"
              f"from tests.sshd_hosts import start_hosts;"
              f"hs = start_hosts(2, {str(tmp_path)!r}); print(*[h.proc.pid for h in hs], flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in child.stdout.readline().split()]
    assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
    child.kill()  # no atexit, no fixture teardown
    child.wait()
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(p) for p in pids)
