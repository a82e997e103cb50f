"""`harness hosts status`, `harness hosts autostop`, and `hosts start --autostop`: the
instances the harness started, what they cost so far, and their autostop watchdogs.

Exit codes: 0 done; 1 AWS (or the ledger) failed; 2 bad input; 4 some host could not be
reached to arm (or cancel) its watchdog (`hosts start`: the instances did start, and the
first run on them arms it)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.cli.flags import between, ssh_flags, ssh_options
from harness.protocol import exits


def start_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--autostop", metavar="DURATION",
                   help="stop each started instance after this long idle with no run attached (e.g. 10m, 2h); "
                        "wins over the inventory's autostop")
    p.add_argument("--autostop-action", choices=["stop", "terminate"],
                   help="what EC2 does on autostop (default: the inventory's, else stop)")
    p.add_argument("--no-arm", action="store_true",
                   help="do not connect to arm the watchdog now (the first run arms it)")
    p.add_argument("--arm-wait", type=between(0, 3600), default=180.0, metavar="SECONDS",
                   help="how long to retry SSH to arm the watchdog after the start (default 180)")
    ssh_flags(p)


def register(sub, aws_flags) -> None:
    st = sub.add_parser("status", help="the instances the harness started: state, type, launched, $ so far, "
                                       "idle since, autostop deadline, and each one's ledger")
    aws_flags(st)
    st.add_argument("--all", action="store_true", help="also instances stopped more than a day ago")
    st.add_argument("--offline", action="store_true", help="do not ask EC2; the ledger alone")
    st.add_argument("--hosts", help="also ask each host's watchdog over SSH (this inventory's hosts)")
    ssh_flags(st)
    st.set_defaults(hosts_handler=cmd_status)

    au = sub.add_parser("autostop", help="arm, change or cancel the autostop watchdog on the inventory's hosts")
    au.add_argument("--hosts", required=True, help="inventory YAML")
    au.add_argument("--after", metavar="DURATION", help="idle time before the stop (default: the inventory's)")
    au.add_argument("--action", choices=["stop", "terminate"], help="recorded with the setting (EC2's shutdown "
                    "behaviour is set by `hosts start`)")
    au.add_argument("--cancel", action="store_true", help="stop the watchdogs; the instances keep running")
    au.add_argument("--select", action="append", default=[], metavar="HOST|KEY=VALUE")
    ssh_flags(au)
    au.set_defaults(hosts_handler=cmd_autostop)


def _autostop_override(after, action):
    from harness.config.autostop import Autostop
    from harness.errors import UsageError

    if after is None:
        return None
    try:
        return Autostop.model_validate({"after": after, **({"action": action} if action else {})})
    except ValueError as e:
        raise UsageError(f"--autostop {after!r}: {e.errors()[0]['msg'] if hasattr(e, 'errors') else e}") from None


def autostop_by_host(args, inv) -> dict:
    """host → Autostop for `hosts start`: --autostop wins, else the inventory's."""
    override = _autostop_override(args.autostop, args.autostop_action)
    return {h.name: merged_autostop(h.autostop, override, args.autostop_action) for h in inv.hosts}


def merged_autostop(own, override, action=None):
    """The command line's idle time and action over the inventory's autostop, keeping the
    inventory's shutdown command (dropping it would run the default `shutdown` instead)."""
    a = own
    if override is not None:
        a = override.model_copy(update={"command": own.command}) if own is not None else override
    if a is not None and action and a.action != action:
        a = a.model_copy(update={"action": action})
    return a


