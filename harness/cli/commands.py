"""Argument parsing only: each command calls into the pipeline or the report."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from harness import __version__
from harness.cli import hosts as cli_hosts, project as cli_project, sandbox as cli_sandbox
from harness.errors import HarnessError, Interrupted, RunFailed, report_error
from harness.protocol import layout

DEFAULT_EXPERIMENT = "experiments/default.yaml"
DEFAULT_HOSTS = "hosts/local.yaml"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="harness", description="Measure TensorFlow training throughput, "
                                 "start-up, utilization and cost across single-process and distributed setups.")
    ap.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an experiment on an inventory of hosts and write the report")
    run.add_argument("--experiment", "-e", help=f"experiment YAML (default {DEFAULT_EXPERIMENT}; with --resume, "
                     "the resumed run's copy)")
    run.add_argument("--hosts", help=f"inventory YAML (default {DEFAULT_HOSTS}; with --resume, the resumed run's copy)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="run again, as a new run, the configurations of RUN_DIR that did not succeed, each "
                          "from its latest checkpoint (e.g. after a spot interruption)")
    run.add_argument("--runs-dir", default="runs", help="where run directories are created (default runs/)")
    run.add_argument("--run-id", help="name of the run directory (default: experiment name + UTC time + random)")
    run.add_argument("--keep-going", action="store_true", help="run the remaining configurations after one fails")
    run.add_argument("--grace", type=_between(0, 3600), default=10.0, help="seconds between SIGTERM and SIGKILL when stopping tasks")
    run.add_argument("--upload-to", metavar="s3://BUCKET/PREFIX",
                     help="after the run (also a failed or stopped one), upload its directory to S3")
    run.add_argument("--lease", type=_between(5, 86400), default=60.0,
                     help="seconds a task keeps running on a host the control side can no longer reach (default 60)")
    run.add_argument("--repeats", type=_between(1, 100, int), metavar="N",
                     help="run every configuration N times, interleaved (overrides the experiment's repeats)")
    run.add_argument("--dry-run", action="store_true", help="validate and print the plan; start nothing")
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
    _ssh_flags(run)

    chk = sub.add_parser("check", help="pre-flight check of every host of an inventory, in parallel")
    chk.add_argument("--hosts", default=DEFAULT_HOSTS, help=f"inventory YAML (default {DEFAULT_HOSTS})")
    chk.add_argument("--experiment", "-e", help="also check what this experiment needs (frameworks, ports)")
    _ssh_flags(chk)

    hosts_cmds = cli_hosts.register(sub)
    setup = hosts_cmds.add_parser("setup", help="only when asked: create a venv on every host and install the "
                                  "pinned training packages into it (never into the host's own Python)")
    setup.add_argument("--hosts", required=True, help="inventory YAML")
    setup.add_argument("--base-python", default="python3", help="interpreter on the hosts that creates the venv")
    setup.add_argument("--with", dest="with_", action="append", choices=["horovod"],
                       help="also build Horovod (once, on the first host, as a wheel copied to the others)")
    setup.add_argument("--gpu", choices=["auto", "yes", "no"], default="auto",
                       help="TensorFlow's CUDA build (tensorflow[and-cuda]); auto: on hosts where nvidia-smi lists a "
                            "GPU or the inventory gives gpus")
    _ssh_flags(setup)
    setup.set_defaults(hosts_handler=_cmd_hosts_setup)

    cli_sandbox.register(sub)

    rep = sub.add_parser("report", help="rebuild the report of a run directory from its raw files")
    rep.add_argument("run_dir", type=Path)

    cli_project.register(sub)

    cmp_ = sub.add_parser("compare", help="put the configurations of several runs side by side (Markdown)")
    cmp_.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    cmp_.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    return ap


def _between(lo: float, hi: float, kind=float):
    """An argparse type: a number from lo to hi (a mistyped --lease 6000000 is refused,
    not obeyed)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo:g}..{hi:g}")
        return value
    return parse


