"""PNG plots of a RunAnalysis. The only module that imports matplotlib, and only when called.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot: no global figure state,
no GUI backend), under matplotlib's default style so a user's matplotlibrc cannot change
them, and saved without the 'Software' version tag, so the same run gives the same bytes."""

from __future__ import annotations

import functools
import io
import math
import re
import struct
from typing import Optional

import numpy as np

from harness.report.figures.analysis import RunAnalysis
from harness.report.write.blocks import Image
from harness.report.figures.utilization import SeriesArrays, host_arrays

DPI = 100
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def import_matplotlib() -> None:
    """Import what the figures draw with (about 0.6 s here), e.g. before forking."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.style  # noqa: F401


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _styled(plot):
    """Run a plot function under matplotlib's default style (ignores any matplotlibrc), so
    figure creation, drawing and saving all see the same settings."""
    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib.style

        with matplotlib.style.context("default"):
            return plot(*args, **kwargs)
    return wrapper


class _Canvas:
    """A Figure on its own Agg canvas (no pyplot), saved as PNG bytes."""

    def __init__(self, width_in: float, height_in: float):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(width_in, height_in), dpi=DPI)
        FigureCanvasAgg(self.fig)
        self._fixed = False  # margins() set: draw once, without bbox_inches="tight"

    def margins(self, left_in: float, right_in: float, top_in: float, bottom_in: float) -> None:
        """Fixed margins in inches, for a figure whose text sizes are known in advance; png()
        then draws it once instead of twice (bbox_inches="tight" draws to measure first)."""
        w, h = self.fig.get_size_inches()
        self.fig.subplots_adjust(left=left_in / w, right=1 - right_in / w, top=1 - top_in / h,
                                 bottom=bottom_in / h)
        self._fixed = True

    def png(self, name: str, title: str) -> Image:
        buf = io.BytesIO()
        # No 'Software' tag: the bytes then depend on the data and matplotlib's drawing only.
        # bbox_inches="tight" fits long configuration names at half the cost of a
        # constrained layout (which dominated the report's time).
        tight = {} if self._fixed else {"bbox_inches": "tight", "pad_inches": 0.08}
        self.fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, **tight)
        data = buf.getvalue()
        w, h = struct.unpack(">II", data[16:24])  # the PNG header's IHDR width and height
        return Image(name=name, title=title, png=data, width=w, height=h)


@_styled
def throughput_plot(a: RunAnalysis) -> Optional[Image]:
    ms = [m for m in a.metrics if m.throughput_images_per_s is not None]
    if not ms:
        return None
    c = _Canvas(max(4.0, 1.0 + 0.9 * len(ms)), 3.2)
    ax = c.fig.add_subplot()
    xs = range(len(ms))
    errs = [m.throughput_ci95_half_width_images_per_s or 0.0 for m in ms]
    ax.bar(xs, [m.throughput_images_per_s for m in ms], yerr=errs, capsize=4, color=COLORS[0])
    ax.set_xticks(list(xs), [m.config for m in ms], rotation=20, ha="right")
    ax.set_ylabel("images/s")
    ax.set_title("Throughput (warm-up excluded, 95 % interval)", fontsize=10)
    ax.set_ylim(bottom=0)
    return c.png("throughput.png", "Throughput per configuration, ± 95 % interval")


@_styled
def scaling_plot(a: RunAnalysis) -> Optional[Image]:
    """Each distributed configuration with its single-worker baseline, against N × baseline;
    drawn when those families span at least two worker counts."""
    by_name = {m.config: m for m in a.metrics}
    families: dict[str, list] = {}
    for sc in a.scaling:
        m = by_name[sc.config]
        if sc.baseline and m.throughput_images_per_s:
            families.setdefault(sc.baseline, [by_name[sc.baseline]]).append(m)
    pts = [(m.workers, m.throughput_images_per_s, m.config) for ms in families.values() for m in ms]
    if len({w for w, _, _ in pts}) < 2:
        return None
    c = _Canvas(5.0, 3.4)
    ax = c.fig.add_subplot()
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=COLORS[0], zorder=3, label="measured")
    for w, x, name in pts:
        ax.annotate(name, (w, x), textcoords="offset points", xytext=(4, 4), fontsize=7)
    top = max(w for w, _, _ in pts)
    for i, b in enumerate(sorted(families)):
        x1 = by_name[b].throughput_images_per_s
        ax.plot([1, top], [x1, top * x1], linestyle="--", color=COLORS[(i + 1) % len(COLORS)],
                label=f"ideal: N × {b}")
    ax.set_xlabel("workers")
    ax.set_ylabel("images/s")
    ax.set_xticks(sorted({w for w, _, _ in pts}))
    ax.set_xlim(0.5, top + 0.5)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.set_title("Scaling vs ideal", fontsize=10)
    return c.png("scaling.png", "Scaling curve: measured throughput against N × single-worker baseline")


@_styled
def cost_plot(a: RunAnalysis) -> Optional[Image]:
    rows = [(co.config, co.on_demand.per_million_images.usd, co.spot.per_million_images.usd)
            for co in a.costs]
    rows = [r for r in rows if r[1] is not None or r[2] is not None]
    if not rows:
        return None
    from matplotlib.patches import Patch

    c = _Canvas(max(4.0, 1.0 + 1.0 * len(rows)), 3.2)
    ax = c.fig.add_subplot()
    width = 0.38
    kinds = (("on-demand", COLORS[0]), ("spot", COLORS[1]))
    for k, (label, color) in enumerate(kinds):
        xs = [i + (k - 0.5) * width for i in range(len(rows))]
        vals = [r[1 + k] for r in rows]
        ax.bar([x for x, v in zip(xs, vals) if v is not None], [v for v in vals if v is not None],
               width, color=color)
        for x, v in zip(xs, vals):
            if v is None:  # no price: say so where the bar would be
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, color=color)
    ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=20, ha="right")
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("USD per 1M images")
    ax.set_ylim(bottom=0)
    ax.legend(handles=[Patch(color=col, label=lab) for lab, col in kinds], fontsize=8)
    ax.set_title("Cost per 1M images, on-demand vs spot", fontsize=10)
    return c.png("cost.png", "Cost per 10⁶ images per configuration, on-demand vs spot (n/a: no price)")


@_styled
def step_time_plot(a: RunAnalysis) -> Optional[Image]:
    ms = [m for m in a.metrics if m.step_time_samples_s]
    if not ms:
        return None
    c = _Canvas(5.5, 3.2)
    ax = c.fig.add_subplot()
    lo = min(min(m.step_time_samples_s) for m in ms)
    hi = max(max(m.step_time_samples_s) for m in ms)
    bins = 20 if hi > lo else 1
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)] if hi > lo else [lo * 0.9, lo * 1.1 or 1.0]
    for i, m in enumerate(ms):
        ax.hist(np.asarray(m.step_time_samples_s), bins=edges,  # an array: a list is converted slowly
                histtype="step", linewidth=1.5,
                color=COLORS[i % len(COLORS)], label=f"{m.config} (n = {m.step_time_n})")
    ax.set_xlabel("seconds per step (per record, warm-up excluded)")
    ax.set_ylabel("records")
    ax.legend(fontsize=7)
    ax.set_title("Step-time distribution", fontsize=10)
    return c.png("step-time.png", "Step-time histogram per configuration (warm-up excluded)")


# Up to this many hosts each gets its own panel of lines; above it, one heat map (host × time)
# per metric plus the min/median/max band over hosts, which stay readable at 64 hosts.
LINE_PANELS_MAX_HOSTS = 4
# At most this many points per drawn line / columns per heat map: longer series are averaged
# into equal time bins for drawing only (every figure is computed from full resolution).
DRAW_POINTS = 1500


def _bin_means(t: np.ndarray, v: np.ndarray, lo: float, width: float, bins: int) -> np.ndarray:
    """Mean of the readings in each of `bins` time bins [lo + k·width, lo + (k+1)·width);
    NaN where a bin has none."""
    ok = ~np.isnan(v) & ~np.isnan(t)
    k = np.clip(((t[ok] - lo) // width).astype(np.int64), 0, bins - 1)
    sums = np.bincount(k, weights=v[ok], minlength=bins)
    counts = np.bincount(k, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _for_drawing(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, v) as drawn: unchanged up to DRAW_POINTS points, else bin means at bin centres."""
    if len(t) <= DRAW_POINTS:
        return t, v
    lo, hi = float(t[0]), float(t[-1])
    width = (hi - lo) / DRAW_POINTS or 1.0
    return lo + width * (np.arange(DRAW_POINTS) + 0.5), _bin_means(t, v, lo, width, DRAW_POINTS)


