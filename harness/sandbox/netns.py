"""Network namespaces, the bridge and the veths: the only module of the sandbox that runs `ip`.

Layout of one sandbox (tag `hsb1a2b3`, subnet 198.18.7.0/24):

    root namespace: bridge hsb1a2b3-br, 198.18.7.1/24 (the control side's address)
      ├─ veth hsb1a2b3-h0 ── namespace hsb1a2b3-0: eth0 198.18.7.10/24, lo
      ├─ veth hsb1a2b3-h1 ── namespace hsb1a2b3-1: eth0 198.18.7.11/24, lo
      …
Namespaces get no default route: a sandbox host can reach the other hosts and the
control side, nothing else. Address allocation and the command lists are PURE.

Each host also has its own hostname (its inventory name, sb0 …): its sshd runs in its own
UTS namespace, and /etc/netns/<namespace>/hosts (which `ip netns exec` mounts over
/etc/hosts) maps every host's name to its address. Software that finds a host's address
through its hostname (Horovod's gloo process sets do) then gets the host's own address
instead of this machine's name resolving to 127.0.0.1 everywhere.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from harness.errors import HarnessError

BENCH_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: never a real network
FIRST_HOST_OFFSET = 10                              # .1 is the bridge, hosts from .10
MAX_HOSTS = 240
IFNAMSIZ = 15
NETNS_ETC = "/etc/netns"                           # `ip netns exec NS` bind-mounts NETNS_ETC/NS/* over /etc/*


# --- PURE: names, addresses, commands ---

def names(tag: str, index: int) -> tuple[str, str, str]:
    """(namespace, host-side veth, namespace-side veth before it is renamed eth0)."""
    outside, inside = f"{tag}-h{index}", f"{tag}-n{index}"
    if len(outside) > IFNAMSIZ:
        raise ValueError(f"interface name {outside!r} longer than {IFNAMSIZ} characters")
    return f"{tag}-{index}", outside, inside


def bridge_name(tag: str) -> str:
    return f"{tag}-br"


def allocate_subnet(used: list[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = BENCH_NET,
                    prefix: int = 24) -> ipaddress.IPv4Network:
    """The first /24 of the pool that overlaps nothing in `used`. The pool's first and
    last /24 are skipped (198.18.0.0 and 198.19.255.0 look like network/broadcast
    addresses to some tools)."""
    subnets = list(pool.subnets(new_prefix=prefix))[1:-1]
    for net in subnets:
        if not any(net.overlaps(u) for u in used):
            return net
    raise HarnessError(f"no free /{prefix} left in {pool}: remove old sandboxes with `harness sandbox down`")


def gateway(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    return subnet.network_address + 1


def host_address(subnet: ipaddress.IPv4Network, index: int) -> ipaddress.IPv4Address:
    if not 0 <= index < MAX_HOSTS or index + FIRST_HOST_OFFSET >= subnet.num_addresses - 1:
        raise ValueError(f"host index {index} does not fit in {subnet}")
    return subnet.network_address + FIRST_HOST_OFFSET + index


def bridge_commands(bridge: str, subnet: ipaddress.IPv4Network) -> list[list[str]]:
    return [
        ["ip", "link", "add", bridge, "type", "bridge"],
        ["ip", "addr", "add", f"{gateway(subnet)}/{subnet.prefixlen}", "dev", bridge],
        ["ip", "link", "set", bridge, "up"],
    ]


def host_commands(tag: str, index: int, bridge: str, subnet: ipaddress.IPv4Network) -> list[list[str]]:
    ns, outside, inside = names(tag, index)
    addr = f"{host_address(subnet, index)}/{subnet.prefixlen}"
    return [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns],
        ["ip", "link", "set", outside, "master", bridge, "up"],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
        # Inside, the host sees an ordinary eth0.
        ["ip", "-n", ns, "link", "set", inside, "name", "eth0"],
        ["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"],
        ["ip", "-n", ns, "link", "set", "eth0", "up"],
    ]


def hosts_text(names_addresses: list[tuple[str, str]]) -> str:
    """PURE: the /etc/hosts of a sandbox host: localhost and every sandbox host by name."""
    lines = ["# written by `harness sandbox up`; `harness sandbox down` removes it",
             "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{addr}\t{name}" for name, addr in names_addresses]
    return "\n".join(lines) + "\n"


def parse_networks(addr_output: str) -> list[ipaddress.IPv4Network]:
    """Networks of `ip -4 -o addr show` (inet lines) and `ip -4 route show` (first field)."""
    nets = []
    for m in re.finditer(r"\binet (\d+\.\d+\.\d+\.\d+/\d+)", addr_output):
        nets.append(ipaddress.ip_interface(m.group(1)).network)
    for line in addr_output.splitlines():
        first = line.split()[0] if line.split() else ""
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+(/\d+)?", first):
            nets.append(ipaddress.ip_network(first, strict=False))
    return nets


def tag_of(name: str, prefix: str) -> str | None:
    """'hsb1a2b3-0' -> 'hsb1a2b3' for a name this sandbox makes; None for anything else."""
    m = re.match(rf"^({re.escape(prefix)}[0-9a-f]{{5}})-", name)
    return m.group(1) if m else None


def probe_name(prefix: str, pid: int) -> str:
    return f"{prefix}probe{pid:x}"


def probe_owner(name: str, prefix: str) -> int | None:
    """The pid that made scratch namespace `name`, or None if it is not one."""
    m = re.fullmatch(rf"{re.escape(prefix)}probe([0-9a-f]+)", name)
    return int(m.group(1), 16) if m else None


# --- running ---

def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise HarnessError("`ip` is not installed; apt-get install -y iproute2") from None
    if check and r.returncode != 0:
        raise HarnessError(f"{' '.join(argv)}: {r.stderr.strip() or 'exit ' + str(r.returncode)}")
    return r


def run_all(cmds: list[list[str]]) -> None:
    for argv in cmds:
        run(argv)


def used_networks() -> list[ipaddress.IPv4Network]:
    out = run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    out += run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    return parse_networks(out)


def namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def links() -> list[str]:
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    return re.findall(r"^\d+: ([^:@\s]+)[@:]", out, re.M)


def link_state(dev: str) -> str | None:
    """'UP', 'DOWN', 'LOWERLAYERDOWN' … or None when the link does not exist."""
    r = run(["ip", "-o", "link", "show", "dev", dev], check=False)
    if r.returncode != 0:
        return None
    m = re.search(r"\bstate (\S+)", r.stdout)
    return m.group(1) if m else "UNKNOWN"


def set_link(dev: str, up: bool) -> None:
    run(["ip", "link", "set", "dev", dev, "up" if up else "down"])


def set_blackhole(ns: str, address: str, on: bool) -> None:
    """A blackhole route to one address inside a host's namespace: that host's packets to
    the address vanish (no ICMP), everything else on the subnet still flows. This kernel has
    no netem or tc actions; a route is the one-way outage it can make."""
    run(["ip", "-n", ns, "route", "add" if on else "del", "blackhole", f"{address}/32"], check=on)


def delete_link(dev: str) -> bool:
    return run(["ip", "link", "del", dev], check=False).returncode == 0


def delete_namespace(ns: str) -> bool:
    return run(["ip", "netns", "del", ns], check=False).returncode == 0


def etc_dir(ns: str) -> str:
    return os.path.join(NETNS_ETC, ns)


def write_hosts_file(ns: str, text: str) -> None:
    d = etc_dir(ns)
    os.makedirs(d, mode=0o755, exist_ok=True)
    with open(os.path.join(d, "hosts"), "w") as f:
        f.write(text)


def remove_etc(ns: str) -> bool:
    """Remove /etc/netns/<ns> (and /etc/netns when that leaves it empty); False if absent."""
    d = etc_dir(ns)
    if not os.path.isdir(d):
        return False
    for name in os.listdir(d):
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass
    try:
        os.rmdir(d)
        os.rmdir(NETNS_ETC)   # only succeeds when empty
    except OSError:
        pass
    return not os.path.isdir(d)


def etc_namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_ETC))
    except OSError:
        return []


def namespace_pids(ns: str) -> list[int]:
    r = run(["ip", "netns", "pids", ns], check=False)
    return sorted(int(p) for p in r.stdout.split() if p.isdigit()) if r.returncode == 0 else []


def exec_argv(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def spawn(ns: str | None, argv: list[str], **popen_kw) -> subprocess.Popen:
    """Start argv inside namespace `ns` (or here when None). `ip netns exec` execs the
    command, so the Popen's pid is the command's own pid."""
    return subprocess.Popen(exec_argv(ns, argv) if ns else argv, **popen_kw)


def netns_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    r = subprocess.run(["sh", "-c", "command -v ip && command -v tc"], capture_output=True, text=True)
    if r.returncode != 0:
        return "iproute2 (`ip`, `tc`) is not installed; apt-get install -y iproute2"
    return None


class ScratchNamespace:
    """A throw-away namespace (for probing the kernel), removed on exit."""

    def __init__(self, prefix: str):
        self.name = probe_name(prefix, os.getpid())

    def __enter__(self) -> str:
        delete_namespace(self.name)
        run(["ip", "netns", "add", self.name])
        run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        return self.name

    def __exit__(self, *exc) -> None:
        delete_namespace(self.name)


# --- a tiny TCP throughput check between two namespaces ---

_RECEIVER = r"""
import json, socket, sys, time
addr, limit = sys.argv[1], float(sys.argv[2])
s = socket.socket(); s.bind((addr, 0)); s.listen(1); s.settimeout(limit)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.settimeout(limit)
n, first, last = 0, None, None  # the first chunk only starts the clock
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        b = c.recv(1 << 20)
    except socket.timeout:
        break
    if not b:
        break
    now = time.monotonic()
    if first is None:
        first = now
    else:
        n, last = n + len(b), now
