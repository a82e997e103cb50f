"""The task spec as this host reads it: the protocol's checks (version, fields, types,
optimizer and dataset names; harness/protocol/spec.py) and what only the host side can
check (the model names of the models package, what a training task cannot start without).
Everything here raises SpecError, which the worker turns into one line and exit 2."""

from __future__ import annotations

import os

from harness.protocol.constants import SERVER_ROLES
from harness.protocol.spec import SpecError, TaskSpec
from harness.worker.mpi import as_mpi_rank
from harness.worker.servers import is_server
from models import MODEL_NAMES

# A built-in model's workload cannot train without these (the config requires them too).
MODEL_NEEDS = ("dataset", "batch_size", "epochs")
# Roles that never read the workload: Horovod's rendezvous and mpirun, the idle MPI host, a ps.
NO_WORKLOAD = (*SERVER_ROLES, "ps", "sampler")
# The cluster facts a server cannot start without (harness/strategies/ sets them).
CLUSTER_NEEDS = {"rendezvous": ("port", "slots"), "launcher": ("contexts",), "evaluator": ("watch_dir",)}


def read_task(path: str | os.PathLike) -> TaskSpec:
    spec = TaskSpec.read(path)
    check_usable(spec)
    return spec


def check_usable(spec: TaskSpec) -> None:
    where = f"task {spec.config}/{spec.task_id}"
    # A process mpirun started reads the launcher's task.json but trains: judge it as a rank.
    task = as_mpi_rank(spec)
    if is_server(task):
        missing = [n for n in CLUSTER_NEEDS.get(task.role, ()) if getattr(task.cluster, n) in (None, ())]
        if missing:
            raise SpecError(f"{where}: cluster: a {task.role} task needs {', '.join(missing)}")
    uses_workload = task.role not in NO_WORKLOAD
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
