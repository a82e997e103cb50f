"""Arm (or cancel) the autostop watchdog on hosts outside a run: after `harness hosts
start` (sshd comes up some seconds after EC2 says running, so connecting is retried until
a deadline) and for `harness hosts autostop`. Each outcome goes to the instance ledger."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from harness.aws import ledger
from harness.config.inventory import Host
from harness.errors import HarnessError
from harness.protocol.constants import DEFAULT_WORKDIR
from harness.stages.instances import arm_one
from harness.transport import autostop as cmds
from harness.transport import open_transports

RETRY_S = 5.0


@dataclass(frozen=True)
class Armed:
    host: str
    ok: bool
    text: str  # what the watchdog said, or why it is not armed


def _connect_with_retry(hosts: Sequence[Host], ssh_options, wait_s: float, sleep: Callable = time.sleep):
    deadline = time.monotonic() + wait_s
    opened, failed, todo = {}, {}, list(hosts)
    while todo:
        got, failed = open_transports(todo, ssh_options, partial=True)
        opened.update(got)
        todo = [h for h in todo if h.name in failed]
        if not todo or time.monotonic() + RETRY_S > deadline:
            break
        sleep(RETRY_S)
    return opened, failed


def arm_hosts(hosts: Sequence[Host], settings: Mapping[str, object], instance_ids: Mapping[str, str], *,
              by: str, ssh_options=None, wait_s: float = 0.0, ledger_file=None) -> list[Armed]:
    """Arm each host with its Autostop (`settings`: host name → Autostop; None cancels)."""
    out, records = [], []
    opened, failed = _connect_with_retry(hosts, ssh_options, wait_s)
    try:
        for h in hosts:
            iid, a = instance_ids.get(h.name), settings.get(h.name)
            if h.name in failed:
                why = f"not connected: {failed[h.name]}"
                out.append(Armed(h.name, False, why))
                records.append(ledger.record("autostop_not_armed", instance_id=iid, host=h.name, by=by, error=why))
                continue
            try:
                if a is None:
                    res = opened[h.name].exec(cmds.cancel(h.interpreter, h.workdir or DEFAULT_WORKDIR), timeout=30)
                    if not res.ok:
                        raise HarnessError(f"host {h.name}: cancelling autostop failed: {res.stderr.strip()[-300:]}")
                    out.append(Armed(h.name, True, "cancelled"))
                    records.append(ledger.record("autostop_not_armed", instance_id=iid, host=h.name, by=by,
                                                 error="cancelled"))
                    continue
                said = arm_one(opened[h.name], h, a.after_s, a.command, armed_by=by)
            except (HarnessError, OSError) as e:
                out.append(Armed(h.name, False, str(e)))
                records.append(ledger.record("autostop_not_armed", instance_id=iid, host=h.name, by=by, error=str(e)))
                continue
            out.append(Armed(h.name, True, f"{a.text} (watchdog {said.get('watchdog', '?')}, pid {said.get('pid')})"))
            records.append(ledger.record("autostop_armed", instance_id=iid, host=h.name, by=by, after_s=a.after_s,
                                         action=a.action))
    finally:
        for tr in opened.values():
            tr.close()
    ledger.append([r for r in records if r.get("instance_id")], ledger_file)
    return out


def watchdog_status(hosts: Sequence[Host], ssh_options=None) -> dict[str, dict]:
    """What each host's watchdog says (state.json, config, fired), or {"error": …}."""
    opened, failed = open_transports(hosts, ssh_options, partial=True)
    out: dict[str, dict] = {n: {"error": str(e)} for n, e in failed.items()}
    try:
        for h in hosts:
            if h.name in opened:
                try:
                    res = opened[h.name].exec(cmds.status(h.interpreter, h.workdir or DEFAULT_WORKDIR), timeout=30)
                    out[h.name] = cmds.parse_json_line(res.stdout) if res.ok else {"error": res.stderr.strip()[-300:]}
                except HarnessError as e:
                    out[h.name] = {"error": str(e)}
    finally:
        for tr in opened.values():
            tr.close()
    return out


def autostop_of(h: Host, override: Optional[object]) -> Optional[object]:
    """--autostop on the command line wins over the inventory's autostop."""
    return override if override is not None else h.autostop
