"""Starting, awaiting and stopping the warm zygotes of a run on their hosts (which and when:
warm_pool.py; the zygote: harness/worker/warm.py). Every step is in control.jsonl
(`warm_start`, `warm_listening`, `warm_ready`, `warm_stop`), so the time a run spent on them is in its bill."""

from __future__ import annotations

import json
import threading
import time

from harness.errors import HarnessError
from harness.protocol import layout
from harness.stages.warm_pool import Zygote, due, due_before, start_argv
from harness.transport import shell
from harness.transport.fanout import fan_out

READY_TIMEOUT_S = 180.0
# Binding its socket is the zygote's first act (about 0.1 s here); the wait is in its first
# run's window, so it is short: past it, that run's tasks just run cold.
LISTEN_TIMEOUT_S = 15.0
# A zygote outlives no run: the run stops it, and one whose control side is gone exits
# after this long without a task. Its shell needs no lease of its own.
NO_LEASE_S = 10**9


def start(zygotes: list[Zygote], transports: dict, hosts: dict, run_id: str, idle_s: float,
          control) -> dict[str, tuple[Zygote, int]]:
    """Start each zygote detached on its host; {name: (zygote, pid)} of those that started.
    A zygote that cannot start is recorded and skipped: its tasks then run cold."""
    def one(z: Zygote):
        host = hosts[z.host]
        d = z.task_dir(host.workdir, run_id)
        tr = transports[z.host]
        res = tr.exec(shell.UNPACK_COMMAND, stdin=shell.files_tar([(f"{d}/{layout.ENV_FILE}", shell.env_file(z.env),
                                                                    0o600)]), timeout=60)
        if not res.ok:
            raise HarnessError(f"host {z.host}: could not write the zygote's files: {res.stderr.strip()}")
        out = tr.exec(shell.start_command(d, start_argv(host.interpreter, z, idle_s), NO_LEASE_S), timeout=60)
        pid = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if not pid.isdigit():
            raise HarnessError(f"host {z.host}: the zygote did not start: {out.stderr.strip() or 'no pid'}")
        return int(pid)

    started = {}
    for name, o in fan_out({z.name: z for z in zygotes}, one).items():
        z = next(x for x in zygotes if x.name == name)
        if o.error is not None:
            control.emit("warm_start", host=z.host, name=name, key=z.key, error=str(o.error))
        else:
            control.emit("warm_start", host=z.host, name=name, key=z.key, pid=o.value)
            started[name] = (z, o.value)
    return started


def _await(started: dict[str, tuple[Zygote, int]], transports: dict, hosts: dict, run_id: str, event: str,
           timeout: float, poll_s: float) -> dict:
    """{name: outcome} once each zygote printed its `event` line (its JSON, with `seconds`
    waited), or why not."""
    def one(item):
        z, pid = item
        d = z.task_dir(hosts[z.host].workdir, run_id)
        t0, deadline = time.monotonic(), time.monotonic() + timeout
        pattern = shell.q(f'"{event}"')
        cmd = f"grep -h {pattern} {shell.q(d + '/' + layout.STDOUT_FILE)} 2>/dev/null; " \
              f"cat {shell.q(d + '/' + layout.EXIT_CODE_FILE)} 2>/dev/null | sed 's/^/exit /'; true"
        while time.monotonic() < deadline:
            out = transports[z.host].exec(cmd, timeout=30).stdout
            for line in out.splitlines():
                if line.startswith("{"):
                    return {**json.loads(line), "seconds": round(time.monotonic() - t0, 3)}
                if line.startswith("exit "):
                    raise HarnessError(f"host {z.host}: the zygote ended ({line}) before {event}")
            time.sleep(poll_s)
        raise HarnessError(f"host {z.host}: no {event} from the zygote after {timeout:g} s")

    return fan_out(started, one)


def wait_ready(started: dict[str, tuple[Zygote, int]], transports: dict, hosts: dict, run_id: str, control,
               timeout: float = READY_TIMEOUT_S) -> None:
    """Until every zygote has its imports done (its `warm_ready` line), so the next run on its
    host does not share the CPU with them."""
    for name, o in _await(started, transports, hosts, run_id, "warm_ready", timeout, 0.1).items():
        z, _ = started[name]
        if o.error is not None:
            control.emit("warm_ready", host=z.host, name=name, error=str(o.error))
        else:
            control.emit("warm_ready", host=z.host, name=name, waited_s=o.value["seconds"],
                         import_s=o.value.get("import_s"), imports=o.value.get("imports"))


