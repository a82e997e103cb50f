"""ON the host: the autostop watchdog. After `after_s` seconds with no run attached and no
harness task running, it runs the shutdown command once; EC2 then stops or terminates the
instance (its instance-initiated shutdown behaviour, set by `harness hosts start`).

Standard library only, and self-contained: `hosts start` ships this file alone (no bundle
is on a freshly started host). Everything lives in one folder, `<workdir>/autostop/`:

  config.json        written by the control side: after_s, command, poll_s, enabled
  autostop.py        this file
  watchdog.lock      held (flock) by the one running watchdog; watchdog.pid, watchdog.log
  attached/<run>.json  a run attached: busy while that process lives. The run writes the pid of
                     its SSH session's process (the shell's $PPID, sshd's per-connection
                     process; on a local host the control process itself), so a killed or cut-off
                     control side stops counting at once, with no renewal to miss.
  activity           touched when a run attaches or detaches and on arming: idle starts there
  state.json         rewritten every poll: idle_since, deadline, what is busy
  fired.json         when the command ran: when, what, its exit code

Busy means: an attached run whose process is alive (same pid and start time) and that was
heard from (attach, or a lease of its tasks renewed) within hold_s (30 min), or a task
under <workdir>/runs/<run>/<config>/<task>/ whose `pid` is alive and that has no
`exit_code` yet (layout of harness/protocol/layout.py, repeated here; a test keeps them equal).

    python3 autostop.py --dir D --ensure-running    start the watchdog unless one runs
    python3 autostop.py --dir D --attach RUN --pid PID | --detach RUN | --cancel | --status
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import subprocess
import sys
import time

# harness/protocol/layout.py's names (this file must run without the harness package).
RUNS_DIR, PID_FILE, EXIT_CODE_FILE, LEASE_FILE = "runs", "pid", "exit_code", "lease"
CONFIG, STATE, FIRED, LOCK, PIDFILE, LOG = ("config.json", "state.json", "fired.json", "watchdog.lock",
                                            "watchdog.pid", "watchdog.log")
ATTACHED, ACTIVITY = "attached", "activity"
DEFAULT_POLL_S = 10.0
RETRY_S = 60.0  # a failed shutdown command is tried again after this long
LOCK_FD_ENV = "HARNESS_AUTOSTOP_LOCK_FD"   # the lock's fd, handed from ensure_running to the watchdog
HOLD_S = 1800.0  # an attached run silent (no lease renewed, no re-attach) this long no longer counts


def default_command() -> list[str]:
    cmd = ["shutdown", "-P", "now"]
    return cmd if os.geteuid() == 0 else ["sudo", "-n", *cmd]


def _write_json(path: str, doc: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def start_ticks(pid: int):
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), so a
    reused pid is not mistaken for the process that attached; None when it is gone."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    if not fields or fields[0] == "Z":  # a zombie has ended
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    return start_ticks(pid) is not None


def busy_reasons(root: str, workdir: str, hold_s: float = HOLD_S, now=None) -> list[str]:
    """What keeps the host busy now (empty: idle)."""
    out = []
    now = time.time() if now is None else now
    adir = os.path.join(root, ATTACHED)
    runs = os.path.join(workdir, RUNS_DIR)
    for name in sorted(os.listdir(adir)) if os.path.isdir(adir) else []:
        m = _read_json(os.path.join(adir, name))
        if m and isinstance(m.get("pid"), int) and m.get("start") is not None \
                and start_ticks(m["pid"]) == m["start"]:
            # A connection whose far end vanished (a closed lid) can stay open on this side for
            # hours: the mark counts only while the run shows a sign of life (the supervisor
            # renews its tasks' leases) within hold_s.
            heard = max([_mtime(os.path.join(adir, name))] + _lease_times(runs, str(m.get("run_id"))))
            if now - heard <= hold_s:
                out.append(f"run {m.get('run_id')} attached (pid {m['pid']})")
    for run in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
        for config in _dirs(os.path.join(runs, run)):
            for task in _dirs(os.path.join(runs, run, config)):
                d = os.path.join(runs, run, config, task)
                if os.path.exists(os.path.join(d, EXIT_CODE_FILE)):
                    continue
                try:
                    with open(os.path.join(d, PID_FILE), encoding="ascii") as fh:
                        pid = int(fh.read().strip())
                except (OSError, ValueError):
                    continue
                if _alive(pid):
                    out.append(f"task {run}/{config}/{task} (pid {pid})")
    return out


def _lease_times(runs: str, run_id: str) -> list[float]:
    base = os.path.join(runs, run_id)
    return [_mtime(os.path.join(base, c, t, LEASE_FILE)) for c in _dirs(base) for t in _dirs(os.path.join(base, c))]


def _dirs(path: str) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def idle_start(root: str, config: dict) -> float:
    """Idle counts from the last arming or attach/detach (the activity file's time)."""
    return max(_mtime(os.path.join(root, ACTIVITY)), float(config.get("armed_at") or 0))


def decide(now: float, busy: list[str], idle_since: float, after_s: float) -> tuple[float, float, bool]:
    """PURE: (idle_since, deadline, fire?) after one look. Busy moves idle_since to now."""
    if busy:
        idle_since = now
    deadline = idle_since + after_s
    return idle_since, deadline, (not busy) and now >= deadline


def _command(config: dict) -> list[str]:
    text = config.get("command")
    return ["/bin/sh", "-c", text] if text else default_command()


def watch(root: str, *, clock=time.time, sleep=time.sleep) -> int:
    """The watchdog loop; returns when it fired, or when the config is gone or disabled."""
    inherited = os.environ.pop(LOCK_FD_ENV, "")
    if inherited.isdigit():   # ensure_running took the lock for us before it started us
        lock = os.fdopen(int(inherited), "a")
    else:
        lock = open(os.path.join(root, LOCK), "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another watchdog runs: it reads the same config
    with open(os.path.join(root, PIDFILE), "w") as fh:
        fh.write(str(os.getpid()))
    idle_since, last_try = None, 0.0
    while True:
        config = _read_json(os.path.join(root, CONFIG))
        if not config or not config.get("enabled"):
            _write_json(os.path.join(root, STATE), {"t": clock(), "pid": os.getpid(), "stopped": "cancelled"})
            return 0
        workdir = config.get("workdir") or os.path.dirname(root)
        now = clock()
        start = idle_start(root, config)
        idle_since = start if idle_since is None else max(idle_since, start)
        busy = busy_reasons(root, workdir, float(config.get("hold_s") or HOLD_S), now)
        idle_since, deadline, fire = decide(now, busy, idle_since, float(config["after_s"]))
        _write_json(os.path.join(root, STATE), {"t": now, "pid": os.getpid(), "busy": busy,
                                                "idle_since": idle_since, "deadline": deadline,
                                                "after_s": config["after_s"]})
        if fire and now - last_try >= RETRY_S:
            last_try = now
            cmd = _command(config)
            try:
                rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=120).returncode
                error = None
            except (OSError, subprocess.SubprocessError) as e:
                rc, error = None, f"{type(e).__name__}: {e}"
            _write_json(os.path.join(root, FIRED), {"t": now, "idle_since": idle_since, "deadline": deadline,
                                                    "command": " ".join(shlex.quote(c) for c in cmd),
                                                    "returncode": rc, "error": error})
            if rc == 0:
                return 0
        sleep(float(config.get("poll_s") or DEFAULT_POLL_S))


def ensure_running(root: str) -> dict:
    """Start a detached watchdog (its own session, no terminal, survives the SSH session
    that started it) unless one holds the lock. Touches the activity file: arming resets idle."""
    _touch(os.path.join(root, ACTIVITY))
    probe = open(os.path.join(root, LOCK), "a")
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return {"watchdog": "running", "pid": _pid(root)}
    # The new watchdog inherits this very lock: an arm that comes before it has started
    # (a loaded host starts Python slowly) finds it held and starts no second one.
    try:
        with open(os.path.join(root, LOG), "ab") as log:
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--dir", root, "--watch"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    close_fds=True, pass_fds=(probe.fileno(),), cwd=root,
                                    env={**os.environ, LOCK_FD_ENV: str(probe.fileno())})
        with open(os.path.join(root, PIDFILE), "w") as fh:
            fh.write(str(proc.pid))
    finally:
        probe.close()   # our copy only: the lock stays with the child's
    return {"watchdog": "started", "pid": proc.pid}


