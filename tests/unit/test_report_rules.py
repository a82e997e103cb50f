"""The diagnosis rules on hand-made windows: each docs/metrics.md worked example ("Diagnoses"),
computed by hand there and checked here (GPU rules: the NVML fields as the sampler writes
them, per sample; tests/unit/test_report_diagnose.py runs them on whole NVML-shaped runs)."""

import numpy as np
import pytest

from harness.report.figures import diagnose as dg
from harness.report.figures import rules_samples as rp
from harness.report.figures import rules_steps as rs
from harness.report.figures.metric_types import ConfigMetrics, StartupSplit
from harness.report.figures.scaling import Scaling
from harness.report.figures.utilization import ConfigUtilization
from harness.report.read.records import RunData


def _w(n, *, cpu=None, iowait=None, tasks=None, gpu=None, mem=None, cores=2, swap=None, faults=None):
    nan = np.full(n, np.nan)
    a = lambda x: nan.copy() if x is None else np.array(x, dtype=float)  # noqa: E731
    g = a(gpu)
    return dg.HostWindow(host="h", cores=cores, t=np.arange(n, dtype=float), cpu=a(cpu), iowait=a(iowait),
                         tasks_cpu=a(tasks), gpu=g, gpu_mem_share=a(mem) / 100 if mem is not None else nan.copy(),
                         gpu_mem_per_gpu={0: a(mem) / 100} if mem is not None else {},
                         swap_in=a(swap), major_faults=a(faults))


def _inp(*windows, m=None, run=None):
    m = m or ConfigMetrics("c", "single", 1, 0, ["h"], {}, "succeeded", "", [])
    return dg.RuleInput(run or RunData(run_dir=None), m, ConfigUtilization("c", [], ""), Scaling("c", 1, False),
                        list(windows))


def _one(checks):
    assert len(checks) == 1, checks
    return checks[0]


def test_low_gpu_underused_and_fluctuating():
    c = _one(rp.low_gpu(_inp(_w(4, gpu=[30, 40, 50, 60]))))
    assert c.triggered and c.evidence.endswith("underused") and c.severity == pytest.approx(0.55)
    c = _one(rp.low_gpu(_inp(_w(5, gpu=[95, 96, 2, 97, 3]))))
    assert c.triggered and c.evidence.endswith("fluctuating") and c.severity == pytest.approx(0.4)
    assert _one(rp.low_gpu(_inp(_w(3, gpu=[80, 90, 85])))).status == dg.OK
    assert _one(rp.low_gpu(_inp(_w(2, gpu=[10, 10])))).status == dg.NOT_EVALUATED


def test_cpu_and_io_bottleneck():
    w = _w(4, gpu=[5, 5, 8, 60], cpu=[95, 97, 92, 70], iowait=[60, 70, 55, 5])
    c = _one(rp.cpu_bottleneck(_inp(w)))
    assert c.triggered and c.severity == 0.75 and "3 of 4 samples of h" in c.evidence
    c = _one(rp.io_bottleneck(_inp(w)))
    assert c.triggered and c.severity == 0.75
    # half the points is not more than half
    w = _w(4, gpu=[5, 5, 50, 60], cpu=[95, 97, 92, 70], iowait=[1, 1, 1, 1])
    assert _one(rp.cpu_bottleneck(_inp(w))).status == dg.OK
    assert _one(rp.io_bottleneck(_inp(w))).status == dg.OK
    # no GPU: not evaluated, with the reason
    assert _one(rp.cpu_bottleneck(_inp(_w(4, cpu=[99] * 4)))).status == dg.NOT_EVALUATED


def _training_m(host="h"):
    from harness.report.figures.metric_types import TaskMetrics
    t = TaskMetrics("w0", host, "worker", 0, "succeeded", "", 0, "ok", 0, 10, 5, 1, 1.0, 1.0, None, 0.1, None)
    return ConfigMetrics("c", "single", 1, 0, [host], {}, "succeeded", "", [t])


def test_batch_size():
    # CPU p95 45 %, GPU p95 40 %, GPU memory p95 20 %: all < 70 %, severity 1 − 45/100
    w = _w(3, cpu=[45, 45, 45], gpu=[40, 40, 40], mem=[20, 20, 20])
    c = _one(rp.batch_size(_inp(w, m=_training_m())))
    assert c.triggered and c.severity == pytest.approx(0.55)
    assert c.evidence.startswith("p95 CPU 45 %, GPU 40 %, GPU memory 20 %")
    assert _one(rp.batch_size(_inp(_w(3, cpu=[90, 95, 99]), m=_training_m()))).status == dg.OK
    # a host with no training task (a parameter server's) is not judged
    assert rp.batch_size(_inp(_w(3, cpu=[5, 5, 5]), m=_training_m("other"))) == []


