"""What the rest of the harness may ask of a host. Only transport modules run commands
or move files; everything above them builds shell strings with `shlex.quote`."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CommandResult:
    host: str
    command: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Held(abc.ABC):
    """A command kept running on a host with its stdin open (Transport.hold): it lives while
    this side does, and ends when close() (or this process's death) closes its stdin."""

    first_line: str

    @abc.abstractmethod
    def send(self, data: bytes) -> bool:
        """Write to its stdin; False once it has ended or the connection is gone."""

    @abc.abstractmethod
    def close(self) -> None: ...


class Transport(abc.ABC):
    """One connection to one host, reused for every command and transfer of a run."""

    name: str

    @abc.abstractmethod
    def exec(self, command: str, *, timeout: float | None = 60.0, stdin: bytes | None = None) -> CommandResult:
        """Run a POSIX shell command on the host and wait for it. Never raises on a non-zero
        exit (that is data); raises TransportError when the host cannot be reached."""

    @abc.abstractmethod
    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Create or replace `path` with `data`, created with `mode` (0600 for secrets)."""

    @abc.abstractmethod
    def read_file(self, path: str) -> bytes: ...

    @abc.abstractmethod
    def put(self, local: Path, remote: str) -> None:
        """Copy a local file to the host."""

    @abc.abstractmethod
    def get(self, remote: str, local: Path) -> None:
        """Copy a host file to the control machine."""

    @abc.abstractmethod
    def list_files(self, remote_dir: str) -> list[tuple[str, int]]:
        """Every regular file below `remote_dir` as (path relative to it, size in bytes)."""

    def hold(self, command: str, *, timeout: float = 30.0) -> Held:
        """Start `command`, wait up to `timeout` s for its first line of output and return it
        still running (harness/worker/attach_lock.py holds a lock this way)."""
        raise NotImplementedError(f"{type(self).__name__} cannot hold a command open")

    def close(self) -> None:
        pass

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
