"""`harness sandbox rehearse --like INVENTORY -e EXPERIMENT`: one command for a study's
rehearsal. Starts one sandbox host per host of INVENTORY (its own sandbox directory, so a
sandbox already up is left alone), writes an inventory in which each sandbox host stands in
for one example host (harness.sandbox.like), runs the experiment on it like `harness run`,
prints the study tables of the report, and removes the sandbox again, also on failure."""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml

from harness.config.loading import read_yaml
from harness.errors import HarnessError, UsageError, report_error
from harness.protocol import layout


def rehearse(args) -> int:
    from harness import sandbox
    from harness.cli.run import run_and_print
    from harness.pipeline import new_run_id
    from harness.stages.options import RunOptions
    from harness.transport.ssh import SSHOptions
    from harness.sandbox.like import rehearsal_inventory
    from harness.sandbox.state import sandbox_dir

    example = read_yaml(args.like)
    if not isinstance(example, dict) or not example.get("hosts"):
        raise UsageError(f"{args.like}: not an inventory with hosts; pass e.g. hosts/examples/<study>.yaml")
    exp = read_yaml(args.experiment)
    name = exp.get("name") if isinstance(exp, dict) else None
    if not name:
        raise UsageError(f"{args.experiment}: no experiment name; pass an experiment YAML")
    d = Path(args.dir) if args.dir else sandbox_dir().with_name(f"sandbox-rehearse-{os.getpid()}")
    run_id = args.run_id or new_run_id(str(name))
    st = sandbox.up(sandbox.UpRequest(hosts=len(example["hosts"]), bandwidth=args.bandwidth or sandbox.DEFAULT_BANDWIDTH,
                                      out=str(d / "sandbox.yaml"), known_hosts=str(d / "known_hosts"),
                                      directory=str(d)))
    inv_path = Path(args.runs_dir) / f".{run_id}-inventory.yaml"
    try:
        doc = rehearsal_inventory(example, sandbox.inventory_dict(st), args.like)
        inv_path.parent.mkdir(parents=True, exist_ok=True)
        inv_path.write_text(f"# rehearsal: sandbox {st.tag} standing in for {args.like}\n"
                            + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        t0 = time.monotonic()
        try:
            rc = run_and_print(RunOptions(
                args.experiment, str(inv_path), ssh_options=SSHOptions(known_hosts=st.files[0]),
                runs_root=args.runs_dir, run_id=run_id, live_prices="off",
                parallel=True if args.parallel else (False if args.sequential else None), fail_fast=args.fail_fast))
        except HarnessError as e:  # said as `harness run` says it; the study tables still follow
            rc = report_error(e)
        wall = time.monotonic() - t0
    finally:
        sandbox.down(str(d))
        inv_path.unlink(missing_ok=True)
    run_dir = Path(args.runs_dir) / run_id
    if (run_dir / layout.CONTROL_FILE).is_file():
        from harness.report.write.study import study_tables

        print(f"\n{study_tables(run_dir)}")
        print(f"rehearsal wall time (sandbox up to down excluded): {wall:.1f} s; run directory {run_dir}")
    return rc
