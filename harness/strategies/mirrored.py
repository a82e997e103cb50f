"""tf.distribute.MultiWorkerMirroredStrategy: n workers, each a training task that logs its
own steps; gradients are all-reduced inside TensorFlow (collective ops over gRPC).
TF_CONFIG lists every worker; worker 0 is the chief (checkpoints, evaluation records)."""

from __future__ import annotations

from harness.strategies.base import (
    RING_ALLREDUCE, Configuration, Host, Placement, PlacementContext, Strategy, spread_over_slots, tf_config,
)


def place(cfg: Configuration, hosts: list[Host], ctx: PlacementContext) -> list[Placement]:
    spread = spread_over_slots(hosts, cfg.workers)
    ports = [ctx.port(h) for h, _ in spread]
    cluster = {"worker": [f"{ctx.address(h)}:{p}" for (h, _), p in zip(spread, ports)]}
    return [Placement(task_id=f"worker-{i}", role="worker", index=i, rank=i, host=h.name, ports=(ports[i],),
                      env={"TF_CONFIG": tf_config(cluster, "worker", i)},
                      cluster={"cluster": cluster, "task_type": "worker", "task_index": i, "local_rank": local})
            for i, (h, local) in enumerate(spread)]


def check(cfg: Configuration) -> str | None:
    if cfg.ps != 0:
        return "ps: strategy 'mirrored' has no parameter servers; remove 'ps' or use parameter_server"
    return None


STRATEGY = Strategy(name="mirrored", summary="tf.distribute.MultiWorkerMirroredStrategy: collective all-reduce "
                    "inside TensorFlow", place=place, check=check, distributed=True, gradients=RING_ALLREDUCE,
                    keeps_processes=False)