def _pid(root: str):
    try:
        with open(os.path.join(root, PIDFILE)) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _touch(path: str) -> None:
    with open(path, "a"):
        pass
    os.utime(path)


def attach(root: str, run_id: str, pid: int) -> dict:
    os.makedirs(os.path.join(root, ATTACHED), exist_ok=True)
    marker = {"run_id": run_id, "pid": pid, "start": start_ticks(pid), "t": time.time()}
    _write_json(os.path.join(root, ATTACHED, _safe(run_id) + ".json"), marker)
    _touch(os.path.join(root, ACTIVITY))
    return marker


def detach(root: str, run_id: str) -> dict:
    try:
        os.unlink(os.path.join(root, ATTACHED, _safe(run_id) + ".json"))
    except FileNotFoundError:
        pass
    _touch(os.path.join(root, ACTIVITY))
    return {"detached": run_id}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-@" else "_" for c in name)[:200] or "run"


def status(root: str) -> dict:
    state = _read_json(os.path.join(root, STATE)) or {}
    pid = _pid(root)
    return {**state, "config": _read_json(os.path.join(root, CONFIG)), "fired": _read_json(os.path.join(root, FIRED)),
            "watchdog_alive": bool(pid and _alive(pid) and state.get("pid") == pid and "stopped" not in state)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--watch", action="store_true")
    g.add_argument("--ensure-running", action="store_true")
    g.add_argument("--attach", metavar="RUN")
    g.add_argument("--detach", metavar="RUN")
    g.add_argument("--cancel", action="store_true")
    g.add_argument("--status", action="store_true")
    p.add_argument("--pid", type=int)
    a = p.parse_args(argv)
    root = os.path.abspath(a.dir)
    os.makedirs(root, exist_ok=True)
    if a.watch:
        return watch(root)
    if a.ensure_running:
        out = ensure_running(root)
    elif a.attach:
        if not a.pid:
            p.error("--attach needs --pid")
        out = attach(root, a.attach, a.pid)
    elif a.detach:
        out = detach(root, a.detach)
    elif a.cancel:
        config = _read_json(os.path.join(root, CONFIG)) or {}
        _write_json(os.path.join(root, CONFIG), {**config, "enabled": False})
        out = {"cancelled": True}
    else:
        out = status(root)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
