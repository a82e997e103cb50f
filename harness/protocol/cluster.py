"""A task's cluster facts, typed: what the strategies (harness/strategies/) tell the
processes they place about the rest of their cluster, read on the host as attributes.
Every field is optional: each strategy and role sets the ones it needs. Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from harness.protocol.parts import Part


@dataclass(frozen=True)
class Slot(Part):
    """One Horovod rank's place, as its rendezvous server and the ranks describe it."""
    host: str          # inventory name
    hostname: str      # the name ranks and the rendezvous server group by (HOROVOD_HOSTNAME)
    rank: int
    size: int
    local_rank: int
    local_size: int
    cross_rank: int    # index of this host among the hosts that have a rank at local_rank
    cross_size: int


@dataclass(frozen=True)
class MpiContext(Part):
    """One host's app context of the mpirun command line."""
    host: str          # inventory name
    address: str       # what mpirun connects to ("localhost" for its own host)
    ranks: int
    wdir: str          # the host's task directory, where its ranks write
    python: str        # the interpreter the ranks run with there


@dataclass(frozen=True)
class MpiSsh(Part):
    """The one ssh port and user mpirun passes for every remote host (null: ssh's own)."""
    port: Optional[int] = None
    user: Optional[str] = None


@dataclass(frozen=True)
class Cluster(Part):
    launcher: Optional[str] = None               # horovod: who starts the ranks, gloo | mpi
    port: Optional[int] = None                   # horovod gloo rendezvous: the port it listens on
    slots: tuple[Slot, ...] = ()                 # horovod rendezvous and mpi launcher: every rank's place
    local_rank: Optional[int] = None             # a rank's index on its host (picks its GPU)
    contexts: tuple[MpiContext, ...] = ()        # mpi launcher: one per host
    ssh: Optional[MpiSsh] = None                 # mpi launcher
    env_names: tuple[str, ...] = ()              # mpi launcher: variables forwarded to every rank, by name
    cluster: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # TF cluster: job -> [host:port]
    task_type: Optional[str] = None              # TF cluster: this task's job
    task_index: Optional[int] = None
    watch_dir: Optional[str] = None              # parameter_server evaluator: the chief's checkpoint directory
