"""The command table: the parser of every command and the dispatch. Each command's work is
in its own module (run, hosts, project, sandbox) or in the package it drives."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import __version__
from harness.cli import detached as cli_detached, hosts as cli_hosts, project as cli_project, run as cli_run, sandbox as cli_sandbox
from harness.cli import search as cli_search
from harness.cli.flags import ssh_flags, ssh_options
from harness.cli.run import DEFAULT_HOSTS
from harness.errors import HarnessError, report_error
from harness.protocol import layout


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="harness", description="Measure TensorFlow training throughput, "
                                 "start-up, utilization and cost across single-process and distributed setups.")
    ap.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    cli_run.register(sub)
    cli_detached.register(sub)

    chk = sub.add_parser("check", help="pre-flight check of every host of an inventory, in parallel")
    chk.add_argument("--hosts", default=DEFAULT_HOSTS, help=f"inventory YAML (default {DEFAULT_HOSTS})")
    chk.add_argument("--experiment", "-e", help="also check what this experiment needs (frameworks, ports)")
    ssh_flags(chk)

    cli_hosts.register(sub)
    cli_sandbox.register(sub)

    rep = sub.add_parser("report", help="rebuild the report of a run directory from its raw files")
    rep.add_argument("run_dir", type=Path)

    cli_project.register(sub)
    cli_search.register(sub)

    cmp_ = sub.add_parser("compare", help="put the configurations of several runs side by side (Markdown)")
    cmp_.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    cmp_.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    return ap


def _cmd_check(args) -> int:
    from harness.preflight.checklist import check_hosts

    return check_hosts(args.hosts, args.experiment, ssh_options(args))


def _cmd_report(args) -> int:
    from harness.report.write.render import write_report

    if not (args.run_dir / layout.CONTROL_FILE).is_file():
        raise HarnessError(f"{args.run_dir}: not a run directory (no control.jsonl); pass runs/<run-id>")
    for f in write_report(args.run_dir):
        print(f)
    return 0


def _cmd_compare(args) -> int:
    from harness.report.write.compare import compare_runs

    text = compare_runs(args.run_dirs)
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    import logging

    # paramiko reports dropped sockets at ERROR level on stderr; the harness turns them
    # into its own one-line errors naming the host, so its raw log would only confuse.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    args = _parser().parse_args(argv)
    try:
        commands = {"run": cli_run.cmd_run, "check": _cmd_check, "report": _cmd_report, "compare": _cmd_compare,
                    "hosts": cli_hosts.run, "sandbox": cli_sandbox.cmd_sandbox,
                    "project": cli_project.cmd_project, "search": cli_search.cmd_search, **cli_detached.COMMANDS}
        return commands[args.command](args)
    except HarnessError as e:
        return report_error(e)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
