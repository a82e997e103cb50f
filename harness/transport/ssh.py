"""SSH hosts over paramiko: the only module that opens SSH connections.

Connects the way OpenSSH would (ssh_config aliases, ProxyJump chains, key files and
ssh-agent), verifies host keys against known_hosts files, and keeps one connection per
host for every command (a channel each) and every transfer (one lazily opened SFTP).
"""

from __future__ import annotations

import base64
import errno
import fcntl
import getpass
import logging
import os
import re
import secrets
import select
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import paramiko

from harness.config.inventory import Host
from harness.errors import ConfigError, ConnectError, HostKeyError, TransportError, UsageError
from harness.transport.base import CommandResult, Transport
from harness.transport.known_hosts import KnownKey, fingerprint, known_keys

log = logging.getLogger(__name__)

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


# --- errors: one subclass per cause so callers (pre-flight check) can tell them apart ---

class ConnectRefused(ConnectError):
    """Nothing listens on the address:port (or a firewall rejects)."""


class ConnectTimedOut(ConnectError):
    """No answer (TCP or SSH banner) within the connect timeout."""


class HostNotFound(ConnectError):
    """The host name does not resolve."""


class AuthFailed(ConnectError):
    """The server refused every key we could offer."""


# --- options and target resolution ---

@dataclass(frozen=True)
class SSHOptions:
    known_hosts: Path = Path("~/.ssh/known_hosts")
    # Harness-owned file: always read for verification; the only file TOFU writes to.
    harness_known_hosts: Path = Path("~/.config/harness/known_hosts")
    trust_on_first_use: bool = False
    insecure_no_host_key_check: bool = False
    connect_timeout: float = 10.0
    keepalive: int = 5
    ssh_config: Path | None = Path("~/.ssh/config")
    allow_agent: bool = True

    def __post_init__(self) -> None:
        if self.trust_on_first_use and self.insecure_no_host_key_check:
            raise UsageError("choose trust-on-first-use or no host key check, not both")


@dataclass(frozen=True)
class Target:
    """Where and how to connect, after ssh_config and inventory are merged."""

    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...] = ()
    proxy_jumps: tuple["Target", ...] = ()
    alias: str = ""  # what the user wrote (address or jump spec), for messages
    host_key_alias: str | None = None
    identities_only: bool = False

    @property
    def known_hosts_name(self) -> str:
        if self.host_key_alias:  # used verbatim, as OpenSSH does
            return self.host_key_alias.lower()
        name = self.hostname.lower()
        return name if self.port == 22 else f"[{name}]:{self.port}"


def load_ssh_config(path: Path | str | None) -> paramiko.SSHConfig:
    """Parsed ssh_config, or an empty one when the file does not exist."""
    if path is None:
        return paramiko.SSHConfig()
    p = Path(path).expanduser()
    if not p.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(p))
    except Exception as e:  # paramiko raises ConfigParseError and plain errors alike
        raise ConfigError([f"{p}: cannot parse ssh config: {e}"]) from None


def _split_jump_spec(spec: str) -> tuple[str | None, str, int | None]:
    """'[user@]host[:port]', 'ssh://user@host:port' or '[v6addr]:port' -> parts."""
    s = spec.strip()
    if s.startswith("ssh://"):
        s = s[len("ssh://"):]
    user = None
    if "@" in s:
        user, s = s.rsplit("@", 1)
    port = None
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", s)
    if m:
        s, port = m.group(1), int(m.group(2)) if m.group(2) else None
    elif s.count(":") == 1:
        s, p = s.split(":")
        port = _port(p, f"ProxyJump {spec!r}")
    if not s:
        raise ConfigError([f"ProxyJump {spec!r}: no host name"])
    return user, s, port


