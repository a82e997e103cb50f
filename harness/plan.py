"""PURE planning: experiment x inventory -> Plan (every task: host, role, rank, env, spec).

Nothing here touches a host or the clock; the same inputs give the same plan."""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from harness.config import Experiment, Inventory
from harness.config.envvars import merged
from harness.config.experiment import Configuration
from harness.config.inventory import Host
from harness.errors import ConfigError
from harness.strategies import strategy_for
from harness.strategies.base import PlacementContext
from harness.strategies.ports import PortAllocator

# Set for every training process: Horovod and ParameterServerStrategy need Keras 2.
BASE_ENV = {
    "TF_USE_LEGACY_KERAS": "1",
    "PYTHONUNBUFFERED": "1",
    "TF_CPP_MIN_LOG_LEVEL": "1",
}


@dataclass(frozen=True)
class Task:
    config: str
    task_id: str                # unique within the configuration, e.g. "worker-0", "ps-1"
    role: str                   # worker | chief | ps | evaluator | rendezvous | launcher | mpi_host | sampler
    index: int                  # index within the role
    rank: int | None            # data-parallel rank of a training task, None for servers
    host: str
    task_dir: str               # where the task runs on its host
    start_group: int = 0        # lower groups start first (servers before the chief)
    finishes: bool = True       # False: a server that runs until stopped (ps, sampler)
    critical: bool = True       # False: its failure is recorded but does not stop the run
    env: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)   # written as task.json for the worker


@dataclass(frozen=True)
class ConfigPlan:
    name: str
    strategy: str
    hosts: tuple[str, ...]
    tasks: tuple[Task, ...]
    time_limit_s: float


@dataclass(frozen=True)
class Plan:
    run_id: str
    experiment: str
    configs: tuple[ConfigPlan, ...]
    # Configuration names per wave: the configurations of one wave run at the same time,
    # waves one after another. Sequential runs have one configuration per wave.
    waves: tuple[tuple[str, ...], ...] = ()
    parallel: bool = False

    def wave_list(self) -> tuple[tuple[str, ...], ...]:
        return self.waves or tuple((cp.name,) for cp in self.configs)

    def to_json(self) -> dict:
        return asdict(self)


def host_task_dir(host: Host, run_dir: Path, run_id: str, config: str, task_id: str) -> str:
    """A local host without a workdir writes straight into the run directory (nothing to
    collect, nothing lost if the control side dies); every other host under its workdir."""
    if host.is_local and not host.workdir:
        return str(Path(run_dir).resolve() / "hosts" / host.name / config / task_id)
    base = host.workdir or "/tmp/harness"
    return posixpath.join(base, "runs", run_id, config, task_id)


def thread_env(cfg: Configuration) -> dict[str, str]:
    t = cfg.threads
    env = {}
    if t.omp is not None:
        env["OMP_NUM_THREADS"] = str(t.omp)
    if t.kmp_affinity is not None:
        env["KMP_AFFINITY"] = t.kmp_affinity
    if t.kmp_blocktime is not None:
        env["KMP_BLOCKTIME"] = str(t.kmp_blocktime)
    return env


def config_hosts(cfg: Configuration, inv: Inventory) -> list[Host]:
    """The hosts a configuration runs on; a parameter-server configuration's ps_hosts count
    even when its `hosts` leaves them out."""
    if cfg.hosts and cfg.ps_hosts:
        return inv.select([*cfg.hosts, *cfg.ps_hosts])
    return inv.select(cfg.hosts)


def group_waves(items: Sequence[tuple[str, set[str]]]) -> tuple[tuple[str, ...], ...]:
    """PURE: (name, hosts) pairs, in order → waves whose host sets do not overlap. Each
    joins the wave right after the last wave that already uses one of its hosts, so no host
    serves two configurations at once and each host's configurations keep their order."""
    waves: list[list[str]] = []
    hosts_of: list[set[str]] = []
    for name, mine in items:
        i = 1 + max((i for i, used in enumerate(hosts_of) if used & mine), default=-1)
        if i == len(waves):
            waves.append([])
            hosts_of.append(set())
        waves[i].append(name)
        hosts_of[i] |= set(mine)
    return tuple(tuple(w) for w in waves)


def plan_waves(configs: Sequence[ConfigPlan], parallel: bool) -> tuple[tuple[str, ...], ...]:
    """PURE: the plan's waves; sequentially one configuration per wave."""
    if not parallel:
        return tuple((cp.name,) for cp in configs)
    return group_waves([(cp.name, set(cp.hosts) | {t.host for t in cp.tasks}) for cp in configs])


