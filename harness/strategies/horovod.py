"""Horovod all-reduce, started two ways (the `launcher` of the configuration):

gloo (default): the harness starts every rank as its own task with Horovod's rendezvous
  environment, against a rendezvous server task on the first host. Each rank is
  supervised, logged and stopped like any task; hosts need no SSH to each other.
mpi: one `mpirun` task on the first host starts every rank (over SSH on other hosts);
  each other host gets an idle `mpi_host` task whose directory its ranks write into.

Everything here is pure: placements, the rank layout, and the mpirun command line."""

from __future__ import annotations

import dataclasses
import re

from typing import Mapping

from harness.protocol.cluster import Slot   # the ranks read the same description
from harness.protocol.layout import HOROVOD_TIMELINE_FILE
from harness.strategies.base import (
    RING_ALLREDUCE, Configuration, Host, Placement, PlacementContext, Strategy, spread_over_slots,
)

TIMELINE_FILE = HOROVOD_TIMELINE_FILE   # relative: lands in rank 0's task directory


def slot_plan(hosts: list[Host], workers: int) -> list[Slot]:
    """Ranks fill each host's slots in inventory order."""
    spread = spread_over_slots(hosts, workers)
    order = list(dict.fromkeys(h.name for h, _ in spread))
    # Host names become rendezvous URL paths: keep them to safe characters, and unique.
    hostname = {n: f"{i}-{re.sub(r'[^A-Za-z0-9._-]', '_', n)}" for i, n in enumerate(order)}
    local_size = {n: sum(1 for h, _ in spread if h.name == n) for n in order}
    at_local: dict[int, list[str]] = {}
    for h, local in spread:
        at_local.setdefault(local, []).append(h.name)
    return [Slot(host=h.name, hostname=hostname[h.name], rank=r, size=workers, local_rank=local,
                 local_size=local_size[h.name], cross_rank=at_local[local].index(h.name),
                 cross_size=len(at_local[local]))
            for r, (h, local) in enumerate(spread)]


def slot_env(s: Slot) -> dict[str, str]:
    return {"HOROVOD_HOSTNAME": s.hostname, "HOROVOD_RANK": str(s.rank), "HOROVOD_SIZE": str(s.size),
            "HOROVOD_LOCAL_RANK": str(s.local_rank), "HOROVOD_LOCAL_SIZE": str(s.local_size),
            "HOROVOD_CROSS_RANK": str(s.cross_rank), "HOROVOD_CROSS_SIZE": str(s.cross_size)}


def place(cfg: Configuration, hosts: list[Host], ctx: PlacementContext) -> list[Placement]:
    slots = slot_plan(hosts, cfg.workers)
    by_name = {h.name: h for h in hosts}
    common = {"HOROVOD_TIMELINE": TIMELINE_FILE} if cfg.horovod_timeline else {}
    if cfg.launcher == "mpi":
        return _place_mpi(cfg, slots, by_name, common)
    return _place_gloo(cfg, slots, by_name, ctx, common)


def _gloo_iface(cfg: Configuration, hosts: list[Host]) -> str | None:
    if cfg.network_interface:
        return cfg.network_interface
    if all(h.is_local for h in hosts):
        return "lo"   # every rank on this machine: loopback always works
    labelled = {h.labels.get("network_interface") for h in hosts}
    return labelled.pop() if len(labelled) == 1 and None not in labelled else None


def _place_gloo(cfg, slots: list[Slot], hosts: dict[str, Host], ctx: PlacementContext,
                common: dict) -> list[Placement]:
    first = hosts[slots[0].host]
    port = ctx.port(first)
    rdv = Placement(task_id="rendezvous", role="rendezvous", index=0, rank=None, host=first.name,
                    start_group=0, finishes=False, ports=(port,),
                    cluster={"launcher": "gloo", "port": port, "slots": [dataclasses.asdict(s) for s in slots]})
    env = {**common, "HOROVOD_GLOO_RENDEZVOUS_ADDR": ctx.address(first),
           "HOROVOD_GLOO_RENDEZVOUS_PORT": str(port),
           "HOROVOD_CONTROLLER": "gloo", "HOROVOD_CPU_OPERATIONS": "gloo"}
    iface = _gloo_iface(cfg, [hosts[n] for n in dict.fromkeys(s.host for s in slots)])
    if iface:
        env["HOROVOD_GLOO_IFACE"] = iface
    ranks = [Placement(task_id=f"worker-{s.rank}", role="worker", index=s.rank, rank=s.rank, host=s.host,
                       start_group=1, env={**env, **slot_env(s)},
                       cluster={"launcher": "gloo", "local_rank": s.local_rank})
             for s in slots]
    return [rdv, *ranks]


