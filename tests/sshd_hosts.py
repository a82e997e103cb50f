"""Real OpenSSH servers as test hosts (a pytest plugin; also importable from benchmarks).

Each host gets its own directory, host key, authorized_keys and sshd config, and runs
`sshd -D -e -f <config>`: on a free 127.0.0.1 port, or (as root) in its own network
namespace on a bridge in the benchmarking range 198.18.0.0/15. Traffic never leaves
127.0.0.0/8 and 198.18.0.0/15.

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
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.sandbox.sshd import descendants

SSHD = "/usr/sbin/sshd"  # sshd refuses to re-exec unless started by absolute path
START_TIMEOUT = 10.0
BENCH_NET = ipaddress.ip_network("198.18.0.0/15")


def sshd_available() -> bool:
    return os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen") is not None


def _keygen(path: Path, comment: str) -> str:
    """New unencrypted ed25519 key at `path`; returns the public line 'ssh-ed25519 AAAA...'."""
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


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
        return f"{self.known_hosts_name} {self.host_key_pub}"

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
        (self.dir / "authorized_keys").write_text(self.key_path.with_suffix(".pub").read_text())
        # extra_config goes first: sshd keeps the first value it reads for a keyword.
        lines = [
            *self.extra_config,
            f"ListenAddress {self.address}", f"Port {self.port}",
            f"HostKey {self.host_key_path}", f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            f"PidFile {self.dir / 'sshd.pid'}",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "AllowTcpForwarding yes", "X11Forwarding no", "PrintMotd no", "PrintLastLog no",
            # Its own home (commands and SFTP agree on it): the host does not share the
            # control machine's dotfiles, and a slow ~/.bashrc does not cost every command.
            f"SetEnv HOME={self.home}",
            # A host's own Subsystem sftp line (e.g. a missing sftp-server) replaces ours.
            *([] if any(x.startswith("Subsystem sftp") for x in self.extra_config)
              else [f"Subsystem sftp internal-sftp -d {self.home}"]),
            "LogLevel VERBOSE",
            # Fan-out tests and benchmarks open many connections/channels at once.
            "MaxStartups 200:30:400", "MaxSessions 64",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def spawn(self) -> None:
        """Start sshd without waiting; `wait_ready` waits."""
        self._write_config()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        argv = [SSHD, "-D", "-e", "-f", str(self.config_path)]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        log = open(self.log_path, "ab")
        # Own session: a Ctrl-C of the test run does not hit sshd before teardown does.
        # Parent-death signal: a test run killed with -9 does not leave sshd behind.
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        log.close()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """True once sshd listens; False if it exited (e.g. port taken). Waits on the log,
        not by connecting, so no stray connection shows up in the host's log."""
        deadline = time.monotonic() + timeout
        marker = f"Server listening on {self.address} port {self.port}"
        while time.monotonic() < deadline:
            if marker in self.log_text():
                return True
            if self.proc is None or self.proc.poll() is not None:
                return False
            time.sleep(0.01)
        raise RuntimeError(f"test host {self.name}: sshd did not start in {timeout} s:\n{self.log_text()[-2000:]}")

    def start(self) -> None:
        for _ in range(5):
            self.spawn()
            if self.wait_ready():
                return
            if self.netns or "Address already in use" not in self.log_text():
                break
            self.port = _free_port(self.address)  # lost a race for the port: take another
        raise RuntimeError(f"test host {self.name}: sshd exited:\n{self.log_text()[-2000:]}")

    def stop(self) -> None:
        stop_hosts([self])

    def _pids(self) -> list[int]:
        if self.proc is None:
            return []
        # Per-connection sshd processes start their own sessions, so signal the whole tree.
        pids = descendants(self.proc.pid) + [self.proc.pid]
        return pids + (_netns_pids(self.netns) if self.netns else [])

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
            self.host_key_pub = _keygen(self.host_key_path, f"host-{self.name}")
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


