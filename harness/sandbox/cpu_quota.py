"""A CPU quota per sandbox host (`harness sandbox fault sbI cpu 0.5`): the host's sshd goes
into a cgroup of its own whose CFS quota is that many cores, so every session and task
it starts afterwards (forked from it) gets at most that share of this machine's CPU.
Stand-ins for instance types of different sizes are then different in speed, not only
in name and price (benchmarks/search.py scales the quota to the types' vCPUs).

cgroup v2 (`cpu.max`) where the cpu controller is enabled on the unified hierarchy,
else cgroup v1's cpu controller (`cpu.cfs_quota_us`, `cpu.cfs_period_us`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.errors import UsageError

PERIOD_US = 100_000
_V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
_V1_ROOT = Path("/sys/fs/cgroup/cpu")


@dataclass(frozen=True)
class Hierarchy:
    root: Path
    v2: bool


def parse_cores(text: str) -> float:
    """'0.5' → 0.5 cores; at least 0.01 (1 ms per 100 ms period)."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"cpu quota {text!r}: expected a number of cores, e.g. 0.5 or 2") from None
    if not 0.01 <= v <= 1024:
        raise UsageError(f"cpu quota {text!r}: between 0.01 and 1024 cores")
    return v


def quota_lines(cores: float, v2: bool) -> dict[str, str]:
    """PURE: file name → content setting `cores` of CPU per period."""
    quota = max(1000, int(round(cores * PERIOD_US)))
    if v2:
        return {"cpu.max": f"{quota} {PERIOD_US}"}
    return {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(quota)}


def hierarchy() -> Optional[Hierarchy]:
    for root in _V2_ROOTS:
        ctl = root / "cgroup.controllers"
        if ctl.is_file() and "cpu" in ctl.read_text().split():
            return Hierarchy(root, True)
    if (_V1_ROOT / "cpu.cfs_quota_us").is_file():
        return Hierarchy(_V1_ROOT, False)
    return None


def group_path(h: Hierarchy, name: str) -> Path:
    return h.root / name


def apply(name: str, pid: int, cores: float) -> str:
    """Create (or reuse) cgroup `name`, set its quota, move `pid` into it; returns its path."""
    h = hierarchy()
    if h is None:
        raise UsageError("no cgroup cpu controller found (cgroup v2 cpu.max or v1 cpu.cfs_quota_us under "
                         "/sys/fs/cgroup): CPU quotas are not available on this machine")
    if os.geteuid() != 0:
        raise UsageError("a CPU quota needs root (it writes to /sys/fs/cgroup)")
    g = group_path(h, name)
    g.mkdir(exist_ok=True)
    if h.v2:
        sub = h.root / "cgroup.subtree_control"
        if sub.is_file() and "cpu" not in sub.read_text().split():
            sub.write_text("+cpu")
    for f, text in quota_lines(cores, h.v2).items():
        (g / f).write_text(text)
    (g / "cgroup.procs").write_text(str(pid))
    return str(g)


def remove(path: Optional[str]) -> bool:
    """Remove a quota cgroup once its processes are gone (left processes: moved to the root)."""
    if not path:
        return False
    g = Path(path)
    if not g.is_dir():
        return False
    root = g.parent
    try:
        for pid in (g / "cgroup.procs").read_text().split():
            try:
                (root / "cgroup.procs").write_text(pid)
            except OSError:
                pass
        g.rmdir()
        return True
    except OSError:
        return False
