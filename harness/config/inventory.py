"""Inventory of hosts: where training runs, how to reach it, what it costs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config.envvars import validate_env, why_refused
from harness.config.loading import parse_model, read_yaml
from harness.errors import ConfigError

_HOST_FIELDS_WITH_DEFAULTS = (
    "user", "port", "key", "python", "workdir", "transport", "instance_type", "slots", "gpus",
    "labels", "price_per_hour", "spot_price_per_hour", "proxy_jump", "env",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostDefaults(_Strict):
    user: Optional[str] = None
    port: Optional[int] = Field(default=None, ge=1, le=65535)
    key: Optional[str] = None
    python: Optional[str] = None
    workdir: Optional[str] = None
    transport: Optional[Literal["ssh", "local"]] = None
    instance_type: Optional[str] = None
    slots: Optional[int] = Field(default=None, ge=1)
    gpus: Optional[int] = Field(default=None, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)
    price_per_hour: Optional[float] = Field(default=None, ge=0)
    spot_price_per_hour: Optional[float] = Field(default=None, ge=0)
    proxy_jump: Optional[str] = None
    # Environment for every task on the host (e.g. NCCL_SOCKET_IFNAME); merged with a host's own.
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _env_names(cls, v):
        return validate_env(v)


class Host(_Strict):
    name: str = Field(min_length=1, max_length=128)
    # For ssh hosts: an IP, a DNS name or a Host alias from ~/.ssh/config.
    address: Optional[str] = None
    port: Optional[int] = Field(default=None, ge=1, le=65535)
    user: Optional[str] = None
    key: Optional[str] = None
    transport: Literal["ssh", "local"] = "ssh"
    instance_type: Optional[str] = None
    slots: int = Field(default=1, ge=1, description="GPUs, or worker processes on a CPU host")
    gpus: int = Field(default=0, ge=0)
    # None: the control side's own interpreter on a local host, `python3` over SSH.
    python: Optional[str] = None
    # Local hosts with no workdir write straight into the run directory.
    workdir: Optional[str] = None
    labels: dict[str, str] = Field(default_factory=dict)
    price_per_hour: Optional[float] = Field(default=None, ge=0)
    spot_price_per_hour: Optional[float] = Field(default=None, ge=0)
    proxy_jump: Optional[str] = None
    # Environment variables for every task on this host (docs/strategies.md, "Environment").
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _env_names(cls, v):
        return validate_env(v)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        # The name becomes a directory under runs/<id>/hosts/: no separators, no dot names.
        if "/" in v or "\0" in v or v in (".", "..") or v.startswith("-"):
            raise ValueError("host name must not contain '/' or NUL, start with '-', or be '.'/'..'")
        return v

    @field_validator("workdir")
    @classmethod
    def _absolute_workdir(cls, v):
        # Shell commands quote every path, so `~` would not expand: ask for the real path.
        if v is not None and not v.startswith("/"):
            raise ValueError("workdir must be an absolute path, e.g. /tmp/harness or /home/ubuntu/harness")
        return v

    @model_validator(mode="after")
    def _ssh_needs_address(self) -> "Host":
        if self.transport == "ssh" and not self.address:
            raise ValueError("an ssh host needs 'address' (IP, DNS name or ~/.ssh/config alias)")
        return self

    @property
    def is_local(self) -> bool:
        return self.transport == "local"


class Inventory(_Strict):
    defaults: HostDefaults = Field(default_factory=HostDefaults)
    hosts: list[Host] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data):
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults") or {}
        hosts = data.get("hosts")
        if not isinstance(defaults, dict) or not isinstance(hosts, list):
            return data
        merged = []
        for h in hosts:
            if isinstance(h, dict):
                m = {k: v for k, v in defaults.items() if k in _HOST_FIELDS_WITH_DEFAULTS}
                if isinstance(m.get("env"), dict):  # a refused name is reported once, at defaults.env
                    m["env"] = {k: v for k, v in m["env"].items() if not why_refused(str(k))}
                base = dict(m)
                m.update(h)
                for key in ("labels", "env"):
                    if isinstance(base.get(key), dict) and isinstance(h.get(key), dict):
                        m[key] = {**base[key], **h[key]}
                merged.append(m)
            else:
                merged.append(h)
        return {**data, "hosts": merged}

    @model_validator(mode="after")
    def _unique_names(self) -> "Inventory":
        seen: set[str] = set()
        for h in self.hosts:
            if h.name in seen:
                raise ValueError(f"host name {h.name!r} appears more than once; names must be unique")
            seen.add(h.name)
        return self

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def select(self, selectors: list[str] | None) -> list[Host]:
        """Hosts named by `selectors` (a host name, or `key=value` on labels), in inventory order."""
        if not selectors:
            return list(self.hosts)
        chosen = []
        for h in self.hosts:
            for s in selectors:
                if s == h.name or ("=" in s and h.labels.get(s.split("=", 1)[0]) == s.split("=", 1)[1]):
                    chosen.append(h)
                    break
        return chosen


def load_inventory(path: str | Path) -> Inventory:
    inv = parse_model(Inventory, read_yaml(path), path)
    base = Path(path).resolve().parent
    problems, hosts = [], []
    for i, h in enumerate(inv.hosts):
        if h.key:
            # Relative key paths are relative to the inventory file, like every other path.
            key = Path(h.key).expanduser()
            key = key if key.is_absolute() else base / key
            if not key.is_file():
                problems.append(f"{path}: hosts[{i}].key: file {str(key)!r} not found; give the path of the host's private key")
            h = h.model_copy(update={"key": str(key)})
        hosts.append(h)
    if problems:
        raise ConfigError(problems)
    return inv.model_copy(update={"hosts": hosts})
