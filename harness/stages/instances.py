"""Connect stage, part two: the run and the instances `harness hosts start` started.

A run learns of the instance ledger (harness/aws/ledger.py) through its hosts'
labels.instance_id. For each host whose instance the ledger shows started and not stopped:
- the first run after that start claims the launch: control.jsonl gets an
  `instance_started` record (launch time from EC2, instance type, who started it), so the
  bill counts the instance from its launch, with EC2's 60-s minimum, and shows launch →
  first connection as boot and set-up;
- with autostop (the inventory's, else the one `hosts start` was given) the watchdog is
  armed on the host and this run attached to it (harness/transport/autostop.py), and
  detached when the run ends, so idle time counts from there;
- the ledger gets run_attached / run_ended, and the run directory a copy of its
  instances' ledger records (instance_ledger.jsonl) for the report.
Nothing here fails a run: a ledger or host problem is a control.jsonl record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.aws import ledger
from harness.errors import HarnessError
from harness.protocol import layout
from harness.protocol.constants import DEFAULT_WORKDIR
from harness.transport import autostop as cmds


@dataclass
class Attached:
    starts: dict[str, dict] = field(default_factory=dict)  # host → its instance_started ledger record
    armed: list[str] = field(default_factory=list)  # hosts whose watchdog this run is attached to
    ledger_file: Optional[Path] = None


def _workdir(h) -> str:
    return h.workdir or DEFAULT_WORKDIR


def attach(hosts, transports, run_id: str, run_dir: Path, control, t_connect: float) -> Attached:
    att = Attached()
    ids = {h.name: h.labels.get("instance_id") for h in hosts if h.labels.get("instance_id")}
    path = ledger.ledger_path()
    if not ids or not path.exists():
        return att
    att.ledger_file = path
    try:
        with ledger.locked(path) as led:
            records, _ = led.records()
            open_starts = ledger.latest_starts(records)
            claimed = ledger.claimed_launches(records)
            new = []
            for host, iid in ids.items():
                start = open_starts.get(iid)
                if start is None:
                    continue
                att.starts[host] = start
                claims = (iid, start["launch_time"]) not in claimed
                new.append(ledger.record("run_attached", instance_id=iid, host=host, run_id=run_id,
                                         run_dir=str(run_dir.resolve()), t_connect=t_connect,
                                         claims_launch=start["launch_time"] if claims else None))
                if claims:
                    control.emit("instance_started", host=host, instance_id=iid,
                                 instance_type=start.get("instance_type"), launch_time=start["launch_time"],
                                 launch_time_source=start.get("launch_time_source"),
                                 started_by=start.get("started_by"), inventory=start.get("inventory"),
                                 first_connection=t_connect, ledger=str(path))
            led.append(new)
    except (HarnessError, OSError) as e:
        control.emit("instance_ledger_error", error=str(e), ledger=str(path))
        return att
    by_name = {h.name: h for h in hosts}
    armed_records = []
    for host, start in att.starts.items():
        h = by_name[host]
        a = h.autostop
        after_s, command = (a.after_s, a.command) if a else ((start.get("autostop") or {}).get("after_s"), None)
        if not after_s:
            continue
        try:
            watchdog = arm_one(transports[host], h, after_s, command, armed_by=f"run {run_id}", run_id=run_id)
        except (HarnessError, OSError) as e:
            control.emit("autostop_error", host=host, instance_id=start["instance_id"], error=str(e))
            armed_records.append(ledger.record("autostop_not_armed", instance_id=start["instance_id"], host=host,
                                               by=f"run {run_id}", error=str(e)))
            continue
        att.armed.append(host)
        action = a.action if a else (start.get("autostop") or {}).get("action", "stop")
        control.emit("autostop_armed", host=host, instance_id=start["instance_id"], after_s=after_s, action=action,
                     watchdog=watchdog)
        armed_records.append(ledger.record("autostop_armed", instance_id=start["instance_id"], host=host,
                                           by=f"run {run_id}", after_s=after_s, action=action))
    _append(armed_records, control)
    return att


def arm_one(transport, h, after_s: float, command: Optional[str], *, armed_by: str,
            run_id: Optional[str] = None) -> dict:
    """Install and start (or re-arm) the watchdog on one host; with run_id, attach that run.
    Returns what the script said ({"watchdog": "started"|"running", "pid": …})."""
    cmd, tar = cmds.arm(h.interpreter, _workdir(h), after_s, command, armed_by=armed_by, run_id=run_id)
    res = transport.exec(cmd, stdin=tar, timeout=60)
    if not res.ok:
        raise HarnessError(f"host {h.name}: arming autostop failed (exit {res.returncode}): "
                           f"{res.stderr.strip()[-300:] or res.stdout.strip()[-300:]}")
    return cmds.parse_json_line(res.stdout.split("\n")[0] if run_id else res.stdout)


def detach(att: Attached, hosts, transports, run_id: str, run_dir: Path, control, status: str) -> None:
    """At the end of the run: detach from the watchdogs (idle counts from now), record the
    end in the ledger, and copy the instances' ledger records into the run directory."""
    if not att.starts:
        return
    by_name = {h.name: h for h in hosts}
    for host in att.armed:
        h = by_name[host]
        try:
            res = transports[host].exec(cmds.detach(h.interpreter, _workdir(h), run_id), timeout=30)
            if not res.ok:
                raise HarnessError(f"exit {res.returncode}: {res.stderr.strip()[-300:]}")
        except (HarnessError, OSError) as e:
            control.emit("autostop_error", host=host, error=f"detach: {e}")
    _append([ledger.record("run_ended", instance_id=s["instance_id"], host=host, run_id=run_id, status=status)
             for host, s in att.starts.items()], control)
    try:
        write_copy(run_dir, {s["instance_id"] for s in att.starts.values()},
                   min(float(s["launch_time"]) for s in att.starts.values()), att.ledger_file)
    except (HarnessError, OSError) as e:
        control.emit("instance_ledger_error", error=f"copy into the run directory: {e}")


def _append(records: list[dict], control) -> None:
    if not records:
        return
    try:
        ledger.append(records)
    except (HarnessError, OSError) as e:
        control.emit("instance_ledger_error", error=str(e))


def write_copy(run_dir: Path, instance_ids: set[str], since: float, path: Optional[Path] = None) -> Path:
    """runs/<id>/instance_ledger.jsonl: the ledger's records of these instances since `since`
    (`hosts status` refreshes it later, when the instance has stopped)."""
    records, _ = ledger.read(path)
    out = Path(run_dir) / layout.INSTANCE_LEDGER_COPY
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in ledger.records_for_copy(records, instance_ids, since)))
    tmp.replace(out)
    return out
