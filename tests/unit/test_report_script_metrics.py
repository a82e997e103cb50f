"""Own-script figures from regex readings: the same ConfigMetrics fields as a built-in model,
worked out by hand here (harness/report/figures/script_metrics.py)."""

import pytest

from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics
from tests.support.runfixtures import RunDir

RATES0 = [50.0, 100.0, 110.0, 90.0, 100.0]   # rank 0's readings; the first is warm-up


def _run(tmp_path, scope=None, warm=None, rank1_prints=False, workers=2):
    work = {"script": "/x/bench.py", "batch_size": 32, "target_accuracy": 0.8, "warmup_steps": 5}
    if scope:
        work["throughput_scope"] = scope
    if warm is not None:
        work["warmup_readings"] = warm
    r = RunDir(tmp_path)
    r.resolved(work, [{"name": "hvd", "strategy": "horovod", "workers": workers}])
    r.control("run_start", 1000.0, run_id="run-1")
    r.control("config_start", 1000.0, config="hvd", strategy="horovod", workers=workers, ps=0,
              hosts=["h0", "h1"], instance_types={})
    for rank in range(workers):
        t = r.task("hvd", f"worker-{rank}", f"h{rank}", rank=rank).task_json(work)
        t.event("run_start", 1001.0)
        if rank == 0 or rank1_prints:
            for i, v in enumerate(RATES0):
                t.event("metric", 1010.0 + i, name="images_per_s", value=v if rank == 0 else v + 10, source="regex")
            t.event("metric", 1014.5, name="accuracy", value=0.85, source="regex")
            t.event("metric", 1014.6, name="loss", value=0.3, source="regex")
        t.event("run_end", 1015.0, status="ok")
        r.control("task_exit", 1015.0, config="hvd", task_id=f"worker-{rank}", state="succeeded", returncode=0)
    r.write_plan()
    r.control("config_end", 1016.0, config="hvd", status="succeeded", reason="")
    (m,) = compute_metrics(load_run(tmp_path))
    return m


def test_per_rank_equal_scales_rank0s_mean_to_every_rank(tmp_path):
    m = _run(tmp_path, scope="per_rank_equal")
    assert m.throughput_images_per_s == pytest.approx(2 * 100.0)   # mean(100, 110, 90, 100) x 2 ranks
    # sd of (100,110,90,100) = 8.165; t(0.975, 3) = 3.182; half-width 12.99 per rank, x2
    assert m.throughput_ci95_half_width_images_per_s == pytest.approx(2 * 3.1824 * 8.1650 / 2, rel=1e-3)
    assert "1 of 2 rank(s) printed" in m.throughput_method and "after the first 1" in m.throughput_method
    assert m.training_time_s == pytest.approx(4.6) and m.training_start_t_wall == 1010.0
    assert m.step_time_n == 4 and m.step_time_mean_s == pytest.approx(sum(32 / v for v in RATES0[1:]) / 4)
    assert m.final_train_accuracy == 0.85 and m.final_train_loss == 0.3
    assert m.time_to_target_s == pytest.approx(14.5) and "accuracy regex reading" in m.time_to_target_method
    assert not [p for p in m.problems if "warm" in p]


def test_per_rank_counts_only_ranks_that_print_and_says_so(tmp_path):
    m = _run(tmp_path)
    assert m.throughput_images_per_s == pytest.approx(100.0)
    assert "scope per_rank (default)" in m.throughput_method and "printed nothing and count 0" in m.throughput_method
    m2 = _run(tmp_path / "b", rank1_prints=True)
    assert m2.throughput_images_per_s == pytest.approx(100.0 + 110.0)
    assert [t.throughput_images_per_s for t in m2.tasks] == pytest.approx([100.0, 110.0])


def test_total_scope_and_warmup_zero(tmp_path):
    m = _run(tmp_path, scope="total", warm=0)
    assert m.throughput_images_per_s == pytest.approx(sum(RATES0) / 5)
    assert m.throughput_method.startswith("scope total (") and "5 of 5 readings kept" in m.throughput_method


def test_no_readings_says_why(tmp_path):
    r = RunDir(tmp_path)
    work = {"script": "/x/bench.py"}
    r.resolved(work, [{"name": "c"}])
    r.control("config_start", 1000.0, config="c", strategy="single", workers=1, ps=0, hosts=["h0"])
    r.task("c", "worker-0", "h0").task_json(work).event("metric", 1001.0, name="loss", value=1.0)
    r.write_plan()
    (m,) = compute_metrics(load_run(tmp_path))
    assert m.throughput_images_per_s is None and "matched nothing" in m.throughput_method


def test_utilization_window_says_it_comes_from_the_readings(tmp_path):
    from harness.report.figures.utilization import config_utilization

    from tests.support.runfixtures import SamplerDir

    m = _run(tmp_path, scope="per_rank_equal")
    SamplerDir(RunDir(tmp_path), "hvd", "h0").start(1000.0).sample(1012.0, 50.0).end(1016.0, 0.1, 16.0)
    u = config_utilization(load_run(tmp_path), m)
    assert "first to last regex reading" in u.method
    (h,) = u.hosts
    assert "1 of 1 sample(s)" in h.method and "first to last regex reading" in h.method
