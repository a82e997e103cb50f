"""The CPU and memory limits of this process's cgroup, and what the group uses (stdlib;
host side, read by the sampler).

On a host whose processes run under a CPU quota or a memory limit (a container started
with --cpus or a memory limit, a Kubernetes pod, an ECS task, a sandbox host with
`harness sandbox fault … cpu|mem`), the machine's CPU % says how busy the machine is, not
the host: a training saturating its 0.4-core quota reads as 20 % of a 2-core machine and
would be called idle. The sampler therefore also records the group's own figures, and the
report's rules read those where a limit exists (docs/metrics.md, "Diagnoses").

Both cgroup versions: v2 (`cpu.max`, `cpu.stat` usage_usec, `memory.max`,
`memory.current`) and v1 (`cpu.cfs_quota_us`/`cpu.cfs_period_us`, `cpuacct.usage` in ns,
`memory.limit_in_bytes`, `memory.usage_in_bytes`). A nested group's effective limit is the
smallest along its path. Mount points come from mountinfo, so a container's own view works."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

UNLIMITED_V1 = 1 << 60   # v1 writes "no limit" as a page-rounded 2**63 − 1


@dataclass(frozen=True)
class Limits:
    cpu_cores: Optional[float] = None        # quota ÷ period, when below the machine's cores
    memory_bytes: Optional[int] = None       # when below the machine's memory
    cpu_usage_file: Optional[Path] = None    # cumulative CPU time of the group (only with cpu_cores)
    cpu_usage_unit_s: float = 1e-9           # seconds per unit of that file (v1 ns; v2 µs in cpu.stat)
    memory_usage_file: Optional[Path] = None
    where: str = ""                          # the group's path, for the report's evidence


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """PURE. /proc/PID/cgroup → controller → path; the v2 unified entry ("0::/x") is ''."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for c in (controllers.split(",") if controllers else [""]):
            out[c.removeprefix("name=")] = path
    return out


def parse_mountinfo(text: str) -> tuple[dict[str, tuple[str, str]], Optional[tuple[str, str]]]:
    """PURE. /proc/PID/mountinfo → ({v1 controller: (mount root, mount point)}, v2 (root, point) or None)."""
    v1: dict[str, tuple[str, str]] = {}
    v2 = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 3:
            continue
        root, point, fstype, options = f[3], f[4], r[0], r[2]
        if fstype == "cgroup2" and v2 is None:
            v2 = (root, point)
        elif fstype == "cgroup":
            for opt in options.split(","):
                v1.setdefault(opt, (root, point))
    return v1, v2


def _dir(mount: tuple[str, str], path: str) -> Path:
    root, point = mount
    rel = path[len(root):] if root != "/" and path.startswith(root) else path
    return Path(point) / rel.lstrip("/")


def _ancestors(d: Path, top: Path) -> list[Path]:
    out = [d]
    while d != top and top in d.parents:
        d = d.parent
        out.append(d)
    return out


def _read(p: Path) -> Optional[str]:
    try:
        return p.read_text().strip()
    except OSError:
        return None


def _v2_cpu(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _v1_cpu(d: Path) -> Optional[float]:
    q, p = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
    if q is None or p is None or int(q) <= 0 or int(p) <= 0:
        return None
    return int(q) / int(p)


def _smallest(values) -> Optional[float]:
    vs = [v for v in values if v is not None]
    return min(vs) if vs else None


def find(proc: Path = Path("/proc/self"), cores: Optional[int] = None,
         memory_total: Optional[int] = None) -> Limits:
    """This process's limits; fields stay None where there is no limit below the machine's."""
    groups = parse_proc_cgroup(_read(proc / "cgroup") or "")
    v1, v2 = parse_mountinfo(_read(proc / "mountinfo") or "")
    cores = cores or os.cpu_count() or 1
    cpu = mem = None
    cpu_usage = mem_usage = None
    unit = 1e-9
    where = []
    if "cpu" in v1 and "cpu" in groups:
        d = _dir(v1["cpu"], groups["cpu"])
        cpu = _smallest(_v1_cpu(a) for a in _ancestors(d, Path(v1["cpu"][1])))
        acct = v1.get("cpuacct")
        if cpu is not None and acct and "cpuacct" in groups:
            f = _dir(acct, groups["cpuacct"]) / "cpuacct.usage"
            # cpuacct at the root while cpu is not: its usage is the machine's, not the group's
            own = groups["cpuacct"] == groups["cpu"] or groups["cpuacct"] not in ("", "/")
            cpu_usage = f if f.is_file() and own else None
        where.append(f"cpu:{groups['cpu']}")
    elif v2 is not None and "" in groups:
        d = _dir(v2, groups[""])
        cpu = _smallest(_v2_cpu(_read(a / "cpu.max")) for a in _ancestors(d, Path(v2[1])))
        if cpu is not None and (d / "cpu.stat").is_file():
            cpu_usage, unit = d / "cpu.stat", 1e-6
        where.append(groups[""])
    if "memory" in v1 and "memory" in groups:
        d = _dir(v1["memory"], groups["memory"])
        mem = _smallest(_int(_read(a / "memory.limit_in_bytes")) for a in _ancestors(d, Path(v1["memory"][1])))
        mem_usage = d / "memory.usage_in_bytes"
        where.append(f"memory:{groups['memory']}")
    elif v2 is not None and "" in groups:
        d = _dir(v2, groups[""])
        mem = _smallest(_int(_read(a / "memory.max")) for a in _ancestors(d, Path(v2[1])))
        mem_usage = d / "memory.current"
    if cpu is not None and cpu >= cores:
        cpu, cpu_usage = None, None
    if mem is not None and (mem >= UNLIMITED_V1 or (memory_total and mem >= memory_total)):
        mem = None
    where = [w for w in where if (cpu is not None and not w.startswith("memory:")) or
             (mem is not None and not w.startswith("cpu:"))]
    return Limits(cpu, mem, cpu_usage if cpu is not None else None, unit,
                  mem_usage if mem is not None else None, " ".join(dict.fromkeys(where)))


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text else None
    except ValueError:   # v2 "max"
        return None


def cpu_used_s(lim: Limits) -> Optional[float]:
    """The group's cumulative CPU seconds, or None."""
    f = lim.cpu_usage_file
    if f is None:
        return None
    text = _read(f)
    if text is None:
        return None
    if f.name == "cpu.stat":
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) * lim.cpu_usage_unit_s
        return None
    return int(text) * lim.cpu_usage_unit_s


def memory_used_bytes(lim: Limits) -> Optional[int]:
    return _int(_read(lim.memory_usage_file)) if lim.memory_usage_file is not None else None


class GroupReader:
    """Per-sample figures of the group: `cgroup_cpu_percent` (CPU used in the interval as a
    share of the quota, 100 = the quota saturated) and `cgroup_mem_used_bytes`. Empty when
    the group has no limit: the machine's figures are the host's."""

    def __init__(self, lim: Limits):
        self.lim = lim
        self._used = cpu_used_s(lim)

    def read(self, dt: float) -> dict:
        out: dict = {}
        if self.lim.cpu_cores is not None:
            used, prev = cpu_used_s(self.lim), self._used
            self._used = used
            ok = used is not None and prev is not None and dt > 0
            out["cgroup_cpu_percent"] = round(100 * (used - prev) / dt / self.lim.cpu_cores, 1) if ok else None
        if self.lim.memory_bytes is not None:
            out["cgroup_mem_used_bytes"] = memory_used_bytes(self.lim)
        return out
