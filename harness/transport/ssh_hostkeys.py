"""Deciding whether to trust the key an SSH server sent: known_hosts files (the user's
and the harness's own), @revoked entries, changed keys, and trust-on-first-use."""

from __future__ import annotations

import fcntl
import logging
import sys
import threading
from pathlib import Path

import paramiko

from harness.errors import HostKeyError
from harness.transport.known_hosts import KnownKey, fingerprint, known_keys
from harness.transport.ssh_target import SSHOptions, Target

log = logging.getLogger("harness.transport.ssh")

_TOFU_LOCK = threading.Lock()


def known_files(options: SSHOptions) -> list[Path]:
    return [Path(options.known_hosts).expanduser(), Path(options.harness_known_hosts).expanduser()]


def known_for(options: SSHOptions, hop: Target) -> list[KnownKey]:
    if options.insecure_no_host_key_check:
        return []
    return known_keys(known_files(options), hop.known_hosts_name)


def verify_host_key(host: str, options: SSHOptions, target: Target, hop: Target,
                    key: paramiko.PKey, label: str) -> None:
    """Return if `key` is known for `hop`, record it under trust-on-first-use, else raise
    HostKeyError naming the host and the command that would add the key."""
    name = hop.known_hosts_name
    if options.insecure_no_host_key_check:
        print(f"harness: WARNING: host {host}: NOT verifying the host key of {label} "
              f"(insecure_no_host_key_check); anyone on the network path could impersonate it",
              file=sys.stderr, flush=True)
        return
    verdict = _check_known(host, options, name, key, label)
    if verdict == "ok":
        return
    files = " and ".join(str(p) for p in known_files(options))
    if not options.trust_on_first_use:
        first_hop = (target.proxy_jumps or (target,))[0]
        where = "" if hop is first_hop else " (run it where the host is reachable, e.g. on the jump host)"
        raise HostKeyError(host, (
            f"host key of {label} is not known ({key.get_name()} {fingerprint(key)}; looked for {name!r} in "
            f"{files}). Verify it, then add it: ssh-keyscan -p {hop.port} {hop.hostname} >> "
            f"{options.known_hosts}{where}, or pass trust-on-first-use to record it in "
            f"{options.harness_known_hosts}"))
    with _TOFU_LOCK:  # two threads may meet the same new host: re-check under the lock
        if _check_known(host, options, name, key, label) == "ok":
            return
        path = Path(options.harness_known_hosts).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # and other harness processes
            f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        log.warning("host %s: trusted new host key %s %s for %s (recorded in %s)",
                    host, key.get_name(), fingerprint(key), name, path)


def _check_known(host: str, options: SSHOptions, name: str, key: paramiko.PKey, label: str) -> str:
    """'ok' or 'unknown'; raises HostKeyError for a changed or revoked key."""
    entries = known_keys(known_files(options), name)
    blob, seen = key.get_base64(), f"{key.get_name()} {fingerprint(key)}"
    for e in entries:
        if e.revoked and e.blob == blob:
            raise HostKeyError(host, f"host key of {label} ({seen}) is marked @revoked at {e.path}:{e.line}")
    good = [e for e in entries if not e.revoked]
    if any(e.keytype == key.get_name() and e.blob == blob for e in good):
        return "ok"
    if good:
        e = next((e for e in good if e.keytype == key.get_name()), good[0])
        raise HostKeyError(host, (
            f"host key of {label} HAS CHANGED: it sent {seen}, but {e.path}:{e.line} records a different "
            f"{e.keytype} key for {name}. Someone may be intercepting the connection; if the host was really "
            f"rebuilt, remove that line (ssh-keygen -R '{name}' -f {e.path}) and connect again"))
    return "unknown"
