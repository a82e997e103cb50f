"""Attaching to a detached run: find it (here, or on its steward host through an
inventory), reopen its plan and hosts, and hold its attach lock.

The run directory's detach.json, plan.json and inventory are enough: a run this machine
never saw is found by asking each host of an inventory for the run's keeper seed (the run
directory as it was at detach time, on the steward), which is copied into the runs root.
The lock is held by a process on the steward (harness/worker/attach_lock.py) for as long
as this process lives: kill -9 closes its connection and the lock goes with it."""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.inventory import Inventory, load_inventory
from harness.errors import Busy, ConfigError, HarnessError, Unreachable, UsageError
from harness.protocol import layout
from harness.protocol.constants import DEFAULT_WORKDIR
from harness.stages.detach import DetachInfo
from harness.stages.plan import Plan
from harness.transport import open_transports, shell
from harness.transport.base import Held, Transport
from harness.transport.fanout import fan_out

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
HEARTBEAT_S = 5.0


def locate(run: str, runs_root: Path, hosts_file: str | None, ssh_options=None) -> Path:
    """The local directory of detached run `run` (a run id or a run directory)."""
    given = Path(run)
    for d in ([given] if given.is_dir() else []) + [Path(runs_root) / run]:
        if (d / layout.DETACH_FILE).is_file():
            return d
        if (d / layout.PLAN_FILE).is_file():
            raise UsageError(f"{d}: not a detached run (no {layout.DETACH_FILE}); `harness report {d}` "
                             f"rebuilds its report")
    if not _RUN_ID.match(run):
        raise UsageError(f"{run}: no such run directory, and not a run id")
    if not hosts_file:
        raise UsageError(f"run {run}: not in {runs_root}/; pass --hosts INVENTORY to look for it on its hosts "
                         f"(or --runs-dir where it is)")
    return _fetch_seed(run, Path(runs_root), load_inventory(hosts_file), ssh_options)


def _seed_dir(host, run: str) -> str | None:
    if host.is_local and not host.workdir:
        return None   # this machine: its runs are in a local run directory
    base = layout.remote_run_dir(host.workdir or DEFAULT_WORKDIR, run)
    return f"{layout.keeper_dir(base, host.name)}/{layout.SEED_DIR}"


def _fetch_seed(run: str, runs_root: Path, inv: Inventory, ssh_options) -> Path:
    hosts = [h for h in inv.hosts if _seed_dir(h, run)]
    transports, failed = open_transports(hosts, ssh_options, partial=True)
    try:
        def probe(h) -> bool:
            seed = _seed_dir(h, run)
            return transports[h.name].exec(f"test -f {shell.q(seed + '/' + layout.DETACH_FILE)}", timeout=30).ok

        found = [name for name, o in fan_out({h.name: h for h in hosts if h.name in transports}, probe).items()
                 if o.error is None and o.value]
        if not found:
            why = f"; unreachable: {', '.join(sorted(failed))}" if failed else ""
            raise UsageError(f"run {run}: not in {runs_root}/ and no host of the inventory has it{why}")
        tr, seed = transports[found[0]], _seed_dir(inv.host(found[0]), run)
        dest = runs_root / run
        for rel, _ in tr.list_files(seed):
            tr.get(f"{seed}/{rel}", dest / rel)
        print(f"harness: run {run} found on host {found[0]}; its run directory is {dest}", flush=True)
        return dest
    finally:
        for tr in transports.values():
            tr.close()


@dataclass
class Attached:
    run_dir: Path
    info: DetachInfo
    plan: Plan
    inv: Inventory
    transports: dict[str, Transport]
    unreachable: set[str] = field(default_factory=set)

    def close(self) -> None:
        for tr in self.transports.values():
            tr.close()


def load_run(run_dir: Path, hosts_file: str | None) -> tuple[DetachInfo, Plan, Inventory]:
    info = DetachInfo.read(run_dir / layout.DETACH_FILE)
    try:
        plan = Plan.from_json(json.loads((run_dir / layout.PLAN_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HarnessError(f"{run_dir / layout.PLAN_FILE}: cannot read the run's plan: {e}") from None
    if hosts_file:
        inv = load_inventory(hosts_file)
    else:   # the run's inventory as validated, key paths already absolute
        try:
            inv = Inventory.model_validate(json.loads((run_dir / layout.RESOLVED_FILE).read_text())["inventory"])
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError([f"{run_dir / layout.RESOLVED_FILE}: cannot read the run's inventory ({e}); "
                               f"pass --hosts INVENTORY"]) from None
    missing = [h for h in info.hosts if h not in {x.name for x in inv.hosts}]
    if missing:
        raise ConfigError([f"{hosts_file or run_dir / layout.RESOLVED_FILE}: host(s) {', '.join(missing)} of run "
                           f"{info.run_id} are not in this inventory"])
    return info, plan, inv


def open_run(run_dir: Path, hosts_file: str | None, ssh_options=None) -> Attached:
    """The run's plan and a connection to each of its hosts that answers; the steward must."""
    info, plan, inv = load_run(run_dir, hosts_file)
    transports, failed = open_transports([inv.host(h) for h in info.hosts], ssh_options, partial=True)
    if info.steward in failed:
        for tr in transports.values():
            tr.close()
        raise Unreachable(f"{failed[info.steward]} — host {info.steward} is the run's steward; the run goes on "
                          f"there; try again when it answers")
    for name, err in failed.items():
        print(f"harness: warning: {err}; its files are collected by a later attach", flush=True)
    return Attached(run_dir, info, plan, inv, transports, set(failed))


def owner_text() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()} pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"


class AttachLock:
    """The run's attach lock on the steward, with a heartbeat so a control side whose
    network vanished loses it after the holder's timeout."""

    def __init__(self, att: Attached, owner: str | None = None):
        info = att.info
        self.att, self.owner = att, owner or owner_text()
        self.command = shell.attach_lock_command(f"{info.steward_dir}/{layout.ATTACH_LOCK_FILE}", self.owner,
                                                 info.python[info.steward], info.pythonpath[info.steward])
        self.held: Held | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> "AttachLock":
        tr = self.att.transports[self.att.info.steward]
        held = tr.hold(self.command, timeout=60)
        if held.first_line != "locked":
            held.close()
            who = held.first_line.removeprefix("busy").strip()
            if held.first_line.startswith("busy"):
                raise Busy(f"run {self.att.info.run_id} is already attached ({who or 'owner unknown'}); "
                           f"`harness status {self.att.info.run_id}` shows it without attaching")
            raise HarnessError(f"host {self.att.info.steward}: could not take the run's attach lock "
                               f"({held.first_line or 'no answer'})")
        self.held = held
        self._thread = threading.Thread(target=self._beat, daemon=True, name="attach-heartbeat")
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if self.held is None or not self.held.send(b"."):
                self.lost.set()
                return

    def keep(self) -> None:
        """Take the lock again if the heartbeat found it gone (a network outage longer than
        the holder's timeout); Busy if another control side took it meanwhile."""
        if self.lost.is_set():
            self.release()
            self.lost.clear()
            self._stop.clear()
            self.acquire()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.held is not None:
            self.held.close()
            self.held = None
