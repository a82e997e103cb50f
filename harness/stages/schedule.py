"""PURE: in which order the configurations of an experiment run, with repeats.

Every configuration runs `repeats` times in rounds: round r runs each configuration once,
in the experiment's order ("interleaved": A B A B …) or in a random order drawn from
`order_seed` ("shuffled", a new order per round). With `warmup_run`, round 0 runs, before
everything else, the first configuration that uses each host not yet warmed: every host
gets one warm-up run, kept but not counted. Each run is a `Unit`; its name is the
configuration's name, or `<config>@<repeat>` / `<config>@warmup` when a configuration
runs more than once ('@' never appears in a configuration name)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from harness.protocol.layout import config_dir, parse_config_dir

@dataclass(frozen=True)
class Unit:
    name: str  # the run's name: directories, control records, report sections
    config: str  # the configuration it is a run of
    repeat: int  # 1..repeats; 0 for the warm-up run
    counted: bool  # False for a warm-up run


def unit_name(config: str, repeat: int, single: bool) -> str:
    """The run's name: the configuration's own when it runs once, else the protocol's
    `<config>@<k>` / `<config>@warmup` (harness/protocol/layout.py)."""
    return config if single else config_dir(config, repeat)


def split_unit_name(name: str) -> tuple[str, int | None]:
    """(configuration, repeat) of a run's name; repeat None for a plain configuration name,
    0 for a warm-up run."""
    return parse_config_dir(name)


def schedule(configs: Sequence[str], hosts_of: dict[str, Sequence[str]], repeats: int = 1,
             order: str = "interleaved", seed: int = 0, warmup_run: bool = False) -> list[Unit]:
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    if order not in ("interleaved", "shuffled"):
        raise ValueError(f"unknown order {order!r}; expected interleaved or shuffled")
    single = repeats == 1 and not warmup_run
    units: list[Unit] = []
    if warmup_run:
        warmed: set[str] = set()
        for c in configs:
            hosts = set(hosts_of.get(c, ()))
            if hosts - warmed:
                units.append(Unit(unit_name(c, 0, False), c, 0, False))
                warmed |= hosts
    rng = random.Random(seed)
    for r in range(1, repeats + 1):
        round_ = list(configs)
        if order == "shuffled":
            rng.shuffle(round_)
        units += [Unit(unit_name(c, r, single), c, r, True) for c in round_]
    return units


def group_waves(items: Sequence[tuple[str, set[str]]]) -> tuple[tuple[str, ...], ...]:
    """PURE: (name, hosts) pairs, in order → waves whose host sets do not overlap. Each
    joins the wave right after the last wave that already uses one of its hosts, so no host
    serves two configurations at once and each host's configurations keep their order."""
    waves: list[list[str]] = []
    hosts_of: list[set[str]] = []
    for name, mine in items:
        i = 1 + max((i for i, used in enumerate(hosts_of) if used & mine), default=-1)
        if i == len(waves):
            waves.append([])
            hosts_of.append(set())
        waves[i].append(name)
        hosts_of[i] |= set(mine)
    return tuple(tuple(w) for w in waves)
