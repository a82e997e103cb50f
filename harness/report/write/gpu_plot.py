"""A configuration's GPU utilization per GPU (gpu-<config>.png), beside its utilization
figure, which has each host's mean over its GPUs. Up to LINE_PANELS_MAX_HOSTS hosts: a
panel per host with a line per GPU. More: a heat map with a row per GPU, grouped by host,
and the min / median / max over all GPUs per time bin, as the CPU figure does for hosts.
Values are NVML's util_percent (%) of each GPU's first entry per sample (gpu_series.py);
bins average them for drawing only. No GPU reading in the configuration: no figure."""

from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from harness.report.figures.analysis import RunAnalysis
from harness.report.figures.gpu_series import GpuSeries, gpu_series
from harness.report.write.blocks import Image
from harness.report.write.canvas import (COLORS, DRAW_POINTS, LINE_PANELS_MAX_HOSTS, Canvas, bin_means,
                                         for_drawing, heat_map_margins, host_font, safe_name, styled,
                                         time_axis)

LABEL = "GPU util %"


def _window(ax, m, t0: float) -> None:
    if m.training_start_t_wall is not None:
        ax.axvspan(m.training_start_t_wall - t0, m.training_end_t_wall - t0, color="#dddddd",
                   label="training window")


def _line_panels(c: Canvas, series: list[GpuSeries], m, t0: float) -> list:
    axes = c.fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, g in zip(axes, series):
        _window(ax, m, t0)
        ts = g.t_wall - t0
        for i, values in zip(g.indices, g.util_percent):
            x, y = for_drawing(ts, values)
            ax.plot(x.tolist(), y.tolist(), label=f"GPU {i}", color=COLORS[i % len(COLORS)], linewidth=1.0,
                    marker="." if len(x) < 30 else None)
        ax.set_ylim(0, 105)
        ax.set_ylabel(f"{g.host}\n{LABEL}", fontsize=8)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return list(axes)


def _heat_map(c: Canvas, series: list[GpuSeries], m, t0: float, lo: float, hi: float) -> list:
    """One row per GPU (hosts in order, each host's GPUs ascending) × time bins, 0-100 %,
    and the band of min / median / max over all GPUs per bin."""
    rows = [(g, k) for g in series for k in range(len(g.indices))]
    bins = max(1, min(DRAW_POINTS, int(math.ceil(hi - lo)) or 1))
    width = (hi - lo) / bins or 1.0
    grid = np.vstack([bin_means(g.t_wall, g.util_percent[k], lo, width, bins) for g, k in rows])
    ax, band = c.fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [_heat_height(len(rows)), 1.3]})
    im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=100,
                   extent=(lo - t0, hi - t0, len(rows) - 0.5, -0.5))
    c.fig.colorbar(im, cax=ax.inset_axes((1.01, 0.0, 0.015, 1.0))).ax.tick_params(labelsize=6)
    starts = np.cumsum([0] + [len(g.indices) for g in series])  # each host's first row
    every = max(1, math.ceil(len(series) / 32))
    ax.set_yticks(starts[:-1:every].tolist(), [g.host for g in series[::every]], fontsize=host_font(len(series)))
    if len(rows) > len(series) and len(series) <= 32:  # hosts apart, where rows are tall enough to see
        for y in starts[1:-1].tolist():
            ax.axhline(y - 0.5, color="white", linewidth=0.5)
    ax.set_ylabel(f"{LABEL}\nhost · GPU", fontsize=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin no GPU reported in
        low, mid, top = np.nanmin(grid, 0), np.nanmedian(grid, 0), np.nanmax(grid, 0)
    _window(band, m, t0)
    if m.training_start_t_wall is not None:
        for x in (m.training_start_t_wall - t0, m.training_end_t_wall - t0):
            ax.axvline(x, color="white", linestyle="--", linewidth=0.8)
    centres = lo + width * (np.arange(bins) + 0.5) - t0
    band.fill_between(centres, low, top, color=COLORS[2], alpha=0.3, linewidth=0, label="min–max over GPUs")
    band.plot(centres, mid, color=COLORS[2], linewidth=1.0, label="median")
    band.set_ylim(0, 105)
    band.set_ylabel(f"{LABEL}\nall GPUs", fontsize=8)
    band.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return [ax, band]


def _heat_height(rows: int) -> float:
    # inches: tall enough to tell GPUs apart, short enough for 64 hosts of 8 GPUs (~1.5 px a row)
    return min(8.0, max(1.6, 0.03 * rows))


@styled
def gpu_plot(a: RunAnalysis, config: str) -> Optional[Image]:
    series = [g for g in (gpu_series(s) for s in a.run.samplers_of(config) if s.n_samples) if g is not None]
    if not series:
        return None
    m = next(x for x in a.metrics if x.config == config)
    first, last = min(float(g.t_wall[0]) for g in series), max(float(g.t_wall[-1]) for g in series)
    t0, left, right = time_axis(a, m, first, last)
    gpus = sum(len(g.indices) for g in series)
    if len(series) <= LINE_PANELS_MAX_HOSTS:
        c = Canvas(7.0, 1.2 + 1.6 * len(series))
        axes = _line_panels(c, series, m, t0)
        title = (f"GPU utilization per GPU, configuration {config}: a panel per host, a line per GPU "
                 f"(NVML util_percent, %); shaded: training window")
    else:
        c = Canvas(8.0, 1.0 + _heat_height(gpus) + 1.3)
        axes = _heat_map(c, series, m, t0, first, last)
        heat_map_margins(c, [g.host for g in series], len(series))
        title = (f"GPU utilization of {gpus} GPUs on {len(series)} hosts, configuration {config}: a heat "
                 f"map (a row per GPU, grouped by host; NVML util_percent in %, mean per time bin) and "
                 f"the min / median / max over GPUs; dashed and shaded: training window")
    axes[-1].set_xlim(left, right)
    axes[-1].set_xlabel("seconds since config_start")
    axes[0].set_title(f"GPU utilization per GPU, configuration {config} (shaded: training window)", fontsize=10)
    return c.png(f"gpu-{safe_name(config)}.png", title)
