"""Diagnoses and the recommendation against hand-computed evidence (tests/support/runfixtures.py)."""

import dataclasses

import pytest

from harness.report.figures import diagnose as dg
from harness.report.figures import rules_samples as rp
from harness.report.figures import rules_steps as rs
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
    assert (rs.STRAGGLER_SPREAD_SHARE, rs.INPUT_BOUND_DATA_WAIT_SHARE, rs.COMMUNICATION_BOUND_SHARE,
            rs.STEP_OUTLIER_SIGMAS, rs.STEP_OUTLIER_STEPS, rs.DEFAULT_MAX_INIT_S, rs.SHARED_CORES_WAIT_SHARE,
            rs.SHARED_CORES_CPU) == (0.20, 0.20, 0.50, 3.0, 10, 1200.0, 0.10, 90.0)
    assert (rp.LOW_GPU_P95, rp.LOW_GPU_P5, rp.BOTTLENECK_GPU, rp.BOTTLENECK_CPU, rp.BOTTLENECK_IOWAIT,
            rp.BOTTLENECK_SHARE, rp.BATCH_SIZE_P95, rp.GPU_MEMORY_INCREASE, rp.NOISY_OTHERS_SHARE,
            rp.NOISY_HOST_CPU, rp.MEMORY_PRESSURE_AVAILABLE_SHARE, rp.THRASH_SHARE) == (
        70.0, 10.0, 10.0, 90.0, 50.0, 0.50, 70.0, 0.05, 0.25, 80.0, 0.10, 0.10)
    assert dg.MINOR_SEVERITY == 0.05


def test_straggler_and_input_bound(gpu, std):
    c = _check(gpu, "hvd2", "straggler host")
    # per-task mean step time (the ranks did not calibrate): w0 0.8/2 = 0.4 s, w1 1.0/2 = 0.5 s;
    # median 0.45; spread 0.1 s = 22.2 % > 20 %; the slowest task runs on g2;
    # severity (0.5 − 0.4, the median of the others) / 0.5 = 20 %
    assert c.triggered and c.host == "g2" and c.severity == pytest.approx(0.20)
    assert c.evidence == ("per-task mean step time: w0 (g1) 0.4 s, w1 (g2) 0.5 s; spread max − min = "
                          "0.1 s = 22.2 % of the median 0.45 s; slowest w1 on g2")
    assert c.threshold == "spread > 20.0 % of the median" and "replace host g2" in c.action
    # data wait (4 x 0.1 + 4 x 0.3) / (4 x 0.8 + 4 x 1.0) = 1.6 / 7.2 = 22.2 % > 20 %
    c = _check(gpu, "hvd2", "input-bound")
    assert c.triggered and c.evidence.startswith("data-wait share 22.2 %") and c.severity == pytest.approx(1.6 / 7.2)
    # standard run "two": 0.25 vs 0.30 s, spread 0.05 / median 0.275 = 18.2 %: not a straggler
    c = _check(std, "two", "straggler host")
    assert c.status == dg.OK and "18.2 % of the median 0.275 s" in c.evidence and c.severity is None
    c = _check(std, "one", "straggler host")
    assert c.status == dg.NOT_EVALUATED and c.evidence.startswith("1 task(s) with step times")
    assert _check(std, "one", "input-bound").status == dg.OK  # 0.3 / 2.8 = 10.7 %