def arm_after_start(args, inv, autostop: dict, states: dict) -> int:
    from harness.aws.session import AwsSettings, make_session, client, region_of
    from harness.aws.started import arming_address
    from harness.aws.status import _describe
    from harness.config import load_inventory
    from harness.preflight.autostop import arm_hosts

    hosts = [h for h in load_inventory(args.hosts).hosts
             if autostop.get(h.name) and states.get(h.labels.get("instance_id")) == "running"]
    if not hosts:
        return 0
    if args.no_arm:
        print("autostop: not armed now (--no-arm); the first run on these hosts arms it")
        return 0
    settings = AwsSettings(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    session = make_session(settings)
    found = {}
    for region in sorted({h.labels.get("region") or region_of(session, settings) for h in hosts}):
        found.update(_describe(client("ec2", settings, session=session, region=region),
                               [h.labels["instance_id"] for h in hosts
                                if (h.labels.get("region") or region_of(session, settings)) == region]))
    reach = []
    for h in hosts:
        addr, note = arming_address(h.address or "", found.get(h.labels["instance_id"]) or {})
        if note:
            print(f"{h.name}: {note}")
        reach.append(h.model_copy(update={"address": addr}) if addr != h.address else h)
    print(f"autostop: arming the watchdog on {len(reach)} host(s) (waiting up to {args.arm_wait:g} s for SSH) …",
          flush=True)
    results = arm_hosts(reach, autostop, {h.name: h.labels["instance_id"] for h in hosts}, by="harness hosts start",
                        ssh_options=ssh_options(args), wait_s=args.arm_wait)
    return _print_armed(results, "the first run on it arms it; or `harness hosts autostop --hosts …`")


def _print_armed(results, hint: str) -> int:
    bad = 0
    for r in results:
        if r.ok:
            print(f"{r.host}: autostop {r.text}")
        else:
            bad += 1
            print(f"harness: error: {r.host}: autostop not armed: {r.text} ({hint})", file=sys.stderr)
    return exits.UNREACHABLE if bad else 0


def cmd_autostop(args) -> int:
    from harness.config import load_inventory
    from harness.errors import UsageError
    from harness.preflight.autostop import arm_hosts

    inv = load_inventory(args.hosts)
    hosts = inv.select(args.select) if args.select else list(inv.hosts)
    if not hosts:
        raise UsageError(f"--select {' '.join(args.select)}: no host of {args.hosts} matches")
    override = _autostop_override(args.after, args.action)
    settings = {h.name: None if args.cancel else merged_autostop(h.autostop, override, args.action) for h in hosts}
    missing = [h.name for h in hosts if not args.cancel and settings[h.name] is None]
    if missing:
        raise UsageError(f"{args.hosts}: no autostop for host(s) {', '.join(missing)}; pass --after 10m or "
                         "set `autostop: 10m` in the inventory (defaults or per host)")
    results = arm_hosts(hosts, settings, {h.name: h.labels.get("instance_id") for h in hosts},
                        by="harness hosts autostop", ssh_options=ssh_options(args))
    return _print_armed(results, "check that the host is reachable with `harness check`")


def cmd_status(args) -> int:
    from harness.aws import ledger
    from harness.aws.lifecycle import catalog_lookup, live_lookup
    from harness.aws.session import AwsSettings
    from harness.aws.status import current_lives, ledger_lines, reconcile, rows
    from harness.prices import load_catalog

    now = time.time()
    settings = AwsSettings(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    described, asked = {}, "not asked (--offline): states are the ledger's"
    if not args.offline:
        described = reconcile(settings, now=now)
        asked = "EC2 DescribeInstances"
    found = current_lives(now=now, include_stopped=args.all)
    path = ledger.ledger_path()
    if not found:
        print(f"no instance started by the harness in the ledger {path}")
        return 0
    lookup = catalog_lookup(load_catalog())
    types = {lf.instance_type for lf in found if lf.instance_type}
    price_note = "on-demand $/h: the live price list where it has the type, else the bundled catalog (source per row)"
    if not args.offline:
        from harness.prices.live import fetch_live_prices

        live = fetch_live_prices(types, settings)
        if live.prices is not None:
            lookup = live_lookup(live.prices, lookup)
        else:
            why = " ".join(str(live.reason).split())
            price_note += f"; live prices unavailable: {why[:157] + '…' if len(why) > 160 else why}"
    table = rows(found, described, lookup, now)
    head = ("host", "instance", "state", "type", "launched", "$ so far", "idle since", "autostop deadline")
    cells = [head] + [(r.host, r.instance_id, r.state, r.instance_type, r.launched,
                       f"${r.usd_so_far:.4f}" if r.usd_so_far is not None else "n/a", r.idle_since, r.deadline)
                      for r in table]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())
    print(f"\nstates: {asked}; {price_note}; $ so far = $/h × (launch → stop or now), at least 60 s:")
    for r in table:
        print(f"  {r.host}: {r.usd_text}")
    print(f"\nper-instance ledger ({path}; every second from launch in one part):")
    for lf in found:
        price = lookup(lf.instance_type)[0] if lf.instance_type else None
        print("\n".join(ledger_lines(lf, price)))
    _refresh_run_copies(found)
    if args.hosts:
        _print_watchdogs(args)
    return 0


def _refresh_run_copies(found) -> None:
    """The run that started an instance keeps a copy of its ledger records: bring it up to
    date (e.g. with the stop), so `harness report RUN` shows the whole life."""
    from harness.stages.instances import write_copy

    by_run: dict[str, list] = {}
    for lf in found:
        if lf.claimed_by and lf.claimed_by.get("run_dir"):
            by_run.setdefault(lf.claimed_by["run_dir"], []).append(lf)
    for run_dir, group in by_run.items():
        if Path(run_dir).is_dir():
            try:
                write_copy(Path(run_dir), {lf.instance_id for lf in group}, min(lf.launch for lf in group))
            except OSError as e:
                print(f"harness: note: could not refresh {run_dir}: {e}", file=sys.stderr)


def _print_watchdogs(args) -> None:
    from harness.config import load_inventory
    from harness.preflight.autostop import watchdog_status
    from harness.aws.status import fmt_time

    print("\nwatchdogs on the hosts (their own clocks):")
    for host, st in watchdog_status(load_inventory(args.hosts).hosts, ssh_options(args)).items():
        if st.get("error"):
            print(f"  {host}: cannot ask: {st['error']}")
        elif not st.get("config"):
            print(f"  {host}: no watchdog installed")
        else:
            fired = st.get("fired") or {}
            print(f"  {host}: {'running' if st.get('watchdog_alive') else 'not running'}; "
                  f"idle since {fmt_time(st.get('idle_since'))}, deadline {fmt_time(st.get('deadline'))}; "
                  f"busy: {', '.join(st.get('busy') or []) or 'nothing'}"
                  + (f"; FIRED {fmt_time(fired.get('t'))}: {fired.get('command')} → {fired.get('returncode')}"
                     if fired else ""))
