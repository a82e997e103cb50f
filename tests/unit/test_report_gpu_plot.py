"""The GPU figure of a configuration: a panel per host with a line per GPU up to 4 hosts, a
heat map with a row per GPU (grouped by host) and the band over GPUs above; what it draws
is re-derived here from samples.jsonl itself."""

import json

import numpy as np

from harness.report.figures.analysis import analyze_dir
from harness.report.write import canvas, gpu_plot, plots
from harness.report.write.sections import utilization_blocks
from harness.report.write.blocks import Para, Table
from tests.support.generated_runs import generate
from tests.support.runfixtures import standard_run
from tests.support.gpu_runs import gpu_run


def _drawn(monkeypatch):
    figs = []
    png = canvas.Canvas.png

    def keep(self, name, title):
        figs.append(self.fig)
        return png(self, name, title)

    monkeypatch.setattr(canvas.Canvas, "png", keep)
    return figs


def _readings(root, host):
    """(t_wall, {index: util_percent}) per sample of a host's samples.jsonl, read plainly."""
    out = []
    for line in (root / "hosts" / host / "hvd" / "sampler" / "samples.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["event"] == "sample":
            out.append((r["t_wall"], {g["index"]: g["util_percent"] for g in reversed(r.get("gpus") or [])}))
    return out


def test_many_hosts_get_a_row_per_gpu_of_bin_means_from_the_samples(tmp_path, monkeypatch):
    figs = _drawn(monkeypatch)
    root = generate(tmp_path / "run", 6, 90, gpus=4)
    a = analyze_dir(root)
    img = gpu_plot.gpu_plot(a, "hvd")
    assert img.name == "gpu-hvd.png" and "heat map" in img.title and "24 GPUs on 6 hosts" in img.title
    heat = figs[-1].axes[0].get_images()[0].get_array()
    assert heat.shape[0] == 24
    # re-derived: row 4 * h + i is host h's GPU i, each bin the mean of its readings
    per_host = {f"h{h:02d}": _readings(root, f"h{h:02d}") for h in range(6)}
    lo = min(rs[0][0] for rs in per_host.values())
    hi = max(rs[-1][0] for rs in per_host.values())
    bins = heat.shape[1]
    width = (hi - lo) / bins
    for h, host in enumerate(per_host):
        t = np.array([t for t, _ in per_host[host]])
        for i in range(4):
            u = np.array([np.nan if g.get(i) is None else g[i] for _, g in per_host[host]])
            want = canvas.bin_means(t, u, lo, width, bins)
            assert np.allclose(np.ma.filled(heat[4 * h + i], np.nan), want, equal_nan=True)


def test_a_few_hosts_get_a_line_per_gpu(tmp_path, monkeypatch):
    figs = _drawn(monkeypatch)
    a = analyze_dir(generate(tmp_path / "run", 2, 40, gpus=8))
    img = gpu_plot.gpu_plot(a, "hvd")
    assert "a line per GPU" in img.title
    panels = [ax for ax in figs[-1].axes if ax.get_lines()]
    assert len(panels) == 2
    assert [ln.get_label() for ln in panels[0].get_lines()] == [f"GPU {i}" for i in range(8)]


def test_no_gpu_reading_no_figure_and_cpu_reports_unchanged(tmp_path):
    a = analyze_dir(generate(tmp_path / "cpu", 6, 30))
    assert gpu_plot.gpu_plot(a, "hvd") is None
    assert [p.name for p in plots.config_plots(a)["hvd"]] == ["utilization-hvd.png"]
    b = analyze_dir(standard_run(tmp_path / "std"))
    assert all(not any(p.name.startswith("gpu-") for p in ps) for ps in plots.config_plots(b).values())


def test_gpu_run_gets_the_figure_beside_its_utilization(tmp_path):
    a = analyze_dir(gpu_run(tmp_path / "run"))
    got = {c: [p.name for p in ps] for c, ps in plots.config_plots(a).items()}
    assert got["single"] == ["utilization-single.png", "gpu-single.png"]
    assert got["odd"] == ["utilization-odd.png"]  # a CPU host


def test_heat_map_margins_hold_every_text(tmp_path, monkeypatch):
    figs = _drawn(monkeypatch)
    for hosts, gpus, prefix in ((5, 1, "ip-10-0-123-45.eu-west-1.compute.internal-"), (64, 8, "h"),
                                (20, 4, "worker-")):
        a = analyze_dir(generate(tmp_path / f"run{hosts}", hosts, 30, host_prefix=prefix, gpus=gpus))
        assert "heat map" in gpu_plot.gpu_plot(a, "hvd").title
        fig = figs[-1]
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        w, h = fig.get_size_inches()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= w and box.y1 <= h, (prefix, box, (w, h))


def test_a_gpu_count_that_changes_gets_a_row_per_gpu_ever_seen(tmp_path, monkeypatch):
    figs = _drawn(monkeypatch)
    root = generate(tmp_path / "run", 5, 30, gpus=2)
    samples = root / "hosts" / "h03" / "hvd" / "sampler" / "samples.jsonl"
    lines = samples.read_text().splitlines()
    for k, line in enumerate(lines):  # h03 gains a third GPU half-way, with a null reading at first
        r = json.loads(line)
        if r["event"] == "sample" and k > len(lines) // 2:
            r["gpus"].append({**r["gpus"][0], "index": 2, "util_percent": None if k % 2 else 5.0})
            lines[k] = json.dumps(r)
    samples.write_text("\n".join(lines) + "\n")
    img = gpu_plot.gpu_plot(analyze_dir(root), "hvd")
    assert "11 GPUs on 5 hosts" in img.title
    assert figs[-1].axes[0].get_images()[0].get_array().shape[0] == 11


def test_the_section_states_units_and_lists_each_gpu(tmp_path):
    a = analyze_dir(gpu_run(tmp_path / "run"))
    blocks = utilization_blocks(next(u for u in a.utilization if u.config == "hvd2"))
    text = " ".join(b.text for b in blocks if isinstance(b, Para))
    assert "util_percent" in text and "(W)" in text and "first entry per sample" in text
    table = [b for b in blocks if isinstance(b, Table)][-1]
    assert [r[:2] for r in table.rows] == [["g1", "0"], ["g2", "0"]]
    cpu = analyze_dir(standard_run(tmp_path / "std"))
    for u in cpu.utilization:
        assert not any("util_percent" in b.text for b in utilization_blocks(u) if isinstance(b, Para))
