"""PURE: a detached run's keepers, planned from the bound plan: which host is the steward
(the first host of the plan), the TCP port the keepers talk on (planned like the tasks'
ports: the next free one on the steward's machine after every task's), where each host's
keeper keeps its files, and each keeper's spec (keeper.json: harness/worker/keeper.py).

Every configuration run's tasks are in every spec, in schedule order, so the steward
knows the whole run and each member picks its own host's tasks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.inventory import Inventory
from harness import strategies
from harness.errors import ConfigError
from harness.protocol import layout
from harness.protocol.constants import worker_argv
from harness.stages.plan import Plan, config_start_fields, host_run_dir
from harness.strategies.base import PlacementContext
from harness.strategies.ports import MAX_PORT, machine_key

KEEPER_VERSION = 1
POLL_S = 0.5


@dataclass(frozen=True)
class KeeperOptions:
    lease_s: float
    connection_grace_s: float
    grace_s: float
    keep_going: bool
    fail_fast: bool


def plan_hosts(plan: Plan) -> list[str]:
    """Every host of the plan, in plan order (the steward first)."""
    return list(dict.fromkeys(t.host for cp in plan.configs for t in cp.tasks))


def keeper_port(plan: Plan, inv: Inventory, base_port: int) -> int:
    """The port after every task port of the plan on the steward's machine."""
    steward = inv.host(plan_hosts(plan)[0])
    key = machine_key(steward)
    used = [p for cp in plan.configs for t in cp.tasks if machine_key(inv.host(t.host)) == key
            for p in (t.spec.get("ports") or [] if t.spec is not None else [])]
    port = max([base_port - 1, *used]) + 1
    if port > MAX_PORT:
        raise ConfigError([f"base_port {base_port}: no port left for the keepers of a detached run; lower base_port"])
    return port


def keeper_dirs(plan: Plan, inv: Inventory, run_dir: Path) -> dict[str, str]:
    return {h: layout.keeper_dir(host_run_dir(inv.host(h), run_dir, plan.run_id), h) for h in plan_hosts(plan)}


def keeper_specs(plan: Plan, inv: Inventory, run_dir: Path, opts: KeeperOptions, *, port: int,
                 token: str) -> dict[str, dict]:
    """{host: its keeper.json}."""
    hosts = plan_hosts(plan)
    steward = inv.host(hosts[0])
    configs = []
    helpers = (layout.SAMPLER_ROLE, *strategies.helper_roles())
    for cp in plan.configs:
        tasks = [{"task_id": t.task_id, "host": t.host, "role": t.role, "rank": t.rank, "start_group": t.start_group,
                  "finishes": t.finishes, "critical": t.critical, "task_dir": t.task_dir,
                  "events": (t.spec.get("events") if t.spec is not None else None) or layout.EVENTS_FILE,
                  "gloo": t.env.get("HOROVOD_CONTROLLER") == "gloo",
                  # whose step records the live rules read (not the sampler's, not a helper's)
                  "trains": t.role not in helpers} for t in cp.tasks]
        types = {h: inv.host(h).instance_type for h in cp.hosts}
        configs.append({"name": cp.name, "time_limit_s": cp.time_limit_s, "tasks": tasks,
                        "max_init_s": cp.max_init_s, "live_rules": cp.live_rules,
                        "start_record": config_start_fields(cp, types)})
    common = {"keeper_version": KEEPER_VERSION, "run_id": plan.run_id, "steward": steward.name,
              "steward_address": PlacementContext.address(steward), "port": port, "token": token, "hosts": hosts,
              "lease_s": opts.lease_s, "connection_grace_s": opts.connection_grace_s, "grace_s": opts.grace_s,
              "poll_s": POLL_S, "parallel": plan.parallel, "keep_going": opts.keep_going, "fail_fast": opts.fail_fast,
              # configurations of a parallel wave may share a machine: sweep only one's processes
              "sweep_config_only": plan.parallel, "waves": [list(w) for w in plan.wave_list()], "configs": configs}
    dirs = keeper_dirs(plan, inv, run_dir)
    return {h: {**common, "host": h, "keeper_dir": dirs[h], "worker_argv": worker_argv(inv.host(h).interpreter)}
            for h in hosts}
