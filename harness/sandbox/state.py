"""What a sandbox made, in a JSON file under its directory, so `down` can remove exactly
that — also after a crash half-way through `up`, because every object is recorded
before it is created.

A sandbox directory holds at most one sandbox: state.json, the client key, one
directory per host (host key, sshd config and log, HOME, workdir).

Objects in the kernel (namespaces, bridge, veths) are named `<tag>-…` with
tag = prefix + 5 hex digits. A claim file /run/harness-sandbox/<tag>.json says which
state file owns a tag and which process is creating it; /run is cleared at boot, just
like the namespaces. An object with the prefix whose tag has no live claim (no state
file listing it, and its creator is gone) is stale: `down` removes it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_DIR = Path("~/.local/share/harness/sandbox")
PREFIX = "hsb"
CLAIMS_DIR = Path("/run/harness-sandbox")
VERSION = 1


@dataclass
class HostState:
    name: str
    address: str
    port: int
    dir: str
    netns: str | None = None          # None in loopback mode
    veth: str | None = None           # host-side end, in the root namespace
    veth_inside: str = "eth0"         # namespace-side end, inside netns
    sshd_pid: int | None = None
    host_key: str = ""                # "ssh-ed25519 AAAA…", as written to known_hosts
    rate_bits: int | None = None      # current shaping (may differ from the sandbox's after `slow`)
    cut: bool = False
    control_cut: bool = False         # a blackhole route to the control side's address (fault cut-control)
    private: list[list[str]] | None = None   # [hidden, kept] folders of its own mount namespace
    cpu_cores: float | None = None    # CPU quota (fault cpu): at most this many cores
    cpu_period_us: int | None = None  # its CFS period (None: cpu_quota.PERIOD_US)
    cgroup: str | None = None         # the quota's cgroup directory, removed by `down`
    mem_bytes: int | None = None      # memory limit (fault mem)
    mem_cgroup: str | None = None     # its cgroup directory, removed by `down`

    @property
    def sshd_config(self) -> str:
        return str(Path(self.dir) / "sshd_config")

    @property
    def workdir(self) -> str:
        return str(Path(self.dir) / "work")


@dataclass
class SandboxState:
    tag: str
    mode: str                          # "netns" | "loopback"
    dir: str
    user: str
    client_key: str
    python: str
    created_at: float = field(default_factory=time.time)
    subnet: str | None = None
    bridge: str | None = None
    rate_bits: int | None = None
    delay_ms: float = 0.0
    loss_percent: float = 0.0
    hosts: list[HostState] = field(default_factory=list)
    # Written outside `dir` (inventory, known_hosts): removed by `down` too.
    files: list[str] = field(default_factory=list)
    complete: bool = False             # False: `up` did not finish (crashed or failed)
    version: int = VERSION

    def host(self, name: str) -> HostState:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "SandboxState":
        data = json.loads(text)
        hosts = [HostState(**h) for h in data.pop("hosts", [])]
        return cls(**data, hosts=hosts)


def sandbox_dir(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("HARNESS_SANDBOX_DIR") or DEFAULT_DIR).expanduser().resolve()


def state_path(directory: Path) -> Path:
    return Path(directory) / "state.json"


def load(directory: Path) -> SandboxState | None:
    p = state_path(directory)
    try:
        return SandboxState.from_json(p.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as e:
        from harness.errors import HarnessError

        raise HarnessError(f"{p}: unreadable sandbox state ({e}); remove it by hand after checking "
                           f"`ip netns list` for namespaces named {PREFIX}*") from None


def save(state: SandboxState) -> None:
    """Atomic (write + rename), so a crash never leaves half a JSON file."""
    p = state_path(Path(state.dir))
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = p.with_name(f".state.{os.getpid()}.tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, p)


def remove(directory: Path) -> None:
    state_path(directory).unlink(missing_ok=True)


def new_tag(prefix: str = PREFIX) -> str:
    while True:
        tag = f"{prefix}{secrets.token_hex(3)[:5]}"
        try:
            taken = (CLAIMS_DIR / f"{tag}.json").exists()
        except PermissionError:  # not root: a loopback sandbox, which makes no kernel objects
            taken = False
        if not taken:
            return tag


# --- claims: which state file owns a tag (root only; namespaces are root only) ---

def claim(tag: str, state_file: Path, creating: bool = True) -> None:
    """Record that `state_file` owns `tag`. While `creating`, the claim also names this
    process, so a concurrent `down` leaves the half-made sandbox alone; once `up` is done
    only the state file counts (the creator may live on, e.g. a test process)."""
    CLAIMS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"state": str(state_file), "pid": os.getpid() if creating else None}
    tmp = CLAIMS_DIR / f".{tag}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, CLAIMS_DIR / f"{tag}.json")


def release(tag: str) -> None:
    (CLAIMS_DIR / f"{tag}.json").unlink(missing_ok=True)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tag_is_live(tag: str) -> bool:
    """True while some sandbox owns `tag`: its state file still lists it, or the process
    creating it is still running (before its first save)."""
    try:
        c = json.loads((CLAIMS_DIR / f"{tag}.json").read_text())
    except (OSError, ValueError):
        return False
    try:
        owner = SandboxState.from_json(Path(c["state"]).read_text())
        if owner.tag == tag:
            return True
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return pid_alive(c.get("pid"))


def stale_claims() -> list[str]:
    if not CLAIMS_DIR.is_dir():
        return []
    return [p.stem for p in CLAIMS_DIR.glob("*.json") if not tag_is_live(p.stem)]
