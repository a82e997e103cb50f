"""PURE: ledger records (harness/aws/ledger.py) from what EC2 answered to `hosts start/stop`
and DescribeInstances, and the address `hosts start` reaches a restarted instance at."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from harness.aws.ledger import record, whoami
from harness.aws.ledger_account import transition_time

# EC2's LaunchTime and the control machine's clock may differ by this much before a
# LaunchTime earlier than the start request is taken as stale (not updated on start).
CLOCK_SLACK_S = 60.0


def _epoch(value) -> Optional[float]:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def launch_time(inst: Mapping[str, Any], requested_at: float) -> tuple[float, str]:
    """EC2's LaunchTime (updated by every start), unless it predates the start request —
    then the request time, and the source says why (moto, for one, keeps the first launch)."""
    lt = _epoch(inst.get("LaunchTime"))
    if lt is None:
        return requested_at, "StartInstances request time (EC2 returned no LaunchTime)"
    if lt < requested_at - CLOCK_SLACK_S:
        return requested_at, (f"StartInstances request time (EC2's LaunchTime {lt:.0f} predates the request by "
                              f"{requested_at - lt:.0f} s: not updated by this start)")
    return lt, "EC2 LaunchTime"


def start_records(targets: Sequence, change, region: str, inventory: str,
                  autostop: Mapping[str, Any]) -> tuple[list[dict], list[str]]:
    """One instance_started record per instance this start took out of stopped/pending."""
    records, notes = [], []
    who = whoami()
    for t in targets:
        inst = change.instances.get(t.instance_id) or {}
        prev = change.previous.get(t.instance_id, "?")
        if prev == "running":
            notes.append(f"{t.host} ({t.instance_id}) was already running: not recorded as started by the "
                         "harness (its launch is not billed to the next run)")
            continue
        lt, source = launch_time(inst, change.requested_at)
        a = autostop.get(t.host)
        records.append(record(
            "instance_started", instance_id=t.instance_id, host=t.host, inventory=inventory, region=region,
            instance_type=inst.get("InstanceType") or t.instance_type, lifecycle=t.lifecycle,
            launch_time=lt, launch_time_source=source, requested_at=change.requested_at,
            running_at=change.settled_at, previous_state=prev, started_by=who,
            autostop={"after_s": a.after_s, "action": a.action} if a else None))
    return records, notes


def stop_records(targets: Sequence, change, how: str) -> list[dict]:
    out = []
    for t in targets:
        inst = change.instances.get(t.instance_id) or {}
        out.append(record("instance_stopped", instance_id=t.instance_id, host=t.host,
                          state=(inst.get("State") or {}).get("Name") or change.states.get(t.instance_id, "?"),
                          stop_time=change.requested_at, how=how))
    return out


def observed_stop(start: Mapping[str, Any], inst: Optional[Mapping[str, Any]], now: float) -> Optional[dict]:
    """An instance_stopped record for an instance found stopped (or gone) with no stop record:
    the time from EC2's StateTransitionReason when it gives one, else when it was seen."""
    if inst is None:
        return record("instance_stopped", instance_id=start["instance_id"], host=start.get("host"),
                      state="gone", stop_time=now, how="not found by DescribeInstances (terminated long ago?); "
                      "stop time unknown: counted to when `hosts status` looked")
    state = (inst.get("State") or {}).get("Name")
    if state in ("pending", "running"):
        return None
    if state in ("stopping", "shutting-down"):
        state = "stopping"
    reason = inst.get("StateTransitionReason") or ""
    code = (inst.get("StateReason") or {}).get("Code") or ""
    t = transition_time(reason)
    why = f"EC2: {code or reason or state}"
    if code == "Client.InstanceInitiatedShutdown":
        why += " (the host shut itself down: autostop, or a shutdown on the host)"
    if t is None or t < float(start["launch_time"]):
        return record("instance_stopped", instance_id=start["instance_id"], host=start.get("host"), state=state,
                      stop_time=now, how=f"{why}; stop time unknown: counted to when `hosts status` saw it {state}")
    return record("instance_stopped", instance_id=start["instance_id"], host=start.get("host"), state=state,
                  stop_time=t, how=f"{why}; stop time from EC2's StateTransitionReason")


def arming_address(address: str, inst: Mapping[str, Any]) -> tuple[str, Optional[str]]:
    """The address to reach a just-started instance at, and a note when it is not the
    inventory's: a public IP in the inventory that is no longer the instance's (public IPs
    change on every start) becomes the new public IP. Names (DNS, ~/.ssh/config aliases),
    private and loopback addresses are kept: they do not change on a restart."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address, None
    current = inst.get("PublicIpAddress")
    if not ip.is_global or not current or address in (current, inst.get("PrivateIpAddress")):
        return address, None
    return current, f"address {address} is stale (public IPs change on start); using {current}"