def _metrics_of(series: list[SeriesArrays]) -> list[tuple[str, str, list[np.ndarray]]]:
    out = [("CPU %", COLORS[0], [sr.cpu_percent for sr in series]),
           ("GPU % (mean)", COLORS[2], [sr.gpu_util_percent for sr in series]),
           ("memory used %", COLORS[1], [100 * sr.mem_used_share for sr in series])]
    return [(label, color, vs) for label, color, vs in out if any((~np.isnan(v)).any() for v in vs)]


def _line_panels(c: _Canvas, series: list[SeriesArrays], m, t0: float) -> list:
    axes = c.fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, sr in zip(axes, series):
        if m.training_start_t_wall is not None:
            ax.axvspan(m.training_start_t_wall - t0, m.training_end_t_wall - t0, color="#dddddd",
                       label="training window")
        ts = sr.t_wall - t0
        for values, label, color in ((sr.cpu_percent, "CPU %", COLORS[0]),
                                     (sr.gpu_util_percent, "GPU % (mean)", COLORS[2]),
                                     (100 * sr.mem_used_share, "memory used %", COLORS[1])):
            if (~np.isnan(values)).any():
                x, y = _for_drawing(ts, values)
                ax.plot(x.tolist(), y.tolist(), label=label, color=color, linewidth=1.2,
                        marker="." if len(x) < 30 else None)
        ax.set_ylim(0, 105)
        ax.set_ylabel(sr.host, fontsize=8)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over the lines
    return list(axes)


