"""SSH hosts over paramiko: the only module that opens SSH connections.

Connects the way OpenSSH would (ssh_target: ssh_config aliases, ProxyJump chains, key
files; ssh_auth: key files and ssh-agent; ssh_hostkeys: known_hosts), and keeps one
connection per host for every command (a channel each, here) and every transfer (one
lazily opened SFTP, ssh_files).
"""

from __future__ import annotations

import logging
import select
import threading
import time

import paramiko

from harness.config.inventory import Host
from harness.errors import TransportError
from harness.transport.base import CommandResult, Held, Transport
from harness.transport.ssh_connect import open_chain
from harness.transport.ssh_errors import AuthFailed, ConnectRefused, ConnectTimedOut, HostNotFound
from harness.transport.ssh_files import SFTPFiles
from harness.transport.ssh_target import SSHOptions, Target, load_ssh_config, resolve_target

__all__ = ["SSHTransport", "SSHOptions", "Target", "load_ssh_config", "resolve_target",
           "AuthFailed", "ConnectRefused", "ConnectTimedOut", "HostNotFound"]

log = logging.getLogger(__name__)
_JOIN_S = 5.0  # at most this long for a closed connection's reader thread to end


class SSHTransport(SFTPFiles, Transport):
    """One host over SSH, one connection reused for everything; reconnects once if that
    connection dropped. Safe to use from several threads."""

    def __init__(self, host: Host, options: SSHOptions | None = None, *,
                 ssh_config: paramiko.SSHConfig | None = None, connect: bool = True):
        """Connects at once (raising ConnectError naming the host) unless connect=False."""
        self.name = host.name
        self.host = host
        self.options = options or SSHOptions()
        cfg = ssh_config if ssh_config is not None else load_ssh_config(self.options.ssh_config)
        self.target = resolve_target(host, cfg)
        self._lock = threading.RLock()
        self._sftp_lock = threading.Lock()
        self._transports: list[paramiko.Transport] = []  # jumps first, the host's own last
        self._sftp: paramiko.SFTPClient | None = None
        self.connects = 0  # how many times a connection was opened (reuse is observable)
        if connect:
            self._active()

    # -- connection --

    @property
    def via(self) -> list[str]:
        return [j.alias for j in self.target.proxy_jumps]

    def connect(self) -> "SSHTransport":
        self._active()
        return self

    def _active(self) -> paramiko.Transport:
        with self._lock:
            if self._transports and self._transports[-1].is_active():
                return self._transports[-1]
            if self._transports:
                log.info("host %s: connection dropped, reconnecting", self.name)
                self._close_locked()
            self._open_chain()
            self.connects += 1
            return self._transports[-1]

    def _open_chain(self) -> None:
        self._transports = open_chain(self.name, self.options, self.target)

    # -- commands --

    def exec(self, command: str, *, timeout: float | None = 60.0, stdin: bytes | None = None) -> CommandResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        chan = self._session()
        try:
            # Command text is never logged: it may carry values from the task environment.
            chan.exec_command(command)
            out, err = self._pump(chan, stdin, deadline, timeout)
            status = chan.recv_exit_status()
            # paramiko closes the channels of a connection that died and reports -1, as for a
            # command killed by a signal; only the latter came with the server's EOF. Without
            # this a poll cut short by a lost link would read as "no news, host fine".
            if status == -1 and not chan.eof_received:
                raise TransportError(self.name, "connection lost while running a command (no exit status)")
            return CommandResult(self.name, command, status,
                                 out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise TransportError(self.name, f"connection lost while running a command: {e or type(e).__name__}") from None
        finally:
            chan.close()

    def _session(self) -> paramiko.Channel:
        for attempt in (1, 2):
            t = self._active()
            try:
                return t.open_session(timeout=self.options.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as e:
                # Nothing ran yet, so one retry on a fresh connection is safe.
                if attempt == 2 or t.is_active():
                    raise TransportError(self.name, f"cannot open a session: {e or type(e).__name__}") from None
        raise AssertionError("unreachable")

    def _pump(self, chan: paramiko.Channel, stdin: bytes | None, deadline, timeout) -> tuple[bytes, bytes]:
        out, err = bytearray(), bytearray()
        if stdin:
            # sendall waits on the channel window efficiently; in a thread, so output is read
            # meanwhile and a command that writes before it reads cannot deadlock us.
            threading.Thread(target=_feed, args=(chan, stdin), daemon=True, name=f"stdin-{self.name}").start()
        else:
            end_stdin(chan)
        fd = chan.fileno()  # readable when stdout or stderr has data, or at EOF/close
        while True:
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            wait = 1.0 if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                raise TransportError(self.name, f"command timed out after {timeout:g} s")
            select.select([fd], [], [], wait)
        # exit-status arrives around EOF; give it the rest of the deadline.
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not chan.status_event.wait(wait) and not chan.closed:
            raise TransportError(self.name, f"command timed out after {timeout:g} s")
        return bytes(out), bytes(err)

    def hold(self, command: str, *, timeout: float = 30.0) -> Held:
        chan = self._session()
        try:
            chan.exec_command(command)
            line, deadline = bytearray(), time.monotonic() + timeout
            while not line.endswith(b"\n") and not chan.closed:
                if chan.recv_ready():
                    line += chan.recv(1)
                    continue
                if chan.eof_received or time.monotonic() > deadline:
                    break
                select.select([chan.fileno()], [], [], 0.2)
        except (paramiko.SSHException, EOFError, OSError) as e:
            chan.close()
            raise TransportError(self.name, f"connection lost while starting a command: {e or type(e).__name__}") from None
        return SSHHeld(chan, line.decode("utf-8", "replace").strip())

    # -- lifecycle --

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:
                pass
            self._sftp = None
        for t in reversed(self._transports):  # the host first, then its jumps
            t.close()
        for t in self._transports:  # each one's reader thread ends with its socket: no thread
            if t.is_alive():        # outlives close(), so the report after a run may fork
                t.join(_JOIN_S)
        self._transports = []


class SSHHeld(Held):
    """A command on its own channel; closing the channel (or losing the connection) ends its stdin."""

    def __init__(self, chan: paramiko.Channel, first_line: str):
        self.chan, self.first_line = chan, first_line

    def send(self, data: bytes) -> bool:
        if self.chan.closed or self.chan.exit_status_ready() or not self.chan.transport.is_active():
            return False
        try:
            self.chan.sendall(data)
            return True
        except (OSError, EOFError, paramiko.SSHException):
            return False

    def close(self) -> None:
        self.chan.close()


def _feed(chan: paramiko.Channel, data: bytes) -> None:
    try:
        chan.sendall(data)
        end_stdin(chan)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the command exited or timed out without reading all of stdin: not an error


def end_stdin(chan: paramiko.Channel) -> None:
    """chan.shutdown_write() without its race (paramiko issues 1115, 1584, 1705): that builds
    the EOF under the channel's lock but sends it after releasing it, so when the command
    exits first the transport thread can answer the server's CLOSE in between; the EOF then
    follows the CLOSE and OpenSSH drops the whole connection ("ieof packet referred to
    nonexistent channel"), failing every other command on it. Here the EOF is sent while
    the lock is held: the CLOSE, built under the same lock, can only come after it, and a
    channel already closed gets no EOF. (Were a key exchange to start meanwhile, the send
    waits for it, at most paramiko's clear_to_send_timeout.) Paramiko internals, so a
    paramiko without them gets its own shutdown_write."""
    if not (hasattr(chan, "_send_eof") and hasattr(chan.transport, "_send_user_message")):
        chan.shutdown_write()
        return
    with chan.lock:
        if chan.closed or chan.eof_sent:
            return
        msg = chan._send_eof()  # marks eof_sent; None if it already was
        if msg is not None:
            chan.transport._send_user_message(msg)
