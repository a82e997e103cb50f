"""What a strategy is, for every part of the harness that needs to know it, and what its
placement works with (docs/strategies.md).

Each strategy module of this package declares `STRATEGY = Strategy(...)`: its name, the
configuration options it accepts and its own configuration check (the config asks),
`place` (and optionally `finish`) for the planner, how its gradients travel (the
communication figures and the projection), whether it is the single-process baseline
(scaling), what a warm zygote imports for it, which of its roles never train, which host
packages it needs (pre-flight). harness/strategies/__init__.py finds the modules; the host
side of a strategy is its module under harness/worker/strategies/.

This package sits below harness.config in the layers (the config validates against the
registry), so nothing here imports the config: a strategy reads the configuration and the
hosts it is given by their attributes. `place` problems raise ValueError with a message for
the user; the planner turns it into a ConfigError naming the configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from harness.strategies.ports import PortAllocator

# Read by attribute: harness.config.experiment.Configuration and harness.config.inventory.Host
# (name, labels, address, port, user, slots, is_local, interpreter, matches(selector)).
Configuration = Any
Host = Any

# How gradients travel between a strategy's processes (harness/report/figures/comm.py,
# projection.py): per step every worker sends 2(N−1)/N × G in a ring; or each worker pushes G
# to the parameter servers and pulls G back; or nothing travels.
RING_ALLREDUCE = "ring_allreduce"
PS_PUSH_PULL = "ps_push_pull"
NO_EXCHANGE = "none"
GRADIENT_PATHS = (RING_ALLREDUCE, PS_PUSH_PULL, NO_EXCHANGE)


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


Place = Callable[[Configuration, list, PlacementContext], list[Placement]]
# (configuration, the planned tasks (harness.stages.plan.Task), hosts by name) -> the tasks
Finish = Callable[[Configuration, list, Mapping[str, Host]], list]


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str                            # one line: what it is (docs, `harness check`)
    place: Place
    finish: Optional[Finish] = None         # what needs the tasks' directories (e.g. mpirun's contexts)
    # Several training processes that talk to each other: `-np` sets its workers, and
    # framework versions that differ across its hosts are a blocker.
    distributed: bool = False
    # A one-worker run of it is the single-process baseline of the scaling figures.
    baseline: bool = False
    gradients: str = NO_EXCHANGE            # one of GRADIENT_PATHS
    # Configuration fields that only this strategy (or the others naming them too) accepts.
    options: tuple[str, ...] = ()
    # Options that name more hosts (selectors) the configuration runs on besides `hosts`.
    host_options: tuple[str, ...] = ()
    # The configuration's strategy-specific problem as one message, or None.
    check: Optional[Callable[[Configuration], Optional[str]]] = None
    # Roles that start, host or coordinate the training processes without running training
    # code: a warm zygote cannot serve them, the communication figures leave them out.
    helper_roles: tuple[str, ...] = ()
    warm_imports: tuple[str, ...] = ()      # what a warm zygote imports beyond TensorFlow for it
    # Whether a training process may stay, built and traced, for the next run of an identical
    # configuration (harness/worker/hot.py; the worker's Trainer.reusable must agree): not
    # when the cluster is fixed at creation (TF_CONFIG, servers).
    keeps_processes: bool = True
    packages: tuple[str, ...] = ()          # host packages it needs (pre-flight blocks without them)

    def __post_init__(self):
        if self.gradients not in GRADIENT_PATHS:
            raise ValueError(f"strategy {self.name!r}: gradients {self.gradients!r} is not one of "
                             f"{', '.join(GRADIENT_PATHS)}")

    def problem(self, cfg: Configuration) -> Optional[str]:
        return self.check(cfg) if self.check is not None else None


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
