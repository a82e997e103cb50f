"""Typed errors. Every user-facing failure is a HarnessError with a one-line message
(or one line per problem) and an exit code; `report_error` is the one printer."""

from __future__ import annotations

import sys
from typing import Sequence

from harness.protocol import exits


class HarnessError(Exception):
    """Base of all expected failures. `exit_code` is what the CLI exits with."""

    exit_code = exits.FAILED

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(HarnessError):
    """One or more problems in a user's file; each problem is one line naming file and field."""

    exit_code = exits.USAGE

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        return list(self.problems)


class UsageError(HarnessError):
    exit_code = exits.USAGE


class TransportError(HarnessError):
    """A command or transfer on a host could not be done. Always names the host."""

    def __init__(self, host: str, message: str):
        self.host = host
        self.message = message
        super().__init__(f"host {host}: {message}")


class ConnectError(TransportError):
    """Could not open a session to the host (refused, timed out, auth, DNS)."""

    exit_code = exits.UNREACHABLE


class Unreachable(HarnessError):
    """One or more hosts could not be connected to before anything started (exit 4)."""

    exit_code = exits.UNREACHABLE


class HostKeyError(ConnectError):
    """The host's key is unknown or differs from the recorded one."""


class RunFailed(HarnessError):
    """A run ended with failed, stopped or timed-out tasks; the partial results were kept."""

    exit_code = exits.RUN_FAILED


class Busy(HarnessError):
    """Another control side is attached to a detached run (exit 5)."""

    exit_code = exits.BUSY


class Interrupted(HarnessError):
    exit_code = exits.SIGINT


def report_error(err: HarnessError, stream=None) -> int:
    stream = stream or sys.stderr
    for line in err.lines():
        print(f"harness: error: {line}", file=stream)
    return err.exit_code
