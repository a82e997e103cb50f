"""One training process on one host: the baseline every distributed run is compared with."""

from __future__ import annotations

from harness.config.experiment import Configuration
from harness.config.inventory import Host
from harness.strategies.base import Placement, PlacementContext

name = "single"


def place(cfg: Configuration, hosts: list[Host], ctx: PlacementContext | None = None) -> list[Placement]:
    host = hosts[0]
    return [Placement(task_id="worker-0", role="worker", index=0, rank=0, host=host.name)]
