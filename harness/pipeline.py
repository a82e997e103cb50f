"""The stages of `harness run`, in order: load → check → plan → (launch → supervise →
collect) per configuration → report. Everything already written is kept on failure."""

from __future__ import annotations

import json
import os
import posixpath
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness import __version__
from harness.collect import collect_config
from harness.config import check_experiment_against_inventory, load_experiment, load_inventory
from harness.config.inventory import Host
from harness.errors import ConfigError, HarnessError, UsageError
from harness.protocol.events import EventLog, read_jsonl
from harness.launch import Supervisor
from harness.live_prices import fetch_facts_for_run, fetch_for_run, wants_live_prices
from harness.plan import ConfigPlan, Plan, build_plan, plan_waves
from harness.bundle import build_bundle
from harness.sync import needs_sync, sync_host
from harness.transport import open_transports
from harness.transport.fanout import fan_out
from harness.protocol import layout
from harness.protocol.constants import IMDS_ENV


@dataclass
class RunResult:
    run_dir: Path
    status: str                 # succeeded | failed | stopped | timeout
    reason: str
    leftovers: dict[str, list[int]]
    report_files: list[Path]


def load_and_plan(experiment: str, hosts: str, run_id: str, run_dir: Path, parallel: bool | None = None,
                  repeats: int | None = None):
    exp = with_repeats(load_experiment(experiment), repeats)
    inv = load_inventory(hosts)
    check_experiment_against_inventory(exp, inv, experiment, hosts)
    try:
        return exp, inv, build_plan(exp, inv, run_id, run_dir, parallel=parallel)
    except ConfigError as e:  # the planner knows fields, not files: name the experiment
        raise ConfigError([f"{experiment}: {p}" for p in e.problems]) from None


def with_repeats(exp, repeats: int | None):
    """The experiment with `--repeats` applied (the command line wins over the file)."""
    if repeats is None:
        return exp
    if not 1 <= repeats <= 100:  # the experiment file's own bound (config.experiment)
        raise UsageError(f"--repeats {repeats}: give 1 to 100 runs per configuration")
    return exp.model_copy(update={"repeats": repeats})


def new_run_id(name: str) -> str:
    # Time-ordered and unique, so a re-run never collides with an earlier run's files.
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def run_experiment(experiment: str, hosts: str, *, runs_root: str = "runs", run_id: str | None = None,
                   stop: threading.Event | None = None, progress: Callable | None = None,
                   ssh_options=None, grace_s: float = 10.0, keep_going: bool = False,
                   live_prices: str = "auto", lease_s: float = 60.0, resume: str | Path | None = None,
                   parallel: bool | None = None, fail_fast: bool = False,
                   repeats: int | None = None) -> RunResult:
    """`resume`: an earlier run directory; only its configurations that did not succeed
    run again (in this new run directory), each from its latest checkpoint."""
    stop = stop or threading.Event()
    exp = load_experiment(experiment)
    run_id = run_id or new_run_id(exp.name)
    run_dir = Path(runs_root) / run_id
    if run_dir.exists():
        raise UsageError(f"{run_dir}: run directory already exists; choose another --run-id")
    exp, inv, plan = load_and_plan(experiment, hosts, run_id, run_dir, parallel, repeats)
    resumed = None
    if resume is not None:
        resumed = resume_points(Path(resume))
        plan = _resume_plan(plan, resumed, Path(resume))

    used = _used_hosts(plan, inv)
    # Connect to every host before anything is written or started: an unreachable host
    # is a clean error, not a half-started run.
    t0 = time.monotonic()
    transports = open_transports(used, ssh_options)
    connect_s = time.monotonic() - t0
    try:
        run_dir.mkdir(parents=True)
        shutil.copyfile(experiment, run_dir / "experiment.yaml")
        shutil.copyfile(hosts, run_dir / "inventory.yaml")
        (run_dir / "resolved.json").write_text(json.dumps(
            {"experiment": exp.model_dump(), "inventory": inv.model_dump()}, indent=1))
        (run_dir / "plan.json").write_text(json.dumps(_public_plan(plan), indent=1))
        with EventLog(run_dir / "control.jsonl") as control:
            control.emit("run_start", run_id=plan.run_id, experiment=plan.experiment, harness_version=__version__,
                         **({"resumed_from": resumed["run_id"]} if resumed else {}))
            if resumed:
                control.emit("resume", from_run=resumed["run_id"], from_dir=str(resume),
                             configs={c: {k: r[k] for k in ("status", "from_step", "remaining_steps", "planned_steps",
                                                             "checkpoint_path", "checkpoint_host", "reason")}
                                      for c, r in resumed["configs"].items()})
            control.emit("connect", hosts=[h.name for h in used], seconds=connect_s)
            if wants_live_prices(live_prices, used):
                control.emit("prices", **fetch_for_run(run_dir, used))
                control.emit("instance_facts", **fetch_facts_for_run(run_dir, used))
            env, datasets, scripts = _sync(used, transports, exp.workload.dataset.path if exp.workload.dataset else None,
                                           control, exp.workload)
            if exp.spot_watch and os.environ.get(IMDS_ENV):
                # A testing/override knob: the IMDS address the control process was given
                # (HARNESS_IMDS_URL) is passed to every task; normally unset (169.254.169.254).
                for h in env:
                    env[h] = {**env[h], IMDS_ENV: os.environ[IMDS_ENV]}
            return _execute(plan, inv, transports, run_dir, stop, progress, grace_s, keep_going, control, env,
                            datasets, lease_s, scripts, fail_fast)
    finally:
        for tr in transports.values():
            tr.close()


