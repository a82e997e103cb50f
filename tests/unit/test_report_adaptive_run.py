"""A run with repeats: auto, read back (harness/report/figures/adaptive_run.py,
adaptive_pick.py, deciding_bill.py): the decisions replayed from the records, the
recommendation named by them, and the bill of deciding beside the fixed design's."""

import json

from harness.report.figures.analysis import analyze_dir
from tests.support.runfixtures import repeated_run


def _auto(run_dir, max_repeats=6):
    p = run_dir / "resolved.json"
    doc = json.loads(p.read_text())
    doc["experiment"].update(repeats="auto", max_repeats=max_repeats)
    p.write_text(json.dumps(doc))
    return run_dir


def test_a_two_fold_pair_is_decided_after_two_runs_each_and_names_the_winner(tmp_path):
    run = _auto(repeated_run(tmp_path, {"fast": [0.010, 0.0101], "slow": [0.020, 0.0199]}))
    a = analyze_dir(run)
    states = {c.config: c.state for c in a.adaptive.outcome.configs}
    assert states == {"fast": "done", "slow": "dropped"}
    assert a.recommendation.fastest.config == "fast"
    assert "decided after 2 runs each" in a.recommendation.fastest.text


def test_an_a_a_pair_names_no_winner(tmp_path):
    run = _auto(repeated_run(tmp_path, {"a": [0.010, 0.0104, 0.0098], "b": [0.0101, 0.0099, 0.0103]}))
    a = analyze_dir(run)
    assert a.recommendation.fastest.config is None
    assert a.recommendation.fastest.tie_break in ("a", "b")
    assert all(c.state != "different" for cs in a.adaptive.outcome.comparisons.values() for c in cs)


def test_a_fixed_run_has_no_adaptive_section(tmp_path):
    a = analyze_dir(repeated_run(tmp_path, {"a": [0.01, 0.01], "b": [0.02, 0.02]}))
    assert a.adaptive is None


def test_the_bill_of_deciding_adds_up_and_estimates_the_fixed_design(tmp_path):
    from harness.report.figures.deciding_bill import deciding_bill

    run = _auto(repeated_run(tmp_path, {"fast": [0.010, 0.0101], "slow": [0.020, 0.0199]}))
    a = analyze_dir(run)
    bill = deciding_bill(a.run, a.bill, a.metrics)
    parts = {ln.label: ln.host_seconds for ln in bill.lines}
    measured = parts["start-up"] + parts["training and collection"] + parts["outside runs (connect, sync, idle)"]
    assert abs(measured - bill.total.host_seconds) < 1e-6
    # 2 counted runs each here; the fixed design: 3 each + one warm-up run on the host
    assert bill.fixed.host_seconds > bill.total.host_seconds and 0 < bill.ratio < 1


def _section_text(run):
    from harness.report.write.adaptive_sections import adaptive_blocks

    return "\n".join(str(getattr(b, "text", "")) for b in adaptive_blocks(analyze_dir(run)))


def _look(run, states):
    with open(run / "control.jsonl", "a") as f:
        f.write(json.dumps({"event": "adaptive_look", "t_wall": 99.0, "round": 1, "states": states}) + "\n")


def test_the_last_recorded_look_is_compared_with_the_replay_only_at_the_same_runs(tmp_path):
    runs = {"fast": [0.010, 0.0101], "slow": [0.020, 0.0199]}
    # the look after both rounds: the same runs, the same states
    run = _auto(repeated_run(tmp_path / "a", runs))
    _look(run, {"fast": {"state": "done", "runs": 2}, "slow": {"state": "dropped", "runs": 2}})
    assert "the last agrees with this replay" in _section_text(run)
    # a look after round 1 that said "repeat": round 2 followed, so it is not a disagreement
    run = _auto(repeated_run(tmp_path / "b", runs))
    _look(run, {"fast": {"state": "repeat", "runs": 1}, "slow": {"state": "repeat", "runs": 1}})
    text = _section_text(run)
    assert "came before the final round" in text and "differs" not in text
    # the same runs but another state: the records changed after the look
    run = _auto(repeated_run(tmp_path / "c", runs))
    _look(run, {"fast": {"state": "repeat", "runs": 2}, "slow": {"state": "repeat", "runs": 2}})
    assert "differs from this replay" in _section_text(run)
