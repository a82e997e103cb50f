"""Communication analysis over a hand-made run (report/figures/comm.py): direct share per rank,
the baseline estimator beside it, shared cores, the byte check, achieved bandwidth; and
`harness project` over the same run."""

import pytest

from harness.cli import main
from harness.report.figures.analysis import analyze_dir
from harness.report.figures.comm import parse_bits, share_from_samples
from harness.report.write.render import write_report
from tests.support.runfixtures import WORKLOAD, RunDir

G = 500_000          # gradient bytes
HOSTS = ["sb0", "sb1", "sb2", "sb3"]
BOOT = "b00t-1d"
BG = 1000.0          # background bytes/s each way per host


def inventory(rate="100mbit"):
    return [{"name": h, "instance_type": "sandbox", "labels": {"sandbox": "1", "rate": rate}} for h in HOSTS]


def training_task(run, config, task_id, host, rank, step_s, calib_s, t0):
    t = run.task(config, task_id, host, "worker", rank).task_json()
    t.event("run_start", t0, pid=1, host_facts={"cores_logical": 2, "boot_id": BOOT}, threads={})
    if config != "single":
        t.event("phase", t0 + 0.5, name="distribution_ready", seconds=0.4)
    t.event("phase", t0 + 1, name="model_built", seconds=0.5, parameters=G // 4, trainable_parameters=G // 4,
            gradient_bytes=G)
    if calib_s is not None:
        t.event("calibration", t0 + 2.9, steps=len(calib_s), step_seconds=calib_s, gradient_bytes=G,
                t_start_wall=t0 + 2, t_end_wall=t0 + 2.9,
                horovod={"fusion_threshold_bytes": 64 * 2 ** 20, "cycle_time_ms": 1.0})
    now = t0 + 3
    for i, s in enumerate(step_s):       # log_every 2: each record covers 2 steps
        now += 2 * s
        t.step(now, 2 * (i + 1), 2 * s)
    t.event("run_end", now + 0.1, status="ok")
    return now


def make_run(root, *, rate="100mbit", calib=True, net=None):
    run = RunDir(root)
    run.resolved(WORKLOAD, [{"name": "single", "strategy": "single", "workers": 1, "ps": 0},
                            {"name": "hvd", "strategy": "horovod", "workers": 4, "ps": 0}],
                 hosts=inventory(rate))
    run.control("config_start", 100.0, config="single", strategy="single", workers=1, ps=0, hosts=["sb0"],
                instance_types={"sb0": "sandbox"})
    training_task(run, "single", "w0", "sb0", 0, [0.05, 0.05, 0.049, 0.051, 0.05, 0.05], None, 101.0)
    run.control("config_end", 120.0, config="single", status="succeeded", reason="")
    run.control("config_start", 200.0, config="hvd", strategy="horovod", workers=4, ps=0, hosts=HOSTS,
                instance_types={h: "sandbox" for h in HOSTS})
    steps = [0.2, 0.2, 0.19, 0.21] * 3
    calib_s = [0.1, 0.11, 0.09, 0.1] * 2 if calib else None
    end = None
    for r, h in enumerate(HOSTS):
        end = training_task(run, "hvd", f"rank-{r}", h, r, steps, calib_s, 201.0)
    # 24 steps in the window [204, end]; model: 1.5 × G per step each way per host
    per_s = 1.5 * G * 24 / (end - 204.0) if net is None else net
    for h in HOSTS:
        s = run.sampler("hvd", h).start(201.0)
        # 1000 B/s each way of background from the handshake (201.5) on; gradients from 204
        for t in (202.0, 202.5, 203.0, 203.5, 204.0):
            s.record("sample", t, dt_s=0.5, net_sent_bytes_per_s=BG, net_recv_bytes_per_s=BG)
        for t in (204.5, 205.0, 205.5, 206.0, 206.5, 207.0, 207.5, 208.0, 208.5, 209.0):
            s.record("sample", t, dt_s=0.5, net_sent_bytes_per_s=per_s * 1.05 + BG,
                     net_recv_bytes_per_s=per_s * 1.05 + BG)
    run.control("config_end", 210.0, config="hvd", status="succeeded", reason="")
    run.write_plan()
    return root


