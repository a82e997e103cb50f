"""Stage 6, execute: start a configuration's tasks in order, supervise them, and stop
every one of them on the first failure, on a stop request (Ctrl-C / SIGTERM) or at the
time limit. Each task gets its bound spec unchanged as task.json and its env as env.sh."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from harness.config.inventory import Host
from harness.errors import HarnessError
from harness.protocol.failure_line import decisive_line, gloo_crash_hint, shorten
from harness.protocol.events import EventLog
from harness import strategies
from harness.protocol import live_rules
from harness.protocol.live_rules import LiveRules
from harness.stages.plan import ConfigPlan, Task
from harness.transport import shell
from harness.protocol import exits, layout
from harness.protocol.constants import worker_argv as _worker_argv
from harness.transport.base import Transport
from harness.transport.fanout import fan_out


@dataclass
class TaskState:
    task: Task
    pid: int | None = None
    state: str = "pending"      # pending | running | succeeded | failed | stopped | lost | interrupted
    returncode: int | None = None
    last_step: dict | None = None
    error: str = ""
    note: str = ""              # e.g. "host unreachable for 12 s; reconnecting" while a blip lasts


@dataclass
class ConfigOutcome:
    config: str
    status: str                 # succeeded | failed | stopped | timeout | interrupted | stopped_early
    reason: str
    tasks: list[TaskState]
    leftovers: dict[str, list[int]] = field(default_factory=dict)
    reason_code: str | None = None   # stopped_early: the live rule (max_init | nan_loss | thrashing)


def worker_argv(host: Host) -> list[str]:
    return _worker_argv(host.interpreter)


def _per_host(fn: Callable[[str], object], hosts: list[str]) -> dict:
    """fn for every host in parallel; {host: Outcome}, a failing host is data."""
    return fan_out({h: h for h in hosts}, fn, max_workers=32)


class Supervisor:
    def __init__(self, cp: ConfigPlan, transports: dict[str, Transport], hosts: dict[str, Host],
                 control: EventLog, stop: threading.Event, *,
                 progress: Callable[[ConfigPlan, list[TaskState]], None] | None = None,
                 poll_interval: float = 0.5, grace_s: float = 10.0, lease_s: float = shell.LEASE_S,
                 sweep_config_only: bool = False, connection_grace_s: float = 0.0,
                 live: LiveRules | None = None):
        self.cp = cp
        self.live = live
        self.reason_code: str | None = None
        # A host the control side cannot reach for less than this is a blip: its tasks go on
        # (their lease must outlast it) and supervision resumes when it answers again.
        self.connection_grace_s = connection_grace_s
        self._down_since: dict[str, float] = {}
        self._last_ok: dict[str, float] = {}   # host -> when it last answered: an outage starts there
        # In a parallel wave other configurations' tasks may share these hosts' machine.
        self.sweep_config_only = sweep_config_only
        self.transports = transports
        self.hosts = hosts
        self.control = control
        self.stop = stop
        self.progress = progress or (lambda cp, states: None)
        self.poll_interval = poll_interval
        self.grace_s = grace_s
        self.lease_s = lease_s
        self.states = [TaskState(t) for t in cp.tasks]
        self._stopping = False   # once we signal the tasks, their ending is 'stopped', not a failure
        self.unreachable: set[str] = set()   # hosts that stopped answering: not asked again

    # -- start -------------------------------------------------------------------------
    def _prepare(self, host: str) -> None:
        """Every task file of this host in one round trip (a tar on stdin)."""
        files = []
        for st in self._on(host):
            t = st.task
            files.append((f"{t.task_dir}/{layout.TASK_FILE}", t.spec.to_json().encode(), 0o644))
            files.append((f"{t.task_dir}/{layout.ENV_FILE}", shell.env_file(t.env), 0o600))
        res = self.transports[host].exec(shell.UNPACK_COMMAND, stdin=shell.files_tar(files), timeout=60)
        if not res.ok:
            raise HarnessError(f"host {host}: could not write the task files: {res.stderr.strip()}")

    def _start(self, host: str, group: int) -> None:
        todo = [st for st in self._on(host) if st.task.start_group == group]
        argv = worker_argv(self.hosts[host])
        for st in todo:
            t = st.task
            self.control.emit("task_launch", config=t.config, task_id=t.task_id, host=host, role=t.role, rank=t.rank)
        res = self.transports[host].exec(
            shell.start_many_command([(st.task.task_id, st.task.task_dir, argv) for st in todo], self.lease_s),
            timeout=60)
        pids = shell.parse_started(res.stdout)
        for st in todo:
            t = st.task
            if t.task_id not in pids:
                st.state, st.error = "failed", f"could not start: {res.stderr.strip() or res.stdout.strip() or 'no pid'}"
                raise HarnessError(f"host {host}: task {t.task_id} {st.error}")
            st.pid, st.state = pids[t.task_id], "running"
            self.control.emit("task_running", config=t.config, task_id=t.task_id, host=host, pid=st.pid)

    def _on(self, host: str) -> list[TaskState]:
        return [s for s in self.states if s.task.host == host]

    # -- supervise ---------------------------------------------------------------------
    def run(self) -> ConfigOutcome:
        t0 = time.monotonic()
        hosts = list(dict.fromkeys(t.host for t in self.cp.tasks))
        status, reason = "succeeded", ""
        try:
            self._raise_first(_per_host(self._prepare, hosts))
            for group in sorted({t.start_group for t in self.cp.tasks}):
                group_hosts = [h for h in hosts if any(s.task.start_group == group for s in self._on(h))]
                self._raise_first(_per_host(lambda h: self._start(h, group), group_hosts))
                self.progress(self.cp, self.states)
            status, reason = self._watch(t0, hosts)
        except HarnessError as e:
            status, reason = "failed", str(e)
        except KeyboardInterrupt:
            status, reason = "stopped", "interrupted"
        leftovers = self._stop_all(hosts, status)
        self.progress(self.cp, self.states)
        return ConfigOutcome(self.cp.name, status, reason, self.states, leftovers,
                             self.reason_code if status == live_rules.STATUS else None)

    @staticmethod
    def _raise_first(results: dict) -> None:
        for outcome in results.values():
            if outcome.error is not None:
                raise outcome.error

    def _watch(self, t0: float, hosts: list[str]) -> tuple[str, str]:
        while True:
            if self.stop.is_set():
                return "stopped", "stop requested (Ctrl-C or SIGTERM)"
            if time.monotonic() - t0 > self.cp.time_limit_s:
                return "timeout", f"time limit of {self.cp.time_limit_s:g} s reached"
            self._poll(hosts)
            self.progress(self.cp, self.states)
            early = self._live_rules(time.monotonic() - t0)
            if early is not None:
                return live_rules.STATUS, early
            hit = [s for s in self.states if s.state == "interrupted"]
            if hit:
                s = hit[0]
                return "interrupted", (f"host {s.task.host} got a spot interruption notice; task {s.task.task_id} "
                                       f"checkpointed and exited {s.returncode} (resume with --resume)")
            bad = [s for s in self.states if s.state in ("failed", "lost") and s.task.critical]
            if bad:
                s = bad[0]
                what = f"exited {s.returncode}" if s.state == "failed" else "vanished without an exit code"
                detail = f": {s.error}" if s.error else ""
                return "failed", f"task {s.task.task_id} on host {s.task.host} {what}{detail}"
            if all(s.state == "succeeded" for s in self.states if s.task.finishes and s.task.critical):
                return "succeeded", ""
            self.stop.wait(self.poll_interval)

    def _live_rules(self, elapsed_s: float) -> str | None:
        """The live rules over what the last poll brought back (harness/protocol/live_rules.py);
        a hit is written to control.jsonl (`live_rule`) and ends the configuration early."""
        if self.live is None:
            return None
        helpers = (layout.SAMPLER_ROLE, *strategies.helper_roles())
        steps = [(s.task.task_id, s.task.host, s.last_step) for s in self.states if s.task.role not in helpers]
        samples = [(s.task.host, s.last_step) for s in self.states if s.task.role == layout.SAMPLER_ROLE]
        hit = self.live.check(elapsed_s, steps, samples)
        if hit is None:
            return None
        self.reason_code = hit.code
        self.control.emit("live_rule", config=self.cp.name, rule=hit.code, host=hit.host, reason=hit.reason,
                          elapsed_s=round(elapsed_s, 3))
        return f"stopped early ({hit.code}): {hit.reason}"

    def _poll(self, hosts: list[str]) -> None:
        def poll(host: str):
            live = [s for s in self._on(host) if s.state == "running"]
            if not live:
                return {}
            cmd = shell.poll_command([(s.task.task_id, s.task.task_dir, s.pid, s.task.spec.get("events", layout.EVENTS_FILE))
                                      for s in live])
            return shell.parse_poll(self.transports[host].exec(cmd, timeout=30).stdout)

        for host, outcome in _per_host(poll, [h for h in hosts if h not in self.unreachable]).items():
            if outcome.error is not None:
                if self._blip(host, outcome.error):
                    continue
                # Unreachable for longer than the grace: its tasks cannot be supervised.
                self.unreachable.add(host)
                for s in self._on(host):
                    if s.state == "running":
                        s.state, s.error = "lost", f"host unreachable: {outcome.error}"
                        if self.connection_grace_s:
                            s.error = (f"host unreachable for more than {self.connection_grace_s:g} s "
                                       f"(connection grace): {outcome.error}")
                continue
            if host in self._down_since:
                seconds = time.monotonic() - self._down_since.pop(host)
                self.control.emit("host_reconnected", config=self.cp.name, host=host, seconds=round(seconds, 3))
                for s in self._on(host):
                    s.note = ""
            self._last_ok[host] = time.monotonic()
            result = outcome.value
            for s in self._on(host):
                st = result.get(s.task.task_id)
                if st is None:
                    continue
                s.last_step = st.last_step or s.last_step
                if st.state == "exited":
                    s.returncode = st.returncode
                    if st.returncode == 0:
                        s.state = "succeeded"
                    elif st.returncode == exits.INTERRUPTED and s.task.role != "sampler":
                        s.state = "interrupted"
                    elif self._stopping:
                        s.state = "stopped"
                    else:
                        s.state, s.error = "failed", gloo_hint(s.task, st.returncode, self._stderr_tail(host, s.task))
                    self._emit_exit(s)
                elif st.state == "gone":
                    s.state = "stopped" if self._stopping else "lost"
                    self._emit_exit(s)

    def _blip(self, host: str, error: Exception) -> bool:
        """True while `host` has been unreachable for less than the connection grace: its
        tasks stay running (nothing is restarted, so none is duplicated; their records wait
        on the host) and the next poll tries to reconnect. The outage is in control.jsonl."""
        if not self.connection_grace_s:
            return False
        now = time.monotonic()
        # The outage began when the host last answered, not when a failed poll (which may
        # wait out TCP_USER_TIMEOUT and a connect timeout) noticed it.
        first = host not in self._down_since
        since = self._down_since.setdefault(host, self._last_ok.get(host, now))
        if first:
            self.control.emit("host_unreachable", config=self.cp.name, host=host, error=str(error),
                              grace_s=self.connection_grace_s)
        if now - since >= self.connection_grace_s:
            return False
        for s in self._on(host):
            if s.state == "running":
                s.note = f"host unreachable for {now - since:.0f} s; reconnecting (grace {self.connection_grace_s:g} s)"
        return True

    def _stderr_tail(self, host: str, task: Task) -> str:
        try:
            res = self.transports[host].exec(f"tail -n 40 {shell.q(task.task_dir + '/' + layout.STDERR_FILE)}",
                                             timeout=15)
        except HarnessError:
            return ""
        # The decisive line, not just the last: e.g. Gloo's "Unable to find address for: …"
        # comes before the abort, a traceback's exception before the worker's own line.
        return shorten(decisive_line(res.stdout))

    def _emit_exit(self, s: TaskState) -> None:
        self.control.emit("task_exit", config=s.task.config, task_id=s.task.task_id, host=s.task.host,
                          returncode=s.returncode, state=s.state, error=s.error or None)

    # -- stop --------------------------------------------------------------------------
    def _stop_all(self, hosts: list[str], status: str) -> dict[str, list[int]]:
        """SIGTERM every task's process group, wait up to grace_s, SIGKILL what is left,
        then look on every host for any process of the run; report what survives."""
        def live_pids(host):
            return [s.pid for s in self._on(host) if s.state == "running" and s.pid]

        def term(host):
            pids = live_pids(host)
            if pids:
                self.transports[host].exec(shell.signal_command(pids, "TERM"), timeout=30)

        self._stopping = True
        hosts = [h for h in hosts if h not in self.unreachable]
        _per_host(term, hosts)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and any(live_pids(h) for h in hosts):
            time.sleep(0.2)
            self._poll(hosts)
        for s in self.states:
            if s.state == "running":
                s.state = "stopped"
                self._emit_exit(s)
            elif s.state == "pending":
                s.state = "stopped"

        run_id = self.cp.tasks[0].spec["run_id"] if self.cp.tasks else ""
        only = self.cp.name if self.sweep_config_only else None

        def sweep(host):
            pids = [s.pid for s in self._on(host) if s.pid]
            tr = self.transports[host]
            if pids:
                tr.exec(shell.signal_command(pids, "KILL"), timeout=30)
            found = shell.parse_pids(tr.exec(shell.leftovers_command(run_id, pids, only), timeout=30).stdout)
            if found:
                tr.exec("kill -KILL " + " ".join(str(p) for p in found) + " 2>/dev/null; true", timeout=30)
                time.sleep(0.2)
                found = shell.parse_pids(tr.exec(shell.leftovers_command(run_id, pids, only), timeout=30).stdout)
            return found

        # A host that stopped answering cannot be checked: its tasks may still run there.
        leftovers = {h: [-1] for h in sorted(self.unreachable)}
        for host, outcome in _per_host(sweep, hosts).items():
            if outcome.error is not None:
                leftovers[host] = [-1]  # unknown: the host could not be checked
            elif outcome.value:
                leftovers[host] = outcome.value
        return leftovers


def gloo_hint(task: Task, returncode: int | None, line: str) -> str:
    """PURE. harness.protocol.failure_line.gloo_crash_hint for a planned task."""
    return gloo_crash_hint(task.env.get("HOROVOD_CONTROLLER") == "gloo", returncode, line)
