"""The keepers' link: JSON lines over TCP between each host's keeper and the steward's.

A member sends a report (its tasks' states, its sweeps) every poll and reads the orders
the steward answers with; the steward serves every member from its one loop. SSH keys
never leave the control side, so hosts cannot SSH each other: they talk on a port
planned like the tasks' ports. Every message carries the run's token (written 0600 in
each keeper spec), compared in constant time; anything else closes the connection."""

from __future__ import annotations

import hmac
import json
import selectors
import socket
import time
from typing import Callable

MAX_LINE = 1 << 20   # a report is a few KB; more is not a keeper talking


def _line(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


class StewardServer:
    """Listens on every address of the steward's host at `port`."""

    def __init__(self, port: int, token: str):
        self.token = token.encode()
        self.sock = socket.create_server(("", port), backlog=64)
        self.sock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.bufs: dict[socket.socket, bytearray] = {}

    def serve(self, seconds: float, handle: Callable[[dict], dict | None]) -> None:
        """Answer members for `seconds`: handle(message) returns the reply (None: refuse)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for key, _ in self.sel.select(left):
                if key.fileobj is self.sock:
                    self._accept()
                else:
                    self._read(key.fileobj, handle)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(2.0)   # reads happen only when select says there is data; sends are small
        self.bufs[conn] = bytearray()
        self.sel.register(conn, selectors.EVENT_READ)

    def _read(self, conn: socket.socket, handle) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            return self._drop(conn)
        buf = self.bufs[conn]
        buf += data
        if len(buf) > MAX_LINE:
            return self._drop(conn)
        while b"\n" in buf:
            raw, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                msg = json.loads(raw)
            except ValueError:
                return self._drop(conn)
            if not isinstance(msg, dict) or not hmac.compare_digest(str(msg.get("token", "")).encode(), self.token):
                return self._drop(conn)
            reply = handle(msg)
            if reply is None:
                return self._drop(conn)
            try:
                conn.sendall(_line(reply))
            except OSError:
                return self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self.bufs.pop(conn, None)
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def close(self) -> None:
        for conn in list(self.bufs):
            self._drop(conn)
        self.sel.unregister(self.sock)
        self.sock.close()


class StewardLink:
    """A member's connection to the steward, reopened whenever it breaks."""

    def __init__(self, address: str, port: int, token: str, host: str):
        self.address, self.port, self.token, self.host = address, port, token, host
        self.sock: socket.socket | None = None
        self.error = ""

    def exchange(self, message: dict, timeout: float = 3.0) -> dict | None:
        """Send a report, return the steward's orders; None when it cannot be reached now."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection((self.address, self.port), timeout=timeout)
            self.sock.settimeout(timeout)
            self.sock.sendall(_line({**message, "host": self.host, "token": self.token}))
            buf = bytearray()
            while b"\n" not in buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the steward closed the connection")
                buf += chunk
                if len(buf) > MAX_LINE:
                    raise ConnectionError("reply too long")
            reply = json.loads(bytes(buf).partition(b"\n")[0])
            self.error = ""
            return reply if isinstance(reply, dict) else None
        except (OSError, ValueError) as e:
            self.error = f"{type(e).__name__}: {e}"
            self.close()
            return None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
