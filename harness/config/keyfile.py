"""Is an inventory's `key:` a private key the SSH transport can use? Checked at load, so
a wrong path, the `.pub` half or a file that is not a key is one line naming the field
before any connection is tried."""

from __future__ import annotations

import stat
from pathlib import Path

from harness.config.loading import clip

MAX_KEY_BYTES = 64 * 1024  # an RSA-16384 private key is ~13 KB
_PUBLIC_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def key_file_problem(key: Path) -> str | None:
    """None if `key` is a private key paramiko can load (or a passphrase-protected one,
    which is used through ssh-agent), else what is wrong and what to do."""
    shown = clip(str(key), 300)
    todo = "give the path of the host's private key (e.g. ~/.ssh/id_ed25519)"
    try:
        st = key.stat()
    except FileNotFoundError:
        return f"file {shown} not found; {todo}"
    except OSError as e:
        return f"cannot read {shown} ({e.strerror}); {todo}"
    if not stat.S_ISREG(st.st_mode):
        return f"{shown} is not a regular file; {todo}"
    if st.st_size > MAX_KEY_BYTES:
        return f"{shown} is {st.st_size} bytes, too large to be a private key; {todo}"
    try:
        head = key.read_bytes()[:64].decode("ascii", "replace").lstrip()
    except OSError as e:
        return f"cannot read {shown} ({e.strerror}); {todo}"
    if head.startswith(_PUBLIC_PREFIXES) or key.suffix == ".pub":
        private = key.with_suffix("") if key.suffix == ".pub" else key
        return f"{shown} is a public key; give the private half ({clip(str(private), 300)}), not the .pub file"
    import paramiko  # control-side dependency; imported here so loading configs stays light

    try:
        paramiko.PKey.from_path(str(key))
    except paramiko.PasswordRequiredException:
        return None  # used through ssh-agent (the transport never prompts)
    except TypeError as e:
        # cryptography raises TypeError for an encrypted OpenSSH-format key
        if "password" in str(e).lower():
            return None
        return f"{shown} is not a private key paramiko can read ({clip(str(e), 80)}); {todo}"
    except Exception as e:  # paramiko raises SSHException, ValueError, UnknownKeyType ...
        why = clip(str(e), 80) if str(e) else type(e).__name__
        return f"{shown} is not a private key paramiko can read ({why}); {todo}"
    return None


def key_file_warning(key: Path) -> str | None:
    """As OpenSSH does, but a warning: a private key others can read is a leaked key."""
    try:
        mode = stat.S_IMODE(key.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return (f"{clip(str(key), 300)} is readable by group or others (mode {mode:04o}); OpenSSH refuses "
                f"such keys: chmod 600 {clip(str(key), 300)}")
    return None
