"""Moving files to and from an SSH host over one lazily opened SFTP session: atomic
writes (private temp directory, chmod, rename), downloads, recursive listings.

A host whose sshd has no SFTP subsystem (hardened images often drop it) gets the same
operations over the exec channel instead (`cat` into a mktemp file and rename, `base64`
out, `find` for listings), once, with a `sftp_fallback` reason kept on the transport."""

from __future__ import annotations

import base64
import errno
import os
import shlex
import secrets
import stat
import threading
from pathlib import Path, PurePosixPath

import paramiko

from harness.errors import TransportError


class SFTPFiles:
    """The Transport file methods for SSHTransport. Expects from the class it is mixed
    into: name, options, _lock, _sftp_lock, _sftp and _active() (the live connection)."""

    sftp_fallback: str | None = None   # why files go over the exec channel (no SFTP subsystem)

    def _exec_files(self) -> bool:
        """True when this host has no SFTP: try once, remember the answer."""
        if self.sftp_fallback is not None:
            return True
        try:
            self._sftp_client()
            return False
        except TransportError as e:
            if not self._active().is_active():
                raise
            self.sftp_fallback = f"no SFTP subsystem ({e.message}); files go over the exec channel"
            return True

    def _run(self, what: str, command: str, stdin: bytes | None = None, timeout: float = 600.0):
        res = self.exec(command, stdin=stdin, timeout=timeout)
        if not res.ok:
            raise TransportError(self.name, f"{what}: {res.stderr.strip() or 'exit ' + str(res.returncode)}")
        return res

    def _exec_write(self, path: str, data: bytes, mode: int) -> None:
        # mktemp makes the file 0600: a secret is never readable by others before chmod.
        p = shlex.quote(path)
        self._run(f"cannot write {path}",
                  f"d=$(dirname {p}) && mkdir -p \"$d\" && t=$(mktemp \"$d/.harness-tmp-XXXXXX\") && "
                  f"{{ cat > \"$t\" && chmod {mode:o} \"$t\" && mv -f \"$t\" {p}; }} || {{ rm -f \"$t\"; exit 1; }}",
                  stdin=data)

    def _exec_read(self, path: str) -> bytes:
        out = self._run(f"cannot read {path}", f"base64 < {shlex.quote(path)}").stdout
        return base64.b64decode("".join(out.split()))

    def _exec_list(self, remote_dir: str) -> list[tuple[str, int]]:
        d = shlex.quote(remote_dir)
        out = self._run(f"cannot list {remote_dir}",
                        f"if [ -d {d} ]; then cd {d} && find . -type f -printf '%P\\t%s\\n'; fi").stdout
        rows = [line.rsplit("\t", 1) for line in out.splitlines() if "\t" in line]
        return sorted((name, int(size)) for name, size in rows if size.isdigit())

    def _sftp_client(self) -> paramiko.SFTPClient:
        with self._lock:
            t = self._active()
            if self._sftp is None or self._sftp.get_channel().get_transport() is not t or self._sftp.get_channel().closed:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(t)
                    # Without a timeout one SFTP request to a vanished host waits forever.
                    self._sftp.get_channel().settimeout(max(30.0, 3 * self.options.connect_timeout))
                except (paramiko.SSHException, EOFError, OSError) as e:
                    raise TransportError(self.name, f"cannot start SFTP: {e or type(e).__name__}") from None
            return self._sftp

    def _files(self, what: str, fn):
        """Run fn(sftp) under the SFTP lock, mapping errors to TransportError naming `what`."""
        sftp = self._sftp_client()
        try:
            with self._sftp_lock:
                return fn(sftp)
        except TransportError:
            raise
        except (OSError, paramiko.SSHException, EOFError) as e:
            detail = e.strerror if isinstance(e, OSError) and e.strerror else (str(e) or type(e).__name__)
            raise TransportError(self.name, f"{what}: {detail}") from None

    @staticmethod
    def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
        missing = []
        p = PurePosixPath(path)
        while str(p) not in ("", ".", "/"):
            try:
                if stat.S_ISDIR(sftp.stat(str(p)).st_mode):
                    break
                raise OSError(errno.ENOTDIR, f"{p} exists and is not a directory")
            except FileNotFoundError:
                missing.append(str(p))
                p = p.parent
        for d in reversed(missing):
            try:
                sftp.mkdir(d)
            except OSError:
                if not stat.S_ISDIR(sftp.stat(d).st_mode):  # lost a race with another writer: fine
                    raise

    def _atomic(self, sftp: paramiko.SFTPClient, path: str, mode: int, write) -> None:
        """Write into a fresh 0700 directory beside `path`, set `mode`, then rename over
        `path`. SFTP open cannot set a mode, so the private directory is what keeps a
        secret unreadable by others for the instant before chmod."""
        parent = str(PurePosixPath(path).parent)
        self._makedirs(sftp, parent)
        tmpdir = f"{parent}/.harness-tmp-{secrets.token_hex(6)}"
        sftp.mkdir(tmpdir, mode=0o700)
        tmp = f"{tmpdir}/f"
        try:
            write(sftp, tmp)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, path)
        finally:
            try:
                sftp.remove(tmp)
            except OSError:
                pass
            try:
                sftp.rmdir(tmpdir)
            except OSError:
                pass

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        if self._exec_files():
            return self._exec_write(path, data, mode)

        def write(sftp, tmp):
            with sftp.open(tmp, "wb") as f:
                f.write(data)
        self._files(f"cannot write {path}", lambda sftp: self._atomic(sftp, path, mode, write))

    def read_file(self, path: str) -> bytes:
        if self._exec_files():
            return self._exec_read(path)

        def run(sftp):
            with sftp.open(path, "rb") as f:
                f.prefetch()
                return f.read()
        return self._files(f"cannot read {path}", run)

    def put(self, local: Path, remote: str) -> None:
        local = Path(local)
        try:
            mode = stat.S_IMODE(local.stat().st_mode)
        except OSError as e:
            raise TransportError(self.name, f"cannot upload {local}: {e.strerror}") from None
        if self._exec_files():
            return self._exec_write(remote, local.read_bytes(), mode)
        self._files(f"cannot upload {local} to {remote}",
                    lambda sftp: self._atomic(sftp, remote, mode, lambda s, tmp: s.put(str(local), tmp)))

    def get(self, remote: str, local: Path) -> None:
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part{os.getpid()}-{threading.get_ident()}")
        if self._exec_files():
            try:
                tmp.write_bytes(self._exec_read(remote))
                os.replace(tmp, local)
            finally:
                tmp.unlink(missing_ok=True)
            return

        def run(sftp):
            try:
                sftp.get(remote, str(tmp))
                os.replace(tmp, local)
            finally:
                tmp.unlink(missing_ok=True)
        self._files(f"cannot download {remote}", run)

    def list_files(self, remote_dir: str) -> list[tuple[str, int]]:
        if self._exec_files():
            return self._exec_list(remote_dir)

        def run(sftp):
            out: list[tuple[str, int]] = []
            todo = [("", remote_dir)]
            while todo:
                rel, path = todo.pop()
                try:
                    entries = sftp.listdir_attr(path)
                except FileNotFoundError:
                    if rel:  # removed while we walked: skip it
                        continue
                    return out  # like LocalTransport: a missing directory has no files
                for a in entries:
                    r = f"{rel}{a.filename}"
                    # READDIR attributes come from lstat: symlinks are skipped, not followed.
                    if stat.S_ISDIR(a.st_mode):
                        todo.append((r + "/", f"{path}/{a.filename}"))
                    elif stat.S_ISREG(a.st_mode):
                        out.append((r, a.st_size))
            return sorted(out)
        return self._files(f"cannot list {remote_dir}", run)