def test_gpu_memory_increase():
    gib = [10, 10, 11, 12, 13, 15, 16, 17]
    c = _one(rp.gpu_memory_increase(_inp(_w(8, gpu=[90] * 8, mem=[100 * g / 40 for g in gib]))))
    # first quarter (2 points) 25 %, last 41.25 %: +16.25 points > 5
    assert c.triggered and c.severity is None and "25.0 % of total over the first 2" in c.evidence
    assert "41.2 % over the last 2" in c.evidence or "41.3 % over the last 2" in c.evidence
    assert _one(rp.gpu_memory_increase(_inp(_w(8, gpu=[90] * 8, mem=[25] * 8)))).status == dg.OK


def test_noisy_neighbour_with_and_without_the_hog():
    # 2 cores, host 100 %, the training 100 % of one core: others 1 core = 50 % of the host
    c = _one(rp.noisy_neighbour(_inp(_w(3, cpu=[100] * 3, tasks=[100] * 3))))
    assert c.triggered and c.severity == pytest.approx(0.5) and "other processes 1 cores" in c.evidence
    # without the hog: host 95 %, tasks 185 %: others 0.05 cores = 2.5 %
    c = _one(rp.noisy_neighbour(_inp(_w(3, cpu=[95] * 3, tasks=[185] * 3))))
    assert c.status == dg.OK and "(2.5 % of the host)" in c.evidence
    # samples whose task CPU had no reading (a process found late) are left out
    c = _one(rp.noisy_neighbour(_inp(_w(4, cpu=[100] * 4, tasks=[np.nan, 100, 100, 100]))))
    assert "over 3 samples" in c.evidence


def test_memory_pressure_thrashing():
    from harness.report.figures.utilization import Stat
    faults = [5000] * 4 + [0] * 16
    w = _w(20, faults=faults, swap=[0] * 20)
    inp = _inp(w)
    empty = Stat(0, None, None, None, None)

    class H:  # the HostUtilization fields the rule reads
        host, mem_available_min_share, memory_total_bytes, mem_available_min_t_wall, samples_total = \
            "h", 0.5, 8e9, 1.0, 20
        cpu_percent = empty
    inp.u.hosts.append(H())
    c = _one(rp.memory_pressure(inp))
    assert c.triggered and c.severity == pytest.approx(0.2) and "thrashing in 4 of 20 samples" in c.evidence


def test_step_outlier_and_max_initialization(tmp_path):
    from tests.support.runfixtures import RunDir
    from harness.report.read.rundir import load_run
    run = RunDir(tmp_path / "run", "r")
    import json
    run.resolved({"model": "mlp", "warmup_steps": 0}, [{"name": "c", "strategy": "single", "workers": 1, "ps": 0}])
    doc = json.loads((run.root / "resolved.json").read_text())
    doc["experiment"]["max_init_s"] = 30
    (run.root / "resolved.json").write_text(json.dumps(doc))
    t = run.task("c", "w0", "h").task_json({"warmup_steps": 0})
    x = [0.1] * 200 + [0.5] * 12
    now = 1000.0
    for i, s in enumerate(x, start=1):
        now += s
        t.step(now, i, s, steps=1, images=32)
    data = load_run(run.root)
    m = ConfigMetrics("c", "single", 1, 0, ["h"], {}, "succeeded", "", [])
    c = _one(rs.step_outlier(_inp(m=m, run=data)))
    # μ 0.1226, σ 0.0927, μ + 3σ 0.4006: 12 outlier steps > 10; severity 12 × 0.3774 / 26.0
    assert c.triggered and "12 of 212 kept steps" in c.evidence and c.severity == pytest.approx(0.17417, abs=1e-4)
    m.startup = StartupSplit(45.0, "w0", None, None, None, None, None, None, 45.0, "m")
    m.training_time_s = 15.0
    c = _one(rs.max_initialization(_inp(m=m, run=data)))
    assert c.triggered and c.severity == pytest.approx(0.75) and "max_init_s = 30 s" in c.threshold


def test_ranking_puts_the_largest_first_and_minor_ones_never_first():
    mk = lambda n, s: dg.Check("c", n, None, dg.TRIGGERED, "", "", s)  # noqa: E731
    checks = [mk("a", 0.1), mk("b", None), mk("c", 0.6), mk("d", 0.01), dg.Check("c", "e", None, dg.OK, "", "")]
    assert [c.name for c in dg.rank(checks)] == ["c", "a", "d", "b"]
    assert dg.first_diagnosis(checks).name == "c"
    assert dg.first_diagnosis([mk("d", 0.01)]) is None