def _ssh_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--known-hosts", help="OpenSSH known_hosts file to verify host keys against (default ~/.ssh/known_hosts)")
    p.add_argument("--trust-on-first-use", action="store_true",
                   help="record unknown host keys in the harness's known_hosts; refuse changed keys afterwards")
    p.add_argument("--insecure-no-host-key-check", action="store_true",
                   help="DANGEROUS: accept any host key (man-in-the-middle possible); prints a warning per host")


def _ssh_options(args):
    if not any(getattr(args, k, None) for k in ("known_hosts", "trust_on_first_use", "insecure_no_host_key_check")):
        return None
    from harness.transport.ssh import SSHOptions

    kw = {"trust_on_first_use": args.trust_on_first_use, "insecure_no_host_key_check": args.insecure_no_host_key_check}
    if args.known_hosts:
        kw["known_hosts"] = args.known_hosts
    return SSHOptions(**kw)


def _cmd_run(args) -> int:
    from harness import pipeline
    from harness.cli.progress import make_progress

    if args.resume is not None:
        args.experiment = args.experiment or str(args.resume / "experiment.yaml")
        args.hosts = args.hosts or str(args.resume / "inventory.yaml")
    args.experiment = args.experiment or DEFAULT_EXPERIMENT
    args.hosts = args.hosts or DEFAULT_HOSTS

    if args.dry_run:
        from pathlib import Path as P

        run_id = args.run_id or "dry-run"
        _, _, plan = pipeline.load_and_plan(args.experiment, args.hosts, run_id, P(args.runs_dir) / run_id,
                                            _parallel(args), args.repeats)
        waves = plan.wave_list()
        print(f"schedule: {'parallel' if plan.parallel else 'sequential'}, {len(waves)} wave(s): "
              + " | ".join(", ".join(w) for w in waves))
        for cp in plan.configs:
            print(f"{cp.name}: strategy {cp.strategy}, hosts {', '.join(cp.hosts)}")
            for t in cp.tasks:
                print(f"  {t.task_id:<12} role {t.role:<7} rank {t.rank!s:<4} host {t.host}  dir {t.task_dir}")
        return 0

    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():  # a second Ctrl-C: the user really wants out
            raise KeyboardInterrupt
        print(f"\nharness: {signal.Signals(signum).name} received; stopping every task on every host…",
              file=sys.stderr, flush=True)
        stop.set()

    # SIGHUP too: a closed terminal or ssh session must not orphan tasks on the hosts.
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    progress = make_progress()
    try:
        result = pipeline.run_experiment(args.experiment, args.hosts, runs_root=args.runs_dir, run_id=args.run_id,
                                         stop=stop, progress=progress, ssh_options=_ssh_options(args),
                                         grace_s=args.grace, keep_going=args.keep_going,
                                         live_prices=args.live_prices, lease_s=args.lease, resume=args.resume,
                                         parallel=_parallel(args), fail_fast=args.fail_fast,
                                         repeats=args.repeats)
    finally:
        progress.close()
        for s, h in old.items():
            signal.signal(s, h)
    print(f"run directory: {result.run_dir}")
    if args.upload_to:
        from harness.aws.s3 import s3_client, upload_run_dir
        from harness.aws.session import AwsSettings

        up = upload_run_dir(s3_client(AwsSettings()), result.run_dir, args.upload_to)
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


