"""tf.distribute.ParameterServerStrategy: a chief (the coordinator, which drives training
and writes the step records), k ps tasks holding the variables, n worker tasks running the
steps it schedules, and optionally an evaluator beside the chief.

ps and workers are TensorFlow servers that never finish on their own: they start first
(start group 0, finishes=False) and the harness stops them once the chief is done. A
server that dies is a failed critical task: the harness stops everything."""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Mapping

from harness.strategies.base import (
    PS_PUSH_PULL, Configuration, Host, Placement, PlacementContext, Strategy, spread_over_slots, tf_config,
)


def split_hosts(cfg: Configuration, hosts: list[Host]) -> tuple[list[Host], list[Host]]:
    """(ps hosts, worker hosts): ps_hosts selectors pick the ps hosts and the workers and
    chief go on the others; without ps_hosts every host takes both."""
    if not cfg.ps_hosts:
        return hosts, hosts
    ps_hosts = [h for h in hosts if any(h.matches(s) for s in cfg.ps_hosts)]
    if not ps_hosts:
        raise ValueError(f"ps_hosts {cfg.ps_hosts} match none of the configuration's hosts "
                         f"({', '.join(h.name for h in hosts)})")
    workers = [h for h in hosts if h not in ps_hosts]
    if not workers:
        raise ValueError("every host matches ps_hosts, so none is left for the workers and the chief; "
                         "add hosts or narrow ps_hosts")
    return ps_hosts, workers


def place(cfg: Configuration, hosts: list[Host], ctx: PlacementContext) -> list[Placement]:
    ps_hosts, worker_hosts = split_hosts(cfg, hosts)
    workers = spread_over_slots(worker_hosts, cfg.workers)
    chief_host = worker_hosts[0]
    roles: list[tuple[str, int, Host]] = [("chief", 0, chief_host)]
    roles += [("ps", i, ps_hosts[i % len(ps_hosts)]) for i in range(cfg.ps)]
    roles += [("worker", i, h) for i, (h, _) in enumerate(workers)]
    ports = {(role, i): ctx.port(h) for role, i, h in roles}
    cluster = {"chief": [], "ps": [], "worker": []}
    for role, i, h in roles:
        cluster[role].append(f"{ctx.address(h)}:{ports[role, i]}")

    out = []
    for role, i, h in roles:
        server = role != "chief"
        task_id = "chief" if role == "chief" else f"{role}-{i}"
        out.append(Placement(
            task_id=task_id, role=role, index=i, rank=i if role == "worker" else None, host=h.name,
            start_group=0 if server else 1, finishes=not server, ports=(ports[role, i],),
            env={"TF_CONFIG": tf_config(cluster, role, i)},
            cluster={"cluster": cluster, "task_type": role, "task_index": i}))
    if cfg.evaluator:
        # Beside the chief: it evaluates the checkpoints the chief writes into its directory.
        out.append(Placement(
            task_id="evaluator", role="evaluator", index=0, rank=None, host=chief_host.name,
            start_group=1, finishes=False, critical=False,
            env={"TF_CONFIG": tf_config(cluster, "evaluator", 0)},
            cluster={"cluster": cluster, "task_type": "evaluator", "task_index": 0}))
    return out


def finish(cfg: Configuration, tasks: list, hosts: Mapping[str, Host]) -> list:
    """The evaluator reads the chief's checkpoints: tell it where they are."""
    if not cfg.evaluator:
        return tasks
    chief = next(t for t in tasks if t.role == "chief")
    out = []
    for t in tasks:
        if t.role == "evaluator":
            cluster = {**t.spec["cluster"], "watch_dir": posixpath.join(chief.task_dir, chief.spec["checkpoint_dir"])}
            t = dataclasses.replace(t, spec=t.spec.replace(cluster=cluster))
        out.append(t)
    return out


def check(cfg: Configuration) -> str | None:
    if cfg.ps < 1:
        return "ps: strategy 'parameter_server' needs at least one ps task (ps: 1)"
    if cfg.threads.inter_op == 1:
        # Measured: with one inter-op thread a step blocks it waiting for remote
        # variables, and the cluster never makes progress.
        return ("threads.inter_op: 1 deadlocks a parameter-server cluster; use 2 or more "
                "(or 0 / leave it out for TensorFlow's choice)")
    return None


STRATEGY = Strategy(
    name="parameter_server", summary="tf.distribute.ParameterServerStrategy: a chief, ps tasks holding the "
    "variables, workers running the steps", place=place, finish=finish, check=check, distributed=True,
    gradients=PS_PUSH_PULL, options=("ps_hosts", "evaluator"), host_options=("ps_hosts",),
    keeps_processes=False)
