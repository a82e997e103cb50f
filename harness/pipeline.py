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
from harness.errors import ConfigError, HarnessError, Interrupted, UsageError
from harness.stages import instances
from harness.stages.launch import Supervisor
from harness.prices.for_run import fetch_facts_for_run, fetch_for_run, wants_live_prices
from harness.stages.load import Inputs, load_inputs, resume_points, with_repeats
from harness.stages import warm_launch
from harness.stages.options import RunOptions
from harness.stages.rounds import Rounds
from harness.stages.plan import Plan, build_plan, config_start_fields
from harness.protocol import layout
from harness.protocol.constants import IMDS_ENV
from harness.protocol.events import EventLog
from harness.stages.sync import sync_hosts
from harness.transport import shell

__all__ = ["RunOptions", "RunResult", "attach", "load_and_plan", "new_run_id", "resume_points", "run", "run_experiment",
           "with_repeats"]


@dataclass
class RunResult:
    run_dir: Path
    status: str                 # succeeded | failed | stopped | timeout | interrupted | detached
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
    if opts.detach and exp.adaptive:   # keepers run a fixed plan; the looks need the control side
        raise UsageError(f"{opts.experiment}: repeats: auto decides after every round on this machine, which a "
                         f"detached run cannot; give a fixed count with --detach (e.g. --repeats 3)")
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
                if opts.detach:   # 6-7 on the hosts; `harness attach` collects and reports
                    result = _detach(plan, inv, conn.transports, run_dir, control, opts, synced, exp.base_port,
                                     stop, progress)
                    return result
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


def _live_rules(cp):
    """The configuration's live rules, per the experiment (`live_rules`, `max_init_s`)."""
    from harness.protocol.live_rules import LiveRules

    if not cp.live_rules and not cp.max_init_s:
        return None
    return LiveRules(max_init_s=cp.max_init_s, watch=cp.live_rules)


def _execute(plan: Plan, inv, transports, run_dir: Path, control, opts: RunOptions, stop,
             progress) -> RunResult:
    """Stages 6-7 for every configuration run, in waves (harness/stages/waves.py)."""
    from harness.stages.waves import SKIPPED, ConfigOutcome, run_waves

    hosts = {h.name: h for h in inv.hosts}
    by_name = {cp.name: cp for cp in plan.configs}
    leftovers: dict[str, list[int]] = {}
    waves = plan.wave_list()
    control.emit("schedule", mode="parallel" if plan.parallel else "sequential", waves=[list(w) for w in waves],
                 fail_fast=opts.fail_fast)

    def run_one(name: str, scope) -> ConfigOutcome:
        cp = by_name[name]
        why_not = rounds.skip(cp) if rounds else None
        if why_not:
            control.emit("config_skipped", config=cp.name, configuration=cp.config, repeat=cp.repeat, reason=why_not)
            return ConfigOutcome(cp.name, SKIPPED, why_not)
        control.emit("config_start", config=cp.name,
                     **config_start_fields(cp, {h: hosts[h].instance_type for h in cp.hosts}))
        warm.before(cp)   # a zygote this run pays for itself: its processes can be kept for the next
        sup = Supervisor(cp, transports, hosts, control, scope, progress=progress, grace_s=opts.grace_s,
                         lease_s=opts.lease_s, sweep_config_only=plan.parallel,
                         connection_grace_s=opts.connection_grace_s, live=_live_rules(cp))
        outcome = sup.run()
        reason = outcome.reason
        if outcome.status == "stopped" and not stop.is_set():
            reason = "stopped because another configuration failed (--fail-fast)"
        control.emit("config_end", config=cp.name, status=outcome.status, reason=reason,
                     leftovers=outcome.leftovers,
                     **({"reason_code": outcome.reason_code} if outcome.reason_code else {}))
        fresh = warm.after(cp, outcome.status == "succeeded", stopping=stop.is_set())
        collected = collect_config(cp, transports, run_dir, sup.unreachable)
        for key, why in collected.errors.items():
            control.emit("collect_error", config=cp.name, task=key, error=why)
        control.emit("collected", config=cp.name)  # the end of this run's collection (cost model)
        warm.ready(fresh)   # before the next run on these hosts: their imports are not its to share
        for h, pids in outcome.leftovers.items():
            leftovers.setdefault(h, []).extend(pids)
        return ConfigOutcome(cp.name, outcome.status, reason)

    rounds = None
    if plan.schedule.get("repeats") == "auto":
        from harness.report.figures.adaptive_run import look_at

        rounds = Rounds(plan, control, lambda: look_at(run_dir))
    warm = warm_launch.WarmStarts(plan, transports, hosts, control, idle_s=opts.lease_s)
    try:
        outcomes = run_waves(waves, run_one, stop, parallel=plan.parallel, keep_going=opts.keep_going,
                             fail_fast=opts.fail_fast,
                             on_wave=lambda i, names: control.emit("wave_start", wave=i, configs=list(names)))
    finally:
        for h, pids in warm.stop(opts.grace_s).items():
            leftovers.setdefault(h, []).extend(pids)
    status, reason = "succeeded", ""
    for o in outcomes:
        if o.status not in ("succeeded", SKIPPED) and status == "succeeded":
            status, reason = o.status, f"{o.name}: {o.reason}"
    if status == "succeeded" and stop.is_set() and len(outcomes) < len(plan.configs):
        status, reason = "stopped", "stop requested (Ctrl-C or SIGTERM)"
    control.emit("run_end", status=status, reason=reason)
    return RunResult(run_dir, status, reason, leftovers, [])


