"""Stage 1, load: the experiment and the inventory, validated and checked against each
other, and with `--resume` what the earlier run left (its resume points). Reads files only."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.config import check_experiment_against_inventory, load_experiment, load_inventory
from harness.config.experiment import Experiment
from harness.config.hostfile import looks_like_hostfile, read_hostfile
from harness.config.inventory import Inventory
from harness.errors import UsageError
from harness import strategies
from harness.protocol import layout
from harness.protocol.events import read_jsonl


@dataclass(frozen=True)
class Inputs:
    experiment_path: str
    hosts_path: str
    experiment: Experiment
    inventory: Inventory
    resumed: Optional[dict] = None      # resume_points() of the run given to --resume
    resume_dir: Optional[Path] = None
    hostfile: Optional[dict] = None     # the inventory a hostfile stood for (written as inventory.yaml)


def load_inputs(experiment: str, hosts: str, resume: str | Path | None = None,
                repeats: int | None = None, *, hostfile: bool | None = None,
                env: tuple[tuple[str, str], ...] = (), workers: int | None = None) -> Inputs:
    """`hostfile`: read `hosts` as a Horovod/MPI hostfile (None: when it looks like one);
    `env` (`-x`) and `workers` (`-np`): the command line's overrides, applied after the
    files were checked and before the experiment is checked against the inventory."""
    exp = with_command_line(with_repeats(load_experiment(experiment), repeats), env, workers)
    if not exp.configurations:
        from harness.errors import UsageError
        raise UsageError(f"{experiment}: no configurations, only a search: section; run it with "
                         f"`harness search --hosts {hosts} -e {experiment} --budget USD`")
    is_hostfile = hostfile if hostfile is not None else looks_like_hostfile(hosts)
    inv = load_inventory(hosts, is_hostfile)
    check_experiment_against_inventory(exp, inv, experiment, hosts)
    resumed = resume_points(Path(resume)) if resume is not None else None
    return Inputs(experiment, hosts, exp, inv, resumed, Path(resume) if resume is not None else None,
                  read_hostfile(hosts) if is_hostfile else None)


def with_command_line(exp: Experiment, env: tuple[tuple[str, str], ...], workers: int | None) -> Experiment:
    """`-x NAME[=VALUE]` wins over every `env:` of the experiment (the workload's and each
    configuration's), as mpirun's -x does for its ranks; `-np N` sets the workers of every
    distributed configuration, as horovodrun's -np sets the ranks."""
    if not env and workers is None:
        return exp
    extra = dict(env)
    distributed = tuple(n for n, s in strategies.registry().items() if s.distributed)
    configs = []
    for cfg in exp.configurations:
        update = {"env": {**cfg.env, **extra}} if extra else {}
        if workers is not None and cfg.strategy in distributed:
            update["workers"] = workers
        configs.append(cfg.model_copy(update=update))
    if workers is not None and not any(c.strategy in distributed for c in exp.configurations):
        raise UsageError(f"-np {workers}: no configuration of the experiment is distributed "
                         f"({', '.join(distributed)}); set workers there, or drop -np")
    work = exp.workload.model_copy(update={"env": {**exp.workload.env, **extra}}) if extra else exp.workload
    return exp.model_copy(update={"configurations": configs, "workload": work})


def with_repeats(exp: Experiment, repeats: int | str | None) -> Experiment:
    """The experiment with `--repeats` applied (the command line wins over the file)."""
    if repeats is None:
        return exp
    if repeats != "auto" and not (isinstance(repeats, int) and 1 <= repeats <= 100):  # the file's own bound
        raise UsageError(f"--repeats {repeats}: give 1 to 100 runs per configuration, or auto")
    return exp.model_copy(update={"repeats": repeats})


def resume_points(old_run: Path) -> dict:
    """What `--resume` needs from an earlier run: {"run_id", "configs": {name: {"status",
    "from_step", "remaining_steps", "planned_steps", "checkpoint_path" (on its host, absolute),
    "checkpoint_host", "reason"}}} for every configuration that did not succeed (failed,
    interrupted, stopped or never run). Checkpoints come from the collected `checkpoint`
    events, the MPI ranks' files included; a relative path is under the task's directory
    on its host (old plan.json)."""
    from harness.stages.resume import resume_plan

    if not (old_run / layout.CONTROL_FILE).is_file() or not (old_run / layout.PLAN_FILE).is_file():
        raise UsageError(f"{old_run}: not a run directory (needs {layout.CONTROL_FILE} and {layout.PLAN_FILE})")
    control, _ = read_jsonl(old_run / layout.CONTROL_FILE)
    old_plan = json.loads((old_run / layout.PLAN_FILE).read_text())
    resolved_file = old_run / layout.RESOLVED_FILE
    resolved = json.loads(resolved_file.read_text()) if resolved_file.is_file() else {}
    exp_epochs = ((resolved.get("experiment") or {}).get("workload") or {}).get("epochs")
    status = {r.get("config"): r.get("status") for r in control if r.get("event") == "config_end"}
    # A resumed run that is resumed again: its own starting point still counts.
    earlier = next((r.get("configs") or {} for r in control if r.get("event") == "resume"), {})
    out = {}
    for cp in old_plan.get("configs", []):
        name = cp["name"]
        if status.get(name) == "succeeded":
            continue
        ckpts, steps_per_epoch = [], None
        # The epochs this configuration was told (its own workload may set them), else the experiment's.
        epochs = next((w.get("epochs") for t in cp["tasks"] for w in [((t.get("spec") or {}).get("workload") or {})]
                       if w.get("epochs")), exp_epochs)
        before = earlier.get(name) or {}
        if before.get("checkpoint_path"):
            ckpts.append({"step": before.get("from_step"), "path": before["checkpoint_path"],
                          "host": before.get("checkpoint_host")})
        for t in cp["tasks"]:
            if t.get("role") == layout.SAMPLER_ROLE:
                continue
            for e in task_records(old_run, t["host"], name, t["task_id"]):
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


def task_records(run_dir: Path, host: str, config: str, task_id: str) -> list[dict]:
    """A task's events, and under `launcher: mpi` those of the MPI ranks whose files are
    in its directory (events-rank<k>.jsonl): rank 0 writes the checkpoint records there."""
    tdir = layout.local_task_dir(run_dir, host, config, task_id)
    files = [tdir / layout.EVENTS_FILE] + [p for _, p in layout.rank_events_files(tdir)]
    return [e for f in files if f.is_file() for e in read_jsonl(f)[0]]
