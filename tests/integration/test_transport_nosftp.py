"""A host whose sshd has no working SFTP subsystem: files go over the exec channel, with
the same atomic writes and modes, binary-safe reads, listings, and a bundle sync."""

import os
import stat

import pytest

from harness.stages.bundle import build_bundle
from harness.config.inventory import Host
from harness.stages.sync import sync_host
from harness.transport.ssh import SSHOptions, SSHTransport
from tests.support.sshd_hosts import start_hosts, stop_hosts, write_known_hosts


@pytest.fixture
def nosftp(tmp_path, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    hosts = start_hosts(1, tmp_path / "ns", prefix="nosftp", extra_config=("Subsystem sftp /nonexistent/sftp-server",))
    opts = SSHOptions(known_hosts=write_known_hosts(hosts, tmp_path / "kh"), ssh_config=None,
                      harness_known_hosts=tmp_path / "hk", connect_timeout=5)
    t = SSHTransport(Host(**hosts[0].inventory_entry()), opts)
    yield t, hosts[0]
    t.close()
    stop_hosts(hosts)


def test_files_fall_back_to_the_exec_channel(nosftp, tmp_path):
    tr, _ = nosftp
    data = bytes(range(256)) * 40 + b"\n\x00end"
    target = str(tmp_path / "remote dir" / "it's" / "secret.bin")
    tr.write_file(target, data, mode=0o600)
    assert tr.sftp_fallback and "no SFTP subsystem" in tr.sftp_fallback
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600 and open(target, "rb").read() == data
    assert tr.read_file(target) == data
    assert not [p for p in os.listdir(os.path.dirname(target)) if p.startswith(".harness-tmp")]
    local = tmp_path / "back" / "copy.bin"
    tr.get(target, local)
    assert local.read_bytes() == data
    up = tmp_path / "up.txt"
    up.write_text("x")
    tr.put(up, str(tmp_path / "remote dir" / "sub" / "up.txt"))
    assert tr.list_files(str(tmp_path / "remote dir")) == [("it's/secret.bin", len(data)), ("sub/up.txt", 1)]
    assert tr.list_files(str(tmp_path / "missing")) == []


def test_bundle_sync_works_without_sftp(nosftp, tmp_path):
    tr, th = nosftp
    host = Host(**{**th.inventory_entry(), "workdir": str(tmp_path / "w")})
    r = sync_host(tr, host, build_bundle(), None)
    assert r.uploaded_bytes > 0 and (tmp_path / "w" / "bundles").is_dir()
    assert sync_host(tr, host, build_bundle(), None).reused == ["code"]
