"""Warm starts, control side (the zygote itself: harness/worker/warm.py).

A training task can run warm when a later run of the plan, on the same host, starts a
process with the same interpreter and the same environment apart from what each task sets
for itself (its rank, TF_CONFIG, the harness's own names): then one zygote per such
(host, environment) is worth starting. PURE `assign` marks those tasks (HARNESS_WARM_NAME in
their environment; the task asks that zygote and runs cold when there is none); the pipeline
starts a zygote when a configuration run on its host has just ended, while that run is
being collected (never while a run on that host is measured), so a repeat's start-up
excludes the imports its predecessor already paid for; `stop` ends them with the run.
Each such task also gets its kept-state key (HARNESS_WARM_HOT, `hot_key`) and, when a later
run of the plan has the same key on its host, HARNESS_WARM_KEEP=1: its process then stays
with its built model and traced step for that run (harness/worker/hot.py).

When the first run of an environment on a host has such a task (a strategy that keeps its
processes; not a warm-up run), its zygote starts in that run's own window instead
(`own_run`): the run's tasks wait for its imports and are forked from it, so the run pays
the imports in its start-up as a cold run does (from config_start; HARNESS_WARM_OWN=1 marks it
cold in the report) and its processes can be kept for the second run, which is then kept
rather than a fresh fork.

Not warm: samplers and servers that never train (rendezvous, the mpirun launcher and its
idle hosts: mpirun starts the ranks itself), and users' scripts (they are their own
interpreter). Thread settings are part of the environment, so a configuration with other
threads gets its own zygote: TensorFlow fixes some of them when it loads."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath

from harness.protocol.constants import DEFAULT_WORKDIR, RUN_ID_ENV, WARM_NAME_ENV as NAME_ENV
from harness.protocol.constants import WARM_ZYGOTE_ENV as ZYGOTE_ENV
from harness.protocol.constants import WARM_HOT_ENV as HOT_ENV, WARM_KEEP_ENV as KEEP_ENV
from harness.protocol.constants import WARM_OWN_ENV as OWN_ENV
from harness.protocol.layout import SAMPLER_ROLE
from harness import strategies
# Read by each task after the imports, so they differ between tasks of one zygote.
PER_TASK = ("TF_CONFIG", "CUDA_VISIBLE_DEVICES")
PER_TASK_PREFIXES = ("HARNESS_", "HOROVOD_")


def zygote_env(env: dict[str, str]) -> dict[str, str]:
    """The part of a task's environment its zygote must be started with."""
    return {k: v for k, v in env.items() if k not in PER_TASK and not k.startswith(PER_TASK_PREFIXES)}


def key(interpreter: str, env: dict[str, str]) -> str:
    h = hashlib.sha256(interpreter.encode())
    for k, v in sorted(zygote_env(env).items()):
        h.update(b"\0" + k.encode() + b"=" + v.encode())
    return h.hexdigest()[:12]


def eligible(task) -> bool:
    workload = task.spec.workload if task.spec is not None else None
    # samplers, and the roles of each strategy that never train (harness.strategies.base.Strategy.helper_roles)
    cold = task.role == SAMPLER_ROLE or task.role in strategies.helper_roles()
    return not cold and workload is not None and not workload.script


@dataclasses.dataclass(frozen=True)
class Zygote:
    host: str
    name: str                       # the abstract socket's name (harness/worker/warm.py)
    key: str
    env: dict                       # what it is started with (its env.sh)
    imports: tuple[str, ...]        # beyond TensorFlow: its first user's strategy's warm_imports
    first_unit: int                 # the index of the first configuration run that can use it
    cold_unit: int = 0              # the run before it that pays the imports itself (runs cold)
    own_run: bool = False           # started in cold_unit's own window, which it serves (module doc)

    def task_dir(self, workdir: str | None, run_id: str) -> str:
        return posixpath.join(workdir or DEFAULT_WORKDIR, "runs", run_id, "warm", self.key)


