"""Stage 2, plan. PURE: experiment x inventory -> Plan (every task: host, role, rank, its
directory on the host, env, and its TaskSpec as far as the experiment decides it; bind.py
adds what only the run knows after sync).

Nothing here touches a host or the clock; the same inputs give the same plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from harness.config import Experiment, Inventory
from harness.config.envvars import merged
from harness.config.experiment import Configuration
from harness.config.inventory import Host
from harness.errors import ConfigError, UsageError
from harness.protocol import layout
from harness.protocol.constants import BASE_ENV, DEFAULT_WORKDIR, RUN_ID_ENV, TASK_ENV
from harness.protocol.spec import TaskSpec
from harness.stages import warm_pool
from harness.stages.schedule import group_waves, schedule  # group_waves: pure, used by the report too
from harness.strategies import strategy_for
from harness.strategies.base import PlacementContext
from harness.strategies.ports import PortAllocator


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
    env: dict = field(default_factory=dict)    # env.sh: values may be secrets, plan.json keeps names only
    spec: TaskSpec | None = None               # shipped unchanged as task.json (final after bind)

    def to_json(self) -> dict:
        return {"config": self.config, "task_id": self.task_id, "role": self.role, "index": self.index,
                "rank": self.rank, "host": self.host, "task_dir": self.task_dir, "start_group": self.start_group,
                "finishes": self.finishes, "critical": self.critical, "env": sorted(self.env),
                "spec": self.spec.to_dict() if self.spec is not None else None}


@dataclass(frozen=True)
class ConfigPlan:
    name: str
    strategy: str
    hosts: tuple[str, ...]
    tasks: tuple[Task, ...]
    time_limit_s: float
    # One run (unit) of a configuration: `name` is the unit's name, `config` the
    # configuration's, `repeat` 1..N (0 = warm-up run, `counted` False). harness/stages/schedule.py
    config: str = ""
    repeat: int = 1
    counted: bool = True
    # The live rules' limit (harness/protocol/live_rules.py; 0: off); not in plan.json.
    max_init_s: float = 0.0
    live_rules: bool = True


@dataclass(frozen=True)
class Plan:
    run_id: str
    experiment: str
    configs: tuple[ConfigPlan, ...]  # every run of every configuration, in the order they run
    # Configuration-run names per wave: the runs of one wave run at the same time, waves
    # one after another. Sequential runs have one per wave.
    waves: tuple[tuple[str, ...], ...] = ()
    parallel: bool = False
    schedule: dict = field(default_factory=dict)  # repeats, order, seed, warm-up: how it was drawn
    zygotes: tuple = ()         # warm_pool.Zygote: warm starts on hosts that run an environment twice

    def wave_list(self) -> tuple[tuple[str, ...], ...]:
        return self.waves or tuple((cp.name,) for cp in self.configs)

    def to_json(self) -> dict:
        """plan.json: every task with its final spec; environment variable names only."""
        return {"run_id": self.run_id, "experiment": self.experiment,
                "configs": [{"name": cp.name, "strategy": cp.strategy, "hosts": list(cp.hosts),
                             "tasks": [t.to_json() for t in cp.tasks], "time_limit_s": cp.time_limit_s,
                             "config": cp.config, "repeat": cp.repeat, "counted": cp.counted}
                            for cp in self.configs],
                "waves": [list(w) for w in self.waves], "parallel": self.parallel, "schedule": self.schedule,
                "warm": [{"host": z.host, "name": z.name, "key": z.key, "env": sorted(z.env),
                          "first_warm_run": self.configs[z.first_unit].name} for z in self.zygotes]}

    @classmethod
    def from_json(cls, doc: dict) -> "Plan":
        """A plan read back from plan.json (attach): environment values are not in it, only
        their names, so the tasks' env is empty; everything else is as bound."""
        configs = []
        for c in doc["configs"]:
            tasks = tuple(Task(config=t["config"], task_id=t["task_id"], role=t["role"], index=t["index"],
                               rank=t["rank"], host=t["host"], task_dir=t["task_dir"], start_group=t["start_group"],
                               finishes=t["finishes"], critical=t["critical"],
                               spec=TaskSpec.from_dict(t["spec"]) if t.get("spec") is not None else None)
                          for t in c["tasks"])
            configs.append(ConfigPlan(c["name"], c["strategy"], tuple(c["hosts"]), tasks, c["time_limit_s"],
                                      c.get("config") or "", c.get("repeat", 1), c.get("counted", True)))
        return cls(doc["run_id"], doc["experiment"], tuple(configs), tuple(tuple(w) for w in doc.get("waves") or ()),
                   bool(doc.get("parallel")), doc.get("schedule") or {})

    def only(self, names: list[str], why: str) -> "Plan":
        """The named configuration runs only, in plan order; every name must be in the plan."""
        missing = sorted(set(names) - {cp.name for cp in self.configs})
        if missing:
            raise UsageError(f"{why}: configuration(s) {', '.join(missing)} are not in this experiment")
        keep = [cp for cp in self.configs if cp.name in set(names)]
        # no warm starts in a resumed subset: its tasks find no zygote and run cold
        return Plan(self.run_id, self.experiment, tuple(keep), plan_waves(keep, self.parallel), self.parallel,
                    self.schedule)