def _cmd_check(args) -> int:
    from harness.preflight import check
    from harness.config import load_inventory
    from harness.transport import open_transports

    inv = load_inventory(args.hosts)
    strategies, ports, plan, passed = {"single"}, {}, None, []
    if args.experiment:
        from harness import pipeline

        _, _, plan = pipeline.load_and_plan(args.experiment, args.hosts, "check", Path("runs") / "check")
        strategies = {cp.strategy for cp in plan.configs}
        for cp in plan.configs:
            for t in cp.tasks:
                ports.setdefault(t.host, []).extend(int(p) for p in t.spec.get("ports", []))
    transports, failures = open_transports(inv.hosts, _ssh_options(args), partial=True)
    try:
        checks = check.probe_hosts([h for h in inv.hosts if h.name in transports], transports,
                                   {h: sorted(set(p)) for h, p in ports.items()})
        if plan is not None:
            from harness.preflight import network as check_network

            need = check_network.needs(plan, {h.name: h for h in inv.hosts})
            for name, c in checks.items():
                problem = check_network.interpret_hostname(c.facts, need[name]) if c.facts and name in need else None
                if problem:
                    c.blockers.append(problem)
                elif c.facts and name in need and need[name].resolve:
                    passed.append(f"{name}: hostname {c.facts.get('hostname')!r} resolves to "
                                  f"{', '.join(c.facts.get('hostname_addresses') or [])}")
            if not any(c.blockers for c in checks.values()):  # listeners need the planned ports free
                for name, found in check_network.run_network_checks(
                        [h for h in inv.hosts if h.name in transports], transports, need, passed).items():
                    checks[name].blockers.extend(found)
    finally:
        for tr in transports.values():
            tr.close()
    for name, err in failures.items():
        checks[name] = check.HostCheck(name, False, blockers=[str(err)])
    checks = {h.name: checks[h.name] for h in inv.hosts}
    check.cross_host_problems(checks, strategies)
    check.render_table(checks)
    blocked = [c.host for c in checks.values() if c.blockers]
    for line in passed:  # what -e proved between the hosts
        print(f"ok: {line}")
    for c in checks.values():  # unwrapped, one line each: for logs and for grep
        for b in c.blockers:
            print(f"{c.host}: {b}")
    if failures:
        from harness.errors import Unreachable

        raise Unreachable(f"{len(failures)} of {len(checks)} host(s) unreachable: {', '.join(sorted(failures))}"
                          + (f"; not ready: {', '.join(b for b in blocked if b not in failures)}"
                             if set(blocked) - set(failures) else ""))
    if blocked:
        raise HarnessError(f"{len(blocked)} of {len(checks)} host(s) not ready: {', '.join(blocked)}")
    return 0


def _cmd_hosts_setup(args) -> int:
    from harness.preflight import hostsetup
    from harness.config import load_inventory
    from harness.transport import open_transports
    from harness.transport.fanout import fan_out

    inv = load_inventory(args.hosts)
    hosts = [h for h in inv.hosts if not h.is_local]
    if not hosts:
        raise HarnessError(f"{args.hosts}: no SSH hosts to set up (local hosts use this checkout's .venv)")
    horovod = "horovod" in (args.with_ or [])
    transports = open_transports(hosts, _ssh_options(args))
    try:
        def one(h):
            tr = transports[h.name]
            gpu = args.gpu == "yes" or (args.gpu == "auto" and hostsetup.host_has_gpu(tr, h))
            pkgs = hostsetup.packages_for(gpu, horovod)
            print(f"{h.name}: installing {' '.join(pkgs)} into {hostsetup.venv_dir(h)} …", flush=True)
            return hostsetup.setup_host(tr, h, pkgs, base_python=args.base_python)

        results = fan_out({h.name: h for h in hosts}, one)
        ready = [h for h in hosts if results[h.name].ok]
        versions = {}
        if horovod and ready:
            print(f"{ready[0].name}: building horovod {hostsetup.HOROVOD_VERSION} (once; copied to the other hosts) …",
                  flush=True)
            wheel = hostsetup.build_horovod_wheel(transports[ready[0].name], ready[0])
            versions = hostsetup.install_horovod(transports, ready, ready[0], wheel)
    finally:
        for tr in transports.values():
            tr.close()
    failed = 0
    for name, o in results.items():
        if o.ok:
            extra = f" (horovod {versions[name]})" if name in versions else ""
            print(f"{name}: ready{extra}; set `python: {o.value}` for this host in {args.hosts}")
        else:
            failed += 1
            print(f"harness: error: {o.error}", file=sys.stderr)
    return 1 if failed else 0


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
        commands = {"run": _cmd_run, "check": _cmd_check, "report": _cmd_report, "compare": _cmd_compare,
                    "hosts": cli_hosts.run, "sandbox": cli_sandbox.cmd_sandbox,
                    "project": cli_project.cmd_project}
        return commands[args.command](args)
    except HarnessError as e:
        return report_error(e)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
