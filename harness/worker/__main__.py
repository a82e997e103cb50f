"""`python -m harness.worker --task task.json`: one training task on this host."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker")
    ap.add_argument("--task", required=True, help="task JSON written by the planner")
    args = ap.parse_args(argv)
    with open(args.task, encoding="utf-8") as fh:
        spec = json.load(fh)
    if spec.get("role") == "sampler":
        from harness.worker.sampler import run_sampler

        return run_sampler(spec)
    from harness.worker.train import run_task

    return run_task(spec)


if __name__ == "__main__":
    sys.exit(main())