def config_start_fields(cp: ConfigPlan, instance_types: dict[str, Optional[str]]) -> dict:
    """The fields of a configuration run's config_start record (docs/events.md)."""
    # The ranks' world size; under MPI one launcher task holds them all.
    workers = max([t.spec.get("size") or 0 for t in cp.tasks if t.role != "sampler"]
                  + [sum(1 for t in cp.tasks if t.rank is not None)])
    return dict(strategy=cp.strategy, workers=workers, ps=sum(1 for t in cp.tasks if t.role == "ps"),
                hosts=list(cp.hosts), instance_types={h: instance_types.get(h) for h in cp.hosts},
                configuration=cp.config or cp.name, repeat=cp.repeat, counted=cp.counted)


def host_run_dir(host: Host, run_dir: Path, run_id: str) -> str:
    """The run's directory on a host: its task directories (and a detached run's keeper)
    are below it. See host_task_dir."""
    if host.is_local and not host.workdir:
        return str(Path(run_dir).resolve())
    return layout.remote_run_dir(host.workdir or DEFAULT_WORKDIR, run_id)


def host_task_dir(host: Host, run_dir: Path, run_id: str, config: str, task_id: str) -> str:
    """A local host without a workdir writes straight into the run directory (nothing to
    collect, nothing lost if the control side dies); every other host under its workdir."""
    if host.is_local and not host.workdir:
        return str(layout.local_task_dir(Path(run_dir).resolve(), host.name, config, task_id))
    return layout.remote_task_dir(host.workdir or DEFAULT_WORKDIR, run_id, config, task_id)


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
    """The hosts a configuration runs on; the hosts its strategy's own options select
    (a parameter-server configuration's ps_hosts) count even when its `hosts` leaves them out."""
    extra = [sel for o in strategy_for(cfg.strategy).host_options for sel in getattr(cfg, o) or ()]
    if cfg.hosts and extra:
        return inv.select([*cfg.hosts, *extra])
    return inv.select(cfg.hosts)


def plan_waves(configs: Sequence[ConfigPlan], parallel: bool, by_round: bool = False) -> tuple[tuple[str, ...], ...]:
    """PURE: the plan's waves; sequentially one configuration per wave. `by_round` (adaptive
    repeats): no wave mixes two rounds, so every round has ended before the next is decided."""
    if not parallel:
        return tuple((cp.name,) for cp in configs)
    if by_round:
        rounds: dict[int, list[ConfigPlan]] = {}
        for cp in configs:
            rounds.setdefault(cp.repeat, []).append(cp)
        return tuple(w for r in rounds.values() for w in plan_waves(r, True))
    return group_waves([(cp.name, set(cp.hosts) | {t.host for t in cp.tasks}) for cp in configs])


def build_plan(exp: Experiment, inv: Inventory, run_id: str, run_dir: Path,
               parallel: Optional[bool] = None) -> Plan:
    """Every run of every configuration, in the order they run (harness/stages/schedule.py): each
    repeat is planned on its own (own directories, own ports, as any two configurations).
    `parallel`: None follows the experiment's `parallel`; True/False override it; runs on
    disjoint hosts then share a wave, repeats keep their interleaved order within it."""
    ctx = PlacementContext(PortAllocator(exp.base_port))  # one port space over the whole run
    cfgs = {cfg.name: (i, cfg) for i, cfg in enumerate(exp.configurations)}
    units = schedule(list(cfgs), {n: [h.name for h in config_hosts(c, inv)] for n, (_, c) in cfgs.items()},
                     exp.rounds, exp.order, exp.order_seed, exp.warmup_run)
    runs = tuple(_config_plan(*cfgs[u.config], u.name, u.repeat, u.counted, exp, inv, run_id, run_dir, ctx)
                 for u in units)
    drawn = {"repeats": exp.repeats, "order": exp.order, "order_seed": exp.order_seed,
             "warmup_run": exp.warmup_run, "units": [u.name for u in units]}
    if exp.adaptive:   # every round planned (the worst case); the run decides which it needs
        drawn.update(max_repeats=exp.max_repeats, min_effect=exp.min_effect)
    par = exp.parallel if parallel is None else parallel
    zygotes: list = []
    if exp.warm_start:
        runs, zygotes = warm_pool.assign(runs, {h.name: h.interpreter for h in inv.hosts}, run_id)
    return Plan(run_id, exp.name, runs, plan_waves(runs, par, by_round=exp.adaptive), par, drawn, tuple(zygotes))