def _kill_all(pids: list[int], grace: float = 3.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for p in pids:
            try:
                os.kill(p, sig)
                alive.append(p)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _alive(p)]
            time.sleep(0.02)
        if not alive:
            return
        pids = alive


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_hosts(n: int, tmp_dir: Path, *, prefix: str = "h", address: str = "127.0.0.1",
                extra_config: tuple[str, ...] = (), client_key: Path | None = None) -> list[TestHost]:
    """Start `n` loopback sshd hosts under tmp_dir (one dir each), all in parallel; they
    share one client key (tmp_dir/client_ed25519 unless given). Stopped at exit at the
    latest; call stop_hosts sooner."""
    if not sshd_available():
        raise RuntimeError(f"{SSHD} or ssh-keygen missing: apt-get install -y openssh-server")
    if not ipaddress.ip_address(address).is_loopback:
        raise ValueError(f"test hosts listen on loopback only, not {address}")
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    if client_key is None:
        client_key = tmp_dir / "client_ed25519"
        if not client_key.exists():
            _keygen(client_key, "harness-test-client")
    hosts = []
    for i in range(n):
        d = tmp_dir / f"{prefix}{i}"
        d.mkdir(parents=True, exist_ok=True)
        h = TestHost(name=f"{prefix}{i}", address=address, port=_free_port(address), user=getpass.getuser(),
                     key_path=client_key, host_key_pub="", dir=d, extra_config=tuple(extra_config))
        h.host_key_pub = _keygen(h.host_key_path, f"host-{h.name}")
        hosts.append(h)
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
    _kill_all([p for h in hosts for p in h._pids()])
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
    if os.geteuid() != 0:
        return "network-namespace hosts need root (ip netns, bridges)"
    if not shutil.which("ip"):
        return "iproute2 ('ip') is not installed"
    if not sshd_available():
        return f"{SSHD} missing (apt-get install -y openssh-server)"
    probe = f"{NETNS_PREFIX}probe{os.getpid():x}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"'ip netns add' failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def _netns_pids(ns: str) -> list[int]:
    r = _ip("netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def _owner_alive(tag: str) -> bool:
    # Tags are NETNS_PREFIX + the owning pid in hex: a dead owner means a crashed run.
    m = re.match(rf"{NETNS_PREFIX}([0-9a-f]+)", tag)
    if not m:
        return True
    try:
        os.kill(int(m.group(1), 16), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale_netns(only_tag: str | None = None) -> list[str]:
    """Remove namespaces and links left by crashed runs (or all of `only_tag`'s)."""
    removed = []
    names = [line.split()[0] for line in _ip("netns", "list", check=False).stdout.splitlines() if line.strip()]
    for ns in names:
        if not ns.startswith(NETNS_PREFIX) or "probe" in ns:
            continue
        tag = ns.split("-")[0]
        if (only_tag and tag != only_tag) or (not only_tag and _owner_alive(tag)):
            continue
        _kill_all(_netns_pids(ns), grace=1.0)
        _ip("netns", "del", ns, check=False)
        removed.append(ns)
    links = _ip("-o", "link", "show", check=False).stdout
    for name in re.findall(rf"^\d+: ({NETNS_PREFIX}[0-9a-f]+-\w+)[@:]", links, re.M):
        tag = name.split("-")[0]
        if (only_tag and tag != only_tag) or (not only_tag and _owner_alive(tag)):
            continue
        _ip("link", "del", name, check=False)
        removed.append(name)
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 198.18.0.0/15 not on any interface, so concurrent runs do not collide."""
    used = []
    for m in re.finditer(r"inet (\S+)", _ip("-4", "-o", "addr", "show", check=False).stdout):
        used.append(ipaddress.ip_interface(m.group(1)).network)
    start = os.getpid() % 500
    subnets = list(BENCH_NET.subnets(new_prefix=24))[1:-1]
    for k in range(len(subnets)):
        net = subnets[(start + k) % len(subnets)]
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free /24 in 198.18.0.0/15")


@dataclass(eq=False)
class NetnsLab:
    """A bridge (gateway .1 in the root namespace) and hosts at .10, .11, ... in their own
    namespaces, listening on port 22 of their own addresses."""

    tag: str
    bridge: str
    subnet: ipaddress.IPv4Network
    dir: Path
    client_key: Path
    hosts: list[TestHost] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def _new_host(self, name: str, ns: str, address: str) -> TestHost:
        d = self.dir / name
        d.mkdir(parents=True, exist_ok=True)
        h = TestHost(name=name, address=address, port=22, user=getpass.getuser(), key_path=self.client_key,
                     host_key_pub="", dir=d, netns=ns)
        h.host_key_pub = _keygen(h.host_key_path, f"host-{name}")
        return h

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
        h = self._new_host(f"private{index}", ns, addr)
        _start_all([h])
        self.hosts.append(h)
        return h

    def close(self) -> None:
        stop_hosts(self.hosts)
        for ns in reversed(self.namespaces):
            _kill_all(_netns_pids(ns), grace=1.0)
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.bridge, check=False)
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
    if client_key is None:
        client_key = tmp_dir / "client_ed25519"
        if not client_key.exists():
            _keygen(client_key, "harness-test-client")
    subnet = _free_subnet()
    lab = NetnsLab(tag=tag, bridge=f"{tag}-br", subnet=subnet, dir=tmp_dir, client_key=client_key)
    atexit.register(lab.close)
    try:
        _ip("link", "add", lab.bridge, "type", "bridge")
        _ip("addr", "add", f"{subnet.network_address + 1}/24", "dev", lab.bridge)
        _ip("link", "set", lab.bridge, "up")
        for i in range(n):
            ns, outside, inside = f"{tag}-{i}", f"{tag}-h{i}", f"{tag}-n{i}"
            addr = str(subnet.network_address + 10 + i)
            _ip("netns", "add", ns)
            lab.namespaces.append(ns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns)
            _ip("link", "set", outside, "master", lab.bridge, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", inside, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            lab.hosts.append(lab._new_host(f"n{i}", ns, addr))
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
