"""`harness attach`, `harness status` and `harness stop`: the commands of a detached run
(`harness run --detach`; README, "Long runs")."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from harness.cli.flags import ssh_flags, ssh_options
from harness.errors import HarnessError, Unreachable
from harness.protocol import layout

STOP_WAIT_S = 120.0


def register(sub) -> None:
    def common(p, hosts_help: str) -> None:
        p.add_argument("--runs-dir", default="runs", help="the runs root (default runs/)")
        p.add_argument("--hosts", metavar="INVENTORY", help=hosts_help)
        ssh_flags(p)

    look = ("inventory of the run's hosts: where to look for a run this machine does not know, and how to reach "
            "them (default: the run directory's copy)")
    att = sub.add_parser("attach", help="follow a detached run with the live table; when it ends, collect and "
                                        "report it as `run` does (Ctrl-C detaches again)")
    att.add_argument("run", metavar="RUN", help="run id (or run directory)")
    att.add_argument("--upload-to", metavar="s3://BUCKET/PREFIX", help="after the report, upload the run directory")
    common(att, look)
    st = sub.add_parser("status", help="where detached runs are: state, configuration, step, images/s, cost so far")
    st.add_argument("run", metavar="RUN", nargs="?", help="one run (default: every run this machine knows)")
    common(st, look)
    sp = sub.add_parser("stop", help="stop a detached run: its keepers stop every task as on a failure")
    sp.add_argument("run", metavar="RUN", help="run id (or run directory)")
    common(sp, look)


def cmd_attach(args) -> int:
    from harness import pipeline
    from harness.cli.progress import make_progress
    from harness.cli.run import print_result, signals_set

    stop = threading.Event()
    with signals_set(stop, "detaching; the run goes on on its hosts"):
        progress = make_progress()
        try:
            result = pipeline.attach(args.run, runs_root=args.runs_dir, hosts=args.hosts,
                                     ssh_options=ssh_options(args), stop=stop, progress=progress)
        finally:
            progress.close()
    return print_result(result, args.upload_to)


def _fetch(run_dir: Path, hosts: str | None, opts) -> tuple:
    """(DetachInfo, flags, state, error) of one run, asking its steward only."""
    from harness.stages.attach import load_run
    from harness.transport import open_transports, shell

    info, _, inv = load_run(run_dir, hosts)
    transports, failed = open_transports([inv.host(info.steward)], opts, partial=True)
    try:
        if failed:
            return info, None, None, str(failed[info.steward])
        res = transports[info.steward].exec(shell.keeper_follow_command(info.steward_dir, None), timeout=60)
        flags, state, _ = shell.parse_follow(res.stdout)
        try:
            return info, flags, json.loads(state) if state else None, ""
        except ValueError:
            return info, flags, None, ""
    except HarnessError as e:
        return info, None, None, str(e)
    finally:
        for tr in transports.values():
            tr.close()


def _local(run_dir: Path) -> tuple[list[dict], dict | None, dict | None]:
    from harness.protocol.events import read_jsonl

    control = read_jsonl(run_dir / layout.CONTROL_FILE)[0] if (run_dir / layout.CONTROL_FILE).exists() else []

    def doc(name: str):
        try:
            return json.loads((run_dir / name).read_text())
        except (OSError, ValueError):
            return None
    return control, doc(layout.RESOLVED_FILE), doc(layout.PRICES_FILE)


def _status_of(run_id: str, run_dir: Path, hosts: str | None, opts, reported: dict | None):
    from harness.prices import load_catalog
    from harness.stages import run_status

    control, resolved, prices = _local(run_dir)
    flags, state, error = None, None, ""
    if not reported:
        _, flags, state, error = _fetch(run_dir, hosts, opts)
    text = run_status.run_state(flags, state, reported, error)
    ends = [r.get("t_wall") for r in control if r.get("event") == "run_end"]
    end = ends[0] if ends else (state.get("t_wall") if state and state.get("phase") == "ended" else time.time())
    cost = run_status.cost_so_far(control, resolved, prices, load_catalog(), end)
    return text, state, cost


def cmd_status(args) -> int:
    from harness.stages import registry, run_status
    from harness.stages.attach import locate

    known = registry.known(Path(args.runs_dir))
    opts = ssh_options(args)
    if args.run:
        run_dir = locate(args.run, Path(args.runs_dir), args.hosts, opts)
        entry = known.get(run_dir.name) or {}
        text, state, cost = _status_of(run_dir.name, run_dir, args.hosts, opts,
                                       entry if entry.get("state") == "reported" else None)
        for line in run_status.describe(run_dir.name, text, state, cost):
            print(line)
        if text.startswith("steward unreachable"):
            raise Unreachable(f"run {run_dir.name}: {text}")
        return 0
    if not known:
        print(f"no detached runs known in {args.runs_dir}/ (harness run --detach; or harness status RUN --hosts INV)")
        return 0
    for rid, entry in known.items():
        run_dir = Path(entry.get("run_dir") or Path(args.runs_dir) / rid)
        try:
            text, state, cost = _status_of(rid, run_dir, entry.get("hosts_file") if not args.hosts else args.hosts,
                                           opts, entry if entry.get("state") == "reported" else None)
            print(run_status.summary(rid, text, state, cost))
        except HarnessError as e:
            print(f"{rid}  unknown: {e}")
    return 0


def cmd_stop(args) -> int:
    """Write the stop request on the steward and wait for the keepers to end the run."""
    from harness.stages.attach import load_run, locate, owner_text
    from harness.transport import open_transports, shell

    opts = ssh_options(args)
    run_dir = locate(args.run, Path(args.runs_dir), args.hosts, opts)
    info, _, inv = load_run(run_dir, args.hosts)
    transports, failed = open_transports([inv.host(info.steward)], opts, partial=True)
    if failed:
        raise Unreachable(f"{failed[info.steward]} — the run's steward; its keepers go on until they can be told")
    tr = transports[info.steward]
    try:
        path = f"{info.steward_dir}/{layout.STOP_REQUEST_FILE}"
        why = f"stop requested (harness stop by {owner_text()})"
        res = tr.exec(f"printf '%s\\n' {shell.q(why)} > {shell.q(path)}", timeout=60)
        if not res.ok:
            raise HarnessError(f"host {info.steward}: could not write the stop request: {res.stderr.strip()}")
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:
            flags, state, _ = shell.parse_follow(tr.exec(shell.keeper_follow_command(info.steward_dir, None),
                                                         timeout=60).stdout)
            doc = json.loads(state) if state else {}
            if doc.get("phase") == "ended" or not flags.get("alive"):
                end = doc.get("run_end") or {}
                print(f"run {info.run_id}: {end.get('status', 'ended')}"
                      + (f" ({end['reason']})" if end.get("reason") else "")
                      + f"; `harness attach {info.run_id}` collects and reports it", flush=True)
                return 0
            time.sleep(1.0)
        raise HarnessError(f"run {info.run_id}: the stop request is on host {info.steward}, but the run had not "
                           f"ended after {STOP_WAIT_S:g} s; `harness status {info.run_id}` shows where it is")
    finally:
        tr.close()


COMMANDS = {"attach": cmd_attach, "status": cmd_status, "stop": cmd_stop}

