"""Authenticating to an SSH server with public keys: the configured key files (or
OpenSSH's defaults), then ssh-agent. Passphrase-protected keys are used only via the agent."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import paramiko

from harness.transport.known_hosts import fingerprint
from harness.transport.ssh_errors import AuthFailed, cannot_connect
from harness.transport.ssh_target import SSHOptions, Target

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


def authenticate(host: str, options: SSHOptions, t: paramiko.Transport, hop: Target, label: str) -> None:
    """Offer the hop's key files, then ssh-agent keys; never prompt for a passphrase."""
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
            raise cannot_connect(AuthFailed, host, label, f"the server does not accept public keys for "
                                 f"{hop.user} (allowed: {', '.join(e.allowed_types) or 'none'})") from None
        except paramiko.AuthenticationException:
            tried.append(f"{what} (rejected)")
            return False
        except (paramiko.SSHException, EOFError, OSError) as e:
            tried.append(f"{what} (connection closed: {e})")
            raise _auth_error(host, hop, label, tried) from None
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
    if options.allow_agent and not hop.identities_only and os.environ.get("SSH_AUTH_SOCK"):
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
    raise _auth_error(host, hop, label, tried)


def _auth_error(host: str, hop: Target, label: str, tried: list[str]) -> AuthFailed:
    what = "; ".join(tried) if tried else "no key to offer (no key file, no ssh-agent keys)"
    return cannot_connect(AuthFailed, host, label, f"authentication as {hop.user!r} failed; tried: {what}. "
                          f"Check the user and that the public key is in the host's authorized_keys")


def _pub_fingerprint(private_path: str) -> set[str]:
    try:
        return {fingerprint(base64.b64decode(Path(private_path + ".pub").read_text().split()[1]))}
    except (OSError, ValueError, IndexError):
        return set()