def resume_points(old_run: Path) -> dict:
    """What `--resume` needs from an earlier run: {"run_id", "configs": {name: {"status",
    "from_step", "remaining_steps", "planned_steps", "checkpoint_path" (on its host, absolute),
    "checkpoint_host", "reason"}}} for every configuration that did not succeed (failed,
    interrupted, stopped or never run). Checkpoints come from the collected `checkpoint`
    events; a relative path is under the task's directory on its host (old plan.json)."""
    from harness.aws.resume import resume_plan

    if not (old_run / layout.CONTROL_FILE).is_file() or not (old_run / layout.PLAN_FILE).is_file():
        raise UsageError(f"{old_run}: not a run directory (needs {layout.CONTROL_FILE} and {layout.PLAN_FILE})")
    control, _ = read_jsonl(old_run / layout.CONTROL_FILE)
    old_plan = json.loads((old_run / layout.PLAN_FILE).read_text())
    resolved_file = old_run / layout.RESOLVED_FILE
    resolved = json.loads(resolved_file.read_text()) if resolved_file.is_file() else {}
    epochs = ((resolved.get("experiment") or {}).get("workload") or {}).get("epochs")
    status = {r.get("config"): r.get("status") for r in control if r.get("event") == "config_end"}
    # A resumed run that is resumed again: its own starting point still counts.
    earlier = next((r.get("configs") or {} for r in control if r.get("event") == "resume"), {})
    out = {}
    for cp in old_plan.get("configs", []):
        name = cp["name"]
        if status.get(name) == "succeeded":
            continue
        ckpts, steps_per_epoch = [], None
        before = earlier.get(name) or {}
        if before.get("checkpoint_path"):
            ckpts.append({"step": before.get("from_step"), "path": before["checkpoint_path"],
                          "host": before.get("checkpoint_host")})
        for t in cp["tasks"]:
            if t.get("role") == "sampler":
                continue
            for e in _task_records(old_run, t["host"], name, t["task_id"]):
                if e.get("event") == "phase" and e.get("name") == "data_ready" and steps_per_epoch is None:
                    steps_per_epoch = e.get("steps_per_epoch")
                if e.get("event") == "checkpoint" and e.get("path"):
                    path = str(e["path"])
                    ckpts.append({**e, "host": t["host"],
                                  "path": path if posixpath.isabs(path) else posixpath.join(t["task_dir"], path)})
        info = {"status": status.get(name, "not run"), "checkpoint_path": None, "checkpoint_host": None,
                "from_step": 0, "remaining_steps": None, "planned_steps": None}
        planned = int(epochs) * int(steps_per_epoch) if epochs and steps_per_epoch else before.get("planned_steps")
        if planned:
            rp = resume_plan(int(planned), ckpts)
            hosts = {c["path"]: c["host"] for c in ckpts}
            info.update(checkpoint_path=rp["from_checkpoint"], checkpoint_host=hosts.get(rp["from_checkpoint"]),
                        from_step=rp["from_step"], remaining_steps=rp["remaining_steps"],
                        planned_steps=rp["planned_steps"], reason=rp["reason"])
        else:
            info["reason"] = "the run never reached training: start again from step 0"
        out[name] = info
    return {"run_id": old_plan.get("run_id") or old_run.name, "configs": out}


