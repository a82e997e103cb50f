"""The drawing base of the report's figures (plots.py, gpu_plot.py): a Figure on its own Agg
canvas (no pyplot: no global figure state, no GUI backend), matplotlib's default style so a
user's matplotlibrc cannot change a figure, PNGs saved without the 'Software' version tag
(the same run gives the same bytes), and long series averaged into time bins for drawing."""

from __future__ import annotations

import functools
import io
import re
import struct

import numpy as np

from harness.report.figures.analysis import RunAnalysis
from harness.report.figures.metrics import ConfigMetrics
from harness.report.write.blocks import Image

DPI = 100
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def import_matplotlib() -> None:
    """Import what the figures draw with (about 0.6 s here), e.g. before forking."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.style  # noqa: F401


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def styled(plot):
    """Run a plot function under matplotlib's default style (ignores any matplotlibrc), so
    figure creation, drawing and saving all see the same settings."""
    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib.style

        with matplotlib.style.context("default"):
            return plot(*args, **kwargs)
    return wrapper


class Canvas:
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


# Up to this many hosts each gets its own panel of lines; above it, one heat map (host × time)
# per metric plus the min/median/max band over hosts, which stay readable at 64 hosts.
LINE_PANELS_MAX_HOSTS = 4
# At most this many points per drawn line / columns per heat map: longer series are averaged
# into equal time bins for drawing only (every figure is computed from full resolution).
DRAW_POINTS = 1500


def bin_means(t: np.ndarray, v: np.ndarray, lo: float, width: float, bins: int) -> np.ndarray:
    """Mean of the readings in each of `bins` time bins [lo + k·width, lo + (k+1)·width);
    NaN where a bin has none."""
    ok = ~np.isnan(v) & ~np.isnan(t)
    k = np.clip(((t[ok] - lo) // width).astype(np.int64), 0, bins - 1)
    sums = np.bincount(k, weights=v[ok], minlength=bins)
    counts = np.bincount(k, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def for_drawing(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, v) as drawn: unchanged up to DRAW_POINTS points, else bin means at bin centres."""
    if len(t) <= DRAW_POINTS:
        return t, v
    lo, hi = float(t[0]), float(t[-1])
    width = (hi - lo) / DRAW_POINTS or 1.0
    return lo + width * (np.arange(DRAW_POINTS) + 0.5), bin_means(t, v, lo, width, DRAW_POINTS)


def host_font(hosts: int) -> int:
    return max(4, 8 - hosts // 16)


def heat_map_margins(c: Canvas, names: list[str], hosts: int) -> None:
    """Fixed margins for a figure of heat maps with host names down the left: the two-line
    axis label, then the names (~0.6 em a character); right: the colour bars and the
    legends beside the panels (fixed texts); top: the title."""
    longest = max(len(name) for name in names)
    c.margins(left_in=max(0.85, 0.5 + longest * host_font(hosts) * 0.62 / 72),
              right_in=1.45, top_in=0.35, bottom_in=0.5)


def time_axis(a: RunAnalysis, m: ConfigMetrics, first: float, last: float) -> tuple[float, float, float]:
    """(t0, left, right) of a configuration's time axis: seconds since its config_start
    (else since its first sample at `first`), spanning the samples, the training window and
    config_end."""
    start = a.run.control_first("config_start", m.config)
    t0 = start.get("t_wall") if start and isinstance(start.get("t_wall"), (int, float)) else first
    end = a.run.control_first("config_end", m.config)
    right = max([last - t0] + ([m.training_end_t_wall - t0] if m.training_end_t_wall is not None else [])
                + ([end["t_wall"] - t0] if end and isinstance(end.get("t_wall"), (int, float)) else []))
    return t0, min(0.0, first - t0), right
