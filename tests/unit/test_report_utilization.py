"""Samplers: read apart from training tasks, summarised over the training window
(hand-computed on the fixed runs of tests/support/runfixtures.py)."""

import pytest

from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics
from harness.report.figures.utilization import compute_utilization, host_series, stat, summary
from tests.support.runfixtures import RunDir, standard_run
from tests.support.gpu_runs import gpu_run


@pytest.fixture(scope="module")
def std(tmp_path_factory):
    run = load_run(standard_run(tmp_path_factory.mktemp("u") / "run"))
    metrics = compute_metrics(run)
    return run, metrics, {u.config: u for u in compute_utilization(run, metrics)}


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    run = load_run(gpu_run(tmp_path_factory.mktemp("g") / "run"))
    metrics = compute_metrics(run)
    return run, metrics, {u.config: u for u in compute_utilization(run, metrics)}


# --- samplers are not training tasks ------------------------------------------------------

def test_samplers_are_loaded_apart_from_training_tasks(std):
    run, metrics, _ = std
    assert [(s.config, s.host) for s in run.samplers] == [
        ("one", "h1"), ("two", "h1"), ("two", "h2"), ("gone", "h3")]
    assert all(t.task_id != "sampler" for t in run.tasks)
    m = {x.config: x for x in metrics}
    # the samplers' task_exit records (stopped, lost) are not task states
    assert m["one"].task_states == {"succeeded": 1} and len(m["one"].tasks) == 1
    assert m["two"].task_states == {"lost": 1, "succeeded": 1}
    # and their files are not problems of the configuration
    assert not any("sampler" in p for x in metrics for p in x.problems)


def test_sampler_found_only_on_disk_is_still_a_sampler(tmp_path):
    r = RunDir(tmp_path)
    r.task("c", "w0", "h1").step(5.0, 1, 1.0, steps=1)
    (tmp_path / "hosts" / "h1" / "c" / "sampler").mkdir(parents=True)  # not in plan.json
    r.write_plan()
    run = load_run(tmp_path)
    assert [t.task_id for t in run.tasks] == ["w0"]
    [s] = run.samplers
    assert not s.found and [str(n) for n in s.notes] == [
        "hosts/h1/c/sampler/samples.jsonl: missing; no utilization figures for host h1"]


# --- one host, healthy ---------------------------------------------------------------------

def test_window_statistics_one_host(std):
    _, _, u = std
    h = u["one"].host("h1")
    # window [106.5, 113.3]; samples at 106..114: 107..113 are inside (7 of 9)
    assert (h.window_start, h.window_end) == (pytest.approx(106.5), pytest.approx(113.3))
    assert (h.samples_total, h.samples_in_window) == (9, 7)
    # CPU 50 60 70 80 90 100 40: mean 490/7 = 70; sorted 40..100, p95 at 0.95*6 = 5.7:
    # 90 + 0.7 * 10 = 97; the 5 % samples at 106 and 114 are outside and do not count
    assert (h.cpu_percent.mean, h.cpu_percent.p95, h.cpu_percent.peak) == (pytest.approx(70), pytest.approx(97), 100)
    # task RSS 4e8 + 1e8 * (t - 107) for t = 107..113: 4e8..1e9, mean 7e8, peak 1e9
    assert h.tasks_rss_bytes.mean == pytest.approx(7e8) and h.tasks_rss_bytes.peak == 1e9
    assert h.tasks_cpu_percent.mean == pytest.approx(70) and h.tasks_cpu_percent.peak == 100
    assert h.net_sent_bytes_per_s.mean == 1000 and h.disk_read_bytes_per_s.mean == 0
    # no GPU: nothing to summarise, and NVML's absence is recorded, not an error
    assert h.gpus == [] and h.gpu_util_percent.n == 0 and not h.has_gpus
    assert (h.nvml, h.nvml_reason, h.cores, h.interval_s) == (False, "NVML library not found", 4, 1.0)
    # memory pressure looks at all samples: 0.5e9 of 8e9 available at t 114 = 6.25 %
    assert h.mem_available_min_share == pytest.approx(0.0625) and h.mem_available_min_t_wall == 114.0
    # own cost 0.028 CPU s over 14.3 s
    assert h.sampler_core_share == pytest.approx(0.028 / 14.3)
    assert h.sampler_state == "stopped" and h.notes == []
    assert "7 of 9 sample(s) with t_wall in the training window [106.5, 113.3] (6.8 s" in h.method


