"""`harness hosts …`: argument parsing for the EC2 commands (discover, start, stop, prices).

Only argparse at import time: boto3 and the AWS modules are imported when a command runs,
so `harness --help`, `check` and `report` stay fast and work without boto3. AWS
credentials are never options here: boto3's chain (env, ~/.aws, --profile, SSO, instance
profile) is the only source."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli import instances as cli_instances
from harness.cli.flags import ssh_flags, ssh_options
from harness.errors import HarnessError


def register(subparsers):
    """Add `hosts` and its sub-commands to the CLI's subparsers. Returns the `hosts`
    sub-command set, so other `hosts …` commands can join it: a parser added there with
    `set_defaults(hosts_handler=fn)` is run by `run` like the ones here."""
    hosts = subparsers.add_parser("hosts", help="EC2: discover an inventory, start/stop instances, live prices")
    sub = hosts.add_subparsers(dest="hosts_command", required=True)

    d = sub.add_parser("discover", help="print an inventory (YAML) of the running instances matching tags/filters",
                       description="Example: harness hosts discover --region us-east-1 --tag Project=exp1 > hosts/ec2.yaml")
    _aws_flags(d)
    d.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="only instances with this tag (repeatable; the same key twice means either value)")
    d.add_argument("--filter", action="append", default=[], metavar="Name=N,Values=V1[,V2]",
                   help="an extra EC2 DescribeInstances filter (repeatable), e.g. Name=instance-type,Values=g4dn.xlarge")
    d.add_argument("--use-private-ip", action="store_true",
                   help="address hosts by private IP (when the control machine is inside the VPC)")
    d.add_argument("--user", default="ubuntu", help="SSH user of every host (default ubuntu; Amazon Linux: ec2-user)")
    d.add_argument("--key-dir", help="folder of private keys: key pair NAME → DIR/NAME.pem")
    d.add_argument("--out", type=Path, help="write the YAML to this file instead of stdout")
    d.add_argument("--fill", metavar="EXAMPLE", help="fill this example inventory's placeholder hosts (e.g. "
                   "hosts/examples/*.yaml) from the instances found, matched by Name tag, else by instance type")
    d.set_defaults(hosts_handler=_discover)

    for action, text in (("start", "start"), ("stop", "stop")):
        p = sub.add_parser(action, help=f"{text} the inventory's EC2 instances (labels.instance_id), after a cost estimate")
        _aws_flags(p)
        p.add_argument("--hosts", required=True, help="inventory YAML, e.g. from `harness hosts discover`")
        p.add_argument("--select", action="append", default=[], metavar="HOST|KEY=VALUE",
                       help="only these hosts (name or label selector; repeatable)")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument("--no-wait", action="store_true", help=f"return without waiting for the instances to be {action}ed")
        p.add_argument("--hours", type=float, default=1.0, help="hours to price in the estimate (default 1)")
        if action == "start":
            cli_instances.start_flags(p)
        p.set_defaults(hosts_handler=_lifecycle)

    pr = sub.add_parser("prices", help="live on-demand (Price List API) and spot prices, or why they are unavailable")
    _aws_flags(pr)
    pr.add_argument("--instance-type", "-t", action="append", default=[], metavar="TYPE",
                    help="instance type to price (repeatable)")
    pr.add_argument("--hosts", help="price the instance types of this inventory (spot: over its hosts' AZs)")
    pr.add_argument("--run-dir", type=Path, help="cache: read/write prices.json in this run directory")
    pr.add_argument("--json", action="store_true", help="print the prices.json document")
    pr.set_defaults(hosts_handler=_prices)

    setup = sub.add_parser("setup", help="only when asked: create a venv on every host and install the "
                                  "pinned training packages into it (never into the host's own Python)")
    setup.add_argument("--hosts", required=True, help="inventory YAML")
    setup.add_argument("--base-python", default="python3", help="interpreter on the hosts that creates the venv")
    setup.add_argument("--with", dest="with_", action="append", choices=["horovod"],
                       help="also build Horovod (once, on the first host, as a wheel copied to the others)")
    setup.add_argument("--gpu", choices=["auto", "yes", "no"], default="auto",
                       help="TensorFlow's CUDA build (tensorflow[and-cuda]); auto: on hosts where nvidia-smi lists a "
                            "GPU or the inventory gives gpus")
    ssh_flags(setup)
    setup.set_defaults(hosts_handler=cmd_hosts_setup)
    cli_instances.register(sub, _aws_flags)
    return sub


def _aws_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", help="AWS region (default: AWS_DEFAULT_REGION or the profile's region)")
    p.add_argument("--profile", help="named profile of ~/.aws/config (credentials are never taken as options)")
    p.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # a local stand-in such as moto_server


def _settings(args):
    from harness.aws.session import AwsSettings

    return AwsSettings(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)


def _read_inventory(path: str):
    # Not load_inventory: start/stop/prices need no key files, so a missing key is no error here.
    from harness.config.inventory import Inventory
    from harness.config.loading import parse_model, read_yaml

    return parse_model(Inventory, read_yaml(path), path)


def _discover(args) -> int:
    from harness.aws.discover import discover

    found, text = discover(_settings(args), args.tag, args.filter, use_private_ip=args.use_private_ip,
                           user=args.user, key_dir=args.key_dir)
    if args.fill:
        from harness.aws.discover import inventory_yaml
        from harness.aws.fill import fill_inventory
        from harness.config.loading import read_yaml

        doc, notes = fill_inventory(read_yaml(args.fill) or {}, found.inventory, args.fill)
        found.notes.extend(notes)
        found.inventory = doc
        text = inventory_yaml(doc, [f"{args.fill} filled by `harness hosts discover --fill`", *(line.lstrip("# ") for line in text.splitlines()[:2])])
    for n in found.notes:
        print(f"harness: note: {n}", file=sys.stderr)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"harness: wrote {args.out} ({len(found.inventory['hosts'])} hosts)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _lifecycle(args) -> int:
    from harness.aws.lifecycle import catalog_lookup, live_lookup, run_action
    from harness.prices.live import fetch_live_prices
    from harness.prices import load_catalog

    inv = _read_inventory(args.hosts)
    lookup = catalog_lookup(load_catalog())
    if args.hosts_command == "start":
        # Live prices when AWS answers; the catalog otherwise (the estimate says which).
        live = fetch_live_prices({h.instance_type for h in inv.hosts if h.instance_type}, _settings(args))
        lookup = live_lookup(live.prices, lookup)
    autostop = cli_instances.autostop_by_host(args, inv) if args.hosts_command == "start" else {}
    states = run_action(args.hosts_command, inv.hosts, _settings(args), lookup=lookup, hours=args.hours,
                        yes=args.yes, wait=not args.no_wait, select=args.select, autostop=autostop,
                        inventory=str(Path(args.hosts).resolve()))
    if args.hosts_command == "start" and states:
        return cli_instances.arm_after_start(args, inv, autostop, states)
    return 0


def _prices(args) -> int:
    from harness.prices.live import fetch_live_prices, prices_for_run
    from harness.errors import HarnessError, UsageError
    from harness.prices import CATALOG_FILE

    types, azs = list(args.instance_type), {}
    if args.hosts:
        for h in _read_inventory(args.hosts).hosts:
            if h.instance_type:
                types.append(h.instance_type)
                if h.labels.get("az"):
                    azs.setdefault(h.instance_type, set()).add(h.labels["az"])
    if not types:
        raise UsageError("no instance types: pass --instance-type TYPE (repeatable) or --hosts INVENTORY")
    if args.run_dir:
        result = prices_for_run(args.run_dir, types, _settings(args), azs_by_type=azs)
    else:
        result = fetch_live_prices(types, _settings(args), azs_by_type=azs)
    if result.prices is None:
        raise HarnessError(f"live prices unavailable: {result.reason}; reports use the bundled catalog "
                           f"({CATALOG_FILE}: dated us-east-1 list prices) instead")
    doc = result.prices
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"{'cached' if result.cached else 'live'} prices, USD per hour ({doc['source']}, as of {doc['as_of']}):")
        print(f"  {'instance type':<16} {'on-demand':>10} {'spot':>10}  spot by AZ (latest)")
        for t in sorted(set(types)):
            od, sp = doc["on_demand"].get(t), doc["spot"].get(t)
            by_az = ", ".join(f"{az} {p:g}" for az, p in (doc.get("spot_by_az", {}).get(t) or {}).items())
            print(f"  {t:<16} {od if od is not None else 'n/a':>10} {sp if sp is not None else 'n/a':>10}  {by_az}")
        print("  spot = the cheapest AZ's latest price (over the inventory's AZs when --hosts gives them)")
    for n in result.notes:
        print(f"harness: note: {n}", file=sys.stderr)
    if args.run_dir and not result.cached:
        print(f"harness: wrote {args.run_dir / 'prices.json'}", file=sys.stderr)
    return 0


def run(args) -> int:
    """Run the `hosts` sub-command in `args` (parsed by a parser that `register` extended)."""
    from harness.aws.session import install_log_redaction

    install_log_redaction()
    return args.hosts_handler(args)


def cmd_hosts_setup(args) -> int:
    from harness.preflight import hostsetup
    from harness.config import load_inventory
    from harness.transport import open_transports
    from harness.transport.fanout import fan_out

    inv = load_inventory(args.hosts)
    hosts = [h for h in inv.hosts if not h.is_local]
    if not hosts:
        raise HarnessError(f"{args.hosts}: no SSH hosts to set up (local hosts use this checkout's .venv)")
    horovod = "horovod" in (args.with_ or [])
    transports = open_transports(hosts, ssh_options(args))
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
            print(f"{ready[0].name}: building horovod {hostsetup.horovod_patch.VERSION} (once; copied to the other "
                  f"hosts) …", flush=True)
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