# -- detached runs (README "Long runs") -----------------------------------------------------

def _detach(plan: Plan, inv, transports, run_dir: Path, control, opts: RunOptions, synced, base_port: int,
            stop, progress) -> RunResult:
    """Stage 6 handed to keepers on the hosts (harness/stages/detach.py); returns once every
    task of the first wave runs. Stage 7 and 8 are `attach`'s."""
    from harness.stages import detach, registry
    from harness.stages.attach import Attached, AttachLock
    from harness.stages.follow import Follower, first_wave_running
    from harness.stages.keeper_plan import KeeperOptions

    control.emit("schedule", mode="parallel" if plan.parallel else "sequential",
                 waves=[list(w) for w in plan.wave_list()], fail_fast=opts.fail_fast)
    info, specs = detach.prepare(plan, inv, run_dir, synced, KeeperOptions(
        opts.lease_s, opts.connection_grace_s, opts.grace_s, opts.keep_going, opts.fail_fast), base_port)
    control.emit("detach", steward=info.steward, port=info.port, hosts=info.hosts, keeper_dirs=info.keeper_dirs)
    if stop.is_set():
        raise Interrupted("stopped before the run was handed to its hosts; nothing was started")
    detach.write_local(run_dir, info)
    registry.note(opts.run_dir_root, plan.run_id, "detached", run_dir=str(run_dir.resolve()),
                  hosts_file=str(Path(opts.hosts).resolve()), steward=info.steward)
    detach.write_hosts(plan, transports, run_dir, info, specs)
    att = Attached(run_dir, info, plan, inv, transports)
    lock = AttachLock(att).acquire()   # no `harness attach` while this one launches
    try:
        detach.mark_ready(transports, info)
        failed = detach.start_keepers(transports, info)
        if info.steward in failed:
            raise HarnessError(f"{failed[info.steward]}; `harness attach {plan.run_id}` tries again")
        f = Follower(run_dir, info, transports)
        outcome = _follow_started(f, att, stop, progress, lambda f: first_wave_running(f, plan), started=True)
    finally:
        lock.release()
    if outcome == "steward_lost":
        errors = [r.get("error") for r in f.of("keeper_error")]
        raise HarnessError(f"the keeper on the steward host {info.steward} stopped during launch"
                           + (f": {errors[-1]}" if errors else "") + f"; `harness attach {plan.run_id}` collects "
                           f"and reports what there is")
    end = f.run_end()
    why = {"done": "every task of the first configuration run is running" if end is None else
           f"the run already ended: {end.get('status')} {end.get('reason') or ''}".rstrip(),
           "detached": "detached before every task was running (Ctrl-C)"}.get(outcome, outcome)
    return RunResult(run_dir, "detached", why, {}, [])


