"""PURE builders of the POSIX shell commands the harness sends to hosts, and parsers of
their answers. Every value that reaches a shell goes through shlex.quote here."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from harness.protocol import constants, layout

q = shlex.quote
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_file(env: dict[str, str]) -> bytes:
    """A file of `export NAME='value'` lines, sourced by the task's shell. Written 0600,
    so values (tokens, keys) never appear on a command line or in `ps`."""
    lines = []
    for k in sorted(env):
        if not _ENV_NAME.match(k):
            raise ValueError(f"invalid environment variable name {k!r}")
        lines.append(f"export {k}={q(str(env[k]))}")
    return ("\n".join(lines) + "\n").encode()


LEASE_S = constants.LEASE_S


def start_command(task_dir: str, argv: list[str], lease_s: float = LEASE_S) -> str:
    """Start `argv` detached in its own session (so one signal reaches its whole process
    tree), with output to files in task_dir, and print its pid (= its session id).

    The inner shell records the exit code when the process ends; a process killed with
    its shell leaves no exit_code, which the supervisor reports as 'lost'. A watchdog in
    the same session kills it when the supervisor has not renewed the `lease` file for
    `lease_s` seconds: a host cut off from the control side does not keep training."""
    lease = int(max(lease_s, 1))
    period = max(1, min(5, lease // 3))
    pid, code, lease_file = layout.PID_FILE, layout.EXIT_CODE_FILE, layout.LEASE_FILE
    watchdog = (
        f"( while sleep {period}; do [ -f {code} ] && exit 0; "
        f"age=$(( $(date +%s) - $(stat -c %Y {lease_file} 2>/dev/null || echo 0) )); "
        f"if [ \"$age\" -gt {lease} ]; then echo \"no lease renewal for $age s\" > {layout.LEASE_EXPIRED_FILE}; "
        "kill -KILL -$$; fi; done ) & "
    )
    inner = (
        f"echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; touch {lease_file}; "
        f"{watchdog}. ./{layout.ENV_FILE}; "
        f"{' '.join(q(a) for a in argv)}; "
        f"echo $? > {code}.tmp && mv {code}.tmp {code}"
    )
    return (
        f"cd {q(task_dir)} && rm -f {pid} {code} && "
        f"(setsid /bin/sh -c {q(inner)} > {layout.STDOUT_FILE} 2> {layout.STDERR_FILE} < /dev/null &) && "
        f"i=0; while [ ! -s {pid} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; cat {pid}"
    )


def files_tar(files: list[tuple[str, bytes, int]]) -> bytes:
    """A tar of (absolute path, content, mode) to unpack with `UNPACK_COMMAND`: every file a
    host's tasks need arrives in one round trip, on stdin, never on a command line."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data, mode in files:
            if not path.startswith("/"):
                raise ValueError(f"task file paths must be absolute: {path!r}")
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


UNPACK_COMMAND = "umask 077 && tar -xf - -C / --no-same-owner"


def start_many_command(tasks: list[tuple[str, str, list[str]]], lease_s: float = LEASE_S) -> str:
    """Start several tasks of one host in one round trip; prints `task_id<TAB>pid` lines."""
    return "; ".join(f"printf '%s\\t' {q(tid)}; ({start_command(d, argv, lease_s)})" for tid, d, argv in tasks)


def parse_started(output: str) -> dict[str, int]:
    out = {}
    for line in output.splitlines():
        tid, _, pid = line.rpartition("\t")
        if tid and pid.strip().isdigit():
            out[tid] = int(pid)
    return out


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    state: str                 # running | exited | gone
    returncode: int | None
    last_step: dict | None     # the newest step record's raw JSON line, for live display


