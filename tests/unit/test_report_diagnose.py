"""Diagnoses and the recommendation against hand-computed evidence (tests/support/runfixtures.py)."""

import dataclasses

import pytest

from harness.report.figures import diagnose as dg
from harness.report.figures.analysis import analyze
from harness.report.read.rundir import load_run
from harness.report.figures.metrics import ConfigMetrics, TaskMetrics
from harness.report.figures.recommend import recommend
from harness.report.figures.scaling import CommShare, Scaling
from tests.support.runfixtures import standard_run
from tests.support.gpu_runs import gpu_run


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    return analyze(load_run(gpu_run(tmp_path_factory.mktemp("d") / "run")))


@pytest.fixture(scope="module")
def std(tmp_path_factory):
    return analyze(load_run(standard_run(tmp_path_factory.mktemp("s") / "run")))


def _check(a, config, name, host=None):
    found = [c for c in a.checks_of(config) if c.name == name and (host is None or c.host == host)]
    assert len(found) == 1, found
    return found[0]


def test_thresholds_are_named_constants():
    assert (dg.STRAGGLER_SPREAD_SHARE, dg.INPUT_BOUND_DATA_WAIT_SHARE, dg.LOW_GPU_UTIL_PERCENT,
            dg.CPU_SATURATION_PERCENT, dg.COMMUNICATION_BOUND_SHARE,
            dg.MEMORY_PRESSURE_AVAILABLE_SHARE) == (0.20, 0.20, 50.0, 90.0, 0.50, 0.10)


def test_straggler_and_input_bound(gpu, std):
    c = _check(gpu, "hvd2", "straggler host")
    # per-task mean step time: w0 0.8/2 = 0.4 s, w1 1.0/2 = 0.5 s; median 0.45;
    # spread 0.1 s = 22.2 % > 20 %; the slowest task runs on g2
    assert c.triggered and c.host == "g2"
    assert c.evidence == ("per-task mean step time: w0 (g1) 0.4 s, w1 (g2) 0.5 s; spread max − min = "
                          "0.1 s = 22.2 % of the median 0.45 s; slowest w1 on g2")
    assert c.threshold == "spread > 20.0 % of the median"
    # data wait (4 x 0.1 + 4 x 0.3) / (4 x 0.8 + 4 x 1.0) = 1.6 / 7.2 = 22.2 % > 20 %
    c = _check(gpu, "hvd2", "input-bound")
    assert c.triggered and c.evidence.startswith("data-wait share 22.2 %")
    # standard run "two": 0.25 vs 0.30 s, spread 0.05 / median 0.275 = 18.2 %: not a straggler
    c = _check(std, "two", "straggler host")
    assert c.status == dg.OK and "18.2 % of the median 0.275 s" in c.evidence
    # one task only: not evaluated, with the reason
    c = _check(std, "one", "straggler host")
    assert c.status == dg.NOT_EVALUATED and c.evidence.startswith("1 task(s) with step times")
    assert _check(std, "one", "input-bound").status == dg.OK  # 0.3 / 2.8 = 10.7 %


def test_gpu_cpu_and_memory_checks(gpu, std):
    c = _check(gpu, "single", "low GPU utilization", "g1")
    # mean of 30 40 50 60 = 45 % < 50 %
    assert c.triggered and c.evidence == "mean 45 % over 4 samples (GPU 0 45 %)"
    assert _check(gpu, "hvd2", "low GPU utilization", "g2").status == dg.OK  # 65 %
    c = _check(gpu, "odd", "low GPU utilization")
    assert c.status == dg.NOT_EVALUATED and "NVML library not found" in c.evidence
    # odd: CPU 96, 98 in the window: mean 97 > 90; p95 96 + 0.95 x 2 = 97.9
    c = _check(gpu, "odd", "CPU saturation", "g3")
    # task CPU 97 % of one core on a 4-core host at 97 %: 0.97 cores by the tasks, 2.9 by others
    assert c.triggered and c.evidence == (
        "host CPU mean 97 %, p95 97.9 % of all 4 cores over 2 samples; the training tasks used 0.97 "
        "of 4 cores (24 % of the host), other processes used 2.9 cores (73 % of the host): a noisy "
        "neighbour, not the workload")
    assert _check(gpu, "single", "CPU saturation", "g1").status == dg.OK  # 35 %
    # odd: 0.2e9 of 4e9 available at 3002 (before the window, still counts): 5 % < 10 %
    c = _check(gpu, "odd", "memory pressure", "g3")
    assert c.triggered
    assert c.evidence == ("lowest available 5.0 % of 4000000000 bytes at t_wall 3002 (all 3 "
                          "samples of the configuration)")
    # standard "one": 0.5e9 of 8e9 after training = 6.25 % -> triggered; the dead host h2 is fine
    assert _check(std, "one", "memory pressure", "h1").triggered
    assert _check(std, "two", "memory pressure", "h2").status == dg.OK
    # no sampler at all: every host check says so
    c = _check(std, "gone", "CPU saturation")
    assert c.status == dg.NOT_EVALUATED and "no CPU samples" in c.evidence


