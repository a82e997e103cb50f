"""Per-GPU utilization over time of one host's sampler, for the GPU figure (write/gpu_plot.py).

Each GPU's series is util_percent (NVML: the percent of the sample period in which a kernel
ran on it, 0-100) of its first entry per sample, the rule of the per-GPU table
(utilization.py); samples are in t_wall order, those without a numeric t_wall left out,
and a GPU is listed when it has at least one reading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from harness.report.read.records import SamplerData


@dataclass(frozen=True)
class GpuSeries:
    host: str
    t_wall: np.ndarray
    indices: list[int]  # the GPUs, ascending
    util_percent: np.ndarray  # (len(indices), len(t_wall)); NaN = no reading in that sample


def time_order(s: SamplerData) -> np.ndarray:
    """The samples with a numeric t_wall, in t_wall order (ties in file order)."""
    t = s.cols.col("t_wall")
    order = np.flatnonzero(~np.isnan(t))
    return order[np.argsort(t[order], kind="stable")]


def gpu_series(s: SamplerData) -> Optional[GpuSeries]:
    """The host's GPUs over time; None when it has no GPU reading."""
    c = s.cols
    order = time_order(s)
    rows = {i: c.gpu_first[i]["util_percent"][order] for i in sorted(c.gpu_first)}
    rows = {i: v for i, v in rows.items() if (~np.isnan(v)).any()}
    if not rows:
        return None
    return GpuSeries(host=s.host, t_wall=c.col("t_wall")[order], indices=list(rows),
                     util_percent=np.vstack(list(rows.values())))