def _config_plan(i: int, cfg: Configuration, name: str, repeat: int, counted: bool, exp: Experiment,
                 inv: Inventory, run_id: str, run_dir: Path, ctx: PlacementContext) -> ConfigPlan:
    """One run of configuration `cfg` under the unit name `name` (its directories and records)."""
    hosts = config_hosts(cfg, inv)
    strategy = strategy_for(cfg.strategy)
    try:
        placements = strategy.place(cfg, hosts, ctx)
    except ValueError as e:
        raise ConfigError([f"configurations[{i}] ({cfg.name}), strategy {cfg.strategy}: {e}"]) from None
    tasks = []
    work = exp.workload_of(cfg).model_dump()  # the experiment's, with this configuration's own fields
    for p in placements:
        host = inv.host(p.host)
        spec = TaskSpec(
            run_id=run_id, experiment=exp.name, config=name, strategy=cfg.strategy,
            task_id=p.task_id, role=p.role, index=p.index, rank=p.rank,
            size=cfg.workers,   # data-parallel workers (Horovod ranks, PS/MWMS workers)
            host=host.name, workload=work, threads=cfg.threads.model_dump(),
            events=layout.EVENTS_FILE, checkpoint_dir=layout.CHECKPOINT_DIR, cluster=p.cluster,
            ports=list(p.ports),
            # 0: the warm-up run (plan.json's entry says it is not counted)
            repeat=repeat if name != cfg.name else None,
            spot_watch={"interval_s": exp.spot_watch_interval_s} if exp.spot_watch else None,
            precision={"precision": exp.stop_precision, "min_steps": exp.min_steps,
                       "warmup_steps": work["warmup_steps"]} if exp.stop_precision else None)
        # The user's env (inventory < workload < configuration) never overrides what the
        # harness sets: config validation refuses those names (harness/config/envvars.py).
        user_env = merged(host.env, exp.workload.env, cfg.env)
        env = {**BASE_ENV, **user_env, **thread_env(cfg), **p.env,
               RUN_ID_ENV: run_id, "HARNESS_CONFIG": name, TASK_ENV: f"{name}/{p.task_id}"}
        tasks.append(Task(
            config=name, task_id=p.task_id, role=p.role, index=p.index, rank=p.rank,
            host=host.name, task_dir=host_task_dir(host, run_dir, run_id, name, p.task_id),
            start_group=p.start_group, finishes=p.finishes, critical=p.critical, env=env, spec=spec,
        ))
    if strategy.finish is not None:
        try:
            tasks = strategy.finish(cfg, tasks, {h.name: h for h in inv.hosts})
        except ValueError as e:
            raise ConfigError([f"configurations[{i}] ({cfg.name}), strategy {cfg.strategy}: {e}"]) from None
    tasks = [*_sampler_tasks(exp, inv, name, tasks, run_id, run_dir), *tasks]
    # The hosts the configuration occupies (and is charged for): those its tasks run on.
    used = {t.host for t in tasks}
    return ConfigPlan(name, cfg.strategy, tuple(h.name for h in hosts if h.name in used),
                      tuple(tasks), exp.time_limit_s, cfg.name, repeat, counted, exp.max_init_s, exp.live_rules)


def _sampler_tasks(exp: Experiment, inv: Inventory, config: str, tasks: list[Task], run_id: str,
                   run_dir: Path) -> list[Task]:
    """One utilization sampler per host of the configuration, started before the training
    tasks and stopped after them; a sampler failing never fails the training."""
    if not exp.sample_interval_s:
        return []
    out = []
    for name in dict.fromkeys(t.host for t in tasks):
        host = inv.host(name)
        sid, role = layout.SAMPLER_TASK_ID, layout.SAMPLER_ROLE
        spec = TaskSpec(run_id=run_id, experiment=exp.name, config=config, strategy="sampler", task_id=sid,
                        role=role, index=0, rank=None, size=0, host=name, events=layout.SAMPLES_FILE,
                        interval_s=exp.sample_interval_s)
        out.append(Task(config=config, task_id=sid, role=role, index=0, rank=None, host=name,
                        task_dir=host_task_dir(host, run_dir, run_id, config, sid), start_group=-1,
                        finishes=False, critical=False,
                        env={**BASE_ENV, RUN_ID_ENV: run_id, "HARNESS_CONFIG": config, TASK_ENV: f"{config}/{sid}"},
                        spec=spec))
    return out
