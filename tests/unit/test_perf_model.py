"""The search's performance model (harness/report/figures/perf_model.py) on step times made
by a known law: it must reproduce the points it was fitted on, recover the overlap, cover
held-out points with its intervals, and say where it extrapolates."""

import math

import pytest

from harness.report.figures.perf_model import Observation, Point, TypeInfo, fit, nnls, predict

import numpy as np

G = 500_000.0
TYPES = {"small": TypeInfo("small", 2, 100e6, 0.085), "big": TypeInfo("big", 4, 125e6, 0.17),
         "huge": TypeInfo("huge", 8, 125e6, 0.34)}
COMPUTE = {"small": 0.40, "big": 0.20, "huge": 0.10}


def law(p: Point, overlap=0.6, per_worker=0.01) -> float:
    c = COMPUTE[p.instance_type]
    bits = TYPES[p.instance_type].link_bits_per_s
    if p.kind == "single":
        return c + 0.005
    if p.kind == "ring_allreduce":
        link = 8 * 2 * (p.workers - 1) / p.workers * G / bits
        return c + (1 - overlap) * link + per_worker * (p.workers - 1)
    return max(c + 8 * 2 * G / bits, 8 * p.workers * G / bits) + 0.004 * p.workers


def obs(p: Point, wiggle=0.0, **law_kw) -> Observation:
    y = law(p, **law_kw) * (1 + wiggle)
    return Observation(p, y, COMPUTE[p.instance_type] * (1 + wiggle) if p.kind != "single" else None, G)


def test_nnls_keeps_coefficients_non_negative():
    a = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    x = nnls(a, np.array([3.0, 2.0, 1.0]))     # unconstrained slope would be −1
    assert x[1] == 0 and x[0] == pytest.approx(2.0)


def test_reproduces_the_points_it_was_fitted_on_and_fits_the_overlap():
    pts = [Point("small", "single"), Point("big", "single"), Point("small", "horovod", 2),
           Point("small", "horovod", 4), Point("big", "horovod", 3)]
    m = fit([obs(p, w) for p in pts for w in (-0.01, 0.01)], TYPES)
    for p in pts:
        pr = predict(m, p)
        assert pr.runs == 2 and abs(pr.fitted_s / pr.measured_s - 1) < 0.04, (p, pr)
    # Without the per-worker term (which a few points cannot tell from the link term) the
    # fit recovers the overlap of the law: 60 % of the transfer hidden behind compute.
    m = fit([obs(p, w, per_worker=0.0) for p in pts for w in (-0.01, 0.01)], TYPES)
    assert 0.4 < m.fits["ring_allreduce"].overlap < 0.7, m.fits["ring_allreduce"].theta


def test_held_out_points_fall_in_their_intervals_and_extrapolation_is_flagged():
    train = [Point("small", "single"), Point("big", "single"), Point("small", "horovod", 2),
             Point("small", "horovod", 4), Point("big", "parameter_server", 2, 1),
             Point("big", "parameter_server", 4, 1)]
    m = fit([obs(p, w) for p in train for w in (-0.02, 0.02)], TYPES)
    for p in (Point("big", "horovod", 3), Point("small", "parameter_server", 3, 1), Point("huge", "single")):
        pr = predict(m, p)
        truth = law(p)
        assert pr.low_s <= truth <= pr.high_s, (p, pr, truth)
        assert abs(pr.step_time_s / truth - 1) < 0.25
    assert any("extrapolated from vCPUs" in n for n in predict(m, Point("huge", "horovod", 2)).extrapolated)
    assert any("outside the measured" in n for n in predict(m, Point("big", "horovod", 8)).extrapolated)
    assert not predict(m, Point("big", "horovod", 3)).extrapolated


def test_noise_comes_from_repeats_and_widens_intervals():
    p = Point("small", "horovod", 2)
    quiet = fit([obs(p, w) for w in (-0.01, 0.0, 0.01)] + [obs(Point("small", "single"))], TYPES)
    loud = fit([obs(p, w) for w in (-0.2, 0.0, 0.2)] + [obs(Point("small", "single"))], TYPES)
    q, lo = predict(quiet, Point("small", "horovod", 3)), predict(loud, Point("small", "horovod", 3))
    assert loud.noise > quiet.noise and (lo.high_s - lo.low_s) > (q.high_s - q.low_s)
    assert "between repeats" in loud.noise_source


def test_bad_input_names_what_is_missing():
    with pytest.raises(ValueError, match="no measured configuration"):
        fit([], TYPES)
    with pytest.raises(ValueError, match="mystery"):
        fit([Observation(Point("mystery", "single"), 0.1, None)], TYPES)
    m = fit([Observation(Point("small", "single"), law(Point("small", "single")), None)], TYPES)
    with pytest.raises(ValueError, match="gradient bytes"):
        predict(m, Point("small", "horovod", 2))
    assert math.isclose(predict(m, Point("small", "single")).step_time_s, law(Point("small", "single")))


def test_another_batch_size_scales_compute_by_the_fitted_batch_exponent():
    def single(th, b):   # compute ∝ batch^0.8, 2 threads 30 % faster
        return Observation(Point("small", "single", 1, 0, th, b, True), 0.4 * (b / 32) ** 0.8 * (0.7 if th == 2 else 1),
                           None)
    one = fit([single(1, 32)], TYPES)
    assert one.beta == 1.0 and not one.beta_fitted
    pr = predict(one, Point("small", "single", 1, 0, 1, 64, True))
    assert pr.step_time_s == pytest.approx(0.8, rel=0.02) and any("β = 1 assumed" in n for n in pr.extrapolated)
    m = fit([single(1, 32), single(1, 64), single(2, 32)], TYPES)
    assert m.beta_fitted and m.beta == pytest.approx(0.8, abs=0.01)
    pr = predict(m, Point("small", "single", 1, 0, 2, 64, True))
    truth = 0.4 * 2 ** 0.8 * 0.7
    assert pr.step_time_s == pytest.approx(truth, rel=0.03) and pr.low_s < truth < pr.high_s
    assert any("β = 0.80 fitted" in n for n in pr.extrapolated)
