"""PNG plots of a RunAnalysis, drawn on canvas.py's base (matplotlib is imported only when a
figure is drawn); the GPU figure of a configuration is gpu_plot.py's."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from harness.report.figures.analysis import RunAnalysis
from harness.report.figures.utilization import SeriesArrays, host_arrays
from harness.report.write.blocks import Image
from harness.report.write.gpu_plot import gpu_plot
from harness.report.write.canvas import (COLORS, DRAW_POINTS, LINE_PANELS_MAX_HOSTS, Canvas, bin_means,
                                         for_drawing, heat_map_margins, host_font, import_matplotlib, safe_name,
                                         styled, time_axis)

__all__ = ("LINE_PANELS_MAX_HOSTS", "config_plots", "decision", "import_matplotlib", "run_plots",
           "utilization_plot")


@styled
def throughput_plot(a: RunAnalysis) -> Optional[Image]:
    ms = [m for m in a.metrics if m.throughput_images_per_s is not None]
    if not ms:
        return None
    c = Canvas(max(4.0, 1.0 + 0.9 * len(ms)), 3.2)
    ax = c.fig.add_subplot()
    xs = range(len(ms))
    errs = [m.throughput_ci95_half_width_images_per_s or 0.0 for m in ms]
    ax.bar(xs, [m.throughput_images_per_s for m in ms], yerr=errs, capsize=4, color=COLORS[0])
    ax.set_xticks(list(xs), [m.config for m in ms], rotation=20, ha="right")
    ax.set_ylabel("images/s")
    ax.set_title("Throughput (warm-up excluded, 95 % interval)", fontsize=10)
    ax.set_ylim(bottom=0)
    return c.png("throughput.png", "Throughput per configuration, ± 95 % interval")


@styled
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
    c = Canvas(5.0, 3.4)
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


@styled
def cost_plot(a: RunAnalysis) -> Optional[Image]:
    rows = [(co.config, co.on_demand.per_million_images.usd, co.spot.per_million_images.usd)
            for co in a.costs]
    rows = [r for r in rows if r[1] is not None or r[2] is not None]
    if not rows:
        return None
    from matplotlib.patches import Patch

    c = Canvas(max(4.0, 1.0 + 1.0 * len(rows)), 3.2)
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


@styled
def step_time_plot(a: RunAnalysis) -> Optional[Image]:
    ms = [m for m in a.metrics if m.step_time_samples_s]
    if not ms:
        return None
    c = Canvas(5.5, 3.2)
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


def _metrics_of(series: list[SeriesArrays]) -> list[tuple[str, str, list[np.ndarray]]]:
    out = [("CPU %", COLORS[0], [sr.cpu_percent for sr in series]),
           ("GPU % (mean)", COLORS[2], [sr.gpu_util_percent for sr in series]),
           ("memory used %", COLORS[1], [100 * sr.mem_used_share for sr in series])]
    return [(label, color, vs) for label, color, vs in out if any((~np.isnan(v)).any() for v in vs)]


def _line_panels(c: Canvas, series: list[SeriesArrays], m, t0: float) -> list:
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
                x, y = for_drawing(ts, values)
                ax.plot(x.tolist(), y.tolist(), label=label, color=color, linewidth=1.2,
                        marker="." if len(x) < 30 else None)
        ax.set_ylim(0, 105)
        ax.set_ylabel(sr.host, fontsize=8)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over the lines
    return list(axes)


def _heat_maps(c: Canvas, series: list[SeriesArrays], m, t0: float, lo: float, hi: float) -> list:
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
        grid = np.vstack([bin_means(sr.t_wall, v, lo, width, bins) for sr, v in zip(series, values)])
        ax, band = axes[2 * k], axes[2 * k + 1]
        im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=100,
                       extent=(lo - t0, hi - t0, len(series) - 0.5, -0.5))
        # an inset colour bar takes no width from the heat map, so every panel shares the x axis
        c.fig.colorbar(im, cax=ax.inset_axes((1.01, 0.0, 0.015, 1.0))).ax.tick_params(labelsize=6)
        ax.set_yticks(range(0, len(series), every), [series[i].host for i in range(0, len(series), every)],
                      fontsize=host_font(len(series)))
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


@styled
def utilization_plot(a: RunAnalysis, config: str) -> Optional[Image]:
    samplers = [s for s in a.run.samplers_of(config) if s.n_samples]
    if not samplers:
        return None
    m = next(x for x in a.metrics if x.config == config)
    series = [sr for sr in (host_arrays(s) for s in samplers) if len(sr.t_wall)]
    if not series:
        return None
    first = min(float(sr.t_wall[0]) for sr in series)
    t0, left, right = time_axis(a, m, first, max(float(sr.t_wall[-1]) for sr in series))
    if len(series) <= LINE_PANELS_MAX_HOSTS:
        c = Canvas(7.0, 1.2 + 1.6 * len(series))
        axes = _line_panels(c, series, m, t0)
        title = f"Utilization per host, configuration {config}; shaded: training window"
    else:
        n_metrics = len(_metrics_of(series))
        c = Canvas(8.0, 1.0 + n_metrics * (max(1.6, 0.05 * len(series)) + 1.3))
        axes = _heat_maps(c, series, m, t0, first, max(float(sr.t_wall[-1]) for sr in series))
        heat_map_margins(c, [sr.host for sr in series], len(series))
        title = (f"Utilization of {len(series)} hosts, configuration {config}: per metric a heat map "
                 f"(host × time, mean per time bin) and the min / median / max over hosts; dashed "
                 f"and shaded: training window")
    axes[-1].set_xlim(left, right)
    axes[-1].set_xlabel("seconds since config_start")
    axes[0].set_title(f"Utilization, configuration {config} (shaded: training window)", fontsize=10)
    return c.png(f"utilization-{safe_name(config)}.png", title)


@styled
def type_target_plot(a: RunAnalysis) -> Optional[Image]:
    """$ to target against time to target, one point per instance type (per_type.py)."""
    from harness.report.figures.per_type import type_rows

    pts = [(r.time_to_target_s, r.usd_to_target, r.instance_type) for r in type_rows(a)
           if r.time_to_target_s is not None and r.usd_to_target is not None]
    if not pts:
        return None
    c = Canvas(5.0, 3.4)
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


@styled
def decision(a: RunAnalysis) -> Optional[Image]:
    """The decision plot (harness/report/write/decision_plot.py), drawn on this module's canvas."""
    from harness.report.write.decision_plot import decision_plot

    return decision_plot(a, Canvas, COLORS)


def config_plots(a: RunAnalysis) -> dict[str, list[Image]]:
    out: dict[str, list[Image]] = {}
    for m in a.metrics:
        out[m.config] = [p for p in (utilization_plot(a, m.config), gpu_plot(a, m.config)) if p]
    return out