def _place_mpi(cfg, slots: list[Slot], hosts: dict[str, Host], common: dict) -> list[Placement]:
    order = list(dict.fromkeys(s.host for s in slots))
    out = [Placement(task_id="mpirun", role="launcher", index=0, rank=None, host=order[0], start_group=1,
                     env=dict(common), cluster={"launcher": "mpi", "slots": [dataclasses.asdict(s) for s in slots]})]
    # The other hosts' ranks write into the directory of an idle task on their host, so
    # their files are collected like any task's; it runs until the harness stops it.
    for i, h in enumerate(order[1:], start=1):
        out.append(Placement(task_id=f"mpi-host-{i}", role="mpi_host", index=i, rank=None, host=h,
                             start_group=0, finishes=False, env=dict(common), cluster={"launcher": "mpi"}))
    _ssh_settings([hosts[h] for h in order[1:]])  # fail at planning, not at mpirun time
    return out


def _ssh_settings(remote: list[Host]) -> dict:
    """plm_rsh_args is one setting for every host: remote hosts must agree on port and user."""
    ssh = [h for h in remote if not h.is_local]
    ports = {h.port or 22 for h in ssh}
    users = {h.user for h in ssh}
    if len(ports) > 1 or len(users) > 1:
        seen = ", ".join(f"{h.name}: user {h.user or '(default)'} port {h.port or 22}" for h in ssh)
        raise ValueError(f"launcher 'mpi' passes one ssh port and user to mpirun for every host, but the "
                         f"hosts differ ({seen}); use the gloo launcher or make them equal")
    out = {}
    if ssh and ports != {22}:
        out["port"] = ports.pop()
    if ssh and users != {None}:
        out["user"] = users.pop()
    return out


def finish(cfg: Configuration, tasks: list, hosts: Mapping[str, Host]) -> list:
    """The mpirun task learns where every rank runs: host address, slot count, directory."""
    if cfg.launcher != "mpi":
        return tasks
    launcher = next(t for t in tasks if t.role == "launcher")
    dirs = {t.host: t.task_dir for t in tasks if t.role in ("launcher", "mpi_host")}
    slots = launcher.spec["cluster"]["slots"]
    contexts = []
    for h in dict.fromkeys(s["host"] for s in slots):
        host = hosts[h]
        # The first host is "localhost" to its own mpirun; local-transport hosts are this machine.
        addr = "localhost" if (h == launcher.host or host.is_local) else PlacementContext.address(host)
        contexts.append({"host": h, "address": addr, "ranks": sum(1 for s in slots if s["host"] == h),
                         "wdir": dirs[h], "python": host.interpreter})
    remote = [hosts[c["host"]] for c in contexts if c["address"] != "localhost"]
    cluster = {**launcher.spec["cluster"], "contexts": contexts, "ssh": _ssh_settings(remote),
               "env_names": sorted(launcher.env)}
    done = dataclasses.replace(launcher, spec=launcher.spec.replace(cluster=cluster))
    return [done if t is launcher else t for t in tasks]


def check(cfg: Configuration) -> str | None:
    if cfg.ps != 0:
        return "ps: strategy 'horovod' has no parameter servers; remove 'ps' or use parameter_server"
    return None


STRATEGY = Strategy(
    name="horovod", summary="Horovod ring all-reduce, ranks started by the harness (gloo) or by mpirun (mpi)",
    place=place, finish=finish, check=check, distributed=True, gradients=RING_ALLREDUCE,
    options=("launcher", "horovod_timeline", "network_interface"),
    helper_roles=("rendezvous", "launcher", "mpi_host"), warm_imports=("horovod.tensorflow",),
    packages=("horovod",))