def test_communication_bound(gpu):
    c = _check(gpu, "hvd2", "communication-bound")
    assert c.status == dg.OK and c.evidence.startswith("communication share 28.9 % = 1 − 0.32 s (single)")
    assert _check(gpu, "single", "communication-bound").evidence == "not distributed"
    hot = Scaling("d", 2, True, baseline="s", communication=CommShare(0.6, "m", "i"))
    assert dg.communication_bound(hot).triggered
    edge = Scaling("d", 2, True, baseline="s", communication=CommShare(0.5, "m", "i"))
    assert dg.communication_bound(edge).status == dg.OK  # strictly above the threshold


def _task(tid, mean):
    return TaskMetrics(tid, "h", "worker", 0, "succeeded", "", 0, "ok", 0, 1, 1, 1, 1.0, 1.0, None,
                       mean, None)


def test_straggler_threshold_is_strict():
    m = ConfigMetrics("c", "horovod", 2, 0, ["h"], {}, "succeeded", "", [_task("a", 1.0), _task("b", 1.2)])
    # spread 0.2 / median 1.1 = 18.2 %: ok; 1.0 vs 1.25: 0.25 / 1.125 = 22.2 %: triggered
    assert dg.straggler(m).status == dg.OK
    m.tasks = [_task("a", 1.0), _task("b", 1.25)]
    assert dg.straggler(m).triggered


def test_diagnosis_summary_in_results(gpu):
    hits = [(c.config, c.name, c.host) for c in gpu.checks if c.triggered]
    assert hits == [("single", "low GPU utilization", "g1"), ("hvd2", "straggler host", "g2"),
                    ("hvd2", "input-bound", None), ("odd", "CPU saturation", "g3"),
                    ("odd", "memory pressure", "g3")]


# --- recommendation ---------------------------------------------------------------------------

def test_recommendation_by_target(gpu):
    r = gpu.recommendation
    assert r.basis == "target" and r.excluded == []
    # odd reaches the target first (5 s; hvd2 8 s, single 10 s), but each ran once: there is
    # no interval between runs, so no winner; the tie-break takes the lowest $/h with a price
    # (single $0.526/h < hvd2 $1.052/h; odd has none)
    assert r.fastest.config is None and r.fastest.tie_break == "single"
    assert "odd vs single in time to target: difference −50 %, no verdict" in r.fastest.text
    assert "1 run each: no interval between runs" in r.headline
    # $ to target on-demand: single 0.526 x 10 / 3600 = 0.001461 < hvd2 1.052 x 8 / 3600 = 0.002338;
    # odd has no price, so it is no candidate
    assert r.cheapest_on_demand.tie_break == "single"
    assert r.cheapest_on_demand.value == "$0.001461 (n = 1) to reach the target"
    assert [v.b for v in r.cheapest_on_demand.verdicts] == ["hvd2"]
    assert r.cheapest_spot.tie_break == "single"


def _groups(a, metrics):
    from harness.report.figures.repeats import compute_groups
    return compute_groups(a.run, metrics, a.costs)


def test_recommendation_by_throughput_when_no_target(gpu):
    metrics = [dataclasses.replace(m, target_metric=None, time_to_target_s=None) for m in gpu.metrics]
    r = recommend(_groups(gpu, metrics))
    assert r.basis == "throughput" and r.basis_text.startswith("no target set;")
    # $ per 10^6 images: single 1.461 < hvd2 2.029 (odd: no price); one run each, so the
    # within-run intervals (batch means; the fixture's steps are constant: zero width) decide
    assert r.cheapest_on_demand.config == "single"
    assert r.cheapest_on_demand.value.startswith("$1.46 ± $0 (n = 2)")
    assert r.cheapest_on_demand.text.startswith("single is cheaper than hvd2 by 28 % in on-demand $ per 10⁶ images")
    # fastest by throughput: hvd2 144 > odd 128 > single 100: hvd2 beats single, but odd has
    # too few records for an interval: no verdict, and the tie-break between the two takes
    # hvd2 (odd has no price)
    assert r.fastest.config is None and r.fastest.tie_break == "hvd2"
    assert "hvd2 vs odd in throughput: difference +12 %, no verdict (odd has no interval)" in r.fastest.text
    # target set but not reached by anyone: said
    metrics = [dataclasses.replace(m, time_to_target_s=None) for m in gpu.metrics]
    assert recommend(_groups(gpu, metrics)).basis_text.startswith(
        "no configuration reached the target in every counted run; ranked by steady-state throughput")


def test_recommendation_reasons_when_nothing_qualifies(std):
    r = std.recommendation
    assert r.excluded == ["two: no counted run (two: status failed)", "gone: no counted run (gone: status failed)"]
    assert r.cheapest_on_demand.config == "one" and r.fastest.config == "one"
    assert "only candidate" in r.fastest.text
    assert r.cheapest_spot.config is None
    assert r.cheapest_spot.text == "no configuration has a spot price"
    failed = [dataclasses.replace(m, status="failed") for m in std.metrics]
    r = recommend(_groups(std, failed))
    assert r.fastest.config is None and "none succeeded" in r.fastest.text
