"""`harness hosts start/stop`: start or stop the EC2 instances of an inventory (their ids
are in labels.instance_id, as `hosts discover` writes them), after a printed cost
estimate and a confirmation, then wait until EC2 reports them running/stopped. Both
append what they did to the instance ledger (harness/aws/ledger.py, records built in
harness/aws/started.py); with autostop, start first sets each instance's
instance-initiated shutdown behaviour (stop or terminate)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, TextIO

from harness.aws.session import AwsSettings, aws_errors, client, make_session, region_of
from harness.config.inventory import selector_matches
from harness.errors import HarnessError, UsageError

# instance type → (on-demand USD per hour or None, where the number comes from)
PriceLookup = Callable[[str], tuple[Optional[float], str]]

ACTIONS = {"start": ("start_instances", "instance_running", "running"),
           "stop": ("stop_instances", "instance_stopped", "stopped")}


@dataclass(frozen=True)
class Target:
    host: str
    instance_id: str
    instance_type: Optional[str]
    region: Optional[str]
    lifecycle: str  # "spot" or "on-demand"


def targets_from_hosts(hosts: Iterable[Any], select: Sequence[str] = ()) -> tuple[list[Target], list[str]]:
    """Hosts (inventory Host models or dicts) → targets; hosts without labels.instance_id
    are left out with a note. `select` keeps only the named hosts (or label key=value)."""
    targets, notes = [], []
    for h in hosts:
        get = h.get if isinstance(h, Mapping) else lambda k, d=None, _h=h: getattr(_h, k, d)
        name, labels = get("name"), dict(get("labels") or {})
        if select and not any(selector_matches(name, labels, s) for s in select):
            continue
        iid = labels.get("instance_id")
        if not iid:
            notes.append(f"host {name}: no labels.instance_id; not an EC2 instance the harness knows, skipped")
            continue
        targets.append(Target(name, iid, get("instance_type"), labels.get("region") or None,
                              labels.get("lifecycle") or "on-demand"))
    return targets, notes


def catalog_lookup(catalog) -> PriceLookup:
    """A PriceLookup over harness.prices' bundled catalog."""
    def lookup(itype: str):
        e = catalog.get(itype)
        return (e.on_demand_usd_per_hour, f"catalog {catalog.name}, as of {e.as_of}") if e else (None, "")
    return lookup


def live_lookup(prices_doc: Optional[Mapping[str, Any]], fallback: Optional[PriceLookup] = None) -> PriceLookup:
    """A PriceLookup over a prices.json document, falling back to `fallback`."""
    table = (prices_doc or {}).get("on_demand") or {}

    def lookup(itype: str):
        if itype in table:
            return float(table[itype]), f"live price list, as of {prices_doc.get('as_of')}"
        return fallback(itype) if fallback else (None, "")
    return lookup


@dataclass(frozen=True)
class CostEstimate:
    usd: Optional[float]  # None when some instance's price is unknown
    usd_per_hour: float  # sum of the known prices
    lines: list[str]


def estimate_cost(targets: Sequence[Target], hours: float, lookup: PriceLookup) -> CostEstimate:
    """hours × on-demand $/h per instance. Spot instances are billed at the spot price,
    which is at most on-demand: the estimate is then an upper bound, and says so."""
    lines, total, unknown = [], 0.0, False
    for t in targets:
        price, source = lookup(t.instance_type) if t.instance_type else (None, "")
        if price is None:
            unknown = True
            lines.append(f"  {t.host} ({t.instance_id}, {t.instance_type or 'type unknown'}): price unknown")
            continue
        total += price
        bound = " (spot: billed at the spot price, at most this)" if t.lifecycle == "spot" else ""
        lines.append(f"  {t.host} ({t.instance_id}, {t.instance_type}): ${price:g}/h × {hours:g} h = "
                     f"${price * hours:.2f}{bound} [{source}]")
    return CostEstimate(None if unknown else total * hours, total, lines)