def test_gpu_and_memory_checks(gpu, std):
    c = _check(gpu, "single", "low GPU utilization", "g1")
    # 30 40 50 60 %: p95 58.5 < 70: underused; severity 1 − 45/100
    assert c.triggered and c.severity == pytest.approx(0.55)
    assert c.evidence == ("GPU % (mean of GPUs) mean 45, p95 58.5, p5 31.5 over 4 samples of g1, "
                          "t_wall 1004.5–1007.5: underused")
    # g4dn.xlarge is the family's smallest: the action says no cheaper type holds the peak
    # (a cheaper one found: tests/unit/test_report_rightsize.py)
    assert c.action.endswith("; no cheaper g4dn type in the price catalog holds that peak"), c.action
    assert _check(gpu, "hvd2", "low GPU utilization", "g1").status == dg.OK  # 80 %
    c = _check(gpu, "odd", "low GPU utilization")
    assert c.status == dg.NOT_EVALUATED and "NVML library not found" in c.evidence
    # odd: 0.2e9 of 4e9 available at 3002 (before the window, still counts): 5 % < 10 %; no
    # thrashing readings: a risk (severity 0, minor), not a slowdown
    c = _check(gpu, "odd", "memory pressure", "g3")
    assert c.triggered and c.severity == 0.0 and c.minor and not c.claimed
    assert c.evidence == ("lowest available 5.0 % of 4000000000 bytes at t_wall 3002 (all 3 "
                          "samples of the configuration)")
    assert _check(std, "one", "memory pressure", "h1").triggered
    assert _check(std, "two", "memory pressure", "h2").status == dg.OK
    # std "one": others use 2.1 of 4 cores (52.5 %) but the host is at 70 % < 80 %: not full
    c = _check(std, "one", "noisy neighbour", "h1")
    assert c.status == dg.OK and "other processes 2.1 cores (52.5 % of the host)" in c.evidence
    c = _check(std, "gone", "noisy neighbour")
    assert c.status == dg.NOT_EVALUATED


def test_communication_bound(gpu):
    c = _check(gpu, "hvd2", "communication-bound")
    assert c.status == dg.OK and c.evidence.startswith("communication share 28.9 % = 1 − 0.32 s (single)")
    assert _check(gpu, "single", "communication-bound").evidence == "not distributed"


def _task(tid, mean):
    return TaskMetrics(tid, "h", "worker", 0, "succeeded", "", 0, "ok", 0, 1, 1, 1, 1.0, 1.0, None,
                       mean, None)


def _inp(m=None, sc=None):
    from harness.report.figures.diagnose import RuleInput
    from harness.report.figures.utilization import ConfigUtilization
    from harness.report.read.records import RunData
    m = m or ConfigMetrics("c", "single", 1, 0, ["h"], {}, "succeeded", "", [])
    return RuleInput(RunData(run_dir=None), m, ConfigUtilization("c", [], ""), sc or Scaling("c", 1, False), [])


def test_straggler_and_communication_thresholds_are_strict():
    m = ConfigMetrics("c", "parameter_server", 2, 0, ["h"], {}, "succeeded", "", [_task("a", 1.0), _task("b", 1.2)])
    # spread 0.2 / median 1.1 = 18.2 %: ok; 1.0 vs 1.25: 0.25 / 1.125 = 22.2 %: triggered
    assert rs.straggler(_inp(m))[0].status == dg.OK
    m.tasks = [_task("a", 1.0), _task("b", 1.25)]
    assert rs.straggler(_inp(m))[0].triggered
    hot = Scaling("d", 2, True, baseline="s", communication=CommShare(0.6, "m", "i"))
    c = rs.communication_bound(_inp(sc=hot))[0]
    assert c.triggered and c.severity == 0.6
    edge = Scaling("d", 2, True, baseline="s", communication=CommShare(0.5, "m", "i"))
    assert rs.communication_bound(_inp(sc=edge))[0].status == dg.OK  # strictly above the threshold


def test_diagnoses_ranked_by_severity_in_results(gpu):
    ranked = [(c.config, c.name, c.host, round(c.severity, 4)) for c in dg.rank(gpu.checks)]
    # largest first: low GPU on g1 55 %, batch size on g1 41.5 %, low GPU on g2 and batch size on
    # g2 35 % (rule order), input-bound 22.2 %, straggler 20 %, odd's memory risk 0 %
    assert ranked == [("single", "low GPU utilization", "g1", 0.55), ("single", "batch size", "g1", 0.415),
                      ("hvd2", "low GPU utilization", "g2", 0.35), ("hvd2", "batch size", "g2", 0.35),
                      ("hvd2", "input-bound", None, 0.2222), ("hvd2", "straggler host", "g2", 0.2),
                      ("odd", "memory pressure", "g3", 0.0)]
    assert dg.first_diagnosis(gpu.checks_of("odd")) is None   # only a minor one


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