def test_share_interval_from_both_means():
    s = share_from_samples([0.1] * 8, [0.2] * 8)
    assert s.value == pytest.approx(0.5) and s.half_width == pytest.approx(0.0)
    s = share_from_samples([0.09, 0.11] * 4, [0.19, 0.22, 0.2, 0.21, 0.18, 0.2, 0.2, 0.2])
    assert s.value == pytest.approx(1 - 0.1 / 0.2) and s.half_width > 0
    # too few steps for batch means: a share, but no interval
    assert share_from_samples([0.1, 0.1], [0.2, 0.2]).half_width is None
    assert share_from_samples([], [0.2]) is None


def test_parse_bits():
    assert parse_bits("100mbit") == 100e6 and parse_bits("10gbit") == 10e9
    assert parse_bits("Up to 10 Gigabit") == 10e9 and parse_bits("25 Gigabit") == 25e9
    assert parse_bits("fast") is None


def test_direct_share_contention_and_shared_cores(tmp_path):
    a = analyze_dir(make_run(tmp_path))
    sc = next(s for s in a.scaling if s.config == "hvd")
    c = sc.comm
    # kept: records whose first step > 3 → steps 5-24, 10 records per rank
    assert c.direct.t_compute_s == pytest.approx(0.1)
    assert c.direct.t_step_s == pytest.approx(0.2)
    assert c.direct.value == pytest.approx(0.5)
    assert len(c.ranks) == 4 and c.direct.half_width > 0
    assert sc.communication.method.startswith("direct")
    # every rank computes alike here: no straggler, all of the communication is the exchange
    assert c.straggler_wait_s == pytest.approx(0.0) and c.exchange_s == pytest.approx(0.1)
    # baseline 0.05 s alone: its estimator says 75 %, half of which is contention
    assert c.baseline_share == pytest.approx(0.75, abs=1e-3)
    assert c.contention_share == pytest.approx(0.25, abs=1e-3)
    assert "workers share cores: 4 training processes on 2 cores" in c.oversubscription
    assert "ran alone" in c.baseline_alone and "CPU contention" in c.disagreement
    # bytes: 1.5 × G per rank per step; sampler says 5 % more
    assert c.wire_bytes_per_step == pytest.approx(1.5 * G)
    assert c.byte_ratio > 1.05 and c.background_bytes_per_s == pytest.approx(4 * 2 * BG)
    assert c.byte_ratio_net == pytest.approx(1.05, rel=0.02) and c.wire_overhead == c.byte_ratio_net
    assert c.link_bits_per_s == 100e6 and "rate=100mbit" in c.link_source
    assert c.achieved_bits_per_s == pytest.approx(8 * 1.5 * G * c.byte_ratio_net / 0.1, rel=1e-6)
    md = next(p for p in write_report(tmp_path) if p.name == "report.md").read_text()
    assert "## Communication" in md and "Shared cores: workers share cores" in md
    assert "Direct communication share: 50.0 %" in md


def test_without_calibration_the_baseline_estimator_answers(tmp_path):
    a = analyze_dir(make_run(tmp_path, calib=False))
    sc = next(s for s in a.scaling if s.config == "hvd")
    assert sc.comm.direct is None and "calibration" in sc.comm.direct_reason
    assert sc.communication.method == "step times vs baseline"


def test_project_prints_assumptions_and_checks_another_run(tmp_path, capsys):
    make_run(tmp_path / "a", rate="100mbit")
    make_run(tmp_path / "b", rate="10mbit")
    rc = main(["project", str(tmp_path / "a"), "--workers", "2,4", "--bandwidth", "1gbit,10mbit",
               "--instance-type", "c5.4xlarge", "--check", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Assumptions:" in out and "ring all-reduce" in out and "$" in out
    rows = [l for l in out.splitlines() if l.startswith("| 2 | ") or l.startswith("| 4 | ")]
    assert len(rows) == 4 and any(l.startswith("| 4 | 10 Mbit/s |") for l in rows)
    assert "Check against measured runs" in out and "%" in out.split("Check against")[1]


def test_project_bad_input_exits_2(tmp_path, capsys):
    make_run(tmp_path)
    assert main(["project", str(tmp_path), "--workers", "two"]) == 2
    assert main(["project", str(tmp_path), "--bandwidth", "fast"]) == 2
    assert main(["project", str(tmp_path / "nope")]) == 2
    assert "--bandwidth 'fast'" in capsys.readouterr().err
