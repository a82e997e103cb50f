"""Goals of a search (harness/search/goal.py): values, constraints, bad input."""

import math

import pytest

from harness.report.figures.perf_model import Point
from harness.search.goal import Goal

P = Point("c5.xlarge", "horovod", 4, 0, None, 32)


def test_dollars_per_million_images_and_time_to_target():
    g = Goal()
    # 4 workers × 32 images per 0.5 s step = 256 images/s; 4 hosts × $0.17/h
    assert g.value(P, 0.5, 0.17) == pytest.approx(4 * 0.17 / 3600 * 1e6 / 256)
    t = Goal("time_to_target", 2560)
    assert t.value(P, 0.5, 0.17) == pytest.approx(10.0)
    u = Goal("usd_to_target", 2560)
    assert u.value(P, 0.5, 0.17) == pytest.approx(4 * 0.17 / 3600 * 10)


def test_constraints_bound_the_step_time():
    g = Goal("time_to_target", 2560, deadline_s=20)
    assert g.feasible(P, 0.5, 0.17) and not g.feasible(P, 1.5, 0.17)
    assert g.max_step_s(P, 0.17) == pytest.approx(1.0)
    assert math.isinf(Goal().max_step_s(P, 0.17))
    cap = Goal(usd_cap=1.0)
    assert cap.max_step_s(P, 0.17) == pytest.approx(1.0 / (4 * 0.17 / 3600 * 1e6 / 128))
    assert "within 20 s" in g.describe()


def test_bad_goals_name_the_field():
    with pytest.raises(ValueError, match="expected one of"):
        Goal("fastest")
    with pytest.raises(ValueError, match="target_images"):
        Goal("time_to_target")
