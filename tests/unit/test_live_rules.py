"""The live rules (harness/protocol/live_rules.py) on the records a poll brings back."""

from harness.protocol.live_rules import LiveRules


def _step(loss, step=10):
    return {"event": "step", "step": step, "loss": loss}


def _sample(t, swap=0, faults=0):
    return {"event": "sample", "t_wall": t, "mem_swap_in_bytes_per_s": swap, "mem_major_faults_per_s": faults}


def test_nan_or_infinite_loss_stops():
    r = LiveRules()
    assert r.check(5, [("w0", "h", _step(2.3))], []) is None
    hit = r.check(5, [("w0", "h", _step(float("nan")))], [])
    assert hit.code == "nan_loss" and "w0 on h" in hit.reason
    assert r.check(5, [("w0", "h", _step(float("inf")))], []).code == "nan_loss"
    assert LiveRules(watch=False).check(5, [("w0", "h", _step(float("nan")))], []) is None


def test_no_first_step_within_max_init():
    r = LiveRules(max_init_s=30)
    assert r.check(29, [("w0", "h", None)], []) is None
    hit = r.check(31, [("w0", "h", None)], [])
    assert hit.code == "max_init" and "max_init_s = 30 s" in hit.reason
    # one task stepping is enough; no limit, no stop
    assert r.check(31, [("w0", "h", None), ("w1", "h", _step(1.0))], []) is None
    assert LiveRules(max_init_s=0).check(10_000, [("w0", "h", None)], []) is None


def test_thrashing_for_thirty_seconds_without_a_break_stops():
    r = LiveRules()
    assert r.check(1, [], [("h", _sample(100, faults=5000))]) is None
    assert r.check(1, [], [("h", _sample(120, swap=2 << 20))]) is None
    assert r.check(1, [], [("h", _sample(125))]) is None           # a calm sample breaks the run
    assert r.check(1, [], [("h", _sample(126, faults=5000))]) is None
    assert r.check(1, [], [("h", _sample(150, faults=5000))]) is None
    hit = r.check(1, [], [("h", _sample(156, faults=5000))])
    assert hit.code == "thrashing" and hit.host == "h" and "30 s" in hit.reason
