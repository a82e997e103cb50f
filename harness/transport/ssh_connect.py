"""Opening the SSH connection to a host: TCP (or a tunnel through the previous jump
host), the handshake, host key verification and authentication, for every hop."""

from __future__ import annotations

import errno
import socket
import threading

import paramiko

from harness.errors import ConnectError
from harness.transport.ssh_auth import authenticate
from harness.transport.ssh_errors import ConnectTimedOut, ConnectRefused, HostNotFound, cannot_connect
from harness.transport.ssh_hostkeys import known_for, verify_host_key
from harness.transport.ssh_target import SSHOptions, Target


def open_chain(host: str, options: SSHOptions, target: Target) -> list[paramiko.Transport]:
    """One authenticated paramiko Transport per hop, jumps first and the host's own last.
    On failure everything opened so far is closed and a ConnectError naming `host` raised."""
    hops = list(target.proxy_jumps) + [target]
    opened: list[paramiko.Transport] = []
    sock = None
    try:
        for i, hop in enumerate(hops):
            label = _label(hop, i < len(hops) - 1)
            if i > 0:
                sock = _tunnel(host, options, opened[-1], hop, _label(hops[i - 1], True))
            opened.append(_open_one(host, options, target, hop, sock, label))
    except BaseException:
        for t in reversed(opened):
            t.close()
        raise
    return opened


def _label(hop: Target, is_jump: bool) -> str:
    where = f"{hop.hostname}:{hop.port}"
    return f"jump host {hop.alias} ({where})" if is_jump else where


def _tunnel(host: str, options: SSHOptions, jump: paramiko.Transport, hop: Target, jump_label: str) -> paramiko.Channel:
    try:
        return jump.open_channel("direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0),
                                 timeout=options.connect_timeout)
    except paramiko.ChannelException as e:
        raise cannot_connect(ConnectError, host, f"{hop.hostname}:{hop.port}",
                             f"{jump_label} could not open a connection to it ({e.text})") from None
    except paramiko.SSHException as e:
        cls = ConnectTimedOut if "timeout" in str(e).lower() else ConnectError
        raise cannot_connect(cls, host, f"{hop.hostname}:{hop.port}", f"through {jump_label}: {e}") from None


def _tcp(host: str, options: SSHOptions, hop: Target, label: str) -> socket.socket:
    t = options.connect_timeout
    try:
        sock = socket.create_connection((hop.hostname, hop.port), timeout=t)
        # Small request/reply messages (channel open, exec): without this, Nagle and
        # delayed ACKs add ~40 ms to every command.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # paramiko's keepalive only sends; it never notices a peer that stopped
        # answering. With TCP_USER_TIMEOUT the kernel fails the socket once those
        # keepalives stay unacknowledged, so a cut host is an error in seconds, not 15 min.
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                            int((2 * options.keepalive + 5) * 1000))
        return sock
    except socket.gaierror as e:
        raise cannot_connect(HostNotFound, host, label, f"host name {hop.hostname!r} does not resolve ({e.strerror}); "
                             "check the address or the HostName in ~/.ssh/config") from None
    except ConnectionRefusedError:
        raise cannot_connect(ConnectRefused, host, label, "connection refused (is sshd running, and is the port right?)") from None
    except (socket.timeout, TimeoutError):
        raise cannot_connect(ConnectTimedOut, host, label, f"timed out after {t:g} s (host down, or a firewall "
                             "or security group drops the traffic?)") from None
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise cannot_connect(ConnectError, host, label, f"{e.strerror} (host down or no route to it)") from None
        raise cannot_connect(ConnectError, host, label, e.strerror or str(e)) from None


def _open_one(host: str, options: SSHOptions, target: Target, hop: Target, sock, label: str) -> paramiko.Transport:
    if sock is None:
        sock = _tcp(host, options, hop, label)
    timeout = options.connect_timeout
    t = paramiko.Transport(sock)
    try:
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = timeout
        known = known_for(options, hop)
        _prefer_known_key_types(t, {k.keytype for k in known})
        # With its own timeout, start_client may return silently before the banner
        # timeout fires; an event tells "not done yet" from "failed".
        done = threading.Event()
        t.start_client(event=done)
        if not done.wait(timeout + 1):
            raise cannot_connect(ConnectTimedOut, host, label, f"no SSH greeting within {timeout:g} s")
        if not t.is_active():
            e = t.get_exception()
            cause = getattr(e, "__context__", None)
            if isinstance(cause, (socket.timeout, TimeoutError)) or isinstance(e, (socket.timeout, TimeoutError)):
                raise cannot_connect(ConnectTimedOut, host, label, f"no SSH greeting within {timeout:g} s") from None
            raise cannot_connect(ConnectError, host, label, f"SSH handshake failed: {e or 'connection closed'}") from None
        verify_host_key(host, options, target, hop, t.get_remote_server_key(), label)
        authenticate(host, options, t, hop, label)
        t.set_keepalive(options.keepalive)
        return t
    except BaseException:
        t.close()
        raise


def _prefer_known_key_types(t: paramiko.Transport, known: set[str]) -> None:
    """Ask for a key type we already know, as OpenSSH does, so a host with several keys
    is not reported as unknown just because it offered another type first."""
    if not known:
        return
    if "ssh-rsa" in known:
        known = known | {"rsa-sha2-512", "rsa-sha2-256"}
    opts = t.get_security_options()
    current = list(opts.key_types)
    opts.key_types = [k for k in current if k in known] + [k for k in current if k not in known]
