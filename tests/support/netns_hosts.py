"""Test hosts in network namespaces (root only; a pytest plugin): a bridge in 198.18.0.0/15
with sshd hosts at .10, .11, ... in their own namespaces (the sandbox's layout, built with
harness.sandbox.netns), a host reachable only through a jump host, and the removal of
namespaces left by a crashed test run (tag "hts" + the owner's pid in hex)."""

from __future__ import annotations

import atexit
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.sandbox import netns, sshd
from tests.support.sshd_hosts import BENCH_NET, TestHost, _client_key, _new_host, _start_all, stop_hosts

NETNS_PREFIX = "hts"  # every namespace/link this module makes starts with it


def netns_unavailable_reason() -> str | None:
    reason = netns.netns_unavailable_reason() or sshd.available()
    if reason:
        return reason
    try:
        with netns.ScratchNamespace(NETNS_PREFIX):
            pass
    except HarnessError as e:
        return f"cannot create a network namespace: {e}"
    return None


def _ip(*args: str) -> None:
    netns.run(["ip", *args])


def _owner_alive(tag: str) -> bool:
    # Tags are NETNS_PREFIX + the owning pid in hex: a dead owner means a crashed run.
    m = re.match(rf"{NETNS_PREFIX}([0-9a-f]+)$", tag)
    if not m:
        return True
    try:
        os.kill(int(m.group(1), 16), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _stale(name: str, only_tag: str | None) -> bool:
    if not name.startswith(NETNS_PREFIX) or "probe" in name or "-" not in name:
        return False
    tag = name.split("-")[0]
    return tag == only_tag if only_tag else not _owner_alive(tag)


def remove_stale_netns(only_tag: str | None = None) -> list[str]:
    """Remove namespaces and links left by crashed runs (or all of `only_tag`'s)."""
    removed = []
    for ns in netns.namespaces():
        if _stale(ns, only_tag):
            sshd.kill_all(netns.namespace_pids(ns), grace=1.0)
            netns.delete_namespace(ns)
            removed.append(ns)
    for name in netns.links():
        if _stale(name, only_tag):
            netns.delete_link(name)
            removed.append(name)
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 198.18.0.0/15 not on any interface, starting at an offset from the pid so
    concurrent runs rarely try the same one."""
    used = netns.used_networks()
    subnets = list(BENCH_NET.subnets(new_prefix=24))[1:-1]
    skip = subnets[:os.getpid() % 500]
    try:
        return netns.allocate_subnet(used + skip)
    except HarnessError:
        return netns.allocate_subnet(used)


@dataclass(eq=False)
class NetnsLab:
    """A bridge (gateway .1 in the root namespace) and hosts at .10, .11, ... in their own
    namespaces, listening on port 22 of their own addresses (the sandbox's layout)."""

    tag: str
    bridge: str
    subnet: ipaddress.IPv4Network
    dir: Path
    client_key: Path
    hosts: list[TestHost] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def add_private_host(self, jump: TestHost) -> TestHost:
        """A host linked only to `jump`'s namespace (a veth between the two, /32 routes,
        no forwarding): unreachable from the root namespace, reachable through `jump`.
        Its address sits in the bridge subnet, so a direct try stays on the bridge and fails
        there instead of following the default route off the machine."""
        index = sum(1 for h in self.hosts if h.name.startswith("private"))
        ns = f"{self.tag}-p{index}"
        addr = str(self.subnet.network_address + 200 + index)
        jump_addr = jump.address
        a, b = f"{self.tag}-j{index}", f"{self.tag}-q{index}"
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("-n", jump.netns, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns)
        _ip("-n", jump.netns, "link", "set", a, "up")
        _ip("-n", jump.netns, "route", "add", f"{addr}/32", "dev", a, "src", jump_addr)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", b, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{addr}/32", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", f"{jump_addr}/32", "dev", "eth0")
        h = _new_host(f"private{index}", self.dir / f"private{index}", addr, 22, self.client_key, ns=ns)
        _start_all([h])
        self.hosts.append(h)
        return h

    def close(self) -> None:
        stop_hosts(self.hosts)
        for ns in reversed(self.namespaces):
            sshd.kill_all(netns.namespace_pids(ns), grace=1.0)
            netns.delete_namespace(ns)
        netns.delete_link(self.bridge)
        remove_stale_netns(only_tag=self.tag)  # anything a failed setup left half-made


def start_netns_hosts(n: int, tmp_dir: Path, *, client_key: Path | None = None) -> NetnsLab:
    """Root only. n hosts at <subnet>.10+i:22, each in namespace '<tag>-<i>'."""
    reason = netns_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    remove_stale_netns()
    tag = f"{NETNS_PREFIX}{os.getpid():x}"
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    key = _client_key(tmp_dir, client_key)
    subnet = _free_subnet()
    lab = NetnsLab(tag=tag, bridge=netns.bridge_name(tag), subnet=subnet, dir=tmp_dir, client_key=key)
    atexit.register(lab.close)
    try:
        netns.run_all(netns.bridge_commands(lab.bridge, subnet))
        for i in range(n):
            ns = netns.names(tag, i)[0]
            lab.namespaces.append(ns)  # before creating it, so a half-made one is removed too
            netns.run_all(netns.host_commands(tag, i, lab.bridge, subnet))
            lab.hosts.append(_new_host(f"n{i}", tmp_dir / f"n{i}", str(netns.host_address(subnet, i)), 22, key, ns=ns))
        _start_all(lab.hosts)
    except BaseException:
        lab.close()
        raise
    return lab


# --- fixture ---

@pytest.fixture(scope="session")
def netns_lab(tmp_path_factory) -> NetnsLab:
    """Two hosts in network namespaces on a 198.18.x.0/24 bridge (root only)."""
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = start_netns_hosts(2, tmp_path_factory.mktemp("netns"))
    yield lab
    lab.close()