def _host_font(hosts: int) -> int:
    return max(4, 8 - hosts // 16)


def _heat_maps(c: _Canvas, series: list[SeriesArrays], m, t0: float, lo: float, hi: float) -> list:
    """Per metric: a host × time heat map (bin means, 0-100 %) and the band of min / median /
    max over hosts per time bin."""
    import warnings

    metrics = _metrics_of(series)
    bins = max(1, min(DRAW_POINTS, int(math.ceil(hi - lo)) or 1))
    width = (hi - lo) / bins or 1.0
    heat_h = max(1.6, 0.05 * len(series))
    ratios = [r for _ in metrics for r in (heat_h, 1.3)]
    axes = c.fig.subplots(len(ratios), 1, sharex=True, squeeze=False,
                          gridspec_kw={"height_ratios": ratios})[:, 0]
    centres = lo + width * (np.arange(bins) + 0.5) - t0
    every = max(1, math.ceil(len(series) / 32))
    for k, (label, color, values) in enumerate(metrics):
        grid = np.vstack([_bin_means(sr.t_wall, v, lo, width, bins) for sr, v in zip(series, values)])
        ax, band = axes[2 * k], axes[2 * k + 1]
        im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=100,
                       extent=(lo - t0, hi - t0, len(series) - 0.5, -0.5))
        # an inset colour bar takes no width from the heat map, so every panel shares the x axis
        c.fig.colorbar(im, cax=ax.inset_axes((1.01, 0.0, 0.015, 1.0))).ax.tick_params(labelsize=6)
        ax.set_yticks(range(0, len(series), every), [series[i].host for i in range(0, len(series), every)],
                      fontsize=_host_font(len(series)))
        ax.set_ylabel(f"{label}\nhost", fontsize=8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a bin no host reported in
            low, mid, top = np.nanmin(grid, 0), np.nanmedian(grid, 0), np.nanmax(grid, 0)
        if m.training_start_t_wall is not None:
            band.axvspan(m.training_start_t_wall - t0, m.training_end_t_wall - t0, color="#dddddd",
                         label="training window")
            for x in (m.training_start_t_wall - t0, m.training_end_t_wall - t0):
                ax.axvline(x, color="white", linestyle="--", linewidth=0.8)
        band.fill_between(centres, low, top, color=color, alpha=0.3, linewidth=0, label="min–max over hosts")
        band.plot(centres, mid, color=color, linewidth=1.0, label="median")
        band.set_ylim(0, 105)
        band.set_ylabel(f"{label}\nall hosts", fontsize=8)
        band.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return list(axes)


@_styled
def utilization_plot(a: RunAnalysis, config: str) -> Optional[Image]:
    samplers = [s for s in a.run.samplers_of(config) if s.n_samples]
    if not samplers:
        return None
    m = next(x for x in a.metrics if x.config == config)
    start = a.run.control_first("config_start", config)
    series = [sr for sr in (host_arrays(s) for s in samplers) if len(sr.t_wall)]
    if not series:
        return None
    first = min(float(sr.t_wall[0]) for sr in series)
    t0 = start.get("t_wall") if start and isinstance(start.get("t_wall"), (int, float)) else first
    end = a.run.control_first("config_end", config)
    right = max([float(sr.t_wall[-1]) - t0 for sr in series]
                + ([m.training_end_t_wall - t0] if m.training_end_t_wall is not None else [])
                + ([end["t_wall"] - t0] if end and isinstance(end.get("t_wall"), (int, float)) else []))
    left = min(0.0, first - t0)
    if len(series) <= LINE_PANELS_MAX_HOSTS:
        c = _Canvas(7.0, 1.2 + 1.6 * len(series))
        axes = _line_panels(c, series, m, t0)
        title = f"Utilization per host, configuration {config}; shaded: training window"
    else:
        n_metrics = len(_metrics_of(series))
        c = _Canvas(8.0, 1.0 + n_metrics * (max(1.6, 0.05 * len(series)) + 1.3))
        axes = _heat_maps(c, series, m, t0, first, max(float(sr.t_wall[-1]) for sr in series))
        # Left: the two-line axis label, then host names (~0.6 em a character); right: the
        # colour bars and the legends beside the panels (fixed texts); top: the title.
        longest = max(len(sr.host) for sr in series)
        c.margins(left_in=max(0.85, 0.5 + longest * _host_font(len(series)) * 0.62 / 72),
                  right_in=1.45, top_in=0.35, bottom_in=0.5)
        title = (f"Utilization of {len(series)} hosts, configuration {config}: per metric a heat map "
                 f"(host × time, mean per time bin) and the min / median / max over hosts; dashed "
                 f"and shaded: training window")
    axes[-1].set_xlim(left, right)
    axes[-1].set_xlabel("seconds since config_start")
    axes[0].set_title(f"Utilization, configuration {config} (shaded: training window)", fontsize=10)
    return c.png(f"utilization-{_safe(config)}.png", title)


@_styled
def type_target_plot(a: RunAnalysis) -> Optional[Image]:
    """$ to target against time to target, one point per instance type (per_type.py)."""
    from harness.report.figures.per_type import type_rows

    pts = [(r.time_to_target_s, r.usd_to_target, r.instance_type) for r in type_rows(a)
           if r.time_to_target_s is not None and r.usd_to_target is not None]
    if not pts:
        return None
    c = _Canvas(5.0, 3.4)
    ax = c.fig.add_subplot()
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=COLORS[0], zorder=3)
    for x, y, name in pts:
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("time to target (s)")
    ax.set_ylabel("USD to target (on-demand)")
    ax.set_xlim(0, 1.3 * max(p[0] for p in pts))   # room for the labels right of the points
    ax.set_ylim(0, 1.15 * max(p[1] for p in pts))
    ax.set_title("Cost vs time to target by instance type", fontsize=10)
    return c.png("type_target.png", "$ to target against time to target, by instance type (on-demand)")


def run_plots(a: RunAnalysis) -> list[Image]:
    """The run-level plots that have data, in report order."""
    return [p for p in (throughput_plot(a), scaling_plot(a), cost_plot(a), step_time_plot(a),
                        type_target_plot(a)) if p]


@_styled
def decision(a: RunAnalysis) -> Optional[Image]:
    """The decision plot (harness/report/write/decision_plot.py), drawn on this module's canvas."""
    from harness.report.write.decision_plot import decision_plot

    return decision_plot(a, _Canvas, COLORS)


def config_plots(a: RunAnalysis) -> dict[str, list[Image]]:
    out: dict[str, list[Image]] = {}
    for m in a.metrics:
        p = utilization_plot(a, m.config)
        out[m.config] = [p] if p else []
    return out