def assign(configs: tuple, interpreters: dict[str, str], run_id: str) -> tuple[tuple, list[Zygote]]:
    """The plan's configuration runs with HARNESS_WARM_NAME set on every task that a zygote
    can serve, and those zygotes: one per (host, key) that two or more runs use."""
    seen: dict[tuple[str, str], list[int]] = {}
    for i, cp in enumerate(configs):
        for t in cp.tasks:
            if eligible(t):
                k = key(interpreters[t.host], t.env)
                units = seen.setdefault((t.host, k), [])
                if not units or units[-1] != i:
                    units.append(i)
    wanted = {hk: units for hk, units in seen.items() if len(units) >= 2}
    names = {(host, k): f"{run_id}-{host}-{k}"[-100:] for host, k in wanted}
    hot_units: dict[tuple[str, str], list[int]] = {}
    for i, cp in enumerate(configs):
        for t in cp.tasks:
            if eligible(t) and (t.host, key(interpreters[t.host], t.env)) in names:
                hot_units.setdefault((t.host, hot_key(cp, t, key(interpreters[t.host], t.env))), []).append(i)

    def kept_later(i: int, cp, t, k: str) -> bool:
        # Not after a warm-up run: its configuration's first counted run would be kept while
        # the others' are fresh forks, and round 1 would compare unlike starts.
        return cp.counted and strategies.strategy_for(cp.strategy).keeps_processes and \
            any(u > i for u in hot_units[t.host, hot_key(cp, t, k)])

    zygotes, own = [], set()
    for (host, k), units in wanted.items():
        cold = configs[units[0]]
        sample = next(t for t in cold.tasks if t.host == host and eligible(t) and key(interpreters[host], t.env) == k)
        early = any(kept_later(units[0], cold, t, k) for t in cold.tasks
                    if t.host == host and eligible(t) and key(interpreters[host], t.env) == k)
        if early:
            own.add((host, k))
        zygotes.append(Zygote(host, names[host, k], k, {**zygote_env(sample.env), RUN_ID_ENV: run_id, ZYGOTE_ENV: "1"},
                              strategies.strategy_for(cold.strategy).warm_imports, units[1], units[0], early))
    out = []
    for i, cp in enumerate(configs):
        tasks = []
        for t in cp.tasks:
            k = key(interpreters[t.host], t.env) if eligible(t) else ""
            if (t.host, k) not in names:
                tasks.append(t)
                continue
            first = (t.host, k) in own and seen[t.host, k][0] == i
            tasks.append(dataclasses.replace(t, env={**t.env, NAME_ENV: names[t.host, k], HOT_ENV: hot_key(cp, t, k),
                                                     **({KEEP_ENV: "1"} if kept_later(i, cp, t, k) else {}),
                                                     **({OWN_ENV: "1"} if first else {})}))
        out.append(dataclasses.replace(cp, tasks=tuple(tasks)))
    return tuple(out), zygotes


def hot_key(cp, task, env_key: str) -> str:
    """PURE: the key under which a warm task's process may keep its built model and traced step
    for a later run (harness/worker/hot.py): identical only for the same configuration, role,
    size, workload and threads in the same environment; a task of any other key builds its own."""
    spec = task.spec
    fields = {"env": env_key, "config": cp.config or cp.name, "strategy": cp.strategy, "role": task.role,
              "size": spec.size, "workload": spec.workload.to_dict(), "threads": spec.threads.to_dict()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def due(zygotes: list[Zygote], finished_unit: int, hosts: tuple[str, ...], started: set[str]) -> list[Zygote]:
    """Zygotes to start now that configuration run `finished_unit` ended on `hosts`: those of
    these hosts whose cold run is done, whose first warm user is still to come, and that are
    not running yet (an `own_run` zygote that could not start in its run's window too). (The
    first run of an environment on a host is cold — its own process, or the first child of an
    `own_run` zygote, which waited for its imports — so the report can set warm start-up
    beside cold.)"""
    return [z for z in zygotes if z.host in hosts and z.name not in started
            and z.cold_unit <= finished_unit < z.first_unit]


def due_before(zygotes: list[Zygote], unit: int, hosts: tuple[str, ...], started: set[str]) -> list[Zygote]:
    """Zygotes to start as configuration run `unit` begins: the `own_run` ones it is the cold
    run of, on its hosts."""
    return [z for z in zygotes if z.own_run and z.cold_unit == unit and z.host in hosts and z.name not in started]


def start_argv(interpreter: str, z: Zygote, idle_s: float) -> list[str]:
    argv = [interpreter, "-m", "harness.worker.warm", "--name", z.name, "--idle", f"{idle_s:g}"]
    return argv + [a for m in z.imports for a in ("--import", m)]