def _task_records(run_dir: Path, host: str, config: str, task_id: str) -> list[dict]:
    """A task's events, and under `launcher: mpi` those of the MPI ranks whose files are
    in its directory (events-rank<k>.jsonl): rank 0 writes the checkpoint records there."""
    tdir = layout.local_task_dir(run_dir, host, config, task_id)
    files = [tdir / layout.EVENTS_FILE] + [p for _, p in layout.rank_events_files(tdir)]
    return [e for f in files if f.is_file() for e in read_jsonl(f)[0]]


def _resume_plan(plan: Plan, resumed: dict, old_run: Path) -> Plan:
    """Only the configurations to resume; their training tasks get `resume_from`."""
    todo = resumed["configs"]
    if not todo:
        raise UsageError(f"{old_run}: every configuration succeeded; nothing to resume")
    missing = sorted(set(todo) - {cp.name for cp in plan.configs})
    if missing:
        raise UsageError(f"--resume {old_run}: configuration(s) {', '.join(missing)} are not in this experiment")
    configs: list[ConfigPlan] = []
    for cp in plan.configs:
        if cp.name not in todo:
            continue
        r = todo[cp.name]
        for t in cp.tasks:
            if t.role != "sampler" and "workload" in t.spec:
                t.spec["resume_from"] = {"run_id": resumed["run_id"], "checkpoint_path": r["checkpoint_path"],
                                         "step": r["from_step"]}
        configs.append(cp)
    return Plan(plan.run_id, plan.experiment, tuple(configs), plan_waves(configs, plan.parallel), plan.parallel)


def _used_hosts(plan: Plan, inv) -> list[Host]:
    names = dict.fromkeys(t.host for cp in plan.configs for t in cp.tasks)
    return [inv.host(n) for n in names]


def _public_plan(plan: Plan) -> dict:
    """plan.json lists environment variable names only: values may be secrets."""
    data = plan.to_json()
    for cp in data["configs"]:
        for t in cp["tasks"]:
            t["env"] = sorted(t["env"])
    return data


def _sync(used: list[Host], transports, dataset: str | None, control: EventLog, workload=None):
    """Code, script and data onto every SSH host, in parallel; per-host PYTHONPATH, dataset
    and script paths."""
    checkout = str(Path(__file__).resolve().parent.parent)
    env = {h.name: {"PYTHONPATH": checkout} for h in used if not needs_sync(h)}
    datasets: dict[str, str] = {}
    scripts: dict[str, str] = {}
    remote = [h for h in used if needs_sync(h)]
    s3_uri = dataset if dataset and dataset.startswith("s3://") else None
    if s3_uri:
        dataset = None   # not a local path to upload: each host downloads it itself, below
    script = None
    if remote and workload is not None and workload.script:
        from harness.script_bundle import build_script_bundle

        script = build_script_bundle(workload.script, workload.files)
    if remote:
        _sync_code(remote, transports, dataset, control, env, datasets, script, scripts)
    if s3_uri:
        _fetch_s3_dataset(used, transports, s3_uri, control, env, datasets)
    return env, datasets, scripts


def _fetch_s3_dataset(used: list[Host], transports, uri: str, control: EventLog, env, datasets) -> None:
    """Every host downloads the dataset once into its own cache (keyed by ETag, size
    verified) with its own AWS credentials (e.g. an instance profile)."""
    import sys

    from harness import shell
    from harness.aws.s3 import fetch_command, local_path_from_output

    def one(h: Host):
        t = time.monotonic()
        python = h.python or (sys.executable if h.is_local else "python3")
        cache = f"{h.workdir}/s3-cache" if h.workdir else None
        argv = fetch_command(python, uri, cache)
        cmd = f"PYTHONPATH={shell.q(env[h.name]['PYTHONPATH'])} " + " ".join(shell.q(a) for a in argv)
        res = transports[h.name].exec(cmd, timeout=3600)
        if not res.ok:
            tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise HarnessError(f"host {h.name}: could not fetch {uri}: {tail}")
        return local_path_from_output(res.stdout), time.monotonic() - t

    failed = []
    for name, o in fan_out({h.name: h for h in used}, one).items():
        if o.error is not None:
            failed.append(str(o.error))
            continue
        path, seconds = o.value
        datasets[name] = path
        control.emit("dataset_fetch", host=name, uri=uri, path=path, seconds=seconds)
    if failed:
        raise HarnessError("; ".join(failed))


