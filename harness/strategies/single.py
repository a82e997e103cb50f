"""One training process on one host: the baseline every distributed run is compared with."""

from __future__ import annotations

from harness.strategies.base import Configuration, Host, Placement, PlacementContext, Strategy


def place(cfg: Configuration, hosts: list[Host], ctx: PlacementContext | None = None) -> list[Placement]:
    host = hosts[0]
    return [Placement(task_id="worker-0", role="worker", index=0, rank=0, host=host.name)]


def check(cfg: Configuration) -> str | None:
    if cfg.workers != 1 or cfg.ps != 0:
        return "strategy 'single' runs exactly one worker and no ps; set workers: 1, ps: 0"
    return None


STRATEGY = Strategy(name="single", summary="one training process on one host: the single-process baseline",
                    place=place, check=check, baseline=True)