def _port(value, where: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError([f"{where}: port {value!r} is not a number from 1 to 65535"])
    return port


def _lookup(cfg: paramiko.SSHConfig, name: str) -> dict:
    try:
        return dict(cfg.lookup(name))
    except Exception as e:
        raise ConfigError([f"ssh config: cannot look up {name!r}: {e}"]) from None


def _jump_chain(value: str | None) -> list[str]:
    if not value or value.strip().lower() == "none":
        return []
    return [j.strip() for j in value.split(",") if j.strip()]


def _resolve_one(name: str, cfg: paramiko.SSHConfig, *, user: str | None, port: int | None,
                 extra_keys: tuple[str, ...], jumps_value: str | None, use_config_jump: bool,
                 local_user: str, depth: int, fallback_keys: tuple[str, ...]) -> Target:
    if depth > 8:
        raise ConfigError([f"ssh config: ProxyJump chain for {name!r} is longer than 8 hops or loops"])
    c = _lookup(cfg, name)
    if "proxycommand" in c and c["proxycommand"].lower() != "none" and not jumps_value and not c.get("proxyjump"):
        raise ConfigError([f"ssh config: host {name!r} uses ProxyCommand, which the harness does not run; "
                           "use ProxyJump instead"])
    keys = list(extra_keys)
    for k in c.get("identityfile", []):
        k = os.path.expanduser(k)
        if k not in keys:
            keys.append(k)
    chain = _jump_chain(jumps_value if jumps_value is not None else (c.get("proxyjump") if use_config_jump else None))
    jumps: list[Target] = []
    if chain:
        # OpenSSH semantics: `-J a,b` reaches b through a; only a's own ProxyJump (from
        # ssh_config) still applies, so a jump host may itself sit behind a bastion.
        first = _jump_target(chain[0], cfg, local_user, fallback_keys, depth + 1, use_config_jump=True)
        jumps.extend(first.proxy_jumps)
        jumps.append(replace(first, proxy_jumps=()))
        for spec in chain[1:]:
            jumps.append(_jump_target(spec, cfg, local_user, fallback_keys, depth + 1, use_config_jump=False))
    return Target(
        hostname=c.get("hostname", name),
        port=port or (_port(c["port"], f"ssh config Port for {name!r}") if c.get("port") else 22),
        user=user or c.get("user") or local_user,
        key_files=tuple(keys),
        proxy_jumps=tuple(jumps),
        alias=name,
        host_key_alias=c.get("hostkeyalias"),
        identities_only=str(c.get("identitiesonly", "no")).lower() == "yes",
    )


def _jump_target(spec: str, cfg, local_user, fallback_keys, depth, *, use_config_jump) -> Target:
    user, name, port = _split_jump_spec(spec)
    t = _resolve_one(name, cfg, user=user, port=port, extra_keys=(), jumps_value=None,
                     use_config_jump=use_config_jump, local_user=local_user, depth=depth,
                     fallback_keys=fallback_keys)
    # A bastion commonly shares the inventory's key pair: try that key after its own.
    keys = t.key_files + tuple(k for k in fallback_keys if k not in t.key_files)
    return replace(t, key_files=keys, alias=spec)


def resolve_target(host: Host, ssh_config: paramiko.SSHConfig | None = None, *,
                   local_user: str | None = None) -> Target:
    """Merge a Host with ssh_config as OpenSSH would; inventory fields win over the config.
    Pure: no files are read and no names are resolved here."""
    if not host.address:
        raise ConfigError([f"host {host.name}: an ssh host needs an address"])
    cfg = ssh_config or paramiko.SSHConfig()
    key = (os.path.expanduser(host.key),) if host.key else ()
    return _resolve_one(host.address, cfg, user=host.user, port=host.port, extra_keys=key,
                        jumps_value=host.proxy_jump, use_config_jump=True,
                        local_user=local_user or getpass.getuser(), depth=0, fallback_keys=key)


# --- known_hosts ---

_TOFU_LOCK = threading.Lock()


# --- the transport ---

class SSHTransport(Transport):
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
        hops = list(self.target.proxy_jumps) + [self.target]
        sock = None
        try:
            for i, hop in enumerate(hops):
                label = self._label(hop, i < len(hops) - 1)
                if i > 0:
                    sock = self._tunnel(self._transports[-1], hop, self._label(hops[i - 1], True))
                self._transports.append(self._open_one(hop, sock, label))
        except BaseException:
            self._close_locked()
            raise

    def _label(self, hop: Target, is_jump: bool) -> str:
        where = f"{hop.hostname}:{hop.port}"
        return f"jump host {hop.alias} ({where})" if is_jump else where

    def _fail(self, cls, label: str, what: str) -> ConnectError:
        return cls(self.name, f"cannot connect to {label}: {what}")

    def _tunnel(self, jump: paramiko.Transport, hop: Target, jump_label: str) -> paramiko.Channel:
        try:
            return jump.open_channel("direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0),
                                     timeout=self.options.connect_timeout)
        except paramiko.ChannelException as e:
            raise self._fail(ConnectError, f"{hop.hostname}:{hop.port}",
                             f"{jump_label} could not open a connection to it ({e.text})") from None
        except paramiko.SSHException as e:
            cls = ConnectTimedOut if "timeout" in str(e).lower() else ConnectError
            raise self._fail(cls, f"{hop.hostname}:{hop.port}", f"through {jump_label}: {e}") from None

    def _tcp(self, hop: Target, label: str) -> socket.socket:
        t = self.options.connect_timeout
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
                                int((2 * self.options.keepalive + 5) * 1000))
            return sock
        except socket.gaierror as e:
            raise self._fail(HostNotFound, label, f"host name {hop.hostname!r} does not resolve ({e.strerror}); "
                             "check the address or the HostName in ~/.ssh/config") from None
        except ConnectionRefusedError:
            raise self._fail(ConnectRefused, label, "connection refused (is sshd running, and is the port right?)") from None
        except (socket.timeout, TimeoutError):
            raise self._fail(ConnectTimedOut, label, f"timed out after {t:g} s (host down, or a firewall "
                             "or security group drops the traffic?)") from None
        except OSError as e:
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise self._fail(ConnectError, label, f"{e.strerror} (host down or no route to it)") from None
            raise self._fail(ConnectError, label, e.strerror or str(e)) from None

    def _open_one(self, hop: Target, sock, label: str) -> paramiko.Transport:
        if sock is None:
            sock = self._tcp(hop, label)
        timeout = self.options.connect_timeout
        t = paramiko.Transport(sock)
        try:
            t.banner_timeout = t.handshake_timeout = t.auth_timeout = timeout
            known = self._known_for(hop)
            _prefer_known_key_types(t, {k.keytype for k in known})
            # With its own timeout, start_client may return silently before the banner
            # timeout fires; an event tells "not done yet" from "failed".
            done = threading.Event()
            t.start_client(event=done)
            if not done.wait(timeout + 1):
                raise self._fail(ConnectTimedOut, label, f"no SSH greeting within {timeout:g} s")
            if not t.is_active():
                e = t.get_exception()
                cause = getattr(e, "__context__", None)
                if isinstance(cause, (socket.timeout, TimeoutError)) or isinstance(e, (socket.timeout, TimeoutError)):
                    raise self._fail(ConnectTimedOut, label, f"no SSH greeting within {timeout:g} s") from None
                raise self._fail(ConnectError, label, f"SSH handshake failed: {e or 'connection closed'}") from None
            self._verify_host_key(hop, t.get_remote_server_key(), label)
            self._authenticate(t, hop, label)
            t.set_keepalive(self.options.keepalive)
            return t
        except BaseException:
            t.close()
            raise

    # -- host keys --

    def _known_files(self) -> list[Path]:
        return [Path(self.options.known_hosts).expanduser(), Path(self.options.harness_known_hosts).expanduser()]

    def _known_for(self, hop: Target) -> list[KnownKey]:
        if self.options.insecure_no_host_key_check:
            return []
        return known_keys(self._known_files(), hop.known_hosts_name)

    def _verify_host_key(self, hop: Target, key: paramiko.PKey, label: str) -> None:
        name = hop.known_hosts_name
        if self.options.insecure_no_host_key_check:
            print(f"harness: WARNING: host {self.name}: NOT verifying the host key of {label} "
                  f"(insecure_no_host_key_check); anyone on the network path could impersonate it",
                  file=sys.stderr, flush=True)
            return
        verdict = self._check_known(name, key, label)
        if verdict == "ok":
            return
        files = " and ".join(str(p) for p in self._known_files())
        if not self.options.trust_on_first_use:
            first_hop = (self.target.proxy_jumps or (self.target,))[0]
            where = "" if hop is first_hop else " (run it where the host is reachable, e.g. on the jump host)"
            raise HostKeyError(self.name, (
                f"host key of {label} is not known ({key.get_name()} {fingerprint(key)}; looked for {name!r} in "
                f"{files}). Verify it, then add it: ssh-keyscan -p {hop.port} {hop.hostname} >> "
                f"{self.options.known_hosts}{where}, or pass trust-on-first-use to record it in "
                f"{self.options.harness_known_hosts}"))
        with _TOFU_LOCK:  # two threads may meet the same new host: re-check under the lock
            if self._check_known(name, key, label) == "ok":
                return
            path = Path(self.options.harness_known_hosts).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(path, "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # and other harness processes
                f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
            log.warning("host %s: trusted new host key %s %s for %s (recorded in %s)",
                        self.name, key.get_name(), fingerprint(key), name, path)

    def _check_known(self, name: str, key: paramiko.PKey, label: str) -> str:
        """'ok' or 'unknown'; raises HostKeyError for a changed or revoked key."""
        entries = known_keys(self._known_files(), name)
        blob, seen = key.get_base64(), f"{key.get_name()} {fingerprint(key)}"
        for e in entries:
            if e.revoked and e.blob == blob:
                raise HostKeyError(self.name, f"host key of {label} ({seen}) is marked @revoked at {e.path}:{e.line}")
        good = [e for e in entries if not e.revoked]
        if any(e.keytype == key.get_name() and e.blob == blob for e in good):
            return "ok"
        if good:
            e = next((e for e in good if e.keytype == key.get_name()), good[0])
            raise HostKeyError(self.name, (
                f"host key of {label} HAS CHANGED: it sent {seen}, but {e.path}:{e.line} records a different "
                f"{e.keytype} key for {name}. Someone may be intercepting the connection; if the host was really "
                f"rebuilt, remove that line (ssh-keygen -R '{name}' -f {e.path}) and connect again"))
        return "unknown"

    # -- authentication --

    def _authenticate(self, t: paramiko.Transport, hop: Target, label: str) -> None:
        tried: list[str] = []
        files = list(hop.key_files)
        if not files:
            files = [p for p in (os.path.expanduser(d) for d in DEFAULT_IDENTITIES) if os.path.isfile(p)]
        offered: set[str] = set()
        encrypted: set[str] = set()  # fingerprints (from .pub files) of keys we could not load

        def attempt(key: paramiko.PKey, what: str) -> bool:
            fp = fingerprint(key)
            if fp in offered:
                return False
            offered.add(fp)
            try:
                t.auth_publickey(hop.user, key)
            except paramiko.BadAuthenticationType as e:
                raise self._fail(AuthFailed, label, f"the server does not accept public keys for "
                                 f"{hop.user} (allowed: {', '.join(e.allowed_types) or 'none'})") from None
            except paramiko.AuthenticationException:
                tried.append(f"{what} (rejected)")
                return False
            except (paramiko.SSHException, EOFError, OSError) as e:
                tried.append(f"{what} (connection closed: {e})")
                raise self._auth_error(hop, label, tried) from None
            return t.is_authenticated()

        for path in files:
            try:
                key = paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError) as e:
                # paramiko raises PasswordRequiredException for PEM keys, and lets the
                # cryptography TypeError through for OpenSSH-format ones.
                if isinstance(e, TypeError) and "password" not in str(e).lower():
                    tried.append(f"{path} (cannot load: {e})")
                    continue
                # Never prompt: an encrypted key is usable only through ssh-agent.
                tried.append(f"{path} (passphrase-protected; add it to ssh-agent with ssh-add)")
                encrypted |= _pub_fingerprint(path)
                continue
            except FileNotFoundError:
                if hop.key_files:
                    tried.append(f"{path} (file not found)")
                continue
            except Exception as e:
                tried.append(f"{path} (cannot load: {e})")
                continue
            if attempt(key, path):
                return
        if self.options.allow_agent and not hop.identities_only and os.environ.get("SSH_AUTH_SOCK"):
            agent = paramiko.Agent()
            try:
                # The agent's copies of the configured keys first: sshd counts every
                # rejected key against MaxAuthTries.
                keys = sorted(agent.get_keys(), key=lambda k: fingerprint(k) not in encrypted)
                for k in keys:
                    if attempt(k, f"ssh-agent key {fingerprint(k)}"):
                        return
            finally:
                agent.close()
        raise self._auth_error(hop, label, tried)

    def _auth_error(self, hop: Target, label: str, tried: list[str]) -> AuthFailed:
        what = "; ".join(tried) if tried else "no key to offer (no key file, no ssh-agent keys)"
        return self._fail(AuthFailed, label, f"authentication as {hop.user!r} failed; tried: {what}. "
                          f"Check the user and that the public key is in the host's authorized_keys")

    # -- commands --

    def exec(self, command: str, *, timeout: float | None = 60.0, stdin: bytes | None = None) -> CommandResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        chan = self._session()
        try:
            # Command text is never logged: it may carry values from the task environment.
            chan.exec_command(command)
            out, err = self._pump(chan, stdin, deadline, timeout)
            return CommandResult(self.name, command, chan.recv_exit_status(),
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
            chan.shutdown_write()
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

    # -- files --

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
        def write(sftp, tmp):
            with sftp.open(tmp, "wb") as f:
                f.write(data)
        self._files(f"cannot write {path}", lambda sftp: self._atomic(sftp, path, mode, write))

    def read_file(self, path: str) -> bytes:
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
        self._files(f"cannot upload {local} to {remote}",
                    lambda sftp: self._atomic(sftp, remote, mode, lambda s, tmp: s.put(str(local), tmp)))

    def get(self, remote: str, local: Path) -> None:
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part{os.getpid()}-{threading.get_ident()}")

        def run(sftp):
            try:
                sftp.get(remote, str(tmp))
                os.replace(tmp, local)
            finally:
                tmp.unlink(missing_ok=True)
        self._files(f"cannot download {remote}", run)

    def list_files(self, remote_dir: str) -> list[tuple[str, int]]:
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
        self._transports = []


def _pub_fingerprint(private_path: str) -> set[str]:
    try:
        return {fingerprint(base64.b64decode(Path(private_path + ".pub").read_text().split()[1]))}
    except (OSError, ValueError, IndexError):
        return set()


def _feed(chan: paramiko.Channel, data: bytes) -> None:
    try:
        chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the command exited or timed out without reading all of stdin: not an error


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
