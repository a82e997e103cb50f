"""The early stop within a run (harness/protocol/precision.py): the report's batch-means
interval, past warm-up, at least min_steps kept steps."""

import random

import pytest

from harness.protocol.precision import PrecisionStop


def _feed(stop: PrecisionStop, per_step: list[float], every: int = 5) -> int | None:
    """Step records of `every` steps; the last step index at which it says stop."""
    step = 0
    for s in per_step:
        step += every
        if stop.add(step, every, s * every):
            return step
    return None


def test_a_steady_run_stops_once_min_steps_are_kept_and_not_before():
    stop = PrecisionStop(0.02, min_steps=50, warmup_steps=5)
    at = _feed(stop, [1.0] + [0.010 + 0.0001 * (i % 3) for i in range(100)])
    # the first record (steps 1-5) is warm-up; 10 more records make 50 kept steps
    assert at == 55
    assert stop.kept_steps == 50 and stop.relative is not None and stop.relative <= 0.02
    assert stop.record()["name"] == "precision_reached" and stop.record()["kept_steps"] == 50


def test_a_noisy_run_does_not_stop():
    stop = PrecisionStop(0.02, min_steps=20, warmup_steps=0)
    rng = random.Random(1)
    assert _feed(stop, [0.02 * rng.lognormvariate(0, 0.5) for _ in range(200)]) is None
    assert stop.relative is not None and stop.relative > 0.02


def test_too_few_records_for_batch_means_never_stop():
    stop = PrecisionStop(0.5, min_steps=4, warmup_steps=0)
    assert not stop.add(100, 100, 1.0)   # one record of 100 steps: no interval from one value


def test_the_environment_round_trip_and_off_values():
    stop = PrecisionStop(0.03, 60, 7)
    back = PrecisionStop.from_env(stop.env())
    assert (back.precision, back.min_steps, back.warmup_steps) == (0.03, 60, 7)
    assert PrecisionStop.from_env({}) is None
    assert PrecisionStop.from_env({"HARNESS_PRECISION": "0"}) is None
    assert PrecisionStop.from_env({"HARNESS_PRECISION": "nonsense"}) is None
    with pytest.raises(ValueError, match="precision 1.5"):
        PrecisionStop(1.5, 10, 0)
