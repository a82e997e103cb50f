"""Scaling efficiency, communication share and model-FLOP utilization, by hand."""

import json

import pytest

from harness.prices import load_catalog
from harness.report.figures import scaling
from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics
from harness.report.figures.scaling import CommShare, compute_scaling, gpu_peak_tflops
from tests.support.runfixtures import WORKLOAD, RunDir, standard_run
from tests.support.gpu_runs import gpu_run

CATALOG = load_catalog()


def _scaling(root):
    run = load_run(root)
    return {s.config: s for s in compute_scaling(run, compute_metrics(run), CATALOG)}


def _tiny(root, configs, workload=WORKLOAD):
    """configs: (name, strategy, threads, [(task host, instance type, seconds per record)]).
    Warm-up 0; every task logs 3 records of 2 steps and 64 images, so a task's throughput
    is 64 / seconds and its per-step time seconds / 2."""
    wl = dict(workload, warmup_steps=0)
    r = RunDir(root)
    r.resolved(wl, [{"name": n, "strategy": s, "workers": len(ts), "threads": th} for n, s, th, ts in configs])
    t0 = 0.0
    for name, strategy, threads, tasks in configs:
        r.control("config_start", t0, config=name, strategy=strategy, workers=len(tasks), ps=0,
                  hosts=[h for h, _, _ in tasks], instance_types={h: it for h, it, _ in tasks})
        for rank, (host, _, sec) in enumerate(tasks):
            t = r.task(name, f"w{rank}", host, rank=rank).task_json(wl)
            for i in range(3):
                t.step(t0 + 1 + (i + 1) * sec, 2 * (i + 1), sec)
        t0 += 100
    r.write_plan()
    return root


def test_distributed_against_its_baseline(tmp_path):
    s = _scaling(gpu_run(tmp_path / "run"))
    hvd = s["hvd2"]
    # baseline: "single" (same workload, batch 32, g4dn.xlarge); "odd" is another type
    assert hvd.distributed and hvd.baseline == "single"
    assert hvd.baseline_reason == "single: strategy single, same model/dataset, per-worker batch 32, g4dn.xlarge"
    # efficiency 144 / (2 x 100) = 0.72
    assert hvd.efficiency == pytest.approx(0.72)
    assert hvd.efficiency_inputs == "144 images/s ÷ (2 × 100 images/s of single)"
    # communication share 1 - 0.32 / 0.45 (pooled per-step times) = 0.288889
    assert hvd.communication_share == pytest.approx(1 - 0.32 / 0.45)
    assert hvd.communication.method == "step times vs baseline"
    assert hvd.communication.inputs == "1 − 0.32 s (single) ÷ 0.45 s"
    assert hvd.communication_reason == ""
    single = s["single"]
    assert not single.distributed and single.efficiency is None
    assert single.baseline_reason == "not distributed (one worker)"


def test_faster_distributed_step_gives_negative_share_with_note(tmp_path):
    two = _scaling(standard_run(tmp_path / "run"))["two"]
    # 234.667 / (2 x 80) = 1.4667; 1 - 0.4 / (1.9 / 7) = -0.4737
    assert two.baseline == "one" and two.efficiency == pytest.approx((128 + 192 / 1.8) / 160)
    assert two.communication_share == pytest.approx(1 - 0.4 / (1.9 / 7))
    assert two.communication_reason.startswith("negative:")


def test_baseline_choice_prefers_same_threads_then_fastest(tmp_path):
    common = [("s1", "single", {"intra_op": 1}, [("a", "c5.xlarge", 1.28)]),    # 50 images/s
              ("s2", "single", {"intra_op": 2}, [("a", "c5.xlarge", 0.64)])]    # 100 images/s
    dist = [("a", "c5.xlarge", 1.6), ("b", "c5.xlarge", 1.6)]                    # 2 x 40 images/s
    s = _scaling(_tiny(tmp_path / "same", common + [("d", "horovod", {"intra_op": 1}, dist)]))
    # same thread settings: s1; 80 / (2 x 50) = 0.8; 1 - 0.64 / 0.8 = 0.2
    assert s["d"].baseline == "s1" and s["d"].efficiency == pytest.approx(0.8)
    assert s["d"].communication_share == pytest.approx(0.2)
    assert "chosen from 2 by same thread settings" in s["d"].baseline_reason
    s = _scaling(_tiny(tmp_path / "other", common + [("d", "horovod", {"intra_op": 4}, dist)]))
    # no thread match: the fastest single, s2; 80 / (2 x 100) = 0.4
    assert s["d"].baseline == "s2" and s["d"].efficiency == pytest.approx(0.4)
    assert "no thread match, then highest throughput" in s["d"].baseline_reason