def build_plan(exp: Experiment, inv: Inventory, run_id: str, run_dir: Path,
               parallel: Optional[bool] = None) -> Plan:
    """`parallel`: None follows the experiment's `parallel`; True/False override it."""
    configs = []
    ctx = PlacementContext(PortAllocator(exp.base_port))  # one port space over the whole run
    for i, cfg in enumerate(exp.configurations):
        hosts = config_hosts(cfg, inv)
        strategy = strategy_for(cfg.strategy)
        try:
            placements = strategy.place(cfg, hosts, ctx)
        except ValueError as e:
            raise ConfigError([f"configurations[{i}] ({cfg.name}), strategy {cfg.strategy}: {e}"]) from None
        tasks = []
        for p in placements:
            host = inv.host(p.host)
            spec = {
                "run_id": run_id,
                "experiment": exp.name,
                "config": cfg.name,
                "strategy": cfg.strategy,
                "task_id": p.task_id,
                "role": p.role,
                "index": p.index,
                "rank": p.rank,
                "size": cfg.workers,   # data-parallel workers (Horovod ranks, PS/MWMS workers)
                "host": host.name,
                "workload": exp.workload.model_dump(),
                "threads": cfg.threads.model_dump(),
                "events": "events.jsonl",
                "checkpoint_dir": "checkpoints",
                "cluster": p.cluster,
                "ports": list(p.ports),
            }
            if exp.spot_watch:
                spec["spot_watch"] = {"interval_s": exp.spot_watch_interval_s}
            # The user's env (inventory < workload < configuration) never overrides what the
            # harness sets: config validation refuses those names (harness/config/envvars.py).
            user_env = merged(host.env, exp.workload.env, cfg.env)
            env = {**BASE_ENV, **user_env, **thread_env(cfg), **p.env,
                   "HARNESS_RUN_ID": run_id, "HARNESS_CONFIG": cfg.name,
                   "HARNESS_TASK": f"{cfg.name}/{p.task_id}"}
            tasks.append(Task(
                config=cfg.name, task_id=p.task_id, role=p.role, index=p.index, rank=p.rank,
                host=host.name, task_dir=host_task_dir(host, run_dir, run_id, cfg.name, p.task_id),
                start_group=p.start_group, finishes=p.finishes, critical=p.critical, env=env, spec=spec,
            ))
        if hasattr(strategy, "finish"):
            try:
                tasks = strategy.finish(cfg, tasks, {h.name: h for h in inv.hosts})
            except ValueError as e:
                raise ConfigError([f"configurations[{i}] ({cfg.name}), strategy {cfg.strategy}: {e}"]) from None
        tasks = [*_sampler_tasks(exp, inv, cfg.name, tasks, run_id, run_dir), *tasks]
        # The hosts the configuration occupies (and is charged for): those its tasks run on.
        used = {t.host for t in tasks}
        configs.append(ConfigPlan(cfg.name, cfg.strategy, tuple(h.name for h in hosts if h.name in used),
                                  tuple(tasks), exp.time_limit_s))
    par = exp.parallel if parallel is None else parallel
    return Plan(run_id, exp.name, tuple(configs), plan_waves(configs, par), par)


def _sampler_tasks(exp: Experiment, inv: Inventory, config: str, tasks: list[Task], run_id: str,
                   run_dir: Path) -> list[Task]:
    """One utilization sampler per host of the configuration, started before the training
    tasks and stopped after them; a sampler failing never fails the training."""
    if not exp.sample_interval_s:
        return []
    out = []
    for name in dict.fromkeys(t.host for t in tasks):
        host = inv.host(name)
        spec = {"run_id": run_id, "experiment": exp.name, "config": config, "strategy": "sampler",
                "task_id": "sampler", "role": "sampler", "index": 0, "rank": None, "size": 0, "host": name,
                "events": "samples.jsonl", "interval_s": exp.sample_interval_s}
        out.append(Task(config=config, task_id="sampler", role="sampler", index=0, rank=None, host=name,
                        task_dir=host_task_dir(host, run_dir, run_id, config, "sampler"), start_group=-1,
                        finishes=False, critical=False,
                        env={**BASE_ENV, "HARNESS_RUN_ID": run_id, "HARNESS_CONFIG": config,
                             "HARNESS_TASK": f"{config}/sampler"},
                        spec=spec))
    return out
