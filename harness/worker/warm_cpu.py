"""A warm child's CPU mark: the CPU seconds its process had used when it entered its task
(a kept process, harness/worker/hot.py, has earlier tasks' CPU behind it), written in the
task directory by the child (warm_child.py) and read by the utilization sampler, so a
process older than the sampler's interval counts only this task's CPU."""

from __future__ import annotations

import json
import os
import time

from harness.protocol.layout import WARM_CPU_FILE


def mark() -> None:
    """In the child, in its task's directory, as it enters the task."""
    t = os.times()
    try:
        with open(WARM_CPU_FILE, "w") as fh:
            json.dump({"pid": os.getpid(), "cpu_s": t.user + t.system,
                       "boot_s": time.clock_gettime(time.CLOCK_BOOTTIME)}, fh)
    except OSError:
        pass   # the sampler then counts the process as found late (unmeasured once)


def entered(pid: int, cwd: str, since_boot_s: float | None) -> float | None:
    """Process `pid`'s CPU seconds on entering the task in `cwd`, if it entered at or after
    `since_boot_s` (CLOCK_BOOTTIME; 20 ms slack as for a process's start); else None."""
    if since_boot_s is None:
        return None
    try:
        with open(os.path.join(cwd, WARM_CPU_FILE)) as fh:
            m = json.load(fh)
        return float(m["cpu_s"]) if m["pid"] == pid and m["boot_s"] >= since_boot_s - 0.02 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
