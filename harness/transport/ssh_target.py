"""Where and how to reach an SSH host: the inventory merged with ssh_config as OpenSSH
would (aliases, ProxyJump chains, key files). Pure apart from reading ssh_config."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from harness.config.inventory import Host
from harness.errors import ConfigError, UsageError

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
