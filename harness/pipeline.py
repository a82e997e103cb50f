"""The stages of `harness run`, in order: load → check → plan → (launch → supervise →
collect) per configuration → report. Everything already written is kept on failure."""

from __future__ import annotations

import json
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
from harness.errors import HarnessError, UsageError
from harness.events import EventLog
from harness.launch import Supervisor
from harness.live_prices import fetch_for_run, wants_live_prices
from harness.plan import Plan, build_plan
from harness.bundle import build_bundle
from harness.sync import needs_sync, sync_host
from harness.transport import open_transports
from harness.transport.fanout import fan_out


@dataclass
class RunResult:
    run_dir: Path
    status: str                 # succeeded | failed | stopped | timeout
    reason: str
    leftovers: dict[str, list[int]]
    report_files: list[Path]


def load_and_plan(experiment: str, hosts: str, run_id: str, run_dir: Path):
    exp = load_experiment(experiment)
    inv = load_inventory(hosts)
    check_experiment_against_inventory(exp, inv, experiment, hosts)
    return exp, inv, build_plan(exp, inv, run_id, run_dir)


def new_run_id(name: str) -> str:
    # Time-ordered and unique, so a re-run never collides with an earlier run's files.
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def run_experiment(experiment: str, hosts: str, *, runs_root: str = "runs", run_id: str | None = None,
                   stop: threading.Event | None = None, progress: Callable | None = None,
                   ssh_options=None, grace_s: float = 10.0, keep_going: bool = False,
                   live_prices: str = "auto", lease_s: float = 60.0) -> RunResult:
    stop = stop or threading.Event()
    exp = load_experiment(experiment)
    run_id = run_id or new_run_id(exp.name)
    run_dir = Path(runs_root) / run_id
    if run_dir.exists():
        raise UsageError(f"{run_dir}: run directory already exists; choose another --run-id")
    exp, inv, plan = load_and_plan(experiment, hosts, run_id, run_dir)

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
            control.emit("run_start", run_id=plan.run_id, experiment=plan.experiment, harness_version=__version__)
            control.emit("connect", hosts=[h.name for h in used], seconds=connect_s)
            if wants_live_prices(live_prices, used):
                control.emit("prices", **fetch_for_run(run_dir, used))
            env, datasets = _sync(used, transports, exp.workload.dataset.path if exp.workload.dataset else None, control)
            return _execute(plan, inv, transports, run_dir, stop, progress, grace_s, keep_going, control, env,
                            datasets, lease_s)
    finally:
        for tr in transports.values():
            tr.close()


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


def _sync(used: list[Host], transports, dataset: str | None, control: EventLog):
    """Code and data onto every SSH host, in parallel; per-host PYTHONPATH and dataset path."""
    checkout = str(Path(__file__).resolve().parent.parent)
    env = {h.name: {"PYTHONPATH": checkout} for h in used if not needs_sync(h)}
    datasets: dict[str, str] = {}
    remote = [h for h in used if needs_sync(h)]
    if not remote:
        return env, datasets
    bundle = build_bundle()

    def one(h: Host):
        t = time.monotonic()
        r = sync_host(transports[h.name], h, bundle, dataset)
        return r, time.monotonic() - t

    results = fan_out({h.name: h for h in remote}, one)
    failed = []
    for name, o in results.items():
        if o.error is not None:
            failed.append(str(o.error))
            continue
        r, seconds = o.value
        control.emit("sync", host=name, seconds=seconds, uploaded_bytes=r.uploaded_bytes, reused=r.reused,
                     bundle=bundle.digest)
        env[name] = {"PYTHONPATH": r.pythonpath}
        if r.dataset_path:
            datasets[name] = r.dataset_path
    if failed:
        raise HarnessError("; ".join(failed))
    return env, datasets


def _execute(plan: Plan, inv, transports, run_dir: Path, stop, progress, grace_s, keep_going, control,
             env, datasets, lease_s) -> RunResult:
    hosts = {h.name: h for h in inv.hosts}
    status, reason, leftovers = "succeeded", "", {}
    for cp in plan.configs:
        if stop.is_set():
            break
        control.emit("config_start", config=cp.name, strategy=cp.strategy,
                     # The ranks' world size; under MPI one launcher task holds them all.
                     workers=max([t.spec.get("size") or 0 for t in cp.tasks if t.role != "sampler"]
                                 + [sum(1 for t in cp.tasks if t.rank is not None)]),
                     ps=sum(1 for t in cp.tasks if t.role == "ps"), hosts=list(cp.hosts),
                     instance_types={h: hosts[h].instance_type for h in cp.hosts})
        sup = Supervisor(cp, transports, hosts, control, stop, extra_env=env, dataset_paths=datasets,
                         progress=progress, grace_s=grace_s, lease_s=lease_s)
        outcome = sup.run()
        control.emit("config_end", config=cp.name, status=outcome.status, reason=outcome.reason,
                     leftovers=outcome.leftovers)
        collected = collect_config(cp, transports, run_dir, sup.unreachable)
        for key, why in collected.errors.items():
            control.emit("collect_error", config=cp.name, task=key, error=why)
        for h, pids in outcome.leftovers.items():
            leftovers.setdefault(h, []).extend(pids)
        if outcome.status != "succeeded" and status == "succeeded":
            status, reason = outcome.status, f"{cp.name}: {outcome.reason}"
        if outcome.status in ("stopped",) or (outcome.status != "succeeded" and not keep_going):
            break
    control.emit("run_end", status=status, reason=reason)
    from harness.report.render import write_report

    files = write_report(run_dir)
    return RunResult(run_dir, status, reason, leftovers, files)
