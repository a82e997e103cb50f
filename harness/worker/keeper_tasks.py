"""One host's tasks of a detached run, as its keeper handles them: start (the same start
command as the control side: harness/protocol/task_shell.py), renew their leases, poll
them (exit_code file, process state, newest step record), TERM them, KILL them and sweep
the host for leftovers. The steward decides when (harness/worker/keeper_steward.py); this
module only does it. Standard library and harness.protocol only."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from harness.protocol import layout
from harness.protocol.failure_line import decisive_line, gloo_crash_hint, shorten
from harness.protocol.task_shell import leftovers_command, parse_pids, signal_command, start_command

_TAIL_BYTES = 65536   # the newest step record is in the last lines of an events file


def _sh(command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout)


def process_state(pid: int) -> str:
    """'running', or 'gone' for no such process or a zombie (some inits never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "gone"
        except PermissionError:
            return "running"
        return "running"
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return "gone" if state == ["Z"] else "running"


def newest_record(path: Path) -> dict | None:
    """The newest `step` (or utilization `sample`) record of an events file, for the live table."""
    import json

    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _TAIL_BYTES))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if '"event": "step"' in line or '"event": "sample"' in line:
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


class LocalTasks:
    def __init__(self, spec: dict, host: str):
        self.host = host
        self.run_id = spec["run_id"]
        self.lease_s = float(spec["lease_s"])
        self.argv = list(spec["worker_argv"])
        self.sweep_config_only = bool(spec.get("sweep_config_only"))
        self.tasks: dict[tuple[str, str], dict] = {}
        for c in spec["configs"]:
            for t in c["tasks"]:
                if t["host"] == host:
                    self.tasks[c["name"], t["task_id"]] = t
        self.pids: dict[tuple[str, str], int] = {}
        self.start_errors: dict[tuple[str, str], str] = {}
        self.exits: dict[tuple[str, str], tuple[int | None, str]] = {}
        self.termed: set[tuple[str, str]] = set()
        self.last: dict[tuple[str, str], dict | None] = {}   # newest step record, read while running
        self.swept: dict[str, list[int]] = {}

    def configs(self) -> list[str]:
        return list(dict.fromkeys(c for c, _ in self.tasks))

    # -- orders --------------------------------------------------------------------------
    def start(self, config: str, group: int) -> None:
        """Start this host's tasks of `config` with start_group <= group that are not started,
        lower groups first (the steward releases a group once the one before it runs)."""
        todo = sorted(((k, t) for k, t in self.tasks.items() if k[0] == config and t["start_group"] <= group
                       and k not in self.pids and k not in self.start_errors), key=lambda kt: kt[1]["start_group"])
        for key, t in todo:
            try:
                res = _sh(start_command(t["task_dir"], self.argv, self.lease_s))
                out = res.stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                self.start_errors[key] = f"{type(e).__name__}: {e}"
                continue
            if out.isdigit():
                self.pids[key] = int(out)
            else:
                self.start_errors[key] = (res.stderr.strip() or out or "no pid")[-300:]

    def term(self, config: str) -> None:
        """SIGTERM to the session of every running task of `config`, once each."""
        keys = [k for k in self.pids if k[0] == config and k not in self.termed and k not in self.exits]
        if keys:
            _sh(signal_command([self.pids[k] for k in keys], "TERM"), timeout=30)
        self.termed.update(keys)

    def sweep(self, config: str | None) -> list[int]:
        """KILL the sessions of `config`'s tasks (every task's with None), then every process
        still of the run (of `config` only when configurations share the machine); what
        survives is the host's leftovers. Recorded in `swept` for the steward."""
        keys = [k for k in self.pids if config is None or k[0] == config]
        pids = [self.pids[k] for k in keys]
        if pids:
            _sh(signal_command(pids, "KILL"), timeout=30)
        only = config if (self.sweep_config_only and config is not None) else None
        found = parse_pids(_sh(leftovers_command(self.run_id, pids, only), timeout=30).stdout, {os.getpid()})
        if found:
            _sh("kill -KILL " + " ".join(str(p) for p in found) + " 2>/dev/null; true", timeout=30)
            time.sleep(0.2)
            found = parse_pids(_sh(leftovers_command(self.run_id, pids, only), timeout=30).stdout, {os.getpid()})
        for k in keys:
            self.termed.add(k)
        if config is not None:
            self.swept[config] = found
        return found

    def stop_everything(self, grace_s: float) -> list[int]:
        """The keeper lost its steward: TERM every task, wait up to the grace, KILL, sweep."""
        for c in self.configs():
            self.term(c)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.running():
            time.sleep(0.2)
            self.poll()
        return self.sweep(None)

    # -- what is going on ----------------------------------------------------------------
    def running(self) -> list[tuple[str, str]]:
        return [k for k in self.pids if k not in self.exits]

    def renew(self) -> None:
        """Touch the lease file of every running task: its watchdog kills it when the lease
        is older than lease_s (a keeper that died, or lost its steward, stops renewing)."""
        now = time.time()
        for k in self.running():
            try:
                os.utime(Path(self.tasks[k]["task_dir"]) / layout.LEASE_FILE, (now, now))
            except OSError:
                pass

    def poll(self) -> dict:
        """{config: {task_id: {state, pid, returncode, last_step, error}}} of every task this
        keeper started or failed to start."""
        out: dict[str, dict] = {}
        for key, err in self.start_errors.items():
            out.setdefault(key[0], {})[key[1]] = {"state": "start_failed", "error": err}
        for key, pid in self.pids.items():
            t = self.tasks[key]
            d = Path(t["task_dir"])
            if key not in self.exits:
                self.last[key] = newest_record(d / (t.get("events") or layout.EVENTS_FILE)) or self.last.get(key)
                rc = self._exit_code(d)
                if rc is None and process_state(pid) == "gone":
                    rc = self._exit_code(d)   # it may have ended between the two looks
                    if rc is None:
                        self.exits[key] = (None, "")
                if rc is not None:
                    self.exits[key] = (rc, self._error(t, rc) if rc != 0 else "")
            rep = {"state": "running", "pid": pid, "last_step": self.last.get(key)}
            if key in self.exits:
                rc, err = self.exits[key]
                rep.update(state="gone" if rc is None else "exited", returncode=rc, error=err)
            out.setdefault(key[0], {})[key[1]] = rep
        return out

    @staticmethod
    def _exit_code(d: Path) -> int | None:
        try:
            text = (d / layout.EXIT_CODE_FILE).read_text().strip()
        except OSError:
            return None
        return int(text) if text.lstrip("-").isdigit() else None

    @staticmethod
    def _error(t: dict, rc: int) -> str:
        try:
            with open(Path(t["task_dir"]) / layout.STDERR_FILE, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 16384))
                tail = "\n".join(fh.read().decode("utf-8", "replace").splitlines()[-40:])
        except OSError:
            tail = ""
        return gloo_crash_hint(bool(t.get("gloo")), rc, shorten(decisive_line(tail)))
