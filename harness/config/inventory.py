"""Inventory of hosts: where training runs, how to reach it, what it costs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from harness.config.autostop import Autostop
from harness.config.envvars import EnvVars, why_refused
from harness.config.fields import MAX_HOSTS, MAX_PRICE_PER_HOUR, MAX_THREADS, Name, PathText, Text
from harness.config.keyfile import key_file_problem, key_permission_check
from harness.config.loading import parse_model, read_yaml
from harness.errors import ConfigError
from harness.protocol.constants import DEFAULT_REMOTE_PYTHON


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


User = Text(64, min_length=1)
InstanceType = Text(64, min_length=1)
Address = Text(253, min_length=1)     # a DNS name's limit
JumpSpec = Text(1024, min_length=1)
Labels = Annotated[dict[Name, Text(256)], Field(max_length=64)]
Port = Annotated[int, Field(ge=1, le=65535)]
Transport = Literal["ssh", "local"]
Slots = Annotated[int, Field(ge=1, le=MAX_THREADS, description="GPUs, or worker processes on a CPU host")]
Gpus = Annotated[int, Field(ge=0, le=64)]
Price = Annotated[float, Field(ge=0, le=MAX_PRICE_PER_HOUR, description="USD per hour")]

# Every field of a host that `defaults:` can set too, declared once: its type and its value
# on a host that sets it nowhere. `defaults:` takes the same fields, each optional (unset
# there: the host's own default applies); the mappings ({}) merge key by key instead.
_SHARED: dict[str, tuple[Any, Any]] = {
    "port": (Optional[Port], None),
    "user": (Optional[User], None),
    "key": (Optional[PathText], None),
    # Use a `key` that group or others can access (OpenSSH refuses it): for file systems whose
    # modes cannot be changed. Off unless set; a warning on every load.
    "allow_unprotected_key": (bool, False),
    "transport": (Transport, "ssh"),
    "instance_type": (Optional[InstanceType], None),
    "slots": (Slots, 1),
    "gpus": (Gpus, 0),
    # None: the control side's own interpreter on a local host, `python3` over SSH.
    "python": (Optional[PathText], None),
    # Local hosts with no workdir write straight into the run directory.
    "workdir": (Optional[PathText], None),
    "labels": (Labels, {}),
    "price_per_hour": (Optional[Price], None),
    "spot_price_per_hour": (Optional[Price], None),
    "proxy_jump": (Optional[JumpSpec], None),
    # Environment variables for every task on the host (docs/strategies.md, "Environment").
    "env": (EnvVars, {}),
    # Instances the harness started stop after this long idle (harness/config/autostop.py).
    "autostop": (Optional[Autostop], None),
}
_MERGED = tuple(name for name, (_, default) in _SHARED.items() if default == {})


def _field(default: Any) -> Any:
    return Field(default_factory=dict) if default == {} else default  # never one dict shared by all


HostDefaults = create_model(
    "HostDefaults", __base__=_Strict, __module__=__name__,
    __doc__="`defaults:` of an inventory: any host field, applied to every host that does not set it.",
    **{name: ((kind, _field(d)) if d == {} else (Optional[kind], None)) for name, (kind, d) in _SHARED.items()})

_HostFields = create_model(
    "_HostFields", __base__=_Strict, __module__=__name__,
    name=(Name, ...),
    address=(Optional[Address], None),  # for ssh hosts: an IP, a DNS name or a Host alias from ~/.ssh/config
    **{name: (kind, _field(d)) for name, (kind, d) in _SHARED.items()})


class Host(_HostFields):
    """One host of the inventory (fields: _SHARED, plus its name and address)."""

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

    def matches(self, selector: str) -> bool:
        """Whether a selector (a name, or key=value on the labels) picks this host."""
        return selector_matches(self.name, self.labels, selector)

    @property
    def interpreter(self) -> str:
        """The one rule for the Python a host's tasks run with: the inventory's `python`, else
        the control side's own interpreter on a local host, `python3` over SSH."""
        return self.python or (sys.executable if self.is_local else DEFAULT_REMOTE_PYTHON)


class Inventory(_Strict):
    defaults: HostDefaults = Field(default_factory=HostDefaults)
    hosts: list[Host] = Field(min_length=1, max_length=MAX_HOSTS)

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
                m = {k: v for k, v in defaults.items() if k in _SHARED}
                if isinstance(m.get("env"), dict):  # a refused name is reported once, at defaults.env
                    m["env"] = {k: v for k, v in m["env"].items() if not why_refused(str(k))}
                base = dict(m)
                m.update(h)
                for key in _MERGED:
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
        return [h for h in self.hosts if any(selector_matches(h.name, h.labels, s) for s in selectors)]


def selector_matches(name: str, labels: Mapping[str, str], selector: str) -> bool:
    """The one rule for host selectors (configurations' hosts and ps_hosts, `harness hosts
    start/stop`): a host name, or `key=value` on the host's labels."""
    if selector == name:
        return True
    key, sep, value = selector.partition("=")
    return bool(sep) and labels.get(key) == value


def load_inventory(path: str | Path, hostfile: bool | None = None) -> Inventory:
    """An inventory YAML, or a Horovod/MPI hostfile (`hostfile=True`, or None: a file not
    named .yaml/.yml/.json whose lines read as one; harness/config/hostfile.py)."""
    from harness.config import hostfile as hf

    if hostfile or (hostfile is None and hf.looks_like_hostfile(path)):
        data = hf.read_hostfile(path)
    else:
        data = read_yaml(path)
    inv = parse_model(Inventory, data, path)
    base = Path(path).resolve().parent
    problems, hosts = [], []
    checked: dict[Path, str | None] = {}
    reported: set[Path] = set()
    warned: set[Path] = set()
    for i, h in enumerate(inv.hosts):
        if h.key:
            # Relative key paths are relative to the inventory file, like every other path.
            key = Path(h.key).expanduser()
            key = key if key.is_absolute() else base / key
            where = "defaults.key" if h.key == inv.defaults.key else f"hosts[{i}].key"
            if key not in checked:  # hosts usually share one key: load it once
                checked[key] = key_file_problem(key)
            refusal, warning = (None, None) if checked[key] else key_permission_check(
                key, allow_unprotected=h.allow_unprotected_key)
            problem = checked[key] or refusal
            if problem and key not in reported:  # once per file, at its first host
                reported.add(key)
                problems.append(f"{path}: {where}: {problem}")
            elif warning and key not in warned:
                warned.add(key)
                print(f"harness: warning: {path}: {where}: {warning}", file=sys.stderr)
            h = h.model_copy(update={"key": str(key)})
        hosts.append(h)
    if problems:
        raise ConfigError(problems)
    return inv.model_copy(update={"hosts": hosts})
