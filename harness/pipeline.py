"""The stages of `harness run`, top to bottom, one module each under harness/stages/, in the
order harness.stages.Stage names them (docs/architecture.md):

  load → plan → connect → sync → bind → execute (launch) → collect, per configuration
  run, in waves (waves.py) → report (harness/report/)

Each stage reads only what the stages before it returned; none changes an earlier stage's
output. The bound plan is written once (plan.json) and each task's spec is shipped as is.
Everything already written is kept on failure."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from harness import __version__
from harness.stages.bind import bind
from harness.stages.collect import collect_config
from harness.stages.connect import connect
from harness.stages import instances
from harness.errors import ConfigError, UsageError
from harness.stages.launch import Supervisor
from harness.prices.for_run import fetch_facts_for_run, fetch_for_run, wants_live_prices
from harness.stages.load import Inputs, load_inputs, resume_points, with_repeats
from harness.stages import warm_launch, warm_pool
from harness.stages.options import RunOptions
from harness.stages.plan import Plan, build_plan
from harness.protocol import layout
from harness.protocol.constants import IMDS_ENV
from harness.protocol.events import EventLog
from harness.stages.sync import sync_hosts

__all__ = ["RunOptions", "RunResult", "load_and_plan", "new_run_id", "resume_points", "run", "run_experiment",
           "with_repeats"]


@dataclass
class RunResult:
    run_dir: Path
    status: str                 # succeeded | failed | stopped | timeout
    reason: str
    leftovers: dict[str, list[int]]
    report_files: list[Path]


def load_and_plan(opts: RunOptions, run_id: str):
    """Stages 1-2 alone (`--dry-run`, `harness check`)."""
    inputs = load_inputs(opts.experiment, opts.hosts, repeats=opts.repeats, hostfile=opts.hostfile,
                         env=opts.env, workers=opts.workers)
    return inputs.experiment, inputs.inventory, _plan(inputs, run_id, opts.run_dir_root / run_id, opts.parallel)


def _plan(inputs: Inputs, run_id: str, run_dir: Path, parallel: bool | None) -> Plan:
    try:
        return build_plan(inputs.experiment, inputs.inventory, run_id, run_dir, parallel=parallel)
    except ConfigError as e:  # the planner knows fields, not files: name the experiment
        raise ConfigError([f"{inputs.experiment_path}: {p}" for p in e.problems]) from None


def new_run_id(name: str) -> str:
    # Time-ordered and unique, so a re-run never collides with an earlier run's files.
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def run_experiment(experiment: str, hosts: str, *, stop: threading.Event | None = None,
                   progress: Callable | None = None, **options) -> RunResult:
    """One run from keyword options (RunOptions' fields): the library's short form of run()."""
    return run(RunOptions(experiment, hosts, **options), stop=stop, progress=progress)


def run(opts: RunOptions, *, stop: threading.Event | None = None, progress: Callable | None = None) -> RunResult:
    """Stages 1-8. `opts.resume`: an earlier run directory; only its configurations that did
    not succeed run again (in this new run directory), each from its latest checkpoint."""
    stop = stop or threading.Event()
    # 1. load
    inputs = load_inputs(opts.experiment, opts.hosts, opts.resume, opts.repeats, hostfile=opts.hostfile,
                         env=opts.env, workers=opts.workers)
    exp, inv, resumed = inputs.experiment, inputs.inventory, inputs.resumed
    run_id = opts.run_id or new_run_id(exp.name)
    run_dir = opts.run_dir_root / run_id
    if run_dir.exists():
        raise UsageError(f"{run_dir}: run directory already exists; choose another --run-id")
    # 2. plan
    plan = _plan(inputs, run_id, run_dir, opts.parallel)
    if resumed is not None:
        if not resumed["configs"]:
            raise UsageError(f"{opts.resume}: every configuration succeeded; nothing to resume")
        plan = plan.only(list(resumed["configs"]), f"--resume {opts.resume}")
    # 3. connect: every host before anything is written or started
    conn = connect(plan, inv, opts.ssh_options)
    try:
        run_dir.mkdir(parents=True)
        shutil.copyfile(opts.experiment, run_dir / layout.EXPERIMENT_COPY)
        if inputs.hostfile:   # the inventory it stands for, so --resume and attach read YAML as always
            (run_dir / layout.INVENTORY_COPY).write_text(
                f"# from the hostfile {opts.hosts}\n" + yaml.safe_dump(inputs.hostfile, sort_keys=False))
        else:
            shutil.copyfile(opts.hosts, run_dir / layout.INVENTORY_COPY)
        (run_dir / layout.RESOLVED_FILE).write_text(json.dumps(
            {"experiment": exp.model_dump(), "inventory": inv.model_dump()}, indent=1))
        with EventLog(run_dir / layout.CONTROL_FILE) as control:
            control.emit("run_start", run_id=plan.run_id, experiment=plan.experiment, harness_version=__version__,
                         **({"resumed_from": resumed["run_id"]} if resumed else {}))
            if resumed:
                control.emit("resume", from_run=resumed["run_id"], from_dir=str(opts.resume),
                             configs={c: {k: r[k] for k in ("status", "from_step", "remaining_steps", "planned_steps",
                                                             "checkpoint_path", "checkpoint_host", "reason")}
                                      for c, r in resumed["configs"].items()})
            connected = control.emit("connect", hosts=[h.name for h in conn.hosts], seconds=conn.seconds)
            # Instances `hosts start` started: bill from launch, autostop watchdog (stages/instances.py)
            att = instances.attach(conn.hosts, conn.transports, run_id, run_dir, control,
                                   connected["t_wall"] - conn.seconds)
            if wants_live_prices(opts.live_prices, conn.hosts):
                control.emit("prices", **fetch_for_run(run_dir, conn.hosts))
                control.emit("instance_facts", **fetch_facts_for_run(run_dir, conn.hosts))
            result = None
            try:
                # 4. sync
                synced = sync_hosts(conn.hosts, conn.transports,
                                    exp.workload.dataset.path if exp.workload.dataset else None, control, exp.workload)
                # 5. bind: every task's final spec, written once and shipped unchanged.
                # HARNESS_IMDS_URL is a testing/override knob for the metadata address (normally unset).
                plan = bind(plan, synced, resumed, os.environ.get(IMDS_ENV) if exp.spot_watch else None)
                (run_dir / layout.PLAN_FILE).write_text(json.dumps(plan.to_json(), indent=1))
                # 6-7. execute and collect every configuration run, in waves
                result = _execute(plan, inv, conn.transports, run_dir, control, opts, stop, progress)
            finally:
                instances.detach(att, conn.hosts, conn.transports, run_id, run_dir, control,
                                 result.status if result else "failed")
    finally:
        conn.close()
    # 8. report, once control.jsonl is closed and the hosts' connections with their threads
    # are gone: a process with no other thread may use a second core (report/read/forked.py)
    from harness.report.write.render import write_report

    result.report_files = write_report(run_dir)
    return result


def _execute(plan: Plan, inv, transports, run_dir: Path, control, opts: RunOptions, stop,
             progress) -> RunResult:
    """Stages 6-7 for every configuration run, in waves (harness/stages/waves.py)."""
    from harness.stages.waves import ConfigOutcome, run_waves

    hosts = {h.name: h for h in inv.hosts}
    by_name = {cp.name: cp for cp in plan.configs}
    leftovers: dict[str, list[int]] = {}
    waves = plan.wave_list()
    control.emit("schedule", mode="parallel" if plan.parallel else "sequential", waves=[list(w) for w in waves],
                 fail_fast=opts.fail_fast)

    def run_one(name: str, scope) -> ConfigOutcome:
        cp = by_name[name]
        control.emit("config_start", config=cp.name, strategy=cp.strategy,
                     # The ranks' world size; under MPI one launcher task holds them all.
                     workers=max([t.spec.get("size") or 0 for t in cp.tasks if t.role != "sampler"]
                                 + [sum(1 for t in cp.tasks if t.rank is not None)]),
                     ps=sum(1 for t in cp.tasks if t.role == "ps"), hosts=list(cp.hosts),
                     instance_types={h: hosts[h].instance_type for h in cp.hosts},
                     configuration=cp.config or cp.name, repeat=cp.repeat, counted=cp.counted)
        sup = Supervisor(cp, transports, hosts, control, scope, progress=progress, grace_s=opts.grace_s,
                         lease_s=opts.lease_s, sweep_config_only=plan.parallel,
                         connection_grace_s=opts.connection_grace_s)
        outcome = sup.run()
        reason = outcome.reason
        if outcome.status == "stopped" and not stop.is_set():
            reason = "stopped because another configuration failed (--fail-fast)"
        control.emit("config_end", config=cp.name, status=outcome.status, reason=reason,
                     leftovers=outcome.leftovers)
        fresh = warm.after(cp, outcome.status == "succeeded" and not stop.is_set())
        collected = collect_config(cp, transports, run_dir, sup.unreachable)
        for key, why in collected.errors.items():
            control.emit("collect_error", config=cp.name, task=key, error=why)
        control.emit("collected", config=cp.name)  # the end of this run's collection (cost model)
        warm.ready(fresh)   # before the next run on these hosts: their imports are not its to share
        for h, pids in outcome.leftovers.items():
            leftovers.setdefault(h, []).extend(pids)
        return ConfigOutcome(cp.name, outcome.status, reason)

    warm = _WarmStarts(plan, transports, hosts, control, idle_s=opts.lease_s)
    try:
        outcomes = run_waves(waves, run_one, stop, parallel=plan.parallel, keep_going=opts.keep_going,
                             fail_fast=opts.fail_fast,
                             on_wave=lambda i, names: control.emit("wave_start", wave=i, configs=list(names)))
    finally:
        for h, pids in warm.stop(opts.grace_s).items():
            leftovers.setdefault(h, []).extend(pids)
    status, reason = "succeeded", ""
    for o in outcomes:
        if o.status != "succeeded" and status == "succeeded":
            status, reason = o.status, f"{o.name}: {o.reason}"
    if status == "succeeded" and stop.is_set() and len(outcomes) < len(plan.configs):
        status, reason = "stopped", "stop requested (Ctrl-C or SIGTERM)"
    control.emit("run_end", status=status, reason=reason)
    return RunResult(run_dir, status, reason, leftovers, [])


class _WarmStarts:
    """The run's warm zygotes (stages/warm_pool.py): started on a host when a configuration
    run there has ended and a later one will use them, stopped with the run."""

    def __init__(self, plan: Plan, transports, hosts, control, idle_s: float):
        self.plan, self.transports, self.hosts, self.control, self.idle_s = plan, transports, hosts, control, idle_s
        self.index = {cp.name: i for i, cp in enumerate(plan.configs)}
        self.started: dict = {}
        self._lock = threading.Lock()   # configuration runs of a wave end in their own threads

    def after(self, cp, go_on: bool) -> dict:
        if not self.plan.zygotes or not go_on:
            return {}
        with self._lock:
            due = warm_pool.due(list(self.plan.zygotes), self.index[cp.name], cp.hosts, set(self.started))
            fresh = warm_launch.start(due, self.transports, self.hosts, self.plan.run_id, self.idle_s,
                                      self.control) if due else {}
            self.started.update(fresh)
        return fresh

    def ready(self, fresh: dict) -> None:
        if fresh:
            warm_launch.wait_ready(fresh, self.transports, self.hosts, self.plan.run_id, self.control)

    def stop(self, grace_s: float) -> dict[str, list[int]]:
        return warm_launch.stop(self.started, self.transports, self.plan.run_id, self.control, grace_s) \
            if self.started else {}