def _sync_code(remote: list[Host], transports, dataset: str | None, control: EventLog, env, datasets,
               script=None, scripts=None) -> None:
    bundle = build_bundle()

    def one(h: Host):
        t = time.monotonic()
        r = sync_host(transports[h.name], h, bundle, dataset, script)
        return r, time.monotonic() - t

    results = fan_out({h.name: h for h in remote}, one)
    failed = []
    for name, o in results.items():
        if o.error is not None:
            failed.append(str(o.error))
            continue
        r, seconds = o.value
        control.emit("sync", host=name, seconds=seconds, uploaded_bytes=r.uploaded_bytes, reused=r.reused,
                     bundle=bundle.digest, **({"script_bundle": script.digest, "script_path": r.script_path,
                                              "script_files": script.files} if script else {}))
        env[name] = {"PYTHONPATH": r.pythonpath}
        if r.script_path and scripts is not None:
            scripts[name] = r.script_path
        if r.dataset_path:
            datasets[name] = r.dataset_path
    if failed:
        raise HarnessError("; ".join(failed))


def _execute(plan: Plan, inv, transports, run_dir: Path, stop, progress, grace_s, keep_going, control,
             env, datasets, lease_s, scripts=None, fail_fast: bool = False) -> RunResult:
    from harness.waves import ConfigOutcome, run_waves

    hosts = {h.name: h for h in inv.hosts}
    by_name = {cp.name: cp for cp in plan.configs}
    leftovers: dict[str, list[int]] = {}
    waves = plan.wave_list()
    control.emit("schedule", mode="parallel" if plan.parallel else "sequential", waves=[list(w) for w in waves],
                 fail_fast=fail_fast)

    def run_one(name: str, scope) -> ConfigOutcome:
        cp = by_name[name]
        control.emit("config_start", config=cp.name, strategy=cp.strategy,
                     # The ranks' world size; under MPI one launcher task holds them all.
                     workers=max([t.spec.get("size") or 0 for t in cp.tasks if t.role != "sampler"]
                                 + [sum(1 for t in cp.tasks if t.rank is not None)]),
                     ps=sum(1 for t in cp.tasks if t.role == "ps"), hosts=list(cp.hosts),
                     instance_types={h: hosts[h].instance_type for h in cp.hosts},
                     configuration=cp.config or cp.name, repeat=cp.repeat, counted=cp.counted)
        sup = Supervisor(cp, transports, hosts, control, scope, extra_env=env, dataset_paths=datasets,
                         script_paths=scripts, progress=progress, grace_s=grace_s, lease_s=lease_s,
                         sweep_config_only=plan.parallel)
        outcome = sup.run()
        reason = outcome.reason
        if outcome.status == "stopped" and not stop.is_set():
            reason = "stopped because another configuration failed (--fail-fast)"
        control.emit("config_end", config=cp.name, status=outcome.status, reason=reason,
                     leftovers=outcome.leftovers)
        collected = collect_config(cp, transports, run_dir, sup.unreachable)
        for key, why in collected.errors.items():
            control.emit("collect_error", config=cp.name, task=key, error=why)
        control.emit("collected", config=cp.name)  # the end of this run's collection (cost model)
        for h, pids in outcome.leftovers.items():
            leftovers.setdefault(h, []).extend(pids)
        return ConfigOutcome(cp.name, outcome.status, reason)

    outcomes = run_waves(waves, run_one, stop, parallel=plan.parallel, keep_going=keep_going, fail_fast=fail_fast,
                         on_wave=lambda i, names: control.emit("wave_start", wave=i, configs=list(names)))
    status, reason = "succeeded", ""
    for o in outcomes:
        if o.status != "succeeded" and status == "succeeded":
            status, reason = o.status, f"{o.name}: {o.reason}"
    if status == "succeeded" and stop.is_set() and len(outcomes) < len(plan.configs):
        status, reason = "stopped", "stop requested (Ctrl-C or SIGTERM)"
    control.emit("run_end", status=status, reason=reason)
    from harness.report.render import write_report

    files = write_report(run_dir)
    return RunResult(run_dir, status, reason, leftovers, files)
