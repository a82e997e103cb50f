"""One task file, run in this process: the spec read (one line and exit 2 when this host
cannot use it) and the task's module chosen by its role. What `python -m harness.worker`
and a warm zygote's child (warm.py) both do."""

from __future__ import annotations

import sys

from harness.protocol import exits
from harness.protocol.spec import SpecError
from harness.worker.task_spec import read_task


def run_file(task: str) -> int:
    try:
        spec = read_task(task)
    except (OSError, SpecError) as e:
        print(f"harness.worker: {task}: {e}", file=sys.stderr)
        return exits.USAGE
    if spec.role == "sampler":
        from harness.worker.sampler import run_sampler

        return run_sampler(spec)
    from harness.worker.train import run_task

    return run_task(spec)
