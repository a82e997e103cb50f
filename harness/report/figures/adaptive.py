"""Adaptive repeats (pure): after each round of the interleaved schedule, which
configurations still need a run, which are done and which are dropped — every comparison
the recommendation depends on decided by the sequential test of
harness.report.figures.sequential (docs/metrics.md, "Adaptive repeats").

`replay(bases, design)` takes every counted value so far (per basis, per configuration, one
per repeat in repeat order) and replays the rounds from the first: the scheduler calls it
after each round and runs `next_round`; the report calls it on the finished run and gets
the same decisions, so every decision is re-derivable from the recorded runs. Values beyond
the point where the design would have stopped a configuration are ignored (replaying a
fixed-design run shows what the adaptive design would have done).

Per basis (throughput, $ per 10⁶ images, time to target …) a configuration is **beaten**
when another is decided better beyond min_effect; the others are its **contenders**. A
configuration:
- needs another run while, on some basis where it is a contender, its comparison with
  another contender is open (the winner, or the set tied within min_effect, is unknown);
- is **dropped** when it is beaten on every basis it has values for (it cannot be
  recommended whatever later runs show);
- is **done** when neither, and stops at max_repeats in any case.
Contenders only shrink and decisions are final, so a stopped configuration is never needed
again. Comparisons left open when one side stops close as "not needed"."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Mapping, Optional, Sequence

from harness.report.figures.sequential import (DIFFERENT, Comparison, Design, at_max_repeats,
                                              describe, look, not_needed)

REPEAT, DONE, DROPPED, AT_MAX = "repeat", "done", "dropped", "max_repeats"


@dataclass(frozen=True)
class Basis:
    """One quantity the recommendation ranks by, with its per-run values."""
    name: str  # e.g. "throughput", "on-demand $ per 10⁶ images"
    values: Mapping[str, Sequence[Optional[float]]]  # config → value per counted repeat (None: none)
    higher_is_better: bool = True
    better_word: str = "faster"


@dataclass(frozen=True)
class ConfigState:
    config: str
    state: str  # repeat | done | dropped | max_repeats
    runs: int  # counted repeats used (rounds it took part in)
    why: str = ""


@dataclass(frozen=True)
class Outcome:
    rounds: int  # complete rounds replayed
    configs: tuple[ConfigState, ...]
    comparisons: Mapping[str, tuple[Comparison, ...]]  # by basis name
    next_round: tuple[str, ...]  # configurations to run in the next round; () = finished
    design: Design = field(default_factory=Design)

    @property
    def finished(self) -> bool:
        return not self.next_round

    def state_of(self, config: str) -> ConfigState:
        return next(c for c in self.configs if c.config == config)

    def texts(self, bases: Sequence[Basis]) -> list[str]:
        """Every comparison in one sentence each, basis by basis."""
        out = []
        for b in bases:
            for c in self.comparisons.get(b.name, ()):
                out.append(describe(c, b.name, better_word=b.better_word,
                                    min_effect=self.design.min_effect))
        return out


def _beaten(comps: Sequence[Comparison]) -> dict[str, Comparison]:
    """Per configuration beaten beyond noise: the decision that beats it (the first)."""
    out: dict[str, Comparison] = {}
    for c in comps:
        if c.state == DIFFERENT:
            out.setdefault(c.b if c.better == c.a else c.a, c)
    return out


def _why_beaten(c: Comparison, basis: Basis) -> str:
    return f"{c.better} is {basis.better_word} in {basis.name}"


def replay(bases: Sequence[Basis], design: Design = Design(),
           order: Optional[Sequence[str]] = None) -> Outcome:
    """The adaptive design replayed over the values so far; see the module docstring.
    `order` is the experiment's order of configurations (default: first seen)."""
    if not bases:
        raise ValueError("adaptive repeats need at least one basis to compare on")
    configs = list(order) if order is not None else list(dict.fromkeys(
        cfg for b in bases for cfg in b.values))
    missing = sorted({cfg for b in bases for cfg in b.values} - set(configs))
    if missing:
        raise ValueError(f"configurations {missing} have values but are not in the order given")
    comps: dict[str, list[Comparison]] = {
        b.name: [Comparison(x, y, higher_is_better=b.higher_is_better)
                 for x, y in combinations([c for c in configs if c in b.values], 2)]
        for b in bases}
    has = {b.name: {c for c in configs if c in b.values} for b in bases}
    active = list(configs)
    stopped: dict[str, ConfigState] = {}
    rounds = 0

    def values(basis: Basis, cfg: str, r: int) -> Sequence[Optional[float]]:
        return list(basis.values.get(cfg, ()))[:r]

    for r in range(1, design.max_repeats + 1):
        if not active or any(len(b.values.get(cfg, ())) < r for b in bases for cfg in active if cfg in has[b.name]):
            break  # this round has not run (yet) for every configuration still running
        rounds = r
        for b in bases:
            comps[b.name] = [look(c, values(b, c.a, r), values(b, c.b, r), design, r)
                             if c.a in active and c.b in active else c for c in comps[b.name]]
        beaten = {b.name: _beaten(comps[b.name]) for b in bases}
        still = []
        for cfg in active:
            mine = [b for b in bases if cfg in has[b.name]]
            if mine and all(cfg in beaten[b.name] for b in mine):
                why = "; ".join(_why_beaten(beaten[b.name][cfg], b) for b in mine)
                stopped[cfg] = ConfigState(cfg, DROPPED, r, f"dropped after round {r}: {why}")
                continue
            needed = [b.name for b in mine if cfg not in beaten[b.name] and any(
                c.open and cfg in (c.a, c.b) and (c.b if c.a == cfg else c.a) not in beaten[b.name]
                for c in comps[b.name])]
            if not needed:
                futile = [f"{c.b if c.a == cfg else c.a} in {b.name}" for b in mine for c in comps[b.name]
                          if cfg in (c.a, c.b) and c.reason.startswith("futile")
                          and not {c.a, c.b} & set(beaten[b.name])]
                why = (f"undecidable within max_repeats against {', '.join(futile)} (futile), the rest decided"
                       if futile else "every comparison the recommendation needs is decided")
                stopped[cfg] = ConfigState(cfg, DONE, r, f"done after round {r}: {why}")
            elif r == design.max_repeats:
                stopped[cfg] = ConfigState(cfg, AT_MAX, r, f"stopped at max_repeats ({r}): "
                                           f"undecided in {', '.join(needed)}")
            else:
                still.append(cfg)
        if r == design.max_repeats:
            for b in bases:
                comps[b.name] = [at_max_repeats(c) if c.a in active and c.b in active else c
                                 for c in comps[b.name]]
        for cfg in [c for c in active if c not in still]:
            for b in bases:
                comps[b.name] = [not_needed(c, f"{cfg} {stopped[cfg].state} after round {r}")
                                 if cfg in (c.a, c.b) else c for c in comps[b.name]]
        active = still

    states = [stopped.get(c) or ConfigState(c, REPEAT, rounds, "needs another run") for c in configs]
    nxt = tuple(active) if rounds < design.max_repeats else ()
    return Outcome(rounds, tuple(states), {k: tuple(v) for k, v in comps.items()}, nxt, design)
