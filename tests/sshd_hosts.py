"""Real OpenSSH servers as test hosts (a pytest plugin; also importable from benchmarks),
built from the sandbox's own parts (harness/sandbox: keys, sshd config, start/stop,
namespaces, bridge, addresses), so the tests exercise the code `harness sandbox` uses.

What is test-only: hosts die with the test process (parent-death signal), extra sshd
config lines per host (e.g. "PermitOpen none"), loopback hosts on free 127.0.0.1 ports,
a host reachable only through a jump host, and the removal of namespaces left by a
crashed test run (tag "hts" + the owner's pid in hex). Traffic never leaves 127.0.0.0/8
and 198.18.0.0/15.

From a script:
    from tests.sshd_hosts import running_hosts, write_known_hosts, inventory_dict
    with running_hosts(32, Path(tmp)) as hosts:
        write_known_hosts(hosts, Path(tmp) / "known_hosts")
        inv = Inventory.model_validate(inventory_dict(hosts))
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import getpass
import ipaddress
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.sandbox import netns, sshd
from harness.sandbox.state import pid_alive

SSHD = sshd.SSHD
START_TIMEOUT = sshd.START_TIMEOUT
BENCH_NET = netns.BENCH_NET
_keygen = sshd.keygen   # (path, comment) -> "ssh-ed25519 AAAA…"
_alive = pid_alive


def sshd_available() -> bool:
    return sshd.available() is None


@dataclass(eq=False)
class TestHost:
    """One sshd. Commands see HOME=<dir>/home and SFTP relative paths start there, but the
    shell's working directory is still the account's passwd home (sshd always chdirs
    there), so tests should use absolute paths."""

    __test__ = False  # not a test class, despite the name

    name: str
    address: str
    port: int
    user: str
    key_path: Path  # the client's private key, authorized on this host
    host_key_pub: str  # "ssh-ed25519 AAAA..."
    dir: Path
    netns: str | None = None  # run inside this network namespace
    extra_config: tuple[str, ...] = ()  # sshd_config lines that win over ours ("PermitOpen none")
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def known_hosts_name(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        return sshd.known_hosts_line(self.address, self.port, self.host_key_pub)

    @property
    def host_key_path(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def config_path(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def log_path(self) -> Path:
        return self.dir / "sshd.log"

    def inventory_entry(self, **extra) -> dict:
        return {"name": self.name, "address": self.address, "port": self.port, "user": self.user,
                "key": str(self.key_path), **extra}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _write_config(self) -> None:
        self.home.mkdir(exist_ok=True)
        (self.dir / "authorized_keys").write_text(sshd.public_key(self.key_path) + "\n")
        # extra_config goes first: sshd keeps the first value it reads for a keyword.
        extra = "".join(line + "\n" for line in self.extra_config)
        ours = sshd.config_text(self.dir, self.address, self.port).splitlines(keepends=True)
        if any(x.startswith("Subsystem sftp") for x in self.extra_config):
            # A host's own Subsystem sftp line (e.g. a missing sftp-server) replaces ours:
            # sshd refuses a subsystem defined twice.
            ours = [line for line in ours if not line.startswith("Subsystem sftp")]
        self.config_path.write_text(extra + "".join(ours))

    def spawn(self) -> None:
        """Start sshd without waiting; `wait_ready` waits."""
        self._write_config()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        log = open(self.log_path, "ab")
        # Own session: a Ctrl-C of the test run does not hit sshd before teardown does.
        # Parent-death signal: a test run killed with -9 does not leave sshd behind.
        self.proc = netns.spawn(self.netns, sshd.spawn_argv(self.dir, self.netns), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """True once sshd listens; False if it exited (e.g. port taken). Waits on the log,
        not by connecting, so no stray connection shows up in the host's log."""
        try:
            return sshd.wait_ready(self.dir, self.proc.pid if self.proc else None, self.address, self.port, timeout)
        except HarnessError as e:
            raise RuntimeError(f"test host {self.name}: {e}") from None

    def start(self) -> None:
        for _ in range(5):
            self.spawn()
            if self.wait_ready():
                return
            if self.netns or "Address already in use" not in self.log_text():
                break
            self.port = sshd.free_port(self.address)  # lost a race for the port: take another
        raise RuntimeError(f"test host {self.name}: sshd exited:\n{self.log_text()[-2000:]}")

    def stop(self) -> None:
        stop_hosts([self])

    def _pids(self) -> list[int]:
        if self.proc is None:
            return []
        # Per-connection sshd processes start their own sessions, so signal the whole tree.
        pids = sshd.descendants(self.proc.pid) + [self.proc.pid]
        return pids + (netns.namespace_pids(self.netns) if self.netns else [])

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, new_host_key: bool = False) -> None:
        """Same address and port; with new_host_key the host looks 'rebuilt' (or spoofed)."""
        self.stop()
        if new_host_key:
            self.host_key_pub = sshd.keygen(self.host_key_path, f"host-{self.name}")
        self.log_path.unlink(missing_ok=True)
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: SIGTERM when the thread that started us exits (so start hosts
    # from a thread that outlives them, e.g. the main thread).
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def _new_host(name: str, d: Path, address: str, port: int, client_key: Path, *, ns: str | None = None,
              extra_config: tuple[str, ...] = ()) -> TestHost:
    d.mkdir(parents=True, exist_ok=True)
    h = TestHost(name=name, address=address, port=port, user=getpass.getuser(), key_path=client_key,
                 host_key_pub="", dir=d, netns=ns, extra_config=tuple(extra_config))
    h.host_key_pub = sshd.keygen(h.host_key_path, f"host-{name}")
    return h


def _client_key(tmp_dir: Path, client_key: Path | None) -> Path:
    if client_key is None:
        client_key = tmp_dir / "client_ed25519"
        if not client_key.exists():
            sshd.keygen(client_key, "harness-test-client")
    return client_key


def start_hosts(n: int, tmp_dir: Path, *, prefix: str = "h", address: str = "127.0.0.1",
                extra_config: tuple[str, ...] = (), client_key: Path | None = None) -> list[TestHost]:
    """Start `n` loopback sshd hosts under tmp_dir (one dir each), all in parallel; they
    share one client key (tmp_dir/client_ed25519 unless given). Stopped at exit at the
    latest; call stop_hosts sooner."""
    if sshd.available():
        raise RuntimeError(sshd.available())
    if not ipaddress.ip_address(address).is_loopback:
        raise ValueError(f"test hosts listen on loopback only, not {address}")
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    key = _client_key(tmp_dir, client_key)
    hosts = [_new_host(f"{prefix}{i}", tmp_dir / f"{prefix}{i}", address, sshd.free_port(address), key,
                       extra_config=extra_config) for i in range(n)]
    _start_all(hosts)
    return hosts


def _start_all(hosts: list[TestHost]) -> None:
    atexit.register(stop_hosts, hosts)
    try:
        for h in hosts:
            h.spawn()
        for h in hosts:
            if not h.wait_ready():
                h.start()  # e.g. its port was taken meanwhile: retry this one alone
    except BaseException:
        stop_hosts(hosts)
        raise


def stop_hosts(hosts: list[TestHost]) -> None:
    """Stop every host and its sessions: all signalled at once, then all reaped."""
    sshd.kill_all([p for h in hosts for p in h._pids()], grace=3.0)
    for h in hosts:
        h._reap()


@contextlib.contextmanager
def running_hosts(n: int, tmp_dir: Path, **kw):
    hosts = start_hosts(n, tmp_dir, **kw)
    try:
        yield hosts
    finally:
        stop_hosts(hosts)


def write_known_hosts(hosts: list[TestHost], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(h.known_hosts_line + "\n" for h in hosts))
    return path


def inventory_dict(hosts: list[TestHost], **defaults) -> dict:
    """{'hosts': [...]} for harness.config.inventory.Inventory; `defaults` go under 'defaults'."""
    data: dict = {"hosts": [h.inventory_entry() for h in hosts]}
    if defaults:
        data["defaults"] = defaults
    return data


def ssh_config_entry(alias: str, host: TestHost, *, proxy_jump: str | None = None,
                     identity: bool = True) -> str:
    """A `Host alias` block reaching `host`, for an ssh_config file in a test."""
    lines = [f"Host {alias}", f"  HostName {host.address}", f"  Port {host.port}", f"  User {host.user}"]
    if identity:
        lines.append(f"  IdentityFile {host.key_path}")
    if proxy_jump:
        lines.append(f"  ProxyJump {proxy_jump}")
    return "\n".join(lines) + "\n"


# --- hosts in network namespaces (root only) ---

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


# --- fixtures ---

@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory) -> list[TestHost]:
    """Three loopback sshd hosts shared by the session. Tests must not stop or re-key
    them; start private ones with start_hosts for that."""
    if not sshd_available():
        pytest.skip(f"{SSHD} missing: apt-get install -y openssh-server")
    hosts = start_hosts(3, tmp_path_factory.mktemp("sshd"))
    yield hosts
    stop_hosts(hosts)


@pytest.fixture(scope="session")
def netns_lab(tmp_path_factory) -> NetnsLab:
    """Two hosts in network namespaces on a 198.18.x.0/24 bridge (root only)."""
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = start_netns_hosts(2, tmp_path_factory.mktemp("netns"))
    yield lab
    lab.close()