def test_host_that_died_mid_run(std):
    _, _, u = std
    h2 = u["two"].host("h2")
    # window [205.0, 209.8]; h2's samples 205, 206, 207 then a torn line: all 3 inside,
    # CPU 30 40 50 -> mean 40; the last sample is 209.8 - 207.0 = 2.8 s > 2 intervals early
    assert (h2.samples_total, h2.samples_in_window) == (3, 3)
    assert h2.cpu_percent.mean == pytest.approx(40)
    assert h2.sampler_state == "lost" and h2.sampler_core_share is None
    text = "\n".join(h2.notes)
    assert "samples stop at t_wall 207, 2.8 s before the training window ends" in text
    assert "no sampler_end record (the sampler was killed or its host died)" in text
    assert "samples.jsonl: last line (line 5) is incomplete" in text
    # the other host of the configuration is unaffected: samples 201..211, 205..209 inside
    h1 = u["two"].host("h1")
    assert (h1.samples_in_window, h1.samples_total, h1.notes) == (5, 11, [])


def test_missing_sampler_directory_is_a_note(std):
    _, _, u = std
    [h3] = u["gone"].hosts
    assert h3.samples_total == 0 and h3.cpu_percent.n == 0
    assert h3.method.startswith("no training window")
    assert h3.notes == ["hosts/h3/gone/sampler/samples.jsonl: missing (no sampler directory was "
                        "pulled back); no utilization figures for host h3"]


# --- GPUs ------------------------------------------------------------------------------------

def test_gpu_statistics(gpu):
    _, _, u = gpu
    g1 = u["single"].host("g1")
    # window [1004.0, 1008.28]: samples 1004.5..1007.5 inside (4 of 6); the idle samples at
    # 1001.5 (start-up) and 1009.5 (evaluation) are out
    assert (g1.samples_in_window, g1.samples_total) == (4, 6)
    # GPU 30 40 50 60: mean 45; p95 at 0.95*3 = 2.85 -> 50 + 0.85*10 = 58.5
    [gpu0] = g1.gpus
    assert (gpu0.index, gpu0.name) == (0, "Tesla T4")
    assert gpu0.util_percent.mean == pytest.approx(45) and gpu0.util_percent.p95 == pytest.approx(58.5)
    assert g1.gpu_util_percent.mean == pytest.approx(45) and g1.has_gpus
    assert gpu0.mem_total_bytes == 16e9 and gpu0.power_w.mean == 50
    # CPU 20 30 40 50: mean 35, p95 40 + 0.85*10 = 48.5; memory used 4e9 throughout
    assert g1.cpu_percent.mean == pytest.approx(35) and g1.cpu_percent.p95 == pytest.approx(48.5)
    assert g1.mem_used_bytes.peak == 4e9


def test_configuration_summary_for_results_csv(gpu):
    _, _, u = gpu
    s = summary(u["hvd2"])
    # GPU hosts g1 80 %, g2 65 %: mean of host means 72.5, highest p95 80
    assert s["util_gpu_mean_percent"] == pytest.approx(72.5) and s["util_gpu_p95_percent"] == 80
    assert s["util_cpu_mean_percent"] == pytest.approx(60)
    # network adds up over hosts: 2 x 2e6 B/s
    assert s["util_net_sent_mean_bytes_per_s"] == pytest.approx(4e6)
    odd = summary(u["odd"])
    assert odd["util_gpu_mean_percent"] is None and odd["util_cpu_mean_percent"] == pytest.approx(97)


def test_null_fields_are_skipped_per_field(tmp_path):
    assert stat([None, 1.0, None, 3.0]) == stat([1.0, 3.0])
    assert stat([]).n == 0 and stat([None]).mean is None
    r = RunDir(tmp_path)
    r.resolved({"warmup_steps": 0}, [])
    t = r.task("c", "w0", "h1")
    t.step(10.0, 1, 10.0, steps=1)  # window [0, 10]
    s = r.sampler("c", "h1").start(0.0)
    s.sample(2.0, None, mem_used=1e9)
    s.sample(4.0, 50.0, gpu_util=[None])
    r.write_plan()
    run = load_run(tmp_path)
    [u] = compute_utilization(run, compute_metrics(run))
    h = u.host("h1")
    assert h.cpu_percent.n == 1 and h.cpu_percent.mean == 50
    assert h.mem_used_bytes.n == 2 and h.gpu_util_percent.n == 0 and not h.has_gpus
    # a sampler that only wrote sampler_start and samples (no end) is noted
    assert any("no sampler_end record" in n for n in h.notes)


def test_series_for_plots(std):
    run, _, _ = std
    sr = host_series(run.samplers[0])
    assert sr.host == "h1" and sr.t_wall == [float(t) for t in range(106, 115)]
    assert sr.cpu_percent[1:8] == [50, 60, 70, 80, 90, 100, 40]
    assert sr.mem_used_share[0] == pytest.approx(0.25)  # 2e9 of 8e9
