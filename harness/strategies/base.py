"""What every strategy module provides: a pure placement of tasks on the chosen hosts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from harness.config.experiment import Configuration
from harness.config.inventory import Host


@dataclass(frozen=True)
class Placement:
    task_id: str
    role: str
    index: int
    rank: int | None
    host: str
    start_group: int = 0
    finishes: bool = True
    env: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)   # strategy-specific facts for the worker


class Strategy(Protocol):
    name: str

    def place(self, cfg: Configuration, hosts: list[Host]) -> list[Placement]: ...


def spread_over_slots(hosts: list[Host], count: int) -> list[tuple[Host, int]]:
    """Assign `count` ranks to host slots in inventory order, filling a host before the
    next (so local ranks share a host's GPUs); returns (host, local_rank) per rank."""
    out = []
    for h in hosts:
        for local in range(h.slots):
            if len(out) == count:
                return out
            out.append((h, local))
    if len(out) < count:
        raise ValueError(f"{count} ranks need more slots than the {len(hosts)} hosts have")
    return out
