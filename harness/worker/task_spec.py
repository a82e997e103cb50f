"""The task spec as this host reads it: the protocol's checks (version, fields, types,
optimizer and dataset names; harness/protocol/spec.py) and what only the host side can
check (the model names of the models package, what a training task cannot start without).
Everything here raises SpecError, which the worker turns into one line and exit 2."""

from __future__ import annotations

import os

from harness.protocol.layout import SAMPLER_ROLE
from harness.protocol.spec import SpecError, TaskSpec
from harness.worker import strategies
from harness.worker.mpi import as_mpi_rank
from harness.worker.servers import is_server
from models import MODEL_NAMES

# A built-in model's workload cannot train without these (the config requires them too).
MODEL_NEEDS = ("dataset", "batch_size", "epochs")
# Roles that never read the workload and the cluster facts (harness/strategies/ sets them)
# a server cannot start without are each strategy's own: its part's NO_WORKLOAD and
# CLUSTER_NEEDS (harness/worker/strategies/).


def read_task(path: str | os.PathLike) -> TaskSpec:
    spec = TaskSpec.read(path)
    check_usable(spec)
    return spec


def check_usable(spec: TaskSpec) -> None:
    where = f"task {spec.config}/{spec.task_id}"
    # A process mpirun started reads the launcher's task.json but trains: judge it as a rank.
    task = as_mpi_rank(spec)
    if task.role == SAMPLER_ROLE:
        part = None
    else:
        try:
            part = strategies.part(task.strategy)
        except strategies.UnknownStrategy as e:
            raise SpecError(f"{where}: strategy: {e}") from None
    if part is not None and is_server(task):
        needs = getattr(part, "CLUSTER_NEEDS", {})
        missing = [n for n in needs.get(task.role, ()) if getattr(task.cluster, n) in (None, ())]
        if missing:
            raise SpecError(f"{where}: cluster: a {task.role} task needs {', '.join(missing)}")
    uses_workload = part is not None and task.role not in getattr(part, "NO_WORKLOAD", ())
    work = spec.workload
    if work is None:
        if uses_workload:
            raise SpecError(f"{where}: workload is missing; a {task.role} task trains or evaluates a model")
        return
    if work.model is not None:
        if work.model not in MODEL_NAMES:
            raise SpecError(f"{where}: workload.model: unknown model {work.model!r}; expected one of "
                            f"{', '.join(MODEL_NAMES)}")
        missing = [n for n in MODEL_NEEDS if getattr(work, n) is None]
        if missing:
            raise SpecError(f"{where}: workload: a built-in model needs {', '.join(missing)}")
    elif work.script is None and uses_workload:
        raise SpecError(f"{where}: workload names neither a model nor a script; give one of them")
