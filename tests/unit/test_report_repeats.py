"""Configurations over repeats, against synthetic run directories: a real difference is
called one, a difference inside the noise is not, and a warm-up run never counts."""

import pytest

from harness.report.figures.analysis import analyze_dir
from harness.report.write.render import write_report
from tests.support.runfixtures import repeated_run


def test_twice_the_throughput_is_called_a_difference(tmp_path):
    a = analyze_dir(repeated_run(tmp_path / "run", {"fast": [0.100, 0.103, 0.098],
                                                    "slow": [0.200, 0.196, 0.205]}))
    fast, slow = a.groups
    assert (fast.config, fast.n, slow.n) == ("fast", 3, 3)
    assert fast.counted == ["fast@1", "fast@2", "fast@3"]
    # per run: 32 images / step time (the ±1 % jitter averages out over the kept steps)
    assert fast.throughput.mean == pytest.approx(32 / 0.1003, rel=0.01)
    assert fast.throughput.n == 3 and "t-interval over 3 run means" in fast.throughput.method
    assert fast.throughput_cv == pytest.approx(0.0254, abs=0.003)
    (v,) = a.verdicts
    assert v.differs and v.better == "fast"
    assert v.text.startswith("fast is faster than slow by 10")  # ~100 %
    r = a.recommendation
    assert r.fastest.config == "fast" and r.cheapest_on_demand.config == "fast"
    assert r.headline.startswith("fast is faster than slow by")


def test_a_small_difference_inside_the_noise_is_not(tmp_path):
    a = analyze_dir(repeated_run(tmp_path / "run", {"a": [0.100, 0.104, 0.097],
                                                    "b": [0.101, 0.098, 0.103]}))
    (v,) = a.verdicts
    assert not v.differs and v.better is None
    assert v.text.startswith("a and b are indistinguishable here in throughput (difference")
    r = a.recommendation
    assert r.fastest.config is None and r.cheapest_on_demand.config is None
    # same host, same price: the tie-break falls to run order
    assert r.fastest.tie_break == "a"
    assert r.headline.startswith("a and b are indistinguishable here")


def test_significant_but_below_the_noise_floor_is_not_a_difference(tmp_path):
    # 3 % apart with very tight repeats: significant, but under the 5 % floor...
    runs = {"a": [0.1000, 0.1001, 0.0999], "b": [0.1030, 0.1031, 0.1029]}
    (v,) = analyze_dir(repeated_run(tmp_path / "run", runs)).verdicts
    assert v.p_value < 0.05 and not v.differs and "noise floor" in v.text
    # ... and a difference once the experiment lowers its floor to 1 %.
    (v,) = analyze_dir(repeated_run(tmp_path / "run2", runs, min_effect=0.01)).verdicts
    assert v.differs and v.better == "a"


def test_warmup_run_is_kept_but_not_counted(tmp_path):
    root = repeated_run(tmp_path / "run", {"a": [0.1, 0.1], "b": [0.1, 0.1]}, warmup_run=True)
    a = analyze_dir(root)
    ga = a.groups[0]
    assert [r.name for r in ga.runs] == ["a@warmup", "a@1", "a@2"] and ga.counted == ["a@1", "a@2"]
    assert ga.not_counted == ["a@warmup: warm-up run (kept, not counted)"]
    assert [m.config for m in a.metrics][:1] == ["a@warmup"]  # its own figures are still shown
    write_report(root)
    md = (root / "report.md").read_text()
    assert md.index("## Verdict") < md.index("## Configurations over their runs") < md.index("## Summary")
    assert "a@warmup (not counted)" in md and "![Decision plot" in md


def test_scaling_efficiency_has_a_verdict_against_ideal(tmp_path):
    from harness.report.figures.analysis import scaling_verdicts
    from tests.support.gpu_runs import gpu_run

    a = analyze_dir(gpu_run(tmp_path / "g"))
    (name, v), = scaling_verdicts(a).items()
    # hvd2 144 images/s against 2 × single's 100: 72 % of ideal; the fixture's steps are
    # constant, so the within-run intervals are zero wide and the shortfall counts
    assert name == "hvd2" and 1 + v.relative == pytest.approx(0.72)
    assert v.differs and v.better != "hvd2"
    write_report(tmp_path / "g")
    assert "below ideal beyond noise" in (tmp_path / "g" / "report.md").read_text()