print(json.dumps({"bytes": n, "seconds": (last - first) if first and last else 0.0}), flush=True)
"""

_SENDER = r"""
import socket, sys, time
addr, port, seconds, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((addr, port), timeout=5)
buf, sent, end = b"\0" * (1 << 16), 0, time.monotonic() + seconds
while sent < limit and time.monotonic() < end:
    sent += s.send(buf)
s.close()
"""


@dataclass(frozen=True)
class Throughput:
    bytes: int
    seconds: float

    @property
    def bits_per_s(self) -> float:
        return self.bytes * 8 / self.seconds if self.seconds > 0 else 0.0


def measure_throughput(src_ns: str, dst_ns: str, dst_address: str, *, seconds: float = 2.0,
                       max_bytes: int = 400_000_000, python: str | None = None) -> Throughput:
    """Send zeros from namespace src_ns to dst_address (in dst_ns) for `seconds` or
    `max_bytes`, whichever comes first; the receiver times first-to-last byte, so
    connection set-up is not counted. Bounded: both sides give up after seconds + 10."""
    py = python or sys.executable
    limit = seconds + 10
    recv = spawn(dst_ns, [py, "-c", _RECEIVER, dst_address, str(limit)], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    try:
        port = (recv.stdout.readline() or "").strip()
        if not port.isdigit():
            raise HarnessError(f"throughput receiver in {dst_ns} did not start: {recv.stderr.read()[-500:]}")
        send = subprocess.run(exec_argv(src_ns, [py, "-c", _SENDER, dst_address, port, str(seconds), str(max_bytes)]),
                              capture_output=True, text=True, timeout=limit)
        if send.returncode != 0:
            raise HarnessError(f"throughput sender in {src_ns} failed: {send.stderr.strip()[-500:]}")
        out, err = recv.communicate(timeout=limit)
        line = out.strip().splitlines()[-1] if out.strip() else ""
        if not line.startswith("{"):
            raise HarnessError(f"throughput receiver in {dst_ns} failed: {err.strip()[-500:]}")
        data = json.loads(line)
        return Throughput(int(data["bytes"]), float(data["seconds"]))
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()


def wait_for(pred, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
