"""Stage 5, bind: the plan's tasks made final with what only this run knows, after sync.

Per task (and per warm zygote): PYTHONPATH (where the code is on its host), the dataset's and the user's script's
location on its host, the resume point (`--resume`) and the instance metadata URL (spot watch). The bound plan
is written once as plan.json and each task's spec is shipped unchanged as its task.json;
nothing after this stage changes a spec. PURE: no host, file or clock is touched."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

from harness.stages.plan import Plan, Task
from harness.protocol.layout import SAMPLER_ROLE
from harness.stages.sync import HostSync


def bind(plan: Plan, synced: Mapping[str, HostSync], resumed: Optional[dict] = None,
         imds_url: Optional[str] = None) -> Plan:
    """`synced`: what sync did on every host of the plan; `resumed`: harness.stages.load.resume_points of the earlier
    run (its configurations to resume); `imds_url`: an override of the metadata address."""
    todo = (resumed or {}).get("configs") or {}
    configs = []
    for cp in plan.configs:
        r = todo.get(cp.name)
        resume_from = ({"run_id": resumed["run_id"], "checkpoint_path": r["checkpoint_path"],
                        "step": r["from_step"]} if r is not None else None)
        tasks = tuple(bind_task(t, synced[t.host], resume_from, imds_url) for t in cp.tasks)
        configs.append(dataclasses.replace(cp, tasks=tasks))
    # A zygote imports the harness like its tasks do: from where the code is on its host
    # (without it, an SSH host's zygote finds no harness and a local one whatever is installed).
    zygotes = tuple(dataclasses.replace(z, env={**z.env, "PYTHONPATH": synced[z.host].pythonpath})
                    for z in plan.zygotes)
    return dataclasses.replace(plan, configs=tuple(configs), zygotes=zygotes)


def bind_task(t: Task, where: HostSync, resume_from: Optional[dict], imds_url: Optional[str]) -> Task:
    spec = t.spec
    changes: dict = {}
    if spec.workload is not None and (where.dataset_path or where.script_path):
        work = spec["workload"]
        if where.dataset_path and work.get("dataset"):
            work = {**work, "dataset": {**work["dataset"], "path": where.dataset_path}}
        if where.script_path and work.get("script"):
            work = {**work, "script": where.script_path}
        changes["workload"] = work
    if resume_from is not None and t.role != SAMPLER_ROLE and spec.workload is not None:
        changes["resume_from"] = resume_from
    if imds_url and spec.spot_watch is not None:
        changes["imds_url"] = imds_url
    return dataclasses.replace(t, spec=spec.replace(**changes) if changes else spec,
                               env={**t.env, "PYTHONPATH": where.pythonpath})