def test_synchronous_waiting_for_a_straggler_is_not_called_communication():
    from harness.report.figures.comm import CommAnalysis, Share
    # Horovod, 2 ranks: compute 0.01 s and 0.03 s (the slow one), step 0.04 s on both. The
    # direct share (mean of 1 − c/t) is 50 %+; the exchange itself is 0.04 − 0.03 = 0.01 s = 25 %.
    m = ConfigMetrics("h", "horovod", 2, 0, ["a", "b"], {}, "succeeded", "", [])
    a = CommAnalysis("h", "horovod", direct=Share(0.5, 0.01, 0.02, 0.04, 10, 100), exchange_s=0.01)
    sc = Scaling("h", 2, True, communication=CommShare(0.5 + 1e-9, "direct", "i"), comm=a)
    c = rs.communication_bound(_inp(m, sc))[0]
    assert c.status == dg.OK and c.evidence.startswith("exchange 25.0 % of the step")
    assert "also counts waiting for the slowest rank" in c.evidence
    # the same step with a slow link: exchange 0.03 of 0.04 s = 75 %: triggered, severity 0.75
    a.exchange_s = 0.03
    c = rs.communication_bound(_inp(m, sc))[0]
    assert c.triggered and c.severity == pytest.approx(0.75)
    # a parameter-server run keeps the direct share (its workers do not wait for each other)
    ps = dataclasses.replace(m, strategy="parameter_server")
    assert rs.communication_bound(_inp(ps, sc))[0].severity == pytest.approx(0.5, abs=1e-6)


def test_communication_is_not_claimed_when_the_ranks_share_cores():
    from harness.report.figures.comm import CommAnalysis, Share
    m = ConfigMetrics("h", "horovod", 3, 0, ["a"], {}, "succeeded", "", [])
    a = CommAnalysis("h", "horovod", direct=Share(0.6, 0.01, 0.02, 0.05, 10, 100), exchange_s=0.03,
                     oversubscription="workers share cores: 3 training processes on 2 cores, host a")
    sc = Scaling("h", 3, True, communication=CommShare(0.6, "direct", "i"), comm=a)
    c = rs.communication_bound(_inp(m, sc))[0]
    assert c.status == dg.NOT_EVALUATED and "not separable from CPU sharing" in c.evidence
    assert "3 training processes on 2 cores" in c.evidence


def _two_rank_run(root, boots, quotas=False):
    from tests.support.runfixtures import WORKLOAD, RunDir
    run = RunDir(root)
    run.resolved(WORKLOAD, [{"name": "hvd", "strategy": "horovod", "workers": 2, "ps": 0}],
                 hosts=[{"name": h, "instance_type": "c7i.large"} for h in ("a", "b")])
    run.control("config_start", 100.0, config="hvd", strategy="horovod", workers=2, ps=0, hosts=["a", "b"],
                instance_types={"a": "c7i.large", "b": "c7i.large"})
    for r, (h, calib) in enumerate((("a", 0.01), ("b", 0.02))):   # b computes twice as long
        t = run.task("hvd", f"rank-{r}", h, "worker", r).task_json()
        t.event("run_start", 101.0, pid=1, host_facts={"cores_logical": 2, "boot_id": boots[r]}, threads={})
        t.event("calibration", 102.0, steps=4, step_seconds=[calib] * 4, t_start_wall=101.5, t_end_wall=102.0)
        now = 103.0
        for i in range(12):
            now += 0.05
            t.step(now, 2 * (i + 1), 0.05)
        t.event("run_end", now + 0.1, status="ok")
        if quotas:   # a host with a CPU quota of its own (a container, a sandbox host after `fault cpu`)
            run.sampler("hvd", h).record("sampler_start", 100.5, interval_s=1.0, nvml=False, cores=2,
                                         memory_total_bytes=8e9, gpus=[], cpu_limit_cores=0.5 * (r + 1))
    run.control("config_end", 120.0, config="hvd", status="succeeded", reason="")
    return analyze(load_run(root))


