"""PURE: the steward's rules for a detached run — the control side's supervision
(harness/stages/launch.py's Supervisor and harness/stages/waves.py's run_waves) as a
state machine that the steward keeper (harness/worker/keeper.py) drives from its host.

Inputs: the keeper spec (every configuration run's tasks, waves, time limits, options),
what each host's keeper reports (its tasks' states, what its sweep found) and the clock.
Outputs: the orders each host's keeper follows (start a group, TERM, sweep, end) and the
control records the control side would have written (same events and fields as
control.jsonl: docs/events.md). Nothing here touches a process, a socket or a file.

The rules are today's: start groups in order across hosts, each once every task of the
previous group runs; the first failure (a critical task that fails or vanishes, a host
silent for longer than the connection grace) stops every task of that configuration run
(TERM, the grace, then KILL and a sweep for leftovers on every host); time_limit_s;
exit 75 after a spot notice is `interrupted`; waves, keep_going and fail_fast as
run_waves has them."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.protocol import exits, layout, live_rules
from harness.protocol.live_rules import LiveRules

TERMINAL = ("succeeded", "failed", "stopped", "lost", "interrupted")
SILENT_NOTE_S = 5.0      # a member silent this long gets a host_unreachable record (a blip so far)
SWEEP_TIMEOUT_S = 30.0   # a sweep not reported by then: that host's leftovers are unknown ([-1])


@dataclass
class TaskView:
    entry: dict                 # the keeper spec's task: task_id, host, role, start_group, finishes, critical
    state: str = "pending"      # pending | launching | running | a TERMINAL state
    pid: int | None = None
    returncode: int | None = None
    last_step: dict | None = None
    error: str = ""
    note: str = ""

    @property
    def host(self) -> str:
        return self.entry["host"]

    def view(self) -> dict:
        e = self.entry
        return {"task_id": e["task_id"], "host": e["host"], "role": e["role"], "rank": e.get("rank"),
                "state": self.state, "pid": self.pid, "returncode": self.returncode, "last_step": self.last_step,
                "error": self.error, "note": self.note}


@dataclass
class ConfigRun:
    spec: dict                  # the keeper spec's configuration run
    tasks: list[TaskView]
    phase: str = "waiting"      # waiting | starting | watching | terming | sweeping | ended
    groups: list[int] = field(default_factory=list)
    group_i: int = 0
    t0: float = 0.0
    status: str = ""
    reason: str = ""
    start_error: str = ""
    stop_reason: str = ""       # set from outside: harness stop, or another configuration failed (fail-fast)
    deadline: float = 0.0
    swept: dict = field(default_factory=dict)   # host -> leftover pids
    started_wall: float | None = None   # the config_start record's t_wall (the keeper sets it)
    live: LiveRules | None = None       # the live rules, as the attached supervisor applies them
    reason_code: str | None = None      # stopped_early: the rule that stopped it

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def hosts(self) -> list[str]:
        return list(dict.fromkeys(t.host for t in self.tasks))

    @property
    def stopping(self) -> bool:
        return self.phase in ("terming", "sweeping", "ended")

    def on(self, host: str) -> list[TaskView]:
        return [t for t in self.tasks if t.host == host]

    def view(self) -> dict:
        return {"name": self.name, "phase": self.phase, "status": self.status, "reason": self.reason,
                "strategy": self.spec.get("start_record", {}).get("strategy"),
                "time_limit_s": self.spec["time_limit_s"], "started_wall": self.started_wall,
                "tasks": [t.view() for t in self.tasks]}


def _live_rules(c: dict) -> LiveRules | None:
    """A configuration's live rules from its keeper spec (max_init_s, live_rules), or None."""
    max_init, watch = float(c.get("max_init_s") or 0.0), bool(c.get("live_rules", False))
    return LiveRules(max_init_s=max_init, watch=watch) if (max_init or watch) else None


