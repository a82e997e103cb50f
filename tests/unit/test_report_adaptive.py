import pytest

from harness.report.figures.adaptive import DONE, DROPPED, REPEAT, Basis, replay
from harness.report.figures.sequential import DIFFERENT, EQUIVALENT, Design

CHEAPER = dict(higher_is_better=False, better_word="cheaper")


def states(out):
    return {s.config: (s.state, s.runs) for s in out.configs}


def test_before_two_rounds_everything_runs_again():
    assert replay([Basis("throughput", {"a": [], "b": []})]).next_round == ("a", "b")
    out = replay([Basis("throughput", {"a": [100.0], "b": [50.0]})])
    assert out.rounds == 1 and out.next_round == ("a", "b") and not out.finished
    assert states(out) == {"a": (REPEAT, 1), "b": (REPEAT, 1)}


def test_an_unfinished_round_is_not_looked_at():
    out = replay([Basis("throughput", {"a": [100.0, 101.0], "b": [50.0]})])
    assert out.rounds == 1 and out.next_round == ("a", "b")


def test_a_clear_winner_ends_the_experiment_after_two_rounds_and_later_values_are_ignored():
    # A fixed-design run replayed: the adaptive design would have stopped after round 2.
    out = replay([Basis("throughput", {"fast": [200.0, 204.0, 197.0], "slow": [100.0, 101.0, 99.0]})])
    assert out.finished and out.rounds == 2
    # With one basis the slower one is beaten on every basis: dropped, and why.
    assert states(out) == {"fast": (DONE, 2), "slow": (DROPPED, 2)}
    assert out.state_of("slow").why == "dropped after round 2: fast is faster in throughput"
    c = out.comparisons["throughput"][0]
    assert (c.state, c.better, c.n_a) == (DIFFERENT, "fast", 2)


def test_a_configuration_beaten_on_every_basis_is_dropped_and_the_rest_continue():
    # c is slower than a and dearer than b beyond noise after 2 rounds; a and b are close
    # in throughput and in $, so they need more rounds.
    thr = {"a": [100.0, 103.0], "b": [99.0, 96.0], "c": [50.0, 51.0]}
    usd = {"a": [1.0, 0.97], "b": [1.01, 1.04], "c": [4.0, 3.9]}
    bases = [Basis("throughput", thr), Basis("on-demand $ per 10⁶ images", usd, **CHEAPER)]
    out = replay(bases)
    assert states(out)["c"] == (DROPPED, 2)
    assert "dropped after round 2: a is faster in throughput; a is cheaper in on-demand $" in out.state_of("c").why
    assert out.next_round == ("a", "b")
    # The comparisons with c are decided; a vs b stays open.
    open_ = [(c.a, c.b) for c in out.comparisons["throughput"] if c.open]
    assert open_ == [("a", "b")]


def test_faster_but_dearer_is_not_dropped():
    # b is slower than a but cheaper (its hosts cost less): it may still be recommended.
    thr = {"a": [200.0, 202.0], "b": [100.0, 101.0]}
    usd = {"a": [2.0, 2.01], "b": [0.5, 0.49]}
    out = replay([Basis("throughput", thr), Basis("on-demand $ per 10⁶ images", usd, **CHEAPER)])
    assert states(out) == {"a": (DONE, 2), "b": (DONE, 2)} and out.finished


def test_configurations_tied_within_min_effect_are_done():
    a = [100, 101, 99, 100.5, 99.5, 100]
    b = [100.2, 99.8, 100.4, 99.6, 100, 100.1]
    out = replay([Basis("throughput", {"a": a, "b": b})])
    assert out.comparisons["throughput"][0].state == EQUIVALENT
    assert {s for s, _ in states(out).values()} == {DONE} and out.rounds < 6


def test_losers_stop_once_the_winner_is_known_even_if_undecided_among_themselves():
    # b and c are both beaten by a; whether b or c is faster does not matter.
    thr = {"a": [300.0, 303.0], "b": [100.0, 101.0], "c": [100.5, 99.0]}
    out = replay([Basis("throughput", thr)])
    assert out.finished and states(out)["b"] == (DROPPED, 2) and states(out)["c"] == (DROPPED, 2)
    bc = [c for c in out.comparisons["throughput"] if {c.a, c.b} == {"b", "c"}][0]
    assert bc.final and bc.reason.startswith("not needed")


def test_a_failed_run_counts_as_a_round_without_a_value():
    out = replay([Basis("throughput", {"a": [200.0, None, 204.0], "b": [100.0, 101.0, 99.0]})])
    c = out.comparisons["throughput"][0]
    assert c.state == DIFFERENT and (c.n_a, c.n_b) == (2, 3) and out.rounds == 3


def test_the_experiment_order_is_kept_and_checked():
    thr = {"b": [100.0, 101.0], "a": [100.5, 99.0]}
    assert replay([Basis("throughput", thr)], order=["a", "b"]).next_round == ("a", "b")
    with pytest.raises(ValueError, match="not in the order"):
        replay([Basis("throughput", thr)], order=["a"])
    with pytest.raises(ValueError, match="at least one basis"):
        replay([])


def test_max_repeats_bounds_the_rounds():
    noisy = {"a": [100.0, 104.0, 97.0, 102.0], "b": [98.0, 103.0, 99.0, 96.0]}
    out = replay([Basis("throughput", noisy)], Design(max_repeats=3, futility=0))
    assert out.rounds == 3 and out.finished
    assert {s.state for s in out.configs} <= {"max_repeats", DONE}
