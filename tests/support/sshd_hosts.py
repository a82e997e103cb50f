"""Real OpenSSH servers as test hosts (a pytest plugin; also importable from benchmarks),
built from the sandbox's own parts (harness/sandbox: keys, sshd config, start/stop,
namespaces, bridge, addresses), so the tests exercise the code `harness sandbox` uses.

What is test-only: hosts die with the test process (parent-death signal), extra sshd
config lines per host (e.g. "PermitOpen none"), and loopback hosts on free 127.0.0.1
ports. Hosts in network namespaces are in tests/support/netns_hosts.py. Traffic never leaves
127.0.0.0/8 and 198.18.0.0/15.

From a script:
    from tests.support.sshd_hosts import running_hosts, write_known_hosts, inventory_dict
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


# --- SSH transports to test hosts (tests/test_transport_ssh*.py) ---

def transport_options(tmp_path: Path, known_hosts: Path | None = None, **kw):
    """SSHOptions that trust `known_hosts` only (an empty file by default), read no
    ssh_config and give up on a connection after 3 s unless told otherwise."""
    from harness.transport.ssh import SSHOptions

    kh = known_hosts or (tmp_path / "empty_known_hosts")
    kw.setdefault("connect_timeout", 3)
    return SSHOptions(known_hosts=kh, harness_known_hosts=tmp_path / "harness" / "known_hosts",
                      ssh_config=None, **kw)


def host_of(test_host: TestHost, **kw):
    """The inventory Host of a test host, with fields overridden by kw."""
    from harness.config.inventory import Host

    return Host(**{**test_host.inventory_entry(), **kw})


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


@pytest.fixture
def no_ssh_agent(monkeypatch):
    """Tests decide for themselves whether an ssh-agent is there."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def known_hosts(sshd_hosts, tmp_path) -> Path:
    """A known_hosts file listing the session's hosts."""
    return write_known_hosts(sshd_hosts, tmp_path / "known_hosts")


@pytest.fixture
def ssh_transport(sshd_hosts, known_hosts, tmp_path):
    """A connected SSHTransport to the session's first host."""
    from harness.transport.ssh import SSHTransport

    t = SSHTransport(host_of(sshd_hosts[0]), transport_options(tmp_path, known_hosts))
    yield t
    t.close()


@pytest.fixture
def own_host(tmp_path):
    """A host this test may restart or re-key."""
    hosts = start_hosts(1, tmp_path / "own", prefix="own")
    yield hosts[0]
    stop_hosts(hosts)
