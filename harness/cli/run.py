"""`harness run`: its flags, the plan of `--dry-run`, and one whole run with its live table,
signal handling and printed results (also what the study rehearsal calls)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from harness.cli.flags import between, repeats_arg, ssh_flags, ssh_options
from harness.config.envvars import why_refused
from harness.errors import Interrupted, RunFailed, UsageError
from harness.stages.options import RunOptions

DEFAULT_EXPERIMENT = "experiments/default.yaml"
DEFAULT_HOSTS = "hosts/local.yaml"


def register(sub) -> None:
    run = sub.add_parser("run", help="run an experiment on an inventory of hosts and write the report")
    run.add_argument("--experiment", "-e", help=f"experiment YAML (default {DEFAULT_EXPERIMENT}; with --resume, "
                     "the resumed run's copy)")
    inventory = run.add_mutually_exclusive_group()
    inventory.add_argument("--hosts", help=f"inventory YAML, or a Horovod/MPI hostfile (default {DEFAULT_HOSTS}; "
                           "with --resume, the resumed run's copy)")
    inventory.add_argument("--hostfile", metavar="FILE",
                           help="a Horovod/MPI hostfile as the inventory: `host slots=N` per line (N ranks there)")
    run.add_argument("-np", type=between(1, 100000, int), dest="np", metavar="N",
                     help="workers (ranks) of every distributed configuration, as horovodrun's -np")
    run.add_argument("-x", action="append", default=[], dest="export", metavar="NAME[=VALUE]",
                     help="set NAME (to VALUE, or to its value here) for every task, as mpirun's -x; wins over "
                          "env: in the experiment (repeatable)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="run again, as a new run, the configurations of RUN_DIR that did not succeed, each "
                          "from its latest checkpoint (e.g. after a spot interruption)")
    run.add_argument("--runs-dir", default="runs", help="where run directories are created (default runs/)")
    run.add_argument("--run-id", help="name of the run directory (default: experiment name + UTC time + random)")
    run.add_argument("--keep-going", action="store_true", help="run the remaining configurations after one fails")
    run.add_argument("--grace", type=between(0, 3600), default=10.0, help="seconds between SIGTERM and SIGKILL when stopping tasks")
    run.add_argument("--upload-to", metavar="s3://BUCKET/PREFIX",
                     help="after the run (also a failed or stopped one), upload its directory to S3")
    run.add_argument("--lease", type=between(5, 86400), default=90.0,
                     help="seconds a task keeps running on a host the control side can no longer reach (default 90; "
                          "at least --connection-grace + 5)")
    run.add_argument("--connection-grace", type=between(0, 86400), default=60.0, metavar="SECONDS",
                     help="a host the control side cannot reach for less than this is reconnected and the run goes "
                          "on (default 60; 0: the first failed poll fails the run)")
    run.add_argument("--repeats", type=repeats_arg, metavar="N|auto",
                     help="run every configuration N times, interleaved, or `auto`: until every comparison the "
                          "recommendation needs is decided, at most max_repeats (overrides the experiment's repeats)")
    run.add_argument("--dry-run", action="store_true", help="validate and print the plan; start nothing")
    run.add_argument("--detach", action="store_true",
                     help="hand the run to keepers on its hosts and return once the first configuration runs; "
                          "`harness attach RUN` follows, collects and reports it (README, Long runs)")
    order = run.add_mutually_exclusive_group()
    order.add_argument("--parallel", action="store_true", default=None,
                       help="run configurations whose hosts do not overlap at the same time, in waves "
                            "(as `parallel: true` in the experiment)")
    order.add_argument("--sequential", action="store_true",
                       help="one configuration after another, even if the experiment says parallel: true")
    run.add_argument("--fail-fast", action="store_true",
                     help="in parallel: the first failed configuration stops every other one")
    run.add_argument("--live-prices", choices=("auto", "on", "off"), default="auto",
                     help="fetch on-demand/spot prices from AWS into the run (auto: when hosts came from EC2 discovery)")
    ssh_flags(run)


def options(args) -> RunOptions:
    """The run the flags ask for, with the defaults (and a resumed run's own copies) filled in."""
    experiment, hosts = args.experiment, args.hosts or args.hostfile
    if args.resume is not None:
        experiment = experiment or str(args.resume / "experiment.yaml")
        hosts = hosts or str(args.resume / "inventory.yaml")
    return RunOptions(experiment=experiment or DEFAULT_EXPERIMENT, hosts=hosts or DEFAULT_HOSTS,
                      runs_root=args.runs_dir, run_id=args.run_id, ssh_options=ssh_options(args),
                      grace_s=args.grace, keep_going=args.keep_going, live_prices=args.live_prices,
                      lease_s=args.lease, connection_grace_s=args.connection_grace, resume=args.resume,
                      parallel=_parallel(args), fail_fast=args.fail_fast, repeats=args.repeats,
                      upload_to=args.upload_to, hostfile=True if args.hostfile else None,
                      env=exports(args.export), workers=args.np, detach=args.detach)


def exports(items: list[str]) -> tuple[tuple[str, str], ...]:
    """-x NAME=VALUE, or -x NAME for NAME's value in this environment (mpirun's -x)."""
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        why = why_refused(name)
        if why:
            raise UsageError(f"-x {name}: {why}")
        if not eq:
            if name not in os.environ:
                raise UsageError(f"-x {name}: not set in this environment; give it as -x {name}=VALUE")
            value = os.environ[name]
        out[name] = value
    return tuple(out.items())


def cmd_run(args) -> int:
    opts = options(args)
    if args.dry_run:
        from harness import pipeline

        from harness.prices import load_catalog
        from harness.stages.worst_case import describe, worst_case

        exp, inv, plan = pipeline.load_and_plan(opts, opts.run_id or "dry-run")
        waves = plan.wave_list()
        print(f"schedule: {'parallel' if plan.parallel else 'sequential'}, {len(waves)} wave(s): "
              + " | ".join(", ".join(w) for w in waves))
        own = {c.name: c.workload.model_dump() for c in exp.configurations}  # a configuration's own workload
        for cp in plan.configs:
            work = own.get(cp.config or cp.name)
            print(f"{cp.name}: strategy {cp.strategy}, hosts {', '.join(cp.hosts)}"
                  + (f", workload {', '.join(f'{k} {v}' for k, v in work.items())}" if work else ""))
            for t in cp.tasks:
                print(f"  {t.task_id:<12} role {t.role:<7} rank {t.rank!s:<4} host {t.host}  dir {t.task_dir}")
        print(describe(worst_case(plan, inv, load_catalog())))
        return 0
    return run_and_print(opts)


def run_and_print(opts: RunOptions) -> int:
    """One whole run as `harness run` does it (live table, signals, the run directory and
    report printed, the upload). Raises the run's failure as a HarnessError, like every
    command."""
    from harness import pipeline
    from harness.cli.progress import make_progress

    stop = threading.Event()

    what = ("detaching now: the run goes on on its hosts" if opts.detach else
            "stopping every task on every host…")
    with signals_set(stop, what):
        progress = make_progress()
        try:
            result = pipeline.run(opts, stop=stop, progress=progress)
        finally:
            progress.close()
    return print_result(result, opts.upload_to)


@contextlib.contextmanager
def signals_set(stop: threading.Event, what: str):
    """SIGINT, SIGTERM and SIGHUP set `stop` (a second one raises KeyboardInterrupt)."""
    def on_signal(signum, frame):
        if stop.is_set():  # a second Ctrl-C: the user really wants out
            raise KeyboardInterrupt
        print(f"\nharness: {signal.Signals(signum).name} received; {what}", file=sys.stderr, flush=True)
        stop.set()

    # SIGHUP too: a closed terminal or ssh session must not orphan tasks on the hosts.
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def print_result(result, upload_to: str | None) -> int:
    """What `run` and `attach` print at the end, and their exit (a failure raises)."""
    if result.status == "detached":
        rid = result.run_dir.name
        print(f"run {rid} detached: {result.reason}")
        print(f"run directory: {result.run_dir}")
        print(f"  harness status {rid}    where it is   |   harness attach {rid}    follow, collect and report"
              f"   |   harness stop {rid}")
        return 0
    print(f"run directory: {result.run_dir}")
    if upload_to:
        from harness.aws.s3 import s3_client, upload_run_dir
        from harness.aws.session import AwsSettings

        up = upload_run_dir(s3_client(AwsSettings()), result.run_dir, upload_to)
        print(f"uploaded {up.files} files ({up.bytes} bytes) to {up.uri}")
    for f in result.report_files:
        print(f"  {f}")
    if result.leftovers:
        for host, pids in result.leftovers.items():
            print(f"harness: warning: host {host}: processes of this run still present: {pids}", file=sys.stderr)
    if result.status == "stopped":
        raise Interrupted(f"run stopped: {result.reason}; partial results kept in {result.run_dir}")
    if result.status != "succeeded":
        raise RunFailed(f"run {result.status}: {result.reason}; partial results kept in {result.run_dir}")
    return 0


def _parallel(args) -> bool | None:
    """--parallel → True, --sequential → False, neither → the experiment's `parallel`."""
    return True if args.parallel else (False if args.sequential else None)
