"""Ports for servers the tests plan now and start seconds later (training clusters, keepers).

Below the kernel's ephemeral range on purpose: a port from bind(0) lies inside it, and any
outbound connection on the machine (gRPC, Gloo, SSH) may take it as its source port before
the planned server binds it ("Could not start gRPC server" in CI). The harness's own default
base_port (29500) is below that range for the same reason."""

import random
import socket
from pathlib import Path

LOW = 20000   # above the well-known service ports most machines run


def ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_base_port(count: int = 8) -> int:
    """A base port with `count` free ports from it, all below the ephemeral range. Random, so
    concurrent test runs on one machine rarely try the same range; each candidate is checked."""
    high = ephemeral_low() - count
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(LOW, high)
        if all(_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} free ports between {LOW} and {high + count}")


def free_port() -> int:
    return free_base_port(1)
