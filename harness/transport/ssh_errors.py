"""Why an SSH connection failed: one subclass per cause so callers (the pre-flight
check) can tell them apart."""

from __future__ import annotations

from harness.errors import ConnectError


class ConnectRefused(ConnectError):
    """Nothing listens on the address:port (or a firewall rejects)."""


class ConnectTimedOut(ConnectError):
    """No answer (TCP or SSH banner) within the connect timeout."""


class HostNotFound(ConnectError):
    """The host name does not resolve."""


class AuthFailed(ConnectError):
    """The server refused every key we could offer."""


def cannot_connect(cls: type[ConnectError], host: str, label: str, what: str) -> ConnectError:
    return cls(host, f"cannot connect to {label}: {what}")
