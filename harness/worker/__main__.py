"""`python -m harness.worker --task task.json`: one task on this host, as its spec says.

Imports only the standard library and harness.protocol until the task's own module is
chosen; the host needs nothing the control side uses (tests/integration/test_host_side.py checks).
A task.json this host cannot use (not a spec of this version, a mistyped field, a name
it does not know) ends the task before it starts: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import sys

from harness.protocol import exits
from harness.protocol.spec import SpecError
from harness.worker.task_spec import read_task


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker")
    ap.add_argument("--task", required=True, help="task JSON written by the planner")
    args = ap.parse_args(argv)
    try:
        spec = read_task(args.task)
    except (OSError, SpecError) as e:
        print(f"harness.worker: {args.task}: {e}", file=sys.stderr)
        return exits.USAGE
    if spec.role == "sampler":
        from harness.worker.sampler import run_sampler

        return run_sampler(spec)
    from harness.worker.train import run_task

    return run_task(spec)


if __name__ == "__main__":
    sys.exit(main())
