"""PURE port allocation: every listening task of a plan gets a port that no other task of
the same plan uses on the same machine, counted up from the experiment's `base_port`.

Configurations run one after another, but a port just closed can linger (TIME_WAIT, a
server still shutting down), so ports are not reused across configurations either."""

from __future__ import annotations

import ipaddress
from typing import Any

Host = Any   # harness.config.inventory.Host, read by attribute (this package sits below the config)

MAX_PORT = 65535


def machine_key(host: Host) -> str:
    """Hosts that are the same machine share one port space: every local-transport host
    and every SSH host on a loopback address is this machine."""
    if host.is_local:
        return "localhost"
    addr = (host.address or "").strip().lower()
    if addr == "localhost":
        return "localhost"
    try:
        if ipaddress.ip_address(addr).is_loopback:
            return "localhost"
    except ValueError:
        pass
    return addr


class PortAllocator:
    def __init__(self, base: int):
        if not 1024 <= base <= MAX_PORT:
            raise ValueError(f"base_port {base} is outside 1024..{MAX_PORT}")
        self.base = base
        self._next: dict[str, int] = {}

    def take(self, host: Host) -> int:
        key = machine_key(host)
        port = self._next.get(key, self.base)
        if port > MAX_PORT:
            raise ValueError(f"no port left above base_port {self.base} on host {host.name}; "
                             f"lower base_port")
        self._next[key] = port + 1
        return port
