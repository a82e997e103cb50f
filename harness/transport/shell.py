"""PURE builders of the POSIX shell commands the harness sends to hosts, and parsers of
their answers. Every value that reaches a shell goes through shlex.quote here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.protocol import constants, layout
# How a task is started, signalled and swept is shared with the host's keeper.
from harness.protocol.task_shell import (LEASE_S, leftovers_command, parse_pids, q, signal_command,  # noqa: F401
                                         start_command)

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




# -- a detached run's keepers (harness/worker/keeper.py) ---------------------------------

KEEPER_MODULE = "harness.worker.keeper"
ATTACH_LOCK_MODULE = "harness.worker.attach_lock"


def keeper_start_command(keeper_dir: str, python: str, pythonpath: str) -> str:
    """Start the host's keeper detached in its own session (it outlives this SSH session
    and the control side); a keeper already running for the run makes this a no-op. The
    keeper must not carry the run's id in its environment: the leftover sweep looks for it."""
    d = q(keeper_dir)
    return (f"cd {d} && (unset {constants.RUN_ID_ENV} HARNESS_CONFIG; PYTHONPATH={q(pythonpath)} setsid "
            f"{q(python)} -m {KEEPER_MODULE} --dir {d} >> {layout.KEEPER_OUT_FILE} 2>&1 < /dev/null &) && echo started")


def keeper_follow_command(keeper_dir: str, offset: int | None, limit: int = 4_000_000) -> str:
    """One round trip for an attached control side: line 1 `alive=0|1 ready=0|1`, line 2 the
    keeper's state.json (empty if none yet), then the steward's control log from byte
    `offset` (at most `limit` bytes; the next call continues; None: no log)."""
    d = q(keeper_dir)
    log, state, pid = layout.KEEPER_LOG_FILE, layout.KEEPER_STATE_FILE, layout.KEEPER_PID_FILE
    return (f"cd {d} 2>/dev/null || {{ echo 'alive=0 ready=0 missing=1'; exit 0; }}; "
            f"a=0; p=$(cat {pid} 2>/dev/null); [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && a=1; "
            f"r=0; [ -f {layout.KEEPER_READY_FILE} ] && r=1; echo \"alive=$a ready=$r missing=0\"; "
            f"cat {state} 2>/dev/null; echo; "
            + (f"tail -c +{int(offset) + 1} {log} 2>/dev/null | head -c {int(limit)}; " if offset is not None else "")
            + "true")


def parse_follow(output: str) -> tuple[dict, str, str]:
    """(flags {alive, ready, missing}, state.json text, new log text) of keeper_follow_command."""
    head, _, rest = output.partition("\n")
    state, _, log = rest.partition("\n")
    flags = {}
    for part in head.split():
        k, _, v = part.partition("=")
        flags[k] = v == "1"
    return flags, state.strip(), log


def attach_lock_command(lock_file: str, owner: str, python: str, pythonpath: str) -> str:
    return f"PYTHONPATH={q(pythonpath)} {q(python)} -m {ATTACH_LOCK_MODULE} {q(lock_file)} {q(owner)}"
