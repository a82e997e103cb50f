"""Stage 6 for `harness run --detach`: hand the run to keepers on its hosts.

After bind every spec is final, so every configuration run's task files (task.json,
env.sh) are written to the hosts at once, with each host's keeper spec beside them and,
on the steward, a copy of the run directory as it is now (seed/: experiment, inventory,
plan, the control records so far) so that another machine with the inventory and the keys
can attach. Then `ready` is written on the steward and the keepers are started, members
first (harness/worker/keeper.py). Nothing here waits for training; pipeline.run follows
the steward until the first configuration run's tasks all run, and returns.

Order matters when the control side dies during launch: until `ready`, nothing ran and
nothing can start; after it, `harness attach` starts any keeper that is not running."""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.config.inventory import Inventory
from harness.errors import HarnessError
from harness.protocol import layout
from harness.stages.keeper_plan import KeeperOptions, keeper_port, keeper_specs, plan_hosts
from harness.stages.plan import Plan
from harness.stages.sync import HostSync
from harness.transport import shell
from harness.transport.base import Transport
from harness.transport.fanout import fan_out


@dataclass(frozen=True)
class DetachInfo:
    """detach.json: how the control side (this one, or another machine's) finds the keepers."""
    run_id: str
    steward: str
    port: int
    hosts: list[str]                 # every host of the run, the steward first
    keeper_dirs: dict[str, str]
    python: dict[str, str]           # the interpreter a host's keeper and lock run with
    pythonpath: dict[str, str]       # where `harness` imports from on each host

    @property
    def steward_dir(self) -> str:
        return self.keeper_dirs[self.steward]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def read(cls, path: Path) -> "DetachInfo":
        try:
            doc = json.loads(Path(path).read_text())
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise HarnessError(f"{path}: not a detached run's detach.json ({type(e).__name__}: {e})") from None


def seed_files(run_dir: Path) -> list[tuple[str, Path]]:
    """(path under seed/, local file): what attach needs on a machine that never saw the run."""
    out = [(p.name, p) for p in sorted(Path(run_dir).iterdir()) if p.is_file()]
    prefix = Path(run_dir) / layout.DETACHED_DIR / layout.PREFIX_FILE
    return out + [(f"{layout.DETACHED_DIR}/{layout.PREFIX_FILE}", prefix)]


def prepare(plan: Plan, inv: Inventory, run_dir: Path, synced: dict[str, HostSync], opts: KeeperOptions,
            base_port: int) -> tuple[DetachInfo, dict[str, dict]]:
    """PURE but for the token: the keepers' placement and their specs."""
    port = keeper_port(plan, inv, base_port)
    specs = keeper_specs(plan, inv, run_dir, opts, port=port, token=secrets.token_hex(16))
    hosts = plan_hosts(plan)
    info = DetachInfo(plan.run_id, hosts[0], port, hosts, {h: specs[h]["keeper_dir"] for h in hosts},
                      {h: inv.host(h).interpreter for h in hosts}, {h: synced[h].pythonpath for h in hosts})
    return info, specs


def write_local(run_dir: Path, info: DetachInfo) -> None:
    """detach.json and control.jsonl as it is now (the records before the keepers took over)."""
    (run_dir / layout.DETACH_FILE).write_text(info.to_json())
    d = run_dir / layout.DETACHED_DIR
    d.mkdir(exist_ok=True)
    shutil.copyfile(run_dir / layout.CONTROL_FILE, d / layout.PREFIX_FILE)


def write_hosts(plan: Plan, transports: dict[str, Transport], run_dir: Path, info: DetachInfo,
                specs: dict[str, dict]) -> None:
    """Every host's task files and keeper spec (the steward's with the seed), one tar each."""
    def one(host: str) -> None:
        files = []
        for cp in plan.configs:
            for t in cp.tasks:
                if t.host == host:
                    files.append((f"{t.task_dir}/{layout.TASK_FILE}", t.spec.to_json().encode(), 0o644))
                    files.append((f"{t.task_dir}/{layout.ENV_FILE}", shell.env_file(t.env), 0o600))
        kd = info.keeper_dirs[host]
        files.append((f"{kd}/{layout.KEEPER_SPEC_FILE}", json.dumps(specs[host]).encode(), 0o600))
        if host == info.steward:
            files += [(f"{kd}/{layout.SEED_DIR}/{rel}", p.read_bytes(), 0o600) for rel, p in seed_files(run_dir)]
        res = transports[host].exec(shell.UNPACK_COMMAND, stdin=shell.files_tar(files), timeout=120)
        if not res.ok:
            raise HarnessError(f"host {host}: could not write the task files: {res.stderr.strip()}")

    failed = [str(o.error) for o in fan_out({h: h for h in info.hosts}, one).values() if o.error is not None]
    if failed:
        raise HarnessError("; ".join(failed) + " — nothing was started")


def files_complete(plan: Plan, transports: dict[str, Transport], info: DetachInfo) -> list[str]:
    """The hosts whose files are not all there (a launch killed while it wrote them)."""
    def one(host: str) -> bool:
        paths = [f"{t.task_dir}/{name}" for cp in plan.configs for t in cp.tasks if t.host == host
                 for name in (layout.TASK_FILE, layout.ENV_FILE)]
        paths.append(f"{info.keeper_dirs[host]}/{layout.KEEPER_SPEC_FILE}")
        cmd = " && ".join(f"test -s {shell.q(p)}" for p in paths)
        return transports[host].exec(cmd, timeout=60).ok

    return [h for h, o in fan_out({h: h for h in info.hosts}, one).items() if o.error is not None or not o.value]


def mark_ready(transports: dict[str, Transport], info: DetachInfo) -> None:
    path = f"{info.steward_dir}/{layout.KEEPER_READY_FILE}"
    res = transports[info.steward].exec(f"touch {shell.q(path)}", timeout=60)
    if not res.ok:
        raise HarnessError(f"host {info.steward}: could not mark the run ready: {res.stderr.strip()}")


def start_keepers(transports: dict[str, Transport], info: DetachInfo, hosts: list[str] | None = None) -> dict:
    """Start the keepers of `hosts` (default: all), members before the steward (a steward
    waits for its members up to the connection grace; a member waits up to the lease).
    Returns {host: error} for those that could not be started."""
    todo = hosts if hosts is not None else info.hosts
    errors: dict[str, str] = {}

    def one(host: str) -> None:
        res = transports[host].exec(shell.keeper_start_command(info.keeper_dirs[host], info.python[host],
                                                               info.pythonpath[host]), timeout=60)
        if not res.ok or "started" not in res.stdout:
            raise HarnessError(f"host {host}: could not start the keeper: {res.stderr.strip() or res.stdout.strip()}")

    members = [h for h in todo if h != info.steward]
    for group in (members, [h for h in todo if h == info.steward]):
        for host, o in fan_out({h: h for h in group}, one).items():
            if o.error is not None:
                errors[host] = str(o.error)
    return errors
