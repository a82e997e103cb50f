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

# A 10 ms period (the kernel's default is 100 ms): with 100 ms a rank's 20 ms step after
# a wait runs at full speed on the unspent quota, so a quota acts like a fast CPU with
# pauses, not a slower one; measured on a 2-rank Horovod run at 0.4 cores, its
# calibration steps took 0.022 s (100 ms period) against 0.061 s (10 ms), the fast rank's 0.011 s.
PERIOD_US = 10_000
MIN_QUOTA_US = 1000
_V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
_V1_ROOT = Path("/sys/fs/cgroup/cpu")
_V1_ACCT_ROOT = Path("/sys/fs/cgroup/cpuacct")


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


def parse_period_ms(text: str) -> int:
    """'100' → 100 000 µs: the CFS period, 1–1000 ms (the kernel's limits)."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"cpu period {text!r}: expected milliseconds, e.g. 10 or 100") from None
    if not 1 <= v <= 1000:
        raise UsageError(f"cpu period {text!r}: between 1 and 1000 ms")
    return int(round(v * 1000))


def quota_lines(cores: float, v2: bool, period_us: int = PERIOD_US) -> dict[str, str]:
    """PURE: file name → content setting `cores` of CPU per period."""
    # The kernel's smallest quota is 1 ms: for small quotas the period grows instead.
    period = max(period_us, int(round(MIN_QUOTA_US / cores)))
    quota = max(MIN_QUOTA_US, int(round(cores * period)))
    if v2:
        return {"cpu.max": f"{quota} {period}"}
    return {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": str(quota)}


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


def apply(name: str, pid: int, cores: float, period_us: int = PERIOD_US) -> str:
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
    for f, text in quota_lines(cores, h.v2, period_us).items():
        (g / f).write_text(text)
    (g / "cgroup.procs").write_text(str(pid))
    acct = _cpuacct(h, name)
    if acct is not None:   # the group's own CPU time, as a container's (harness/worker/cgroup_limits.py)
        acct.mkdir(exist_ok=True)
        (acct / "cgroup.procs").write_text(str(pid))
    return str(g)


def _cpuacct(h: Hierarchy, name: str) -> Optional[Path]:
    """cgroup v1 with cpuacct mounted apart from cpu: the group of the same name there."""
    if h.v2 or not (_V1_ACCT_ROOT / "cpuacct.usage").is_file() or _V1_ACCT_ROOT.resolve() == h.root.resolve():
        return None
    return _V1_ACCT_ROOT / name


def remove(path: Optional[str]) -> bool:
    """Remove a quota cgroup once its processes are gone (left processes: moved to the root)."""
    if not path:
        return False
    g = Path(path)
    acct = _V1_ACCT_ROOT / g.name
    if acct != g and acct.is_dir():
        _remove_group(acct)
    return _remove_group(g)


def _remove_group(g: Path) -> bool:
    """Move what is left in cgroup directory `g` to its parent, then remove it."""
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
