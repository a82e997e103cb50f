"""What every strategy module provides: a pure placement of tasks on the chosen hosts.

A strategy module has `name` and `place(cfg, hosts, ctx) -> list[Placement]`; it may also
have `finish(cfg, tasks, hosts) -> list[Task]` for what needs the tasks' directories
(e.g. the mpirun command line). Placement problems raise ValueError with a message for
the user; the planner turns it into a ConfigError naming the configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from harness.config.experiment import Configuration
from harness.config.inventory import Host
from harness.strategies.ports import PortAllocator


@dataclass(frozen=True)
class Placement:
    task_id: str
    role: str
    index: int
    rank: int | None
    host: str
    start_group: int = 0
    finishes: bool = True
    critical: bool = True
    env: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)   # strategy-specific facts for the worker
    ports: tuple[int, ...] = ()                   # ports this task listens on (pre-flight checks them)


@dataclass
class PlacementContext:
    """What placements may ask of the planner: ports, and how other hosts reach a host."""
    ports: PortAllocator

    def port(self, host: Host) -> int:
        return self.ports.take(host)

    @staticmethod
    def address(host: Host) -> str:
        """The address other hosts of the run use to reach `host`: its `private_address`
        label (e.g. the VPC address of an EC2 host reached over a public one), else its
        inventory address, else loopback for a local host."""
        return host.labels.get("private_address") or host.address or "127.0.0.1"


class Strategy(Protocol):
    name: str

    def place(self, cfg: Configuration, hosts: list[Host], ctx: PlacementContext) -> list[Placement]: ...


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
        raise ValueError(f"{count} workers need {count} slots but the {len(hosts)} host(s) "
                         f"({', '.join(h.name for h in hosts)}) have {len(out)}; "
                         f"lower workers or add hosts/slots")
    return out


def tf_config(cluster: dict[str, list[str]], task_type: str, index: int) -> str:
    """TF_CONFIG as TensorFlow reads it: the whole cluster and this task's place in it."""
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}}, sort_keys=True)