def _follow_started(f, att, stop, progress, until, lock=None, started=False):
    """follow() from harness/stages/follow.py, starting the keepers when the run's launch
    was cut short (the steward has its files and `ready`, but no keeper ran), and giving
    the steward's keeper up to 30 s to come up."""
    from harness.stages import detach
    from harness.stages.follow import follow

    def check(f):
        if lock is not None:
            lock.keep()
        return until(f)

    deadline = time.monotonic() + 30
    while True:
        outcome = follow(f, att.plan, progress=progress, stop=stop, unreachable=att.unreachable, until=check,
                         on_outage=lambda why: print(f"harness: {why}; still trying (the run goes on)", flush=True))
        if outcome != "not_started":
            return outcome
        pulled = f.pull()
        if not pulled.ready:   # the launch was killed before `ready`: were the files all written?
            missing = [h for h in detach.files_complete(att.plan, att.transports, att.info)
                       if h not in att.unreachable] if not att.unreachable else att.info.hosts
            if missing:
                raise HarnessError(f"run {att.info.run_id} never started: the control side stopped while it wrote "
                                   f"the run's files (host(s) {', '.join(missing)} lack some); nothing ran; start "
                                   f"it again with `harness run`")
            detach.mark_ready(att.transports, att.info)
        if time.monotonic() > deadline:
            log = f"{att.info.steward_dir}/{layout.KEEPER_OUT_FILE}"
            tail = att.transports[att.info.steward].exec(f"tail -n 5 {shell.q(log)}", timeout=30).stdout.strip()
            raise HarnessError(f"host {att.info.steward}: the run's keeper did not start: {tail or 'no output'}")
        if not started:
            hosts = [h for h in att.info.hosts if h not in att.unreachable]
            failed = detach.start_keepers(att.transports, att.info, hosts)
            print(f"harness: run {att.info.run_id}: started the keepers on {', '.join(hosts)}"
                  + (f" (failed: {failed})" if failed else ""), flush=True)
            started = True
        stop.wait(1.0)


def attach(run: str, *, runs_root: str = "runs", hosts: str | None = None, ssh_options=None,
           stop: threading.Event | None = None, progress: Callable | None = None) -> RunResult:
    """Stages 6-8 of a detached run from this machine: follow its steward with the live
    table, collect each configuration run as it ends, and once the run has ended write the
    report exactly as `run` does. Ctrl-C detaches again (status "detached")."""
    from harness.report.write.render import write_report
    from harness.stages import registry
    from harness.stages.attach import AttachLock, locate, open_run
    from harness.stages.follow import Follower

    stop = stop or threading.Event()
    progress = progress or (lambda cp, states: None)
    run_dir = locate(run, Path(runs_root), hosts, ssh_options)
    att = open_run(run_dir, hosts, ssh_options)
    try:
        lock = AttachLock(att).acquire()
        try:
            registry.note(Path(runs_root), att.info.run_id, "attached", run_dir=str(run_dir.resolve()),
                          steward=att.info.steward, **({"hosts_file": str(Path(hosts).resolve())} if hosts else {}))
            f = Follower(run_dir, att.info, att.transports)

            def over(f) -> bool:
                ends = {r.get("config") for r in f.ended_configs()}
                return f.run_end() is not None and ends <= f.collected()

            outcome = _follow_started(f, att, stop, progress, over, lock)
            if outcome == "steward_lost":
                errors = [r.get("error") for r in f.of("keeper_error")]
                f.finish_for_a_dead_steward(
                    f"the keeper on the steward host {att.info.steward} ended without ending the run"
                    + (f": {errors[-1]}" if errors else f" (see {att.info.steward_dir}/{layout.KEEPER_OUT_FILE} "
                                                        f"there); its tasks stopped when their lease ran out"))
                f.collect_ended(att.plan, att.unreachable)
            f.close()
        finally:
            lock.release()
    finally:
        att.close()
    if outcome == "detached":
        return RunResult(run_dir, "detached", "detached again (Ctrl-C); the run goes on", {}, [])
    end = f.run_end() or {}
    leftovers: dict[str, list[int]] = {}
    for r in f.ended_configs():
        for h, pids in (r.get("leftovers") or {}).items():
            leftovers.setdefault(h, []).extend(pids)
    result = RunResult(run_dir, end.get("status") or "failed", end.get("reason") or "", leftovers, [])
    result.report_files = write_report(run_dir)
    registry.note(Path(runs_root), att.info.run_id, "reported", run_dir=str(run_dir.resolve()),
                  status=result.status, reason=result.reason)
    return result
