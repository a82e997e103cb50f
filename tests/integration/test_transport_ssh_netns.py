"""SSH test hosts as real hosts are: in network namespaces with their own addresses (root
only), a private one reachable only through its jump host; and the test hosts themselves
leave nothing behind (stale namespaces of a dead run, sshd of a killed test process)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config.inventory import Host
from harness.errors import ConnectError
from harness.transport.ssh import SSHTransport
from tests.support.sshd_hosts import _alive, host_of, transport_options as options, write_known_hosts

pytestmark = pytest.mark.usefixtures("no_ssh_agent")


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
    from tests.support.netns_hosts import NETNS_PREFIX, netns_unavailable_reason, remove_stale_netns
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
    script = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r});"
              f"from tests.support.sshd_hosts import start_hosts;"
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
