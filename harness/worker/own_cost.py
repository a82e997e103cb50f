"""The utilization sampler's own CPU use, which it reports (sampler_cost, sampler_end) so
that a report can say what measuring cost."""

from __future__ import annotations

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class OwnCost:
    """The sampler's own CPU use: since its process started (interpreter start-up and
    imports included) and since sampling began (the steady cost of sampling itself)."""

    def __init__(self) -> None:
        self._age0 = _age_or_none()
        self._mono0 = time.monotonic()
        self._cpu0 = time.process_time()

    def fields(self, samples: int) -> dict:
        cpu = time.process_time()  # user + sys at ns resolution (os.times ticks at 10 ms)
        loop_wall = max(time.monotonic() - self._mono0, 1e-9)
        wall = (self._age0 + loop_wall) if self._age0 is not None else None
        loop_cpu = cpu - self._cpu0
        return {"samples": samples, "cpu_s": cpu, "wall_s": wall,
                "core_fraction": cpu / wall if wall else None,
                "loop_cpu_s": loop_cpu, "loop_wall_s": loop_wall, "loop_core_fraction": loop_cpu / loop_wall}


def _own_age_s() -> float:
    with open("/proc/self/stat", "rb") as fh:
        stat = fh.read()
    start_ticks = int(stat[stat.rindex(b")") + 2:].split()[19])  # field 22: starttime since boot
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / CLK_TCK


def _age_or_none() -> float | None:
    try:
        return _own_age_s()
    except (OSError, ValueError, IndexError):
        return None
