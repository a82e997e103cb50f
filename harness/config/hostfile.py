"""Horovod / MPI hostfiles as inventories, as horovodrun and mpirun read them:

    # comments and blank lines are skipped
    10.0.0.11 slots=4
    gpu-b slots=4 max_slots=4
    gpu-c:2                       (horovodrun -H's host:slots spelling)

Each line is a host (its name and SSH address; `localhost` / 127.0.0.1 is this machine) with
N training slots, N ranks on it, as horovodrun means them. Everything else a host needs comes
from ~/.ssh/config and the SSH agent, as for mpirun. PURE apart from reading the file."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import ConfigError

LOCAL = ("localhost", "127.0.0.1", "::1")
_HOST = re.compile(r"^[A-Za-z0-9_.:\[\]-]+$")
_KNOWN = ("slots", "max_slots", "max-slots")  # max_slots only caps oversubscription in mpirun: read, not used
_SUFFIXES_THAT_ARE_NOT = (".yaml", ".yml", ".json")


def _line_host(line: str, where: str) -> tuple[str, int]:
    parts = line.split()
    host, slots = parts[0], None
    if ":" in host and host.count(":") == 1 and not parts[1:]:   # host:N (IPv6 has more colons)
        host, _, n = host.partition(":")
        slots = _count(n, "slots", where)
    if not _HOST.match(host) or host.startswith("-"):
        raise ConfigError([f"{where}: {host!r} is not a host name or address"])
    for item in parts[1:]:
        key, eq, value = item.partition("=")
        if not eq or key not in _KNOWN:
            raise ConfigError([f"{where}: {item!r}: expected slots=N (or max_slots=N), as mpirun reads it"])
        n = _count(value, key, where)
        if key == "slots":
            slots = n
    return host, slots or 1


def _count(text: str, key: str, where: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise ConfigError([f"{where}: {key}={text!r}: give a whole number from 1 to 1024"])
    return int(text)


def parse_hostfile(text: str, path: str) -> dict:
    """The inventory (as harness.config.inventory.Inventory reads it) a hostfile describes."""
    hosts, seen = [], {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path} line {n}"
        host, slots = _line_host(line, where)
        if host in seen:
            raise ConfigError([f"{where}: {host} is already on line {seen[host]}; give it once with slots=N"])
        seen[host] = n
        entry = {"name": host.strip("[]"), "slots": slots}
        entry.update({"transport": "local"} if host in LOCAL else {"address": host.strip("[]")})
        hosts.append(entry)
    if not hosts:
        raise ConfigError([f"{path}: no hosts (a hostfile has one `host slots=N` per line)"])
    return {"hosts": hosts}


_LINE = re.compile(r"^[^\s:]+(:\d+)?(\s+[\w-]+=\S*)*$|^\[[^\]]+\](\s+[\w-]+=\S*)*$")


def looks_like_hostfile(path: str | Path) -> bool:
    """A file not named as YAML/JSON whose every line reads as a hostfile line (a YAML
    inventory starts with `hosts:` or `defaults:`, which none does)."""
    p = Path(path)
    if p.suffix.lower() in _SUFFIXES_THAT_ARE_NOT:
        return False
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    lines = [x.split("#", 1)[0].strip() for x in text.splitlines()]
    lines = [x for x in lines if x]
    return bool(lines) and all(_LINE.match(x) for x in lines)


def read_hostfile(path: str | Path) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read the hostfile: {e.strerror or e}"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"{path}: not UTF-8 text at byte {e.start}; save it as UTF-8"]) from None
    return parse_hostfile(text, str(path))
