"""Utilization plots: line panels for a few hosts, heat maps plus a min/median/max band for
many, long series averaged into time bins for drawing only."""


import numpy as np

from harness.report.write import canvas, plots
from harness.report.figures.analysis import analyze_dir
from tests.support.generated_runs import generate


def test_bin_means_ignore_missing_readings():
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.9])
    v = np.array([10.0, 20.0, np.nan, 40.0, 50.0, 60.0])
    got = canvas.bin_means(t, v, 0.0, 1.0, 4)
    assert got[:3].tolist() == [15.0, 40.0, 50.0] and got[3] == 60.0
    assert np.isnan(canvas.bin_means(t, np.full(6, np.nan), 0.0, 1.0, 4)).all()


def test_long_series_are_downsampled_for_drawing_only():
    t = np.arange(10_000, dtype=float)
    v = t % 100
    x, y = canvas.for_drawing(t, v)
    assert len(x) == len(y) == canvas.DRAW_POINTS and abs(np.nanmean(y) - v.mean()) < 1.0
    short = np.arange(10, dtype=float)
    assert canvas.for_drawing(short, short)[1] is short


def test_many_hosts_get_heat_maps(tmp_path):
    a = analyze_dir(generate(tmp_path / "run", 6, 120))
    img = plots.utilization_plot(a, "hvd")
    assert img.png[:4] == b"\x89PNG" and "heat map" in img.title and "6 hosts" in img.title
    few = analyze_dir(generate(tmp_path / "few", plots.LINE_PANELS_MAX_HOSTS, 60))
    assert "per host" in plots.utilization_plot(few, "hvd").title


def test_heat_maps_fixed_margins_hold_every_text(tmp_path, monkeypatch):
    """The heat-map figure is drawn once with margins set in advance (no tight bbox): its
    host names, labels, colour bars and legends must still lie inside the figure."""
    drawn = []
    png = canvas.Canvas.png

    def keep(self, name, title):
        drawn.append(self.fig)
        return png(self, name, title)

    monkeypatch.setattr(canvas.Canvas, "png", keep)
    for hosts, prefix in ((5, "ip-10-0-123-45.eu-west-1.compute.internal-"), (64, "h"), (20, "worker-")):
        a = analyze_dir(generate(tmp_path / f"run{hosts}", hosts, 90, host_prefix=prefix))
        assert "heat map" in plots.utilization_plot(a, "hvd").title
        fig = drawn[-1]
        box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, everything drawn
        w, h = fig.get_size_inches()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= w and box.y1 <= h, (prefix, box, (w, h))
