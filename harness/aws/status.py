"""`harness hosts status`: the instances the ledger shows started, checked against EC2.

`reconcile` asks DescribeInstances about every instance whose last start has no stop
record and appends an instance_stopped record for each one found stopped, terminated or
gone (the autostop watchdog stops instances with no control side around to record it).
`rows` and `ledger_lines` are PURE over the ledger's lives (harness/aws/ledger_account.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from harness.aws import ledger
from harness.aws.ledger_account import Life, lives, usd
from harness.aws.session import AwsSettings, aws_errors, client, make_session, region_of
from harness.aws.started import observed_stop

MINIMUM_S = 60.0  # EC2 bills a started Linux instance at least 60 s
PriceLookup = Callable[[str], tuple[Optional[float], str]]


def reconcile(settings: AwsSettings, ledger_file=None, now: Optional[float] = None) -> dict[str, dict]:
    """Describe the ledger's open instances; record the ones no longer running. Returns
    instance id → DescribeInstances entry (absent: not found)."""
    now = time.time() if now is None else now
    records, _ = ledger.read(ledger_file)
    open_starts = ledger.latest_starts(records)
    if not open_starts:
        return {}
    session = make_session(settings)
    by_region: dict[str, list[str]] = {}
    for iid, start in open_starts.items():
        by_region.setdefault(start.get("region") or region_of(session, settings), []).append(iid)
    found: dict[str, dict] = {}
    for region, ids in sorted(by_region.items()):
        ec2 = client("ec2", settings, session=session, region=region)
        with aws_errors(f"EC2 DescribeInstances in {region}"):
            found.update(_describe(ec2, ids))
    new = [r for iid, start in open_starts.items() if (r := observed_stop(start, found.get(iid), now))]
    if new:
        with ledger.locked(ledger_file) as led:  # re-read: a run may have recorded a stop meanwhile
            still_open = ledger.latest_starts(led.records()[0])
            led.append([r for r in new if r["instance_id"] in still_open])
    return found


def _describe(ec2, ids: list[str]) -> dict[str, dict]:
    import botocore.exceptions as bx

    try:
        pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=ids)
        return {i["InstanceId"]: i for p in pages for r in p["Reservations"] for i in r["Instances"]}
    except bx.ClientError as e:
        if e.response.get("Error", {}).get("Code") != "InvalidInstanceID.NotFound":
            raise
        if len(ids) == 1:
            return {}
    out: dict[str, dict] = {}  # one unknown id fails the whole request: ask one by one
    for iid in ids:
        out.update(_describe(ec2, [iid]))
    return out


@dataclass(frozen=True)
class Row:
    host: str
    instance_id: str
    state: str
    instance_type: str
    launched: str
    usd_so_far: Optional[float]
    usd_text: str
    idle_since: str
    deadline: str


def fmt_time(t: Optional[float]) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(t: float, now: float) -> str:
    s = max(0.0, now - t)
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def rows(all_lives: Iterable[Life], described: dict[str, dict], lookup: PriceLookup, now: float) -> list[Row]:
    """One row per instance start: state (EC2's, when asked), $ so far at on-demand."""
    out = []
    for life in all_lives:
        inst = described.get(life.instance_id)
        state = (inst.get("State") or {}).get("Name", "?") if inst else (
            "stopped (recorded)" if life.end is not None else "not found")
        billed = max(life.seconds, MINIMUM_S)
        price, source = lookup(life.instance_type) if life.instance_type else (None, "")
        cost = usd(billed, price)
        spot = " (spot: at most this)" if life.lifecycle == "spot" else ""
        text = (f"${price:g}/h × {billed:.0f} s [{source}]{spot}" if price is not None
                else f"price unknown for {life.instance_type or 'an unknown type'}")
        if life.attached:
            idle = f"busy: run {', '.join(life.attached)}"
        elif life.idle_since is not None:
            idle = f"{fmt_time(life.idle_since)} ({_ago(life.idle_since, now)} ago)"
        else:
            idle = "-"
        if life.end is not None:
            deadline = "-"
        elif not life.autostop:
            deadline = "no autostop"
        elif life.deadline is not None:
            armed = life.armed_on_host
            deadline = fmt_time(life.deadline) + ("" if armed else
                                                  " (NOT armed on the host yet: the next run arms it)")
        else:
            deadline = "after the run ends"
        out.append(Row(life.host, life.instance_id, state, life.instance_type or "?", fmt_time(life.launch),
                       cost, text, idle, deadline))
    return out


def ledger_lines(life: Life, price: Optional[float]) -> list[str]:
    """The instance's parts, each with its seconds and $ (on-demand), adding up to its life."""
    lines = [f"{life.host} ({life.instance_id}, {life.instance_type or '?'}), launched {fmt_time(life.launch)} "
             f"[{life.launch_source}] by {life.started_by}; "
             + (f"stopped {fmt_time(life.end)} ({life.end_how})" if life.end is not None else "still running")]
    for p in life.parts:
        cost = usd(p.seconds, price)
        lines.append(f"  {p.kind:<18} {fmt_time(p.start)} → {fmt_time(p.end)}  {p.seconds:9.0f} s  "
                     f"{'$%.4f' % cost if cost is not None else 'n/a':>9}  {p.label}"
                     + (f" — {p.note}" if p.note else ""))
    lines.append(f"  {'total':<18} {'':47} {life.seconds:9.0f} s  "
                 f"{'$%.4f' % usd(life.seconds, price) if price is not None else 'n/a':>9}")
    return lines


def current_lives(ledger_file=None, now: Optional[float] = None, include_stopped: bool = False) -> list[Life]:
    now = time.time() if now is None else now
    records, _ = ledger.read(ledger_file)
    found = lives(records, now)
    latest = {}
    for life in found:  # the newest start of each instance
        latest[life.instance_id] = life
    return [lf for lf in (found if include_stopped else latest.values()) if include_stopped or lf.end is None
            or now - lf.end < 24 * 3600]