def confirm(question: str, assume_yes: bool, *, input_fn: Callable[[str], str] = input,
            interactive: Optional[bool] = None) -> bool:
    """True when the user agreed (or --yes). Without a terminal there is nobody to ask:
    refuse instead of hanging or guessing."""
    if assume_yes:
        return True
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise UsageError(f"{question.rstrip('? ')}: not on a terminal to ask; pass --yes to confirm")
    answer = input_fn(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


@dataclass
class Change:
    states: dict[str, str]  # instance id → state after the request (after the wait, if any)
    previous: dict[str, str]  # instance id → state before it
    instances: dict[str, dict]  # instance id → DescribeInstances entry, after
    requested_at: float
    settled_at: Optional[float]  # when the waiter returned; None without --wait


def change_state(action: str, targets: Sequence[Target], ec2, *, wait: bool = True,
                 waiter_delay_s: float = 5.0, waiter_max_attempts: int = 120) -> Change:
    """Start or stop the instances with one request, then wait and describe them."""
    call, waiter_name, _ = ACTIONS[action]
    ids = [t.instance_id for t in targets]
    requested_at = time.time()
    resp = getattr(ec2, call)(InstanceIds=ids)
    key = "StartingInstances" if action == "start" else "StoppingInstances"
    states = {c["InstanceId"]: c.get("CurrentState", {}).get("Name", "?") for c in resp.get(key, [])}
    previous = {c["InstanceId"]: c.get("PreviousState", {}).get("Name", "?") for c in resp.get(key, [])}
    settled = None
    if wait:
        ec2.get_waiter(waiter_name).wait(InstanceIds=ids, WaiterConfig={"Delay": waiter_delay_s,
                                                                        "MaxAttempts": waiter_max_attempts})
        settled = time.time()
    desc = ec2.describe_instances(InstanceIds=ids)
    instances = {i["InstanceId"]: i for r in desc["Reservations"] for i in r["Instances"]}
    if wait:
        states = {iid: i["State"]["Name"] for iid, i in instances.items()}
    return Change(states, previous, instances, requested_at, settled)


def set_shutdown_behavior(ec2, instance_ids: Iterable[str], behavior: str) -> None:
    """What EC2 does when the instance shuts itself down (the autostop watchdog's command):
    stop, or terminate. One request per instance (the API takes one id); the Attribute/Value
    form of the request (moto's server implements only this one)."""
    for iid in instance_ids:
        ec2.modify_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior", Value=behavior)


def run_action(action: str, hosts: Iterable[Any], settings: AwsSettings, *, lookup: PriceLookup,
               hours: float = 1.0, yes: bool = False, wait: bool = True, select: Sequence[str] = (),
               input_fn: Callable[[str], str] = input, interactive: Optional[bool] = None,
               out: Optional[TextIO] = None, waiter_delay_s: float = 5.0,
               autostop: Optional[Mapping[str, Any]] = None, inventory: str = "",
               ledger_file=None) -> dict[str, str]:
    """The whole `hosts start|stop`: targets, estimate, confirmation, requests per region,
    then the ledger records. `autostop`: host → its Autostop (or None)."""
    from harness.aws import ledger, started

    autostop = autostop or {}
    out = out or sys.stdout  # looked up now: a default bound at import would miss redirections
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}; use start or stop")
    targets, notes = targets_from_hosts(hosts, select)
    for n in notes:
        print(f"note: {n}", file=out)
    if not targets:
        raise HarnessError("no host of the inventory has labels.instance_id; write the inventory with "
                           "`harness hosts discover`, or add labels: {instance_id: i-…} to each host")
    est = estimate_cost(targets, hours, lookup)
    if action == "start":
        print(f"starting {len(targets)} instance(s); estimated cost for {hours:g} h:", file=out)
        print("\n".join(est.lines), file=out)
        total = f"${est.usd:.2f}" if est.usd is not None else f"at least ${est.usd_per_hour * hours:.2f} (some prices unknown)"
        print(f"  total ≈ {total} (compute only; EBS volumes, data transfer extra)", file=out)
    else:
        print(f"stopping {len(targets)} instance(s); saves ≈ ${est.usd_per_hour:.4g}/h of compute "
              "(EBS volumes stay billed; spot instances stop only with a persistent request):", file=out)
        print("\n".join(est.lines), file=out)
    if not confirm(f"{action} {len(targets)} instance(s)?", yes, input_fn=input_fn, interactive=interactive):
        print("nothing done", file=out)
        return {}
    session = make_session(settings)
    # The region each instance was discovered in (labels.region) wins; --region covers the rest.
    default_region = None if all(t.region for t in targets) else region_of(session, settings)
    by_region: dict[str, list[Target]] = {}
    for t in targets:
        by_region.setdefault(t.region or default_region, []).append(t)
    states: dict[str, str] = {}
    records: list[dict] = []
    for region, group in sorted(by_region.items()):
        ec2 = client("ec2", settings, session=session, region=region)
        if action == "start":
            for behavior in ("stop", "terminate"):
                ids = [t.instance_id for t in group if autostop.get(t.host) and autostop[t.host].action == behavior]
                with aws_errors(f"EC2 ModifyInstanceAttribute (shutdown behaviour {behavior}) in {region}"):
                    set_shutdown_behavior(ec2, ids, behavior)
        with aws_errors(f"EC2 {ACTIONS[action][0]} in {region}"):
            change = change_state(action, group, ec2, wait=wait, waiter_delay_s=waiter_delay_s)
        states.update(change.states)
        if action == "start":
            recs, notes = started.start_records(group, change, region, inventory, autostop)
        else:
            recs, notes = started.stop_records(group, change, "harness hosts stop"), []
        records += recs
        for n in notes:
            print(f"note: {n}", file=out)
    if records:
        ledger.append(records, ledger_file)
        print(f"recorded in the instance ledger {ledger_file or ledger.ledger_path()}", file=out)
    for t in targets:
        print(f"{t.host} ({t.instance_id}): {states.get(t.instance_id, '?')}", file=out)
    if action == "start" and wait:
        print("public IPs change on start: run `harness hosts discover` again to refresh the inventory", file=out)
    return states
