"""How a process on a host ends: the exit codes both sides agree on."""

from __future__ import annotations

OK = 0
FAILED = 1             # the task raised; its events end with run_end status "error"
USAGE = 2              # bad input (the harness CLI and host-side tools alike)
RUN_FAILED = 3         # harness run: a configuration failed; partial results kept
UNREACHABLE = 4        # harness CLI: a host could not be connected to (SSH refused, timeout, auth, host key)
BUSY = 5               # harness attach: another control side is attached to the run (its lock is held)
# A training task that checkpointed on a spot interruption notice (EX_TEMPFAIL: try again
# later); the supervisor reports it 'interrupted', not failed, and --resume continues it.
INTERRUPTED = 75
SIGINT = 130           # stopped by Ctrl-C / SIGINT
# harness/worker/s3_fetch.py keeps its own codes (2-5): it runs as a standalone script too.