def test_a_straggler_is_a_host_only_when_the_tasks_run_on_more_than_one_machine(tmp_path):
    apart = _check(_two_rank_run(tmp_path / "apart", ["boot-a", "boot-b"]), "hvd", "straggler host")
    assert apart.triggered and apart.host == "b"
    # two inventory hosts that are one machine (one kernel boot id): no host to replace
    one = _check(_two_rank_run(tmp_path / "one", ["boot-x", "boot-x"]), "hvd", "straggler host")
    assert one.status == dg.NOT_EVALUATED and "every task runs on one machine (a, b" in one.evidence
    # one kernel, but each host with a CPU quota of its own: the hosts are apart
    quota = _check(_two_rank_run(tmp_path / "quota", ["boot-x", "boot-x"], quotas=True), "hvd", "straggler host")
    assert quota.triggered and quota.host == "b"


def _three_ranks_on_two_cores(root, *, sched):
    """3 Horovod ranks on one 2-core host; the sampler's run-queue readings of the tasks
    (run, wait seconds) every other sample in the training window (None: a sampler without
    them, as before they existed)."""
    from tests.support.runfixtures import WORKLOAD, RunDir
    run = RunDir(root)
    run.resolved(WORKLOAD, [{"name": "hvd", "strategy": "horovod", "workers": 3, "ps": 0}],
                 hosts=[{"name": "a", "instance_type": "c7i.large"}])
    run.control("config_start", 100.0, config="hvd", strategy="horovod", workers=3, ps=0, hosts=["a"],
                instance_types={"a": "c7i.large"})
    for r in range(3):
        t = run.task("hvd", f"rank-{r}", "a", "worker", r).task_json()
        t.event("run_start", 101.0, pid=1 + r, host_facts={"cores_logical": 2, "boot_id": "boot"}, threads={})
        now = 103.0
        for i in range(12):
            now += 0.5
            t.step(now, 2 * (i + 1), 0.5)
        t.event("run_end", now + 0.1, status="ok")
    s = run.sampler("hvd", "a").start(100.5, cores=2)
    for i in range(14):
        s.sample(103.0 + 0.5 * i, 85.0, task_cpu=170.0, sched=sched if i % 2 else None, processes=3)
    run.control("config_end", 120.0, config="hvd", status="succeeded", reason="")
    return analyze(load_run(root))


def test_shared_cores_is_judged_by_the_tasks_run_queue_wait(tmp_path):
    # per reading the tasks' threads ran 3.4 s and waited 1.2 s: 1.2 / 4.6 = 26.1 % of their runnable time
    c = _check(_three_ranks_on_two_cores(tmp_path / "busy", sched=(3.4, 1.2)), "hvd", "shared cores")
    assert c.triggered and c.severity == pytest.approx(1.2 / 4.6)
    assert "waited for a core 26.1 % of their runnable time" in c.evidence and " readings of a)" in c.evidence
    # the same layout with little wait (ranks mostly waiting on each other, not on a core)
    c = _check(_three_ranks_on_two_cores(tmp_path / "idle", sched=(3.4, 0.2)), "hvd", "shared cores")
    assert c.status == dg.OK and c.severity is None
    # just above the threshold is triggered, at it is not (strict, like the other rules)
    at = rs.SHARED_CORES_WAIT_SHARE * 3.4 / (1 - rs.SHARED_CORES_WAIT_SHARE)
    assert _check(_three_ranks_on_two_cores(tmp_path / "above", sched=(3.4, at * 1.01)), "hvd", "shared cores").triggered
    assert not _check(_three_ranks_on_two_cores(tmp_path / "at", sched=(3.4, at * 0.99)), "hvd", "shared cores").triggered


def test_shared_cores_without_run_queue_readings_falls_back_to_the_machine_cpu(tmp_path):
    c = _check(_three_ranks_on_two_cores(tmp_path / "old", sched=None), "hvd", "shared cores")
    assert "no run-queue wait readings" in c.evidence and c.status == dg.OK   # machine CPU 85 % ≤ 90 %
