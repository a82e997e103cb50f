"""PURE builders of the commands that arm, attach to, detach from and cancel the autostop
watchdog on a host (harness/worker/autostop.py). The watchdog script and its config travel
on stdin as one tar (never on a command line); every value on a command line is quoted."""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Optional

from harness.errors import HarnessError
from harness.protocol import layout
from harness.transport.shell import UNPACK_COMMAND, files_tar, q

SCRIPT = "autostop.py"
POLL_S = 10.0


def watchdog_source() -> bytes:
    from harness.worker import autostop

    return Path(autostop.__file__).read_bytes()


NO_REAL_SHUTDOWN_ENV = "HARNESS_NO_REAL_SHUTDOWN"


def _script(workdir: str) -> tuple[str, str]:
    d = layout.autostop_dir(workdir)
    return d, posixpath.join(d, SCRIPT)


def arm(python: str, workdir: str, after_s: float, command: Optional[str], *, armed_by: str,
        run_id: Optional[str] = None, poll_s: Optional[float] = None) -> tuple[str, bytes]:
    """(command, stdin): install the script and config, start the watchdog unless one runs
    (arming again rewrites the config and restarts the idle clock), and with `run_id`
    attach that run through the command's own SSH session ($PPID)."""
    if command is None and os.environ.get(NO_REAL_SHUTDOWN_ENV):
        # The test suite's hosts are this machine: the host's real shutdown must never be armed.
        raise HarnessError(f"{NO_REAL_SHUTDOWN_ENV} is set: refusing to arm autostop with the host's real "
                           "shutdown command; give the inventory's autostop a command (a stand-in)")
    d, script = _script(workdir)
    if poll_s is None:  # a short idle time needs a finer look
        poll_s = max(0.5, min(POLL_S, float(after_s) / 4))
    config = {"enabled": True, "after_s": float(after_s), "command": command, "poll_s": float(poll_s),
              "armed_by": armed_by, "workdir": workdir}
    tar = files_tar([(script, watchdog_source(), 0o700),
                     (posixpath.join(d, "config.json"), json.dumps(config).encode(), 0o600)])
    cmd = f"{UNPACK_COMMAND} && {q(python)} {q(script)} --dir {q(d)} --ensure-running"
    if run_id:
        cmd += f" && {attach(python, workdir, run_id)}"
    return cmd, tar


def attach(python: str, workdir: str, run_id: str) -> str:
    """Mark `run_id` attached for as long as this command's parent (the SSH session's
    process, or the local control process) lives."""
    d, script = _script(workdir)
    return f"{q(python)} {q(script)} --dir {q(d)} --attach {q(run_id)} --pid \"$PPID\""


def detach(python: str, workdir: str, run_id: str) -> str:
    """Remove the run's mark (idle starts now); nothing when no watchdog was ever installed."""
    d, script = _script(workdir)
    return f"if [ -f {q(script)} ]; then {q(python)} {q(script)} --dir {q(d)} --detach {q(run_id)}; fi"


def cancel(python: str, workdir: str) -> str:
    d, script = _script(workdir)
    return f"if [ -f {q(script)} ]; then {q(python)} {q(script)} --dir {q(d)} --cancel; else echo '{{}}'; fi"


def status(python: str, workdir: str) -> str:
    d, script = _script(workdir)
    return f"if [ -f {q(script)} ]; then {q(python)} {q(script)} --dir {q(d)} --status; else echo '{{}}'; fi"


def parse_json_line(stdout: str) -> dict:
    """The last JSON object the script printed ({} when none)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            return doc
    return {}
