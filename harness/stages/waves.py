"""Run a plan's configurations wave by wave: the configurations of one wave (disjoint hosts,
harness.stages.plan.plan_waves) at the same time, each in its own thread with its own stop event.

A failed configuration stops only itself; with `fail_fast` it stops every running
configuration and no later wave starts. Sequentially (one configuration per wave) a failure
ends the run unless `keep_going`, as before. A stop request (Ctrl-C) stops everything."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence


class StopScope:
    """A stop event for one configuration: set when it is set itself or when the run's is."""

    def __init__(self, run_stop: threading.Event, fail_stop: threading.Event):
        self._run, self._fail, self.own = run_stop, fail_stop, threading.Event()

    def is_set(self) -> bool:
        return self._run.is_set() or self._fail.is_set() or self.own.is_set()

    def set(self) -> None:
        self.own.set()

    def wait(self, timeout: float | None = None) -> bool:
        # The supervisor polls with short timeouts; the run's event wakes it at once.
        self._run.wait(timeout)
        return self.is_set()


SKIPPED = "skipped"   # a planned run adaptive repeats did not need: neither a success nor a failure


@dataclass
class ConfigOutcome:
    name: str
    status: str
    reason: str


def run_waves(waves: Sequence[Sequence[str]], run_one: Callable[[str, StopScope], ConfigOutcome],
              stop: threading.Event, *, parallel: bool, keep_going: bool, fail_fast: bool,
              on_wave: Callable[[int, Sequence[str]], None] = lambda i, names: None) -> list[ConfigOutcome]:
    """`run_one(name, scope)` runs one configuration to its end and returns its outcome."""
    fail_stop = threading.Event()
    outcomes: list[ConfigOutcome] = []
    lock = threading.Lock()

    def one(name: str) -> None:
        try:
            out = run_one(name, StopScope(stop, fail_stop))
        except BaseException as e:  # a crash in one configuration's thread is its failure, not lost
            out = ConfigOutcome(name, "failed", f"{type(e).__name__}: {e}")
        with lock:
            outcomes.append(out)
        if out.status not in ("succeeded", SKIPPED, "stopped_early") and fail_fast:
            fail_stop.set()

    for i, names in enumerate(waves):
        if stop.is_set() or fail_stop.is_set():
            break
        on_wave(i, names)
        if len(names) == 1:
            one(names[0])
        else:
            threads = [threading.Thread(target=one, args=(n,), name=f"config-{n}", daemon=True) for n in names]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        # stopped_early (a live rule: harness/protocol/live_rules.py) ends only that configuration
        failed = [o for o in outcomes if o.name in names and o.status not in ("succeeded", SKIPPED, "stopped_early")]
        if any(o.status == "stopped" for o in failed):
            break
        # Sequentially, a failure ends the run unless --keep-going (the old behaviour);
        # in parallel it stopped only its own configuration unless --fail-fast.
        if failed and not parallel and not keep_going:
            break
    order = {n: i for i, n in enumerate(n for w in waves for n in w)}
    return sorted(outcomes, key=lambda o: order.get(o.name, 0))