class Steward:
    """Feed it `report(...)` for every host (its own included) and `tick(now)` every poll;
    read `orders(host)` for each host and drain `records` into the control log."""

    def __init__(self, spec: dict, now: float):
        self.spec = spec
        self.members = list(spec["hosts"])
        self.grace = float(spec["connection_grace_s"])
        self.configs = {c["name"]: ConfigRun(c, [TaskView(dict(t)) for t in c["tasks"]],
                                             groups=sorted({t["start_group"] for t in c["tasks"]}),
                                             live=_live_rules(c))
                        for c in spec["configs"]}
        self.order = [c["name"] for c in spec["configs"]]
        self.waves = [list(w) for w in spec["waves"]]
        self.wave_i = -1
        self.t_start = now
        self.last_seen: dict[str, float] = {}
        self.down_since: dict[str, float] = {}
        self.unreachable: dict[str, str] = {}   # host -> why its tasks count as lost
        self.stop_reason = ""
        self.fail_stop = False
        self.outcomes: list[tuple[str, str, str]] = []
        self.ended = False
        self.run_end: dict | None = None
        self.records: list[tuple[str, dict]] = []

    # -- inputs ----------------------------------------------------------------------
    def report(self, host: str, tasks: dict, swept: dict, now: float) -> None:
        """A host's keeper reported: {config: {task_id: {state, pid, returncode, last_step,
        error}}} and {config: [leftover pids]} for the sweeps it has done."""
        if host not in self.members or host in self.unreachable:
            return   # a host declared lost stays lost: its tasks were counted as vanished
        first = host not in self.last_seen
        self.last_seen[host] = now
        if host in self.down_since:
            seconds = now - self.down_since.pop(host)
            for cr in self._active(host):
                self._emit("host_reconnected", config=cr.name, host=host, seconds=round(seconds, 3))
                for t in cr.on(host):
                    t.note = ""
        if first and len(self.last_seen) == len(self.members) and self.wave_i < 0:
            self._emit("keepers_joined", hosts=list(self.members), seconds=round(now - self.t_start, 3))
        for name, states in (tasks or {}).items():
            cr = self.configs.get(name)
            if cr is None or cr.phase in ("waiting", "ended"):
                continue
            for t in cr.on(host):
                rep = states.get(t.entry["task_id"])
                if rep:
                    self._apply(cr, t, rep)
        for name, pids in (swept or {}).items():
            cr = self.configs.get(name)
            if cr is not None and cr.phase == "sweeping" and host not in cr.swept:
                cr.swept[host] = [int(p) for p in pids]

    def request_stop(self, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
            for cr in self.configs.values():
                if cr.phase in ("starting", "watching"):
                    cr.stop_reason = cr.stop_reason or reason

    # -- the clock -------------------------------------------------------------------
    def tick(self, now: float) -> None:
        if self.ended:
            return
        self._watch_members(now)
        for cr in list(self.configs.values()):
            self._advance(cr, now)
        self._advance_waves(now)

    def orders(self, host: str) -> dict:
        start, term, sweep = {}, [], []
        for cr in self.configs.values():
            if not cr.on(host):
                continue
            if cr.phase in ("starting", "watching"):
                start[cr.name] = cr.groups[min(cr.group_i, len(cr.groups) - 1)]
            elif cr.phase == "terming":
                term.append(cr.name)
            elif cr.phase == "sweeping":
                term.append(cr.name)
                if host not in cr.swept:
                    sweep.append(cr.name)
        return {"start": start, "term": term, "sweep": sweep, "end": self.ended}

    def snapshot(self) -> dict:
        return {"phase": "ended" if self.ended else ("joining" if self.wave_i < 0 else "running"),
                "wave": self.wave_i, "configs": [self.configs[n].view() for n in self.order],
                "unreachable": sorted(self.unreachable), "down": sorted(self.down_since),
                "stop_reason": self.stop_reason, "run_end": self.run_end}

    # -- tasks -----------------------------------------------------------------------
    def _apply(self, cr: ConfigRun, t: TaskView, rep: dict) -> None:
        if rep.get("last_step"):
            t.last_step = rep["last_step"]
        if t.state in TERMINAL or t.state == "pending":
            return
        state = rep.get("state")
        if state == "start_failed":
            t.state, t.error = "failed", f"could not start: {rep.get('error') or 'no pid'}"
            cr.start_error = cr.start_error or f"host {t.host}: task {t.entry['task_id']} {t.error}"
            return
        if state not in ("running", "exited", "gone"):
            return
        if t.pid is None and rep.get("pid"):
            t.pid, t.state = int(rep["pid"]), "running"
            self._emit("task_running", config=cr.name, task_id=t.entry["task_id"], host=t.host, pid=t.pid)
        if state == "exited":
            t.returncode = rep.get("returncode")
            if t.returncode == 0:
                t.state = "succeeded"
            elif t.returncode == exits.INTERRUPTED and t.entry["role"] != "sampler":
                t.state = "interrupted"
            elif cr.stopping:
                t.state = "stopped"
            else:
                t.state, t.error = "failed", rep.get("error") or ""
            self._exit(cr, t)
        elif state == "gone":
            t.state = "stopped" if cr.stopping else "lost"
            self._exit(cr, t)

    def _exit(self, cr: ConfigRun, t: TaskView) -> None:
        self._emit("task_exit", config=cr.name, task_id=t.entry["task_id"], host=t.host,
                   returncode=t.returncode, state=t.state, error=t.error or None)

    def _watch_members(self, now: float) -> None:
        for h in self.members:
            if h in self.unreachable:
                continue
            seen = self.last_seen.get(h)
            silent = now - (seen if seen is not None else self.t_start)
            if seen is not None and silent >= SILENT_NOTE_S and h not in self.down_since:
                self.down_since[h] = seen
                for cr in self._active(h):
                    self._emit("host_unreachable", config=cr.name, host=h,
                               error=f"the keeper on host {h} has not reported for {silent:.0f} s", grace_s=self.grace)
            if h in self.down_since:
                for cr in self._active(h):
                    for t in cr.on(h):
                        if t.state == "running":
                            t.note = f"host's keeper silent for {silent:.0f} s (grace {self.grace:g} s)"
            if silent >= self.grace:
                self.down_since.pop(h, None)
                why = (f"the keeper on host {h} never reported (within the {self.grace:g} s connection grace)"
                       if seen is None else
                       f"host unreachable for more than {self.grace:g} s (connection grace): its keeper stopped "
                       f"reporting")
                self.unreachable[h] = why
                for cr in self._active(h):
                    self._lose(cr, h, why)

    def _lose(self, cr: ConfigRun, host: str, why: str) -> None:
        """Tasks of `host` in `cr` that were ordered to start and have not ended: lost."""
        for t in cr.on(host):
            if t.state in ("launching", "running"):
                t.state, t.error = "lost", why
                if cr.stopping:
                    t.state = "stopped"
                self._exit(cr, t)

    def _active(self, host: str) -> list[ConfigRun]:
        return [cr for cr in self.configs.values()
                if cr.phase not in ("waiting", "ended") and cr.on(host)]

    # -- one configuration run ---------------------------------------------------------
    def _advance(self, cr: ConfigRun, now: float) -> None:
        if cr.phase == "starting":
            if cr.start_error:
                return self._begin_stop(cr, "failed", cr.start_error, now)
            verdict = self._verdict(cr, now)
            if verdict and verdict[0] != "succeeded":
                return self._begin_stop(cr, *verdict, now)
            group = cr.groups[cr.group_i]
            if all(t.pid is not None or t.state in TERMINAL for t in cr.tasks if t.entry["start_group"] == group):
                cr.group_i += 1
                if cr.group_i == len(cr.groups):
                    cr.phase = "watching"
                else:
                    self._release(cr, cr.groups[cr.group_i])
        if cr.phase == "watching":
            verdict = self._verdict(cr, now)
            if verdict:
                self._begin_stop(cr, *verdict, now)
        if cr.phase == "terming":
            live = [t for t in cr.tasks if t.state in ("running", "launching") and t.host not in self.unreachable]
            if not live or now >= cr.deadline:
                for t in cr.tasks:
                    if t.state in ("running", "launching"):
                        t.state = "stopped"
                        self._exit(cr, t)
                    elif t.state == "pending":
                        t.state = "stopped"
                cr.phase, cr.deadline = "sweeping", now + SWEEP_TIMEOUT_S
        if cr.phase == "sweeping":
            todo = [h for h in cr.hosts if h not in self.unreachable and h not in cr.swept]
            if not todo or now >= cr.deadline:
                leftovers = {h: [-1] for h in cr.hosts if h in self.unreachable or h not in cr.swept}
                leftovers.update({h: p for h, p in cr.swept.items() if p})
                cr.phase = "ended"
                code = {"reason_code": cr.reason_code} if cr.status == live_rules.STATUS else {}
                self._emit("config_end", config=cr.name, status=cr.status, reason=cr.reason,
                           leftovers=dict(sorted(leftovers.items())), **code)
                self.outcomes.append((cr.name, cr.status, cr.reason))
                if cr.status not in ("succeeded", live_rules.STATUS) and self.spec.get("fail_fast"):
                    self.fail_stop = True
                    for other in self.configs.values():
                        if other.phase in ("starting", "watching"):
                            other.stop_reason = other.stop_reason or \
                                "stopped because another configuration failed (--fail-fast)"

    def _verdict(self, cr: ConfigRun, now: float) -> tuple[str, str] | None:
        """Supervisor._watch's rules, in its order."""
        if cr.stop_reason:
            return "stopped", cr.stop_reason
        if now - cr.t0 > cr.spec["time_limit_s"]:
            return "timeout", f"time limit of {cr.spec['time_limit_s']:g} s reached"
        if cr.live is not None and cr.phase == "watching":
            steps = [(t.entry["task_id"], t.host, t.last_step) for t in cr.tasks if t.entry.get("trains")]
            samples = [(t.host, t.last_step) for t in cr.tasks if t.entry["role"] == layout.SAMPLER_ROLE]
            hit = cr.live.check(now - cr.t0, steps, samples)
            if hit is not None:
                cr.reason_code = hit.code
                self._emit("live_rule", config=cr.name, rule=hit.code, host=hit.host, reason=hit.reason,
                           elapsed_s=round(now - cr.t0, 3))
                return live_rules.STATUS, f"stopped early ({hit.code}): {hit.reason}"
        hit = [t for t in cr.tasks if t.state == "interrupted"]
        if hit:
            t = hit[0]
            return "interrupted", (f"host {t.host} got a spot interruption notice; task {t.entry['task_id']} "
                                   f"checkpointed and exited {t.returncode} (resume with --resume)")
        bad = [t for t in cr.tasks if t.state in ("failed", "lost") and t.entry["critical"]]
        if bad:
            t = bad[0]
            what = f"exited {t.returncode}" if t.state == "failed" else "vanished without an exit code"
            detail = f": {t.error}" if t.error else ""
            return "failed", f"task {t.entry['task_id']} on host {t.host} {what}{detail}"
        if all(t.state == "succeeded" for t in cr.tasks if t.entry["finishes"] and t.entry["critical"]):
            return "succeeded", ""
        return None

    def _begin_stop(self, cr: ConfigRun, status: str, reason: str, now: float) -> None:
        cr.status, cr.reason = status, reason
        cr.phase, cr.deadline = "terming", now + float(self.spec["grace_s"])

    def _release(self, cr: ConfigRun, group: int) -> None:
        """Start group `group` on its hosts: task_launch now, task_running when a host reports the pid."""
        for t in cr.tasks:
            if t.entry["start_group"] != group:
                continue
            self._emit("task_launch", config=cr.name, task_id=t.entry["task_id"], host=t.host,
                       role=t.entry["role"], rank=t.entry.get("rank"))
            t.state = "launching"
            if t.host in self.unreachable:
                t.state, t.error = "lost", self.unreachable[t.host]
                self._exit(cr, t)

    # -- waves -----------------------------------------------------------------------
    def _advance_waves(self, now: float) -> None:
        if self.wave_i < 0:
            joined = len(set(self.last_seen) | set(self.unreachable)) >= len(self.members)
            if not joined and now - self.t_start < self.grace:
                return
        elif any(self.configs[n].phase != "ended" for n in self.waves[self.wave_i]):
            return
        elif self._run_over(self.waves[self.wave_i]):
            return self._finish()
        if self.stop_reason or self.wave_i + 1 >= len(self.waves):
            return self._finish()
        self.wave_i += 1
        names = self.waves[self.wave_i]
        self._emit("wave_start", wave=self.wave_i, configs=list(names))
        for name in names:
            cr = self.configs[name]
            self._emit("config_start", config=name, **cr.spec["start_record"])
            cr.phase, cr.t0, cr.group_i = "starting", now, 0
            self._release(cr, cr.groups[0])

    def _run_over(self, names: list[str]) -> bool:
        """run_waves' rule after a wave: a stop ends the run; sequentially a failure does
        unless keep_going; in parallel only with fail_fast."""
        # stopped_early (a live rule) ends only that configuration, as in run_waves
        done = [o for o in self.outcomes if o[0] in names and o[1] not in ("succeeded", live_rules.STATUS)]
        if any(o[1] == "stopped" for o in done) or self.fail_stop:
            return True
        return bool(done) and not self.spec.get("parallel") and not self.spec.get("keep_going")

    def _finish(self) -> None:
        status, reason = "succeeded", ""
        rank = {n: i for i, n in enumerate(self.order)}
        for name, st, why in sorted(self.outcomes, key=lambda o: rank[o[0]]):
            if st != "succeeded" and status == "succeeded":
                status, reason = st, f"{name}: {why}"
        if status == "succeeded" and self.stop_reason and len(self.outcomes) < len(self.order):
            status, reason = "stopped", self.stop_reason
        self.run_end = {"status": status, "reason": reason}
        self._emit("run_end", status=status, reason=reason)
        self.ended = True

    def _emit(self, event: str, **fields) -> None:
        self.records.append((event, fields))