def wait_listening(started: dict[str, tuple[Zygote, int]], transports: dict, hosts: dict, run_id: str, control,
                   timeout: float = LISTEN_TIMEOUT_S) -> dict[str, tuple[Zygote, int]]:
    """Until every zygote started in its run's own window listens (it then takes that run's
    tasks, which wait for its imports). One that does not in time costs that run no more: its
    tasks start anyway and run cold without it; the run stops it at its end."""
    ok = {}
    for name, o in _await(started, transports, hosts, run_id, "warm_listening", timeout, 0.05).items():
        z, _ = started[name]
        if o.error is not None:
            control.emit("warm_listening", host=z.host, name=name, error=str(o.error))
        else:
            control.emit("warm_listening", host=z.host, name=name, waited_s=o.value["seconds"])
            ok[name] = started[name]
    return ok


def stop(started: dict[str, tuple[Zygote, int]], transports: dict, run_id: str, control,
         grace_s: float = 10.0) -> dict[str, list[int]]:
    """SIGTERM every zygote, SIGKILL what is left after grace_s, then look for any process of
    the run on their hosts (the run's last sweep, zygotes included); {host: leftover pids}."""
    by_host: dict[str, list[int]] = {}
    for z, pid in started.values():
        by_host.setdefault(z.host, []).append(pid)

    def one(host: str) -> list[int]:
        tr, pids = transports[host], by_host[host]
        tr.exec(shell.signal_command(pids, "TERM"), timeout=30)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            alive = shell.parse_pids(tr.exec(shell.leftovers_command(run_id, pids, keep_warm=False), timeout=30).stdout)
            if not alive:
                return []
            time.sleep(0.2)
        tr.exec(shell.signal_command(pids, "KILL"), timeout=30)
        found = shell.parse_pids(tr.exec(shell.leftovers_command(run_id, pids, keep_warm=False), timeout=30).stdout)
        if found:
            tr.exec("kill -KILL " + " ".join(str(p) for p in found) + " 2>/dev/null; true", timeout=30)
        return shell.parse_pids(tr.exec(shell.leftovers_command(run_id, pids, keep_warm=False), timeout=30).stdout)

    leftovers = {}
    for host, o in fan_out({h: h for h in by_host}, one).items():
        left = [-1] if o.error is not None else o.value
        control.emit("warm_stop", host=host, zygotes=by_host[host], leftovers=left)
        if left:
            leftovers[host] = left
    return leftovers


class WarmStarts:
    """The run's warm zygotes (stages/warm_pool.py): started on a host when a configuration
    run there has ended and a later one will use them, or as the run they serve first begins
    (own_run), stopped with the run."""

    def __init__(self, plan, transports, hosts, control, idle_s: float):
        self.plan, self.transports, self.hosts, self.control, self.idle_s = plan, transports, hosts, control, idle_s
        self.index = {cp.name: i for i, cp in enumerate(plan.configs)}
        self.started: dict = {}
        self.reserved: set[str] = set()   # being started by one configuration's thread
        self._lock = threading.Lock()   # configuration runs of a wave end in their own threads

    def after(self, cp, go_on: bool, stopping: bool = False) -> dict:
        """Zygotes to have ready before the next run on cp's hosts: those started now, when cp
        succeeded and a later run uses them, and an own zygote cp was the first run of (cp's
        tasks may have ended before its imports did: a failure, max_init_s), unless the run
        is stopping."""
        if not self.plan.zygotes or stopping:
            return {}
        unit = self.index[cp.name]
        with self._lock:
            todo = due(list(self.plan.zygotes), unit, cp.hosts, self._taken()) if go_on else []
            self.reserved.update(z.name for z in todo)
        fresh = self._start(todo)
        own = {z.name: self.started[z.name] for z in self.plan.zygotes
               if z.own_run and z.cold_unit == unit and z.name in self.started}
        return {**own, **fresh}

    def before(self, cp) -> None:
        """As configuration run `cp` begins (after its config_start): the zygotes it is the cold
        run of (warm_pool.Zygote.own_run), started and listening before its tasks start."""
        if not self.plan.zygotes:
            return
        with self._lock:
            todo = due_before(list(self.plan.zygotes), self.index[cp.name], cp.hosts, self._taken())
            self.reserved.update(z.name for z in todo)
        fresh = self._start(todo)
        if fresh:
            wait_listening(fresh, self.transports, self.hosts, self.plan.run_id, self.control)

    def _taken(self) -> set[str]:
        return set(self.started) | self.reserved

    def _start(self, todo: list) -> dict:
        """Started outside the lock: a parallel configuration's window must not wait for
        another's zygote launch."""
        fresh = start(todo, self.transports, self.hosts, self.plan.run_id, self.idle_s, self.control) if todo else {}
        with self._lock:
            self.started.update(fresh)
            self.reserved.difference_update(z.name for z in todo)   # one that failed may be tried again later
        return fresh

    def ready(self, fresh: dict) -> None:
        if fresh:
            wait_ready(fresh, self.transports, self.hosts, self.plan.run_id, self.control)

    def stop(self, grace_s: float) -> dict[str, list[int]]:
        return stop(self.started, self.transports, self.plan.run_id, self.control, grace_s) \
            if self.started else {}
