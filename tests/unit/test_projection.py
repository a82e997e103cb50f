"""The projection model (pure): fit at the measured point, predictions elsewhere."""

import pytest

from harness.report.figures.projection import Measured, assumptions, fit, predict, project

G = 500_000.0


def ring(**kw):
    base = dict(config="hvd", strategy="horovod", workers=4, ps=0, batch=32, t_compute_s=0.1,
                t_step_s=0.2, gradient_bytes=G, wire_overhead=1.0, link_bits_per_s=100e6)
    base.update(kw)
    return Measured(**base)


def test_ring_fit_reproduces_the_measured_point():
    m = ring()
    f = fit(m)
    # bandwidth term: 1.5 × 500 kB × 8 / 100 Mbit/s = 0.06 s; the other 0.04 s over 6 messages
    assert f.latency_s == pytest.approx(0.04 / 6)
    p = predict(m, f, 4, 100e6)
    assert p.t_step_s == pytest.approx(0.2)
    assert p.comm_share == pytest.approx(0.5) and p.efficiency == pytest.approx(0.5)
    assert p.throughput == pytest.approx(4 * 32 / 0.2)
    assert f.achieved_bits_per_s == pytest.approx(1.5 * G * 8 / 0.1)


def test_ring_prediction_scales_bandwidth_term_and_messages():
    m = ring()
    f = fit(m)
    p = predict(m, f, 4, 10e6)   # 10× slower link: bandwidth term 0.6 s
    assert p.t_step_s == pytest.approx(0.1 + 0.04 + 0.6)
    p8 = predict(m, f, 8, 100e6, usd_per_host_hour=3.6)
    assert p8.t_step_s == pytest.approx(0.1 + 14 * 0.04 / 6 + 1.75 * G * 8 / 100e6)
    assert p8.usd_per_1m_images == pytest.approx(8 * 3.6 / 3600 * 1e6 / p8.throughput)
    assert predict(m, f, 1, 100e6).t_step_s == pytest.approx(0.1)


def test_latency_is_never_negative_and_the_reason_is_said():
    m = ring(t_step_s=0.12)   # less than the bandwidth term: overlap
    f = fit(m)
    assert f.latency_s == 0 and any("overlap" in n for n in f.notes)
    f2 = fit(ring(t_step_s=0.05))
    assert f2.latency_s == 0 and any("shorter" in n for n in f2.notes)


def test_unknown_link_uses_the_achieved_bandwidth():
    m = ring(link_bits_per_s=None)
    f = fit(m)
    assert f.latency_s == 0
    assert predict(m, f, 4, None).t_step_s == pytest.approx(0.2)
    with pytest.raises(ValueError):
        predict(ring(link_bits_per_s=None, t_step_s=0.1), fit(ring(link_bits_per_s=None, t_step_s=0.1)), 4, None)


def test_parameter_server_is_bounded_by_the_ps_link():
    m = ring(strategy="parameter_server", ps=1, t_step_s=0.2, remote_fraction=0.75)
    f = fit(m)
    # own: 0.1 + λ + 2 × 500 kB × 8 / 100 Mbit/s = 0.18 + λ → λ = 0.02
    assert f.latency_s == pytest.approx(0.02)
    assert predict(m, f, 4, 100e6).t_step_s == pytest.approx(0.2)
    slow = predict(m, f, 16, 10e6)   # ps link: 16 workers, each on its own host, × 0.4 s
    assert slow.t_step_s == pytest.approx(16 * 0.4)
    assert slow.hosts == 17


def test_project_grid_and_assumptions():
    m = ring()
    f, pts = project(m, [2, 4], [1e9, 10e9])
    assert [(p.workers, p.bits_per_s) for p in pts] == [(2, 1e9), (2, 10e9), (4, 1e9), (4, 10e9)]
    text = "\n".join(assumptions(m, f))
    assert "ring all-reduce" in text and "t_compute" in text and "fusion buffer" in text


def test_baseline_compute_keeps_the_fit_on_the_measured_runs_own_compute():
    # the run calibrated 0.1 s under contention; alone one step takes 0.05 s
    m = ring(t_compute_s=0.05, t_compute_fit_s=0.1)
    f = fit(m)
    assert f.latency_s == pytest.approx(0.04 / 6)          # as without the baseline
    assert predict(m, f, 4, 100e6).t_step_s == pytest.approx(0.05 + 0.1)
    assert any("own t_compute" in a for a in assumptions(m, f))


def test_parameter_server_layout_and_several_ps():
    m = ring(strategy="parameter_server", ps=2, t_step_s=0.2, remote_fraction=0.75)
    f = fit(m)
    # at another size every worker has its own host (r = 1); two ps split the ps-link load
    p = predict(m, f, 16, 10e6)
    assert p.t_step_s == pytest.approx(16 * 1.0 * 0.4 / 2)
    assert predict(m, f, 4, 10e6).t_step_s == pytest.approx(max(0.1 + f.latency_s + 0.8, 4 * 0.75 * 0.4 / 2))


def test_overlap_is_fitted_so_the_measured_point_is_reproduced():
    # The CIFAR-10 rehearsal (horovod, 2 workers, 1 Gbit/s): with no overlap assumed the
    # projection said 0.105 s at the measured point where 0.080 s was measured.
    grad = 0.025 * 1e9 / 8          # a bandwidth term of 0.025 s at 1 Gbit/s with 2 workers
    m = ring(workers=2, t_compute_s=0.070, t_step_s=0.080, gradient_bytes=grad, link_bits_per_s=1e9)
    f = fit(m)
    assert f.latency_s == 0 and f.overlap == pytest.approx(0.6)   # 0.010 s of 0.025 s not hidden
    p = predict(m, f, 2, 1e9)
    assert abs(p.t_step_s / 0.080 - 1) < 0.03
    # elsewhere the hidden share stays hidden: 4 workers, 100 Mbit/s
    p4 = predict(m, f, 4, 100e6)
    assert p4.t_step_s == pytest.approx(0.070 + 0.4 * 1.5 * grad * 8 / 100e6)
    assert any("φ = 60.0%" in a for a in assumptions(m, f))


def test_no_overlap_when_communication_took_longer_than_its_bytes():
    f = fit(ring())
    assert f.overlap == 0 and f.latency_s > 0
