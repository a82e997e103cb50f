"""Adaptive repeats during a run (harness/stages/rounds.py): one look per finished round,
runs the decision no longer needs are skipped with its reason, no look after the decision."""

from dataclasses import dataclass

from harness.report.figures.adaptive import ConfigState, Outcome
from harness.report.figures.sequential import Design
from harness.stages.rounds import Rounds


@dataclass
class _Run:
    config: str
    repeat: int
    counted: bool = True


class _Control:
    def __init__(self):
        self.records = []

    def emit(self, event, **fields):
        self.records.append({"event": event, **fields})


class _Result:
    def __init__(self, nxt, states):
        self.outcome = Outcome(len(states), tuple(states), {}, tuple(nxt), Design())

    def texts(self):
        return ["a sentence"]


class _Plan:
    configs = [_Run("a", 1), _Run("b", 1)]


def test_each_round_is_looked_at_once_and_decided_runs_are_skipped():
    looks = []
    answers = [
        _Result(["a", "b"], [ConfigState("a", "repeat", 1), ConfigState("b", "repeat", 1)]),
        _Result([], [ConfigState("a", "done", 2, "done after round 2: decided"),
                     ConfigState("b", "dropped", 2, "dropped after round 2: a is faster")]),
    ]

    def look():
        looks.append(1)
        return answers[len(looks) - 1], Design()

    control = _Control()
    r = Rounds(_Plan(), control, look)
    assert r.skip(_Run("a", 1)) is None and r.skip(_Run("a", 0, counted=False)) is None and not looks
    assert r.skip(_Run("a", 2)) is None and r.skip(_Run("b", 2)) is None and len(looks) == 1
    assert r.skip(_Run("a", 3)) == "done after round 2: decided"
    assert r.skip(_Run("b", 3)) == "dropped after round 2: a is faster"
    assert len(looks) == 2
    # decided: later rounds are skipped without another look
    assert r.skip(_Run("a", 4)) == "done after round 2: decided" and len(looks) == 2
    recorded = [x for x in control.records if x["event"] == "adaptive_look"]
    assert [x["round"] for x in recorded] == [1, 2] and recorded[1]["next_round"] == []


def test_no_value_yet_runs_every_configuration_again():
    control = _Control()
    r = Rounds(_Plan(), control, lambda: (None, Design()))
    assert r.skip(_Run("b", 2)) is None
    assert control.records[0]["reason"] == "no counted value yet"
