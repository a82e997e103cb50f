"""A memory limit per sandbox host (`harness sandbox fault sbI mem 300M`): the host's sshd
goes into a memory cgroup of its own, so every session and task it starts afterwards
shares that limit, as in a container started with a memory limit. Above it the kernel
reclaims the group's pages (to swap, where the machine has swap: thrashing) or, with
nothing left to reclaim, kills a process (out of memory: exit 137).

cgroup v2 (`memory.max`) where the memory controller is enabled on the unified hierarchy,
else cgroup v1's memory controller (`memory.limit_in_bytes`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from harness.errors import UsageError
from harness.sandbox.cpu_quota import _remove_group

_V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
_V1_ROOT = Path("/sys/fs/cgroup/memory")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)
MIN_BYTES = 16 << 20     # below this not even sshd's session starts


def parse_bytes(text: str) -> int:
    """'300M' → 314572800 (K, M, G, T are powers of 1024, as `free` and cgroups count)."""
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(f"memory limit {text!r}: expected a size such as 300M or 2G")
    v = int(float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower()))
    if v < MIN_BYTES:
        raise UsageError(f"memory limit {text!r}: at least {MIN_BYTES >> 20}M")
    return v


def hierarchy() -> Optional[tuple[Path, bool]]:
    """(root, is v2) of a memory controller, or None."""
    for root in _V2_ROOTS:
        ctl = root / "cgroup.controllers"
        if ctl.is_file() and "memory" in ctl.read_text().split():
            return root, True
    if (_V1_ROOT / "memory.limit_in_bytes").is_file():
        return _V1_ROOT, False
    return None


def apply(name: str, pid: int, limit: int) -> str:
    """Create (or reuse) memory cgroup `name` with `limit` bytes, move `pid` into it; its path."""
    h = hierarchy()
    if h is None:
        raise UsageError("no cgroup memory controller found (v2 memory.max or v1 memory.limit_in_bytes under "
                         "/sys/fs/cgroup): memory limits are not available on this machine")
    if os.geteuid() != 0:
        raise UsageError("a memory limit needs root (it writes to /sys/fs/cgroup)")
    root, v2 = h
    g = root / name
    g.mkdir(exist_ok=True)
    if v2:
        sub = root / "cgroup.subtree_control"
        if sub.is_file() and "memory" not in sub.read_text().split():
            sub.write_text("+memory")
        (g / "memory.max").write_text(str(limit))
    else:
        (g / "memory.limit_in_bytes").write_text(str(limit))
    (g / "cgroup.procs").write_text(str(pid))
    return str(g)


def remove(path: Optional[str]) -> bool:
    """Remove the group once its processes are gone (left processes: moved to the root)."""
    return bool(path) and _remove_group(Path(path))
