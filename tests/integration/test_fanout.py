"""fan_out: bounded, per-host results, failures as data; on real sshd hosts."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness.config.inventory import Inventory
from harness.errors import ConfigError, TransportError
from harness.transport.fanout import Outcome, fan_out
from harness.transport.ssh import ConnectRefused, SSHOptions, SSHTransport
from tests.support.sshd_hosts import inventory_dict, write_known_hosts


pytestmark = pytest.mark.usefixtures("no_ssh_agent")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_dead_host_does_not_lose_the_others(sshd_hosts, tmp_path):
    data = inventory_dict(sshd_hosts)
    data["hosts"].insert(1, {"name": "dead", "address": "127.0.0.1", "port": _closed_port(),
                             "key": str(sshd_hosts[0].key_path)})
    inv = Inventory.model_validate(data)
    opts = SSHOptions(known_hosts=write_known_hosts(sshd_hosts, tmp_path / "kh"),
                      harness_known_hosts=tmp_path / "hkh", ssh_config=None, connect_timeout=3)

    def probe(host):
        with SSHTransport(host, opts) as t:
            return t.exec("echo $SSH_CONNECTION").stdout.split()[3]

    out = fan_out(inv.hosts, probe)
    assert list(out) == ["h0", "dead", "h1", "h2"]  # input order
    assert {k: o.value for k, o in out.items() if o.ok} == {h.name: str(h.port) for h in sshd_hosts}
    assert isinstance(out["dead"].error, ConnectRefused) and "host dead" in str(out["dead"].error)
    assert [k for k, o in out.items() if not o.ok] == ["dead"]


def test_hosts_run_in_parallel(sshd_hosts, tmp_path):
    inv = Inventory.model_validate(inventory_dict(sshd_hosts))
    opts = SSHOptions(known_hosts=write_known_hosts(sshd_hosts, tmp_path / "kh"),
                      harness_known_hosts=tmp_path / "hkh", ssh_config=None)
    transports = fan_out(inv.hosts, lambda h: SSHTransport(h, opts))
    try:
        start = time.monotonic()
        out = fan_out({n: o.value for n, o in transports.items()}, lambda t: t.exec("sleep 0.6").returncode)
        assert time.monotonic() - start < 1.5
        assert {n: o.value for n, o in out.items()} == {"h0": 0, "h1": 0, "h2": 0}
    finally:
        for o in transports.values():
            o.value.close()


def test_unexpected_exceptions_are_wrapped_with_the_host_name():
    def fn(name):
        if name == "b":
            raise ValueError("boom")
        if name == "c":
            raise ConfigError(["c: bad"])
        return name.upper()

    out = fan_out(["a", "b", "c"], fn)
    assert out["a"] == Outcome(value="A", error=None, seconds=out["a"].seconds)
    err = out["b"].error
    assert isinstance(err, TransportError) and err.host == "b" and "unexpected ValueError: boom" in str(err)
    assert isinstance(err.__cause__, ValueError)
    assert isinstance(out["c"].error, ConfigError)  # HarnessErrors are kept as they are


def test_pool_is_bounded():
    lock, running, peak = threading.Lock(), [0], [0]

    def fn(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return i

    out = fan_out(range(10), fn, max_workers=3)
    assert peak[0] == 3 and [o.value for o in out.values()] == list(range(10))


def test_mapping_input_empty_input_and_duplicate_keys():
    assert {k: o.value for k, o in fan_out({"x": 1, "y": 2}, lambda v: v * 10).items()} == {"x": 10, "y": 20}
    assert fan_out([], lambda v: v) == {}
    with pytest.raises(ValueError, match="duplicate"):
        fan_out([1, 1], lambda v: v)