def poll_command(tasks: list[tuple]) -> str:
    """One command that reports every task of a host: (task_id, task_dir, pid[, events
    file name]), with the newest step (or utilization sample) record of each."""
    parts = []
    for task_id, task_dir, pid, *rest in tasks:
        events = q(rest[0] if rest else layout.EVENTS_FILE)
        d = q(task_dir)
        code = f"{d}/{layout.EXIT_CODE_FILE}"
        parts.append(
            f"touch {d}/{layout.LEASE_FILE} 2>/dev/null; "   # renews the task's lease (see start_command)
            f"if [ -f {code} ]; then s=\"exited $(cat {code})\"; "
            # A zombie counts as gone: some inits (containers, microVMs) never reap orphans.
            # Gone is checked against exit_code once more: the task may have ended between
            # the two tests, and its shell writes exit_code before it exits.
            f"else case \"$(ps -o stat= -p {int(pid)} 2>/dev/null)\" in ''|Z*) "
            f"if [ -f {code} ]; then s=\"exited $(cat {code})\"; else s=gone; fi;; "
            f"*) s=running;; esac; fi; "
            f"printf '%s\\t%s\\t%s\\n' {q(task_id)} \"$s\" "
            f"\"$(grep -E '\"event\": \"(step|sample)\"' {d}/{events} 2>/dev/null | tail -n 1)\""
        )
    return "; ".join(parts) or "true"


def parse_poll(output: str) -> dict[str, TaskStatus]:
    import json

    out = {}
    for line in output.splitlines():
        fields = line.split("\t", 2)
        if len(fields) < 2:
            continue
        task_id, state = fields[0], fields[1]
        step = None
        if len(fields) == 3 and fields[2].strip():
            try:
                step = json.loads(fields[2])
            except ValueError:
                step = None
        if state.startswith("exited"):
            rc_text = state.split(" ", 1)[1].strip() if " " in state else ""
            rc = int(rc_text) if rc_text.lstrip("-").isdigit() else None
            out[task_id] = TaskStatus(task_id, "exited", rc, step)
        else:
            out[task_id] = TaskStatus(task_id, state, None, step)
    return out


def signal_command(pids: list[int], signal: str) -> str:
    """Signal each task's whole session/process group (the pid is the group leader)."""
    if signal not in ("TERM", "KILL", "INT"):
        raise ValueError(signal)
    return "; ".join(f"kill -{signal} -{int(p)} 2>/dev/null" for p in pids) + "; true" if pids else "true"


def leftovers_command(run_id: str, pids: list[int], config: str | None = None, keep_warm: bool = True) -> str:
    """Pids of processes that still belong to the run: in a task's session, or carrying the
    run's id in their environment (catches children that left the session). With `config`,
    only that configuration's (HARNESS_CONFIG): configurations running in parallel on hosts
    of one machine (a sandbox shares one process table) must not sweep each other's tasks.
    `keep_warm`: leave the run's warm zygotes, which serve its later configuration runs
    (the run stops them at its end: stages/warm_launch.py)."""
    sessions = " ".join(str(int(p)) for p in pids)
    marker = q(f"HARNESS_RUN_ID={run_id}")
    env_scan = f"grep -l -a -F -x -z {marker} /proc/[0-9]*/environ 2>/dev/null"
    if config is not None:
        env_scan += f" | xargs -r grep -l -a -F -x -z {q('HARNESS_CONFIG=' + config)} 2>/dev/null"
    if keep_warm:
        env_scan += f" | xargs -r grep -L -a -F -x -z {q(constants.WARM_ZYGOTE_ENV + '=1')} 2>/dev/null"
    return (
        f"for s in {sessions}; do ps -e -o pid=,sid=,stat= | awk -v s=$s '$2 == s && $3 !~ /^Z/ {{print $1}}'; done; "
        f"{env_scan} | cut -d/ -f3; true"
    ) if sessions else f"{env_scan} | cut -d/ -f3; true"


def parse_pids(output: str, exclude: set[int] | None = None) -> list[int]:
    pids = sorted({int(t) for t in output.split() if t.isdigit()})
    return [p for p in pids if p not in (exclude or set())]
