"""harness.stages.resume: the resume plan and the interruption's cost; and an interruption
mid-run (spot notice from a local IMDS) → checkpoint → resume reaching the planned steps."""

import threading

import pytest

from harness.stages.resume import interruption_cost, resume_plan
from harness.worker.spot_watch import start_watcher
from tests.support.aws_fixtures import FakeImds


def test_resume_from_the_latest_usable_checkpoint():
    ckpts = [{"step": 10, "path": "ck/ckpt-1"}, {"step": 30, "path": "ck/ckpt-3"}, {"step": 20, "path": "ck/ckpt-2"},
             {"step": 40}, {"step": "x", "path": "p"}, {"step": 500, "path": "ck/ckpt-50"}]
    plan = resume_plan(100, ckpts)
    assert (plan["from_checkpoint"], plan["from_step"], plan["remaining_steps"], plan["done"]) == ("ck/ckpt-3", 30, 70, False)
    assert plan["from_step"] + plan["remaining_steps"] == plan["planned_steps"] == 100
    assert len(plan["ignored"]) == 3 and "resume from ck/ckpt-3 (step 30); 70 of 100 steps remain" == plan["reason"]
    # the later record wins a tie (a re-save of the same step)
    assert resume_plan(50, [{"step": 5, "path": "a"}, {"step": 5, "path": "b"}])["from_checkpoint"] == "b"


def test_no_checkpoint_and_nothing_left():
    fresh = resume_plan(100, [])
    assert (fresh["from_checkpoint"], fresh["from_step"], fresh["remaining_steps"]) == (None, 0, 100)
    done = resume_plan(100, [{"step": 100, "path": "ck/ckpt-10"}])
    assert done["done"] and done["remaining_steps"] == 0
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            resume_plan(bad, [])


def test_interruption_cost():
    c = interruption_cost(interrupted_at=1000.0, last_checkpoint_at=820.0, hosts=4, usd_per_hour=0.526)
    assert c["lost_seconds"] == 180.0 and c["usd"] == pytest.approx(180 / 3600 * 4 * 0.526)
    assert c["inputs"] == "180.0 s since the last checkpoint × 4 host(s) × $0.526/h"
    start = interruption_cost(1000.0, None, 2, 1.0, started_at=900.0)
    assert start["lost_seconds"] == 100.0 and "start (no checkpoint yet)" in start["inputs"]
    unknown = interruption_cost(1000.0, 990.0, 2, None)
    assert unknown["usd"] is None and "no hourly price known" in unknown["reason"]
    with pytest.raises(ValueError):
        interruption_cost(1000.0, None, 1, 1.0)


def _train(first_step: int, last_step: int, ckpt_every: int, stop: threading.Event, events: list,
           step_s: float = 0.0) -> int:
    """A stand-in training loop with the shape of the worker's: a step at a time, a
    checkpoint every few steps, and a checkpoint right away when told to stop."""
    step = first_step
    while step < last_step:
        step += 1
        if step % ckpt_every == 0:
            events.append({"event": "checkpoint", "step": step, "path": f"ck/ckpt-{step}"})
        if stop.is_set():
            events.append({"event": "checkpoint", "step": step, "path": f"ck/ckpt-{step}"})
            break
        if step_s:
            stop.wait(step_s)
    return step


def test_interruption_checkpoint_resume_reaches_the_planned_steps():
    planned = 400
    stop = threading.Event()
    events: list = []
    with FakeImds(notice_after=3) as imds:  # the notice arrives mid-run
        watcher = start_watcher(lambda notice: stop.set(), interval_s=0.02, base_url=imds.url)
        reached = _train(0, planned, 50, stop, events, step_s=0.005)
        watcher.join(5)
    assert watcher.notice is not None and 0 < reached < planned  # interrupted, not finished
    plan = resume_plan(planned, [e for e in events if e["event"] == "checkpoint"])
    assert plan["from_step"] == reached  # the checkpoint taken on the notice: nothing lost
    resumed_events: list = []
    final = _train(plan["from_step"], plan["from_step"] + plan["remaining_steps"], 50, threading.Event(), resumed_events)
    assert final == planned
