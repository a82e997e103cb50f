"""Live rules (PURE, stdlib only: both supervisors use them): while a configuration runs,
the supervisor stops it early when its result can no longer be worth anything, from what
every poll already brings back (each task's newest step record, each sampler's newest
sample). The control side's supervisor (harness/stages/launch.py) and, in a detached run,
the steward on the hosts (harness/worker/keeper_steward.py) apply the same rules:

  max_init   no training task has logged a step `max_init_s` seconds after the tasks were
             started (the experiment's `max_init_s`; 0 turns it off)
  nan_loss   a training task's newest step record has a loss that is NaN or infinite
  thrashing  a host's sampler reported swap-in > 1 MiB/s or > 1000 major page faults/s in
             every sample for `THRASH_STOP_S` seconds

The configuration ends with status `stopped_early` and config_end's `reason_code` the
rule's name (docs/events.md; the report's "max initialization time" and "memory pressure"
diagnoses say so). Dropping a configuration because it is slower than another is not a
rule here (that needs error control: adaptive repeats)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

THRASH_SWAP_IN_BYTES_PER_S = 1 << 20      # the report's memory-pressure thresholds (rules_samples.py)
THRASH_MAJOR_FAULTS_PER_S = 1000.0
THRASH_STOP_S = 30.0                      # thrashing without a break for this long stops the run
STATUS = "stopped_early"


@dataclass(frozen=True)
class Stop:
    code: str      # max_init | nan_loss | thrashing
    reason: str
    host: Optional[str] = None


def _bad(x) -> bool:
    return isinstance(x, float) and not math.isfinite(x)


def thrashing(sample: dict) -> bool:
    swap, faults = sample.get("mem_swap_in_bytes_per_s"), sample.get("mem_major_faults_per_s")
    return (isinstance(swap, (int, float)) and swap > THRASH_SWAP_IN_BYTES_PER_S) or \
        (isinstance(faults, (int, float)) and faults > THRASH_MAJOR_FAULTS_PER_S)


@dataclass
class LiveRules:
    max_init_s: float = 0.0
    watch: bool = True                     # the NaN-loss and thrashing rules (experiment live_rules)
    thrash_stop_s: float = THRASH_STOP_S
    _thrash_since: dict = field(default_factory=dict)   # host -> t_wall of the first thrashing sample in a row
    _seen: dict = field(default_factory=dict)           # host -> t_wall of the newest sample judged

    def check(self, elapsed_s: float, steps: list[tuple[str, str, Optional[dict]]],
              samples: list[tuple[str, Optional[dict]]]) -> Optional[Stop]:
        """steps: (task_id, host, newest step record or None) of each training task;
        samples: (host, newest sample record or None) of each sampler."""
        for task_id, host, rec in steps if self.watch else ():
            if rec and rec.get("event") == "step" and _bad(rec.get("loss")):
                return Stop("nan_loss", f"task {task_id} on {host}: loss {rec.get('loss')} at step "
                                        f"{rec.get('step')}: training diverged, its result is worthless", host)
        if self.max_init_s and elapsed_s > self.max_init_s and steps \
                and not any(rec and rec.get("event") == "step" for _, _, rec in steps):
            return Stop("max_init", f"no training task logged a step within max_init_s = {self.max_init_s:g} s "
                                    f"({elapsed_s:.0f} s after start)")
        for host, rec in samples if self.watch else ():
            if not rec or rec.get("event") != "sample" or not isinstance(rec.get("t_wall"), (int, float)):
                continue
            t = float(rec["t_wall"])
            if self._seen.get(host) == t:
                continue
            self._seen[host] = t
            if not thrashing(rec):
                self._thrash_since.pop(host, None)
                continue
            since = self._thrash_since.setdefault(host, t)
            if t - since >= self.thrash_stop_s:
                return Stop("thrashing", f"host {host} thrashed its memory for {t - since:.0f} s (swap-in "
                                         f"{rec.get('mem_swap_in_bytes_per_s')} B/s, major faults "
                                         f"{rec.get('mem_major_faults_per_s')}/s in every sample)", host)
        return None