def test_no_baseline_cases(tmp_path):
    dist = [("a", "c5.xlarge", 1.6), ("b", "c5.xlarge", 1.6)]
    s = _scaling(_tiny(tmp_path / "alone", [("d", "horovod", None, dist)]))
    assert s["d"].baseline is None and s["d"].efficiency is None
    assert s["d"].baseline_reason == ("no baseline in this run (no single-process configuration of "
                                      "the same workload and per-worker batch 32 on c5.xlarge)")
    assert s["d"].communication is None and s["d"].communication_reason == s["d"].baseline_reason
    mixed = [("a", "c5.xlarge", 1.6), ("b", "c5.2xlarge", 1.6)]
    s = _scaling(_tiny(tmp_path / "mixed", [("s", "single", None, [("a", "c5.xlarge", 1.0)]),
                                            ("d", "horovod", None, mixed)]))
    assert s["d"].baseline_reason == ("no baseline: instance types of the workers are not one "
                                      "known type (c5.2xlarge, c5.xlarge)")
    # a single configuration with another per-worker batch is not a baseline
    r = _tiny(tmp_path / "batch", [("s", "single", None, [("a", "c5.xlarge", 1.0)]),
                                   ("d", "horovod", None, dist)])
    # plan.json holds every task's spec (task.json is its copy on the host): change both.
    task = r / "hosts/a/s/w0/task.json"
    task.write_text(task.read_text().replace('"batch_size": 32', '"batch_size": 64'))
    plan = json.loads((r / "plan.json").read_text())
    for t in (t for cp in plan["configs"] if cp["name"] == "s" for t in cp["tasks"]):
        t["spec"]["workload"] = {**t["spec"]["workload"], "batch_size": 64}
    (r / "plan.json").write_text(json.dumps(plan))
    assert _scaling(r)["d"].baseline is None


def test_model_flop_utilization(tmp_path):
    s = _scaling(gpu_run(tmp_path / "run"))
    # 100 images/s x 1e9 FLOP/example / 8.1e12 FLOP/s (one T4) = 0.0123457
    assert s["single"].mfu == pytest.approx(100 * 1e9 / 8.1e12)
    assert s["single"].mfu_inputs == ("100 images/s × 1e+09 FLOP/example (phase record model_built of "
                                      "task w0) ÷ (1 × 8.1 TFLOPS (Tesla T4: T4, vendor spec sheet))")
    assert s["hvd2"].mfu is None and s["hvd2"].mfu_reason == "no flops_per_example in the tasks' phase records"
    assert s["odd"].mfu is None
    assert s["odd"].mfu_reason == "host g3 (x9.weird): no GPU reported by the sampler or listed in the catalog"


def test_gpu_peaks_by_name():
    assert [gpu_peak_tflops(n) and gpu_peak_tflops(n)[0] for n in (
        "Tesla T4", "Tesla V100-SXM2-16GB", "Tesla V100-PCIE-16GB", "Tesla K80", "Tesla M60",
        "NVIDIA A10G", "NVIDIA H100 80GB HBM3", None)] == [8.1, 15.7, 14.0, 4.37, 4.8, 31.2, None, None]


def test_another_communication_estimator_plugs_in_first(tmp_path, monkeypatch):
    def timeline(run, m, base):  # stands in for a Horovod timeline reader
        return CommShare(0.6, "horovod timeline", "allreduce 0.27 s ÷ step 0.45 s")

    monkeypatch.setattr(scaling, "COMMUNICATION_ESTIMATORS", (timeline, scaling.comm_from_step_times))
    hvd = _scaling(gpu_run(tmp_path / "run"))["hvd2"]
    assert hvd.communication == CommShare(0.6, "horovod timeline", "allreduce 0.27 s ÷ step 0.45 s")
    # such an estimator needs no baseline: it still answers when the run has none
    dist = [("a", "c5.xlarge", 1.6), ("b", "c5.xlarge", 1.6)]
    alone = _scaling(_tiny(tmp_path / "alone", [("d", "horovod", None, dist)]))["d"]
    assert alone.baseline is None and alone.communication_share == 0.6
