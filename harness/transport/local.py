"""The control machine itself as a host: commands through /bin/sh, files through the OS."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from harness.errors import TransportError
from harness.transport.base import CommandResult, Held, Transport


class LocalHeld(Held):
    def __init__(self, proc: subprocess.Popen, first_line: str):
        self.proc, self.first_line = proc, first_line

    def send(self, data: bytes) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except OSError:
            return False

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class LocalTransport(Transport):
    def __init__(self, name: str = "local"):
        self.name = name

    def exec(self, command: str, *, timeout: float | None = 60.0, stdin: bytes | None = None) -> CommandResult:
        try:
            proc = subprocess.run(["/bin/sh", "-c", command], input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TransportError(self.name, f"command timed out after {timeout} s") from None
        return CommandResult(self.name, command, proc.returncode,
                             proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))

    def hold(self, command: str, *, timeout: float = 30.0) -> Held:
        import select

        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                break
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
        return LocalHeld(proc, line.decode("utf-8", "replace").strip())

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        # Created with its final mode so a secret is never readable by others, even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def read_file(self, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as e:
            raise TransportError(self.name, f"cannot read {path}: {e.strerror}") from None

    def put(self, local: Path, remote: str) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        if Path(local).resolve() != Path(remote).resolve():
            shutil.copy2(local, remote)

    def get(self, remote: str, local: Path) -> None:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        if Path(local).resolve() != Path(remote).resolve():
            shutil.copy2(remote, local)

    def list_files(self, remote_dir: str) -> list[tuple[str, int]]:
        root = Path(remote_dir)
        if not root.is_dir():
            return []
        out = []
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out.append((str(p.relative_to(root)), p.stat().st_size))
        return out
