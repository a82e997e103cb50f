"""Reading OpenSSH known_hosts files: hashed entries, wildcards, negation, @revoked.
PURE apart from reading the files; which keys to trust is decided in ssh_hostkeys.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

import paramiko


@dataclass(frozen=True)
class KnownKey:
    path: str
    line: int
    keytype: str
    blob: str  # base64 of the public key
    revoked: bool = False


def fingerprint(key: paramiko.PKey | bytes) -> str:
    """OpenSSH-style SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
    blob = key if isinstance(key, bytes) else key.asbytes()
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):  # hashed entry: |1|base64(salt)|base64(hmac-sha1(salt, name))
        try:
            _, _, salt, digest = pattern.split("|")
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (ValueError, TypeError):
            return False
    # Only * and ? are wildcards; '[' in "[host]:port" is literal.
    rx = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower())
    return re.fullmatch(rx, name) is not None


def _entry_matches(patterns: str, name: str) -> bool:
    hit = False
    for p in patterns.split(","):
        if p.startswith("!"):
            if _pattern_matches(p[1:], name):
                return False
        elif _pattern_matches(p, name):
            hit = True
    return hit


def known_keys(files: list[Path], name: str) -> list[KnownKey]:
    """Every known_hosts entry (file, line) for `name` ('host' or '[host]:port')."""
    out = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            marker = None
            if parts[0].startswith("@"):
                marker, parts = parts[0], parts[1:]
            if len(parts) < 3 or marker == "@cert-authority":
                continue
            if _entry_matches(parts[0], name):
                out.append(KnownKey(str(path), i, parts[1], parts[2], marker == "@revoked"))
    return out
