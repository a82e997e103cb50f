"""`python -m harness.worker --task task.json`: one task on this host, as its spec says.

Imports only the standard library and harness.protocol until the task's own module is
chosen; the host needs nothing the control side uses (tests/integration/test_host_side.py checks).
A task.json this host cannot use (not a spec of this version, a mistyped field, a name
it does not know) ends the task before it starts: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import os
import sys

from harness.protocol.constants import WARM_NAME_ENV


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker")
    ap.add_argument("--task", required=True, help="task JSON written by the planner")
    args = ap.parse_args(argv)
    if os.environ.get(WARM_NAME_ENV):   # a zygote may serve it (harness/worker/warm.py); cold otherwise
        from harness.worker.warm import run_warm

        name = os.environ.pop(WARM_NAME_ENV)
        code = run_warm(name, args.task)
        if code is not None:
            return code
    # Imported only now: a warm task's stand-in does not need the spec's modules (~35 ms here).
    from harness.worker.entry import run_file

    return run_file(args.task)


if __name__ == "__main__":
    sys.exit(main())
