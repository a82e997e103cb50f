"""Host-key verification (ssh_hostkeys.py) against real OpenSSH servers: known_hosts
entries plain and hashed, unknown and changed keys refused with what to do, revoked keys,
trust on first use only when asked, and the insecure mode's warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.errors import HostKeyError
from harness.transport.ssh import SSHTransport
from tests.support.sshd_hosts import host_of, transport_options as options

pytestmark = pytest.mark.usefixtures("no_ssh_agent")


def ssh_keygen_fingerprint(pub: str, tmp_path: Path) -> str:
    p = tmp_path / "fp.pub"
    p.write_text(pub + "\n")
    return subprocess.run(["ssh-keygen", "-lf", str(p)], capture_output=True, text=True, check=True).stdout.split()[1]


def test_known_hosts_entry_is_accepted(ssh_transport):
    assert ssh_transport.exec("echo ok").stdout == "ok\n"


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
